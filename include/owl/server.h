/* owl server — the HTTP front of `owl serve`: OpenAI- and Ollama-compatible endpoints.
 *
 * Three layers, each usable alone:
 *   - API adapters: pure functions from request JSON to an owl_gen_request and from generation
 *     results to the exact response JSON of each API (unit-tested byte for byte);
 *   - stream writers: SSE (OpenAI) and NDJSON (Ollama) framing;
 *   - the HTTP server on libmicrohttpd: routing, API keys, CORS, body limits, timeouts, one log
 *     line per request, metrics, graceful stop.
 * Generation itself sits behind the backend interface in src/server/backend.h; a server without a
 * backend answers the model endpoints with 503. */
#ifndef OWL_SERVER_H
#define OWL_SERVER_H

#include "owl/common.h"

#include <jansson.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- API errors ------------------------------------------------------------------------------ */

/* What went wrong with a request, in the terms both APIs report. */
typedef struct owl_api_error {
    int status;        /* HTTP status: 400, 401, 404, 405, 413, 500, 503 */
    char type[40];     /* OpenAI error type: invalid_request_error, authentication_error, ... */
    char param[64];    /* offending field ("" when none), e.g. "temperature" or "messages[1].role" */
    char code[40];     /* OpenAI error code ("" → null) */
    char message[400]; /* one line */
} owl_api_error;

/* Fills e (status, type, param, code may be NULL for none) and returns -1. */
int owl_api_errorf(owl_api_error *e, int status, const char *type, const char *param,
                   const char *code, const char *fmt, ...) OWL_PRINTF(6, 7);
/* {"error":{"message":..,"type":..,"param":..,"code":..}} — malloc'd, compact. */
char *owl_openai_error_json(const owl_api_error *e);
/* {"error":".."} — Ollama's shape. */
char *owl_ollama_error_json(const owl_api_error *e);

/* ---- the internal request -------------------------------------------------------------------- */

typedef enum owl_api_kind {
    OWL_API_OPENAI_CHAT,       /* POST /v1/chat/completions */
    OWL_API_OPENAI_COMPLETION, /* POST /v1/completions */
    OWL_API_OLLAMA_CHAT,       /* POST /api/chat */
    OWL_API_OLLAMA_GENERATE,   /* POST /api/generate */
} owl_api_kind;

typedef struct owl_gen_logit_bias {
    int32_t token;
    float bias;
} owl_gen_logit_bias;

/* Sampling settings as the request gave them; the backend maps them onto its sampler. A field
 * that the request left out holds the default noted beside it. */
typedef struct owl_gen_sampling {
    float temperature;       /* default 0.8 (OpenAI clients send their own 1.0 when they mean it) */
    float top_p;             /* default 0.95; 1 = off */
    int top_k;               /* default 40; 0 = off */
    float min_p;             /* default 0.05; 0 = off */
    float typical_p;         /* default 1 = off */
    float repeat_penalty;    /* default 1 = off */
    int repeat_last_n;       /* default 64 */
    float presence_penalty;  /* default 0 */
    float frequency_penalty; /* default 0 */
    bool has_seed;
    uint64_t seed;
    owl_gen_logit_bias *logit_bias; /* owned */
    size_t n_logit_bias;
} owl_gen_sampling;

typedef struct owl_gen_request {
    owl_api_kind kind;
    char *model;          /* as requested ("" allowed); owned */
    /* Chat kinds: [{"role":..,"content":"<text>"}...] with content parts already joined into one
     * string; ready for the chat template. Owned reference. NULL for the completion kinds. */
    json_t *messages;
    /* Completion kinds: one prompt per entry (OpenAI allows an array); owned. Ollama generate
     * also uses prompts[0], plus system/suffix/raw below. */
    char **prompts;
    size_t n_prompts;
    char *system;         /* Ollama generate "system"; owned, or NULL */
    bool raw;             /* Ollama generate "raw": no template */
    int max_tokens;       /* -1: until the context is full or a stop */
    owl_gen_sampling sampling;
    char **stop;          /* stop strings; owned */
    size_t n_stop;
    int n;                /* choices per prompt (OpenAI n), >= 1 */
    bool logprobs;
    int top_logprobs;     /* 0..20 */
    bool echo;            /* OpenAI completions: prompt echoed before the text */
    bool stream;
    bool include_usage;   /* stream_options.include_usage */
    bool no_prompt_cache; /* llama.cpp's "cache_prompt": false: read the whole prompt again */
    char *user;           /* owned, or NULL; never logged */
    int num_ctx;          /* Ollama options.num_ctx; 0 = server's */
    double keep_alive_s;  /* Ollama keep_alive in seconds; < 0 = forever; NaN = not given */
} owl_gen_request;

void owl_gen_request_free(owl_gen_request *r);

/* Seconds from a number or a Go-style duration ("300", "5m", "1h30m", "90s", "-1"); negative
 * means forever (keep_alive). -1 on bad input. Used by the Ollama request parser, the registry
 * and `owl serve --keep-alive`. */
int owl_parse_duration(const char *s, double *out);

/* Parse a request body (any bytes; need not be NUL-terminated). On success returns 0 and fills
 * *out (free with owl_gen_request_free); on failure returns -1 with e->status 400 naming the
 * parameter. Unknown fields are ignored. */
int owl_openai_parse_chat(const char *body, size_t len, owl_gen_request *out, owl_api_error *e);
int owl_openai_parse_completion(const char *body, size_t len, owl_gen_request *out,
                                owl_api_error *e);
int owl_ollama_parse_chat(const char *body, size_t len, owl_gen_request *out, owl_api_error *e);
int owl_ollama_parse_generate(const char *body, size_t len, owl_gen_request *out,
                              owl_api_error *e);

/* ---- responses ------------------------------------------------------------------------------- */

typedef enum owl_finish {
    OWL_FINISH_NONE = 0, /* still running */
    OWL_FINISH_STOP,     /* end-of-generation token or a stop string */
    OWL_FINISH_LENGTH,   /* max_tokens or the context */
    OWL_FINISH_CANCEL,   /* the client went away or the server stopped */
} owl_finish;

const char *owl_finish_name(owl_finish f); /* "stop", "length", "cancel"; NULL for NONE */

typedef struct owl_gen_usage {
    int prompt_tokens;
    int completion_tokens;
    int cached_tokens;      /* prompt tokens reused from the prefix cache */
    int64_t load_ns;        /* Ollama durations */
    int64_t prompt_ns;
    int64_t eval_ns;
    int64_t total_ns;
} owl_gen_usage;

/* One finished choice, for the non-streaming responses. */
typedef struct owl_gen_choice {
    const char *text;
    owl_finish finish;
    const json_t *logprobs; /* built by owl_openai_logprobs_append; NULL: "logprobs":null */
} owl_gen_choice;

/* logprobs: one generated token's log-probability and its most likely alternatives. bytes are
 * the token's own bytes (a token may hold part of a UTF-8 character). */
typedef struct owl_gen_top_logprob {
    const char *bytes;
    size_t len;
    float logprob;
} owl_gen_top_logprob;

typedef struct owl_gen_token {
    const char *bytes;
    size_t len;
    float logprob;
    const owl_gen_top_logprob *top;
    int n_top;
} owl_gen_token;

/* Appends n tokens to acc (a JSON object, empty at first) in the API's shape:
 *   chat:        {"content":[{"token","logprob","bytes":[..],"top_logprobs":[{"token","logprob",
 *                "bytes"}]}],"refusal":null}
 *   completions: {"tokens":[..],"token_logprobs":[..],"top_logprobs":[{token:logprob}],
 *                "text_offset":[..]}
 * A token's text is its bytes with each byte that is not part of a whole UTF-8 character
 * replaced by U+FFFD. *text_offset is the offset of the first token in the choice's text (in
 * characters), advanced past the n tokens. */
void owl_openai_logprobs_append(json_t *acc, bool chat, const owl_gen_token *t, size_t n,
                                size_t *text_offset);

/* Identity shared by every chunk of one response: OpenAI's id/created/model/fingerprint;
 * Ollama's model and created_at (RFC 3339 with nanoseconds, UTC). */
typedef struct owl_gen_meta {
    const char *id;          /* "chatcmpl-..." or "cmpl-..." */
    int64_t created;         /* unix seconds */
    const char *created_at;  /* Ollama */
    const char *model;
    const char *fingerprint; /* system_fingerprint */
} owl_gen_meta;

/* Non-streaming bodies (malloc'd compact JSON). */
char *owl_openai_chat_response(const owl_gen_meta *m, const owl_gen_choice *c, size_t n,
                               const owl_gen_usage *u);
char *owl_openai_completion_response(const owl_gen_meta *m, const owl_gen_choice *c, size_t n,
                                     const owl_gen_usage *u);
/* Ollama's single object (stream:false) and last NDJSON line: text is the whole answer for
 * stream:false and "" for the final streamed line. */
char *owl_ollama_chat_final(const owl_gen_meta *m, const char *text, owl_finish f,
                            const owl_gen_usage *u);
char *owl_ollama_generate_final(const owl_gen_meta *m, const char *text, owl_finish f,
                                const owl_gen_usage *u);

/* Streaming chunks (the JSON only; frame with owl_sse_frame / owl_ndjson_frame).
 * chat.completion.chunk: role delta when role != NULL, content delta when text != NULL, and
 * finish_reason when f != NONE; include_usage adds "usage":null as the API does; logprobs (see
 * owl_openai_logprobs_append) or NULL for "logprobs":null. */
char *owl_openai_chat_chunk(const owl_gen_meta *m, int index, const char *role, const char *text,
                            owl_finish f, bool include_usage, const json_t *logprobs);
char *owl_openai_completion_chunk(const owl_gen_meta *m, int index, const char *text,
                                  owl_finish f, bool include_usage, const json_t *logprobs);
/* The last chunk when include_usage: "choices":[] and the usage. chat selects the object name. */
char *owl_openai_usage_chunk(const owl_gen_meta *m, bool chat, const owl_gen_usage *u);
char *owl_ollama_chat_chunk(const owl_gen_meta *m, const char *text);
char *owl_ollama_generate_chunk(const owl_gen_meta *m, const char *text);

/* SSE "data: <json>\n\n" and NDJSON "<json>\n" (malloc'd; *out_len without the NUL). */
char *owl_sse_frame(const char *json, size_t *out_len);
char *owl_ndjson_frame(const char *json, size_t *out_len);
#define OWL_SSE_DONE "data: [DONE]\n\n"

/* "2024-05-01T12:00:00.123456789Z" for a CLOCK_REALTIME timestamp. */
void owl_rfc3339_ns(char *buf, size_t n, int64_t unix_ns);

/* ---- the server ------------------------------------------------------------------------------ */

typedef struct owl_backend owl_backend; /* src/server/backend.h */

typedef struct owl_server_config {
    const char *host;        /* default "127.0.0.1" */
    int port;                /* 0: any free port (see owl_server_port) */
    const char *api_key;     /* NULL: no authentication */
    bool cors;               /* answer CORS preflights and add the CORS headers */
    size_t max_body;         /* bytes; larger bodies get 413 (default 8 MiB) */
    unsigned timeout_s;      /* header/body inactivity timeout (default 30) */
    unsigned stream_timeout_s; /* inactivity timeout once a response streams (default 600) */
    unsigned max_connections;  /* default 64 */
    bool log_json;           /* one JSON object per request instead of a text line */
    const char *model_name;  /* what /v1/models lists; NULL: "owl" */
    /* One line per request (no newline). NULL: no logging. Called from connection threads. */
    void (*log)(void *user, const char *line);
    void *log_user;
} owl_server_config;

owl_server_config owl_server_default_config(void);

typedef struct owl_server owl_server;

/* Starts listening (own threads). backend may be NULL; it is borrowed and must outlive the
 * server. */
owl_server *owl_server_new(const owl_server_config *cfg, owl_backend *backend, owl_error *err);
/* The bound port (useful with port 0). */
int owl_server_port(const owl_server *s);
/* Stops accepting, ends running streams (their requests are cancelled), closes connections and
 * joins the threads. Idempotent; owl_server_destroy calls it. */
void owl_server_stop(owl_server *s);
void owl_server_destroy(owl_server *s);

/* Prometheus text of the server's counters (what GET /metrics returns); malloc'd. */
char *owl_server_metrics_text(owl_server *s);

#ifdef __cplusplus
}
#endif
#endif
