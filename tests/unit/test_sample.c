#include "owl/sample.h"
#include "test.h"

#define NV 100

static void make_logits(float *l, unsigned long long seed) {
    for (int i = 0; i < NV; i++) l[i] = test_rng_float(&seed) * 4.0f;
}

static int argmax(const float *l) {
    int b = 0;
    for (int i = 1; i < NV; i++)
        if (l[i] > l[b]) b = i;
    return b;
}

static void test_greedy(void) {
    float l[NV];
    make_logits(l, 1);
    owl_sampler_params p = owl_sampler_default_params();
    p.temperature = 0;
    owl_sampler *s = owl_sampler_new(&p, NV, NULL);
    REQUIRE(s);
    CHECK_EQ_INT(owl_sampler_sample(s, l), argmax(l));
    owl_sampler_destroy(s);
    /* top_k = 1 at any temperature is greedy too. */
    p.temperature = 5;
    p.top_k = 1;
    s = owl_sampler_new(&p, NV, NULL);
    REQUIRE(s);
    for (int i = 0; i < 20; i++) CHECK_EQ_INT(owl_sampler_sample(s, l), argmax(l));
    owl_sampler_destroy(s);
}

static void test_seed_reproducible(void) {
    float l[NV];
    make_logits(l, 2);
    owl_sampler_params p = owl_sampler_default_params();
    p.temperature = 1.5f;
    p.top_k = 0;
    p.top_p = 1;
    p.min_p = 0;
    p.seed = 1234;
    owl_sampler *a = owl_sampler_new(&p, NV, NULL), *b = owl_sampler_new(&p, NV, NULL);
    p.seed = 99;
    owl_sampler *c = owl_sampler_new(&p, NV, NULL);
    REQUIRE(a && b && c);
    int same_ab = 0, same_ac = 0;
    int32_t first[50];
    for (int i = 0; i < 50; i++) {
        int32_t x = owl_sampler_sample(a, l), y = owl_sampler_sample(b, l), z = owl_sampler_sample(c, l);
        first[i] = x;
        same_ab += x == y;
        same_ac += x == z;
    }
    CHECK_EQ_INT(same_ab, 50);
    CHECK(same_ac < 50);
    owl_sampler_reset(a);
    for (int i = 0; i < 50; i++) CHECK_EQ_INT(owl_sampler_sample(a, l), first[i]);
    owl_sampler_destroy(a);
    owl_sampler_destroy(b);
    owl_sampler_destroy(c);
}

static void test_distribution(void) {
    /* Three tokens with probabilities 0.5, 0.3, 0.2 at temperature 1. */
    float l[NV];
    for (int i = 0; i < NV; i++) l[i] = -INFINITY;
    l[3] = logf(0.5f);
    l[7] = logf(0.3f);
    l[9] = logf(0.2f);
    owl_sampler_params p = owl_sampler_default_params();
    p.temperature = 1;
    p.top_k = 0;
    p.top_p = 1;
    p.min_p = 0;
    p.seed = 7;
    owl_sampler *s = owl_sampler_new(&p, NV, NULL);
    REQUIRE(s);
    int counts[NV] = {0};
    const int N = 20000;
    for (int i = 0; i < N; i++) counts[owl_sampler_sample(s, l)]++;
    CHECK_EQ_INT(counts[3] + counts[7] + counts[9], N);
    CHECKF(fabs(counts[3] / (double)N - 0.5) < 0.02, "p3 %f", counts[3] / (double)N);
    CHECKF(fabs(counts[7] / (double)N - 0.3) < 0.02, "p7 %f", counts[7] / (double)N);
    owl_sampler_destroy(s);
}

static void test_truncations(void) {
    float l[NV];
    for (int i = 0; i < NV; i++) l[i] = -10;
    l[1] = 5;   /* p ~ 0.88 */
    l[2] = 3;   /* p ~ 0.12 */
    l[5] = -2;
    owl_sampler_params p = owl_sampler_default_params();
    p.temperature = 1;
    p.top_k = 0;
    p.min_p = 0;
    p.top_p = 0.5f; /* only token 1 */
    owl_sampler *s = owl_sampler_new(&p, NV, NULL);
    REQUIRE(s);
    for (int i = 0; i < 100; i++) CHECK_EQ_INT(owl_sampler_sample(s, l), 1);
    owl_sampler_destroy(s);
    p.top_p = 1;
    p.min_p = 0.5f; /* p2/p1 = e^-2 < 0.5: only token 1 */
    s = owl_sampler_new(&p, NV, NULL);
    for (int i = 0; i < 100; i++) CHECK_EQ_INT(owl_sampler_sample(s, l), 1);
    owl_sampler_destroy(s);
    p.min_p = 0;
    p.top_k = 2;
    s = owl_sampler_new(&p, NV, NULL);
    int seen2 = 0;
    for (int i = 0; i < 300; i++) {
        int32_t t = owl_sampler_sample(s, l);
        CHECK(t == 1 || t == 2);
        seen2 += t == 2;
    }
    CHECK(seen2 > 0);
    owl_sampler_destroy(s);
    p.top_k = 0;
    p.typical_p = 0.5f;
    s = owl_sampler_new(&p, NV, NULL);
    for (int i = 0; i < 50; i++) CHECK_EQ_INT(owl_sampler_sample(s, l), 1);
    owl_sampler_destroy(s);
}

static void test_bias_and_penalties(void) {
    float l[NV];
    make_logits(l, 3);
    int best = argmax(l);
    owl_logit_bias ban = {best, -INFINITY};
    owl_sampler_params p = owl_sampler_default_params();
    p.temperature = 0;
    p.logit_bias = &ban;
    p.n_logit_bias = 1;
    owl_sampler *s = owl_sampler_new(&p, NV, NULL);
    REQUIRE(s);
    CHECK(owl_sampler_sample(s, l) != best);
    owl_sampler_destroy(s);

    /* A heavy presence penalty moves greedy off a token once it has been accepted. */
    p.logit_bias = NULL;
    p.n_logit_bias = 0;
    p.presence_penalty = 100;
    s = owl_sampler_new(&p, NV, NULL);
    CHECK_EQ_INT(owl_sampler_sample(s, l), best);
    owl_sampler_accept(s, best);
    CHECK(owl_sampler_sample(s, l) != best);
    owl_sampler_reset(s);
    CHECK_EQ_INT(owl_sampler_sample(s, l), best);
    owl_sampler_destroy(s);

    /* Repetition penalty divides positive logits, multiplies negative ones. */
    float two[NV];
    for (int i = 0; i < NV; i++) two[i] = -100;
    two[0] = 2.0f;
    two[1] = 1.5f;
    p.presence_penalty = 0;
    p.repeat_penalty = 2.0f;
    s = owl_sampler_new(&p, NV, NULL);
    owl_sampler_accept(s, 0);
    CHECK_EQ_INT(owl_sampler_sample(s, two), 1);
    owl_sampler_destroy(s);
}

static void test_bad_params(void) {
    owl_error err = {{0}};
    owl_logit_bias bad = {NV + 5, 1};
    owl_sampler_params p = owl_sampler_default_params();
    p.logit_bias = &bad;
    p.n_logit_bias = 1;
    CHECK(owl_sampler_new(&p, NV, &err) == NULL);
    CHECK(strstr(err.msg, "logit bias") != NULL);
    CHECK(owl_sampler_new(NULL, 0, &err) == NULL);
    p = owl_sampler_default_params();
    p.temperature = NAN;
    CHECK(owl_sampler_new(&p, NV, &err) == NULL);
}

/* Greedy with logit bias (bans, duplicates, ties) picks the argmax of logits + bias, the lower
 * id on a tie: random cases against a plain reference. */
static void test_greedy_bias(void) {
    enum { N = 300 };
    float l[N], adj[N];
    uint32_t x = 12345;
    for (int round = 0; round < 200; round++) {
        for (int i = 0; i < N; i++) {
            x = x * 1103515245u + 12345u;
            l[i] = (float)((x >> 16) % 8); /* few distinct values: many ties */
        }
        owl_logit_bias b[6];
        int nb = round % 7;
        if (nb > 6) nb = 6;
        for (int k = 0; k < nb; k++) {
            x = x * 1103515245u + 12345u;
            b[k].token = (int32_t)((x >> 8) % 12); /* low ids: duplicates and ties with others */
            b[k].bias = k == 0 && round % 3 == 0 ? -INFINITY : (float)((int)((x >> 20) % 5) - 2);
        }
        memcpy(adj, l, sizeof l);
        for (int k = 0; k < nb; k++) adj[b[k].token] += b[k].bias;
        int want = 0;
        for (int i = 1; i < N; i++)
            if (adj[i] > adj[want]) want = i;
        owl_sampler_params p = owl_sampler_default_params();
        p.temperature = 0;
        p.logit_bias = b;
        p.n_logit_bias = (size_t)nb;
        owl_sampler *s = owl_sampler_new(&p, N, NULL);
        REQUIRE(s);
        int got = owl_sampler_sample(s, l);
        CHECKF(got == want, "round %d: got %d, want %d", round, got, want);
        /* and a second call (the marks were cleared) gives the same */
        CHECK_EQ_INT(owl_sampler_sample(s, l), want);
        owl_sampler_destroy(s);
    }
}

/* log-softmax of the raw logits, and the top tokens in order. */
static void test_logprobs(void) {
    float l[6] = {1.0f, 3.0f, 2.0f, 3.0f, -1.0f, 0.0f};
    double z = 0;
    for (int i = 0; i < 6; i++) z += exp(l[i]);
    owl_token_logprob top[OWL_MAX_TOP_LOGPROBS];
    float lp = owl_logprobs(l, 6, 2, 3, top);
    CHECK(fabs(lp - (2.0 - log(z))) < 1e-5);
    CHECK_EQ_INT(top[0].token, 1); /* a tie: the lower id first */
    CHECK_EQ_INT(top[1].token, 3);
    CHECK_EQ_INT(top[2].token, 2);
    CHECK(fabs(top[0].logprob - (3.0 - log(z))) < 1e-5);
    CHECK(fabs(top[2].logprob - lp) < 1e-6);
    /* More than the vocabulary: all of it, sorted; the probabilities sum to 1. */
    lp = owl_logprobs(l, 6, 4, 50, top);
    double sum = 0;
    for (int i = 0; i < 6; i++) sum += exp(top[i].logprob);
    CHECK(fabs(sum - 1.0) < 1e-5);
    CHECK_EQ_INT(top[5].token, 4);
    CHECK(fabs(top[5].logprob - lp) < 1e-6);
    /* Large logits do not overflow. */
    float big[3] = {1000.0f, 1000.0f, 0.0f};
    lp = owl_logprobs(big, 3, 0, 0, NULL);
    CHECK(fabs(lp - (float)-log(2.0)) < 1e-5);
    CHECK(isinf(owl_logprobs(big, 3, 7, 0, NULL)));
}

int main(void) {
    RUN(test_logprobs);
    RUN(test_greedy_bias);
    RUN(test_greedy);
    RUN(test_seed_reproducible);
    RUN(test_distribution);
    RUN(test_truncations);
    RUN(test_bias_and_penalties);
    RUN(test_bad_params);
    return test_summary();
}
