/* Shared pieces of the API adapters: the error objects of both APIs, typed field readers that name
 * the offending parameter, chat message normalisation, and the SSE / NDJSON framing. */
#include "server/api_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Messages and parameter names may quote the request (a JSON parser's excerpt of the body, a
 * key), and they go out as one-line JSON strings and log lines: control characters become
 * spaces and bytes that are not UTF-8 (or a character cut by truncation) become '?'. */
static void one_line_utf8(char *str) {
    unsigned char *s = (unsigned char *)str;
    for (size_t i = 0; s[i];) {
        int len = owl_utf8_len(s[i]);
        size_t n = 0;
        while (n < (size_t)len && s[i + n]) n++;
        if (len > 1 && n == (size_t)len && owl_utf8_valid(str + i, n)) {
            i += n;
            continue;
        }
        if (len != 1) s[i] = '?';
        else if (s[i] < 0x20 || s[i] == 0x7f) s[i] = ' ';
        i++;
    }
}

int owl_api_errorf(owl_api_error *e, int status, const char *type, const char *param,
                   const char *code, const char *fmt, ...) {
    if (!e) return -1;
    memset(e, 0, sizeof *e);
    e->status = status;
    snprintf(e->type, sizeof e->type, "%s", type ? type : "invalid_request_error");
    snprintf(e->param, sizeof e->param, "%s", param ? param : "");
    snprintf(e->code, sizeof e->code, "%s", code ? code : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
    one_line_utf8(e->message);
    one_line_utf8(e->param);
    return -1;
}

char *api_dump(json_t *j) {
    if (!j) return NULL;
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    return s;
}

static json_t *str_or_null(const char *s) { return s && *s ? json_string(s) : json_null(); }

char *owl_openai_error_json(const owl_api_error *e) {
    json_t *err = json_object();
    json_object_set_new(err, "message", json_string(e->message));
    json_object_set_new(err, "type", json_string(e->type[0] ? e->type : "invalid_request_error"));
    json_object_set_new(err, "param", str_or_null(e->param));
    json_object_set_new(err, "code", str_or_null(e->code));
    json_t *root = json_object();
    json_object_set_new(root, "error", err);
    return api_dump(root);
}

char *owl_ollama_error_json(const owl_api_error *e) {
    json_t *root = json_object();
    json_object_set_new(root, "error", json_string(e->message));
    return api_dump(root);
}

/* ---- requests -------------------------------------------------------------------------------- */

void api_request_init(owl_gen_request *r, owl_api_kind kind) {
    memset(r, 0, sizeof *r);
    r->kind = kind;
    r->max_tokens = -1;
    r->n = 1;
    r->keep_alive_s = NAN;
    r->sampling.temperature = 0.8f;
    r->sampling.top_p = 0.95f;
    r->sampling.top_k = 40;
    r->sampling.min_p = 0.05f;
    r->sampling.typical_p = 1.0f;
    r->sampling.repeat_penalty = 1.0f;
    r->sampling.repeat_last_n = 64;
}

static void free_strv(char **v, size_t n) {
    for (size_t i = 0; i < n; i++) free(v[i]);
    free(v);
}

void owl_gen_request_free(owl_gen_request *r) {
    if (!r) return;
    free(r->model);
    json_decref(r->messages);
    free_strv(r->prompts, r->n_prompts);
    free(r->system);
    free(r->sampling.logit_bias);
    free_strv(r->stop, r->n_stop);
    free(r->user);
    memset(r, 0, sizeof *r);
}

json_t *api_parse_body(const char *body, size_t len, owl_api_error *e) {
    json_error_t je;
    json_t *root = json_loadb(body ? body : "", len, 0, &je);
    if (!root) {
        owl_api_errorf(e, 400, NULL, NULL, NULL, "invalid JSON body: %s (line %d, column %d)",
                       je.text, je.line, je.column);
        return NULL;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        owl_api_errorf(e, 400, NULL, NULL, NULL, "the request body must be a JSON object");
        return NULL;
    }
    return root;
}

static const json_t *field(const json_t *obj, const char *key) {
    const json_t *v = json_object_get(obj, key);
    return v && !json_is_null(v) ? v : NULL;
}

int api_get_number(const json_t *obj, const char *key, const char *param, double min, double max,
                   double *out, owl_api_error *e) {
    const json_t *v = field(obj, key);
    if (!v) return 0;
    if (!json_is_number(v)) {
        return owl_api_errorf(e, 400, NULL, param, "invalid_type", "'%s' must be a number", param);
    }
    double d = json_number_value(v);
    if (!(d >= min && d <= max)) {
        return owl_api_errorf(e, 400, NULL, param, "invalid_value",
                              "'%s' must be between %g and %g, got %g", param, min, max, d);
    }
    *out = d;
    return 1;
}

int api_get_float(const json_t *obj, const char *key, const char *param, double min, double max,
                  float *out, owl_api_error *e) {
    double d = 0;
    int rc = api_get_number(obj, key, param, min, max, &d, e);
    if (rc == 1) *out = (float)d;
    return rc;
}

int api_get_int(const json_t *obj, const char *key, const char *param, long long min,
                long long max, long long *out, owl_api_error *e) {
    const json_t *v = field(obj, key);
    if (!v) return 0;
    long long x;
    if (json_is_integer(v)) {
        x = json_integer_value(v);
    } else if (json_is_real(v) && json_real_value(v) == floor(json_real_value(v)) &&
               fabs(json_real_value(v)) < 9e15) {
        x = (long long)json_real_value(v); /* 5.0 is an integer to JavaScript clients */
    } else {
        return owl_api_errorf(e, 400, NULL, param, "invalid_type", "'%s' must be an integer",
                              param);
    }
    if (x < min || x > max) {
        return owl_api_errorf(e, 400, NULL, param, "invalid_value",
                              "'%s' must be between %lld and %lld, got %lld", param, min, max, x);
    }
    *out = x;
    return 1;
}

int api_get_bool(const json_t *obj, const char *key, const char *param, bool *out,
                 owl_api_error *e) {
    const json_t *v = field(obj, key);
    if (!v) return 0;
    if (!json_is_boolean(v)) {
        return owl_api_errorf(e, 400, NULL, param, "invalid_type", "'%s' must be a boolean",
                              param);
    }
    *out = json_is_true(v);
    return 1;
}

static char *dup_json_string(const json_t *v) {
    size_t n = json_string_length(v);
    char *s = malloc(n + 1);
    if (!s) return NULL;
    memcpy(s, json_string_value(v), n);
    s[n] = '\0';
    return s;
}

int api_get_string(const json_t *obj, const char *key, const char *param, char **out,
                   owl_api_error *e) {
    const json_t *v = field(obj, key);
    if (!v) return 0;
    if (!json_is_string(v)) {
        return owl_api_errorf(e, 400, NULL, param, "invalid_type", "'%s' must be a string", param);
    }
    char *s = dup_json_string(v);
    if (!s) return owl_api_errorf(e, 500, "server_error", NULL, NULL, "out of memory");
    free(*out);
    *out = s;
    return 1;
}

int api_get_stop(const json_t *obj, const char *key, const char *param, size_t max_n,
                 owl_gen_request *r, owl_api_error *e) {
    const json_t *v = field(obj, key);
    if (!v) return 0;
    size_t n = json_is_string(v) ? 1 : json_is_array(v) ? json_array_size(v) : (size_t)-1;
    if (n == (size_t)-1) {
        return owl_api_errorf(e, 400, NULL, param, "invalid_type",
                              "'%s' must be a string or an array of strings", param);
    }
    if (n > max_n) {
        return owl_api_errorf(e, 400, NULL, param, "invalid_value",
                              "'%s' may hold at most %zu strings, got %zu", param, max_n, n);
    }
    char **stop = calloc(n ? n : 1, sizeof *stop);
    if (!stop) return owl_api_errorf(e, 500, "server_error", NULL, NULL, "out of memory");
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        const json_t *s = json_is_string(v) ? v : json_array_get(v, i);
        if (!json_is_string(s)) {
            free_strv(stop, kept);
            return owl_api_errorf(e, 400, NULL, param, "invalid_type",
                                  "'%s[%zu]' must be a string", param, i);
        }
        if (json_string_length(s) == 0) continue; /* an empty stop string would stop at once */
        stop[kept] = dup_json_string(s);
        if (!stop[kept]) {
            free_strv(stop, kept);
            return owl_api_errorf(e, 500, "server_error", NULL, NULL, "out of memory");
        }
        kept++;
    }
    free_strv(r->stop, r->n_stop);
    r->stop = stop;
    r->n_stop = kept;
    return 1;
}

/* Content: a string, null (an assistant turn that only called tools), or an array of parts of
 * which only {"type":"text","text":..} are understood; the texts are joined without separator,
 * as the OpenAI API concatenates them. */
static int message_content(const json_t *c, size_t i, bool ollama, json_t **out,
                           owl_api_error *e) {
    char param[64];
    snprintf(param, sizeof param, "messages[%zu].content", i);
    if (!c || json_is_null(c)) {
        *out = json_string("");
        return 0;
    }
    if (json_is_string(c)) {
        *out = json_incref((json_t *)c);
        return 0;
    }
    if (ollama || !json_is_array(c)) {
        return owl_api_errorf(e, 400, NULL, param, "invalid_type",
                              ollama ? "'%s' must be a string"
                                     : "'%s' must be a string or an array of content parts",
                              param);
    }
    size_t total = 0;
    for (size_t k = 0; k < json_array_size(c); k++) {
        const json_t *p = json_array_get(c, k);
        const json_t *type = json_is_object(p) ? json_object_get(p, "type") : NULL;
        const json_t *text = json_is_object(p) ? json_object_get(p, "text") : NULL;
        snprintf(param, sizeof param, "messages[%zu].content[%zu]", i, k);
        if (!json_is_string(type)) {
            return owl_api_errorf(e, 400, NULL, param, "invalid_type",
                                  "'%s' must be an object with a string 'type'", param);
        }
        if (strcmp(json_string_value(type), "text") != 0) {
            return owl_api_errorf(e, 400, NULL, param, "invalid_value",
                                  "'%s' has type '%s'; only text content parts are supported",
                                  param, json_string_value(type));
        }
        if (!json_is_string(text)) {
            return owl_api_errorf(e, 400, NULL, param, "invalid_type",
                                  "'%s.text' must be a string", param);
        }
        total += json_string_length(text);
    }
    char *joined = malloc(total + 1);
    if (!joined) return owl_api_errorf(e, 500, "server_error", NULL, NULL, "out of memory");
    size_t at = 0;
    for (size_t k = 0; k < json_array_size(c); k++) {
        const json_t *text = json_object_get(json_array_get(c, k), "text");
        memcpy(joined + at, json_string_value(text), json_string_length(text));
        at += json_string_length(text);
    }
    *out = json_stringn_nocheck(joined, at);
    free(joined);
    return 0;
}

int api_get_messages(const json_t *obj, owl_gen_request *r, bool ollama, owl_api_error *e) {
    static const char *const roles[] = {"system", "user", "assistant", "tool", "developer",
                                        "function"};
    const json_t *msgs = json_object_get(obj, "messages");
    if (!msgs || json_is_null(msgs)) {
        if (ollama) { /* Ollama: no messages loads the model and answers done */
            r->messages = json_array();
            return 0;
        }
        return owl_api_errorf(e, 400, NULL, "messages", "missing_required_parameter",
                              "'messages' is required");
    }
    if (!json_is_array(msgs)) {
        return owl_api_errorf(e, 400, NULL, "messages", "invalid_type",
                              "'messages' must be an array");
    }
    if (!ollama && json_array_size(msgs) == 0) {
        return owl_api_errorf(e, 400, NULL, "messages", "invalid_value",
                              "'messages' must not be empty");
    }
    json_t *out = json_array();
    for (size_t i = 0; i < json_array_size(msgs); i++) {
        const json_t *m = json_array_get(msgs, i);
        char param[64];
        snprintf(param, sizeof param, "messages[%zu]", i);
        if (!json_is_object(m)) {
            json_decref(out);
            return owl_api_errorf(e, 400, NULL, param, "invalid_type", "'%s' must be an object",
                                  param);
        }
        const json_t *role = json_object_get(m, "role");
        snprintf(param, sizeof param, "messages[%zu].role", i);
        bool known = false;
        for (size_t k = 0; json_is_string(role) && k < sizeof roles / sizeof roles[0]; k++) {
            known |= strcmp(json_string_value(role), roles[k]) == 0;
        }
        if (!known) {
            json_decref(out);
            return owl_api_errorf(e, 400, NULL, param, "invalid_value",
                                  "'%s' must be one of system, user, assistant, tool, developer",
                                  param);
        }
        json_t *content = NULL;
        if (message_content(json_object_get(m, "content"), i, ollama, &content, e) < 0) {
            json_decref(out);
            return -1;
        }
        json_t *nm = json_object();
        json_object_set(nm, "role", (json_t *)role);
        json_object_set_new(nm, "content", content);
        json_array_append_new(out, nm);
    }
    r->messages = out;
    return 0;
}

/* ---- response helpers ------------------------------------------------------------------------ */

const char *owl_finish_name(owl_finish f) {
    switch (f) {
    case OWL_FINISH_STOP: return "stop";
    case OWL_FINISH_LENGTH: return "length";
    case OWL_FINISH_CANCEL: return "cancel";
    default: return NULL;
    }
}

static char *frame(const char *pre, const char *json, const char *post, size_t *out_len) {
    size_t a = strlen(pre), b = strlen(json), c = strlen(post);
    char *s = malloc(a + b + c + 1);
    if (!s) return NULL;
    memcpy(s, pre, a);
    memcpy(s + a, json, b);
    memcpy(s + a + b, post, c + 1);
    if (out_len) *out_len = a + b + c;
    return s;
}

char *owl_sse_frame(const char *json, size_t *out_len) { return frame("data: ", json, "\n\n", out_len); }
char *owl_ndjson_frame(const char *json, size_t *out_len) { return frame("", json, "\n", out_len); }

void owl_rfc3339_ns(char *buf, size_t n, int64_t unix_ns) {
    time_t secs = (time_t)(unix_ns / 1000000000);
    long frac = (long)(unix_ns % 1000000000);
    if (frac < 0) {
        frac += 1000000000;
        secs--;
    }
    struct tm tm;
    gmtime_r(&secs, &tm);
    char date[32];
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, n, "%s.%09ldZ", date, frac);
}

int owl_parse_duration(const char *s, double *out) {
    if (!s || !*s) return -1;
    int sign = 1;
    if (*s == '-') {
        sign = -1;
        s++;
    }
    char *end;
    double v = strtod(s, &end);
    if (end == s || !isfinite(v) || v < 0) return -1;
    if (!*end) {
        *out = sign * v; /* a bare number is seconds */
        return 0;
    }
    double total = 0;
    for (;;) {
        double unit;
        if (strncmp(end, "ms", 2) == 0) unit = 0.001, end += 2;
        else if (*end == 'h') unit = 3600, end++;
        else if (*end == 'm') unit = 60, end++;
        else if (*end == 's') unit = 1, end++;
        else return -1;
        total += v * unit;
        if (!*end) break;
        s = end;
        v = strtod(s, &end);
        if (end == s || !isfinite(v) || v < 0) return -1;
    }
    *out = sign * total;
    return 0;
}
