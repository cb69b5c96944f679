/* AVX2 + FMA + F16C kernels (compiled with those flags alone; called only when cpu.c found them). */
#include "tensor/kernels.h"
#include "tensor/simd_blocks.h"

#include <immintrin.h>
#include <math.h>
#include <string.h>

static inline float hmax256(__m256 v) {
    __m128 lo = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    lo = _mm_max_ps(lo, _mm_movehl_ps(lo, lo));
    lo = _mm_max_ss(lo, _mm_movehdup_ps(lo));
    return _mm_cvtss_f32(lo);
}

static void dot_f32(int64_t n, float *s, const void *w, const void *x) {
    const float *a = w, *b = x;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    __m256 acc2 = _mm256_setzero_ps(), acc3 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), acc1);
        acc2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16), acc2);
        acc3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24), acc3);
    }
    for (; i + 8 <= n; i += 8) acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
    float r = simd_hsum(_mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3)));
    for (; i < n; i++) r += a[i] * b[i];
    *s = r;
}

static inline __m256 load_f16(const uint16_t *p) {
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
}

static inline __m256 load_bf16(const uint16_t *p) {
    __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
}

static void dot_f16(int64_t n, float *s, const void *w, const void *x) {
    const uint16_t *a = w;
    const float *b = x;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        acc0 = _mm256_fmadd_ps(load_f16(a + i), _mm256_loadu_ps(b + i), acc0);
        acc1 = _mm256_fmadd_ps(load_f16(a + i + 8), _mm256_loadu_ps(b + i + 8), acc1);
    }
    for (; i + 8 <= n; i += 8) acc0 = _mm256_fmadd_ps(load_f16(a + i), _mm256_loadu_ps(b + i), acc0);
    float r = simd_hsum(_mm256_add_ps(acc0, acc1));
    for (; i < n; i++) r += _cvtsh_ss(a[i]) * b[i];
    *s = r;
}

static void dot_bf16(int64_t n, float *s, const void *w, const void *x) {
    const uint16_t *a = w, *b = x;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        acc0 = _mm256_fmadd_ps(load_bf16(a + i), load_bf16(b + i), acc0);
        acc1 = _mm256_fmadd_ps(load_bf16(a + i + 8), load_bf16(b + i + 8), acc1);
    }
    for (; i + 8 <= n; i += 8) acc0 = _mm256_fmadd_ps(load_bf16(a + i), load_bf16(b + i), acc0);
    float r = simd_hsum(_mm256_add_ps(acc0, acc1));
    for (; i < n; i++) r += owl_bf16_to_f32(a[i]) * owl_bf16_to_f32(b[i]);
    *s = r;
}

void owl_kernels_init_avx2(owl_kernel t[OWL_TYPE_COUNT]) {
    t[OWL_TYPE_F32].dot = dot_f32;
    t[OWL_TYPE_F16].dot = dot_f16;
    t[OWL_TYPE_BF16].dot = dot_bf16;
    owl_kernels_init_avx2_quant(t);
    owl_kernels_init_avx2_gemm(t);
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
    __m256 va = _mm256_set1_ps(a);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, load_f16(x + i), _mm256_loadu_ps(y + i)));
    for (; i < n; i++) y[i] += a * _cvtsh_ss(x[i]);
}

static void v_axpy_f32(int64_t n, float a, const float *x, float *y) {
    __m256 va = _mm256_set1_ps(a);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
    for (; i < n; i++) y[i] += a * x[i];
}

static void v_f32_to_f16(int64_t n, const float *x, uint16_t *y) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(y + i),
                         _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; i++) y[i] = _cvtss_sh(x[i], _MM_FROUND_TO_NEAREST_INT);
}

/* exp as in kernels_avx512.c (n = round(x / ln 2), e^r by degree-7 Taylor), with 2^n built in
 * the exponent bits, which AVX2 has no scalef for: x is clamped to [-87, 88.3] so n stays within
 * normal exponents. Within 2 ulp of expf on that range; below it the result is exp(-87) ≈ 1.6e-38
 * instead of a denormal or 0, which no softmax or SiLU can tell apart. */
static inline __m256 exp256(__m256 x) {
    x = _mm256_min_ps(_mm256_set1_ps(88.3f), _mm256_max_ps(_mm256_set1_ps(-87.0f), x));
    const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693145751953125f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(1.428606765330187045e-06f), r);
    __m256 p = _mm256_set1_ps(1.0f / 5040);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 720));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

static void v_softmax(int64_t n, float *x) {
    __m256 m = _mm256_set1_ps(-INFINITY);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) m = _mm256_max_ps(m, _mm256_loadu_ps(x + i));
    float maxv = hmax256(m);
    for (int64_t j = i; j < n; j++)
        if (x[j] > maxv) maxv = x[j];
    const __m256 vmax = _mm256_set1_ps(maxv);
    __m256 acc = _mm256_setzero_ps();
    for (i = 0; i + 8 <= n; i += 8) {
        const __m256 e = exp256(_mm256_sub_ps(_mm256_loadu_ps(x + i), vmax));
        _mm256_storeu_ps(x + i, e);
        acc = _mm256_add_ps(acc, e);
    }
    float sum = simd_hsum(acc);
    if (i < n) {
        float tail[8] = {0};
        memcpy(tail, x + i, (size_t)(n - i) * sizeof(float));
        const __m256 e = exp256(_mm256_sub_ps(_mm256_loadu_ps(tail), vmax));
        _mm256_storeu_ps(tail, e);
        for (int64_t j = i; j < n; j++) {
            x[j] = tail[j - i];
            sum += x[j];
        }
    }
    const __m256 inv = _mm256_set1_ps(1.0f / sum);
    for (i = 0; i + 8 <= n; i += 8) _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), inv));
    for (; i < n; i++) x[i] *= 1.0f / sum;
}

static void v_silu_mul(int64_t n, float *g, const float *u) {
    const __m256 one = _mm256_set1_ps(1.0f);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 a = _mm256_loadu_ps(g + i);
        const __m256 s = _mm256_div_ps(a, _mm256_add_ps(one, exp256(_mm256_sub_ps(_mm256_setzero_ps(), a))));
        _mm256_storeu_ps(g + i, _mm256_mul_ps(s, _mm256_loadu_ps(u + i)));
    }
    if (i < n) {
        float a[8] = {0}, b[8] = {0};
        memcpy(a, g + i, (size_t)(n - i) * sizeof(float));
        memcpy(b, u + i, (size_t)(n - i) * sizeof(float));
        v_silu_mul(8, a, b);
        memcpy(g + i, a, (size_t)(n - i) * sizeof(float));
    }
}

/* ---- attention over an F16 cache (the AVX-512 file explains the scheme) ---------------------- */

/* Lane j of the result = the sum of the 8 lanes of v[j]. */
static inline __m256 sum8(const __m256 v[8]) {
    __m256 t[4], u[2];
    for (int k = 0; k < 4; k++) t[k] = _mm256_hadd_ps(v[2 * k], v[2 * k + 1]);
    /* t[k]: per 128-bit half, pair sums of v[2k] and v[2k+1] */
    for (int k = 0; k < 2; k++) u[k] = _mm256_hadd_ps(t[2 * k], t[2 * k + 1]);
    /* u[k], half h: the half-h sums of v[4k..4k+3] */
    const __m256 lo = _mm256_permute2f128_ps(u[0], u[1], 0x20), hi = _mm256_permute2f128_ps(u[0], u[1], 0x31);
    return _mm256_add_ps(lo, hi);
}

static void v_attn_scores_f16(int64_t hd, int64_t n_pos, int g, const float *q, const uint16_t *k,
                              int64_t k_stride, float scale, float *scores, int64_t s_stride) {
    if (hd % 8 != 0 || g > 8) {
        for (int i = 0; i < g; i++)
            for (int64_t p = 0; p < n_pos; p++) scores[i * s_stride + p] = scale * v_dot_f32_f16(hd, q + i * hd, k + p * k_stride);
        return;
    }
    const __m256 vs = _mm256_set1_ps(scale);
    __m256 part[8][8];
    for (int64_t p0 = 0; p0 < n_pos; p0 += 8) {
        const int np = n_pos - p0 < 8 ? (int)(n_pos - p0) : 8;
        for (int j = 0; j < 8; j++) {
            if (j >= np) {
                for (int i = 0; i < g; i++) part[i][j] = _mm256_setzero_ps();
                continue;
            }
            const uint16_t *kp = k + (p0 + j) * k_stride;
            for (int i = 0; i < g; i++) {
                const float *qi = q + i * hd;
                __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
                int64_t c = 0;
                for (; c + 16 <= hd; c += 16) {
                    a0 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(kp + c))), _mm256_loadu_ps(qi + c), a0);
                    a1 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(kp + c + 8))), _mm256_loadu_ps(qi + c + 8), a1);
                }
                if (c < hd) a0 = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(kp + c))), _mm256_loadu_ps(qi + c), a0);
                part[i][j] = _mm256_add_ps(a0, a1);
            }
        }
        for (int i = 0; i < g; i++) {
            float out[8];
            _mm256_storeu_ps(out, _mm256_mul_ps(sum8(part[i]), vs));
            memcpy(scores + i * s_stride + p0, out, (size_t)np * sizeof(float));
        }
    }
}

/* out[i] = Σ_p w[i][p] · v[p], one query row at a time with its accumulators in registers (up to
 * 128 elements), the rest in 8-wide steps through memory. */
static void v_attn_values_f16(int64_t hd, int64_t n_pos, int g, const float *w, int64_t w_stride,
                              const uint16_t *v, int64_t v_stride, float *out) {
    if (hd % 8 != 0 || hd > 128) {
        for (int i = 0; i < g; i++) {
            memset(out + i * hd, 0, (size_t)hd * sizeof(float));
            for (int64_t p = 0; p < n_pos; p++) v_axpy_f16(hd, w[i * w_stride + p], v + p * v_stride, out + i * hd);
        }
        return;
    }
    const int nv = (int)(hd / 8);
    for (int i = 0; i < g; i++) {
        __m256 acc[16];
        for (int c = 0; c < nv; c++) acc[c] = _mm256_setzero_ps();
        for (int64_t p = 0; p < n_pos; p++) {
            const __m256 wi = _mm256_set1_ps(w[i * w_stride + p]);
            const uint16_t *vp = v + p * v_stride;
            for (int c = 0; c < nv; c++)
                acc[c] = _mm256_fmadd_ps(wi, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(vp + 8 * c))), acc[c]);
        }
        for (int c = 0; c < nv; c++) _mm256_storeu_ps(out + i * hd + 8 * c, acc[c]);
    }
}

void owl_vec_ops_init_avx2(owl_vec_ops *ops) {
    ops->dot_f32 = v_dot_f32;
    ops->dot_f32_f16 = v_dot_f32_f16;
    ops->axpy_f16 = v_axpy_f16;
    ops->axpy_f32 = v_axpy_f32;
    ops->f32_to_f16 = v_f32_to_f16;
    ops->softmax = v_softmax;
    ops->silu_mul = v_silu_mul;
    ops->attn_scores_f16 = v_attn_scores_f16;
    ops->attn_values_f16 = v_attn_values_f16;
}
