/* Private to src/forge: vocabularies and presets. */
#ifndef OWL_FORGE_INTERNAL_H
#define OWL_FORGE_INTERNAL_H

#include "owl/gguf.h"

/* Token types as GGUF stores them (tokenizer.ggml.token_type). */
enum {
    TOKEN_NORMAL = 1,
    TOKEN_UNKNOWN = 2,
    TOKEN_CONTROL = 3,
    TOKEN_USER_DEFINED = 4,
    TOKEN_UNUSED = 5,
    TOKEN_BYTE = 6,
};

/* A byte-level BPE vocabulary built from a tiktoken rank file: token strings in GPT-2's
 * byte-to-unicode spelling, merges "A B" in priority order. */
typedef struct bpe_vocab {
    size_t n_tokens;
    char **tokens;   /* NUL-terminated UTF-8 */
    int32_t *types;
    size_t n_merges;
    char **merges;
} bpe_vocab;

/* Loads `path` (lines "base64(bytes) rank", rank = id) and derives the merges. */
int bpe_vocab_from_tiktoken(bpe_vocab *v, const char *path, owl_error *err);
/* Appends a token (copied) of the given type; grows the arrays. */
int bpe_vocab_push(bpe_vocab *v, const char *text, int32_t type);
void bpe_vocab_free(bpe_vocab *v);

/* Where a twin's vocabulary comes from. */
typedef enum vocab_source {
    VOCAB_GGUF,      /* copy every tokenizer.* key of a vocab GGUF */
    VOCAB_QWEN2,     /* qwen.tiktoken + Qwen2.5's added tokens, padded to 151936 */
    VOCAB_QWEN3,     /* the same + Qwen3's thinking and tool-response tokens */
    VOCAB_LLAMA3,    /* Llama 3's tokenizer.model + its 256 special tokens */
} vocab_source;

typedef struct forge_dims {
    int n_layer, n_embd, n_head, n_head_kv, head_dim, n_ff;
} forge_dims;

typedef struct forge_preset {
    const char *name;       /* owl's preset name */
    const char *model_name; /* general.name */
    const char *arch;       /* general.architecture */
    forge_dims full, tiny;
    int64_t context_length;
    double rope_base;
    double rms_eps;
    bool tied;              /* output projection shares token_embd */
    bool qkv_bias;          /* qwen2 */
    bool qk_norm;           /* qwen3 */
    bool llama3_rope;       /* rope_freqs tensor: Llama 3.1+ frequency factors */
    vocab_source vocab;
    const char *vocab_file; /* under the data dir */
    const char *template_file; /* under the data dir, or NULL */
} forge_preset;

const forge_preset *forge_find_preset(const char *name);

/* Adds the tokenizer.* keys for the preset; returns the vocabulary size or -1. */
int64_t forge_write_vocab(owl_gguf_writer *w, const forge_preset *p, const char *data_dir,
                          owl_error *err);

/* FNV-1a over n bytes: keys of the rank map and the per-tensor weight streams. */
uint64_t forge_hash(const void *p, size_t n);

/* Fills n floats with N(0, std^2) + mean from the stream named by (seed, name, row). */
void forge_gaussian(float *out, int64_t n, uint64_t seed, const char *name, int64_t row,
                    float mean, float std);

#endif
