/* AVX2 batched products (prefill, several sequences at once) for CPUs without AVX-512: the
 * symmetric 32-element types (Q8_0, Q4_0, Q5_0) and F16/F32. The other types batch through the
 * dot kernels (tiled over rows and tokens by matmul.c).
 *
 * Quantized: AVX2 has no u8×s8 dot product that cannot saturate (maddubs adds two products
 * into 16 bits), so the tile holds the codes widened to 16 bits and vpmaddwd does the products
 * exactly: lane j of tile vector g holds codes 2g and 2g+1 of row j, and one vpmaddwd against
 * the broadcast pair (2g, 2g+1) of a token adds both products for all 8 rows. The activations
 * are widened once per token by gemm_prep. Integer sums are exact, so the results agree with
 * the dot kernels up to the order in which block scales are applied. */
#include "tensor/kernels.h"

#include "tensor/blocks.h"
#include "tensor/simd_blocks.h"

#include <immintrin.h>
#include <string.h>

/* A Q8_0 activation block widened to 16 bits, with its scale. */
typedef struct q8_wide {
    int16_t q[32];
    float d;
} q8_wide;

static void gemm_prep_wide(int64_t n, const void *act, void *aux) {
    const owl_block_q8_0 *x = act;
    q8_wide *o = aux;
    for (int64_t b = 0; b < n / 32; b++) {
        const __m256i v = _mm256_loadu_si256((const __m256i *)x[b].qs);
        _mm256_storeu_si256((__m256i *)o[b].q, _mm256_cvtepi8_epi16(_mm256_castsi256_si128(v)));
        _mm256_storeu_si256((__m256i *)(o[b].q + 16), _mm256_cvtepi8_epi16(_mm256_extracti128_si256(v, 1)));
        o[b].d = _cvtsh_ss(x[b].d);
    }
}

#define WIDE_SPAN 16 /* blocks per tile pass: 16 × 512 bytes = 8 KiB */

static inline __m256i bcast_pair(const int16_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return _mm256_set1_epi32(v);
}

/* Σ over one block: acc += the 8 rows' products with one token (16 vpmaddwd). */
static inline __m256i block_sum(const __m256i T[16], const int16_t *x) {
    __m256i a = _mm256_madd_epi16(T[0], bcast_pair(x)), b = _mm256_madd_epi16(T[1], bcast_pair(x + 2));
    for (int g = 2; g < 16; g += 2) {
        a = _mm256_add_epi32(a, _mm256_madd_epi16(T[g], bcast_pair(x + 2 * g)));
        b = _mm256_add_epi32(b, _mm256_madd_epi16(T[g + 1], bcast_pair(x + 2 * g + 2)));
    }
    return _mm256_add_epi32(a, b);
}

static inline __attribute__((always_inline)) void gemm_wide(owl_type type, int64_t n, int64_t n_rows, const void *w,
                                                            size_t row_bytes, const void *aux, int64_t n_tok,
                                                            float *y, int64_t y_stride) {
    const int64_t nb = n / 32;
    const q8_wide *ax = aux;
    __m256i tile[WIDE_SPAN][16];
    __m256 dws[WIDE_SPAN];
    for (int64_t r0 = 0; r0 < n_rows; r0 += 8)
    for (int64_t kb0 = 0; kb0 < nb; kb0 += WIDE_SPAN) {
        const int64_t kb1 = kb0 + WIDE_SPAN < nb ? kb0 + WIDE_SPAN : nb;
        for (int64_t b = kb0; b < kb1; b++) {
            uint16_t d[8];
            __m256i lo[8], hi[8];
            for (int j = 0; j < 8; j++) {
                const __m256i c = simd_codes32(type, (const char *)w + (size_t)(r0 + j) * row_bytes, b, &d[j]);
                lo[j] = _mm256_cvtepi8_epi16(_mm256_castsi256_si128(c));      /* pairs 0..7 */
                hi[j] = _mm256_cvtepi8_epi16(_mm256_extracti128_si256(c, 1)); /* pairs 8..15 */
            }
            transpose8x8_epi32(lo);
            transpose8x8_epi32(hi);
            for (int g = 0; g < 8; g++) {
                tile[b - kb0][g] = lo[g];
                tile[b - kb0][8 + g] = hi[g];
            }
            dws[b - kb0] = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)d));
        }
        int64_t t = 0;
        for (; t + 2 <= n_tok; t += 2) {
            const q8_wide *a0 = ax + (size_t)t * (size_t)nb, *a1 = a0 + nb;
            float *y0 = y + t * y_stride + r0, *y1 = y0 + y_stride;
            __m256 f0 = kb0 ? _mm256_loadu_ps(y0) : _mm256_setzero_ps();
            __m256 f1 = kb0 ? _mm256_loadu_ps(y1) : _mm256_setzero_ps();
            for (int64_t b = kb0; b < kb1; b++) {
                const __m256i p0 = block_sum(tile[b - kb0], a0[b].q), p1 = block_sum(tile[b - kb0], a1[b].q);
                f0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p0), _mm256_mul_ps(dws[b - kb0], _mm256_set1_ps(a0[b].d)), f0);
                f1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p1), _mm256_mul_ps(dws[b - kb0], _mm256_set1_ps(a1[b].d)), f1);
            }
            _mm256_storeu_ps(y0, f0);
            _mm256_storeu_ps(y1, f1);
        }
        for (; t < n_tok; t++) {
            const q8_wide *a0 = ax + (size_t)t * (size_t)nb;
            float *y0 = y + t * y_stride + r0;
            __m256 f0 = kb0 ? _mm256_loadu_ps(y0) : _mm256_setzero_ps();
            for (int64_t b = kb0; b < kb1; b++)
                f0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(block_sum(tile[b - kb0], a0[b].q)),
                                     _mm256_mul_ps(dws[b - kb0], _mm256_set1_ps(a0[b].d)), f0);
            _mm256_storeu_ps(y0, f0);
        }
    }
}

/* ---- F16 and F32: 4 rows × 2 tokens of 8-wide FMA chains (eight accumulators, all of AVX2's 16
 * registers in use with the row and token vectors), one horizontal sum per (row, token). */
static inline __m256 load_w8(bool f32, const char *row, int64_t k) {
    return f32 ? _mm256_loadu_ps((const float *)row + k)
               : _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)row + k)));
}


static inline __attribute__((always_inline)) void gemm_float8(bool f32, int64_t n, int64_t n_rows, const void *w,
                                                              size_t row_bytes, const void *act, size_t act_row,
                                                              int64_t n_tok, float *y, int64_t y_stride) {
    const int64_t n8 = n / 8 * 8;
    /* Blocks of 32 tokens (their activations stay in L2) against all rows of the chunk. */
    for (int64_t tb = 0; tb < n_tok; tb += 32)
    for (int64_t r0 = 0; r0 < n_rows; r0 += 4) {
        const char *wr[4];
        for (int i = 0; i < 4; i++) wr[i] = (const char *)w + (size_t)(r0 + i) * row_bytes;
        const int64_t te = tb + 32 < n_tok ? tb + 32 : n_tok;
        for (int64_t t0 = tb; t0 < te; t0 += 2) {
            const int nt = te - t0 < 2 ? 1 : 2;
            const float *x0 = (const float *)((const char *)act + (size_t)t0 * act_row);
            const float *x1 = (const float *)((const char *)act + (size_t)(t0 + nt - 1) * act_row);
            __m256 a00 = _mm256_setzero_ps(), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00, a30 = a00, a31 = a00;
            for (int64_t k = 0; k < n8; k += 8) {
                const __m256 xa = _mm256_loadu_ps(x0 + k), xb = _mm256_loadu_ps(x1 + k);
                __m256 wv = load_w8(f32, wr[0], k);
                a00 = _mm256_fmadd_ps(wv, xa, a00);
                a01 = _mm256_fmadd_ps(wv, xb, a01);
                wv = load_w8(f32, wr[1], k);
                a10 = _mm256_fmadd_ps(wv, xa, a10);
                a11 = _mm256_fmadd_ps(wv, xb, a11);
                wv = load_w8(f32, wr[2], k);
                a20 = _mm256_fmadd_ps(wv, xa, a20);
                a21 = _mm256_fmadd_ps(wv, xb, a21);
                wv = load_w8(f32, wr[3], k);
                a30 = _mm256_fmadd_ps(wv, xa, a30);
                a31 = _mm256_fmadd_ps(wv, xb, a31);
            }
            const __m256 acc[4][2] = {{a00, a01}, {a10, a11}, {a20, a21}, {a30, a31}};
            for (int i = 0; i < 4; i++)
                for (int j = 0; j < nt; j++) {
                    float s = simd_hsum(acc[i][j]);
                    const float *xj = j ? x1 : x0;
                    for (int64_t k = n8; k < n; k++) {
                        const float wk = f32 ? ((const float *)wr[i])[k] : owl_f16_to_f32(((const uint16_t *)wr[i])[k]);
                        s += wk * xj[k];
                    }
                    y[(t0 + j) * y_stride + r0 + i] = s;
                }
        }
    }
}

/* The kernel-table entry for one type: the shared body with the type fixed. */
#define GEMM_ENTRY(name, call)                                                                     \
    static void name(int64_t n, int64_t n_rows, const void *w, size_t row_bytes, const void *act,  \
                     size_t act_row, const void *aux, int64_t n_tok, float *y, int64_t y_stride) { \
        (void)act;                                                                                 \
        (void)act_row;                                                                             \
        (void)aux;                                                                                 \
        call;                                                                                      \
    }

GEMM_ENTRY(gemm_q8_0, gemm_wide(OWL_TYPE_Q8_0, n, n_rows, w, row_bytes, aux, n_tok, y, y_stride))
GEMM_ENTRY(gemm_q4_0, gemm_wide(OWL_TYPE_Q4_0, n, n_rows, w, row_bytes, aux, n_tok, y, y_stride))
GEMM_ENTRY(gemm_q5_0, gemm_wide(OWL_TYPE_Q5_0, n, n_rows, w, row_bytes, aux, n_tok, y, y_stride))
GEMM_ENTRY(gemm_f16, gemm_float8(false, n, n_rows, w, row_bytes, act, act_row, n_tok, y, y_stride))
GEMM_ENTRY(gemm_f32, gemm_float8(true, n, n_rows, w, row_bytes, act, act_row, n_tok, y, y_stride))

static void gemm_nop_prep(int64_t n, const void *act, void *aux) {
    (void)n;
    (void)act;
    (void)aux;
}

void owl_kernels_init_avx2_gemm(owl_kernel t[OWL_TYPE_COUNT]) {
    const owl_type sym[] = {OWL_TYPE_Q8_0, OWL_TYPE_Q4_0, OWL_TYPE_Q5_0};
    const owl_gemm_fn fns[] = {gemm_q8_0, gemm_q4_0, gemm_q5_0};
    for (int i = 0; i < 3; i++) {
        t[sym[i]].gemm = fns[i];
        t[sym[i]].gemm_prep = gemm_prep_wide;
        t[sym[i]].gemm_aux = sizeof(q8_wide);
    }
    /* Q8_0's dot product is fast enough at this level that the tile pays only from ~12 tokens
     * (measured: 7 tokens 38 GMAC/s against the dot's 42; 256 tokens 60 against 43). */
    t[OWL_TYPE_Q8_0].gemm_min_tokens = 12;
    t[OWL_TYPE_F16].gemm = gemm_f16;
    t[OWL_TYPE_F32].gemm = gemm_f32;
    t[OWL_TYPE_F16].gemm_prep = t[OWL_TYPE_F32].gemm_prep = gemm_nop_prep;
    t[OWL_TYPE_F16].gemm_aux = t[OWL_TYPE_F32].gemm_aux = 0;
}
