/* Model loading: architecture from general.architecture, hyperparameters from <arch>.* metadata,
 * weights by llama.cpp's tensor names, all validated (presence, shape, type) before use. The
 * weights are views into the GGUF mapping: nothing is copied. */
#include "model/model_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The architectures owl runs. */
static const owl_arch *const archs[] = {
    &owl_arch_llama,
    &owl_arch_qwen2,
    &owl_arch_qwen3,
};

static const owl_arch *find_arch(owl_str name) {
    for (size_t i = 0; i < sizeof archs / sizeof archs[0]; i++)
        if (owl_str_eq(name, archs[i]->name)) return archs[i];
    return NULL;
}

/* ---- metadata ----------------------------------------------------------------------------- */

typedef struct loader {
    owl_model *m;
    owl_error *err;
    char key[160];
} loader;

static const char *akey(loader *l, const char *suffix) {
    snprintf(l->key, sizeof l->key, "%s.%s", l->m->arch->name, suffix);
    return l->key;
}

/* An integer hyperparameter in [1, max]; `def` < 0 means required. */
static int get_int(loader *l, const char *suffix, int64_t def, int64_t max, int64_t *out) {
    int64_t v;
    const char *key = akey(l, suffix);
    if (!owl_gguf_get_int(l->m->gguf, key, &v)) {
        if (owl_gguf_find(l->m->gguf, key)) return owl_errorf(l->err, "metadata %s is not an integer", key);
        if (def < 0) return owl_errorf(l->err, "metadata %s is missing", key);
        v = def;
    }
    if (v < 1 || v > max) return owl_errorf(l->err, "metadata %s = %lld is out of range [1, %lld]", key, (long long)v, (long long)max);
    *out = v;
    return 0;
}

static int get_float(loader *l, const char *suffix, double def, float *out) {
    double v;
    const char *key = akey(l, suffix);
    if (!owl_gguf_get_float(l->m->gguf, key, &v)) {
        if (owl_gguf_find(l->m->gguf, key)) return owl_errorf(l->err, "metadata %s is not a number", key);
        v = def;
    }
    if (!(v == v) || v > 1e30 || v < -1e30) return owl_errorf(l->err, "metadata %s is not a finite number", key);
    *out = (float)v;
    return 0;
}

static int load_hparams(loader *l) {
    owl_model *m = l->m;
    owl_hparams *hp = &m->hp;
    snprintf(hp->arch, sizeof hp->arch, "%s", m->arch->name);
    const int64_t big = 1 << 20;
    if (get_int(l, "context_length", -1, 1 << 24, &hp->n_ctx_train) ||
        get_int(l, "embedding_length", -1, big, &hp->n_embd) ||
        get_int(l, "block_count", -1, 4096, &hp->n_layer) ||
        get_int(l, "feed_forward_length", -1, big, &hp->n_ff) ||
        get_int(l, "attention.head_count", -1, 4096, &hp->n_head) ||
        get_int(l, "attention.head_count_kv", hp->n_head, 4096, &hp->n_head_kv))
        return -1;
    if (hp->n_embd % hp->n_head != 0 && !owl_gguf_find(m->gguf, akey(l, "attention.key_length")))
        return owl_errorf(l->err, "embedding_length %lld is not a multiple of head_count %lld",
                          (long long)hp->n_embd, (long long)hp->n_head);
    if (hp->n_head % hp->n_head_kv != 0)
        return owl_errorf(l->err, "head_count %lld is not a multiple of head_count_kv %lld",
                          (long long)hp->n_head, (long long)hp->n_head_kv);
    if (get_int(l, "attention.key_length", hp->n_embd / hp->n_head, 4096, &hp->head_dim_k) ||
        get_int(l, "attention.value_length", hp->head_dim_k, 4096, &hp->head_dim_v) ||
        get_int(l, "rope.dimension_count", hp->head_dim_k, 4096, &hp->n_rot))
        return -1;
    if (hp->n_rot > hp->head_dim_k || hp->n_rot % 2 != 0)
        return owl_errorf(l->err, "metadata %s = %lld does not fit key_length %lld",
                          akey(l, "rope.dimension_count"), (long long)hp->n_rot, (long long)hp->head_dim_k);
    if (hp->head_dim_k != hp->head_dim_v)
        return owl_errorf(l->err, "key_length %lld != value_length %lld is not supported",
                          (long long)hp->head_dim_k, (long long)hp->head_dim_v);
    if (get_float(l, "attention.layer_norm_rms_epsilon", 1e-5, &hp->rms_eps) ||
        get_float(l, "rope.freq_base", 10000.0, &hp->rope_base))
        return -1;
    if (!(hp->rms_eps > 0) || !(hp->rope_base > 0))
        return owl_errorf(l->err, "metadata rms epsilon and rope.freq_base must be positive");
    hp->rope_kind = m->arch->rope_kind;

    /* RoPE scaling. */
    hp->rope_scaling = OWL_ROPE_SCALING_NONE;
    hp->rope_factor = 1.0f;
    owl_str st;
    if (owl_gguf_get_str(m->gguf, akey(l, "rope.scaling.type"), &st)) {
        if (owl_str_eq(st, "linear")) hp->rope_scaling = OWL_ROPE_SCALING_LINEAR;
        else if (owl_str_eq(st, "yarn")) hp->rope_scaling = OWL_ROPE_SCALING_YARN;
        else if (!owl_str_eq(st, "none"))
            return owl_errorf(l->err, "unsupported rope scaling type '%.*s'", (int)(st.len > 40 ? 40 : st.len), st.ptr);
    }
    if (get_float(l, "rope.scaling.factor", 1.0, &hp->rope_factor)) return -1;
    if (hp->rope_scaling == OWL_ROPE_SCALING_NONE) hp->rope_factor = 1.0f;
    if (hp->rope_factor <= 0) return owl_errorf(l->err, "metadata rope.scaling.factor must be positive");
    /* A factor without a type means linear (older conversions). */
    if (hp->rope_scaling == OWL_ROPE_SCALING_NONE && hp->rope_factor != 1.0f)
        hp->rope_scaling = OWL_ROPE_SCALING_LINEAR;
    if (get_int(l, "rope.scaling.original_context_length", hp->n_ctx_train, 1 << 24, &hp->rope_orig_ctx) ||
        get_float(l, "rope.scaling.yarn_beta_fast", 32.0, &hp->yarn_beta_fast) ||
        get_float(l, "rope.scaling.yarn_beta_slow", 1.0, &hp->yarn_beta_slow) ||
        get_float(l, "rope.scaling.yarn_attn_factor", 1.0, &hp->yarn_attn_factor))
        return -1;
    hp->yarn_ext_factor = hp->rope_scaling == OWL_ROPE_SCALING_YARN ? 1.0f : 0.0f;
    return 0;
}

/* ---- tensors ------------------------------------------------------------------------------ */

static const owl_gguf_tensor *find_tensor(loader *l, const char *name, bool required) {
    const owl_gguf_tensor *t = owl_gguf_find_tensor(l->m->gguf, name);
    if (!t && required) owl_errorf(l->err, "tensor %s is missing", name);
    return t;
}

static int check_shape(loader *l, const owl_gguf_tensor *t, int64_t ne0, int64_t ne1) {
    if (t->ne[0] != ne0 || t->ne[1] != ne1 || t->ne[2] != 1 || t->ne[3] != 1) {
        if (ne1 == 1)
            return owl_errorf(l->err, "tensor %s has shape [%lld, %lld], expected [%lld]", t->name,
                              (long long)t->ne[0], (long long)t->ne[1], (long long)ne0);
        return owl_errorf(l->err, "tensor %s has shape [%lld, %lld, %lld], expected [%lld, %lld]",
                          t->name, (long long)t->ne[0], (long long)t->ne[1], (long long)t->ne[2],
                          (long long)ne0, (long long)ne1);
    }
    return 0;
}

static int unsupported(loader *l, const owl_gguf_tensor *t) {
    return owl_errorf(l->err, "unsupported tensor type %s in %s", owl_type_name(t->type), t->name);
}

/* A 1-D F32 tensor (norm weights, biases, rope factors). */
static int get_vector(loader *l, const char *name, int64_t n, bool required, const float **out) {
    *out = NULL;
    const owl_gguf_tensor *t = find_tensor(l, name, required);
    if (!t) return required ? -1 : 0;
    if (check_shape(l, t, n, 1)) return -1;
    if (t->type != OWL_TYPE_F32) return unsupported(l, t);
    if ((uintptr_t)t->data % sizeof(float) != 0)
        return owl_errorf(l->err, "tensor %s is not aligned for float32", name);
    *out = t->data;
    return 0;
}

/* A weight matrix of n_out rows of n_in, in a type the kernels compute with. */
static int get_matrix(loader *l, const char *name, int64_t n_in, int64_t n_out, bool required,
                      owl_matrix *out) {
    memset(out, 0, sizeof *out);
    const owl_gguf_tensor *t = find_tensor(l, name, required);
    if (!t) return required ? -1 : 0;
    if (check_shape(l, t, n_in, n_out)) return -1;
    const owl_type_info *ti = owl_type_get(t->type);
    const owl_kernel *k = owl_kernel_get((owl_type)t->type, owl_isa_best());
    if (!ti || !ti->supported || !k) return unsupported(l, t);
    if (n_in % ti->block_size != 0)
        return owl_errorf(l->err, "tensor %s: row length %lld is not a multiple of the %s block size %lld",
                          name, (long long)n_in, ti->name, (long long)ti->block_size);
    *out = (owl_matrix){
        .data = t->data,
        .type = (owl_type)t->type,
        .n_in = n_in,
        .n_out = n_out,
        .row_bytes = owl_row_size((owl_type)t->type, n_in),
        .k = k,
    };
    if ((uintptr_t)t->data % 4 != 0 && (t->type == OWL_TYPE_F32))
        return owl_errorf(l->err, "tensor %s is not aligned for float32", name);
    l->m->weight_bytes += t->nbytes;
    return 0;
}

static int load_layer(loader *l, int64_t il, owl_layer *L) {
    const owl_hparams *hp = &l->m->hp;
    const int64_t d = hp->n_embd, q_dim = hp->n_head * hp->head_dim_k;
    const int64_t kv_dim = hp->n_head_kv * hp->head_dim_k, v_dim = hp->n_head_kv * hp->head_dim_v;
    char n[96];
#define NAME(s) (snprintf(n, sizeof n, "blk.%lld." s, (long long)il), n)
    if (get_vector(l, NAME("attn_norm.weight"), d, true, &L->attn_norm) ||
        get_matrix(l, NAME("attn_q.weight"), d, q_dim, true, &L->wq) ||
        get_matrix(l, NAME("attn_k.weight"), d, kv_dim, true, &L->wk) ||
        get_matrix(l, NAME("attn_v.weight"), d, v_dim, true, &L->wv) ||
        get_matrix(l, NAME("attn_output.weight"), hp->n_head * hp->head_dim_v, d, true, &L->wo) ||
        get_vector(l, NAME("ffn_norm.weight"), d, true, &L->ffn_norm) ||
        get_matrix(l, NAME("ffn_gate.weight"), d, hp->n_ff, true, &L->w_gate) ||
        get_matrix(l, NAME("ffn_up.weight"), d, hp->n_ff, true, &L->w_up) ||
        get_matrix(l, NAME("ffn_down.weight"), hp->n_ff, d, true, &L->w_down))
        return -1;
    /* Biases are required where the architecture has them and honoured where a file has them. */
    bool bias = l->m->arch->qkv_bias;
    if (get_vector(l, NAME("attn_q.bias"), q_dim, bias, &L->bq) ||
        get_vector(l, NAME("attn_k.bias"), kv_dim, bias, &L->bk) ||
        get_vector(l, NAME("attn_v.bias"), v_dim, bias, &L->bv))
        return -1;
    if (l->m->arch->qk_norm &&
        (get_vector(l, NAME("attn_q_norm.weight"), hp->head_dim_k, true, &L->q_norm) ||
         get_vector(l, NAME("attn_k_norm.weight"), hp->head_dim_k, true, &L->k_norm)))
        return -1;
#undef NAME
    return 0;
}

static int load_tensors(loader *l) {
    owl_model *m = l->m;
    owl_hparams *hp = &m->hp;
    const owl_gguf_tensor *te = find_tensor(l, "token_embd.weight", true);
    if (!te) return -1;
    if (te->ne[0] != hp->n_embd || te->ne[2] != 1 || te->ne[3] != 1)
        return owl_errorf(l->err, "tensor token_embd.weight has shape [%lld, %lld, %lld], expected [%lld, n_vocab]",
                          (long long)te->ne[0], (long long)te->ne[1], (long long)te->ne[2], (long long)hp->n_embd);
    if (te->ne[1] > (1 << 24))
        return owl_errorf(l->err, "tensor token_embd.weight: %lld tokens is too many", (long long)te->ne[1]);
    hp->n_vocab = te->ne[1];
    uint64_t before = m->weight_bytes;
    if (get_matrix(l, "token_embd.weight", hp->n_embd, hp->n_vocab, true, &m->tok_embd)) return -1;
    m->weight_bytes = before; /* one row per token is read, not the table */
    if (get_vector(l, "output_norm.weight", hp->n_embd, true, &m->output_norm)) return -1;
    if (get_matrix(l, "output.weight", hp->n_embd, hp->n_vocab, false, &m->output)) return -1;
    if (!m->output.data) {
        hp->tied_output = true;
        m->output = m->tok_embd;
        m->weight_bytes += owl_row_size(m->tok_embd.type, hp->n_embd) * (uint64_t)hp->n_vocab;
    }
    if (get_vector(l, "rope_freqs.weight", hp->n_rot / 2, false, &m->rope_freqs)) return -1;
    hp->has_rope_freqs = m->rope_freqs != NULL;

    m->layers = calloc((size_t)hp->n_layer, sizeof *m->layers);
    if (!m->layers) return owl_errorf(l->err, "out of memory");
    for (int64_t il = 0; il < hp->n_layer; il++)
        if (load_layer(l, il, &m->layers[il])) return -1;
    m->main_type = m->layers[0].w_gate.type;
    return 0;
}

/* ---- public ------------------------------------------------------------------------------- */

owl_model *owl_model_from_gguf(owl_gguf *g, owl_error *err) {
    owl_model *m = calloc(1, sizeof *m);
    if (!m) {
        owl_gguf_close(g);
        owl_errorf(err, "out of memory");
        return NULL;
    }
    m->gguf = g;
    loader l = {.m = m, .err = err};
    owl_str arch;
    if (!owl_gguf_get_str(g, "general.architecture", &arch)) {
        owl_errorf(err, "metadata general.architecture is missing");
        goto fail;
    }
    m->arch = find_arch(arch);
    if (!m->arch) {
        owl_errorf(err, "unsupported architecture '%.*s'", (int)(arch.len > 64 ? 64 : arch.len), arch.ptr);
        goto fail;
    }
    if (load_hparams(&l) || load_tensors(&l)) goto fail;
    return m;
fail:
    owl_error_prefix(err, "%s", g->path ? g->path : "model");
    owl_model_destroy(m);
    return NULL;
}

owl_model *owl_model_load(const char *path, owl_error *err) {
    owl_gguf *g = owl_gguf_open(path, err);
    if (!g) return NULL;
    return owl_model_from_gguf(g, err);
}

void owl_model_destroy(owl_model *m) {
    if (!m) return;
    free(m->layers);
    owl_gguf_close(m->gguf);
    free(m);
}

const owl_hparams *owl_model_hparams(const owl_model *m) { return &m->hp; }
const owl_gguf *owl_model_gguf(const owl_model *m) { return m->gguf; }
uint64_t owl_model_weight_bytes(const owl_model *m) { return m->weight_bytes; }
const char *owl_model_type_name(const owl_model *m) { return owl_type_name(m->main_type); }
