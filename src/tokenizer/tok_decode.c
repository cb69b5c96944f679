/* Ids to text: each token's bytes are rendered once when the tokenizer is built; detokenizing
 * concatenates them, and the stream holds back the bytes of a character that is not complete. */
#include "tokenizer/tok_internal.h"

#include <stdio.h>

static char *render(const owl_tokenizer *t, int32_t id, size_t *len) {
    const char *s = t->text[id];
    size_t n = t->text_len[id];
    uint16_t a = t->attr[id];
    char *out = NULL;
    if (a & (TOK_ATTR_UNKNOWN | TOK_ATTR_CONTROL | TOK_ATTR_USER_DEFINED)) {
        out = malloc(n + 1);
        if (out) memcpy(out, s, n), *len = n;
    } else if ((a & TOK_ATTR_NORMAL) && t->kind != OWL_TOK_BPE) {
        out = malloc(n + 1); /* U+2581 (3 bytes) becomes one space: never longer */
        if (!out) return NULL;
        size_t o = 0;
        for (size_t i = 0; i < n; i++) {
            if (i + 2 < n && memcmp(s + i, "\xe2\x96\x81", 3) == 0) {
                out[o++] = ' ';
                i += 2;
            } else {
                out[o++] = s[i];
            }
        }
        *len = o;
    } else if ((a & TOK_ATTR_BYTE) && t->kind != OWL_TOK_BPE) {
        /* <0xNN> */
        unsigned v = 0;
        out = malloc(2);
        if (!out) return NULL;
        if (n >= 6 && sscanf(s + 3, "%2x", &v) == 1) {
            out[0] = (char)v;
            *len = 1;
        } else {
            *len = 0;
        }
    } else if (a & TOK_ATTR_NORMAL) {
        /* byte-level: each code point of the text stands for one byte */
        size_t cap = n * 4 + 64, o = 0;
        out = malloc(cap);
        if (!out) return NULL;
        size_t i = 0;
        while (i < n) {
            size_t start = i;
            uint32_t cp = tok_utf8_decode((const unsigned char *)s, n, &i);
            int b = cp < 324 ? t->cp_byte[cp] : -1;
            if (b >= 0) {
                out[o++] = (char)b;
                continue;
            }
            /* not a mapped byte: say so visibly, as the reference does */
            char tmp[64];
            int k = snprintf(tmp, sizeof tmp, "[UNK_BYTE_0x");
            for (size_t j = start; j < i && k < 56; j++) k += snprintf(tmp + k, sizeof tmp - (size_t)k, "%02x", (unsigned char)s[j]);
            size_t need = (size_t)k + n + 1;
            if (o + need > cap) {
                cap = (o + need) * 2;
                char *p = realloc(out, cap);
                if (!p) {
                    free(out);
                    return NULL;
                }
                out = p;
            }
            memcpy(out + o, tmp, (size_t)k);
            o += (size_t)k;
            memcpy(out + o, s, n);
            o += n;
            out[o++] = ']';
        }
        *len = o;
    } else {
        out = malloc(1); /* unused and undefined tokens render as nothing */
        if (out) *len = 0;
    }
    return out;
}

int tok_build_pieces(owl_tokenizer *t, owl_error *err) {
    t->piece = calloc(t->n_vocab, sizeof *t->piece);
    t->piece_len = calloc(t->n_vocab, sizeof *t->piece_len);
    if (!t->piece || !t->piece_len) return owl_errorf(err, "out of memory");
    for (size_t i = 0; i < t->n_vocab; i++) {
        size_t len = 0;
        t->piece[i] = render(t, (int32_t)i, &len);
        if (!t->piece[i]) return owl_errorf(err, "out of memory");
        t->piece_len[i] = (uint32_t)len;
    }
    return 0;
}

owl_str owl_token_piece(const owl_tokenizer *t, int32_t id, bool special) {
    owl_str s = {"", 0};
    if (id < 0 || (size_t)id >= t->n_vocab) return s;
    if (!special && (t->attr[id] & (TOK_ATTR_UNKNOWN | TOK_ATTR_CONTROL))) return s;
    s.ptr = t->piece[id];
    s.len = t->piece_len[id];
    return s;
}

/* clean_up_tokenization_spaces: " ?" " !" " ." " ," lose the space, " ' " loses both, and
 * " 's" " 'm" " 're" " 've" lose theirs. Works in place; returns the new length. */
static size_t clean_spaces(char *s, size_t n) {
    size_t o = n ? 1 : 0;
    for (size_t i = 1; i < n; i++) {
        char x = s[i];
        if (s[i - 1] == ' ' && (x == '?' || x == '!' || x == '.' || x == ',')) o--;
        s[o++] = x;
    }
    n = o;
    o = n ? 1 : 0;
    for (size_t i = 1; i < n; i++) {
        char x = s[i];
        if (x == '\'' && i + 1 < n && s[i - 1] == ' ' && s[i + 1] == ' ') {
            o--;
            s[++i] = '\0';
        }
        s[o++] = x;
    }
    n = o;
    o = n ? 1 : 0;
    for (size_t i = 1; i < n; i++) {
        char x = s[i];
        if (s[i - 1] == ' ' && x == '\'' && i + 1 < n) {
            char x1 = s[i + 1];
            if (x1 == 's' || x1 == 'm') o--;
            else if (i + 2 < n && ((x1 == 'r' && s[i + 2] == 'e') || (x1 == 'v' && s[i + 2] == 'e'))) o--;
        }
        s[o++] = x;
    }
    return o;
}

char *owl_detokenize(const owl_tokenizer *t, const int32_t *ids, size_t n, unsigned flags,
                     size_t *len, owl_error *err) {
    bool special = flags & OWL_DETOK_SPECIAL;
    bool strip = t->add_space_prefix; /* the space tokenization put in front */
    if ((flags & OWL_DETOK_REMOVE_SPECIAL) && t->add_bos && n > 0 && ids[0] == t->bos) {
        strip = false;
        ids++, n--;
    }
    if ((flags & OWL_DETOK_REMOVE_SPECIAL) && t->add_eos && n > 0 && ids[n - 1] == t->eos) n--;
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        if (ids[i] < 0 || (size_t)ids[i] >= t->n_vocab) {
            owl_errorf(err, "detokenize: token id %d out of range (vocabulary of %zu)", ids[i], t->n_vocab);
            return NULL;
        }
        total += t->piece_len[ids[i]];
    }
    char *out = malloc(total + 1);
    if (!out) {
        owl_errorf(err, "out of memory");
        return NULL;
    }
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        owl_str p = owl_token_piece(t, ids[i], special);
        if (i == 0 && strip && p.len && p.ptr[0] == ' ') p.ptr++, p.len--;
        memcpy(out + o, p.ptr, p.len);
        o += p.len;
    }
    if ((flags & OWL_DETOK_CLEAN_SPACES) && t->clean_spaces) o = clean_spaces(out, o);
    out[o] = '\0';
    if (len) *len = o;
    return out;
}

/* ---- streaming ---------------------------------------------------------------------------------- */

struct owl_detok_stream {
    const owl_tokenizer *t;
    unsigned flags;
    size_t n_pushed;
    bool strip;
    char hold[4]; /* the start of a character whose other bytes have not come yet */
    size_t n_hold;
    char *out;
    size_t cap;
};

owl_detok_stream *owl_detok_stream_new(const owl_tokenizer *t, unsigned flags) {
    owl_detok_stream *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->t = t;
    s->flags = flags;
    s->strip = t->add_space_prefix;
    return s;
}

void owl_detok_stream_destroy(owl_detok_stream *s) {
    if (!s) return;
    free(s->out);
    free(s);
}

/* Bytes a well-formed sequence starting with c needs, and whether b may follow at position k. */
static bool cont_ok(unsigned char lead, size_t k, unsigned char b) {
    if ((b & 0xC0) != 0x80) return false;
    if (k == 1) {
        if (lead == 0xE0) return b >= 0xA0;
        if (lead == 0xED) return b < 0xA0;
        if (lead == 0xF0) return b >= 0x90;
        if (lead == 0xF4) return b < 0x90;
    }
    return true;
}

static void put_replacement(char *out, size_t *o) {
    memcpy(out + *o, "\xef\xbf\xbd", 3);
    *o += 3;
}

/* Moves every complete character of hold+piece to s->out; keeps an unfinished tail in hold. */
static int stream_feed(owl_detok_stream *s, const char *p, size_t n, size_t *olen) {
    size_t total = s->n_hold + n;
    size_t need = total * 3 + 8;
    if (need > s->cap) {
        char *o = realloc(s->out, need);
        if (!o) return -1;
        s->out = o;
        s->cap = need;
    }
    /* walk over the held bytes followed by the piece without copying them together */
    size_t o = 0, i = 0;
#define AT(k) ((k) < s->n_hold ? (unsigned char)s->hold[(k)] : (unsigned char)p[(k) - s->n_hold])
    while (i < total) {
        unsigned char c = AT(i);
        if (c < 0x80) {
            s->out[o++] = (char)c;
            i++;
            continue;
        }
        int len = owl_utf8_len(c);
        if (len == 0) {
            put_replacement(s->out, &o);
            i++;
            continue;
        }
        size_t k = 1;
        while (k < (size_t)len && i + k < total && cont_ok(c, k, AT(i + k))) k++;
        if (k == (size_t)len) {
            for (size_t j = 0; j < k; j++) s->out[o++] = (char)AT(i + j);
            i += k;
        } else if (i + k == total) {
            break; /* a valid beginning that the next token may complete */
        } else {
            put_replacement(s->out, &o);
            i += k;
        }
    }
    char tail[4];
    size_t nt = total - i;
    for (size_t j = 0; j < nt; j++) tail[j] = (char)AT(i + j);
#undef AT
    memcpy(s->hold, tail, nt);
    s->n_hold = nt;
    *olen = o;
    return 0;
}

int owl_detok_stream_push(owl_detok_stream *s, int32_t id, const char **out, size_t *len,
                          owl_error *err) {
    const owl_tokenizer *t = s->t;
    *out = "";
    *len = 0;
    if (id < 0 || (size_t)id >= t->n_vocab) {
        return owl_errorf(err, "detokenize: token id %d out of range (vocabulary of %zu)", id, t->n_vocab);
    }
    bool first = s->n_pushed++ == 0;
    if (first && (s->flags & OWL_DETOK_REMOVE_SPECIAL) && t->add_bos && id == t->bos) {
        s->strip = false;
        return 0;
    }
    owl_str p = owl_token_piece(t, id, s->flags & OWL_DETOK_SPECIAL);
    if (s->strip) {
        if (p.len && p.ptr[0] == ' ') p.ptr++, p.len--;
        s->strip = false;
    }
    size_t o;
    if (stream_feed(s, p.ptr, p.len, &o) != 0) return owl_errorf(err, "out of memory");
    *out = s->out;
    *len = o;
    return 0;
}

void owl_detok_stream_flush(owl_detok_stream *s, const char **out, size_t *len) {
    *out = "";
    *len = 0;
    if (!s->n_hold) return;
    if (s->cap < 4) {
        char *o = realloc(s->out, 8);
        if (!o) return;
        s->out = o;
        s->cap = 8;
    }
    size_t o = 0;
    put_replacement(s->out, &o);
    s->n_hold = 0;
    *out = s->out;
    *len = o;
}
