/* Template source -> tokens -> syntax tree, following jinja2's lexer and parser.
 *
 * Lexing reproduces jinja2 with trim_blocks and lstrip_blocks on (as transformers renders chat
 * templates): newlines are normalised to \n and one trailing newline is dropped; `{%-`/`-%}`
 * (and the same on `{{ }}` and `{# #}`) strip all whitespace on that side; lstrip_blocks removes
 * spaces and tabs before a block or comment tag that starts its line (`{%+` turns that off);
 * trim_blocks removes the first newline after a block or comment tag (`+%}` turns that off).
 * Block and variable ends are only recognised outside brackets, as in jinja2. */
#include "chat/jinja.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { T_EOF, T_DATA, T_VBEGIN, T_VEND, T_BBEGIN, T_BEND, T_NAME, T_STRING, T_INT, T_FLOAT, T_OP };

typedef struct tok {
    uint8_t t;
    int line;
    size_t off; /* byte offset into the (normalised) source, for messages */
    const char *p;
    size_t n;
    jv val; /* T_DATA / T_STRING: the text; T_INT, T_FLOAT: the number */
} tok;

typedef struct parser {
    jarena *a;
    jfail *fail;
    const char *src;
    size_t len;
    tok *toks;
    size_t ntok, cap;
    size_t pos;
    int depth;
} parser;

#define MAX_PARSE_DEPTH 120

static void where(const parser *p, size_t off, int *line, int *col) {
    int l = 1, c = 1;
    for (size_t i = 0; i < off && i < p->len; i++) {
        if (p->src[i] == '\n') { l++; c = 1; }
        else if (((unsigned char)p->src[i] & 0xC0) != 0x80) c++;
    }
    *line = l;
    *col = c;
}

_Noreturn OWL_PRINTF(3, 4) static void fail_at(parser *p, size_t off, const char *fmt, ...) {
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    int line, col;
    where(p, off, &line, &col);
    jfailf(p->fail, "template syntax error at line %d, column %d: %s", line, col, msg);
}

/* ---- lexer --------------------------------------------------------------------------------- */

static tok *push(parser *p, int t, size_t off, int line) {
    if (p->ntok == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 256;
        tok *n = ja_alloc(p->a, cap * sizeof *n);
        if (p->ntok) memcpy(n, p->toks, p->ntok * sizeof *n);
        p->toks = n;
        p->cap = cap;
    }
    tok *k = &p->toks[p->ntok++];
    memset(k, 0, sizeof *k);
    k->t = (uint8_t)t;
    k->off = off;
    k->line = line;
    k->p = p->src + off;
    return k;
}

static int count_lines(const char *s, size_t n) {
    int c = 0;
    for (size_t i = 0; i < n; i++) c += s[i] == '\n';
    return c;
}

static bool is_name0(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
static bool is_digit(char c) { return c >= '0' && c <= '9'; }
static bool is_name1(char c) { return is_name0(c) || is_digit(c); }

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static void put_cp(jbuf *b, uint32_t cp) {
    char u[4];
    jb_put(b, u, owl_utf8_encode(cp, u));
}

/* A string literal's body, decoded as Python's "unicode-escape" codec does after jinja2 has
 * backslash-escaped the non-ASCII characters. */
static jstr *decode_string(parser *p, size_t off, const char *s, size_t n) {
    jbuf b;
    jb_init(&b, p->a, 0);
    size_t i = 0;
    while (i < n) {
        char c = s[i];
        if (c != '\\') {
            size_t run = i;
            while (run < n && s[run] != '\\') run++;
            jb_put(&b, s + i, run - i);
            i = run;
            continue;
        }
        if (i + 1 >= n) fail_at(p, off, "string literal ends in a backslash");
        char e = s[i + 1];
        i += 2;
        int digits = 0;
        switch (e) {
        case '\n': break;
        case '\\': jb_putc(&b, '\\'); break;
        case '\'': jb_putc(&b, '\''); break;
        case '"': jb_putc(&b, '"'); break;
        case 'a': jb_putc(&b, '\a'); break;
        case 'b': jb_putc(&b, '\b'); break;
        case 'f': jb_putc(&b, '\f'); break;
        case 'n': jb_putc(&b, '\n'); break;
        case 'r': jb_putc(&b, '\r'); break;
        case 't': jb_putc(&b, '\t'); break;
        case 'v': jb_putc(&b, '\v'); break;
        case 'x': digits = 2; break;
        case 'u': digits = 4; break;
        case 'U': digits = 8; break;
        case '0': case '1': case '2': case '3': case '4': case '5': case '6': case '7': {
            uint32_t v = (uint32_t)(e - '0');
            for (int k = 0; k < 2 && i < n && s[i] >= '0' && s[i] <= '7'; k++) v = v * 8 + (uint32_t)(s[i++] - '0');
            put_cp(&b, v);
            break;
        }
        default:
            if ((unsigned char)e >= 0x80) {
                /* jinja2 turned the character into \xNN / \uNNNN / \UNNNNNNNN before decoding,
                 * so the escaped backslash leaves that text behind. */
                int len = owl_utf8_len((unsigned char)e);
                const unsigned char *q = (const unsigned char *)s + i - 1;
                uint32_t cp = len == 2 ? ((uint32_t)(q[0] & 0x1F) << 6) | (q[1] & 0x3F)
                            : len == 3 ? ((uint32_t)(q[0] & 0x0F) << 12) | ((uint32_t)(q[1] & 0x3F) << 6) | (q[2] & 0x3F)
                            : ((uint32_t)(q[0] & 0x07) << 18) | ((uint32_t)(q[1] & 0x3F) << 12) |
                              ((uint32_t)(q[2] & 0x3F) << 6) | (q[3] & 0x3F);
                if (cp < 0x100) jb_printf(&b, "\\x%02x", cp);
                else if (cp < 0x10000) jb_printf(&b, "\\u%04x", cp);
                else jb_printf(&b, "\\U%08x", cp);
                i += (size_t)len - 1;
            } else {
                jb_putc(&b, '\\');
                jb_putc(&b, e);
            }
        }
        if (digits) {
            uint32_t v = 0;
            for (int k = 0; k < digits; k++) {
                int h = i < n ? hexval(s[i]) : -1;
                if (h < 0) fail_at(p, off, "truncated \\%c escape in string literal", e);
                v = v * 16 + (uint32_t)h;
                i++;
            }
            if (v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) {
                fail_at(p, off, "invalid \\%c escape in string literal", e);
            }
            put_cp(&b, v);
        }
    }
    return jb_str(&b);
}

/* Lexes the expression tokens of one tag, up to and including its end delimiter. Returns the
 * offset after the end delimiter (with trailing whitespace control applied). */
static size_t lex_tag(parser *p, size_t i, int *line, bool block, bool *line_start) {
    const char *s = p->src;
    size_t n = p->len;
    int depth = 0;
    char close = block ? '%' : '}';
    size_t open_off = i;
    for (;;) {
        if (i >= n) fail_at(p, open_off, "unexpected end of template: the tag is not closed");
        /* end delimiter, only outside brackets */
        if (depth == 0) {
            size_t k = i;
            char mod = 0;
            if ((s[k] == '-' || s[k] == '+') && k + 2 < n + 0 && s[k + 1] == close && s[k + 2] == '}') {
                mod = s[k];
                k++;
            }
            if (k + 1 < n && s[k] == close && s[k + 1] == '}') {
                push(p, block ? T_BEND : T_VEND, i, *line);
                k += 2;
                if (mod == '-') {
                    size_t w;
                    while ((w = uws_at(s + k, s + n)) != 0) {
                        if (s[k] == '\n') (*line)++;
                        k += w;
                    }
                } else if (block && mod != '+' && k < n && s[k] == '\n') {
                    k++;
                    (*line)++;
                }
                *line_start = k > 0 && s[k - 1] == '\n';
                return k;
            }
        }
        size_t w = uws_at(s + i, s + n);
        if (w) {
            if (s[i] == '\n') (*line)++;
            i += w;
            continue;
        }
        char c = s[i];
        size_t start = i;
        if (is_name0(c)) {
            while (i < n && is_name1(s[i])) i++;
            tok *t = push(p, T_NAME, start, *line);
            t->n = i - start;
            continue;
        }
        if (is_digit(c)) {
            bool after_dot = p->ntok > 0 && p->toks[p->ntok - 1].t == T_OP && p->toks[p->ntok - 1].n == 1 &&
                             p->toks[p->ntok - 1].p[0] == '.';
            jbuf b;
            jb_init(&b, p->a, 0);
            bool is_float = false;
            int base = 10;
            if (c == '0' && i + 1 < n && strchr("xXoObB", s[i + 1]) && !after_dot) {
                base = s[i + 1] == 'x' || s[i + 1] == 'X' ? 16 : s[i + 1] == 'o' || s[i + 1] == 'O' ? 8 : 2;
                i += 2;
                while (i < n && (hexval(s[i]) >= 0 || s[i] == '_')) {
                    if (s[i] != '_') {
                        int h = hexval(s[i]);
                        if (h >= base) break;
                        jb_putc(&b, s[i]);
                    }
                    i++;
                }
                if (b.n == 0) fail_at(p, start, "invalid number literal");
            } else {
                while (i < n && (is_digit(s[i]) || (s[i] == '_' && i + 1 < n && is_digit(s[i + 1])))) {
                    if (s[i] != '_') jb_putc(&b, s[i]);
                    i++;
                }
                if (!after_dot && i + 1 < n && s[i] == '.' && is_digit(s[i + 1])) {
                    is_float = true;
                    jb_putc(&b, s[i++]);
                    while (i < n && (is_digit(s[i]) || (s[i] == '_' && i + 1 < n && is_digit(s[i + 1])))) {
                        if (s[i] != '_') jb_putc(&b, s[i]);
                        i++;
                    }
                }
                if (!after_dot && i < n && (s[i] == 'e' || s[i] == 'E')) {
                    size_t k = i + 1;
                    if (k < n && (s[k] == '+' || s[k] == '-')) k++;
                    if (k < n && is_digit(s[k])) {
                        is_float = true;
                        jb_putc(&b, 'e');
                        if (s[i + 1] == '-') jb_putc(&b, '-');
                        i = k;
                        while (i < n && (is_digit(s[i]) || (s[i] == '_' && i + 1 < n && is_digit(s[i + 1])))) {
                            if (s[i] != '_') jb_putc(&b, s[i]);
                            i++;
                        }
                    }
                }
            }
            jb_putc(&b, '\0');
            tok *t = push(p, is_float ? T_FLOAT : T_INT, start, *line);
            t->n = i - start;
            if (is_float) {
                t->val = jv_float(strtod(b.p, NULL));
            } else {
                errno = 0;
                unsigned long long v = strtoull(b.p, NULL, base);
                if (errno || v > (unsigned long long)INT64_MAX) fail_at(p, start, "integer literal too large");
                t->val = jv_int((int64_t)v);
            }
            continue;
        }
        if (c == '\'' || c == '"') {
            size_t k = i + 1;
            while (k < n && s[k] != c) {
                if (s[k] == '\\') k++;
                k++;
            }
            if (k >= n) fail_at(p, start, "unterminated string literal");
            tok *t = push(p, T_STRING, start, *line);
            t->n = k + 1 - start;
            t->val = jv_strv(decode_string(p, start, s + i + 1, k - i - 1));
            js_ncp(t->val.s);
            *line += count_lines(s + i, k + 1 - i);
            i = k + 1;
            continue;
        }
        /* operators, longest first */
        static const char *const ops[] = {"//", "**", "==", "!=", ">=", "<=", "+", "-", "/", "*", "%", "~", "[",
                                          "]", "(", ")", "{", "}", ">", "<", "=", ".", ":", "|", ",", ";"};
        size_t oplen = 0;
        for (size_t k = 0; k < sizeof ops / sizeof ops[0]; k++) {
            size_t l = strlen(ops[k]);
            if (i + l <= n && memcmp(s + i, ops[k], l) == 0) {
                oplen = l;
                break;
            }
        }
        if (!oplen) {
            int len = owl_utf8_len((unsigned char)c);
            fail_at(p, start, "unexpected character '%.*s'", len > 0 ? len : 1, s + i);
        }
        if (c == '(' || c == '[' || c == '{') depth++;
        else if (c == ')' || c == ']' || c == '}') {
            if (depth == 0) fail_at(p, start, "unexpected '%c'", c);
            depth--;
        }
        tok *t = push(p, T_OP, start, *line);
        t->n = oplen;
        i += oplen;
    }
}

/* Is the text s[a..b) only spaces and tabs? */
static bool only_blank(const char *s, size_t a, size_t b) {
    for (size_t i = a; i < b; i++) {
        if (s[i] != ' ' && s[i] != '\t') return false;
    }
    return true;
}

static void push_data(parser *p, size_t from, size_t to, int line) {
    if (to <= from) return;
    tok *t = push(p, T_DATA, from, line);
    t->n = to - from;
    t->val = jv_strv(js_new(p->a, p->src + from, to - from));
    js_ncp(t->val.s); /* counted now: a parsed template is never written to while rendering */
}

/* `{% raw %}` ... `{% endraw %}`: i points after "{%"; returns the end of the raw block or 0
 * when this tag is not a raw tag. */
static size_t try_raw(parser *p, size_t i, int *line, bool *line_start) {
    const char *s = p->src;
    size_t n = p->len, k = i;
    if (k < n && (s[k] == '-' || s[k] == '+')) k++;
    while (k < n && uws_at(s + k, s + n)) k += uws_at(s + k, s + n);
    if (k + 3 > n || memcmp(s + k, "raw", 3) != 0 || (k + 3 < n && is_name1(s[k + 3]))) return 0;
    k += 3;
    while (k < n && uws_at(s + k, s + n)) k += uws_at(s + k, s + n);
    bool strip_after = false;
    if (k < n && s[k] == '-') { strip_after = true; k++; }
    if (k + 2 > n || s[k] != '%' || s[k + 1] != '}') return 0;
    k += 2;
    size_t body = k;
    if (strip_after) while (k < n && uws_at(s + k, s + n)) k += uws_at(s + k, s + n), body = k;
    /* find {% endraw %} */
    for (size_t j = body; j + 1 < n; j++) {
        if (s[j] != '{' || s[j + 1] != '%') continue;
        size_t q = j + 2;
        bool strip_before = false;
        if (q < n && (s[q] == '-' || s[q] == '+')) { strip_before = s[q] == '-'; q++; }
        while (q < n && uws_at(s + q, s + n)) q += uws_at(s + q, s + n);
        if (q + 6 > n || memcmp(s + q, "endraw", 6) != 0) continue;
        q += 6;
        while (q < n && uws_at(s + q, s + n)) q += uws_at(s + q, s + n);
        char mod = 0;
        if (q < n && (s[q] == '-' || s[q] == '+')) mod = s[q++];
        if (q + 2 > n || s[q] != '%' || s[q + 1] != '}') continue;
        q += 2;
        size_t end = j;
        if (strip_before) {
            size_t w;
            while ((w = uws_before(s + body, s + end)) != 0) end -= w;
        } else if (!(s[j + 2] == '+')) {
            /* lstrip_blocks applies to the endraw tag too */
            size_t l = end;
            while (l > body && s[l - 1] != '\n') l--;
            if (l > body && only_blank(s, l, end)) end = l;
        }
        push_data(p, body, end, *line);
        *line += count_lines(s + i, q - i);
        if (mod == '-') {
            size_t w;
            while ((w = uws_at(s + q, s + n)) != 0) {
                if (s[q] == '\n') (*line)++;
                q += w;
            }
        } else if (mod != '+' && q < n && s[q] == '\n') {
            q++;
            (*line)++;
        }
        *line_start = q > 0 && s[q - 1] == '\n';
        return q;
    }
    fail_at(p, i - 2, "missing end of raw block");
}

static void lex(parser *p) {
    const char *s = p->src;
    size_t n = p->len, i = 0;
    int line = 1;
    bool line_start = true;
    while (i < n) {
        /* next tag start */
        size_t j = i;
        while (j + 1 < n && !(s[j] == '{' && (s[j + 1] == '{' || s[j + 1] == '%' || s[j + 1] == '#'))) j++;
        if (j + 1 >= n) j = n;
        size_t end = j;
        if (j < n) {
            char kind = s[j + 1];
            char mod = j + 2 < n ? s[j + 2] : 0;
            if (mod == '-') {
                size_t w;
                while ((w = uws_before(s + i, s + end)) != 0) end -= w;
            } else if (mod != '+' && kind != '{') {
                size_t l = end;
                while (l > i && s[l - 1] != '\n') l--;
                if ((l > i || line_start) && only_blank(s, l, end)) end = l;
            }
        }
        push_data(p, i, end, line);
        line += count_lines(s + i, j - i);
        if (j >= n) break;
        char kind = s[j + 1];
        size_t k = j + 2;
        if (kind == '#') {
            if (k < n && (s[k] == '-' || s[k] == '+')) k++;
            const char *e = NULL;
            for (size_t q = k; q + 1 < n; q++) {
                if (s[q] == '#' && s[q + 1] == '}') { e = s + q; break; }
            }
            if (!e) fail_at(p, j, "missing end of comment tag");
            size_t q = (size_t)(e - s);
            char emod = q > k && (s[q - 1] == '-' || s[q - 1] == '+') ? s[q - 1] : 0;
            line += count_lines(s + j, q + 2 - j);
            q += 2;
            if (emod == '-') {
                size_t w;
                while ((w = uws_at(s + q, s + n)) != 0) {
                    if (s[q] == '\n') line++;
                    q += w;
                }
            } else if (emod != '+' && q < n && s[q] == '\n') {
                q++;
                line++;
            }
            line_start = q > 0 && s[q - 1] == '\n';
            i = q;
            continue;
        }
        if (kind == '%') {
            size_t r = try_raw(p, k, &line, &line_start);
            if (r) { i = r; continue; }
        }
        if (k < n && (s[k] == '-' || s[k] == '+')) k++;
        push(p, kind == '%' ? T_BBEGIN : T_VBEGIN, j, line);
        i = lex_tag(p, k, &line, kind == '%', &line_start);
    }
    push(p, T_EOF, n, line);
}

/* ---- parser -------------------------------------------------------------------------------- */

static tok *cur(parser *p) { return &p->toks[p->pos]; }
static tok *peek(parser *p, size_t k) {
    size_t i = p->pos + k;
    return &p->toks[i < p->ntok ? i : p->ntok - 1];
}
static bool is_op(const tok *t, const char *op) {
    return t->t == T_OP && t->n == strlen(op) && memcmp(t->p, op, t->n) == 0;
}
static bool is_name(const tok *t, const char *nm) {
    return t->t == T_NAME && t->n == strlen(nm) && memcmp(t->p, nm, t->n) == 0;
}

static const char *describe(const tok *t, char *buf, size_t n) {
    switch (t->t) {
    case T_EOF: return "end of template";
    case T_DATA: return "template data";
    case T_VBEGIN: return "'{{'";
    case T_VEND: return "end of print statement";
    case T_BBEGIN: return "'{%'";
    case T_BEND: return "end of statement block";
    default: snprintf(buf, n, "'%.*s'", (int)(t->n > 40 ? 40 : t->n), t->p); return buf;
    }
}

_Noreturn static void unexpected(parser *p, const char *expected) {
    char buf[64];
    tok *t = cur(p);
    if (expected) fail_at(p, t->off, "expected %s, got %s", expected, describe(t, buf, sizeof buf));
    fail_at(p, t->off, "unexpected %s", describe(t, buf, sizeof buf));
}

static void expect_op(parser *p, const char *op) {
    if (!is_op(cur(p), op)) {
        char e[16];
        snprintf(e, sizeof e, "'%s'", op);
        unexpected(p, e);
    }
    p->pos++;
}

static const char *expect_name(parser *p) {
    tok *t = cur(p);
    if (t->t != T_NAME) unexpected(p, "a name");
    p->pos++;
    char *s = ja_alloc(p->a, t->n + 1);
    memcpy(s, t->p, t->n);
    s[t->n] = '\0';
    return s;
}

static void expect_block_end(parser *p) {
    if (cur(p)->t != T_BEND) unexpected(p, "end of statement block");
    p->pos++;
}

static jnode *mk(parser *p, int kind, int line) {
    jnode *n = ja_alloc(p->a, sizeof *n);
    memset(n, 0, sizeof *n);
    n->kind = (uint8_t)kind;
    n->line = line;
    n->fid = -1;
    return n;
}

/* A growable array of node pointers in the arena. */
typedef struct nvec {
    jnode **v;
    const char **names;
    size_t n, cap;
} nvec;

static void nv_push(parser *p, nvec *v, jnode *x, const char *name) {
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 4;
        jnode **nv = ja_alloc(p->a, cap * sizeof *nv);
        const char **nn = ja_alloc(p->a, cap * sizeof *nn);
        if (v->n) {
            memcpy(nv, v->v, v->n * sizeof *nv);
            memcpy(nn, v->names, v->n * sizeof *nn);
        }
        v->v = nv;
        v->names = nn;
        v->cap = cap;
    }
    v->names[v->n] = name;
    v->v[v->n++] = x;
}

static void enter(parser *p) {
    if (++p->depth > MAX_PARSE_DEPTH) fail_at(p, cur(p)->off, "template nesting too deep");
}
static void leave(parser *p) { p->depth--; }

static jnode *parse_expr(parser *p);
static jnode *parse_or(parser *p);
static jnode *parse_unary(parser *p, bool with_filter);
static jnode *parse_primary(parser *p);
static jnode *parse_postfix(parser *p, jnode *n);

/* `expr (, expr)*` -> one expression or a tuple. */
static jnode *parse_tuple(parser *p, bool with_condexpr, bool explicit_parens) {
    int line = cur(p)->line;
    nvec items = {0};
    bool comma = false;
    for (;;) {
        if (items.n) {
            if (!is_op(cur(p), ",")) break;
            p->pos++;
            comma = true;
        }
        tok *t = cur(p);
        if (t->t == T_VEND || t->t == T_BEND || t->t == T_EOF || is_op(t, ")") || is_op(t, "]") ||
            is_name(t, "in") || is_name(t, "recursive") || (!with_condexpr && is_name(t, "if"))) {
            if (items.n) break;
            if (explicit_parens && is_op(t, ")")) break;
            unexpected(p, "an expression");
        }
        nv_push(p, &items, with_condexpr ? parse_expr(p) : parse_or(p), NULL);
    }
    if (!comma && items.n == 1) return items.v[0];
    if (!comma && !explicit_parens) unexpected(p, "an expression");
    jnode *n = mk(p, N_TUPLE, line);
    n->items = items.v;
    n->n = items.n;
    return n;
}

static void parse_call_args(parser *p, jnode *call) {
    expect_op(p, "(");
    nvec pos = {0}, kw = {0};
    while (!is_op(cur(p), ")")) {
        if (pos.n || kw.n) expect_op(p, ",");
        if (is_op(cur(p), ")")) break;
        if (is_op(cur(p), "*") || is_op(cur(p), "**")) fail_at(p, cur(p)->off, "*args and **kwargs are not supported");
        if (cur(p)->t == T_NAME && is_op(peek(p, 1), "=")) {
            const char *nm = expect_name(p);
            p->pos++;
            nv_push(p, &kw, parse_expr(p), nm);
        } else {
            if (kw.n) fail_at(p, cur(p)->off, "positional argument after keyword argument");
            nv_push(p, &pos, parse_expr(p), NULL);
        }
    }
    p->pos++;
    call->items = pos.v;
    call->n = pos.n;
    call->items2 = kw.v;
    call->names = kw.names;
    call->n2 = kw.n;
}

static const char *dotted_name(parser *p) {
    const char *nm = expect_name(p);
    while (is_op(cur(p), ".") && peek(p, 1)->t == T_NAME) {
        p->pos++;
        const char *more = expect_name(p);
        size_t a = strlen(nm), b = strlen(more);
        char *s = ja_alloc(p->a, a + b + 2);
        memcpy(s, nm, a);
        s[a] = '.';
        memcpy(s + a + 1, more, b + 1);
        nm = s;
    }
    return nm;
}

static jnode *parse_filter(parser *p, jnode *input) {
    size_t off = cur(p)->off;
    int line = cur(p)->line;
    const char *nm = dotted_name(p);
    jnode *f = mk(p, N_FILTER, line);
    f->a = input;
    f->name = nm;
    f->fid = jfilter_id(nm);
    if (f->fid < 0) fail_at(p, off, "no filter named '%s'", nm);
    if (is_op(cur(p), "(")) parse_call_args(p, f);
    return f;
}

static jnode *parse_test(parser *p, jnode *input) {
    int line = cur(p)->line;
    bool neg = false;
    if (is_name(cur(p), "not")) {
        p->pos++;
        neg = true;
    }
    size_t off = cur(p)->off;
    const char *nm = dotted_name(p);
    jnode *t = mk(p, N_TEST, line);
    t->a = input;
    t->name = nm;
    t->op = neg;
    t->fid = jtest_id(nm);
    if (t->fid < 0) fail_at(p, off, "no test named '%s'", nm);
    tok *c = cur(p);
    if (is_op(c, "(")) {
        parse_call_args(p, t);
    } else if ((c->t == T_NAME || c->t == T_STRING || c->t == T_INT || c->t == T_FLOAT || is_op(c, "[") ||
                is_op(c, "{")) &&
               !is_name(c, "else") && !is_name(c, "or") && !is_name(c, "and")) {
        if (is_name(c, "is")) fail_at(p, c->off, "cannot chain multiple tests with 'is'");
        jnode *arg = parse_postfix(p, parse_primary(p));
        t->items = ja_alloc(p->a, sizeof *t->items);
        t->items[0] = arg;
        t->n = 1;
    }
    return t;
}

static jnode *parse_filter_expr(parser *p, jnode *n) {
    for (;;) {
        tok *t = cur(p);
        if (is_op(t, "|")) {
            p->pos++;
            n = parse_filter(p, n);
        } else if (is_name(t, "is")) {
            p->pos++;
            n = parse_test(p, n);
        } else if (is_op(t, "(")) {
            jnode *c = mk(p, N_CALL, t->line);
            c->a = n;
            parse_call_args(p, c);
            n = c;
        } else {
            return n;
        }
    }
}

static jnode *parse_subscript(parser *p) {
    int line = cur(p)->line;
    jnode *args[3] = {NULL, NULL, NULL};
    if (!is_op(cur(p), ":")) {
        args[0] = parse_expr(p);
        if (!is_op(cur(p), ":")) return args[0];
    }
    p->pos++; /* ':' */
    if (!is_op(cur(p), "]") && !is_op(cur(p), ",") && !is_op(cur(p), ":")) args[1] = parse_expr(p);
    if (is_op(cur(p), ":")) {
        p->pos++;
        if (!is_op(cur(p), "]") && !is_op(cur(p), ",")) args[2] = parse_expr(p);
    }
    jnode *s = mk(p, N_SLICE, line);
    s->b = args[0];
    s->c = args[1];
    s->d = args[2];
    return s;
}

/* A literal, possibly signed: what jinja2 can fold at compile time. */
static bool is_const(const jnode *n) {
    while (n->kind == N_NEG || n->kind == N_POS) n = n->a;
    return n->kind == N_LIT;
}

static jnode *parse_postfix(parser *p, jnode *n) {
    for (;;) {
        tok *t = cur(p);
        if (is_op(t, ".")) {
            p->pos++;
            tok *a = cur(p);
            if (a->t == T_NAME) {
                jnode *g = mk(p, N_GETATTR, t->line);
                g->a = n;
                g->name = expect_name(p);
                n = g;
            } else if (a->t == T_INT) {
                p->pos++;
                jnode *k = mk(p, N_LIT, a->line);
                k->lit = a->val;
                jnode *g = mk(p, N_GETITEM, t->line);
                g->a = n;
                g->b = k;
                n = g;
            } else {
                unexpected(p, "an attribute name");
            }
        } else if (is_op(t, "[")) {
            p->pos++;
            nvec idx = {0};
            while (!is_op(cur(p), "]")) {
                if (idx.n) {
                    expect_op(p, ",");
                    if (is_op(cur(p), "]")) break;
                }
                nv_push(p, &idx, parse_subscript(p), NULL);
            }
            p->pos++;
            if (idx.n == 0) fail_at(p, t->off, "expected a subscript");
            jnode *g = mk(p, N_GETITEM, t->line);
            g->a = n;
            if (idx.n == 1) {
                g->b = idx.v[0];
            } else {
                /* Python cannot index a list or a dict with a tuple holding slices either */
                for (size_t i = 0; i < idx.n; i++) {
                    if (idx.v[i]->kind == N_SLICE) fail_at(p, t->off, "a slice cannot be part of a tuple index");
                }
                jnode *tu = mk(p, N_TUPLE, t->line);
                tu->items = idx.v;
                tu->n = idx.n;
                g->b = tu;
            }
            if (g->b->kind == N_SLICE) {
                jnode *sl = g->b;
                sl->a = n;
                /* jinja2 folds a slice of constants at compile time, where a failure becomes
                 * an undefined value instead of an error */
                sl->op = is_const(n) && (!sl->b || is_const(sl->b)) && (!sl->c || is_const(sl->c)) &&
                         (!sl->d || is_const(sl->d));
                n = sl;
            } else {
                n = g;
            }
        } else if (is_op(t, "(")) {
            jnode *c = mk(p, N_CALL, t->line);
            c->a = n;
            parse_call_args(p, c);
            n = c;
        } else {
            return n;
        }
    }
}

static jnode *parse_primary(parser *p) {
    enter(p);
    tok *t = cur(p);
    jnode *n;
    if (t->t == T_NAME) {
        p->pos++;
        n = mk(p, N_LIT, t->line);
        if (is_name(t, "true") || is_name(t, "True")) n->lit = jv_bool(true);
        else if (is_name(t, "false") || is_name(t, "False")) n->lit = jv_bool(false);
        else if (is_name(t, "none") || is_name(t, "None")) n->lit = jv_none();
        else {
            n->kind = N_NAME;
            p->pos--;
            n->name = expect_name(p);
        }
    } else if (t->t == T_STRING) {
        p->pos++;
        n = mk(p, N_LIT, t->line);
        n->lit = t->val;
        if (cur(p)->t == T_STRING) {
            jbuf b;
            jb_init(&b, p->a, 0);
            jb_put(&b, t->val.s->s, t->val.s->len);
            while (cur(p)->t == T_STRING) {
                jb_put(&b, cur(p)->val.s->s, cur(p)->val.s->len);
                p->pos++;
            }
            n->lit = jv_strv(jb_str(&b));
            js_ncp(n->lit.s);
        }
    } else if (t->t == T_INT || t->t == T_FLOAT) {
        p->pos++;
        n = mk(p, N_LIT, t->line);
        n->lit = t->val;
    } else if (is_op(t, "(")) {
        p->pos++;
        n = parse_tuple(p, true, true);
        expect_op(p, ")");
    } else if (is_op(t, "[")) {
        p->pos++;
        n = mk(p, N_LIST, t->line);
        nvec items = {0};
        while (!is_op(cur(p), "]")) {
            if (items.n) {
                expect_op(p, ",");
                if (is_op(cur(p), "]")) break;
            }
            nv_push(p, &items, parse_expr(p), NULL);
        }
        p->pos++;
        n->items = items.v;
        n->n = items.n;
    } else if (is_op(t, "{")) {
        p->pos++;
        n = mk(p, N_DICT, t->line);
        nvec keys = {0}, vals = {0};
        while (!is_op(cur(p), "}")) {
            if (keys.n) {
                expect_op(p, ",");
                if (is_op(cur(p), "}")) break;
            }
            nv_push(p, &keys, parse_expr(p), NULL);
            expect_op(p, ":");
            nv_push(p, &vals, parse_expr(p), NULL);
        }
        p->pos++;
        n->items = keys.v;
        n->items2 = vals.v;
        n->n = keys.n;
    } else {
        unexpected(p, "an expression");
    }
    leave(p);
    return n;
}

static jnode *parse_unary(parser *p, bool with_filter) {
    enter(p);
    tok *t = cur(p);
    jnode *n;
    if (is_op(t, "-") || is_op(t, "+")) {
        p->pos++;
        n = mk(p, is_op(t, "-") ? N_NEG : N_POS, t->line);
        n->a = parse_unary(p, false);
    } else {
        n = parse_primary(p);
    }
    n = parse_postfix(p, n);
    if (with_filter) n = parse_filter_expr(p, n);
    leave(p);
    return n;
}

static jnode *binop(parser *p, int op, jnode *a, jnode *b, int line) {
    jnode *n = mk(p, N_BINOP, line);
    n->op = (uint8_t)op;
    n->a = a;
    n->b = b;
    return n;
}

static jnode *parse_pow(parser *p) {
    jnode *n = parse_unary(p, true);
    while (is_op(cur(p), "**")) {
        int line = cur(p)->line;
        p->pos++;
        n = binop(p, OP_POW, n, parse_unary(p, true), line);
    }
    return n;
}

static jnode *parse_math2(parser *p) {
    jnode *n = parse_pow(p);
    for (;;) {
        tok *t = cur(p);
        int op = is_op(t, "*") ? OP_MUL : is_op(t, "/") ? OP_DIV : is_op(t, "//") ? OP_FLOORDIV
               : is_op(t, "%") ? OP_MOD : -1;
        if (op < 0) return n;
        p->pos++;
        n = binop(p, op, n, parse_pow(p), t->line);
    }
}

static jnode *parse_concat(parser *p) {
    jnode *first = parse_math2(p);
    if (!is_op(cur(p), "~")) return first;
    jnode *n = mk(p, N_CONCAT, cur(p)->line);
    nvec items = {0};
    nv_push(p, &items, first, NULL);
    while (is_op(cur(p), "~")) {
        p->pos++;
        nv_push(p, &items, parse_math2(p), NULL);
    }
    n->items = items.v;
    n->n = items.n;
    return n;
}

static jnode *parse_math1(parser *p) {
    jnode *n = parse_concat(p);
    for (;;) {
        tok *t = cur(p);
        int op = is_op(t, "+") ? OP_ADD : is_op(t, "-") ? OP_SUB : -1;
        if (op < 0) return n;
        p->pos++;
        n = binop(p, op, n, parse_concat(p), t->line);
    }
}

static jnode *parse_compare(parser *p) {
    jnode *first = parse_math1(p);
    nvec rhs = {0};
    size_t nops = 0;
    uint8_t opsbuf[64];
    for (;;) {
        tok *t = cur(p);
        int op = is_op(t, "==") ? OP_EQ : is_op(t, "!=") ? OP_NE : is_op(t, "<") ? OP_LT : is_op(t, "<=") ? OP_LE
               : is_op(t, ">") ? OP_GT : is_op(t, ">=") ? OP_GE : is_name(t, "in") ? OP_IN : -1;
        if (op < 0 && is_name(t, "not") && is_name(peek(p, 1), "in")) {
            op = OP_NOTIN;
            p->pos++;
        }
        if (op < 0) break;
        p->pos++;
        if (nops == sizeof opsbuf) fail_at(p, t->off, "too many chained comparisons");
        opsbuf[nops++] = (uint8_t)op;
        nv_push(p, &rhs, parse_math1(p), NULL);
    }
    if (!nops) return first;
    jnode *n = mk(p, N_COMPARE, first->line);
    n->a = first;
    n->items = rhs.v;
    n->n = rhs.n;
    /* the operators ride in the names array, one byte each */
    char *ops = ja_alloc(p->a, nops);
    memcpy(ops, opsbuf, nops);
    n->name = ops;
    return n;
}

static jnode *parse_not(parser *p) {
    if (is_name(cur(p), "not")) {
        enter(p);
        jnode *n = mk(p, N_NOT, cur(p)->line);
        p->pos++;
        n->a = parse_not(p);
        leave(p);
        return n;
    }
    return parse_compare(p);
}

static jnode *parse_and(parser *p) {
    jnode *n = parse_not(p);
    while (is_name(cur(p), "and")) {
        jnode *x = mk(p, N_AND, cur(p)->line);
        p->pos++;
        x->a = n;
        x->b = parse_not(p);
        n = x;
    }
    return n;
}

static jnode *parse_or(parser *p) {
    jnode *n = parse_and(p);
    while (is_name(cur(p), "or")) {
        jnode *x = mk(p, N_OR, cur(p)->line);
        p->pos++;
        x->a = n;
        x->b = parse_and(p);
        n = x;
    }
    return n;
}

static jnode *parse_expr(parser *p) {
    enter(p);
    jnode *n = parse_or(p);
    while (is_name(cur(p), "if")) {
        jnode *c = mk(p, N_COND, cur(p)->line);
        p->pos++;
        c->a = parse_or(p); /* condition */
        c->b = n;
        if (is_name(cur(p), "else")) {
            p->pos++;
            c->c = parse_expr(p);
        }
        n = c;
    }
    leave(p);
    return n;
}

/* ---- statements ---------------------------------------------------------------------------- */

static jnode *parse_body(parser *p, const char *const *ends, const char *what);
static jnode *parse_statement(parser *p);

/* Assignment targets: a name, `ns.attr`, or a tuple of names. */
static jnode *parse_target(parser *p, bool allow_attr) {
    int line = cur(p)->line;
    nvec names = {0};
    bool paren = false;
    if (is_op(cur(p), "(")) {
        paren = true;
        p->pos++;
    }
    for (;;) {
        tok *t = cur(p);
        if (t->t != T_NAME) unexpected(p, "a name to assign to");
        const char *nm = expect_name(p);
        if (!strcmp(nm, "true") || !strcmp(nm, "false") || !strcmp(nm, "none") || !strcmp(nm, "True") ||
            !strcmp(nm, "False") || !strcmp(nm, "None")) {
            fail_at(p, t->off, "cannot assign to '%s'", nm);
        }
        jnode *n = mk(p, N_NAME, t->line);
        n->name = nm;
        if (allow_attr && names.n == 0 && is_op(cur(p), ".")) {
            p->pos++;
            jnode *g = mk(p, N_GETATTR, t->line);
            g->a = n;
            g->name = expect_name(p);
            return g;
        }
        nv_push(p, &names, n, nm);
        if (!is_op(cur(p), ",")) break;
        p->pos++;
        if (cur(p)->t != T_NAME) break;
    }
    if (paren) expect_op(p, ")");
    if (names.n == 1 && !paren) return names.v[0];
    jnode *t = mk(p, N_TUPLE, line);
    t->items = names.v;
    t->n = names.n;
    return t;
}

static void parse_params(parser *p, jnode *n) {
    nvec defs = {0}; /* default expressions (NULL for none), with the names alongside */
    expect_op(p, "(");
    while (!is_op(cur(p), ")")) {
        if (defs.n) expect_op(p, ",");
        const char *nm = expect_name(p);
        jnode *def = NULL;
        if (is_op(cur(p), "=")) {
            p->pos++;
            def = parse_expr(p);
        }
        nv_push(p, &defs, def, nm);
    }
    p->pos++;
    n->items2 = defs.v;
    n->names = defs.names;
    n->n2 = defs.n;
}

static const char *const END_IF[] = {"elif", "else", "endif", NULL};
static const char *const END_FOR[] = {"else", "endfor", NULL};
static const char *const END_FOR2[] = {"endfor", NULL};

static jnode *parse_if(parser *p, int line) {
    jnode *n = mk(p, N_IF, line);
    n->a = parse_tuple(p, false, false); /* as jinja2: no inline if/else directly in the test */
    expect_block_end(p);
    n->b = parse_body(p, END_IF, "endif");
    tok *t = cur(p);
    p->pos++;
    if (is_name(t, "elif")) {
        enter(p);
        n->c = parse_if(p, t->line);
        leave(p);
        return n;
    }
    if (is_name(t, "else")) {
        expect_block_end(p);
        static const char *const end[] = {"endif", NULL};
        n->c = parse_body(p, end, "endif");
        p->pos++;
    }
    expect_block_end(p);
    return n;
}

static jnode *parse_for(parser *p, int line) {
    jnode *n = mk(p, N_FOR, line);
    n->a = parse_target(p, false);
    if (!is_name(cur(p), "in")) unexpected(p, "'in'");
    p->pos++;
    n->b = parse_tuple(p, false, false);
    if (is_name(cur(p), "if")) {
        p->pos++;
        n->c = parse_expr(p);
    }
    if (is_name(cur(p), "recursive")) {
        p->pos++;
        n->op = 1;
    }
    expect_block_end(p);
    n->d = parse_body(p, END_FOR, "endfor");
    tok *t = cur(p);
    p->pos++;
    if (is_name(t, "else")) {
        expect_block_end(p);
        jnode *e = parse_body(p, END_FOR2, "endfor");
        p->pos++;
        n->items2 = ja_alloc(p->a, sizeof(jnode *));
        n->items2[0] = e;
    }
    expect_block_end(p);
    return n;
}

/* `name(args)|filter...` after {% filter %} or {% set x | ... %}: a filter chain applied to the
 * block's text (N_BLOCKVAL). */
static jnode *parse_filter_chain(parser *p, int line) {
    jnode *n = mk(p, N_BLOCKVAL, line);
    n = parse_filter(p, n);
    while (is_op(cur(p), "|")) {
        p->pos++;
        n = parse_filter(p, n);
    }
    return n;
}

static jnode *parse_statement(parser *p) {
    p->pos++; /* T_BBEGIN */
    tok *t = cur(p);
    int line = t->line;
    if (t->t != T_NAME) unexpected(p, "a statement name");
    enter(p);
    jnode *n = NULL;
    if (is_name(t, "if")) {
        p->pos++;
        n = parse_if(p, line);
    } else if (is_name(t, "for")) {
        p->pos++;
        n = parse_for(p, line);
    } else if (is_name(t, "set")) {
        p->pos++;
        jnode *target = parse_target(p, true);
        if (is_op(cur(p), "=")) {
            p->pos++;
            n = mk(p, N_SET, line);
            n->a = target;
            n->b = parse_tuple(p, true, false);
            expect_block_end(p);
        } else {
            if (target->kind == N_TUPLE) unexpected(p, "'='");
            n = mk(p, N_SETBLOCK, line);
            n->a = target;
            if (is_op(cur(p), "|")) {
                p->pos++;
                n->c = parse_filter_chain(p, line);
            }
            expect_block_end(p);
            static const char *const end[] = {"endset", NULL};
            n->b = parse_body(p, end, "endset");
            p->pos++;
            expect_block_end(p);
        }
    } else if (is_name(t, "macro")) {
        p->pos++;
        n = mk(p, N_MACRO, line);
        n->name = expect_name(p);
        parse_params(p, n);
        expect_block_end(p);
        static const char *const end[] = {"endmacro", NULL};
        n->b = parse_body(p, end, "endmacro");
        p->pos++;
        if (cur(p)->t == T_NAME) p->pos++; /* {% endmacro name %} */
        expect_block_end(p);
    } else if (is_name(t, "call")) {
        p->pos++;
        n = mk(p, N_CALLBLOCK, line);
        if (is_op(cur(p), "(")) parse_params(p, n);
        n->a = parse_expr(p);
        if (n->a->kind != N_CALL) fail_at(p, t->off, "expected a call after 'call'");
        expect_block_end(p);
        static const char *const end[] = {"endcall", NULL};
        n->b = parse_body(p, end, "endcall");
        p->pos++;
        expect_block_end(p);
    } else if (is_name(t, "filter")) {
        p->pos++;
        n = mk(p, N_FILTERBLOCK, line);
        n->a = parse_filter_chain(p, line);
        expect_block_end(p);
        static const char *const end[] = {"endfilter", NULL};
        n->b = parse_body(p, end, "endfilter");
        p->pos++;
        expect_block_end(p);
    } else if (is_name(t, "with")) {
        p->pos++;
        n = mk(p, N_WITH, line);
        nvec targets = {0}, vals = {0};
        while (cur(p)->t != T_BEND) {
            if (targets.n) expect_op(p, ",");
            nv_push(p, &targets, parse_target(p, false), NULL);
            expect_op(p, "=");
            nv_push(p, &vals, parse_expr(p), NULL);
        }
        expect_block_end(p);
        n->items = targets.v;
        n->items2 = vals.v;
        n->n = targets.n;
        static const char *const end[] = {"endwith", NULL};
        n->b = parse_body(p, end, "endwith");
        p->pos++;
        expect_block_end(p);
    } else if (is_name(t, "generation")) {
        p->pos++;
        expect_block_end(p);
        static const char *const end[] = {"endgeneration", NULL};
        n = parse_body(p, end, "endgeneration");
        p->pos++;
        expect_block_end(p);
    } else if (is_name(t, "break") || is_name(t, "continue")) {
        p->pos++;
        n = mk(p, is_name(t, "break") ? N_BREAK : N_CONTINUE, line);
        expect_block_end(p);
    } else {
        char buf[64];
        fail_at(p, t->off, "unknown or misplaced tag %s", describe(t, buf, sizeof buf));
    }
    leave(p);
    return n;
}

/* Statements until `{% <one of ends> ...`; leaves the parser on that name token. */
static jnode *parse_body(parser *p, const char *const *ends, const char *what) {
    enter(p);
    jnode *body = mk(p, N_BODY, cur(p)->line);
    nvec items = {0};
    for (;;) {
        tok *t = cur(p);
        if (t->t == T_EOF) {
            if (ends) fail_at(p, t->off, "unexpected end of template: missing '{%% %s %%}'", what);
            break;
        }
        if (t->t == T_DATA) {
            jnode *d = mk(p, N_DATA, t->line);
            d->lit = t->val;
            nv_push(p, &items, d, NULL);
            p->pos++;
        } else if (t->t == T_VBEGIN) {
            p->pos++;
            jnode *o = mk(p, N_OUTPUT, t->line);
            o->a = parse_tuple(p, true, false);
            if (cur(p)->t != T_VEND) unexpected(p, "end of print statement");
            p->pos++;
            nv_push(p, &items, o, NULL);
        } else if (t->t == T_BBEGIN) {
            tok *nm = peek(p, 1);
            bool is_end = false;
            for (size_t i = 0; ends && ends[i]; i++) is_end |= is_name(nm, ends[i]);
            if (is_end) {
                p->pos++;
                break;
            }
            nv_push(p, &items, parse_statement(p), NULL);
        } else {
            unexpected(p, NULL);
        }
    }
    body->items = items.v;
    body->n = items.n;
    leave(p);
    return body;
}

int jinja_parse(jtemplate *t, const char *src, size_t len, owl_error *err) {
    t->fail.err = err;
    ja_init(&t->arena, &t->fail, 0);
    if (setjmp(t->fail.jb)) {
        return -1;
    }
    parser p = {.a = &t->arena, .fail = &t->fail};
    /* Normalise newlines (\r\n and \r become \n) and drop one trailing newline, as jinja2 does. */
    char *norm = ja_alloc(&t->arena, len + 1);
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (src[i] == '\r') {
            norm[n++] = '\n';
            if (i + 1 < len && src[i + 1] == '\n') i++;
        } else {
            norm[n++] = src[i];
        }
    }
    if (n && norm[n - 1] == '\n') n--;
    norm[n] = '\0';
    p.src = norm;
    p.len = n;
    lex(&p);
    t->root = parse_body(&p, NULL, NULL);
    return 0;
}
