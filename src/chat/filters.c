/* Filters, tests and the str/dict/list methods templates call, with Python's behaviour
 * (jinja2's built-in filters; transformers' tojson). Case mapping of non-ASCII text goes through
 * utf8proc (one code point to one code point; Python's few one-to-many mappings such as 'ß' ->
 * 'SS' are not reproduced). */
#include "chat/jinja.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

/* ---- argument access ----------------------------------------------------------------------- */

/* Argument i (0-based, after the filtered value) or keyword `name`. */
static bool arg(jargs *a, size_t i, const char *name, jv *out) {
    if (i < a->npos) {
        *out = a->pos[i];
        return true;
    }
    for (size_t k = 0; k < a->nkw; k++) {
        if (name && strcmp(a->kwnames[k], name) == 0) {
            *out = a->kw[k];
            return true;
        }
    }
    return false;
}

static jv argd(jargs *a, size_t i, const char *name, jv dflt) {
    jv v;
    return arg(a, i, name, &v) ? v : dflt;
}

static jstr *need_str(jrender *r, jv v, const char *what) {
    if (v.t != JV_STR) jr_fail(r, "%s must be a string, not %s", what, jv_typename(v));
    return v.s;
}

static int64_t need_int(jrender *r, jv v, const char *what) {
    if (v.t == JV_INT) return v.i;
    if (v.t == JV_BOOL) return v.b;
    jr_fail(r, "%s must be an integer, not %s", what, jv_typename(v));
}

/* ---- Unicode text helpers ------------------------------------------------------------------ */

static uint32_t next_cp(const char *s, size_t n, size_t *i) {
    utf8proc_int32_t cp;
    utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)s + *i, (utf8proc_ssize_t)(n - *i), &cp);
    if (k <= 0) {
        (*i)++;
        return 0xFFFD;
    }
    *i += (size_t)k;
    return (uint32_t)cp;
}

static void put_cp(jbuf *b, uint32_t cp) {
    utf8proc_uint8_t u[4];
    utf8proc_ssize_t k = utf8proc_encode_char((utf8proc_int32_t)cp, u);
    jb_put(b, (const char *)u, (size_t)k);
}

static bool cp_cased(uint32_t c) {
    utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)c);
    return k == UTF8PROC_CATEGORY_LU || k == UTF8PROC_CATEGORY_LL || k == UTF8PROC_CATEGORY_LT;
}
static bool cp_lower(uint32_t c) { return utf8proc_category((utf8proc_int32_t)c) == UTF8PROC_CATEGORY_LL; }
static bool cp_upper(uint32_t c) {
    utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)c);
    return k == UTF8PROC_CATEGORY_LU || k == UTF8PROC_CATEGORY_LT;
}
static bool cp_alpha(uint32_t c) {
    utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)c);
    return k >= UTF8PROC_CATEGORY_LU && k <= UTF8PROC_CATEGORY_LO;
}
static bool cp_digit(uint32_t c) { return utf8proc_category((utf8proc_int32_t)c) == UTF8PROC_CATEGORY_ND; }
static bool cp_numeric(uint32_t c) {
    utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)c);
    return k >= UTF8PROC_CATEGORY_ND && k <= UTF8PROC_CATEGORY_NO;
}
static bool cp_space(uint32_t c) {
    char u[4];
    utf8proc_ssize_t k = utf8proc_encode_char((utf8proc_int32_t)c, (utf8proc_uint8_t *)u);
    return uws_at(u, u + k) != 0;
}
static bool cp_word(uint32_t c) { return c == '_' || cp_alpha(c) || cp_numeric(c); }

jstr *js_case(jarena *a, jstr *s, int mode) {
    jbuf b;
    jb_init(&b, a, 0);
    bool prev_cased = false, first = true;
    for (size_t i = 0; i < s->len;) {
        uint32_t c = next_cp(s->s, s->len, &i), o = c;
        switch (mode) {
        case 0: o = (uint32_t)utf8proc_tolower((utf8proc_int32_t)c); break;
        case 1: o = (uint32_t)utf8proc_toupper((utf8proc_int32_t)c); break;
        case 2:
            o = first ? (uint32_t)utf8proc_totitle((utf8proc_int32_t)c) : (uint32_t)utf8proc_tolower((utf8proc_int32_t)c);
            break;
        case 3:
            o = prev_cased ? (uint32_t)utf8proc_tolower((utf8proc_int32_t)c) : (uint32_t)utf8proc_totitle((utf8proc_int32_t)c);
            prev_cased = cp_cased(c);
            break;
        case 4:
            o = cp_upper(c) ? (uint32_t)utf8proc_tolower((utf8proc_int32_t)c)
              : cp_lower(c) ? (uint32_t)utf8proc_toupper((utf8proc_int32_t)c) : c;
            break;
        }
        first = false;
        if (c == 0xDF && o == 0x1E9E) {
            /* Python's full case mapping: upper('ß') is "SS", title('ß') is "Ss" */
            jb_puts(&b, mode == 1 || mode == 4 ? "SS" : "Ss");
            continue;
        }
        put_cp(&b, o);
    }
    return jb_str(&b);
}

/* jinja2's title filter: words start after '-', whitespace or an opening bracket. */
static jstr *jinja_title(jarena *a, jstr *s) {
    jbuf b;
    jb_init(&b, a, 0);
    bool start = true;
    for (size_t i = 0; i < s->len;) {
        uint32_t c = next_cp(s->s, s->len, &i);
        if (c == '-' || c == '(' || c == '{' || c == '[' || c == '<' || cp_space(c)) {
            put_cp(&b, c);
            start = true;
        } else {
            if (c == 0xDF && start) jb_puts(&b, "SS");
            else put_cp(&b, (uint32_t)(start ? utf8proc_toupper((utf8proc_int32_t)c) : utf8proc_tolower((utf8proc_int32_t)c)));
            start = false;
        }
    }
    return jb_str(&b);
}

static bool in_set(uint32_t c, const char *chars, size_t n) {
    if (!chars) return cp_space(c);
    for (size_t i = 0; i < n;) {
        if (next_cp(chars, n, &i) == c) return true;
    }
    return false;
}

jstr *js_strip(jarena *a, jstr *s, const char *chars, size_t nchars, bool left, bool right) {
    size_t lo = 0, hi = s->len;
    if (left) {
        while (lo < hi) {
            size_t j = lo;
            uint32_t c = next_cp(s->s, hi, &j);
            if (!in_set(c, chars, nchars)) break;
            lo = j;
        }
    }
    if (right) {
        while (hi > lo) {
            size_t j = hi - 1;
            while (j > lo && ((unsigned char)s->s[j] & 0xC0) == 0x80) j--;
            size_t k = j;
            uint32_t c = next_cp(s->s, hi, &k);
            if (!in_set(c, chars, nchars)) break;
            hi = j;
        }
    }
    if (lo == 0 && hi == s->len) return s;
    return js_new(a, s->s + lo, hi - lo);
}

static jv strip_call(jrender *r, jstr *s, jargs *a, bool left, bool right) {
    jv c = argd(a, 0, "chars", jv_none());
    if (c.t == JV_NONE) return jv_strv(js_strip(jr_arena(r), s, NULL, 0, left, right));
    jstr *cs = need_str(r, c, "strip argument");
    return jv_strv(js_strip(jr_arena(r), s, cs->s, cs->len, left, right));
}

static jv make_list(jrender *r, jv *items, size_t n) {
    jr_step(r, n);
    jlist *l = jl_new(jr_arena(r), n);
    if (n) memcpy(l->items, items, n * sizeof(jv));
    return jv_listv(l);
}

typedef struct jvvec {
    jv *v;
    size_t n, cap;
} jvvec;

static void vv_push(jrender *r, jvvec *v, jv x) {
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 8;
        jv *n = ja_alloc(jr_arena(r), cap * sizeof *n);
        if (v->n) memcpy(n, v->v, v->n * sizeof *n);
        v->v = n;
        v->cap = cap;
    }
    v->v[v->n++] = x;
    jr_step(r, 1);
}

static jv split(jrender *r, jstr *s, jargs *a, bool from_right) {
    jv sepv = argd(a, 0, "sep", jv_none());
    int64_t maxsplit = need_int(r, argd(a, 1, "maxsplit", jv_int(-1)), "maxsplit");
    jarena *ar = jr_arena(r);
    jvvec out = {0};
    if (sepv.t == JV_NONE) {
        /* runs of whitespace; leading/trailing ignored */
        if (from_right) {
            size_t hi = s->len;
            while (hi > 0) {
                size_t w;
                while (hi > 0 && (w = uws_before(s->s, s->s + hi)) != 0) hi -= w;
                if (hi == 0) break;
                size_t lo = hi;
                if (maxsplit >= 0 && (int64_t)out.n >= maxsplit) lo = 0;
                else while (lo > 0 && uws_before(s->s, s->s + lo) == 0) lo--;
                vv_push(r, &out, jv_str(ar, s->s + lo, hi - lo));
                hi = lo;
            }
            for (size_t i = 0; i < out.n / 2; i++) {
                jv t = out.v[i];
                out.v[i] = out.v[out.n - 1 - i];
                out.v[out.n - 1 - i] = t;
            }
            jv res = make_list(r, out.v, out.n);
            /* a maxsplit remainder keeps its inner text but not its leading whitespace */
            if (out.n) {
                jstr *first = res.l->items[0].s;
                res.l->items[0] = jv_strv(js_strip(ar, first, NULL, 0, true, false));
            }
            return res;
        }
        size_t i = 0;
        while (i < s->len) {
            size_t w;
            while (i < s->len && (w = uws_at(s->s + i, s->s + s->len)) != 0) i += w;
            if (i >= s->len) break;
            if (maxsplit >= 0 && (int64_t)out.n >= maxsplit) {
                vv_push(r, &out, jv_str(ar, s->s + i, s->len - i));
                break;
            }
            size_t j = i;
            while (j < s->len && uws_at(s->s + j, s->s + s->len) == 0) j++;
            vv_push(r, &out, jv_str(ar, s->s + i, j - i));
            i = j;
        }
        return make_list(r, out.v, out.n);
    }
    jstr *sep = need_str(r, sepv, "separator");
    if (sep->len == 0) jr_fail(r, "empty separator");
    if (from_right) {
        size_t hi = s->len;
        jvvec rev = {0};
        for (;;) {
            if (maxsplit >= 0 && (int64_t)rev.n >= maxsplit) break;
            size_t k = hi;
            bool found = false;
            while (k >= sep->len) {
                if (memcmp(s->s + k - sep->len, sep->s, sep->len) == 0) { found = true; break; }
                k--;
            }
            if (!found) break;
            vv_push(r, &rev, jv_str(ar, s->s + k, hi - k));
            hi = k - sep->len;
        }
        vv_push(r, &rev, jv_str(ar, s->s, hi));
        for (size_t i = rev.n; i-- > 0;) vv_push(r, &out, rev.v[i]);
        return make_list(r, out.v, out.n);
    }
    size_t i = 0;
    for (;;) {
        const char *hit = NULL;
        if (!(maxsplit >= 0 && (int64_t)out.n >= maxsplit)) hit = memmem(s->s + i, s->len - i, sep->s, sep->len);
        if (!hit) {
            vv_push(r, &out, jv_str(ar, s->s + i, s->len - i));
            break;
        }
        size_t k = (size_t)(hit - s->s);
        vv_push(r, &out, jv_str(ar, s->s + i, k - i));
        i = k + sep->len;
    }
    return make_list(r, out.v, out.n);
}

static jv replace(jrender *r, jstr *s, jstr *old, jstr *new_, int64_t count) {
    jbuf b;
    jb_init(&b, jr_arena(r), 0);
    if (old->len == 0) {
        /* Python inserts `new` between every character (and at both ends) */
        int64_t done = 0;
        size_t i = 0;
        while (i <= s->len) {
            if (count < 0 || done < count) {
                jb_put(&b, new_->s, new_->len);
                done++;
            }
            if (i == s->len) break;
            size_t j = i + 1;
            while (j < s->len && ((unsigned char)s->s[j] & 0xC0) == 0x80) j++;
            jb_put(&b, s->s + i, j - i);
            i = j;
            jr_step(r, 1);
        }
        return jv_strv(jb_str(&b));
    }
    size_t i = 0;
    int64_t done = 0;
    while (i <= s->len) {
        const char *hit = (count < 0 || done < count) ? memmem(s->s + i, s->len - i, old->s, old->len) : NULL;
        if (!hit) break;
        size_t k = (size_t)(hit - s->s);
        jb_put(&b, s->s + i, k - i);
        jb_put(&b, new_->s, new_->len);
        i = k + old->len;
        done++;
        jr_step(r, 1);
    }
    jb_put(&b, s->s + i, s->len - i);
    return jv_strv(jb_str(&b));
}

/* Byte offset -> code point index */
static int64_t cp_index(jstr *s, size_t byte) {
    int64_t n = 0;
    for (size_t i = 0; i < byte && i < s->len; i++) n += ((unsigned char)s->s[i] & 0xC0) != 0x80;
    return n;
}

static bool affix_match(jrender *r, jstr *s, jv arg_, bool end) {
    if (arg_.t == JV_LIST && arg_.l->tuple) {
        for (size_t i = 0; i < arg_.l->n; i++) {
            if (affix_match(r, s, arg_.l->items[i], end)) return true;
        }
        return false;
    }
    jstr *p = need_str(r, arg_, end ? "endswith argument" : "startswith argument");
    if (p->len > s->len) return false;
    return memcmp(end ? s->s + s->len - p->len : s->s, p->s, p->len) == 0;
}

/* str.format(): {} {0} {name}, with !r/!s conversions; format specs are not supported. */
static jv str_format(jrender *r, jstr *s, jargs *a) {
    jbuf b;
    jb_init(&b, jr_arena(r), 0);
    size_t auto_idx = 0;
    for (size_t i = 0; i < s->len; i++) {
        char c = s->s[i];
        if (c == '{' && i + 1 < s->len && s->s[i + 1] == '{') { jb_putc(&b, '{'); i++; continue; }
        if (c == '}' && i + 1 < s->len && s->s[i + 1] == '}') { jb_putc(&b, '}'); i++; continue; }
        if (c == '}') jr_fail(r, "Single '}' encountered in format string");
        if (c != '{') { jb_putc(&b, c); continue; }
        size_t j = i + 1;
        while (j < s->len && s->s[j] != '}') j++;
        if (j >= s->len) jr_fail(r, "Single '{' encountered in format string");
        const char *f = s->s + i + 1;
        size_t fl = j - i - 1;
        char conv = 0;
        const char *bang = memchr(f, '!', fl), *colon = memchr(f, ':', fl);
        if (colon && (!bang || colon < bang)) jr_fail(r, "format specifications are not supported");
        if (bang) {
            conv = bang + 1 < f + fl ? bang[1] : 0;
            fl = (size_t)(bang - f);
        }
        jv v;
        if (fl == 0) {
            if (auto_idx >= a->npos) jr_fail(r, "Replacement index %zu out of range for positional args tuple", auto_idx);
            v = a->pos[auto_idx++];
        } else if (f[0] >= '0' && f[0] <= '9') {
            size_t k = (size_t)strtoul(f, NULL, 10);
            if (k >= a->npos) jr_fail(r, "Replacement index %zu out of range for positional args tuple", k);
            v = a->pos[k];
        } else {
            bool found = false;
            for (size_t k = 0; k < a->nkw; k++) {
                if (strlen(a->kwnames[k]) == fl && memcmp(a->kwnames[k], f, fl) == 0) {
                    v = a->kw[k];
                    found = true;
                }
            }
            if (!found) jr_fail(r, "format: no argument named '%.*s'", (int)fl, f);
        }
        if (conv == 'r') jv_write_repr(&b, v);
        else jv_write_str(&b, v);
        i = j;
    }
    return jv_strv(jb_str(&b));
}

/* printf-style "%s" % args (the format filter and the % operator): %s %r %d %i %f %% */
static jv percent_format(jrender *r, jstr *s, jargs *a) {
    jbuf b;
    jb_init(&b, jr_arena(r), 0);
    size_t k = 0;
    for (size_t i = 0; i < s->len; i++) {
        char c = s->s[i];
        if (c != '%') { jb_putc(&b, c); continue; }
        if (++i >= s->len) jr_fail(r, "incomplete format");
        char spec = s->s[i];
        if (spec == '%') { jb_putc(&b, '%'); continue; }
        if (k >= a->npos) jr_fail(r, "not enough arguments for format string");
        jv v = a->pos[k++];
        switch (spec) {
        case 's': jv_write_str(&b, v); break;
        case 'r': jv_write_repr(&b, v); break;
        case 'd':
        case 'i':
            if (v.t == JV_FLOAT) jb_printf(&b, "%lld", (long long)v.f);
            else if (v.t == JV_INT || v.t == JV_BOOL) jb_printf(&b, "%lld", (long long)(v.t == JV_INT ? v.i : v.b));
            else jr_fail(r, "%%%c format: a real number is required, not %s", spec, jv_typename(v));
            break;
        case 'f':
            if (v.t == JV_FLOAT || v.t == JV_INT || v.t == JV_BOOL) jb_printf(&b, "%f", v.t == JV_FLOAT ? v.f : (double)(v.t == JV_INT ? v.i : v.b));
            else jr_fail(r, "must be real number, not %s", jv_typename(v));
            break;
        default: jr_fail(r, "unsupported format character '%c'", spec);
        }
    }
    if (k < a->npos) jr_fail(r, "not all arguments converted during string formatting");
    return jv_strv(jb_str(&b));
}

static bool all_cp(jstr *s, bool (*pred)(uint32_t)) {
    if (s->len == 0) return false;
    for (size_t i = 0; i < s->len;) {
        if (!pred(next_cp(s->s, s->len, &i))) return false;
    }
    return true;
}

static bool cp_alnum(uint32_t c) { return cp_alpha(c) || cp_numeric(c); }

static bool cased_check(jstr *s, bool upper) {
    bool any = false;
    for (size_t i = 0; i < s->len;) {
        uint32_t c = next_cp(s->s, s->len, &i);
        if (upper ? cp_lower(c) : cp_upper(c)) return false;
        if (cp_cased(c)) any = true;
    }
    return any;
}

static jv pad(jrender *r, jstr *s, int64_t width, jstr *fill, int where) {
    int64_t n = js_ncp(s);
    if (width <= n) return jv_strv(s);
    if (width > (1 << 24)) jr_fail(r, "width too large");
    int64_t total = width - n, left = where == 0 ? total / 2 + (total & width & 1) : where < 0 ? 0 : total;
    int64_t right = total - left;
    jbuf b;
    jb_init(&b, jr_arena(r), 0);
    for (int64_t i = 0; i < left; i++) jb_put(&b, fill->s, fill->len);
    jb_put(&b, s->s, s->len);
    for (int64_t i = 0; i < right; i++) jb_put(&b, fill->s, fill->len);
    return jv_strv(jb_str(&b));
}

static const char *const STR_METHODS[] = {
    "strip", "lstrip", "rstrip", "split", "rsplit", "splitlines", "startswith", "endswith", "upper", "lower",
    "title", "capitalize", "swapcase", "casefold", "replace", "find", "rfind", "index", "rindex", "count",
    "join", "format", "isdigit", "isalpha", "isalnum", "isspace", "isupper", "islower", "isnumeric",
    "isdecimal", "zfill", "center", "ljust", "rjust", "partition", "rpartition", "removeprefix",
    "removesuffix", NULL};
static const char *const DICT_METHODS[] = {"items", "keys", "values", "get", "copy", NULL};
static const char *const LIST_METHODS[] = {"index", "count", "copy", NULL};

static bool in_names(const char *const *names, const char *name) {
    for (size_t i = 0; names[i]; i++) {
        if (strcmp(names[i], name) == 0) return true;
    }
    return false;
}

bool jmethod_exists(jv self, const char *name) {
    switch (self.t) {
    case JV_STR: return in_names(STR_METHODS, name);
    case JV_DICT: return in_names(DICT_METHODS, name);
    case JV_LIST: return in_names(LIST_METHODS, name);
    default: return false;
    }
}

static jv dict_items(jrender *r, jdict *d) {
    jarena *a = jr_arena(r);
    jlist *l = jl_new(a, d->n);
    for (size_t i = 0; i < d->n; i++) {
        jlist *t = jl_new(a, 2);
        t->tuple = true;
        t->items[0] = d->keys[i];
        t->items[1] = d->vals[i];
        l->items[i] = jv_listv(t);
    }
    jr_step(r, d->n);
    return jv_listv(l);
}

static jv find_sub(jrender *r, jstr *s, jargs *a, bool rev, bool raise) {
    jstr *sub = need_str(r, argd(a, 0, "sub", jv_none()), "substring");
    const char *hit = NULL;
    if (!rev) {
        hit = sub->len ? memmem(s->s, s->len, sub->s, sub->len) : s->s;
    } else if (sub->len <= s->len) {
        for (size_t k = s->len - sub->len + 1; k-- > 0;) {
            if (memcmp(s->s + k, sub->s, sub->len) == 0) {
                hit = s->s + k;
                break;
            }
        }
    }
    if (!hit) {
        if (raise) jr_fail(r, "substring not found");
        return jv_int(-1);
    }
    return jv_int(cp_index(s, (size_t)(hit - s->s)));
}

jv jmethod_call(jrender *r, jv self, const char *m, jargs *a) {
    jarena *ar = jr_arena(r);
#define M(s) (strcmp(m, s) == 0)
    if (self.t == JV_DICT) {
        jdict *d = self.d;
        if (M("items")) return dict_items(r, d);
        if (M("keys")) return make_list(r, d->keys, d->n);
        if (M("values")) return make_list(r, d->vals, d->n);
        if (M("copy")) {
            jdict *c = jd_new(ar, d->n);
            for (size_t i = 0; i < d->n; i++) jd_set(ar, c, d->keys[i], d->vals[i]);
            return jv_dictv(c);
        }
        if (M("get")) {
            jv key;
            if (!arg(a, 0, NULL, &key)) jr_fail(r, "get expected at least 1 argument, got 0");
            jv *v = jd_get(d, key);
            return v ? *v : argd(a, 1, NULL, jv_none());
        }
    }
    if (self.t == JV_LIST) {
        jlist *l = self.l;
        if (M("copy")) return make_list(r, l->items, l->n);
        jv x;
        if (!arg(a, 0, NULL, &x)) jr_fail(r, "%s() takes exactly one argument", m);
        if (M("count")) {
            int64_t c = 0;
            for (size_t i = 0; i < l->n; i++) c += jr_eq(r, l->items[i], x);
            return jv_int(c);
        }
        if (M("index")) {
            for (size_t i = 0; i < l->n; i++) {
                if (jr_eq(r, l->items[i], x)) return jv_int((int64_t)i);
            }
            jr_fail(r, "value is not in list");
        }
    }
    if (self.t == JV_STR) {
        jstr *s = self.s;
        if (M("strip")) return strip_call(r, s, a, true, true);
        if (M("lstrip")) return strip_call(r, s, a, true, false);
        if (M("rstrip")) return strip_call(r, s, a, false, true);
        if (M("split")) return split(r, s, a, false);
        if (M("rsplit")) return split(r, s, a, true);
        if (M("splitlines")) {
            bool keep = jv_truthy(argd(a, 0, "keepends", jv_bool(false)));
            jvvec out = {0};
            size_t i = 0, start = 0;
            while (i < s->len) {
                size_t j = i;
                uint32_t c = next_cp(s->s, s->len, &j);
                bool br = c == '\n' || c == '\r' || c == 0x0B || c == 0x0C || (c >= 0x1C && c <= 0x1E) || c == 0x85 ||
                          c == 0x2028 || c == 0x2029;
                if (br) {
                    if (c == '\r' && j < s->len && s->s[j] == '\n') j++;
                    vv_push(r, &out, jv_str(ar, s->s + start, (keep ? j : i) - start));
                    start = j;
                }
                i = j;
            }
            if (start < s->len) vv_push(r, &out, jv_str(ar, s->s + start, s->len - start));
            return make_list(r, out.v, out.n);
        }
        if (M("startswith") || M("endswith")) {
            jv p;
            if (!arg(a, 0, NULL, &p)) jr_fail(r, "%s takes at least 1 argument", m);
            return jv_bool(affix_match(r, s, p, M("endswith")));
        }
        if (M("upper")) return jv_strv(js_case(ar, s, 1));
        if (M("lower") || M("casefold")) return jv_strv(js_case(ar, s, 0));
        if (M("capitalize")) return jv_strv(js_case(ar, s, 2));
        if (M("title")) return jv_strv(js_case(ar, s, 3));
        if (M("swapcase")) return jv_strv(js_case(ar, s, 4));
        if (M("replace")) {
            jstr *o = need_str(r, argd(a, 0, "old", jv_none()), "replace argument");
            jstr *n = need_str(r, argd(a, 1, "new", jv_none()), "replace argument");
            return replace(r, s, o, n, need_int(r, argd(a, 2, "count", jv_int(-1)), "count"));
        }
        if (M("find")) return find_sub(r, s, a, false, false);
        if (M("rfind")) return find_sub(r, s, a, true, false);
        if (M("index")) return find_sub(r, s, a, false, true);
        if (M("rindex")) return find_sub(r, s, a, true, true);
        if (M("count")) {
            jstr *sub = need_str(r, argd(a, 0, NULL, jv_none()), "substring");
            if (sub->len == 0) return jv_int(js_ncp(s) + 1);
            int64_t c = 0;
            const char *p = s->s, *end = s->s + s->len;
            while ((p = memmem(p, (size_t)(end - p), sub->s, sub->len)) != NULL) {
                c++;
                p += sub->len;
            }
            return jv_int(c);
        }
        if (M("join")) {
            jv it;
            if (!arg(a, 0, NULL, &it)) jr_fail(r, "join() takes exactly one argument");
            jlist *l = jr_iterate(r, it);
            jbuf b;
            jb_init(&b, ar, 0);
            for (size_t i = 0; i < l->n; i++) {
                if (l->items[i].t != JV_STR) jr_fail(r, "sequence item %zu: expected str instance, %s found", i, jv_typename(l->items[i]));
                if (i) jb_put(&b, s->s, s->len);
                jb_put(&b, l->items[i].s->s, l->items[i].s->len);
            }
            return jv_strv(jb_str(&b));
        }
        if (M("format")) return str_format(r, s, a);
        if (M("isdigit") || M("isdecimal")) return jv_bool(all_cp(s, cp_digit));
        if (M("isnumeric")) return jv_bool(all_cp(s, cp_numeric));
        if (M("isalpha")) return jv_bool(all_cp(s, cp_alpha));
        if (M("isalnum")) return jv_bool(all_cp(s, cp_alnum));
        if (M("isspace")) return jv_bool(all_cp(s, cp_space));
        if (M("isupper")) return jv_bool(cased_check(s, true));
        if (M("islower")) return jv_bool(cased_check(s, false));
        if (M("zfill")) {
            int64_t w = need_int(r, argd(a, 0, NULL, jv_int(0)), "width");
            int64_t n = js_ncp(s);
            if (w <= n) return self;
            if (w > (1 << 24)) jr_fail(r, "width too large");
            jbuf b;
            jb_init(&b, ar, 0);
            size_t i = 0;
            if (s->len && (s->s[0] == '+' || s->s[0] == '-')) jb_putc(&b, s->s[i++]);
            for (int64_t k = 0; k < w - n; k++) jb_putc(&b, '0');
            jb_put(&b, s->s + i, s->len - i);
            return jv_strv(jb_str(&b));
        }
        if (M("center") || M("ljust") || M("rjust")) {
            int64_t w = need_int(r, argd(a, 0, "width", jv_int(0)), "width");
            jv fill = argd(a, 1, "fillchar", jv_str(ar, " ", 1));
            jstr *f = need_str(r, fill, "fill character");
            if (js_ncp(f) != 1) jr_fail(r, "The fill character must be exactly one character long");
            return pad(r, s, w, f, M("center") ? 0 : M("ljust") ? -1 : 1);
        }
        if (M("partition") || M("rpartition")) {
            jstr *sep = need_str(r, argd(a, 0, NULL, jv_none()), "separator");
            if (sep->len == 0) jr_fail(r, "empty separator");
            jlist *t = jl_new(ar, 3);
            t->tuple = true;
            const char *hit = NULL;
            if (M("partition")) hit = memmem(s->s, s->len, sep->s, sep->len);
            else if (sep->len <= s->len) {
                for (size_t k = s->len - sep->len + 1; k-- > 0;) {
                    if (memcmp(s->s + k, sep->s, sep->len) == 0) { hit = s->s + k; break; }
                }
            }
            if (!hit) {
                bool right = M("rpartition");
                t->items[0] = right ? jv_str(ar, "", 0) : self;
                t->items[1] = jv_str(ar, "", 0);
                t->items[2] = right ? self : jv_str(ar, "", 0);
            } else {
                size_t k = (size_t)(hit - s->s);
                t->items[0] = jv_str(ar, s->s, k);
                t->items[1] = jv_strv(sep);
                t->items[2] = jv_str(ar, s->s + k + sep->len, s->len - k - sep->len);
            }
            return jv_listv(t);
        }
        if (M("removeprefix") || M("removesuffix")) {
            jstr *p = need_str(r, argd(a, 0, NULL, jv_none()), "affix");
            bool suf = M("removesuffix");
            if (p->len <= s->len && memcmp(suf ? s->s + s->len - p->len : s->s, p->s, p->len) == 0) {
                return jv_str(ar, suf ? s->s : s->s + p->len, s->len - p->len);
            }
            return self;
        }
    }
#undef M
    jr_fail(r, "'%s' object has no method '%s'", jv_typename(self), m);
}

/* ---- filters ------------------------------------------------------------------------------- */

enum {
    FI_ABS, FI_ATTR, FI_BATCH, FI_CAPITALIZE, FI_CENTER, FI_COUNT, FI_D, FI_DEFAULT, FI_DICTSORT, FI_E, FI_ESCAPE,
    FI_FIRST, FI_FLOAT, FI_FORCEESCAPE, FI_FORMAT, FI_INDENT, FI_INT, FI_ITEMS, FI_JOIN, FI_LAST, FI_LENGTH,
    FI_LIST, FI_LOWER, FI_MAP, FI_MAX, FI_MIN, FI_PPRINT, FI_REJECT, FI_REJECTATTR, FI_REPLACE, FI_REVERSE,
    FI_ROUND, FI_SAFE, FI_SELECT, FI_SELECTATTR, FI_SORT, FI_STRING, FI_SUM, FI_TITLE, FI_TOJSON, FI_TRIM,
    FI_UNIQUE, FI_UPPER, FI_WORDCOUNT, FI_COUNT_
};
static const char *const FILTER_NAMES[FI_COUNT_] = {
    "abs", "attr", "batch", "capitalize", "center", "count", "d", "default", "dictsort", "e", "escape",
    "first", "float", "forceescape", "format", "indent", "int", "items", "join", "last", "length",
    "list", "lower", "map", "max", "min", "pprint", "reject", "rejectattr", "replace", "reverse",
    "round", "safe", "select", "selectattr", "sort", "string", "sum", "title", "tojson", "trim",
    "unique", "upper", "wordcount"};

int jfilter_id(const char *name) {
    for (int i = 0; i < FI_COUNT_; i++) {
        if (strcmp(FILTER_NAMES[i], name) == 0) return i;
    }
    return -1;
}

enum {
    TE_BOOLEAN, TE_CALLABLE, TE_DEFINED, TE_DIVISIBLEBY, TE_EQ, TE_EQUALTO, TE_EQSYM, TE_ESCAPED, TE_EVEN,
    TE_FALSE, TE_FILTER, TE_FLOAT, TE_GE, TE_GESYM, TE_GT, TE_GREATERTHAN, TE_GTSYM, TE_IN, TE_INTEGER,
    TE_ITERABLE, TE_LE, TE_LESYM, TE_LOWER, TE_LT, TE_LESSTHAN, TE_LTSYM, TE_MAPPING, TE_NE, TE_NESYM,
    TE_NONE, TE_NUMBER, TE_ODD, TE_SAMEAS, TE_SEQUENCE, TE_STRING, TE_TEST, TE_TRUE, TE_UNDEFINED, TE_UPPER,
    TE_COUNT_
};
static const char *const TEST_NAMES[TE_COUNT_] = {
    "boolean", "callable", "defined", "divisibleby", "eq", "equalto", "==", "escaped", "even",
    "false", "filter", "float", "ge", ">=", "gt", "greaterthan", ">", "in", "integer",
    "iterable", "le", "<=", "lower", "lt", "lessthan", "<", "mapping", "ne", "!=",
    "none", "number", "odd", "sameas", "sequence", "string", "test", "true", "undefined", "upper"};

int jtest_id(const char *name) {
    for (int i = 0; i < TE_COUNT_; i++) {
        if (strcmp(TEST_NAMES[i], name) == 0) return i;
    }
    return -1;
}

static jv to_str(jrender *r, jv v) { return jv_strv(jv_to_jstr(jr_arena(r), v)); }

/* Item lookup by a dotted attribute path ("a.b", "0"), as jinja2's make_attrgetter. */
static jv attr_path(jrender *r, jv item, jstr *path) {
    jarena *a = jr_arena(r);
    const char *p = path->s, *end = path->s + path->len;
    while (p <= end) {
        const char *dot = memchr(p, '.', (size_t)(end - p));
        size_t n = dot ? (size_t)(dot - p) : (size_t)(end - p);
        bool digits = n > 0;
        for (size_t i = 0; i < n; i++) digits &= p[i] >= '0' && p[i] <= '9';
        jv key = digits && n < 18 ? jv_int(strtoll(p, NULL, 10)) : jv_str(a, p, n);
        item = jr_getitem(r, item, key);
        if (!dot) break;
        p = dot + 1;
    }
    return item;
}

static jv html_escape(jrender *r, jv v) {
    jstr *s = jv_to_jstr(jr_arena(r), v);
    jbuf b;
    jb_init(&b, jr_arena(r), 0);
    for (size_t i = 0; i < s->len; i++) {
        switch (s->s[i]) {
        case '&': jb_puts(&b, "&amp;"); break;
        case '<': jb_puts(&b, "&lt;"); break;
        case '>': jb_puts(&b, "&gt;"); break;
        case '"': jb_puts(&b, "&#34;"); break;
        case '\'': jb_puts(&b, "&#39;"); break;
        default: jb_putc(&b, s->s[i]);
        }
    }
    return jv_strv(jb_str(&b));
}

/* Sorting: a stable merge sort with Python comparisons (errors propagate through jr_fail). */
typedef struct sort_ctx {
    jrender *r;
    bool case_sensitive;
    jstr *attr;
    bool by_value; /* dictsort */
} sort_ctx;

static jv sort_key(sort_ctx *c, jv v) {
    if (c->attr) v = attr_path(c->r, v, c->attr);
    if (!c->case_sensitive && v.t == JV_STR) v = jv_strv(js_case(jr_arena(c->r), v.s, 0));
    return v;
}

static void merge_sort(sort_ctx *c, jv *keys, jv *vals, jv *tk, jv *tv, size_t n) {
    if (n < 2) return;
    size_t h = n / 2;
    merge_sort(c, keys, vals, tk, tv, h);
    merge_sort(c, keys + h, vals + h, tk, tv, n - h);
    size_t i = 0, j = h, k = 0;
    while (i < h && j < n) {
        jr_step(c->r, 1);
        if (jr_compare(c->r, keys[j], keys[i]) < 0) { tk[k] = keys[j]; tv[k++] = vals[j++]; }
        else { tk[k] = keys[i]; tv[k++] = vals[i++]; }
    }
    while (i < h) { tk[k] = keys[i]; tv[k++] = vals[i++]; }
    while (j < n) { tk[k] = keys[j]; tv[k++] = vals[j++]; }
    memcpy(keys, tk, n * sizeof(jv));
    memcpy(vals, tv, n * sizeof(jv));
}

static jlist *sorted(jrender *r, jlist *in, sort_ctx *c, bool reverse) {
    jarena *a = jr_arena(r);
    size_t n = in->n;
    jv *keys = ja_alloc(a, (n + 1) * sizeof(jv)), *vals = ja_alloc(a, (n + 1) * sizeof(jv));
    jv *tk = ja_alloc(a, (n + 1) * sizeof(jv)), *tv = ja_alloc(a, (n + 1) * sizeof(jv));
    for (size_t i = 0; i < n; i++) {
        vals[i] = in->items[i];
        keys[i] = sort_key(c, in->items[i]);
    }
    if (reverse) {
        /* Python's reverse=True keeps equal items in order: sort the reversed list, reverse back */
        for (size_t i = 0; i < n / 2; i++) {
            jv t = keys[i]; keys[i] = keys[n - 1 - i]; keys[n - 1 - i] = t;
            t = vals[i]; vals[i] = vals[n - 1 - i]; vals[n - 1 - i] = t;
        }
    }
    merge_sort(c, keys, vals, tk, tv, n);
    jlist *out = jl_new(a, n);
    for (size_t i = 0; i < n; i++) out->items[i] = vals[reverse ? n - 1 - i : i];
    return out;
}

/* select/reject/selectattr/rejectattr: arguments after the test name go to the test. */
static jv select_items(jrender *r, jv in, jargs *a, bool by_attr, bool keep) {
    jlist *l = jr_iterate(r, in);
    size_t first = 0;
    jstr *attr = NULL;
    if (by_attr) {
        jv av;
        if (!arg(a, 0, NULL, &av)) jr_fail(r, "missing attribute name");
        attr = need_str(r, av, "attribute");
        first = 1;
    }
    int tid = -1;
    jargs targs = {0};
    if (a->npos > first) {
        jstr *tn = need_str(r, a->pos[first], "test name");
        tid = jtest_id(tn->s);
        if (tid < 0) jr_fail(r, "no test named '%s'", tn->s);
        targs.pos = a->pos + first + 1;
        targs.npos = a->npos - first - 1;
        targs.kwnames = a->kwnames;
        targs.kw = a->kw;
        targs.nkw = a->nkw;
    }
    jvvec out = {0};
    for (size_t i = 0; i < l->n; i++) {
        jv item = l->items[i], v = attr ? attr_path(r, item, attr) : item;
        bool t = tid < 0 ? jv_truthy(v) : jtest_apply(r, tid, v, &targs);
        if (t == keep) vv_push(r, &out, item);
    }
    return make_list(r, out.v, out.n);
}

static jv py_round(double x, int64_t prec) {
    if (!isfinite(x)) return jv_float(x);
    if (prec > 300) return jv_float(x);
    if (prec < -300) return jv_float(0.0 * x);
    char buf[400];
    if (prec >= 0) {
        snprintf(buf, sizeof buf, "%.*f", (int)prec, x);
        return jv_float(strtod(buf, NULL));
    }
    double p = pow(10.0, (double)-prec);
    return jv_float(nearbyint(x / p) * p);
}

static bool parse_py_int(jstr *s, int64_t base, int64_t *out) {
    size_t i = 0, n = s->len;
    while (i < n && uws_at(s->s + i, s->s + n)) i += uws_at(s->s + i, s->s + n);
    while (n > i && uws_before(s->s + i, s->s + n)) n -= uws_before(s->s + i, s->s + n);
    bool neg = false;
    if (i < n && (s->s[i] == '+' || s->s[i] == '-')) neg = s->s[i++] == '-';
    if (i >= n) return false;
    if (base == 16 && n - i > 2 && s->s[i] == '0' && (s->s[i + 1] == 'x' || s->s[i + 1] == 'X')) i += 2;
    uint64_t v = 0;
    bool any = false;
    for (; i < n; i++) {
        char c = s->s[i];
        if (c == '_' && any && i + 1 < n && s->s[i + 1] != '_') continue;
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'z' ? c - 'a' + 10 : c >= 'A' && c <= 'Z' ? c - 'A' + 10 : 99;
        if (d >= base) return false;
        if (v > (UINT64_MAX - (uint64_t)d) / (uint64_t)base) return false;
        v = v * (uint64_t)base + (uint64_t)d;
        any = true;
    }
    if (!any || v > (uint64_t)INT64_MAX) return false;
    *out = neg ? -(int64_t)v : (int64_t)v;
    return true;
}

static bool parse_py_float(jstr *s, double *out) {
    jstr *t = s;
    char buf[128];
    size_t i = 0, n = t->len;
    while (i < n && uws_at(t->s + i, t->s + n)) i += uws_at(t->s + i, t->s + n);
    while (n > i && uws_before(t->s + i, t->s + n)) n -= uws_before(t->s + i, t->s + n);
    if (n - i == 0 || n - i >= sizeof buf) return false;
    size_t k = 0;
    for (size_t j = i; j < n; j++) {
        char c = t->s[j];
        if (c == '_') continue;
        if (!((c >= '0' && c <= '9') || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-' ||
              strchr("infatyINFATY", c))) return false;
        buf[k++] = c;
    }
    buf[k] = '\0';
    if (strchr(buf, 'x') || strchr(buf, 'X')) return false;
    char *end;
    double d = strtod(buf, &end);
    if (*end || end == buf) return false;
    *out = d;
    return true;
}

static jv do_tojson(jrender *r, jv in, jargs *a) {
    jjson_opts o = {.indent = -1, .item_sep = ", ", .key_sep = ": "};
    jv ea = argd(a, 0, "ensure_ascii", jv_bool(false));
    jv ind = argd(a, 1, "indent", jv_none());
    jv seps = argd(a, 2, "separators", jv_none());
    o.sort_keys = jv_truthy(argd(a, 3, "sort_keys", jv_bool(false)));
    o.ensure_ascii = jv_truthy(ea);
    if (ind.t == JV_INT || ind.t == JV_BOOL) {
        int64_t k = ind.t == JV_INT ? ind.i : ind.b;
        if (k > 1000) jr_fail(r, "tojson indent too large");
        o.indent = k < 0 ? 0 : (int)k;
        o.item_sep = ",";
    } else if (ind.t == JV_STR) {
        o.indent_str = ind.s->s;
        o.item_sep = ",";
    } else if (ind.t != JV_NONE) {
        jr_fail(r, "tojson indent must be an integer or a string");
    }
    if (seps.t == JV_LIST && seps.l->n == 2 && seps.l->items[0].t == JV_STR && seps.l->items[1].t == JV_STR) {
        o.item_sep = seps.l->items[0].s->s;
        o.key_sep = seps.l->items[1].s->s;
    } else if (seps.t != JV_NONE) {
        jr_fail(r, "tojson separators must be a pair of strings");
    }
    jbuf b;
    jb_init(&b, jr_arena(r), 0);
    jv bad;
    if (!jv_write_json(&b, in, &o, 0, &bad)) {
        if (bad.t == JV_UNDEF) jr_fail(r, "Object of type Undefined is not JSON serializable");
        jr_fail(r, "Object of type %s is not JSON serializable", jv_typename(bad));
    }
    return jv_strv(jb_str(&b));
}

static jv do_indent(jrender *r, jv in, jargs *a) {
    jarena *ar = jr_arena(r);
    if (in.t == JV_UNDEF) jr_fail(r, "%s", in.why ? in.why : "undefined value"); /* s += "\n" fails */
    if (in.t != JV_STR) jr_fail(r, "unsupported operand type(s) for +=: '%s' and 'str'", jv_typename(in));
    jv w = argd(a, 0, "width", jv_int(4));
    bool first = jv_truthy(argd(a, 1, "first", jv_bool(false)));
    bool blank = jv_truthy(argd(a, 2, "blank", jv_bool(false)));
    jstr *ind;
    if (w.t == JV_STR) ind = w.s;
    else {
        int64_t k = need_int(r, w, "indent width");
        if (k < 0) k = 0;
        if (k > 10000) jr_fail(r, "indent width too large");
        ind = js_alloc(ar, (size_t)k);
        memset(ind->s, ' ', (size_t)k);
    }
    jstr *s = jv_to_jstr(ar, in);
    jbuf t;
    jb_init(&t, ar, 0);
    jb_put(&t, s->s, s->len);
    jb_putc(&t, '\n');
    jargs none = {0};
    jv lines = jmethod_call(r, jv_strv(jb_str(&t)), "splitlines", &none);
    jlist *l = lines.l;
    jbuf b;
    jb_init(&b, ar, 0);
    if (first) jb_put(&b, ind->s, ind->len);
    for (size_t i = 0; i < l->n; i++) {
        jstr *line = l->items[i].s;
        if (i) {
            jb_putc(&b, '\n');
            if (blank || line->len) jb_put(&b, ind->s, ind->len);
        }
        jb_put(&b, line->s, line->len);
    }
    return jv_strv(jb_str(&b));
}

jv jfilter_apply(jrender *r, int id, jv in, jargs *a) {
    jarena *ar = jr_arena(r);
    switch (id) {
    case FI_ABS:
        if (in.t == JV_INT) {
            if (in.i == INT64_MIN) jr_fail(r, "integer overflow");
            return jv_int(in.i < 0 ? -in.i : in.i);
        }
        if (in.t == JV_BOOL) return jv_int(in.b);
        if (in.t == JV_FLOAT) return jv_float(fabs(in.f));
        jr_fail(r, "bad operand type for abs(): '%s'", jv_typename(in));
    case FI_ATTR: {
        /* attributes only: a dict's keys are not its attributes */
        jstr *n = need_str(r, argd(a, 0, "name", jv_none()), "attribute name");
        if (in.t == JV_DICT && !jmethod_exists(in, n->s)) return jv_undef("'dict object' has no attribute");
        return jr_getattr(r, in, n->s, n->len);
    }
    case FI_BATCH: {
        int64_t size = need_int(r, argd(a, 0, "linecount", jv_none()), "linecount");
        if (size <= 0) jr_fail(r, "batch size must be positive");
        jv fill;
        bool has_fill = arg(a, 1, "fill_with", &fill) && fill.t != JV_NONE;
        jlist *l = jr_iterate(r, in);
        size_t nb = (l->n + (size_t)size - 1) / (size_t)size;
        jlist *out = jl_new(ar, nb);
        for (size_t b = 0; b < nb; b++) {
            size_t lo = b * (size_t)size, hi = lo + (size_t)size < l->n ? lo + (size_t)size : l->n;
            size_t cnt = has_fill ? (size_t)size : hi - lo;
            jlist *row = jl_new(ar, cnt);
            for (size_t k = 0; k < cnt; k++) row->items[k] = lo + k < hi ? l->items[lo + k] : fill;
            out->items[b] = jv_listv(row);
            jr_step(r, cnt);
        }
        return jv_listv(out);
    }
    case FI_CAPITALIZE: return jv_strv(js_case(ar, jv_to_jstr(ar, in), 2));
    case FI_CENTER: {
        int64_t w = need_int(r, argd(a, 0, "width", jv_int(80)), "width");
        return pad(r, jv_to_jstr(ar, in), w, js_new(ar, " ", 1), 0);
    }
    case FI_COUNT:
    case FI_LENGTH:
        switch (in.t) {
        case JV_UNDEF: return jv_int(0);
        case JV_STR: return jv_int(js_ncp(in.s));
        case JV_LIST: return jv_int((int64_t)in.l->n);
        case JV_DICT: return jv_int((int64_t)in.d->n);
        default: jr_fail(r, "object of type '%s' has no len()", jv_typename(in));
        }
    case FI_D:
    case FI_DEFAULT: {
        jv d = argd(a, 0, "default_value", jv_str(ar, "", 0));
        bool boolean = jv_truthy(argd(a, 1, "boolean", jv_bool(false)));
        if (in.t == JV_UNDEF || (boolean && !jv_truthy(in))) return d;
        return in;
    }
    case FI_DICTSORT: {
        if (in.t != JV_DICT) jr_fail(r, "You can only sort by either \"key\" or \"value\"");
        sort_ctx c = {.r = r, .case_sensitive = jv_truthy(argd(a, 0, "case_sensitive", jv_bool(false)))};
        jv by = argd(a, 1, "by", jv_cstr(ar, "key"));
        bool by_value = by.t == JV_STR && strcmp(by.s->s, "value") == 0;
        if (!by_value && !(by.t == JV_STR && strcmp(by.s->s, "key") == 0)) jr_fail(r, "You can only sort by either \"key\" or \"value\"");
        bool rev = jv_truthy(argd(a, 2, "reverse", jv_bool(false)));
        jlist *items = dict_items(r, in.d).l;
        c.attr = js_new(ar, by_value ? "1" : "0", 1);
        return jv_listv(sorted(r, items, &c, rev));
    }
    case FI_E:
    case FI_ESCAPE:
    case FI_FORCEESCAPE: return html_escape(r, in);
    case FI_FIRST: {
        jlist *l = jr_iterate(r, in);
        return l->n ? l->items[0] : jv_undef("No first item, sequence was empty.");
    }
    case FI_LAST: {
        if (in.t == JV_UNDEF) return jv_undef("No last item, sequence was empty.");
        jlist *l = jr_iterate(r, in);
        return l->n ? l->items[l->n - 1] : jv_undef("No last item, sequence was empty.");
    }
    case FI_FLOAT: {
        jv d = argd(a, 0, "default", jv_float(0.0));
        if (in.t == JV_FLOAT) return in;
        if (in.t == JV_INT) return jv_float((double)in.i);
        if (in.t == JV_BOOL) return jv_float(in.b);
        double f;
        if (in.t == JV_STR && parse_py_float(in.s, &f)) return jv_float(f);
        return d;
    }
    case FI_INT: {
        jv d = argd(a, 0, "default", jv_int(0));
        int64_t base = need_int(r, argd(a, 1, "base", jv_int(10)), "base");
        if (base < 2 || base > 36) jr_fail(r, "int() base must be >= 2 and <= 36");
        if (in.t == JV_INT) return in;
        if (in.t == JV_BOOL) return jv_int(in.b);
        if (in.t == JV_FLOAT) {
            if (!isfinite(in.f) || fabs(in.f) >= 9.2e18) return d;
            return jv_int((int64_t)in.f);
        }
        if (in.t == JV_STR) {
            int64_t i;
            if (parse_py_int(in.s, base, &i)) return jv_int(i);
            double f;
            if (parse_py_float(in.s, &f) && isfinite(f) && fabs(f) < 9.2e18) return jv_int((int64_t)f);
        }
        return d;
    }
    case FI_FORMAT: return percent_format(r, jv_to_jstr(ar, in), a);
    case FI_INDENT: return do_indent(r, in, a);
    case FI_ITEMS:
        if (in.t == JV_UNDEF) return make_list(r, NULL, 0);
        if (in.t != JV_DICT) jr_fail(r, "Can only get item pairs from a mapping.");
        return dict_items(r, in.d);
    case FI_JOIN: {
        jv d = argd(a, 0, "d", jv_str(ar, "", 0));
        jstr *sep = jv_to_jstr(ar, d);
        jv attr = argd(a, 1, "attribute", jv_none());
        jlist *l = jr_iterate(r, in);
        jbuf b;
        jb_init(&b, ar, 0);
        for (size_t i = 0; i < l->n; i++) {
            if (i) jb_put(&b, sep->s, sep->len);
            jv item = l->items[i];
            if (attr.t == JV_STR) item = attr_path(r, item, attr.s);
            jv_write_str(&b, item);
            jr_step(r, 1);
        }
        return jv_strv(jb_str(&b));
    }
    case FI_LIST: {
        jlist *l = jr_iterate(r, in);
        return make_list(r, l->items, l->n);
    }
    case FI_LOWER: return jv_strv(js_case(ar, jv_to_jstr(ar, in), 0));
    case FI_UPPER: return jv_strv(js_case(ar, jv_to_jstr(ar, in), 1));
    case FI_TITLE: return jv_strv(jinja_title(ar, jv_to_jstr(ar, in)));
    case FI_MAP: {
        jlist *l = jr_iterate(r, in);
        jv attr;
        jlist *out = jl_new(ar, l->n);
        if (a->npos == 0 && arg(a, 99, "attribute", &attr)) {
            jstr *path = need_str(r, attr, "attribute");
            jv dflt;
            bool has_default = arg(a, 99, "default", &dflt);
            for (size_t i = 0; i < l->n; i++) {
                jv v = attr_path(r, l->items[i], path);
                out->items[i] = v.t == JV_UNDEF && has_default ? dflt : v;
                jr_step(r, 1);
            }
            return jv_listv(out);
        }
        if (a->npos == 0) jr_fail(r, "map requires a filter name or attribute=");
        jstr *fname = need_str(r, a->pos[0], "filter name");
        int fid = jfilter_id(fname->s);
        if (fid < 0) jr_fail(r, "no filter named '%s'", fname->s);
        jargs fa = {.pos = a->pos + 1, .npos = a->npos - 1, .kwnames = a->kwnames, .kw = a->kw, .nkw = a->nkw};
        for (size_t i = 0; i < l->n; i++) {
            out->items[i] = jfilter_apply(r, fid, l->items[i], &fa);
            jr_step(r, 1);
        }
        return jv_listv(out);
    }
    case FI_MAX:
    case FI_MIN: {
        jlist *l = jr_iterate(r, in);
        if (l->n == 0) return jv_undef(id == FI_MAX ? "No aggregated item, sequence was empty." : "No aggregated item, sequence was empty.");
        sort_ctx c = {.r = r, .case_sensitive = jv_truthy(argd(a, 0, "case_sensitive", jv_bool(false)))};
        jv at = argd(a, 1, "attribute", jv_none());
        if (at.t == JV_STR) c.attr = at.s;
        size_t best = 0;
        jv bk = sort_key(&c, l->items[0]);
        for (size_t i = 1; i < l->n; i++) {
            jv k = sort_key(&c, l->items[i]);
            int cmp = jr_compare(r, k, bk);
            if (id == FI_MAX ? cmp > 0 : cmp < 0) {
                best = i;
                bk = k;
            }
        }
        return l->items[best];
    }
    case FI_PPRINT: {
        jbuf b;
        jb_init(&b, ar, 0);
        jv_write_repr(&b, in);
        return jv_strv(jb_str(&b));
    }
    case FI_SELECT: return select_items(r, in, a, false, true);
    case FI_REJECT: return select_items(r, in, a, false, false);
    case FI_SELECTATTR: return select_items(r, in, a, true, true);
    case FI_REJECTATTR: return select_items(r, in, a, true, false);
    case FI_REPLACE: {
        jstr *s = jv_to_jstr(ar, in);
        jstr *o = jv_to_jstr(ar, argd(a, 0, "old", jv_none()));
        jstr *n = jv_to_jstr(ar, argd(a, 1, "new", jv_none()));
        jv c = argd(a, 2, "count", jv_none());
        return replace(r, s, o, n, c.t == JV_NONE ? -1 : need_int(r, c, "count"));
    }
    case FI_REVERSE: {
        if (in.t == JV_STR) {
            jlist *l = jr_iterate(r, in);
            jbuf b;
            jb_init(&b, ar, 0);
            for (size_t i = l->n; i-- > 0;) jb_put(&b, l->items[i].s->s, l->items[i].s->len);
            return jv_strv(jb_str(&b));
        }
        jlist *l = jr_iterate(r, in);
        jlist *o = jl_new(ar, l->n);
        for (size_t i = 0; i < l->n; i++) o->items[i] = l->items[l->n - 1 - i];
        return jv_listv(o);
    }
    case FI_ROUND: {
        int64_t prec = need_int(r, argd(a, 0, "precision", jv_int(0)), "precision");
        jv m = argd(a, 1, "method", jv_cstr(ar, "common"));
        const char *method = m.t == JV_STR ? m.s->s : "";
        if (strcmp(method, "common") && strcmp(method, "ceil") && strcmp(method, "floor")) {
            jr_fail(r, "method must be common, ceil or floor");
        }
        if (in.t != JV_INT && in.t != JV_FLOAT && in.t != JV_BOOL) jr_fail(r, "type %s doesn't define __round__ method", jv_typename(in));
        double x = in.t == JV_FLOAT ? in.f : in.t == JV_INT ? (double)in.i : in.b;
        if (!strcmp(method, "common")) {
            if (in.t != JV_FLOAT) {
                if (prec >= 0) return jv_int(in.t == JV_INT ? in.i : in.b);
                return jv_int((int64_t)py_round(x, prec).f);
            }
            return py_round(x, prec);
        }
        double p = pow(10.0, (double)prec);
        return jv_float((!strcmp(method, "ceil") ? ceil(x * p) : floor(x * p)) / p);
    }
    case FI_SAFE: return to_str(r, in); /* Markup(value): a string */
    case FI_SORT: {
        bool rev = jv_truthy(argd(a, 0, "reverse", jv_bool(false)));
        sort_ctx c = {.r = r, .case_sensitive = jv_truthy(argd(a, 1, "case_sensitive", jv_bool(false)))};
        jv at = argd(a, 2, "attribute", jv_none());
        if (at.t == JV_STR) c.attr = at.s;
        return jv_listv(sorted(r, jr_iterate(r, in), &c, rev));
    }
    case FI_STRING: return to_str(r, in);
    case FI_SUM: {
        jv at = argd(a, 0, "attribute", jv_none());
        jv acc = argd(a, 1, "start", jv_int(0));
        jlist *l = jr_iterate(r, in);
        for (size_t i = 0; i < l->n; i++) {
            jv v = l->items[i];
            if (at.t == JV_STR) v = attr_path(r, v, at.s);
            acc = jr_add(r, acc, v);
        }
        return acc;
    }
    case FI_TOJSON: return do_tojson(r, in, a);
    case FI_TRIM: {
        jstr *s = jv_to_jstr(ar, in);
        jv c = argd(a, 0, "chars", jv_none());
        if (c.t == JV_NONE) return jv_strv(js_strip(ar, s, NULL, 0, true, true));
        jstr *cs = need_str(r, c, "trim characters");
        return jv_strv(js_strip(ar, s, cs->s, cs->len, true, true));
    }
    case FI_UNIQUE: {
        jlist *l = jr_iterate(r, in);
        sort_ctx c = {.r = r, .case_sensitive = jv_truthy(argd(a, 0, "case_sensitive", jv_bool(false)))};
        jv at = argd(a, 1, "attribute", jv_none());
        if (at.t == JV_STR) c.attr = at.s;
        jvvec keys = {0}, out = {0};
        for (size_t i = 0; i < l->n; i++) {
            jv k = sort_key(&c, l->items[i]);
            bool seen = false;
            for (size_t j = 0; j < keys.n && !seen; j++) seen = jr_eq(r, keys.v[j], k);
            jr_step(r, keys.n);
            if (!seen) {
                vv_push(r, &keys, k);
                vv_push(r, &out, l->items[i]);
            }
        }
        return make_list(r, out.v, out.n);
    }
    case FI_WORDCOUNT: {
        jstr *s = jv_to_jstr(ar, in);
        int64_t n = 0;
        bool inword = false;
        for (size_t i = 0; i < s->len;) {
            bool w = cp_word(next_cp(s->s, s->len, &i));
            if (w && !inword) n++;
            inword = w;
        }
        return jv_int(n);
    }
    default: jr_fail(r, "unknown filter");
    }
}

/* ---- tests --------------------------------------------------------------------------------- */

static jv test_arg(jrender *r, jargs *a, const char *name) {
    jv v;
    if (!arg(a, 0, NULL, &v)) jr_fail(r, "test '%s' needs an argument", name);
    return v;
}

bool jtest_apply(jrender *r, int id, jv in, jargs *a) {
    bool one_arg = id == TE_DIVISIBLEBY || id == TE_EQ || id == TE_EQUALTO || id == TE_EQSYM || id == TE_NE ||
                   id == TE_NESYM || id == TE_LT || id == TE_LESSTHAN || id == TE_LTSYM || id == TE_LE ||
                   id == TE_LESYM || id == TE_GT || id == TE_GREATERTHAN || id == TE_GTSYM || id == TE_GE ||
                   id == TE_GESYM || id == TE_IN || id == TE_SAMEAS;
    if (a->npos + a->nkw > (one_arg ? 1u : 0u)) {
        jr_fail(r, "test_%s() takes %d positional argument%s but %zu were given", TEST_NAMES[id], one_arg ? 2 : 1,
                one_arg ? "s" : "", a->npos + a->nkw + 1);
    }
    switch (id) {
    case TE_BOOLEAN: return in.t == JV_BOOL;
    case TE_CALLABLE: /* an Undefined has __call__ (which raises), so it counts as callable */
        return in.t == JV_MACRO || in.t == JV_FUNC || in.t == JV_METHOD || in.t == JV_LOOP || in.t == JV_UNDEF;
    case TE_DEFINED: return in.t != JV_UNDEF;
    case TE_UNDEFINED: return in.t == JV_UNDEF;
    case TE_DIVISIBLEBY: {
        jv d = test_arg(r, a, "divisibleby");
        if ((in.t == JV_INT || in.t == JV_BOOL) && (d.t == JV_INT || d.t == JV_BOOL)) {
            int64_t x = in.t == JV_INT ? in.i : in.b, y = d.t == JV_INT ? d.i : d.b;
            if (y == 0) jr_fail(r, "integer division or modulo by zero");
            if (y == -1) return true;
            return x % y == 0;
        }
        if ((in.t == JV_INT || in.t == JV_FLOAT || in.t == JV_BOOL) && (d.t == JV_INT || d.t == JV_FLOAT || d.t == JV_BOOL)) {
            double x = in.t == JV_FLOAT ? in.f : in.t == JV_INT ? (double)in.i : in.b;
            double y = d.t == JV_FLOAT ? d.f : d.t == JV_INT ? (double)d.i : d.b;
            if (y == 0) jr_fail(r, "float modulo");
            return fmod(x, y) == 0;
        }
        if (in.t == JV_UNDEF) jr_fail(r, "%s", in.why ? in.why : "undefined value");
        jr_fail(r, "unsupported operand type(s) for %%: '%s' and '%s'", jv_typename(in), jv_typename(d));
    }
    case TE_EQ:
    case TE_EQUALTO:
    case TE_EQSYM: return jr_eq(r, in, test_arg(r, a, "eq"));
    case TE_NE:
    case TE_NESYM: return !jr_eq(r, in, test_arg(r, a, "ne"));
    case TE_LT:
    case TE_LESSTHAN:
    case TE_LTSYM: return jr_compare(r, in, test_arg(r, a, "lt")) < 0;
    case TE_LE:
    case TE_LESYM: return jr_compare(r, in, test_arg(r, a, "le")) <= 0;
    case TE_GT:
    case TE_GREATERTHAN:
    case TE_GTSYM: return jr_compare(r, in, test_arg(r, a, "gt")) > 0;
    case TE_GE:
    case TE_GESYM: return jr_compare(r, in, test_arg(r, a, "ge")) >= 0;
    case TE_ESCAPED: return false;
    case TE_EVEN:
    case TE_ODD: {
        if (in.t == JV_UNDEF) jr_fail(r, "%s", in.why ? in.why : "undefined value");
        bool even;
        if (in.t == JV_INT || in.t == JV_BOOL) even = ((in.t == JV_INT ? in.i : in.b) & 1) == 0;
        else if (in.t == JV_FLOAT) even = fmod(in.f, 2.0) == 0;
        else jr_fail(r, "unsupported operand type(s) for %%: '%s' and 'int'", jv_typename(in));
        return id == TE_EVEN ? even : !even;
    }
    case TE_FALSE: return in.t == JV_BOOL && !in.b;
    case TE_TRUE: return in.t == JV_BOOL && in.b;
    case TE_FILTER: return in.t == JV_STR && jfilter_id(in.s->s) >= 0;
    case TE_TEST: return in.t == JV_STR && jtest_id(in.s->s) >= 0;
    case TE_FLOAT: return in.t == JV_FLOAT;
    case TE_INTEGER: return in.t == JV_INT;
    case TE_NUMBER: return in.t == JV_INT || in.t == JV_FLOAT || in.t == JV_BOOL;
    case TE_IN: {
        jv c = test_arg(r, a, "in");
        switch (c.t) {
        case JV_UNDEF: return false;
        case JV_STR:
            if (in.t != JV_STR) jr_fail(r, "'in <string>' requires string as left operand, not %s", jv_typename(in));
            return in.s->len == 0 || memmem(c.s->s, c.s->len, in.s->s, in.s->len) != NULL;
        case JV_LIST:
            for (size_t i = 0; i < c.l->n; i++) {
                if (jr_eq(r, c.l->items[i], in)) return true;
            }
            return false;
        case JV_DICT: return jd_get(c.d, in) != NULL;
        default: jr_fail(r, "argument of type '%s' is not iterable", jv_typename(c));
        }
    }
    case TE_ITERABLE: return in.t == JV_STR || in.t == JV_LIST || in.t == JV_DICT || in.t == JV_UNDEF || in.t == JV_LOOP;
    case TE_SEQUENCE: return in.t == JV_STR || in.t == JV_LIST || in.t == JV_DICT;
    case TE_MAPPING: return in.t == JV_DICT;
    case TE_LOWER: return in.t == JV_STR && cased_check(in.s, false);
    case TE_UPPER: return in.t == JV_STR && cased_check(in.s, true);
    case TE_NONE: return in.t == JV_NONE;
    case TE_STRING: return in.t == JV_STR;
    case TE_SAMEAS: {
        jv o = test_arg(r, a, "sameas");
        if (in.t != o.t) return false;
        switch (in.t) {
        case JV_NONE:
        case JV_UNDEF: return true;
        case JV_BOOL: return in.b == o.b;
        case JV_INT: return in.i == o.i && in.i >= -5 && in.i <= 256;
        case JV_STR: return in.s == o.s;
        case JV_LIST: return in.l == o.l;
        case JV_DICT:
        case JV_NS: return in.d == o.d;
        default: return jr_eq(r, in, o);
        }
    }
    default: jr_fail(r, "unknown test");
    }
}
