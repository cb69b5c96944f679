/* Several sequences in one context, decoded together by owl_decode_batch, against each sequence
 * decoded alone in a context of its own.
 *
 * Tolerance: the logits may differ by float rounding only, because a token's matrix products
 * run through the batched gemm kernels in one case and the one-token dot kernels in the other
 * (a different summation order). With float weights (stories260K) every logit must be within
 * 1e-4 · (1 + |max logit|) of the alone value. With Q8_0 weights the activations are rounded
 * to int8 before each product, and an activation that differs in its last float bit can land
 * on the other side of an int8 rounding step; that moves the logits by up to about 1% of the
 * largest, so the bound there is 2e-2 · (1 + |max logit|). The argmax must match in both. */
#include "owl/forge.h"
#include "owl/model.h"
#include "test.h"

#define N_SEQ 5
#define STEPS 4

/* Prompts of different lengths (the longest is split over two forward passes of n_batch 16). */
static const int prompt_len[N_SEQ] = {3, 20, 7, 1, 12};

static int32_t prompt_token(int s, int i, int64_t n_vocab) {
    return (int32_t)((1 + s * 37 + i * 11) % n_vocab);
}

static int argmax(const float *l, int64_t n) {
    int best = 0;
    for (int64_t j = 1; j < n; j++)
        if (l[j] > l[best]) best = (int)j;
    return best;
}

/* Largest |a - b| over n values, relative to 1 + the largest |a|. */
static float rel_diff(const float *a, const float *b, int64_t n) {
    float d = 0, amax = 0;
    for (int64_t i = 0; i < n; i++) {
        if (fabsf(a[i] - b[i]) > d) d = fabsf(a[i] - b[i]);
        if (fabsf(a[i]) > amax) amax = fabsf(a[i]);
    }
    return d / (1 + amax);
}

static owl_context *new_ctx(owl_model *m, int n_seq, int n_threads) {
    owl_context_params cp = owl_context_default_params();
    cp.n_ctx = 64;
    cp.n_batch = 16;
    cp.n_threads = n_threads;
    cp.n_seq = n_seq;
    owl_error err = {{0}};
    owl_context *c = owl_context_new(m, &cp, &err);
    if (!c) printf("  %s\n", err.msg);
    return c;
}

/* Reference: each sequence alone. want[s][k] = logits after the prompt (k = 0) and after each
 * greedy step; tok[s][k] the greedy token chosen from them. */
static void decode_alone(owl_model *m, int64_t nv, float *want, int32_t tok[N_SEQ][STEPS + 1]) {
    owl_error err = {{0}};
    for (int s = 0; s < N_SEQ; s++) {
        owl_context *c = new_ctx(m, 1, 1);
        REQUIRE(c);
        int32_t p[32];
        for (int i = 0; i < prompt_len[s]; i++) p[i] = prompt_token(s, i, nv);
        REQUIRE(owl_decode(c, p, prompt_len[s], false, &err) == 0);
        for (int k = 0; k <= STEPS; k++) {
            const float *l = owl_context_logits(c, 0);
            memcpy(want + ((size_t)s * (STEPS + 1) + (size_t)k) * (size_t)nv, l, (size_t)nv * sizeof(float));
            tok[s][k] = argmax(l, nv);
            if (k < STEPS) REQUIRE(owl_decode(c, &tok[s][k], 1, false, &err) == 0);
        }
        owl_context_destroy(c);
    }
}

static float tol;

static void check_row(const float *got, const float *want, int64_t nv, int s, int k, float *worst) {
    float d = rel_diff(got, want, nv);
    if (d > *worst) *worst = d;
    CHECKF(d <= tol, "sequence %d step %d: logits differ by %g", s, k, d);
    CHECKF(argmax(got, nv) == argmax(want, nv), "sequence %d step %d: argmax differs", s, k);
}

static void check_model(owl_model *m, int n_threads) {
    const int64_t nv = owl_model_hparams(m)->n_vocab;
    float *want = malloc((size_t)N_SEQ * (STEPS + 1) * (size_t)nv * sizeof(float));
    REQUIRE(want);
    int32_t tok[N_SEQ][STEPS + 1];
    decode_alone(m, nv, want, tok);
    if (test_cur_failed) {
        free(want);
        return;
    }
    owl_error err = {{0}};
    owl_context *c = new_ctx(m, N_SEQ, n_threads);
    REQUIRE(c);
    CHECK_EQ_INT(owl_context_n_seq(c), N_SEQ);

    /* Every prompt in one batch, interleaved token by token so that a sequence's tokens are not
     * adjacent; logits of each prompt's last token. */
    int32_t toks[128], seqs[128];
    bool flags[128];
    int n = 0, fed[N_SEQ] = {0};
    for (bool more = true; more;) {
        more = false;
        for (int s = 0; s < N_SEQ; s++) {
            if (fed[s] == prompt_len[s]) continue;
            toks[n] = prompt_token(s, fed[s], nv);
            seqs[n] = s;
            flags[n] = ++fed[s] == prompt_len[s];
            n++;
            more = true;
        }
    }
    owl_batch b = {.n_tokens = n, .tokens = toks, .seq_ids = seqs, .logits = flags};
    REQUIRE(owl_decode_batch(c, &b, &err) == 0);
    /* Rows come in batch order: find which sequence each flagged token belongs to. */
    float worst = 0;
    for (int i = 0, row = 0; i < n; i++) {
        if (!flags[i]) continue;
        check_row(owl_context_logits(c, row++), want + (size_t)seqs[i] * (STEPS + 1) * (size_t)nv,
                  nv, seqs[i], 0, &worst);
    }
    for (int s = 0; s < N_SEQ; s++) CHECK_EQ_INT(owl_context_seq_n_past(c, s), prompt_len[s]);

    /* Decode steps: one token of every sequence per batch (in reverse order, to show the order
     * does not matter). */
    for (int k = 0; k < STEPS; k++) {
        for (int i = 0; i < N_SEQ; i++) {
            seqs[i] = N_SEQ - 1 - i;
            toks[i] = tok[seqs[i]][k];
            flags[i] = true;
        }
        b = (owl_batch){.n_tokens = N_SEQ, .tokens = toks, .seq_ids = seqs, .logits = flags};
        REQUIRE(owl_decode_batch(c, &b, &err) == 0);
        for (int i = 0; i < N_SEQ; i++)
            check_row(owl_context_logits(c, i),
                      want + ((size_t)seqs[i] * (STEPS + 1) + (size_t)k + 1) * (size_t)nv, nv, seqs[i], k + 1, &worst);
    }

    /* Truncating sequence 1 back to its prompt and decoding its first step again leaves the
     * others as they were: sequence 1 reproduces step 1, and a fresh step of the others still
     * matches the alone run of their last step (redone from scratch in sequence 1's slot). */
    owl_context_seq_truncate(c, 1, prompt_len[1]);
    CHECK_EQ_INT(owl_context_seq_n_past(c, 1), prompt_len[1]);
    CHECK_EQ_INT(owl_context_seq_n_past(c, 0), prompt_len[0] + STEPS);
    b = (owl_batch){.n_tokens = 1, .tokens = &tok[1][0], .seq_ids = (int32_t[]){1}, .logits = NULL};
    REQUIRE(owl_decode_batch(c, &b, &err) == 0);
    check_row(owl_context_logits(c, 0), want + ((size_t)1 * (STEPS + 1) + 1) * (size_t)nv, nv, 1, 1, &worst);
    /* Sequence 3 (a one-token prompt) cleared and rerun as sequence 3 alone. */
    owl_context_seq_truncate(c, 3, 0);
    int32_t p3 = prompt_token(3, 0, nv);
    b = (owl_batch){.n_tokens = 1, .tokens = &p3, .seq_ids = (int32_t[]){3}, .logits = NULL};
    REQUIRE(owl_decode_batch(c, &b, &err) == 0);
    check_row(owl_context_logits(c, 0), want + (size_t)3 * (STEPS + 1) * (size_t)nv, nv, 3, 0, &worst);
    /* Sequence 0 continues from where it was, untouched by the rewrites of 1 and 3: its next
     * token's logits equal a context that ran sequence 0 alone for one more step. */
    owl_context *alone = new_ctx(m, 1, 1);
    REQUIRE(alone);
    int32_t p0[32];
    for (int i = 0; i < prompt_len[0]; i++) p0[i] = prompt_token(0, i, nv);
    for (int k = 0; k <= STEPS; k++) p0[prompt_len[0] + k] = tok[0][k];
    REQUIRE(owl_decode(alone, p0, prompt_len[0] + STEPS + 1, false, &err) == 0);
    b = (owl_batch){.n_tokens = 1, .tokens = &tok[0][STEPS], .seq_ids = (int32_t[]){0}, .logits = NULL};
    REQUIRE(owl_decode_batch(c, &b, &err) == 0);
    float d = rel_diff(owl_context_logits(c, 0), owl_context_logits(alone, 0), nv);
    CHECKF(d <= tol, "sequence 0 after the others were truncated: logits differ by %g", d);
    printf("  largest relative logit difference batched vs alone: %.2g\n", worst);
    owl_context_destroy(alone);
    owl_context_destroy(c);
    free(want);
}

static void test_stories_batch(void) {
    SHARED_OR_SKIP(path, "models/stories260K/stories260K.gguf");
    owl_error err = {{0}};
    owl_model *m = owl_model_load(path, &err);
    REQUIRE(m);
    tol = 1e-4f;
    check_model(m, 2);
    owl_model_destroy(m);
}

static void test_twin_batch(void) {
    SHARED_OR_SKIP(vocab, "models/vocab");
    char path[600];
    snprintf(path, sizeof path, "%s/twin-q8.gguf", test_tmpdir());
    owl_forge_opts o = {.preset = "smollm2-135m", .tiny = true, .type = "q8_0", .seed = 7, .n_threads = 2};
    owl_error err = {{0}};
    if (owl_forge(&o, path, &err)) printf("  forge: %s\n", err.msg);
    REQUIRE(err.msg[0] == 0);
    owl_model *m = owl_model_load(path, &err);
    REQUIRE(m);
    tol = 2e-2f;
    check_model(m, 2);
    owl_model_destroy(m);
    unlink(path);
}

/* A prefix copied from one sequence to another continues exactly as if it had been run there. */
static void test_seq_copy(void) {
    SHARED_OR_SKIP(path, "models/stories260K/stories260K.gguf");
    owl_error err = {{0}};
    owl_model *m = owl_model_load(path, &err);
    REQUIRE(m);
    tol = 1e-4f;
    owl_context *c = new_ctx(m, 3, 2);
    REQUIRE(c);
    int32_t p[12];
    for (int i = 0; i < 12; i++) p[i] = prompt_token(1, i, 512);
    REQUIRE(owl_decode(c, p, 12, false, &err) == 0);
    float want[512];
    memcpy(want, owl_context_logits(c, 0), sizeof want);
    owl_context_seq_copy(c, 0, 1, 8);
    CHECK_EQ_INT(owl_context_seq_n_past(c, 1), 8);
    int32_t seqs[4] = {1, 1, 1, 1};
    owl_batch b = {.n_tokens = 4, .tokens = p + 8, .seq_ids = seqs};
    REQUIRE(owl_decode_batch(c, &b, &err) == 0);
    float worst = 0;
    check_row(owl_context_logits(c, 0), want, 512, 1, 0, &worst);
    CHECK_EQ_INT(owl_context_seq_n_past(c, 0), 12);
    CHECK_EQ_INT(owl_context_seq_n_past(c, 2), 0);
    owl_context_seq_copy(c, 1, 2, 100); /* clamped to what sequence 1 holds */
    CHECK_EQ_INT(owl_context_seq_n_past(c, 2), 12);
    owl_context_seq_copy(c, 1, 1, 5); /* onto itself: a truncation */
    CHECK_EQ_INT(owl_context_seq_n_past(c, 1), 5);
    owl_context_seq_copy(c, 0, 7, 3); /* out of range: nothing */
    owl_context_destroy(c);
    owl_model_destroy(m);
}

static void test_batch_errors(void) {
    SHARED_OR_SKIP(path, "models/stories260K/stories260K.gguf");
    owl_error err = {{0}};
    owl_model *m = owl_model_load(path, &err);
    REQUIRE(m);
    owl_context_params cp = owl_context_default_params();
    cp.n_ctx = 4;
    cp.n_threads = 1;
    cp.n_seq = 2;
    owl_context *c = owl_context_new(m, &cp, &err);
    REQUIRE(c);
    int32_t toks[6] = {1, 2, 3, 4, 5, 6};
    int32_t seqs[6] = {0, 1, 2, 0, 0, 0};
    owl_batch b = {.n_tokens = 3, .tokens = toks, .seq_ids = seqs};
    CHECK(owl_decode_batch(c, &b, &err) == -1);
    CHECK(strstr(err.msg, "sequence id 2 is out of range") != NULL);
    /* Five tokens of sequence 0 do not fit its 4 positions, though the cache holds 8. */
    int32_t seqs2[6] = {0, 1, 0, 0, 0, 0};
    b = (owl_batch){.n_tokens = 6, .tokens = toks, .seq_ids = seqs2};
    CHECK(owl_decode_batch(c, &b, &err) == -1);
    CHECK(strstr(err.msg, "do not fit") != NULL);
    CHECK_EQ_INT(owl_context_seq_n_past(c, 0), 0);
    CHECK_EQ_INT(owl_context_seq_n_past(c, 1), 0);
    b.n_tokens = 5; /* four of sequence 0, one of 1 */
    CHECK(owl_decode_batch(c, &b, &err) == 0);
    CHECK_EQ_INT(owl_context_seq_n_past(c, 0), 4);
    CHECK_EQ_INT(owl_context_seq_n_past(c, 1), 1);
    CHECK_EQ_INT(owl_context_seq_n_past(c, 7), 0);
    b = (owl_batch){.n_tokens = 0, .tokens = toks};
    CHECK(owl_decode_batch(c, &b, &err) == -1);
    owl_context_destroy(c);
    cp.n_seq = 1000;
    CHECK(owl_context_new(m, &cp, &err) == NULL);
    CHECK(strstr(err.msg, "sequences") != NULL);
    owl_model_destroy(m);
}

int main(void) {
    RUN(test_batch_errors);
    RUN(test_stories_batch);
    RUN(test_twin_batch);
    RUN(test_seq_copy);
    return test_summary();
}
