#include "tensor/pool.h"
#include "test.h"

#include <stdatomic.h>

typedef struct sum_ctx {
    const int64_t *data;
    int64_t n;
    int64_t partial[64];
    _Atomic int calls;
} sum_ctx;

static void sum_fn(void *vctx, int ith, int nth) {
    sum_ctx *c = vctx;
    int64_t lo, hi, s = 0;
    owl_pool_split(c->n, 1, ith, nth, &lo, &hi);
    for (int64_t i = lo; i < hi; i++) s += c->data[i];
    c->partial[ith] = s;
    atomic_fetch_add(&c->calls, 1);
}

static void check_sums(int n_threads, int runs) {
    owl_error err = {{0}};
    owl_pool *p = owl_pool_new(n_threads, &err);
    REQUIRE(p);
    CHECK_EQ_INT(owl_pool_threads(p), n_threads);
    int64_t data[1000];
    for (int i = 0; i < 1000; i++) data[i] = i + 1;
    sum_ctx c = {.data = data};
    for (int r = 0; r < runs; r++) {
        c.n = r % 1001; /* includes empty and tiny runs, fewer items than threads */
        atomic_store(&c.calls, 0);
        owl_pool_run(p, sum_fn, &c);
        int64_t total = 0;
        for (int t = 0; t < n_threads; t++) total += c.partial[t];
        if (total != c.n * (c.n + 1) / 2 || atomic_load(&c.calls) != n_threads) {
            CHECKF(0, "run %d: sum %lld, calls %d", r, (long long)total, atomic_load(&c.calls));
            break;
        }
    }
    owl_pool_destroy(p);
}

static void test_one_thread(void) { check_sums(1, 100); }
static void test_two_threads_many_runs(void) { check_sums(2, 20000); }
static void test_four_threads(void) { check_sums(4, 300); }

static void test_destroy_idle(void) {
    owl_error err = {{0}};
    /* Never run. */
    owl_pool *p = owl_pool_new(3, &err);
    REQUIRE(p);
    owl_pool_destroy(p);
    /* Run once, then let the workers fall asleep before destroying. */
    p = owl_pool_new(2, &err);
    REQUIRE(p);
    sum_ctx c = {.data = (int64_t[]){1, 2, 3}, .n = 3};
    owl_pool_run(p, sum_fn, &c);
    usleep(50 * 1000);
    owl_pool_run(p, sum_fn, &c); /* wakes sleeping workers */
    CHECK_EQ_INT(c.partial[0] + c.partial[1], 6);
    usleep(50 * 1000);
    owl_pool_destroy(p);
    owl_pool_destroy(NULL);
}

static void test_split(void) {
    int64_t lo, hi, covered = 0;
    for (int t = 0; t < 3; t++) {
        owl_pool_split(100, 32, t, 3, &lo, &hi);
        CHECK(lo % 32 == 0);
        CHECK(lo == covered);
        covered = hi;
    }
    CHECK_EQ_INT(covered, 100);
    owl_pool_split(5, 1, 7, 8, &lo, &hi);
    CHECK_EQ_INT(hi - lo, 0);
}

static void test_bad_count(void) {
    owl_error err = {{0}};
    CHECK(owl_pool_new(100000, &err) == NULL);
    CHECK(strstr(err.msg, "too many") != NULL);
    owl_pool *p = owl_pool_new(0, &err); /* 0 = all CPUs */
    REQUIRE(p);
    CHECK(owl_pool_threads(p) >= 1);
    owl_pool_destroy(p);
}

int main(void) {
    RUN(test_one_thread);
    RUN(test_two_threads_many_runs);
    RUN(test_four_threads);
    RUN(test_destroy_idle);
    RUN(test_split);
    RUN(test_bad_count);
    return test_summary();
}
