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
    int32_t id = tok_plain_lookup(t, text + s[l].off, size);
    if (id < 0) return 0;
    tok_merge m = {.prio = -(double)t->score[id], .left = l, .right = r, .a = (int32_t)size};
    return tok_heap_push(h, m);
}

static bool is_space_mark(const char *text, const spm_sym *s) {
    return s->n == 3 && memcmp(text + s->off, "\342\226\201", 3) == 0;
}

/* Merges the symbols [a, b) (linked as one run) and appends their tokens. */
static int merge_run(const owl_tokenizer *t, const char *text, spm_sym *s, int32_t a, int32_t b,
                     tok_heap *h, tok_ids *out) {
    h->n = 0;
    for (int32_t i = a; i < b; i++) {
        s[i].prev = i - 1 < a ? -1 : i - 1;
        s[i].next = i + 1 >= b ? -1 : i + 1;
    }
    for (int32_t i = a + 1; i < b; i++) {
        if (try_pair(t, text, s, i - 1, i, h) != 0) return -1;
    }
    while (h->n) {
        tok_merge m = tok_heap_pop(h);
        spm_sym *l = &s[m.left], *r = &s[m.right];
        /* stale: one side was merged away or grew since the pair was queued */
        if (l->n == 0 || r->n == 0 || l->n + r->n != (uint32_t)m.a) continue;
        l->n += r->n;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0) s[r->next].prev = m.left;
        if (try_pair(t, text, s, l->prev, m.left, h) != 0) return -1;
        if (try_pair(t, text, s, m.left, l->next, h) != 0) return -1;
    }
    for (int32_t i = a; i != -1; i = s[i].next) {
        int32_t id = tok_plain_lookup(t, text + s[i].off, s[i].n);
        if (id >= 0) {
            tok_ids_push(out, id);
            continue;
        }
        for (uint32_t k = 0; k < s[i].n; k++) {
            int32_t byte = t->byte_token[(unsigned char)text[s[i].off + k]];
            if (byte >= 0) tok_ids_push(out, byte);
        }
    }
    return 0;
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
        s[n++] = (spm_sym){.off = (uint32_t)off, .n = (uint32_t)cl};
        off += cl;
    }
    /* runs end before each U+2581 that follows another character, where the vocabulary allows */
    int32_t a = 0;
    for (int32_t i = 1; i <= n; i++) {
        bool cut = i == n || (t->spm_word_cut && is_space_mark(text, &s[i]) && !is_space_mark(text, &s[i - 1]));
        if (!cut) continue;
        if (merge_run(t, text, s, a, i, &h, out) != 0) {
            out->oom = true;
            break;
        }
        a = i;
    }
    free(s);
    free(h.v);
}
