/* AVX-512 kernels (F, BW, VL, DQ, VNNI, BF16): 64-byte vectors, and VNNI's u8×s8 dot products
 * for the quantized types. */
#include "tensor/kernels.h"

#include "tensor/blocks.h"

#include <immintrin.h>
#include <math.h>
#include <string.h>

static void dot_f32(int64_t n, float *s, const void *w, const void *x) {
    const float *a = w, *b = x;
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    __m512 acc2 = _mm512_setzero_ps(), acc3 = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 64 <= n; i += 64) {
        acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), acc0);
        acc1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), acc1);
        acc2 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 32), _mm512_loadu_ps(b + i + 32), acc2);
        acc3 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 48), _mm512_loadu_ps(b + i + 48), acc3);
    }
    for (; i + 16 <= n; i += 16)
        acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), acc0);
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        acc1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i), acc1);
    }
    *s = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(acc0, acc1), _mm512_add_ps(acc2, acc3)));
}

static inline __m512 load_f16(const uint16_t *p) {
    return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p));
}

static inline __m512 load_f16_mask(const uint16_t *p, __mmask16 m) {
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p));
}

static void dot_f16(int64_t n, float *s, const void *w, const void *x) {
    const uint16_t *a = w;
    const float *b = x;
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        acc0 = _mm512_fmadd_ps(load_f16(a + i), _mm512_loadu_ps(b + i), acc0);
        acc1 = _mm512_fmadd_ps(load_f16(a + i + 16), _mm512_loadu_ps(b + i + 16), acc1);
    }
    for (; i + 16 <= n; i += 16) acc0 = _mm512_fmadd_ps(load_f16(a + i), _mm512_loadu_ps(b + i), acc0);
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        acc1 = _mm512_fmadd_ps(load_f16_mask(a + i, m), _mm512_maskz_loadu_ps(m, b + i), acc1);
    }
    *s = _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
}

/* BF16 × BF16 with dpbf16ps: pairs of products summed into float lanes. */
static void dot_bf16(int64_t n, float *s, const void *w, const void *x) {
    const uint16_t *a = w, *b = x;
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 64 <= n; i += 64) {
        acc0 = _mm512_dpbf16_ps(acc0, (__m512bh)_mm512_loadu_si512(a + i), (__m512bh)_mm512_loadu_si512(b + i));
        acc1 = _mm512_dpbf16_ps(acc1, (__m512bh)_mm512_loadu_si512(a + i + 32), (__m512bh)_mm512_loadu_si512(b + i + 32));
    }
    for (; i + 32 <= n; i += 32)
        acc0 = _mm512_dpbf16_ps(acc0, (__m512bh)_mm512_loadu_si512(a + i), (__m512bh)_mm512_loadu_si512(b + i));
    if (i < n) {
        __mmask32 m = (__mmask32)((1ull << (n - i)) - 1);
        acc1 = _mm512_dpbf16_ps(acc1, (__m512bh)_mm512_maskz_loadu_epi16(m, a + i), (__m512bh)_mm512_maskz_loadu_epi16(m, b + i));
    }
    *s = _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
}

static void from_float_bf16(const float *x, void *dst, int64_t n) {
    uint16_t *y = dst;
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m512bh v = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(x + i + 16), _mm512_loadu_ps(x + i));
        _mm512_storeu_si512(y + i, (__m512i)v);
    }
    for (; i < n; i++) y[i] = owl_f32_to_bf16(x[i]);
}

static void act_q8_0(const float *x, void *dst, int64_t n);
static void act_q8_K(const float *x, void *dst, int64_t n);
static void v_attn_scores_f16(int64_t hd, int64_t n_pos, int g, const float *q, const uint16_t *k,
                              int64_t k_stride, float scale, float *scores, int64_t s_stride);
static void v_attn_values_f16(int64_t hd, int64_t n_pos, int g, const float *w, int64_t w_stride,
                              const uint16_t *v, int64_t v_stride, float *out);

void owl_kernels_init_avx512(owl_kernel t[OWL_TYPE_COUNT]) {
    t[OWL_TYPE_F32].dot = dot_f32;
    t[OWL_TYPE_F16].dot = dot_f16;
    t[OWL_TYPE_BF16].dot = dot_bf16;
    t[OWL_TYPE_BF16].quantize_act = from_float_bf16;
    owl_kernels_init_avx512_quant(t);
    owl_kernels_init_avx512_gemm(t);
    t[OWL_TYPE_Q8_0].quantize_act = act_q8_0;
    t[OWL_TYPE_Q4_0].quantize_act = act_q8_0;
    t[OWL_TYPE_Q5_0].quantize_act = act_q8_0;
    for (int ty = 0; ty < OWL_TYPE_COUNT; ty++)
        if (t[ty].act_type == OWL_TYPE_Q8_K) t[ty].quantize_act = act_q8_K;
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
    __m512 va = _mm512_set1_ps(a);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(y + i, _mm512_fmadd_ps(va, load_f16(x + i), _mm512_loadu_ps(y + i)));
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        _mm512_mask_storeu_ps(y + i, m,
                              _mm512_fmadd_ps(va, load_f16_mask(x + i, m), _mm512_maskz_loadu_ps(m, y + i)));
    }
}

static void v_axpy_f32(int64_t n, float a, const float *x, float *y) {
    __m512 va = _mm512_set1_ps(a);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(y + i, _mm512_fmadd_ps(va, _mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i)));
    if (i < n) {
        __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        _mm512_mask_storeu_ps(y + i, m,
                              _mm512_fmadd_ps(va, _mm512_maskz_loadu_ps(m, x + i), _mm512_maskz_loadu_ps(m, y + i)));
    }
}

/* ---- exp, softmax, SiLU ------------------------------------------------------------------------
 * exp(x) = 2^n · e^r with n = round(x / ln 2) and r = x - n·ln 2 (ln 2 split in two parts so r is
 * exact to a few ulp), |r| ≤ ln 2 / 2; e^r by its Taylor polynomial to degree 7 (truncation
 * error below 6e-9 relative), and 2^n applied with scalef, which saturates to 0 and +inf outside
 * float's range instead of wrapping the exponent. Within 2 ulp of expf over the float range
 * (tests/unit/test_attention.c). */
static inline __m512 exp512(__m512 x) {
    /* Clamped to where expf is 0 or +inf already (so ±inf give 0 and +inf, not inf - inf);
     * the constant comes first so that a NaN x passes through. */
    x = _mm512_min_ps(_mm512_set1_ps(88.8f), _mm512_max_ps(_mm512_set1_ps(-104.0f), x));
    const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693145751953125f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(1.428606765330187045e-06f), r);
    __m512 p = _mm512_set1_ps(1.0f / 5040);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 720));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    return _mm512_scalef_ps(p, n);
}

static void v_softmax(int64_t n, float *x) {
    __m512 m = _mm512_set1_ps(-INFINITY);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) m = _mm512_max_ps(m, _mm512_loadu_ps(x + i));
    const __mmask16 tail = (__mmask16)((1u << (n - i)) - 1);
    if (tail) m = _mm512_mask_max_ps(m, tail, m, _mm512_maskz_loadu_ps(tail, x + i));
    const __m512 maxv = _mm512_set1_ps(_mm512_reduce_max_ps(m));
    /* Two float accumulators of 16 lanes: each lane sums at most n/32 terms in [0, 1]. */
    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
    for (i = 0; i + 32 <= n; i += 32) {
        const __m512 e0 = exp512(_mm512_sub_ps(_mm512_loadu_ps(x + i), maxv));
        const __m512 e1 = exp512(_mm512_sub_ps(_mm512_loadu_ps(x + i + 16), maxv));
        _mm512_storeu_ps(x + i, e0);
        _mm512_storeu_ps(x + i + 16, e1);
        s0 = _mm512_add_ps(s0, e0);
        s1 = _mm512_add_ps(s1, e1);
    }
    for (; i < n; i += 16) {
        const __mmask16 mk = n - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - i)) - 1);
        const __m512 e = _mm512_maskz_mov_ps(mk, exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(mk, x + i), maxv)));
        _mm512_mask_storeu_ps(x + i, mk, e);
        s0 = _mm512_add_ps(s0, e);
    }
    const __m512 inv = _mm512_set1_ps(1.0f / _mm512_reduce_add_ps(_mm512_add_ps(s0, s1)));
    for (i = 0; i + 16 <= n; i += 16) _mm512_storeu_ps(x + i, _mm512_mul_ps(_mm512_loadu_ps(x + i), inv));
    if (tail) _mm512_mask_storeu_ps(x + i, tail, _mm512_mul_ps(_mm512_maskz_loadu_ps(tail, x + i), inv));
}

static void v_silu_mul(int64_t n, float *g, const float *u) {
    const __m512 one = _mm512_set1_ps(1.0f);
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 mk = n - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - i)) - 1);
        const __m512 a = _mm512_maskz_loadu_ps(mk, g + i);
        const __m512 s = _mm512_div_ps(a, _mm512_add_ps(one, exp512(_mm512_sub_ps(_mm512_setzero_ps(), a))));
        _mm512_mask_storeu_ps(g + i, mk, _mm512_mul_ps(s, _mm512_maskz_loadu_ps(mk, u + i)));
    }
}

void owl_vec_ops_init_avx512(owl_vec_ops *ops) {
    ops->dot_f32 = v_dot_f32;
    ops->dot_f32_f16 = v_dot_f32_f16;
    ops->axpy_f16 = v_axpy_f16;
    ops->axpy_f32 = v_axpy_f32;
    ops->attn_scores_f16 = v_attn_scores_f16;
    ops->attn_values_f16 = v_attn_values_f16;
    ops->softmax = v_softmax;
    ops->silu_mul = v_silu_mul;
}

/* ---- Q8_0 batched product ------------------------------------------------------------------- */

/* Per activation block: its scale as float and -128·Σq, the correction for reading the weights
 * as unsigned (q + 128) in the u8×s8 products below. */
/* ---- activation quantizer ----------------------------------------------------------------- */

/* The same bytes as the scalar act_q8_0 (same float operations, same rounding). */
static void act_q8_0(const float *x, void *dst, int64_t n) {
    owl_block_q8_0 *y = dst;
    for (int64_t i = 0; i < n / 32; i++, x += 32) {
        __m512 a = _mm512_loadu_ps(x), b = _mm512_loadu_ps(x + 16);
        float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(a), _mm512_abs_ps(b)));
        const float d = amax / 127.0f, id = amax != 0 ? 127.0f / amax : 0.0f;
        y[i].d = _cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT);
        __m512 vid = _mm512_set1_ps(id);
        /* Conversion in the default rounding mode: nearest even. */
        __m512i qa = _mm512_cvtps_epi32(_mm512_mul_ps(a, vid));
        __m512i qb = _mm512_cvtps_epi32(_mm512_mul_ps(b, vid));
        _mm_storeu_si128((__m128i *)y[i].qs, _mm512_cvtepi32_epi8(qa));
        _mm_storeu_si128((__m128i *)(y[i].qs + 16), _mm512_cvtepi32_epi8(qb));
    }
}

/* The same bytes as the scalar act_q8_K: the scale comes from the first element of largest
 * magnitude (its sign included), codes rounded to nearest even and saturated. NaNs are passed
 * over by the maximum as the scalar comparison passes over them. */
static void act_q8_K(const float *x, void *dst, int64_t n) {
    owl_block_q8_K *y = dst;
    for (int64_t i = 0; i < n / 256; i++, x += 256) {
        __m512 am = _mm512_setzero_ps();
        for (int j = 0; j < 256; j += 16) am = _mm512_max_ps(_mm512_abs_ps(_mm512_loadu_ps(x + j)), am);
        const float amax = _mm512_reduce_max_ps(am);
        if (amax == 0) {
            memset(&y[i], 0, sizeof y[i]);
            continue;
        }
        float max = 0;
        for (int j = 0; j < 256; j += 16) {
            const __mmask16 hit = _mm512_cmp_ps_mask(_mm512_abs_ps(_mm512_loadu_ps(x + j)), _mm512_set1_ps(amax), _CMP_EQ_OQ);
            if (hit) {
                max = x[j + __builtin_ctz(hit)];
                break;
            }
        }
        const float iscale = -127.0f / max;
        const __m512 vs = _mm512_set1_ps(iscale);
        for (int j = 0; j < 256; j += 16) {
            const __m128i q = _mm512_cvtsepi32_epi8(_mm512_cvtps_epi32(_mm512_mul_ps(vs, _mm512_loadu_ps(x + j))));
            _mm_storeu_si128((__m128i *)(y[i].qs + j), q);
            y[i].bsums[j / 16] = (int16_t)_mm512_reduce_add_epi32(_mm512_cvtepi8_epi32(q));
        }
        y[i].d = 1.0f / iscale;
    }
}

/* ---- attention over an F16 cache ------------------------------------------------------------- */

#define ATTN_MAX_G 8   /* query heads per KV head handled in registers */
#define ATTN_MAX_V 8   /* hd / 16 */
#define ATTN_MAX_ACC 28 /* value accumulators kept in registers: g × hd / 16 */

/* Lane j of the result = the sum of the 16 lanes of v[j]: pairs are folded within 128-bit
 * lanes (unpack, then shuffle), and the four 128-bit quarters last. */
static inline __m512 sum16(const __m512 v[16]) {
    __m512 t[8], u[4];
    for (int k = 0; k < 8; k++)
        t[k] = _mm512_add_ps(_mm512_unpacklo_ps(v[2 * k], v[2 * k + 1]), _mm512_unpackhi_ps(v[2 * k], v[2 * k + 1]));
    for (int k = 0; k < 4; k++)
        u[k] = _mm512_add_ps(_mm512_shuffle_ps(t[2 * k], t[2 * k + 1], 0x44), _mm512_shuffle_ps(t[2 * k], t[2 * k + 1], 0xEE));
    /* u[k], quarter c: the sums over quarter c of v[4k..4k+3]. */
    const __m512 x01 = _mm512_add_ps(_mm512_shuffle_f32x4(u[0], u[1], 0x44), _mm512_shuffle_f32x4(u[0], u[1], 0xEE));
    const __m512 x23 = _mm512_add_ps(_mm512_shuffle_f32x4(u[2], u[3], 0x44), _mm512_shuffle_f32x4(u[2], u[3], 0xEE));
    return _mm512_add_ps(_mm512_shuffle_f32x4(x01, x23, 0x88), _mm512_shuffle_f32x4(x01, x23, 0xDD));
}

/* The bodies take the head size in vectors (nv) as a compile-time constant (heads of 64, 96 and
 * 128), so the per-position loops unroll into straight FMA chains on registers; other head
 * sizes take the plain per-position path. */
static inline __attribute__((always_inline)) void scores_body(int nv, int64_t n_pos, int g, const float *q,
                                                              const uint16_t *k, int64_t k_stride, float scale,
                                                              float *scores, int64_t s_stride) {
    /* Sixteen positions at a time: each key row is converted once for the whole group, each
     * (query, position) product is left as a vector of partial sums, and the sixteen vectors of
     * a query are then summed across their lanes together (sum16), which costs about three
     * vector operations per position instead of a full horizontal reduction each. */
    const int64_t hd = 16 * nv;
    __m512 part[ATTN_MAX_G][16];
    for (int64_t p0 = 0; p0 < n_pos; p0 += 16) {
        const int np = n_pos - p0 < 16 ? (int)(n_pos - p0) : 16;
        for (int j = 0; j < np; j++) {
            const uint16_t *kp = k + (p0 + j) * k_stride;
            __m512 kv[ATTN_MAX_V];
#pragma GCC unroll 8
            for (int c = 0; c < nv; c++) kv[c] = load_f16(kp + 16 * c);
            for (int i = 0; i < g; i++) {
                const float *qi = q + i * hd;
                /* Two chains (even and odd vectors) halve the FMA latency on the path. */
                __m512 a0 = _mm512_mul_ps(kv[0], _mm512_loadu_ps(qi));
                __m512 a1 = _mm512_mul_ps(kv[1], _mm512_loadu_ps(qi + 16));
#pragma GCC unroll 8
                for (int c = 2; c < nv; c += 2) {
                    a0 = _mm512_fmadd_ps(kv[c], _mm512_loadu_ps(qi + 16 * c), a0);
                    a1 = _mm512_fmadd_ps(kv[c + 1], _mm512_loadu_ps(qi + 16 * c + 16), a1);
                }
                part[i][j] = _mm512_add_ps(a0, a1);
            }
        }
        for (int i = 0; i < g; i++)
            for (int j = np; j < 16; j++) part[i][j] = _mm512_setzero_ps();
        const __mmask16 m = (__mmask16)((1u << np) - 1);
        for (int i = 0; i < g; i++)
            _mm512_mask_storeu_ps(scores + i * s_stride + p0, m, _mm512_mul_ps(sum16(part[i]), _mm512_set1_ps(scale)));
    }
}

static void v_attn_scores_f16(int64_t hd, int64_t n_pos, int g, const float *q, const uint16_t *k,
                              int64_t k_stride, float scale, float *scores, int64_t s_stride) {
    if (g <= ATTN_MAX_G) {
        switch (hd) {
        case 64: scores_body(4, n_pos, g, q, k, k_stride, scale, scores, s_stride); return;
        case 96: scores_body(6, n_pos, g, q, k, k_stride, scale, scores, s_stride); return;
        case 128: scores_body(8, n_pos, g, q, k, k_stride, scale, scores, s_stride); return;
        default: break;
        }
    }
    for (int i = 0; i < g; i++)
        for (int64_t p = 0; p < n_pos; p++) {
            float s;
            dot_f16(hd, &s, k + p * k_stride, q + i * hd);
            scores[i * s_stride + p] = scale * s;
        }
}

/* out[i] = Σ_p w[i][p] · v[p]: each value row converted once for the group, the g × nv
 * accumulators in registers (nv and g both constants here). */
static inline __attribute__((always_inline)) void values_body(int nv, int64_t n_pos, int g, const float *w,
                                                              int64_t w_stride, const uint16_t *v,
                                                              int64_t v_stride, float *out) {
    __m512 acc[ATTN_MAX_ACC];
#pragma GCC unroll 32
    for (int j = 0; j < g * nv; j++) acc[j] = _mm512_setzero_ps();
    for (int64_t p = 0; p < n_pos; p++) {
        const uint16_t *vp = v + p * v_stride;
        __m512 x[ATTN_MAX_V];
#pragma GCC unroll 8
        for (int c = 0; c < nv; c++) x[c] = load_f16(vp + 16 * c);
#pragma GCC unroll 8
        for (int i = 0; i < g; i++) {
            const __m512 wi = _mm512_set1_ps(w[i * w_stride + p]);
#pragma GCC unroll 8
            for (int c = 0; c < nv; c++) acc[i * nv + c] = _mm512_fmadd_ps(wi, x[c], acc[i * nv + c]);
        }
    }
#pragma GCC unroll 32
    for (int j = 0; j < g * nv; j++) _mm512_storeu_ps(out + 16 * j, acc[j]);
}

/* One body per (head size, group size) whose g × nv accumulators fit ATTN_MAX_ACC. */
#define VALUES_CASE(NV, G)                                                                         \
    case 16 * NV * 8 + G: values_body(NV, n_pos, G, w, w_stride, v, v_stride, out); return

static void v_attn_values_f16(int64_t hd, int64_t n_pos, int g, const float *w, int64_t w_stride,
                              const uint16_t *v, int64_t v_stride, float *out) {
    if (g < 8) {
        switch (hd * 8 + g) {
            VALUES_CASE(4, 1); VALUES_CASE(4, 2); VALUES_CASE(4, 3); VALUES_CASE(4, 4);
            VALUES_CASE(4, 5); VALUES_CASE(4, 6); VALUES_CASE(4, 7);
            VALUES_CASE(6, 1); VALUES_CASE(6, 2); VALUES_CASE(6, 3); VALUES_CASE(6, 4);
            VALUES_CASE(8, 1); VALUES_CASE(8, 2); VALUES_CASE(8, 3);
        default: break;
        }
    }
    for (int i = 0; i < g; i++) {
        memset(out + i * hd, 0, (size_t)hd * sizeof(float));
        for (int64_t p = 0; p < n_pos; p++) v_axpy_f16(hd, w[i * w_stride + p], v + p * v_stride, out + i * hd);
    }
}
