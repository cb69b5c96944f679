/* The attention and activation vector ops of every ISA level this CPU has, against the scalar
 * references: softmax and SiLU (whose SIMD forms use their own exp), and the grouped attention
 * kernels over an F16 cache for the head sizes and group sizes real models use, with position
 * counts on and off the 16-position tiles. */
#include "test.h"
#include "tensor/kernels.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static float rel_err(float got, float want) {
    if (isnan(want)) return isnan(got) ? 0.0f : INFINITY;
    if (isinf(want)) return got == want ? 0.0f : INFINITY;
    return fabsf(got - want) / fmaxf(fabsf(want), 1e-30f);
}

static void test_softmax(void) {
    const owl_vec_ops *s = owl_vec_ops_get(OWL_ISA_SCALAR);
    unsigned long long seed = 3;
    int levels = 0;
    for (int isa = OWL_ISA_AVX2; isa <= (int)owl_isa_best(); isa++) {
        const owl_vec_ops *v = owl_vec_ops_get((owl_isa)isa);
        levels++;
        for (int64_t n = 1; n <= 300; n += (n < 40 ? 1 : 37)) {
            float *a = malloc(n * 4), *b = malloc(n * 4);
            for (int kind = 0; kind < 4; kind++) {
                for (int64_t i = 0; i < n; i++) {
                    float r = test_rng_float(&seed);
                    /* scores of every scale, a huge spread (most terms underflow), one spike */
                    a[i] = kind == 0 ? r : kind == 1 ? 40.0f * r : kind == 2 ? 1000.0f * r : (i == n / 2 ? 80.0f : -80.0f);
                }
                memcpy(b, a, n * 4);
                s->softmax(n, a);
                v->softmax(n, b);
                float worst = 0, sum = 0;
                for (int64_t i = 0; i < n; i++) {
                    /* Entries far below the largest may differ in absolute terms only. */
                    float e = a[i] > 1e-30f ? rel_err(b[i], a[i]) : fabsf(b[i] - a[i]) * 1e30f;
                    if (e > worst) worst = e;
                    sum += b[i];
                }
                CHECKF(worst <= 4e-6f, "%s softmax n=%lld kind %d: relative error %g", owl_isa_name((owl_isa)isa), (long long)n, kind, worst);
                CHECKF(fabsf(sum - 1.0f) <= 1e-5f, "%s softmax n=%lld sums to %g", owl_isa_name((owl_isa)isa), (long long)n, sum);
            }
            free(a);
            free(b);
        }
    }
    if (!levels) SKIP("no SIMD level on this CPU");
}

static void test_silu_mul(void) {
    const owl_vec_ops *s = owl_vec_ops_get(OWL_ISA_SCALAR);
    unsigned long long seed = 9;
    int levels = 0;
    enum { N = 203 };
    for (int isa = OWL_ISA_AVX2; isa <= (int)owl_isa_best(); isa++) {
        const owl_vec_ops *v = owl_vec_ops_get((owl_isa)isa);
        levels++;
        float g0[N], g1[N], u[N];
        for (int i = 0; i < N; i++) {
            /* the whole useful range, plus saturation on both sides */
            g0[i] = g1[i] = i < 20 ? (float)(i - 10) * 12.0f : 8.0f * test_rng_float(&seed);
            u[i] = test_rng_float(&seed);
        }
        g0[0] = g1[0] = 0.0f;
        g0[1] = g1[1] = -200.0f;
        g0[2] = g1[2] = 200.0f;
        for (int64_t n = 1; n <= N; n += 29) {
            float a[N], b[N];
            memcpy(a, g0, sizeof a);
            memcpy(b, g1, sizeof b);
            s->silu_mul(n, a, u);
            v->silu_mul(n, b, u);
            for (int64_t i = 0; i < n; i++)
                CHECKF(fabsf(b[i] - a[i]) <= 4e-6f * fabsf(a[i]) + 1e-30f, "%s silu(%g) = %g, want %g",
                       owl_isa_name((owl_isa)isa), g0[i], b[i], a[i]);
            for (int64_t i = n; i < N; i++) CHECK(b[i] == g1[i]); /* nothing past n written */
        }
    }
    if (!levels) SKIP("no SIMD level on this CPU");
}

static void test_attention_shapes(void) {
    const owl_vec_ops *s = owl_vec_ops_get(OWL_ISA_SCALAR);
    int levels = 0;
    for (int isa = OWL_ISA_AVX2; isa <= (int)owl_isa_best(); isa++) {
        const owl_vec_ops *v = owl_vec_ops_get((owl_isa)isa);
        levels++;
        const int64_t hds[] = {64, 96, 128, 80, 256};
        const int64_t npos[] = {1, 15, 16, 17, 100};
        unsigned long long seed = 77;
        for (size_t hi = 0; hi < sizeof hds / sizeof *hds; hi++)
            for (int g = 1; g <= 8; g++)
                for (size_t pi = 0; pi < sizeof npos / sizeof *npos; pi++) {
                    const int64_t hd = hds[hi], n_pos = npos[pi], stride = 3 * hd, sst = n_pos + 5;
                    float *q = malloc(g * hd * 4), *kv32 = malloc(n_pos * stride * 4);
                    uint16_t *k = malloc(n_pos * stride * 2);
                    float *s0 = calloc(g * sst, 4), *s1 = calloc(g * sst, 4);
                    float *o0 = malloc(g * hd * 4), *o1 = malloc(g * hd * 4);
                    for (int64_t i = 0; i < g * hd; i++) q[i] = test_rng_float(&seed);
                    for (int64_t i = 0; i < n_pos * stride; i++) kv32[i] = 4.0f * test_rng_float(&seed);
                    s->f32_to_f16(n_pos * stride, kv32, k);
                    s->attn_scores_f16(hd, n_pos, g, q, k + hd, stride, 0.1f, s0, sst);
                    v->attn_scores_f16(hd, n_pos, g, q, k + hd, stride, 0.1f, s1, sst);
                    float worst = 0;
                    for (int64_t i = 0; i < g * sst; i++) worst = fmaxf(worst, fabsf(s0[i] - s1[i]));
                    CHECKF(worst < 1e-4f, "%s scores hd=%lld g=%d n_pos=%lld: max diff %g", owl_isa_name((owl_isa)isa),
                           (long long)hd, g, (long long)n_pos, worst);
                    for (int i = 0; i < g; i++) s->softmax(n_pos, s0 + i * sst);
                    s->attn_values_f16(hd, n_pos, g, s0, sst, k + 2 * hd, stride, o0);
                    v->attn_values_f16(hd, n_pos, g, s0, sst, k + 2 * hd, stride, o1);
                    worst = 0;
                    for (int64_t i = 0; i < g * hd; i++) worst = fmaxf(worst, fabsf(o0[i] - o1[i]));
                    CHECKF(worst < 1e-5f, "%s values hd=%lld g=%d n_pos=%lld: max diff %g", owl_isa_name((owl_isa)isa),
                           (long long)hd, g, (long long)n_pos, worst);
                    free(q); free(kv32); free(k); free(s0); free(s1); free(o0); free(o1);
                }
    }
    if (!levels) SKIP("no SIMD level on this CPU");
}

int main(void) {
    RUN(test_softmax);
    RUN(test_silu_mul);
    RUN(test_attention_shapes);
    return test_summary();
}
