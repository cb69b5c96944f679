/* AVX-512 kernels (F, BW, VL, DQ, VNNI, BF16): 64-byte vectors, and VNNI's u8×s8 dot products
 * for the quantized types. */
#include "tensor/kernels.h"

#include "tensor/blocks.h"

#include <immintrin.h>
#include <string.h>

static void dot_f32(int64_t n, float *s, const void *w, const void *x) {
    const float *a = w, *b = x;
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    __m512 acc2 = _mm512_setzero_ps(), acc3 = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 64 <= n; i += 64) {
        acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), acc0);
        acc1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), acc1);
        acc2 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 32), _mm512_loadu_ps(b + i + 32), acc2);
        acc3 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 48), _mm512_loadu_ps(b + i + 48), acc3);
    }
    for (; i + 16 <= n; i += 16)
        acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), acc0);
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        acc1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i), acc1);
    }
    *s = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(acc0, acc1), _mm512_add_ps(acc2, acc3)));
}

static inline __m512 load_f16(const uint16_t *p) {
    return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p));
}

static inline __m512 load_f16_mask(const uint16_t *p, __mmask16 m) {
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p));
}

static void dot_f16(int64_t n, float *s, const void *w, const void *x) {
    const uint16_t *a = w;
    const float *b = x;
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        acc0 = _mm512_fmadd_ps(load_f16(a + i), _mm512_loadu_ps(b + i), acc0);
        acc1 = _mm512_fmadd_ps(load_f16(a + i + 16), _mm512_loadu_ps(b + i + 16), acc1);
    }
    for (; i + 16 <= n; i += 16) acc0 = _mm512_fmadd_ps(load_f16(a + i), _mm512_loadu_ps(b + i), acc0);
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        acc1 = _mm512_fmadd_ps(load_f16_mask(a + i, m), _mm512_maskz_loadu_ps(m, b + i), acc1);
    }
    *s = _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
}

/* BF16 × BF16 with dpbf16ps: pairs of products summed into float lanes. */
static void dot_bf16(int64_t n, float *s, const void *w, const void *x) {
    const uint16_t *a = w, *b = x;
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 64 <= n; i += 64) {
        acc0 = _mm512_dpbf16_ps(acc0, (__m512bh)_mm512_loadu_si512(a + i), (__m512bh)_mm512_loadu_si512(b + i));
        acc1 = _mm512_dpbf16_ps(acc1, (__m512bh)_mm512_loadu_si512(a + i + 32), (__m512bh)_mm512_loadu_si512(b + i + 32));
    }
    for (; i + 32 <= n; i += 32)
        acc0 = _mm512_dpbf16_ps(acc0, (__m512bh)_mm512_loadu_si512(a + i), (__m512bh)_mm512_loadu_si512(b + i));
    if (i < n) {
        __mmask32 m = (__mmask32)((1ull << (n - i)) - 1);
        acc1 = _mm512_dpbf16_ps(acc1, (__m512bh)_mm512_maskz_loadu_epi16(m, a + i), (__m512bh)_mm512_maskz_loadu_epi16(m, b + i));
    }
    *s = _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
}

static void from_float_bf16(const float *x, void *dst, int64_t n) {
    uint16_t *y = dst;
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m512bh v = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(x + i + 16), _mm512_loadu_ps(x + i));
        _mm512_storeu_si512(y + i, (__m512i)v);
    }
    for (; i < n; i++) y[i] = owl_f32_to_bf16(x[i]);
}

static void gemm_q8_0(int64_t n, int64_t n_rows, const void *w, size_t row_bytes, const void *act,
                      size_t act_row, const void *aux, int64_t n_tok, float *y, int64_t y_stride);
static void gemm_q4_0(int64_t n, int64_t n_rows, const void *w, size_t row_bytes, const void *act,
                      size_t act_row, const void *aux, int64_t n_tok, float *y, int64_t y_stride);
static void gemm_q5_0(int64_t n, int64_t n_rows, const void *w, size_t row_bytes, const void *act,
                      size_t act_row, const void *aux, int64_t n_tok, float *y, int64_t y_stride);
static void gemm_prep_q8_0(int64_t n, const void *act, void *aux);
static void act_q8_0(const float *x, void *dst, int64_t n);
static void gemm_kq_nop_prep(int64_t n, const void *act, void *aux);
static void gemm_f16(int64_t n, int64_t n_rows, const void *w, size_t row_bytes, const void *act,
                     size_t act_row, const void *aux, int64_t n_tok, float *y, int64_t y_stride);
static void gemm_q4_K(int64_t n, int64_t n_rows, const void *w, size_t row_bytes, const void *act,
                      size_t act_row, const void *aux, int64_t n_tok, float *y, int64_t y_stride);
static void gemm_q6_K(int64_t n, int64_t n_rows, const void *w, size_t row_bytes, const void *act,
                      size_t act_row, const void *aux, int64_t n_tok, float *y, int64_t y_stride);
static void v_attn_scores_f16(int64_t hd, int64_t n_pos, int g, const float *q, const uint16_t *k,
                              int64_t k_stride, float scale, float *scores, int64_t s_stride);
static void v_attn_values_f16(int64_t hd, int64_t n_pos, int g, const float *w, int64_t w_stride,
                              const uint16_t *v, int64_t v_stride, float *out);

void owl_kernels_init_avx512(owl_kernel t[OWL_TYPE_COUNT]) {
    t[OWL_TYPE_F32].dot = dot_f32;
    t[OWL_TYPE_F16].dot = dot_f16;
    t[OWL_TYPE_BF16].dot = dot_bf16;
    t[OWL_TYPE_BF16].quantize_act = from_float_bf16;
    owl_kernels_init_avx512_quant(t);
    t[OWL_TYPE_Q8_0].quantize_act = act_q8_0;
    t[OWL_TYPE_Q4_0].quantize_act = act_q8_0;
    t[OWL_TYPE_Q5_0].quantize_act = act_q8_0;
    t[OWL_TYPE_Q8_0].gemm = gemm_q8_0;
    t[OWL_TYPE_Q8_0].gemm_prep = gemm_prep_q8_0;
    t[OWL_TYPE_Q4_0].gemm = gemm_q4_0;
    t[OWL_TYPE_Q4_0].gemm_prep = gemm_prep_q8_0;
    t[OWL_TYPE_Q5_0].gemm = gemm_q5_0;
    t[OWL_TYPE_Q5_0].gemm_prep = gemm_prep_q8_0;
    t[OWL_TYPE_F16].gemm = gemm_f16;
    t[OWL_TYPE_F16].gemm_prep = gemm_kq_nop_prep;
    t[OWL_TYPE_Q4_K].gemm = gemm_q4_K;
    t[OWL_TYPE_Q4_K].gemm_prep = gemm_kq_nop_prep;
    t[OWL_TYPE_Q6_K].gemm = gemm_q6_K;
    t[OWL_TYPE_Q6_K].gemm_prep = gemm_kq_nop_prep;
}

static float v_dot_f32(int64_t n, const float *a, const float *b) {
    float s;
    dot_f32(n, &s, a, b);
    return s;
}

static float v_dot_f32_f16(int64_t n, const float *a, const uint16_t *b) {
    float s;
    dot_f16(n, &s, b, a);
    return s;
}

static void v_axpy_f16(int64_t n, float a, const uint16_t *x, float *y) {
    __m512 va = _mm512_set1_ps(a);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(y + i, _mm512_fmadd_ps(va, load_f16(x + i), _mm512_loadu_ps(y + i)));
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        _mm512_mask_storeu_ps(y + i, m,
                              _mm512_fmadd_ps(va, load_f16_mask(x + i, m), _mm512_maskz_loadu_ps(m, y + i)));
    }
}

static void v_axpy_f32(int64_t n, float a, const float *x, float *y) {
    __m512 va = _mm512_set1_ps(a);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(y + i, _mm512_fmadd_ps(va, _mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i)));
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        _mm512_mask_storeu_ps(y + i, m,
                              _mm512_fmadd_ps(va, _mm512_maskz_loadu_ps(m, x + i), _mm512_maskz_loadu_ps(m, y + i)));
    }
}

void owl_vec_ops_init_avx512(owl_vec_ops *ops) {
    ops->dot_f32 = v_dot_f32;
    ops->dot_f32_f16 = v_dot_f32_f16;
    ops->axpy_f16 = v_axpy_f16;
    ops->axpy_f32 = v_axpy_f32;
    ops->attn_scores_f16 = v_attn_scores_f16;
    ops->attn_values_f16 = v_attn_values_f16;
}

/* ---- Q8_0 batched product ------------------------------------------------------------------- */

/* Per activation block: its scale as float and -128·Σq, the correction for reading the weights
 * as unsigned (q + 128) in the u8×s8 products below. */
typedef struct q8_aux {
    float d;
    int32_t corr;
} q8_aux;

static void gemm_prep_q8_0(int64_t n, const void *act, void *aux) {
    const owl_block_q8_0 *x = act;
    q8_aux *o = aux;
    for (int64_t b = 0; b < n / 32; b++) {
        __m256i q = _mm256_loadu_si256((const __m256i *)x[b].qs);
        __m256i s = _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_set1_epi8(1), q);
        __m128i h = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
        h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0x4e));
        h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0xb1));
        o[b].d = _cvtsh_ss(x[b].d);
        o[b].corr = -128 * _mm_cvtsi128_si32(h);
    }
}

/* 8×8 transpose of 32-bit lanes: afterwards r[g] holds dword g of each of the eight inputs. */
static inline void transpose8x8_epi32(__m256i r[8]) {
    __m256i t0 = _mm256_unpacklo_epi32(r[0], r[1]), t1 = _mm256_unpackhi_epi32(r[0], r[1]);
    __m256i t2 = _mm256_unpacklo_epi32(r[2], r[3]), t3 = _mm256_unpackhi_epi32(r[2], r[3]);
    __m256i t4 = _mm256_unpacklo_epi32(r[4], r[5]), t5 = _mm256_unpackhi_epi32(r[4], r[5]);
    __m256i t6 = _mm256_unpacklo_epi32(r[6], r[7]), t7 = _mm256_unpackhi_epi32(r[6], r[7]);
    __m256i u0 = _mm256_unpacklo_epi64(t0, t2), u1 = _mm256_unpackhi_epi64(t0, t2);
    __m256i u2 = _mm256_unpacklo_epi64(t1, t3), u3 = _mm256_unpackhi_epi64(t1, t3);
    __m256i u4 = _mm256_unpacklo_epi64(t4, t6), u5 = _mm256_unpackhi_epi64(t4, t6);
    __m256i u6 = _mm256_unpacklo_epi64(t5, t7), u7 = _mm256_unpackhi_epi64(t5, t7);
    r[0] = _mm256_permute2x128_si256(u0, u4, 0x20);
    r[1] = _mm256_permute2x128_si256(u1, u5, 0x20);
    r[2] = _mm256_permute2x128_si256(u2, u6, 0x20);
    r[3] = _mm256_permute2x128_si256(u3, u7, 0x20);
    r[4] = _mm256_permute2x128_si256(u0, u4, 0x31);
    r[5] = _mm256_permute2x128_si256(u1, u5, 0x31);
    r[6] = _mm256_permute2x128_si256(u2, u6, 0x31);
    r[7] = _mm256_permute2x128_si256(u3, u7, 0x31);
}

/* For each tile of 8 weight rows, the rows' codes are transposed once (for the whole row
 * length) so that lane j of vector g holds bytes 4g..4g+3 of row j, as unsigned (+128). A dpbusd
 * of such a vector with the broadcast bytes 4g..4g+3 of a token then adds to lane j the products
 * for row j: eight dpbusd per 32-element block leave the eight rows' exact integer dot products
 * in the eight lanes, and the block scales apply to all eight at once. The transposed tile stays
 * in L1 while every token of the batch streams past it, two tokens at a time (four independent
 * dpbusd chains, so the multiplier does not wait on its own latency). */
#define GEMM_SPAN 48

/* Four activation bytes broadcast to every lane (a load-broadcast, no trip through a register). */
static inline __m256i bcast4(const int8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return _mm256_set1_epi32(v);
}

/* The 32 signed codes and the f16 scale of block b of a row, for the symmetric 32-element
 * types (codes: q8_0 as stored, q4_0 nibble - 8, q5_0 five bits - 16). */
static inline __m256i block_codes(owl_type type, const void *row, int64_t b, uint16_t *d) {
    switch (type) {
    case OWL_TYPE_Q4_0: {
        const owl_block_q4_0 *x = (const owl_block_q4_0 *)row + b;
        *d = x->d;
        __m128i v = _mm_loadu_si128((const __m128i *)x->qs);
        __m256i q = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(v, 4), v), _mm256_set1_epi8(0x0F));
        return _mm256_sub_epi8(q, _mm256_set1_epi8(8));
    }
    case OWL_TYPE_Q5_0: {
        const owl_block_q5_0 *x = (const owl_block_q5_0 *)row + b;
        *d = x->d;
        uint32_t h;
        memcpy(&h, x->qh, 4);
        __m128i v = _mm_loadu_si128((const __m128i *)x->qs);
        __m256i q = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(v, 4), v), _mm256_set1_epi8(0x0F));
        /* bit j of h -> 0x10 in byte j */
        __m256i hb = _mm256_maskz_mov_epi8((__mmask32)h, _mm256_set1_epi8(0x10));
        return _mm256_sub_epi8(_mm256_or_si256(q, hb), _mm256_set1_epi8(16));
    }
    default: {
        const owl_block_q8_0 *x = (const owl_block_q8_0 *)row + b;
        *d = x->d;
        return _mm256_loadu_si256((const __m256i *)x->qs);
    }
    }
}

/* Always inlined into gemm_q8_0/q4_0/q5_0, so that each gets a copy with its block decoding
 * fixed instead of a switch per block. */
static inline __attribute__((always_inline)) void
gemm_sym32(owl_type type, int64_t n, int64_t n_rows, const void *w, size_t row_bytes,
                       const void *act, size_t act_row, const void *aux, int64_t n_tok, float *y,
                       int64_t y_stride) {
    const int64_t nb = n / 32;
    const q8_aux *ax = aux;
    const __m256i flip = _mm256_set1_epi8((char)0x80);
    /* The row length is cut into spans of GEMM_SPAN blocks so the tile (12 KiB) and the scales
     * stay in L1 next to the streaming activations; partial sums go through y. */
    __m256i tile[GEMM_SPAN][8];
    __m256 dws[GEMM_SPAN];
    for (int64_t r0 = 0; r0 < n_rows; r0 += 8)
    for (int64_t kb0 = 0; kb0 < nb; kb0 += GEMM_SPAN) {
        const int64_t kb1 = kb0 + GEMM_SPAN < nb ? kb0 + GEMM_SPAN : nb;
        /* Row by row, so that each row's span is read front to back (what the hardware
         * prefetcher follows); the scales gather into d[block][row]. */
        uint16_t d[GEMM_SPAN][8];
        const size_t blk = row_bytes / (size_t)nb;
        for (int j = 0; j < 8; j++) {
            const char *row = (const char *)w + (size_t)(r0 + j) * row_bytes;
            /* the same span of the next tile's row, on its way while this one is decoded */
            const char *ahead = r0 + 8 < n_rows ? row + 8 * row_bytes : row;
            for (int64_t b = kb0; b < kb1; b++) {
                _mm_prefetch(ahead + (size_t)b * blk, _MM_HINT_T0);
                tile[b - kb0][j] = _mm256_xor_si256(block_codes(type, row, b, &d[b - kb0][j]), flip);
            }
        }
        for (int64_t b = kb0; b < kb1; b++) {
            transpose8x8_epi32(tile[b - kb0]);
            dws[b - kb0] = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)d[b - kb0]));
        }
        int64_t t = 0;
        /* Eight tokens at a time: each tile vector loaded once feeds eight dpbusd, and eight
         * independent chains keep the multiplier busy. */
        for (; t + 8 <= n_tok; t += 8) {
            const owl_block_q8_0 *x[8];
            const q8_aux *a[8];
            __m256 f[8];
            for (int i = 0; i < 8; i++) {
                x[i] = (const owl_block_q8_0 *)((const char *)act + (size_t)(t + i) * act_row);
                a[i] = ax + (size_t)(t + i) * (size_t)nb;
                f[i] = kb0 ? _mm256_loadu_ps(y + (t + i) * y_stride + r0) : _mm256_setzero_ps();
            }
            for (int64_t b = kb0; b < kb1; b++) {
                const __m256i *T = tile[b - kb0];
                __m256i p[8];
#pragma GCC unroll 8
                for (int i = 0; i < 8; i++) p[i] = _mm256_set1_epi32(a[i][b].corr);
#pragma GCC unroll 8
                for (int g = 0; g < 8; g++) {
                    const __m256i tg = T[g];
#pragma GCC unroll 8
                    for (int i = 0; i < 8; i++) p[i] = _mm256_dpbusd_epi32(p[i], tg, bcast4(x[i][b].qs + 4 * g));
                }
                const __m256 dw = dws[b - kb0];
#pragma GCC unroll 8
                for (int i = 0; i < 8; i++)
                    f[i] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p[i]), _mm256_mul_ps(dw, _mm256_set1_ps(a[i][b].d)), f[i]);
            }
            for (int i = 0; i < 8; i++) _mm256_storeu_ps(y + (t + i) * y_stride + r0, f[i]);
        }
        /* Four tokens at a time: each tile vector loaded once feeds four dpbusd. */
        for (; t + 4 <= n_tok; t += 4) {
            const owl_block_q8_0 *x[4];
            const q8_aux *a[4];
            float *yt[4];
            __m256 f[4];
            for (int i = 0; i < 4; i++) {
                x[i] = (const owl_block_q8_0 *)((const char *)act + (size_t)(t + i) * act_row);
                a[i] = ax + (size_t)(t + i) * (size_t)nb;
                yt[i] = y + (t + i) * y_stride + r0;
                f[i] = kb0 ? _mm256_loadu_ps(yt[i]) : _mm256_setzero_ps();
            }
            for (int64_t b = kb0; b < kb1; b++) {
                const __m256i *T = tile[b - kb0];
                const int8_t *w0 = x[0][b].qs, *w1 = x[1][b].qs, *w2 = x[2][b].qs, *w3 = x[3][b].qs;
                /* Two accumulators per token (even and odd g): eight chains of four dpbusd, so
                 * the multiplier is not waiting on its own latency. */
                __m256i p0 = _mm256_set1_epi32(a[0][b].corr), p1 = _mm256_set1_epi32(a[1][b].corr);
                __m256i p2 = _mm256_set1_epi32(a[2][b].corr), p3 = _mm256_set1_epi32(a[3][b].corr);
                __m256i q0 = _mm256_setzero_si256(), q1 = _mm256_setzero_si256();
                __m256i q2 = _mm256_setzero_si256(), q3 = _mm256_setzero_si256();
#pragma GCC unroll 4
                for (int g = 0; g < 8; g += 2) {
                    const __m256i tg = T[g], th = T[g + 1];
                    p0 = _mm256_dpbusd_epi32(p0, tg, bcast4(w0 + 4 * g));
                    p1 = _mm256_dpbusd_epi32(p1, tg, bcast4(w1 + 4 * g));
                    p2 = _mm256_dpbusd_epi32(p2, tg, bcast4(w2 + 4 * g));
                    p3 = _mm256_dpbusd_epi32(p3, tg, bcast4(w3 + 4 * g));
                    q0 = _mm256_dpbusd_epi32(q0, th, bcast4(w0 + 4 * g + 4));
                    q1 = _mm256_dpbusd_epi32(q1, th, bcast4(w1 + 4 * g + 4));
                    q2 = _mm256_dpbusd_epi32(q2, th, bcast4(w2 + 4 * g + 4));
                    q3 = _mm256_dpbusd_epi32(q3, th, bcast4(w3 + 4 * g + 4));
                }
                p0 = _mm256_add_epi32(p0, q0);
                p1 = _mm256_add_epi32(p1, q1);
                p2 = _mm256_add_epi32(p2, q2);
                p3 = _mm256_add_epi32(p3, q3);
                const __m256 dw = dws[b - kb0];
                f[0] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p0), _mm256_mul_ps(dw, _mm256_set1_ps(a[0][b].d)), f[0]);
                f[1] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p1), _mm256_mul_ps(dw, _mm256_set1_ps(a[1][b].d)), f[1]);
                f[2] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p2), _mm256_mul_ps(dw, _mm256_set1_ps(a[2][b].d)), f[2]);
                f[3] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p3), _mm256_mul_ps(dw, _mm256_set1_ps(a[3][b].d)), f[3]);
            }
            for (int i = 0; i < 4; i++) _mm256_storeu_ps(yt[i], f[i]);
        }
        for (; t + 2 <= n_tok; t += 2) {
            const owl_block_q8_0 *x0 = (const owl_block_q8_0 *)((const char *)act + (size_t)t * act_row);
            const owl_block_q8_0 *x1 = (const owl_block_q8_0 *)((const char *)act + (size_t)(t + 1) * act_row);
            const q8_aux *a0 = ax + (size_t)t * (size_t)nb, *a1 = a0 + nb;
            float *y0 = y + t * y_stride + r0, *y1 = y0 + y_stride;
            __m256 f0 = kb0 ? _mm256_loadu_ps(y0) : _mm256_setzero_ps();
            __m256 f1 = kb0 ? _mm256_loadu_ps(y1) : _mm256_setzero_ps();
            for (int64_t b = kb0; b < kb1; b++) {
                const __m256i *T = tile[b - kb0];
                int32_t w0[8], w1[8];
                memcpy(w0, x0[b].qs, 32);
                memcpy(w1, x1[b].qs, 32);
                __m256i p0 = _mm256_set1_epi32(a0[b].corr), p1 = _mm256_setzero_si256();
                __m256i q0 = _mm256_set1_epi32(a1[b].corr), q1 = _mm256_setzero_si256();
                for (int g = 0; g < 8; g += 2) {
                    p0 = _mm256_dpbusd_epi32(p0, T[g], _mm256_set1_epi32(w0[g]));
                    q0 = _mm256_dpbusd_epi32(q0, T[g], _mm256_set1_epi32(w1[g]));
                    p1 = _mm256_dpbusd_epi32(p1, T[g + 1], _mm256_set1_epi32(w0[g + 1]));
                    q1 = _mm256_dpbusd_epi32(q1, T[g + 1], _mm256_set1_epi32(w1[g + 1]));
                }
                const __m256 dw = dws[b - kb0];
                f0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_add_epi32(p0, p1)), _mm256_mul_ps(dw, _mm256_set1_ps(a0[b].d)), f0);
                f1 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_add_epi32(q0, q1)), _mm256_mul_ps(dw, _mm256_set1_ps(a1[b].d)), f1);
            }
            _mm256_storeu_ps(y0, f0);
            _mm256_storeu_ps(y1, f1);
        }
        for (; t < n_tok; t++) {
            const owl_block_q8_0 *x0 = (const owl_block_q8_0 *)((const char *)act + (size_t)t * act_row);
            const q8_aux *a0 = ax + (size_t)t * (size_t)nb;
            float *y0 = y + t * y_stride + r0;
            __m256 f0 = kb0 ? _mm256_loadu_ps(y0) : _mm256_setzero_ps();
            for (int64_t b = kb0; b < kb1; b++) {
                const __m256i *T = tile[b - kb0];
                int32_t w0[8];
                memcpy(w0, x0[b].qs, 32);
                __m256i p0 = _mm256_set1_epi32(a0[b].corr), p1 = _mm256_setzero_si256();
                for (int g = 0; g < 8; g += 2) {
                    p0 = _mm256_dpbusd_epi32(p0, T[g], _mm256_set1_epi32(w0[g]));
                    p1 = _mm256_dpbusd_epi32(p1, T[g + 1], _mm256_set1_epi32(w0[g + 1]));
                }
                f0 = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_add_epi32(p0, p1)), _mm256_mul_ps(dws[b - kb0], _mm256_set1_ps(a0[b].d)), f0);
            }
            _mm256_storeu_ps(y0, f0);
        }
    }
}

static void gemm_q8_0(int64_t n, int64_t n_rows, const void *w, size_t row_bytes, const void *act,
                      size_t act_row, const void *aux, int64_t n_tok, float *y, int64_t y_stride) {
    gemm_sym32(OWL_TYPE_Q8_0, n, n_rows, w, row_bytes, act, act_row, aux, n_tok, y, y_stride);
}

static void gemm_q4_0(int64_t n, int64_t n_rows, const void *w, size_t row_bytes, const void *act,
                      size_t act_row, const void *aux, int64_t n_tok, float *y, int64_t y_stride) {
    gemm_sym32(OWL_TYPE_Q4_0, n, n_rows, w, row_bytes, act, act_row, aux, n_tok, y, y_stride);
}

static void gemm_q5_0(int64_t n, int64_t n_rows, const void *w, size_t row_bytes, const void *act,
                      size_t act_row, const void *aux, int64_t n_tok, float *y, int64_t y_stride) {
    gemm_sym32(OWL_TYPE_Q5_0, n, n_rows, w, row_bytes, act, act_row, aux, n_tok, y, y_stride);
}

/* ---- activation quantizer ----------------------------------------------------------------- */

/* The same bytes as the scalar act_q8_0 (same float operations, same rounding). */
static void act_q8_0(const float *x, void *dst, int64_t n) {
    owl_block_q8_0 *y = dst;
    for (int64_t i = 0; i < n / 32; i++, x += 32) {
        __m512 a = _mm512_loadu_ps(x), b = _mm512_loadu_ps(x + 16);
        float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(a), _mm512_abs_ps(b)));
        const float d = amax / 127.0f, id = amax != 0 ? 127.0f / amax : 0.0f;
        y[i].d = _cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT);
        __m512 vid = _mm512_set1_ps(id);
        /* Conversion in the default rounding mode: nearest even. */
        __m512i qa = _mm512_cvtps_epi32(_mm512_mul_ps(a, vid));
        __m512i qb = _mm512_cvtps_epi32(_mm512_mul_ps(b, vid));
        _mm_storeu_si128((__m128i *)y[i].qs, _mm512_cvtepi32_epi8(qa));
        _mm_storeu_si128((__m128i *)(y[i].qs + 16), _mm512_cvtepi32_epi8(qb));
    }
}

/* ---- attention over an F16 cache ------------------------------------------------------------- */

#define ATTN_MAX_G 8   /* query heads per KV head handled in registers */
#define ATTN_MAX_V 8   /* hd / 16 */

static void v_attn_scores_f16(int64_t hd, int64_t n_pos, int g, const float *q, const uint16_t *k,
                              int64_t k_stride, float scale, float *scores, int64_t s_stride) {
    if (hd % 16 != 0 || hd / 16 > ATTN_MAX_V || g > ATTN_MAX_G) {
        for (int i = 0; i < g; i++)
            for (int64_t p = 0; p < n_pos; p++) {
                float s;
                dot_f16(hd, &s, k + p * k_stride, q + i * hd);
                scores[i * s_stride + p] = scale * s;
            }
        return;
    }
    const int nv = (int)(hd / 16);
    for (int64_t p = 0; p < n_pos; p++) {
        const uint16_t *kp = k + p * k_stride;
        __m512 kv[ATTN_MAX_V];
        for (int c = 0; c < nv; c++) kv[c] = load_f16(kp + 16 * c);
        for (int i = 0; i < g; i++) {
            const float *qi = q + i * hd;
            __m512 acc = _mm512_mul_ps(kv[0], _mm512_loadu_ps(qi));
            for (int c = 1; c < nv; c++) acc = _mm512_fmadd_ps(kv[c], _mm512_loadu_ps(qi + 16 * c), acc);
            scores[i * s_stride + p] = scale * _mm512_reduce_add_ps(acc);
        }
    }
}

static void v_attn_values_f16(int64_t hd, int64_t n_pos, int g, const float *w, int64_t w_stride,
                              const uint16_t *v, int64_t v_stride, float *out) {
    if (hd % 16 != 0 || hd / 16 > ATTN_MAX_V || g * (hd / 16) > 28) {
        for (int i = 0; i < g; i++) {
            memset(out + i * hd, 0, (size_t)hd * sizeof(float));
            for (int64_t p = 0; p < n_pos; p++) v_axpy_f16(hd, w[i * w_stride + p], v + p * v_stride, out + i * hd);
        }
        return;
    }
    const int nv = (int)(hd / 16);
    __m512 acc[28];
    for (int j = 0; j < g * nv; j++) acc[j] = _mm512_setzero_ps();
    for (int64_t p = 0; p < n_pos; p++) {
        const uint16_t *vp = v + p * v_stride;
        for (int c = 0; c < nv; c++) {
            const __m512 x = load_f16(vp + 16 * c);
            for (int i = 0; i < g; i++)
                acc[i * nv + c] = _mm512_fmadd_ps(_mm512_set1_ps(w[i * w_stride + p]), x, acc[i * nv + c]);
        }
    }
    for (int i = 0; i < g; i++)
        for (int c = 0; c < nv; c++) _mm512_storeu_ps(out + i * hd + 16 * c, acc[i * nv + c]);
}

/* ---- k-quant batched products ---------------------------------------------------------------
 * The same tile scheme as gemm_sym32, over 256-element super-blocks: the codes of 8 rows are
 * stored transposed (lane = row) per sub-block, so one dpbusd per 4 elements serves all 8 rows,
 * and each sub-block's integer sum is scaled by the 8 rows' sub-block scales at once. The codes
 * are unsigned (Q4_K 0..15, Q6_K 0..63), so the Q8_K activations multiply them directly. */

#define KTILE_SPAN 8 /* super-blocks per tile pass */

static void gemm_kq_nop_prep(int64_t n, const void *act, void *aux) {
    (void)n;
    (void)act;
    (void)aux;
}

/* Transposes 8 rows × 32 bytes (rows given as vectors) into out[g] = dword g of each row. */
static inline void tile32(__m256i rows[8], __m256i out[8]) {
    transpose8x8_epi32(rows);
    for (int g = 0; g < 8; g++) out[g] = rows[g];
}

typedef struct q4k_tile {
    __m256i codes[8][8];  /* [sub-block][dword] */
    __m256i sc[8], mn[8]; /* per sub-block: the 8 rows' scale / min as int32 */
    __m256 d, dmin;
} q4k_tile;

static void gemm_q4_K(int64_t n, int64_t n_rows, const void *w, size_t row_bytes, const void *act,
                      size_t act_row, const void *aux, int64_t n_tok, float *y, int64_t y_stride) {
    (void)aux;
    const int64_t nsb = n / 256;
    q4k_tile tiles[KTILE_SPAN]; /* ~21 KiB: stays in L1 */
    const __m256i low = _mm256_set1_epi8(0x0F);
    for (int64_t r0 = 0; r0 < n_rows; r0 += 8)
    for (int64_t sb0 = 0; sb0 < nsb; sb0 += KTILE_SPAN) {
        const int64_t sb1 = sb0 + KTILE_SPAN < nsb ? sb0 + KTILE_SPAN : nsb;
        for (int64_t sb = sb0; sb < sb1; sb++) {
            q4k_tile *T = &tiles[sb - sb0];
            uint8_t scs[8][8], mns[8][8];
            uint16_t ds[8], dms[8];
            __m256i lo[4][8], hi[4][8];
            for (int j = 0; j < 8; j++) {
                const owl_block_q4_K *x = (const owl_block_q4_K *)((const char *)w + (size_t)(r0 + j) * row_bytes) + sb;
                uint32_t u[4];
                owl_k4_unpack(x->scales, u);
                memcpy(scs[j], u, 8);
                memcpy(mns[j], u + 2, 8);
                ds[j] = x->d;
                dms[j] = x->dmin;
                for (int c = 0; c < 4; c++) {
                    __m256i v = _mm256_loadu_si256((const __m256i *)(x->qs + 32 * c));
                    lo[c][j] = _mm256_and_si256(v, low);
                    hi[c][j] = _mm256_and_si256(_mm256_srli_epi16(v, 4), low);
                }
            }
            for (int c = 0; c < 4; c++) {
                tile32(lo[c], T->codes[2 * c]);
                tile32(hi[c], T->codes[2 * c + 1]);
            }
            for (int sbj = 0; sbj < 8; sbj++) {
                T->sc[sbj] = _mm256_setr_epi32(scs[0][sbj], scs[1][sbj], scs[2][sbj], scs[3][sbj], scs[4][sbj], scs[5][sbj], scs[6][sbj], scs[7][sbj]);
                T->mn[sbj] = _mm256_setr_epi32(mns[0][sbj], mns[1][sbj], mns[2][sbj], mns[3][sbj], mns[4][sbj], mns[5][sbj], mns[6][sbj], mns[7][sbj]);
            }
            T->d = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)ds));
            T->dmin = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)dms));
        }
        for (int64_t t = 0; t < n_tok; t++) {
            const owl_block_q8_K *xa = (const owl_block_q8_K *)((const char *)act + (size_t)t * act_row);
            float *yt = y + t * y_stride + r0;
            __m256 f = sb0 ? _mm256_loadu_ps(yt) : _mm256_setzero_ps();
            for (int64_t sb = sb0; sb < sb1; sb++) {
                const q4k_tile *T = &tiles[sb - sb0];
                const owl_block_q8_K *x = &xa[sb];
                int32_t xw[64];
                memcpy(xw, x->qs, 256);
                __m256i isum = _mm256_setzero_si256(), msum = _mm256_setzero_si256();
                for (int j = 0; j < 8; j++) {
                    __m256i p0 = _mm256_setzero_si256(), p1 = _mm256_setzero_si256();
                    for (int g = 0; g < 8; g += 2) {
                        p0 = _mm256_dpbusd_epi32(p0, T->codes[j][g], _mm256_set1_epi32(xw[8 * j + g]));
                        p1 = _mm256_dpbusd_epi32(p1, T->codes[j][g + 1], _mm256_set1_epi32(xw[8 * j + g + 1]));
                    }
                    isum = _mm256_add_epi32(isum, _mm256_mullo_epi32(_mm256_add_epi32(p0, p1), T->sc[j]));
                    msum = _mm256_add_epi32(msum, _mm256_mullo_epi32(T->mn[j], _mm256_set1_epi32(x->bsums[2 * j] + x->bsums[2 * j + 1])));
                }
                const __m256 xd = _mm256_set1_ps(x->d);
                f = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_mul_ps(T->d, xd), f);
                f = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(msum), _mm256_mul_ps(T->dmin, xd), f);
            }
            _mm256_storeu_ps(yt, f);
        }
    }
}

typedef struct q6k_tile {
    __m256i codes[16][4]; /* [sub-block of 16][dword] */
    __m256i sc[16];
    __m256 d;
} q6k_tile;

static void gemm_q6_K(int64_t n, int64_t n_rows, const void *w, size_t row_bytes, const void *act,
                      size_t act_row, const void *aux, int64_t n_tok, float *y, int64_t y_stride) {
    (void)aux;
    const int64_t nsb = n / 256;
    q6k_tile tiles[KTILE_SPAN]; /* ~21 KiB: stays in L1 */
    const __m256i low = _mm256_set1_epi8(0x0F), three = _mm256_set1_epi8(3);
    for (int64_t r0 = 0; r0 < n_rows; r0 += 8)
    for (int64_t sb0 = 0; sb0 < nsb; sb0 += KTILE_SPAN) {
        const int64_t sb1 = sb0 + KTILE_SPAN < nsb ? sb0 + KTILE_SPAN : nsb;
        for (int64_t sb = sb0; sb < sb1; sb++) {
            q6k_tile *T = &tiles[sb - sb0];
            __m256i q[8][8]; /* [32-element group 0..7][row] */
            int8_t scs[8][16];
            uint16_t ds[8];
            for (int j = 0; j < 8; j++) {
                const owl_block_q6_K *x = (const owl_block_q6_K *)((const char *)w + (size_t)(r0 + j) * row_bytes) + sb;
                memcpy(scs[j], x->scales, 16);
                ds[j] = x->d;
                for (int h = 0; h < 2; h++) {
                    const __m256i l0 = _mm256_loadu_si256((const __m256i *)(x->ql + 64 * h));
                    const __m256i l1 = _mm256_loadu_si256((const __m256i *)(x->ql + 64 * h + 32));
                    const __m256i qh = _mm256_loadu_si256((const __m256i *)(x->qh + 32 * h));
                    q[4 * h + 0][j] = _mm256_or_si256(_mm256_and_si256(l0, low), _mm256_slli_epi16(_mm256_and_si256(qh, three), 4));
                    q[4 * h + 1][j] = _mm256_or_si256(_mm256_and_si256(l1, low), _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2), three), 4));
                    q[4 * h + 2][j] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), low), _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 4), three), 4));
                    q[4 * h + 3][j] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), low), _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 6), three), 4));
                }
            }
            for (int g32 = 0; g32 < 8; g32++) {
                __m256i tt[8];
                tile32(q[g32], tt);
                for (int g = 0; g < 4; g++) {
                    T->codes[2 * g32][g] = tt[g];
                    T->codes[2 * g32 + 1][g] = tt[4 + g];
                }
            }
            for (int s16 = 0; s16 < 16; s16++)
                T->sc[s16] = _mm256_setr_epi32(scs[0][s16], scs[1][s16], scs[2][s16], scs[3][s16], scs[4][s16], scs[5][s16], scs[6][s16], scs[7][s16]);
            T->d = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)ds));
        }
        for (int64_t t = 0; t < n_tok; t++) {
            const owl_block_q8_K *xa = (const owl_block_q8_K *)((const char *)act + (size_t)t * act_row);
            float *yt = y + t * y_stride + r0;
            __m256 f = sb0 ? _mm256_loadu_ps(yt) : _mm256_setzero_ps();
            for (int64_t sb = sb0; sb < sb1; sb++) {
                const q6k_tile *T = &tiles[sb - sb0];
                const owl_block_q8_K *x = &xa[sb];
                int32_t xw[64];
                memcpy(xw, x->qs, 256);
                __m256i isum = _mm256_setzero_si256();
                for (int s16 = 0; s16 < 16; s16++) {
                    /* Codes are q + 32: start from -32·Σx of the sub-block. */
                    __m256i p0 = _mm256_set1_epi32(-32 * x->bsums[s16]), p1 = _mm256_setzero_si256();
                    p0 = _mm256_dpbusd_epi32(p0, T->codes[s16][0], _mm256_set1_epi32(xw[4 * s16]));
                    p1 = _mm256_dpbusd_epi32(p1, T->codes[s16][1], _mm256_set1_epi32(xw[4 * s16 + 1]));
                    p0 = _mm256_dpbusd_epi32(p0, T->codes[s16][2], _mm256_set1_epi32(xw[4 * s16 + 2]));
                    p1 = _mm256_dpbusd_epi32(p1, T->codes[s16][3], _mm256_set1_epi32(xw[4 * s16 + 3]));
                    isum = _mm256_add_epi32(isum, _mm256_mullo_epi32(_mm256_add_epi32(p0, p1), T->sc[s16]));
                }
                f = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_mul_ps(T->d, _mm256_set1_ps(x->d)), f);
            }
            _mm256_storeu_ps(yt, f);
        }
    }
}

/* ---- F16 batched product -----------------------------------------------------------------------
 * Register blocking, 4 weight rows × 4 tokens: per 16 elements, 4 row loads (converted from f16
 * once) and 4 token loads feed 16 independent FMA chains, so each weight element is converted
 * once per 4 tokens and the FMA units, not the loads, set the pace. */
static void gemm_f16(int64_t n, int64_t n_rows, const void *w, size_t row_bytes, const void *act,
                     size_t act_row, const void *aux, int64_t n_tok, float *y, int64_t y_stride) {
    (void)aux;
    const int64_t n16 = n / 16 * 16;
    const __mmask16 tail = (__mmask16)((1u << (n - n16)) - 1);
    /* Blocks of 32 tokens (their activations stay in L2) against all rows of the chunk. */
    for (int64_t tb = 0; tb < n_tok; tb += 32)
    for (int64_t r0 = 0; r0 < n_rows; r0 += 4) {
        const uint16_t *wr[4];
        for (int i = 0; i < 4; i++) wr[i] = (const uint16_t *)((const char *)w + (size_t)(r0 + i) * row_bytes);
        const int64_t te = tb + 32 < n_tok ? tb + 32 : n_tok;
        for (int64_t t0 = tb; t0 < te; t0 += 4) {
            const int nt = te - t0 < 4 ? (int)(te - t0) : 4;
            const float *xr[4];
            for (int j = 0; j < 4; j++) xr[j] = (const float *)((const char *)act + (size_t)(t0 + (j < nt ? j : 0)) * act_row);
            /* Sixteen named accumulators: arrays would be spilled to the stack at -O2. */
            __m512 a00 = _mm512_setzero_ps(), a01 = a00, a02 = a00, a03 = a00, a10 = a00, a11 = a00,
                   a12 = a00, a13 = a00, a20 = a00, a21 = a00, a22 = a00, a23 = a00, a30 = a00,
                   a31 = a00, a32 = a00, a33 = a00;
#define F16_STEP(W0, W1, W2, W3, X0, X1, X2, X3)                                                  \
    do {                                                                                          \
        const __m512 w0_ = (W0), w1_ = (W1), w2_ = (W2), w3_ = (W3);                              \
        const __m512 x0_ = (X0), x1_ = (X1), x2_ = (X2), x3_ = (X3);                              \
        a00 = _mm512_fmadd_ps(w0_, x0_, a00); a01 = _mm512_fmadd_ps(w0_, x1_, a01);              \
        a02 = _mm512_fmadd_ps(w0_, x2_, a02); a03 = _mm512_fmadd_ps(w0_, x3_, a03);              \
        a10 = _mm512_fmadd_ps(w1_, x0_, a10); a11 = _mm512_fmadd_ps(w1_, x1_, a11);              \
        a12 = _mm512_fmadd_ps(w1_, x2_, a12); a13 = _mm512_fmadd_ps(w1_, x3_, a13);              \
        a20 = _mm512_fmadd_ps(w2_, x0_, a20); a21 = _mm512_fmadd_ps(w2_, x1_, a21);              \
        a22 = _mm512_fmadd_ps(w2_, x2_, a22); a23 = _mm512_fmadd_ps(w2_, x3_, a23);              \
        a30 = _mm512_fmadd_ps(w3_, x0_, a30); a31 = _mm512_fmadd_ps(w3_, x1_, a31);              \
        a32 = _mm512_fmadd_ps(w3_, x2_, a32); a33 = _mm512_fmadd_ps(w3_, x3_, a33);              \
    } while (0)
            for (int64_t k = 0; k < n16; k += 16)
                F16_STEP(load_f16(wr[0] + k), load_f16(wr[1] + k), load_f16(wr[2] + k), load_f16(wr[3] + k),
                         _mm512_loadu_ps(xr[0] + k), _mm512_loadu_ps(xr[1] + k), _mm512_loadu_ps(xr[2] + k),
                         _mm512_loadu_ps(xr[3] + k));
            if (tail)
                F16_STEP(load_f16_mask(wr[0] + n16, tail), load_f16_mask(wr[1] + n16, tail),
                         load_f16_mask(wr[2] + n16, tail), load_f16_mask(wr[3] + n16, tail),
                         _mm512_maskz_loadu_ps(tail, xr[0] + n16), _mm512_maskz_loadu_ps(tail, xr[1] + n16),
                         _mm512_maskz_loadu_ps(tail, xr[2] + n16), _mm512_maskz_loadu_ps(tail, xr[3] + n16));
#undef F16_STEP
            const __m512 acc[4][4] = {{a00, a01, a02, a03}, {a10, a11, a12, a13}, {a20, a21, a22, a23}, {a30, a31, a32, a33}};
            for (int j = 0; j < nt; j++)
                for (int i = 0; i < 4; i++) y[(t0 + j) * y_stride + r0 + i] = _mm512_reduce_add_ps(acc[i][j]);
        }
    }
}
