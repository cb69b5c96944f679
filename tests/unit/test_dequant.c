/* Tests of owl_dequantize_row (src/tensor/dequant.c).
 *
 * Blocks are built byte by byte at the offsets the GGUF format defines, and the expected values
 * are computed here from the format definition (in double, with scales chosen so that every
 * product is exact, so the comparison can be exact). A second test compares against digests of
 * ggml's own dequantizer output on pseudo-random blocks with arbitrary scales, bit for bit. */
#include "owl/tensor.h"
#include "test.h"

#include <stdint.h>

static void put16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void fill_random(uint8_t *p, size_t n, unsigned long long seed) {
    for (size_t i = 0; i < n; i++) p[i] = (uint8_t)test_rng_next(&seed);
}

/* Dequantizes `n` elements and compares with want[]; reports the first few mismatches. */
static int check_row(owl_type type, const uint8_t *blk, const double *want, int n) {
    float got[1024];
    for (int i = 0; i < n; i++) got[i] = NAN;
    owl_dequantize_row(type, blk, got, n);
    int bad = 0;
    for (int i = 0; i < n; i++) {
        if ((double)got[i] != want[i]) {
            if (bad++ < 4) {
                printf("  %s element %d: got %.9g want %.9g\n", owl_type_name(type), i, got[i],
                       want[i]);
            }
        }
    }
    return bad;
}

/* f16 bit patterns of the scales used below (all exact powers of two or small dyadics). */
#define H_0 0x0000
#define H_0_125 0x3000
#define H_0_25 0x3400
#define H_0_5 0x3800
#define H_1 0x3C00
#define H_2 0x4000
#define H_3 0x4200
#define H_M1 0xBC00
#define H_M1_5 0xBE00
#define H_M2 0xC000
#define H_M8 0xC800
#define H_2P_7 0x2000 /* 2^-7 */
#define H_M0_25 0xB400

static void test_q4_0(void) {
    /* Three blocks: a nibble ramp, all nibbles at max with a negative scale, a zero scale. */
    uint8_t b[3 * 18];
    double want[96];
    const uint16_t d[3] = {H_0_5, H_M2, H_0};
    const double dv[3] = {0.5, -2, 0};
    for (int k = 0; k < 3; k++) {
        uint8_t *p = b + 18 * k;
        put16(p, d[k]);
        for (int j = 0; j < 16; j++) {
            int lo = k == 1 ? 15 : j, hi = k == 1 ? 15 : 15 - j;
            p[2 + j] = (uint8_t)(lo | hi << 4);
            want[32 * k + j] = (lo - 8) * dv[k];
            want[32 * k + j + 16] = (hi - 8) * dv[k];
        }
    }
    CHECK_EQ_INT(check_row(OWL_TYPE_Q4_0, b, want, 96), 0);
    CHECK(want[32 + 0] == -14.0); /* 7 * -2: the max nibble */
}

static void test_q4_1(void) {
    uint8_t b[3 * 20];
    double want[96];
    const uint16_t d[3] = {H_0_25, H_M1, H_0}, m[3] = {H_M1_5, 0x3800, H_3};
    const double dv[3] = {0.25, -1, 0}, mv[3] = {-1.5, 0.5, 3};
    for (int k = 0; k < 3; k++) {
        uint8_t *p = b + 20 * k;
        put16(p, d[k]);
        put16(p + 2, m[k]);
        for (int j = 0; j < 16; j++) {
            int lo = k == 1 ? 15 : j, hi = k == 1 ? 15 : (j * 7) & 15;
            p[4 + j] = (uint8_t)(lo | hi << 4);
            want[32 * k + j] = lo * dv[k] + mv[k];
            want[32 * k + j + 16] = hi * dv[k] + mv[k];
        }
    }
    CHECK_EQ_INT(check_row(OWL_TYPE_Q4_1, b, want, 96), 0);
}

/* Shared by Q5_0/Q5_1: the 5-bit code of element e from qh (little-endian u32) and qs. */
static int code5(const uint8_t *qh, const uint8_t *qs, int e) {
    uint32_t h = qh[0] | (uint32_t)qh[1] << 8 | (uint32_t)qh[2] << 16 | (uint32_t)qh[3] << 24;
    int nib = e < 16 ? qs[e] & 15 : qs[e - 16] >> 4;
    return nib | (int)((h >> e) & 1) << 4;
}

static void test_q5_0(void) {
    uint8_t b[2 * 22];
    double want[64];
    const uint16_t d[2] = {H_0_125, H_M8};
    const double dv[2] = {0.125, -8};
    for (int k = 0; k < 2; k++) {
        uint8_t *p = b + 22 * k;
        put16(p, d[k]);
        if (k == 0) {
            fill_random(p + 2, 20, 11);
        } else {
            memset(p + 2, 0xFF, 20); /* code 31 everywhere: 15 * -8 */
        }
        for (int e = 0; e < 32; e++) want[32 * k + e] = (code5(p + 2, p + 6, e) - 16) * dv[k];
    }
    CHECK_EQ_INT(check_row(OWL_TYPE_Q5_0, b, want, 64), 0);
    CHECK(want[32] == -120.0);
}

static void test_q5_1(void) {
    uint8_t b[2 * 24];
    double want[64];
    const uint16_t d[2] = {H_0_5, H_0}, m[2] = {H_M8, H_M1_5};
    const double dv[2] = {0.5, 0}, mv[2] = {-8, -1.5};
    for (int k = 0; k < 2; k++) {
        uint8_t *p = b + 24 * k;
        put16(p, d[k]);
        put16(p + 2, m[k]);
        fill_random(p + 4, 20, 12 + (unsigned)k);
        for (int e = 0; e < 32; e++) want[32 * k + e] = code5(p + 4, p + 8, e) * dv[k] + mv[k];
    }
    CHECK_EQ_INT(check_row(OWL_TYPE_Q5_1, b, want, 64), 0);
}

static void test_q8_0_and_q8_1(void) {
    uint8_t b0[2 * 34], b1[2 * 36];
    double want[64];
    const uint16_t d[2] = {0x2C00 /* 1/16 */, H_M0_25};
    const double dv[2] = {0.0625, -0.25};
    for (int k = 0; k < 2; k++) {
        put16(b0 + 34 * k, d[k]);
        put16(b1 + 36 * k, d[k]);
        put16(b1 + 36 * k + 2, 0x7C00); /* the sum field plays no part in the values */
        for (int j = 0; j < 32; j++) {
            int q = j == 31 ? 127 : j * 8 - 128; /* -128 .. 120, and 127 */
            b0[34 * k + 2 + j] = (uint8_t)(int8_t)q;
            b1[36 * k + 4 + j] = (uint8_t)(int8_t)q;
            want[32 * k + j] = q * dv[k];
        }
    }
    CHECK_EQ_INT(check_row(OWL_TYPE_Q8_0, b0, want, 64), 0);
    CHECK_EQ_INT(check_row(OWL_TYPE_Q8_1, b1, want, 64), 0);
}

static void test_q2_K(void) {
    uint8_t b[84];
    double want[256];
    fill_random(b + 16, 64, 21); /* qs */
    for (int s = 0; s < 16; s++) b[s] = (uint8_t)(s | (15 - s) << 4);
    put16(b + 80, H_0_5);  /* d */
    put16(b + 82, H_0_25); /* dmin */
    for (int e = 0; e < 256; e++) {
        int h = e / 128, k = (e % 128) / 32, l = e % 32, s = e / 16;
        int q = (b[16 + 32 * h + l] >> (2 * k)) & 3;
        want[e] = 0.5 * (b[s] & 15) * q - 0.25 * (b[s] >> 4);
    }
    CHECK_EQ_INT(check_row(OWL_TYPE_Q2_K, b, want, 256), 0);
}

static void test_q3_K(void) {
    uint8_t b[110];
    double want[256];
    int sc6[16];
    fill_random(b, 96, 31); /* hmask and qs */
    memset(b + 96, 0, 12);
    for (int s = 0; s < 16; s++) {
        sc6[s] = s == 0 ? 0 : s == 1 ? 63 : (s * 13) & 63; /* edges: -32 and +31 */
        if (s < 8) b[96 + s] |= (uint8_t)(sc6[s] & 15);
        else b[96 + s - 8] |= (uint8_t)((sc6[s] & 15) << 4);
        b[96 + 8 + s % 4] |= (uint8_t)((sc6[s] >> 4) << (2 * (s / 4)));
    }
    put16(b + 108, H_M0_25);
    for (int e = 0; e < 256; e++) {
        int h = e / 128, k = (e % 128) / 32, l = e % 32, s = e / 16;
        int low = (b[32 + 32 * h + l] >> (2 * k)) & 3;
        int high = (b[e % 32] >> (e / 32)) & 1;
        want[e] = -0.25 * (sc6[s] - 32) * (low - (high ? 0 : 4));
    }
    CHECK_EQ_INT(check_row(OWL_TYPE_Q3_K, b, want, 256), 0);
}

/* Writes eight 6-bit (scale, min) pairs at p (12 bytes) as the Q4_K/Q5_K format defines. */
static void put_k4_scales(uint8_t *p, const int *sc, const int *mn) {
    memset(p, 0, 12);
    for (int j = 0; j < 4; j++) {
        p[j] = (uint8_t)(sc[j] | (sc[j + 4] >> 4) << 6);
        p[j + 4] = (uint8_t)(mn[j] | (mn[j + 4] >> 4) << 6);
        p[j + 8] = (uint8_t)((sc[j + 4] & 15) | (mn[j + 4] & 15) << 4);
    }
}

static void test_q4_K(void) {
    uint8_t b[144];
    double want[256];
    const int sc[8] = {0, 63, 1, 32, 17, 63, 48, 5}, mn[8] = {63, 0, 2, 33, 63, 16, 0, 47};
    put16(b, H_0_5);
    put16(b + 2, H_0_125);
    put_k4_scales(b + 4, sc, mn);
    fill_random(b + 16, 128, 41);
    b[16] = 0xFF; /* max nibbles somewhere */
    for (int e = 0; e < 256; e++) {
        int c = e / 64, w = e % 64, j = e / 32;
        uint8_t byte = b[16 + 32 * c + w % 32];
        int q = w < 32 ? byte & 15 : byte >> 4;
        want[e] = 0.5 * sc[j] * q - 0.125 * mn[j];
    }
    CHECK_EQ_INT(check_row(OWL_TYPE_Q4_K, b, want, 256), 0);
}

static void test_q5_K(void) {
    uint8_t b[176];
    double want[256];
    const int sc[8] = {63, 0, 7, 40, 63, 12, 1, 33}, mn[8] = {0, 63, 9, 31, 15, 63, 62, 2};
    put16(b, H_2);
    put16(b + 2, H_0_25);
    put_k4_scales(b + 4, sc, mn);
    fill_random(b + 16, 160, 51); /* qh and qs */
    for (int e = 0; e < 256; e++) {
        int c = e / 64, w = e % 64, j = e / 32;
        uint8_t byte = b[48 + 32 * c + w % 32];
        int q = (w < 32 ? byte & 15 : byte >> 4) + (((b[16 + e % 32] >> j) & 1) ? 16 : 0);
        want[e] = 2.0 * sc[j] * q - 0.25 * mn[j];
    }
    CHECK_EQ_INT(check_row(OWL_TYPE_Q5_K, b, want, 256), 0);
}

static void test_q6_K(void) {
    uint8_t b[210];
    double want[256];
    fill_random(b, 192, 61); /* ql and qh */
    const int8_t sc[16] = {-128, 127, 0, 1, -1, 64, -64, 33, 100, -100, 5, -5, 77, 2, -2, 127};
    for (int s = 0; s < 16; s++) b[192 + s] = (uint8_t)sc[s];
    put16(b + 208, H_2P_7);
    for (int e = 0; e < 256; e++) {
        int h = e / 128, g = (e % 128) / 32, l = e % 32, s = e / 16;
        uint8_t lbyte = b[64 * h + (g & 1) * 32 + l];
        int low = g < 2 ? lbyte & 15 : lbyte >> 4;
        int high = (b[128 + 32 * h + l] >> (2 * g)) & 3;
        want[e] = ldexp(1, -7) * sc[s] * ((low | high << 4) - 32);
    }
    CHECK_EQ_INT(check_row(OWL_TYPE_Q6_K, b, want, 256), 0);
}

static void test_q8_K(void) {
    uint8_t b[292];
    double want[256];
    const float d = -0.375f;
    memcpy(b, &d, 4);
    fill_random(b + 4, 288, 71);
    for (int e = 0; e < 256; e++) want[e] = -0.375 * (int8_t)b[4 + e];
    CHECK_EQ_INT(check_row(OWL_TYPE_Q8_K, b, want, 256), 0);
}

static void test_plain_types(void) {
    uint8_t b[8];
    double want[4] = {1.0, -2.0, 65504.0, ldexp(1, -24)};
    put16(b, H_1);
    put16(b + 2, H_M2);
    put16(b + 4, 0x7BFF);
    put16(b + 6, 0x0001);
    CHECK_EQ_INT(check_row(OWL_TYPE_F16, b, want, 4), 0);
    double want_bf[4] = {1.0, -2.0, 3.0, 0.5};
    put16(b, 0x3F80);
    put16(b + 2, 0xC000);
    put16(b + 4, 0x4040);
    put16(b + 6, 0x3F00);
    CHECK_EQ_INT(check_row(OWL_TYPE_BF16, b, want_bf, 4), 0);
    float f[3] = {1.5f, -0.0f, 1e30f};
    double want_f[3] = {1.5, 0.0, (double)1e30f};
    CHECK_EQ_INT(check_row(OWL_TYPE_F32, (const uint8_t *)f, want_f, 3), 0);
}

/* ---- bit-exactness against ggml ------------------------------------------------------------ */

/* FNV-1a over the bit patterns of the floats. */
static uint64_t digest_floats(const float *x, int64_t n) {
    uint64_t h = 0xcbf29ce484222325ULL;
    for (int64_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &x[i], 4);
        for (int k = 0; k < 4; k++) {
            h ^= (u >> (8 * k)) & 0xFF;
            h *= 0x100000001b3ULL;
        }
    }
    return h;
}

/* Fills `n` elements' worth of random blocks of `type`, with every scale field replaced by a
 * finite f16 (or float) of moderate size, so that no NaN payload enters the comparison. */
static void random_blocks(owl_type type, uint8_t *p, int64_t n, unsigned long long seed) {
    const owl_type_info *t = owl_type_get(type);
    const int64_t nb = n / t->block_size;
    fill_random(p, (size_t)nb * t->type_size, seed);
    for (int64_t i = 0; i < nb; i++) {
        uint8_t *b = p + i * (int64_t)t->type_size;
        int at[2] = {-1, -1};
        switch (type) {
        case OWL_TYPE_Q4_0: case OWL_TYPE_Q5_0: case OWL_TYPE_Q8_0: at[0] = 0; break;
        case OWL_TYPE_Q4_1: case OWL_TYPE_Q5_1: case OWL_TYPE_Q4_K: case OWL_TYPE_Q5_K:
            at[0] = 0; at[1] = 2; break;
        case OWL_TYPE_Q2_K: at[0] = 80; at[1] = 82; break;
        case OWL_TYPE_Q3_K: at[0] = 108; break;
        case OWL_TYPE_Q6_K: at[0] = 208; break;
        case OWL_TYPE_Q8_K: {
            float d = test_rng_float(&seed) * 0.01f;
            memcpy(b, &d, 4);
            break;
        }
        default: break;
        }
        for (int k = 0; k < 2; k++) {
            if (at[k] >= 0) put16(b + at[k], owl_f32_to_f16(test_rng_float(&seed) * 0.05f));
        }
    }
}

static void test_ggml_digests(void) {
    /* Digests of ggml's dequantize_row_* output (libggml-base, reference C code) for the blocks
     * random_blocks() builds from seed 1000 + type id, 4096 elements each. */
    static const struct {
        owl_type type;
        uint64_t digest;
    } want[] = {
        {OWL_TYPE_Q4_0, 0x273c6908943488ebULL}, {OWL_TYPE_Q4_1, 0xa6caab3a3b1a2259ULL},
        {OWL_TYPE_Q5_0, 0xca348cd2e1385cbaULL}, {OWL_TYPE_Q5_1, 0x0387687aaf1f450cULL},
        {OWL_TYPE_Q8_0, 0x4fde5831c4c28877ULL}, {OWL_TYPE_Q2_K, 0x602f3fa40c02451fULL},
        {OWL_TYPE_Q3_K, 0xeb73b4f30e3965d3ULL}, {OWL_TYPE_Q4_K, 0xa2136f6185c70329ULL},
        {OWL_TYPE_Q5_K, 0x2a154566fb4df154ULL}, {OWL_TYPE_Q6_K, 0x50d1f7e846b82ae4ULL},
        {OWL_TYPE_Q8_K, 0x8569c2be8e4d9becULL},
    };
    enum { N = 4096 };
    static uint8_t blocks[N * 2];
    static float out[N];
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        random_blocks(want[i].type, blocks, N, 1000 + (unsigned)want[i].type);
        owl_dequantize_row(want[i].type, blocks, out, N);
        uint64_t got = digest_floats(out, N);
        CHECKF(got == want[i].digest, "%s digest %016llx", owl_type_name(want[i].type),
               (unsigned long long)got);
    }
}

int main(void) {
    RUN(test_q4_0);
    RUN(test_q4_1);
    RUN(test_q5_0);
    RUN(test_q5_1);
    RUN(test_q8_0_and_q8_1);
    RUN(test_q2_K);
    RUN(test_q3_K);
    RUN(test_q4_K);
    RUN(test_q5_K);
    RUN(test_q6_K);
    RUN(test_q8_K);
    RUN(test_plain_types);
    RUN(test_ggml_digests);
    return test_summary();
}
