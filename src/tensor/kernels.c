/* Scalar reference kernels: plain C, written for clarity. They define the results the SIMD
 * versions must reproduce (within the tolerances stated in tests/unit/test_kernels.c). */
#include "tensor/kernels.h"

#include <math.h>
#include <string.h>

/* ---- float weights, float activations ----------------------------------------------------- */

static void from_float_f32(const float *x, void *dst, int64_t n) { memcpy(dst, x, (size_t)n * 4); }

static void dot_f32(int64_t n, float *s, const void *w, const void *x) {
    const float *a = w, *b = x;
    /* Four partial sums: the same association the SIMD versions use in spirit, and less
     * cancellation error than one running sum. */
    float acc[4] = {0};
    int64_t i = 0;
    for (; i + 4 <= n; i += 4)
        for (int j = 0; j < 4; j++) acc[j] += a[i + j] * b[i + j];
    for (; i < n; i++) acc[0] += a[i] * b[i];
    *s = (acc[0] + acc[1]) + (acc[2] + acc[3]);
}

static void dot_f16(int64_t n, float *s, const void *w, const void *x) {
    const uint16_t *a = w;
    const float *b = x;
    float acc = 0;
    for (int64_t i = 0; i < n; i++) acc += owl_f16_to_f32(a[i]) * b[i];
    *s = acc;
}

/* BF16 weights take BF16 activations (rounded to nearest even), as llama.cpp does: the products
 * are then exact in float and the SIMD version is one dpbf16ps per 32 elements. */
static void from_float_bf16(const float *x, void *dst, int64_t n) {
    uint16_t *y = dst;
    for (int64_t i = 0; i < n; i++) y[i] = owl_f32_to_bf16(x[i]);
}

static void dot_bf16(int64_t n, float *s, const void *w, const void *x) {
    const uint16_t *a = w, *b = x;
    float acc = 0;
    for (int64_t i = 0; i < n; i++) acc += owl_bf16_to_f32(a[i]) * owl_bf16_to_f32(b[i]);
    *s = acc;
}

void owl_kernels_init_scalar(owl_kernel t[OWL_TYPE_COUNT]) {
    t[OWL_TYPE_F32] = (owl_kernel){.act_type = OWL_TYPE_F32, .quantize_act = from_float_f32, .dot = dot_f32};
    t[OWL_TYPE_F16] = (owl_kernel){.act_type = OWL_TYPE_F32, .quantize_act = from_float_f32, .dot = dot_f16};
    t[OWL_TYPE_BF16] = (owl_kernel){.act_type = OWL_TYPE_BF16, .quantize_act = from_float_bf16, .dot = dot_bf16};
    owl_kernels_init_scalar_quant(t);
}

/* ---- vector helpers ----------------------------------------------------------------------- */

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
    for (int64_t i = 0; i < n; i++) y[i] += a * owl_f16_to_f32(x[i]);
}

static void v_axpy_f32(int64_t n, float a, const float *x, float *y) {
    for (int64_t i = 0; i < n; i++) y[i] += a * x[i];
}

static void v_f32_to_f16(int64_t n, const float *x, uint16_t *y) {
    for (int64_t i = 0; i < n; i++) y[i] = owl_f32_to_f16(x[i]);
}

static void v_attn_scores_f16(int64_t hd, int64_t n_pos, int g, const float *q, const uint16_t *k,
                              int64_t k_stride, float scale, float *scores, int64_t s_stride) {
    for (int i = 0; i < g; i++)
        for (int64_t p = 0; p < n_pos; p++)
            scores[i * s_stride + p] = scale * v_dot_f32_f16(hd, q + i * hd, k + p * k_stride);
}

static void v_attn_values_f16(int64_t hd, int64_t n_pos, int g, const float *w, int64_t w_stride,
                              const uint16_t *v, int64_t v_stride, float *out) {
    for (int i = 0; i < g; i++) {
        memset(out + i * hd, 0, (size_t)hd * sizeof(float));
        for (int64_t p = 0; p < n_pos; p++) v_axpy_f16(hd, w[i * w_stride + p], v + p * v_stride, out + i * hd);
    }
}

/* The references: expf from libm, the sum in double. */
static void v_softmax(int64_t n, float *x) {
    float maxv = -INFINITY;
    for (int64_t p = 0; p < n; p++)
        if (x[p] > maxv) maxv = x[p];
    double sum = 0;
    for (int64_t p = 0; p < n; p++) {
        x[p] = expf(x[p] - maxv);
        sum += x[p];
    }
    const float inv = (float)(1.0 / sum);
    for (int64_t p = 0; p < n; p++) x[p] *= inv;
}

static void v_silu_mul(int64_t n, float *g, const float *u) {
    for (int64_t i = 0; i < n; i++) g[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}

void owl_vec_ops_init_scalar(owl_vec_ops *ops) {
    ops->softmax = v_softmax;
    ops->silu_mul = v_silu_mul;
    ops->attn_scores_f16 = v_attn_scores_f16;
    ops->attn_values_f16 = v_attn_values_f16;
    ops->dot_f32 = v_dot_f32;
    ops->dot_f32_f16 = v_dot_f32_f16;
    ops->axpy_f16 = v_axpy_f16;
    ops->axpy_f32 = v_axpy_f32;
    ops->f32_to_f16 = v_f32_to_f16;
}
