/* Text to ids: special tokens are cut out of the text first (longest first), the pieces of
 * plain text between them go to the model's algorithm, and BOS/EOS are added as asked. */
#include "tokenizer/tok_internal.h"

#include <ctype.h>

typedef struct frag {
    int32_t token; /* -1: raw text [off, off+len) */
    size_t off, len;
} frag;

typedef struct frags {
    frag *v;
    size_t n, cap;
} frags;

static int frags_push(frags *f, frag x) {
    if (f->n == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 16;
        frag *v = realloc(f->v, cap * sizeof *v);
        if (!v) return -1;
        f->v = v;
        f->cap = cap;
    }
    f->v[f->n++] = x;
    return 0;
}

static const char *find_bytes(const char *h, size_t hn, const char *n, size_t nn) {
    if (nn == 0 || nn > hn) return NULL;
    return memmem(h, hn, n, nn);
}

/* Splits the raw fragments at every occurrence of each special token in turn. Control and
 * unknown tokens take part only under parse_special; user-defined ones always do. */
static int partition(const owl_tokenizer *t, const char *text, size_t len, bool parse_special,
                     frags *out) {
    frags cur = {0}, next = {0};
    if (frags_push(&cur, (frag){-1, 0, len}) != 0) return -1;
    /* One pass with the trie marks the special texts that occur at all; only those are searched
     * for below (vocabularies have thousands of user-defined tokens, texts a handful). */
    uint8_t *seen = t->n_specials ? calloc(t->sp_nodes, 1) : NULL;
    if (t->n_specials && !seen) goto oom;
    for (size_t i = 0; t->n_specials && i < len; i++) {
        int32_t first = t->sp_root[(unsigned char)text[i]];
        if (first < 0) continue;
        uint32_t node = (uint32_t)first;
        seen[node] = 1;
        for (size_t j = i + 1; j < len; j++) {
            int32_t child;
            if (tok_pairmap_get(&t->sp_trie, node, (unsigned char)text[j], &child) < 0) break;
            node = (uint32_t)child;
            seen[node] = 1;
        }
    }
    for (size_t si = 0; si < t->n_specials; si++) {
        int32_t id = t->specials[si];
        uint16_t attr = t->attr[id];
        if (!parse_special && (attr & (TOK_ATTR_CONTROL | TOK_ATTR_UNKNOWN))) continue;
        if (!seen[t->sp_end[si]]) continue;
        const char *tt = t->text[id];
        size_t tl = t->text_len[id];
        next.n = 0;
        for (size_t fi = 0; fi < cur.n; fi++) {
            frag f = cur.v[fi];
            if (f.token >= 0) {
                if (frags_push(&next, f) != 0) goto oom;
                continue;
            }
            size_t off = f.off, rem = f.len;
            for (;;) {
                const char *hit = find_bytes(text + off, rem, tt, tl);
                if (!hit) {
                    if (rem && frags_push(&next, (frag){-1, off, rem}) != 0) goto oom;
                    break;
                }
                size_t at = (size_t)(hit - text);
                size_t left = at - off;
                if (attr & TOK_ATTR_LSTRIP) {
                    while (left > 0 && isspace((unsigned char)text[off + left - 1])) left--;
                }
                if (left && frags_push(&next, (frag){-1, off, left}) != 0) goto oom;
                if (frags_push(&next, (frag){id, 0, 0}) != 0) goto oom;
                size_t roff = at + tl, rlen = off + rem - roff;
                if (attr & TOK_ATTR_RSTRIP) {
                    while (rlen > 0 && isspace((unsigned char)text[roff])) roff++, rlen--;
                }
                off = roff;
                rem = rlen;
                if (!rem) break;
            }
        }
        frags tmp = cur;
        cur = next;
        next = tmp;
    }
    free(next.v);
    free(seen);
    *out = cur;
    return 0;
oom:
    free(seen);
    free(cur.v);
    free(next.v);
    return -1;
}

/* SentencePiece's view of a fragment: an optional leading space, spaces as U+2581. */
static void spm_fragment(const owl_tokenizer *t, const char *p, size_t n, bool prefix, tok_ids *out) {
    size_t spaces = prefix ? 1 : 0;
    for (size_t i = 0; i < n; i++) spaces += p[i] == ' ';
    char *buf = malloc(n + spaces * 2 + 3);
    if (!buf) {
        out->oom = true;
        return;
    }
    size_t o = 0;
    if (prefix) {
        memcpy(buf, "\xe2\x96\x81", 3);
        o = 3;
    }
    for (size_t i = 0; i < n; i++) {
        if (p[i] == ' ') {
            memcpy(buf + o, "\xe2\x96\x81", 3);
            o += 3;
        } else {
            buf[o++] = p[i];
        }
    }
    tok_spm_encode(t, buf, o, out);
    free(buf);
}

int owl_tokenize(const owl_tokenizer *t, const char *text, size_t len, bool add_special,
                 bool parse_special, int32_t **ids, size_t *n, owl_error *err) {
    *ids = NULL;
    *n = 0;
    if (len > (size_t)INT32_MAX / 4) return owl_errorf(err, "tokenize: text too long (%zu bytes)", len);
    tok_ids out = {0};
    frags fr = {0};
    if (len && partition(t, text, len, parse_special, &fr) != 0) return owl_errorf(err, "out of memory");

    switch (t->kind) {
    case OWL_TOK_SPM: {
        bool prev_special = true; /* the text's start counts as following a special token */
        if (add_special && t->add_bos && t->bos >= 0) tok_ids_push(&out, t->bos);
        for (size_t i = 0; i < fr.n; i++) {
            if (fr.v[i].token >= 0) {
                tok_ids_push(&out, fr.v[i].token);
                prev_special = true;
            } else {
                spm_fragment(t, text + fr.v[i].off, fr.v[i].len, t->add_space_prefix && prev_special, &out);
                prev_special = false;
            }
        }
        if (add_special && t->add_eos && t->eos >= 0) tok_ids_push(&out, t->eos);
        break;
    }
    case OWL_TOK_BPE:
        if (add_special && t->add_bos && t->bos >= 0) tok_ids_push(&out, t->bos);
        for (size_t i = 0; i < fr.n; i++) {
            if (fr.v[i].token >= 0) tok_ids_push(&out, fr.v[i].token);
            else tok_bpe_encode(t, text + fr.v[i].off, fr.v[i].len, &out);
        }
        if (add_special && t->add_eos && t->eos >= 0) tok_ids_push(&out, t->eos);
        break;
    case OWL_TOK_WPM:
        /* WordPiece frames the text with CLS ... SEP whenever specials are added */
        if (add_special && t->bos >= 0) tok_ids_push(&out, t->bos);
        for (size_t i = 0; i < fr.n; i++) {
            if (fr.v[i].token >= 0) tok_ids_push(&out, fr.v[i].token);
            else tok_wpm_encode(t, text + fr.v[i].off, fr.v[i].len, &out);
        }
        if (add_special && t->sep >= 0) tok_ids_push(&out, t->sep);
        break;
    }
    free(fr.v);
    if (out.oom) {
        free(out.v);
        return owl_errorf(err, "out of memory while tokenizing");
    }
    *ids = out.v;
    *n = out.n;
    return 0;
}
