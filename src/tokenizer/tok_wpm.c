/* WordPiece ("bert"): normalise (each code point reduced to the first code point of its
 * canonical decomposition, lower-cased; controls and combining marks dropped), split at whitespace and around
 * punctuation, ASCII symbols and CJK ideographs, then cover each word greedily with the longest
 * tokens, the first one carrying the U+2581 word-start marker. A word that cannot be covered is
 * the unknown token. */
#include "tokenizer/tok_internal.h"

#include <utf8proc.h>

static bool is_white(uint32_t c) {
    return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
           c == 0x205F || c == 0x3000;
}

static bool is_chinese(uint32_t c) {
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
           (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
           (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
           (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

static uint32_t nfd_first(uint32_t c) {
    utf8proc_int32_t buf[8];
    int last;
    utf8proc_ssize_t n = utf8proc_decompose_char((utf8proc_int32_t)c, buf, 8, UTF8PROC_DECOMPOSE, &last);
    return n >= 1 && n <= 8 ? (uint32_t)buf[0] : c;
}

typedef struct wbuf {
    char *p;
    size_t n, cap;
} wbuf;

static bool wbuf_reserve(wbuf *b, size_t extra) {
    if (b->n + extra <= b->cap) return true;
    size_t cap = (b->n + extra) * 2 + 64;
    char *p = realloc(b->p, cap);
    if (!p) return false;
    b->p = p;
    b->cap = cap;
    return true;
}

/* Covers one word (already prefixed with U+2581) with the longest matching tokens. */
static void cover_word(const owl_tokenizer *t, const char *w, size_t n, tok_ids *out) {
    size_t start = out->n;
    for (size_t i = 0; i < n;) {
        size_t j = i + t->max_token_len + 1 < n ? i + t->max_token_len + 1 : n;
        int32_t id = -1;
        for (; j > i; j--) {
            id = tok_plain_lookup(t, w + i, j - i);
            if (id >= 0) break;
        }
        if (id < 0) {
            out->n = start; /* the word cannot be covered: all of it is unknown */
            break;
        }
        tok_ids_push(out, id);
        i = j;
    }
    if (out->n == start) tok_ids_push(out, t->unk);
}

void tok_wpm_encode(const owl_tokenizer *t, const char *text, size_t len, tok_ids *out) {
    wbuf word = {0};
    static const char marker[] = "\xe2\x96\x81";
    size_t i = 0;
    bool have = false; /* a word is being built */
    while (i <= len) {
        uint32_t c = 0x20; /* the end acts as whitespace and flushes the last word */
        if (i < len) c = tok_utf8_decode((const unsigned char *)text, len, &i);
        else i++;
        c = nfd_first(c);
        bool white = is_white(c);
        if (!white) {
            utf8proc_category_t cat = utf8proc_category((utf8proc_int32_t)c);
            bool control = cat == UTF8PROC_CATEGORY_CC || cat == UTF8PROC_CATEGORY_CF ||
                           cat == UTF8PROC_CATEGORY_CO || cat == UTF8PROC_CATEGORY_CS;
            /* combining marks go too: with the decomposition above this strips accents */
            bool mark = cat == UTF8PROC_CATEGORY_MN || cat == UTF8PROC_CATEGORY_MC ||
                        cat == UTF8PROC_CATEGORY_ME;
            if (c == 0 || c == 0xFFFD || control || mark) continue;
        }
        bool punct = false;
        if (!white) {
            utf8proc_category_t cat = utf8proc_category((utf8proc_int32_t)c);
            bool p = cat >= UTF8PROC_CATEGORY_PC && cat <= UTF8PROC_CATEGORY_PO;
            bool s = cat >= UTF8PROC_CATEGORY_SM && cat <= UTF8PROC_CATEGORY_SO;
            punct = p || (c < 0x7F && s) || is_chinese(c);
        }
        if ((white || punct) && have) {
            cover_word(t, word.p, word.n, out);
            have = false;
        }
        if (white) continue;
        if (!have) {
            if (!wbuf_reserve(&word, 3)) goto oom;
            word.n = 0;
            memcpy(word.p, marker, 3);
            word.n = 3;
            have = true;
        }
        if (!wbuf_reserve(&word, 4)) goto oom;
        word.n += owl_utf8_encode((uint32_t)utf8proc_tolower((utf8proc_int32_t)c), word.p + word.n);
        if (punct) { /* a word of its own */
            cover_word(t, word.p, word.n, out);
            have = false;
        }
    }
    free(word.p);
    return;
oom:
    out->oom = true;
    free(word.p);
}
