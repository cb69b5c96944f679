/* A job: one generation request in flight. The backend's scheduler thread reports text and ends
 * of choices; the job turns them straight into the bytes of the API's response (SSE chunks,
 * NDJSON lines, or one body at the end) in a buffer that the connection thread drains. All state
 * is under one mutex; the two sides meet only here. */
#include "server/job.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

typedef struct choice {
    char *text; /* accumulated answer (non-streaming only) */
    size_t len, cap;
    bool started;
    owl_finish finish;
    /* logprobs: the whole choice's (non-streaming), or those waiting for the next text chunk
     * (streaming); text_offset counts the characters already covered. */
    json_t *lp;
    size_t lp_offset, sent_chars;
} choice;

struct owl_job {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int refs;
    atomic_bool cancelled;
    owl_gen_request req;
    char id[48], created_at[48], *model;
    owl_gen_meta meta;
    int n_choices, n_finished;
    choice *ch;
    owl_gen_usage usage;
    int64_t t_start, t_first, t_prompt;
    /* Framed output not yet read by the connection. */
    char *out;
    size_t out_len, out_head, out_cap;
    bool done;
    int status;
    char *body; /* non-streaming result */
};

int64_t owl_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t owl_wall_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static bool is_openai(const owl_job *j) {
    return j->req.kind == OWL_API_OPENAI_CHAT || j->req.kind == OWL_API_OPENAI_COMPLETION;
}

owl_job *owl_job_new(owl_gen_request *req, const char *model_name) {
    owl_job *j = calloc(1, sizeof *j);
    if (!j) return NULL;
    int n = req->n < 1 ? 1 : req->n;
    if (req->kind == OWL_API_OPENAI_COMPLETION) j->n_choices = (int)req->n_prompts * n;
    else if (req->kind == OWL_API_OPENAI_CHAT) j->n_choices = n;
    else j->n_choices = 1; /* Ollama has no n */
    if (j->n_choices < 1) j->n_choices = 1;
    j->ch = calloc((size_t)j->n_choices, sizeof *j->ch);
    const char *name = req->model && *req->model ? req->model : model_name ? model_name : "owl";
    j->model = strdup(name);
    if (!j->ch || !j->model) {
        free(j->ch);
        free(j->model);
        free(j);
        return NULL;
    }
    pthread_mutex_init(&j->mu, NULL);
    pthread_cond_init(&j->cv, NULL);
    j->refs = 1;
    atomic_init(&j->cancelled, false);
    j->req = *req;
    memset(req, 0, sizeof *req);
    /* The id only has to be unique; 96 random bits in base-62 are plenty. */
    unsigned char rnd[24] = {0};
    if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd) {
        uint64_t t = (uint64_t)owl_now_ns() ^ (uint64_t)(uintptr_t)j;
        memcpy(rnd, &t, sizeof t);
    }
    static const char b62[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    int at = snprintf(j->id, sizeof j->id, "%s",
                      j->req.kind == OWL_API_OPENAI_CHAT ? "chatcmpl-" : "cmpl-");
    for (int i = 0; i < 24; i++) j->id[at + i] = b62[rnd[i] % 62];
    j->id[at + 24] = '\0';
    int64_t wall = owl_wall_ns();
    owl_rfc3339_ns(j->created_at, sizeof j->created_at, wall);
    j->meta.id = j->id;
    j->meta.created = wall / 1000000000;
    j->meta.created_at = j->created_at;
    j->meta.model = j->model;
    j->meta.fingerprint = "fp_owl_" OWL_VERSION;
    j->t_start = owl_now_ns();
    j->status = 200;
    return j;
}

void owl_job_retain(owl_job *j) {
    pthread_mutex_lock(&j->mu);
    j->refs++;
    pthread_mutex_unlock(&j->mu);
}

void owl_job_release(owl_job *j) {
    if (!j) return;
    pthread_mutex_lock(&j->mu);
    int left = --j->refs;
    pthread_mutex_unlock(&j->mu);
    if (left > 0) return;
    for (int i = 0; i < j->n_choices; i++) {
        free(j->ch[i].text);
        json_decref(j->ch[i].lp);
    }
    free(j->ch);
    free(j->model);
    free(j->out);
    free(j->body);
    owl_gen_request_free(&j->req);
    pthread_mutex_destroy(&j->mu);
    pthread_cond_destroy(&j->cv);
    free(j);
}

const owl_gen_request *owl_job_request(const owl_job *j) { return &j->req; }
int owl_job_n_choices(const owl_job *j) { return j->n_choices; }
bool owl_job_cancelled(const owl_job *j) { return atomic_load(&((owl_job *)j)->cancelled); }

void owl_job_cancel(owl_job *j) {
    atomic_store(&j->cancelled, true);
    pthread_mutex_lock(&j->mu);
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);
}

/* ---- output (under j->mu) -------------------------------------------------------------------- */

static void emit_raw(owl_job *j, const char *s, size_t n) {
    if (j->out_head == j->out_len) j->out_head = j->out_len = 0;
    if (j->out_len + n > j->out_cap) {
        /* Move unread bytes to the front before growing. */
        if (j->out_head) {
            memmove(j->out, j->out + j->out_head, j->out_len - j->out_head);
            j->out_len -= j->out_head;
            j->out_head = 0;
        }
        size_t cap = j->out_cap ? j->out_cap : 1024;
        while (cap < j->out_len + n) cap *= 2;
        char *p = realloc(j->out, cap);
        if (!p) return; /* dropped output under memory exhaustion; the stream still ends */
        j->out = p;
        j->out_cap = cap;
    }
    memcpy(j->out + j->out_len, s, n);
    j->out_len += n;
}

/* Frames and queues one JSON text (freed here). */
/* Ollama stamps every line with its own time; OpenAI keeps one `created` for the response. */
static void restamp(owl_job *j) {
    if (!is_openai(j)) owl_rfc3339_ns(j->created_at, sizeof j->created_at, owl_wall_ns());
}

static void emit_json(owl_job *j, char *json) {
    if (!json) return;
    size_t n;
    char *f = is_openai(j) ? owl_sse_frame(json, &n) : owl_ndjson_frame(json, &n);
    free(json);
    if (!f) return;
    emit_raw(j, f, n);
    free(f);
}

static void start_choice(owl_job *j, int c) {
    if (j->ch[c].started) return;
    j->ch[c].started = true;
    if (j->req.stream && j->req.kind == OWL_API_OPENAI_CHAT) {
        emit_json(j, owl_openai_chat_chunk(&j->meta, c, "assistant", "", OWL_FINISH_NONE,
                                           j->req.include_usage, NULL));
    }
}

static owl_finish overall_finish(const owl_job *j) {
    for (int i = 0; i < j->n_choices; i++) {
        if (j->ch[i].finish == OWL_FINISH_LENGTH) return OWL_FINISH_LENGTH;
    }
    return OWL_FINISH_STOP;
}

static void fill_durations(owl_job *j) {
    int64_t now = owl_now_ns();
    int64_t prompt_end = j->t_prompt ? j->t_prompt : now;
    j->usage.total_ns = now - j->t_start;
    j->usage.prompt_ns = prompt_end - j->t_start;
    j->usage.eval_ns = now - prompt_end;
}

static void finalize(owl_job *j) {
    fill_durations(j);
    restamp(j);
    if (j->req.stream) {
        switch (j->req.kind) {
        case OWL_API_OPENAI_CHAT:
        case OWL_API_OPENAI_COMPLETION:
            if (j->req.include_usage) {
                emit_json(j, owl_openai_usage_chunk(&j->meta, j->req.kind == OWL_API_OPENAI_CHAT,
                                                    &j->usage));
            }
            emit_raw(j, OWL_SSE_DONE, strlen(OWL_SSE_DONE));
            break;
        case OWL_API_OLLAMA_CHAT:
            emit_json(j, owl_ollama_chat_final(&j->meta, "", overall_finish(j), &j->usage));
            break;
        case OWL_API_OLLAMA_GENERATE:
            emit_json(j, owl_ollama_generate_final(&j->meta, "", overall_finish(j), &j->usage));
            break;
        }
    } else {
        owl_gen_choice *cs = calloc((size_t)j->n_choices, sizeof *cs);
        if (cs) {
            for (int i = 0; i < j->n_choices; i++) {
                cs[i].text = j->ch[i].text ? j->ch[i].text : "";
                cs[i].finish = j->ch[i].finish;
                if (j->req.logprobs && is_openai(j)) {
                    /* a choice without tokens still gets the empty shape */
                    if (!j->ch[i].lp) j->ch[i].lp = json_object();
                    size_t off = 0;
                    owl_openai_logprobs_append(j->ch[i].lp, j->req.kind == OWL_API_OPENAI_CHAT, NULL, 0, &off);
                    cs[i].logprobs = j->ch[i].lp;
                }
            }
            size_t n = (size_t)j->n_choices;
            switch (j->req.kind) {
            case OWL_API_OPENAI_CHAT:
                j->body = owl_openai_chat_response(&j->meta, cs, n, &j->usage);
                break;
            case OWL_API_OPENAI_COMPLETION:
                j->body = owl_openai_completion_response(&j->meta, cs, n, &j->usage);
                break;
            case OWL_API_OLLAMA_CHAT:
                j->body = owl_ollama_chat_final(&j->meta, cs[0].text, cs[0].finish, &j->usage);
                break;
            case OWL_API_OLLAMA_GENERATE:
                j->body = owl_ollama_generate_final(&j->meta, cs[0].text, cs[0].finish, &j->usage);
                break;
            }
            free(cs);
        }
        if (!j->body) j->status = 500;
    }
    j->done = true;
    pthread_cond_broadcast(&j->cv);
}

/* ---- backend events -------------------------------------------------------------------------- */

void owl_job_prompt_done(owl_job *j, int c, int prompt_tokens, int cached_tokens) {
    pthread_mutex_lock(&j->mu);
    int n = j->req.n < 1 ? 1 : j->req.n;
    /* Choices that share a prompt share its tokens: count them once. */
    if (c % n == 0) {
        j->usage.prompt_tokens += prompt_tokens;
        j->usage.cached_tokens += cached_tokens;
    }
    if (!j->t_prompt) j->t_prompt = owl_now_ns();
    pthread_mutex_unlock(&j->mu);
}

/* A copy of text with every byte that does not start a well-formed UTF-8 sequence replaced by
 * U+FFFD, so a backend that splits a character can never make a chunk unencodable. */
static char *utf8_clean(const char *text, size_t len, size_t *out_len) {
    char *o = malloc(len * 3 + 1);
    if (!o) return NULL;
    size_t at = 0;
    for (size_t i = 0; i < len;) {
        int n = owl_utf8_len((unsigned char)text[i]);
        if (n > 0 && i + (size_t)n <= len && text[i] != '\0' && owl_utf8_valid(text + i, (size_t)n)) {
            memcpy(o + at, text + i, (size_t)n);
            at += (size_t)n;
            i += (size_t)n;
        } else {
            memcpy(o + at, "\xEF\xBF\xBD", 3);
            at += 3;
            i++;
        }
    }
    o[at] = '\0';
    *out_len = at;
    return o;
}

void owl_job_logprobs(owl_job *j, int c, const owl_gen_token *tokens, int n) {
    if (c < 0 || c >= j->n_choices || n <= 0 || !j->req.logprobs || !is_openai(j)) return;
    pthread_mutex_lock(&j->mu);
    choice *ch = &j->ch[c];
    if (!j->done && !ch->finish) {
        if (!ch->lp) ch->lp = json_object();
        /* offsets count from the text actually sent (a first token's leading space may have
         * been dropped by the detokenizer) */
        ch->lp_offset = ch->sent_chars;
        if (ch->lp)
            owl_openai_logprobs_append(ch->lp, j->req.kind == OWL_API_OPENAI_CHAT, tokens, (size_t)n,
                                       &ch->lp_offset);
    }
    pthread_mutex_unlock(&j->mu);
}

void owl_job_text(owl_job *j, int c, const char *raw, size_t raw_len, int n_tokens) {
    if (c < 0 || c >= j->n_choices) return;
    size_t len;
    char *text = utf8_clean(raw, raw_len, &len);
    if (!text) return;
    pthread_mutex_lock(&j->mu);
    if (j->done || j->ch[c].finish) {
        pthread_mutex_unlock(&j->mu);
        free(text);
        return;
    }
    if (!j->t_first) j->t_first = owl_now_ns();
    if (!j->t_prompt) j->t_prompt = j->t_first;
    j->usage.completion_tokens += n_tokens;
    for (size_t i = 0; i < len; i++) j->ch[c].sent_chars += ((unsigned char)text[i] & 0xC0) != 0x80;
    start_choice(j, c);
    if (j->req.stream) {
        restamp(j);
        switch (j->req.kind) {
        case OWL_API_OPENAI_CHAT:
            emit_json(j, owl_openai_chat_chunk(&j->meta, c, NULL, text, OWL_FINISH_NONE,
                                               j->req.include_usage, j->ch[c].lp));
            break;
        case OWL_API_OPENAI_COMPLETION:
            emit_json(j, owl_openai_completion_chunk(&j->meta, c, text, OWL_FINISH_NONE,
                                                     j->req.include_usage, j->ch[c].lp));
            break;
        case OWL_API_OLLAMA_CHAT: emit_json(j, owl_ollama_chat_chunk(&j->meta, text)); break;
        case OWL_API_OLLAMA_GENERATE:
            emit_json(j, owl_ollama_generate_chunk(&j->meta, text));
            break;
        }
        /* a streamed chunk carries the logprobs of its own tokens only */
        json_decref(j->ch[c].lp);
        j->ch[c].lp = NULL;
    } else {
        choice *ch = &j->ch[c];
        if (ch->len + len + 1 > ch->cap) {
            size_t cap = ch->cap ? ch->cap : 256;
            while (cap < ch->len + len + 1) cap *= 2;
            char *p = realloc(ch->text, cap);
            if (p) {
                ch->text = p;
                ch->cap = cap;
            }
        }
        if (ch->len + len + 1 <= ch->cap) {
            memcpy(ch->text + ch->len, text, len);
            ch->len += len;
            ch->text[ch->len] = '\0';
        }
    }
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);
    free(text);
}

static void finish_locked(owl_job *j, int c, owl_finish f) {
    if (j->done || j->ch[c].finish) return;
    start_choice(j, c);
    j->ch[c].finish = f;
    j->n_finished++;
    if (j->req.stream) {
        if (j->req.kind == OWL_API_OPENAI_CHAT) {
            emit_json(j, owl_openai_chat_chunk(&j->meta, c, NULL, NULL, f, j->req.include_usage, NULL));
        } else if (j->req.kind == OWL_API_OPENAI_COMPLETION) {
            emit_json(j, owl_openai_completion_chunk(&j->meta, c, "", f, j->req.include_usage, NULL));
        }
    }
    if (j->n_finished == j->n_choices) finalize(j);
}

void owl_job_finish(owl_job *j, int c, owl_finish f) {
    if (c < 0 || c >= j->n_choices || f == OWL_FINISH_NONE) return;
    pthread_mutex_lock(&j->mu);
    finish_locked(j, c, f);
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);
}

void owl_job_fail(owl_job *j, const char *message) {
    pthread_mutex_lock(&j->mu);
    if (!j->done) {
        owl_api_error e;
        owl_api_errorf(&e, 500, "server_error", NULL, NULL, "%s", message);
        char *json = is_openai(j) ? owl_openai_error_json(&e) : owl_ollama_error_json(&e);
        if (j->req.stream) {
            emit_json(j, json); /* in-band, as both APIs report errors mid-stream */
        } else {
            j->body = json;
            j->status = 500;
        }
        j->done = true;
        pthread_cond_broadcast(&j->cv);
    }
    pthread_mutex_unlock(&j->mu);
}

/* ---- the connection side --------------------------------------------------------------------- */

static void wait_ms(owl_job *j, int timeout_ms) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    ts.tv_sec += timeout_ms / 1000 + ts.tv_nsec / 1000000000L;
    ts.tv_nsec %= 1000000000L;
    pthread_cond_timedwait(&j->cv, &j->mu, &ts);
}

long owl_job_read(owl_job *j, char *buf, size_t max, int timeout_ms) {
    pthread_mutex_lock(&j->mu);
    if (j->out_head == j->out_len && !j->done && !atomic_load(&j->cancelled)) wait_ms(j, timeout_ms);
    long n;
    if (j->out_head < j->out_len) {
        size_t k = j->out_len - j->out_head;
        if (k > max) k = max;
        memcpy(buf, j->out + j->out_head, k);
        j->out_head += k;
        n = (long)k;
    } else {
        n = j->done ? -1 : 0;
    }
    pthread_mutex_unlock(&j->mu);
    return n;
}

bool owl_job_wait(owl_job *j, int timeout_ms) {
    pthread_mutex_lock(&j->mu);
    if (!j->done) wait_ms(j, timeout_ms);
    bool done = j->done;
    pthread_mutex_unlock(&j->mu);
    return done;
}

char *owl_job_body(owl_job *j, int *status) {
    pthread_mutex_lock(&j->mu);
    char *b = j->body ? strdup(j->body) : NULL;
    *status = j->body ? j->status : 500;
    pthread_mutex_unlock(&j->mu);
    return b;
}

void owl_job_totals(owl_job *j, owl_gen_usage *u, int64_t *ttft_ns, int64_t *gen_ns) {
    pthread_mutex_lock(&j->mu);
    *u = j->usage;
    *ttft_ns = j->t_first ? j->t_first - j->t_start : -1;
    *gen_ns = j->t_first ? owl_now_ns() - j->t_first : 0;
    pthread_mutex_unlock(&j->mu);
}

const char *owl_job_stream_type(const owl_job *j) {
    return is_openai(j) ? "text/event-stream" : "application/x-ndjson";
}
