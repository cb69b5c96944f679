/* A byte-level BPE vocabulary from a tiktoken rank file.
 *
 * tiktoken files list every token as base64 of its bytes and its rank; the rank is the token id
 * and also the merge priority. GGUF wants merges ("A B") instead, so they are derived: for each
 * multi-byte token, run BPE over its bytes using only tokens of lower rank; what remains is
 * exactly two parts, and those two are the merge that produces the token. Tokens are spelled in
 * GPT-2's byte-to-unicode alphabet (owl_bpe_byte_codepoint), as llama.cpp expects of "gpt2"
 * vocabularies. */
#include "forge/forge_internal.h"
#include "owl/tokenizer.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- a hash map from byte strings to ranks --------------------------------------------------- */

typedef struct rank_map {
    size_t cap;        /* power of two */
    int64_t *slots;    /* rank, or -1 when empty */
    uint8_t **bytes;   /* by rank */
    size_t *lens;
} rank_map;

uint64_t forge_hash(const void *data, size_t n) {
    const uint8_t *p = data;
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211ULL;
    return h;
}

static int64_t map_get(const rank_map *m, const uint8_t *p, size_t n) {
    size_t i = forge_hash(p, n) & (m->cap - 1);
    for (;;) {
        int64_t r = m->slots[i];
        if (r < 0) return -1;
        if (m->lens[r] == n && memcmp(m->bytes[r], p, n) == 0) return r;
        i = (i + 1) & (m->cap - 1);
    }
}

static void map_put(rank_map *m, int64_t rank) {
    size_t i = forge_hash(m->bytes[rank], m->lens[rank]) & (m->cap - 1);
    while (m->slots[i] >= 0) i = (i + 1) & (m->cap - 1);
    m->slots[i] = rank;
}

/* ---- base64 and the GPT-2 byte alphabet ------------------------------------------------------ */

static int b64_value(int c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

/* Decodes n base64 characters into out; returns the byte count or -1. */
static long b64_decode(const char *s, size_t n, uint8_t *out) {
    uint32_t acc = 0;
    int bits = 0;
    long len = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '=') break;
        int v = b64_value((unsigned char)s[i]);
        if (v < 0) return -1;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[len++] = (uint8_t)(acc >> bits);
        }
    }
    return len;
}

static char *spell(const uint8_t *p, size_t n) {
    char *s = malloc(2 * n + 1); /* the alphabet stays below U+0800: at most 2 bytes a byte */
    if (!s) return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) k += owl_utf8_encode(owl_bpe_byte_codepoint(p[i]), s + k);
    s[k] = '\0';
    return s;
}

/* ---- the vocabulary -------------------------------------------------------------------------- */

int bpe_vocab_push(bpe_vocab *v, const char *text, int32_t type) {
    char **t = realloc(v->tokens, (v->n_tokens + 1) * sizeof *t);
    if (!t) return -1;
    v->tokens = t;
    int32_t *ty = realloc(v->types, (v->n_tokens + 1) * sizeof *ty);
    if (!ty) return -1;
    v->types = ty;
    v->tokens[v->n_tokens] = strdup(text);
    if (!v->tokens[v->n_tokens]) return -1;
    v->types[v->n_tokens++] = type;
    return 0;
}

void bpe_vocab_free(bpe_vocab *v) {
    for (size_t i = 0; i < v->n_tokens; i++) free(v->tokens[i]);
    for (size_t i = 0; i < v->n_merges; i++) free(v->merges[i]);
    free(v->tokens);
    free(v->types);
    free(v->merges);
    memset(v, 0, sizeof *v);
}

/* BPE over one token's bytes with ranks below `limit`; returns the number of parts left and
 * their boundaries in starts[] (each part runs to the next start). */
static size_t bpe_parts(const rank_map *m, const uint8_t *p, size_t n, int64_t limit,
                        size_t *starts) {
    size_t k = n;
    for (size_t i = 0; i < n; i++) starts[i] = i;
    starts[n] = n;
    while (k > 1) {
        int64_t best = -1;
        size_t at = 0;
        for (size_t i = 0; i + 1 < k; i++) {
            int64_t r = map_get(m, p + starts[i], starts[i + 2] - starts[i]);
            if (r >= 0 && r < limit && (best < 0 || r < best)) {
                best = r;
                at = i;
            }
        }
        if (best < 0) break;
        memmove(&starts[at + 1], &starts[at + 2], (k - at - 1) * sizeof *starts);
        k--;
    }
    return k;
}

int bpe_vocab_from_tiktoken(bpe_vocab *v, const char *path, owl_error *err) {
    memset(v, 0, sizeof *v);
    FILE *f = fopen(path, "r");
    if (!f) return owl_errorf(err, "%s: %s", path, strerror(errno));
    rank_map m = {0};
    size_t cap = 0, n = 0;
    char line[1024];
    uint8_t buf[768];
    int rc = -1;
    size_t *starts = NULL;
    while (fgets(line, sizeof line, f)) {
        char *sp = strchr(line, ' ');
        if (!sp) {
            owl_errorf(err, "%s: line %zu is not 'base64 rank'", path, n + 1);
            goto done;
        }
        long len = b64_decode(line, (size_t)(sp - line), buf);
        long long rank = strtoll(sp + 1, NULL, 10);
        if (len <= 0 || (size_t)len > sizeof buf || rank != (long long)n) {
            owl_errorf(err, "%s: bad entry on line %zu (ranks must be 0, 1, 2, ...)", path, n + 1);
            goto done;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 4096;
            uint8_t **b = realloc(m.bytes, cap * sizeof *b);
            size_t *l = b ? realloc(m.lens, cap * sizeof *l) : NULL;
            if (b) m.bytes = b;
            if (!b || !l) {
                owl_errorf(err, "out of memory");
                goto done;
            }
            m.lens = l;
        }
        m.bytes[n] = malloc((size_t)len);
        if (!m.bytes[n]) {
            owl_errorf(err, "out of memory");
            goto done;
        }
        memcpy(m.bytes[n], buf, (size_t)len);
        m.lens[n] = (size_t)len;
        n++;
    }
    if (n < 256) {
        owl_errorf(err, "%s: %zu tokens, fewer than the 256 single bytes", path, n);
        goto done;
    }
    m.cap = 1;
    while (m.cap < n * 2) m.cap *= 2;
    m.slots = malloc(m.cap * sizeof *m.slots);
    starts = malloc((sizeof buf + 1) * sizeof *starts);
    v->merges = malloc(n * sizeof *v->merges);
    if (!m.slots || !starts || !v->merges) {
        owl_errorf(err, "out of memory");
        goto done;
    }
    memset(m.slots, 0xFF, m.cap * sizeof *m.slots);
    for (size_t r = 0; r < n; r++) map_put(&m, (int64_t)r);

    for (size_t r = 0; r < n; r++) {
        char *s = spell(m.bytes[r], m.lens[r]);
        if (!s || bpe_vocab_push(v, s, TOKEN_NORMAL)) {
            free(s);
            owl_errorf(err, "out of memory");
            goto done;
        }
        free(s);
        if (m.lens[r] < 2) continue;
        size_t k = bpe_parts(&m, m.bytes[r], m.lens[r], (int64_t)r, starts);
        if (k != 2) continue; /* not reachable by merges: a token that only ever stands alone */
        char *a = spell(m.bytes[r], starts[1]);
        char *b = spell(m.bytes[r] + starts[1], m.lens[r] - starts[1]);
        char *merge = a && b ? malloc(strlen(a) + strlen(b) + 2) : NULL;
        if (merge) sprintf(merge, "%s %s", a, b);
        free(a);
        free(b);
        if (!merge) {
            owl_errorf(err, "out of memory");
            goto done;
        }
        v->merges[v->n_merges++] = merge;
    }
    rc = 0;
done:
    fclose(f);
    for (size_t i = 0; i < n; i++) free(m.bytes[i]);
    free(m.bytes);
    free(m.lens);
    free(m.slots);
    free(starts);
    if (rc) bpe_vocab_free(v);
    return rc;
}
