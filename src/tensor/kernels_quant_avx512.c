/* Quantized dot products for avx512: the shared 256-bit code in kernels_simd.h, with 512-bit
 * versions of the loops of every quantized type but q8_0. On CPUs with full-width AVX-512 units a
 * 512-bit operation costs what a 256-bit one does, so half the operations per element; the
 * k-quants take two 32-code planes or nibble halves per vector, the 32-element types two blocks.
 * On CPUs that split 512-bit operations in two halves they do about the work of the 256-bit code
 * (not measured: only a full-width machine was at hand).
 *
 * Same integer sums as the scalar reference; the k-quants apply the float scales in its order and
 * equal it to the bit, the 32-element types sum their blocks in another order. */
#include "tensor/kernels_simd.h"

#include <stddef.h>

/* The 64 codes of chunk c of a Q4_K/Q5_K super-block in one vector: low nibbles of its 32 bytes
 * in bytes 0..31 and high nibbles in bytes 32..63, the order of activations 64c .. 64c+63. */
static inline __m512i z_k4_codes(const uint8_t *qs) {
    __m512i v = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)qs));
    v = _mm512_mask_srli_epi16(v, (__mmask32)0xFFFF0000u, v, 4);
    return _mm512_and_si512(v, _mm512_set1_epi8(0x0F));
}

/* Scale 2c over int16 lanes 0..15 and scale 2c + 1 over lanes 16..31, from the eight scales as
 * int16 in the low lanes of sc. */
static inline __m512i z_k4_scale(__m512i sc, int c) {
    const __m512i idx = _mm512_mask_blend_epi16((__mmask32)0xFFFF0000u, _mm512_set1_epi16((short)(2 * c)),
                                                _mm512_set1_epi16((short)(2 * c + 1)));
    return _mm512_permutexvar_epi16(idx, sc);
}

static inline __m512i z_k4_chunk(__m512i acc, __m512i codes, const int8_t *y, __m512i sc, int c) {
    const __m512i p = _mm512_maddubs_epi16(codes, _mm512_loadu_si512((const void *)(y + 64 * c)));
    return _mm512_dpwssd_epi32(acc, p, z_k4_scale(sc, c));
}

static inline __m256i z_fold(__m512i v) {
    return _mm256_add_epi32(_mm512_castsi512_si256(v), _mm512_extracti64x4_epi64(v, 1));
}

static void z_dot_q4_K(int64_t n, float *s, const void *w, const void *x) {
    const owl_block_q4_K *a = w;
    const owl_block_q8_K *b = x;
    float sum = 0;
    for (int64_t i = 0; i < n / 256; i++) {
        uint32_t u[4];
        owl_k4_unpack(a[i].scales, u);
        const __m128i sc8 = _mm_cvtsi64_si128((long long)(((uint64_t)u[1] << 32) | u[0]));
        const __m512i sc = _mm512_castsi128_si512(_mm_cvtepu8_epi16(sc8));
        __m512i acc = _mm512_setzero_si512();
        acc = z_k4_chunk(acc, z_k4_codes(a[i].qs), b[i].qs, sc, 0);
        acc = z_k4_chunk(acc, z_k4_codes(a[i].qs + 32), b[i].qs, sc, 1);
        acc = z_k4_chunk(acc, z_k4_codes(a[i].qs + 64), b[i].qs, sc, 2);
        acc = z_k4_chunk(acc, z_k4_codes(a[i].qs + 96), b[i].qs, sc, 3);
        const __m128 dm = simd_h2f_pair(&a[i].d); /* d, dmin */
        int isum, summs;
        simd_hsum2_i32(z_fold(acc), simd_k4_mins(u, b[i].bsums), &isum, &summs);
        sum += b[i].d * _mm_cvtss_f32(dm) * (float)isum - b[i].d * _mm_cvtss_f32(_mm_movehdup_ps(dm)) * (float)summs;
    }
    *s = sum;
}

/* ---- Q2_K, Q3_K: two 2-bit planes per vector ---------------------------------------------------
 * Half h of a super-block keeps four planes of 32 codes in the same 32 bytes (bits 2k..2k+1 for
 * plane k); planes 2p and 2p + 1 go into one vector, against activations 128h + 64p .. + 63. */

/* Sub-block scales 4j .. 4j+3 (int16 lanes 0..15 of sc) over int16 lanes 0-7, 8-15, 16-23, 24-31. */
static inline __m512i z_scales4(__m512i sc, int j) {
    const __m512i idx = _mm512_add_epi16(_mm512_set1_epi16((short)(4 * j)),
                                         _mm512_srli_epi16(_mm512_set_epi16(31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18, 17, 16,
                                                                            15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0), 3));
    return _mm512_permutexvar_epi16(idx, sc);
}

/* Shift counts per 16-bit lane: lo for bytes 0..31, hi for bytes 32..63. */
static inline __m512i z_counts(int lo, int hi) {
    return _mm512_mask_blend_epi16((__mmask32)0xFFFF0000u, _mm512_set1_epi16((short)lo), _mm512_set1_epi16((short)hi));
}

/* Planes 2p and 2p + 1 of the 2-bit codes in qb (32 bytes in both halves). */
static inline __m512i z_k2_codes(__m512i qb, int p) {
    return _mm512_and_si512(_mm512_srlv_epi16(qb, z_counts(4 * p, 4 * p + 2)), _mm512_set1_epi8(3));
}

static inline __m512i z_k2_pair(__m512i acc, __m512i codes, const int8_t *y, __m512i sc, int j) {
    const __m512i prod = _mm512_maddubs_epi16(codes, _mm512_loadu_si512((const void *)y));
    return _mm512_dpwssd_epi32(acc, prod, z_scales4(sc, j));
}

static inline __m512i z_bcast32(const uint8_t *p) {
    return _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)p));
}

static void z_dot_q2_K(int64_t n, float *s, const void *w, const void *x) {
    const owl_block_q2_K *a = w;
    const owl_block_q8_K *b = x;
    const __m128i m4 = _mm_set1_epi8(0x0F);
    float sum = 0;
    for (int64_t i = 0; i < n / 256; i++) {
        const __m128i sc8 = _mm_loadu_si128((const __m128i *)a[i].scales);
        const __m256i sc16 = _mm256_cvtepu8_epi16(_mm_and_si128(sc8, m4));
        const __m256i mn16 = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(sc8, 4), m4));
        const __m256i mins = _mm256_madd_epi16(mn16, _mm256_loadu_si256((const __m256i *)b[i].bsums));
        const __m512i sc = _mm512_castsi256_si512(sc16);
        const __m512i q0 = z_bcast32(a[i].qs), q1 = z_bcast32(a[i].qs + 32);
        __m512i acc = _mm512_setzero_si512();
        acc = z_k2_pair(acc, z_k2_codes(q0, 0), b[i].qs, sc, 0);
        acc = z_k2_pair(acc, z_k2_codes(q0, 1), b[i].qs + 64, sc, 1);
        acc = z_k2_pair(acc, z_k2_codes(q1, 0), b[i].qs + 128, sc, 2);
        acc = z_k2_pair(acc, z_k2_codes(q1, 1), b[i].qs + 192, sc, 3);
        int isum, summs;
        simd_hsum2_i32(z_fold(acc), mins, &isum, &summs);
        const __m128 dm = simd_h2f_pair(&a[i].d); /* d, dmin */
        sum += b[i].d * _mm_cvtss_f32(dm) * (float)isum - b[i].d * _mm_cvtss_f32(_mm_movehdup_ps(dm)) * (float)summs;
    }
    *s = sum;
}

/* The third bits of planes 2p and 2p + 1 at bit 2, from hm2 = (hmask bits of this half at bits
 * 0..3 of each byte) << 2 within 16-bit lanes: a right shift by the plane number then brings the
 * plane's bit to bit 2 without crossing a byte. */
static inline __m512i z_q3_high(__m512i hm2, int p) {
    return _mm512_and_si512(_mm512_srlv_epi16(hm2, z_counts(2 * p, 2 * p + 1)), _mm512_set1_epi8(4));
}

static void z_dot_q3_K(int64_t n, float *s, const void *w, const void *x) {
    const owl_block_q3_K *a = w;
    const owl_block_q8_K *b = x;
    float sum = 0;
    for (int64_t i = 0; i < n / 256; i++) {
        const __m256i sc16 = _mm256_cvtepi8_epi16(simd_q3k_scales(a[i].scales));
        const __m256i corr = _mm256_madd_epi16(sc16, _mm256_loadu_si256((const __m256i *)b[i].bsums));
        const __m512i sc = _mm512_castsi256_si512(sc16);
        const __m512i hm = z_bcast32(a[i].hmask);
        const __m512i hm0 = _mm512_slli_epi16(hm, 2), hm1 = _mm512_slli_epi16(_mm512_srli_epi16(hm, 4), 2);
        const __m512i q0 = z_bcast32(a[i].qs), q1 = z_bcast32(a[i].qs + 32);
        __m512i acc = _mm512_setzero_si512();
        acc = z_k2_pair(acc, _mm512_or_si512(z_k2_codes(q0, 0), z_q3_high(hm0, 0)), b[i].qs, sc, 0);
        acc = z_k2_pair(acc, _mm512_or_si512(z_k2_codes(q0, 1), z_q3_high(hm0, 1)), b[i].qs + 64, sc, 1);
        acc = z_k2_pair(acc, _mm512_or_si512(z_k2_codes(q1, 0), z_q3_high(hm1, 0)), b[i].qs + 128, sc, 2);
        acc = z_k2_pair(acc, _mm512_or_si512(z_k2_codes(q1, 1), z_q3_high(hm1, 1)), b[i].qs + 192, sc, 3);
        const int isum = simd_hsum_i32(_mm256_sub_epi32(z_fold(acc), _mm256_slli_epi32(corr, 2)));
        sum += simd_h2f(a[i].d) * b[i].d * (float)isum;
    }
    *s = sum;
}

/* Chunk c of Q5_K: qb holds the fifth bits (qh) in both halves, pre-shifted so that the chunk's two
 * bits are bits b0 and b0 + 1 (b0 = 0 or 2); they go to bit 4 by left shifts of at most 4, whose
 * carries across bytes land in bits 0..3. */
static inline __m512i z_q5_high(__m512i qb, int c) {
    const int b0 = 2 * (c & 1);
    return _mm512_and_si512(_mm512_sllv_epi16(qb, z_counts(4 - b0, 3 - b0)), _mm512_set1_epi8(0x10));
}

static void z_dot_q5_K(int64_t n, float *s, const void *w, const void *x) {
    const owl_block_q5_K *a = w;
    const owl_block_q8_K *b = x;
    float sum = 0;
    for (int64_t i = 0; i < n / 256; i++) {
        uint32_t u[4];
        owl_k4_unpack(a[i].scales, u);
        const __m128i sc8 = _mm_cvtsi64_si128((long long)(((uint64_t)u[1] << 32) | u[0]));
        const __m512i sc = _mm512_castsi128_si512(_mm_cvtepu8_epi16(sc8));
        const __m512i qh = z_bcast32(a[i].qh), qh4 = _mm512_srli_epi16(qh, 4);
        __m512i acc = _mm512_setzero_si512();
        acc = z_k4_chunk(acc, _mm512_or_si512(z_k4_codes(a[i].qs), z_q5_high(qh, 0)), b[i].qs, sc, 0);
        acc = z_k4_chunk(acc, _mm512_or_si512(z_k4_codes(a[i].qs + 32), z_q5_high(qh, 1)), b[i].qs, sc, 1);
        acc = z_k4_chunk(acc, _mm512_or_si512(z_k4_codes(a[i].qs + 64), z_q5_high(qh4, 2)), b[i].qs, sc, 2);
        acc = z_k4_chunk(acc, _mm512_or_si512(z_k4_codes(a[i].qs + 96), z_q5_high(qh4, 3)), b[i].qs, sc, 3);
        const __m128 dm = simd_h2f_pair(&a[i].d); /* d, dmin */
        int isum, summs;
        simd_hsum2_i32(z_fold(acc), simd_k4_mins(u, b[i].bsums), &isum, &summs);
        sum += b[i].d * _mm_cvtss_f32(dm) * (float)isum - b[i].d * _mm_cvtss_f32(_mm_movehdup_ps(dm)) * (float)summs;
    }
    *s = sum;
}

/* Q6_K: half h's 64 bytes of low nibbles are codes 0..31 and 32..63 (low nibbles) and 64..127
 * (high nibbles) of that half, so one 64-byte load serves two vectors of codes; the two high bits
 * come from qh (both halves of qb), bit pairs 0-1 / 2-3 for the low nibbles and 4-5 / 6-7 for the
 * high ones, moved to bits 4-5 (carries across bytes fall outside the mask). */
static void z_dot_q6_K(int64_t n, float *s, const void *w, const void *x) {
    const owl_block_q6_K *a = w;
    const owl_block_q8_K *b = x;
    const __m512i low = _mm512_set1_epi8(0x0F), two = _mm512_set1_epi8(0x30);
    float sum = 0;
    for (int64_t i = 0; i < n / 256; i++) {
        const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)a[i].scales));
        const __m256i corr = _mm256_madd_epi16(sc16, _mm256_loadu_si256((const __m256i *)b[i].bsums));
        const __m512i sc = _mm512_castsi256_si512(sc16);
        __m512i acc = _mm512_setzero_si512();
        for (int h = 0; h < 2; h++) {
            const __m512i l = _mm512_loadu_si512((const void *)(a[i].ql + 64 * h));
            const __m512i qb = z_bcast32(a[i].qh + 32 * h);
            const __m512i c01 = _mm512_or_si512(_mm512_and_si512(l, low), _mm512_and_si512(_mm512_sllv_epi16(qb, z_counts(4, 2)), two));
            const __m512i c23 = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(l, 4), low),
                                                _mm512_and_si512(_mm512_srlv_epi16(qb, z_counts(0, 2)), two));
            acc = z_k2_pair(acc, c01, b[i].qs + 128 * h, sc, 2 * h);
            acc = z_k2_pair(acc, c23, b[i].qs + 128 * h + 64, sc, 2 * h + 1);
        }
        const int isum = simd_hsum_i32(_mm256_sub_epi32(z_fold(acc), _mm256_slli_epi32(corr, 5)));
        sum += simd_h2f(a[i].d) * b[i].d * (float)isum;
    }
    *s = sum;
}

/* ---- 32-element blocks, two per vector -------------------------------------------------------- */

/* The 32 + 32 nibble codes of two blocks (qs 16 bytes each) in activation order: 128-bit lanes
 * low(i), high(i), low(i+1), high(i+1). */
static inline __m512i z_nibbles2(const uint8_t *qs0, const uint8_t *qs1) {
    const __m256i t = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)qs0)),
                                              _mm_loadu_si128((const __m128i *)qs1), 1);
    const __m512i tz = _mm512_castsi256_si512(t);
    __m512i v = _mm512_shuffle_i64x2(tz, tz, 0x50); /* lanes 0, 0, 1, 1 */
    v = _mm512_mask_srli_epi16(v, (__mmask32)0xFF00FF00u, v, 4);
    return _mm512_and_si512(v, _mm512_set1_epi8(0x0F));
}

/* The fifth bits of two Q5 blocks as 0x10 per byte. */
static inline __m512i z_bits2(const uint8_t *qh0, const uint8_t *qh1) {
    uint32_t b0, b1;
    memcpy(&b0, qh0, 4);
    memcpy(&b1, qh1, 4);
    return _mm512_maskz_mov_epi8((__mmask64)b0 | (__mmask64)b1 << 32, _mm512_set1_epi8(0x10));
}

/* The activation codes of two blocks, 32 bytes each. */
static inline __m512i z_act2(const int8_t *y0, const int8_t *y1) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)y0)),
                              _mm256_loadu_si256((const __m256i *)y1), 1);
}

/* Scale products of two blocks, whose weight blocks start with f16 (d, m) at w0, w1 and activation
 * blocks with f16 (d, s) at x0, x1 (m, s: anything for the symmetric types): returns da·db of
 * block 0 over lanes 0..7 and of block 1 over 8..15, and adds (·, m0·s0, ·, m1·s1) to *mins. */
static inline __m512 z_scales2(const void *w0, const void *w1, const void *x0, const void *x1, __m128 *mins) {
    uint32_t v[4];
    memcpy(&v[0], w0, 4);
    memcpy(&v[1], w1, 4);
    memcpy(&v[2], x0, 4);
    memcpy(&v[3], x1, 4);
    const __m256 f = _mm256_cvtph_ps(_mm_setr_epi32((int)v[0], (int)v[1], (int)v[2], (int)v[3]));
    const __m128 p = _mm_mul_ps(_mm256_castps256_ps128(f), _mm256_extractf128_ps(f, 1));
    *mins = _mm_add_ps(*mins, p);
    const __m512i idx = _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 2, 2, 2, 2, 2, 2);
    return _mm512_permutexvar_ps(idx, _mm512_castps128_ps512(p));
}

/* Σ (u - off)·y per int32 lane: the offset through a second product, as simd_dot_off. */
static inline __m512i z_dot_off(__m512i u, __m512i y, int off) {
    const __m512i z = _mm512_setzero_si512();
    return _mm512_sub_epi32(_mm512_dpbusd_epi32(z, u, y), _mm512_dpbusd_epi32(z, _mm512_set1_epi8((char)off), y));
}

static inline float z_finish(__m512 acc, __m128 mins, bool affine) {
    const __m256 a = _mm256_add_ps(_mm512_castps512_ps256(acc), _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(acc), 1)));
    float r = simd_hsum(a);
    if (affine) r += _mm_cvtss_f32(_mm_movehdup_ps(mins)) + _mm_cvtss_f32(_mm_movehdup_ps(_mm_movehl_ps(mins, mins)));
    return r;
}

/* Q4_0, Q4_1, Q5_0 and Q5_1, two blocks per vector: the unsigned codes (nibbles, plus the fifth
 * bits of the Q5 types), the _0 types' offset (8 or 16) through a second product, the _1 types'
 * minimums gathered beside the scales by z_scales2. An odd last block takes the 256-bit kernel
 * (tail). The type is a constant in each entry below, so the branches fold away. */
static inline __attribute__((always_inline)) void z_dot_32(owl_type type, int64_t n, float *s, const void *w,
                                                           const void *x, owl_dot_fn tail) {
    const bool five = type == OWL_TYPE_Q5_0 || type == OWL_TYPE_Q5_1;
    const bool affine = type == OWL_TYPE_Q4_1 || type == OWL_TYPE_Q5_1;
    const size_t wsz = type == OWL_TYPE_Q4_0 ? sizeof(owl_block_q4_0)
                     : type == OWL_TYPE_Q4_1 ? sizeof(owl_block_q4_1)
                     : type == OWL_TYPE_Q5_0 ? sizeof(owl_block_q5_0) : sizeof(owl_block_q5_1);
    const size_t qs = type == OWL_TYPE_Q4_0 ? offsetof(owl_block_q4_0, qs)
                    : type == OWL_TYPE_Q4_1 ? offsetof(owl_block_q4_1, qs)
                    : type == OWL_TYPE_Q5_0 ? offsetof(owl_block_q5_0, qs) : offsetof(owl_block_q5_1, qs);
    const size_t qh = type == OWL_TYPE_Q5_0 ? offsetof(owl_block_q5_0, qh) : offsetof(owl_block_q5_1, qh);
    const size_t xsz = affine ? sizeof(owl_block_q8_1) : sizeof(owl_block_q8_0);
    const size_t xqs = affine ? offsetof(owl_block_q8_1, qs) : offsetof(owl_block_q8_0, qs);
    const char *a = w, *b = x;
    const int64_t nb = n / 32;
    __m512 acc = _mm512_setzero_ps();
    __m128 mins = _mm_setzero_ps();
    int64_t i = 0;
    for (; i + 2 <= nb; i += 2) {
        const char *a0 = a + (size_t)i * wsz, *a1 = a0 + wsz, *b0 = b + (size_t)i * xsz, *b1 = b0 + xsz;
        __m512i q = z_nibbles2((const uint8_t *)a0 + qs, (const uint8_t *)a1 + qs);
        if (five) q = _mm512_or_si512(q, z_bits2((const uint8_t *)a0 + qh, (const uint8_t *)a1 + qh));
        const __m512i y = z_act2((const int8_t *)b0 + xqs, (const int8_t *)b1 + xqs);
        const __m512i p = affine ? _mm512_dpbusd_epi32(_mm512_setzero_si512(), q, y) : z_dot_off(q, y, five ? 16 : 8);
        acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), z_scales2(a0, a1, b0, b1, &mins), acc);
    }
    float r = z_finish(acc, mins, affine);
    if (i < nb) {
        float t;
        tail(32, &t, a + (size_t)i * wsz, b + (size_t)i * xsz);
        r += t;
    }
    *s = r;
}

static void z_dot_q4_0(int64_t n, float *s, const void *w, const void *x) { z_dot_32(OWL_TYPE_Q4_0, n, s, w, x, simd_dot_q4_0); }
static void z_dot_q4_1(int64_t n, float *s, const void *w, const void *x) { z_dot_32(OWL_TYPE_Q4_1, n, s, w, x, simd_dot_q4_1); }
static void z_dot_q5_0(int64_t n, float *s, const void *w, const void *x) { z_dot_32(OWL_TYPE_Q5_0, n, s, w, x, simd_dot_q5_0); }
static void z_dot_q5_1(int64_t n, float *s, const void *w, const void *x) { z_dot_32(OWL_TYPE_Q5_1, n, s, w, x, simd_dot_q5_1); }

/* ---- Q8_K activations --------------------------------------------------------------------------
 * The scalar act_q8_K's rules, 16 elements per vector, byte for byte: the scale comes from the
 * first element of largest magnitude (with its sign), codes are iscale·x rounded to nearest even
 * (the default rounding mode, as nearbyintf) and saturated to int8, and each vector of 16 codes is
 * one of the block's bsums. */
static void z_act_q8_K(const float *x, void *dst, int64_t n) {
    owl_block_q8_K *y = dst;
    for (int64_t i = 0; i < n / OWL_QK_K; i++, x += OWL_QK_K) {
        __m512 amax = _mm512_setzero_ps();
        for (int g = 0; g < 16; g++) amax = _mm512_max_ps(amax, _mm512_abs_ps(_mm512_loadu_ps(x + 16 * g)));
        const float m = _mm512_reduce_max_ps(amax);
        if (m == 0) {
            memset(&y[i], 0, sizeof y[i]);
            continue;
        }
        float max = 0;
        for (int g = 0; g < 16; g++) {
            const __mmask16 hit = _mm512_cmp_ps_mask(_mm512_abs_ps(_mm512_loadu_ps(x + 16 * g)), _mm512_set1_ps(m), _CMP_EQ_OQ);
            if (hit) {
                max = x[16 * g + __builtin_ctz(hit)];
                break;
            }
        }
        const float iscale = -127.0f / max;
        const __m512 is = _mm512_set1_ps(iscale);
        for (int g = 0; g < 16; g++) {
            const __m512i v = _mm512_cvtps_epi32(_mm512_mul_ps(is, _mm512_loadu_ps(x + 16 * g)));
            const __m128i q = _mm512_cvtsepi32_epi8(v);
            _mm_storeu_si128((__m128i *)(y[i].qs + 16 * g), q);
            /* The sum of the saturated codes, as the scalar version sums what it stored. */
            y[i].bsums[g] = (int16_t)_mm512_reduce_add_epi32(_mm512_cvtepi8_epi32(q));
        }
        y[i].d = 1.0f / iscale;
    }
}

void owl_kernels_init_avx512_quant(owl_kernel t[OWL_TYPE_COUNT]) {
    simd_install_quant(t);
    t[OWL_TYPE_Q4_0].dot = z_dot_q4_0;
    t[OWL_TYPE_Q4_1].dot = z_dot_q4_1;
    t[OWL_TYPE_Q5_0].dot = z_dot_q5_0;
    t[OWL_TYPE_Q5_1].dot = z_dot_q5_1;
    t[OWL_TYPE_Q2_K].dot = z_dot_q2_K;
    t[OWL_TYPE_Q3_K].dot = z_dot_q3_K;
    t[OWL_TYPE_Q4_K].dot = z_dot_q4_K;
    t[OWL_TYPE_Q5_K].dot = z_dot_q5_K;
    t[OWL_TYPE_Q6_K].dot = z_dot_q6_K;
    t[OWL_TYPE_Q2_K].quantize_act = z_act_q8_K;
    t[OWL_TYPE_Q3_K].quantize_act = z_act_q8_K;
    t[OWL_TYPE_Q4_K].quantize_act = z_act_q8_K;
    t[OWL_TYPE_Q5_K].quantize_act = z_act_q8_K;
    t[OWL_TYPE_Q6_K].quantize_act = z_act_q8_K;
}
