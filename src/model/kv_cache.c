/* The KV cache: keys and values of every past position, per layer, as F16 (default: half the
 * memory, and attention reads it at memory speed) or F32. */
#include "model/model_internal.h"

#include <stdlib.h>
#include <string.h>

int owl_kv_cache_init(owl_kv_cache *kv, const owl_hparams *hp, int n_ctx, owl_type type,
                      owl_error *err) {
    memset(kv, 0, sizeof *kv);
    if (type != OWL_TYPE_F16 && type != OWL_TYPE_F32)
        return owl_errorf(err, "KV cache type %s is not supported (f16 or f32)", owl_type_name(type));
    kv->type = type;
    kv->n_ctx = n_ctx;
    kv->elt = type == OWL_TYPE_F16 ? 2 : 4;
    kv->k_row = hp->n_head_kv * hp->head_dim_k;
    kv->v_row = hp->n_head_kv * hp->head_dim_v;
    kv->k = calloc((size_t)hp->n_layer, sizeof *kv->k);
    kv->v = calloc((size_t)hp->n_layer, sizeof *kv->v);
    if (!kv->k || !kv->v) goto oom;
    for (int64_t il = 0; il < hp->n_layer; il++) {
        size_t kb = (size_t)n_ctx * (size_t)kv->k_row * kv->elt;
        size_t vb = (size_t)n_ctx * (size_t)kv->v_row * kv->elt;
        /* Pages are touched only as positions are written, so a long context costs memory
         * only when it is used. */
        kv->k[il] = calloc(1, kb);
        kv->v[il] = calloc(1, vb);
        if (!kv->k[il] || !kv->v[il]) goto oom;
        kv->bytes += kb + vb;
    }
    return 0;
oom:
    owl_kv_cache_free(kv, hp->n_layer);
    return owl_errorf(err, "out of memory for a KV cache of %d positions", n_ctx);
}

void owl_kv_cache_free(owl_kv_cache *kv, int64_t n_layer) {
    for (int64_t il = 0; il < n_layer; il++) {
        if (kv->k) free(kv->k[il]);
        if (kv->v) free(kv->v[il]);
    }
    free(kv->k);
    free(kv->v);
    memset(kv, 0, sizeof *kv);
}

void *owl_kv_k(const owl_kv_cache *kv, int64_t il, int64_t pos) {
    return (char *)kv->k[il] + (size_t)pos * (size_t)kv->k_row * kv->elt;
}

void *owl_kv_v(const owl_kv_cache *kv, int64_t il, int64_t pos) {
    return (char *)kv->v[il] + (size_t)pos * (size_t)kv->v_row * kv->elt;
}

void owl_kv_store(const owl_kv_cache *kv, const owl_vec_ops *ops, void *dst, const float *src,
                  int64_t n) {
    if (kv->type == OWL_TYPE_F16) {
        ops->f32_to_f16(n, src, dst);
    } else {
        memcpy(dst, src, (size_t)n * sizeof(float));
    }
}
