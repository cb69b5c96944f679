/* The Modelfile parser: Ollama's recipe format, the subset described in owl/store.h.
 *
 * The text is read line by line. Every error names its line, and a file that parses is complete:
 * exactly one FROM, each parameter known and in range, at most one TEMPLATE, SYSTEM, LICENSE. */
#include "owl/store.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void owl_modelfile_free(owl_modelfile *mf) {
    if (!mf) return;
    free(mf->from);
    free(mf->template_src);
    free(mf->system);
    free(mf->license);
    json_decref(mf->parameters);
    memset(mf, 0, sizeof *mf);
}

/* ---- parameters ------------------------------------------------------------------------------ */

typedef struct param_spec {
    const char *name;
    char kind; /* 'i' integer, 'f' number, 's' string (repeatable) */
    double min, max;
} param_spec;

static const param_spec params[] = {
    {"num_ctx", 'i', 1, 1 << 20},
    {"num_predict", 'i', -2, 1 << 30},
    {"seed", 'i', -1, 9007199254740991.0},
    {"top_k", 'i', 0, 1 << 20},
    {"repeat_last_n", 'i', -1, 1 << 20},
    {"temperature", 'f', 0, 100},
    {"top_p", 'f', 0, 1},
    {"min_p", 'f', 0, 1},
    {"typical_p", 'f', 0, 1},
    {"repeat_penalty", 'f', 0, 100},
    {"presence_penalty", 'f', -2, 2},
    {"frequency_penalty", 'f', -2, 2},
    {"stop", 's', 0, 0},
};

/* At most 40 bytes of v for an error message, control characters shown as '?' (a value may be a
 * multi-line text, and messages are one line). */
static const char *shown(const char *v, char buf[44]) {
    size_t i = 0;
    for (; v[i] && i < 40; i++) buf[i] = (unsigned char)v[i] < 0x20 || v[i] == 0x7f ? '?' : v[i];
    buf[i] = '\0';
    return buf;
}

int owl_modelfile_set_param(json_t *obj, const char *key, const char *value, owl_error *err) {
    char sv[44], sk[44];
    const param_spec *p = NULL;
    for (size_t i = 0; i < sizeof params / sizeof params[0]; i++) {
        if (strcmp(params[i].name, key) == 0) p = &params[i];
    }
    if (!p) return owl_errorf(err, "unknown parameter '%s'", shown(key, sk));
    if (p->kind == 's') {
        if (!*value) return owl_errorf(err, "parameter stop: empty string");
        json_t *a = json_object_get(obj, key);
        if (!json_is_array(a)) {
            a = json_array();
            json_object_set_new(obj, key, a);
        }
        if (json_array_size(a) >= 16) return owl_errorf(err, "parameter stop: more than 16");
        json_t *str = json_string(value);
        if (!str) return owl_errorf(err, "parameter stop: not valid UTF-8");
        json_array_append_new(a, str);
        return 0;
    }
    if (json_object_get(obj, key)) return owl_errorf(err, "parameter %s given twice", key);
    errno = 0;
    char *end;
    double v = strtod(value, &end);
    if (end == value || *end || errno == ERANGE || !isfinite(v)) {
        return owl_errorf(err, "parameter %s: '%s' is not a number", key, shown(value, sv));
    }
    if (p->kind == 'i' && v != floor(v)) {
        return owl_errorf(err, "parameter %s: '%s' is not an integer", key, shown(value, sv));
    }
    if (v < p->min || v > p->max) {
        return owl_errorf(err, "parameter %s: %s is out of range %g..%g", key, shown(value, sv),
                          p->min, p->max);
    }
    json_object_set_new(obj, key, p->kind == 'i' ? json_integer((json_int_t)v) : json_real(v));
    return 0;
}

/* ---- values ---------------------------------------------------------------------------------- */

typedef struct cursor {
    const char *p, *end;
    int line;
} cursor;

static bool blank(char c) { return c == ' ' || c == '\t'; }

/* Parses a value at c->p (after the instruction). On success *out is malloc'd and c->p is at the
 * start of the next line. */
static int read_value(cursor *c, const char *what, char **out, owl_error *err) {
    *out = NULL;
    while (c->p < c->end && blank(*c->p)) c->p++;
    int start_line = c->line;
    const char *p = c->p, *end = c->end;
    char *v = NULL;
    if (end - p >= 3 && memcmp(p, "\"\"\"", 3) == 0) {
        const char *s = p + 3, *q = s;
        while (q + 3 <= end && memcmp(q, "\"\"\"", 3) != 0) {
            if (*q == '\n') c->line++;
            q++;
        }
        if (q + 3 > end) {
            return owl_errorf(err, "line %d: %s: unterminated \"\"\" text", start_line, what);
        }
        v = strndup(s, (size_t)(q - s));
        p = q + 3;
    } else if (p < end && *p == '"') {
        const char *q = p + 1;
        v = malloc((size_t)(end - p) + 1);
        if (!v) return owl_errorf(err, "out of memory");
        size_t n = 0;
        while (q < end && *q != '"' && *q != '\n') {
            if (*q == '\\' && q + 1 < end && (q[1] == '"' || q[1] == '\\')) q++;
            v[n++] = *q++;
        }
        v[n] = '\0';
        if (q >= end || *q != '"') {
            free(v);
            return owl_errorf(err, "line %d: %s: unterminated \"string\"", start_line, what);
        }
        p = q + 1;
    } else {
        const char *q = p;
        while (q < end && *q != '\n') q++;
        const char *e = q;
        while (e > p && (blank(e[-1]) || e[-1] == '\r')) e--;
        v = strndup(p, (size_t)(e - p));
        p = q;
    }
    if (!v) return owl_errorf(err, "out of memory");
    /* Only blanks may follow a quoted value on its line. */
    while (p < end && (blank(*p) || *p == '\r')) p++;
    if (p < end && *p != '\n') {
        free(v);
        return owl_errorf(err, "line %d: %s: unexpected text after the closing quote", c->line,
                          what);
    }
    if (p < end) {
        p++;
        c->line++;
    }
    c->p = p;
    *out = v;
    return 0;
}

static int set_once(char **slot, char *v, int line, const char *what, owl_error *err) {
    if (*slot) {
        free(v);
        return owl_errorf(err, "line %d: %s given twice", line, what);
    }
    *slot = v;
    return 0;
}

/* ---- the file -------------------------------------------------------------------------------- */

int owl_modelfile_parse(const char *text, size_t len, owl_modelfile *out, owl_error *err) {
    memset(out, 0, sizeof *out);
    if (memchr(text, '\0', len)) return owl_errorf(err, "Modelfile contains a NUL byte");
    if (!owl_utf8_valid(text, len)) return owl_errorf(err, "Modelfile is not valid UTF-8");
    out->parameters = json_object();
    if (!out->parameters) return owl_errorf(err, "out of memory");
    cursor c = {text, text + len, 1};
    while (c.p < c.end) {
        while (c.p < c.end && (blank(*c.p) || *c.p == '\r')) c.p++;
        if (c.p >= c.end) break;
        if (*c.p == '\n' || *c.p == '#') {
            while (c.p < c.end && *c.p != '\n') c.p++;
            if (c.p < c.end) c.p++;
            c.line++;
            continue;
        }
        const char *w = c.p;
        while (c.p < c.end && isalpha((unsigned char)*c.p)) c.p++;
        size_t wn = (size_t)(c.p - w);
        int line = c.line;
        if (wn == 0 || (c.p < c.end && !blank(*c.p) && *c.p != '\n' && *c.p != '\r')) {
            const char *e = w;
            while (e < c.end && !blank(*e) && *e != '\n' && *e != '\r') e++;
            owl_errorf(err, "line %d: '%.*s' is not an instruction (FROM, PARAMETER, TEMPLATE, "
                            "SYSTEM, LICENSE)", line, (int)((e - w) > 40 ? 40 : (e - w)), w);
            goto fail;
        }
        char word[16] = {0};
        if (wn < sizeof word) memcpy(word, w, wn);
        char *v = NULL;
        if (strcasecmp(word, "FROM") == 0) {
            if (read_value(&c, "FROM", &v, err) < 0) goto fail;
            if (!*v) {
                free(v);
                owl_errorf(err, "line %d: FROM needs a model path, URL or name", line);
                goto fail;
            }
            if (set_once(&out->from, v, line, "FROM", err) < 0) goto fail;
        } else if (strcasecmp(word, "TEMPLATE") == 0) {
            if (read_value(&c, "TEMPLATE", &v, err) < 0) goto fail;
            if (set_once(&out->template_src, v, line, "TEMPLATE", err) < 0) goto fail;
        } else if (strcasecmp(word, "SYSTEM") == 0) {
            if (read_value(&c, "SYSTEM", &v, err) < 0) goto fail;
            if (set_once(&out->system, v, line, "SYSTEM", err) < 0) goto fail;
        } else if (strcasecmp(word, "LICENSE") == 0) {
            if (read_value(&c, "LICENSE", &v, err) < 0) goto fail;
            if (set_once(&out->license, v, line, "LICENSE", err) < 0) goto fail;
        } else if (strcasecmp(word, "PARAMETER") == 0) {
            while (c.p < c.end && blank(*c.p)) c.p++;
            const char *k = c.p;
            while (c.p < c.end && !blank(*c.p) && *c.p != '\n' && *c.p != '\r') c.p++;
            size_t kn = (size_t)(c.p - k);
            if (kn == 0) {
                owl_errorf(err, "line %d: PARAMETER needs a name and a value", line);
                goto fail;
            }
            char key[64];
            snprintf(key, sizeof key, "%.*s", (int)(kn < 63 ? kn : 63), k);
            for (char *q = key; *q; q++) *q = (char)tolower((unsigned char)*q);
            if (read_value(&c, "PARAMETER", &v, err) < 0) goto fail;
            if (!*v && strcmp(key, "stop") != 0) {
                free(v);
                owl_errorf(err, "line %d: PARAMETER %s needs a value", line, key);
                goto fail;
            }
            int rc = owl_modelfile_set_param(out->parameters, key, v, err);
            free(v);
            if (rc < 0) {
                owl_error_prefix(err, "line %d", line);
                goto fail;
            }
        } else if (strcasecmp(word, "ADAPTER") == 0 || strcasecmp(word, "MESSAGE") == 0) {
            owl_errorf(err, "line %d: %s is not supported", line, word);
            goto fail;
        } else {
            owl_errorf(err, "line %d: unknown instruction '%.*s'", line, (int)(wn > 40 ? 40 : wn),
                       w);
            goto fail;
        }
    }
    if (!out->from) {
        owl_errorf(err, "Modelfile has no FROM line");
        goto fail;
    }
    return 0;
fail:
    owl_modelfile_free(out);
    return -1;
}

/* ---- writing one ----------------------------------------------------------------------------- */

/* A growing text; on allocation failure it is dropped and stays NULL. */
typedef struct text {
    char *p;
    size_t len, cap;
} text;

static void put(text *t, const char *fmt, ...) OWL_PRINTF(2, 3);
static void put(text *t, const char *fmt, ...) {
    if (!t->p && t->cap) return; /* failed before */
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if (t->len + (size_t)n + 1 > t->cap) {
        size_t cap = t->cap ? t->cap : 256;
        while (cap < t->len + (size_t)n + 1) cap *= 2;
        char *q = realloc(t->p, cap);
        if (!q) {
            free(t->p);
            t->p = NULL;
            t->cap = 1;
            return;
        }
        t->p = q;
        t->cap = cap;
    }
    va_start(ap, fmt);
    vsnprintf(t->p + t->len, t->cap - t->len, fmt, ap);
    va_end(ap);
    t->len += (size_t)n;
}

static void put_quoted(text *t, const char *s) {
    put(t, "\"");
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') put(t, "\\%c", *s);
        else put(t, "%c", *s);
    }
    put(t, "\"");
}

/* A string in a form read_value reads back the same: bare when it can be (FROM), """...""" for
 * texts (SYSTEM, TEMPLATE, as Ollama writes them) and anything over several lines, else "..."
 * with \" and \\. A multi-line text that holds """ or ends in '"' has no such form; it is
 * written as """...""" all the same. */
static void put_string(text *t, const char *s, bool may_be_bare, bool is_text) {
    size_t n = strlen(s);
    bool triple_ok = !strstr(s, "\"\"\"") && (!n || s[n - 1] != '"');
    if (strchr(s, '\n') || (is_text && triple_ok)) {
        put(t, "\"\"\"%s\"\"\"", s);
    } else if (may_be_bare && n && !blank(s[0]) && s[0] != '"' && !blank(s[n - 1]) &&
               !strchr(s, '\r')) {
        put(t, "%s", s);
    } else {
        put_quoted(t, s);
    }
}

static void put_value(text *t, const json_t *v) {
    if (json_is_integer(v)) {
        put(t, "%lld", (long long)json_integer_value(v));
    } else if (json_is_real(v)) {
        /* the shortest form that reads back as the same number: 0.7, not 0.69999999999999996 */
        double d = json_real_value(v);
        char buf[40];
        snprintf(buf, sizeof buf, "%.15g", d);
        if (strtod(buf, NULL) != d) snprintf(buf, sizeof buf, "%.17g", d);
        put(t, "%s", buf);
    } else {
        put_string(t, json_string_value(v) ? json_string_value(v) : "", false, false);
    }
}

char *owl_manifest_modelfile(const owl_manifest *m, const char *from) {
    text t = {0};
    put(&t, "FROM ");
    put_string(&t, from, true, false);
    put(&t, "\n");
    const char *key;
    json_t *v;
    json_object_foreach(m->parameters, key, v) {
        size_t n = json_is_array(v) ? json_array_size(v) : 1;
        for (size_t i = 0; i < n; i++) {
            put(&t, "PARAMETER %s ", key);
            put_value(&t, json_is_array(v) ? json_array_get(v, i) : v);
            put(&t, "\n");
        }
    }
    if (m->system) {
        put(&t, "SYSTEM ");
        put_string(&t, m->system, false, true);
        put(&t, "\n");
    }
    if (m->template_src) {
        put(&t, "TEMPLATE ");
        put_string(&t, m->template_src, false, true);
        put(&t, "\n");
    }
    return t.p;
}
