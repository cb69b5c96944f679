/* Byte-level BPE ("gpt2"): the pre-tokenizer splits the text into words; each byte of a word is
 * one symbol to start with, and the adjacent pair with the lowest merge rank is merged until no
 * pair has a rank (ties: leftmost). Symbols are ids (tokens, or merge results that are not
 * tokens), so a merge is one hash lookup of two integers.
 *
 * Text is read as the reference reads it: an invalid UTF-8 sequence becomes U+FFFD before
 * anything else happens. */
#include "tokenizer/tok_internal.h"

typedef struct bpe_sym {
    int32_t prev, next;
    int32_t id; /* symbol id; -1 for a byte without a symbol */
    bool alive;
} bpe_sym;

typedef struct bpe_work {
    bpe_sym *s;
    size_t cap;
    tok_heap h;
    char *enc; /* a word in the printable byte mapping */
    size_t enc_cap;
} bpe_work;

static int try_pair(const owl_tokenizer *t, bpe_sym *s, int32_t l, int32_t r, tok_heap *h) {
    if (l < 0 || r < 0 || s[l].id < 0 || s[r].id < 0) return 0;
    int32_t res;
    int32_t rank = tok_pairmap_get(&t->merges, (uint32_t)s[l].id, (uint32_t)s[r].id, &res);
    if (rank < 0) return 0;
    tok_merge m = {.prio = rank, .left = l, .right = r, .a = s[l].id, .b = s[r].id};
    return tok_heap_push(h, m);
}

/* The symbol's text in the printable mapping. */
static size_t sym_text(const owl_tokenizer *t, int32_t id, unsigned char byte, const char **p,
                       char tmp[4]) {
    if (id >= 0 && (size_t)id < t->n_vocab) {
        *p = t->text[id];
        return t->text_len[id];
    }
    if (id >= 0) {
        *p = t->extra_text[(size_t)id - t->n_vocab];
        return t->extra_len[(size_t)id - t->n_vocab];
    }
    *p = tmp;
    memcpy(tmp, t->byte_utf8[byte], 2);
    return t->byte_utf8_len[byte];
}

static void emit_word(const owl_tokenizer *t, const unsigned char *w, size_t n, bpe_work *wk,
                      tok_ids *out) {
    if (t->ignore_merges) {
        /* a word that is a token as a whole is that token, whatever the merges say */
        if (n * 2 > wk->enc_cap) {
            size_t cap = n * 2 + 64;
            char *e = realloc(wk->enc, cap);
            if (!e) {
                out->oom = true;
                return;
            }
            wk->enc = e;
            wk->enc_cap = cap;
        }
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
            memcpy(wk->enc + k, t->byte_utf8[w[i]], 2);
            k += t->byte_utf8_len[w[i]];
        }
        int32_t id = tok_plain_lookup(t, wk->enc, k);
        if (id >= 0) {
            tok_ids_push(out, id);
            return;
        }
    }
    if (n == 1 && t->byte_sym[w[0]] >= 0 && (size_t)t->byte_sym[w[0]] < t->n_vocab &&
        !(t->attr[t->byte_sym[w[0]]] & TOK_ATTR_CONTROL)) {
        tok_ids_push(out, t->byte_sym[w[0]]);
        return;
    }
    bpe_sym *s = wk->s;
    for (size_t i = 0; i < n; i++) {
        s[i] = (bpe_sym){.prev = (int32_t)i - 1, .next = i + 1 == n ? -1 : (int32_t)i + 1,
                         .id = t->byte_sym[w[i]], .alive = true};
    }
    tok_heap *h = &wk->h;
    h->n = 0;
    for (size_t i = 1; i < n; i++) {
        if (try_pair(t, s, (int32_t)i - 1, (int32_t)i, h) != 0) goto oom;
    }
    while (h->n) {
        tok_merge m = tok_heap_pop(h);
        bpe_sym *l = &s[m.left], *r = &s[m.right];
        if (!l->alive || !r->alive || l->id != m.a || r->id != m.b) continue; /* stale */
        int32_t res;
        tok_pairmap_get(&t->merges, (uint32_t)l->id, (uint32_t)r->id, &res);
        l->id = res;
        r->alive = false;
        l->next = r->next;
        if (r->next >= 0) s[r->next].prev = m.left;
        if (try_pair(t, s, l->prev, m.left, h) != 0) goto oom;
        if (try_pair(t, s, m.left, l->next, h) != 0) goto oom;
    }
    for (int32_t i = 0; i != -1; i = s[i].next) {
        int32_t id = s[i].id;
        if (id >= 0 && (size_t)id < t->n_vocab && !(t->attr[id] & TOK_ATTR_CONTROL)) {
            tok_ids_push(out, id);
            continue;
        }
        /* not a token: each byte of its text that is a one-byte token, the rest is dropped */
        const char *p;
        char tmp[4];
        size_t len = sym_text(t, id, w[i], &p, tmp);
        for (size_t k = 0; k < len; k++) {
            int32_t b = tok_plain_lookup(t, p + k, 1);
            if (b >= 0) tok_ids_push(out, b);
        }
    }
    return;
oom:
    out->oom = true;
}

void tok_bpe_encode(const owl_tokenizer *t, const char *text, size_t len, tok_ids *out) {
    if (len == 0) return;
    /* Re-encode the code points: the words are built from them, and the regexes need valid
     * UTF-8 (surrogates, which the lenient decoder lets through, are matched as U+FFFD). */
    const char *w = text, *m = text;
    char *wbuf = NULL, *mbuf = NULL;
    size_t wlen = len;
    if (!owl_utf8_valid(text, len)) {
        wbuf = malloc(len * 3 + 4);
        mbuf = malloc(len * 3 + 4);
        if (!wbuf || !mbuf) goto oom;
        size_t i = 0, o = 0;
        while (i < len) {
            uint32_t cp = tok_utf8_decode((const unsigned char *)text, len, &i);
            size_t k = owl_utf8_encode(cp, wbuf + o);
            if (cp >= 0xD800 && cp <= 0xDFFF) owl_utf8_encode(0xFFFD, mbuf + o);
            else memcpy(mbuf + o, wbuf + o, k);
            o += k;
        }
        w = wbuf;
        m = mbuf;
        wlen = o;
    }
    size_t *words = NULL, n_words = 0;
    if (tok_pretok_split(t->pretok, m, wlen, &words, &n_words) != 0) goto oom;
    bpe_work wk = {0};
    size_t maxw = 0;
    for (size_t i = 0; i < n_words; i++) {
        if (words[i] > maxw) maxw = words[i];
    }
    wk.s = malloc((maxw ? maxw : 1) * sizeof *wk.s);
    if (!wk.s) {
        free(words);
        goto oom;
    }
    size_t off = 0;
    for (size_t i = 0; i < n_words && !out->oom; i++) {
        emit_word(t, (const unsigned char *)w + off, words[i], &wk, out);
        off += words[i];
    }
    free(words);
    free(wk.s);
    free(wk.h.v);
    free(wk.enc);
    free(wbuf);
    free(mbuf);
    return;
oom:
    out->oom = true;
    free(wbuf);
    free(mbuf);
}
