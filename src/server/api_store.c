/* The model-management endpoints of a server over the store, in Ollama's and OpenAI's shapes:
 *   GET  /v1/models, /v1/models/{id}      the store as OpenAI model objects
 *   GET  /api/tags                        the store
 *   GET  /api/ps                          the loaded models, their memory and expiry
 *   POST /api/show                        one model: details, GGUF facts, Modelfile defaults
 *   DELETE /api/delete, POST /api/copy    rm and cp
 *   POST /api/pull                        a download, with NDJSON progress lines
 */
#include "server/registry.h"
#include "server/job.h"

#include "owl/gguf.h"
#include "owl/quantize.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers --------------------------------------------------------------------------------- */

static void answer(owl_manage_result *out, int status, json_t *o) {
    out->status = status;
    out->body = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!out->body) {
        out->status = 500;
        out->body = strdup("{\"error\":\"out of memory\"}");
    }
}

static void ollama_error(owl_manage_result *out, int status, const char *fmt, const char *arg) {
    owl_api_error e;
    owl_api_errorf(&e, status, NULL, NULL, NULL, fmt, arg);
    out->status = status;
    out->body = owl_ollama_error_json(&e);
}

/* The body as an object with a model name in "model" (or the older "name"). */
static json_t *body_with_model(const char *body, size_t len, const char **model,
                               owl_manage_result *out) {
    json_error_t je;
    json_t *o = len ? json_loadb(body, len, 0, &je) : NULL;
    if (!json_is_object(o)) {
        json_decref(o);
        ollama_error(out, 400, "%s", "the body must be a JSON object");
        return NULL;
    }
    *model = json_string_value(json_object_get(o, "model"));
    if (!*model) *model = json_string_value(json_object_get(o, "name"));
    if (!*model || !**model) {
        json_decref(o);
        ollama_error(out, 400, "%s", "'model' is required");
        return NULL;
    }
    return o;
}

static void rfc3339_s(char *buf, size_t n, int64_t unix_s) {
    owl_rfc3339_ns(buf, n, unix_s * 1000000000LL);
}

static void canonical(const char *in, char *out, size_t n) {
    owl_model_name mn;
    if (owl_model_name_parse(in, &mn, NULL) == 0) owl_model_name_format(&mn, out, n);
    else snprintf(out, n, "%s", in);
}

json_t *registry_details(const char *path, int64_t *ctx_len) {
    json_t *d = json_object();
    json_object_set_new(d, "parent_model", json_string(""));
    json_object_set_new(d, "format", json_string("gguf"));
    owl_gguf *g = owl_gguf_open(path, NULL);
    if (!g) return d;
    char arch[64] = "";
    owl_gguf_get_cstr(g, "general.architecture", arch, sizeof arch);
    json_object_set_new(d, "family", json_string(arch));
    json_object_set_new(d, "families", json_pack("[s]", arch));
    uint64_t params = 0;
    for (uint64_t i = 0; i < g->n_tensors; i++) params += g->tensors[i].n_elements;
    char ps[32];
    if (params >= 1000000000ULL) snprintf(ps, sizeof ps, "%.1fB", (double)params / 1e9);
    else if (params >= 1000000ULL) snprintf(ps, sizeof ps, "%.1fM", (double)params / 1e6);
    else snprintf(ps, sizeof ps, "%.1fK", (double)params / 1e3);
    json_object_set_new(d, "parameter_size", json_string(ps));
    int64_t ft = -1;
    json_object_set_new(d, "quantization_level",
                        json_string(owl_gguf_get_int(g, "general.file_type", &ft)
                                        ? owl_ftype_name((int)ft)
                                        : "unknown"));
    if (ctx_len) {
        char k[96];
        snprintf(k, sizeof k, "%s.context_length", arch);
        if (!owl_gguf_get_int(g, k, ctx_len)) *ctx_len = 0;
    }
    owl_gguf_close(g);
    return d;
}

/* Scalar GGUF metadata (arrays are left out, as Ollama does without "verbose"). */
static json_t *model_info(const char *path) {
    json_t *o = json_object();
    owl_gguf *g = owl_gguf_open(path, NULL);
    if (!g) return o;
    for (uint64_t i = 0; i < g->n_kv; i++) {
        const owl_gguf_kv *kv = &g->kv[i];
        if (strcmp(kv->key, "tokenizer.chat_template") == 0) continue;
        json_t *v = NULL;
        switch (kv->value.type) {
        case OWL_GGUF_UINT8: case OWL_GGUF_UINT16: case OWL_GGUF_UINT32: case OWL_GGUF_UINT64:
            v = json_integer((json_int_t)kv->value.u64);
            break;
        case OWL_GGUF_INT8: case OWL_GGUF_INT16: case OWL_GGUF_INT32: case OWL_GGUF_INT64:
            v = json_integer((json_int_t)kv->value.i64);
            break;
        case OWL_GGUF_FLOAT32: case OWL_GGUF_FLOAT64:
            v = isfinite(kv->value.f64) ? json_real(kv->value.f64) : json_null();
            break;
        case OWL_GGUF_BOOL: v = json_boolean(kv->value.u64 != 0); break;
        case OWL_GGUF_STRING: v = json_stringn(kv->value.str.ptr, kv->value.str.len); break;
        default: v = json_null(); break;
        }
        json_object_set_new(o, kv->key, v ? v : json_null());
    }
    owl_gguf_close(g);
    return o;
}

/* ---- the store listings ---------------------------------------------------------------------- */

static void tags(owl_registry *r, owl_manage_result *out, bool openai) {
    owl_manifest *list;
    size_t n;
    owl_error err = {{0}};
    if (owl_store_list(&r->store, &list, &n, &err) < 0) {
        ollama_error(out, 500, "%s", err.msg);
        return;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        char name[OWL_NAME_MAX + OWL_TAG_MAX + 2], when[48];
        owl_model_name_format(&list[i].name, name, sizeof name);
        json_t *m = json_object();
        if (openai) {
            json_object_set_new(m, "id", json_string(name));
            json_object_set_new(m, "object", json_string("model"));
            json_object_set_new(m, "created", json_integer(list[i].modified));
            json_object_set_new(m, "owned_by", json_string("owl"));
        } else {
            rfc3339_s(when, sizeof when, list[i].modified);
            json_object_set_new(m, "name", json_string(name));
            json_object_set_new(m, "model", json_string(name));
            json_object_set_new(m, "modified_at", json_string(when));
            json_object_set_new(m, "size", json_integer((json_int_t)list[i].size));
            json_object_set_new(m, "digest", json_string(list[i].digest + 7));
            char *path = owl_store_blob_path(&r->store, list[i].digest);
            json_object_set_new(m, "details", path ? registry_details(path, NULL) : json_object());
            free(path);
        }
        json_array_append_new(arr, m);
    }
    owl_store_list_free(list, n);
    json_t *o = json_object();
    if (openai) {
        json_object_set_new(o, "object", json_string("list"));
        json_object_set_new(o, "data", arr);
    } else {
        json_object_set_new(o, "models", arr);
    }
    answer(out, 200, o);
}

static void openai_model(owl_registry *r, const char *id, owl_manage_result *out) {
    owl_manifest m;
    if (owl_store_read_manifest(&r->store, id, &m, NULL) < 0) {
        owl_api_error e;
        owl_api_errorf(&e, 404, "invalid_request_error", "model", "model_not_found",
                       "The model '%.100s' does not exist", id);
        out->status = 404;
        out->body = owl_openai_error_json(&e);
        return;
    }
    char name[OWL_NAME_MAX + OWL_TAG_MAX + 2];
    owl_model_name_format(&m.name, name, sizeof name);
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(name));
    json_object_set_new(o, "object", json_string("model"));
    json_object_set_new(o, "created", json_integer(m.modified));
    json_object_set_new(o, "owned_by", json_string("owl"));
    owl_manifest_free(&m);
    answer(out, 200, o);
}

/* ---- show, delete, copy ---------------------------------------------------------------------- */

/* A parameter value as a Modelfile writes it: numbers plainly (0, 0.7), strings quoted. */
static char *value_text(const json_t *v) {
    char *t = NULL;
    if (json_is_integer(v)) {
        if (asprintf(&t, "%lld", (long long)json_integer_value(v)) < 0) t = NULL;
    } else if (json_is_real(v)) {
        if (asprintf(&t, "%.9g", json_real_value(v)) < 0) t = NULL;
    } else {
        t = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    }
    return t;
}

/* PARAMETER lines as Ollama's "parameters" text: "name value" per line, stop values quoted. */
static char *parameters_text(const json_t *params) {
    size_t cap = 256, len = 0;
    char *s = malloc(cap);
    if (!s) return NULL;
    s[0] = '\0';
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)params, key, v) {
        size_t n = json_is_array(v) ? json_array_size(v) : 1;
        for (size_t i = 0; i < n; i++) {
            json_t *x = json_is_array(v) ? json_array_get(v, i) : v;
            char *t = value_text(x);
            if (!t) continue;
            size_t need = strlen(key) + strlen(t) + 4;
            if (len + need > cap) {
                while (len + need > cap) cap *= 2;
                char *p = realloc(s, cap);
                if (!p) {
                    free(t);
                    break;
                }
                s = p;
            }
            len += (size_t)snprintf(s + len, cap - len, "%s%-30s %s", len ? "\n" : "", key, t);
            free(t);
        }
    }
    return s;
}

static void show(owl_registry *r, const char *body, size_t len, owl_manage_result *out) {
    const char *name;
    json_t *req = body_with_model(body, len, &name, out);
    if (!req) return;
    owl_manifest m;
    if (owl_store_read_manifest(&r->store, name, &m, NULL) < 0) {
        ollama_error(out, 404, "model '%.200s' not found", name);
        json_decref(req);
        return;
    }
    json_decref(req);
    char *path = owl_store_blob_path(&r->store, m.digest);
    char when[48], full[OWL_NAME_MAX + OWL_TAG_MAX + 2];
    rfc3339_s(when, sizeof when, m.modified);
    owl_model_name_format(&m.name, full, sizeof full);
    json_t *o = json_object();
    /* A Modelfile that recreates the model from its blob. */
    char *mf = owl_manifest_modelfile(&m, path ? path : "");
    json_object_set_new(o, "modelfile", json_string(mf ? mf : ""));
    free(mf);
    char *params = parameters_text(m.parameters);
    json_object_set_new(o, "parameters", json_string(params ? params : ""));
    free(params);
    json_object_set_new(o, "template", json_string(m.template_src ? m.template_src : ""));
    if (m.system) json_object_set_new(o, "system", json_string(m.system));
    json_object_set_new(o, "details", path ? registry_details(path, NULL) : json_object());
    json_object_set_new(o, "model_info", path ? model_info(path) : json_object());
    json_object_set_new(o, "capabilities", json_pack("[s]", "completion"));
    json_object_set_new(o, "modified_at", json_string(when));
    json_object_set_new(o, "name", json_string(full));
    json_object_set_new(o, "digest", json_string(m.digest + 7));
    free(path);
    owl_manifest_free(&m);
    answer(out, 200, o);
}

static void delete_model(owl_registry *r, const char *body, size_t len, owl_manage_result *out) {
    const char *name;
    json_t *req = body_with_model(body, len, &name, out);
    if (!req) return;
    char full[OWL_NAME_MAX + OWL_TAG_MAX + 2];
    canonical(name, full, sizeof full);
    registry_unload(r, full); /* a busy model keeps its mapping until its keep_alive ends */
    owl_error err = {{0}};
    if (owl_store_remove(&r->store, name, &err) < 0) {
        ollama_error(out, strstr(err.msg, "not found") ? 404 : 400, "%s", err.msg);
    } else {
        out->status = 200;
        out->body = strdup("");
    }
    json_decref(req);
}

static void copy_model(owl_registry *r, const char *body, size_t len, owl_manage_result *out) {
    json_t *o = len ? json_loadb(body, len, 0, NULL) : NULL;
    const char *src = json_string_value(json_object_get(o, "source"));
    const char *dst = json_string_value(json_object_get(o, "destination"));
    owl_error err = {{0}};
    if (!src || !dst) {
        ollama_error(out, 400, "%s", "'source' and 'destination' are required");
    } else if (owl_store_copy(&r->store, src, dst, &err) < 0) {
        ollama_error(out, strstr(err.msg, "not found") ? 404 : 400, "%s", err.msg);
    } else {
        out->status = 200;
        out->body = strdup("");
    }
    json_decref(o);
}

/* ---- pull ------------------------------------------------------------------------------------ */

typedef struct pull_task {
    owl_registry *r;
    owl_stream *st; /* NULL when the answer is one body */
    char *url, *name, *sha;
    owl_manage_result *out;
} pull_task;

static void emit(owl_stream *st, json_t *o) {
    char *t = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (!t) return;
    size_t n = strlen(t);
    t[n] = '\n';
    owl_stream_write(st, t, n + 1);
    free(t);
}

static int pull_progress(void *user, const owl_pull_progress *p) {
    pull_task *t = user;
    pthread_mutex_lock(&t->r->mu);
    bool quit = t->r->quit;
    pthread_mutex_unlock(&t->r->mu);
    if (quit || (t->st && owl_stream_cancelled(t->st))) return 1;
    if (!t->st) return 0;
    json_t *o = json_object();
    json_object_set_new(o, "status", json_string(p->status));
    if (strcmp(p->status, "downloading") == 0) {
        if (p->digest) json_object_set_new(o, "digest", json_sprintf("sha256:%s", p->digest));
        json_object_set_new(o, "total", json_integer((json_int_t)p->total));
        json_object_set_new(o, "completed", json_integer((json_int_t)p->completed));
    }
    emit(t->st, o);
    return 0;
}

static void pull_run(pull_task *t) {
    /* The server's own $HF_TOKEN for Hugging Face URLs (Ollama's /api/pull carries no token). */
    owl_pull_opts o = {.name = t->name, .expected_sha256 = t->sha, .bearer_token = owl_pull_env_token(t->url),
                       .progress = pull_progress, .user = t};
    owl_error err = {{0}};
    int rc = owl_store_pull(&t->r->store, t->url, &o, NULL, &err);
    if (t->st) {
        if (rc < 0) emit(t->st, json_pack("{s:s}", "error", err.msg));
        owl_stream_close(t->st);
    } else if (rc < 0) {
        ollama_error(t->out, strstr(err.msg, "HTTP 404") ? 404 : 500, "%s", err.msg);
    } else {
        answer(t->out, 200, json_pack("{s:s}", "status", "success"));
    }
}

static void pull_task_free(pull_task *t) {
    if (t->st) owl_stream_release(t->st);
    free(t->url);
    free(t->name);
    free(t->sha);
    free(t);
}

static void *pull_thread(void *arg) {
    pull_task *t = arg;
    owl_registry *r = t->r;
    pull_run(t);
    pull_task_free(t);
    pthread_mutex_lock(&r->mu);
    r->pulls--;
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

static void pull(owl_registry *r, const char *body, size_t len, owl_manage_result *out) {
    const char *url;
    json_t *req = body_with_model(body, len, &url, out);
    if (!req) return;
    /* The ollama client sends the URL as "name"; the store name may be given as "as". */
    const char *name = json_string_value(json_object_get(req, "as"));
    const char *sha = json_string_value(json_object_get(req, "sha256"));
    json_t *stream = json_object_get(req, "stream");
    bool streaming = !json_is_false(stream);
    owl_error err = {{0}};
    char *u = owl_pull_url(url, &err);
    if (!u) {
        ollama_error(out, 400, "%s", err.msg);
        json_decref(req);
        return;
    }
    free(u);
    pull_task *t = calloc(1, sizeof *t);
    if (!t) {
        ollama_error(out, 500, "%s", "out of memory");
        json_decref(req);
        return;
    }
    t->r = r;
    t->out = out;
    t->url = strdup(url);
    t->name = name ? strdup(name) : NULL;
    t->sha = sha ? strdup(sha) : NULL;
    json_decref(req);
    if (!streaming) {
        pull_run(t);
        pull_task_free(t);
        return;
    }
    t->st = owl_stream_new();
    if (!t->st) {
        pull_task_free(t);
        ollama_error(out, 500, "%s", "out of memory");
        return;
    }
    owl_stream_retain(t->st); /* one for the thread, one for the connection */
    out->stream = t->st;
    pthread_mutex_lock(&r->mu);
    r->pulls++;
    pthread_mutex_unlock(&r->mu);
    pthread_t th;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&th, &attr, pull_thread, t) != 0) {
        pthread_mutex_lock(&r->mu);
        r->pulls--;
        pthread_mutex_unlock(&r->mu);
        emit(t->st, json_pack("{s:s}", "error", "cannot start the download thread"));
        owl_stream_close(t->st);
        pull_task_free(t);
    }
    pthread_attr_destroy(&attr);
}

/* ---- dispatch -------------------------------------------------------------------------------- */

void registry_manage(void *impl, const char *method, const char *path, const char *body,
                     size_t len, owl_manage_result *out) {
    owl_registry *r = impl;
    memset(out, 0, sizeof *out);
    bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    if (get && strcmp(path, "/v1/models") == 0) tags(r, out, true);
    else if (get && strncmp(path, "/v1/models/", 11) == 0) openai_model(r, path + 11, out);
    else if (get && strcmp(path, "/api/tags") == 0) tags(r, out, false);
    else if (get && strcmp(path, "/api/ps") == 0) answer(out, 200, registry_ps(r));
    else if (strcmp(path, "/api/show") == 0) show(r, body, len, out);
    else if (strcmp(path, "/api/delete") == 0) delete_model(r, body, len, out);
    else if (strcmp(path, "/api/copy") == 0) copy_model(r, body, len, out);
    else if (strcmp(path, "/api/pull") == 0) pull(r, body, len, out);
    else ollama_error(out, 404, "no endpoint %s", path);
}
