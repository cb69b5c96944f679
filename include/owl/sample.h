/* owl — token sampling: the usual chain over one row of logits.
 *
 * Order (as llama.cpp's default chain): logit bias → repetition/presence/frequency penalties
 * over the last `penalty_last_n` accepted tokens → top-k → typical-p → top-p → min-p →
 * temperature → a draw from the remaining distribution. A temperature <= 0 is greedy: the
 * highest logit after bias and penalties. The random stream is owned by the sampler and seeded
 * from `seed`, so the same seed, settings and logits give the same tokens on every run. */
#ifndef OWL_SAMPLE_H
#define OWL_SAMPLE_H

#include "owl/common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct owl_logit_bias {
    int32_t token;
    float bias; /* added to the logit; -INFINITY bans the token */
} owl_logit_bias;

typedef struct owl_sampler_params {
    float temperature;       /* <= 0: greedy (default 0.8) */
    int top_k;               /* <= 0: off (default 40) */
    float top_p;             /* >= 1: off (default 0.95) */
    float min_p;             /* <= 0: off (default 0.05) */
    float typical_p;         /* >= 1: off (default 1) */
    float repeat_penalty;    /* 1: off (default 1) */
    float presence_penalty;  /* 0: off */
    float frequency_penalty; /* 0: off */
    int penalty_last_n;      /* window of accepted tokens the penalties look at (default 64) */
    uint64_t seed;
    const owl_logit_bias *logit_bias; /* copied by owl_sampler_new */
    size_t n_logit_bias;
} owl_sampler_params;

owl_sampler_params owl_sampler_default_params(void);

typedef struct owl_sampler owl_sampler;

owl_sampler *owl_sampler_new(const owl_sampler_params *p, int64_t n_vocab, owl_error *err);
void owl_sampler_destroy(owl_sampler *s);

/* Picks a token from n_vocab logits (not modified). Does not record it: call
 * owl_sampler_accept() with the token that is actually used (prompt tokens too, for the
 * penalties). */
int32_t owl_sampler_sample(owl_sampler *s, const float *logits);
void owl_sampler_accept(owl_sampler *s, int32_t token);
/* Forgets the accepted tokens and restarts the random stream from the seed. */
void owl_sampler_reset(owl_sampler *s);

/* ---- stop strings ---------------------------------------------------------------------------
 * Generated text is streamed a token at a time and a stop string can span tokens, so a caller
 * keeps the text it has not yet shown in a buffer of its own and, after each token, asks
 * owl_stop_scan what to do with it:
 *   - true: a stop string occurs in it; show the first *n_release bytes (the text before the
 *     earliest occurrence of any stop string), drop the rest and stop generating;
 *   - false: show the first *n_release bytes and keep the rest, the longest tail that is still
 *     the start of some stop string (grown so that it never splits a UTF-8 character).
 * Empty or NULL stop strings are ignored. When generation ends for another reason, the held text
 * is shown as it is. Used by `owl run --stop` and by the server. */
bool owl_stop_scan(const char *text, size_t n, const char *const *stops, size_t n_stops,
                   size_t *n_release);

/* ---- log-probabilities ------------------------------------------------------------------------ */

#define OWL_MAX_TOP_LOGPROBS 20

typedef struct owl_token_logprob {
    int32_t token;
    float logprob;
} owl_token_logprob;

/* The model's own distribution, as the OpenAI API reports it: the log-softmax of the raw
 * logits, before logit bias, penalties, temperature or any truncation of the sampler. Returns
 * the log-probability of `token` and writes the n_top (0..OWL_MAX_TOP_LOGPROBS, at most n_vocab)
 * most likely tokens into top, most likely first (ties: lower id first). */
float owl_logprobs(const float *logits, int64_t n_vocab, int32_t token, int n_top,
                   owl_token_logprob *top);

#ifdef __cplusplus
}
#endif
#endif
