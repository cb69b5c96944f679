/* Scalar dequantization: the reference every SIMD kernel is tested against.
 *
 * Each function performs the same float operations, in the same order, as ggml's reference
 * dequantizers (the formulas are stated with the layouts in blocks.h), so the results are
 * bit-identical with ggml's.
 *
 * A useful property for kernels: in every format the products of an f16 scale (11 significant
 * bits) with the integer sub-scale and code fit in float's 24-bit significand (Q6_K, the widest:
 * 11 + 7 + 6 bits), so they are exact, and the only rounding is the final add/subtract of the
 * offset (or the single multiply, for Q8_K's float32 scale). Hence any association of the
 * products, and fusing the last step into an FMA, gives the same bits as this code. */
#include "owl/tensor.h"
#include "tensor/blocks.h"

#include <string.h>

#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

#define F16(h) owl_f16_to_f32(h)

static void dq_q4_0(const owl_block_q4_0 *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, b++, y += OWL_QK4_0) {
        const float d = F16(b->d);
        for (int j = 0; j < 16; j++) {
            y[j] = (float)((b->qs[j] & 0xF) - 8) * d;
            y[j + 16] = (float)((b->qs[j] >> 4) - 8) * d;
        }
    }
}

static void dq_q4_1(const owl_block_q4_1 *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, b++, y += OWL_QK4_1) {
        const float d = F16(b->d), m = F16(b->m);
        for (int j = 0; j < 16; j++) {
            y[j] = (float)(b->qs[j] & 0xF) * d + m;
            y[j + 16] = (float)(b->qs[j] >> 4) * d + m;
        }
    }
}

static inline uint32_t load_u32le(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void dq_q5_0(const owl_block_q5_0 *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, b++, y += OWL_QK5_0) {
        const float d = F16(b->d);
        const uint32_t qh = load_u32le(b->qh);
        for (int j = 0; j < 16; j++) {
            int q0 = (b->qs[j] & 0xF) | (int)((qh >> j) & 1) << 4;
            int q1 = (b->qs[j] >> 4) | (int)((qh >> (j + 16)) & 1) << 4;
            y[j] = (float)(q0 - 16) * d;
            y[j + 16] = (float)(q1 - 16) * d;
        }
    }
}

static void dq_q5_1(const owl_block_q5_1 *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, b++, y += OWL_QK5_1) {
        const float d = F16(b->d), m = F16(b->m);
        const uint32_t qh = load_u32le(b->qh);
        for (int j = 0; j < 16; j++) {
            int q0 = (b->qs[j] & 0xF) | (int)((qh >> j) & 1) << 4;
            int q1 = (b->qs[j] >> 4) | (int)((qh >> (j + 16)) & 1) << 4;
            y[j] = (float)q0 * d + m;
            y[j + 16] = (float)q1 * d + m;
        }
    }
}

static void dq_q8_0(const owl_block_q8_0 *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, b++, y += OWL_QK8_0) {
        const float d = F16(b->d);
        for (int j = 0; j < OWL_QK8_0; j++) y[j] = (float)b->qs[j] * d;
    }
}

static void dq_q8_1(const owl_block_q8_1 *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, b++, y += OWL_QK8_1) {
        const float d = F16(b->d);
        for (int j = 0; j < OWL_QK8_1; j++) y[j] = (float)b->qs[j] * d;
    }
}

static void dq_q2_K(const owl_block_q2_K *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, b++) {
        const float d = F16(b->d), dmin = F16(b->dmin);
        int s = 0;
        for (int half = 0; half < 2; half++) {
            const uint8_t *q = b->qs + 32 * half;
            for (int k = 0; k < 4; k++) {
                const int shift = 2 * k;
                /* Two sub-blocks of 16 share these 32 bytes at this shift. */
                for (int part = 0; part < 2; part++, s++) {
                    const float dl = d * (float)(b->scales[s] & 0xF);
                    const float ml = dmin * (float)(b->scales[s] >> 4);
                    for (int l = 0; l < 16; l++) {
                        *y++ = dl * (float)((q[16 * part + l] >> shift) & 3) - ml;
                    }
                }
            }
        }
    }
}

static void dq_q3_K(const owl_block_q3_K *b, float *y, int64_t nb) {
    int8_t sc[16];
    for (int64_t i = 0; i < nb; i++, b++) {
        const float d = F16(b->d);
        owl_q3k_scales(b->scales, sc);
        int s = 0;
        for (int half = 0; half < 2; half++) {
            const uint8_t *q = b->qs + 32 * half;
            for (int k = 0; k < 4; k++) {
                const int shift = 2 * k;
                const uint8_t hbit = (uint8_t)(1u << (4 * half + k));
                for (int part = 0; part < 2; part++, s++) {
                    const float dl = d * (float)sc[s];
                    for (int l = 0; l < 16; l++) {
                        const int low = (q[16 * part + l] >> shift) & 3;
                        const int high = (b->hmask[16 * part + l] & hbit) ? 0 : 4;
                        *y++ = dl * (float)(low - high);
                    }
                }
            }
        }
    }
}

static void dq_q4_K(const owl_block_q4_K *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, b++) {
        const float d = F16(b->d), dmin = F16(b->dmin);
        const uint8_t *q = b->qs;
        for (int c = 0; c < 4; c++, q += 32) {
            uint8_t sc, mn;
            owl_k4_scale_min(2 * c, b->scales, &sc, &mn);
            const float d1 = d * (float)sc, m1 = dmin * (float)mn;
            owl_k4_scale_min(2 * c + 1, b->scales, &sc, &mn);
            const float d2 = d * (float)sc, m2 = dmin * (float)mn;
            for (int l = 0; l < 32; l++) *y++ = d1 * (float)(q[l] & 0xF) - m1;
            for (int l = 0; l < 32; l++) *y++ = d2 * (float)(q[l] >> 4) - m2;
        }
    }
}

static void dq_q5_K(const owl_block_q5_K *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, b++) {
        const float d = F16(b->d), dmin = F16(b->dmin);
        const uint8_t *q = b->qs;
        for (int c = 0; c < 4; c++, q += 32) {
            uint8_t sc, mn;
            owl_k4_scale_min(2 * c, b->scales, &sc, &mn);
            const float d1 = d * (float)sc, m1 = dmin * (float)mn;
            owl_k4_scale_min(2 * c + 1, b->scales, &sc, &mn);
            const float d2 = d * (float)sc, m2 = dmin * (float)mn;
            const uint8_t lo_bit = (uint8_t)(1u << (2 * c)), hi_bit = (uint8_t)(2u << (2 * c));
            for (int l = 0; l < 32; l++) {
                *y++ = d1 * (float)((q[l] & 0xF) + ((b->qh[l] & lo_bit) ? 16 : 0)) - m1;
            }
            for (int l = 0; l < 32; l++) {
                *y++ = d2 * (float)((q[l] >> 4) + ((b->qh[l] & hi_bit) ? 16 : 0)) - m2;
            }
        }
    }
}

static void dq_q6_K(const owl_block_q6_K *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, b++) {
        const float d = F16(b->d);
        for (int half = 0; half < 2; half++, y += 128) {
            const uint8_t *ql = b->ql + 64 * half;
            const uint8_t *qh = b->qh + 32 * half;
            const int8_t *sc = b->scales + 8 * half;
            for (int l = 0; l < 32; l++) {
                const int s = l / 16;
                const int q1 = ((ql[l] & 0xF) | ((qh[l] >> 0) & 3) << 4) - 32;
                const int q2 = ((ql[l + 32] & 0xF) | ((qh[l] >> 2) & 3) << 4) - 32;
                const int q3 = ((ql[l] >> 4) | ((qh[l] >> 4) & 3) << 4) - 32;
                const int q4 = ((ql[l + 32] >> 4) | ((qh[l] >> 6) & 3) << 4) - 32;
                y[l] = d * (float)sc[s] * (float)q1;
                y[l + 32] = d * (float)sc[s + 2] * (float)q2;
                y[l + 64] = d * (float)sc[s + 4] * (float)q3;
                y[l + 96] = d * (float)sc[s + 6] * (float)q4;
            }
        }
    }
}

static void dq_q8_K(const owl_block_q8_K *b, float *y, int64_t nb) {
    for (int64_t i = 0; i < nb; i++, b++) {
        float d;
        memcpy(&d, &b->d, sizeof d);
        for (int j = 0; j < OWL_QK_K; j++) *y++ = d * (float)b->qs[j];
    }
}

void owl_dequantize_row(owl_type type, const void *src, float *dst, int64_t n) {
    const owl_type_info *t = owl_type_get((uint32_t)type);
    if (!t || n <= 0) return;
    const int64_t nb = n / t->block_size;
    const uint8_t *p = src;
    switch (type) {
    case OWL_TYPE_F32:
        memcpy(dst, src, (size_t)n * sizeof(float));
        break;
    case OWL_TYPE_F16:
        for (int64_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, p + 2 * i, 2);
            dst[i] = owl_f16_to_f32(h);
        }
        break;
    case OWL_TYPE_BF16:
        for (int64_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, p + 2 * i, 2);
            dst[i] = owl_bf16_to_f32(h);
        }
        break;
    case OWL_TYPE_Q4_0: dq_q4_0(src, dst, nb); break;
    case OWL_TYPE_Q4_1: dq_q4_1(src, dst, nb); break;
    case OWL_TYPE_Q5_0: dq_q5_0(src, dst, nb); break;
    case OWL_TYPE_Q5_1: dq_q5_1(src, dst, nb); break;
    case OWL_TYPE_Q8_0: dq_q8_0(src, dst, nb); break;
    case OWL_TYPE_Q8_1: dq_q8_1(src, dst, nb); break;
    case OWL_TYPE_Q2_K: dq_q2_K(src, dst, nb); break;
    case OWL_TYPE_Q3_K: dq_q3_K(src, dst, nb); break;
    case OWL_TYPE_Q4_K: dq_q4_K(src, dst, nb); break;
    case OWL_TYPE_Q5_K: dq_q5_K(src, dst, nb); break;
    case OWL_TYPE_Q6_K: dq_q6_K(src, dst, nb); break;
    case OWL_TYPE_Q8_K: dq_q8_K(src, dst, nb); break;
    default:
        /* Types owl cannot compute with: the caller checks owl_type_get()->supported. */
        break;
    }
}
