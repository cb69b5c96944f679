/* Conformance: every (template, case) pair of ../shared/models/templates renders byte-exact
 * against its expected .txt file, or fails where an .error file says so (with the same message when
 * the template raised it itself). Contexts are built as that README describes. */
#include "owl/chat.h"
#include "test.h"

#include <pthread.h>
#include <time.h>

/* special_tokens.tsv: file<TAB>bos<TAB>eos */
static int tokens_for(const char *tsv, const char *file, char *bos, char *eos, size_t cap) {
    char *line = strtok((char *)tsv, "\n");
    for (; line; line = strtok(NULL, "\n")) {
        if (line[0] == '#') continue;
        char *t1 = strchr(line, '\t');
        if (!t1) continue;
        char *t2 = strchr(t1 + 1, '\t');
        if (!t2) continue;
        if ((size_t)(t1 - line) == strlen(file) && memcmp(line, file, strlen(file)) == 0) {
            snprintf(bos, cap, "%.*s", (int)(t2 - t1 - 1), t1 + 1);
            snprintf(eos, cap, "%s", t2 + 1);
            return 0;
        }
    }
    return -1;
}

static const owl_template_opts FIXED_TIME = {.fixed_time = true, .time = 1768435200}; /* 2026-01-15 */

static int pairs_total, pairs_passed;

static void test_conformance(void) {
    SHARED_OR_SKIP(dir, "models/templates/expected/index.tsv");
    char root[4096];
    snprintf(root, sizeof root, "%s", dir);
    *strrchr(root, '/') = '\0';
    *strrchr(root, '/') = '\0';
    char path[8192];
    char *index = owl_read_file(dir, SIZE_MAX, NULL, NULL);
    REQUIRE(index);
    char *save = NULL;
    for (char *line = strtok_r(index, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (line[0] == '#') continue;
        char tstem[256], cstem[256], status[16], kind[64];
        if (sscanf(line, "%255[^\t]\t%255[^\t]\t%15[^\t]\t%63[^\t]", tstem, cstem, status, kind) < 3) continue;
        pairs_total++;
        snprintf(path, sizeof path, "%s/special_tokens.tsv", root);
        char *tsv = owl_read_file(path, SIZE_MAX, NULL, NULL);
        char file[300], bos[256] = "", eos[256] = "";
        snprintf(file, sizeof file, "%s.jinja", tstem);
        if (!tsv || tokens_for(tsv, file, bos, eos, sizeof bos) != 0) printf("  no tokens for %s\n", file);
        free(tsv);
        size_t srclen;
        snprintf(path, sizeof path, "%s/%s.jinja", root, tstem);
        char *src = owl_read_file(path, SIZE_MAX, &srclen, NULL);
        snprintf(path, sizeof path, "%s/cases/%s.json", root, cstem);
        json_error_t jerr;
        json_t *c = json_load_file(path, 0, &jerr);
        if (!src || !c) {
            printf("  %s__%s: cannot read inputs\n", tstem, cstem);
            test_cur_failed = 1;
            free(src);
            json_decref(c);
            continue;
        }
        owl_error err = {{0}};
        owl_template *t = owl_template_parse(src, srclen, &err);
        free(src);
        if (!t) {
            printf("  %s: parse failed: %s\n", tstem, err.msg);
            test_cur_failed = 1;
            json_decref(c);
            continue;
        }
        json_t *extra = json_deep_copy(c);
        json_object_del(extra, "messages");
        json_object_del(extra, "tools");
        json_object_del(extra, "documents");
        json_object_del(extra, "add_generation_prompt");
        owl_chat_params p = {
            .messages = json_object_get(c, "messages"),
            .tools = json_object_get(c, "tools"),
            .documents = json_object_get(c, "documents"),
            .add_generation_prompt = json_is_true(json_object_get(c, "add_generation_prompt")),
            .bos_token = bos,
            .eos_token = eos,
            .extra = extra,
        };
        char *out = NULL;
        size_t out_len = 0;
        int rc = owl_chat_render(t, &p, &FIXED_TIME, &out, &out_len, &err);
        bool ok;
        if (strcmp(status, "ok") == 0) {
            snprintf(path, sizeof path, "%s/expected/%s__%s.txt", root, tstem, cstem);
            size_t elen;
            char *exp = owl_read_file(path, SIZE_MAX, &elen, NULL);
            ok = rc == 0 && exp && elen == out_len && memcmp(exp, out, elen) == 0;
            if (!ok) {
                printf("  %s__%s: %s\n", tstem, cstem, rc ? err.msg : "output differs");
                if (rc == 0 && exp) {
                    size_t k = 0;
                    while (k < elen && k < out_len && exp[k] == out[k]) k++;
                    printf("    first difference at byte %zu: expected \"%.60s\" got \"%.60s\"\n", k, exp + k, out + k);
                }
            }
            free(exp);
        } else {
            snprintf(path, sizeof path, "%s/expected/%s__%s.error", root, tstem, cstem);
            char *exp = owl_read_file(path, SIZE_MAX, NULL, NULL);
            ok = rc != 0;
            /* Python's message, word for word, when the template raised it; otherwise the error
             * must at least carry Python's wording after our "line N: " prefix. */
            if (ok && exp) {
                const char *got = err.msg;
                if (strcmp(kind, "raise_exception") != 0 && strncmp(got, "line ", 5) == 0) {
                    const char *colon = strstr(got, ": ");
                    if (colon) got = colon + 2;
                }
                if (strcmp(got, exp) != 0) {
                    printf("  %s__%s: message \"%s\", expected \"%s\"\n", tstem, cstem, err.msg, exp);
                    ok = false;
                }
            } else if (!ok) {
                printf("  %s__%s: rendered, but an error was expected\n", tstem, cstem);
            }
            free(exp);
        }
        if (ok) pairs_passed++;
        else test_cur_failed = 1;
        free(out);
        json_decref(extra);
        json_decref(c);
        owl_template_destroy(t);
    }
    free(index);
    printf("  conformance: %d/%d pairs\n", pairs_passed, pairs_total);
    CHECK_EQ_INT(pairs_total, 144);
    CHECK_EQ_INT(pairs_passed, pairs_total);
}

/* A 20-message chat through the largest template must render well under a millisecond. */
static void test_speed(void) {
    SHARED_OR_SKIP(path, "models/templates/Qwen-Qwen3-0.6B.jinja");
    size_t len;
    char *src = owl_read_file(path, SIZE_MAX, &len, NULL);
    REQUIRE(src);
    owl_error err;
    owl_template *t = owl_template_parse(src, len, &err);
    free(src);
    REQUIRE(t);
    json_t *msgs = json_array();
    for (int i = 0; i < 20; i++) {
        json_array_append_new(msgs, json_pack("{s:s, s:s}", "role", i % 2 ? "assistant" : "user", "content",
                                              "A message of moderate length, about as long as a chat turn."));
    }
    owl_chat_params p = {.messages = msgs, .add_generation_prompt = true};
    int iters = 200;
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (int i = 0; i < iters; i++) {
        char *out;
        size_t n;
        if (owl_chat_render(t, &p, NULL, &out, &n, &err) != 0) {
            printf("  %s\n", err.msg);
            test_cur_failed = 1;
            break;
        }
        free(out);
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    double us = ((double)(b.tv_sec - a.tv_sec) * 1e6 + (double)(b.tv_nsec - a.tv_nsec) / 1e3) / iters;
    printf("  20-message Qwen3 render: %.1f us\n", us);
    CHECKF(us < 1000.0, "%.1f us per render", us);
    json_decref(msgs);
    owl_template_destroy(t);
}

/* One parsed template rendered from several threads at once gives the same bytes everywhere. */
typedef struct thread_job {
    const owl_template *t;
    const owl_chat_params *p;
    char *out;
} thread_job;

static void *render_thread(void *arg) {
    thread_job *j = arg;
    for (int i = 0; i < 50; i++) {
        char *out;
        size_t n;
        owl_error err;
        if (owl_chat_render(j->t, j->p, &FIXED_TIME, &out, &n, &err) != 0) return NULL;
        free(j->out);
        j->out = out;
    }
    return NULL;
}

static void test_threads(void) {
    SHARED_OR_SKIP(path, "models/templates/Qwen-Qwen3-0.6B.jinja");
    SHARED_OR_SKIP(cpath, "models/templates/cases/11_tools_roundtrip_parallel.json");
    size_t len;
    char *src = owl_read_file(path, SIZE_MAX, &len, NULL);
    REQUIRE(src);
    owl_error err;
    owl_template *t = owl_template_parse(src, len, &err);
    free(src);
    REQUIRE(t);
    json_t *c = json_load_file(cpath, 0, NULL);
    REQUIRE(c);
    owl_chat_params p = {.messages = json_object_get(c, "messages"), .tools = json_object_get(c, "tools")};
    thread_job jobs[4] = {{t, &p, NULL}, {t, &p, NULL}, {t, &p, NULL}, {t, &p, NULL}};
    pthread_t th[4];
    for (int i = 0; i < 4; i++) pthread_create(&th[i], NULL, render_thread, &jobs[i]);
    for (int i = 0; i < 4; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < 4; i++) {
        CHECK(jobs[i].out != NULL);
        if (jobs[i].out && jobs[0].out) CHECK(strcmp(jobs[i].out, jobs[0].out) == 0);
    }
    for (int i = 0; i < 4; i++) free(jobs[i].out);
    json_decref(c);
    owl_template_destroy(t);
}

int main(void) {
    RUN(test_conformance);
    RUN(test_speed);
    RUN(test_threads);
    return test_summary();
}
