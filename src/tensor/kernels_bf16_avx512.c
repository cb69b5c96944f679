/* BF16 batched product (prefill) for AVX-512 BF16.
 *
 * BF16 weights multiply BF16 activations (kernels.c), so one vdpbf16ps takes 32 elements of a row
 * and of a token and adds their 16 pair products into float lanes. Without a gemm each token
 * would run the dot kernel against each row: two loads per dpbf16ps, and the loads set the pace.
 * Register blocking, 4 rows × 4 tokens: per 32 elements, 4 row loads and 4 token loads feed 16
 * independent dpbf16ps chains (a quarter of a load per product), and each (row, token) sum is
 * reduced to a float once, at the end of the row, four at a time. Tokens go in blocks of 32 whose activations stay
 * in L2 while the rows of the chunk stream past. */
#include "tensor/kernels.h"

#include <immintrin.h>

static void gemm_prep_bf16(int64_t n, const void *act, void *aux) {
    (void)n;
    (void)act;
    (void)aux;
}

static inline __m512bh load_bf16(const uint16_t *p, __mmask32 m, bool masked) {
    return (__m512bh)(masked ? _mm512_maskz_loadu_epi16(m, p) : _mm512_loadu_si512((const void *)p));
}

/* The lane sums of four vectors as the four lanes of one: pairs interleaved and added, then the
 * 128-bit lanes folded; a third of the work of four separate reductions. */
static inline __m128 reduce4(__m512 a, __m512 b, __m512 c, __m512 d) {
    const __m512 ab = _mm512_add_ps(_mm512_unpacklo_ps(a, b), _mm512_unpackhi_ps(a, b)); /* a b a b */
    const __m512 cd = _mm512_add_ps(_mm512_unpacklo_ps(c, d), _mm512_unpackhi_ps(c, d)); /* c d c d */
    const __m512 abcd = _mm512_add_ps(_mm512_shuffle_ps(ab, cd, 0x44), _mm512_shuffle_ps(ab, cd, 0xEE));
    const __m256 h = _mm256_add_ps(_mm512_castps512_ps256(abcd), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(abcd), 1)));
    return _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
}

/* The 4 × 4 tile at rows r[0..3] and tokens x[0..3] (repeats where fewer than 4), n elements:
 * out[j] holds token j's sums for the four rows. */
static inline void tile_4x4(int64_t n, const uint16_t *const r[4], const uint16_t *const x[4], __m128 out[4]) {
    const int64_t n32 = n / 32 * 32;
    const __mmask32 tail = (__mmask32)((1ull << (n - n32)) - 1);
    /* Sixteen named accumulators: an array would live on the stack. */
    __m512 a00 = _mm512_setzero_ps(), a01 = a00, a02 = a00, a03 = a00, a10 = a00, a11 = a00, a12 = a00,
           a13 = a00, a20 = a00, a21 = a00, a22 = a00, a23 = a00, a30 = a00, a31 = a00, a32 = a00, a33 = a00;
    for (int64_t k = 0; k < n; k += 32) {
        const bool part = k == n32; /* the last, partial step */
        const __m512bh w0 = load_bf16(r[0] + k, tail, part), w1 = load_bf16(r[1] + k, tail, part);
        const __m512bh w2 = load_bf16(r[2] + k, tail, part), w3 = load_bf16(r[3] + k, tail, part);
        const __m512bh x0 = load_bf16(x[0] + k, tail, part), x1 = load_bf16(x[1] + k, tail, part);
        const __m512bh x2 = load_bf16(x[2] + k, tail, part), x3 = load_bf16(x[3] + k, tail, part);
        a00 = _mm512_dpbf16_ps(a00, w0, x0); a01 = _mm512_dpbf16_ps(a01, w0, x1);
        a02 = _mm512_dpbf16_ps(a02, w0, x2); a03 = _mm512_dpbf16_ps(a03, w0, x3);
        a10 = _mm512_dpbf16_ps(a10, w1, x0); a11 = _mm512_dpbf16_ps(a11, w1, x1);
        a12 = _mm512_dpbf16_ps(a12, w1, x2); a13 = _mm512_dpbf16_ps(a13, w1, x3);
        a20 = _mm512_dpbf16_ps(a20, w2, x0); a21 = _mm512_dpbf16_ps(a21, w2, x1);
        a22 = _mm512_dpbf16_ps(a22, w2, x2); a23 = _mm512_dpbf16_ps(a23, w2, x3);
        a30 = _mm512_dpbf16_ps(a30, w3, x0); a31 = _mm512_dpbf16_ps(a31, w3, x1);
        a32 = _mm512_dpbf16_ps(a32, w3, x2); a33 = _mm512_dpbf16_ps(a33, w3, x3);
    }
    out[0] = reduce4(a00, a10, a20, a30);
    out[1] = reduce4(a01, a11, a21, a31);
    out[2] = reduce4(a02, a12, a22, a32);
    out[3] = reduce4(a03, a13, a23, a33);
}

static void gemm_bf16(int64_t n, int64_t n_rows, const void *w, size_t row_bytes, const void *act,
                      size_t act_row, const void *aux, int64_t n_tok, float *y, int64_t y_stride) {
    (void)aux;
    for (int64_t tb = 0; tb < n_tok; tb += 32) {
        const int64_t te = tb + 32 < n_tok ? tb + 32 : n_tok;
        for (int64_t r0 = 0; r0 < n_rows; r0 += 4) {
            const uint16_t *r[4];
            for (int i = 0; i < 4; i++) r[i] = (const uint16_t *)((const char *)w + (size_t)(r0 + i) * row_bytes);
            for (int64_t t0 = tb; t0 < te; t0 += 4) {
                const int nt = te - t0 < 4 ? (int)(te - t0) : 4;
                const uint16_t *x[4];
                for (int j = 0; j < 4; j++) x[j] = (const uint16_t *)((const char *)act + (size_t)(t0 + (j < nt ? j : 0)) * act_row);
                __m128 out[4];
                tile_4x4(n, r, x, out);
                for (int j = 0; j < nt; j++) _mm_storeu_ps(y + (t0 + j) * y_stride + r0, out[j]);
            }
        }
    }
}

void owl_kernels_init_avx512_bf16(owl_kernel t[OWL_TYPE_COUNT]) {
    t[OWL_TYPE_BF16].gemm = gemm_bf16;
    t[OWL_TYPE_BF16].gemm_prep = gemm_prep_bf16;
}
