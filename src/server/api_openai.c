/* The OpenAI adapter: /v1/chat/completions and /v1/completions request bodies into an
 * owl_gen_request, and the response objects (chat.completion, chat.completion.chunk,
 * text_completion) with the field sets and order of the public API. */
#include "server/api_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The sampling and control fields both endpoints share. */
static int parse_common(const json_t *o, owl_gen_request *r, owl_api_error *e) {
    owl_gen_sampling *s = &r->sampling;
    long long x;
    int rc;
    if (api_get_string(o, "model", "model", &r->model, e) < 0) return -1;
    if (api_get_float(o, "temperature", "temperature", 0, 2, &s->temperature, e) < 0) return -1;
    if (api_get_float(o, "top_p", "top_p", 0, 1, &s->top_p, e) < 0) return -1;
    if (api_get_float(o, "min_p", "min_p", 0, 1, &s->min_p, e) < 0) return -1;
    if (api_get_float(o, "typical_p", "typical_p", 0, 1, &s->typical_p, e) < 0) return -1;
    if (api_get_float(o, "repeat_penalty", "repeat_penalty", 0, 10, &s->repeat_penalty, e) < 0)
        return -1;
    if (api_get_float(o, "presence_penalty", "presence_penalty", -2, 2, &s->presence_penalty, e) < 0)
        return -1;
    if (api_get_float(o, "frequency_penalty", "frequency_penalty", -2, 2, &s->frequency_penalty,
                      e) < 0)
        return -1;
    if ((rc = api_get_int(o, "top_k", "top_k", 0, 1 << 20, &x, e)) < 0) return -1;
    if (rc) s->top_k = (int)x;
    if ((rc = api_get_int(o, "seed", "seed", INT64_MIN, INT64_MAX, &x, e)) < 0) return -1;
    if (rc) {
        s->has_seed = true;
        s->seed = (uint64_t)x;
    }
    if ((rc = api_get_int(o, "n", "n", 1, 128, &x, e)) < 0) return -1;
    if (rc) r->n = (int)x;
    if ((rc = api_get_int(o, "max_tokens", "max_tokens", 1, 1 << 24, &x, e)) < 0) return -1;
    if (rc) r->max_tokens = (int)x;
    if (api_get_stop(o, "stop", "stop", 16, r, e) < 0) return -1;
    if (api_get_string(o, "user", "user", &r->user, e) < 0) return -1;
    if (api_get_bool(o, "stream", "stream", &r->stream, e) < 0) return -1;
    bool cache_prompt = true;
    if (api_get_bool(o, "cache_prompt", "cache_prompt", &cache_prompt, e) < 0) return -1;
    r->no_prompt_cache = !cache_prompt;

    const json_t *so = json_object_get(o, "stream_options");
    if (so && !json_is_null(so)) {
        if (!json_is_object(so)) {
            return owl_api_errorf(e, 400, NULL, "stream_options", "invalid_type",
                                  "'stream_options' must be an object");
        }
        if (!r->stream) {
            return owl_api_errorf(e, 400, NULL, "stream_options", "invalid_value",
                                  "'stream_options' is only allowed when 'stream' is true");
        }
        if (api_get_bool(so, "include_usage", "stream_options.include_usage", &r->include_usage,
                         e) < 0)
            return -1;
    }

    const json_t *lb = json_object_get(o, "logit_bias");
    if (lb && !json_is_null(lb)) {
        if (!json_is_object(lb)) {
            return owl_api_errorf(e, 400, NULL, "logit_bias", "invalid_type",
                                  "'logit_bias' must be an object of token id to bias");
        }
        size_t n = json_object_size(lb);
        if (n > 1024) {
            return owl_api_errorf(e, 400, NULL, "logit_bias", "invalid_value",
                                  "'logit_bias' may hold at most 1024 entries, got %zu", n);
        }
        s->logit_bias = calloc(n ? n : 1, sizeof *s->logit_bias);
        if (!s->logit_bias) return owl_api_errorf(e, 500, "server_error", NULL, NULL, "out of memory");
        const char *key;
        json_t *val;
        json_object_foreach((json_t *)lb, key, val) {
            char *end = NULL;
            long long tok = strtoll(key, &end, 10);
            if (!*key || *end || tok < 0 || tok > INT32_MAX) {
                return owl_api_errorf(e, 400, NULL, "logit_bias", "invalid_value",
                                      "'logit_bias' key '%.40s' is not a token id", key);
            }
            if (!json_is_number(val) || json_number_value(val) < -100 ||
                json_number_value(val) > 100) {
                return owl_api_errorf(e, 400, NULL, "logit_bias", "invalid_value",
                                      "'logit_bias[%.40s]' must be a number from -100 to 100", key);
            }
            s->logit_bias[s->n_logit_bias].token = (int32_t)tok;
            s->logit_bias[s->n_logit_bias].bias = (float)json_number_value(val);
            s->n_logit_bias++;
        }
    }
    return 0;
}

int owl_openai_parse_chat(const char *body, size_t len, owl_gen_request *out, owl_api_error *e) {
    api_request_init(out, OWL_API_OPENAI_CHAT);
    json_t *o = api_parse_body(body, len, e);
    if (!o) return -1;
    long long x;
    int rc = 0;
    if (parse_common(o, out, e) < 0) goto fail;
    /* max_completion_tokens is the newer name; it wins when both are given. */
    if ((rc = api_get_int(o, "max_completion_tokens", "max_completion_tokens", 1, 1 << 24, &x,
                          e)) < 0)
        goto fail;
    if (rc) out->max_tokens = (int)x;
    if (api_get_bool(o, "logprobs", "logprobs", &out->logprobs, e) < 0) goto fail;
    if ((rc = api_get_int(o, "top_logprobs", "top_logprobs", 0, 20, &x, e)) < 0) goto fail;
    if (rc) {
        if (!out->logprobs) {
            owl_api_errorf(e, 400, NULL, "top_logprobs", "invalid_value",
                           "'top_logprobs' requires 'logprobs' to be true");
            goto fail;
        }
        out->top_logprobs = (int)x;
    }
    if (api_get_messages(o, out, false, e) < 0) goto fail;
    json_decref(o);
    return 0;
fail:
    json_decref(o);
    owl_gen_request_free(out);
    return -1;
}

int owl_openai_parse_completion(const char *body, size_t len, owl_gen_request *out,
                                owl_api_error *e) {
    api_request_init(out, OWL_API_OPENAI_COMPLETION);
    json_t *o = api_parse_body(body, len, e);
    if (!o) return -1;
    long long x;
    int rc;
    if (parse_common(o, out, e) < 0) goto fail;
    /* In the completions API logprobs is a count of alternatives (0..5), not a flag. */
    if ((rc = api_get_int(o, "logprobs", "logprobs", 0, 5, &x, e)) < 0) goto fail;
    if (rc) {
        out->logprobs = true;
        out->top_logprobs = (int)x;
    }
    if (api_get_bool(o, "echo", "echo", &out->echo, e) < 0) goto fail;

    const json_t *p = json_object_get(o, "prompt");
    if (!p || json_is_null(p)) {
        owl_api_errorf(e, 400, NULL, "prompt", "missing_required_parameter",
                       "'prompt' is required");
        goto fail;
    }
    size_t n = json_is_string(p) ? 1 : json_is_array(p) ? json_array_size(p) : 0;
    if (!json_is_string(p) && !json_is_array(p)) {
        owl_api_errorf(e, 400, NULL, "prompt", "invalid_type",
                       "'prompt' must be a string or an array of strings");
        goto fail;
    }
    if (n == 0 || n > 128) {
        owl_api_errorf(e, 400, NULL, "prompt", "invalid_value",
                       "'prompt' must hold 1 to 128 prompts, got %zu", n);
        goto fail;
    }
    out->prompts = calloc(n, sizeof *out->prompts);
    if (!out->prompts) {
        owl_api_errorf(e, 500, "server_error", NULL, NULL, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < n; i++) {
        const json_t *s = json_is_string(p) ? p : json_array_get(p, i);
        if (!json_is_string(s)) {
            owl_api_errorf(e, 400, NULL, "prompt", "invalid_type",
                           json_is_integer(s) || json_is_array(s)
                               ? "'prompt[%zu]': token-id prompts are not supported; send text"
                               : "'prompt[%zu]' must be a string",
                           i);
            goto fail;
        }
        out->prompts[i] = strdup(json_string_value(s));
        if (!out->prompts[i]) {
            owl_api_errorf(e, 500, "server_error", NULL, NULL, "out of memory");
            goto fail;
        }
        out->n_prompts++;
    }
    json_decref(o);
    return 0;
fail:
    json_decref(o);
    owl_gen_request_free(out);
    return -1;
}

/* ---- responses ------------------------------------------------------------------------------- */

static json_t *head(const owl_gen_meta *m, const char *object) {
    json_t *o = json_object();
    json_object_set_new(o, "id", json_string(m->id ? m->id : ""));
    json_object_set_new(o, "object", json_string(object));
    json_object_set_new(o, "created", json_integer(m->created));
    json_object_set_new(o, "model", json_string(m->model ? m->model : ""));
    return o;
}

static json_t *finish_json(owl_finish f) {
    const char *n = owl_finish_name(f);
    /* A cancelled choice is reported as "stop": the API has no other word for it. */
    if (f == OWL_FINISH_CANCEL) n = "stop";
    return n ? json_string(n) : json_null();
}

static json_t *usage_json(const owl_gen_usage *u) {
    json_t *o = json_object();
    json_object_set_new(o, "prompt_tokens", json_integer(u->prompt_tokens));
    json_object_set_new(o, "completion_tokens", json_integer(u->completion_tokens));
    json_object_set_new(o, "total_tokens", json_integer(u->prompt_tokens + u->completion_tokens));
    json_t *pd = json_object();
    json_object_set_new(pd, "cached_tokens", json_integer(u->cached_tokens));
    json_object_set_new(o, "prompt_tokens_details", pd);
    return o;
}

/* ---- logprobs --------------------------------------------------------------------------------- */

static json_t *logprobs_json(const json_t *lp) {
    return lp ? json_deep_copy(lp) : json_null();
}

/* A token's bytes as a JSON string: whole UTF-8 characters kept, any other byte as U+FFFD. */
static json_t *token_string(const char *b, size_t n) {
    char *o = malloc(n * 3 + 1);
    if (!o) return json_string("");
    size_t at = 0;
    for (size_t i = 0; i < n;) {
        int k = owl_utf8_len((unsigned char)b[i]);
        if (k > 0 && i + (size_t)k <= n && b[i] != '\0' && owl_utf8_valid(b + i, (size_t)k)) {
            memcpy(o + at, b + i, (size_t)k);
            at += (size_t)k;
            i += (size_t)k;
        } else {
            memcpy(o + at, "\xEF\xBF\xBD", 3);
            at += 3;
            i++;
        }
    }
    json_t *s = json_stringn(o, at);
    free(o);
    return s ? s : json_string("");
}

/* OpenAI's stand-in for a probability too small to write (-inf is not JSON). */
static json_t *logprob_json(float lp) {
    return json_real(isfinite(lp) && lp > -9999.0f ? (double)lp : -9999.0);
}

static json_t *bytes_json(const char *b, size_t n) {
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) json_array_append_new(a, json_integer((unsigned char)b[i]));
    return a;
}

/* The array acc[key], created when missing. */
static json_t *member_array(json_t *acc, const char *key) {
    json_t *a = json_object_get(acc, key);
    if (!json_is_array(a)) {
        a = json_array();
        json_object_set_new(acc, key, a);
    }
    return a;
}

static size_t n_chars(const char *b, size_t n) {
    size_t c = 0;
    for (size_t i = 0; i < n; i++) c += ((unsigned char)b[i] & 0xC0) != 0x80;
    return c;
}

void owl_openai_logprobs_append(json_t *acc, bool chat, const owl_gen_token *t, size_t n,
                                size_t *text_offset) {
    if (chat) {
        json_t *content = member_array(acc, "content");
        if (!json_object_get(acc, "refusal")) json_object_set_new(acc, "refusal", json_null());
        for (size_t i = 0; i < n; i++) {
            json_t *e = json_object();
            json_object_set_new(e, "token", token_string(t[i].bytes, t[i].len));
            json_object_set_new(e, "logprob", logprob_json(t[i].logprob));
            json_object_set_new(e, "bytes", bytes_json(t[i].bytes, t[i].len));
            json_t *top = json_array();
            for (int k = 0; k < t[i].n_top; k++) {
                const owl_gen_top_logprob *a = &t[i].top[k];
                json_t *x = json_object();
                json_object_set_new(x, "token", token_string(a->bytes, a->len));
                json_object_set_new(x, "logprob", logprob_json(a->logprob));
                json_object_set_new(x, "bytes", bytes_json(a->bytes, a->len));
                json_array_append_new(top, x);
            }
            json_object_set_new(e, "top_logprobs", top);
            json_array_append_new(content, e);
        }
        return;
    }
    json_t *tokens = member_array(acc, "tokens"), *lps = member_array(acc, "token_logprobs");
    json_t *tops = member_array(acc, "top_logprobs"), *offs = member_array(acc, "text_offset");
    for (size_t i = 0; i < n; i++) {
        json_array_append_new(tokens, token_string(t[i].bytes, t[i].len));
        json_array_append_new(lps, logprob_json(t[i].logprob));
        json_t *top = json_object();
        for (int k = 0; k < t[i].n_top; k++) {
            json_t *key = token_string(t[i].top[k].bytes, t[i].top[k].len);
            json_object_set_new(top, json_string_value(key), logprob_json(t[i].top[k].logprob));
            json_decref(key);
        }
        json_array_append_new(tops, top);
        json_array_append_new(offs, json_integer((json_int_t)*text_offset));
        *text_offset += n_chars(t[i].bytes, t[i].len);
    }
}

static void tail(json_t *o, const owl_gen_meta *m) {
    json_object_set_new(o, "system_fingerprint", json_string(m->fingerprint ? m->fingerprint : ""));
}

char *owl_openai_chat_response(const owl_gen_meta *m, const owl_gen_choice *c, size_t n,
                               const owl_gen_usage *u) {
    json_t *o = head(m, "chat.completion");
    json_t *choices = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *ch = json_object();
        json_object_set_new(ch, "index", json_integer((json_int_t)i));
        json_t *msg = json_object();
        json_object_set_new(msg, "role", json_string("assistant"));
        json_object_set_new(msg, "content", json_string(c[i].text ? c[i].text : ""));
        json_object_set_new(msg, "refusal", json_null());
        json_object_set_new(ch, "message", msg);
        json_object_set_new(ch, "logprobs", logprobs_json(c[i].logprobs));
        json_object_set_new(ch, "finish_reason", finish_json(c[i].finish));
        json_array_append_new(choices, ch);
    }
    json_object_set_new(o, "choices", choices);
    json_object_set_new(o, "usage", usage_json(u));
    tail(o, m);
    return api_dump(o);
}

char *owl_openai_completion_response(const owl_gen_meta *m, const owl_gen_choice *c, size_t n,
                                     const owl_gen_usage *u) {
    json_t *o = head(m, "text_completion");
    json_t *choices = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *ch = json_object();
        json_object_set_new(ch, "text", json_string(c[i].text ? c[i].text : ""));
        json_object_set_new(ch, "index", json_integer((json_int_t)i));
        json_object_set_new(ch, "logprobs", logprobs_json(c[i].logprobs));
        json_object_set_new(ch, "finish_reason", finish_json(c[i].finish));
        json_array_append_new(choices, ch);
    }
    json_object_set_new(o, "choices", choices);
    json_object_set_new(o, "usage", usage_json(u));
    tail(o, m);
    return api_dump(o);
}

char *owl_openai_chat_chunk(const owl_gen_meta *m, int index, const char *role, const char *text,
                            owl_finish f, bool include_usage, const json_t *logprobs) {
    json_t *o = head(m, "chat.completion.chunk");
    tail(o, m);
    json_t *ch = json_object();
    json_object_set_new(ch, "index", json_integer(index));
    json_t *delta = json_object();
    if (role) json_object_set_new(delta, "role", json_string(role));
    if (text) json_object_set_new(delta, "content", json_string(text));
    json_object_set_new(ch, "delta", delta);
    json_object_set_new(ch, "logprobs", logprobs_json(logprobs));
    json_object_set_new(ch, "finish_reason", finish_json(f));
    json_t *choices = json_array();
    json_array_append_new(choices, ch);
    json_object_set_new(o, "choices", choices);
    if (include_usage) json_object_set_new(o, "usage", json_null());
    return api_dump(o);
}

char *owl_openai_completion_chunk(const owl_gen_meta *m, int index, const char *text,
                                  owl_finish f, bool include_usage, const json_t *logprobs) {
    json_t *o = head(m, "text_completion");
    json_t *ch = json_object();
    json_object_set_new(ch, "text", json_string(text ? text : ""));
    json_object_set_new(ch, "index", json_integer(index));
    json_object_set_new(ch, "logprobs", logprobs_json(logprobs));
    json_object_set_new(ch, "finish_reason", finish_json(f));
    json_t *choices = json_array();
    json_array_append_new(choices, ch);
    json_object_set_new(o, "choices", choices);
    tail(o, m);
    if (include_usage) json_object_set_new(o, "usage", json_null());
    return api_dump(o);
}

char *owl_openai_usage_chunk(const owl_gen_meta *m, bool chat, const owl_gen_usage *u) {
    json_t *o = head(m, chat ? "chat.completion.chunk" : "text_completion");
    if (chat) tail(o, m);
    json_object_set_new(o, "choices", json_array());
    if (!chat) tail(o, m);
    json_object_set_new(o, "usage", usage_json(u));
    return api_dump(o);
}
