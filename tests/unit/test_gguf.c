/* GGUF reader and writer: round trips of every value type, the validation of malformed files
 * (each must fail with a clear message, never crash), and every GGUF in ../shared. */
#include "owl/gguf.h"
#include "test.h"

#include <dirent.h>

static char *tmp_path(const char *name) {
    static char p[1024];
    snprintf(p, sizeof p, "%s/%s", test_tmpdir(), name);
    return p;
}

/* A small file with every value type, a nested array and three tensors. */
static int write_sample(const char *path, owl_error *err) {
    owl_gguf_writer *w = owl_gguf_writer_new();
    if (!w) return -1;
    owl_gguf_set_str(w, "general.architecture", "llama");
    owl_gguf_set_u32(w, "llama.block_count", 2);
    owl_gguf_set_i32(w, "test.i32", -7);
    owl_gguf_set_u64(w, "test.u64", 1ULL << 40);
    owl_gguf_set_f32(w, "test.f32", 0.5f);
    owl_gguf_set_bool(w, "test.bool", true);
    owl_gguf_set_str(w, "test.utf8", "h\xC3\xA9llo \xF0\x9F\xA6\x89");
    float fa[3] = {1.0f, -2.5f, 3.25f};
    owl_gguf_set_array(w, "test.farr", OWL_GGUF_FLOAT32, fa, 3);
    int32_t ia[4] = {1, -2, 3, -4};
    owl_gguf_set_array(w, "test.iarr", OWL_GGUF_INT32, ia, 4);
    const char *strs[3] = {"a", "", "\xE2\x96\x81the"};
    owl_gguf_set_array_str(w, "test.sarr", strs, NULL, 3);
    owl_gguf_set_u32(w, "test.replace", 1);
    owl_gguf_set_u32(w, "test.replace", 2); /* replaces in place */

    static float a[8 * 4], b[64];
    static uint16_t c[32];
    for (int i = 0; i < 32; i++) a[i] = (float)i;
    for (int i = 0; i < 64; i++) b[i] = -(float)i;
    for (int i = 0; i < 32; i++) c[i] = (uint16_t)(0x3C00 + i); /* f16 */
    int64_t ne_a[2] = {8, 4}, ne_b[1] = {64}, ne_c[2] = {32, 1};
    int rc = 0;
    if (owl_gguf_add_tensor(w, "a.weight", OWL_TYPE_F32, 2, ne_a, a, err) < 0 ||
        owl_gguf_add_tensor(w, "b.weight", OWL_TYPE_F32, 1, ne_b, b, err) < 0 ||
        owl_gguf_add_tensor(w, "c.weight", OWL_TYPE_F16, 2, ne_c, c, err) < 0 ||
        owl_gguf_write(w, path, NULL, NULL, err) != 0) {
        rc = -1;
    }
    owl_gguf_writer_destroy(w);
    return rc;
}

static void test_roundtrip(void) {
    owl_error err = {{0}};
    const char *path = tmp_path("sample.gguf");
    REQUIRE(write_sample(path, &err) == 0);
    owl_gguf *g = owl_gguf_open(path, &err);
    if (!g) printf("  %s\n", err.msg);
    REQUIRE(g);
    CHECK_EQ_INT(g->version, 3);
    CHECK_EQ_INT(g->n_kv, 11);
    CHECK_EQ_INT(g->n_tensors, 3);
    CHECK_EQ_INT(g->alignment, 32);
    owl_str s;
    CHECK(owl_gguf_get_str(g, "general.architecture", &s) && owl_str_eq(s, "llama"));
    int64_t i;
    CHECK(owl_gguf_get_int(g, "llama.block_count", &i) && i == 2);
    CHECK(owl_gguf_get_int(g, "test.i32", &i) && i == -7);
    CHECK(owl_gguf_get_int(g, "test.u64", &i) && i == (1LL << 40));
    CHECK(owl_gguf_get_int(g, "test.replace", &i) && i == 2);
    CHECK_EQ_INT(owl_gguf_find_index(g, "test.replace"), 10);
    double d;
    CHECK(owl_gguf_get_float(g, "test.f32", &d) && d == 0.5);
    CHECK(owl_gguf_get_float(g, "llama.block_count", &d) && d == 2.0);
    bool bv;
    CHECK(owl_gguf_get_bool(g, "test.bool", &bv) && bv);
    CHECK(!owl_gguf_get_int(g, "test.bool", &i));    /* a bool is not an integer */
    CHECK(!owl_gguf_get_str(g, "test.i32", &s));     /* wrong type */
    CHECK(!owl_gguf_get_int(g, "no.such.key", &i));
    CHECK(owl_gguf_get_str(g, "test.utf8", &s) && owl_str_eq(s, "h\xC3\xA9llo \xF0\x9F\xA6\x89"));
    const owl_gguf_array *fa = owl_gguf_get_array(g, "test.farr");
    REQUIRE(fa && fa->type == OWL_GGUF_FLOAT32 && fa->n == 3);
    CHECK(owl_gguf_array_float(fa, 1, &d) && d == -2.5);
    CHECK(!owl_gguf_array_float(fa, 3, &d));
    const owl_gguf_array *ia = owl_gguf_get_array(g, "test.iarr");
    REQUIRE(ia && ia->n == 4);
    CHECK(owl_gguf_array_int(ia, 3, &i) && i == -4);
    const owl_gguf_array *sa = owl_gguf_get_array(g, "test.sarr");
    REQUIRE(sa && sa->type == OWL_GGUF_STRING && sa->n == 3);
    CHECK(owl_str_eq(sa->strs[0], "a") && sa->strs[1].len == 0 &&
          owl_str_eq(sa->strs[2], "\xE2\x96\x81the"));

    const owl_gguf_tensor *t = owl_gguf_find_tensor(g, "a.weight");
    REQUIRE(t);
    CHECK_EQ_INT(t->n_dims, 2);
    CHECK(t->ne[0] == 8 && t->ne[1] == 4 && t->ne[2] == 1);
    CHECK_EQ_INT(t->nbytes, 128);
    CHECK(((const float *)t->data)[31] == 31.0f);
    CHECK_EQ_INT((uintptr_t)((const uint8_t *)t->data - g->base) % 32, 0);
    t = owl_gguf_find_tensor(g, "c.weight");
    REQUIRE(t && t->type == OWL_TYPE_F16 && t->nbytes == 64);
    CHECK(((const uint16_t *)t->data)[5] == 0x3C05);
    CHECK(owl_gguf_find_tensor(g, "nope") == NULL);

    /* Copying every key into a new file gives the same bytes for the metadata. */
    owl_gguf_writer *w = owl_gguf_writer_new();
    for (uint64_t k = 0; k < g->n_kv; k++) owl_gguf_set_value(w, g->kv[k].key, &g->kv[k].value);
    for (uint64_t k = 0; k < g->n_tensors; k++) {
        const owl_gguf_tensor *x = &g->tensors[k];
        CHECK(owl_gguf_add_tensor(w, x->name, (owl_type)x->type, x->n_dims, x->ne, x->data,
                                  &err) == (int64_t)k);
    }
    const char *path2 = tmp_path("copy.gguf");
    CHECK(owl_gguf_write(w, path2, NULL, NULL, &err) == 0);
    owl_gguf_writer_destroy(w);
    size_t n1, n2;
    uint8_t *b1 = (uint8_t *)owl_read_file(path, SIZE_MAX, &n1, NULL);
    uint8_t *b2 = (uint8_t *)owl_read_file(path2, SIZE_MAX, &n2, NULL);
    CHECK(b1 && b2 && n1 == n2 && memcmp(b1, b2, n1) == 0);
    free(b1);
    free(b2);
    owl_gguf_close(g);
    remove(path2);
}

/* Every prefix of a valid file must be refused with a message, never read out of bounds. */
static void test_truncated(void) {
    owl_error err = {{0}};
    const char *path = tmp_path("trunc.gguf");
    REQUIRE(write_sample(path, &err) == 0);
    size_t n;
    uint8_t *full = (uint8_t *)owl_read_file(path, SIZE_MAX, &n, NULL);
    REQUIRE(full);
    int refused = 0;
    for (size_t len = 0; len < n; len++) {
        /* a fresh exact-size allocation so ASan sees any read past the end */
        uint8_t *p = malloc(len ? len : 1);
        memcpy(p, full, len);
        owl_gguf *g = owl_gguf_open_memory(p, len, "t.gguf", &err);
        if (!g) {
            refused++;
            CHECK(strncmp(err.msg, "t.gguf: ", 8) == 0);
        }
        owl_gguf_close(g);
        free(p);
    }
    CHECK_EQ_INT(refused, (long long)n);
    free(full);
}

/* Flipping any byte of the header either fails cleanly or yields a consistent file. */
static void test_bitflips(void) {
    owl_error err = {{0}};
    const char *path = tmp_path("flip.gguf");
    REQUIRE(write_sample(path, &err) == 0);
    size_t n;
    uint8_t *full = (uint8_t *)owl_read_file(path, SIZE_MAX, &n, NULL);
    REQUIRE(full);
    owl_gguf *g0 = owl_gguf_open_memory(full, n, "x", &err);
    REQUIRE(g0);
    size_t header = (size_t)g0->data_offset;
    owl_gguf_close(g0);
    const uint8_t vals[] = {0x00, 0xFF, 0x80, 0x7F, 0x01, 0x40};
    for (size_t pos = 0; pos < header; pos++) {
        for (size_t v = 0; v < sizeof vals; v++) {
            uint8_t *p = malloc(n);
            memcpy(p, full, n);
            p[pos] = vals[v];
            owl_gguf *g = owl_gguf_open_memory(p, n, "x", &err);
            if (g) {
                for (uint64_t k = 0; k < g->n_tensors; k++) {
                    const owl_gguf_tensor *t = &g->tensors[k];
                    const uint8_t *d = t->data;
                    CHECK(d >= p && d + t->nbytes <= p + n);
                }
            } else {
                CHECK(err.msg[0] != '\0');
            }
            owl_gguf_close(g);
            free(p);
        }
    }
    free(full);
}

/* Builds a header by hand to reach each specific validation. */
typedef struct hb {
    uint8_t b[4096];
    size_t n;
} hb;
static void hb_raw(hb *h, const void *p, size_t n) {
    memcpy(h->b + h->n, p, n);
    h->n += n;
}
static void hb_u32(hb *h, uint32_t v) { hb_raw(h, &v, 4); }
static void hb_u64(hb *h, uint64_t v) { hb_raw(h, &v, 8); }
static void hb_str(hb *h, const char *s) {
    hb_u64(h, strlen(s));
    hb_raw(h, s, strlen(s));
}
static void hb_header(hb *h, uint32_t version, uint64_t n_tensors, uint64_t n_kv) {
    h->n = 0;
    hb_raw(h, "GGUF", 4);
    hb_u32(h, version);
    hb_u64(h, n_tensors);
    hb_u64(h, n_kv);
}
static void hb_tensor(hb *h, const char *name, uint32_t ndims, const uint64_t *ne, uint32_t type,
                      uint64_t off) {
    hb_str(h, name);
    hb_u32(h, ndims);
    for (uint32_t i = 0; i < ndims; i++) hb_u64(h, ne[i]);
    hb_u32(h, type);
    hb_u64(h, off);
}
static void hb_pad(hb *h, size_t data_bytes) {
    while (h->n % 32) h->b[h->n++] = 0;
    memset(h->b + h->n, 0, data_bytes);
    h->n += data_bytes;
}

static void expect_error(hb *h, const char *needle) {
    owl_error err = {{0}};
    uint8_t *p = malloc(h->n);
    memcpy(p, h->b, h->n);
    owl_gguf *g = owl_gguf_open_memory(p, h->n, "bad.gguf", &err);
    CHECKF(g == NULL, "expected failure containing '%s'", needle);
    CHECKF(strstr(err.msg, needle) != NULL, "message '%s' lacks '%s'", err.msg, needle);
    owl_gguf_close(g);
    free(p);
}

static void test_malformed(void) {
    hb h;
    uint64_t ne[2] = {32, 2};

    h.n = 0;
    hb_raw(&h, "GGML", 4);
    hb_u32(&h, 3);
    hb_u64(&h, 0);
    hb_u64(&h, 0);
    expect_error(&h, "not a GGUF file");

    hb_header(&h, 1, 0, 0);
    expect_error(&h, "v1 is not supported");
    hb_header(&h, 0x03000000, 0, 0); /* big-endian file */
    expect_error(&h, "unsupported GGUF version");
    hb_header(&h, 3, 0, 1ULL << 60);
    expect_error(&h, "key-value count");
    hb_header(&h, 3, 1ULL << 62, 0);
    expect_error(&h, "tensor count");

    hb_header(&h, 3, 0, 1);
    hb_str(&h, "k");
    hb_u32(&h, 13);
    hb_u64(&h, 0);
    expect_error(&h, "unknown value type 13");

    hb_header(&h, 3, 0, 1);
    hb_str(&h, "k");
    hb_u32(&h, OWL_GGUF_STRING);
    hb_u64(&h, 1ULL << 50);
    expect_error(&h, "runs past the end");

    hb_header(&h, 3, 0, 1);
    hb_str(&h, "k");
    hb_u32(&h, OWL_GGUF_STRING);
    hb_str(&h, "\xC3\x28");
    expect_error(&h, "not valid UTF-8");

    hb_header(&h, 3, 0, 1);
    hb_str(&h, "k");
    hb_u32(&h, OWL_GGUF_ARRAY);
    hb_u32(&h, OWL_GGUF_UINT64);
    hb_u64(&h, 1ULL << 40);
    expect_error(&h, "larger than the file");

    hb_header(&h, 3, 0, 1); /* arrays nested too deep */
    hb_str(&h, "k");
    hb_u32(&h, OWL_GGUF_ARRAY);
    for (int i = 0; i < 8; i++) {
        hb_u32(&h, OWL_GGUF_ARRAY);
        hb_u64(&h, 1);
    }
    hb_u32(&h, OWL_GGUF_UINT8);
    hb_u64(&h, 0);
    expect_error(&h, "nested deeper");

    hb_header(&h, 3, 0, 2);
    hb_str(&h, "k");
    hb_u32(&h, OWL_GGUF_UINT8);
    hb_raw(&h, "\x01", 1);
    hb_str(&h, "k");
    hb_u32(&h, OWL_GGUF_UINT8);
    hb_raw(&h, "\x01", 1);
    expect_error(&h, "duplicate key k");

    hb_header(&h, 3, 0, 1);
    hb_str(&h, "general.alignment");
    hb_u32(&h, OWL_GGUF_UINT32);
    hb_u32(&h, 3);
    expect_error(&h, "power of two");

    hb_header(&h, 3, 1, 0);
    hb_tensor(&h, "t", 2, ne, 250, 0);
    hb_pad(&h, 256);
    expect_error(&h, "unknown tensor type 250");

    uint64_t ne5[5] = {32, 1, 1, 1, 1};
    hb_header(&h, 3, 1, 0);
    hb_tensor(&h, "t", 5, ne5, 0, 0);
    expect_error(&h, "5 dimensions");

    uint64_t huge[2] = {1ULL << 39, 1ULL << 39};
    hb_header(&h, 3, 1, 0);
    hb_tensor(&h, "t", 2, huge, 0, 0);
    expect_error(&h, "absurd");

    hb_header(&h, 3, 1, 0);
    hb_tensor(&h, "t", 2, ne, OWL_TYPE_F32, 0);
    hb_pad(&h, 100); /* needs 256 */
    expect_error(&h, "runs past the end of the file");

    hb_header(&h, 3, 1, 0);
    hb_tensor(&h, "t", 2, ne, OWL_TYPE_F32, 8);
    hb_pad(&h, 512);
    expect_error(&h, "not a multiple of the alignment");

    hb_header(&h, 3, 2, 0);
    hb_tensor(&h, "t1", 2, ne, OWL_TYPE_F32, 0);
    hb_tensor(&h, "t2", 2, ne, OWL_TYPE_F32, 128);
    hb_pad(&h, 512);
    expect_error(&h, "overlap");

    hb_header(&h, 3, 2, 0);
    hb_tensor(&h, "t1", 2, ne, OWL_TYPE_F32, 0);
    hb_tensor(&h, "t1", 2, ne, OWL_TYPE_F32, 256);
    hb_pad(&h, 512);
    expect_error(&h, "duplicate tensor name");

    uint64_t odd[1] = {33};
    hb_header(&h, 3, 1, 0);
    hb_tensor(&h, "q", 1, odd, OWL_TYPE_Q8_0, 0);
    hb_pad(&h, 64);
    expect_error(&h, "not a multiple of the q8_0 block size");

    /* A valid hand-built file with a v2 header opens. */
    hb_header(&h, 2, 1, 0);
    hb_tensor(&h, "t", 2, ne, OWL_TYPE_F32, 0);
    hb_pad(&h, 256);
    owl_error err = {{0}};
    owl_gguf *g = owl_gguf_open_memory(h.b, h.n, "ok.gguf", &err);
    CHECKF(g != NULL, "%s", err.msg);
    owl_gguf_close(g);

    CHECK(owl_gguf_open("/nonexistent/x.gguf", &err) == NULL);
    CHECK(strstr(err.msg, "/nonexistent/x.gguf") != NULL);
    CHECK(owl_gguf_open("/", &err) == NULL && strstr(err.msg, "not a regular file"));
}

static int scan_dir(const char *dir, int *opened) {
    DIR *d = opendir(dir);
    if (!d) return 0;
    struct dirent *e;
    int failed = 0;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char p[2048];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(p, &st) != 0) continue;
        if (S_ISDIR(st.st_mode)) {
            failed += scan_dir(p, opened);
        } else if (strlen(e->d_name) > 5 && !strcmp(e->d_name + strlen(e->d_name) - 5, ".gguf")) {
            owl_error err = {{0}};
            owl_gguf *g = owl_gguf_open(p, &err);
            if (!g) {
                printf("  %s\n", err.msg);
                failed++;
            } else {
                (*opened)++;
            }
            owl_gguf_close(g);
        }
    }
    closedir(d);
    return failed;
}

static void test_shared_files(void) {
    SHARED_OR_SKIP(dir, "models");
    int opened = 0;
    CHECK_EQ_INT(scan_dir(dir, &opened), 0);
    CHECK(opened >= 7);
    SHARED_OR_SKIP(story, "models/stories260K/stories260K.gguf");
    owl_error err = {{0}};
    owl_gguf *g = owl_gguf_open(story, &err);
    REQUIRE(g);
    CHECK_EQ_INT(g->n_tensors, 48);
    int64_t v;
    CHECK(owl_gguf_get_int(g, "llama.embedding_length", &v) && v == 64);
    const owl_gguf_array *toks = owl_gguf_get_array(g, "tokenizer.ggml.tokens");
    CHECK(toks && toks->n == 512);
    owl_gguf_close(g);
}

/* Inputs the fuzzer once found troublesome: each must now open or fail cleanly. */
static void test_fuzz_regressions(void) {
    DIR *d = opendir("tests/data/fuzz/gguf");
    if (!d) SKIP("no tests/data/fuzz/gguf (run from the repo root)");
    struct dirent *e;
    int n = 0;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char p[1024];
        snprintf(p, sizeof p, "tests/data/fuzz/gguf/%s", e->d_name);
        size_t len;
        char *text = owl_read_file(p, SIZE_MAX, &len, NULL);
        if (!text) continue;
        uint8_t *buf = malloc(len ? len : 1); /* exact size: ASan sees any read past the end */
        memcpy(buf, text, len);
        free(text);
        owl_error err = {{0}};
        owl_gguf *g = owl_gguf_open_memory(buf, len, e->d_name, &err);
        CHECK(g != NULL || err.msg[0] != '\0');
        owl_gguf_close(g);
        free(buf);
        n++;
    }
    closedir(d);
    printf("  %d regression inputs\n", n);
}

/* String values into a caller's buffer and "<arch>." keys. */
static void test_arch_lookups(void) {
    SHARED_OR_SKIP(path, "models/stories260K/stories260K.gguf");
    owl_gguf *g = owl_gguf_open(path, NULL);
    REQUIRE(g);
    char arch[64], tiny[5];
    CHECK(owl_gguf_get_cstr(g, "general.architecture", arch, sizeof arch));
    CHECK_STR(arch, "llama");
    CHECK(!owl_gguf_get_cstr(g, "general.architecture", tiny, sizeof tiny)); /* "llama" + NUL > 5 */
    CHECK(!owl_gguf_get_cstr(g, "llama.block_count", arch, sizeof arch));   /* not a string */
    int64_t v = 0;
    CHECK(owl_gguf_get_arch_int(g, "llama", "block_count", &v));
    CHECK(v == 5);
    CHECK(!owl_gguf_get_arch_int(g, "llama", "no.such.key", &v));
    CHECK(!owl_gguf_get_arch_int(g, "qwen2", "block_count", &v));
    owl_gguf_close(g);
}

int main(void) {
    RUN(test_roundtrip);
    RUN(test_truncated);
    RUN(test_bitflips);
    RUN(test_malformed);
    RUN(test_shared_files);
    RUN(test_fuzz_regressions);
    RUN(test_arch_lookups);
    return test_summary();
}
