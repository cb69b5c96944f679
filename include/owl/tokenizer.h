/* owl — tokenizers built from GGUF metadata: text to token ids and back.
 *
 * Three algorithms, chosen by `tokenizer.ggml.model`:
 *   "llama"  SentencePiece-style BPE over Unicode characters, merges ordered by token score,
 *            spaces written as U+2581, byte fallback to <0xNN> tokens.
 *   "gpt2"   byte-level BPE: the text is split by the pre-tokenizer named in
 *            `tokenizer.ggml.pre` (PCRE2 regexes), each byte is mapped to a printable code point
 *            and merged by the rank of `tokenizer.ggml.merges`.
 *   "bert"   WordPiece: lower-cased, accents reduced, split at whitespace and punctuation, then
 *            greedy longest match with a U+2581 word-start marker.
 * The ids are the ones llama.cpp produces for the same file and flags; the conformance tests
 * check that.
 *
 * Special tokens: control and unknown tokens are recognised in the text only when
 * parse_special is set; user-defined tokens always are (as in Hugging Face tokenizers).
 * add_special adds BOS/EOS (or CLS/SEP for WordPiece) where the metadata says so. */
#ifndef OWL_TOKENIZER_H
#define OWL_TOKENIZER_H

#include "owl/common.h"
#include "owl/gguf.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct owl_tokenizer owl_tokenizer;

typedef enum owl_tok_kind {
    OWL_TOK_SPM = 1, /* "llama" */
    OWL_TOK_BPE = 2, /* "gpt2" */
    OWL_TOK_WPM = 3  /* "bert" */
} owl_tok_kind;

/* GGUF token types (tokenizer.ggml.token_type). */
typedef enum owl_token_type {
    OWL_TOKEN_UNDEFINED = 0,
    OWL_TOKEN_NORMAL = 1,
    OWL_TOKEN_UNKNOWN = 2,
    OWL_TOKEN_CONTROL = 3,
    OWL_TOKEN_USER_DEFINED = 4,
    OWL_TOKEN_UNUSED = 5,
    OWL_TOKEN_BYTE = 6
} owl_token_type;

#define OWL_TOKEN_NONE (-1)   /* "no such token" in ids and accessors */
#define OWL_TOK_DEFAULT (-2)  /* in owl_tokenizer_desc: use the model's default */

/* Everything a tokenizer is built from, in memory (GGUF keys in comments). Fill it after
 * owl_tokenizer_desc_init(), which sets every id and flag to OWL_TOK_DEFAULT. The arrays are
 * borrowed for the call only. */
typedef struct owl_tokenizer_desc {
    const char *model;       /* tokenizer.ggml.model: "llama", "gpt2", "bert" */
    const char *pre;         /* tokenizer.ggml.pre, NULL when absent */
    const char *name;        /* general.name (some models get per-token attributes by name) */
    size_t n_tokens;
    const owl_str *tokens;   /* tokenizer.ggml.tokens */
    const float *scores;     /* tokenizer.ggml.scores, NULL -> 0 */
    const int32_t *types;    /* tokenizer.ggml.token_type, NULL -> normal */
    size_t n_merges;
    const owl_str *merges;   /* tokenizer.ggml.merges ("left right"), BPE only */
    /* token ids: OWL_TOK_DEFAULT, OWL_TOKEN_NONE or an id (out of range ids keep the default) */
    int64_t bos, eos, eot, eom, unk, sep, pad, mask, cls;
    /* flags: OWL_TOK_DEFAULT, 0 or 1 */
    int add_bos, add_eos, add_space_prefix;
} owl_tokenizer_desc;

void owl_tokenizer_desc_init(owl_tokenizer_desc *d);

owl_tokenizer *owl_tokenizer_new(const owl_tokenizer_desc *d, owl_error *err);
/* Reads the tokenizer.ggml.* keys (and general.name); the result does not borrow from g. */
owl_tokenizer *owl_tokenizer_from_gguf(const owl_gguf *g, owl_error *err);
void owl_tokenizer_destroy(owl_tokenizer *t);

/* ---- encoding ----------------------------------------------------------------------------- */

/* Tokenizes len bytes of text (any bytes; invalid UTF-8 never fails). *ids is malloc'd (the
 * caller frees it; it may be NULL when *n is 0). Returns 0, or -1 when out of memory. */
int owl_tokenize(const owl_tokenizer *t, const char *text, size_t len, bool add_special,
                 bool parse_special, int32_t **ids, size_t *n, owl_error *err);

/* ---- decoding ----------------------------------------------------------------------------- */

/* The bytes a token stands for (U+2581 as space, byte tokens as their byte, byte-level BPE
 * mapped back to bytes). Control and unknown tokens give their text when `special` is set and
 * nothing otherwise. Valid while t lives; empty for ids out of range. */
owl_str owl_token_piece(const owl_tokenizer *t, int32_t id, bool special);

enum {
    OWL_DETOK_SPECIAL = 1,        /* render control and unknown tokens as their text */
    OWL_DETOK_REMOVE_SPECIAL = 2, /* drop a leading BOS / trailing EOS that add_special adds */
    OWL_DETOK_CLEAN_SPACES = 4    /* the model's clean_up_tokenization_spaces (" ," -> ","),
                                     lossy; only where the vocabulary asks for it */
};

/* Concatenated pieces; for SentencePiece the leading space of the first piece is dropped (it
 * is the prefix tokenization adds). Returns a malloc'd NUL-terminated string (*len without
 * the NUL), NULL when out of memory or an id is out of range. */
char *owl_detokenize(const owl_tokenizer *t, const int32_t *ids, size_t n, unsigned flags,
                     size_t *len, owl_error *err);

/* Streaming detokenizer: text comes out as soon as it is whole UTF-8; the bytes of a character
 * split across tokens are held until it completes, so a caller never prints half a character.
 * Invalid bytes come out as U+FFFD. Same leading-space rule and flags as owl_detokenize. */
typedef struct owl_detok_stream owl_detok_stream;

owl_detok_stream *owl_detok_stream_new(const owl_tokenizer *t, unsigned flags);
/* Adds one token; *out and *len receive the text that became complete (valid until the next call
 * on this stream). Returns 0, -1 for an id out of range or out of memory. */
int owl_detok_stream_push(owl_detok_stream *s, int32_t id, const char **out, size_t *len,
                          owl_error *err);
/* Ends the stream: held bytes of an unfinished character come out as U+FFFD. */
void owl_detok_stream_flush(owl_detok_stream *s, const char **out, size_t *len);
void owl_detok_stream_destroy(owl_detok_stream *s);

/* ---- vocabulary ----------------------------------------------------------------------------- */

owl_tok_kind owl_tokenizer_kind(const owl_tokenizer *t);
const char *owl_tokenizer_pre(const owl_tokenizer *t); /* the pre-tokenizer name in use */
size_t owl_tokenizer_n_vocab(const owl_tokenizer *t);
/* Special ids, OWL_TOKEN_NONE where the model has none. */
int32_t owl_tokenizer_bos(const owl_tokenizer *t);
int32_t owl_tokenizer_eos(const owl_tokenizer *t);
int32_t owl_tokenizer_eot(const owl_tokenizer *t);
int32_t owl_tokenizer_unk(const owl_tokenizer *t);
int32_t owl_tokenizer_sep(const owl_tokenizer *t);
int32_t owl_tokenizer_pad(const owl_tokenizer *t);
bool owl_tokenizer_add_bos(const owl_tokenizer *t);
bool owl_tokenizer_add_eos(const owl_tokenizer *t);
/* End of generation: EOS, EOT, EOM and the end-of-turn tokens known by their text. */
bool owl_tokenizer_is_eog(const owl_tokenizer *t, int32_t id);
/* The token's text as stored in the vocabulary (empty for ids out of range). */
owl_str owl_token_text(const owl_tokenizer *t, int32_t id);
owl_token_type owl_token_get_type(const owl_tokenizer *t, int32_t id);
/* Exact lookup of a token's stored text; OWL_TOKEN_NONE when absent. */
int32_t owl_tokenizer_find(const owl_tokenizer *t, const char *text, size_t len);

/* Byte-level BPE spells each byte as a printable code point (GPT-2's bytes_to_unicode): the
 * printable Latin-1 bytes stand for themselves, the other 68 take U+0100.. in byte order. */
uint32_t owl_bpe_byte_codepoint(uint8_t b);

#ifdef __cplusplus
}
#endif
#endif
