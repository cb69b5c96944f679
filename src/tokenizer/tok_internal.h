/* Private parts of the tokenizer: the vocabulary object, hash tables, a small heap and the
 * UTF-8 helpers that every algorithm shares. */
#ifndef OWL_TOK_INTERNAL_H
#define OWL_TOK_INTERNAL_H

#include "owl/tokenizer.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---- token attributes (a bit set, so that strip flags can sit beside the type) --------------- */
enum {
    TOK_ATTR_UNDEFINED = 0,
    TOK_ATTR_UNKNOWN = 1 << 0,
    TOK_ATTR_UNUSED = 1 << 1,
    TOK_ATTR_NORMAL = 1 << 2,
    TOK_ATTR_CONTROL = 1 << 3,
    TOK_ATTR_USER_DEFINED = 1 << 4,
    TOK_ATTR_BYTE = 1 << 5,
    TOK_ATTR_LSTRIP = 1 << 6, /* eat whitespace left of the token when it is matched in text */
    TOK_ATTR_RSTRIP = 1 << 7  /* ... and right of it */
};

/* ---- string -> int32 hash map (open addressing; keys are borrowed) ---------------------------- */
typedef struct tok_strmap {
    uint32_t *slots;    /* entry index + 1; 0 = empty */
    size_t mask;        /* capacity - 1 (capacity is a power of two) */
    const char **kptr;  /* per entry */
    uint32_t *klen;
    uint64_t *khash;
    int32_t *val;
    size_t n, cap_entries;
} tok_strmap;

uint64_t tok_hash(const char *s, size_t n);
int tok_strmap_init(tok_strmap *m, size_t expected);
void tok_strmap_free(tok_strmap *m);
/* Inserts or overwrites. The key bytes must outlive the map. Returns -1 when out of memory. */
int tok_strmap_put(tok_strmap *m, const char *k, size_t n, int32_t v);
/* The value, or -1. */
int32_t tok_strmap_get(const tok_strmap *m, const char *k, size_t n);

/* ---- (u32, u32) -> (rank, result) map for BPE merges ------------------------------------------ */
typedef struct tok_pairmap {
    uint64_t *keys;  /* (left << 32 | right) + 1; 0 = empty */
    int32_t *rank;
    int32_t *result;
    size_t mask;
    size_t n;
} tok_pairmap;

int tok_pairmap_init(tok_pairmap *m, size_t expected);
void tok_pairmap_free(tok_pairmap *m);
/* Keeps the first (lowest) rank when a pair repeats. */
int tok_pairmap_put(tok_pairmap *m, uint32_t l, uint32_t r, int32_t rank, int32_t result);
/* Rank or -1; *result receives the merged symbol's id. */
int32_t tok_pairmap_get(const tok_pairmap *m, uint32_t l, uint32_t r, int32_t *result);

/* ---- a binary min-heap of candidate merges ---------------------------------------------------- */
/* Pops by (prio, left) ascending: BPE uses the rank, SentencePiece the negated score. */
typedef struct tok_merge {
    double prio;
    int32_t left, right;
    int32_t a, b; /* algorithm-specific checks (sizes or symbol ids at push time) */
} tok_merge;

typedef struct tok_heap {
    tok_merge *v;
    size_t n, cap;
} tok_heap;

int tok_heap_push(tok_heap *h, tok_merge m);
tok_merge tok_heap_pop(tok_heap *h);

/* ---- growable int32 vector ---------------------------------------------------------------------- */
typedef struct tok_ids {
    int32_t *v;
    size_t n, cap;
    bool oom;
} tok_ids;

static inline void tok_ids_push(tok_ids *o, int32_t id) {
    if (o->n == o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 64;
        int32_t *p = realloc(o->v, cap * sizeof *p);
        if (!p) {
            o->oom = true;
            return;
        }
        o->v = p;
        o->cap = cap;
    }
    o->v[o->n++] = id;
}

/* ---- UTF-8 the way the reference decodes it ----------------------------------------------------- */
/* Length from the lead byte's high nibble: continuation bytes count 1, 0xF8..0xFF count 4. The
 * split into "characters" for merging uses this, not strict validation. */
static inline size_t tok_utf8_len(unsigned char c) {
    static const unsigned char lut[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    return lut[c >> 4];
}
/* Decodes one code point at s[*i] (lenient: overlongs and surrogates pass); an invalid sequence
 * consumes one byte and gives U+FFFD, as do values above U+10FFFF. */
uint32_t tok_utf8_decode(const unsigned char *s, size_t n, size_t *i);
/* Encodes cp (surrogates included) into out (4 bytes); returns the length. */

/* ---- the tokenizer ------------------------------------------------------------------------------- */
typedef struct tok_pretok tok_pretok; /* compiled pre-tokenizer regexes (tok_pretok.c) */

struct owl_tokenizer {
    owl_tok_kind kind;
    char *pre_name;
    size_t n_vocab;
    char **text;        /* token texts, NUL-terminated copies */
    uint32_t *text_len;
    float *score;
    uint8_t *type;      /* owl_token_type as stored */
    uint16_t *attr;     /* TOK_ATTR_* */
    tok_strmap vocab;   /* text -> id (the last id wins for duplicate texts) */
    size_t max_token_len;

    int32_t bos, eos, eot, eom, unk, sep, pad, mask;
    bool add_bos, add_eos, add_space_prefix, ignore_merges, clean_spaces;
    int32_t *eog;       /* end-of-generation ids */
    size_t n_eog;

    /* special tokens matched in raw text, longest first */
    int32_t *specials;
    size_t n_specials;
    /* a byte trie of their texts, to find in one pass which of them occur in a text:
     * edges (node, byte) -> child node; special i ends at node sp_end[i] */
    tok_pairmap sp_trie;
    uint32_t *sp_end;
    size_t sp_nodes;
    int32_t sp_root[256]; /* the root's edges, the ones every text position tries */

    /* pieces, rendered once: piece[id] with special=true */
    char **piece;
    uint32_t *piece_len;

    /* SentencePiece: byte -> <0xNN> token */
    int32_t byte_token[256];
    /* SentencePiece: no token has U+2581 right after another character, so no merge crosses the
     * start of a word and words can be merged one by one (same result, far smaller heaps) */
    bool spm_word_cut;

    /* BPE: the printable mapping of bytes as tables (UTF-8 of each byte's code point; the byte of
     * each code point below 324, -1 for none) */
    char byte_utf8[256][2];
    uint8_t byte_utf8_len[256];
    int16_t cp_byte[324];
    tok_pairmap merges;      /* (left sym, right sym) -> rank, merged sym */
    int32_t byte_sym[256];   /* symbol id of each byte's mapped code point, -1 if none */
    char **extra_text;       /* symbols that are merge results but not tokens: ids n_vocab+k */
    uint32_t *extra_len;
    size_t n_extra;
    tok_pretok *pretok;
};

/* A vocabulary lookup for text that came from plain text: control tokens are never the answer
 * (only special-token parsing produces them). */
static inline int32_t tok_plain_lookup(const owl_tokenizer *t, const char *s, size_t n) {
    int32_t id = tok_strmap_get(&t->vocab, s, n);
    return id >= 0 && (t->attr[id] & TOK_ATTR_CONTROL) ? -1 : id;
}

/* The byte for a mapped code point, or -1. */
int tok_cp_to_byte(uint32_t cp);

/* Algorithms: append to out. The text is one fragment without special tokens. */
void tok_spm_encode(const owl_tokenizer *t, const char *text, size_t len, tok_ids *out);
void tok_bpe_encode(const owl_tokenizer *t, const char *text, size_t len, tok_ids *out);
void tok_wpm_encode(const owl_tokenizer *t, const char *text, size_t len, tok_ids *out);

/* Pre-tokenizer: the regexes of `tokenizer.ggml.pre`, compiled once. Each regex splits every
 * chunk left by the previous one into matches and the gaps between them. */
tok_pretok *tok_pretok_new(const char *pre, owl_error *err);
bool tok_pre_known(const char *pre);
void tok_pretok_free(tok_pretok *p);
/* Splits m (mlen bytes of valid UTF-8) into words; *words receives their byte lengths (malloc'd).
 * Returns -1 when out of memory. */
int tok_pretok_split(const tok_pretok *p, const char *m, size_t mlen, size_t **words,
                     size_t *n_words);

/* Builds the piece cache (tok_decode.c). */
int tok_build_pieces(owl_tokenizer *t, owl_error *err);

#endif
