/* The seam between the HTTP server and the engine: a backend owns the model, N slots and a
 * bounded queue, and runs a scheduler thread that decodes every active slot in one batched step
 * (continuous batching). The server hands it jobs; the backend streams text back through the job
 * and polls the job for cancellation between steps.
 *
 * Threads: submit() runs on a connection thread and must not block on generation (it may
 * tokenize and render the chat template, which is where "prompt longer than the context" is
 * found). The owl_job_* event functions are called from the scheduler thread; they only append
 * to a buffer and signal, so a step is never held up by a slow client. */
#ifndef OWL_SERVER_BACKEND_H
#define OWL_SERVER_BACKEND_H

#include "owl/server.h"

typedef struct owl_job owl_job;

typedef struct owl_backend_stats {
    int n_slots;     /* --parallel */
    int busy_slots;  /* slots generating now */
    int queue_depth; /* jobs accepted but not yet in a slot */
    int n_ctx;       /* context per slot */
} owl_backend_stats;

/* A byte pipe from a producer thread to a connection (the NDJSON lines of /api/pull). */
typedef struct owl_stream owl_stream;

/* The answer of a model-management endpoint: a whole body, or a stream. */
typedef struct owl_manage_result {
    int status;         /* HTTP status of body */
    char *body;         /* malloc'd JSON ("" for an empty 200), or NULL when streaming */
    owl_stream *stream; /* one reference, handed to the server */
} owl_manage_result;

struct owl_backend {
    void *impl;
    const char *model_name; /* what /v1/models and /api/tags list */
    /* Accepts the job (the backend takes a reference with owl_job_retain) or returns -1 with e:
     * 503 when the queue is full, 400 when the prompt does not fit the context, ... */
    int (*submit)(void *impl, owl_job *job, owl_api_error *e);
    void (*stats)(void *impl, owl_backend_stats *out);
    /* Optional: a backend over a model store answers GET /v1/models, /v1/models/{id},
     * /api/tags, /api/ps and POST /api/show, DELETE /api/delete, POST /api/copy, /api/pull
     * itself (method and path as requested, body as sent). NULL: the server answers from
     * model_name alone. */
    void (*manage)(void *impl, const char *method, const char *path, const char *body,
                   size_t len, owl_manage_result *out);
};

/* ---- streams (src/server/stream.c) ----------------------------------------------------------- */

owl_stream *owl_stream_new(void); /* one reference */
void owl_stream_retain(owl_stream *s);
void owl_stream_release(owl_stream *s);
/* Producer side: append bytes; close when done (the reader then sees the end). */
void owl_stream_write(owl_stream *s, const char *data, size_t n);
void owl_stream_close(owl_stream *s);
/* Reader side: up to max bytes, waiting at most timeout_ms; 0 on timeout, -1 at the end. */
long owl_stream_read(owl_stream *s, char *buf, size_t max, int timeout_ms);
/* The reader went away; the producer should stop. */
void owl_stream_cancel(owl_stream *s);
bool owl_stream_cancelled(const owl_stream *s);

/* ---- what a backend calls -------------------------------------------------------------------- */

/* The request (valid for the life of the job). */
const owl_gen_request *owl_job_request(const owl_job *j);
/* How many choices the job wants: n for chat, n_prompts * n for completions; choice c of a
 * completion uses prompts[c / n]. */
int owl_job_n_choices(const owl_job *j);
/* True once the client has gone or the server is stopping: free the slot at the next step and
 * call owl_job_finish(..., OWL_FINISH_CANCEL) for the unfinished choices. */
bool owl_job_cancelled(const owl_job *j);
/* Prefill of a choice is done: prompt and prefix-cache counts (counted once per prompt). */
void owl_job_prompt_done(owl_job *j, int choice, int prompt_tokens, int cached_tokens);
/* A piece of generated text for a choice (whole UTF-8 characters; stop strings already held back
 * and removed by the backend). n_tokens is how many tokens the piece covers. */
void owl_job_text(owl_job *j, int choice, const char *text, size_t len, int n_tokens);
/* With logprobs requested: the log-probabilities of the tokens that the next owl_job_text of this
 * choice covers (copied; ignored when the request did not ask for logprobs). */
void owl_job_logprobs(owl_job *j, int choice, const owl_gen_token *tokens, int n);
/* The choice is over. Every choice must be finished exactly once. */
void owl_job_finish(owl_job *j, int choice, owl_finish f);
/* Fails the whole job (an internal error after submit); unfinished choices end. */
void owl_job_fail(owl_job *j, const char *message);

void owl_job_retain(owl_job *j);
void owl_job_release(owl_job *j);

#endif
