/* 256-bit helpers shared by the dot products (kernels_simd.h) and the batched products
 * (gemm_avx2.c, gemm_avx512.c) and the AVX2 float kernels: a horizontal sum, the codes of the
 * 32-element blocks, and an 8×8 transpose of 32-bit lanes. Include only from files compiled with AVX2 (AVX-512 BW/VL where present is used
 * for the Q5 high bits). */
#ifndef OWL_TENSOR_SIMD_BLOCKS_H
#define OWL_TENSOR_SIMD_BLOCKS_H

#include "tensor/blocks.h"
#include "tensor/kernels.h"

#include <immintrin.h>
#include <string.h>

/* The sum of the eight lanes. */
static inline float simd_hsum(__m256 v) {
    __m128 lo = _mm256_castps256_ps128(v), hi = _mm256_extractf128_ps(v, 1);
    lo = _mm_add_ps(lo, hi);
    lo = _mm_add_ps(lo, _mm_movehl_ps(lo, lo));
    lo = _mm_add_ss(lo, _mm_movehdup_ps(lo));
    return _mm_cvtss_f32(lo);
}

/* 16 bytes of nibbles → 32 codes: low nibbles first (elements 0..15), then the high ones. */
static inline __m256i simd_nibbles(const uint8_t *qs) {
    __m128i v = _mm_loadu_si128((const __m128i *)qs);
    __m256i both = _mm256_set_m128i(_mm_srli_epi16(v, 4), v);
    return _mm256_and_si256(both, _mm256_set1_epi8(0x0F));
}

/* The fifth bits of Q5 blocks as 0x10 per byte: bit j of the 32-bit mask → byte j. */
static inline __m256i simd_bits_to_bytes(const uint8_t *qh) {
    uint32_t bits;
    memcpy(&bits, qh, 4);
#if defined(__AVX512BW__) && defined(__AVX512VL__)
    /* AVX-512 BW/VL: the 32 bits are a byte mask. */
    return _mm256_maskz_mov_epi8((__mmask32)bits, _mm256_set1_epi8(0x10));
#else
    const __m256i shuf = _mm256_set_epi64x(0x0303030303030303LL, 0x0202020202020202LL,
                                           0x0101010101010101LL, 0x0000000000000000LL);
    __m256i v = _mm256_shuffle_epi8(_mm256_set1_epi32((int)bits), shuf);
    const __m256i bit = _mm256_set1_epi64x(0x8040201008040201LL);
    v = _mm256_cmpeq_epi8(_mm256_and_si256(v, bit), bit);
    return _mm256_and_si256(v, _mm256_set1_epi8(0x10));
#endif
}

/* The 32 signed codes of block b of a row of a symmetric 32-element type, and its f16 scale:
 * q8_0 as stored, q4_0 nibble - 8, q5_0 five bits - 16. */
static inline __m256i simd_codes32(owl_type type, const void *row, int64_t b, uint16_t *d) {
    if (type == OWL_TYPE_Q4_0) {
        const owl_block_q4_0 *x = (const owl_block_q4_0 *)row + b;
        *d = x->d;
        return _mm256_sub_epi8(simd_nibbles(x->qs), _mm256_set1_epi8(8));
    }
    if (type == OWL_TYPE_Q5_0) {
        const owl_block_q5_0 *x = (const owl_block_q5_0 *)row + b;
        *d = x->d;
        return _mm256_sub_epi8(_mm256_or_si256(simd_nibbles(x->qs), simd_bits_to_bytes(x->qh)), _mm256_set1_epi8(16));
    }
    const owl_block_q8_0 *x = (const owl_block_q8_0 *)row + b;
    *d = x->d;
    return _mm256_loadu_si256((const __m256i *)x->qs);
}

/* Afterwards r[g] holds dword g of each of the eight inputs. */
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

#endif
