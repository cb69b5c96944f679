/* Server counters and their Prometheus text rendering. Everything lives in a struct the server
 * owns; one mutex, taken once per request and once per scrape. */
#include "server/metrics.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const double ttft_bounds[OWL_HIST_BUCKETS] = {0.025, 0.05, 0.1, 0.25, 0.5,
                                                     1,     2.5,  5,   10,   30};
static const double tps_bounds[OWL_HIST_BUCKETS] = {1, 5, 10, 20, 50, 100, 200, 500, 1000, 5000};

void owl_metrics_init(owl_metrics *m) {
    memset(m, 0, sizeof *m);
    pthread_mutex_init(&m->mu, NULL);
    m->ttft_s.bounds = ttft_bounds;
    m->tokens_per_s.bounds = tps_bounds;
}

void owl_metrics_free(owl_metrics *m) {
    free(m->req);
    pthread_mutex_destroy(&m->mu);
    memset(m, 0, sizeof *m);
}

void owl_metrics_request(owl_metrics *m, const char *endpoint, int status) {
    pthread_mutex_lock(&m->mu);
    for (size_t i = 0; i < m->n_req; i++) {
        if (m->req[i].status == status && strcmp(m->req[i].endpoint, endpoint) == 0) {
            m->req[i].n++;
            pthread_mutex_unlock(&m->mu);
            return;
        }
    }
    if (m->n_req == m->cap_req) {
        size_t cap = m->cap_req ? m->cap_req * 2 : 16;
        owl_request_count *p = realloc(m->req, cap * sizeof *p);
        if (!p) {
            pthread_mutex_unlock(&m->mu);
            return;
        }
        m->req = p;
        m->cap_req = cap;
    }
    owl_request_count *r = &m->req[m->n_req++];
    snprintf(r->endpoint, sizeof r->endpoint, "%s", endpoint);
    r->status = status;
    r->n = 1;
    pthread_mutex_unlock(&m->mu);
}

static void observe(owl_histogram *h, double v) {
    int b = 0;
    while (b < OWL_HIST_BUCKETS && v > h->bounds[b]) b++;
    h->counts[b]++;
    h->sum += v;
    h->n++;
}

void owl_metrics_generation(owl_metrics *m, const owl_gen_usage *u, int64_t ttft_ns,
                            int64_t gen_ns) {
    pthread_mutex_lock(&m->mu);
    m->prompt_tokens += (uint64_t)(u->prompt_tokens > 0 ? u->prompt_tokens : 0);
    m->generated_tokens += (uint64_t)(u->completion_tokens > 0 ? u->completion_tokens : 0);
    m->cached_tokens += (uint64_t)(u->cached_tokens > 0 ? u->cached_tokens : 0);
    if (ttft_ns >= 0) observe(&m->ttft_s, (double)ttft_ns / 1e9);
    /* Rate over the tokens after the first, which is what decoding speed means. */
    if (u->completion_tokens > 1 && gen_ns > 0) {
        observe(&m->tokens_per_s, (u->completion_tokens - 1) / ((double)gen_ns / 1e9));
    }
    pthread_mutex_unlock(&m->mu);
}

typedef struct sbuf {
    char *p;
    size_t len, cap;
    bool oom;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...) OWL_PRINTF(2, 3);
static void sb_printf(sbuf *b, const char *fmt, ...) {
    if (b->oom) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->oom = true;
            return;
        }
        if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap * 2 + (size_t)n;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
}

static void histogram(sbuf *b, const char *name, const char *help, const owl_histogram *h) {
    sb_printf(b, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    uint64_t cum = 0;
    for (int i = 0; i < OWL_HIST_BUCKETS; i++) {
        cum += h->counts[i];
        sb_printf(b, "%s_bucket{le=\"%g\"} %llu\n", name, h->bounds[i], (unsigned long long)cum);
    }
    cum += h->counts[OWL_HIST_BUCKETS];
    sb_printf(b, "%s_bucket{le=\"+Inf\"} %llu\n", name, (unsigned long long)cum);
    sb_printf(b, "%s_sum %.9g\n%s_count %llu\n", name, h->sum, name, (unsigned long long)h->n);
}

static void counter(sbuf *b, const char *name, const char *help, uint64_t v) {
    sb_printf(b, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", name, help, name, name,
              (unsigned long long)v);
}

static void gauge(sbuf *b, const char *name, const char *help, long long v) {
    sb_printf(b, "# HELP %s %s\n# TYPE %s gauge\n%s %lld\n", name, help, name, name, v);
}

char *owl_metrics_render(owl_metrics *m, const owl_backend_stats *st) {
    sbuf b = {malloc(4096), 0, 4096, false};
    if (!b.p) return NULL;
    b.p[0] = '\0';
    pthread_mutex_lock(&m->mu);
    sb_printf(&b, "# HELP owl_requests_total HTTP requests by endpoint and status.\n"
                  "# TYPE owl_requests_total counter\n");
    for (size_t i = 0; i < m->n_req; i++) {
        sb_printf(&b, "owl_requests_total{endpoint=\"%s\",status=\"%d\"} %llu\n",
                  m->req[i].endpoint, m->req[i].status, (unsigned long long)m->req[i].n);
    }
    counter(&b, "owl_prompt_tokens_total", "Prompt tokens processed.", m->prompt_tokens);
    counter(&b, "owl_generated_tokens_total", "Tokens generated.", m->generated_tokens);
    counter(&b, "owl_prefix_cache_hit_tokens_total", "Prompt tokens reused from the prefix cache.",
            m->cached_tokens);
    histogram(&b, "owl_time_to_first_token_seconds", "Time from request to first token.",
              &m->ttft_s);
    histogram(&b, "owl_tokens_per_second", "Decode speed of each finished request.",
              &m->tokens_per_s);
    pthread_mutex_unlock(&m->mu);
    gauge(&b, "owl_queue_depth", "Requests waiting for a slot.", st ? st->queue_depth : 0);
    gauge(&b, "owl_busy_slots", "Slots generating now.", st ? st->busy_slots : 0);
    gauge(&b, "owl_slots", "Slots (--parallel).", st ? st->n_slots : 0);
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    return b.p;
}
