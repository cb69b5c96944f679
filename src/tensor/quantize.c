/* Quantizers for the 32-element formats (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1), the Q8_K
 * activation format, the plain float types, and owl_quantize_row, which dispatches to them and
 * to the k-quants (quantize_k.c).
 *
 * Without importance weights these follow ggml's reference rounding rules exactly, so a file
 * quantized by owl has the same bytes as one quantized by llama.cpp:
 *   Q4_0/Q5_0  d = (the value of largest magnitude) / -8 (or -16): that value gets code 0, the
 *              one code without a positive twin; codes are trunc(x/d + 8.5) capped at 15.
 *   Q4_1/Q5_1  d = (max - min) / 15 (or 31), m = min, codes trunc((x - min)/d + 0.5).
 *   Q8_0/Q8_1  d = max|x| / 127, codes roundf(x/d) (ties away from zero).
 *   Q8_K       d = max / -127 as a float32, codes round-half-even capped at 127.
 * With weights, Q4_0..Q5_1 use the weighted scale searches of quantize_k.c instead.
 *
 * Degenerate input (all zeros, tiny values, a huge outlier) yields finite blocks; NaN inputs
 * never reach an undefined float-to-int conversion. */
#include "owl/tensor.h"
#include "tensor/quant_search.h"

#include <float.h>
#include <math.h>
#include <string.h>

#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

/* (int)v for v truncated toward zero, clamped to [lo, hi] first; NaN gives lo. For every value
 * the reference rules can produce this equals their plain cast. */
static inline int trunc_clamp(float v, int lo, int hi) {
    if (!(v >= (float)lo)) return lo;
    if (v >= (float)hi) return hi;
    return (int)v;
}

/* roundf(v) as an int8 code; NaN gives 0. */
static inline int8_t round_i8(float v) {
    if (v != v) return 0;
    if (v > 127.0f) return 127;
    if (v < -128.0f) return -128;
    return (int8_t)roundf(v);
}

static inline void store_u32le(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

/* The value of largest magnitude, with its sign (the first one on ties). */
static float signed_absmax(const float *x, int n) {
    float amax = 0, max = 0;
    for (int j = 0; j < n; j++) {
        if (amax < fabsf(x[j])) {
            amax = fabsf(x[j]);
            max = x[j];
        }
    }
    return max;
}

static float row_sigma2(const float *x, int64_t n) {
    float s = 0;
    for (int64_t j = 0; j < n; j++) s += x[j] * x[j];
    return s / (float)n;
}

/* Weights for one 32-element block: importance times a magnitude term that keeps small values
 * from being ignored entirely. */
static void block_weights(const float *x, const float *qw, float sigma2, float *w) {
    for (int j = 0; j < 32; j++) w[j] = qw[j] * sqrtf(sigma2 + x[j] * x[j]);
}

static void q_q4_0(const float *x, owl_block_q4_0 *y, int64_t nb, const float *qw, int64_t n) {
    if (qw) {
        float w[32];
        int8_t L[32];
        const float sigma2 = row_sigma2(x, n);
        for (int64_t i = 0; i < nb; i++, x += 32, qw += 32, y++) {
            block_weights(x, qw, sigma2, w);
            y->d = owl_f32_to_f16(owl_qsearch_symmetric(32, 8, x, w, L));
            for (int j = 0; j < 16; j++) y->qs[j] = (uint8_t)(L[j] | L[j + 16] << 4);
        }
        return;
    }
    for (int64_t i = 0; i < nb; i++, x += 32, y++) {
        const float d = signed_absmax(x, 32) / -8;
        const float id = d != 0 ? 1.0f / d : 0.0f;
        y->d = owl_f32_to_f16(d);
        for (int j = 0; j < 16; j++) {
            int a = trunc_clamp(x[j] * id + 8.5f, 0, 15);
            int b = trunc_clamp(x[j + 16] * id + 8.5f, 0, 15);
            y->qs[j] = (uint8_t)(a | b << 4);
        }
    }
}

static void q_q4_1(const float *x, owl_block_q4_1 *y, int64_t nb, const float *qw, int64_t n) {
    if (qw) {
        float w[32], min;
        uint8_t L[32], Laux[32];
        const float sigma2 = row_sigma2(x, n);
        for (int64_t i = 0; i < nb; i++, x += 32, qw += 32, y++) {
            block_weights(x, qw, sigma2, w);
            float d = owl_qsearch_affine(32, 15, x, w, L, &min, Laux, -0.9f, 0.05f, 36, false);
            y->d = owl_f32_to_f16(d);
            y->m = owl_f32_to_f16(-min);
            for (int j = 0; j < 16; j++) y->qs[j] = (uint8_t)(L[j] | L[j + 16] << 4);
        }
        return;
    }
    for (int64_t i = 0; i < nb; i++, x += 32, y++) {
        float min = FLT_MAX, max = -FLT_MAX;
        for (int j = 0; j < 32; j++) {
            if (x[j] < min) min = x[j];
            if (x[j] > max) max = x[j];
        }
        const float d = (max - min) / 15;
        const float id = d != 0 ? 1.0f / d : 0.0f;
        y->d = owl_f32_to_f16(d);
        y->m = owl_f32_to_f16(min);
        for (int j = 0; j < 16; j++) {
            int a = trunc_clamp((x[j] - min) * id + 0.5f, 0, 15);
            int b = trunc_clamp((x[j + 16] - min) * id + 0.5f, 0, 15);
            y->qs[j] = (uint8_t)(a | b << 4);
        }
    }
}

/* Splits 32 five-bit codes into the nibbles and the fifth-bit word of Q5_0/Q5_1. */
static void pack_5bit(const int *q, uint8_t *qs, uint8_t *qh) {
    uint32_t h = 0;
    for (int j = 0; j < 16; j++) {
        qs[j] = (uint8_t)((q[j] & 0xF) | (q[j + 16] & 0xF) << 4);
        h |= (uint32_t)((q[j] >> 4) & 1) << j;
        h |= (uint32_t)((q[j + 16] >> 4) & 1) << (j + 16);
    }
    store_u32le(qh, h);
}

static void q_q5_0(const float *x, owl_block_q5_0 *y, int64_t nb, const float *qw, int64_t n) {
    int q[32];
    if (qw) {
        float w[32];
        int8_t L[32];
        const float sigma2 = row_sigma2(x, n);
        for (int64_t i = 0; i < nb; i++, x += 32, qw += 32, y++) {
            block_weights(x, qw, sigma2, w);
            y->d = owl_f32_to_f16(owl_qsearch_symmetric(32, 16, x, w, L));
            for (int j = 0; j < 32; j++) q[j] = L[j];
            pack_5bit(q, y->qs, y->qh);
        }
        return;
    }
    for (int64_t i = 0; i < nb; i++, x += 32, y++) {
        const float d = signed_absmax(x, 32) / -16;
        const float id = d != 0 ? 1.0f / d : 0.0f;
        y->d = owl_f32_to_f16(d);
        for (int j = 0; j < 32; j++) q[j] = trunc_clamp(x[j] * id + 16.5f, 0, 31);
        pack_5bit(q, y->qs, y->qh);
    }
}

static void q_q5_1(const float *x, owl_block_q5_1 *y, int64_t nb, const float *qw, int64_t n) {
    int q[32];
    if (qw) {
        float w[32], min;
        uint8_t L[32], Laux[32];
        const float sigma2 = row_sigma2(x, n);
        for (int64_t i = 0; i < nb; i++, x += 32, qw += 32, y++) {
            block_weights(x, qw, sigma2, w);
            float d = owl_qsearch_affine(32, 31, x, w, L, &min, Laux, -0.9f, 0.05f, 36, false);
            y->d = owl_f32_to_f16(d);
            y->m = owl_f32_to_f16(-min);
            for (int j = 0; j < 32; j++) q[j] = L[j];
            pack_5bit(q, y->qs, y->qh);
        }
        return;
    }
    for (int64_t i = 0; i < nb; i++, x += 32, y++) {
        float min = FLT_MAX, max = -FLT_MAX;
        for (int j = 0; j < 32; j++) {
            if (x[j] < min) min = x[j];
            if (x[j] > max) max = x[j];
        }
        const float d = (max - min) / 31;
        const float id = d != 0 ? 1.0f / d : 0.0f;
        y->d = owl_f32_to_f16(d);
        y->m = owl_f32_to_f16(min);
        for (int j = 0; j < 32; j++) q[j] = trunc_clamp((x[j] - min) * id + 0.5f, 0, 31);
        pack_5bit(q, y->qs, y->qh);
    }
}

static float absmax(const float *x, int n) {
    float amax = 0;
    for (int j = 0; j < n; j++) amax = amax > fabsf(x[j]) ? amax : fabsf(x[j]);
    return amax;
}

static void q_q8_0(const float *x, owl_block_q8_0 *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, x += 32, y++) {
        const float d = absmax(x, 32) / 127;
        const float id = d != 0 ? 1.0f / d : 0.0f;
        y->d = owl_f32_to_f16(d);
        for (int j = 0; j < 32; j++) y->qs[j] = round_i8(x[j] * id);
    }
}

static void q_q8_1(const float *x, owl_block_q8_1 *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, x += 32, y++) {
        const float d = absmax(x, 32) / 127;
        const float id = d != 0 ? 1.0f / d : 0.0f;
        int sum = 0;
        y->d = owl_f32_to_f16(d);
        for (int j = 0; j < 32; j++) {
            y->qs[j] = round_i8(x[j] * id);
            sum += y->qs[j];
        }
        y->s = owl_f32_to_f16((float)sum * d);
    }
}

static void q_q8_K(const float *x, owl_block_q8_K *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, x += OWL_QK_K, y++) {
        const float max = signed_absmax(x, OWL_QK_K);
        if (max == 0) {
            memset(y, 0, sizeof *y);
            continue;
        }
        /* -127 rather than -128 keeps every code's negation representable, which the integer
         * dot products rely on. */
        const float iscale = -127.0f / max;
        for (int j = 0; j < OWL_QK_K; j++) {
            int v = owl_qround(iscale * x[j]);
            y->qs[j] = (int8_t)owl_qclamp(v, -128, 127);
        }
        for (int g = 0; g < OWL_QK_K / 16; g++) {
            int sum = 0;
            for (int l = 0; l < 16; l++) sum += y->qs[16 * g + l];
            y->bsums[g] = (int16_t)sum;
        }
        y->d = 1 / iscale;
    }
}

size_t owl_quantize_row(owl_type type, const float *src, void *dst, int64_t n, const float *weights) {
    const owl_type_info *t = owl_type_get((uint32_t)type);
    if (!t || n <= 0 || n % t->block_size != 0) return 0;
    const int64_t nb = n / t->block_size;
    uint8_t *out = dst;
    switch (type) {
    case OWL_TYPE_F32:
        memcpy(dst, src, (size_t)n * sizeof(float));
        break;
    case OWL_TYPE_F16:
        for (int64_t i = 0; i < n; i++) {
            uint16_t h = owl_f32_to_f16(src[i]);
            memcpy(out + 2 * i, &h, 2);
        }
        break;
    case OWL_TYPE_BF16:
        for (int64_t i = 0; i < n; i++) {
            uint16_t h = owl_f32_to_bf16(src[i]);
            memcpy(out + 2 * i, &h, 2);
        }
        break;
    case OWL_TYPE_Q4_0: q_q4_0(src, dst, nb, weights, n); break;
    case OWL_TYPE_Q4_1: q_q4_1(src, dst, nb, weights, n); break;
    case OWL_TYPE_Q5_0: q_q5_0(src, dst, nb, weights, n); break;
    case OWL_TYPE_Q5_1: q_q5_1(src, dst, nb, weights, n); break;
    case OWL_TYPE_Q8_0: q_q8_0(src, dst, nb); break;
    case OWL_TYPE_Q8_1: q_q8_1(src, dst, nb); break;
    case OWL_TYPE_Q8_K: q_q8_K(src, dst, nb); break;
    case OWL_TYPE_Q2_K: owl_quantize_q2_K(src, dst, nb, weights); break;
    case OWL_TYPE_Q3_K: owl_quantize_q3_K(src, dst, nb, weights); break;
    case OWL_TYPE_Q4_K: owl_quantize_q4_K(src, dst, nb, weights); break;
    case OWL_TYPE_Q5_K: owl_quantize_q5_K(src, dst, nb, weights); break;
    case OWL_TYPE_Q6_K: owl_quantize_q6_K(src, dst, nb, weights); break;
    default:
        return 0;
    }
    return (size_t)nb * t->type_size;
}
