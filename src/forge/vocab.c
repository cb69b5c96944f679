/* The vocabulary of a twin: copied from a vocab-only GGUF, or built from a tiktoken rank file
 * plus the model's added tokens, and written as llama.cpp's tokenizer.* keys. */
#include "forge/forge_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LLAMA3_NOTICE                                                                          \
    "Built with Meta Llama 3. The vocabulary of this file is Meta Llama 3's, licensed under "  \
    "the Meta Llama 3 Community License, Copyright (c) Meta Platforms, Inc. All Rights "       \
    "Reserved. The weights are random."

typedef struct added_token {
    const char *text;
    int32_t type;
} added_token;

/* Qwen2.5's added tokens, ids 151643.. in order (from its tokenizer_config.json: the ones marked
 * special are control tokens, the others user-defined). */
static const added_token qwen2_added[] = {
    {"<|endoftext|>", TOKEN_CONTROL},      {"<|im_start|>", TOKEN_CONTROL},
    {"<|im_end|>", TOKEN_CONTROL},         {"<|object_ref_start|>", TOKEN_CONTROL},
    {"<|object_ref_end|>", TOKEN_CONTROL}, {"<|box_start|>", TOKEN_CONTROL},
    {"<|box_end|>", TOKEN_CONTROL},        {"<|quad_start|>", TOKEN_CONTROL},
    {"<|quad_end|>", TOKEN_CONTROL},       {"<|vision_start|>", TOKEN_CONTROL},
    {"<|vision_end|>", TOKEN_CONTROL},     {"<|vision_pad|>", TOKEN_CONTROL},
    {"<|image_pad|>", TOKEN_CONTROL},      {"<|video_pad|>", TOKEN_CONTROL},
    {"<tool_call>", TOKEN_USER_DEFINED},   {"</tool_call>", TOKEN_USER_DEFINED},
    {"<|fim_prefix|>", TOKEN_USER_DEFINED}, {"<|fim_middle|>", TOKEN_USER_DEFINED},
    {"<|fim_suffix|>", TOKEN_USER_DEFINED}, {"<|fim_pad|>", TOKEN_USER_DEFINED},
    {"<|repo_name|>", TOKEN_USER_DEFINED}, {"<|file_sep|>", TOKEN_USER_DEFINED},
};

/* Qwen3 adds these after Qwen2.5's. */
static const added_token qwen3_added[] = {
    {"<tool_response>", TOKEN_USER_DEFINED}, {"</tool_response>", TOKEN_USER_DEFINED},
    {"<think>", TOKEN_USER_DEFINED},         {"</think>", TOKEN_USER_DEFINED},
};

static int copy_gguf_vocab(owl_gguf_writer *w, const char *path, int64_t *n_vocab,
                           owl_error *err) {
    owl_gguf *g = owl_gguf_open(path, err);
    if (!g) return -1;
    for (uint64_t i = 0; i < g->n_kv; i++) {
        if (strncmp(g->kv[i].key, "tokenizer.", 10) == 0) {
            owl_gguf_set_value(w, g->kv[i].key, &g->kv[i].value);
        }
    }
    const owl_gguf_array *toks = owl_gguf_get_array(g, "tokenizer.ggml.tokens");
    *n_vocab = toks ? (int64_t)toks->n : 0;
    owl_gguf_close(g);
    if (*n_vocab <= 0) return owl_errorf(err, "%s: no tokenizer.ggml.tokens", path);
    return 0;
}

static int write_bpe(owl_gguf_writer *w, const bpe_vocab *v, const char *pre) {
    owl_gguf_set_str(w, "tokenizer.ggml.model", "gpt2");
    owl_gguf_set_str(w, "tokenizer.ggml.pre", pre);
    if (owl_gguf_set_array_str(w, "tokenizer.ggml.tokens", (const char *const *)v->tokens, NULL,
                               v->n_tokens) ||
        owl_gguf_set_array(w, "tokenizer.ggml.token_type", OWL_GGUF_INT32, v->types,
                           v->n_tokens) ||
        owl_gguf_set_array_str(w, "tokenizer.ggml.merges", (const char *const *)v->merges, NULL,
                               v->n_merges)) {
        return -1;
    }
    return 0;
}

static int build_qwen(owl_gguf_writer *w, const char *path, bool qwen3, owl_error *err) {
    bpe_vocab v;
    if (bpe_vocab_from_tiktoken(&v, path, err)) return -1;
    int rc = 0;
    for (size_t i = 0; i < sizeof qwen2_added / sizeof qwen2_added[0]; i++) {
        rc |= bpe_vocab_push(&v, qwen2_added[i].text, qwen2_added[i].type);
    }
    for (size_t i = 0; qwen3 && i < sizeof qwen3_added / sizeof qwen3_added[0]; i++) {
        rc |= bpe_vocab_push(&v, qwen3_added[i].text, qwen3_added[i].type);
    }
    /* The embedding has 151936 rows; ids without a token are padding, as llama.cpp's converter
     * names them. */
    for (size_t id = v.n_tokens; id < 151936; id++) {
        char pad[32];
        snprintf(pad, sizeof pad, "[PAD%zu]", id);
        rc |= bpe_vocab_push(&v, pad, TOKEN_UNUSED);
    }
    if (rc || write_bpe(w, &v, "qwen2")) {
        bpe_vocab_free(&v);
        return owl_errorf(err, "out of memory");
    }
    owl_gguf_set_u32(w, "tokenizer.ggml.bos_token_id", 151643);
    owl_gguf_set_u32(w, "tokenizer.ggml.eos_token_id", 151645);
    owl_gguf_set_u32(w, "tokenizer.ggml.padding_token_id", 151643);
    owl_gguf_set_bool(w, "tokenizer.ggml.add_bos_token", false);
    bpe_vocab_free(&v);
    return 0;
}

static int build_llama3(owl_gguf_writer *w, const char *path, owl_error *err) {
    bpe_vocab v;
    if (bpe_vocab_from_tiktoken(&v, path, err)) return -1;
    if (v.n_tokens != 128000) {
        bpe_vocab_free(&v);
        return owl_errorf(err, "%s: %zu tokens, Llama 3 has 128000", path, v.n_tokens);
    }
    /* 256 special tokens from 128000; the named ones, then reserved_special_token_N. */
    static const char *const named[] = {
        "<|begin_of_text|>", "<|end_of_text|>", NULL, NULL, "<|finetune_right_pad_id|>", NULL,
        "<|start_header_id|>", "<|end_header_id|>", "<|eom_id|>", "<|eot_id|>", "<|python_tag|>",
    };
    int rc = 0, reserved = 0;
    for (int i = 0; i < 256; i++) {
        char buf[64];
        const char *text = i < (int)(sizeof named / sizeof named[0]) ? named[i] : NULL;
        if (!text) {
            snprintf(buf, sizeof buf, "<|reserved_special_token_%d|>", reserved++);
            text = buf;
        }
        rc |= bpe_vocab_push(&v, text, TOKEN_CONTROL);
    }
    if (rc || write_bpe(w, &v, "llama-bpe")) {
        bpe_vocab_free(&v);
        return owl_errorf(err, "out of memory");
    }
    owl_gguf_set_u32(w, "tokenizer.ggml.bos_token_id", 128000);
    owl_gguf_set_u32(w, "tokenizer.ggml.eos_token_id", 128009);
    owl_gguf_set_bool(w, "tokenizer.ggml.add_bos_token", true);
    owl_gguf_set_str(w, "general.license", "llama3.2");
    owl_gguf_set_str(w, "general.license.link", "https://www.llama.com/llama3_2/license/");
    owl_gguf_set_str(w, "general.notice", LLAMA3_NOTICE);
    bpe_vocab_free(&v);
    return 0;
}

int64_t forge_write_vocab(owl_gguf_writer *w, const forge_preset *p, const char *data_dir,
                          owl_error *err) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", data_dir, p->vocab_file);
    int64_t n = 0;
    switch (p->vocab) {
    case VOCAB_GGUF:
        if (copy_gguf_vocab(w, path, &n, err)) return -1;
        return n;
    case VOCAB_QWEN2:
    case VOCAB_QWEN3:
        if (build_qwen(w, path, p->vocab == VOCAB_QWEN3, err)) return -1;
        return 151936;
    case VOCAB_LLAMA3:
        if (build_llama3(w, path, err)) return -1;
        return 128256;
    }
    return owl_errorf(err, "preset %s: no vocabulary", p->name);
}
