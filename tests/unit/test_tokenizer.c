/* Tokenizer algorithms on small vocabularies built in memory: merge order, byte fallback,
 * special tokens, WordPiece splitting, pieces, the streaming detokenizer and bad input. */
#include "owl/gguf.h"
#include "owl/tokenizer.h"
#include "test.h"

#include <stdint.h>

static owl_str S(const char *s) { return (owl_str){s, strlen(s)}; }

static bool ids_eq(const int32_t *got, size_t n, const int32_t *want, size_t m) {
    if (n != m) return false;
    for (size_t i = 0; i < n; i++) {
        if (got[i] != want[i]) return false;
    }
    return true;
}

static void print_ids(const char *label, const int32_t *v, size_t n) {
    printf("  %s:", label);
    for (size_t i = 0; i < n; i++) printf(" %d", v[i]);
    printf("\n");
}

#define CHECK_TOK(t, text, add, parse, ...)                                              \
    do {                                                                                 \
        const int32_t want_[] = {__VA_ARGS__};                                           \
        int32_t *got_ = NULL;                                                            \
        size_t n_ = 0;                                                                   \
        owl_error e_ = {{0}};                                                            \
        CHECK(owl_tokenize(t, text, strlen(text), add, parse, &got_, &n_, &e_) == 0);    \
        bool ok_ = ids_eq(got_, n_, want_, sizeof want_ / sizeof want_[0]);              \
        if (!ok_) {                                                                      \
            printf("  tokenize(\"%s\") differs\n", text);                               \
            print_ids("got ", got_, n_);                                                 \
            print_ids("want", want_, sizeof want_ / sizeof want_[0]);                    \
        }                                                                                \
        CHECK(ok_);                                                                      \
        free(got_);                                                                      \
    } while (0)

static void check_empty(const owl_tokenizer *t, const char *text, bool add, bool parse) {
    int32_t *ids = NULL;
    size_t n = 99;
    CHECK(owl_tokenize(t, text, strlen(text), add, parse, &ids, &n, NULL) == 0);
    CHECK_EQ_INT(n, 0);
    free(ids);
}

/* ---- byte-level BPE ---------------------------------------------------------------------------- */

/* The 256 byte symbols (ids 0..255 in byte order), then merged tokens. */
static owl_tokenizer *bpe_vocab(const char *pre, const char *const *extra, size_t n_extra,
                                const char *const *merges, size_t n_merges, const int32_t *types) {
    static char bytes[256][4];
    owl_str toks[300];
    int32_t ty[300];
    size_t n = 0;
    for (int b = 0; b < 256; b++) {
        /* printable bytes stand for themselves; the others take 256.. in order */
        unsigned cp;
        bool pr = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
        if (pr) {
            cp = (unsigned)b;
        } else {
            unsigned k = 0;
            for (int x = 0; x < b; x++) {
                bool p2 = (x >= 0x21 && x <= 0x7E) || (x >= 0xA1 && x <= 0xAC) || x >= 0xAE;
                if (!p2) k++;
            }
            cp = 256 + k;
        }
        size_t len;
        if (cp < 0x80) bytes[b][0] = (char)cp, len = 1;
        else bytes[b][0] = (char)(0xC0 | cp >> 6), bytes[b][1] = (char)(0x80 | (cp & 0x3f)), len = 2;
        toks[n] = (owl_str){bytes[b], len};
        ty[n++] = 1;
    }
    for (size_t i = 0; i < n_extra; i++) {
        toks[n] = S(extra[i]);
        ty[n] = types ? types[i] : 1;
        n++;
    }
    owl_str ms[64];
    for (size_t i = 0; i < n_merges; i++) ms[i] = S(merges[i]);
    owl_tokenizer_desc d;
    owl_tokenizer_desc_init(&d);
    d.model = "gpt2";
    d.pre = pre;
    d.n_tokens = n;
    d.tokens = toks;
    d.types = ty;
    d.n_merges = n_merges;
    d.merges = ms;
    owl_error err = {{0}};
    owl_tokenizer *t = owl_tokenizer_new(&d, &err);
    if (!t) printf("  %s\n", err.msg);
    return t;
}

static void test_bpe_merge_order(void) {
    /* "ab" then "abc" outranks "bc": "abc" -> [abc]; "bcd" -> [bc, d]; the space is Ġ (0x120) */
    const char *extra[] = {"ab", "bc", "abc", "\304\240a", "\304\240ab", "<|end|>"};
    const int32_t types[] = {1, 1, 1, 1, 1, 3};
    const char *merges[] = {"a b", "b c", "ab c", "\xc4\xa0 a", "\304\240a b"};
    owl_tokenizer *t = bpe_vocab("gpt-2", extra, 6, merges, 5, types);
    REQUIRE(t);
    CHECK_EQ_INT(owl_tokenizer_n_vocab(t), 262);
    CHECK_TOK(t, "abc", false, false, 258);
    CHECK_TOK(t, "bcd", false, false, 257, 'd');
    CHECK_TOK(t, "abab", false, false, 256, 256);
    /* the pre-tokenizer keeps " ab" together and splits "c" from "." */
    /* "a b" outranks "Ġ a": " ab" ends as [Ġ, ab] since no rule joins those two */
    CHECK_TOK(t, " ab.", false, false, ' ', 256, '.');
    CHECK_TOK(t, " a.", false, false, 259, '.');
    /* a control token is text unless special tokens are parsed */
    CHECK_TOK(t, "a<|end|>", false, true, 'a', 261);
    CHECK_TOK(t, "<|end|>", false, false, '<', '|', 'e', 'n', 'd', '|', '>');
    check_empty(t, "", false, false);
    /* every byte round-trips, invalid UTF-8 included: decode(encode(x)) == x */
    const char *texts[] = {"abc abab  bcd\n\t", "caf\xc3\xa9 \xf0\x9f\xa6\x99", "x  y   "};
    for (size_t i = 0; i < 3; i++) {
        int32_t *ids;
        size_t n;
        REQUIRE(owl_tokenize(t, texts[i], strlen(texts[i]), false, false, &ids, &n, NULL) == 0);
        size_t len;
        char *back = owl_detokenize(t, ids, n, 0, &len, NULL);
        CHECK_STR(back, texts[i]);
        free(back);
        free(ids);
    }
    owl_tokenizer_destroy(t);
}

static void test_bpe_pretokenizers(void) {
    /* No merges: the ids are bytes, so only where words start matters; compare the word
     * boundaries through a vocabulary in which whole words are tokens (llama3 ignores merges). */
    const char *extra[] = {"Hello", "\xc4\xa0world", "123", "'s", "\xc4\x8a\xc4\x8a"};
    owl_tokenizer *t = bpe_vocab("llama-bpe", extra, 5, NULL, 0, NULL);
    REQUIRE(t);
    CHECK_STR(owl_tokenizer_pre(t), "llama-bpe");
    CHECK_TOK(t, "Hello world", false, false, 256, 257);
    /* numbers go in threes */
    CHECK_TOK(t, "1234", false, false, 258, '4');
    CHECK_TOK(t, "'s", false, false, 259);
    CHECK_TOK(t, "\n\n", false, false, 260);
    owl_tokenizer_destroy(t);
    /* qwen2: digits one by one */
    t = bpe_vocab("qwen2", extra, 5, NULL, 0, NULL);
    REQUIRE(t);
    CHECK_TOK(t, "1234", false, false, '1', '2', '3', '4');
    owl_tokenizer_destroy(t);
    /* every known pre-tokenizer compiles and splits a mixed text without losing bytes */
    static const char *const pres[] = {
        "default", "gpt-2", "llama3", "llama-bpe", "falcon3", "dbrx", "smaug-bpe", "chatglm-bpe",
        "deepseek-llm", "deepseek-coder", "deepseek-v3", "falcon", "starcoder", "refact",
        "command-r", "smollm", "codeshell", "exaone", "minerva-7b", "phi-2", "roberta-bpe", "mpt",
        "olmo", "jais", "qwen2", "stablelm2", "megrez", "poro-chat", "bloom", "gpt3-finnish",
        "viking"};
    const char *mixed = "Hello, world! I'm 12345 \xe4\xbd\xa0\xe5\xa5\xbd\n\n  caf\xc3\xa9\t\xf0\x9f\xa6\x99 x=1;  ";
    for (size_t i = 0; i < sizeof pres / sizeof pres[0]; i++) {
        owl_tokenizer *tp = bpe_vocab(pres[i], extra, 0, NULL, 0, NULL);
        CHECKF(tp != NULL, "pre-tokenizer %s", pres[i]);
        if (!tp) continue;
        int32_t *ids;
        size_t n, len;
        CHECK(owl_tokenize(tp, mixed, strlen(mixed), false, false, &ids, &n, NULL) == 0);
        char *back = owl_detokenize(tp, ids, n, 0, &len, NULL);
        CHECKF(back && strcmp(back, mixed) == 0, "pre-tokenizer %s lost bytes", pres[i]);
        free(back);
        free(ids);
        owl_tokenizer_destroy(tp);
    }
    /* unknown pre-tokenizers are refused by name */
    owl_error err = {{0}};
    owl_tokenizer_desc d;
    owl_tokenizer_desc_init(&d);
    owl_str tok = S("a");
    d.model = "gpt2";
    d.pre = "no-such-pre";
    d.n_tokens = 1;
    d.tokens = &tok;
    CHECK(owl_tokenizer_new(&d, &err) == NULL);
    CHECK(strstr(err.msg, "no-such-pre") != NULL);
    d.model = "t5";
    CHECK(owl_tokenizer_new(&d, &err) == NULL);
    CHECK(strstr(err.msg, "t5") != NULL);
}

/* ---- SentencePiece -------------------------------------------------------------------------------- */

static owl_tokenizer *spm_vocab(void) {
    /* <unk> <s> </s>, 256 byte tokens, then pieces with scores */
    static char hex[256][8];
    owl_str toks[300];
    float sc[300];
    int32_t ty[300];
    size_t n = 0;
    toks[n] = S("<unk>"), sc[n] = 0, ty[n++] = 2;
    toks[n] = S("<s>"), sc[n] = 0, ty[n++] = 3;
    toks[n] = S("</s>"), sc[n] = 0, ty[n++] = 3;
    for (int b = 0; b < 256; b++) {
        snprintf(hex[b], sizeof hex[b], "<0x%02X>", b);
        toks[n] = S(hex[b]), sc[n] = 0, ty[n++] = 6;
    }
    const char *pieces[] = {"\xe2\x96\x81", "h", "e", "l", "o", "\xe2\x96\x81h", "he", "ll",
                            "\xe2\x96\x81he", "llo", "\xe2\x96\x81hello", "w", "\xe2\x96\x81w"};
    const float scores[] = {-1, -2, -2, -2, -2, -3, -4, -3, -5, -6, -7, -2, -3};
    for (size_t i = 0; i < sizeof pieces / sizeof pieces[0]; i++) {
        toks[n] = S(pieces[i]), sc[n] = scores[i], ty[n++] = 1;
    }
    owl_tokenizer_desc d;
    owl_tokenizer_desc_init(&d);
    d.model = "llama";
    d.n_tokens = n;
    d.tokens = toks;
    d.scores = sc;
    d.types = ty;
    owl_error err = {{0}};
    owl_tokenizer *t = owl_tokenizer_new(&d, &err);
    if (!t) printf("  %s\n", err.msg);
    return t;
}

static void test_spm(void) {
    owl_tokenizer *t = spm_vocab();
    REQUIRE(t);
    enum { SP = 259, H, E, L, O, SP_H, HE, LL, SP_HE, LLO, SP_HELLO, W, SP_W };
    CHECK_EQ_INT(owl_tokenizer_bos(t), 1);
    CHECK_EQ_INT(owl_tokenizer_eos(t), 2);
    CHECK(owl_tokenizer_add_bos(t));
    /* "▁hello" assembles from the highest-scoring pairs first */
    CHECK_TOK(t, "hello", false, false, SP_HELLO);
    CHECK_TOK(t, "hello", true, false, 1, SP_HELLO);
    /* a character without a token falls back to its UTF-8 bytes: é = C3 A9 */
    CHECK_TOK(t, "h\xc3\xa9", false, false, SP_H, 3 + 0xC3, 3 + 0xA9);
    /* spaces become ▁, and a special token restarts the prefix space */
    CHECK_TOK(t, "hello w", false, false, SP_HELLO, SP_W);
    CHECK_TOK(t, "he<s>he", false, true, SP_HE, 1, SP_HE);
    CHECK_TOK(t, "<s>", false, false, SP, 3 + '<', 3 + 's', 3 + '>');
    check_empty(t, "", false, false);
    /* decoding: the prefix space goes, byte tokens come back as bytes */
    const int32_t ids[] = {SP_HELLO, SP_W, 3 + 0xC3, 3 + 0xA9};
    size_t len;
    char *s = owl_detokenize(t, ids, 4, 0, &len, NULL);
    CHECK_STR(s, "hello w\xc3\xa9");
    free(s);
    const int32_t with_bos[] = {1, SP_HELLO};
    /* as in the reference, the space is kept once a BOS was removed */
    s = owl_detokenize(t, with_bos, 2, OWL_DETOK_REMOVE_SPECIAL, &len, NULL);
    CHECK_STR(s, " hello");
    free(s);
    s = owl_detokenize(t, with_bos, 2, OWL_DETOK_SPECIAL, &len, NULL);
    CHECK_STR(s, "<s> hello");
    free(s);
    owl_str p = owl_token_piece(t, 1, false);
    CHECK_EQ_INT(p.len, 0);
    p = owl_token_piece(t, SP_HE, false);
    CHECK(p.len == 3 && memcmp(p.ptr, " he", 3) == 0);
    /* out of range ids are an error, not a crash */
    const int32_t bad[] = {5, 100000};
    owl_error err = {{0}};
    CHECK(owl_detokenize(t, bad, 2, 0, &len, &err) == NULL);
    CHECK(strstr(err.msg, "100000") != NULL);
    /* round trip of text with spaces everywhere */
    const char *text = "  hello  w  ";
    int32_t *v;
    size_t n;
    REQUIRE(owl_tokenize(t, text, strlen(text), false, false, &v, &n, NULL) == 0);
    s = owl_detokenize(t, v, n, 0, &len, NULL);
    CHECK_STR(s, text);
    free(s);
    free(v);
    owl_tokenizer_destroy(t);
}

static void test_control_never_from_text(void) {
    /* "ab" is a control token: merging plain text never produces it */
    const char *words[] = {"<unk>", "\342\226\201", "a", "b", "ab", "\342\226\201a"};
    const int32_t types[] = {2, 1, 1, 1, 3, 1};
    const float scores[] = {0, -1, -1, -1, 10, -2};
    owl_str toks[6];
    for (size_t i = 0; i < 6; i++) toks[i] = S(words[i]);
    owl_tokenizer_desc d;
    owl_tokenizer_desc_init(&d);
    d.model = "llama";
    d.n_tokens = 6;
    d.tokens = toks;
    d.types = types;
    d.scores = scores;
    owl_tokenizer *t = owl_tokenizer_new(&d, NULL);
    REQUIRE(t);
    CHECK_TOK(t, "ab", false, false, 5, 3);
    CHECK_TOK(t, "ab", false, true, 4);
    owl_tokenizer_destroy(t);
}

static void test_stream(void) {
    owl_tokenizer *t = spm_vocab();
    REQUIRE(t);
    /* "h€!" with € = E2 82 AC as three byte tokens: nothing half-done ever comes out */
    const int32_t ids[] = {269, 3 + 0xE2, 3 + 0x82, 3 + 0xAC, 3 + '!', 3 + 0xF0, 3 + 0x9F};
    owl_detok_stream *s = owl_detok_stream_new(t, 0);
    REQUIRE(s);
    char all[64] = {0};
    size_t total = 0;
    size_t lens[7];
    for (size_t i = 0; i < 7; i++) {
        const char *out;
        size_t len;
        CHECK(owl_detok_stream_push(s, ids[i], &out, &len, NULL) == 0);
        lens[i] = len;
        memcpy(all + total, out, len);
        total += len;
    }
    CHECK_EQ_INT(lens[0], 5);  /* "hello": the prefix space is dropped */
    CHECK_EQ_INT(lens[1], 0);  /* E2 held */
    CHECK_EQ_INT(lens[2], 0);  /* E2 82 held */
    CHECK_EQ_INT(lens[3], 3);  /* € complete */
    CHECK_EQ_INT(lens[4], 1);
    CHECK_EQ_INT(lens[6], 0);  /* F0 9F held */
    const char *out;
    size_t len;
    owl_detok_stream_flush(s, &out, &len);
    memcpy(all + total, out, len);
    total += len;
    CHECK_STR(all, "hello\xe2\x82\xac!\xef\xbf\xbd");
    CHECK(owl_utf8_valid(all, total));
    /* an invalid byte in the middle becomes U+FFFD at once */
    owl_detok_stream_destroy(s);
    s = owl_detok_stream_new(t, 0);
    const int32_t bad[] = {3 + 0xE2, 3 + 'x'};
    CHECK(owl_detok_stream_push(s, bad[0], &out, &len, NULL) == 0);
    CHECK_EQ_INT(len, 0);
    CHECK(owl_detok_stream_push(s, bad[1], &out, &len, NULL) == 0);
    CHECK(len == 4 && memcmp(out, "\xef\xbf\xbdx", 4) == 0);
    CHECK(owl_detok_stream_push(s, 99999, &out, &len, NULL) == -1);
    owl_detok_stream_destroy(s);
    owl_tokenizer_destroy(t);
}

/* ---- WordPiece ---------------------------------------------------------------------------------- */

static void test_wpm(void) {
    const char *words[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "\xe2\x96\x81hello", "\xe2\x96\x81world",
                           "\xe2\x96\x81un", "believ", "able", "\xe2\x96\x81!", "\342\226\201cafe",
                           "\xe2\x96\x81\xe4\xb8\x96"};
    owl_str toks[12];
    int32_t ty[12];
    for (size_t i = 0; i < 12; i++) toks[i] = S(words[i]), ty[i] = i < 4 ? 3 : 1;
    owl_tokenizer_desc d;
    owl_tokenizer_desc_init(&d);
    d.model = "bert";
    d.n_tokens = 12;
    d.tokens = toks;
    d.types = ty;
    d.unk = 1;
    d.cls = 2;
    d.sep = 3;
    d.pad = 0;
    owl_tokenizer *t = owl_tokenizer_new(&d, NULL);
    REQUIRE(t);
    CHECK_TOK(t, "Hello, WORLD!", false, false, 4, 1, 5, 9);
    CHECK_TOK(t, "unbelievable", true, false, 2, 6, 7, 8, 3);
    /* accents are stripped, CJK ideographs are words of their own, unknown words are [UNK] */
    CHECK_TOK(t, "Caf\xc3\xa9 \xe4\xb8\x96\xe4\xb8\x96 xyz", false, false, 10, 11, 11, 1);
    check_empty(t, " \t\n", false, false);
    owl_tokenizer_destroy(t);
}

/* ---- bad input ------------------------------------------------------------------------------------ */

static size_t put_utf8(char *o, unsigned cp) {
    if (cp < 0x80) return o[0] = (char)cp, 1;
    if (cp < 0x800) return o[0] = (char)(0xC0 | cp >> 6), o[1] = (char)(0x80 | (cp & 63)), 2;
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | cp >> 12), o[1] = (char)(0x80 | (cp >> 6 & 63)), o[2] = (char)(0x80 | (cp & 63));
        return 3;
    }
    o[0] = (char)(0xF0 | cp >> 18), o[1] = (char)(0x80 | (cp >> 12 & 63));
    o[2] = (char)(0x80 | (cp >> 6 & 63)), o[3] = (char)(0x80 | (cp & 63));
    return 4;
}

static void test_random_text(void) {
    const char *extra[] = {"ab"};
    const char *merges[] = {"a b"};
    owl_tokenizer *tb = bpe_vocab("default", extra, 1, merges, 1, NULL);
    owl_tokenizer *ts = spm_vocab();
    REQUIRE(tb && ts);
    owl_tokenizer *both[2] = {tb, ts};
    unsigned long long seed = 7;
    char buf[1024];
    for (int it = 0; it < 300; it++) {
        /* arbitrary bytes never fail or crash */
        size_t n = test_rng_next(&seed) % 512;
        for (size_t i = 0; i < n; i++) buf[i] = (char)(test_rng_next(&seed) & 0xff);
        for (int k = 0; k < 2; k++) {
            int32_t *ids;
            size_t m;
            CHECK(owl_tokenize(both[k], buf, n, true, true, &ids, &m, NULL) == 0);
            free(ids);
        }
        /* well-formed text (spaces, ASCII, Latin, CJK, emoji) comes back byte for byte */
        n = 0;
        size_t chars = test_rng_next(&seed) % 100;
        for (size_t i = 0; i < chars; i++) {
            static const unsigned base[] = {0x20, 0x61, 0xE0, 0x4E00, 0x1F600, 0x0A};
            static const unsigned span[] = {1, 26, 32, 64, 32, 1};
            unsigned r = (unsigned)(test_rng_next(&seed) % 6);
            n += put_utf8(buf + n, base[r] + (unsigned)(test_rng_next(&seed) % span[r]));
        }
        for (int k = 0; k < 2; k++) {
            int32_t *ids;
            size_t m, len;
            CHECK(owl_tokenize(both[k], buf, n, false, false, &ids, &m, NULL) == 0);
            char *back = owl_detokenize(both[k], ids, m, 0, &len, NULL);
            bool same = back && len == n && memcmp(back, buf, n) == 0;
            if (!same) printf("  round trip failed (%s): \"%.*s\" -> \"%s\"\n", k ? "spm" : "bpe", (int)n, buf, back);
            CHECK(same);
            free(back);
            free(ids);
        }
    }
    owl_tokenizer_destroy(tb);
    owl_tokenizer_destroy(ts);
}

/* Writes a GGUF with the given tokenizer keys and returns from_gguf's result (err filled). */
typedef void (*fill_fn)(owl_gguf_writer *w);

static owl_tokenizer *load_written(fill_fn fill, owl_error *err) {
    char path[600];
    snprintf(path, sizeof path, "%s/tok.gguf", test_tmpdir());
    owl_gguf_writer *w = owl_gguf_writer_new();
    fill(w);
    owl_tokenizer *t = NULL;
    if (owl_gguf_write(w, path, NULL, NULL, err) == 0) {
        owl_gguf *g = owl_gguf_open(path, err);
        if (g) t = owl_tokenizer_from_gguf(g, err);
        owl_gguf_close(g);
    }
    owl_gguf_writer_destroy(w);
    unlink(path);
    return t;
}

static const char *const small_tokens[] = {"<unk>", "<s>", "</s>", "a"};

static void fill_no_model(owl_gguf_writer *w) {
    owl_gguf_set_array_str(w, "tokenizer.ggml.tokens", small_tokens, NULL, 4);
}
static void fill_gpt2_no_merges(owl_gguf_writer *w) {
    owl_gguf_set_str(w, "tokenizer.ggml.model", "gpt2");
    owl_gguf_set_array_str(w, "tokenizer.ggml.tokens", small_tokens, NULL, 4);
}
static void fill_short_scores(owl_gguf_writer *w) {
    const float sc[2] = {0, 0};
    owl_gguf_set_str(w, "tokenizer.ggml.model", "llama");
    owl_gguf_set_array_str(w, "tokenizer.ggml.tokens", small_tokens, NULL, 4);
    owl_gguf_set_array(w, "tokenizer.ggml.scores", OWL_GGUF_FLOAT32, sc, 2);
}
static void fill_int_tokens(owl_gguf_writer *w) {
    const int32_t v[2] = {1, 2};
    owl_gguf_set_str(w, "tokenizer.ggml.model", "llama");
    owl_gguf_set_array(w, "tokenizer.ggml.tokens", OWL_GGUF_INT32, v, 2);
}
static void fill_bad_pre(owl_gguf_writer *w) {
    const char *merges[] = {"a a"};
    owl_gguf_set_str(w, "tokenizer.ggml.model", "gpt2");
    owl_gguf_set_str(w, "tokenizer.ggml.pre", "mystery");
    owl_gguf_set_array_str(w, "tokenizer.ggml.tokens", small_tokens, NULL, 4);
    owl_gguf_set_array_str(w, "tokenizer.ggml.merges", merges, NULL, 1);
}
static void fill_good(owl_gguf_writer *w) {
    const int32_t types[4] = {2, 3, 3, 1};
    owl_gguf_set_str(w, "tokenizer.ggml.model", "llama");
    owl_gguf_set_array_str(w, "tokenizer.ggml.tokens", small_tokens, NULL, 4);
    owl_gguf_set_array(w, "tokenizer.ggml.token_type", OWL_GGUF_INT32, types, 4);
    owl_gguf_set_u32(w, "tokenizer.ggml.eos_token_id", 0xFFFFFFFFu); /* "none" as some writers store it */
    owl_gguf_set_bool(w, "tokenizer.ggml.add_bos_token", false);
}

static void test_gguf_metadata(void) {
    struct {
        fill_fn fill;
        const char *want;
    } bad[] = {{fill_no_model, "tokenizer.ggml.model"},
               {fill_gpt2_no_merges, "tokenizer.ggml.merges"},
               {fill_short_scores, "tokenizer.ggml.scores"},
               {fill_int_tokens, "tokenizer.ggml.tokens"},
               {fill_bad_pre, "mystery"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        owl_error err = {{0}};
        owl_tokenizer *t = load_written(bad[i].fill, &err);
        CHECK(t == NULL);
        CHECKF(strstr(err.msg, bad[i].want) != NULL, "'%s' does not name %s", err.msg, bad[i].want);
        owl_tokenizer_destroy(t);
    }
    owl_error err = {{0}};
    owl_tokenizer *t = load_written(fill_good, &err);
    if (!t) printf("  %s\n", err.msg);
    REQUIRE(t);
    CHECK_EQ_INT(owl_tokenizer_n_vocab(t), 4);
    CHECK_EQ_INT(owl_tokenizer_bos(t), 1);
    CHECK_EQ_INT(owl_tokenizer_eos(t), 2); /* out of range: the default stays */
    CHECK(!owl_tokenizer_add_bos(t));
    CHECK_EQ_INT(owl_token_get_type(t, 1), OWL_TOKEN_CONTROL);
    CHECK(owl_tokenizer_is_eog(t, 2));
    CHECK_EQ_INT(owl_tokenizer_find(t, "a", 1), 3);
    /* no byte tokens: each byte of a character without a token is the unknown token ("▁b" is
     * four bytes); no BOS since add_bos_token is false */
    CHECK_TOK(t, "b", true, false, 0, 0, 0, 0);
    owl_tokenizer_destroy(t);
}

int main(void) {
    RUN(test_bpe_merge_order);
    RUN(test_bpe_pretokenizers);
    RUN(test_spm);
    RUN(test_control_never_from_text);
    RUN(test_stream);
    RUN(test_wpm);
    RUN(test_random_text);
    RUN(test_gguf_metadata);
    rmdir(test_tmpdir());
    return test_summary();
}
