/* owl — models: load a llama-family GGUF (weights stay memory-mapped) and run its forward pass.
 *
 * An owl_model is the read-only part (hyperparameters and weight views into the mapping); any
 * number of owl_contexts can run it, each with its own KV cache, scratch buffers and thread
 * pool. owl_decode() appends tokens to a context and computes the logits of the last one (or of
 * every one, for perplexity and logit comparisons).
 *
 * A context can hold several independent sequences (n_seq, each with n_ctx positions of its own
 * in the KV cache, like llama.cpp's sequence ids). owl_decode_batch() runs tokens of any of them
 * in one forward pass: every matrix product covers the whole batch, so N sequences decoding one
 * token each read the weights once instead of N times; attention runs per sequence over its own
 * part of the cache. owl_decode() is the one-sequence case (sequence 0). */
#ifndef OWL_MODEL_H
#define OWL_MODEL_H

#include "owl/common.h"
#include "owl/gguf.h"
#include "owl/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum owl_rope_kind {
    OWL_ROPE_NORMAL = 0, /* rotate adjacent pairs (x[2i], x[2i+1]): llama */
    OWL_ROPE_NEOX = 1,   /* rotate halves (x[i], x[i + n_rot/2]): qwen2, qwen3 */
} owl_rope_kind;

typedef enum owl_rope_scaling {
    OWL_ROPE_SCALING_NONE = 0,
    OWL_ROPE_SCALING_LINEAR = 1,
    OWL_ROPE_SCALING_YARN = 2,
} owl_rope_scaling;

typedef struct owl_hparams {
    char arch[32];
    int64_t n_vocab;
    int64_t n_ctx_train;
    int64_t n_embd;
    int64_t n_layer;
    int64_t n_ff;
    int64_t n_head;
    int64_t n_head_kv;
    int64_t head_dim_k; /* key_length (default n_embd / n_head) */
    int64_t head_dim_v; /* value_length */
    int64_t n_rot;      /* rope.dimension_count (default head_dim_k) */
    float rms_eps;
    float rope_base;
    owl_rope_kind rope_kind;
    owl_rope_scaling rope_scaling;
    float rope_factor;        /* rope.scaling.factor (1 when none) */
    int64_t rope_orig_ctx;    /* rope.scaling.original_context_length */
    float yarn_beta_fast, yarn_beta_slow, yarn_ext_factor, yarn_attn_factor;
    bool has_rope_freqs;      /* llama3-style per-frequency factors (rope_freqs tensor) */
    bool tied_output;         /* no output.weight: logits use token_embd */
} owl_hparams;

typedef struct owl_model owl_model;

owl_model *owl_model_load(const char *path, owl_error *err);
/* Takes ownership of g (closed by owl_model_destroy, or on failure). */
owl_model *owl_model_from_gguf(owl_gguf *g, owl_error *err);
void owl_model_destroy(owl_model *m);

const owl_hparams *owl_model_hparams(const owl_model *m);
const owl_gguf *owl_model_gguf(const owl_model *m);
/* Bytes of weight data the forward pass reads per token (every tensor used, once). */
uint64_t owl_model_weight_bytes(const owl_model *m);
/* The type most of the weights have ("q8_0", ...), for reports. */
const char *owl_model_type_name(const owl_model *m);

/* ---- contexts ------------------------------------------------------------------------------ */

typedef struct owl_context_params {
    int n_ctx;       /* positions per sequence; 0 = the model's context, at most 4096 and at most
                        what half the available memory holds as KV cache */
    int n_batch;     /* tokens per forward pass during prefill (default 256) */
    int n_threads;   /* 0 = online CPUs */
    owl_type kv_type;  /* OWL_TYPE_F16 (default), OWL_TYPE_F32 or OWL_TYPE_Q8_0 */
    int n_seq;       /* independent sequences, n_ctx positions each (default 1; at most 256) */
} owl_context_params;

owl_context_params owl_context_default_params(void);

typedef struct owl_context owl_context;

owl_context *owl_context_new(const owl_model *m, const owl_context_params *p, owl_error *err);
void owl_context_destroy(owl_context *c);

/* Positions per sequence. */
int owl_context_n_ctx(const owl_context *c);
int owl_context_n_seq(const owl_context *c);
int owl_context_n_threads(const owl_context *c);
/* Tokens in sequence 0 / in sequence seq (0 for a sequence id out of range). */
int owl_context_n_past(const owl_context *c);
int owl_context_seq_n_past(const owl_context *c, int seq);
/* Forgets every position of sequence 0 / of sequence seq from n_past on (0 clears it); the
 * other sequences are untouched. */
void owl_context_truncate(owl_context *c, int n_past);
void owl_context_seq_truncate(owl_context *c, int seq, int n_past);
/* Makes dst hold the first n positions of src (keys and values copied; dst's own are dropped):
 * sequences that start alike share a prefix without running it twice. n is clamped to what src
 * holds; copying a sequence onto itself truncates it. */
void owl_context_seq_copy(owl_context *c, int src, int dst, int n);
size_t owl_context_kv_bytes(const owl_context *c);

/* Appends n tokens and runs them. With all_logits the logits of each of them are kept
 * (owl_context_logits(c, i) for i in 0..n-1); otherwise only the last one's (i = n - 1). Fails
 * (changing nothing) on an out-of-range token id or when the tokens do not fit the context. */
int owl_decode(owl_context *c, const int32_t *tokens, int n, bool all_logits, owl_error *err);

/* Tokens of one or more sequences. Each token goes to the next position of its sequence, in
 * batch order (a sequence's tokens need not be adjacent). */
typedef struct owl_batch {
    int n_tokens;
    const int32_t *tokens;
    const int32_t *seq_ids; /* sequence of each token; NULL: every token is sequence 0's */
    const bool *logits;     /* whose logits to keep; NULL: the last token's only */
} owl_batch;

/* Runs a batch (split into forward passes of n_batch tokens). The logits of the flagged tokens
 * are owl_context_logits(c, 0..), in batch order. Fails (changing nothing) on an out-of-range
 * token or sequence id, or when a sequence's tokens do not fit its n_ctx. */
int owl_decode_batch(owl_context *c, const owl_batch *b, owl_error *err);

/* Row i of the logits the last decode kept (n_vocab floats), valid until the next decode. */
const float *owl_context_logits(const owl_context *c, int i);

#ifdef __cplusplus
}
#endif
#endif
