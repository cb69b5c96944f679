/* Private to src/tensor: the rounding helpers and scale searches shared by the quantizers
 * (quantize.c for Q4_0..Q8_K, quantize_k.c for the k-quants and the searches). */
#ifndef OWL_TENSOR_QUANT_SEARCH_H
#define OWL_TENSOR_QUANT_SEARCH_H

#include "tensor/blocks.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

/* Round to nearest, ties to even, for |v| <= 2^22: adding 1.5 * 2^23 leaves the integer in the
 * low mantissa bits. Outside that range (or for inf/NaN) the result is some int in
 * [-2^22, 2^22) (NaN gives 0), never undefined behaviour; callers clamp codes to their range.
 * This is exactly ggml's rounding, including on degenerate input, so quantized bytes match. */
static inline int owl_qround(float v) {
    float t = v + 12582912.0f;
    int32_t bits;
    memcpy(&bits, &t, sizeof bits);
    return (bits & 0x007FFFFF) - 0x00400000;
}

static inline int owl_qclamp(int v, int lo, int hi) {
    return v < lo ? lo : v > hi ? hi : v;
}

/* The searches work on groups of at most this many values (sub-blocks, or a super-block's
 * sub-scales). */
#define OWL_QSEARCH_MAX 32

/* Symmetric search: codes l in [-nmax, nmax-1] and one scale minimising
 * sum w * (x - scale * l)^2, trying 19 candidate inverse scales around nmax/max|x| and keeping the
 * least-squares scale of the best. w == NULL weighs each element by x^2. Writes L = l + nmax and
 * returns the scale (0 for an all-zero group). */
float owl_qsearch_symmetric(int n, int nmax, const float *x, const float *w, int8_t *L);

/* Symmetric search for 3-bit codes with coordinate descent on individual codes (weights x^2);
 * the unweighted Q3_K rule. Writes L = l + nmax, returns the scale. */
float owl_qsearch_q3(int n, int nmax, const float *x, int8_t *L);

/* Affine search: codes l in [0, nmax], x ~ scale * l - min with min >= 0, trying nstep + 1
 * inverse scales (rmin + rdelta * k + nmax) / (max - min) and fitting scale and min by weighted
 * least squares for each. `use_mad` scores by weighted absolute instead of squared error.
 * w == NULL weighs by x^2. Writes L and *the_min (>= 0), returns the scale. Laux is scratch of n. */
float owl_qsearch_affine(int n, int nmax, const float *x, const float *w, uint8_t *L,
                         float *the_min, uint8_t *Laux, float rmin, float rdelta, int nstep,
                         bool use_mad);

/* Quantizes n non-negative values (sub-block scales or mins) to codes 0..nmax with one scale,
 * weighted by w; returns the scale. */
float owl_qsearch_positive(int n, int nmax, const float *x, uint8_t *L, const float *w);

/* K-quant rows: nb super-blocks; qw (may be NULL) holds one importance per element. */
void owl_quantize_q2_K(const float *x, owl_block_q2_K *y, int64_t nb, const float *qw);
void owl_quantize_q3_K(const float *x, owl_block_q3_K *y, int64_t nb, const float *qw);
void owl_quantize_q4_K(const float *x, owl_block_q4_K *y, int64_t nb, const float *qw);
void owl_quantize_q5_K(const float *x, owl_block_q5_K *y, int64_t nb, const float *qw);
void owl_quantize_q6_K(const float *x, owl_block_q6_K *y, int64_t nb, const float *qw);

#endif
