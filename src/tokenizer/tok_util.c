/* Shared machinery of the tokenizers: hash maps, the merge heap, UTF-8 and the byte mapping of
 * byte-level BPE. */
#include "tokenizer/tok_internal.h"

/* ---- hashing --------------------------------------------------------------------------------- */

uint64_t tok_hash(const char *s, size_t n) {
    /* FNV-1a with a final mix: token texts are short, so a byte loop is fast enough and the mix
     * spreads the low bits that the table indexes with. */
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 0x100000001b3ULL;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return h;
}

static size_t pow2_at_least(size_t n) {
    size_t c = 16;
    while (c < n) c <<= 1;
    return c;
}

int tok_strmap_init(tok_strmap *m, size_t expected) {
    memset(m, 0, sizeof *m);
    size_t cap = pow2_at_least(expected * 2 + 1);
    m->slots = calloc(cap, sizeof *m->slots);
    m->cap_entries = expected ? expected : 16;
    m->kptr = malloc(m->cap_entries * sizeof *m->kptr);
    m->klen = malloc(m->cap_entries * sizeof *m->klen);
    m->khash = malloc(m->cap_entries * sizeof *m->khash);
    m->val = malloc(m->cap_entries * sizeof *m->val);
    m->mask = cap - 1;
    if (!m->slots || !m->kptr || !m->klen || !m->khash || !m->val) {
        tok_strmap_free(m);
        return -1;
    }
    return 0;
}

void tok_strmap_free(tok_strmap *m) {
    free(m->slots);
    free(m->kptr);
    free(m->klen);
    free(m->khash);
    free(m->val);
    memset(m, 0, sizeof *m);
}

static int strmap_grow(tok_strmap *m) {
    size_t ne = m->cap_entries * 2;
    const char **kp = realloc(m->kptr, ne * sizeof *kp);
    if (!kp) return -1;
    m->kptr = kp;
    uint32_t *kl = realloc(m->klen, ne * sizeof *kl);
    if (!kl) return -1;
    m->klen = kl;
    uint64_t *kh = realloc(m->khash, ne * sizeof *kh);
    if (!kh) return -1;
    m->khash = kh;
    int32_t *v = realloc(m->val, ne * sizeof *v);
    if (!v) return -1;
    m->val = v;
    m->cap_entries = ne;
    /* rehash into a table twice the size */
    size_t cap = (m->mask + 1) * 2;
    uint32_t *slots = calloc(cap, sizeof *slots);
    if (!slots) return -1;
    for (size_t e = 0; e < m->n; e++) {
        size_t i = m->khash[e] & (cap - 1);
        while (slots[i]) i = (i + 1) & (cap - 1);
        slots[i] = (uint32_t)e + 1;
    }
    free(m->slots);
    m->slots = slots;
    m->mask = cap - 1;
    return 0;
}

int tok_strmap_put(tok_strmap *m, const char *k, size_t n, int32_t v) {
    uint64_t h = tok_hash(k, n);
    size_t i = h & m->mask;
    while (m->slots[i]) {
        uint32_t e = m->slots[i] - 1;
        if (m->khash[e] == h && m->klen[e] == n && memcmp(m->kptr[e], k, n) == 0) {
            m->val[e] = v;
            return 0;
        }
        i = (i + 1) & m->mask;
    }
    if (m->n == m->cap_entries || (m->n + 1) * 2 > m->mask + 1) {
        if (strmap_grow(m) != 0) return -1;
        i = h & m->mask;
        while (m->slots[i]) i = (i + 1) & m->mask;
    }
    size_t e = m->n++;
    m->kptr[e] = k;
    m->klen[e] = (uint32_t)n;
    m->khash[e] = h;
    m->val[e] = v;
    m->slots[i] = (uint32_t)e + 1;
    return 0;
}

int32_t tok_strmap_get(const tok_strmap *m, const char *k, size_t n) {
    if (!m->slots) return -1;
    uint64_t h = tok_hash(k, n);
    size_t i = h & m->mask;
    while (m->slots[i]) {
        uint32_t e = m->slots[i] - 1;
        if (m->khash[e] == h && m->klen[e] == n && memcmp(m->kptr[e], k, n) == 0) return m->val[e];
        i = (i + 1) & m->mask;
    }
    return -1;
}

/* ---- pair map ---------------------------------------------------------------------------------- */

static inline uint64_t pair_mix(uint64_t k) {
    k ^= k >> 31;
    k *= 0x9E3779B97F4A7C15ULL;
    k ^= k >> 29;
    return k;
}

int tok_pairmap_init(tok_pairmap *m, size_t expected) {
    memset(m, 0, sizeof *m);
    size_t cap = pow2_at_least(expected * 2 + 1);
    m->keys = calloc(cap, sizeof *m->keys);
    m->rank = malloc(cap * sizeof *m->rank);
    m->result = malloc(cap * sizeof *m->result);
    m->mask = cap - 1;
    if (!m->keys || !m->rank || !m->result) {
        tok_pairmap_free(m);
        return -1;
    }
    return 0;
}

void tok_pairmap_free(tok_pairmap *m) {
    free(m->keys);
    free(m->rank);
    free(m->result);
    memset(m, 0, sizeof *m);
}

int tok_pairmap_put(tok_pairmap *m, uint32_t l, uint32_t r, int32_t rank, int32_t result) {
    if ((m->n + 1) * 2 > m->mask + 1) {
        /* grow: the caller sizes the map up front, so this is the rare path */
        tok_pairmap old = *m;
        if (tok_pairmap_init(m, (old.mask + 1)) != 0) {
            *m = old;
            return -1;
        }
        for (size_t i = 0; i <= old.mask; i++) {
            if (!old.keys[i]) continue;
            uint64_t k = old.keys[i] - 1;
            tok_pairmap_put(m, (uint32_t)(k >> 32), (uint32_t)k, old.rank[i], old.result[i]);
        }
        tok_pairmap_free(&old);
    }
    uint64_t key = ((uint64_t)l << 32 | r) + 1;
    size_t i = pair_mix(key) & m->mask;
    while (m->keys[i]) {
        if (m->keys[i] == key) return 0; /* first rank wins */
        i = (i + 1) & m->mask;
    }
    m->keys[i] = key;
    m->rank[i] = rank;
    m->result[i] = result;
    m->n++;
    return 0;
}

int32_t tok_pairmap_get(const tok_pairmap *m, uint32_t l, uint32_t r, int32_t *result) {
    if (!m->keys) return -1;
    uint64_t key = ((uint64_t)l << 32 | r) + 1;
    size_t i = pair_mix(key) & m->mask;
    while (m->keys[i]) {
        if (m->keys[i] == key) {
            *result = m->result[i];
            return m->rank[i];
        }
        i = (i + 1) & m->mask;
    }
    return -1;
}

/* ---- heap ------------------------------------------------------------------------------------- */

static inline bool merge_less(const tok_merge *a, const tok_merge *b) {
    return a->prio < b->prio || (a->prio == b->prio && a->left < b->left);
}

int tok_heap_push(tok_heap *h, tok_merge m) {
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 64;
        tok_merge *v = realloc(h->v, cap * sizeof *v);
        if (!v) return -1;
        h->v = v;
        h->cap = cap;
    }
    size_t i = h->n++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!merge_less(&m, &h->v[p])) break;
        h->v[i] = h->v[p];
        i = p;
    }
    h->v[i] = m;
    return 0;
}

tok_merge tok_heap_pop(tok_heap *h) {
    tok_merge top = h->v[0];
    tok_merge last = h->v[--h->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n) break;
        if (c + 1 < h->n && merge_less(&h->v[c + 1], &h->v[c])) c++;
        if (!merge_less(&h->v[c], &last)) break;
        h->v[i] = h->v[c];
        i = c;
    }
    if (h->n) h->v[i] = last;
    return top;
}

/* ---- UTF-8 ------------------------------------------------------------------------------------ */

uint32_t tok_utf8_decode(const unsigned char *s, size_t n, size_t *i) {
    size_t k = *i;
    unsigned char c = s[k];
    if (c < 0x80) {
        *i = k + 1;
        return c;
    }
    size_t len;
    uint32_t cp;
    if (!(c & 0x40)) goto bad; /* continuation byte as a lead */
    if (!(c & 0x20)) {
        len = 2;
        cp = c & 0x1f;
    } else if (!(c & 0x10)) {
        len = 3;
        cp = c & 0x0f;
    } else if (!(c & 0x08)) {
        len = 4;
        cp = c & 0x07;
    } else {
        goto bad;
    }
    if (k + len > n) goto bad;
    for (size_t j = 1; j < len; j++) {
        if ((s[k + j] & 0xC0) != 0x80) goto bad;
        cp = cp << 6 | (s[k + j] & 0x3f);
    }
    *i = k + len;
    return cp > 0x10FFFF ? 0xFFFD : cp;
bad:
    *i = k + 1;
    return 0xFFFD;
}

/* ---- byte-level mapping ------------------------------------------------------------------------ */
/* Printable bytes ('!'..'~', 0xA1..0xAC, 0xAE..0xFF) stand for themselves; the other 68 bytes take
 * the code points 256, 257, ... in byte order. */
static bool byte_is_printable(unsigned b) {
    return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
}

uint32_t owl_bpe_byte_codepoint(uint8_t b) {
    if (byte_is_printable(b)) return b;
    uint32_t n = 0;
    for (unsigned x = 0; x < b; x++) {
        if (!byte_is_printable(x)) n++;
    }
    return 256 + n;
}

int tok_cp_to_byte(uint32_t cp) {
    if (cp < 256) return byte_is_printable(cp) ? (int)cp : -1;
    if (cp >= 256 + 68) return -1;
    uint32_t n = cp - 256;
    for (unsigned x = 0; x < 256; x++) {
        if (!byte_is_printable(x)) {
            if (n == 0) return (int)x;
            n--;
        }
    }
    return -1;
}
