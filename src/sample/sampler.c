/* The sampler chain (see owl/sample.h for the order and the meaning of each setting). */
#include "owl/sample.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct cand {
    float logit;
    float p;
    float key; /* sort key of the typical-p step */
    int32_t id;
} cand;

struct owl_sampler {
    owl_sampler_params p;
    int64_t n_vocab;
    owl_logit_bias *bias;
    cand *c;         /* n_vocab candidates */
    int32_t *recent; /* ring of the last penalty_last_n accepted tokens */
    int n_recent, recent_head;
    uint32_t *counts; /* per-token scratch for the penalties */
    uint64_t rng[4];
};

owl_sampler_params owl_sampler_default_params(void) {
    return (owl_sampler_params){
        .temperature = 0.8f,
        .top_k = 40,
        .top_p = 0.95f,
        .min_p = 0.05f,
        .typical_p = 1.0f,
        .repeat_penalty = 1.0f,
        .penalty_last_n = 64,
        .seed = 0,
    };
}

/* ---- random numbers: xoshiro256** seeded through splitmix64 ------------------------------- */

static uint64_t splitmix(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t rng_next(uint64_t s[4]) {
    uint64_t r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return r;
}

/* Uniform in [0, 1). */
static double rng_uniform(uint64_t s[4]) { return (double)(rng_next(s) >> 11) * 0x1.0p-53; }

static void rng_seed(owl_sampler *s) {
    uint64_t x = s->p.seed;
    for (int i = 0; i < 4; i++) s->rng[i] = splitmix(&x);
}

/* ---- life cycle ------------------------------------------------------------------------------ */

owl_sampler *owl_sampler_new(const owl_sampler_params *p, int64_t n_vocab, owl_error *err) {
    if (n_vocab < 1 || n_vocab > (1 << 24)) {
        owl_errorf(err, "sampler: vocabulary of %lld tokens is out of range", (long long)n_vocab);
        return NULL;
    }
    owl_sampler_params q = p ? *p : owl_sampler_default_params();
    if (q.penalty_last_n < 0) q.penalty_last_n = 0;
    if (q.penalty_last_n > (1 << 20)) q.penalty_last_n = 1 << 20;
    if (!(q.temperature == q.temperature) || !(q.top_p == q.top_p) || !(q.min_p == q.min_p) ||
        !(q.typical_p == q.typical_p) || !(q.repeat_penalty > 0)) {
        owl_errorf(err, "sampler: invalid settings (NaN, or repeat penalty <= 0)");
        return NULL;
    }
    for (size_t i = 0; i < q.n_logit_bias; i++) {
        if (q.logit_bias[i].token < 0 || q.logit_bias[i].token >= n_vocab) {
            owl_errorf(err, "sampler: logit bias for token %d, outside the vocabulary of %lld",
                       q.logit_bias[i].token, (long long)n_vocab);
            return NULL;
        }
    }
    owl_sampler *s = calloc(1, sizeof *s);
    if (!s) goto oom;
    s->p = q;
    s->n_vocab = n_vocab;
    s->c = malloc((size_t)n_vocab * sizeof *s->c);
    s->counts = calloc((size_t)n_vocab, sizeof *s->counts);
    s->recent = malloc((size_t)(q.penalty_last_n ? q.penalty_last_n : 1) * sizeof *s->recent);
    if (q.n_logit_bias) {
        s->bias = malloc(q.n_logit_bias * sizeof *s->bias);
        if (s->bias) memcpy(s->bias, q.logit_bias, q.n_logit_bias * sizeof *s->bias);
    }
    s->p.logit_bias = s->bias;
    if (!s->c || !s->counts || !s->recent || (q.n_logit_bias && !s->bias)) goto oom;
    rng_seed(s);
    return s;
oom:
    owl_sampler_destroy(s);
    owl_errorf(err, "sampler: out of memory");
    return NULL;
}

void owl_sampler_destroy(owl_sampler *s) {
    if (!s) return;
    free(s->c);
    free(s->counts);
    free(s->recent);
    free(s->bias);
    free(s);
}

void owl_sampler_reset(owl_sampler *s) {
    s->n_recent = s->recent_head = 0;
    rng_seed(s);
}

void owl_sampler_accept(owl_sampler *s, int32_t token) {
    const int cap = s->p.penalty_last_n;
    if (cap == 0 || token < 0 || token >= s->n_vocab) return;
    s->recent[s->recent_head] = token;
    s->recent_head = (s->recent_head + 1) % cap;
    if (s->n_recent < cap) s->n_recent++;
}

/* ---- the chain ------------------------------------------------------------------------------- */

static int by_logit_desc(const void *a, const void *b) {
    const cand *x = a, *y = b;
    if (x->logit != y->logit) return x->logit > y->logit ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id; /* ties: lower id first, for determinism */
}

static int by_key_asc(const void *a, const void *b) {
    const cand *x = a, *y = b;
    if (x->key != y->key) return x->key < y->key ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* Softmax over the first n candidates (sorted or not), relative to the maximum. */
static void softmax(cand *c, size_t n) {
    float mx = -INFINITY;
    for (size_t i = 0; i < n; i++)
        if (c[i].logit > mx) mx = c[i].logit;
    double sum = 0;
    for (size_t i = 0; i < n; i++) {
        c[i].p = mx == -INFINITY ? 1.0f : expf(c[i].logit - mx);
        sum += c[i].p;
    }
    for (size_t i = 0; i < n; i++) c[i].p = (float)(c[i].p / sum);
}

static void apply_penalties(owl_sampler *s) {
    const owl_sampler_params *p = &s->p;
    if (s->n_recent == 0 ||
        (p->repeat_penalty == 1.0f && p->presence_penalty == 0.0f && p->frequency_penalty == 0.0f))
        return;
    for (int i = 0; i < s->n_recent; i++) s->counts[s->recent[i]]++;
    for (int i = 0; i < s->n_recent; i++) {
        int32_t t = s->recent[i];
        uint32_t n = s->counts[t];
        if (n == 0) continue; /* already applied */
        float *l = &s->c[t].logit; /* candidates are still in id order here */
        if (*l > 0) {
            *l /= p->repeat_penalty;
        } else {
            *l *= p->repeat_penalty;
        }
        *l -= (float)n * p->frequency_penalty + p->presence_penalty;
        s->counts[t] = 0;
    }
}

/* Min-heap on "worse than": the root is the worst candidate kept. */
static void sift_down(cand *c, size_t n, size_t i) {
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, w = i;
        if (l < n && by_logit_desc(&c[l], &c[w]) > 0) w = l;
        if (r < n && by_logit_desc(&c[r], &c[w]) > 0) w = r;
        if (w == i) return;
        cand t = c[i];
        c[i] = c[w];
        c[w] = t;
        i = w;
    }
}

/* Keeps the candidates whose typical-set surprise is closest to the entropy, up to mass p. */
static size_t typical(cand *c, size_t n, float p) {
    softmax(c, n);
    double entropy = 0;
    for (size_t i = 0; i < n; i++)
        if (c[i].p > 0) entropy -= c[i].p * log(c[i].p);
    /* Order by |−log p − H| ascending: the most typical first. */
    for (size_t i = 0; i < n; i++) c[i].key = c[i].p > 0 ? (float)fabs(-log(c[i].p) - entropy) : INFINITY;
    qsort(c, n, sizeof *c, by_key_asc);
    double cum = 0;
    size_t keep = n;
    for (size_t i = 0; i < n; i++) {
        cum += c[i].p;
        if (cum >= p) {
            keep = i + 1;
            break;
        }
    }
    qsort(c, keep, sizeof *c, by_logit_desc);
    return keep;
}

/* Moves the k best candidates (by by_logit_desc) to the front, unordered: a min-heap of k over
 * one pass, so a large vocabulary is not sorted to pick 40. */
static size_t select_top(cand *c, size_t n, size_t k) {
    /* Heapify c[0..k) with the worst at the root. */
    for (size_t i = k / 2; i-- > 0;) sift_down(c, k, i);
    for (size_t i = k; i < n; i++) {
        if (by_logit_desc(&c[i], &c[0]) < 0) {
            c[0] = c[i];
            sift_down(c, k, 0);
        }
    }
    return k;
}

/* Greedy with no penalty in force: the argmax of logits + bias, found without building the
 * candidate array (a server step samples every slot in a row on one thread). The biased tokens
 * are marked in the penalty counts (zero outside apply_penalties) and weighed on their own; ties
 * go to the lower id, as in the full chain. */
static int32_t greedy_direct(owl_sampler *s, const float *logits) {
    const owl_sampler_params *p = &s->p;
    for (size_t i = 0; i < p->n_logit_bias; i++) s->counts[p->logit_bias[i].token] = 1;
    int64_t best = -1;
    float bv = -INFINITY;
    for (int64_t i = 0; i < s->n_vocab; i++) {
        if (!s->counts[i] && (best < 0 || logits[i] > bv)) {
            best = i;
            bv = logits[i];
        }
    }
    for (size_t i = 0; i < p->n_logit_bias; i++) {
        const int32_t t = p->logit_bias[i].token;
        if (!s->counts[t]) continue; /* a token listed twice is weighed once */
        s->counts[t] = 0;
        float v = logits[t];
        for (size_t k = 0; k < p->n_logit_bias; k++)
            if (p->logit_bias[k].token == t) v += p->logit_bias[k].bias;
        if (best < 0 || v > bv || (v == bv && t < best)) {
            best = t;
            bv = v;
        }
    }
    return (int32_t)best;
}

int32_t owl_sampler_sample(owl_sampler *s, const float *logits) {
    const owl_sampler_params *p = &s->p;
    const size_t nv = (size_t)s->n_vocab;
    if (p->temperature <= 0 &&
        (s->n_recent == 0 || (p->repeat_penalty == 1.0f && p->presence_penalty == 0.0f &&
                              p->frequency_penalty == 0.0f)))
        return greedy_direct(s, logits);
    cand *c = s->c;
    for (size_t i = 0; i < nv; i++) c[i] = (cand){.logit = logits[i], .id = (int32_t)i};
    for (size_t i = 0; i < p->n_logit_bias; i++) c[p->logit_bias[i].token].logit += p->logit_bias[i].bias;
    apply_penalties(s);

    if (p->temperature <= 0) {
        size_t best = 0;
        for (size_t i = 1; i < nv; i++)
            if (c[i].logit > c[best].logit) best = i;
        return c[best].id;
    }

    /* Drop banned tokens, then order by logit (top-k first so the sort is small). */
    size_t n = 0;
    for (size_t i = 0; i < nv; i++)
        if (c[i].logit > -INFINITY) c[n++] = c[i];
    if (n == 0) return 0;
    if (p->top_k > 0 && (size_t)p->top_k < n) n = select_top(c, n, (size_t)p->top_k);
    qsort(c, n, sizeof *c, by_logit_desc);
    if (p->typical_p < 1.0f) n = typical(c, n, p->typical_p);
    if (p->top_p < 1.0f) {
        softmax(c, n);
        double cum = 0;
        for (size_t i = 0; i < n; i++) {
            cum += c[i].p;
            if (cum >= p->top_p) {
                n = i + 1;
                break;
            }
        }
    }
    if (p->min_p > 0.0f) {
        /* p_i >= min_p * p_max  <=>  logit_i >= logit_max + log(min_p) */
        const float floor_logit = c[0].logit + logf(p->min_p);
        size_t keep = 1;
        while (keep < n && c[keep].logit >= floor_logit) keep++;
        n = keep;
    }
    for (size_t i = 0; i < n; i++) c[i].logit /= p->temperature;
    softmax(c, n);
    double r = rng_uniform(s->rng), cum = 0;
    for (size_t i = 0; i < n; i++) {
        cum += c[i].p;
        if (r < cum) return c[i].id;
    }
    return c[n - 1].id;
}

/* ---- log-probabilities ------------------------------------------------------------------------ */

float owl_logprobs(const float *logits, int64_t n_vocab, int32_t token, int n_top,
                   owl_token_logprob *top) {
    if (n_top < 0) n_top = 0;
    if (n_top > OWL_MAX_TOP_LOGPROBS) n_top = OWL_MAX_TOP_LOGPROBS;
    if (n_top > n_vocab) n_top = (int)n_vocab;
    /* log p_i = l_i - max - log Σ exp(l_j - max), the sum in double. One pass finds the maximum
     * and keeps the n_top largest logits in a small sorted array (n_top <= 20, so insertion is
     * cheap and most logits are rejected by one comparison). */
    float maxv = -INFINITY;
    int have = 0;
    for (int64_t i = 0; i < n_vocab; i++) {
        const float l = logits[i];
        if (l > maxv) maxv = l;
        if (n_top == 0 || (have == n_top && !(l > top[have - 1].logprob))) continue;
        int at = have < n_top ? have++ : n_top - 1;
        while (at > 0 && l > top[at - 1].logprob) {
            top[at] = top[at - 1];
            at--;
        }
        top[at] = (owl_token_logprob){(int32_t)i, l};
    }
    double sum = 0;
    for (int64_t i = 0; i < n_vocab; i++) sum += exp((double)logits[i] - maxv);
    const double lse = (double)maxv + log(sum);
    for (int i = 0; i < have; i++) top[i].logprob = (float)((double)top[i].logprob - lse);
    if (token < 0 || token >= n_vocab) return -INFINITY;
    return (float)((double)logits[token] - lse);
}
