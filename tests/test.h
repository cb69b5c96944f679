/* A small test harness. Each tests/unit/test_*.c is one program whose main() calls RUN() for each
 * test function; it prints one line per test ("ok", "FAIL", "skip") and ends with the summary line
 * "N passed, N failed, N skipped" that tests/run.sh adds up.
 *
 * Data from ../shared is found through test_shared(); when it is absent a test calls SKIP() with
 * the reason, except under OWL_REQUIRE_SHARED=1 (CI), where a missing file is a failure. */
#ifndef OWL_TEST_H
#define OWL_TEST_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int test_passed, test_failed, test_skipped;
static int test_cur_failed, test_cur_skipped;
static char test_skip_reason[512];

#define CHECK(cond)                                                                    \
    do {                                                                               \
        if (!(cond)) {                                                                 \
            printf("  %s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond);          \
            test_cur_failed = 1;                                                       \
        }                                                                              \
    } while (0)

#define CHECKF(cond, ...)                                                              \
    do {                                                                               \
        if (!(cond)) {                                                                 \
            printf("  %s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, #cond);          \
            printf(__VA_ARGS__);                                                       \
            printf("\n");                                                              \
            test_cur_failed = 1;                                                       \
        }                                                                              \
    } while (0)

/* A failed REQUIRE ends the current test. */
#define REQUIRE(cond)                                                                  \
    do {                                                                               \
        if (!(cond)) {                                                                 \
            printf("  %s:%d: REQUIRE(%s) failed\n", __FILE__, __LINE__, #cond);        \
            test_cur_failed = 1;                                                       \
            return;                                                                    \
        }                                                                              \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                             \
    do {                                                                               \
        long long va_ = (long long)(a), vb_ = (long long)(b);                          \
        if (va_ != vb_) {                                                              \
            printf("  %s:%d: %s == %s failed: %lld != %lld\n", __FILE__, __LINE__, #a,  \
                   #b, va_, vb_);                                                      \
            test_cur_failed = 1;                                                       \
        }                                                                              \
    } while (0)

#define CHECK_STR(a, b)                                                                \
    do {                                                                               \
        const char *sa_ = (a), *sb_ = (b);                                             \
        if (!sa_ || !sb_ || strcmp(sa_, sb_) != 0) {                                   \
            printf("  %s:%d: %s == %s failed: \"%s\" != \"%s\"\n", __FILE__, __LINE__,  \
                   #a, #b, sa_ ? sa_ : "(null)", sb_ ? sb_ : "(null)");                \
            test_cur_failed = 1;                                                       \
        }                                                                              \
    } while (0)

#define SKIP(...)                                                                      \
    do {                                                                               \
        snprintf(test_skip_reason, sizeof test_skip_reason, __VA_ARGS__);              \
        test_cur_skipped = 1;                                                          \
        return;                                                                        \
    } while (0)

#define RUN(fn)                                                                        \
    do {                                                                               \
        test_cur_failed = test_cur_skipped = 0;                                        \
        fflush(stdout);                                                                \
        fn();                                                                          \
        if (test_cur_failed) {                                                         \
            printf("FAIL %s\n", #fn);                                                  \
            test_failed++;                                                             \
        } else if (test_cur_skipped) {                                                 \
            printf("skip %s: %s\n", #fn, test_skip_reason);                            \
            test_skipped++;                                                            \
        } else {                                                                       \
            printf("ok   %s\n", #fn);                                                  \
            test_passed++;                                                             \
        }                                                                              \
        fflush(stdout);                                                                \
    } while (0)

static inline int test_summary(void) {
    printf("%d passed, %d failed, %d skipped\n", test_passed, test_failed, test_skipped);
    return test_failed ? 1 : 0;
}

/* Path of a file under the shared test data (../shared from the repo root, or $OWL_SHARED).
 * Returns NULL when it does not exist; the caller then SKIPs (test_require_shared() turns that
 * into a failure in CI). The result is a static buffer, valid until the next call. */
static inline const char *test_shared(const char *rel) {
    static char path[4096];
    const char *root = getenv("OWL_SHARED");
    snprintf(path, sizeof path, "%s/%s", root && *root ? root : "../shared", rel);
    struct stat st;
    return stat(path, &st) == 0 ? path : NULL;
}

static inline int test_shared_required(void) {
    const char *r = getenv("OWL_REQUIRE_SHARED");
    return r && strcmp(r, "1") == 0;
}

/* Use at the top of a test: resolves `rel` into `var` or skips/fails the test. */
#define SHARED_OR_SKIP(var, rel)                                                       \
    const char *var = test_shared(rel);                                                \
    do {                                                                               \
        if (!var) {                                                                    \
            if (test_shared_required()) {                                              \
                printf("  missing shared file %s (OWL_REQUIRE_SHARED=1)\n", rel);      \
                test_cur_failed = 1;                                                   \
                return;                                                                \
            }                                                                          \
            SKIP("../shared/%s is absent", rel);                                       \
        }                                                                              \
    } while (0)

/* A scratch directory for the test program ($TMPDIR/owl-test-<pid>), created on first use. */
static inline const char *test_tmpdir(void) {
    static char dir[512];
    if (!dir[0]) {
        const char *t = getenv("TMPDIR");
        snprintf(dir, sizeof dir, "%s/owl-test-%d", t && *t ? t : "/tmp", (int)getpid());
        mkdir(dir, 0700);
    }
    return dir;
}

static inline unsigned long long test_rng_next(unsigned long long *s) {
    /* splitmix64: deterministic test data */
    unsigned long long z = (*s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* Uniform in [-1, 1). */
static inline float test_rng_float(unsigned long long *s) {
    return (float)((double)(test_rng_next(s) >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

#endif
