/* The engine backend: the model, its tokenizer and chat template, N slots each with its own KV
 * cache, a bounded queue, and one scheduler thread.
 *
 * Each loop of the scheduler admits queued choices into free slots, then advances every active
 * slot by one step (its whole prompt on admission, one token afterwards), so new requests join
 * between steps and streams interleave. A slot keeps the tokens in its KV cache; a new prompt
 * reuses the longest common prefix (the prefix cache), so a multi-turn chat does not prefill its
 * history again. The forward passes of different slots are still separate calls: one batched
 * pass over all slots needs multi-sequence decoding in the model layer. */
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

typedef struct slot {
    owl_context *ctx;
    int32_t *cache; /* the tokens in the KV cache, in order */
    int n_cache;
    work w;         /* w.job == NULL: free */
    bool prefilled;
    owl_sampler *sampler;
    owl_detok_stream *detok;
    char *held;     /* generated text not yet sent: it may be the start of a stop string */
    size_t n_held, cap_held;
    int held_tokens;
    int n_gen, max_gen;
    int32_t next;   /* sampled token still to be decoded; -1 none */
} slot;

typedef struct engine {
    owl_backend be;
    owl_model *model;
    owl_tokenizer *tok;
    owl_template *tmpl;
    char *bos, *eos, *name;
    int n_ctx;
    slot *slots;
    int n_slots;
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
    if (r->kind == OWL_API_OLLAMA_GENERATE && !r->raw && e->tmpl) {
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
    pthread_mutex_lock(&e->mu);
    e->busy--;
    pthread_mutex_unlock(&e->mu);
}

static void end_choice(engine *e, slot *s, owl_finish f) {
    if (s->n_held && f != OWL_FINISH_CANCEL) {
        owl_job_text(s->w.job, s->w.choice, s->held, s->n_held, s->held_tokens);
    }
    owl_job_finish(s->w.job, s->w.choice, f);
    release_slot(e, s);
}

static bool start_slot(engine *e, slot *s, work w) {
    const owl_gen_request *r = owl_job_request(w.job);
    s->w = w;
    s->prefilled = false;
    s->n_gen = 0;
    s->next = -1;
    s->n_held = 0;
    s->held_tokens = 0;
    s->max_gen = r->max_tokens < 0 ? INT32_MAX : r->max_tokens;
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
static bool release_text(slot *s) {
    const owl_gen_request *r = owl_job_request(s->w.job);
    size_t keep = 0;
    for (size_t i = 0; i < r->n_stop; i++) {
        const char *hit = s->held ? memmem(s->held, s->n_held, r->stop[i], strlen(r->stop[i])) : NULL;
        if (hit) {
            size_t n = (size_t)(hit - s->held);
            if (n) owl_job_text(s->w.job, s->w.choice, s->held, n, s->held_tokens);
            s->n_held = 0;
            s->held_tokens = 0;
            return true;
        }
        /* the longest tail of held text that starts this stop string */
        size_t sl = strlen(r->stop[i]);
        for (size_t k = sl - 1; k > keep && k > 0; k--) {
            if (k <= s->n_held && memcmp(s->held + s->n_held - k, r->stop[i], k) == 0) {
                keep = k;
                break;
            }
        }
    }
    /* never split a UTF-8 character when keeping a tail */
    while (keep < s->n_held && keep && (s->held[s->n_held - keep] & 0xC0) == 0x80) keep++;
    size_t send = s->n_held - keep;
    if (send) {
        owl_job_text(s->w.job, s->w.choice, s->held, send, s->held_tokens);
        memmove(s->held, s->held + send, keep);
        s->n_held = keep;
        s->held_tokens = 0;
    }
    return false;
}

static bool cache_append(slot *s, const int32_t *t, int n) {
    memcpy(s->cache + s->n_cache, t, (size_t)n * sizeof *t);
    s->n_cache += n;
    return true;
}

static void step(engine *e, slot *s) {
    owl_job *j = s->w.job;
    owl_error err = {{0}};
    if (owl_job_cancelled(j)) {
        end_choice(e, s, OWL_FINISH_CANCEL);
        return;
    }
    if (!s->prefilled) {
        /* Prefix cache: keep what the KV already holds of this prompt; at least the last prompt
         * token is run again so that its logits exist. */
        int common = 0;
        while (common < s->n_cache && common < s->w.n_prompt && s->cache[common] == s->w.prompt[common]) common++;
        if (common == s->w.n_prompt) common--;
        owl_context_truncate(s->ctx, common);
        s->n_cache = common;
        if (owl_decode(s->ctx, s->w.prompt + common, s->w.n_prompt - common, false, &err) < 0) {
            owl_job_fail(j, err.msg);
            owl_job_finish(j, s->w.choice, OWL_FINISH_STOP);
            s->n_cache = 0;
            owl_context_truncate(s->ctx, 0);
            release_slot(e, s);
            return;
        }
        cache_append(s, s->w.prompt + common, s->w.n_prompt - common);
        s->prefilled = true;
        owl_job_prompt_done(j, s->w.choice, s->w.n_prompt, common);
        if (s->max_gen == 0) { /* Ollama's num_predict 0: only the prompt */
            end_choice(e, s, OWL_FINISH_LENGTH);
            return;
        }
    } else if (s->next >= 0) {
        if (owl_decode(s->ctx, &s->next, 1, false, &err) < 0) {
            owl_job_fail(j, err.msg);
            end_choice(e, s, OWL_FINISH_STOP);
            return;
        }
        cache_append(s, &s->next, 1);
        s->next = -1;
    }
    const float *logits = owl_context_logits(s->ctx, 0);
    int32_t tok = owl_sampler_sample(s->sampler, logits);
    owl_sampler_accept(s->sampler, tok);
    s->n_gen++;
    if (owl_tokenizer_is_eog(e->tok, tok)) {
        s->held_tokens++;
        end_choice(e, s, OWL_FINISH_STOP);
        return;
    }
    const char *piece = NULL;
    size_t n = 0;
    if (owl_detok_stream_push(s->detok, tok, &piece, &n, &err) == 0 && n) held_push(s, piece, n);
    s->held_tokens++;
    if (release_text(s)) {
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

static void *scheduler(void *arg) {
    engine *e = arg;
    pthread_mutex_lock(&e->mu);
    for (;;) {
        /* admit */
        for (int i = 0; i < e->n_slots && e->n_queue > 0; i++) {
            if (e->slots[i].w.job) continue;
            work w = e->queue[0];
            memmove(e->queue, e->queue + 1, (size_t)(--e->n_queue) * sizeof *e->queue);
            pthread_mutex_unlock(&e->mu);
            start_slot(e, &e->slots[i], w);
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
        for (int i = 0; i < e->n_slots; i++) {
            slot *s = &e->slots[i];
            if (!s->w.job) continue;
            if (quit) owl_job_cancel(s->w.job);
            step(e, s);
        }
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
    } else {
        const owl_gguf_array *toks = owl_gguf_get_array(g, "tokenizer.ggml.tokens");
        owl_str arch_s = {0};
        char *arch = owl_gguf_get_str(g, "general.architecture", &arch_s) ? owl_str_dup(arch_s) : NULL;
        src = owl_chat_builtin_detect(arch, toks && toks->type == OWL_GGUF_STRING ? toks->strs : NULL,
                                      toks && toks->type == OWL_GGUF_STRING ? (size_t)toks->n : 0);
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
    owl_context_params cp = owl_context_default_params();
    cp.n_ctx = p->n_ctx;
    cp.n_threads = p->n_threads;
    for (int i = 0; i < e->n_slots; i++) {
        if (!(e->slots[i].ctx = owl_context_new(e->model, &cp, err))) goto fail;
        e->n_ctx = owl_context_n_ctx(e->slots[i].ctx);
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
        owl_context_destroy(e->slots[i].ctx);
        free(e->slots[i].cache);
        free(e->slots[i].held);
    }
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
