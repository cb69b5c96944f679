/* libFuzzer target: tokenize arbitrary bytes, then decode the ids back, whole and streamed.
 * The vocabulary is loaded once: $OWL_FUZZ_VOCAB, else ../shared/models/vocab/ggml-vocab-gpt-2.gguf.
 * The first input byte picks the flags; the rest is the text. Checked: no crash, no leak, every
 * id in range, the stream emits only valid UTF-8, and byte-level BPE gives well-formed UTF-8
 * text back exactly (decode(encode(x)) == x). */
#include "owl/gguf.h"
#include "owl/tokenizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static owl_tokenizer *tok;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    const char *path = getenv("OWL_FUZZ_VOCAB");
    if (!path || !*path) path = "../shared/models/vocab/ggml-vocab-gpt-2.gguf";
    owl_error err = {{0}};
    owl_gguf *g = owl_gguf_open(path, &err);
    if (g) tok = owl_tokenizer_from_gguf(g, &err);
    owl_gguf_close(g);
    if (!tok) {
        fprintf(stderr, "fuzz_tokenizer: %s\n", err.msg);
        abort();
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    bool add = data[0] & 1, parse = data[0] & 2;
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    int32_t *ids = NULL;
    size_t n = 0;
    if (owl_tokenize(tok, text, len, add, parse, &ids, &n, NULL) != 0) abort();
    size_t nv = owl_tokenizer_n_vocab(tok);
    for (size_t i = 0; i < n; i++) {
        if (ids[i] < 0 || (size_t)ids[i] >= nv) abort();
    }
    size_t dl = 0;
    char *back = owl_detokenize(tok, ids, n, OWL_DETOK_SPECIAL, &dl, NULL);
    if (!back) abort();
    if (owl_tokenizer_kind(tok) == OWL_TOK_BPE && !add && !parse && owl_utf8_valid(text, len) &&
        (dl != len || memcmp(back, text, len) != 0)) {
        abort();
    }
    free(back);
    owl_detok_stream *s = owl_detok_stream_new(tok, (unsigned)(data[0] >> 2) & 3);
    if (!s) abort();
    for (size_t i = 0; i < n; i++) {
        const char *out;
        size_t ol;
        if (owl_detok_stream_push(s, ids[i], &out, &ol, NULL) != 0) abort();
        if (!owl_utf8_valid(out, ol)) abort();
    }
    const char *out;
    size_t ol;
    owl_detok_stream_flush(s, &out, &ol);
    if (!owl_utf8_valid(out, ol)) abort();
    owl_detok_stream_destroy(s);
    free(ids);
    return 0;
}
