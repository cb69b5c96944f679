/* owl — quantizing model files: the file types (llama.cpp's "ftype" mixes), the per-tensor type
 * plan of each mix, and the quantization of a whole GGUF file.
 *
 * A mix names a base type and a few rules that keep the most sensitive tensors at more bits:
 * the output projection (or the tied token embedding) at Q6_K, and in the K mixes part of the
 * attention-value and FFN-down projections at Q5_K/Q6_K. Norms, biases and other 1-D tensors stay
 * F32. Rows whose length is not a multiple of 256 cannot hold a K-quant and fall back to the
 * nearest 32-element type (Q4_K → Q5_0, Q5_K → Q5_1, Q6_K → Q8_0, Q2_K/Q3_K → Q4_0). */
#ifndef OWL_QUANTIZE_H
#define OWL_QUANTIZE_H

#include "owl/gguf.h"
#include "owl/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Values of general.file_type (llama.cpp's llama_ftype). */
typedef enum owl_ftype {
    OWL_FTYPE_ALL_F32 = 0,
    OWL_FTYPE_F16 = 1,
    OWL_FTYPE_Q4_0 = 2,
    OWL_FTYPE_Q4_1 = 3,
    OWL_FTYPE_Q8_0 = 7,
    OWL_FTYPE_Q5_0 = 8,
    OWL_FTYPE_Q5_1 = 9,
    OWL_FTYPE_Q2_K = 10,
    OWL_FTYPE_Q3_K_S = 11,
    OWL_FTYPE_Q3_K_M = 12,
    OWL_FTYPE_Q3_K_L = 13,
    OWL_FTYPE_Q4_K_S = 14,
    OWL_FTYPE_Q4_K_M = 15,
    OWL_FTYPE_Q5_K_S = 16,
    OWL_FTYPE_Q5_K_M = 17,
    OWL_FTYPE_Q6_K = 18,
    OWL_FTYPE_BF16 = 32,
} owl_ftype;

/* Name of a general.file_type value: "Q4_K_M", "F16", "ALL_F32", ...; for values owl cannot
 * produce (IQ mixes and others it can still read) llama.cpp's name, else "unknown". */
const char *owl_ftype_name(int ftype);
/* Case-insensitive lookup of a mix owl can produce ("q4_k_m", "F16", "Q8_0"); -1 when unknown. */
int owl_ftype_from_name(const char *name);
/* The type most tensors of the mix get. */
owl_type owl_ftype_base_type(int ftype);
/* The mix whose base type is `type` (F32 → ALL_F32, Q4_K → Q4_K_M, ...); -1 when none. */
int owl_ftype_for_type(owl_type type);

/* Decides tensor types for one model file, in file order (the rules count layers as they go). */
typedef struct owl_quant_plan {
    int ftype;
    owl_type base;
    int n_attn_v, i_attn_v;     /* attention value projections: total and seen so far */
    int n_ffn_down, i_ffn_down; /* FFN down projections: total and seen so far */
    bool has_output;            /* a separate output.weight (else the embedding is tied) */
    int n_gqa;                  /* query heads per KV head */
    bool pure;                  /* every matrix at the base type (no mix rules) */
} owl_quant_plan;

/* Reads the counts the rules need from the tensor names and metadata of `g`. */
void owl_quant_plan_init(owl_quant_plan *p, int ftype, const owl_gguf *g);
/* Same for a model that is still being built: the tensor names, and heads per KV head. */
void owl_quant_plan_init_names(owl_quant_plan *p, int ftype, const char *const *names, size_t n,
                               int n_gqa);
/* The type tensor `name` of shape ne[0..n_dims) gets; advances the layer counters. */
owl_type owl_quant_plan_next(owl_quant_plan *p, const char *name, uint32_t n_dims,
                             const int64_t *ne);

/* Error accumulated over quantized values, per destination type. */
typedef struct owl_quant_error {
    double sse;    /* sum of squared errors */
    double ssref;  /* sum of squared source values */
    uint64_t n;    /* values */
} owl_quant_error;

struct owl_pool;

/* Quantizes nrows rows of n_per_row floats into dst (owl_row_size(type, n_per_row) bytes a
 * row), spread over the pool's threads (pool may be NULL). When err_out is not NULL the rows are
 * dequantized again and the error added to it. */
void owl_quantize_rows(struct owl_pool *pool, owl_type type, const float *src, void *dst,
                       int64_t nrows, int64_t n_per_row, owl_quant_error *err_out);

/* Converts nrows rows of a tensor of any supported type to float32 (pool may be NULL). */
void owl_dequantize_rows(struct owl_pool *pool, owl_type type, const void *src, float *dst,
                         int64_t nrows, int64_t n_per_row);

typedef struct owl_quantize_progress {
    size_t index, count;   /* tensor index and count */
    const char *name;
    owl_type from, to;
} owl_quantize_progress;

typedef struct owl_quantize_report {
    owl_quant_error by_type[OWL_TYPE_COUNT]; /* for each destination type */
    size_t tensors_by_type[OWL_TYPE_COUNT];
    uint64_t bytes_in, bytes_out;
} owl_quantize_report;

typedef struct owl_quantize_opts {
    int n_threads;                 /* 0 = all CPUs */
    void (*progress)(void *ctx, const owl_quantize_progress *p);
    void *progress_ctx;
} owl_quantize_opts;

/* Writes `out` with every tensor of `in` converted per the mix; metadata is copied with
 * general.file_type (and general.quantization_version) updated. */
int owl_quantize_file(const char *in, const char *out, int ftype, const owl_quantize_opts *opts,
                      owl_quantize_report *report, owl_error *err);

#ifdef __cplusplus
}
#endif
#endif
