/* The Ollama adapter: /api/chat and /api/generate request bodies (with their "options" object and
 * keep_alive) into an owl_gen_request, and the NDJSON lines with Ollama's field order. */
#include "server/api_internal.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>


static int parse_keep_alive(const json_t *o, owl_gen_request *r, owl_api_error *e) {
    const json_t *v = json_object_get(o, "keep_alive");
    if (!v || json_is_null(v)) return 0;
    if (json_is_number(v)) {
        r->keep_alive_s = json_number_value(v);
        return 0;
    }
    if (json_is_string(v) && owl_parse_duration(json_string_value(v), &r->keep_alive_s) == 0) return 0;
    return owl_api_errorf(e, 400, NULL, "keep_alive", "invalid_value",
                          "'keep_alive' must be a number of seconds or a duration like \"5m\"");
}

static int parse_options(const json_t *o, owl_gen_request *r, owl_api_error *e) {
    const json_t *opt = json_object_get(o, "options");
    if (!opt || json_is_null(opt)) return 0;
    if (!json_is_object(opt)) {
        return owl_api_errorf(e, 400, NULL, "options", "invalid_type",
                              "'options' must be an object");
    }
    owl_gen_sampling *s = &r->sampling;
    long long x;
    int rc;
    if ((rc = api_get_int(opt, "num_ctx", "options.num_ctx", 1, 1 << 24, &x, e)) < 0) return -1;
    if (rc) r->num_ctx = (int)x;
    /* num_predict: -1 = no limit, -2 = until the context is full; both end at the context. */
    if ((rc = api_get_int(opt, "num_predict", "options.num_predict", -2, 1 << 24, &x, e)) < 0)
        return -1;
    if (rc) r->max_tokens = x < 0 ? -1 : (int)x;
    if (api_get_float(opt, "temperature", "options.temperature", 0, 100, &s->temperature, e) < 0)
        return -1;
    if ((rc = api_get_int(opt, "top_k", "options.top_k", 0, 1 << 20, &x, e)) < 0) return -1;
    if (rc) s->top_k = (int)x;
    if (api_get_float(opt, "top_p", "options.top_p", 0, 1, &s->top_p, e) < 0) return -1;
    if (api_get_float(opt, "min_p", "options.min_p", 0, 1, &s->min_p, e) < 0) return -1;
    if (api_get_float(opt, "typical_p", "options.typical_p", 0, 1, &s->typical_p, e) < 0)
        return -1;
    if (api_get_float(opt, "repeat_penalty", "options.repeat_penalty", 0, 10, &s->repeat_penalty,
                      e) < 0)
        return -1;
    if ((rc = api_get_int(opt, "repeat_last_n", "options.repeat_last_n", -1, 1 << 24, &x, e)) < 0)
        return -1;
    if (rc) s->repeat_last_n = (int)x; /* -1: the whole context, as Ollama means it */
    if (api_get_float(opt, "presence_penalty", "options.presence_penalty", -2, 2,
                      &s->presence_penalty, e) < 0)
        return -1;
    if (api_get_float(opt, "frequency_penalty", "options.frequency_penalty", -2, 2,
                      &s->frequency_penalty, e) < 0)
        return -1;
    if ((rc = api_get_int(opt, "seed", "options.seed", INT64_MIN, INT64_MAX, &x, e)) < 0)
        return -1;
    if (rc) {
        s->has_seed = true;
        s->seed = (uint64_t)x;
    }
    if (api_get_stop(opt, "stop", "options.stop", 16, r, e) < 0) return -1;
    return 0;
}

static int parse_common(const json_t *o, owl_gen_request *r, owl_api_error *e) {
    r->stream = true; /* Ollama streams unless told otherwise */
    if (api_get_string(o, "model", "model", &r->model, e) < 0) return -1;
    if (api_get_bool(o, "stream", "stream", &r->stream, e) < 0) return -1;
    if (parse_keep_alive(o, r, e) < 0) return -1;
    return parse_options(o, r, e);
}

int owl_ollama_parse_chat(const char *body, size_t len, owl_gen_request *out, owl_api_error *e) {
    api_request_init(out, OWL_API_OLLAMA_CHAT);
    json_t *o = api_parse_body(body, len, e);
    if (!o) return -1;
    if (parse_common(o, out, e) < 0 || api_get_messages(o, out, true, e) < 0) {
        json_decref(o);
        owl_gen_request_free(out);
        return -1;
    }
    json_decref(o);
    return 0;
}

int owl_ollama_parse_generate(const char *body, size_t len, owl_gen_request *out,
                              owl_api_error *e) {
    api_request_init(out, OWL_API_OLLAMA_GENERATE);
    json_t *o = api_parse_body(body, len, e);
    if (!o) return -1;
    char *prompt = NULL;
    if (parse_common(o, out, e) < 0 || api_get_string(o, "prompt", "prompt", &prompt, e) < 0 ||
        api_get_string(o, "system", "system", &out->system, e) < 0 ||
        api_get_bool(o, "raw", "raw", &out->raw, e) < 0) {
        free(prompt);
        json_decref(o);
        owl_gen_request_free(out);
        return -1;
    }
    json_decref(o);
    /* A missing prompt is allowed: Ollama then only loads the model and answers done. */
    out->prompts = malloc(sizeof *out->prompts);
    if (!out->prompts || (!prompt && !(prompt = strdup("")))) {
        free(prompt);
        owl_gen_request_free(out);
        return owl_api_errorf(e, 500, "server_error", NULL, NULL, "out of memory");
    }
    out->prompts[0] = prompt;
    out->n_prompts = 1;
    return 0;
}

/* ---- responses ------------------------------------------------------------------------------- */

static json_t *head(const owl_gen_meta *m) {
    json_t *o = json_object();
    json_object_set_new(o, "model", json_string(m->model ? m->model : ""));
    json_object_set_new(o, "created_at", json_string(m->created_at ? m->created_at : ""));
    return o;
}

static json_t *message(const char *text) {
    json_t *msg = json_object();
    json_object_set_new(msg, "role", json_string("assistant"));
    json_object_set_new(msg, "content", json_string(text ? text : ""));
    return msg;
}

static void metrics(json_t *o, const owl_gen_usage *u) {
    json_object_set_new(o, "total_duration", json_integer(u->total_ns));
    json_object_set_new(o, "load_duration", json_integer(u->load_ns));
    json_object_set_new(o, "prompt_eval_count", json_integer(u->prompt_tokens));
    json_object_set_new(o, "prompt_eval_duration", json_integer(u->prompt_ns));
    json_object_set_new(o, "eval_count", json_integer(u->completion_tokens));
    json_object_set_new(o, "eval_duration", json_integer(u->eval_ns));
}

static const char *done_reason(owl_finish f) {
    return f == OWL_FINISH_LENGTH ? "length" : "stop";
}

char *owl_ollama_chat_chunk(const owl_gen_meta *m, const char *text) {
    json_t *o = head(m);
    json_object_set_new(o, "message", message(text));
    json_object_set_new(o, "done", json_false());
    return api_dump(o);
}

char *owl_ollama_generate_chunk(const owl_gen_meta *m, const char *text) {
    json_t *o = head(m);
    json_object_set_new(o, "response", json_string(text ? text : ""));
    json_object_set_new(o, "done", json_false());
    return api_dump(o);
}

char *owl_ollama_chat_final(const owl_gen_meta *m, const char *text, owl_finish f,
                            const owl_gen_usage *u) {
    json_t *o = head(m);
    json_object_set_new(o, "message", message(text));
    json_object_set_new(o, "done_reason", json_string(done_reason(f)));
    json_object_set_new(o, "done", json_true());
    metrics(o, u);
    return api_dump(o);
}

char *owl_ollama_generate_final(const owl_gen_meta *m, const char *text, owl_finish f,
                                const owl_gen_usage *u) {
    json_t *o = head(m);
    json_object_set_new(o, "response", json_string(text ? text : ""));
    json_object_set_new(o, "done", json_true());
    json_object_set_new(o, "done_reason", json_string(done_reason(f)));
    metrics(o, u);
    return api_dump(o);
}
