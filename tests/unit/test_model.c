#include "owl/gguf.h"
#include "owl/model.h"
#include "model/model_internal.h"
#include "test.h"

/* Greedy decoding from BOS: feeds each chosen token back in, one at a time. */
static int greedy(owl_context *c, int32_t first, int n, int32_t *out, owl_error *err) {
    int32_t tok = first;
    for (int i = 0; i < n; i++) {
        if (owl_decode(c, &tok, 1, false, err)) return -1;
        const float *l = owl_context_logits(c, 0);
        int64_t nv = 512, best = 0;
        for (int64_t j = 1; j < nv; j++)
            if (l[j] > l[best]) best = j;
        out[i] = tok = (int32_t)best;
    }
    return 0;
}

static int read_ids(const char *path, int32_t *ids, int cap) {
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    int n = 0;
    while (n < cap && fscanf(f, "%d", &ids[n]) == 1) n++;
    fclose(f);
    return n;
}

static void check_stories(owl_type kv_type, int n_threads) {
    SHARED_OR_SKIP(ids_path, "models/reference/stories260K.greedy256.ids");
    int32_t want[256];
    REQUIRE(read_ids(ids_path, want, 256) == 256);
    SHARED_OR_SKIP(path, "models/stories260K/stories260K.gguf");
    owl_error err = {{0}};
    owl_model *m = owl_model_load(path, &err);
    if (!m) printf("  %s\n", err.msg);
    REQUIRE(m);
    const owl_hparams *hp = owl_model_hparams(m);
    CHECK_EQ_INT(hp->n_vocab, 512);
    CHECK_EQ_INT(hp->n_layer, 5);
    CHECK_EQ_INT(hp->n_head_kv, 4);
    owl_context_params cp = owl_context_default_params();
    cp.n_ctx = 512;
    cp.n_threads = n_threads;
    cp.kv_type = kv_type;
    owl_context *c = owl_context_new(m, &cp, &err);
    REQUIRE(c);
    int32_t got[256];
    REQUIRE(greedy(c, 1, 256, got, &err) == 0);
    int match = 0;
    while (match < 256 && got[match] == want[match]) match++;
    CHECKF(match == 256, "first difference at token %d (got %d, want %d)", match,
           match < 256 ? got[match] : -1, match < 256 ? want[match] : -1);

    /* The same tokens as a batched prefill give the same next-token logits as step by step. */
    owl_context_truncate(c, 0);
    int32_t prompt[65];
    prompt[0] = 1;
    memcpy(prompt + 1, want, 64 * sizeof(int32_t));
    REQUIRE(owl_decode(c, prompt, 65, true, &err) == 0);
    for (int i = 0; i < 64; i++) {
        const float *l = owl_context_logits(c, i);
        int64_t best = 0;
        for (int64_t j = 1; j < 512; j++)
            if (l[j] > l[best]) best = j;
        if (best != want[i]) {
            CHECKF(0, "batched position %d: argmax %lld, want %d", i, (long long)best, want[i]);
            break;
        }
    }
    owl_context_destroy(c);
    owl_model_destroy(m);
}

static void test_stories_greedy_f32_kv(void) { check_stories(OWL_TYPE_F32, 1); }
static void test_stories_greedy_f16_kv_2threads(void) { check_stories(OWL_TYPE_F16, 2); }

static void test_decode_errors(void) {
    SHARED_OR_SKIP(path, "models/stories260K/stories260K.gguf");
    owl_error err = {{0}};
    owl_model *m = owl_model_load(path, &err);
    REQUIRE(m);
    owl_context_params cp = owl_context_default_params();
    cp.n_ctx = 8;
    cp.n_threads = 1;
    owl_context *c = owl_context_new(m, &cp, &err);
    REQUIRE(c);
    int32_t bad = 512;
    CHECK(owl_decode(c, &bad, 1, false, &err) == -1);
    CHECK(strstr(err.msg, "out of range") != NULL);
    int32_t many[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    CHECK(owl_decode(c, many, 9, false, &err) == -1);
    CHECK(strstr(err.msg, "do not fit") != NULL);
    CHECK_EQ_INT(owl_context_n_past(c), 0);
    CHECK(owl_decode(c, many, 8, false, &err) == 0);
    CHECK_EQ_INT(owl_context_n_past(c), 8);
    owl_context_destroy(c);
    owl_model_destroy(m);
}

/* Copies stories260K into a new file with one tensor changed by `edit` (drop it, reshape it,
 * retype it), then loads it and checks the error names the problem. */
typedef enum { DROP, RESHAPE, RETYPE } edit_kind;

static void check_bad_file(edit_kind kind, const char *tensor, const char *want) {
    SHARED_OR_SKIP(path, "models/stories260K/stories260K.gguf");
    owl_error err = {{0}};
    owl_gguf *g = owl_gguf_open(path, &err);
    REQUIRE(g);
    owl_gguf_writer *w = owl_gguf_writer_new();
    for (uint64_t i = 0; i < g->n_kv; i++) owl_gguf_set_value(w, g->kv[i].key, &g->kv[i].value);
    static unsigned char zeros[1 << 16];
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const owl_gguf_tensor *t = &g->tensors[i];
        if (strcmp(t->name, tensor) != 0) {
            owl_gguf_add_tensor(w, t->name, (owl_type)t->type, t->n_dims, t->ne, t->data, &err);
            continue;
        }
        if (kind == DROP) continue;
        int64_t ne[4] = {t->ne[0], t->ne[1], t->ne[2], t->ne[3]};
        owl_type type = (owl_type)t->type;
        if (kind == RESHAPE) ne[1] += 1;
        if (kind == RETYPE) {
            type = OWL_TYPE_IQ4_NL;
            ne[0] = 64; /* the row length stays valid for IQ4_NL blocks of 32 */
        }
        REQUIRE(owl_row_size(type, ne[0]) * (size_t)ne[1] <= sizeof zeros);
        int64_t r = owl_gguf_add_tensor(w, t->name, type, t->n_dims, ne, zeros, &err);
        if (r < 0) printf("  add_tensor: %s\n", err.msg);
        REQUIRE(r >= 0);
    }
    char out[600];
    snprintf(out, sizeof out, "%s/bad-%d.gguf", test_tmpdir(), (int)kind);
    REQUIRE(owl_gguf_write(w, out, NULL, NULL, &err) == 0);
    owl_gguf_writer_destroy(w);
    owl_gguf_close(g);
    owl_model *m = owl_model_load(out, &err);
    CHECK(m == NULL);
    CHECKF(strstr(err.msg, want) != NULL, "error '%s' does not say '%s'", err.msg, want);
    owl_model_destroy(m);
}

static void test_missing_tensor(void) {
    check_bad_file(DROP, "blk.2.ffn_up.weight", "tensor blk.2.ffn_up.weight is missing");
}
static void test_wrong_shape(void) {
    check_bad_file(RESHAPE, "blk.0.attn_k.weight", "tensor blk.0.attn_k.weight has shape [64, 33, 1], expected [64, 32]");
}
static void test_unsupported_type(void) {
    check_bad_file(RETYPE, "blk.1.attn_v.weight", "unsupported tensor type iq4_nl in blk.1.attn_v.weight");
}

/* The default context: the model's (at most 4096), cut to what the memory holds. */
static void test_context_fits_memory(void) {
    CHECK(owl_context_fit(4096, 1000, 1ull << 30) == 4096);          /* fits */
    CHECK(owl_context_fit(4096, 1 << 20, 1000ull << 20) == 768);     /* 1000 positions fit: 3 blocks */
    CHECK(owl_context_fit(4096, 1 << 20, 100ull << 20) == 256);      /* never below one block */
    CHECK(owl_context_fit(128, 1 << 20, 10ull << 20) == 128);        /* nor above the model's */
    CHECK(owl_context_fit(4096, 1 << 20, 0) == 4096);                /* memory unknown: as asked */
    CHECK(owl_mem_available() > (1ull << 20));                       /* this machine has some */
}

int main(void) {
    RUN(test_missing_tensor);
    RUN(test_wrong_shape);
    RUN(test_unsupported_type);
    RUN(test_stories_greedy_f32_kv);
    RUN(test_stories_greedy_f16_kv_2threads);
    RUN(test_decode_errors);
    RUN(test_context_fits_memory);
    return test_summary();
}
