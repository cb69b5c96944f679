/* The model registry behind `owl serve` without a MODEL: a backend (backend.h) that serves every
 * model in the store by name.
 *
 * A request names its model; the registry loads it on first use (an engine backend, engine.h),
 * hands it the job, and keeps the model while jobs run and then for its keep_alive (Ollama's
 * field: seconds or "5m"; 0 unloads as soon as the model is idle; negative keeps it). Several
 * models stay loaded at once as long as their estimated memory (file size + KV cache) fits the
 * budget; a model that does not fit evicts the least recently used idle ones. A timer thread
 * unloads expired models. The same backend answers the model-management endpoints from the store
 * (api_store.c). */
#ifndef OWL_SERVER_REGISTRY_H
#define OWL_SERVER_REGISTRY_H

#include "owl/store.h"
#include "server/engine.h"

#include <pthread.h>

typedef struct owl_registry_params {
    owl_engine_params engine; /* per loaded model */
    uint64_t memory_budget;   /* bytes for all loaded models; 0 = no limit */
    double keep_alive_s;      /* for requests that give none (default 300); < 0 forever */
    const char *store_root;   /* NULL: $OWL_HOME, else ~/.owl */
} owl_registry_params;

owl_backend *owl_registry_backend_new(const owl_registry_params *p, owl_error *err);
/* Unloads every model (running jobs end as cancelled) and stops running pulls. */
void owl_registry_backend_destroy(owl_backend *b);


/* ---- shared by registry.c and api_store.c ---------------------------------------------------- */

typedef struct reg_model {
    char name[OWL_NAME_MAX + OWL_TAG_MAX + 2]; /* "name:tag" */
    char digest[72];
    owl_backend *be;       /* NULL while loading */
    uint64_t bytes;        /* estimated memory */
    int64_t ctx_len;
    owl_job **jobs;        /* jobs in flight (one reference each) */
    size_t n_jobs, cap_jobs;
    double keep_alive_s;   /* of the latest request */
    int64_t last_used_ns;  /* CLOCK_MONOTONIC */
    int64_t expires_ns;    /* CLOCK_MONOTONIC; INT64_MAX: never */
} reg_model;

typedef struct owl_registry {
    owl_backend be;
    owl_registry_params p;
    owl_store store;
    pthread_mutex_t mu;
    pthread_cond_t cv;      /* a load finished, a model went idle, or quit */
    reg_model **models;
    size_t n_models;
    int loading;            /* loads in progress */
    pthread_t timer;
    bool quit, timer_started;
    int pulls;              /* pull threads running */
} owl_registry;

/* Ends finished jobs and unloads expired models (takes the lock). */
void registry_reap(owl_registry *r);
/* Unloads name when it is idle (takes the lock); 1 unloaded, 0 not loaded or busy. */
int registry_unload(owl_registry *r, const char *name);
/* /api/ps as JSON (takes the lock). */
json_t *registry_ps(owl_registry *r);
/* The management endpoints (api_store.c). */
void registry_manage(void *impl, const char *method, const char *path, const char *body,
                     size_t len, owl_manage_result *out);
/* Ollama's "details" object of a GGUF file (format, family, parameter_size, quantization). */
json_t *registry_details(const char *path, int64_t *ctx_len);

#endif
