/* Conformance: every test string of ../shared/models/vocab/<X>.gguf.inp tokenizes to exactly the
 * ids of <X>.gguf.out (add_special=false, parse_special=false), for the vocabulary GGUFs there
 * and, for llama-bpe and qwen2, for the vocabularies of the shape twins (as `owl forge` builds them). Where the
 * tokenizer is lossless, decoding gives the string back. */
#include "owl/gguf.h"
#include "owl/tokenizer.h"
#include "test.h"
#include "tokenizer/twin_vocab.h"

/* Runs the vectors of `vectors` (a path without .inp/.out) through the tokenizer of `model`. */
static void check_vectors(const char *model, const char *vectors, bool lossless) {
    owl_error err = {{0}};
    owl_gguf *g = owl_gguf_open(model, &err);
    if (!g) printf("  %s\n", err.msg);
    REQUIRE(g);
    owl_tokenizer *t = owl_tokenizer_from_gguf(g, &err);
    if (!t) printf("  %s\n", err.msg);
    owl_gguf_close(g);
    REQUIRE(t);
    char path[1024];
    size_t ni, no;
    snprintf(path, sizeof path, "%s.inp", vectors);
    char *inp = owl_read_file(path, SIZE_MAX, &ni, NULL);
    snprintf(path, sizeof path, "%s.out", vectors);
    char *out = owl_read_file(path, SIZE_MAX, &no, NULL);
    REQUIRE(inp && out);
    static const char sep[] = "\n__ggml_vocab_test__\n";
    int pass = 0, fail = 0, rt_fail = 0, stream_fail = 0;
    char *s = inp, *line = out;
    while (*line) {
        char *e = strstr(s, sep);
        size_t len = e ? (size_t)(e - s) : strlen(s);
        char *nl = strchr(line, '\n');
        if (nl) *nl = '\0';
        int32_t *ids = NULL;
        size_t n = 0;
        CHECK(owl_tokenize(t, s, len, false, false, &ids, &n, &err) == 0);
        char got[8192];
        size_t o = 0;
        got[0] = '\0';
        for (size_t i = 0; i < n && o + 16 < sizeof got; i++) o += (size_t)snprintf(got + o, sizeof got - o, " %d", ids[i]);
        if (strcmp(got, line) == 0) {
            pass++;
        } else {
            fail++;
            printf("  \"%.*s\"\n    want%s\n    got %s\n", (int)len, s, line, got);
        }
        size_t dl;
        char *back = owl_detokenize(t, ids, n, 0, &dl, &err);
        if (lossless && (!back || dl != len || memcmp(back, s, len) != 0)) {
            rt_fail++;
            printf("  round trip: \"%.*s\" -> \"%s\"\n", (int)len, s, back ? back : "(null)");
        }
        /* the streaming decoder, token by token, gives the same text */
        owl_detok_stream *st = owl_detok_stream_new(t, 0);
        char streamed[8192];
        size_t sl = 0;
        for (size_t i = 0; st && i <= n; i++) {
            const char *piece = "";
            size_t pl = 0;
            if (i < n) CHECK(owl_detok_stream_push(st, ids[i], &piece, &pl, &err) == 0);
            else owl_detok_stream_flush(st, &piece, &pl);
            if (sl + pl < sizeof streamed) {
                memcpy(streamed + sl, piece, pl);
                sl += pl;
            }
        }
        owl_detok_stream_destroy(st);
        if (back && owl_utf8_valid(back, dl) && (sl != dl || memcmp(streamed, back, dl) != 0)) {
            stream_fail++;
            printf("  stream: \"%.*s\" differs from \"%s\"\n", (int)sl, streamed, back);
        }
        free(back);
        free(ids);
        if (!e || !nl) break;
        s = e + strlen(sep);
        line = nl + 1;
    }
    const char *base = strrchr(vectors, '/');
    printf("  %s: %d/%d pass%s\n", base ? base + 1 : vectors, pass, pass + fail,
           lossless ? (rt_fail ? ", round trip FAILED" : ", round trip ok") : "");
    CHECK(pass > 40);
    CHECK_EQ_INT(fail, 0);
    CHECK_EQ_INT(rt_fail, 0);
    CHECK_EQ_INT(stream_fail, 0);
    free(inp);
    free(out);
    owl_tokenizer_destroy(t);
}

#define VOCAB_TEST(fn, name, lossless)                                                   \
    static void fn(void) {                                                               \
        SHARED_OR_SKIP(p, "models/vocab/ggml-vocab-" name ".gguf");                      \
        char model[1024];                                                                \
        snprintf(model, sizeof model, "%s", p);                                          \
        check_vectors(model, model, lossless);                                           \
    }

VOCAB_TEST(test_llama_spm, "llama-spm", true)
VOCAB_TEST(test_phi3, "phi-3", true)
VOCAB_TEST(test_gpt2, "gpt-2", true)
VOCAB_TEST(test_deepseek_coder, "deepseek-coder", true)
VOCAB_TEST(test_deepseek_llm, "deepseek-llm", true)
VOCAB_TEST(test_bert_bge, "bert-bge", false)

/* The twins carry the real Llama 3 / Qwen 2.5 vocabularies; write their vocabularies into the
 * scratch directory. */
static void twin_test(const char *preset, const char *vectors_name) {
    SHARED_OR_SKIP(v, "models/vocab/ggml-vocab-llama-bpe.gguf.inp");
    (void)v;
    if (twin_vocab_skip()) SKIP("twin vocabularies are slow to build under ASan (OWL_TOKENIZER_TWINS=1 runs them)");
    char vectors[1024];
    const char *vp = test_shared(vectors_name);
    REQUIRE(vp);
    snprintf(vectors, sizeof vectors, "%s", vp);
    vectors[strlen(vectors) - 4] = '\0'; /* drop ".inp" */
    char model[1024];
    snprintf(model, sizeof model, "%s/%s.gguf", test_tmpdir(), preset);
    owl_error err = {{0}};
    if (twin_vocab_write(preset, model, &err) != 0) printf("  twin %s: %s\n", preset, err.msg);
    REQUIRE(access(model, R_OK) == 0);
    check_vectors(model, vectors, true);
    unlink(model);
}

static void test_llama_bpe_twin(void) { twin_test("llama3.2-1b", "models/vocab/ggml-vocab-llama-bpe.gguf.inp"); }
static void test_qwen2_twin(void) { twin_test("qwen2.5-0.5b", "models/vocab/ggml-vocab-qwen2.gguf.inp"); }

int main(void) {
    RUN(test_llama_spm);
    RUN(test_phi3);
    RUN(test_gpt2);
    RUN(test_deepseek_coder);
    RUN(test_deepseek_llm);
    RUN(test_bert_bge);
    RUN(test_llama_bpe_twin);
    RUN(test_qwen2_twin);
    rmdir(test_tmpdir());
    return test_summary();
}
