/* Quantized dot products in 256-bit integer SIMD, written once and compiled twice: by
 * kernels_quant_avx2.c (AVX2: u8×s8 products through maddubs/madd) and by
 * kernels_quant_avx512.c (where AVX512-VNNI's dpbusd/dpwssd fuse the multiply and the
 * accumulation). The AVX-512 level replaces most of them with 512-bit versions of its own (CPUs
 * with full-width AVX-512 units run those 12-25% faster); q8_0 stays here (it is bound by memory
 * bandwidth already), and the helpers below serve both files.
 *
 * Integer sums are exact, so these agree with the scalar reference up to the order in which the
 * float block scales are applied; the k-quant kernels apply them exactly as the scalar ones do
 * and return the scalar result to the bit. Include only from a file compiled with AVX2, FMA and
 * F16C. Measured with bench/kernels.c (`make kbench`). */
#ifndef OWL_TENSOR_KERNELS_SIMD_H
#define OWL_TENSOR_KERNELS_SIMD_H

#include "tensor/blocks.h"
#include "tensor/kernels.h"
#include "tensor/simd_blocks.h"

#include <immintrin.h>
#include <string.h>

/* The k-quant kernels end with the scalar reference's float expression on exact integer sums;
 * forbid fusing it into FMAs (clang would; gcc does not contract in ISO C mode) so that they
 * return the scalar result to the bit. */
#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

#if defined(__AVX512VNNI__) && defined(__AVX512VL__)
#define SIMD_VNNI 1
#else
#define SIMD_VNNI 0
#endif

static inline float simd_h2f(uint16_t h) { return _cvtsh_ss(h); }

static inline int simd_hsum_i32(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
    return _mm_cvtsi128_si32(s);
}

/* The lane sums of two int32 vectors in one reduction (the two k-quant sums of a super-block). */
static inline void simd_hsum2_i32(__m256i a, __m256i b, int *sa, int *sb) {
    __m256i h = _mm256_hadd_epi32(a, b); /* per 128-bit lane: a01 a23 b01 b23 */
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1)); /* a a b b */
    *sa = _mm_cvtsi128_si32(s);
    *sb = _mm_extract_epi32(s, 2);
}

/* Σ u8 × s8 in groups of four bytes → eight int32 lanes. */
static inline __m256i simd_dot_us8(__m256i u, __m256i s) {
#if SIMD_VNNI
    return _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, s);
#else
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
#endif
}

/* Σ s8 × s8 (neither operand -128 on the side passed as `b`) → eight int32 lanes. */
static inline __m256i simd_dot_s8(__m256i a, __m256i b) {
    return simd_dot_us8(_mm256_sign_epi8(a, a), _mm256_sign_epi8(b, a));
}

/* Σ (u - off) × s in groups of four bytes → eight int32 lanes, for unsigned codes u < 2·off (a
 * Q4_0/Q5_0 block before its offset) and signed s: the offset is taken off as off·Σs instead of
 * making the codes signed, one operation fewer than the sign trick of simd_dot_s8 (and exact for
 * any s, -128 included). */
static inline __m256i simd_dot_off(__m256i u, __m256i s, int off) {
    const __m256i o = _mm256_set1_epi8((char)off);
#if SIMD_VNNI
    const __m256i z = _mm256_setzero_si256();
    return _mm256_sub_epi32(_mm256_dpbusd_epi32(z, u, s), _mm256_dpbusd_epi32(z, o, s));
#else
    /* Pair sums of at most 2·31·128 in magnitude: the difference fits in int16. */
    const __m256i d = _mm256_sub_epi16(_mm256_maddubs_epi16(u, s), _mm256_maddubs_epi16(o, s));
    return _mm256_madd_epi16(d, _mm256_set1_epi16(1));
#endif
}

/* acc += Σ (u8 × s8 pairs) × scale16, per int32 lane (k-quants: one scale per 16 lanes). */
static inline __m256i simd_dot_us8_scaled(__m256i acc, __m256i u, __m256i s, __m256i scale16) {
    /* VNNI's dpwssd fuses the multiply and the add. Its latency sits on the accumulation chain
     * through a super-block, but super-blocks start fresh chains that overlap, and one uop fewer
     * per vector measured 4-7% faster for every k-quant (bench/kernels). */
    __m256i p = _mm256_maddubs_epi16(u, s);
#if SIMD_VNNI
    return _mm256_dpwssd_epi32(acc, p, scale16);
#else
    return _mm256_add_epi32(acc, _mm256_madd_epi16(p, scale16));
#endif
}

/* ---- 32-element blocks -----------------------------------------------------------------------
 * One block is one 32-byte integer dot product and one fused multiply-add of its float scale into
 * a vector accumulator; two blocks per step into two accumulators, so that consecutive blocks'
 * FMAs do not wait on each other. */

/* The two f16 values at p (a block's d and m, or d and the next two bytes) as floats in lanes 0
 * and 1. One plain 32-bit load: inserting 16-bit fields into a vector one by one costs more than
 * the block's integer work (it was the bottleneck of these loops). */
static inline __m128 simd_h2f_pair(const void *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return _mm_cvtph_ps(_mm_cvtsi32_si128((int)v));
}

/* acc + p (int32 lanes) × da·db, for the blocks whose f16 scales start at wa and xa. */
static inline __m256 simd_block_fma(__m256 acc, __m256i p, const void *wa, const void *xa) {
    const __m128 d = _mm_mul_ss(simd_h2f_pair(wa), simd_h2f_pair(xa));
    return _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_broadcastss_ps(d), acc);
}

/* The same for the affine types, whose blocks start with (d, m) and activations with (d, s):
 * lane 1 of *mins accumulates m·s. */
static inline __m256 simd_block_fma_min(__m256 acc, __m128 *mins, __m256i p, const void *wa, const void *xa) {
    const __m128 dm = _mm_mul_ps(simd_h2f_pair(wa), simd_h2f_pair(xa));
    *mins = _mm_add_ps(*mins, dm);
    return _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_broadcastss_ps(dm), acc);
}

static inline __m256 simd_q8_0_block(__m256 acc, const owl_block_q8_0 *a, const owl_block_q8_0 *b) {
    __m256i p = simd_dot_s8(_mm256_loadu_si256((const __m256i *)a->qs), _mm256_loadu_si256((const __m256i *)b->qs));
    return simd_block_fma(acc, p, a, b);
}

static inline __m256 simd_q4_0_block(__m256 acc, const owl_block_q4_0 *a, const owl_block_q8_0 *b) {
    __m256i p = simd_dot_off(simd_nibbles(a->qs), _mm256_loadu_si256((const __m256i *)b->qs), 8);
    return simd_block_fma(acc, p, a, b);
}

static inline __m256 simd_q5_0_block(__m256 acc, const owl_block_q5_0 *a, const owl_block_q8_0 *b) {
    __m256i q = _mm256_or_si256(simd_nibbles(a->qs), simd_bits_to_bytes(a->qh));
    return simd_block_fma(acc, simd_dot_off(q, _mm256_loadu_si256((const __m256i *)b->qs), 16), a, b);
}

/* The affine types add m·s per block (s = d·Σq of the activations) beside the vector sum. */
static inline __m256 simd_q4_1_block(__m256 acc, __m128 *mins, const owl_block_q4_1 *a, const owl_block_q8_1 *b) {
    __m256i p = simd_dot_us8(simd_nibbles(a->qs), _mm256_loadu_si256((const __m256i *)b->qs));
    return simd_block_fma_min(acc, mins, p, a, b);
}

static inline __m256 simd_q5_1_block(__m256 acc, __m128 *mins, const owl_block_q5_1 *a, const owl_block_q8_1 *b) {
    __m256i q = _mm256_or_si256(simd_nibbles(a->qs), simd_bits_to_bytes(a->qh));
    __m256i p = simd_dot_us8(q, _mm256_loadu_si256((const __m256i *)b->qs));
    return simd_block_fma_min(acc, mins, p, a, b);
}

/* The dot product of a symmetric 32-element type: two blocks per step into two accumulators. */
#define SIMD_DOT_SYM32(name, wtype, block)                                                         \
    static void name(int64_t n, float *s, const void *w, const void *x) {                          \
        const wtype *a = w;                                                                        \
        const owl_block_q8_0 *b = x;                                                               \
        const int64_t nb = n / 32;                                                                 \
        __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();                             \
        int64_t i = 0;                                                                             \
        for (; i + 2 <= nb; i += 2) {                                                              \
            acc0 = block(acc0, &a[i], &b[i]);                                                      \
            acc1 = block(acc1, &a[i + 1], &b[i + 1]);                                              \
        }                                                                                          \
        if (i < nb) acc0 = block(acc0, &a[i], &b[i]);                                              \
        *s = simd_hsum(_mm256_add_ps(acc0, acc1));                                                 \
    }

SIMD_DOT_SYM32(simd_dot_q8_0, owl_block_q8_0, simd_q8_0_block)
SIMD_DOT_SYM32(simd_dot_q4_0, owl_block_q4_0, simd_q4_0_block)
SIMD_DOT_SYM32(simd_dot_q5_0, owl_block_q5_0, simd_q5_0_block)

/* The same for the affine types, whose minimums gather in a side sum (lane 1 of mins). */
#define SIMD_DOT_AFFINE32(name, wtype, block)                                                      \
    static void name(int64_t n, float *s, const void *w, const void *x) {                          \
        const wtype *a = w;                                                                        \
        const owl_block_q8_1 *b = x;                                                               \
        const int64_t nb = n / 32;                                                                 \
        __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();                             \
        __m128 mins0 = _mm_setzero_ps(), mins1 = _mm_setzero_ps();                                 \
        int64_t i = 0;                                                                             \
        for (; i + 2 <= nb; i += 2) {                                                              \
            acc0 = block(acc0, &mins0, &a[i], &b[i]);                                              \
            acc1 = block(acc1, &mins1, &a[i + 1], &b[i + 1]);                                      \
        }                                                                                          \
        if (i < nb) acc0 = block(acc0, &mins0, &a[i], &b[i]);                                      \
        const __m128 mins = _mm_add_ps(mins0, mins1);                                              \
        *s = simd_hsum(_mm256_add_ps(acc0, acc1)) + _mm_cvtss_f32(_mm_movehdup_ps(mins));          \
    }

SIMD_DOT_AFFINE32(simd_dot_q4_1, owl_block_q4_1, simd_q4_1_block)
SIMD_DOT_AFFINE32(simd_dot_q5_1, owl_block_q5_1, simd_q5_1_block)

/* ---- k-quants -------------------------------------------------------------------------------- */

/* Σ_j mn_j·(bsums[2j] + bsums[2j+1]) as eight int32 lanes: each min widened to two int16
 * lanes, one madd. */
static inline __m256i simd_k4_mins(const uint32_t u[4], const int16_t *bsums) {
    /* From registers: an 8-byte load of two fresh 4-byte stores would miss store forwarding. */
    __m128i mn8 = _mm_cvtsi64_si128((long long)(((uint64_t)u[3] << 32) | u[2]));
    __m128i dup = _mm_shuffle_epi8(mn8, _mm_setr_epi8(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7));
    __m256i mn16 = _mm256_cvtepu8_epi16(dup);
    __m256i bs = _mm256_loadu_si256((const __m256i *)bsums);
    return _mm256_madd_epi16(bs, mn16);
}

/* Bit `from` of every byte of v moved to bit `to` (both constants), other bits cleared. The 16-bit
 * shifts carry bits across the byte boundary: a left shift by s into bits 0..s-1, a right shift by
 * s into bits 8-s..7; callers keep s <= to (left) and s < 8 - to (right), so none lands on `to`. */
static inline __m256i simd_move_bit(__m256i v, int from, int to) {
    const __m256i bit = _mm256_set1_epi8((char)(1 << to));
    if (to > from) return _mm256_and_si256(_mm256_slli_epi16(v, to - from), bit);
    if (to < from) return _mm256_and_si256(_mm256_srli_epi16(v, from - to), bit);
    return _mm256_and_si256(v, bit);
}

/* The eight 6-bit scales unpacked by owl_k4_unpack as int16, in both 128-bit lanes. */
static inline __m256i simd_k4_scales(const uint32_t u[4]) {
    const __m128i sc8 = _mm_cvtsi64_si128((long long)(((uint64_t)u[1] << 32) | u[0]));
    return _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(sc8));
}

/* int16 lane j (a constant, 0..7) of a 128-bit lane of v, in all sixteen lanes: one shuffle, where
 * broadcasting a scale from a general register takes a move and a broadcast. */
static inline __m256i simd_bcast16(__m256i v, int j) {
    const char lo = (char)(2 * j), hi = (char)(2 * j + 1);
    return _mm256_shuffle_epi8(v, _mm256_setr_epi8(lo, hi, lo, hi, lo, hi, lo, hi, lo, hi, lo, hi, lo, hi, lo, hi,
                                                   lo, hi, lo, hi, lo, hi, lo, hi, lo, hi, lo, hi, lo, hi, lo, hi));
}

/* Chunk c (a constant) of Q4_K/Q5_K: 32 bytes of nibbles v hold sub-blocks 2c (low nibbles) and
 * 2c + 1 (high nibbles); h_lo/h_hi are their fifth bits at 0x10 (zero for Q4_K). Each sub-block
 * times its 32 activations and its scale, added to acc. */
static inline __m256i simd_k4_chunk(__m256i acc, __m256i v, __m256i h_lo, __m256i h_hi, const int8_t *y,
                                    __m256i sc, int c) {
    const __m256i low = _mm256_set1_epi8(0x0F);
    const __m256i lo = _mm256_or_si256(_mm256_and_si256(v, low), h_lo);
    const __m256i hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(v, 4), low), h_hi);
    acc = simd_dot_us8_scaled(acc, lo, _mm256_loadu_si256((const __m256i *)(y + 64 * c)), simd_bcast16(sc, 2 * c));
    return simd_dot_us8_scaled(acc, hi, _mm256_loadu_si256((const __m256i *)(y + 64 * c + 32)), simd_bcast16(sc, 2 * c + 1));
}

static inline __m256i simd_q4_K_chunk(__m256i acc, const uint8_t *qs, const int8_t *y, __m256i sc, int c) {
    const __m256i none = _mm256_setzero_si256();
    return simd_k4_chunk(acc, _mm256_loadu_si256((const __m256i *)(qs + 32 * c)), none, none, y, sc, c);
}

/* Q5_K's fifth bit of sub-block k is bit k of qh[l]; qh comes pre-shifted so that chunk c's two
 * bits are bits 0 and 1 (c even) or 2 and 3 (c odd). */
static inline __m256i simd_q5_K_chunk(__m256i acc, const uint8_t *qs, __m256i qh, const int8_t *y,
                                      __m256i sc, int c) {
    const int b0 = 2 * (c & 1);
    return simd_k4_chunk(acc, _mm256_loadu_si256((const __m256i *)(qs + 32 * c)), simd_move_bit(qh, b0, 4),
                         simd_move_bit(qh, b0 + 1, 4), y, sc, c);
}

static void simd_dot_q4_K(int64_t n, float *s, const void *w, const void *x) {
    const owl_block_q4_K *a = w;
    const owl_block_q8_K *b = x;
    float sum = 0;
    for (int64_t i = 0; i < n / 256; i++) {
        uint32_t u[4];
        owl_k4_unpack(a[i].scales, u);
        const __m256i sc = simd_k4_scales(u);
        __m256i acc = _mm256_setzero_si256();
        acc = simd_q4_K_chunk(acc, a[i].qs, b[i].qs, sc, 0);
        acc = simd_q4_K_chunk(acc, a[i].qs, b[i].qs, sc, 1);
        acc = simd_q4_K_chunk(acc, a[i].qs, b[i].qs, sc, 2);
        acc = simd_q4_K_chunk(acc, a[i].qs, b[i].qs, sc, 3);
        const __m128 dm = simd_h2f_pair(&a[i].d); /* d, dmin */
        int isum, summs;
        simd_hsum2_i32(acc, simd_k4_mins(u, b[i].bsums), &isum, &summs);
        sum += b[i].d * _mm_cvtss_f32(dm) * (float)isum - b[i].d * _mm_cvtss_f32(_mm_movehdup_ps(dm)) * (float)summs;
    }
    *s = sum;
}

static void simd_dot_q5_K(int64_t n, float *s, const void *w, const void *x) {
    const owl_block_q5_K *a = w;
    const owl_block_q8_K *b = x;
    float sum = 0;
    for (int64_t i = 0; i < n / 256; i++) {
        uint32_t u[4];
        owl_k4_unpack(a[i].scales, u);
        const __m256i sc = simd_k4_scales(u);
        const __m256i qh = _mm256_loadu_si256((const __m256i *)a[i].qh);
        /* Chunks 2 and 3 read bits 4..7: bring them down to 0..3 (bits pulled in from the next
         * byte land in 4..7, never read). */
        const __m256i qh4 = _mm256_srli_epi16(qh, 4);
        __m256i acc = _mm256_setzero_si256();
        acc = simd_q5_K_chunk(acc, a[i].qs, qh, b[i].qs, sc, 0);
        acc = simd_q5_K_chunk(acc, a[i].qs, qh, b[i].qs, sc, 1);
        acc = simd_q5_K_chunk(acc, a[i].qs, qh4, b[i].qs, sc, 2);
        acc = simd_q5_K_chunk(acc, a[i].qs, qh4, b[i].qs, sc, 3);
        const __m128 dm = simd_h2f_pair(&a[i].d); /* d, dmin */
        int isum, summs;
        simd_hsum2_i32(acc, simd_k4_mins(u, b[i].bsums), &isum, &summs);
        sum += b[i].d * _mm_cvtss_f32(dm) * (float)isum - b[i].d * _mm_cvtss_f32(_mm_movehdup_ps(dm)) * (float)summs;
    }
    *s = sum;
}

/* Q2_K and Q3_K keep sixteen per-16 scales; a half super-block (128 elements) uses eight of them,
 * two per 32-byte vector of codes. `half` holds those eight as int16 in both 128-bit lanes (from
 * simd_scales_half); pair k (0..3) spreads scale 2k over lanes 0..7 and 2k+1 over lanes 8..15 with
 * one byte shuffle. */
static inline __m256i simd_scales_half(__m256i sc16, int h) {
    return h ? _mm256_permute2x128_si256(sc16, sc16, 0x11) : _mm256_permute2x128_si256(sc16, sc16, 0x00);
}

static inline __m256i simd_scale_pair_of(__m256i half, int k) {
    const char a = (char)(4 * k), b = (char)(4 * k + 2);
    const __m256i ctl = _mm256_setr_epi8(a, (char)(a + 1), a, (char)(a + 1), a, (char)(a + 1), a, (char)(a + 1),
                                         a, (char)(a + 1), a, (char)(a + 1), a, (char)(a + 1), a, (char)(a + 1),
                                         b, (char)(b + 1), b, (char)(b + 1), b, (char)(b + 1), b, (char)(b + 1),
                                         b, (char)(b + 1), b, (char)(b + 1), b, (char)(b + 1), b, (char)(b + 1));
    return _mm256_shuffle_epi8(half, ctl);
}

/* One 32-byte plane of 2-bit codes (bits 2k..2k+1 of each byte of q, k a constant) times 32
 * activations, scaled by sub-block pair k of `half`, added to acc. */
static inline __m256i simd_k2_plane(__m256i acc, __m256i q, __m256i hi, const int8_t *y, __m256i half, int k) {
    __m256i codes = _mm256_and_si256(_mm256_srli_epi16(q, 2 * k), _mm256_set1_epi8(3));
    codes = _mm256_or_si256(codes, hi);
    return simd_dot_us8_scaled(acc, codes, _mm256_loadu_si256((const __m256i *)(y + 32 * k)),
                               simd_scale_pair_of(half, k));
}

/* Q2_K: codes 0..3 in four 2-bit planes of qs; the mins go through the activations' bsums.
 * Both integer sums are exact and the float expression is the scalar one, so the result is the
 * scalar reference's to the bit. */
static void simd_dot_q2_K(int64_t n, float *s, const void *w, const void *x) {
    const owl_block_q2_K *a = w;
    const owl_block_q8_K *b = x;
    const __m128i m4 = _mm_set1_epi8(0x0F);
    const __m256i none = _mm256_setzero_si256();
    float sum = 0;
    for (int64_t i = 0; i < n / 256; i++) {
        const __m128i sc8 = _mm_loadu_si128((const __m128i *)a[i].scales);
        const __m256i sc16 = _mm256_cvtepu8_epi16(_mm_and_si128(sc8, m4));
        const __m256i mn16 = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(sc8, 4), m4));
        const __m256i mins = _mm256_madd_epi16(mn16, _mm256_loadu_si256((const __m256i *)b[i].bsums));
        __m256i acc = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            const __m256i half = simd_scales_half(sc16, h);
            const __m256i q = _mm256_loadu_si256((const __m256i *)(a[i].qs + 32 * h));
            const int8_t *y = b[i].qs + 128 * h;
            acc = simd_k2_plane(acc, q, none, y, half, 0);
            acc = simd_k2_plane(acc, q, none, y, half, 1);
            acc = simd_k2_plane(acc, q, none, y, half, 2);
            acc = simd_k2_plane(acc, q, none, y, half, 3);
        }
        int isum, summs;
        simd_hsum2_i32(acc, mins, &isum, &summs);
        const __m128 dm = simd_h2f_pair(&a[i].d); /* d, dmin */
        sum += b[i].d * _mm_cvtss_f32(dm) * (float)isum - b[i].d * _mm_cvtss_f32(_mm_movehdup_ps(dm)) * (float)summs;
    }
    *s = sum;
}

/* The sixteen 6-bit scales of a Q3_K super-block (layout in blocks.h) minus their bias of 32, four
 * at a time with 32-bit masks: word w of the result holds sub-blocks 4w..4w+3. */
static inline __m128i simd_q3k_scales(const uint8_t *scales) {
    uint32_t u[4];
    memcpy(u, scales, 12);
    const uint32_t lo4 = 0x0f0f0f0f, lo2 = 0x03030303, hi = u[2];
    u[3] = ((u[1] >> 4) & lo4) | (((hi >> 6) & lo2) << 4); /* 12..15: hi(scales[4..7]), bits 6-7 */
    u[2] = ((u[0] >> 4) & lo4) | (((hi >> 4) & lo2) << 4); /*  8..11: hi(scales[0..3]), bits 4-5 */
    u[1] = (u[1] & lo4) | (((hi >> 2) & lo2) << 4);        /*  4..7:  lo(scales[4..7]), bits 2-3 */
    u[0] = (u[0] & lo4) | ((hi & lo2) << 4);               /*  0..3:  lo(scales[0..3]), bits 0-1 */
    /* From registers, not through memory: a 16-byte load of four fresh 4-byte stores would miss
     * store forwarding. */
    return _mm_sub_epi8(_mm_setr_epi32((int)u[0], (int)u[1], (int)u[2], (int)u[3]), _mm_set1_epi8(32));
}

/* Q3_K: codes read as unsigned 0..7 (low bits | third bit << 2), i.e. the signed code plus 4; the
 * offset comes back through the bsums: Σ sc·(u-4)·y = Σ sc·u·y - 4·Σ sc·bsum. Exact integer sums
 * and the scalar float expression: equal to the scalar reference to the bit. */
static void simd_dot_q3_K(int64_t n, float *s, const void *w, const void *x) {
    const owl_block_q3_K *a = w;
    const owl_block_q8_K *b = x;
    float sum = 0;
    for (int64_t i = 0; i < n / 256; i++) {
        const __m256i sc16 = _mm256_cvtepi8_epi16(simd_q3k_scales(a[i].scales));
        const __m256i corr = _mm256_madd_epi16(sc16, _mm256_loadu_si256((const __m256i *)b[i].bsums));
        const __m256i hm = _mm256_loadu_si256((const __m256i *)a[i].hmask);
        __m256i acc = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            const __m256i half = simd_scales_half(sc16, h);
            const __m256i q = _mm256_loadu_si256((const __m256i *)(a[i].qs + 32 * h));
            /* Half h reads bits 4h..4h+3 of hmask: bring them down to bits 0..3 of each byte (the
             * bits the shift pulls in from the next byte land in 4..7, which are never read). */
            const __m256i hmh = h ? _mm256_srli_epi16(hm, 4) : hm;
            const int8_t *y = b[i].qs + 128 * h;
            acc = simd_k2_plane(acc, q, simd_move_bit(hmh, 0, 2), y, half, 0);
            acc = simd_k2_plane(acc, q, simd_move_bit(hmh, 1, 2), y, half, 1);
            acc = simd_k2_plane(acc, q, simd_move_bit(hmh, 2, 2), y, half, 2);
            acc = simd_k2_plane(acc, q, simd_move_bit(hmh, 3, 2), y, half, 3);
        }
        const int isum = simd_hsum_i32(_mm256_sub_epi32(acc, _mm256_slli_epi32(corr, 2)));
        sum += simd_h2f(a[i].d) * b[i].d * (float)isum;
    }
    *s = sum;
}

/* Q6_K: codes read as unsigned 0..63 (low nibble | two high bits << 4), the signed code plus 32;
 * the offset comes back through the bsums: Σ sc·(u-32)·y = Σ sc·u·y - 32·Σ sc·bsum. */
static void simd_dot_q6_K(int64_t n, float *s, const void *w, const void *x) {
    const owl_block_q6_K *a = w;
    const owl_block_q8_K *b = x;
    const __m256i low = _mm256_set1_epi8(0x0F), two = _mm256_set1_epi8(0x30);
    float sum = 0;
    for (int64_t i = 0; i < n / 256; i++) {
        const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)a[i].scales));
        const __m256i corr = _mm256_madd_epi16(sc16, _mm256_loadu_si256((const __m256i *)b[i].bsums));
        __m256i acc = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            const __m256i half = simd_scales_half(sc16, h);
            const uint8_t *ql = a[i].ql + 64 * h;
            const int8_t *y = b[i].qs + 128 * h;
            const __m256i l0 = _mm256_loadu_si256((const __m256i *)ql);
            const __m256i l1 = _mm256_loadu_si256((const __m256i *)(ql + 32));
            const __m256i qh = _mm256_loadu_si256((const __m256i *)(a[i].qh + 32 * h));
            /* Bit pair 2k of qh to bits 4-5; the 16-bit shifts' carries across bytes land in bits
             * 0-3 (left) or 6-7 (right), outside the mask. */
            const __m256i q0 = _mm256_or_si256(_mm256_and_si256(l0, low), _mm256_and_si256(_mm256_slli_epi16(qh, 4), two));
            const __m256i q1 = _mm256_or_si256(_mm256_and_si256(l1, low), _mm256_and_si256(_mm256_slli_epi16(qh, 2), two));
            const __m256i q2 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), low), _mm256_and_si256(qh, two));
            const __m256i q3 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), low), _mm256_and_si256(_mm256_srli_epi16(qh, 2), two));
            acc = simd_dot_us8_scaled(acc, q0, _mm256_loadu_si256((const __m256i *)y), simd_scale_pair_of(half, 0));
            acc = simd_dot_us8_scaled(acc, q1, _mm256_loadu_si256((const __m256i *)(y + 32)), simd_scale_pair_of(half, 1));
            acc = simd_dot_us8_scaled(acc, q2, _mm256_loadu_si256((const __m256i *)(y + 64)), simd_scale_pair_of(half, 2));
            acc = simd_dot_us8_scaled(acc, q3, _mm256_loadu_si256((const __m256i *)(y + 96)), simd_scale_pair_of(half, 3));
        }
        sum += simd_h2f(a[i].d) * b[i].d * (float)simd_hsum_i32(_mm256_sub_epi32(acc, _mm256_slli_epi32(corr, 5)));
    }
    *s = sum;
}

/* Installs the kernels above over the scalar ones. */
static inline void simd_install_quant(owl_kernel t[OWL_TYPE_COUNT]) {
    t[OWL_TYPE_Q8_0].dot = simd_dot_q8_0;
    t[OWL_TYPE_Q4_0].dot = simd_dot_q4_0;
    t[OWL_TYPE_Q4_1].dot = simd_dot_q4_1;
    t[OWL_TYPE_Q5_0].dot = simd_dot_q5_0;
    t[OWL_TYPE_Q5_1].dot = simd_dot_q5_1;
    t[OWL_TYPE_Q2_K].dot = simd_dot_q2_K;
    t[OWL_TYPE_Q3_K].dot = simd_dot_q3_K;
    t[OWL_TYPE_Q4_K].dot = simd_dot_q4_K;
    t[OWL_TYPE_Q5_K].dot = simd_dot_q5_K;
    t[OWL_TYPE_Q6_K].dot = simd_dot_q6_K;
}

#endif
