/* The HTTP layer end to end on 127.0.0.1: a server started in-process with a fake backend that
 * streams fixed words, driven by a raw-socket client. Covers routing (404/405), malformed and
 * mistyped JSON, body limits, slow and vanishing clients, API keys, CORS, streaming framing,
 * metrics, the log line, and a graceful stop with a stream in flight.
 *
 * `test_server_http --serve [--api-key K]` runs the same server until SIGINT/SIGTERM and prints
 * its port: the target of the JavaScript client tests in tests/server. */
#include "owl/server.h"
#include "server/backend.h"
#include "test.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <time.h>

/* ---- a fake backend: one job at a time, words "Hello", " world", "!" ------------------------ */

#define FAKE_QUEUE 4

typedef struct fake {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    owl_job *queue[FAKE_QUEUE];
    int n_queued;
    bool quit, running_job;
    pthread_t thread;
    atomic_int cancels_seen;
    owl_backend be;
} fake;

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void run_job(fake *f, owl_job *j) {
    const owl_gen_request *r = owl_job_request(j);
    /* max_tokens 1000 asks for a long stream (for the disconnect and stop tests). */
    int words = r->max_tokens == 1000 ? 1000 : 3;
    static const char *const w[] = {"Hello", " world", "!"};
    for (int c = 0; c < owl_job_n_choices(j); c++) owl_job_prompt_done(j, c, 5, 1);
    for (int c = 0; c < owl_job_n_choices(j); c++) {
        owl_finish fin = OWL_FINISH_STOP;
        for (int i = 0; i < words; i++) {
            if (owl_job_cancelled(j)) {
                atomic_fetch_add(&f->cancels_seen, 1);
                fin = OWL_FINISH_CANCEL;
                break;
            }
            const char *t = words == 3 ? w[i] : " tok";
            owl_job_text(j, c, t, strlen(t), 1);
            sleep_ms(words == 3 ? 2 : 10);
        }
        owl_job_finish(j, c, fin);
    }
}

static void *fake_main(void *arg) {
    fake *f = arg;
    pthread_mutex_lock(&f->mu);
    for (;;) {
        while (!f->quit && f->n_queued == 0) pthread_cond_wait(&f->cv, &f->mu);
        if (f->n_queued == 0) break;
        owl_job *j = f->queue[0];
        memmove(f->queue, f->queue + 1, (size_t)(--f->n_queued) * sizeof *f->queue);
        f->running_job = true;
        pthread_mutex_unlock(&f->mu);
        run_job(f, j);
        owl_job_release(j);
        pthread_mutex_lock(&f->mu);
        f->running_job = false;
    }
    pthread_mutex_unlock(&f->mu);
    return NULL;
}

static int fake_submit(void *impl, owl_job *j, owl_api_error *e) {
    fake *f = impl;
    const owl_gen_request *r = owl_job_request(j);
    if (r->messages && json_array_size(r->messages) > 0) {
        const char *text = json_string_value(json_object_get(json_array_get(r->messages, 0), "content"));
        if (text && strcmp(text, "too long") == 0) {
            return owl_api_errorf(e, 400, NULL, "messages", "context_length_exceeded",
                                  "the prompt is longer than the context");
        }
    }
    pthread_mutex_lock(&f->mu);
    if (f->n_queued == FAKE_QUEUE) {
        pthread_mutex_unlock(&f->mu);
        return owl_api_errorf(e, 503, "server_error", NULL, "queue_full", "the queue is full");
    }
    owl_job_retain(j);
    f->queue[f->n_queued++] = j;
    pthread_cond_signal(&f->cv);
    pthread_mutex_unlock(&f->mu);
    return 0;
}

static void fake_stats(void *impl, owl_backend_stats *st) {
    fake *f = impl;
    pthread_mutex_lock(&f->mu);
    st->n_slots = 1;
    st->busy_slots = f->running_job;
    st->queue_depth = f->n_queued;
    st->n_ctx = 512;
    pthread_mutex_unlock(&f->mu);
}

static void fake_start(fake *f) {
    memset(f, 0, sizeof *f);
    pthread_mutex_init(&f->mu, NULL);
    pthread_cond_init(&f->cv, NULL);
    atomic_init(&f->cancels_seen, 0);
    f->be = (owl_backend){.impl = f, .model_name = "fake", .submit = fake_submit,
                          .stats = fake_stats};
    pthread_create(&f->thread, NULL, fake_main, f);
}

static void fake_stop(fake *f) {
    pthread_mutex_lock(&f->mu);
    f->quit = true;
    pthread_cond_signal(&f->cv);
    pthread_mutex_unlock(&f->mu);
    pthread_join(f->thread, NULL);
    pthread_mutex_destroy(&f->mu);
    pthread_cond_destroy(&f->cv);
}

/* ---- log capture ----------------------------------------------------------------------------- */

typedef struct logbuf {
    pthread_mutex_t mu;
    char text[16384];
    size_t len;
} logbuf;

static void log_line(void *user, const char *line) {
    logbuf *b = user;
    pthread_mutex_lock(&b->mu);
    int n = snprintf(b->text + b->len, sizeof b->text - b->len, "%s\n", line);
    if (n > 0 && b->len + (size_t)n < sizeof b->text) b->len += (size_t)n;
    pthread_mutex_unlock(&b->mu);
}

/* ---- a raw client ---------------------------------------------------------------------------- */

static int connect_to(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static bool send_all(int fd, const char *s, size_t n) {
    while (n) {
        ssize_t k = send(fd, s, n, MSG_NOSIGNAL);
        if (k <= 0) return false;
        s += k;
        n -= (size_t)k;
    }
    return true;
}

/* Reads until the peer closes or timeout_ms passes; returns the byte count (buf NUL-ended). */
static size_t read_all(int fd, char *buf, size_t cap, int timeout_ms) {
    size_t len = 0;
    int waited = 0;
    while (len + 1 < cap && waited < timeout_ms) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 50) <= 0) {
            waited += 50;
            continue;
        }
        ssize_t k = recv(fd, buf + len, cap - 1 - len, 0);
        if (k <= 0) break;
        len += (size_t)k;
    }
    buf[len] = '\0';
    return len;
}

typedef struct reply {
    int status;
    char raw[65536];
    const char *body;
} reply;

/* One request over HTTP/1.0 (so a streamed body simply runs until the server closes). */
static void request(int port, const char *method, const char *path, const char *headers,
                    const char *body, reply *r) {
    memset(r, 0, sizeof *r);
    r->body = "";
    int fd = connect_to(port);
    if (fd < 0) return;
    char head[2048];
    snprintf(head, sizeof head, "%s %s HTTP/1.0\r\nHost: 127.0.0.1\r\n%sContent-Length: %zu\r\n\r\n",
             method, path, headers ? headers : "", body ? strlen(body) : 0);
    if (send_all(fd, head, strlen(head)) && (!body || send_all(fd, body, strlen(body)))) {
        read_all(fd, r->raw, sizeof r->raw, 5000);
    }
    close(fd);
    sscanf(r->raw, "HTTP/1.%*d %d", &r->status);
    char *b = strstr(r->raw, "\r\n\r\n");
    if (b) r->body = b + 4;
}

static bool has_header(const reply *r, const char *line) {
    const char *end = strstr(r->raw, "\r\n\r\n");
    const char *h = strcasestr(r->raw, line);
    return h && end && h < end;
}

/* ---- fixtures -------------------------------------------------------------------------------- */

typedef struct fixture {
    fake f;
    logbuf log;
    owl_server *s;
    int port;
} fixture;

static bool fixture_start(fixture *x, const char *api_key, bool cors, bool with_backend) {
    memset(x, 0, sizeof *x);
    pthread_mutex_init(&x->log.mu, NULL);
    fake_start(&x->f);
    owl_server_config cfg = owl_server_default_config();
    cfg.port = 0;
    cfg.api_key = api_key;
    cfg.cors = cors;
    cfg.max_body = 64 * 1024;
    cfg.timeout_s = 1;
    cfg.log = log_line;
    cfg.log_user = &x->log;
    owl_error err = {{0}};
    x->s = owl_server_new(&cfg, with_backend ? &x->f.be : NULL, &err);
    if (!x->s) {
        printf("  server: %s\n", err.msg);
        fake_stop(&x->f);
        return false;
    }
    x->port = owl_server_port(x->s);
    return true;
}

static void fixture_stop(fixture *x) {
    owl_server_destroy(x->s);
    fake_stop(&x->f);
    pthread_mutex_destroy(&x->log.mu);
}

static const char chat_body[] = "{\"model\":\"fake\",\"messages\":[{\"role\":\"user\","
                                "\"content\":\"SECRET-PROMPT\"}]}";

/* ---- tests ----------------------------------------------------------------------------------- */

static void test_health_and_routing(void) {
    fixture x;
    REQUIRE(fixture_start(&x, NULL, false, true));
    reply r;
    request(x.port, "GET", "/health", NULL, NULL, &r);
    CHECK_EQ_INT(r.status, 200);
    CHECK_STR(r.body, "{\"status\":\"ok\",\"model\":\"fake\"}");
    request(x.port, "GET", "/nope", NULL, NULL, &r);
    CHECK_EQ_INT(r.status, 404);
    CHECK(strstr(r.body, "{\"error\":{\"message\":\"no endpoint GET /nope\"") == r.body);
    request(x.port, "GET", "/api/nope", NULL, NULL, &r);
    CHECK_EQ_INT(r.status, 404);
    CHECK_STR(r.body, "{\"error\":\"no endpoint GET /api/nope\"}");
    request(x.port, "GET", "/v1/chat/completions", NULL, NULL, &r);
    CHECK_EQ_INT(r.status, 405);
    CHECK(has_header(&r, "\r\nAllow: POST"));
    CHECK(strstr(r.body, "\"code\":\"method_not_allowed\"") != NULL);
    request(x.port, "GET", "/api/version", NULL, NULL, &r);
    CHECK_EQ_INT(r.status, 200);
    CHECK_STR(r.body, "{\"version\":\"" OWL_VERSION "\"}");
    request(x.port, "GET", "/v1/models", NULL, NULL, &r);
    CHECK(strstr(r.body, "\"id\":\"fake\"") != NULL);
    request(x.port, "GET", "/v1/models/other", NULL, NULL, &r);
    CHECK_EQ_INT(r.status, 404);
    request(x.port, "POST", "/v1/embeddings", NULL, "{}", &r);
    CHECK_EQ_INT(r.status, 400);
    CHECK(strstr(r.body, "model does not support embeddings") != NULL);
    fixture_stop(&x);
}

static void test_bad_json(void) {
    fixture x;
    REQUIRE(fixture_start(&x, NULL, false, true));
    reply r;
    request(x.port, "POST", "/v1/chat/completions", NULL, "{\"messages\":[", &r);
    CHECK_EQ_INT(r.status, 400);
    CHECK(strstr(r.body, "invalid JSON body") != NULL);
    CHECK(has_header(&r, "Content-Type: application/json"));
    request(x.port, "POST", "/v1/chat/completions", NULL,
            "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"temperature\":\"hot\"}", &r);
    CHECK_EQ_INT(r.status, 400);
    CHECK(strstr(r.body, "\"param\":\"temperature\"") != NULL);
    request(x.port, "POST", "/api/chat", NULL, "{\"options\":{\"seed\":\"x\"}}", &r);
    CHECK_EQ_INT(r.status, 400);
    CHECK(strstr(r.body, "{\"error\":\"'options.seed' must be an integer\"}") != NULL);
    request(x.port, "POST", "/v1/chat/completions", NULL, "", &r);
    CHECK_EQ_INT(r.status, 400);
    request(x.port, "POST", "/v1/chat/completions", NULL,
            "{\"messages\":[{\"role\":\"user\",\"content\":\"too long\"}]}", &r);
    CHECK_EQ_INT(r.status, 400);
    CHECK(strstr(r.body, "context_length_exceeded") != NULL);
    fixture_stop(&x);
}

static void test_huge_body(void) {
    fixture x;
    REQUIRE(fixture_start(&x, NULL, false, true));
    /* Declared too large: answered before the body is read. */
    int fd = connect_to(x.port);
    REQUIRE(fd >= 0);
    const char *h = "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n";
    send_all(fd, h, strlen(h));
    static char buf[8192];
    read_all(fd, buf, sizeof buf, 3000);
    close(fd);
    CHECK(strncmp(buf, "HTTP/1.1 413", 12) == 0);
    CHECK(strstr(buf, "request_too_large") != NULL);
    /* Chunked, no length: cut off once the limit is passed. */
    fd = connect_to(x.port);
    REQUIRE(fd >= 0);
    h = "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
    send_all(fd, h, strlen(h));
    static char chunk[4096 + 16];
    int n = snprintf(chunk, sizeof chunk, "1000\r\n");
    memset(chunk + n, 'a', 4096);
    memcpy(chunk + n + 4096, "\r\n", 2);
    for (int i = 0; i < 40; i++) {
        if (!send_all(fd, chunk, (size_t)n + 4098)) break;
    }
    send_all(fd, "0\r\n\r\n", 5);
    read_all(fd, buf, sizeof buf, 3000);
    close(fd);
    CHECKF(strncmp(buf, "HTTP/1.1 413", 12) == 0, "%.200s", buf);
    fixture_stop(&x);
}

static void test_auth(void) {
    fixture x;
    REQUIRE(fixture_start(&x, "sekrit", false, true));
    reply r;
    request(x.port, "GET", "/v1/models", NULL, NULL, &r);
    CHECK_EQ_INT(r.status, 401);
    CHECK(strstr(r.body, "\"code\":\"invalid_api_key\"") != NULL);
    request(x.port, "GET", "/v1/models", "Authorization: Bearer wrong\r\n", NULL, &r);
    CHECK_EQ_INT(r.status, 401);
    request(x.port, "GET", "/v1/models", "Authorization: Bearer sekri\r\n", NULL, &r);
    CHECK_EQ_INT(r.status, 401);
    request(x.port, "GET", "/v1/models", "Authorization: Bearer sekrit\r\n", NULL, &r);
    CHECK_EQ_INT(r.status, 200);
    request(x.port, "GET", "/health", NULL, NULL, &r);
    CHECK_EQ_INT(r.status, 200);
    request(x.port, "POST", "/api/chat", NULL, "{}", &r);
    CHECK_EQ_INT(r.status, 401);
    CHECK(strncmp(r.body, "{\"error\":\"", 10) == 0);
    fixture_stop(&x);
}

static void test_cors(void) {
    fixture x;
    REQUIRE(fixture_start(&x, "k", true, true));
    reply r;
    request(x.port, "OPTIONS", "/v1/chat/completions",
            "Origin: http://a\r\nAccess-Control-Request-Method: POST\r\n"
            "Access-Control-Request-Headers: authorization, content-type\r\n",
            NULL, &r);
    CHECK_EQ_INT(r.status, 204); /* preflight needs no key */
    CHECK(has_header(&r, "Access-Control-Allow-Origin: *"));
    CHECK(has_header(&r, "Access-Control-Allow-Headers: authorization, content-type"));
    CHECK(has_header(&r, "Access-Control-Allow-Methods: GET, POST, DELETE, OPTIONS"));
    request(x.port, "GET", "/health", "Origin: http://a\r\n", NULL, &r);
    CHECK(has_header(&r, "Access-Control-Allow-Origin: *"));
    fixture_stop(&x);

    REQUIRE(fixture_start(&x, NULL, false, true));
    request(x.port, "OPTIONS", "/v1/chat/completions", "Origin: http://a\r\n", NULL, &r);
    CHECK_EQ_INT(r.status, 405);
    request(x.port, "GET", "/health", "Origin: http://a\r\n", NULL, &r);
    CHECK(!has_header(&r, "Access-Control-Allow-Origin"));
    fixture_stop(&x);
}

static void test_chat_nonstream(void) {
    fixture x;
    REQUIRE(fixture_start(&x, NULL, false, true));
    reply r;
    request(x.port, "POST", "/v1/chat/completions", NULL, chat_body, &r);
    CHECK_EQ_INT(r.status, 200);
    json_t *j = json_loads(r.body, 0, NULL);
    REQUIRE(j);
    CHECK_STR(json_string_value(json_object_get(j, "object")), "chat.completion");
    json_t *c0 = json_array_get(json_object_get(j, "choices"), 0);
    CHECK_STR(json_string_value(json_object_get(json_object_get(c0, "message"), "content")),
              "Hello world!");
    CHECK_STR(json_string_value(json_object_get(c0, "finish_reason")), "stop");
    json_t *u = json_object_get(j, "usage");
    CHECK_EQ_INT(json_integer_value(json_object_get(u, "prompt_tokens")), 5);
    CHECK_EQ_INT(json_integer_value(json_object_get(u, "completion_tokens")), 3);
    CHECK_EQ_INT(json_integer_value(
                     json_object_get(json_object_get(u, "prompt_tokens_details"), "cached_tokens")),
                 1);
    json_decref(j);
    /* Ollama, stream:false: one object. */
    request(x.port, "POST", "/api/generate", NULL, "{\"prompt\":\"hi\",\"stream\":false}", &r);
    CHECK_EQ_INT(r.status, 200);
    CHECK(strstr(r.body, "\"response\":\"Hello world!\",\"done\":true,\"done_reason\":\"stop\"") !=
          NULL);
    /* Nothing of the prompt reaches the log. */
    pthread_mutex_lock(&x.log.mu);
    CHECK(strstr(x.log.text, "SECRET") == NULL);
    CHECK(strstr(x.log.text, "POST /v1/chat/completions 200 tokens=5+3 ") != NULL);
    pthread_mutex_unlock(&x.log.mu);
    fixture_stop(&x);
}

static void test_chat_stream(void) {
    fixture x;
    REQUIRE(fixture_start(&x, NULL, false, true));
    reply r;
    request(x.port, "POST", "/v1/chat/completions", NULL,
            "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"stream\":true,\"n\":2,"
            "\"stream_options\":{\"include_usage\":true}}",
            &r);
    CHECK_EQ_INT(r.status, 200);
    CHECK(has_header(&r, "Content-Type: text/event-stream"));
    /* Walk the events: every one "data: ...\n\n"; JSON until [DONE]. */
    const char *p = r.body;
    int events = 0, roles = 0, contents = 0, finishes = 0, usage = 0;
    bool done = false, framing_ok = true;
    char id[64] = "";
    while (*p) {
        if (strncmp(p, "data: ", 6) != 0) {
            framing_ok = false;
            break;
        }
        const char *end = strstr(p, "\n\n");
        if (!end) {
            framing_ok = false;
            break;
        }
        events++;
        if (strncmp(p + 6, "[DONE]", 6) == 0) {
            done = true;
            CHECK(end[2] == '\0');
            break;
        }
        json_t *j = json_loadb(p + 6, (size_t)(end - p - 6), 0, NULL);
        REQUIRE(j);
        const char *jid = json_string_value(json_object_get(j, "id"));
        if (!id[0] && jid) snprintf(id, sizeof id, "%s", jid);
        CHECK(jid && strcmp(jid, id) == 0);
        json_t *choices = json_object_get(j, "choices");
        if (json_array_size(choices) == 0) {
            usage++;
            CHECK_EQ_INT(json_integer_value(json_object_get(json_object_get(j, "usage"),
                                                            "completion_tokens")),
                         6);
        } else {
            json_t *d = json_object_get(json_array_get(choices, 0), "delta");
            if (json_object_get(d, "role")) roles++;
            else if (json_object_get(d, "content")) contents++;
            if (json_is_string(json_object_get(json_array_get(choices, 0), "finish_reason")))
                finishes++;
        }
        json_decref(j);
        p = end + 2;
    }
    CHECK(framing_ok && done);
    CHECK_EQ_INT(roles, 2);
    CHECK_EQ_INT(contents, 6);
    CHECK_EQ_INT(finishes, 2);
    CHECK_EQ_INT(usage, 1);
    CHECK(strncmp(id, "chatcmpl-", 9) == 0);
    CHECK(events == 2 + 6 + 2 + 1 + 1);

    /* Ollama: NDJSON, last line done. */
    request(x.port, "POST", "/api/chat", NULL,
            "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", &r);
    CHECK_EQ_INT(r.status, 200);
    CHECK(has_header(&r, "Content-Type: application/x-ndjson"));
    int lines = 0;
    const char *last = r.body;
    for (const char *q = r.body; (q = strchr(q, '\n')); q++) {
        lines++;
        if (q[1]) last = q + 1;
    }
    CHECK_EQ_INT(lines, 4);
    CHECK(strstr(last, "\"done_reason\":\"stop\",\"done\":true,") != NULL);
    CHECK(strstr(r.body, "\"message\":{\"role\":\"assistant\",\"content\":\" world\"},\"done\":false}\n") != NULL);
    fixture_stop(&x);
}

static void test_no_backend(void) {
    fixture x;
    REQUIRE(fixture_start(&x, NULL, false, false));
    reply r;
    request(x.port, "POST", "/v1/chat/completions", NULL, chat_body, &r);
    CHECK_EQ_INT(r.status, 503);
    request(x.port, "GET", "/health", NULL, NULL, &r);
    CHECK_STR(r.body, "{\"status\":\"ok\",\"model\":null}");
    fixture_stop(&x);
}

static void test_slow_client(void) {
    fixture x;
    REQUIRE(fixture_start(&x, NULL, false, true));
    int fd = connect_to(x.port);
    REQUIRE(fd >= 0);
    send_all(fd, "GET /health HTTP/1.1\r\nHo", 24); /* then silence */
    int64_t t0 = time(NULL);
    char buf[256];
    size_t n = read_all(fd, buf, sizeof buf, 5000);
    int64_t waited = time(NULL) - t0;
    close(fd);
    CHECK(n == 0 || strstr(buf, "HTTP/1.1 ") != NULL); /* closed, perhaps with an error status */
    CHECKF(waited <= 3, "waited %lld s for the timeout", (long long)waited);
    fixture_stop(&x);
}

static void test_vanishing_client(void) {
    fixture x;
    REQUIRE(fixture_start(&x, NULL, false, true));
    int fd = connect_to(x.port);
    REQUIRE(fd >= 0);
    static const char body[] = "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
                               "\"stream\":true,\"max_tokens\":1000}";
    char head[256];
    snprintf(head, sizeof head,
             "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n\r\n",
             sizeof body - 1);
    send_all(fd, head, strlen(head));
    send_all(fd, body, sizeof body - 1);
    char buf[2048];
    struct pollfd p = {.fd = fd, .events = POLLIN};
    REQUIRE(poll(&p, 1, 3000) == 1);
    CHECK(recv(fd, buf, sizeof buf, 0) > 0);
    close(fd);
    /* The backend must see the cancellation within a second or so. */
    int i = 0;
    while (atomic_load(&x.f.cancels_seen) == 0 && i++ < 300) sleep_ms(10);
    CHECK_EQ_INT(atomic_load(&x.f.cancels_seen), 1);
    sleep_ms(50);
    pthread_mutex_lock(&x.log.mu);
    CHECK(strstr(x.log.text, "POST /v1/chat/completions 499") != NULL);
    pthread_mutex_unlock(&x.log.mu);
    fixture_stop(&x);
}

typedef struct stream_arg {
    int port;
    reply r;
} stream_arg;

static void *long_stream(void *arg) {
    stream_arg *a = arg;
    request(a->port, "POST", "/api/generate", NULL, "{\"prompt\":\"x\",\"options\":{\"num_predict\":1000}}",
            &a->r);
    return NULL;
}

static void test_graceful_stop(void) {
    fixture x;
    REQUIRE(fixture_start(&x, NULL, false, true));
    static stream_arg a;
    memset(&a, 0, sizeof a);
    a.port = x.port;
    pthread_t t;
    pthread_create(&t, NULL, long_stream, &a);
    int i = 0;
    owl_backend_stats st = {0};
    do {
        sleep_ms(10);
        fake_stats(&x.f, &st);
    } while (!st.busy_slots && i++ < 300);
    sleep_ms(50);
    owl_server_stop(x.s); /* the stream ends cleanly with its final line */
    pthread_join(t, NULL);
    CHECK_EQ_INT(a.r.status, 200);
    size_t n = strlen(a.r.body);
    CHECK(n > 0 && a.r.body[n - 1] == '\n');
    CHECKF(strstr(a.r.body, "\"done\":true") != NULL, "%zu: %.300s", n, n > 300 ? a.r.body + n - 300 : a.r.body);
    CHECK_EQ_INT(atomic_load(&x.f.cancels_seen), 1);
    reply r;
    request(x.port, "GET", "/health", NULL, NULL, &r);
    CHECK_EQ_INT(r.status, 0); /* no longer accepting */
    fixture_stop(&x);
}

static void test_metrics(void) {
    fixture x;
    REQUIRE(fixture_start(&x, NULL, false, true));
    reply r;
    request(x.port, "GET", "/health", NULL, NULL, &r);
    request(x.port, "GET", "/nope", NULL, NULL, &r);
    request(x.port, "POST", "/v1/chat/completions", NULL, chat_body, &r);
    /* The backend frees its slot just after the response is complete: wait (bounded) for the
     * gauge to settle before reading every counter. */
    for (int i = 0; i < 200; i++) {
        request(x.port, "GET", "/metrics", NULL, NULL, &r);
        if (strstr(r.body, "owl_busy_slots 0\n")) break;
        sleep_ms(10);
    }
    CHECK_EQ_INT(r.status, 200);
    CHECK(has_header(&r, "Content-Type: text/plain; version=0.0.4"));
    CHECK(strstr(r.body, "owl_requests_total{endpoint=\"/health\",status=\"200\"} 1\n") != NULL);
    CHECK(strstr(r.body, "owl_requests_total{endpoint=\"other\",status=\"404\"} 1\n") != NULL);
    CHECK(strstr(r.body, "owl_requests_total{endpoint=\"/v1/chat/completions\",status=\"200\"} 1\n") !=
          NULL);
    CHECK(strstr(r.body, "owl_prompt_tokens_total 5\n") != NULL);
    CHECK(strstr(r.body, "owl_generated_tokens_total 3\n") != NULL);
    CHECK(strstr(r.body, "owl_prefix_cache_hit_tokens_total 1\n") != NULL);
    CHECK(strstr(r.body, "owl_time_to_first_token_seconds_count 1\n") != NULL);
    CHECK(strstr(r.body, "owl_tokens_per_second_bucket{le=\"+Inf\"} 1\n") != NULL);
    CHECK(strstr(r.body, "# TYPE owl_queue_depth gauge\nowl_queue_depth 0\n") != NULL);
    CHECK(strstr(r.body, "owl_busy_slots 0\n") != NULL);
    fixture_stop(&x);
}

static void test_queue_full(void) {
    fixture x;
    REQUIRE(fixture_start(&x, NULL, false, true));
    static const char body[] = "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
                               "\"stream\":true,\"max_tokens\":1000}";
    char head[256];
    snprintf(head, sizeof head,
             "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n\r\n",
             sizeof body - 1);
    /* One running plus FAKE_QUEUE waiting fill the fake backend. */
    int fds[1 + FAKE_QUEUE];
    for (int i = 0; i < 1 + FAKE_QUEUE; i++) {
        fds[i] = connect_to(x.port);
        if (fds[i] >= 0) {
            send_all(fds[i], head, strlen(head));
            send_all(fds[i], body, sizeof body - 1);
        }
        sleep_ms(30);
    }
    owl_backend_stats st = {0};
    for (int i = 0; i < 100; i++) {
        fake_stats(&x.f, &st);
        if (st.queue_depth == FAKE_QUEUE) break;
        sleep_ms(10);
    }
    CHECK_EQ_INT(st.queue_depth, FAKE_QUEUE);
    CHECK_EQ_INT(st.busy_slots, 1);
    reply r;
    request(x.port, "GET", "/metrics", NULL, NULL, &r);
    CHECK(strstr(r.body, "owl_queue_depth 4\n") != NULL && strstr(r.body, "owl_busy_slots 1\n"));
    request(x.port, "POST", "/v1/chat/completions", NULL, chat_body, &r);
    CHECK_EQ_INT(r.status, 503);
    CHECK(strstr(r.body, "\"code\":\"queue_full\"") != NULL);
    for (int i = 0; i < 1 + FAKE_QUEUE; i++) {
        if (fds[i] >= 0) close(fds[i]);
    }
    fixture_stop(&x);
}

static void test_completions_stream_n(void) {
    fixture x;
    REQUIRE(fixture_start(&x, NULL, false, true));
    reply r;
    request(x.port, "POST", "/v1/completions", NULL,
            "{\"prompt\":[\"a\",\"b\"],\"n\":2,\"stream\":true}", &r);
    CHECK_EQ_INT(r.status, 200);
    /* 4 choices x (3 words + 1 finish chunk), then [DONE]. */
    int per_index[4] = {0}, events = 0;
    for (const char *p = r.body; (p = strstr(p, "data: ")); p += 6) {
        events++;
        const char *ix = strstr(p, "\"index\":");
        if (ix && ix < strstr(p, "\n\n")) {
            int i = atoi(ix + 8);
            if (i >= 0 && i < 4) per_index[i]++;
        }
    }
    CHECK_EQ_INT(events, 17);
    for (int i = 0; i < 4; i++) CHECK_EQ_INT(per_index[i], 4);
    CHECK(strstr(r.body, "\"object\":\"text_completion\"") != NULL);
    CHECK(strcmp(r.body + strlen(r.body) - 14, "data: [DONE]\n\n") == 0);
    /* Prompt tokens count once per prompt, not per choice. */
    request(x.port, "POST", "/v1/completions", NULL, "{\"prompt\":[\"a\",\"b\"],\"n\":2}", &r);
    CHECK(strstr(r.body, "\"usage\":{\"prompt_tokens\":10,\"completion_tokens\":12,") != NULL);
    fixture_stop(&x);
}

static void test_bad_host(void) {
    owl_server_config cfg = owl_server_default_config();
    cfg.host = "not a host name";
    owl_error err = {{0}};
    owl_server *s = owl_server_new(&cfg, NULL, &err);
    CHECK(s == NULL);
    CHECK(strstr(err.msg, "not a host name") != NULL);
    owl_server_destroy(s);
}

/* ---- serve mode for the JavaScript tests ----------------------------------------------------- */

static void stderr_log(void *user, const char *line) { fprintf(stderr, "%s\n", line); }

static int serve(int argc, char **argv) {
    owl_server_config cfg = owl_server_default_config();
    cfg.port = 0;
    cfg.log = stderr_log;
    for (int i = 2; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--api-key") == 0) cfg.api_key = argv[i + 1];
        if (strcmp(argv[i], "--port") == 0) cfg.port = atoi(argv[i + 1]);
    }
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL); /* before any thread starts: all inherit it */
    fake f;
    fake_start(&f);
    owl_error err = {{0}};
    owl_server *s = owl_server_new(&cfg, &f.be, &err);
    if (!s) {
        fprintf(stderr, "serve: %s\n", err.msg);
        fake_stop(&f);
        return 1;
    }
    printf("%d\n", owl_server_port(s));
    fflush(stdout);
    int sig;
    sigwait(&set, &sig);
    owl_server_destroy(s);
    fake_stop(&f);
    return 0;
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "--serve") == 0) return serve(argc, argv);
    signal(SIGPIPE, SIG_IGN);
    RUN(test_health_and_routing);
    RUN(test_bad_json);
    RUN(test_huge_body);
    RUN(test_auth);
    RUN(test_cors);
    RUN(test_chat_nonstream);
    RUN(test_chat_stream);
    RUN(test_no_backend);
    RUN(test_slow_client);
    RUN(test_vanishing_client);
    RUN(test_graceful_stop);
    RUN(test_metrics);
    RUN(test_queue_full);
    RUN(test_completions_stream_n);
    RUN(test_bad_host);
    return test_summary();
}
