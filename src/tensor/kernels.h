/* owl — compute kernels (private to libowl): dot products per weight type, chosen at run time.
 *
 * A matrix-vector product W·x over a weight of type T runs, for each row of W, a dot product
 * between that row (in T's on-disk blocks) and x converted once to T's activation type: F32 for
 * the float types, Q8_0 for the 32-element quants, Q8_K for the k-quants (as ggml does, so the
 * results agree with llama.cpp to the rounding of the activations).
 *
 * Every kernel has a scalar reference (kernels.c) that is the oracle for the SIMD versions
 * (kernels_avx2.c, kernels_avx512.c); cpu.c detects the features once and picks the best. */
#ifndef OWL_TENSOR_KERNELS_H
#define OWL_TENSOR_KERNELS_H

#include "owl/tensor.h"

#include <stdint.h>
#include <string.h>

/* ---- CPU features (the one piece of global state) ----------------------------------------- */

typedef struct owl_cpu {
    bool avx2, fma, f16c;
    bool avx512f, avx512bw, avx512vl, avx512dq, avx512vnni, avx512bf16;
} owl_cpu;

/* Detected once, on first use; thread-safe. */
const owl_cpu *owl_cpu_get(void);

typedef enum owl_isa { OWL_ISA_SCALAR = 0, OWL_ISA_AVX2 = 1, OWL_ISA_AVX512 = 2 } owl_isa;
/* The best level this CPU supports, capped by $OWL_ISA ("scalar", "avx2", "avx512") when set. */
owl_isa owl_isa_best(void);
const char *owl_isa_name(owl_isa isa);

/* ---- dot products ------------------------------------------------------------------------- */

/* *s = dot(w, x) over n elements: w in the weight type's blocks, x in its activation type. */
typedef void (*owl_dot_fn)(int64_t n, float *s, const void *w, const void *x);
/* Converts n floats into the activation type (n a multiple of its block size). */
typedef void (*owl_from_float_fn)(const float *x, void *dst, int64_t n);

/* Batched products (prefill): Y[t][r] for the 8-row tiles of rows [0, n_rows) (n_rows a
 * multiple of 8) and all n_tok activation rows. `y` points at column 0 of token 0, row stride
 * y_stride. `aux` holds what gemm_prep computed from the activations (owl_kernel_aux_size). */
typedef void (*owl_gemm_fn)(int64_t n, int64_t n_rows, const void *w, size_t row_bytes,
                            const void *act, size_t act_row, const void *aux, int64_t n_tok,
                            float *y, int64_t y_stride);
typedef void (*owl_gemm_prep_fn)(int64_t n, const void *act, void *aux);

typedef struct owl_kernel {
    owl_type act_type;        /* OWL_TYPE_F32, OWL_TYPE_Q8_0 or OWL_TYPE_Q8_K */
    owl_from_float_fn quantize_act;
    owl_dot_fn dot;
    owl_gemm_fn gemm;           /* NULL: batches use dot */
    owl_gemm_prep_fn gemm_prep; /* per activation row, into aux_size(n) bytes */
    size_t gemm_aux;            /* bytes of gemm_prep's output per 32 activation elements */
    int gemm_min_tokens;        /* smaller batches use dot (0: the default, 4) */
} owl_kernel;

/* Bytes of gemm aux data per activation row of n elements (0 without gemm). */
size_t owl_kernel_aux_size(const owl_kernel *k, int64_t n);

/* The kernel for a weight type at an ISA level (falling back to lower levels for types a level
 * does not cover); NULL when the type cannot be computed with. */
const owl_kernel *owl_kernel_get(owl_type wtype, owl_isa isa);
/* Bytes one activation row of n elements takes for this kernel. */
size_t owl_kernel_act_size(const owl_kernel *k, int64_t n);

/* Per-ISA tables: fill in the entries a level accelerates (leave the others alone). */
void owl_kernels_init_scalar(owl_kernel table[OWL_TYPE_COUNT]);
void owl_kernels_init_scalar_quant(owl_kernel table[OWL_TYPE_COUNT]); /* kernels_quant.c */
void owl_kernels_init_avx2(owl_kernel table[OWL_TYPE_COUNT]);
void owl_kernels_init_avx2_quant(owl_kernel table[OWL_TYPE_COUNT]); /* kernels_quant_avx2.c */
void owl_kernels_init_avx2_gemm(owl_kernel table[OWL_TYPE_COUNT]);  /* gemm_avx2.c */
void owl_kernels_init_avx512(owl_kernel table[OWL_TYPE_COUNT]);
void owl_kernels_init_avx512_quant(owl_kernel table[OWL_TYPE_COUNT]); /* kernels_quant_avx512.c */
void owl_kernels_init_avx512_gemm(owl_kernel table[OWL_TYPE_COUNT]);  /* gemm_avx512.c */
void owl_kernels_init_avx512_bf16(owl_kernel table[OWL_TYPE_COUNT]);  /* kernels_bf16_avx512.c */

/* The eight 6-bit (scale, min) pairs of a Q4_K/Q5_K super-block, unpacked four at a time with
 * 32-bit masks (the layout is in blocks.h): afterwards bytes 0..7 of u are the scales and bytes
 * 8..15 the mins. */
static inline void owl_k4_unpack(const uint8_t *scales, uint32_t u[4]) {
    memcpy(u, scales, 12);
    const uint32_t m6 = 0x3f3f3f3f, m4 = 0x0f0f0f0f, m2 = 0x03030303;
    u[3] = ((u[2] >> 4) & m4) | (((u[1] >> 6) & m2) << 4);  /* mins 4..7 */
    const uint32_t mins_lo = u[1] & m6;                     /* mins 0..3 */
    u[1] = (u[2] & m4) | (((u[0] >> 6) & m2) << 4);         /* scales 4..7 */
    u[2] = mins_lo;
    u[0] &= m6;                                             /* scales 0..3 */
}

/* ---- small float helpers used by the forward pass (dispatching internally) ---------------- */

typedef struct owl_vec_ops {
    float (*dot_f32)(int64_t n, const float *a, const float *b);
    float (*dot_f32_f16)(int64_t n, const float *a, const uint16_t *b);
    /* y += a * x (x in f16) */
    void (*axpy_f16)(int64_t n, float a, const uint16_t *x, float *y);
    void (*axpy_f32)(int64_t n, float a, const float *x, float *y);
    void (*f32_to_f16)(int64_t n, const float *x, uint16_t *y);
    /* Attention over an F16 cache for a group of g query heads sharing one KV head (GQA):
     * scores[i][p] = scale · q[i]·k[p] for p < n_pos (q: g rows of hd; k rows k_stride
     * elements apart; scores rows s_stride apart), and out[i] = Σ_p w[i][p] · v[p]. */
    void (*attn_scores_f16)(int64_t hd, int64_t n_pos, int g, const float *q, const uint16_t *k,
                            int64_t k_stride, float scale, float *scores, int64_t s_stride);
    void (*attn_values_f16)(int64_t hd, int64_t n_pos, int g, const float *w, int64_t w_stride,
                            const uint16_t *v, int64_t v_stride, float *out);
    /* The same over a Q8_0 cache: each position's row is Q8_0 blocks (rows `stride` bytes
     * apart, starting at k / v), and the head is the hd elements from element `off` of the row.
     * The keys and values are dequantized on the fly (q stays in float). */
    void (*attn_scores_q8_0)(int64_t hd, int64_t n_pos, int g, const float *q, const void *k,
                             int64_t off, size_t k_stride, float scale, float *scores,
                             int64_t s_stride);
    void (*attn_values_q8_0)(int64_t hd, int64_t n_pos, int g, const float *w, int64_t w_stride,
                             const void *v, int64_t off, size_t v_stride, float *out);
    /* x = softmax(x) in place over n values, taken relative to their maximum (no overflow). */
    void (*softmax)(int64_t n, float *x);
    /* g = silu(g) * u over n values (the gated FFN's activation). */
    void (*silu_mul)(int64_t n, float *g, const float *u);
} owl_vec_ops;

const owl_vec_ops *owl_vec_ops_get(owl_isa isa);
void owl_vec_ops_init_scalar(owl_vec_ops *ops);
void owl_vec_ops_init_avx2(owl_vec_ops *ops);
void owl_vec_ops_init_avx512(owl_vec_ops *ops);
/* Attention over a Q8_0 KV cache (attn_q8_0.c, attn_q8_0_avx2.c, attn_q8_0_avx512.c). */
void owl_attn_q8_0_init_scalar(owl_vec_ops *ops);
void owl_attn_q8_0_init_avx2(owl_vec_ops *ops);
void owl_attn_q8_0_init_avx512(owl_vec_ops *ops);
void owl_attn_scores_q8_0_ref(int64_t hd, int64_t n_pos, int g, const float *q, const void *k,
                              int64_t off, size_t k_stride, float scale, float *scores,
                              int64_t s_stride);
void owl_attn_values_q8_0_ref(int64_t hd, int64_t n_pos, int g, const float *w, int64_t w_stride,
                              const void *v, int64_t off, size_t v_stride, float *out);

/* ---- matrix products (matmul.c) ----------------------------------------------------------- */

typedef struct owl_pool owl_pool;

/* A weight matrix of n_out rows of n_in elements each, rows row_bytes apart. */
typedef struct owl_matrix {
    const void *data;
    owl_type type;
    int64_t n_in, n_out;
    size_t row_bytes;
    const owl_kernel *k;
} owl_matrix;

/* Y[t][r] = dot(W row r, X[t]) for the n_tok rows of X (n_in floats each, row stride n_in);
 * Y has row stride n_out. `act` is scratch for the converted activations:
 * n_tok * owl_kernel_act_size(W->k, W->n_in) bytes. Work is split over the pool's threads by
 * output rows; tokens are processed in tiles so each weight tile is read from memory once. */
void owl_matmul(owl_pool *pool, const owl_matrix *w, const float *x, int64_t n_tok, float *y,
                void *act);

/* Several matrices over the same X in one pool run (Q/K/V, gate/up): one barrier instead of n.
 * X is converted once per distinct activation format; `act` must hold that many conversions. */
#define OWL_MATMUL_MAX_MULTI 4
void owl_matmul_multi(owl_pool *pool, const owl_matrix *const *ws, float *const *ys, int n,
                      const float *x, int64_t n_tok, void *act);

#endif
