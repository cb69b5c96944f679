/* The renderer: walks the syntax tree with Python/jinja2 semantics.
 *
 * Scoping follows jinja2: the template has one top-level frame; each for-loop iteration, macro
 * call and with-block gets a fresh frame whose parent is the frame it appears in, so a `set`
 * inside a loop body is gone in the next iteration and after the loop; `if` has no frame of its
 * own. Only namespace() objects carry state out of a loop. Lookup goes through the frames, then
 * the render context, then the global functions. */
#include "chat/jinja.h"
#include "owl/chat.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct frame frame;
struct frame {
    frame *parent;
    size_t n, cap;
    const char **names;
    jv *vals;
};

struct jloop {
    jlist *items;
    size_t i;
    int depth;
    jv last_changed;
    bool changed_seen;
    const jnode *fornode; /* for loop(...) in recursive loops */
    frame *scope;
};

struct jmacro {
    const jnode *def; /* N_MACRO or N_CALLBLOCK: parameters and body */
    frame *scope;
    const char *name;
    jmacro *caller; /* the caller() this invocation binds */
};

enum { F_RANGE, F_NAMESPACE, F_DICT, F_RAISE, F_STRFTIME, F_COUNT };
static const char *const FUNC_NAMES[F_COUNT] = {"range", "namespace", "dict", "raise_exception", "strftime_now"};

struct jrender {
    jarena a;
    jfail fail;
    jbuf *out;
    frame *frame;
    jdict *ctx;
    uint64_t steps, max_steps;
    int depth, max_depth;
    jv blockval;
    int ctl; /* 1 break, 2 continue */
    jmacro *pending_caller;
    const owl_template_opts *opts;
};

jarena *jr_arena(jrender *r) { return &r->a; }

void jr_fail(jrender *r, const char *fmt, ...) {
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (r->fail.line > 0) jfailf(&r->fail, "line %d: %s", r->fail.line, msg);
    jfailf(&r->fail, "%s", msg);
}

_Noreturn static void fail_undef(jrender *r, jv u) {
    jr_fail(r, "%s", u.why ? u.why : "undefined value");
}

void jr_step(jrender *r, size_t n) {
    r->steps += n;
    if (r->steps > r->max_steps) {
        jr_fail(r, "template evaluation exceeds %llu steps", (unsigned long long)r->max_steps);
    }
}

bool jr_eq(jrender *r, jv a, jv b) {
    int64_t budget = (int64_t)(r->max_steps - (r->steps < r->max_steps ? r->steps : r->max_steps));
    int64_t start = budget;
    bool eq = jv_eq_budget(a, b, &budget);
    jr_step(r, (size_t)(start - (budget < 0 ? -1 : budget)));
    return eq;
}

static const char *fmt_why(jrender *r, const char *fmt, const char *a, size_t an) {
    char tmp[256];
    snprintf(tmp, sizeof tmp, fmt, (int)(an > 100 ? 100 : an), a);
    return js_new(&r->a, tmp, strlen(tmp))->s;
}

/* ---- frames -------------------------------------------------------------------------------- */

static frame *frame_new(jrender *r, frame *parent) {
    frame *f = ja_alloc(&r->a, sizeof *f);
    memset(f, 0, sizeof *f);
    f->parent = parent;
    return f;
}

static void frame_set(jrender *r, frame *f, const char *name, jv v) {
    for (size_t i = 0; i < f->n; i++) {
        if (strcmp(f->names[i], name) == 0) {
            f->vals[i] = v;
            return;
        }
    }
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 8;
        const char **nn = ja_alloc(&r->a, cap * sizeof *nn);
        jv *nv = ja_alloc(&r->a, cap * sizeof *nv);
        if (f->n) {
            memcpy(nn, f->names, f->n * sizeof *nn);
            memcpy(nv, f->vals, f->n * sizeof *nv);
        }
        f->names = nn;
        f->vals = nv;
        f->cap = cap;
    }
    f->names[f->n] = name;
    f->vals[f->n++] = v;
}

static jv lookup(jrender *r, const char *name) {
    for (frame *f = r->frame; f; f = f->parent) {
        for (size_t i = f->n; i-- > 0;) {
            if (strcmp(f->names[i], name) == 0) return f->vals[i];
        }
    }
    size_t n = strlen(name);
    if (r->ctx) {
        jv *v = jd_getn(r->ctx, name, n);
        if (v) return *v;
    }
    for (int i = 0; i < F_COUNT; i++) {
        if (strcmp(FUNC_NAMES[i], name) == 0) {
            jv f = {.t = JV_FUNC};
            f.fn = i;
            return f;
        }
    }
    return jv_undef(fmt_why(r, "'%.*s' is undefined", name, n));
}

/* ---- attribute and item access ------------------------------------------------------------- */

static jv loop_attr(jrender *r, jloop *L, const char *name, size_t n, jv obj) {
    size_t len = L->items->n, i = L->i;
#define IS(s) (n == sizeof(s) - 1 && memcmp(name, s, n) == 0)
    if (IS("index")) return jv_int((int64_t)i + 1);
    if (IS("index0")) return jv_int((int64_t)i);
    if (IS("revindex")) return jv_int((int64_t)(len - i));
    if (IS("revindex0")) return jv_int((int64_t)(len - i - 1));
    if (IS("first")) return jv_bool(i == 0);
    if (IS("last")) return jv_bool(i + 1 == len);
    if (IS("length")) return jv_int((int64_t)len);
    if (IS("depth")) return jv_int(L->depth);
    if (IS("depth0")) return jv_int(L->depth - 1);
    if (IS("previtem")) return i > 0 ? L->items->items[i - 1] : jv_undef("there is no previous item");
    if (IS("nextitem")) return i + 1 < len ? L->items->items[i + 1] : jv_undef("there is no next item");
    if (IS("cycle") || IS("changed")) {
        jmethod *m = ja_alloc(&r->a, sizeof *m);
        m->self = obj;
        m->name = IS("cycle") ? "cycle" : "changed";
        jv v = {.t = JV_METHOD};
        v.meth = m;
        return v;
    }
#undef IS
    return jv_undef(fmt_why(r, "'LoopContext' object has no attribute '%.*s'", name, n));
}

jv jr_getattr(jrender *r, jv obj, const char *name, size_t n) {
    switch (obj.t) {
    case JV_UNDEF: fail_undef(r, obj);
    case JV_NONE: return jv_undef(fmt_why(r, "'None' has no attribute '%.*s'", name, n));
    case JV_NS: {
        jv *v = jd_getn(obj.d, name, n);
        return v ? *v : jv_undef(fmt_why(r, "'Namespace' object has no attribute '%.*s'", name, n));
    }
    case JV_LOOP: return loop_attr(r, obj.loop, name, n, obj);
    case JV_DICT:
    case JV_STR:
    case JV_LIST: {
        char tmp[32];
        if (n < sizeof tmp) {
            memcpy(tmp, name, n);
            tmp[n] = '\0';
            if (jmethod_exists(obj, tmp)) {
                jmethod *m = ja_alloc(&r->a, sizeof *m);
                m->self = obj;
                m->name = js_new(&r->a, name, n)->s;
                jv v = {.t = JV_METHOD};
                v.meth = m;
                return v;
            }
        }
        if (obj.t == JV_DICT) {
            jv *v = jd_getn(obj.d, name, n);
            if (v) return *v;
            return jv_undef(fmt_why(r, "'dict object' has no attribute '%.*s'", name, n));
        }
        char fmt[64];
        snprintf(fmt, sizeof fmt, "'%s object' has no attribute '%%.*s'", jv_typename(obj));
        return jv_undef(fmt_why(r, fmt, name, n));
    }
    default: {
        char fmt[64];
        snprintf(fmt, sizeof fmt, "'%s object' has no attribute '%%.*s'", jv_typename(obj));
        return jv_undef(fmt_why(r, fmt, name, n));
    }
    }
}

/* Python index normalisation: negative counts from the end; false when out of range. */
static bool norm_index(int64_t i, size_t len, size_t *out) {
    if (i < 0) i += (int64_t)len;
    if (i < 0 || (uint64_t)i >= len) return false;
    *out = (size_t)i;
    return true;
}

/* Byte offset of code point k in s (k <= ncp): a scan, counted as work. */
static size_t cp_offset(jrender *r, jstr *s, size_t k) {
    if (js_ascii(s)) return k;
    jr_step(r, k / 16);
    size_t i = 0;
    while (k > 0 && i < s->len) {
        i++;
        while (i < s->len && ((unsigned char)s->s[i] & 0xC0) == 0x80) i++;
        k--;
    }
    return i;
}

jv jr_getitem(jrender *r, jv obj, jv key) {
    if (obj.t == JV_UNDEF) fail_undef(r, obj);
    if (obj.t == JV_DICT) {
        jv *v = jd_get(obj.d, key);
        if (v) return *v;
    } else if ((obj.t == JV_LIST || obj.t == JV_STR) && (key.t == JV_INT || key.t == JV_BOOL)) {
        int64_t i = key.t == JV_INT ? key.i : key.b;
        size_t len = obj.t == JV_LIST ? obj.l->n : (size_t)js_ncp(obj.s), k;
        if (norm_index(i, len, &k)) {
            if (obj.t == JV_LIST) return obj.l->items[k];
            size_t a = cp_offset(r, obj.s, k), b = a + 1;
            while (b < obj.s->len && ((unsigned char)obj.s->s[b] & 0xC0) == 0x80) b++;
            return jv_str(&r->a, obj.s->s + a, b - a);
        }
    }
    if (key.t == JV_STR) return jr_getattr(r, obj, key.s->s, key.s->len);
    jbuf b;
    jb_init(&b, &r->a, 0);
    jb_printf(&b, "'%s object' has no element ", jv_typename(obj));
    jv_write_repr(&b, key);
    return jv_undef(jb_str(&b)->s);
}

static int64_t slice_arg(jrender *r, jv v, int64_t dflt) {
    if (v.t == JV_NONE || v.t == JV_UNDEF) return dflt;
    if (v.t == JV_INT) return v.i;
    if (v.t == JV_BOOL) return v.b;
    jr_fail(r, "slice indices must be integers or None");
}

static jv do_slice(jrender *r, jv obj, jv start, jv stop, jv stepv) {
    if (obj.t == JV_UNDEF) fail_undef(r, obj);
    /* slices bypass jinja2's forgiving getitem: Python's own errors */
    if (obj.t == JV_DICT) jr_fail(r, "unhashable type: 'slice'");
    if (obj.t != JV_LIST && obj.t != JV_STR) jr_fail(r, "'%s' object is not subscriptable", jv_typename(obj));
    int64_t step = slice_arg(r, stepv, 1);
    if (step == 0) jr_fail(r, "slice step cannot be zero");
    int64_t len = obj.t == JV_LIST ? (int64_t)obj.l->n : js_ncp(obj.s);
    int64_t lo, hi;
    if (step > 0) {
        lo = slice_arg(r, start, 0);
        hi = slice_arg(r, stop, len);
        if (lo < 0) lo = lo + len < 0 ? 0 : lo + len;
        if (lo > len) lo = len;
        if (hi < 0) hi = hi + len < 0 ? 0 : hi + len;
        if (hi > len) hi = len;
    } else {
        lo = slice_arg(r, start, len - 1);
        hi = slice_arg(r, stop, -1 - len);
        if (lo < 0) lo = lo + len < 0 ? -1 : lo + len;
        if (lo >= len) lo = len - 1;
        if (hi < 0) hi = hi + len < 0 ? -1 : hi + len;
        if (hi >= len) hi = len - 1;
    }
    size_t count = 0;
    if (step > 0 && hi > lo) count = (size_t)((hi - lo + step - 1) / step);
    if (step < 0 && lo > hi) count = (size_t)((lo - hi + (-step) - 1) / (-step));
    jr_step(r, count);
    if (obj.t == JV_LIST) {
        jlist *l = jl_new(&r->a, count);
        l->tuple = obj.l->tuple;
        for (size_t k = 0; k < count; k++) l->items[k] = obj.l->items[lo + (int64_t)k * step];
        return jv_listv(l);
    }
    jstr *s = obj.s;
    if (js_ascii(s)) {
        if (step == 1) return jv_str(&r->a, s->s + lo, count);
        jstr *o = js_alloc(&r->a, count);
        for (size_t k = 0; k < count; k++) o->s[k] = s->s[lo + (int64_t)k * step];
        o->s[count] = '\0';
        return jv_strv(o);
    }
    /* code point offsets */
    jr_step(r, s->len / 16);
    size_t *offs = ja_alloc(&r->a, ((size_t)len + 1) * sizeof *offs);
    size_t c = 0;
    for (size_t i = 0; i < s->len; i++) {
        if (((unsigned char)s->s[i] & 0xC0) != 0x80) offs[c++] = i;
    }
    offs[c] = s->len;
    jbuf b;
    jb_init(&b, &r->a, 0);
    for (size_t k = 0; k < count; k++) {
        int64_t i = lo + (int64_t)k * step;
        jb_put(&b, s->s + offs[i], offs[i + 1] - offs[i]);
    }
    return jv_strv(jb_str(&b));
}

jlist *jr_iterate(jrender *r, jv v) {
    switch (v.t) {
    case JV_LIST: return v.l;
    case JV_UNDEF: return jl_new(&r->a, 0);
    case JV_DICT: {
        jr_step(r, v.d->n);
        jlist *l = jl_new(&r->a, v.d->n);
        memcpy(l->items, v.d->keys, v.d->n * sizeof(jv));
        return l;
    }
    case JV_STR: {
        jstr *s = v.s;
        jr_step(r, s->len);
        jlist *l = jl_new(&r->a, (size_t)js_ncp(s));
        size_t k = 0;
        for (size_t i = 0; i < s->len;) {
            size_t j = i + 1;
            while (j < s->len && ((unsigned char)s->s[j] & 0xC0) == 0x80) j++;
            l->items[k++] = jv_str(&r->a, s->s + i, j - i);
            i = j;
        }
        return l;
    }
    default: jr_fail(r, "'%s' object is not iterable", jv_typename(v));
    }
}

/* ---- operators ----------------------------------------------------------------------------- */

static bool numeric(jv v) { return v.t == JV_INT || v.t == JV_FLOAT || v.t == JV_BOOL; }
static double as_f(jv v) { return v.t == JV_FLOAT ? v.f : v.t == JV_INT ? (double)v.i : (double)v.b; }
static int64_t as_i(jv v) { return v.t == JV_INT ? v.i : v.t == JV_BOOL ? v.b : 0; }

static const char *OPSYM[] = {"+", "-", "*", "/", "//", "%", "**", "==", "!=", "<", "<=", ">", ">=", "in", "not in"};

_Noreturn static void bad_operands(jrender *r, int op, jv a, jv b) {
    if (a.t == JV_UNDEF) fail_undef(r, a);
    if (b.t == JV_UNDEF) fail_undef(r, b);
    if (op == OP_ADD && (a.t == JV_STR || a.t == JV_LIST)) {
        jr_fail(r, "can only concatenate %s (not \"%s\") to %s", jv_typename(a), jv_typename(b), jv_typename(a));
    }
    jr_fail(r, "unsupported operand type(s) for %s: '%s' and '%s'", OPSYM[op], jv_typename(a), jv_typename(b));
}

static jv repeat(jrender *r, jv seq, int64_t times) {
    if (times < 0) times = 0;
    /* an empty sequence stays empty however many times it is repeated */
    if ((seq.t == JV_STR && seq.s->len == 0) || (seq.t == JV_LIST && seq.l->n == 0)) times = 0;
    if (seq.t == JV_STR) {
        size_t n = seq.s->len;
        if (n && (uint64_t)times > (r->a.limit ? r->a.limit : SIZE_MAX) / n) {
            jr_fail(r, "string repetition too large");
        }
        jstr *s = js_alloc(&r->a, n * (size_t)times);
        for (int64_t i = 0; i < times; i++) memcpy(s->s + (size_t)i * n, seq.s->s, n);
        s->s[n * (size_t)times] = '\0';
        return jv_strv(s);
    }
    size_t n = seq.l->n;
    if (n && (uint64_t)times > ((size_t)1 << 24) / n) jr_fail(r, "list repetition too large");
    jr_step(r, n * (size_t)times);
    jlist *l = jl_new(&r->a, n * (size_t)times);
    l->tuple = seq.l->tuple;
    for (int64_t i = 0; i < times; i++) memcpy(l->items + (size_t)i * n, seq.l->items, n * sizeof(jv));
    return jv_listv(l);
}

jv jr_add(jrender *r, jv a, jv b) {
    if (numeric(a) && numeric(b)) {
        if (a.t != JV_FLOAT && b.t != JV_FLOAT) {
            int64_t x;
            if (__builtin_add_overflow(as_i(a), as_i(b), &x)) jr_fail(r, "integer overflow");
            return jv_int(x);
        }
        return jv_float(as_f(a) + as_f(b));
    }
    if (a.t == JV_STR && b.t == JV_STR) {
        jstr *s = js_alloc(&r->a, a.s->len + b.s->len);
        memcpy(s->s, a.s->s, a.s->len);
        memcpy(s->s + a.s->len, b.s->s, b.s->len);
        s->s[a.s->len + b.s->len] = '\0';
        return jv_strv(s);
    }
    if (a.t == JV_LIST && b.t == JV_LIST && a.l->tuple == b.l->tuple) {
        jlist *l = jl_new(&r->a, a.l->n + b.l->n);
        l->tuple = a.l->tuple;
        memcpy(l->items, a.l->items, a.l->n * sizeof(jv));
        memcpy(l->items + a.l->n, b.l->items, b.l->n * sizeof(jv));
        return jv_listv(l);
    }
    bad_operands(r, OP_ADD, a, b);
}

static double py_fmod(double x, double y) {
    double m = fmod(x, y);
    if (m != 0 && ((m < 0) != (y < 0))) m += y;
    return m;
}

static jv binop(jrender *r, int op, jv a, jv b) {
    if (op == OP_ADD) return jr_add(r, a, b);
    if (op == OP_MUL) {
        if ((a.t == JV_STR || a.t == JV_LIST) && (b.t == JV_INT || b.t == JV_BOOL)) return repeat(r, a, as_i(b));
        if ((b.t == JV_STR || b.t == JV_LIST) && (a.t == JV_INT || a.t == JV_BOOL)) return repeat(r, b, as_i(a));
    }
    if (op == OP_MOD && a.t == JV_STR) {
        jargs args = {0};
        if (b.t == JV_LIST && b.l->tuple) {
            args.pos = b.l->items;
            args.npos = b.l->n;
        } else {
            args.pos = &b;
            args.npos = 1;
        }
        return jfilter_apply(r, jfilter_id("format"), a, &args);
    }
    if (!numeric(a) || !numeric(b)) bad_operands(r, op, a, b);
    bool ints = a.t != JV_FLOAT && b.t != JV_FLOAT;
    int64_t x = as_i(a), y = as_i(b), z;
    double fx = as_f(a), fy = as_f(b);
    switch (op) {
    case OP_SUB:
        if (ints) {
            if (__builtin_sub_overflow(x, y, &z)) jr_fail(r, "integer overflow");
            return jv_int(z);
        }
        return jv_float(fx - fy);
    case OP_MUL:
        if (ints) {
            if (__builtin_mul_overflow(x, y, &z)) jr_fail(r, "integer overflow");
            return jv_int(z);
        }
        return jv_float(fx * fy);
    case OP_DIV:
        if (fy == 0) jr_fail(r, "division by zero");
        return jv_float(fx / fy);
    case OP_FLOORDIV:
        if (ints) {
            if (y == 0) jr_fail(r, "integer division or modulo by zero");
            if (x == INT64_MIN && y == -1) jr_fail(r, "integer overflow");
            int64_t q = x / y;
            if ((x % y != 0) && ((x < 0) != (y < 0))) q--;
            return jv_int(q);
        }
        if (fy == 0) jr_fail(r, "float floor division by zero");
        return jv_float(floor(fx / fy));
    case OP_MOD:
        if (ints) {
            if (y == 0) jr_fail(r, "integer division or modulo by zero");
            if (y == -1) return jv_int(0);
            int64_t m = x % y;
            if (m != 0 && ((m < 0) != (y < 0))) m += y;
            return jv_int(m);
        }
        if (fy == 0) jr_fail(r, "float modulo");
        return jv_float(py_fmod(fx, fy));
    case OP_POW:
        if (ints && y >= 0) {
            int64_t acc = 1, base = x;
            int64_t e = y;
            while (e > 0) {
                if (e & 1) {
                    if (__builtin_mul_overflow(acc, base, &acc)) jr_fail(r, "integer overflow");
                }
                e >>= 1;
                if (e && __builtin_mul_overflow(base, base, &base)) jr_fail(r, "integer overflow");
            }
            return jv_int(acc);
        }
        if (fx == 0 && fy < 0) jr_fail(r, "0.0 cannot be raised to a negative power");
        {
            double p = pow(fx, fy);
            if (isnan(p) && !isnan(fx) && !isnan(fy)) jr_fail(r, "complex result of a power");
            return jv_float(p);
        }
    default: bad_operands(r, op, a, b);
    }
}

int jr_compare(jrender *r, jv a, jv b) {
    if (numeric(a) && numeric(b)) {
        if (a.t != JV_FLOAT && b.t != JV_FLOAT) return (as_i(a) > as_i(b)) - (as_i(a) < as_i(b));
        double x = as_f(a), y = as_f(b);
        return (x > y) - (x < y);
    }
    if (a.t == JV_STR && b.t == JV_STR) {
        size_t n = a.s->len < b.s->len ? a.s->len : b.s->len;
        int c = memcmp(a.s->s, b.s->s, n);
        if (c) return c < 0 ? -1 : 1;
        return (a.s->len > b.s->len) - (a.s->len < b.s->len);
    }
    if (a.t == JV_LIST && b.t == JV_LIST && a.l->tuple == b.l->tuple) {
        size_t n = a.l->n < b.l->n ? a.l->n : b.l->n;
        for (size_t i = 0; i < n; i++) {
            if (jr_eq(r, a.l->items[i], b.l->items[i])) continue;
            return jr_compare(r, a.l->items[i], b.l->items[i]);
        }
        return (a.l->n > b.l->n) - (a.l->n < b.l->n);
    }
    if (a.t == JV_UNDEF) fail_undef(r, a);
    if (b.t == JV_UNDEF) fail_undef(r, b);
    jr_fail(r, "'<' not supported between instances of '%s' and '%s'", jv_typename(a), jv_typename(b));
}

static bool contains(jrender *r, jv container, jv item) {
    switch (container.t) {
    case JV_UNDEF: return false;
    case JV_STR:
        if (item.t == JV_UNDEF) fail_undef(r, item);
        if (item.t != JV_STR) jr_fail(r, "'in <string>' requires string as left operand, not %s", jv_typename(item));
        if (item.s->len == 0) return true;
        return memmem(container.s->s, container.s->len, item.s->s, item.s->len) != NULL;
    case JV_LIST:
        jr_step(r, container.l->n);
        for (size_t i = 0; i < container.l->n; i++) {
            if (jr_eq(r, container.l->items[i], item)) return true;
        }
        return false;
    case JV_DICT: return jd_get(container.d, item) != NULL;
    default: jr_fail(r, "argument of type '%s' is not iterable", jv_typename(container));
    }
}

/* ---- evaluation ---------------------------------------------------------------------------- */

static jv eval(jrender *r, const jnode *n);
static void exec(jrender *r, const jnode *n);

static void enter(jrender *r, int line) {
    if (++r->depth > r->max_depth) jr_fail(r, "template recursion deeper than %d", r->max_depth);
    r->fail.line = line;
}

static void eval_args(jrender *r, const jnode *n, jargs *a) {
    a->npos = n->n;
    a->pos = ja_alloc(&r->a, (n->n ? n->n : 1) * sizeof(jv));
    for (size_t i = 0; i < n->n; i++) a->pos[i] = eval(r, n->items[i]);
    a->nkw = n->n2;
    a->kw = ja_alloc(&r->a, (n->n2 ? n->n2 : 1) * sizeof(jv));
    a->kwnames = n->names;
    for (size_t i = 0; i < n->n2; i++) a->kw[i] = eval(r, n->items2[i]);
}

static jstr *capture(jrender *r, const jnode *body) {
    jbuf b;
    jb_init(&b, &r->a, r->opts->max_output);
    jbuf *saved = r->out;
    r->out = &b;
    exec(r, body);
    r->out = saved;
    return jb_str(&b);
}

static void assign(jrender *r, const jnode *target, jv v) {
    if (target->kind == N_NAME) {
        frame_set(r, r->frame, target->name, v);
        return;
    }
    if (target->kind == N_GETATTR) {
        jv ns = eval(r, target->a);
        if (ns.t != JV_NS) jr_fail(r, "can only set attributes on a namespace(), not on %s", jv_typename(ns));
        jd_set(&r->a, ns.d, jv_cstr(&r->a, target->name), v);
        return;
    }
    /* tuple unpacking */
    jlist *l = jr_iterate(r, v);
    if (l->n != target->n) {
        jr_fail(r, l->n > target->n ? "too many values to unpack (expected %zu)" : "not enough values to unpack (expected %zu, got %zu)",
                target->n, l->n);
    }
    for (size_t i = 0; i < target->n; i++) assign(r, target->items[i], l->items[i]);
}

static jv call_macro(jrender *r, jmacro *m, jargs *a) {
    const jnode *def = m->def;
    frame *f = frame_new(r, m->scope);
    size_t np = def->n2;
    bool *used = ja_alloc(&r->a, (a->nkw ? a->nkw : 1) * sizeof *used);
    memset(used, 0, (a->nkw ? a->nkw : 1) * sizeof *used);
    frame *saved = r->frame;
    r->frame = f;
    for (size_t i = 0; i < np; i++) {
        const char *pn = def->names[i];
        jv v;
        bool have = false;
        if (i < a->npos) {
            v = a->pos[i];
            have = true;
        }
        for (size_t k = 0; k < a->nkw; k++) {
            if (strcmp(a->kwnames[k], pn) == 0) {
                if (have) jr_fail(r, "macro '%s' got multiple values for argument '%s'", m->name, pn);
                v = a->kw[k];
                used[k] = true;
                have = true;
            }
        }
        if (!have) v = def->items2[i] ? eval(r, def->items2[i]) : jv_undef(fmt_why(r, "parameter '%.*s' was not provided", pn, strlen(pn)));
        frame_set(r, f, pn, v);
    }
    jlist *varargs = jl_new(&r->a, a->npos > np ? a->npos - np : 0);
    varargs->tuple = true;
    for (size_t i = np; i < a->npos; i++) varargs->items[i - np] = a->pos[i];
    frame_set(r, f, "varargs", jv_listv(varargs));
    jdict *kwargs = jd_new(&r->a, 4);
    for (size_t k = 0; k < a->nkw; k++) {
        if (!used[k]) jd_set(&r->a, kwargs, jv_cstr(&r->a, a->kwnames[k]), a->kw[k]);
    }
    frame_set(r, f, "kwargs", jv_dictv(kwargs));
    if (m->caller) {
        jv c = {.t = JV_MACRO};
        c.m = m->caller;
        frame_set(r, f, "caller", c);
    }
    int ctl = r->ctl;
    jstr *s = capture(r, def->b);
    r->ctl = ctl;
    r->frame = saved;
    return jv_strv(s);
}

static jv call_func(jrender *r, int fn, jargs *a) {
    switch (fn) {
    case F_RANGE: {
        int64_t v[3] = {0, 0, 1};
        if (a->npos < 1 || a->npos > 3) jr_fail(r, "range expected 1 to 3 arguments, got %zu", a->npos);
        for (size_t i = 0; i < a->npos; i++) {
            if (a->pos[i].t != JV_INT && a->pos[i].t != JV_BOOL) {
                jr_fail(r, "'%s' object cannot be interpreted as an integer", jv_typename(a->pos[i]));
            }
            v[i] = as_i(a->pos[i]);
        }
        int64_t start = a->npos == 1 ? 0 : v[0], stop = a->npos == 1 ? v[0] : v[1], step = a->npos == 3 ? v[2] : 1;
        if (step == 0) jr_fail(r, "range() arg 3 must not be zero");
        double cnt = step > 0 ? ceil(((double)stop - (double)start) / (double)step) : ceil(((double)start - (double)stop) / (double)-step);
        if (cnt < 0) cnt = 0;
        if (cnt > 100000) jr_fail(r, "range too big (the limit is 100000 items)");
        jr_step(r, (size_t)cnt);
        jlist *l = jl_new(&r->a, (size_t)cnt);
        for (size_t i = 0; i < (size_t)cnt; i++) l->items[i] = jv_int(start + (int64_t)i * step);
        return jv_listv(l);
    }
    case F_NAMESPACE:
    case F_DICT: {
        jdict *d = jd_new(&r->a, a->nkw + 4);
        for (size_t i = 0; i < a->npos; i++) {
            jv p = a->pos[i];
            if (p.t == JV_DICT || p.t == JV_NS) {
                for (size_t k = 0; k < p.d->n; k++) jd_set(&r->a, d, p.d->keys[k], p.d->vals[k]);
            } else {
                jr_fail(r, "%s() takes mappings or keyword arguments", FUNC_NAMES[fn]);
            }
        }
        for (size_t k = 0; k < a->nkw; k++) jd_set(&r->a, d, jv_cstr(&r->a, a->kwnames[k]), a->kw[k]);
        jv v = {.t = fn == F_NAMESPACE ? JV_NS : JV_DICT};
        v.d = d;
        return v;
    }
    case F_RAISE: {
        jv m = a->npos ? a->pos[0] : jv_undef(NULL);
        jstr *s = jv_to_jstr(&r->a, m);
        jfailf(&r->fail, "%s", s->s);
    }
    case F_STRFTIME: {
        if (a->npos < 1 || a->pos[0].t != JV_STR) jr_fail(r, "strftime_now() needs a format string");
        struct tm tm;
        if (r->opts->fixed_time) {
            time_t t = (time_t)r->opts->time;
            gmtime_r(&t, &tm);
        } else {
            time_t t = time(NULL);
            localtime_r(&t, &tm);
        }
        char buf[1024];
        size_t n = a->pos[0].s->len ? strftime(buf, sizeof buf, a->pos[0].s->s, &tm) : 0;
        return jv_str(&r->a, buf, n);
    }
    default: jr_fail(r, "unknown function");
    }
}

static jv exec_for(jrender *r, const jnode *n, jv iterable, int depth);

jv jr_call(jrender *r, jv callee, jargs *a) {
    switch (callee.t) {
    case JV_MACRO: {
        jmacro *m = callee.m;
        if (r->pending_caller) {
            jmacro *copy = ja_alloc(&r->a, sizeof *copy);
            *copy = *m;
            copy->caller = r->pending_caller;
            r->pending_caller = NULL;
            m = copy;
        }
        return call_macro(r, m, a);
    }
    case JV_FUNC: return call_func(r, callee.fn, a);
    case JV_METHOD: {
        jmethod *m = callee.meth;
        if (m->self.t == JV_LOOP) {
            jloop *L = m->self.loop;
            if (strcmp(m->name, "cycle") == 0) {
                if (a->npos == 0) jr_fail(r, "no items for cycling given");
                return a->pos[L->i % a->npos];
            }
            /* changed(*values) */
            jlist *vals = jl_new(&r->a, a->npos);
            memcpy(vals->items, a->pos, a->npos * sizeof(jv));
            jv v = jv_listv(vals);
            if (L->changed_seen && jr_eq(r, L->last_changed, v)) return jv_bool(false);
            L->changed_seen = true;
            L->last_changed = v;
            return jv_bool(true);
        }
        return jmethod_call(r, m->self, m->name, a);
    }
    case JV_LOOP: {
        jloop *L = callee.loop;
        if (!L->fornode->op) jr_fail(r, "the loop is not recursive; use 'for ... recursive'");
        if (a->npos != 1) jr_fail(r, "loop() takes exactly one argument");
        frame *saved = r->frame;
        r->frame = L->scope;
        jbuf b;
        jb_init(&b, &r->a, r->opts->max_output);
        jbuf *so = r->out;
        r->out = &b;
        exec_for(r, L->fornode, a->pos[0], L->depth + 1);
        r->out = so;
        r->frame = saved;
        return jv_strv(jb_str(&b));
    }
    case JV_UNDEF: fail_undef(r, callee);
    default: jr_fail(r, "'%s' object is not callable", jv_typename(callee));
    }
}

static jv eval(jrender *r, const jnode *n) {
    enter(r, n->line);
    jr_step(r, 1);
    jv v;
    switch (n->kind) {
    case N_LIT: v = n->lit; break;
    case N_NAME: v = lookup(r, n->name); break;
    case N_LIST:
    case N_TUPLE: {
        jlist *l = jl_new(&r->a, n->n);
        l->tuple = n->kind == N_TUPLE;
        for (size_t i = 0; i < n->n; i++) l->items[i] = eval(r, n->items[i]);
        v = jv_listv(l);
        break;
    }
    case N_DICT: {
        jdict *d = jd_new(&r->a, n->n);
        for (size_t i = 0; i < n->n; i++) {
            jv k = eval(r, n->items[i]);
            if (k.t == JV_LIST && !k.l->tuple) jr_fail(r, "unhashable type: 'list'");
            if (k.t == JV_DICT || k.t == JV_NS) jr_fail(r, "unhashable type: 'dict'");
            jd_set(&r->a, d, k, eval(r, n->items2[i]));
        }
        v = jv_dictv(d);
        break;
    }
    case N_GETATTR: v = jr_getattr(r, eval(r, n->a), n->name, strlen(n->name)); break;
    case N_GETITEM: {
        jv obj = eval(r, n->a);
        v = jr_getitem(r, obj, eval(r, n->b));
        break;
    }
    case N_SLICE: {
        jv obj = eval(r, n->a);
        if (n->op && obj.t != JV_LIST && obj.t != JV_STR) {
            v = jv_undef("a constant that cannot be sliced");
            break;
        }
        jv s = n->b ? eval(r, n->b) : jv_none(), e = n->c ? eval(r, n->c) : jv_none(), st = n->d ? eval(r, n->d) : jv_none();
        v = do_slice(r, obj, s, e, st);
        break;
    }
    case N_CALL: {
        jmacro *caller = r->pending_caller;
        r->pending_caller = NULL;
        jv callee = eval(r, n->a);
        jargs a;
        eval_args(r, n, &a);
        r->pending_caller = caller;
        r->fail.line = n->line;
        v = jr_call(r, callee, &a);
        r->pending_caller = NULL;
        break;
    }
    case N_FILTER: {
        jv in = eval(r, n->a);
        jargs a;
        eval_args(r, n, &a);
        r->fail.line = n->line;
        v = jfilter_apply(r, n->fid, in, &a);
        break;
    }
    case N_TEST: {
        jv in = eval(r, n->a);
        jargs a;
        eval_args(r, n, &a);
        r->fail.line = n->line;
        bool t = jtest_apply(r, n->fid, in, &a);
        v = jv_bool(n->op ? !t : t);
        break;
    }
    case N_NEG:
    case N_POS: {
        jv x = eval(r, n->a);
        if (x.t == JV_UNDEF) fail_undef(r, x);
        if (x.t == JV_FLOAT) v = jv_float(n->kind == N_NEG ? -x.f : x.f);
        else if (x.t == JV_INT || x.t == JV_BOOL) {
            int64_t i = as_i(x);
            if (n->kind == N_NEG && i == INT64_MIN) jr_fail(r, "integer overflow");
            v = jv_int(n->kind == N_NEG ? -i : i);
        } else jr_fail(r, "bad operand type for unary %c: '%s'", n->kind == N_NEG ? '-' : '+', jv_typename(x));
        break;
    }
    case N_NOT: v = jv_bool(!jv_truthy(eval(r, n->a))); break;
    case N_AND: {
        jv x = eval(r, n->a);
        v = jv_truthy(x) ? eval(r, n->b) : x;
        break;
    }
    case N_OR: {
        jv x = eval(r, n->a);
        v = jv_truthy(x) ? x : eval(r, n->b);
        break;
    }
    case N_BINOP: {
        jv x = eval(r, n->a), y = eval(r, n->b);
        r->fail.line = n->line;
        v = binop(r, n->op, x, y);
        break;
    }
    case N_COMPARE: {
        jv left = eval(r, n->a);
        v = jv_bool(true);
        for (size_t i = 0; i < n->n; i++) {
            jv right = eval(r, n->items[i]);
            bool ok;
            int op = (unsigned char)n->name[i];
            switch (op) {
            case OP_EQ: ok = jr_eq(r, left, right); break;
            case OP_NE: ok = !jr_eq(r, left, right); break;
            case OP_LT: ok = jr_compare(r, left, right) < 0; break;
            case OP_LE: ok = jr_compare(r, left, right) <= 0; break;
            case OP_GT: ok = jr_compare(r, left, right) > 0; break;
            case OP_GE: ok = jr_compare(r, left, right) >= 0; break;
            case OP_IN: ok = contains(r, right, left); break;
            default: ok = !contains(r, right, left); break;
            }
            if (!ok) {
                v = jv_bool(false);
                break;
            }
            left = right;
        }
        break;
    }
    case N_COND:
        if (jv_truthy(eval(r, n->a))) v = eval(r, n->b);
        else v = n->c ? eval(r, n->c) : jv_undef("the condition of an inline if was false and there is no else");
        break;
    case N_CONCAT: {
        jbuf b;
        jb_init(&b, &r->a, 0);
        for (size_t i = 0; i < n->n; i++) jv_write_str(&b, eval(r, n->items[i]));
        v = jv_strv(jb_str(&b));
        break;
    }
    case N_BLOCKVAL: v = r->blockval; break;
    default: jr_fail(r, "internal error: bad expression node %d", n->kind);
    }
    r->depth--;
    return v;
}

static jv exec_for(jrender *r, const jnode *n, jv iterable, int depth) {
    jlist *items = jr_iterate(r, iterable);
    frame *outer = r->frame;
    if (n->c) {
        /* `for x in y if cond`: filter first, so loop.length and loop.last count kept items */
        jlist *kept = jl_new(&r->a, items->n);
        size_t k = 0;
        for (size_t i = 0; i < items->n; i++) {
            jr_step(r, 1);
            r->frame = frame_new(r, outer);
            assign(r, n->a, items->items[i]);
            if (jv_truthy(eval(r, n->c))) kept->items[k++] = items->items[i];
        }
        kept->n = k;
        items = kept;
        r->frame = outer;
    }
    jloop *L = ja_alloc(&r->a, sizeof *L);
    memset(L, 0, sizeof *L);
    L->items = items;
    L->depth = depth;
    L->fornode = n;
    L->scope = outer;
    jv loopv = {.t = JV_LOOP};
    loopv.loop = L;
    for (size_t i = 0; i < items->n; i++) {
        jr_step(r, 1);
        L->i = i;
        r->frame = frame_new(r, outer);
        assign(r, n->a, items->items[i]);
        frame_set(r, r->frame, "loop", loopv);
        exec(r, n->d);
        r->frame = outer;
        if (r->ctl == 1) {
            r->ctl = 0;
            break;
        }
        r->ctl = 0;
    }
    if (items->n == 0 && n->items2) exec(r, n->items2[0]);
    return jv_none();
}

static void exec(jrender *r, const jnode *n) {
    enter(r, n->line);
    jr_step(r, 1);
    switch (n->kind) {
    case N_BODY:
        for (size_t i = 0; i < n->n && !r->ctl; i++) exec(r, n->items[i]);
        break;
    case N_DATA: jb_put(r->out, n->lit.s->s, n->lit.s->len); break;
    case N_OUTPUT: jv_write_str(r->out, eval(r, n->a)); break;
    case N_IF:
        if (jv_truthy(eval(r, n->a))) exec(r, n->b);
        else if (n->c) exec(r, n->c);
        break;
    case N_FOR: exec_for(r, n, eval(r, n->b), 1); break;
    case N_SET: assign(r, n->a, eval(r, n->b)); break;
    case N_SETBLOCK: {
        jv v = jv_strv(capture(r, n->b));
        if (n->c) {
            jv saved = r->blockval;
            r->blockval = v;
            v = eval(r, n->c);
            r->blockval = saved;
        }
        assign(r, n->a, v);
        break;
    }
    case N_MACRO: {
        jmacro *m = ja_alloc(&r->a, sizeof *m);
        memset(m, 0, sizeof *m);
        m->def = n;
        m->scope = r->frame;
        m->name = n->name;
        jv v = {.t = JV_MACRO};
        v.m = m;
        frame_set(r, r->frame, n->name, v);
        break;
    }
    case N_CALLBLOCK: {
        jmacro *c = ja_alloc(&r->a, sizeof *c);
        memset(c, 0, sizeof *c);
        c->def = n;
        c->scope = r->frame;
        c->name = "caller";
        r->pending_caller = c;
        jv v = eval(r, n->a);
        r->pending_caller = NULL;
        jv_write_str(r->out, v);
        break;
    }
    case N_FILTERBLOCK: {
        jv saved = r->blockval;
        r->blockval = jv_strv(capture(r, n->b));
        jv v = eval(r, n->a);
        r->blockval = saved;
        jv_write_str(r->out, v);
        break;
    }
    case N_BREAK: r->ctl = 1; break;
    case N_CONTINUE: r->ctl = 2; break;
    case N_WITH: {
        frame *outer = r->frame;
        r->frame = frame_new(r, outer);
        for (size_t i = 0; i < n->n; i++) assign(r, n->items[i], eval(r, n->items2[i]));
        exec(r, n->b);
        r->frame = outer;
        break;
    }
    default: jr_fail(r, "internal error: bad statement node %d", n->kind);
    }
    r->depth--;
}

/* ---- entry points -------------------------------------------------------------------------- */

struct owl_template {
    jtemplate t;
};

owl_template *owl_template_parse(const char *src, size_t len, owl_error *err) {
    if (!src && len) {
        owl_errorf(err, "template: no source");
        return NULL;
    }
    if (!owl_utf8_valid(src ? src : "", len)) {
        owl_errorf(err, "template is not valid UTF-8");
        return NULL;
    }
    owl_template *t = calloc(1, sizeof *t);
    if (!t) {
        owl_errorf(err, "out of memory");
        return NULL;
    }
    if (jinja_parse(&t->t, src ? src : "", len, err) != 0) {
        ja_free(&t->t.arena);
        free(t);
        return NULL;
    }
    return t;
}

void owl_template_destroy(owl_template *t) {
    if (!t) return;
    ja_free(&t->t.arena);
    free(t);
}

static jv from_json(jrender *r, const json_t *j, int depth) {
    if (depth > 500) jr_fail(r, "context nested too deeply");
    switch (json_typeof(j)) {
    case JSON_OBJECT: {
        jdict *d = jd_new(&r->a, json_object_size(j));
        const char *k;
        json_t *v;
        /* jansson iterates in insertion order, which is what tojson must reproduce */
        json_object_foreach((json_t *)j, k, v) {
            /* JSON object keys are unique: appending keeps a large object linear to convert */
            jd_append(&r->a, d, jv_cstr(&r->a, k), from_json(r, v, depth + 1));
        }
        return jv_dictv(d);
    }
    case JSON_ARRAY: {
        jlist *l = jl_new(&r->a, json_array_size(j));
        for (size_t i = 0; i < l->n; i++) l->items[i] = from_json(r, json_array_get(j, i), depth + 1);
        return jv_listv(l);
    }
    case JSON_STRING: return jv_str(&r->a, json_string_value(j), json_string_length(j));
    case JSON_INTEGER: return jv_int((int64_t)json_integer_value(j));
    case JSON_REAL: return jv_float(json_real_value(j));
    case JSON_TRUE: return jv_bool(true);
    case JSON_FALSE: return jv_bool(false);
    default: return jv_none();
    }
}

/* The chat variables go straight into the render's own values: no JSON object is built and no
 * reference count of the caller's JSON is touched, so threads may share the messages. */
static jdict *chat_vars(jrender *r, const owl_chat_params *p) {
    jdict *d = jd_new(&r->a, 8);
    jd_set(&r->a, d, jv_cstr(&r->a, "messages"), from_json(r, p->messages, 0));
    jd_set(&r->a, d, jv_cstr(&r->a, "tools"), p->tools ? from_json(r, p->tools, 0) : jv_none());
    jd_set(&r->a, d, jv_cstr(&r->a, "documents"), p->documents ? from_json(r, p->documents, 0) : jv_none());
    jd_set(&r->a, d, jv_cstr(&r->a, "add_generation_prompt"), jv_bool(p->add_generation_prompt));
    jd_set(&r->a, d, jv_cstr(&r->a, "bos_token"), jv_cstr(&r->a, p->bos_token ? p->bos_token : ""));
    jd_set(&r->a, d, jv_cstr(&r->a, "eos_token"), jv_cstr(&r->a, p->eos_token ? p->eos_token : ""));
    if (p->extra) {
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)p->extra, k, v) {
            jd_set(&r->a, d, jv_cstr(&r->a, k), from_json(r, v, 1));
        }
    }
    return d;
}

int owl_template_render(const owl_template *t, const json_t *context, const owl_template_opts *opts,
                        char **out, size_t *out_len, owl_error *err) {
    if (context && !json_is_object(context)) {
        *out = NULL;
        if (out_len) *out_len = 0;
        return owl_errorf(err, "template context must be a JSON object");
    }
    return jinja_render(t, context, NULL, opts, out, out_len, err);
}

int jinja_render(const owl_template *t, const json_t *context, const owl_chat_params *chat,
                 const owl_template_opts *opts, char **out, size_t *out_len, owl_error *err) {
    *out = NULL;
    if (out_len) *out_len = 0;
    if (!t) return owl_errorf(err, "template: none given");
    owl_template_opts o = opts ? *opts : (owl_template_opts){0};
    if (!o.max_output) o.max_output = (size_t)16 << 20;
    if (!o.max_memory) o.max_memory = (size_t)256 << 20;
    if (!o.max_steps) o.max_steps = 20000000;
    if (!o.max_depth) o.max_depth = 1000;
    jrender *r = calloc(1, sizeof *r);
    if (!r) return owl_errorf(err, "out of memory");
    r->fail.err = err;
    r->opts = &o;
    r->max_steps = o.max_steps;
    r->max_depth = o.max_depth;
    ja_init(&r->a, &r->fail, o.max_memory);
    if (setjmp(r->fail.jb)) {
        ja_free(&r->a);
        free(r);
        return -1;
    }
    if (chat) {
        r->ctx = chat_vars(r, chat);
    } else if (context) {
        jv c = from_json(r, context, 0);
        r->ctx = c.d;
    }
    jbuf b;
    jb_init(&b, &r->a, o.max_output);
    r->out = &b;
    r->frame = frame_new(r, NULL);
    exec(r, t->t.root);
    char *s = malloc(b.n + 1);
    if (!s) jfailf(&r->fail, "out of memory");
    if (b.n) memcpy(s, b.p, b.n);
    s[b.n] = '\0';
    *out = s;
    if (out_len) *out_len = b.n;
    ja_free(&r->a);
    free(r);
    return 0;
}
