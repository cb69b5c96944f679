/* The inside of owl_model and owl_context, shared by the loader (model.c), the architectures
 * (arch_*.c), the KV cache (kv_cache.c) and the forward pass (forward.c). */
#ifndef OWL_MODEL_INTERNAL_H
#define OWL_MODEL_INTERNAL_H

#include "owl/model.h"
#include "tensor/kernels.h"
#include "tensor/pool.h"

/* An architecture: what its GGUF looks like and which optional pieces its forward pass uses.
 * Adding one is a file arch_<name>.c defining such a struct, plus its line in model.c's table. */
typedef struct owl_arch {
    const char *name;          /* general.architecture, also the metadata key prefix */
    owl_rope_kind rope_kind;
    bool qkv_bias;             /* attn_q/k/v.bias required (qwen2) */
    bool qk_norm;              /* attn_q_norm/attn_k_norm per-head RMSNorm before RoPE (qwen3) */
} owl_arch;

extern const owl_arch owl_arch_llama;
extern const owl_arch owl_arch_qwen2;
extern const owl_arch owl_arch_qwen3;

typedef struct owl_layer {
    const float *attn_norm;
    owl_matrix wq, wk, wv, wo;
    const float *bq, *bk, *bv;       /* NULL unless the architecture has them */
    const float *q_norm, *k_norm;    /* head_dim_k floats, NULL unless qk_norm */
    const float *ffn_norm;
    owl_matrix w_gate, w_up, w_down;
} owl_layer;

struct owl_model {
    owl_gguf *gguf;
    const owl_arch *arch;
    owl_hparams hp;
    owl_matrix tok_embd; /* n_vocab rows of n_embd */
    const float *output_norm;
    owl_matrix output;   /* tok_embd when tied */
    const float *rope_freqs; /* n_rot/2 factors, or NULL */
    owl_layer *layers;
    uint64_t weight_bytes;
    owl_type main_type;
};

/* KV cache: per layer, n_ctx rows of n_head_kv * head_dim values (F16, F32 or Q8_0). */
typedef struct owl_kv_cache {
    owl_type type;
    int n_ctx;
    int64_t k_row, v_row;       /* elements per position */
    size_t k_bytes, v_bytes;    /* bytes per position */
    owl_from_float_fn quantize; /* Q8_0: the row quantizer */
    void **k, **v;          /* [n_layer] */
    size_t bytes;
} owl_kv_cache;

int owl_kv_cache_init(owl_kv_cache *kv, const owl_hparams *hp, int n_ctx, owl_type type,
                      owl_error *err);
void owl_kv_cache_free(owl_kv_cache *kv, int64_t n_layer);
/* Where position pos of layer il lives. */
void *owl_kv_k(const owl_kv_cache *kv, int64_t il, int64_t pos);
void *owl_kv_v(const owl_kv_cache *kv, int64_t il, int64_t pos);
/* Stores n_pos rows of floats (row stride = the cache row) at positions pos.. */
void owl_kv_store(const owl_kv_cache *kv, const owl_vec_ops *ops, void *dst, const float *src,
                  int64_t n);

/* One forward pass: up to n_batch tokens, each with its sequence and position, and the batch
 * indices whose logits are wanted (in order; n_out rows written to logits). */
typedef struct owl_ubatch {
    int n;
    const int32_t *tokens, *seq, *pos;
    const int32_t *out;
    int n_out;
    float *logits;
} owl_ubatch;

struct owl_context {
    const owl_model *model;
    owl_context_params params;
    owl_pool *pool;
    const owl_vec_ops *ops;
    owl_kv_cache kv;    /* n_seq * n_ctx positions: sequence s owns [s * n_ctx, (s + 1) * n_ctx) */
    int *n_past;        /* [n_seq] */
    int *seq_count;     /* [n_seq] scratch of owl_decode_batch */
    int32_t *ub_seq, *ub_pos, *ub_out; /* [n_batch] scratch of one forward pass */

    /* Scratch for one batch of up to n_batch tokens. */
    float *x, *xb, *q, *k, *v, *att_out, *hb, *hb2;
    float *rope_cos, *rope_sin;   /* [n_batch][n_rot/2] */
    float *scores;                /* [n_threads][n_ctx] */
    void *act;                    /* quantized activations */
    float *logits;                /* [n_logits][n_vocab] */
    int n_logits_cap, n_logits;
};

/* The forward pass over one ubatch (n <= n_batch); the caller has checked every token, sequence
 * and position. */
/* The default context length: want positions, or fewer when bytes_per_pos of KV cache each
 * would not fit budget bytes (whole blocks of 256, at least one). */
int64_t owl_context_fit(int64_t want, uint64_t bytes_per_pos, uint64_t budget);

void owl_forward(owl_context *c, const owl_ubatch *ub);

#endif
