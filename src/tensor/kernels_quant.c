/* Scalar reference kernels for the quantized weight types.
 *
 * Each weight block is first unpacked into its integer codes (and per-sub-block integer scales
 * and mins), then multiplied with the 8-bit activation codes in integer arithmetic, and the
 * float scales are applied per block (or per super-block) in the same places ggml applies them.
 * Activations: Q8_0 for Q4_0/Q5_0/Q8_0, Q8_1 (with its precomputed d·Σq) for the affine Q4_1 and
 * Q5_1, Q8_K (with its per-16 sums) for the k-quants. */
#include "tensor/blocks.h"
#include "tensor/kernels.h"

#include <math.h>
#include <string.h>

static inline float h2f(uint16_t h) { return owl_f16_to_f32(h); }

/* ---- activation quantizers ---------------------------------------------------------------
 * The rules llama.cpp's x86 build applies at run time (not those of its reference quantizer,
 * which differ on exact halves): inverse scale 127/max|x|, codes rounded to nearest even. Using
 * the same codes keeps the integer sums, and hence the logits, in step with llama.cpp. */

static float absmax32(const float *x) {
    float m = 0;
    for (int j = 0; j < 32; j++) m = fmaxf(m, fabsf(x[j]));
    return m;
}

/* Q8_0: d = max|x| / 127, codes nearest-even(x · 127/max|x|). */
static void act_q8_0(const float *x, void *dst, int64_t n) {
    owl_block_q8_0 *y = dst;
    for (int64_t i = 0; i < n / 32; i++, x += 32) {
        const float amax = absmax32(x), d = amax / 127.0f, id = amax != 0 ? 127.0f / amax : 0.0f;
        y[i].d = owl_f32_to_f16(d);
        for (int j = 0; j < 32; j++) y[i].qs[j] = (int8_t)nearbyintf(x[j] * id);
    }
}

/* Q8_1: Q8_0's codes plus s = d·Σq (for the min term of affine weights). */
static void act_q8_1(const float *x, void *dst, int64_t n) {
    owl_block_q8_1 *y = dst;
    for (int64_t i = 0; i < n / 32; i++, x += 32) {
        const float amax = absmax32(x), d = amax / 127.0f, id = amax != 0 ? 127.0f / amax : 0.0f;
        int sum = 0;
        y[i].d = owl_f32_to_f16(d);
        for (int j = 0; j < 32; j++) {
            y[i].qs[j] = (int8_t)nearbyintf(x[j] * id);
            sum += y[i].qs[j];
        }
        y[i].s = owl_f32_to_f16((float)sum * d);
    }
}

/* Q8_K: scale from the element of largest magnitude (kept with its sign, so it maps to -127
 * exactly), codes rounded to nearest even, plus the sums of each group of 16. */
static void act_q8_K(const float *x, void *dst, int64_t n) {
    owl_block_q8_K *y = dst;
    for (int64_t i = 0; i < n / OWL_QK_K; i++, x += OWL_QK_K) {
        float amax = 0, max = 0;
        for (int j = 0; j < OWL_QK_K; j++) {
            if (fabsf(x[j]) > amax) {
                amax = fabsf(x[j]);
                max = x[j];
            }
        }
        if (amax == 0) {
            memset(&y[i], 0, sizeof y[i]);
            continue;
        }
        const float iscale = -127.0f / max;
        for (int j = 0; j < OWL_QK_K; j++) {
            int v = (int)nearbyintf(iscale * x[j]);
            y[i].qs[j] = (int8_t)(v > 127 ? 127 : v < -128 ? -128 : v);
        }
        for (int g = 0; g < OWL_QK_K / 16; g++) {
            int sum = 0;
            for (int l = 0; l < 16; l++) sum += y[i].qs[16 * g + l];
            y[i].bsums[g] = (int16_t)sum;
        }
        y[i].d = 1.0f / iscale;
    }
}

static inline int idot32(const int8_t *a, const int8_t *b) {
    int s = 0;
    for (int i = 0; i < 32; i++) s += a[i] * b[i];
    return s;
}

/* ---- 32-element blocks ------------------------------------------------------------------- */

static void unpack_nibbles(const uint8_t *qs, int8_t *q, int offset) {
    for (int j = 0; j < 16; j++) {
        q[j] = (int8_t)((qs[j] & 0xF) - offset);
        q[j + 16] = (int8_t)((qs[j] >> 4) - offset);
    }
}

static void unpack_5bit(const uint8_t *qs, const uint8_t *qh, int8_t *q, int offset) {
    uint32_t h;
    memcpy(&h, qh, 4);
    for (int j = 0; j < 16; j++) {
        q[j] = (int8_t)(((qs[j] & 0xF) | (((h >> j) & 1) << 4)) - offset);
        q[j + 16] = (int8_t)(((qs[j] >> 4) | (((h >> (j + 16)) & 1) << 4)) - offset);
    }
}

static void dot_q4_0(int64_t n, float *s, const void *w, const void *x) {
    const owl_block_q4_0 *a = w;
    const owl_block_q8_0 *b = x;
    float sum = 0;
    int8_t q[32];
    for (int64_t i = 0; i < n / 32; i++) {
        unpack_nibbles(a[i].qs, q, 8);
        sum += (float)idot32(q, b[i].qs) * (h2f(a[i].d) * h2f(b[i].d));
    }
    *s = sum;
}

static void dot_q4_1(int64_t n, float *s, const void *w, const void *x) {
    const owl_block_q4_1 *a = w;
    const owl_block_q8_1 *b = x;
    float sum = 0;
    int8_t q[32];
    for (int64_t i = 0; i < n / 32; i++) {
        unpack_nibbles(a[i].qs, q, 0);
        sum += (float)idot32(q, b[i].qs) * (h2f(a[i].d) * h2f(b[i].d)) + h2f(a[i].m) * h2f(b[i].s);
    }
    *s = sum;
}

static void dot_q5_0(int64_t n, float *s, const void *w, const void *x) {
    const owl_block_q5_0 *a = w;
    const owl_block_q8_0 *b = x;
    float sum = 0;
    int8_t q[32];
    for (int64_t i = 0; i < n / 32; i++) {
        unpack_5bit(a[i].qs, a[i].qh, q, 16);
        sum += (float)idot32(q, b[i].qs) * (h2f(a[i].d) * h2f(b[i].d));
    }
    *s = sum;
}

static void dot_q5_1(int64_t n, float *s, const void *w, const void *x) {
    const owl_block_q5_1 *a = w;
    const owl_block_q8_1 *b = x;
    float sum = 0;
    int8_t q[32];
    for (int64_t i = 0; i < n / 32; i++) {
        unpack_5bit(a[i].qs, a[i].qh, q, 0);
        sum += (float)idot32(q, b[i].qs) * (h2f(a[i].d) * h2f(b[i].d)) + h2f(a[i].m) * h2f(b[i].s);
    }
    *s = sum;
}

static void dot_q8_0(int64_t n, float *s, const void *w, const void *x) {
    const owl_block_q8_0 *a = w;
    const owl_block_q8_0 *b = x;
    float sum = 0;
    for (int64_t i = 0; i < n / 32; i++)
        sum += (float)idot32(a[i].qs, b[i].qs) * (h2f(a[i].d) * h2f(b[i].d));
    *s = sum;
}

/* ---- k-quants (256-element super-blocks) ------------------------------------------------- */

/* Q2_K: codes 0..3, sixteen (scale, min) 4-bit pairs. */
static void dot_q2_K(int64_t n, float *s, const void *w, const void *x) {
    const owl_block_q2_K *a = w;
    const owl_block_q8_K *b = x;
    float sum = 0;
    for (int64_t i = 0; i < n / 256; i++) {
        int8_t q[256];
        for (int h = 0; h < 2; h++)
            for (int k = 0; k < 4; k++)
                for (int l = 0; l < 32; l++) q[128 * h + 32 * k + l] = (int8_t)((a[i].qs[32 * h + l] >> (2 * k)) & 3);
        int isum = 0, summs = 0;
        for (int sb = 0; sb < 16; sb++) {
            int dot = 0;
            for (int l = 0; l < 16; l++) dot += q[16 * sb + l] * b[i].qs[16 * sb + l];
            isum += (a[i].scales[sb] & 0xF) * dot;
            summs += (a[i].scales[sb] >> 4) * b[i].bsums[sb];
        }
        sum += b[i].d * h2f(a[i].d) * (float)isum - b[i].d * h2f(a[i].dmin) * (float)summs;
    }
    *s = sum;
}

/* Q3_K: codes -4..3, sixteen signed 6-bit scales. */
static void dot_q3_K(int64_t n, float *s, const void *w, const void *x) {
    const owl_block_q3_K *a = w;
    const owl_block_q8_K *b = x;
    float sum = 0;
    for (int64_t i = 0; i < n / 256; i++) {
        int8_t q[256], sc[16];
        for (int h = 0; h < 2; h++)
            for (int k = 0; k < 4; k++)
                for (int l = 0; l < 32; l++) {
                    const int e = 128 * h + 32 * k + l;
                    const int low = (a[i].qs[32 * h + l] >> (2 * k)) & 3;
                    const int hb = (a[i].hmask[e % 32] >> (e / 32)) & 1;
                    q[e] = (int8_t)(low - (hb ? 0 : 4));
                }
        owl_q3k_scales(a[i].scales, sc);
        int isum = 0;
        for (int sb = 0; sb < 16; sb++) {
            int dot = 0;
            for (int l = 0; l < 16; l++) dot += q[16 * sb + l] * b[i].qs[16 * sb + l];
            isum += sc[sb] * dot;
        }
        sum += h2f(a[i].d) * b[i].d * (float)isum;
    }
    *s = sum;
}

/* Q4_K / Q5_K share the affine 8×32 layout with 6-bit scales and mins. */
static float k4_block(const uint8_t *scales, float d, float dmin, const int8_t *q, const owl_block_q8_K *b) {
    int isum = 0, summs = 0;
    for (int j = 0; j < 8; j++) {
        uint8_t sc, mn;
        owl_k4_scale_min(j, scales, &sc, &mn);
        isum += sc * idot32(q + 32 * j, b->qs + 32 * j);
        summs += mn * (b->bsums[2 * j] + b->bsums[2 * j + 1]);
    }
    return b->d * d * (float)isum - b->d * dmin * (float)summs;
}

static void dot_q4_K(int64_t n, float *s, const void *w, const void *x) {
    const owl_block_q4_K *a = w;
    const owl_block_q8_K *b = x;
    float sum = 0;
    for (int64_t i = 0; i < n / 256; i++) {
        int8_t q[256];
        for (int c = 0; c < 4; c++)
            for (int l = 0; l < 32; l++) {
                q[64 * c + l] = (int8_t)(a[i].qs[32 * c + l] & 0xF);
                q[64 * c + 32 + l] = (int8_t)(a[i].qs[32 * c + l] >> 4);
            }
        sum += k4_block(a[i].scales, h2f(a[i].d), h2f(a[i].dmin), q, &b[i]);
    }
    *s = sum;
}

static void dot_q5_K(int64_t n, float *s, const void *w, const void *x) {
    const owl_block_q5_K *a = w;
    const owl_block_q8_K *b = x;
    float sum = 0;
    for (int64_t i = 0; i < n / 256; i++) {
        int8_t q[256];
        for (int c = 0; c < 4; c++)
            for (int l = 0; l < 32; l++) {
                q[64 * c + l] = (int8_t)(a[i].qs[32 * c + l] & 0xF);
                q[64 * c + 32 + l] = (int8_t)(a[i].qs[32 * c + l] >> 4);
            }
        for (int k = 0; k < 8; k++)
            for (int l = 0; l < 32; l++) q[32 * k + l] = (int8_t)(q[32 * k + l] + (((a[i].qh[l] >> k) & 1) << 4));
        sum += k4_block(a[i].scales, h2f(a[i].d), h2f(a[i].dmin), q, &b[i]);
    }
    *s = sum;
}

/* Q6_K: codes -32..31, sixteen signed 8-bit scales. */
static void dot_q6_K(int64_t n, float *s, const void *w, const void *x) {
    const owl_block_q6_K *a = w;
    const owl_block_q8_K *b = x;
    float sum = 0;
    for (int64_t i = 0; i < n / 256; i++) {
        int8_t q[256];
        for (int h = 0; h < 2; h++) {
            const uint8_t *ql = a[i].ql + 64 * h, *qh = a[i].qh + 32 * h;
            for (int l = 0; l < 32; l++) {
                q[128 * h + l] = (int8_t)(((ql[l] & 0xF) | ((qh[l] & 3) << 4)) - 32);
                q[128 * h + 32 + l] = (int8_t)(((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32);
                q[128 * h + 64 + l] = (int8_t)(((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
                q[128 * h + 96 + l] = (int8_t)(((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
            }
        }
        int isum = 0;
        for (int sb = 0; sb < 16; sb++) {
            int dot = 0;
            for (int l = 0; l < 16; l++) dot += q[16 * sb + l] * b[i].qs[16 * sb + l];
            isum += a[i].scales[sb] * dot;
        }
        sum += h2f(a[i].d) * b[i].d * (float)isum;
    }
    *s = sum;
}

void owl_kernels_init_scalar_quant(owl_kernel t[OWL_TYPE_COUNT]) {
    t[OWL_TYPE_Q4_0] = (owl_kernel){.act_type = OWL_TYPE_Q8_0, .quantize_act = act_q8_0, .dot = dot_q4_0};
    t[OWL_TYPE_Q4_1] = (owl_kernel){.act_type = OWL_TYPE_Q8_1, .quantize_act = act_q8_1, .dot = dot_q4_1};
    t[OWL_TYPE_Q5_0] = (owl_kernel){.act_type = OWL_TYPE_Q8_0, .quantize_act = act_q8_0, .dot = dot_q5_0};
    t[OWL_TYPE_Q5_1] = (owl_kernel){.act_type = OWL_TYPE_Q8_1, .quantize_act = act_q8_1, .dot = dot_q5_1};
    t[OWL_TYPE_Q8_0] = (owl_kernel){.act_type = OWL_TYPE_Q8_0, .quantize_act = act_q8_0, .dot = dot_q8_0};
    t[OWL_TYPE_Q2_K] = (owl_kernel){.act_type = OWL_TYPE_Q8_K, .quantize_act = act_q8_K, .dot = dot_q2_K};
    t[OWL_TYPE_Q3_K] = (owl_kernel){.act_type = OWL_TYPE_Q8_K, .quantize_act = act_q8_K, .dot = dot_q3_K};
    t[OWL_TYPE_Q4_K] = (owl_kernel){.act_type = OWL_TYPE_Q8_K, .quantize_act = act_q8_K, .dot = dot_q4_K};
    t[OWL_TYPE_Q5_K] = (owl_kernel){.act_type = OWL_TYPE_Q8_K, .quantize_act = act_q8_K, .dot = dot_q5_K};
    t[OWL_TYPE_Q6_K] = (owl_kernel){.act_type = OWL_TYPE_Q8_K, .quantize_act = act_q8_K, .dot = dot_q6_K};
}
