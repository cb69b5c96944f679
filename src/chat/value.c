/* Values of the template language: arena, strings, lists, dicts, and how Python prints them
 * (str(), repr(), json.dumps with ensure_ascii=False). */
#include "chat/jinja.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void jfailf(jfail *f, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    if (f->err) {
        char tmp[sizeof f->err->msg];
        vsnprintf(tmp, sizeof tmp, fmt, ap);
        /* Messages are one line: names and texts from the template show control characters
         * escaped. */
        size_t o = 0, cap = sizeof f->err->msg - 1;
        for (size_t i = 0; tmp[i] && o < cap; i++) {
            unsigned char c = (unsigned char)tmp[i];
            char esc[8];
            if (c >= 0x20 && c != 0x7F) {
                f->err->msg[o++] = (char)c;
                continue;
            }
            snprintf(esc, sizeof esc, c == '\n' ? "\\n" : c == '\r' ? "\\r" : c == '\t' ? "\\t" : "\\x%02x", c);
            for (size_t k = 0; esc[k] && o < cap; k++) f->err->msg[o++] = esc[k];
        }
        f->err->msg[o] = '\0';
    }
    va_end(ap);
    longjmp(f->jb, 1);
}

/* ---- arena --------------------------------------------------------------------------------- */

struct jchunk {
    jchunk *next;
    size_t size;
    _Alignas(16) char data[];
};

#define JCHUNK 65536

void ja_init(jarena *a, jfail *fail, size_t limit) {
    memset(a, 0, sizeof *a);
    a->fail = fail;
    a->limit = limit;
}

void ja_free(jarena *a) {
    jchunk *c = a->head;
    while (c) {
        jchunk *n = c->next;
        free(c);
        c = n;
    }
    a->head = NULL;
    a->cur = a->end = NULL;
    a->total = 0;
}

static void *ja_chunk(jarena *a, size_t n, bool make_current) {
    if (a->limit && (n > a->limit || a->total > a->limit - n)) {
        jfailf(a->fail, "template needs more than %zu MiB of memory", a->limit >> 20);
    }
    jchunk *c = malloc(sizeof *c + n);
    if (!c) jfailf(a->fail, "out of memory");
    a->total += n;
    c->size = n;
    if (make_current || !a->head) {
        c->next = a->head;
        a->head = c;
        a->cur = c->data;
        a->end = c->data + n;
    } else {
        /* A large block: keep the current chunk's free space usable. */
        c->next = a->head->next;
        a->head->next = c;
    }
    return c->data;
}

void *ja_alloc(jarena *a, size_t n) {
    n = (n + 15) & ~(size_t)15;
    if (n == 0) n = 16;
    if ((size_t)(a->end - a->cur) >= n) {
        void *p = a->cur;
        a->cur += n;
        return p;
    }
    if (n > JCHUNK / 4) return ja_chunk(a, n, false);
    ja_chunk(a, JCHUNK, true);
    void *p = a->cur;
    a->cur += n;
    return p;
}

void *ja_dup(jarena *a, const void *p, size_t n) {
    void *q = ja_alloc(a, n);
    if (n) memcpy(q, p, n);
    return q;
}

/* ---- strings, lists, dicts ----------------------------------------------------------------- */

jstr *js_alloc(jarena *a, size_t n) {
    if (n > (size_t)1 << 40) jfailf(a->fail, "string too long");
    jstr *s = ja_alloc(a, sizeof *s + n + 1);
    s->len = n;
    s->ncp = -1;
    s->s[n] = '\0';
    return s;
}

jstr *js_new(jarena *a, const char *p, size_t n) {
    jstr *s = js_alloc(a, n);
    if (n) memcpy(s->s, p, n);
    return s;
}

jv jv_cstr(jarena *a, const char *p) { return jv_str(a, p, strlen(p)); }

int64_t js_ncp(jstr *s) {
    if (s->ncp < 0) {
        int64_t n = 0;
        for (size_t i = 0; i < s->len; i++) n += ((unsigned char)s->s[i] & 0xC0) != 0x80;
        s->ncp = n;
    }
    return s->ncp;
}

bool js_ascii(jstr *s) { return js_ncp(s) == (int64_t)s->len; }

jlist *jl_new(jarena *a, size_t n) {
    if (n > ((size_t)1 << 32)) jfailf(a->fail, "list too long");
    jlist *l = ja_alloc(a, sizeof *l);
    l->n = n;
    l->tuple = false;
    l->items = ja_alloc(a, (n ? n : 1) * sizeof(jv));
    memset(l->items, 0, (n ? n : 1) * sizeof(jv));
    return l;
}

jdict *jd_new(jarena *a, size_t cap) {
    jdict *d = ja_alloc(a, sizeof *d);
    d->n = 0;
    d->cap = cap ? cap : 4;
    d->keys = ja_alloc(a, d->cap * sizeof(jv));
    d->vals = ja_alloc(a, d->cap * sizeof(jv));
    return d;
}

static bool key_eq(jv a, jv b) {
    if (a.t == JV_STR && b.t == JV_STR) {
        return a.s->len == b.s->len && memcmp(a.s->s, b.s->s, a.s->len) == 0;
    }
    return jv_eq(a, b);
}

jv *jd_get(const jdict *d, jv key) {
    for (size_t i = 0; i < d->n; i++) {
        if (key_eq(d->keys[i], key)) return &d->vals[i];
    }
    return NULL;
}

jv *jd_getn(const jdict *d, const char *key, size_t n) {
    for (size_t i = 0; i < d->n; i++) {
        jv k = d->keys[i];
        if (k.t == JV_STR && k.s->len == n && memcmp(k.s->s, key, n) == 0) return &d->vals[i];
    }
    return NULL;
}

void jd_set(jarena *a, jdict *d, jv key, jv val) {
    jv *p = jd_get(d, key);
    if (p) {
        *p = val;
        return;
    }
    jd_append(a, d, key, val);
}

void jd_append(jarena *a, jdict *d, jv key, jv val) {
    if (d->n == d->cap) {
        size_t cap = d->cap * 2;
        jv *k = ja_alloc(a, cap * sizeof(jv)), *v = ja_alloc(a, cap * sizeof(jv));
        memcpy(k, d->keys, d->n * sizeof(jv));
        memcpy(v, d->vals, d->n * sizeof(jv));
        d->keys = k;
        d->vals = v;
        d->cap = cap;
    }
    d->keys[d->n] = key;
    d->vals[d->n] = val;
    d->n++;
}

bool jv_truthy(jv v) {
    switch (v.t) {
    case JV_UNDEF:
    case JV_NONE: return false;
    case JV_BOOL: return v.b;
    case JV_INT: return v.i != 0;
    case JV_FLOAT: return v.f != 0.0;
    case JV_STR: return v.s->len != 0;
    case JV_LIST: return v.l->n != 0;
    case JV_DICT: return v.d->n != 0;
    default: return true;
    }
}

static bool is_num(jv v) { return v.t == JV_INT || v.t == JV_FLOAT || v.t == JV_BOOL; }
static double num_f(jv v) { return v.t == JV_FLOAT ? v.f : v.t == JV_INT ? (double)v.i : (double)v.b; }

/* Python ==. `budget` counts down the elements visited (lists and dicts can be big and
 * nested); when it runs out the answer is false and *budget is negative. */
bool jv_eq_budget(jv a, jv b, int64_t *budget) {
    if (--*budget < 0) return false;
    if (is_num(a) && is_num(b)) {
        if (a.t != JV_FLOAT && b.t != JV_FLOAT) {
            int64_t x = a.t == JV_INT ? a.i : a.b, y = b.t == JV_INT ? b.i : b.b;
            return x == y;
        }
        return num_f(a) == num_f(b);
    }
    if (a.t != b.t) return false;
    switch (a.t) {
    case JV_UNDEF:
    case JV_NONE: return true;
    case JV_STR:
        *budget -= (int64_t)(a.s->len / 64);
        return a.s->len == b.s->len && memcmp(a.s->s, b.s->s, a.s->len) == 0;
    case JV_LIST:
        if (a.l->n != b.l->n || a.l->tuple != b.l->tuple) return false;
        for (size_t i = 0; i < a.l->n; i++) {
            if (!jv_eq_budget(a.l->items[i], b.l->items[i], budget)) return false;
        }
        return true;
    case JV_DICT:
        if (a.d->n != b.d->n) return false;
        for (size_t i = 0; i < a.d->n; i++) {
            *budget -= (int64_t)b.d->n;
            if (*budget < 0) return false;
            jv *o = jd_get(b.d, a.d->keys[i]);
            if (!o || !jv_eq_budget(a.d->vals[i], *o, budget)) return false;
        }
        return true;
    case JV_NS: return a.d == b.d;
    case JV_LOOP: return a.loop == b.loop;
    case JV_MACRO: return a.m == b.m;
    case JV_FUNC: return a.fn == b.fn;
    case JV_METHOD: return a.meth == b.meth;
    default: return false;
    }
}

bool jv_eq(jv a, jv b) {
    int64_t budget = INT64_MAX;
    return jv_eq_budget(a, b, &budget);
}

const char *jv_typename(jv v) {
    switch (v.t) {
    case JV_UNDEF: return "Undefined";
    case JV_NONE: return "NoneType";
    case JV_BOOL: return "bool";
    case JV_INT: return "int";
    case JV_FLOAT: return "float";
    case JV_STR: return "str";
    case JV_LIST: return v.l->tuple ? "tuple" : "list";
    case JV_DICT: return "dict";
    case JV_NS: return "Namespace";
    case JV_LOOP: return "LoopContext";
    case JV_MACRO: return "Macro";
    case JV_FUNC: return "function";
    case JV_METHOD: return "builtin_function_or_method";
    default: return "object";
    }
}

/* ---- Unicode whitespace -------------------------------------------------------------------- */

static bool cp_space(uint32_t c) {
    return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 ||
           c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 ||
           c == 0x202F || c == 0x205F || c == 0x3000;
}

static uint32_t decode_at(const unsigned char *p, size_t len) {
    if (len == 1) return p[0];
    if (len == 2) return ((uint32_t)(p[0] & 0x1F) << 6) | (p[1] & 0x3F);
    if (len == 3) return ((uint32_t)(p[0] & 0x0F) << 12) | ((uint32_t)(p[1] & 0x3F) << 6) | (p[2] & 0x3F);
    return ((uint32_t)(p[0] & 0x07) << 18) | ((uint32_t)(p[1] & 0x3F) << 12) |
           ((uint32_t)(p[2] & 0x3F) << 6) | (p[3] & 0x3F);
}

size_t uws_at(const char *p, const char *end) {
    if (p >= end) return 0;
    unsigned char c = (unsigned char)*p;
    if (c < 0x80) return cp_space(c) ? 1 : 0;
    int len = owl_utf8_len(c);
    if (len < 2 || p + len > end) return 0;
    return cp_space(decode_at((const unsigned char *)p, (size_t)len)) ? (size_t)len : 0;
}

size_t uws_before(const char *start, const char *end) {
    if (end <= start) return 0;
    const char *p = end - 1;
    while (p > start && ((unsigned char)*p & 0xC0) == 0x80 && end - p < 4) p--;
    size_t n = uws_at(p, end);
    return n == (size_t)(end - p) ? n : 0;
}

/* ---- buffers ------------------------------------------------------------------------------- */

void jb_init(jbuf *b, jarena *a, size_t max) {
    b->p = NULL;
    b->n = b->cap = 0;
    b->max = max;
    b->a = a;
}

void jb_put(jbuf *b, const char *p, size_t n) {
    if (n == 0) return;
    if (b->max && (n > b->max || b->n > b->max - n)) {
        jfailf(b->a->fail, "template output exceeds %zu bytes", b->max);
    }
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 256;
        while (cap < b->n + n) cap *= 2;
        char *q = ja_alloc(b->a, cap);
        if (b->n) memcpy(q, b->p, b->n);
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->n, p, n);
    b->n += n;
}

void jb_putc(jbuf *b, char c) { jb_put(b, &c, 1); }

void jb_printf(jbuf *b, const char *fmt, ...) {
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    jb_put(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

jstr *jb_str(jbuf *b) { return js_new(b->a, b->p ? b->p : "", b->n); }

/* ---- printing ------------------------------------------------------------------------------ */

/* Python's float repr: the shortest digits that round-trip; fixed notation for exponents in
 * [-4, 16), scientific (e-05, e+16) outside; always a ".0" when the fixed form is integral. */
void jv_write_float(jbuf *b, double f) {
    if (isnan(f)) { jb_puts(b, "nan"); return; }
    if (isinf(f)) { jb_puts(b, f < 0 ? "-inf" : "inf"); return; }
    char tmp[64];
    int prec;
    for (prec = 1; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*e", prec - 1, f);
        if (strtod(tmp, NULL) == f) break;
    }
    /* tmp = [-]d[.ddd]e[+-]XX: pull out digits and exponent. */
    char digits[32];
    int nd = 0;
    const char *p = tmp;
    bool neg = false;
    if (*p == '-') { neg = true; p++; }
    while (*p && *p != 'e') {
        if (*p >= '0' && *p <= '9') digits[nd++] = *p;
        p++;
    }
    int exp = atoi(p + 1);
    while (nd > 1 && digits[nd - 1] == '0') nd--;
    if (neg) jb_putc(b, '-');
    if (exp >= -4 && exp < 16) {
        if (exp < 0) {
            jb_puts(b, "0.");
            for (int i = 0; i < -exp - 1; i++) jb_putc(b, '0');
            jb_put(b, digits, (size_t)nd);
        } else {
            for (int i = 0; i <= exp; i++) jb_putc(b, i < nd ? digits[i] : '0');
            jb_putc(b, '.');
            if (nd > exp + 1) jb_put(b, digits + exp + 1, (size_t)(nd - exp - 1));
            else jb_putc(b, '0');
        }
    } else {
        jb_putc(b, digits[0]);
        if (nd > 1) {
            jb_putc(b, '.');
            jb_put(b, digits + 1, (size_t)(nd - 1));
        }
        jb_printf(b, "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
    }
}

/* Python's str.isprintable() approximated for repr(): controls and a few separators are not. */
static bool cp_printable(uint32_t c) {
    if (c < 0x20 || (c >= 0x7F && c <= 0xA0) || c == 0xAD) return false;
    if (c >= 0x2028 && c <= 0x202F && c != 0x202F) return c > 0x202E;
    if (c >= 0x2000 && c <= 0x200F) return false;
    if (c == 0x1680 || c == 0x205F || c == 0x3000 || (c >= 0x2060 && c <= 0x206F)) return false;
    if (c >= 0xD800 && c <= 0xDFFF) return false;
    if (c == 0xFEFF || (c >= 0xFFF9 && c <= 0xFFFB)) return false;
    if (c >= 0xE000 && c <= 0xF8FF) return false;
    if (c >= 0xF0000) return false;
    return true;
}

static void write_str_repr(jbuf *b, const jstr *s) {
    bool has_sq = memchr(s->s, '\'', s->len) != NULL, has_dq = memchr(s->s, '"', s->len) != NULL;
    char q = has_sq && !has_dq ? '"' : '\'';
    jb_putc(b, q);
    const char *p = s->s, *end = s->s + s->len;
    while (p < end) {
        unsigned char c = (unsigned char)*p;
        int len = c < 0x80 ? 1 : owl_utf8_len(c);
        if (len <= 0 || p + len > end) len = 1;
        uint32_t cp = decode_at((const unsigned char *)p, (size_t)len);
        if (cp == (uint32_t)q || cp == '\\') {
            jb_putc(b, '\\');
            jb_putc(b, (char)cp);
        } else if (cp == '\n') jb_puts(b, "\\n");
        else if (cp == '\r') jb_puts(b, "\\r");
        else if (cp == '\t') jb_puts(b, "\\t");
        else if (!cp_printable(cp)) {
            if (cp < 0x100) jb_printf(b, "\\x%02x", cp);
            else if (cp < 0x10000) jb_printf(b, "\\u%04x", cp);
            else jb_printf(b, "\\U%08x", cp);
        } else jb_put(b, p, (size_t)len);
        p += len;
    }
    jb_putc(b, q);
}

void jv_write_str(jbuf *b, jv v) {
    switch (v.t) {
    case JV_UNDEF: return;
    case JV_STR: jb_put(b, v.s->s, v.s->len); return;
    default: jv_write_repr(b, v); return;
    }
}

void jv_write_repr(jbuf *b, jv v) {
    switch (v.t) {
    case JV_UNDEF: jb_puts(b, "Undefined"); return;
    case JV_NONE: jb_puts(b, "None"); return;
    case JV_BOOL: jb_puts(b, v.b ? "True" : "False"); return;
    case JV_INT: jb_printf(b, "%lld", (long long)v.i); return;
    case JV_FLOAT: jv_write_float(b, v.f); return;
    case JV_STR: write_str_repr(b, v.s); return;
    case JV_LIST:
        jb_putc(b, v.l->tuple ? '(' : '[');
        for (size_t i = 0; i < v.l->n; i++) {
            if (i) jb_puts(b, ", ");
            jv_write_repr(b, v.l->items[i]);
        }
        if (v.l->tuple && v.l->n == 1) jb_putc(b, ',');
        jb_putc(b, v.l->tuple ? ')' : ']');
        return;
    case JV_DICT:
    case JV_NS:
        if (v.t == JV_NS) jb_puts(b, "<Namespace ");
        jb_putc(b, '{');
        for (size_t i = 0; i < v.d->n; i++) {
            if (i) jb_puts(b, ", ");
            jv_write_repr(b, v.d->keys[i]);
            jb_puts(b, ": ");
            jv_write_repr(b, v.d->vals[i]);
        }
        jb_putc(b, '}');
        if (v.t == JV_NS) jb_putc(b, '>');
        return;
    case JV_LOOP: jb_puts(b, "<LoopContext>"); return;
    case JV_MACRO: jb_puts(b, "<Macro>"); return;
    case JV_FUNC: jb_puts(b, "<function>"); return;
    case JV_METHOD: jb_printf(b, "<built-in method %s>", v.meth->name); return;
    default: return;
    }
}

jstr *jv_to_jstr(jarena *a, jv v) {
    if (v.t == JV_STR) return v.s;
    jbuf b;
    jb_init(&b, a, 0);
    jv_write_str(&b, v);
    return jb_str(&b);
}

/* ---- JSON ---------------------------------------------------------------------------------- */

static void write_json_string(jbuf *b, const char *s, size_t n, bool ascii) {
    jb_putc(b, '"');
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *esc = NULL;
        char tmp[8];
        switch (c) {
        case '"': esc = "\\\""; break;
        case '\\': esc = "\\\\"; break;
        case '\n': esc = "\\n"; break;
        case '\r': esc = "\\r"; break;
        case '\t': esc = "\\t"; break;
        case '\b': esc = "\\b"; break;
        case '\f': esc = "\\f"; break;
        default:
            if (c < 0x20) {
                snprintf(tmp, sizeof tmp, "\\u%04x", c);
                esc = tmp;
            } else if (c >= 0x80 && ascii) {
                int len = owl_utf8_len(c);
                if (len < 2 || i + (size_t)len > n) len = 1;
                uint32_t cp = len > 1 ? decode_at((const unsigned char *)s + i, (size_t)len) : 0xFFFD;
                jb_put(b, s + i - run, run);
                run = 0;
                if (cp >= 0x10000) {
                    cp -= 0x10000;
                    jb_printf(b, "\\u%04x\\u%04x", 0xD800 + (cp >> 10), 0xDC00 + (cp & 0x3FF));
                } else {
                    jb_printf(b, "\\u%04x", cp);
                }
                i += (size_t)len - 1;
                continue;
            }
        }
        if (esc) {
            jb_put(b, s + i - run, run);
            run = 0;
            jb_puts(b, esc);
        } else run++;
    }
    jb_put(b, s + n - run, run);
    jb_putc(b, '"');
}

static void json_newline(jbuf *b, const jjson_opts *o, int level) {
    jb_putc(b, '\n');
    for (int i = 0; i < level; i++) {
        if (o->indent_str) jb_puts(b, o->indent_str);
        else for (int k = 0; k < o->indent; k++) jb_putc(b, ' ');
    }
}

static bool json_key(jbuf *b, jv k, jv *bad, bool ascii) {
    jbuf t;
    switch (k.t) {
    case JV_STR: write_json_string(b, k.s->s, k.s->len, ascii); return true;
    case JV_INT:
    case JV_FLOAT:
    case JV_BOOL:
    case JV_NONE:
        jb_init(&t, b->a, 0);
        if (k.t == JV_BOOL) jb_puts(&t, k.b ? "true" : "false");
        else if (k.t == JV_NONE) jb_puts(&t, "null");
        else jv_write_repr(&t, k);
        write_json_string(b, t.p, t.n, false);
        return true;
    default: *bad = k; return false;
    }
}

static int key_cmp(const void *x, const void *y) {
    const jv *a = *(const jv *const *)x, *b = *(const jv *const *)y;
    if (a->t == JV_STR && b->t == JV_STR) {
        size_t n = a->s->len < b->s->len ? a->s->len : b->s->len;
        int c = memcmp(a->s->s, b->s->s, n);
        return c ? c : (a->s->len > b->s->len) - (a->s->len < b->s->len);
    }
    return 0;
}

bool jv_write_json(jbuf *b, jv v, const jjson_opts *o, int level, jv *bad) {
    if (level > 200) { *bad = v; return false; }
    bool pretty = o->indent >= 0 || o->indent_str;
    switch (v.t) {
    case JV_NONE: jb_puts(b, "null"); return true;
    case JV_BOOL: jb_puts(b, v.b ? "true" : "false"); return true;
    case JV_INT: jb_printf(b, "%lld", (long long)v.i); return true;
    case JV_FLOAT:
        if (isnan(v.f)) jb_puts(b, "NaN");
        else if (isinf(v.f)) jb_puts(b, v.f < 0 ? "-Infinity" : "Infinity");
        else jv_write_float(b, v.f);
        return true;
    case JV_STR: write_json_string(b, v.s->s, v.s->len, o->ensure_ascii); return true;
    case JV_LIST:
        if (v.l->n == 0) { jb_puts(b, "[]"); return true; }
        jb_putc(b, '[');
        for (size_t i = 0; i < v.l->n; i++) {
            if (i) jb_puts(b, o->item_sep);
            if (pretty) json_newline(b, o, level + 1);
            if (!jv_write_json(b, v.l->items[i], o, level + 1, bad)) return false;
        }
        if (pretty) json_newline(b, o, level);
        jb_putc(b, ']');
        return true;
    case JV_DICT: {
        if (v.d->n == 0) { jb_puts(b, "{}"); return true; }
        size_t n = v.d->n;
        jv **order = ja_alloc(b->a, n * sizeof *order);
        for (size_t i = 0; i < n; i++) order[i] = &v.d->keys[i];
        if (o->sort_keys) qsort(order, n, sizeof *order, key_cmp);
        jb_putc(b, '{');
        for (size_t i = 0; i < n; i++) {
            size_t k = (size_t)(order[i] - v.d->keys);
            if (i) jb_puts(b, o->item_sep);
            if (pretty) json_newline(b, o, level + 1);
            if (!json_key(b, v.d->keys[k], bad, o->ensure_ascii)) return false;
            jb_puts(b, o->key_sep);
            if (!jv_write_json(b, v.d->vals[k], o, level + 1, bad)) return false;
        }
        if (pretty) json_newline(b, o, level);
        jb_putc(b, '}');
        return true;
    }
    default: *bad = v; return false;
    }
}
