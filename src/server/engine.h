/* The engine behind `owl serve`: a backend (backend.h) over owl_model with --parallel slots. */
#ifndef OWL_SERVER_ENGINE_H
#define OWL_SERVER_ENGINE_H

#include "owl/tensor.h"
#include "server/backend.h"

typedef struct owl_engine_params {
    int n_slots;   /* parallel sequences (default 1) */
    int n_ctx;     /* context per slot; 0 = the model's, capped at 4096 */
    int n_threads; /* 0 = online CPUs */
    int max_queue; /* choices waiting for a slot before 503 (default 64) */
    owl_type kv_type; /* KV cache type: OWL_TYPE_F16 (set it: 0 is F32), F32 or Q8_0 */
    int prefill_chunk;     /* prompt tokens read per step beside the running slots (default 64) */
    bool no_prefix_cache;  /* every prompt is read in full (for measuring the prefix cache) */
    const char *template_src; /* chat template instead of the file's (a Modelfile TEMPLATE) */
} owl_engine_params;

owl_backend *owl_engine_backend_new(const char *model_path, const owl_engine_params *p,
                                    owl_error *err);
/* Stops the scheduler (running jobs end as cancelled) and frees everything. */
void owl_engine_backend_destroy(owl_backend *b);

#endif
