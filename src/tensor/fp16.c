/* IEEE binary16 (f16) and bfloat16 conversions, by bit manipulation.
 *
 * Every f16 and bf16 value is exactly representable as float, so the widening conversions are
 * exact; the narrowing ones round to nearest, ties to even, which is what the hardware
 * (F16C vcvtps2ph with imm 0, AVX512-BF16) and ggml do. NaN stays NaN (made quiet); values too
 * large become infinity; values too small for a normal f16 become subnormals or zero. */
#include "owl/tensor.h"

#include <string.h>

static inline uint32_t f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static inline float bits_f32(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* Shifts `m` right by `s` (1..31) rounding to nearest, ties to even. */
static inline uint32_t shift_round_even(uint32_t m, int s) {
    uint32_t q = m >> s;
    uint32_t rem = m & ((1u << s) - 1);
    uint32_t half = 1u << (s - 1);
    if (rem > half || (rem == half && (q & 1))) q++;
    return q;
}

float owl_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1F;
    uint32_t man = h & 0x3FF;
    if (exp == 0x1F) {
        /* Inf, or NaN with its payload kept and the quiet bit set. */
        return bits_f32(sign | 0x7F800000 | (man << 13) | (man ? 0x400000 : 0));
    }
    if (exp == 0) {
        /* Zero or subnormal: man * 2^-24, exact in float. */
        float v = (float)man * 0x1p-24f;
        return bits_f32(sign | f32_bits(v));
    }
    /* Normal: rebias the exponent from 15 to 127. */
    return bits_f32(sign | ((exp + 112) << 23) | (man << 13));
}

uint16_t owl_f32_to_f16(float f) {
    uint32_t x = f32_bits(f);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
    uint32_t ax = x & 0x7FFFFFFF;

    if (ax > 0x7F800000) {
        /* NaN: keep the top payload bits, force quiet so that it cannot turn into infinity. */
        return (uint16_t)(sign | 0x7E00 | ((ax >> 13) & 0x3FF));
    }
    if (ax >= 0x477FF000) {
        /* >= 65520 (halfway between 65504, the largest f16, and 2^16): ties go to the even
         * neighbour, which is infinity. Also catches infinity itself. */
        return (uint16_t)(sign | 0x7C00);
    }
    if (ax < 0x38800000) {
        /* Below 2^-14, the smallest normal f16: the result counts units of 2^-24. With the
         * implicit bit, the value is man * 2^(e - 150), i.e. man >> (126 - e) units. Below
         * 2^-25 everything rounds to zero (2^-25 itself is a tie and goes to even zero). */
        int e = (int)(ax >> 23);
        if (e < 102) return sign;
        uint32_t man = (ax & 0x7FFFFF) | 0x800000;
        return (uint16_t)(sign | shift_round_even(man, 126 - e));
    }
    /* Normal range: rebias the exponent, round the mantissa from 23 to 10 bits. A carry out of
     * the mantissa correctly bumps the exponent. */
    uint32_t biased = ((ax >> 23) - 112) << 10 | ((ax >> 13) & 0x3FF);
    uint32_t rem = ax & 0x1FFF;
    if (rem > 0x1000 || (rem == 0x1000 && (biased & 1))) biased++;
    return (uint16_t)(sign | biased);
}

float owl_bf16_to_f32(uint16_t h) {
    return bits_f32((uint32_t)h << 16);
}

uint16_t owl_f32_to_bf16(float f) {
    uint32_t x = f32_bits(f);
    if ((x & 0x7FFFFFFF) > 0x7F800000) {
        /* NaN: truncate and force the quiet bit (truncation alone could yield infinity). */
        return (uint16_t)((x >> 16) | 0x40);
    }
    /* Round to nearest even on the dropped 16 bits; overflow rounds up into infinity. */
    return (uint16_t)((x + 0x7FFF + ((x >> 16) & 1)) >> 16);
}
