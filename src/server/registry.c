/* The model registry: load on demand, keep_alive, LRU eviction within a memory budget
 * (see registry.h).
 *
 * Locking: one mutex guards the model list. Loading and unloading a model take seconds and are
 * done without it: a model being loaded sits in the list with be == NULL (other requests for it
 * wait on the condition variable), and a model being unloaded is taken out of the list first.
 * A job is tracked until it is done (owl_job_wait), which is how the registry learns that a
 * model went idle without any hook in the job or engine code. */
#include "server/registry.h"
#include "server/job.h"

#include "owl/gguf.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- memory estimate ------------------------------------------------------------------------- */

/* File size (the weights are mapped) plus the KV caches of every slot at f16. A context asked
 * for beyond the model's training length is cut to it: a request's num_ctx must not make the
 * server allocate what the model cannot use. */
static uint64_t estimate_bytes(const char *path, owl_engine_params *ep, int64_t *ctx_len) {
    struct stat st;
    uint64_t file = stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
    owl_gguf *g = owl_gguf_open(path, NULL);
    if (!g) return file;
    char arch[64] = "llama";
    owl_gguf_get_cstr(g, "general.architecture", arch, sizeof arch);
    int64_t n_layer = 0, n_embd = 0, n_head = 0, n_head_kv = 0, k_len = 0, v_len = 0, train = 0;
    owl_gguf_get_arch_int(g, arch, "block_count", &n_layer);
    owl_gguf_get_arch_int(g, arch, "embedding_length", &n_embd);
    owl_gguf_get_arch_int(g, arch, "attention.head_count", &n_head);
    if (!owl_gguf_get_arch_int(g, arch, "attention.head_count_kv", &n_head_kv)) n_head_kv = n_head;
    if (!owl_gguf_get_arch_int(g, arch, "attention.key_length", &k_len)) k_len = n_head ? n_embd / n_head : 0;
    if (!owl_gguf_get_arch_int(g, arch, "attention.value_length", &v_len)) v_len = k_len;
    owl_gguf_get_arch_int(g, arch, "context_length", &train);
    owl_gguf_close(g);
    if (train > 0 && ep->n_ctx > train) ep->n_ctx = (int)train;
    int64_t n_ctx = ep->n_ctx > 0 ? ep->n_ctx : (train > 0 && train < 4096 ? train : 4096);
    if (ctx_len) *ctx_len = n_ctx;
    int64_t slots = ep->n_slots > 0 ? ep->n_slots : 1;
    if (n_layer <= 0 || n_head_kv <= 0 || k_len <= 0 || n_layer > 4096 || k_len > 65536) {
        return file;
    }
    return file + (uint64_t)(slots * n_ctx * n_layer * n_head_kv * (k_len + v_len) * 2);
}

/* ---- the list (under r->mu) ------------------------------------------------------------------ */

static reg_model *find(owl_registry *r, const char *name) {
    for (size_t i = 0; i < r->n_models; i++) {
        if (strcmp(r->models[i]->name, name) == 0) return r->models[i];
    }
    return NULL;
}

static void take_out(owl_registry *r, reg_model *m) {
    for (size_t i = 0; i < r->n_models; i++) {
        if (r->models[i] == m) {
            memmove(&r->models[i], &r->models[i + 1], (r->n_models - i - 1) * sizeof *r->models);
            r->n_models--;
            return;
        }
    }
}

static void model_free(reg_model *m) {
    if (!m) return;
    owl_engine_backend_destroy(m->be);
    for (size_t i = 0; i < m->n_jobs; i++) owl_job_release(m->jobs[i]);
    free(m->jobs);
    free(m);
}

static uint64_t used_bytes(const owl_registry *r) {
    uint64_t n = 0;
    for (size_t i = 0; i < r->n_models; i++) n += r->models[i]->bytes;
    return n;
}

static int64_t expiry_from(int64_t now, double keep_alive_s) {
    if (keep_alive_s < 0) return INT64_MAX;
    double ns = keep_alive_s * 1e9;
    return ns > 9e18 ? INT64_MAX : now + (int64_t)ns;
}

/* Drops finished jobs; a model whose last job ended starts its keep_alive. Models that are
 * idle and expired move to *gone (the caller frees them without the lock). */
static void reap_locked(owl_registry *r, reg_model ***gone, size_t *n_gone) {
    int64_t now = owl_now_ns();
    for (size_t i = 0; i < r->n_models;) {
        reg_model *m = r->models[i];
        if (!m->be) {
            i++;
            continue;
        }
        size_t before = m->n_jobs, k = 0;
        for (size_t j = 0; j < m->n_jobs; j++) {
            if (owl_job_wait(m->jobs[j], 0)) owl_job_release(m->jobs[j]);
            else m->jobs[k++] = m->jobs[j];
        }
        m->n_jobs = k;
        if (before && !k) {
            m->expires_ns = expiry_from(now, m->keep_alive_s);
            pthread_cond_broadcast(&r->cv);
        }
        if (!m->n_jobs && m->expires_ns <= now) {
            reg_model **g = realloc(*gone, (*n_gone + 1) * sizeof *g);
            if (g) {
                *gone = g;
                g[(*n_gone)++] = m;
                take_out(r, m);
                continue;
            }
        }
        i++;
    }
}

static void free_all(reg_model **gone, size_t n) {
    for (size_t i = 0; i < n; i++) model_free(gone[i]);
    free(gone);
}

void registry_reap(owl_registry *r) {
    reg_model **gone = NULL;
    size_t n = 0;
    pthread_mutex_lock(&r->mu);
    reap_locked(r, &gone, &n);
    pthread_mutex_unlock(&r->mu);
    free_all(gone, n);
}

int registry_unload(owl_registry *r, const char *name) {
    pthread_mutex_lock(&r->mu);
    reg_model *m = find(r, name);
    bool ok = m && m->be && m->n_jobs == 0;
    if (ok) take_out(r, m);
    pthread_mutex_unlock(&r->mu);
    if (ok) model_free(m);
    return ok;
}

/* The least recently used idle model, or NULL. */
static reg_model *lru_idle(owl_registry *r) {
    reg_model *best = NULL;
    for (size_t i = 0; i < r->n_models; i++) {
        reg_model *m = r->models[i];
        if (m->be && !m->n_jobs && (!best || m->last_used_ns < best->last_used_ns)) best = m;
    }
    return best;
}

/* ---- submit ---------------------------------------------------------------------------------- */

/* A Modelfile number replaces a sampling field that still holds the API's default. The parsed
 * request does not record which fields were sent, so a value sent equal to the default also
 * gives way to the Modelfile's. */
static void param_float(const json_t *params, const char *key, float dflt, float *field) {
    json_t *v = json_object_get(params, key);
    if (json_is_number(v) && *field == dflt) *field = (float)json_number_value(v);
}

static void param_int(const json_t *params, const char *key, int dflt, int *field) {
    json_t *v = json_object_get(params, key);
    if (json_is_integer(v) && *field == dflt) *field = (int)json_integer_value(v);
}

/* The Modelfile defaults a request did not override: sampling parameters, the system prompt and
 * stop strings. The job is not shared yet, so its request may still be completed here. */
static void apply_defaults(owl_job *job, const owl_manifest *mf) {
    owl_gen_request *req = (owl_gen_request *)owl_job_request(job);
    const json_t *p = mf->parameters;
    owl_gen_sampling *g = &req->sampling;
    param_float(p, "temperature", 0.8f, &g->temperature);
    param_float(p, "top_p", 0.95f, &g->top_p);
    param_int(p, "top_k", 40, &g->top_k);
    param_float(p, "min_p", 0.05f, &g->min_p);
    param_float(p, "typical_p", 1.0f, &g->typical_p);
    param_float(p, "repeat_penalty", 1.0f, &g->repeat_penalty);
    param_int(p, "repeat_last_n", 64, &g->repeat_last_n);
    param_float(p, "presence_penalty", 0.0f, &g->presence_penalty);
    param_float(p, "frequency_penalty", 0.0f, &g->frequency_penalty);
    param_int(p, "num_predict", -1, &req->max_tokens);
    json_t *seed = json_object_get(p, "seed");
    if (json_is_integer(seed) && json_integer_value(seed) >= 0 && !g->has_seed) {
        g->has_seed = true;
        g->seed = (uint64_t)json_integer_value(seed);
    }
    if (mf->system) {
        if (req->messages) {
            json_t *first = json_array_get(req->messages, 0);
            const char *role = json_string_value(json_object_get(first, "role"));
            if (!role || strcmp(role, "system") != 0) {
                json_array_insert_new(req->messages, 0,
                                      json_pack("{s:s, s:s}", "role", "system", "content",
                                                mf->system));
            }
        } else if (!req->system && req->kind == OWL_API_OLLAMA_GENERATE) {
            req->system = strdup(mf->system);
        }
    }
    json_t *stop = json_object_get(mf->parameters, "stop");
    if (!req->n_stop && json_array_size(stop)) {
        size_t n = json_array_size(stop);
        req->stop = calloc(n, sizeof *req->stop);
        for (size_t i = 0; req->stop && i < n; i++) {
            const char *v = json_string_value(json_array_get(stop, i));
            if (v && (req->stop[req->n_stop] = strdup(v))) req->n_stop++;
        }
    }
}

/* Ollama's way to load or unload a model without generating: /api/generate with an empty
 * prompt (and keep_alive 0 to unload), or /api/chat with no messages. */
static bool load_only(const owl_gen_request *req) {
    if (req->kind == OWL_API_OLLAMA_GENERATE) {
        return !req->n_prompts || !req->prompts[0] || !req->prompts[0][0];
    }
    return req->kind == OWL_API_OLLAMA_CHAT && json_array_size(req->messages) == 0;
}

static int submit(void *impl, owl_job *job, owl_api_error *e) {
    owl_registry *r = impl;
    const owl_gen_request *req = owl_job_request(job);
    if (!req->model || !*req->model) {
        return owl_api_errorf(e, 400, "invalid_request_error", "model", NULL,
                              "'model' is required: the name of a model in the store");
    }
    owl_model_name mn;
    owl_error err = {{0}};
    owl_manifest mf;
    if (owl_model_name_parse(req->model, &mn, &err) < 0) {
        return owl_api_errorf(e, 400, "invalid_request_error", "model", NULL, "%s", err.msg);
    }
    if (owl_store_read_manifest(&r->store, req->model, &mf, &err) < 0) {
        return owl_api_errorf(e, 404, "invalid_request_error", "model", "model_not_found",
                              "model '%.200s' not found, try pulling it first", req->model);
    }
    char name[sizeof ((reg_model *)0)->name];
    owl_model_name_format(&mn, name, sizeof name);
    apply_defaults(job, &mf);
    double ka = isnan(req->keep_alive_s) ? r->p.keep_alive_s : req->keep_alive_s;
    owl_engine_params ep = r->p.engine;
    json_t *num_ctx = json_object_get(mf.parameters, "num_ctx");
    if (json_is_integer(num_ctx) && !ep.n_ctx) ep.n_ctx = (int)json_integer_value(num_ctx);
    if (req->num_ctx > 0) ep.n_ctx = req->num_ctx;
    ep.template_src = mf.template_src; /* read while loading, which ends before mf is freed */

    reg_model **gone = NULL;
    size_t n_gone = 0;
    int rc = -1;
    bool only = load_only(req);
    if (only && ka == 0) {
        /* unload now, or as soon as its running requests end */
        pthread_mutex_lock(&r->mu);
        reg_model *busy = find(r, name);
        if (busy) busy->keep_alive_s = 0;
        pthread_mutex_unlock(&r->mu);
        registry_unload(r, name);
        owl_manifest_free(&mf);
        owl_job_finish(job, 0, OWL_FINISH_STOP);
        return 0;
    }
    pthread_mutex_lock(&r->mu);
    reg_model *m;
    for (;;) {
        reap_locked(r, &gone, &n_gone);
        m = find(r, name);
        if (m && m->be) break;
        if (m) { /* another request is loading it */
            pthread_cond_wait(&r->cv, &r->mu);
            continue;
        }
        char *path = owl_store_blob_path(&r->store, mf.digest);
        int64_t ctx_len = 0;
        uint64_t need = path ? estimate_bytes(path, &ep, &ctx_len) : 0;
        uint64_t budget = r->p.memory_budget;
        if (budget && need > budget) {
            free(path);
            owl_api_errorf(e, 503, "server_error", "model", "insufficient_memory",
                           "model '%s' needs about %llu MiB, more than the memory budget of "
                           "%llu MiB", name, (unsigned long long)(need >> 20),
                           (unsigned long long)(budget >> 20));
            goto out;
        }
        /* Make room: least recently used idle models go first. */
        reg_model *v;
        while (budget && used_bytes(r) + need > budget && (v = lru_idle(r))) {
            take_out(r, v);
            reg_model **g = realloc(gone, (n_gone + 1) * sizeof *g);
            if (!g) {
                model_free(v);
                continue;
            }
            gone = g;
            gone[n_gone++] = v;
        }
        if (budget && used_bytes(r) + need > budget) {
            free(path);
            owl_api_errorf(e, 503, "server_error", "model", "insufficient_memory",
                           "model '%s' does not fit the memory budget next to the models that "
                           "are busy; try again shortly", name);
            goto out;
        }
        m = calloc(1, sizeof *m);
        if (!m || !path) {
            free(m);
            free(path);
            owl_api_errorf(e, 500, "server_error", NULL, NULL, "out of memory");
            goto out;
        }
        snprintf(m->name, sizeof m->name, "%s", name);
        snprintf(m->digest, sizeof m->digest, "%s", mf.digest);
        m->bytes = need;
        m->ctx_len = ctx_len;
        reg_model **list = realloc(r->models, (r->n_models + 1) * sizeof *list);
        if (!list) {
            free(m);
            free(path);
            owl_api_errorf(e, 500, "server_error", NULL, NULL, "out of memory");
            goto out;
        }
        r->models = list;
        r->models[r->n_models++] = m;
        r->loading++;
        /* Unload the evicted models and load this one without the lock. */
        pthread_mutex_unlock(&r->mu);
        free_all(gone, n_gone);
        gone = NULL;
        n_gone = 0;
        owl_backend *be = owl_engine_backend_new(path, &ep, &err);
        free(path);
        pthread_mutex_lock(&r->mu);
        r->loading--;
        pthread_cond_broadcast(&r->cv);
        if (!be) {
            take_out(r, m);
            free(m);
            owl_api_errorf(e, 500, "server_error", "model", NULL, "model '%s': %s", name,
                           err.msg);
            goto out;
        }
        m->be = be;
        break;
    }
    int64_t now = owl_now_ns();
    m->last_used_ns = now;
    m->keep_alive_s = ka;
    if (only) {
        if (!m->n_jobs) m->expires_ns = expiry_from(now, ka);
        owl_job_finish(job, 0, OWL_FINISH_STOP);
        rc = 0;
    } else if (m->be->submit(m->be->impl, job, e) == 0) {
        owl_job **jobs = m->jobs;
        if (m->n_jobs == m->cap_jobs) {
            size_t cap = m->cap_jobs ? m->cap_jobs * 2 : 8;
            jobs = realloc(m->jobs, cap * sizeof *jobs);
            if (jobs) {
                m->jobs = jobs;
                m->cap_jobs = cap;
            }
        }
        if (jobs) {
            owl_job_retain(job);
            m->jobs[m->n_jobs++] = job;
        }
        rc = 0;
    } else if (!m->n_jobs) {
        m->expires_ns = expiry_from(now, ka);
    }
out:
    pthread_mutex_unlock(&r->mu);
    free_all(gone, n_gone);
    owl_manifest_free(&mf);
    return rc;
}

static void stats(void *impl, owl_backend_stats *out) {
    owl_registry *r = impl;
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&r->mu);
    for (size_t i = 0; i < r->n_models; i++) {
        owl_backend *be = r->models[i]->be;
        if (!be || !be->stats) continue;
        owl_backend_stats s = {0};
        be->stats(be->impl, &s);
        out->n_slots += s.n_slots;
        out->busy_slots += s.busy_slots;
        out->queue_depth += s.queue_depth;
        if (s.n_ctx > out->n_ctx) out->n_ctx = s.n_ctx;
    }
    pthread_mutex_unlock(&r->mu);
}

/* ---- /api/ps --------------------------------------------------------------------------------- */

json_t *registry_ps(owl_registry *r) {
    registry_reap(r);
    json_t *models = json_array();
    pthread_mutex_lock(&r->mu);
    int64_t now = owl_now_ns(), wall = owl_wall_ns();
    for (size_t i = 0; i < r->n_models; i++) {
        reg_model *m = r->models[i];
        if (!m->be) continue;
        /* A busy model expires keep_alive after its current work; show that from now. */
        int64_t exp = m->n_jobs ? expiry_from(now, m->keep_alive_s) : m->expires_ns;
        char when[48];
        if (exp == INT64_MAX) snprintf(when, sizeof when, "2318-11-26T00:00:00Z"); /* forever */
        else owl_rfc3339_ns(when, sizeof when, wall + (exp - now));
        json_t *o = json_object();
        json_object_set_new(o, "name", json_string(m->name));
        json_object_set_new(o, "model", json_string(m->name));
        json_object_set_new(o, "size", json_integer((json_int_t)m->bytes));
        json_object_set_new(o, "digest", json_string(m->digest + 7));
        char *path = owl_store_blob_path(&r->store, m->digest);
        json_object_set_new(o, "details", path ? registry_details(path, NULL) : json_object());
        free(path);
        json_object_set_new(o, "expires_at", json_string(when));
        json_object_set_new(o, "size_vram", json_integer(0));
        json_object_set_new(o, "context_length", json_integer(m->ctx_len));
        json_array_append_new(models, o);
    }
    pthread_mutex_unlock(&r->mu);
    json_t *o = json_object();
    json_object_set_new(o, "models", models);
    return o;
}

/* ---- life ------------------------------------------------------------------------------------ */

static void *timer(void *arg) {
    owl_registry *r = arg;
    pthread_mutex_lock(&r->mu);
    while (!r->quit) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 250 * 1000000L;
        ts.tv_sec += ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&r->cv, &r->mu, &ts);
        if (r->quit) break;
        reg_model **gone = NULL;
        size_t n = 0;
        reap_locked(r, &gone, &n);
        if (n) {
            pthread_mutex_unlock(&r->mu);
            free_all(gone, n);
            pthread_mutex_lock(&r->mu);
        } else {
            free(gone);
        }
    }
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

owl_backend *owl_registry_backend_new(const owl_registry_params *p, owl_error *err) {
    owl_registry *r = calloc(1, sizeof *r);
    if (!r) {
        owl_errorf(err, "out of memory");
        return NULL;
    }
    r->p = *p;
    r->p.store_root = NULL;
    if (owl_store_open(&r->store, p->store_root, err) < 0) {
        free(r);
        return NULL;
    }
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    r->be.impl = r;
    r->be.model_name = NULL;
    r->be.submit = submit;
    r->be.stats = stats;
    r->be.manage = registry_manage;
    if (pthread_create(&r->timer, NULL, timer, r) != 0) {
        owl_errorf(err, "cannot start the keep_alive timer");
        owl_registry_backend_destroy(&r->be);
        return NULL;
    }
    r->timer_started = true;
    return &r->be;
}

void owl_registry_backend_destroy(owl_backend *b) {
    if (!b) return;
    owl_registry *r = b->impl;
    pthread_mutex_lock(&r->mu);
    r->quit = true;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    if (r->timer_started) pthread_join(r->timer, NULL);
    /* Pulls see `quit` in their progress callback and stop (their partial files stay). */
    for (;;) {
        pthread_mutex_lock(&r->mu);
        int left = r->pulls + r->loading;
        pthread_mutex_unlock(&r->mu);
        if (!left) break;
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
    for (size_t i = 0; i < r->n_models; i++) model_free(r->models[i]);
    free(r->models);
    owl_store_close(&r->store);
    pthread_mutex_destroy(&r->mu);
    pthread_cond_destroy(&r->cv);
    free(r);
}
