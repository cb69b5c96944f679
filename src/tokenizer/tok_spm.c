/* SentencePiece-style BPE ("llama"): start from single characters and repeatedly merge the
 * adjacent pair whose concatenation is the token with the highest score (ties: leftmost). A
 * character that is no token comes out as its <0xNN> byte tokens.
 *
 * The caller has already written spaces as U+2581 and added the prefix space. */
#include "tokenizer/tok_internal.h"

typedef struct spm_sym {
    int32_t prev, next;
    uint32_t off, n; /* bytes of the text; n == 0 once merged into its left neighbour */
} spm_sym;

static int try_pair(const owl_tokenizer *t, const char *text, spm_sym *s, int32_t l, int32_t r,
                    tok_heap *h) {
    if (l < 0 || r < 0) return 0;
    uint32_t size = s[l].n + s[r].n;
    int32_t id = tok_strmap_get(&t->vocab, text + s[l].off, size);
    if (id < 0) return 0;
    tok_merge m = {.prio = -(double)t->score[id], .left = l, .right = r, .a = (int32_t)size};
    return tok_heap_push(h, m);
}

void tok_spm_encode(const owl_tokenizer *t, const char *text, size_t len, tok_ids *out) {
    if (len == 0) return;
    spm_sym *s = malloc(len * sizeof *s);
    tok_heap h = {0};
    if (!s) {
        out->oom = true;
        return;
    }
    int32_t n = 0;
    for (size_t off = 0; off < len;) {
        size_t cl = tok_utf8_len((unsigned char)text[off]);
        if (cl > len - off) cl = len - off;
        s[n] = (spm_sym){.prev = n - 1, .next = off + cl == len ? -1 : n + 1, .off = (uint32_t)off,
                         .n = (uint32_t)cl};
        off += cl;
        n++;
    }
    for (int32_t i = 1; i < n; i++) {
        if (try_pair(t, text, s, i - 1, i, &h) != 0) goto oom;
    }
    while (h.n) {
        tok_merge m = tok_heap_pop(&h);
        spm_sym *l = &s[m.left], *r = &s[m.right];
        /* stale: one side was merged away or grew since the pair was queued */
        if (l->n == 0 || r->n == 0 || l->n + r->n != (uint32_t)m.a) continue;
        l->n += r->n;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0) s[r->next].prev = m.left;
        if (try_pair(t, text, s, l->prev, m.left, &h) != 0) goto oom;
        if (try_pair(t, text, s, m.left, l->next, &h) != 0) goto oom;
    }
    for (int32_t i = 0; i != -1; i = s[i].next) {
        int32_t id = tok_strmap_get(&t->vocab, text + s[i].off, s[i].n);
        if (id >= 0) {
            tok_ids_push(out, id);
            continue;
        }
        for (uint32_t k = 0; k < s[i].n; k++) {
            int32_t b = t->byte_token[(unsigned char)text[s[i].off + k]];
            if (b >= 0) tok_ids_push(out, b);
        }
    }
    free(s);
    free(h.v);
    return;
oom:
    out->oom = true;
    free(s);
    free(h.v);
}
