/* The HTTP server on libmicrohttpd.
 *
 * Threads: one thread per connection (MHD_USE_THREAD_PER_CONNECTION). A streaming response is a
 * content-reader callback that blocks on the job's buffer in short waits, so a connection thread
 * can notice both new bytes and a vanished client (POLLRDHUP on its socket) without busy-polling;
 * the backend's scheduler never waits on a socket.
 *
 * A request goes: route lookup (404/405) → CORS preflight → API key (401) → body accumulation
 * with a hard limit (413) → handler. The request-completed callback writes the one log line,
 * counts the request for /metrics, and cancels the job of a client that went away. */
#include "server/job.h"
#include "server/metrics.h"

#include <microhttpd.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct owl_server {
    owl_server_config cfg;
    char *host, *api_key, *model_name; /* owned copies of the config strings */
    owl_backend *backend;
    struct MHD_Daemon *daemon;
    owl_metrics metrics;
    atomic_bool stopping;
    atomic_int active_jobs; /* requests with a job, until their request-completed callback */
    int port;
    pthread_mutex_t stop_mu;
    bool stopped;
};

typedef struct route route;
typedef struct req_ctx req_ctx;
typedef enum MHD_Result (*handler_fn)(req_ctx *c);

struct route {
    const char *method;
    const char *path; /* a trailing '*' matches any rest */
    handler_fn fn;
    const char *endpoint; /* the label in /metrics */
    int kind;             /* owl_api_kind for the generation endpoints */
};

struct req_ctx {
    owl_server *s;
    struct MHD_Connection *conn;
    const route *route;
    char method[16];
    char path[160];
    const char *endpoint;
    char *body;
    size_t len, cap;
    bool too_big, responded;
    size_t dropped; /* body bytes thrown away after the limit */
    int status;
    int64_t t_start;
    owl_job *job;
    owl_stream *stream; /* a streamed management answer (/api/pull) */
    int fd;
};

/* ---- responses ------------------------------------------------------------------------------- */

static bool ollama_path(const char *path) { return strncmp(path, "/api/", 5) == 0; }

static void add_common_headers(req_ctx *c, struct MHD_Response *r) {
    if (c->s->cfg.cors) MHD_add_response_header(r, "Access-Control-Allow-Origin", "*");
}

static enum MHD_Result respond(req_ctx *c, int status, const char *type, const char *body,
                               size_t len) {
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!r) return MHD_NO;
    MHD_add_response_header(r, "Content-Type", type);
    add_common_headers(c, r);
    enum MHD_Result ok = MHD_queue_response(c->conn, (unsigned)status, r);
    MHD_destroy_response(r);
    c->status = status;
    c->responded = true;
    return ok;
}

static enum MHD_Result respond_json(req_ctx *c, int status, char *json) {
    if (!json) return respond(c, 500, "application/json", "{}", 2);
    enum MHD_Result ok = respond(c, status, "application/json", json, strlen(json));
    free(json);
    return ok;
}

static enum MHD_Result respond_error(req_ctx *c, const owl_api_error *e) {
    char *json = ollama_path(c->path) ? owl_ollama_error_json(e) : owl_openai_error_json(e);
    return respond_json(c, e->status ? e->status : 500, json);
}

static enum MHD_Result fail(req_ctx *c, int status, const char *type, const char *code,
                            const char *fmt, const char *arg) {
    owl_api_error e;
    owl_api_errorf(&e, status, type, NULL, code, fmt, arg);
    return respond_error(c, &e);
}

static enum MHD_Result too_large(req_ctx *c) {
    owl_api_error e;
    owl_api_errorf(&e, 413, NULL, NULL, "request_too_large",
                   "the request body is larger than the limit of %zu bytes", c->s->cfg.max_body);
    return respond_error(c, &e);
}

static bool client_gone(const req_ctx *c);

/* ---- plain endpoints ------------------------------------------------------------------------- */

static const char *model_name(const owl_server *s) {
    if (s->backend && s->backend->model_name) return s->backend->model_name;
    return s->model_name ? s->model_name : "owl";
}

static enum MHD_Result h_root(req_ctx *c) {
    static const char msg[] = "owl is running";
    return respond(c, 200, "text/plain; charset=utf-8", msg, sizeof msg - 1);
}

static enum MHD_Result h_health(req_ctx *c) {
    json_t *o = json_object();
    json_object_set_new(o, "status", json_string(atomic_load(&c->s->stopping) ? "stopping" : "ok"));
    json_object_set_new(o, "model", c->s->backend ? json_string(model_name(c->s)) : json_null());
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return respond_json(c, 200, text);
}

static enum MHD_Result h_metrics(req_ctx *c) {
    owl_backend_stats st = {0};
    if (c->s->backend && c->s->backend->stats) c->s->backend->stats(c->s->backend->impl, &st);
    char *text = owl_metrics_render(&c->s->metrics, c->s->backend ? &st : NULL);
    if (!text) return fail(c, 500, "server_error", NULL, "%s", "out of memory");
    enum MHD_Result ok = respond(c, 200, "text/plain; version=0.0.4; charset=utf-8", text,
                                 strlen(text));
    free(text);
    return ok;
}

static enum MHD_Result h_version(req_ctx *c) {
    return respond_json(c, 200, strdup("{\"version\":\"" OWL_VERSION "\"}"));
}

static json_t *openai_model(const owl_server *s) {
    json_t *m = json_object();
    json_object_set_new(m, "id", json_string(model_name(s)));
    json_object_set_new(m, "object", json_string("model"));
    json_object_set_new(m, "created", json_integer(0));
    json_object_set_new(m, "owned_by", json_string("owl"));
    return m;
}

/* ---- model management (a backend over the store answers these itself) ------------------------ */

static bool has_store(const req_ctx *c) { return c->s->backend && c->s->backend->manage; }

static ssize_t manage_reader(void *cls, uint64_t pos, char *buf, size_t max) {
    req_ctx *c = cls;
    owl_stream *st = c->stream;
    for (;;) {
        if (atomic_load(&c->s->stopping)) owl_stream_cancel(st);
        long n = owl_stream_read(st, buf, max, 100);
        if (n > 0) return n;
        if (n < 0) return MHD_CONTENT_READER_END_OF_STREAM;
        if (client_gone(c)) {
            owl_stream_cancel(st); /* a pull stops and keeps its partial file for a resume */
            return MHD_CONTENT_READER_END_WITH_ERROR;
        }
    }
}

static enum MHD_Result h_manage(req_ctx *c) {
    if (!has_store(c)) {
        return fail(c, 404, NULL, "not_found", "%s",
                    "this server has no model store (start 'owl serve' without a MODEL)");
    }
    owl_manage_result r = {0};
    c->s->backend->manage(c->s->backend->impl, c->method, c->path, c->body, c->len, &r);
    if (!r.stream) {
        if (r.body && !*r.body) {
            free(r.body);
            return respond(c, r.status ? r.status : 200, "application/json", "", 0);
        }
        return respond_json(c, r.status ? r.status : 500, r.body);
    }
    c->stream = r.stream;
    struct MHD_Response *resp =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, manage_reader, c, NULL);
    if (!resp) {
        owl_stream_cancel(c->stream);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", "application/x-ndjson");
    MHD_add_response_header(resp, "Cache-Control", "no-cache");
    add_common_headers(c, resp);
    MHD_set_connection_option(c->conn, MHD_CONNECTION_OPTION_TIMEOUT, c->s->cfg.stream_timeout_s);
    enum MHD_Result ok = MHD_queue_response(c->conn, 200, resp);
    MHD_destroy_response(resp);
    c->status = 200;
    c->responded = true;
    return ok;
}

static enum MHD_Result h_models(req_ctx *c) {
    if (has_store(c)) return h_manage(c);
    json_t *o = json_object();
    json_object_set_new(o, "object", json_string("list"));
    json_t *data = json_array();
    if (c->s->backend) json_array_append_new(data, openai_model(c->s));
    json_object_set_new(o, "data", data);
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return respond_json(c, 200, s);
}

static enum MHD_Result h_model(req_ctx *c) {
    if (has_store(c)) return h_manage(c);
    const char *id = c->path + strlen("/v1/models/");
    if (!c->s->backend || strcmp(id, model_name(c->s)) != 0) {
        owl_api_error e;
        owl_api_errorf(&e, 404, NULL, "model", "model_not_found",
                       "The model '%.100s' does not exist", id);
        return respond_error(c, &e);
    }
    json_t *m = openai_model(c->s);
    char *s = json_dumps(m, JSON_COMPACT);
    json_decref(m);
    return respond_json(c, 200, s);
}

static enum MHD_Result h_tags(req_ctx *c) {
    if (has_store(c)) return h_manage(c);
    json_t *o = json_object();
    json_t *models = json_array();
    if (c->s->backend) {
        json_t *m = json_object();
        json_object_set_new(m, "name", json_string(model_name(c->s)));
        json_object_set_new(m, "model", json_string(model_name(c->s)));
        json_array_append_new(models, m);
    }
    json_object_set_new(o, "models", models);
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return respond_json(c, 200, s);
}

static enum MHD_Result h_ps(req_ctx *c) { return has_store(c) ? h_manage(c) : h_tags(c); }

static enum MHD_Result h_show(req_ctx *c) {
    if (has_store(c)) return h_manage(c);
    if (!c->s->backend) return fail(c, 404, NULL, "model_not_found", "%s", "no model is loaded");
    json_t *o = json_object();
    json_t *details = json_object();
    json_object_set_new(details, "format", json_string("gguf"));
    json_object_set_new(o, "details", details);
    json_object_set_new(o, "model_info", json_object());
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return respond_json(c, 200, s);
}

static enum MHD_Result h_no_embeddings(req_ctx *c) {
    return fail(c, 400, NULL, "model_not_supported", "%s",
                "model does not support embeddings");
}

/* ---- generation ------------------------------------------------------------------------------ */

/* True when the peer closed its end (or the socket failed). A client that half-closes after its
 * request counts as gone: no HTTP client does that while awaiting an answer. */
static bool client_gone(const req_ctx *c) {
    if (c->fd < 0) return false;
    struct pollfd p = {.fd = c->fd, .events = POLLRDHUP};
    return poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL));
}

/* How long a stopping server waits for a cancelled job to wind down before cutting it off. */
#define CANCEL_GRACE_NS (5 * 1000000000LL)

static ssize_t stream_reader(void *cls, uint64_t pos, char *buf, size_t max) {
    req_ctx *c = cls;
    int64_t cancelled_at = 0;
    for (;;) {
        if (atomic_load(&c->s->stopping) || owl_job_cancelled(c->job)) {
            /* End the stream cleanly: the backend finishes the cancelled choices, which writes
             * the closing chunks; give up only if it does not. */
            owl_job_cancel(c->job);
            if (!cancelled_at) cancelled_at = owl_now_ns();
            if (owl_now_ns() - cancelled_at > CANCEL_GRACE_NS) {
                return MHD_CONTENT_READER_END_WITH_ERROR;
            }
        }
        long n = owl_job_read(c->job, buf, max, 100);
        if (n > 0) return n;
        if (n < 0) return MHD_CONTENT_READER_END_OF_STREAM;
        if (client_gone(c)) {
            owl_job_cancel(c->job);
            return MHD_CONTENT_READER_END_WITH_ERROR;
        }
    }
}

static enum MHD_Result h_generate(req_ctx *c) {
    owl_gen_request req;
    owl_api_error e;
    int rc;
    switch ((owl_api_kind)c->route->kind) {
    case OWL_API_OPENAI_CHAT: rc = owl_openai_parse_chat(c->body, c->len, &req, &e); break;
    case OWL_API_OPENAI_COMPLETION:
        rc = owl_openai_parse_completion(c->body, c->len, &req, &e);
        break;
    case OWL_API_OLLAMA_CHAT: rc = owl_ollama_parse_chat(c->body, c->len, &req, &e); break;
    default: rc = owl_ollama_parse_generate(c->body, c->len, &req, &e); break;
    }
    if (rc < 0) return respond_error(c, &e);
    if (!c->s->backend) {
        owl_gen_request_free(&req);
        return fail(c, 503, "server_error", "model_not_loaded", "%s", "no model is loaded");
    }
    bool stream = req.stream;
    c->job = owl_job_new(&req, model_name(c->s));
    if (!c->job) {
        owl_gen_request_free(&req);
        return fail(c, 500, "server_error", NULL, "%s", "out of memory");
    }
    atomic_fetch_add(&c->s->active_jobs, 1);
    if (c->s->backend->submit(c->s->backend->impl, c->job, &e) < 0) return respond_error(c, &e);

    if (stream) {
        struct MHD_Response *r =
            MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, stream_reader, c, NULL);
        if (!r) {
            owl_job_cancel(c->job);
            return MHD_NO;
        }
        MHD_add_response_header(r, "Content-Type", owl_job_stream_type(c->job));
        MHD_add_response_header(r, "Cache-Control", "no-cache");
        add_common_headers(c, r);
        /* Generation may pause (queued behind other requests); only a client that stops
         * reading for the long stream timeout is dropped. */
        MHD_set_connection_option(c->conn, MHD_CONNECTION_OPTION_TIMEOUT,
                                  c->s->cfg.stream_timeout_s);
        enum MHD_Result ok = MHD_queue_response(c->conn, 200, r);
        MHD_destroy_response(r);
        c->status = 200;
        c->responded = true;
        return ok;
    }
    /* Not streaming: wait here (this is the connection's own thread), watching the client. */
    int64_t cancelled_at = 0;
    while (!owl_job_wait(c->job, 100)) {
        if (client_gone(c) || atomic_load(&c->s->stopping)) {
            owl_job_cancel(c->job);
            if (!cancelled_at) cancelled_at = owl_now_ns();
            if (owl_now_ns() - cancelled_at > CANCEL_GRACE_NS) {
                return fail(c, 503, "server_error", NULL, "%s", "the request was cancelled");
            }
        }
    }
    int status;
    char *body = owl_job_body(c->job, &status);
    return respond_json(c, status, body);
}

/* ---- routing --------------------------------------------------------------------------------- */

static const route routes[] = {
    {"GET", "/", h_root, "/", 0},
    {"GET", "/health", h_health, "/health", 0},
    {"GET", "/metrics", h_metrics, "/metrics", 0},
    {"GET", "/v1/models", h_models, "/v1/models", 0},
    {"GET", "/v1/models/*", h_model, "/v1/models/{id}", 0},
    {"POST", "/v1/chat/completions", h_generate, "/v1/chat/completions", OWL_API_OPENAI_CHAT},
    {"POST", "/v1/completions", h_generate, "/v1/completions", OWL_API_OPENAI_COMPLETION},
    {"POST", "/v1/embeddings", h_no_embeddings, "/v1/embeddings", 0},
    {"POST", "/api/chat", h_generate, "/api/chat", OWL_API_OLLAMA_CHAT},
    {"POST", "/api/generate", h_generate, "/api/generate", OWL_API_OLLAMA_GENERATE},
    {"GET", "/api/tags", h_tags, "/api/tags", 0},
    {"POST", "/api/show", h_show, "/api/show", 0},
    {"GET", "/api/ps", h_ps, "/api/ps", 0},
    {"GET", "/api/version", h_version, "/api/version", 0},
    {"POST", "/api/embed", h_no_embeddings, "/api/embed", 0},
    {"POST", "/api/embeddings", h_no_embeddings, "/api/embeddings", 0},
    {"DELETE", "/api/delete", h_manage, "/api/delete", 0},
    {"POST", "/api/copy", h_manage, "/api/copy", 0},
    {"POST", "/api/pull", h_manage, "/api/pull", 0},
};
#define N_ROUTES (sizeof routes / sizeof routes[0])

static bool path_matches(const char *pattern, const char *path) {
    size_t n = strlen(pattern);
    if (n && pattern[n - 1] == '*') return strncmp(pattern, path, n - 1) == 0 && path[n - 1];
    return strcmp(pattern, path) == 0;
}

/* The route for method+path; *path_route is a route of that path for any method (or NULL). */
static const route *find_route(const char *method, const char *path, const route **path_route,
                               char *allow, size_t allow_n) {
    *path_route = NULL;
    allow[0] = '\0';
    const route *hit = NULL;
    for (size_t i = 0; i < N_ROUTES; i++) {
        if (!path_matches(routes[i].path, path)) continue;
        if (!*path_route) *path_route = &routes[i];
        size_t at = strlen(allow);
        snprintf(allow + at, allow_n - at, "%s%s", at ? ", " : "", routes[i].method);
        if (strcmp(routes[i].method, method) == 0 ||
            (strcmp(method, "HEAD") == 0 && strcmp(routes[i].method, "GET") == 0)) {
            hit = &routes[i];
        }
    }
    return hit;
}

/* Constant-time comparison, so the key cannot be guessed byte by byte from response times. */
static bool key_ok(const char *expected, const char *got) {
    if (!got) return false;
    size_t n = strlen(expected), m = strlen(got);
    unsigned char diff = n != m;
    for (size_t i = 0; i < m; i++) diff |= (unsigned char)(got[i] ^ expected[i % (n ? n : 1)]);
    return diff == 0;
}

static bool authorized(req_ctx *c) {
    if (!c->s->api_key || c->route->fn == h_health || c->route->fn == h_root) return true;
    const char *h = MHD_lookup_connection_value(c->conn, MHD_HEADER_KIND, "Authorization");
    if (!h || strncasecmp(h, "Bearer ", 7) != 0) return false;
    h += 7;
    while (*h == ' ') h++;
    return key_ok(c->s->api_key, h);
}

static enum MHD_Result preflight(req_ctx *c) {
    struct MHD_Response *r = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
    if (!r) return MHD_NO;
    const char *want =
        MHD_lookup_connection_value(c->conn, MHD_HEADER_KIND, "Access-Control-Request-Headers");
    MHD_add_response_header(r, "Access-Control-Allow-Origin", "*");
    MHD_add_response_header(r, "Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS");
    MHD_add_response_header(r, "Access-Control-Allow-Headers",
                            want && *want ? want : "Authorization, Content-Type");
    MHD_add_response_header(r, "Access-Control-Max-Age", "86400");
    enum MHD_Result ok = MHD_queue_response(c->conn, 204, r);
    MHD_destroy_response(r);
    c->status = 204;
    c->responded = true;
    return ok;
}

/* Keeps the path printable for the log line; requests are untrusted. */
static void copy_path(char *dst, size_t n, const char *src) {
    size_t i = 0;
    for (; src && src[i] && i + 1 < n; i++) {
        unsigned char ch = (unsigned char)src[i];
        dst[i] = ch > 0x20 && ch < 0x7f && ch != '"' && ch != '\\' ? (char)ch : '?';
    }
    dst[i] = '\0';
}

static enum MHD_Result first_call(req_ctx *c, const char *method) {
    const route *any;
    char allow[64];
    c->route = find_route(method, c->path, &any, allow, sizeof allow);
    bool known = any != NULL;
    if (any) c->endpoint = any->endpoint;
    if (c->s->cfg.cors && strcmp(method, "OPTIONS") == 0 && known) return preflight(c);
    if (!c->route) {
        owl_api_error e;
        if (!known) {
            owl_api_errorf(&e, 404, NULL, NULL, "not_found", "no endpoint %.16s %.100s", method,
                           c->path);
            return respond_error(c, &e);
        }
        owl_api_errorf(&e, 405, NULL, NULL, "method_not_allowed",
                       "%.16s is not allowed on %.100s (allowed: %s)", method, c->path, allow);
        char *json = ollama_path(c->path) ? owl_ollama_error_json(&e) : owl_openai_error_json(&e);
        struct MHD_Response *r = MHD_create_response_from_buffer(
            json ? strlen(json) : 0, json, MHD_RESPMEM_MUST_FREE);
        if (!r) {
            free(json);
            return MHD_NO;
        }
        MHD_add_response_header(r, "Content-Type", "application/json");
        MHD_add_response_header(r, "Allow", allow);
        add_common_headers(c, r);
        enum MHD_Result ok = MHD_queue_response(c->conn, 405, r);
        MHD_destroy_response(r);
        c->status = 405;
        c->responded = true;
        return ok;
    }
    c->endpoint = c->route->endpoint;
    if (!authorized(c)) {
        owl_api_error e;
        owl_api_errorf(&e, 401, "invalid_request_error", NULL, "invalid_api_key",
                       "missing or incorrect API key (send Authorization: Bearer <key>)");
        return respond_error(c, &e);
    }
    if (atomic_load(&c->s->stopping) && c->route->fn == h_generate) {
        return fail(c, 503, "server_error", NULL, "%s", "the server is shutting down");
    }
    const char *cl = MHD_lookup_connection_value(c->conn, MHD_HEADER_KIND, "Content-Length");
    if (cl) {
        char *end;
        unsigned long long n = strtoull(cl, &end, 10);
        if (*end == '\0' && n > c->s->cfg.max_body) c->too_big = true;
    }
    if (c->too_big) {
        return too_large(c);
    }
    return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls) {
    owl_server *s = cls;
    req_ctx *c = *con_cls;
    if (!c) {
        c = calloc(1, sizeof *c);
        if (!c) return MHD_NO;
        *con_cls = c;
        c->s = s;
        c->conn = conn;
        c->t_start = owl_now_ns();
        c->status = 0;
        c->endpoint = "other";
        snprintf(c->method, sizeof c->method, "%s", method);
        copy_path(c->path, sizeof c->path, url);
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        c->fd = ci ? ci->connect_fd : -1;
        return first_call(c, method);
    }
    if (c->responded) {
        *upload_data_size = 0; /* an early answer (401...) was queued; drop the rest */
        return MHD_YES;
    }
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (c->too_big || c->len + n > s->cfg.max_body) {
            /* A body without a declared length outgrew the limit. MHD answers only once the
             * upload is over, so the rest is read and dropped (memory stays bounded); a client
             * that keeps sending far past the limit is cut off. */
            free(c->body);
            c->body = NULL;
            c->len = c->cap = 0;
            c->too_big = true;
            c->dropped += n;
            return c->dropped > 4 * s->cfg.max_body + (1u << 20) ? MHD_NO : MHD_YES;
        }
        if (c->len + n > c->cap) {
            size_t cap = c->cap ? c->cap : 4096;
            while (cap < c->len + n) cap *= 2;
            if (cap > s->cfg.max_body) cap = s->cfg.max_body;
            char *p = realloc(c->body, cap);
            if (!p) return MHD_NO;
            c->body = p;
            c->cap = cap;
        }
        memcpy(c->body + c->len, upload_data, n);
        c->len += n;
        return MHD_YES;
    }
    if (c->too_big) return too_large(c);
    return c->route->fn(c);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode why) {
    owl_server *s = cls;
    req_ctx *c = *con_cls;
    if (!c) return;
    *con_cls = NULL;
    int64_t ms = (owl_now_ns() - c->t_start) / 1000000;
    owl_gen_usage u = {0};
    if (c->job) {
        int64_t ttft, gen;
        if (why != MHD_REQUEST_TERMINATED_COMPLETED_OK) owl_job_cancel(c->job);
        owl_job_totals(c->job, &u, &ttft, &gen);
        owl_metrics_generation(&s->metrics, &u, ttft, gen);
        owl_job_release(c->job);
        atomic_fetch_sub(&s->active_jobs, 1);
    }
    /* A response cut short is logged with status 499 (client closed), as proxies do. */
    int status = c->status ? c->status : 499;
    if (why != MHD_REQUEST_TERMINATED_COMPLETED_OK && c->status == 200 && c->job) status = 499;
    owl_metrics_request(&s->metrics, c->endpoint, status);
    if (s->cfg.log) {
        char line[512];
        if (s->cfg.log_json) {
            snprintf(line, sizeof line,
                     "{\"method\":\"%s\",\"path\":\"%s\",\"status\":%d,\"prompt_tokens\":%d,"
                     "\"completion_tokens\":%d,\"ms\":%lld}",
                     c->method, c->path, status, u.prompt_tokens, u.completion_tokens,
                     (long long)ms);
        } else {
            snprintf(line, sizeof line, "%s %s %d tokens=%d+%d %lldms", c->method, c->path, status,
                     u.prompt_tokens, u.completion_tokens, (long long)ms);
        }
        s->cfg.log(s->cfg.log_user, line);
    }
    if (c->stream) {
        if (why != MHD_REQUEST_TERMINATED_COMPLETED_OK) owl_stream_cancel(c->stream);
        owl_stream_release(c->stream);
    }
    free(c->body);
    free(c);
}

/* ---- lifecycle ------------------------------------------------------------------------------- */

owl_server_config owl_server_default_config(void) {
    owl_server_config c = {0};
    c.host = "127.0.0.1";
    c.port = 8080;
    c.max_body = 8u << 20;
    c.timeout_s = 30;
    c.stream_timeout_s = 600;
    c.max_connections = 64;
    return c;
}

static void mhd_quiet(void *cls, const char *fmt, va_list ap) {
    /* The library never prints; MHD's own diagnostics are dropped. */
}

owl_server *owl_server_new(const owl_server_config *cfg, owl_backend *backend, owl_error *err) {
    owl_server *s = calloc(1, sizeof *s);
    if (!s) {
        owl_errorf(err, "out of memory");
        return NULL;
    }
    s->cfg = *cfg;
    s->backend = backend;
    s->host = strdup(cfg->host ? cfg->host : "127.0.0.1");
    s->api_key = cfg->api_key && *cfg->api_key ? strdup(cfg->api_key) : NULL;
    s->model_name = cfg->model_name ? strdup(cfg->model_name) : NULL;
    s->cfg.host = s->host;
    s->cfg.api_key = s->api_key;
    s->cfg.model_name = s->model_name;
    if (!s->cfg.max_body) s->cfg.max_body = 8u << 20;
    if (!s->cfg.timeout_s) s->cfg.timeout_s = 30;
    if (!s->cfg.stream_timeout_s) s->cfg.stream_timeout_s = 600;
    if (!s->cfg.max_connections) s->cfg.max_connections = 64;
    owl_metrics_init(&s->metrics);
    pthread_mutex_init(&s->stop_mu, NULL);
    atomic_init(&s->stopping, false);
    atomic_init(&s->active_jobs, 0);
    if (!s->host) {
        owl_errorf(err, "out of memory");
        owl_server_destroy(s);
        return NULL;
    }
    if (cfg->port < 0 || cfg->port > 65535) {
        owl_errorf(err, "port %d is out of range 0..65535", cfg->port);
        owl_server_destroy(s);
        return NULL;
    }

    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICSERV | AI_PASSIVE};
    struct addrinfo *ai = NULL;
    char port[16];
    snprintf(port, sizeof port, "%d", cfg->port);
    int gai = getaddrinfo(s->host, port, &hints, &ai);
    if (gai != 0 || !ai) {
        owl_errorf(err, "host '%s': %s", s->host, gai ? gai_strerror(gai) : "no address");
        owl_server_destroy(s);
        return NULL;
    }
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                     MHD_USE_ITC | MHD_USE_AUTO;
    if (ai->ai_family == AF_INET6) flags |= MHD_USE_IPv6;
    s->daemon = MHD_start_daemon(
        flags, (uint16_t)cfg->port, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR, ai->ai_addr,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)s->cfg.timeout_s,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned int)s->cfg.max_connections,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_EXTERNAL_LOGGER, mhd_quiet, s,
        MHD_OPTION_END);
    freeaddrinfo(ai);
    if (!s->daemon) {
        owl_errorf(err, "cannot listen on %s:%d (address in use or not available)", s->host,
                   cfg->port);
        owl_server_destroy(s);
        return NULL;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    s->port = di ? di->port : cfg->port;
    return s;
}

int owl_server_port(const owl_server *s) { return s->port; }

void owl_server_stop(owl_server *s) {
    if (!s) return;
    pthread_mutex_lock(&s->stop_mu);
    if (!s->stopped && s->daemon) {
        atomic_store(&s->stopping, true);
        /* Stop accepting first; running requests see `stopping`, cancel their jobs and finish
         * their responses. MHD_stop_daemon then closes what is left and joins the threads. */
        MHD_socket fd = MHD_quiesce_daemon(s->daemon);
        if (fd != MHD_INVALID_SOCKET) close(fd);
        /* Wait for the requests with a job to end their responses (idle keep-alive
         * connections are not waited for: MHD_stop_daemon closes them). */
        int64_t deadline = owl_now_ns() + CANCEL_GRACE_NS + 1000000000LL;
        while (atomic_load(&s->active_jobs) > 0 && owl_now_ns() < deadline) {
            struct timespec ts = {0, 10 * 1000000L};
            nanosleep(&ts, NULL);
        }
        MHD_stop_daemon(s->daemon);
        s->daemon = NULL;
    }
    s->stopped = true;
    pthread_mutex_unlock(&s->stop_mu);
}

void owl_server_destroy(owl_server *s) {
    if (!s) return;
    owl_server_stop(s);
    owl_metrics_free(&s->metrics);
    pthread_mutex_destroy(&s->stop_mu);
    free(s->host);
    free(s->api_key);
    free(s->model_name);
    free(s);
}

char *owl_server_metrics_text(owl_server *s) {
    owl_backend_stats st = {0};
    if (s->backend && s->backend->stats) s->backend->stats(s->backend->impl, &st);
    return owl_metrics_render(&s->metrics, s->backend ? &st : NULL);
}
