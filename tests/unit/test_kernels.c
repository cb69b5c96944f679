/* Kernels: the scalar reference against a double-precision dot of the dequantized operands, and
 * every SIMD level against the scalar reference, on random and adversarial data.
 *
 * Tolerances, relative to S = Σ|w_i·x_i| (the scale of the rounding error of any summation
 * order): scalar vs dequantized double 2e-5 (float accumulation only: the integer products are
 * exact); SIMD vs scalar 1e-5 for the quantized types (same integer sums, scales applied in a
 * different order) and 1e-5 for the float types. The k-quant SIMD kernels apply the float scales
 * exactly as the scalar ones do, so for them SIMD and scalar must agree to the bit. */
#include "tensor/blocks.h"
#include "tensor/kernels.h"
#include "test.h"

#include <stdlib.h>

static const owl_type types[] = {
    OWL_TYPE_F32,  OWL_TYPE_F16,  OWL_TYPE_BF16, OWL_TYPE_Q4_0, OWL_TYPE_Q4_1,
    OWL_TYPE_Q5_0, OWL_TYPE_Q5_1, OWL_TYPE_Q8_0, OWL_TYPE_Q2_K, OWL_TYPE_Q3_K,
    OWL_TYPE_Q4_K, OWL_TYPE_Q5_K, OWL_TYPE_Q6_K,
};
#define N_TYPES (sizeof types / sizeof types[0])

static bool is_kquant(owl_type t) {
    return t == OWL_TYPE_Q2_K || t == OWL_TYPE_Q3_K || t == OWL_TYPE_Q4_K || t == OWL_TYPE_Q5_K || t == OWL_TYPE_Q6_K;
}

enum { RANDOM, SPIKY, ZERO, LARGE, N_KINDS };
static const char *kind_names[] = {"random", "spiky", "zero", "large"};

static void fill(float *v, int64_t n, int kind, unsigned long long *seed) {
    for (int64_t i = 0; i < n; i++) {
        float r = test_rng_float(seed);
        switch (kind) {
        case RANDOM: v[i] = r; break;
        case SPIKY: v[i] = (i % 97 == 3) ? 50.0f * r : 0.01f * r; break; /* outliers per block */
        case ZERO: v[i] = (i / 32) % 2 ? 0.0f : r; break;                /* whole zero blocks */
        case LARGE: v[i] = 3000.0f * r; break;
        }
    }
}

typedef struct operands {
    void *w, *a;
    float *wf, *af; /* dequantized */
} operands;

static int prepare(const owl_kernel *k, owl_type t, int64_t n, int kind, unsigned long long seed,
                   operands *o) {
    float *w = malloc((size_t)n * 4), *x = malloc((size_t)n * 4);
    fill(w, n, kind, &seed);
    fill(x, n, kind == ZERO ? RANDOM : kind, &seed);
    o->w = calloc(1, owl_row_size(t, n));
    o->a = calloc(1, owl_row_size(k->act_type, n));
    o->wf = malloc((size_t)n * 4);
    o->af = malloc((size_t)n * 4);
    owl_quantize_row(t, w, o->w, n, NULL);
    k->quantize_act(x, o->a, n);
    owl_dequantize_row(t, o->w, o->wf, n);
    owl_dequantize_row(k->act_type, o->a, o->af, n);
    free(w);
    free(x);
    return 0;
}

static void release(operands *o) {
    free(o->w);
    free(o->a);
    free(o->wf);
    free(o->af);
}

/* Q8_1 stores d·Σq rounded to f16, so the min term of Q4_1/Q5_1 carries that rounding (as in
 * ggml): allow |m|·|s|·2^-11 per block on top of the summation error. */
static double q8_1_sum_error(const owl_kernel *k, owl_type t, int64_t n, const operands *o) {
    if (k->act_type != OWL_TYPE_Q8_1) return 0;
    const size_t wsz = owl_type_get(t)->type_size, asz = owl_type_get(OWL_TYPE_Q8_1)->type_size;
    double e = 0;
    for (int64_t b = 0; b < n / 32; b++) {
        uint16_t m, sh;
        memcpy(&m, (const char *)o->w + b * wsz + 2, 2);
        memcpy(&sh, (const char *)o->a + b * asz + 2, 2);
        e += fabs((double)owl_f16_to_f32(m) * owl_f16_to_f32(sh)) / 2048.0;
    }
    return e;
}

static void test_scalar_vs_dequantized(void) {
    const int64_t sizes[] = {256, 512, 2048};
    for (size_t ti = 0; ti < N_TYPES; ti++) {
        const owl_kernel *k = owl_kernel_get(types[ti], OWL_ISA_SCALAR);
        REQUIRE(k);
        for (size_t si = 0; si < 3; si++)
            for (int kind = 0; kind < N_KINDS; kind++) {
                const int64_t n = sizes[si];
                operands o;
                prepare(k, types[ti], n, kind, 1000 + si * 10 + kind, &o);
                double ref = 0, scale = 0;
                for (int64_t i = 0; i < n; i++) {
                    ref += (double)o.wf[i] * o.af[i];
                    scale += fabs((double)o.wf[i] * o.af[i]);
                }
                float got;
                k->dot(n, &got, o.w, o.a);
                double tol = 2e-5 * scale + 1e-30 + q8_1_sum_error(k, types[ti], n, &o);
                CHECKF(fabs(got - ref) <= tol, "%s n=%lld %s: %g vs %g (scale %g)",
                       owl_type_name(types[ti]), (long long)n, kind_names[kind], got, ref, scale);
                release(&o);
            }
    }
}

static void check_isa(owl_isa isa) {
    if (owl_isa_best() < isa) SKIP("this CPU has no %s", owl_isa_name(isa));
    const int64_t sizes[] = {256, 768, 4096};
    for (size_t ti = 0; ti < N_TYPES; ti++) {
        const owl_kernel *ks = owl_kernel_get(types[ti], OWL_ISA_SCALAR);
        const owl_kernel *kv = owl_kernel_get(types[ti], isa);
        REQUIRE(ks && kv);
        CHECK_EQ_INT(ks->act_type, kv->act_type);
        for (size_t si = 0; si < 3; si++)
            for (int kind = 0; kind < N_KINDS; kind++) {
                const int64_t n = sizes[si];
                operands o;
                prepare(ks, types[ti], n, kind, 2000 + si * 10 + kind, &o);
                double scale = 0;
                for (int64_t i = 0; i < n; i++) scale += fabs((double)o.wf[i] * o.af[i]);
                float ref, got;
                ks->dot(n, &ref, o.w, o.a);
                kv->dot(n, &got, o.w, o.a);
                CHECKF(fabs(got - ref) <= 1e-5 * scale + 1e-30, "%s %s n=%lld %s: %.9g vs %.9g",
                       owl_isa_name(isa), owl_type_name(types[ti]), (long long)n, kind_names[kind], got, ref);
                if (is_kquant(types[ti]))
                    CHECKF(memcmp(&got, &ref, sizeof got) == 0, "%s %s n=%lld %s: %.9g is not the scalar %.9g",
                           owl_isa_name(isa), owl_type_name(types[ti]), (long long)n, kind_names[kind], got, ref);
                release(&o);
            }
        /* Odd block counts for the 32-element types (kernels that take blocks in pairs). */
        if (owl_type_get(types[ti])->block_size == 32) {
            const int64_t odd[] = {32, 96, 800};
            for (size_t oi = 0; oi < 3; oi++) {
                const int64_t n = odd[oi];
                operands o;
                prepare(ks, types[ti], n, SPIKY, 300 + oi, &o);
                double scale = 0;
                for (int64_t i = 0; i < n; i++) scale += fabs((double)o.wf[i] * o.af[i]);
                float ref, got;
                ks->dot(n, &ref, o.w, o.a);
                kv->dot(n, &got, o.w, o.a);
                CHECKF(fabs(got - ref) <= 1e-5 * scale + 1e-30, "%s %s n=%lld (odd blocks): %.9g vs %.9g",
                       owl_isa_name(isa), owl_type_name(types[ti]), (long long)n, got, ref);
                release(&o);
            }
        }
        /* Odd lengths for the float types (tails). */
        if (types[ti] == OWL_TYPE_F32 || types[ti] == OWL_TYPE_F16 || types[ti] == OWL_TYPE_BF16) {
            for (int64_t n = 1; n < 70; n += 3) {
                operands o;
                prepare(ks, types[ti], n, RANDOM, 77 + (unsigned long long)n, &o);
                float ref, got;
                ks->dot(n, &ref, o.w, o.a);
                kv->dot(n, &got, o.w, o.a);
                CHECKF(fabsf(got - ref) <= 1e-5f * (float)n, "%s %s tail n=%lld: %g vs %g", owl_isa_name(isa),
                       owl_type_name(types[ti]), (long long)n, got, ref);
                release(&o);
            }
        }
    }
}

/* Random bytes as blocks (every code pattern), with sane f16 scales. */
static void check_random_bytes(owl_isa isa) {
    if (owl_isa_best() < isa) SKIP("this CPU has no %s", owl_isa_name(isa));
    unsigned long long seed = 99;
    for (size_t ti = 0; ti < N_TYPES; ti++) {
        owl_type t = types[ti];
        if (t == OWL_TYPE_F32 || t == OWL_TYPE_F16 || t == OWL_TYPE_BF16) continue;
        const owl_kernel *ks = owl_kernel_get(t, OWL_ISA_SCALAR), *kv = owl_kernel_get(t, isa);
        const int64_t n = 1024;
        size_t wb = owl_row_size(t, n);
        unsigned char *w = malloc(wb);
        for (size_t i = 0; i < wb; i++) w[i] = (unsigned char)test_rng_next(&seed);
        /* Overwrite the f16 scale fields with small finite values: they sit at fixed offsets. */
        const owl_type_info *ti_ = owl_type_get(t);
        size_t bs = ti_->type_size;
        for (size_t b = 0; b < wb / bs; b++) {
            unsigned char *blk = w + b * bs;
            uint16_t h = owl_f32_to_f16(0.01f + 0.001f * (float)(b % 7));
            switch (t) {
            case OWL_TYPE_Q2_K: memcpy(blk + 80, &h, 2); memcpy(blk + 82, &h, 2); break;
            case OWL_TYPE_Q3_K: memcpy(blk + 108, &h, 2); break;
            case OWL_TYPE_Q6_K: memcpy(blk + 208, &h, 2); break;
            case OWL_TYPE_Q4_K: case OWL_TYPE_Q5_K: memcpy(blk, &h, 2); memcpy(blk + 2, &h, 2); break;
            case OWL_TYPE_Q4_1: case OWL_TYPE_Q5_1: memcpy(blk, &h, 2); memcpy(blk + 2, &h, 2); break;
            default: memcpy(blk, &h, 2); break;
            }
        }
        float *x = malloc((size_t)n * 4), *wf = malloc((size_t)n * 4), *af = malloc((size_t)n * 4);
        fill(x, n, RANDOM, &seed);
        void *a = calloc(1, owl_row_size(ks->act_type, n));
        ks->quantize_act(x, a, n);
        owl_dequantize_row(t, w, wf, n);
        owl_dequantize_row(ks->act_type, a, af, n);
        double ref_d = 0, scale = 0;
        for (int64_t i = 0; i < n; i++) {
            ref_d += (double)wf[i] * af[i];
            scale += fabs((double)wf[i] * af[i]);
        }
        float ref, got;
        ks->dot(n, &ref, w, a);
        kv->dot(n, &got, w, a);
        CHECKF(fabs(ref - ref_d) <= 2e-5 * scale, "scalar %s random bytes: %g vs %g", owl_type_name(t), ref, ref_d);
        CHECKF(fabs(got - ref) <= 1e-5 * scale, "%s %s random bytes: %g vs %g", owl_isa_name(isa), owl_type_name(t), got, ref);
        free(w);
        free(x);
        free(wf);
        free(af);
        free(a);
    }
}

/* ---- adversarial blocks ------------------------------------------------------------------------
 * Weight blocks built byte by byte: every code at its maximum or zero, alternating and random bit
 * patterns, scale bytes all ones or all zeros, and f16 super-scales at the extremes (largest
 * finite, negative, subnormal, zero); activations built byte by byte too, at ±127 (and -128 for
 * Q8_K, whose kernels read the activations as the signed side of u8×s8 products). Every SIMD level
 * must match the scalar reference: to the bit for the k-quants, within 1e-5 of the magnitude of the
 * summed terms for the 32-element types. */

/* Sets the f16 scale (d) and min/dmin (m) fields of one weight block, wherever the type keeps them. */
static void set_block_scales(owl_type t, void *blk, uint16_t d, uint16_t m) {
    switch (t) {
    case OWL_TYPE_Q4_0: ((owl_block_q4_0 *)blk)->d = d; break;
    case OWL_TYPE_Q5_0: ((owl_block_q5_0 *)blk)->d = d; break;
    case OWL_TYPE_Q8_0: ((owl_block_q8_0 *)blk)->d = d; break;
    case OWL_TYPE_Q4_1: ((owl_block_q4_1 *)blk)->d = d; ((owl_block_q4_1 *)blk)->m = m; break;
    case OWL_TYPE_Q5_1: ((owl_block_q5_1 *)blk)->d = d; ((owl_block_q5_1 *)blk)->m = m; break;
    case OWL_TYPE_Q2_K: ((owl_block_q2_K *)blk)->d = d; ((owl_block_q2_K *)blk)->dmin = m; break;
    case OWL_TYPE_Q3_K: ((owl_block_q3_K *)blk)->d = d; break;
    case OWL_TYPE_Q4_K: ((owl_block_q4_K *)blk)->d = d; ((owl_block_q4_K *)blk)->dmin = m; break;
    case OWL_TYPE_Q5_K: ((owl_block_q5_K *)blk)->d = d; ((owl_block_q5_K *)blk)->dmin = m; break;
    case OWL_TYPE_Q6_K: ((owl_block_q6_K *)blk)->d = d; break;
    default: break;
    }
}

/* The sub-block scale bytes of the k-quants (the 32-element types have none). */
static uint8_t *block_scale_bytes(owl_type t, void *blk, size_t *len) {
    switch (t) {
    case OWL_TYPE_Q2_K: *len = 16; return ((owl_block_q2_K *)blk)->scales;
    case OWL_TYPE_Q3_K: *len = 12; return ((owl_block_q3_K *)blk)->scales;
    case OWL_TYPE_Q4_K: *len = 12; return ((owl_block_q4_K *)blk)->scales;
    case OWL_TYPE_Q5_K: *len = 12; return ((owl_block_q5_K *)blk)->scales;
    case OWL_TYPE_Q6_K: *len = 16; return (uint8_t *)((owl_block_q6_K *)blk)->scales;
    default: *len = 0; return NULL;
    }
}

enum { CODES_MAX, CODES_ZERO, CODES_ALT, CODES_RANDOM, N_CODE_PATTERNS };
enum { SCALES_KEEP, SCALES_ONES, SCALES_ZERO, N_SCALE_PATTERNS };
enum { ACT_MAX, ACT_MIN, ACT_ALT, ACT_RANDOM, N_ACT_PATTERNS };

/* n activations of pattern p in the activation format `at`, with consistent per-block sums. */
static void build_act(owl_type at, void *dst, int64_t n, int p, unsigned long long *seed) {
    const int lowest = at == OWL_TYPE_Q8_K ? -128 : -127;
    int8_t q[256];
    for (int64_t i0 = 0; i0 < n; i0 += at == OWL_TYPE_Q8_K ? 256 : 32) {
        const int len = at == OWL_TYPE_Q8_K ? 256 : 32;
        for (int j = 0; j < len; j++) {
            int v = p == ACT_MAX ? 127 : p == ACT_MIN ? lowest : p == ACT_ALT ? (j % 2 ? 127 : lowest)
                                                                  : (int)(test_rng_next(seed) % 256) - 128;
            if (v < lowest) v = lowest;
            q[j] = (int8_t)v;
        }
        int sum = 0;
        for (int j = 0; j < len; j++) sum += q[j];
        if (at == OWL_TYPE_Q8_K) {
            owl_block_q8_K *b = (owl_block_q8_K *)dst + i0 / 256;
            b->d = p == ACT_RANDOM ? 1e-3f : 0.5f;
            memcpy(b->qs, q, 256);
            for (int g = 0; g < 16; g++) {
                int gs = 0;
                for (int l = 0; l < 16; l++) gs += q[16 * g + l];
                b->bsums[g] = (int16_t)gs;
            }
        } else if (at == OWL_TYPE_Q8_1) {
            owl_block_q8_1 *b = (owl_block_q8_1 *)dst + i0 / 32;
            b->d = owl_f32_to_f16(0.5f);
            b->s = owl_f32_to_f16(0.5f * (float)sum);
            memcpy(b->qs, q, 32);
        } else {
            owl_block_q8_0 *b = (owl_block_q8_0 *)dst + i0 / 32;
            b->d = owl_f32_to_f16(0.5f);
            memcpy(b->qs, q, 32);
        }
    }
}

/* Σ|terms| the float sum is made of: |w·x| per element, plus for the affine 32-element types the
 * min term |m·x| per element, which the kernels add separately (and may cancel against the rest). */
static double term_magnitude(owl_type t, const void *w, const float *wf, const float *af, int64_t n) {
    double mag = 0;
    for (int64_t i = 0; i < n; i++) mag += fabs((double)wf[i] * af[i]);
    if (t == OWL_TYPE_Q4_1 || t == OWL_TYPE_Q5_1) {
        const size_t bs = owl_type_get(t)->type_size;
        for (int64_t i = 0; i < n; i++) {
            uint16_t m;
            memcpy(&m, (const char *)w + (size_t)(i / 32) * bs + 2, 2);
            mag += fabs((double)owl_f16_to_f32(m) * af[i]);
        }
    }
    return mag;
}

static void check_adversarial(owl_isa isa) {
    if (owl_isa_best() < isa) SKIP("this CPU has no %s", owl_isa_name(isa));
    /* f16 bit patterns: largest finite, its negative, smallest subnormal, zero, one. */
    const uint16_t ds[] = {0x7bff, 0xfbff, 0x0001, 0x0000, 0x3c00};
    const int n_ds = (int)(sizeof ds / sizeof ds[0]);
    const int64_t n = 512;
    unsigned long long seed = 4242;
    int checked = 0;
    for (size_t ti = 0; ti < N_TYPES; ti++) {
        const owl_type t = types[ti];
        if (t == OWL_TYPE_F32 || t == OWL_TYPE_F16 || t == OWL_TYPE_BF16) continue;
        const owl_kernel *ks = owl_kernel_get(t, OWL_ISA_SCALAR), *kv = owl_kernel_get(t, isa);
        REQUIRE(ks && kv);
        const size_t bs = owl_type_get(t)->type_size, wb = owl_row_size(t, n);
        unsigned char *w = malloc(wb), *a = calloc(1, owl_row_size(ks->act_type, n));
        float *wf = malloc((size_t)n * 4), *af = malloc((size_t)n * 4);
        for (int cp = 0; cp < N_CODE_PATTERNS; cp++)
            for (int sp = 0; sp < N_SCALE_PATTERNS; sp++)
                for (int di = 0; di < n_ds; di++)
                    for (int ap = 0; ap < N_ACT_PATTERNS; ap++) {
                        for (size_t i = 0; i < wb; i++)
                            w[i] = cp == CODES_MAX ? 0xFF : cp == CODES_ZERO ? 0x00 : cp == CODES_ALT ? (i % 2 ? 0xAA : 0x55)
                                                                                      : (unsigned char)test_rng_next(&seed);
                        for (size_t b = 0; b < wb / bs; b++) {
                            unsigned char *blk = w + b * bs;
                            size_t len;
                            uint8_t *sc = block_scale_bytes(t, blk, &len);
                            if (sc && sp != SCALES_KEEP) memset(sc, sp == SCALES_ONES ? 0xFF : 0x00, len);
                            /* The min takes the next extreme, so d and m differ in sign and size. */
                            set_block_scales(t, blk, ds[di], ds[(di + 1 + b) % (size_t)n_ds]);
                        }
                        build_act(ks->act_type, a, n, ap, &seed);
                        owl_dequantize_row(t, w, wf, n);
                        owl_dequantize_row(ks->act_type, a, af, n);
                        float ref, got;
                        ks->dot(n, &ref, w, a);
                        kv->dot(n, &got, w, a);
                        checked++;
                        if (is_kquant(t)) {
                            CHECKF(memcmp(&ref, &got, sizeof ref) == 0,
                                   "%s %s codes %d scales %d d 0x%04x act %d: %.9g vs scalar %.9g", owl_isa_name(isa),
                                   owl_type_name(t), cp, sp, ds[di], ap, got, ref);
                        } else {
                            const double tol = 1e-5 * term_magnitude(t, w, wf, af, n) + 1e-30 +
                                               q8_1_sum_error(ks, t, n, &(operands){.w = w, .a = a});
                            CHECKF(isfinite(got) && fabs((double)got - ref) <= tol,
                                   "%s %s codes %d d 0x%04x act %d: %.9g vs scalar %.9g (tol %g)", owl_isa_name(isa),
                                   owl_type_name(t), cp, ds[di], ap, got, ref, tol);
                        }
                    }
        free(w);
        free(a);
        free(wf);
        free(af);
    }
    CHECK(checked > 0);
}

static void test_adversarial_avx2(void) { check_adversarial(OWL_ISA_AVX2); }
static void test_adversarial_avx512(void) { check_adversarial(OWL_ISA_AVX512); }

static void test_avx2(void) { check_isa(OWL_ISA_AVX2); }
static void test_avx512(void) { check_isa(OWL_ISA_AVX512); }
static void test_random_bytes_scalar(void) { check_random_bytes(OWL_ISA_SCALAR); }
static void test_random_bytes_avx2(void) { check_random_bytes(OWL_ISA_AVX2); }
static void test_random_bytes_avx512(void) { check_random_bytes(OWL_ISA_AVX512); }

static void test_vec_ops(void) {
    unsigned long long seed = 5;
    enum { N = 77 };
    float a[N], b[N], y0[N], y1[N];
    uint16_t h[N], h2[N];
    for (int i = 0; i < N; i++) {
        a[i] = test_rng_float(&seed);
        b[i] = test_rng_float(&seed);
        y0[i] = y1[i] = test_rng_float(&seed);
    }
    const owl_vec_ops *s = owl_vec_ops_get(OWL_ISA_SCALAR), *v = owl_vec_ops_get(owl_isa_best());
    s->f32_to_f16(N, a, h);
    v->f32_to_f16(N, a, h2);
    CHECK(memcmp(h, h2, sizeof h) == 0);
    CHECK(fabsf(s->dot_f32(N, a, b) - v->dot_f32(N, a, b)) < 1e-4f);
    CHECK(fabsf(s->dot_f32_f16(N, a, h) - v->dot_f32_f16(N, a, h)) < 1e-4f);
    s->axpy_f16(N, 0.7f, h, y0);
    v->axpy_f16(N, 0.7f, h, y1);
    for (int i = 0; i < N; i++) CHECK(fabsf(y0[i] - y1[i]) < 1e-5f);
    s->axpy_f32(N, -1.3f, b, y0);
    v->axpy_f32(N, -1.3f, b, y1);
    for (int i = 0; i < N; i++) CHECK(fabsf(y0[i] - y1[i]) < 1e-5f);
}

/* Activation quantizers: every ISA level writes the bytes of the scalar one, and those differ
 * from the reference quantizer (round half away, 1/d) by at most one code (ties) with the same
 * scale. */
static void test_act_quantizers(void) {
    const owl_type wt[] = {OWL_TYPE_Q8_0, OWL_TYPE_Q4_1, OWL_TYPE_Q4_K, OWL_TYPE_BF16};
    unsigned long long seed = 11;
    for (size_t i = 0; i < 4; i++)
        for (owl_isa isa = OWL_ISA_SCALAR; isa <= owl_isa_best(); isa++)
        for (int kind = 0; kind < N_KINDS; kind++) {
            const owl_kernel *k = owl_kernel_get(wt[i], isa);
            const int64_t n = 1024;
            float x[1024];
            fill(x, n, kind, &seed);
            /* Exact halves, to pin the rounding direction. */
            for (int j = 0; j < 64; j++) x[j] = (float)(j - 32) * 0.5f;
            size_t nb = owl_row_size(k->act_type, n);
            unsigned char *a = calloc(1, nb), *b = calloc(1, nb), *c = calloc(1, nb);
            k->quantize_act(x, a, n);
            owl_kernel_get(wt[i], OWL_ISA_SCALAR)->quantize_act(x, c, n);
            CHECKF(memcmp(a, c, nb) == 0, "%s %s activations (%s data) differ from the scalar ones",
                   owl_isa_name(isa), owl_type_name(k->act_type), kind_names[kind]);
            owl_quantize_row(k->act_type, x, b, n, NULL);
            float *fa = malloc(n * 4), *fb = malloc(n * 4);
            owl_dequantize_row(k->act_type, a, fa, n);
            owl_dequantize_row(k->act_type, b, fb, n);
            int off = 0;
            for (int64_t j = 0; j < n; j++) off += fa[j] != fb[j];
            CHECKF(off <= n / 8, "%s %s: %d of %lld codes differ from the reference", owl_isa_name(isa),
                   owl_type_name(k->act_type), off, (long long)n);
            free(fa);
            free(fb);
            free(a);
            free(b);
            free(c);
        }
}

/* Q8_K takes its scale from the first element of largest magnitude, sign included: blocks where
 * +m and -m both occur (either first, in the same or in different groups of 16) must give the
 * scalar bytes at every level. */
static void test_act_q8_K_ties(void) {
    enum { N = 1024 };
    float x[N];
    unsigned long long seed = 77;
    for (int i = 0; i < N; i++) x[i] = 0.5f * test_rng_float(&seed);
    const int first[4] = {3, 300, 517, 900}, second[4] = {7, 400, 520, 1000};
    for (int b = 0; b < 4; b++) {
        x[first[b]] = b % 2 ? 1.5f : -1.5f;
        x[second[b]] = b % 2 ? -1.5f : 1.5f;
    }
    const owl_kernel *ks = owl_kernel_get(OWL_TYPE_Q4_K, OWL_ISA_SCALAR);
    const size_t nb = owl_row_size(OWL_TYPE_Q8_K, N);
    unsigned char *ref = calloc(1, nb), *got = calloc(1, nb);
    ks->quantize_act(x, ref, N);
    for (owl_isa isa = OWL_ISA_AVX2; isa <= owl_isa_best(); isa++) {
        memset(got, 0xAA, nb);
        owl_kernel_get(OWL_TYPE_Q4_K, isa)->quantize_act(x, got, N);
        CHECKF(memcmp(ref, got, nb) == 0, "%s q8_K activations with tied maxima differ from the scalar ones", owl_isa_name(isa));
    }
    /* The sign of the first maximum decides the sign of d. */
    const owl_block_q8_K *blk = (const owl_block_q8_K *)ref;
    CHECK(blk[0].d > 0 && blk[1].d < 0);
    free(ref);
    free(got);
}

/* Batched kernels (gemm) against the row-by-row dot kernel on the same operands. */
static void test_gemm(void) {
    int tested = 0;
    for (size_t ti = 0; ti < N_TYPES; ti++) {
        const owl_kernel *k = owl_kernel_get(types[ti], owl_isa_best());
        if (!k->gemm) continue;
        tested++;
        /* 2304 elements: more than one span of the q8_0-family tiles; 100 (float types only): a
         * partial last step. */
        const bool is_float = types[ti] == OWL_TYPE_F32 || types[ti] == OWL_TYPE_F16 || types[ti] == OWL_TYPE_BF16;
        const int64_t ns[] = {768, 2304, 100};
        for (int ni = 0; ni < (is_float ? 3 : 2); ni++) {
        const int64_t n = ns[ni];
        const int64_t rows = 24, n_tok = 15; /* 8 + 4 + 2 + 1: every token loop of the kernels */
        unsigned long long seed = 500 + ti;
        size_t rb = owl_row_size(types[ti], n), ab = owl_row_size(k->act_type, n);
        size_t xb = owl_kernel_aux_size(k, n);
        char *w = malloc(rb * rows), *act = malloc(ab * n_tok), *aux = malloc(xb * n_tok);
        float *row = malloc(n * 4), *y = malloc(rows * n_tok * 4);
        for (int64_t r = 0; r < rows; r++) {
            fill(row, n, r % 3 == 0 ? SPIKY : RANDOM, &seed);
            owl_quantize_row(types[ti], row, w + r * rb, n, NULL);
        }
        for (int64_t t = 0; t < n_tok; t++) {
            fill(row, n, t % 2 ? LARGE : RANDOM, &seed);
            k->quantize_act(row, act + t * ab, n);
            k->gemm_prep(n, act + t * ab, aux + t * xb);
        }
        k->gemm(n, rows, w, rb, act, ab, aux, n_tok, y, rows);
        float *wf = malloc(n * 4), *af = malloc(n * 4);
        for (int64_t t = 0; t < n_tok; t++)
            for (int64_t r = 0; r < rows; r++) {
                float ref;
                k->dot(n, &ref, w + r * rb, act + t * ab);
                float got = y[t * rows + r];
                /* Same integer sums, float scales applied in another order: 1e-5 of Σ|w·x|. */
                owl_dequantize_row(types[ti], w + r * rb, wf, n);
                owl_dequantize_row(k->act_type, act + t * ab, af, n);
                double scale = 0;
                for (int64_t i = 0; i < n; i++) scale += fabs((double)wf[i] * af[i]);
                CHECKF(fabs(got - ref) <= 1e-5 * scale + 1e-6, "%s gemm t=%lld r=%lld: %g vs %g",
                       owl_type_name(types[ti]), (long long)t, (long long)r, got, ref);
            }
        free(wf);
        free(af);
        free(w);
        free(act);
        free(aux);
        free(row);
        free(y);
        }
    }
    if (!tested) SKIP("no gemm kernel on this CPU");
}

/* Grouped attention kernels against the scalar ones (F16 cache). */
static void test_attention_ops(void) {
    const owl_vec_ops *s = owl_vec_ops_get(OWL_ISA_SCALAR), *v = owl_vec_ops_get(owl_isa_best());
    const int64_t hds[] = {64, 128, 8, 80};
    unsigned long long seed = 31;
    for (size_t hi = 0; hi < 4; hi++)
        for (int g = 1; g <= 7; g += 2) {
            const int64_t hd = hds[hi], n_pos = 37, stride = hd * 2 + 16, sst = 40;
            float *q = malloc(g * hd * 4), *kv32 = malloc(n_pos * stride * 4);
            uint16_t *k = malloc(n_pos * stride * 2);
            float *s0 = calloc(g * sst, 4), *s1 = calloc(g * sst, 4), *o0 = malloc(g * hd * 4), *o1 = malloc(g * hd * 4);
            for (int64_t i = 0; i < g * hd; i++) q[i] = test_rng_float(&seed);
            for (int64_t i = 0; i < n_pos * stride; i++) kv32[i] = test_rng_float(&seed);
            s->f32_to_f16(n_pos * stride, kv32, k);
            s->attn_scores_f16(hd, n_pos, g, q, k, stride, 0.125f, s0, sst);
            v->attn_scores_f16(hd, n_pos, g, q, k, stride, 0.125f, s1, sst);
            for (int64_t i = 0; i < g * sst; i++) CHECKF(fabsf(s0[i] - s1[i]) < 1e-4f, "scores hd=%lld g=%d", (long long)hd, g);
            s->attn_values_f16(hd, n_pos, g, s0, sst, k + hd, stride, o0);
            v->attn_values_f16(hd, n_pos, g, s0, sst, k + hd, stride, o1);
            for (int64_t i = 0; i < g * hd; i++) CHECKF(fabsf(o0[i] - o1[i]) < 1e-4f, "values hd=%lld g=%d", (long long)hd, g);
            free(q); free(kv32); free(k); free(s0); free(s1); free(o0); free(o1);
        }
}

int main(void) {
    RUN(test_attention_ops);
    RUN(test_gemm);
    RUN(test_act_quantizers);
    RUN(test_act_q8_K_ties);
    RUN(test_scalar_vs_dequantized);
    RUN(test_avx2);
    RUN(test_avx512);
    RUN(test_random_bytes_scalar);
    RUN(test_random_bytes_avx2);
    RUN(test_random_bytes_avx512);
    RUN(test_adversarial_avx2);
    RUN(test_adversarial_avx512);
    RUN(test_vec_ops);
    return test_summary();
}
