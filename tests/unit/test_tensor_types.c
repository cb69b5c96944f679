/* Tests of the ggml type table and of the f16/bf16 conversions (src/tensor/types.c, fp16.c). */
#include "owl/tensor.h"
#include "test.h"

#include <stdint.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#include <immintrin.h>
#define HAVE_F16C_ORACLE 1
#endif

static uint32_t bits_of(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static float float_of(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* ---- type table ---------------------------------------------------------------------------- */

static void test_type_sizes(void) {
    /* ggml's table: id, name, elements per block, bytes per block; NULL name = removed id. */
    static const struct {
        uint32_t id;
        const char *name;
        int64_t blck;
        size_t size;
    } want[] = {
        {0, "f32", 1, 4},         {1, "f16", 1, 2},          {2, "q4_0", 32, 18},
        {3, "q4_1", 32, 20},      {4, NULL, 0, 0},           {5, NULL, 0, 0},
        {6, "q5_0", 32, 22},      {7, "q5_1", 32, 24},       {8, "q8_0", 32, 34},
        {9, "q8_1", 32, 36},      {10, "q2_K", 256, 84},     {11, "q3_K", 256, 110},
        {12, "q4_K", 256, 144},   {13, "q5_K", 256, 176},    {14, "q6_K", 256, 210},
        {15, "q8_K", 256, 292},   {16, "iq2_xxs", 256, 66},  {17, "iq2_xs", 256, 74},
        {18, "iq3_xxs", 256, 98}, {19, "iq1_s", 256, 50},    {20, "iq4_nl", 32, 18},
        {21, "iq3_s", 256, 110},  {22, "iq2_s", 256, 82},    {23, "iq4_xs", 256, 136},
        {24, "i8", 1, 1},         {25, "i16", 1, 2},         {26, "i32", 1, 4},
        {27, "i64", 1, 8},        {28, "f64", 1, 8},         {29, "iq1_m", 256, 56},
        {30, "bf16", 1, 2},       {31, NULL, 0, 0},          {32, NULL, 0, 0},
        {33, NULL, 0, 0},         {34, "tq1_0", 256, 54},    {35, "tq2_0", 256, 66},
        {36, NULL, 0, 0},         {37, NULL, 0, 0},          {38, NULL, 0, 0},
        {39, "mxfp4", 32, 17},
    };
    CHECK_EQ_INT(sizeof want / sizeof want[0], OWL_TYPE_COUNT);
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const owl_type_info *t = owl_type_get(want[i].id);
        if (!want[i].name) {
            CHECKF(t == NULL, "id %u should be undefined", want[i].id);
            CHECK_STR(owl_type_name(want[i].id), "unknown");
            continue;
        }
        REQUIRE(t != NULL);
        CHECK_STR(t->name, want[i].name);
        CHECKF(t->block_size == want[i].blck, "%s block size %lld", t->name, (long long)t->block_size);
        CHECKF(t->type_size == want[i].size, "%s type size %zu", t->name, t->type_size);
        CHECK_STR(owl_type_name(want[i].id), want[i].name);
    }
    CHECK(owl_type_get(40) == NULL);
    CHECK(owl_type_get(UINT32_MAX) == NULL);
    CHECK_STR(owl_type_name(1000), "unknown");
}

static void test_type_supported(void) {
    static const owl_type yes[] = {OWL_TYPE_F32,  OWL_TYPE_F16,  OWL_TYPE_BF16, OWL_TYPE_Q4_0,
                                   OWL_TYPE_Q4_1, OWL_TYPE_Q5_0, OWL_TYPE_Q5_1, OWL_TYPE_Q8_0,
                                   OWL_TYPE_Q2_K, OWL_TYPE_Q3_K, OWL_TYPE_Q4_K, OWL_TYPE_Q5_K,
                                   OWL_TYPE_Q6_K};
    int count = 0;
    for (uint32_t id = 0; id < OWL_TYPE_COUNT; id++) {
        const owl_type_info *t = owl_type_get(id);
        if (t && t->supported) count++;
    }
    CHECK_EQ_INT(count, (int)(sizeof yes / sizeof yes[0]));
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) CHECK(owl_type_get(yes[i])->supported);
    CHECK(!owl_type_get(OWL_TYPE_IQ2_XXS)->supported);
    CHECK(!owl_type_get(OWL_TYPE_Q8_K)->supported);
}

static void test_type_names(void) {
    for (uint32_t id = 0; id < OWL_TYPE_COUNT; id++) {
        const owl_type_info *t = owl_type_get(id);
        if (t) CHECK_EQ_INT(owl_type_from_name(t->name), (int)id);
    }
    CHECK_EQ_INT(owl_type_from_name("Q4_K"), OWL_TYPE_Q4_K);
    CHECK_EQ_INT(owl_type_from_name("q4_k"), OWL_TYPE_Q4_K);
    CHECK_EQ_INT(owl_type_from_name("F16"), OWL_TYPE_F16);
    CHECK_EQ_INT(owl_type_from_name("BF16"), OWL_TYPE_BF16);
    CHECK_EQ_INT(owl_type_from_name("IQ4_XS"), OWL_TYPE_IQ4_XS);
    CHECK_EQ_INT(owl_type_from_name("q4_2"), -1);
    CHECK_EQ_INT(owl_type_from_name(""), -1);
    CHECK_EQ_INT(owl_type_from_name("q4_K_M"), -1);
    CHECK_EQ_INT(owl_type_from_name(NULL), -1);
}

static void test_row_size(void) {
    CHECK_EQ_INT(owl_row_size(OWL_TYPE_F32, 10), 40);
    CHECK_EQ_INT(owl_row_size(OWL_TYPE_F16, 4096), 8192);
    CHECK_EQ_INT(owl_row_size(OWL_TYPE_BF16, 3), 6);
    CHECK_EQ_INT(owl_row_size(OWL_TYPE_Q4_0, 4096), 128 * 18);
    CHECK_EQ_INT(owl_row_size(OWL_TYPE_Q8_0, 64), 68);
    CHECK_EQ_INT(owl_row_size(OWL_TYPE_Q4_K, 4096), 16 * 144);
    CHECK_EQ_INT(owl_row_size(OWL_TYPE_Q6_K, 256), 210);
    CHECK_EQ_INT(owl_row_size(OWL_TYPE_Q8_K, 512), 584);
    CHECK_EQ_INT(owl_row_size(OWL_TYPE_IQ2_XXS, 256), 66);
    CHECK_EQ_INT(owl_row_size(OWL_TYPE_MXFP4, 64), 34);
    CHECK_EQ_INT(owl_row_size((owl_type)4, 256), 0);
    CHECK_EQ_INT(owl_row_size(OWL_TYPE_Q4_K, 0), 0);
}

/* ---- f16 ----------------------------------------------------------------------------------- */

/* The value of an f16 bit pattern straight from the definition, in double. */
static double f16_value(uint16_t h) {
    int s = h >> 15, e = (h >> 10) & 31, m = h & 1023;
    double v = e == 0 ? ldexp(m, -24) : ldexp(1024 + m, e - 25);
    return s ? -v : v;
}

static void test_f16_exhaustive(void) {
    int bad_value = 0, bad_trip = 0;
    for (uint32_t u = 0; u < 65536; u++) {
        uint16_t h = (uint16_t)u;
        float f = owl_f16_to_f32(h);
        int e = (h >> 10) & 31, m = h & 1023;
        if (e == 31) {
            if (m) {
                if (!isnan(f)) bad_value++;
                if (!isnan(owl_f16_to_f32(owl_f32_to_f16(f)))) bad_trip++;
            } else {
                if (!isinf(f) || (signbit(f) != 0) != (h >> 15)) bad_value++;
                if (owl_f32_to_f16(f) != h) bad_trip++;
            }
            continue;
        }
        if ((double)f != f16_value(h) || (signbit(f) != 0) != (h >> 15)) bad_value++;
        if (owl_f32_to_f16(f) != h) bad_trip++;
    }
    CHECK_EQ_INT(bad_value, 0);
    CHECK_EQ_INT(bad_trip, 0);
}

static void test_f16_rounding(void) {
    /* Ties between neighbours go to the even mantissa. */
    CHECK_EQ_INT(owl_f32_to_f16(1.0f), 0x3C00);
    CHECK_EQ_INT(owl_f32_to_f16(1.0f + 0x1p-11f), 0x3C00);         /* tie, 0x3C00 even */
    CHECK_EQ_INT(owl_f32_to_f16(1.0f + 3 * 0x1p-11f), 0x3C02);     /* tie, 0x3C02 even */
    CHECK_EQ_INT(owl_f32_to_f16(1.0f + 0x1p-11f + 0x1p-23f), 0x3C01); /* just above the tie */
    CHECK_EQ_INT(owl_f32_to_f16(1.0f + 0x1p-11f - 0x1p-23f), 0x3C00); /* just below */
    CHECK_EQ_INT(owl_f32_to_f16(-2.0f), 0xC000);
    CHECK_EQ_INT(owl_f32_to_f16(0.1f), 0x2E66);
    CHECK_EQ_INT(owl_f32_to_f16(-0.0f), 0x8000);
    CHECK_EQ_INT(owl_f32_to_f16(0.0f), 0x0000);
    /* Overflow: 65504 is the largest f16; from 65520 (the tie) upwards it is infinity. */
    CHECK_EQ_INT(owl_f32_to_f16(65504.0f), 0x7BFF);
    CHECK_EQ_INT(owl_f32_to_f16(65519.996f), 0x7BFF);
    CHECK_EQ_INT(owl_f32_to_f16(65520.0f), 0x7C00);
    CHECK_EQ_INT(owl_f32_to_f16(1e10f), 0x7C00);
    CHECK_EQ_INT(owl_f32_to_f16(-1e10f), 0xFC00);
    CHECK_EQ_INT(owl_f32_to_f16(INFINITY), 0x7C00);
    CHECK_EQ_INT(owl_f32_to_f16(-INFINITY), 0xFC00);
    /* NaN stays NaN, including a payload whose top bits are zero (plain truncation would give
     * infinity). */
    uint16_t n1 = owl_f32_to_f16(NAN);
    uint16_t n2 = owl_f32_to_f16(float_of(0x7F800001));
    uint16_t n3 = owl_f32_to_f16(float_of(0xFF800001));
    CHECK((n1 & 0x7C00) == 0x7C00 && (n1 & 0x3FF) != 0);
    CHECK((n2 & 0x7C00) == 0x7C00 && (n2 & 0x3FF) != 0);
    CHECK(n3 == (n3 | 0x8000) && (n3 & 0x3FF) != 0);
    CHECK(isnan(owl_f16_to_f32(0x7C01)));
    CHECK(isnan(owl_f16_to_f32(0xFE00)));
    /* Subnormals: units of 2^-24. */
    CHECK_EQ_INT(owl_f32_to_f16(0x1p-24f), 0x0001);
    CHECK_EQ_INT(owl_f32_to_f16(0x1p-25f), 0x0000);                 /* tie, 0 is even */
    CHECK_EQ_INT(owl_f32_to_f16(0x1p-25f * 1.0001f), 0x0001);
    CHECK_EQ_INT(owl_f32_to_f16(3 * 0x1p-25f), 0x0002);             /* tie 1|2, 2 even */
    CHECK_EQ_INT(owl_f32_to_f16(5 * 0x1p-25f), 0x0002);             /* tie 2|3, 2 even */
    CHECK_EQ_INT(owl_f32_to_f16(0x1p-14f - 0x1p-25f), 0x0400);      /* tie 3FF|400 */
    CHECK_EQ_INT(owl_f32_to_f16(0x1p-14f), 0x0400);
    CHECK_EQ_INT(owl_f32_to_f16(-0x1p-24f), 0x8001);
    CHECK_EQ_INT(owl_f32_to_f16(1e-30f), 0x0000);
    CHECK_EQ_INT(owl_f32_to_f16(-1e-30f), 0x8000);
    CHECK_EQ_INT(owl_f32_to_f16(float_of(1)), 0x0000);              /* float subnormal */
    CHECK(owl_f16_to_f32(0x0001) == 0x1p-24f);
    CHECK(owl_f16_to_f32(0x03FF) == 1023 * 0x1p-24f);
    CHECK(owl_f16_to_f32(0x7BFF) == 65504.0f);
}

/* Round to nearest even by exact arithmetic in double: the two f16 neighbours of v. */
static uint16_t f16_reference(float f) {
    if (isnan(f)) return 0x7E00;
    uint16_t sign = signbit(f) ? 0x8000 : 0;
    double a = fabs((double)f);
    if (a >= 65520.0) return sign | 0x7C00;
    /* Find the largest non-negative finite f16 <= a by bisection over the ordered codes. */
    uint16_t lo = 0, hi = 0x7BFF;
    while (lo < hi) {
        uint16_t mid = (uint16_t)((lo + hi + 1) / 2);
        if (f16_value(mid) <= a) lo = mid; else hi = (uint16_t)(mid - 1);
    }
    if (lo == 0x7BFF) return sign | lo;
    double below = f16_value(lo), above = f16_value((uint16_t)(lo + 1));
    uint16_t r;
    if (a - below < above - a) r = lo;
    else if (a - below > above - a) r = (uint16_t)(lo + 1);
    else r = (lo & 1) ? (uint16_t)(lo + 1) : lo;
    return sign | r;
}

static void test_f16_random(void) {
    /* Random floats across the whole f16 range (and beyond), against the definition. */
    unsigned long long s = 42;
    int bad = 0;
    for (int i = 0; i < 200000; i++) {
        uint32_t u = (uint32_t)test_rng_next(&s);
        u = (u & 0x87FFFFFF) | ((i & 1) ? 0x30000000 : 0x38000000); /* exponents near f16's */
        float f = float_of(u);
        uint16_t got = owl_f32_to_f16(f), want = f16_reference(f);
        if (got != want) {
            if (bad++ < 3) printf("  %08x: got %04x want %04x\n", u, got, want);
        }
    }
    CHECK_EQ_INT(bad, 0);
}

#ifdef HAVE_F16C_ORACLE
__attribute__((target("f16c"))) static uint16_t f16c_convert(float f) {
    return (uint16_t)_cvtss_sh(f, 0);
}
#endif

static void test_f16_hardware(void) {
#ifdef HAVE_F16C_ORACLE
    unsigned eax, ebx, ecx, edx;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx) || !(ecx & bit_F16C)) SKIP("no F16C on this CPU");
    unsigned long long s = 7;
    int bad = 0;
    for (int i = 0; i < 1000000; i++) {
        uint32_t u = (uint32_t)test_rng_next(&s);
        float f = float_of(u);
        if (isnan(f)) continue;
        if (owl_f32_to_f16(f) != f16c_convert(f)) bad++;
    }
    CHECK_EQ_INT(bad, 0);
#else
    SKIP("not x86-64");
#endif
}

/* ---- bf16 ---------------------------------------------------------------------------------- */

static void test_bf16(void) {
    CHECK_EQ_INT(owl_f32_to_bf16(1.0f), 0x3F80);
    CHECK_EQ_INT(owl_f32_to_bf16(float_of(0x3F808000)), 0x3F80);  /* tie, even stays */
    CHECK_EQ_INT(owl_f32_to_bf16(float_of(0x3F818000)), 0x3F82);  /* tie, odd rounds up */
    CHECK_EQ_INT(owl_f32_to_bf16(float_of(0x3F808001)), 0x3F81);
    CHECK_EQ_INT(owl_f32_to_bf16(float_of(0x3F807FFF)), 0x3F80);
    CHECK_EQ_INT(owl_f32_to_bf16(float_of(0x7F7FFFFF)), 0x7F80);  /* FLT_MAX rounds to inf */
    CHECK_EQ_INT(owl_f32_to_bf16(-INFINITY), 0xFF80);
    CHECK_EQ_INT(owl_f32_to_bf16(float_of(0x00000001)), 0x0000);  /* subnormal, rounds to 0 */
    CHECK_EQ_INT(owl_f32_to_bf16(float_of(0x00018000)), 0x0002);  /* subnormal tie */
    uint16_t n = owl_f32_to_bf16(float_of(0x7F800001));
    CHECK(isnan(owl_bf16_to_f32(n)));
    CHECK(isnan(owl_bf16_to_f32(owl_f32_to_bf16(NAN))));
    CHECK(bits_of(owl_bf16_to_f32(0x3F80)) == 0x3F800000);
    int bad = 0;
    for (uint32_t u = 0; u < 65536; u++) {
        float f = owl_bf16_to_f32((uint16_t)u);
        if (bits_of(f) != u << 16) bad++;
        if (isnan(f) ? !isnan(owl_bf16_to_f32(owl_f32_to_bf16(f))) : owl_f32_to_bf16(f) != u) bad++;
    }
    CHECK_EQ_INT(bad, 0);
}

int main(void) {
    RUN(test_type_sizes);
    RUN(test_type_supported);
    RUN(test_type_names);
    RUN(test_row_size);
    RUN(test_f16_exhaustive);
    RUN(test_f16_rounding);
    RUN(test_f16_random);
    RUN(test_f16_hardware);
    RUN(test_bf16);
    return test_summary();
}
