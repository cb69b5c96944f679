/* Agreement with llama.cpp: every line of tests/data/tokenizer/corpus.txt (and the whole file as
 * one text) gives the ids llama.cpp gives, for every vocabulary GGUF in ../shared/models/vocab and
 * every shape twin's vocabulary; tests/data/tokenizer/special.txt checks special-token parsing
 * both ways, and 200 random strings over many Unicode blocks (unassigned code points included)
 * check the character classes. llama.cpp runs once, through tests/tokenizer/peer_tokenize.mjs
 * (node-llama-cpp from the llamacpp-peer folder), on all models and strings together. */
#include "owl/forge.h"
#include "owl/gguf.h"
#include "owl/tokenizer.h"
#include "test.h"
#include "tokenizer/twin_vocab.h"

#include <jansson.h>

static const char *peer_dir(void) {
    static char dir[1024];
    const char *e = getenv("OWL_PEER_DIR");
    if (!e || !*e) e = getenv("LLAMACPP_PEER_HOME");
    if (e && *e) snprintf(dir, sizeof dir, "%s", e);
    else snprintf(dir, sizeof dir, "%s/.cache/llamacpp-peer", getenv("HOME") ? getenv("HOME") : "");
    char probe[1200];
    snprintf(probe, sizeof probe, "%s/node_modules/node-llama-cpp/package.json", dir);
    if (access(probe, R_OK) != 0) return NULL;
    if (system("node --version >/dev/null 2>&1") != 0) return NULL;
    return dir;
}

/* Lines of a file (without the newline) plus, when `whole`, the file as one text. */
static json_t *read_texts(const char *path, bool whole) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    json_t *a = json_array();
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        if (buf[i] == '\n') {
            json_array_append_new(a, json_stringn(buf + start, i - start));
            start = i + 1;
        }
    }
    if (start < n) json_array_append_new(a, json_stringn(buf + start, n - start));
    if (whole) json_array_append_new(a, json_stringn(buf, n));
    return a;
}

/* Random strings over many Unicode blocks: scripts, combining marks, digits of other scripts,
 * symbols, emoji, private use, unassigned code points, every kind of space (no line breaks, so
 * that each string stays one string). */
static json_t *random_texts(size_t count) {
    static const unsigned ranges[][2] = {
        {0x20, 0x7E}, {0xA0, 0x24F}, {0x300, 0x36F}, {0x370, 0x3FF}, {0x400, 0x4FF},
        {0x590, 0x6FF}, {0x900, 0x97F}, {0xE00, 0xE7F}, {0x1100, 0x11FF}, {0x2000, 0x206F},
        {0x2070, 0x20CF}, {0x2100, 0x218F}, {0x2460, 0x24FF}, {0x3000, 0x30FF}, {0x4E00, 0x4F00},
        {0xAC00, 0xAD00}, {0xE000, 0xE010}, {0xFE00, 0xFE0F}, {0xFF00, 0xFFEF}, {0x1F300, 0x1F64F},
        {0x1F900, 0x1F9FF}, {0x10000, 0x1007F}, {0x1D400, 0x1D4FF}, {0x378, 0x379}, {0x888, 0x89F},
        {0x2FFF0, 0x2FFFF}, {0xE0000, 0xE007F}, {0x9, 0x9}, {0xB, 0xC}, {0x85, 0x85},
        {0x1680, 0x1680}, {0x200B, 0x200D}, {0x660, 0x669}, {0x966, 0x96F}, {0xFF10, 0xFF19},
        {0x2160, 0x2188}};
    const size_t nr = sizeof ranges / sizeof ranges[0];
    unsigned long long seed = 2024;
    json_t *a = json_array();
    for (size_t i = 0; i < count; i++) {
        char buf[256];
        size_t n = 0, chars = 1 + test_rng_next(&seed) % 30;
        for (size_t k = 0; k < chars; k++) {
            const unsigned *r = ranges[test_rng_next(&seed) % nr];
            unsigned c = r[0] + (unsigned)(test_rng_next(&seed) % (r[1] - r[0] + 1));
            if (c == 0x2028 || c == 0x2029) c = 0x20;
            if (c < 0x80) buf[n++] = (char)c;
            else if (c < 0x800) buf[n++] = (char)(0xC0 | c >> 6), buf[n++] = (char)(0x80 | (c & 63));
            else if (c < 0x10000) {
                buf[n++] = (char)(0xE0 | c >> 12), buf[n++] = (char)(0x80 | (c >> 6 & 63));
                buf[n++] = (char)(0x80 | (c & 63));
            } else {
                buf[n++] = (char)(0xF0 | c >> 18), buf[n++] = (char)(0x80 | (c >> 12 & 63));
                buf[n++] = (char)(0x80 | (c >> 6 & 63)), buf[n++] = (char)(0x80 | (c & 63));
            }
        }
        json_array_append_new(a, json_stringn(buf, n));
    }
    return a;
}

typedef struct model {
    char path[4200];
    char name[64];
} model;

enum { TASKS = 4 }; /* per model: corpus, special parsed, special as text, random */

static void test_peer_agreement(void) {
    SHARED_OR_SKIP(vocab_dir, "models/vocab/ggml-vocab-gpt-2.gguf");
    const char *peer = peer_dir();
    if (!peer) {
        if (test_shared_required()) {
            printf("  node or llamacpp-peer is missing (OWL_REQUIRE_SHARED=1)\n");
            test_cur_failed = 1;
            return;
        }
        SKIP("node or the llamacpp-peer folder is absent (run ../shared/tools/llamacpp-peer/setup.sh)");
    }
    (void)vocab_dir;
    model models[16];
    size_t n_models = 0;
    static const char *const vocabs[] = {"llama-spm", "phi-3", "gpt-2", "deepseek-coder",
                                         "deepseek-llm", "bert-bge"};
    for (size_t i = 0; i < sizeof vocabs / sizeof vocabs[0]; i++) {
        char rel[256];
        snprintf(rel, sizeof rel, "models/vocab/ggml-vocab-%s.gguf", vocabs[i]);
        const char *p = test_shared(rel);
        if (!p) continue;
        snprintf(models[n_models].path, sizeof models[n_models].path, "%s", p);
        snprintf(models[n_models].name, sizeof models[n_models].name, "%s", vocabs[i]);
        n_models++;
    }
    /* The twins carry the real models' vocabularies. By default one per pre-tokenizer (Qwen3 adds
     * four tokens to Qwen2.5's vocabulary, TinyLlama has Llama 2's); OWL_TOKENIZER_PEER_ALL=1
     * takes every preset. */
    const char *all = getenv("OWL_TOKENIZER_PEER_ALL");
    bool every = all && strcmp(all, "1") == 0;
    for (const char *const *pn = owl_forge_preset_names(); *pn && !twin_vocab_skip(); pn++) {
        if (!every && strcmp(*pn, "smollm2-135m") != 0 && strcmp(*pn, "qwen2.5-0.5b") != 0 &&
            strcmp(*pn, "llama3.2-1b") != 0) {
            continue;
        }
        model *m = &models[n_models];
        snprintf(m->path, sizeof m->path, "%s/%s.gguf", test_tmpdir(), *pn);
        snprintf(m->name, sizeof m->name, "twin %s", *pn);
        owl_error err = {{0}};
        if (twin_vocab_write(*pn, m->path, &err) != 0) {
            printf("  twin %s: %s\n", *pn, err.msg);
            test_cur_failed = 1;
            continue;
        }
        n_models++;
    }

    json_t *corpus = read_texts("tests/data/tokenizer/corpus.txt", true);
    json_t *special = read_texts("tests/data/tokenizer/special.txt", false);
    json_t *randoms = random_texts(200);
    REQUIRE(corpus && special);
    /* per model: corpus (plain), special lines parsed, special lines as plain text */
    json_t *tasks = json_array();
    for (size_t i = 0; i < n_models; i++) {
        json_array_append_new(tasks, json_pack("{s:s, s:b, s:b, s:O}", "model", models[i].path, "special", 0, "detok", 1, "texts", corpus));
        json_array_append_new(tasks, json_pack("{s:s, s:b, s:O}", "model", models[i].path, "special", 1, "texts", special));
        json_array_append_new(tasks, json_pack("{s:s, s:b, s:O}", "model", models[i].path, "special", 0, "texts", special));
        json_array_append_new(tasks, json_pack("{s:s, s:b, s:O}", "model", models[i].path, "special", 0, "texts", randoms));
    }
    char tasks_path[600];
    snprintf(tasks_path, sizeof tasks_path, "%s/tasks.json", test_tmpdir());
    REQUIRE(json_dump_file(tasks, tasks_path, JSON_COMPACT) == 0);
    char cmd[6000];
    snprintf(cmd, sizeof cmd, "node tests/tokenizer/peer_tokenize.mjs '%s' '%s' 2>/dev/null", peer, tasks_path);
    FILE *p = popen(cmd, "r");
    REQUIRE(p);
    size_t cap = 1 << 20, len = 0;
    char *outbuf = malloc(cap);
    size_t k;
    while ((k = fread(outbuf + len, 1, cap - len - 1, p)) > 0) {
        len += k;
        if (len + 1 == cap) {
            cap *= 2;
            outbuf = realloc(outbuf, cap);
        }
    }
    outbuf[len] = '\0';
    int rc = pclose(p);
    json_error_t jerr;
    json_t *ref = json_loads(outbuf, 0, &jerr);
    free(outbuf);
    if (rc != 0 || !ref) printf("  the peer failed (status %d): %s\n", rc, jerr.text);
    REQUIRE(rc == 0 && ref && json_array_size(ref) == json_array_size(tasks));

    int total_ok = 0, total = 0;
    for (size_t mi = 0; mi < n_models; mi++) {
        owl_error err = {{0}};
        owl_gguf *g = owl_gguf_open(models[mi].path, &err);
        owl_tokenizer *t = g ? owl_tokenizer_from_gguf(g, &err) : NULL;
        owl_gguf_close(g);
        if (!t) {
            printf("  %s: %s\n", models[mi].name, err.msg);
            test_cur_failed = 1;
            continue;
        }
        int ok = 0, n = 0, ok_detok = 0, n_detok = 0;
        for (size_t ti = 0; ti < TASKS; ti++) {
            json_t *task = json_array_get(tasks, mi * TASKS + ti);
            json_t *texts = json_object_get(task, "texts");
            bool parse = json_is_true(json_object_get(task, "special"));
            json_t *want_all = json_array_get(ref, mi * TASKS + ti);
            bool detok = json_is_true(json_object_get(task, "detok"));
            for (size_t si = 0; si < json_array_size(texts); si++) {
                json_t *s = json_array_get(texts, si);
                json_t *want = json_array_get(want_all, si);
                json_t *want_text = NULL;
                if (detok) {
                    want_text = json_object_get(want, "text");
                    want = json_object_get(want, "ids");
                }
                int32_t *ids = NULL;
                size_t nid = 0;
                owl_tokenize(t, json_string_value(s), json_string_length(s), false, parse, &ids, &nid, &err);
                bool same = nid == json_array_size(want);
                for (size_t j = 0; same && j < nid; j++) same = ids[j] == json_integer_value(json_array_get(want, j));
                n++;
                if (same) {
                    ok++;
                } else if (n - ok <= 3) {
                    printf("  %s%s differs on \"%.60s\"\n", models[mi].name, parse ? " (special)" : "",
                           json_string_value(s));
                }
                if (same && want_text) {
                    /* llama.cpp's detokenize: specials rendered, its space clean-up applied */
                    size_t dl;
                    char *back = owl_detokenize(t, ids, nid, OWL_DETOK_SPECIAL | OWL_DETOK_CLEAN_SPACES, &dl, &err);
                    bool text_same = back && dl == json_string_length(want_text) &&
                                     memcmp(back, json_string_value(want_text), dl) == 0;
                    n_detok++;
                    if (text_same) {
                        ok_detok++;
                    } else if (n_detok - ok_detok <= 3) {
                        printf("  %s detokenize differs: \"%.60s\" vs \"%.60s\"\n", models[mi].name,
                               back ? back : "(null)", json_string_value(want_text));
                    }
                    free(back);
                }
                free(ids);
            }
        }
        printf("  %s: %d/%d agree, detokenize %d/%d\n", models[mi].name, ok, n, ok_detok, n_detok);
        CHECK_EQ_INT(ok, n);
        CHECK_EQ_INT(ok_detok, n_detok);
        total_ok += ok;
        total += n;
        owl_tokenizer_destroy(t);
        if (strncmp(models[mi].name, "twin ", 5) == 0) unlink(models[mi].path);
    }
    printf("  all: %d/%d agree\n", total_ok, total);
    unlink(tasks_path);
    json_decref(ref);
    json_decref(tasks);
    json_decref(corpus);
    json_decref(special);
    json_decref(randoms);
}

int main(void) {
    RUN(test_peer_agreement);
    rmdir(test_tmpdir());
    return test_summary();
}
