#include "owl/model.h"
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

int main(void) {
    RUN(test_stories_greedy_f32_kv);
    RUN(test_stories_greedy_f16_kv_2threads);
    RUN(test_decode_errors);
    return test_summary();
}
