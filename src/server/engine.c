/* The engine backend: the model, its tokenizer and chat template, one context holding N
 * sequences (one per slot), a bounded queue, and one scheduler thread.
 *
 * Continuous batching. Each step of the scheduler:
 *   1. admits queued choices into free slots (between steps, so a new request never waits for
 *      running ones to end), and ends the slots whose client went away;
 *   2. gathers one batch: the pending token of every generating slot, then up to prefill_chunk
 *      prompt tokens of the slots still reading their prompts (oldest first) — a long prompt is
 *      read over several steps, so the streams already running keep getting a token per step
 *      (with no stream running, a prompt takes a whole batch of max_batch tokens at once);
 *   3. runs it as one owl_decode_batch: every weight matrix is read once for all slots;
 *   4. samples each slot that got logits and streams its text.
 *
 * Prefix cache: a slot remembers the tokens in its sequence's KV cache; a new prompt keeps the
 * longest common prefix and prefills only the rest, and admission picks the free slot whose
 * cache shares the most with the prompt, so a multi-turn chat never reads its history again. */
#include "server/engine.h"
#include "server/job.h"

#include "owl/chat.h"
#include "owl/gguf.h"
#include "owl/model.h"
#include "owl/sample.h"
#include "owl/tokenizer.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct work {
    owl_job *job;
    int choice;
    int32_t *prompt;
    int n_prompt;
} work;

/* A generated token whose text is still held back (its log-probabilities, for logprobs). */
typedef struct held_token {
    int32_t id;
    size_t start;   /* where its text starts in slot.held */
    float logprob;
    int n_top;
    owl_token_logprob top[OWL_MAX_TOP_LOGPROBS];
} held_token;

typedef struct slot {
    int seq;        /* its sequence in the shared context */
    int32_t *cache; /* the tokens in the sequence's KV cache, in order */
    int n_cache;
    work w;         /* w.job == NULL: free */
    uint64_t admitted; /* admission order: the oldest prompt is read first */
    bool prefilled;
    int n_cached;   /* prompt tokens the prefix cache supplied */
    int row;        /* this step: the row of its logits, -1 none */
    int fed;        /* this step: tokens it put into the batch */
    owl_sampler *sampler;
    owl_detok_stream *detok;
    char *held;     /* generated text not yet sent: it may be the start of a stop string */
    size_t n_held, cap_held;
    int held_tokens;
    held_token *lp; /* logprobs of the held tokens (when the request wants them) */
    int n_lp, cap_lp;
    int n_gen, max_gen;
    int32_t next;   /* sampled token still to be decoded; -1 none */
} slot;

typedef struct engine {
    owl_backend be;
    owl_model *model;
    owl_tokenizer *tok;
    owl_template *tmpl;
    bool own_template; /* the file's or the Modelfile's, not a built-in guessed for chat */
    char *bos, *eos, *name;
    int n_ctx;
    owl_context *ctx; /* n_slots sequences */
    int prefill_chunk;
    int max_batch;    /* tokens per step: the context's n_batch */
    bool prefix_cache;
    slot *slots;
    int n_slots;
    uint64_t n_admitted;
    int32_t *b_tok, *b_seq; /* one step's batch: up to max_batch tokens */
    bool *b_logits;
    work *queue;
    int n_queue, max_queue;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t thread;
    bool quit, started;
    int busy;
} engine;

/* ---- submit (connection thread) -------------------------------------------------------------- */

static char *render_chat(engine *e, const json_t *messages, owl_api_error *ae) {
    if (!e->tmpl) {
        owl_api_errorf(ae, 400, NULL, "messages", NULL, "the model has no chat template");
        return NULL;
    }
    owl_chat_params p = {.messages = messages, .add_generation_prompt = true,
                         .bos_token = e->bos, .eos_token = e->eos};
    char *out = NULL;
    size_t len = 0;
    owl_error err = {{0}};
    if (owl_chat_render(e->tmpl, &p, NULL, &out, &len, &err) < 0) {
        owl_api_errorf(ae, 400, NULL, "messages", NULL, "chat template: %s", err.msg);
        return NULL;
    }
    return out;
}

/* The prompt of one choice as text: the rendered chat, or the completion prompt. */
static char *prompt_text(engine *e, const owl_gen_request *r, int choice, bool *templated,
                         owl_api_error *ae) {
    *templated = false;
    if (r->kind == OWL_API_OPENAI_CHAT || r->kind == OWL_API_OLLAMA_CHAT) {
        *templated = true;
        return render_chat(e, r->messages, ae);
    }
    int n = r->n < 1 ? 1 : r->n;
    const char *p = r->prompts[choice / n];
    /* Ollama's generate wraps the prompt in the model's own template; a model without one
     * continues the prompt as it is (as `owl run` does), not in a built-in chat format. */
    if (r->kind == OWL_API_OLLAMA_GENERATE && !r->raw && e->tmpl && e->own_template) {
        json_t *msgs = json_array();
        if (r->system) {
            json_array_append_new(msgs, json_pack("{s:s,s:s}", "role", "system", "content", r->system));
        }
        json_array_append_new(msgs, json_pack("{s:s,s:s}", "role", "user", "content", p));
        char *s = render_chat(e, msgs, ae);
        json_decref(msgs);
        *templated = true;
        return s;
    }
    char *s = strdup(p);
    if (!s) owl_api_errorf(ae, 500, "server_error", NULL, NULL, "out of memory");
    return s;
}

static int submit(void *impl, owl_job *job, owl_api_error *ae) {
    engine *e = impl;
    const owl_gen_request *r = owl_job_request(job);
    int n_choices = owl_job_n_choices(job);
    work *items = calloc((size_t)n_choices, sizeof *items);
    if (!items) return owl_api_errorf(ae, 500, "server_error", NULL, NULL, "out of memory");
    int made = 0;
    for (int c = 0; c < n_choices; c++) {
        bool templated;
        char *text = prompt_text(e, r, c, &templated, ae);
        if (!text) goto fail;
        /* A rendered chat carries its own BOS when the template writes one. */
        bool add_special = !(templated && e->bos && *e->bos && strncmp(text, e->bos, strlen(e->bos)) == 0);
        int32_t *ids = NULL;
        size_t n = 0;
        owl_error err = {{0}};
        int rc = owl_tokenize(e->tok, text, strlen(text), add_special, templated, &ids, &n, &err);
        free(text);
        if (rc < 0) {
            owl_api_errorf(ae, 500, "server_error", NULL, NULL, "tokenizer: %s", err.msg);
            goto fail;
        }
        if (n == 0) { /* an empty prompt still needs one token to start from */
            free(ids);
            ids = malloc(sizeof *ids);
            if (!ids) goto fail;
            ids[0] = owl_tokenizer_bos(e->tok) >= 0 ? owl_tokenizer_bos(e->tok) : 0;
            n = 1;
        }
        if ((int64_t)n >= e->n_ctx) {
            free(ids);
            owl_api_errorf(ae, 400, NULL, r->messages ? "messages" : "prompt",
                           "context_length_exceeded",
                           "the prompt has %zu tokens; the context holds %d", n, e->n_ctx);
            goto fail;
        }
        items[c] = (work){.job = job, .choice = c, .prompt = ids, .n_prompt = (int)n};
        made++;
    }
    pthread_mutex_lock(&e->mu);
    if (e->n_queue + n_choices > e->max_queue) {
        pthread_mutex_unlock(&e->mu);
        owl_api_errorf(ae, 503, "server_error", NULL, "queue_full",
                       "the server is busy (%d requests waiting); try again later", e->n_queue);
        goto fail;
    }
    for (int c = 0; c < n_choices; c++) {
        owl_job_retain(job);
        e->queue[e->n_queue++] = items[c];
    }
    pthread_cond_signal(&e->cv);
    pthread_mutex_unlock(&e->mu);
    free(items);
    return 0;
fail:
    for (int c = 0; c < made; c++) free(items[c].prompt);
    free(items);
    return -1;
}

static void stats(void *impl, owl_backend_stats *st) {
    engine *e = impl;
    pthread_mutex_lock(&e->mu);
    st->n_slots = e->n_slots;
    st->busy_slots = e->busy;
    st->queue_depth = e->n_queue;
    st->n_ctx = e->n_ctx;
    pthread_mutex_unlock(&e->mu);
}

/* ---- the scheduler --------------------------------------------------------------------------- */

static void release_slot(engine *e, slot *s) {
    owl_job_release(s->w.job);
    free(s->w.prompt);
    s->w = (work){0};
    owl_sampler_destroy(s->sampler);
    s->sampler = NULL;
    owl_detok_stream_destroy(s->detok);
    s->detok = NULL;
    s->n_held = 0;
    s->held_tokens = 0;
    s->n_lp = 0;
    pthread_mutex_lock(&e->mu);
    e->busy--;
    pthread_mutex_unlock(&e->mu);
}

/* Hands the logprobs of the first n held tokens to the job (before the text they cover). */
static void send_logprobs(engine *e, slot *s, int n) {
    if (n <= 0) return;
    owl_gen_token toks[16];
    owl_gen_top_logprob tops[16][OWL_MAX_TOP_LOGPROBS];
    for (int done = 0; done < n;) {
        int k = n - done < 16 ? n - done : 16;
        for (int i = 0; i < k; i++) {
            const held_token *h = &s->lp[done + i];
            owl_str p = owl_token_piece(e->tok, h->id, false);
            toks[i] = (owl_gen_token){.bytes = p.ptr, .len = p.len, .logprob = h->logprob,
                                      .top = tops[i], .n_top = h->n_top};
            for (int t = 0; t < h->n_top; t++) {
                owl_str q = owl_token_piece(e->tok, h->top[t].token, false);
                tops[i][t] = (owl_gen_top_logprob){q.ptr, q.len, h->top[t].logprob};
            }
        }
        owl_job_logprobs(s->w.job, s->w.choice, toks, k);
        done += k;
    }
}

/* Sends n bytes of held text and the logprobs of every held token whose text starts in them. */
static void send_held(engine *e, slot *s, size_t n) {
    int k = 0;
    while (k < s->n_lp && s->lp[k].start < n) k++;
    send_logprobs(e, s, k);
    owl_job_text(s->w.job, s->w.choice, s->held, n, s->held_tokens);
    if (s->n_lp == 0) return; /* no logprobs wanted (s->lp may be NULL) */
    memmove(s->lp, s->lp + k, (size_t)(s->n_lp - k) * sizeof *s->lp);
    s->n_lp -= k;
    for (int i = 0; i < s->n_lp; i++) s->lp[i].start -= s->lp[i].start < n ? s->lp[i].start : n;
}

static void end_choice(engine *e, slot *s, owl_finish f) {
    if (s->n_held && f != OWL_FINISH_CANCEL) send_held(e, s, s->n_held);
    owl_job_finish(s->w.job, s->w.choice, f);
    release_slot(e, s);
}

/* Fails the slot's job after a decode error; its sequence starts over empty. */
static void fail_slot(engine *e, slot *s, const char *msg) {
    owl_job_fail(s->w.job, msg);
    owl_job_finish(s->w.job, s->w.choice, OWL_FINISH_STOP);
    s->n_cache = 0;
    owl_context_seq_truncate(e->ctx, s->seq, 0);
    release_slot(e, s);
}

/* The longest prefix of the prompt that the slot's KV cache already holds; at least the last
 * prompt token is run again so that its logits exist. */
static int common_prefix(const engine *e, const slot *s, const work *w) {
    if (!e->prefix_cache || owl_job_request(w->job)->no_prompt_cache) return 0;
    int n = 0;
    while (n < s->n_cache && n < w->n_prompt && s->cache[n] == w->prompt[n]) n++;
    return n == w->n_prompt ? n - 1 : n;
}

/* Prefix cache across slots: when another slot, busy or not, holds at least BORROW_MIN more
 * tokens of the prompt than this one, its positions are copied instead of run again (a shared
 * system prompt, several users of one document). A copy is a memcpy per layer, far cheaper than
 * the forward pass over the same tokens. */
#define BORROW_MIN 8

static void borrow_prefix(engine *e, slot *s, const work *w) {
    const slot *from = NULL;
    int best = s->n_cached + BORROW_MIN - 1;
    for (int i = 0; i < e->n_slots; i++) {
        const slot *o = &e->slots[i];
        if (o == s) continue;
        int c = common_prefix(e, o, w);
        if (c > best) {
            best = c;
            from = o;
        }
    }
    if (!from) return;
    owl_context_seq_copy(e->ctx, from->seq, s->seq, best);
    memcpy(s->cache, from->cache, (size_t)best * sizeof *s->cache);
    s->n_cache = s->n_cached = best;
}

static bool start_slot(engine *e, slot *s, work w) {
    const owl_gen_request *r = owl_job_request(w.job);
    s->w = w;
    s->admitted = e->n_admitted++;
    s->prefilled = false;
    s->n_gen = 0;
    s->next = -1;
    s->n_held = 0;
    s->held_tokens = 0;
    s->n_lp = 0;
    s->max_gen = r->max_tokens < 0 ? INT32_MAX : r->max_tokens;
    /* Prefix cache: keep what the sequence already holds of this prompt. */
    s->n_cached = common_prefix(e, s, &w);
    owl_context_seq_truncate(e->ctx, s->seq, s->n_cached);
    s->n_cache = s->n_cached;
    borrow_prefix(e, s, &w);
    owl_sampler_params sp = owl_sampler_default_params();
    const owl_gen_sampling *g = &r->sampling;
    sp.temperature = g->temperature;
    sp.top_k = g->top_k;
    sp.top_p = g->top_p;
    sp.min_p = g->min_p;
    sp.typical_p = g->typical_p;
    sp.repeat_penalty = g->repeat_penalty;
    sp.presence_penalty = g->presence_penalty;
    sp.frequency_penalty = g->frequency_penalty;
    sp.penalty_last_n = g->repeat_last_n < 0 ? e->n_ctx : g->repeat_last_n;
    /* Choices of one request differ by seed; the same seed gives the same choices. */
    sp.seed = (g->has_seed ? g->seed : (uint64_t)time(NULL) * 2654435761u) + (uint64_t)w.choice;
    owl_logit_bias *lb = NULL;
    if (g->n_logit_bias) {
        lb = calloc(g->n_logit_bias, sizeof *lb);
        for (size_t i = 0; lb && i < g->n_logit_bias; i++) {
            lb[i].token = g->logit_bias[i].token;
            /* -100 bans a token, as the OpenAI API defines it */
            lb[i].bias = g->logit_bias[i].bias <= -100 ? -INFINITY : g->logit_bias[i].bias;
        }
        sp.logit_bias = lb;
        sp.n_logit_bias = lb ? g->n_logit_bias : 0;
    }
    owl_error err = {{0}};
    s->sampler = owl_sampler_new(&sp, owl_model_hparams(e->model)->n_vocab, &err);
    free(lb);
    s->detok = owl_detok_stream_new(e->tok, 0);
    pthread_mutex_lock(&e->mu);
    e->busy++;
    pthread_mutex_unlock(&e->mu);
    if (!s->sampler || !s->detok) {
        owl_job_fail(w.job, s->sampler ? "out of memory" : err.msg);
        release_slot(e, s);
        return false;
    }
    return true;
}

static bool held_push(slot *s, const char *t, size_t n) {
    if (s->n_held + n + 1 > s->cap_held) {
        size_t cap = s->cap_held ? s->cap_held * 2 : 256;
        while (cap < s->n_held + n + 1) cap *= 2;
        char *p = realloc(s->held, cap);
        if (!p) return false;
        s->held = p;
        s->cap_held = cap;
    }
    memcpy(s->held + s->n_held, t, n);
    s->n_held += n;
    s->held[s->n_held] = '\0';
    return true;
}

/* Sends what can no longer become part of a stop string; true when a stop string matched. */
static bool release_text(engine *e, slot *s) {
    const owl_gen_request *r = owl_job_request(s->w.job);
    size_t send = 0;
    const bool hit = owl_stop_scan(s->held, s->n_held, (const char *const *)r->stop, r->n_stop, &send);
    if (send) send_held(e, s, send);
    if (hit) {
        s->n_held = 0;
        s->held_tokens = 0;
        s->n_lp = 0;
        return true;
    }
    if (send) {
        memmove(s->held, s->held + send, s->n_held - send);
        s->n_held -= send;
        s->held_tokens = 0;
    }
    return false;
}

/* Records the log-probabilities of a sampled token (from the raw logits) with the held text. */
static void note_logprobs(engine *e, slot *s, const float *logits, int32_t tok) {
    const owl_gen_request *r = owl_job_request(s->w.job);
    if (!r->logprobs) return;
    if (s->n_lp == s->cap_lp) {
        int cap = s->cap_lp ? s->cap_lp * 2 : 16;
        held_token *p = realloc(s->lp, (size_t)cap * sizeof *p);
        if (!p) return;
        s->lp = p;
        s->cap_lp = cap;
    }
    held_token *h = &s->lp[s->n_lp++];
    h->id = tok;
    h->start = s->n_held;
    h->n_top = r->top_logprobs;
    h->logprob = owl_logprobs(logits, owl_model_hparams(e->model)->n_vocab, tok, h->n_top, h->top);
    if (h->n_top > owl_model_hparams(e->model)->n_vocab) h->n_top = (int)owl_model_hparams(e->model)->n_vocab;
}

/* Samples the slot's next token from its logits and streams its text; ends the choice on an
 * end-of-generation token, a stop string or a length limit. */
static void sample_slot(engine *e, slot *s, const float *logits) {
    owl_error err = {{0}};
    int32_t tok = owl_sampler_sample(s->sampler, logits);
    owl_sampler_accept(s->sampler, tok);
    s->n_gen++;
    if (owl_tokenizer_is_eog(e->tok, tok)) {
        s->held_tokens++;
        end_choice(e, s, OWL_FINISH_STOP);
        return;
    }
    note_logprobs(e, s, logits, tok);
    const char *piece = NULL;
    size_t n = 0;
    if (owl_detok_stream_push(s->detok, tok, &piece, &n, &err) == 0 && n) held_push(s, piece, n);
    s->held_tokens++;
    if (release_text(e, s)) {
        end_choice(e, s, OWL_FINISH_STOP);
        return;
    }
    if (s->n_gen >= s->max_gen || s->n_cache + 1 >= e->n_ctx) {
        owl_detok_stream_flush(s->detok, &piece, &n);
        if (n) held_push(s, piece, n);
        end_choice(e, s, OWL_FINISH_LENGTH);
        return;
    }
    s->next = tok;
}

/* The prefilling slot that has waited longest and still has prompt tokens outside the batch. */
static slot *oldest_prefilling(engine *e) {
    slot *best = NULL;
    for (int i = 0; i < e->n_slots; i++) {
        slot *s = &e->slots[i];
        if (!s->w.job || s->prefilled || s->fed) continue;
        if (!best || s->admitted < best->admitted) best = s;
    }
    return best;
}

static void add_token(engine *e, int *n, int *rows, slot *s, int32_t tok, bool logits) {
    e->b_tok[*n] = tok;
    e->b_seq[*n] = s->seq;
    e->b_logits[*n] = logits;
    if (logits) s->row = (*rows)++;
    s->fed++;
    (*n)++;
}

/* One step over every active slot (see the top of the file). */
static void step(engine *e) {
    for (int i = 0; i < e->n_slots; i++) {
        slot *s = &e->slots[i];
        s->row = -1;
        s->fed = 0;
        if (s->w.job && owl_job_cancelled(s->w.job)) end_choice(e, s, OWL_FINISH_CANCEL);
    }
    int n = 0, rows = 0;
    for (int i = 0; i < e->n_slots; i++) {
        slot *s = &e->slots[i];
        if (s->w.job && s->prefilled && s->next >= 0) add_token(e, &n, &rows, s, s->next, true);
    }
    /* Prompts share the chunk when streams wait on this step, and the whole batch otherwise. */
    int budget = n > 0 ? e->prefill_chunk : e->max_batch;
    for (slot *s; budget > 0 && (s = oldest_prefilling(e));) {
        int left = s->w.n_prompt - s->n_cache, take = left < budget ? left : budget;
        for (int k = 0; k < take; k++)
            add_token(e, &n, &rows, s, s->w.prompt[s->n_cache + k], k == left - 1);
        budget -= take;
    }
    if (n == 0) return;
    owl_error err = {{0}};
    owl_batch b = {.n_tokens = n, .tokens = e->b_tok, .seq_ids = e->b_seq, .logits = e->b_logits};
    if (owl_decode_batch(e->ctx, &b, &err) < 0) {
        /* Nothing was changed: every slot that was in the batch fails. */
        for (int i = 0; i < e->n_slots; i++)
            if (e->slots[i].w.job && e->slots[i].fed) fail_slot(e, &e->slots[i], err.msg);
        return;
    }
    for (int i = 0; i < e->n_slots; i++) {
        slot *s = &e->slots[i];
        if (!s->w.job || !s->fed) continue;
        if (s->prefilled) {
            s->cache[s->n_cache++] = s->next;
            s->next = -1;
        } else {
            memcpy(s->cache + s->n_cache, s->w.prompt + s->n_cache, (size_t)s->fed * sizeof *s->cache);
            s->n_cache += s->fed;
            if (s->row < 0) continue; /* more of the prompt next step */
            s->prefilled = true;
            owl_job_prompt_done(s->w.job, s->w.choice, s->w.n_prompt, s->n_cached);
            if (s->max_gen == 0) { /* Ollama's num_predict 0: only the prompt */
                end_choice(e, s, OWL_FINISH_LENGTH);
                continue;
            }
        }
        sample_slot(e, s, owl_context_logits(e->ctx, s->row));
    }
}

/* The free slot for a prompt: the one whose cache shares the longest prefix with it; among
 * equals the least recently admitted, so that the caches of recent conversations survive. */
static slot *pick_slot(engine *e, const work *w) {
    slot *best = NULL;
    int best_common = -1;
    for (int i = 0; i < e->n_slots; i++) {
        slot *s = &e->slots[i];
        if (s->w.job) continue;
        int c = common_prefix(e, s, w);
        if (c > best_common || (c == best_common && s->admitted < best->admitted)) {
            best = s;
            best_common = c;
        }
    }
    return best;
}

static void *scheduler(void *arg) {
    engine *e = arg;
    pthread_mutex_lock(&e->mu);
    for (;;) {
        /* admit */
        slot *s;
        while (e->n_queue > 0 && (s = pick_slot(e, &e->queue[0]))) {
            work w = e->queue[0];
            memmove(e->queue, e->queue + 1, (size_t)(--e->n_queue) * sizeof *e->queue);
            pthread_mutex_unlock(&e->mu);
            start_slot(e, s, w);
            pthread_mutex_lock(&e->mu);
        }
        int active = 0;
        for (int i = 0; i < e->n_slots; i++) active += e->slots[i].w.job != NULL;
        if (!active) {
            if (e->quit) break;
            pthread_cond_wait(&e->cv, &e->mu);
            continue;
        }
        bool quit = e->quit;
        pthread_mutex_unlock(&e->mu);
        if (quit)
            for (int i = 0; i < e->n_slots; i++)
                if (e->slots[i].w.job) owl_job_cancel(e->slots[i].w.job);
        step(e);
        pthread_mutex_lock(&e->mu);
    }
    /* what is still queued ends as cancelled */
    while (e->n_queue > 0) {
        work w = e->queue[--e->n_queue];
        owl_job_finish(w.job, w.choice, OWL_FINISH_CANCEL);
        owl_job_release(w.job);
        free(w.prompt);
    }
    pthread_mutex_unlock(&e->mu);
    return NULL;
}

/* ---- lifecycle ------------------------------------------------------------------------------- */

static char *token_string(const owl_tokenizer *t, int32_t id) {
    if (id < 0) return NULL;
    return owl_str_dup(owl_token_text(t, id));
}

owl_backend *owl_engine_backend_new(const char *path, const owl_engine_params *p, owl_error *err) {
    engine *e = calloc(1, sizeof *e);
    if (!e) {
        owl_errorf(err, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&e->mu, NULL);
    pthread_cond_init(&e->cv, NULL);
    e->be.impl = e;
    e->be.submit = submit;
    e->be.stats = stats;
    e->n_slots = p->n_slots > 0 ? p->n_slots : 1;
    e->max_queue = p->max_queue > 0 ? p->max_queue : 64;
    if (!(e->model = owl_model_load(path, err))) goto fail;
    const owl_gguf *g = owl_model_gguf(e->model);
    if (!(e->tok = owl_tokenizer_from_gguf(g, err))) goto fail;
    owl_str tmpl = {0};
    const char *src = NULL;
    size_t src_len = 0;
    if (p->template_src) {
        src = p->template_src;
        src_len = strlen(src);
    } else if (owl_gguf_get_str(g, "tokenizer.chat_template", &tmpl)) {
        src = tmpl.ptr;
        src_len = tmpl.len;
    }
    e->own_template = src != NULL;
    if (!src) {
        const owl_gguf_array *toks = owl_gguf_get_array(g, "tokenizer.ggml.tokens");
        owl_str arch_s = {0};
        char *arch = owl_gguf_get_str(g, "general.architecture", &arch_s) ? owl_str_dup(arch_s) : NULL;
        /* detection names a built-in template; its source is looked up by that name */
        const char *builtin = owl_chat_builtin_detect(arch, toks && toks->type == OWL_GGUF_STRING ? toks->strs : NULL,
                                                      toks && toks->type == OWL_GGUF_STRING ? (size_t)toks->n : 0);
        src = builtin ? owl_chat_builtin(builtin) : NULL;
        free(arch);
        src_len = src ? strlen(src) : 0;
    }
    if (src) e->tmpl = owl_template_parse(src, src_len, NULL); /* unusable template: chat gets 400 */
    e->bos = token_string(e->tok, owl_tokenizer_bos(e->tok));
    e->eos = token_string(e->tok, owl_tokenizer_eos(e->tok));
    owl_str name = {0};
    if (owl_gguf_get_str(g, "general.name", &name) && name.len) e->name = owl_str_dup(name);
    else {
        const char *base = strrchr(path, '/');
        e->name = strdup(base ? base + 1 : path);
    }
    e->be.model_name = e->name;
    e->slots = calloc((size_t)e->n_slots, sizeof *e->slots);
    e->queue = calloc((size_t)e->max_queue, sizeof *e->queue);
    if (!e->slots || !e->queue || !e->name) {
        owl_errorf(err, "out of memory");
        goto fail;
    }
    e->prefill_chunk = p->prefill_chunk > 0 ? p->prefill_chunk : 64;
    e->prefix_cache = !p->no_prefix_cache;
    /* One forward pass per step: a token of every slot plus one prefill chunk. */
    owl_context_params cp = owl_context_default_params();
    cp.n_ctx = p->n_ctx;
    cp.n_threads = p->n_threads;
    cp.kv_type = p->kv_type;
    cp.n_seq = e->n_slots;
    e->max_batch = e->n_slots + e->prefill_chunk > 256 ? e->n_slots + e->prefill_chunk : 256;
    cp.n_batch = e->max_batch;
    if (!(e->ctx = owl_context_new(e->model, &cp, err))) goto fail;
    e->n_ctx = owl_context_n_ctx(e->ctx);
    size_t nb = (size_t)e->max_batch;
    e->b_tok = malloc(nb * sizeof *e->b_tok);
    e->b_seq = malloc(nb * sizeof *e->b_seq);
    e->b_logits = malloc(nb * sizeof *e->b_logits);
    if (!e->b_tok || !e->b_seq || !e->b_logits) {
        owl_errorf(err, "out of memory");
        goto fail;
    }
    for (int i = 0; i < e->n_slots; i++) {
        e->slots[i].seq = i;
        e->slots[i].cache = malloc((size_t)e->n_ctx * sizeof(int32_t));
        if (!e->slots[i].cache) {
            owl_errorf(err, "out of memory");
            goto fail;
        }
    }
    if (pthread_create(&e->thread, NULL, scheduler, e) != 0) {
        owl_errorf(err, "cannot start the scheduler thread");
        goto fail;
    }
    e->started = true;
    return &e->be;
fail:
    owl_engine_backend_destroy(&e->be);
    return NULL;
}

void owl_engine_backend_destroy(owl_backend *b) {
    if (!b) return;
    engine *e = b->impl;
    if (e->started) {
        pthread_mutex_lock(&e->mu);
        e->quit = true;
        pthread_cond_signal(&e->cv);
        pthread_mutex_unlock(&e->mu);
        pthread_join(e->thread, NULL);
    }
    for (int i = 0; e->slots && i < e->n_slots; i++) {
        free(e->slots[i].cache);
        free(e->slots[i].held);
        free(e->slots[i].lp);
    }
    owl_context_destroy(e->ctx);
    free(e->b_tok);
    free(e->b_seq);
    free(e->b_logits);
    free(e->slots);
    free(e->queue);
    owl_template_destroy(e->tmpl);
    owl_tokenizer_destroy(e->tok);
    owl_model_destroy(e->model);
    free(e->bos);
    free(e->eos);
    free(e->name);
    pthread_mutex_destroy(&e->mu);
    pthread_cond_destroy(&e->cv);
    free(e);
}
