/* Quantization block layouts, byte for byte as ggml writes them into GGUF files.
 *
 * This header is the one place where the formats are stated. Every struct is packed naturally
 * (only uint8_t/int8_t/uint16_t members, plus one float in Q8_K, all at aligned offsets), so the
 * in-memory struct is the on-disk block; the _Static_asserts pin the sizes. All multi-byte fields
 * are little-endian. `uint16_t` scale fields hold IEEE binary16 ("f16") bit patterns.
 *
 * Notation below: block element i (0 <= i < QK) is written x[i]; d, m, dmin are f16 values
 * converted to float; "nibble" means 4 bits; lo(b) = b & 0xF, hi(b) = b >> 4.
 * The reconstruction formulas are the float operations the dequantizers perform, in order
 * (left to right, one rounding per operation), because the dequantizers are bit-exact oracles. */
#ifndef OWL_TENSOR_BLOCKS_H
#define OWL_TENSOR_BLOCKS_H

#include <stdint.h>

/* Elements per block. The "_0"/"_1" formats use blocks of 32; the k-quants use super-blocks of
 * 256 elements split into 16 sub-blocks of 16 or 8 sub-blocks of 32. */
#define OWL_QK4_0 32
#define OWL_QK4_1 32
#define OWL_QK5_0 32
#define OWL_QK5_1 32
#define OWL_QK8_0 32
#define OWL_QK8_1 32
#define OWL_QK_K 256
#define OWL_K_SCALE_SIZE 12

/* Q4_0 — 18 bytes, 4.5 bits per weight, symmetric.
 *   d      f16 scale
 *   qs[16] nibbles: element j (0..15) is lo(qs[j]), element j+16 is hi(qs[j])
 * x[i] = (float)(q - 8) * d, q the 4-bit code (0..15). */
typedef struct {
    uint16_t d;
    uint8_t qs[OWL_QK4_0 / 2];
} owl_block_q4_0;
_Static_assert(sizeof(owl_block_q4_0) == 18, "q4_0 block is 18 bytes");

/* Q4_1 — 20 bytes, 5 bits per weight, affine.
 *   d      f16 scale
 *   m      f16 minimum (offset)
 *   qs[16] nibbles, same placement as Q4_0
 * x[i] = (float)q * d + m, q in 0..15. */
typedef struct {
    uint16_t d;
    uint16_t m;
    uint8_t qs[OWL_QK4_1 / 2];
} owl_block_q4_1;
_Static_assert(sizeof(owl_block_q4_1) == 20, "q4_1 block is 20 bytes");

/* Q5_0 — 22 bytes, 5.5 bits per weight, symmetric.
 *   d      f16 scale
 *   qh[4]  the fifth bits, a little-endian uint32: bit j is the high bit of element j (0..31)
 *   qs[16] low nibbles, placed as in Q4_0 (element j in lo(qs[j]), element j+16 in hi(qs[j]))
 * x[i] = (float)(q - 16) * d, q = low nibble | fifth bit << 4 (0..31). */
typedef struct {
    uint16_t d;
    uint8_t qh[4];
    uint8_t qs[OWL_QK5_0 / 2];
} owl_block_q5_0;
_Static_assert(sizeof(owl_block_q5_0) == 22, "q5_0 block is 22 bytes");

/* Q5_1 — 24 bytes, 6 bits per weight, affine.
 *   d, m   f16 scale and minimum
 *   qh[4], qs[16] as in Q5_0
 * x[i] = (float)q * d + m, q in 0..31. */
typedef struct {
    uint16_t d;
    uint16_t m;
    uint8_t qh[4];
    uint8_t qs[OWL_QK5_1 / 2];
} owl_block_q5_1;
_Static_assert(sizeof(owl_block_q5_1) == 24, "q5_1 block is 24 bytes");

/* Q8_0 — 34 bytes, 8.5 bits per weight, symmetric.
 *   d      f16 scale
 *   qs[32] signed codes, element i is qs[i]
 * x[i] = (float)qs[i] * d. */
typedef struct {
    uint16_t d;
    int8_t qs[OWL_QK8_0];
} owl_block_q8_0;
_Static_assert(sizeof(owl_block_q8_0) == 34, "q8_0 block is 34 bytes");

/* Q8_1 — 36 bytes; an activation format (the other operand of Q4_1/Q5_1 dot products).
 *   d      f16 scale
 *   s      f16 of d * (sum of qs), precomputed so that the min term of an affine weight block
 *          costs one multiply
 *   qs[32] signed codes
 * x[i] = (float)qs[i] * d. */
typedef struct {
    uint16_t d;
    uint16_t s;
    int8_t qs[OWL_QK8_1];
} owl_block_q8_1;
_Static_assert(sizeof(owl_block_q8_1) == 36, "q8_1 block is 36 bytes");

/* Q2_K — 84 bytes per 256 elements, 2.625 bits per weight; 16 sub-blocks of 16, affine.
 *   scales[16]  sub-block s: lo(scales[s]) is its 4-bit scale sc, hi(scales[s]) its 4-bit min mn
 *   qs[64]      2-bit codes. The super-block is two halves of 128 elements; half h uses
 *               qs[32h .. 32h+31]. In half h, element 128h + 32k + l (k = 0..3, l = 0..31) is
 *               bits 2k..2k+1 of qs[32h + l]. Sub-block s = element / 16.
 *   d           f16 super-scale for the scales
 *   dmin        f16 super-scale for the mins
 * dl = d * (float)sc; ml = dmin * (float)mn; x = dl * (float)q - ml. */
typedef struct {
    uint8_t scales[OWL_QK_K / 16];
    uint8_t qs[OWL_QK_K / 4];
    uint16_t d;
    uint16_t dmin;
} owl_block_q2_K;
_Static_assert(sizeof(owl_block_q2_K) == 84, "q2_K block is 84 bytes");

/* Q3_K — 110 bytes per 256 elements, 3.4375 bits per weight; 16 sub-blocks of 16, symmetric.
 *   hmask[32]   high (third) bits: element e has its high bit in hmask[e % 32], bit e / 32
 *   qs[64]      low 2 bits, placed exactly as the codes of Q2_K
 *   scales[12]  sixteen 6-bit scales. For sub-block s: the low 4 bits are lo(scales[s]) for
 *               s < 8 and hi(scales[s - 8]) for s >= 8; the high 2 bits are bits
 *               2*(s/4)..2*(s/4)+1 of scales[8 + s % 4]. The stored value is biased by 32.
 *   d           f16 super-scale
 * q = low2 - (high bit ? 0 : 4) (so -4..3); dl = d * (float)(sc6 - 32); x = dl * (float)q. */
typedef struct {
    uint8_t hmask[OWL_QK_K / 8];
    uint8_t qs[OWL_QK_K / 4];
    uint8_t scales[12];
    uint16_t d;
} owl_block_q3_K;
_Static_assert(sizeof(owl_block_q3_K) == 110, "q3_K block is 110 bytes");

/* The 6-bit scale/min packing shared by Q4_K and Q5_K: eight (scale, min) pairs in 12 bytes.
 * For sub-block j < 4: scale = scales[j] & 63, min = scales[j + 4] & 63.
 * For j >= 4:          scale = lo(scales[j + 4]) | (scales[j - 4] >> 6) << 4,
 *                      min   = hi(scales[j + 4]) | (scales[j] >> 6) << 4. */

/* Q4_K — 144 bytes per 256 elements, 4.5 bits per weight; 8 sub-blocks of 32, affine.
 *   d, dmin     f16 super-scales for the scales and the mins
 *   scales[12]  6-bit scales and mins, packed as above
 *   qs[128]     nibbles: the super-block is four chunks of 64 elements; chunk c uses
 *               qs[32c .. 32c+31]; element 64c + l is lo(qs[32c + l]) (sub-block 2c) and element
 *               64c + 32 + l is hi(qs[32c + l]) (sub-block 2c + 1)
 * d1 = d * (float)scale; m1 = dmin * (float)min; x = d1 * (float)q - m1. */
typedef struct {
    uint16_t d;
    uint16_t dmin;
    uint8_t scales[OWL_K_SCALE_SIZE];
    uint8_t qs[OWL_QK_K / 2];
} owl_block_q4_K;
_Static_assert(sizeof(owl_block_q4_K) == 144, "q4_K block is 144 bytes");

/* Q5_K — 176 bytes per 256 elements, 5.5 bits per weight; 8 sub-blocks of 32, affine.
 *   d, dmin, scales[12]  as in Q4_K
 *   qh[32]      fifth bits: element 32k + l (k = sub-block 0..7) has its fifth bit in qh[l], bit k
 *   qs[128]     low nibbles placed as in Q4_K
 * q = nibble + (fifth bit ? 16 : 0); x = d1 * (float)q - m1 as in Q4_K. */
typedef struct {
    uint16_t d;
    uint16_t dmin;
    uint8_t scales[OWL_K_SCALE_SIZE];
    uint8_t qh[OWL_QK_K / 8];
    uint8_t qs[OWL_QK_K / 2];
} owl_block_q5_K;
_Static_assert(sizeof(owl_block_q5_K) == 176, "q5_K block is 176 bytes");

/* Q6_K — 210 bytes per 256 elements, 6.5625 bits per weight; 16 sub-blocks of 16, symmetric.
 *   ql[128]     low nibbles; the super-block is two halves of 128; half h uses ql[64h .. 64h+63]
 *               and qh[32h .. 32h+31]. Within half h, for l = 0..31:
 *                 element 128h + l      : lo(ql[64h + l])      | bits 0-1 of qh[32h + l] << 4
 *                 element 128h + 32 + l : lo(ql[64h + 32 + l]) | bits 2-3 of qh[32h + l] << 4
 *                 element 128h + 64 + l : hi(ql[64h + l])      | bits 4-5 of qh[32h + l] << 4
 *                 element 128h + 96 + l : hi(ql[64h + 32 + l]) | bits 6-7 of qh[32h + l] << 4
 *   qh[64]      high 2 bits, as above
 *   scales[16]  signed 8-bit sub-block scales; sub-block s = element / 16
 *   d           f16 super-scale
 * q = 6-bit code - 32 (so -32..31); x = d * (float)scales[s] * (float)q, i.e. (d * sc) * q. */
typedef struct {
    uint8_t ql[OWL_QK_K / 2];
    uint8_t qh[OWL_QK_K / 4];
    int8_t scales[OWL_QK_K / 16];
    uint16_t d;
} owl_block_q6_K;
_Static_assert(sizeof(owl_block_q6_K) == 210, "q6_K block is 210 bytes");

/* Q8_K — 292 bytes per 256 elements; the activation format of k-quant dot products. Never
 * stored in model files.
 *   d           float32 scale
 *   qs[256]     signed codes, element i is qs[i]
 *   bsums[16]   sum of qs over each group of 16 (lets the dot product apply the mins of
 *               Q2_K..Q5_K without touching the codes again)
 * x[i] = d * (float)qs[i]. */
typedef struct {
    float d;
    int8_t qs[OWL_QK_K];
    int16_t bsums[OWL_QK_K / 16];
} owl_block_q8_K;
_Static_assert(sizeof(owl_block_q8_K) == 292, "q8_K block is 292 bytes");

/* Decodes the 6-bit (scale, min) pair of sub-block j (0..7) of a Q4_K/Q5_K super-block. */
static inline void owl_k4_scale_min(int j, const uint8_t *q, uint8_t *sc, uint8_t *mn) {
    if (j < 4) {
        *sc = q[j] & 63;
        *mn = q[j + 4] & 63;
    } else {
        *sc = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        *mn = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

/* Decodes the sixteen 6-bit biased scales of a Q3_K super-block into sc[s] - 32 (-32..31). */
static inline void owl_q3k_scales(const uint8_t *scales, int8_t out[16]) {
    for (int s = 0; s < 16; s++) {
        int low = s < 8 ? scales[s] & 0xF : scales[s - 8] >> 4;
        int high = (scales[8 + s % 4] >> (2 * (s / 4))) & 3;
        out[s] = (int8_t)((low | high << 4) - 32);
    }
}

#endif
