/* A vocabulary-only GGUF of a shape twin, for the tokenizer tests: the preset's tokenizer.* keys
 * (the real model's vocabulary, built exactly as `owl forge` builds it) and general.name, with
 * the llama hyperparameters of ggml-vocab-llama-spm.gguf so that llama.cpp loads it
 * vocabulary-only too. Writing no weights keeps the tests fast, sanitizers included. */
#ifndef OWL_TEST_TWIN_VOCAB_H
#define OWL_TEST_TWIN_VOCAB_H

#include "forge/forge_internal.h"
#include "owl/gguf.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Building the Llama 3 / Qwen vocabularies from their rank files takes minutes under
 * AddressSanitizer (allocation-heavy), so the sanitizer build skips the twins unless
 * OWL_TOKENIZER_TWINS=1; the code paths they use are covered there by the other vocabularies and
 * the in-memory tests. */
#if defined(__SANITIZE_ADDRESS__)
#define TWIN_UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TWIN_UNDER_ASAN 1
#endif
#endif

static inline bool twin_vocab_skip(void) {
#ifdef TWIN_UNDER_ASAN
    const char *e = getenv("OWL_TOKENIZER_TWINS");
    return !(e && strcmp(e, "1") == 0);
#else
    return false;
#endif
}

/* Writes the twin vocabulary of `preset` to path; returns 0 or -1 with err set. */
static inline int twin_vocab_write(const char *preset, const char *path, owl_error *err) {
    const forge_preset *p = forge_find_preset(preset);
    if (!p) return owl_errorf(err, "no preset %s", preset);
    char data[4096], hp[4200];
    const char *root = getenv("OWL_SHARED");
    snprintf(data, sizeof data, "%s/models", root && *root ? root : "../shared");
    snprintf(hp, sizeof hp, "%s/vocab/ggml-vocab-llama-spm.gguf", data);
    owl_gguf *src = owl_gguf_open(hp, err);
    if (!src) return -1;
    owl_gguf_writer *w = owl_gguf_writer_new();
    int rc = w ? 0 : owl_errorf(err, "out of memory");
    for (uint64_t i = 0; rc == 0 && i < src->n_kv; i++) {
        const char *k = src->kv[i].key;
        if (strncmp(k, "tokenizer.", 10) == 0 || strcmp(k, "general.name") == 0) continue;
        if (owl_gguf_set_value(w, k, &src->kv[i].value) != 0) rc = owl_errorf(err, "out of memory");
    }
    if (rc == 0 && owl_gguf_set_str(w, "general.name", p->model_name) != 0) rc = owl_errorf(err, "out of memory");
    int64_t n = rc == 0 ? forge_write_vocab(w, p, data, err) : -1;
    if (rc == 0 && n < 0) rc = -1;
    if (rc == 0 && owl_gguf_set_u32(w, "llama.vocab_size", (uint32_t)n) != 0) rc = owl_errorf(err, "out of memory");
    if (rc == 0) rc = owl_gguf_write(w, path, NULL, NULL, err);
    owl_gguf_writer_destroy(w);
    owl_gguf_close(src);
    return rc;
}

#endif
