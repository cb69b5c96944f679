/* Counters of one server for GET /metrics (Prometheus text format 0.0.4). */
#ifndef OWL_SERVER_METRICS_H
#define OWL_SERVER_METRICS_H

#include "server/backend.h"

#include <pthread.h>

#define OWL_HIST_BUCKETS 10

typedef struct owl_histogram {
    const double *bounds; /* OWL_HIST_BUCKETS upper bounds; +Inf is implied */
    uint64_t counts[OWL_HIST_BUCKETS + 1];
    double sum;
    uint64_t n;
} owl_histogram;

typedef struct owl_request_count {
    char endpoint[40];
    int status;
    uint64_t n;
} owl_request_count;

typedef struct owl_metrics {
    pthread_mutex_t mu;
    owl_request_count *req;
    size_t n_req, cap_req;
    uint64_t prompt_tokens, generated_tokens, cached_tokens;
    owl_histogram ttft_s, tokens_per_s;
} owl_metrics;

void owl_metrics_init(owl_metrics *m);
void owl_metrics_free(owl_metrics *m);
void owl_metrics_request(owl_metrics *m, const char *endpoint, int status);
/* One finished generation: ttft_ns < 0 when no token came; gen_ns spans first to last token. */
void owl_metrics_generation(owl_metrics *m, const owl_gen_usage *u, int64_t ttft_ns,
                            int64_t gen_ns);
/* The text; st may be NULL (no backend). malloc'd. */
char *owl_metrics_render(owl_metrics *m, const owl_backend_stats *st);

#endif
