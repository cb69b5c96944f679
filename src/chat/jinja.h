/* Private interface of the Jinja-subset interpreter (the files of src/chat).
 *
 * Memory: everything a parse or a render creates lives in an arena (jarena) that is freed in one
 * go. Values are immutable once built (the sandbox forbids list.append and friends), so they are
 * shared freely without reference counts; only namespace() objects are mutated, in place.
 * Errors: parse and render errors unwind with longjmp to the entry point that set up the jfail;
 * since all memory is in the arena, nothing leaks on the way out. */
#ifndef OWL_CHAT_JINJA_H
#define OWL_CHAT_JINJA_H

#include "owl/chat.h"
#include "owl/common.h"

#include <setjmp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- failure and arena --------------------------------------------------------------------- */

typedef struct jfail {
    jmp_buf jb;
    owl_error *err;
    int line; /* template line being processed, 0 when unknown */
} jfail;

_Noreturn void jfailf(jfail *f, const char *fmt, ...) OWL_PRINTF(2, 3);

typedef struct jchunk jchunk;
typedef struct jarena {
    jchunk *head;
    char *cur, *end; /* free space in head */
    size_t total;    /* bytes obtained from malloc */
    size_t limit;    /* fail above this many bytes */
    jfail *fail;
} jarena;

void ja_init(jarena *a, jfail *fail, size_t limit);
void ja_free(jarena *a);
void *ja_alloc(jarena *a, size_t n); /* 16-byte aligned, never NULL (fails through a->fail) */
void *ja_dup(jarena *a, const void *p, size_t n);

/* ---- values -------------------------------------------------------------------------------- */

typedef enum jv_type {
    JV_UNDEF,
    JV_NONE,
    JV_BOOL,
    JV_INT,
    JV_FLOAT,
    JV_STR,
    JV_LIST, /* also tuples (jlist.tuple) */
    JV_DICT,
    JV_NS,     /* namespace(): a dict whose attributes can be set */
    JV_LOOP,   /* the loop variable of a for loop */
    JV_MACRO,  /* a macro or a caller() */
    JV_FUNC,   /* a global function (range, namespace, raise_exception, ...) */
    JV_METHOD, /* a bound method of a str, dict, list or loop: obj.name */
} jv_type;

typedef struct jstr {
    size_t len;
    int64_t ncp; /* code points, -1 until counted */
    char s[];    /* NUL-terminated */
} jstr;

typedef struct jv jv;
typedef struct jlist jlist;
typedef struct jdict jdict;
typedef struct jloop jloop;
typedef struct jmacro jmacro;
typedef struct jmethod jmethod;

struct jv {
    uint8_t t;
    union {
        bool b;
        int64_t i;
        double f;
        jstr *s;
        jlist *l;
        jdict *d;
        jloop *loop;
        jmacro *m;
        int fn;
        jmethod *meth;
        const char *why; /* JV_UNDEF: the error message using it would give, or NULL */
    };
};

struct jlist {
    size_t n;
    bool tuple;
    jv *items;
};

struct jdict {
    size_t n, cap;
    jv *keys;
    jv *vals;
};

struct jmethod {
    jv self;
    const char *name;
};

/* Constructors. */
static inline jv jv_undef(const char *why) { jv v = {.t = JV_UNDEF}; v.why = why; return v; }
static inline jv jv_none(void) { jv v = {.t = JV_NONE}; return v; }
static inline jv jv_bool(bool b) { jv v = {.t = JV_BOOL}; v.b = b; return v; }
static inline jv jv_int(int64_t i) { jv v = {.t = JV_INT}; v.i = i; return v; }
static inline jv jv_float(double f) { jv v = {.t = JV_FLOAT}; v.f = f; return v; }
static inline jv jv_strv(jstr *s) { jv v = {.t = JV_STR}; v.s = s; return v; }
static inline jv jv_listv(jlist *l) { jv v = {.t = JV_LIST}; v.l = l; return v; }
static inline jv jv_dictv(jdict *d) { jv v = {.t = JV_DICT}; v.d = d; return v; }

jstr *js_new(jarena *a, const char *p, size_t n);
jstr *js_alloc(jarena *a, size_t n); /* n bytes to fill in, NUL-terminated */
static inline jv jv_str(jarena *a, const char *p, size_t n) { return jv_strv(js_new(a, p, n)); }
jv jv_cstr(jarena *a, const char *p);
jlist *jl_new(jarena *a, size_t n); /* n items, zeroed (undefined) */
jdict *jd_new(jarena *a, size_t cap);
void jd_set(jarena *a, jdict *d, jv key, jv val); /* replaces in place, else appends */
void jd_append(jarena *a, jdict *d, jv key, jv val); /* key known to be new: no search */
jv *jd_get(const jdict *d, jv key);               /* NULL when missing */
jv *jd_getn(const jdict *d, const char *key, size_t n);

bool jv_truthy(jv v);
bool jv_eq(jv a, jv b);
bool jv_eq_budget(jv a, jv b, int64_t *budget);
const char *jv_typename(jv v); /* Python's name: str, int, NoneType, dict, ... */
int64_t js_ncp(jstr *s);       /* code point count */
bool js_ascii(jstr *s);

/* Unicode whitespace as Python's str.isspace(): byte length of the character at p, or 0. */
size_t uws_at(const char *p, const char *end);
/* Byte length of a whitespace character ending at end, or 0. */
size_t uws_before(const char *start, const char *end);

/* ---- growable byte buffer in an arena ------------------------------------------------------ */

typedef struct jbuf {
    char *p;
    size_t n, cap;
    size_t max; /* fail beyond this (0: no limit other than the arena's) */
    jarena *a;
} jbuf;

void jb_init(jbuf *b, jarena *a, size_t max);
void jb_put(jbuf *b, const char *p, size_t n);
static inline void jb_puts(jbuf *b, const char *s) { jb_put(b, s, __builtin_strlen(s)); }
void jb_putc(jbuf *b, char c);
void jb_printf(jbuf *b, const char *fmt, ...) OWL_PRINTF(2, 3);
jstr *jb_str(jbuf *b); /* the contents as a string (copied) */

/* Python's str() and repr() of a value, and json.dumps(ensure_ascii=False). */
void jv_write_str(jbuf *b, jv v);
void jv_write_repr(jbuf *b, jv v);
void jv_write_float(jbuf *b, double f);
typedef struct jjson_opts {
    int indent; /* -1: none */
    const char *indent_str; /* when non-NULL, used instead of `indent` spaces */
    bool sort_keys;
    bool ensure_ascii;
    const char *item_sep, *key_sep;
} jjson_opts;
/* Returns false (with *bad set to the offending value) when the value cannot be serialized. */
bool jv_write_json(jbuf *b, jv v, const jjson_opts *o, int level, jv *bad);
jstr *jv_to_jstr(jarena *a, jv v); /* str(v) */

/* ---- syntax tree --------------------------------------------------------------------------- */

typedef enum jnode_kind {
    /* expressions */
    N_LIT,
    N_NAME,
    N_LIST,
    N_TUPLE,
    N_DICT,
    N_GETATTR,
    N_GETITEM,
    N_SLICE,
    N_CALL,
    N_FILTER,
    N_TEST,
    N_NEG,
    N_POS,
    N_NOT,
    N_AND,
    N_OR,
    N_BINOP,
    N_COMPARE,
    N_COND,
    N_CONCAT,
    N_BLOCKVAL, /* the body text of a filter block / block set */
    /* statements */
    N_BODY,
    N_DATA,
    N_OUTPUT,
    N_IF,
    N_FOR,
    N_SET,
    N_SETBLOCK,
    N_MACRO,
    N_CALLBLOCK,
    N_FILTERBLOCK,
    N_BREAK,
    N_CONTINUE,
    N_WITH,
} jnode_kind;

typedef enum jop {
    OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_FLOORDIV, OP_MOD, OP_POW,
    OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE, OP_IN, OP_NOTIN,
} jop;

typedef struct jnode jnode;
struct jnode {
    uint8_t kind;
    uint8_t op;    /* jop, or a flag (negated test, recursive loop) */
    int line;
    jv lit;        /* N_LIT value; N_DATA text */
    const char *name; /* N_NAME, N_GETATTR, N_FILTER, N_TEST, N_MACRO, N_SET attr */
    jnode *a, *b, *c, *d;
    jnode **items;  /* args, list items, body statements, ... */
    size_t n;
    jnode **items2; /* keyword values, dict values, else body, ... */
    const char **names; /* keyword names, macro parameter names */
    size_t n2;
    int fid; /* resolved filter/test id */
};

typedef struct jtemplate {
    jarena arena;
    jfail fail; /* only used while parsing */
    jnode *root;
} jtemplate;

/* Parses src (valid UTF-8) into t->root; on error returns -1 with "line L, column C: ..." */
int jinja_parse(jtemplate *t, const char *src, size_t len, owl_error *err);

/* Renders with a JSON context object, or (chat != NULL) with the chat variables; see
 * owl_template_render. */
int jinja_render(const owl_template *t, const json_t *context, const owl_chat_params *chat,
                 const owl_template_opts *opts, char **out, size_t *out_len, owl_error *err);

/* ---- filters, tests, methods (filters.c) ----------------------------------------------------- */

typedef struct jrender jrender; /* the render state (eval.c) */

/* Ids for name lookups done at parse time; -1 when unknown. */
int jfilter_id(const char *name);
int jtest_id(const char *name);

typedef struct jargs {
    jv *pos;
    size_t npos;
    const char **kwnames;
    jv *kw;
    size_t nkw;
} jargs;

jv jfilter_apply(jrender *r, int id, jv in, jargs *args);
bool jtest_apply(jrender *r, int id, jv in, jargs *args);
jv jmethod_call(jrender *r, jv self, const char *name, jargs *args);
/* True when `name` is a method of that value's type (so obj.name is a bound method). */
bool jmethod_exists(jv self, const char *name);

/* Helpers from eval.c that filters use. */
jarena *jr_arena(jrender *r);
_Noreturn void jr_fail(jrender *r, const char *fmt, ...) OWL_PRINTF(2, 3);
jv jr_call(jrender *r, jv callee, jargs *args);
jv jr_getattr(jrender *r, jv obj, const char *name, size_t n);
jv jr_getitem(jrender *r, jv obj, jv key);
jlist *jr_iterate(jrender *r, jv v); /* list of items (dict keys, characters), errors on None/int */
int jr_compare(jrender *r, jv a, jv b); /* <0, 0, >0; errors on unorderable types */
jv jr_add(jrender *r, jv a, jv b);
void jr_step(jrender *r, size_t n); /* counts work; fails over the budget */
bool jr_eq(jrender *r, jv a, jv b);  /* Python ==, its work counted as steps */

/* Unicode helpers (filters.c). */
jstr *js_strip(jarena *a, jstr *s, const char *chars, size_t nchars, bool left, bool right);
jstr *js_case(jarena *a, jstr *s, int mode); /* 0 lower, 1 upper, 2 capitalize, 3 title(str), 4 swapcase */

#endif
