/* Tests of owl_quantize_row (src/tensor/quantize.c, quantize_k.c): bytes written, error levels
 * per type on Gaussian-like data, degenerate rows, stability, importance weights, and digests of
 * ggml's quantizer output for the same data (owl's files must match llama.cpp's byte for byte). */
#include "owl/tensor.h"
#include "test.h"

#include <stdint.h>

enum { ROWS = 64, COLS = 4096 };

/* The quantizable types, from the most to the least precise. */
static const owl_type all_types[] = {
    OWL_TYPE_F32,  OWL_TYPE_F16,  OWL_TYPE_BF16, OWL_TYPE_Q8_0, OWL_TYPE_Q8_1, OWL_TYPE_Q8_K,
    OWL_TYPE_Q6_K, OWL_TYPE_Q5_K, OWL_TYPE_Q5_1, OWL_TYPE_Q5_0, OWL_TYPE_Q4_K, OWL_TYPE_Q4_1,
    OWL_TYPE_Q4_0, OWL_TYPE_Q3_K, OWL_TYPE_Q2_K,
};
#define NTYPES (sizeof all_types / sizeof all_types[0])

/* Approximately normal (sum of 12 uniforms, sigma 1), deterministic on every platform. */
static float gauss(unsigned long long *s) {
    float a = 0;
    for (int i = 0; i < 12; i++) a += test_rng_float(s);
    return a * 0.5f;
}

/* Row r of the test matrix: Gaussian-like with a per-row scale, like a weight matrix. */
static void make_row(float *x, int n, int r) {
    unsigned long long s = 0x5EED0000ULL + (unsigned long long)r;
    const float scale = 0.02f * (float)(1 + r % 4);
    for (int i = 0; i < n; i++) x[i] = gauss(&s) * scale;
}

/* Importance weights for row r: positive, uneven (some columns matter much more). */
static void make_weights(float *w, int n, int r) {
    unsigned long long s = 0xFEED0000ULL + (unsigned long long)r;
    for (int i = 0; i < n; i++) {
        float u = test_rng_float(&s);
        w[i] = 0.05f + u * u * ((i % 7 == 0) ? 20.0f : 1.0f);
    }
}

static uint8_t qbuf[COLS * 4 + 64];
static float xrow[COLS], yrow[COLS], wrow[COLS];

static void test_bytes_written(void) {
    for (size_t k = 0; k < NTYPES; k++) {
        owl_type t = all_types[k];
        make_row(xrow, 512, 0);
        memset(qbuf, 0xEE, sizeof qbuf);
        size_t want = owl_row_size(t, 512);
        CHECKF(owl_quantize_row(t, xrow, qbuf, 512, NULL) == want, "%s", owl_type_name(t));
        CHECKF(qbuf[want] == 0xEE, "%s wrote past the row", owl_type_name(t));
        CHECKF(owl_quantize_row(t, xrow, qbuf, 512, xrow) == want, "%s", owl_type_name(t));
    }
    /* Not quantizable, or not a whole number of blocks: nothing written. */
    CHECK_EQ_INT(owl_quantize_row(OWL_TYPE_IQ2_XXS, xrow, qbuf, 256, NULL), 0);
    CHECK_EQ_INT(owl_quantize_row((owl_type)4, xrow, qbuf, 256, NULL), 0);
    CHECK_EQ_INT(owl_quantize_row(OWL_TYPE_Q4_K, xrow, qbuf, 300, NULL), 0);
    CHECK_EQ_INT(owl_quantize_row(OWL_TYPE_Q4_0, xrow, qbuf, 33, NULL), 0);
    CHECK_EQ_INT(owl_quantize_row(OWL_TYPE_Q4_0, xrow, qbuf, 0, NULL), 0);
}

/* Relative RMSE over the whole matrix: sqrt(sum (x - y)^2 / sum x^2). With `weights`, both the
 * quantizer and the error use them. */
static double matrix_rel_rmse(owl_type t, bool weighted) {
    double err = 0, ref = 0;
    for (int r = 0; r < ROWS; r++) {
        make_row(xrow, COLS, r);
        if (weighted) make_weights(wrow, COLS, r);
        owl_quantize_row(t, xrow, qbuf, COLS, weighted ? wrow : NULL);
        owl_dequantize_row(t, qbuf, yrow, COLS);
        for (int i = 0; i < COLS; i++) {
            double w = weighted ? wrow[i] : 1.0;
            double d = (double)xrow[i] - yrow[i];
            err += w * d * d;
            ref += w * (double)xrow[i] * xrow[i];
        }
    }
    return sqrt(err / ref);
}

/* Measured relative RMSE on this data (64 rows x 4096, Gaussian-like, sigma 0.02..0.08):
 *   f16 0.000208   q8_0 0.00528   q6_K 0.0176   q5_K 0.0359   q5_1 0.0376   q5_0 0.0421
 *   q4_K 0.0708    q4_1 0.0777    q4_0 0.0851   q3_K 0.150    q2_K 0.293
 *   (bf16 0.00166, q8_1 = q8_0, q8_K 0.00679: one scale per 256 values)
 * The quantizers match ggml's byte for byte (test_ggml_digests), so these are ggml's numbers
 * too. Each range brackets the measurement by +-20%: tight enough to catch a broken search,
 * loose enough for harmless changes. */
static const struct {
    owl_type type;
    double lo, hi;
} rmse_range[] = {
    {OWL_TYPE_F16, 0.000166, 0.00025}, {OWL_TYPE_BF16, 0.00133, 0.00199},
    {OWL_TYPE_Q8_0, 0.00422, 0.00633}, {OWL_TYPE_Q8_1, 0.00422, 0.00633},
    {OWL_TYPE_Q8_K, 0.00543, 0.00815}, {OWL_TYPE_Q6_K, 0.0141, 0.0211},
    {OWL_TYPE_Q5_K, 0.0287, 0.043}, {OWL_TYPE_Q5_1, 0.0301, 0.0452},
    {OWL_TYPE_Q5_0, 0.0337, 0.0505}, {OWL_TYPE_Q4_K, 0.0566, 0.085},
    {OWL_TYPE_Q4_1, 0.0622, 0.0933}, {OWL_TYPE_Q4_0, 0.068, 0.102}, {OWL_TYPE_Q3_K, 0.12, 0.18},
    {OWL_TYPE_Q2_K, 0.234, 0.352},
};

static double measured[OWL_TYPE_COUNT];

static void test_rmse_ranges(void) {
    for (size_t k = 0; k < sizeof rmse_range / sizeof rmse_range[0]; k++) {
        owl_type t = rmse_range[k].type;
        double e = matrix_rel_rmse(t, false);
        measured[t] = e;
        printf("  %-5s relative rmse %.6f\n", owl_type_name(t), e);
        CHECKF(e >= rmse_range[k].lo && e <= rmse_range[k].hi, "%s rmse %.6f outside [%g, %g]",
               owl_type_name(t), e, rmse_range[k].lo, rmse_range[k].hi);
    }
    CHECK(matrix_rel_rmse(OWL_TYPE_F32, false) == 0.0);
}

static void test_rmse_ordering(void) {
    if (measured[OWL_TYPE_Q2_K] == 0) SKIP("needs test_rmse_ranges");
    /* F16 < Q8_0 < Q6_K < Q5_K < Q5_1/Q5_0 < Q4_K < Q4_1/Q4_0 < Q3_K < Q2_K */
    const double *m = measured;
    CHECK(m[OWL_TYPE_F16] < m[OWL_TYPE_Q8_0]);
    CHECK(m[OWL_TYPE_Q8_0] < m[OWL_TYPE_Q6_K]);
    CHECK(m[OWL_TYPE_Q6_K] < m[OWL_TYPE_Q5_K]);
    CHECK(m[OWL_TYPE_Q5_K] < m[OWL_TYPE_Q5_1] && m[OWL_TYPE_Q5_K] < m[OWL_TYPE_Q5_0]);
    CHECK(m[OWL_TYPE_Q5_1] < m[OWL_TYPE_Q4_K] && m[OWL_TYPE_Q5_0] < m[OWL_TYPE_Q4_K]);
    CHECK(m[OWL_TYPE_Q4_K] < m[OWL_TYPE_Q4_1] && m[OWL_TYPE_Q4_K] < m[OWL_TYPE_Q4_0]);
    CHECK(m[OWL_TYPE_Q4_1] < m[OWL_TYPE_Q3_K] && m[OWL_TYPE_Q4_0] < m[OWL_TYPE_Q3_K]);
    CHECK(m[OWL_TYPE_Q3_K] < m[OWL_TYPE_Q2_K]);
}

static void test_importance_weights(void) {
    /* With importance weights the searches minimise the weighted error, so the weighted error
     * must come out lower than that of the unweighted rules. */
    static const owl_type types[] = {OWL_TYPE_Q2_K, OWL_TYPE_Q3_K, OWL_TYPE_Q4_K, OWL_TYPE_Q5_K,
                                     OWL_TYPE_Q6_K, OWL_TYPE_Q4_0, OWL_TYPE_Q4_1, OWL_TYPE_Q5_0,
                                     OWL_TYPE_Q5_1};
    for (size_t k = 0; k < sizeof types / sizeof types[0]; k++) {
        owl_type t = types[k];
        double with = 0, without = 0;
        for (int r = 0; r < 8; r++) {
            make_row(xrow, COLS, r);
            make_weights(wrow, COLS, r);
            for (int pass = 0; pass < 2; pass++) {
                owl_quantize_row(t, xrow, qbuf, COLS, pass ? wrow : NULL);
                owl_dequantize_row(t, qbuf, yrow, COLS);
                double e = 0;
                for (int i = 0; i < COLS; i++) {
                    double d = (double)xrow[i] - yrow[i];
                    e += wrow[i] * d * d;
                }
                if (pass) with += e; else without += e;
            }
        }
        printf("  %-5s weighted error ratio %.3f\n", owl_type_name(t), with / without);
        CHECKF(with < without, "%s: %g >= %g", owl_type_name(t), with, without);
    }
}

/* ---- degenerate rows ----------------------------------------------------------------------- */

static int all_finite(const float *y, int n) {
    for (int i = 0; i < n; i++) {
        if (!isfinite(y[i])) return 0;
    }
    return 1;
}

static void test_degenerate_rows(void) {
    enum { N = 512 };
    float x[N], y[N], w[N];
    for (int kind = 0; kind < 8; kind++) {
        unsigned long long s = 99;
        for (int i = 0; i < N; i++) {
            float g = gauss(&s);
            switch (kind) {
            case 0: x[i] = 0.0f; break;                             /* all zero */
            case 1: x[i] = 0.7f; break;                             /* constant */
            case 2: x[i] = -3.0f; break;                            /* negative constant */
            case 3: x[i] = i == 77 ? 1000.0f : g * 0.01f; break;    /* one huge outlier */
            case 4: x[i] = g * 1e-30f; break;                       /* tiny */
            case 5: x[i] = (i & 1) ? 1e-40f : -1e-40f; break;       /* float subnormals */
            case 6: x[i] = i % 32 == 5 ? -2.5f : 0.0f; break;       /* sparse */
            default: x[i] = g < 0 ? -g * 100 : g * 1e-3f; break;   /* skewed */
            }
            w[i] = (kind & 1) ? 1.0f : (float)(i % 5);              /* includes zero weights */
        }
        float amax = 0;
        for (int i = 0; i < N; i++) amax = fmaxf(amax, fabsf(x[i]));
        for (size_t k = 0; k < NTYPES; k++) {
            owl_type t = all_types[k];
            for (int pass = 0; pass < 2; pass++) {
                memset(y, 0, sizeof y);
                owl_quantize_row(t, x, qbuf, N, pass ? w : NULL);
                owl_dequantize_row(t, qbuf, y, N);
                CHECKF(all_finite(y, N), "%s kind %d weights %d: NaN/Inf", owl_type_name(t),
                       kind, pass);
                /* Nothing reconstructs far outside the data's range. */
                float ymax = 0;
                for (int i = 0; i < N; i++) ymax = fmaxf(ymax, fabsf(y[i]));
                CHECKF(ymax <= amax * 1.5f + 1e-6f, "%s kind %d weights %d: %g vs max %g",
                       owl_type_name(t), kind, pass, ymax, amax);
                if (kind == 0) {
                    int nonzero = 0;
                    for (int i = 0; i < N; i++) nonzero += y[i] != 0;
                    CHECKF(nonzero == 0, "%s: zeros do not stay zero", owl_type_name(t));
                }
            }
        }
    }
}

static void test_constant_rows_are_close(void) {
    /* A constant row has a one-value range: every format should hit it within its step. */
    enum { N = 256 };
    float x[N], y[N];
    for (int i = 0; i < N; i++) x[i] = 0.7f;
    for (size_t k = 0; k < NTYPES; k++) {
        owl_type t = all_types[k];
        owl_quantize_row(t, x, qbuf, N, NULL);
        owl_dequantize_row(t, qbuf, y, N);
        float worst = 0;
        for (int i = 0; i < N; i++) worst = fmaxf(worst, fabsf(y[i] - x[i]));
        CHECKF(worst < 0.7f * 0.1f, "%s: error %g on a constant row", owl_type_name(t), worst);
    }
}

static void test_q8_0_stable(void) {
    /* Quantizing a dequantized Q8_0 row reproduces the same bytes. */
    static uint8_t q2[COLS / 32 * 34];
    for (int r = 0; r < 8; r++) {
        make_row(xrow, COLS, r);
        if (r == 7) xrow[100] = 3.0f; /* with an outlier */
        size_t n = owl_quantize_row(OWL_TYPE_Q8_0, xrow, qbuf, COLS, NULL);
        owl_dequantize_row(OWL_TYPE_Q8_0, qbuf, yrow, COLS);
        owl_quantize_row(OWL_TYPE_Q8_0, yrow, q2, COLS, NULL);
        CHECKF(memcmp(qbuf, q2, n) == 0, "row %d", r);
    }
}

static void test_q8_activation_sums(void) {
    /* Q8_1 stores d * sum(q); Q8_K stores the sums of each group of 16 codes. */
    make_row(xrow, 512, 3);
    owl_quantize_row(OWL_TYPE_Q8_1, xrow, qbuf, 512, NULL);
    for (int b = 0; b < 16; b++) {
        const uint8_t *blk = qbuf + 36 * b;
        uint16_t d16, s16;
        memcpy(&d16, blk, 2);
        memcpy(&s16, blk + 2, 2);
        int sum = 0;
        for (int j = 0; j < 32; j++) sum += (int8_t)blk[4 + j];
        /* d itself was rounded to f16 before storing, so allow both roundings. */
        const float want = (float)sum * owl_f16_to_f32(d16);
        CHECKF(fabsf(owl_f16_to_f32(s16) - want) <= fabsf(want) * 2e-3f + 1e-7f, "block %d", b);
    }
    owl_quantize_row(OWL_TYPE_Q8_K, xrow, qbuf, 512, NULL);
    for (int b = 0; b < 2; b++) {
        const uint8_t *blk = qbuf + 292 * b;
        int maxq = 0;
        for (int g = 0; g < 16; g++) {
            int sum = 0;
            for (int l = 0; l < 16; l++) {
                int q = (int8_t)blk[4 + 16 * g + l];
                sum += q;
                maxq = abs(q) > maxq ? abs(q) : maxq;
            }
            int16_t stored;
            memcpy(&stored, blk + 260 + 2 * g, 2);
            CHECK_EQ_INT(stored, sum);
        }
        CHECK_EQ_INT(maxq, 127); /* the largest magnitude maps to 127 */
    }
}

/* ---- byte-for-byte agreement with ggml ----------------------------------------------------- */

static uint64_t digest_bytes(const uint8_t *p, size_t n, uint64_t h) {
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

/* Quantizes rows 0..7 of the test matrix (plus an all-zero row and a row with an outlier) and
 * digests the bytes; with `weighted`, make_weights() supplies the importance. */
static uint64_t quant_digest(owl_type t, bool weighted) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (int r = 0; r < 10; r++) {
        make_row(xrow, COLS, r);
        if (r == 8) memset(xrow, 0, sizeof xrow);
        if (r == 9) xrow[1234] = 5.0f;
        make_weights(wrow, COLS, r);
        size_t n = owl_quantize_row(t, xrow, qbuf, COLS, weighted ? wrow : NULL);
        h = digest_bytes(qbuf, n, h);
    }
    return h;
}

static void test_ggml_digests(void) {
    /* Digests of ggml's quantize_<type>(..., imatrix) output for the same rows and weights
     * (libggml-base reference code); 0 where ggml has no weighted variant. */
    static const struct {
        owl_type type;
        uint64_t plain, weighted;
    } want[] = {
        {OWL_TYPE_Q4_0, 0x17be68d265923721ULL, 0x216d52e590e52217ULL},
        {OWL_TYPE_Q4_1, 0xa76cf3639dc1f808ULL, 0x232b0f877794bf83ULL},
        {OWL_TYPE_Q5_0, 0x71cd100462539f3cULL, 0x9c4066bf31d6afe6ULL},
        {OWL_TYPE_Q5_1, 0xd4b085330dcd89bcULL, 0x26eeb26e8d9e7094ULL},
        {OWL_TYPE_Q8_0, 0xcffa8164e0b7b4bcULL, 0},
        {OWL_TYPE_Q2_K, 0x5a0b36f3afb8520fULL, 0x723d38e2fe2084c5ULL},
        {OWL_TYPE_Q3_K, 0x27271952a7a99f62ULL, 0xf29a890669d7873fULL},
        {OWL_TYPE_Q4_K, 0x1dd87e1794500157ULL, 0xfbe2d68fc72d997bULL},
        {OWL_TYPE_Q5_K, 0x6be3b4015920a6aeULL, 0x309cd97b8a2c5a93ULL},
        {OWL_TYPE_Q6_K, 0x0b68b04b4b5175dfULL, 0xcdd86d14ad0b735aULL},
        {OWL_TYPE_Q8_1, 0x3e42046b5d325437ULL, 0},
    };
    for (size_t k = 0; k < sizeof want / sizeof want[0]; k++) {
        owl_type t = want[k].type;
        uint64_t p = quant_digest(t, false);
        CHECKF(p == want[k].plain, "%s plain digest %016llx", owl_type_name(t),
               (unsigned long long)p);
        if (want[k].weighted) {
            uint64_t w = quant_digest(t, true);
            CHECKF(w == want[k].weighted, "%s weighted digest %016llx", owl_type_name(t),
                   (unsigned long long)w);
        }
    }
}

int main(void) {
    RUN(test_bytes_written);
    RUN(test_rmse_ranges);
    RUN(test_rmse_ordering);
    RUN(test_importance_weights);
    RUN(test_degenerate_rows);
    RUN(test_constant_rows_are_close);
    RUN(test_q8_0_stable);
    RUN(test_q8_activation_sums);
    RUN(test_ggml_digests);
    return test_summary();
}
