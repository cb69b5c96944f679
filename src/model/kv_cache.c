/* The KV cache: keys and values of every past position, per layer, as F16 (default: half the
 * memory, and attention reads it at memory speed), F32, or Q8_0 (blocks of 32 int8 codes with an
 * f16 scale: 8.5 bits per value, 53% of F16, quantized as each position is stored). */
#include "model/model_internal.h"

#include <stdlib.h>
#include <string.h>

int owl_kv_cache_init(owl_kv_cache *kv, const owl_hparams *hp, int n_ctx, owl_type type,
                      owl_error *err) {
    memset(kv, 0, sizeof *kv);
    if (type != OWL_TYPE_F16 && type != OWL_TYPE_F32 && type != OWL_TYPE_Q8_0)
        return owl_errorf(err, "KV cache type %s is not supported (f16, f32 or q8_0)", owl_type_name(type));
    kv->type = type;
    kv->n_ctx = n_ctx;
    kv->k_row = hp->n_head_kv * hp->head_dim_k;
    kv->v_row = hp->n_head_kv * hp->head_dim_v;
    if (type == OWL_TYPE_Q8_0) {
        /* Blocks run along a position's row (all its heads), so the row must be whole blocks;
         * heads narrower than a block share one (attention handles that). */
        if (kv->k_row % 32 != 0 || kv->v_row % 32 != 0)
            return owl_errorf(err, "KV cache type q8_0 needs rows of a multiple of 32 values (this model has %lld and %lld)",
                              (long long)kv->k_row, (long long)kv->v_row);
        kv->quantize = owl_kernel_get(OWL_TYPE_Q8_0, owl_isa_best())->quantize_act;
    }
    kv->k_bytes = owl_row_size(type, kv->k_row);
    kv->v_bytes = owl_row_size(type, kv->v_row);
    kv->k = calloc((size_t)hp->n_layer, sizeof *kv->k);
    kv->v = calloc((size_t)hp->n_layer, sizeof *kv->v);
    if (!kv->k || !kv->v) goto oom;
    for (int64_t il = 0; il < hp->n_layer; il++) {
        size_t kb = (size_t)n_ctx * kv->k_bytes;
        size_t vb = (size_t)n_ctx * kv->v_bytes;
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
    return (char *)kv->k[il] + (size_t)pos * kv->k_bytes;
}

void *owl_kv_v(const owl_kv_cache *kv, int64_t il, int64_t pos) {
    return (char *)kv->v[il] + (size_t)pos * kv->v_bytes;
}

void owl_kv_store(const owl_kv_cache *kv, const owl_vec_ops *ops, void *dst, const float *src,
                  int64_t n) {
    if (kv->type == OWL_TYPE_F16) {
        ops->f32_to_f16(n, src, dst);
    } else if (kv->type == OWL_TYPE_Q8_0) {
        kv->quantize(src, dst, n);
    } else {
        memcpy(dst, src, (size_t)n * sizeof(float));
    }
}
