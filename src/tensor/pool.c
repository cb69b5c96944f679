/* Thread pool: long-lived workers that claim chunks of work from one atomic word.
 *
 * A run is published as a single 64-bit state: generation | chunk count | next chunk. Every
 * thread, the caller included, claims chunks with a compare-and-swap on that word until none is
 * left, so a worker that the OS has descheduled (the machine may be shared) never holds the run
 * up: the others take its chunks. The caller then waits only for chunks already claimed. A run
 * ends when `done` reaches the chunk count.
 *
 * Workers spin briefly for the next run (a decode step runs hundreds back to back), then sleep
 * on a futex bumped once per run. */
#include "tensor/pool.h"

#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#else
#define cpu_relax() ((void)0)
#endif

/* A pause is ~25 ns on current x86 cores: a worker spins ~50 µs before sleeping, longer than the
 * gap between two operations of a decode step, far shorter than the gap between requests. */
#define SPIN_BEFORE_SLEEP 2000
/* The caller spins ~5 µs on chunks still running elsewhere before yielding its core. */
#define SPIN_BEFORE_YIELD 200

/* state = gen << 40 | n_chunks << 20 | next */
#define FIELD_BITS 20
#define FIELD_MASK ((1ull << FIELD_BITS) - 1)
#define MAX_CHUNKS ((int)FIELD_MASK)

typedef struct worker {
    struct owl_pool *pool;
    pthread_t thread;
} worker;

struct owl_pool {
    int n_threads;
    worker *workers; /* n_threads - 1 (thread 0 is the caller) */
    int n_started;

    _Atomic(owl_pool_fn) fn;
    _Atomic(void *) ctx;
    _Atomic uint64_t state;
    _Atomic int done;        /* chunks finished in the current run */
    uint64_t gen;            /* caller only */

    _Atomic uint32_t wake;   /* bumped once per run; the futex word workers sleep on */
    _Atomic int sleepers;
    _Atomic int stop;
};

static void futex_wait(_Atomic uint32_t *addr, uint32_t expected) {
    syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAIT_PRIVATE, expected, NULL, NULL, 0);
}

static void futex_wake_all(_Atomic uint32_t *addr) {
    syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAKE_PRIVATE, 0x7fffffff, NULL, NULL, 0);
}

/* Claims and runs chunks of the current run until none is left. All accesses are sequentially
 * consistent: a thread that read fn/ctx of a later run than the state it then claims from would
 * fail that claim, because the later run is published only after every chunk of the earlier one
 * was claimed (and finished). */
static void work(owl_pool *p) {
    uint64_t s = atomic_load(&p->state);
    for (;;) {
        const uint32_t next = (uint32_t)(s & FIELD_MASK), n = (uint32_t)((s >> FIELD_BITS) & FIELD_MASK);
        if (next >= n) return;
        owl_pool_fn fn = atomic_load(&p->fn);
        void *ctx = atomic_load(&p->ctx);
        if (atomic_compare_exchange_weak(&p->state, &s, s + 1)) {
            fn(ctx, (int)next, (int)n);
            atomic_fetch_add(&p->done, 1);
            s = atomic_load(&p->state);
        }
    }
}

static void *worker_main(void *arg) {
    worker *w = arg;
    owl_pool *p = w->pool;
    uint32_t seen = 0;
    for (;;) {
        uint32_t g;
        int spins = 0;
        while ((g = atomic_load(&p->wake)) == seen) {
            if (++spins < SPIN_BEFORE_SLEEP) {
                cpu_relax();
                continue;
            }
            /* Announce the sleep before the futex re-checks the word: the caller bumps `wake`
             * and then reads `sleepers` (both seq_cst), so either it sees us and wakes us or
             * the futex sees the new value and returns at once. */
            atomic_fetch_add(&p->sleepers, 1);
            futex_wait(&p->wake, seen);
            atomic_fetch_sub(&p->sleepers, 1);
            spins = 0;
        }
        seen = g;
        if (atomic_load(&p->stop)) break;
        work(p);
    }
    return NULL;
}

static void wake_workers(owl_pool *p) {
    atomic_fetch_add(&p->wake, 1);
    if (atomic_load(&p->sleepers) > 0) futex_wake_all(&p->wake);
}

owl_pool *owl_pool_new(int n_threads, owl_error *err) {
    if (n_threads <= 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        n_threads = n > 0 ? (int)n : 1;
    }
    if (n_threads > 1024) {
        owl_errorf(err, "thread pool: %d threads is too many (at most 1024)", n_threads);
        return NULL;
    }
    owl_pool *p = calloc(1, sizeof *p);
    if (!p) {
        owl_errorf(err, "thread pool: out of memory");
        return NULL;
    }
    p->n_threads = n_threads;
    if (n_threads > 1) {
        p->workers = calloc((size_t)n_threads - 1, sizeof *p->workers);
        if (!p->workers) {
            free(p);
            owl_errorf(err, "thread pool: out of memory");
            return NULL;
        }
    }
    for (int i = 0; i < n_threads - 1; i++) {
        worker *w = &p->workers[i];
        w->pool = p;
        int rc = pthread_create(&w->thread, NULL, worker_main, w);
        if (rc != 0) {
            owl_errorf(err, "thread pool: cannot start thread %d of %d: %s", i + 1, n_threads,
                       strerror(rc));
            owl_pool_destroy(p);
            return NULL;
        }
        p->n_started++;
    }
    return p;
}

void owl_pool_destroy(owl_pool *p) {
    if (!p) return;
    atomic_store(&p->stop, 1);
    wake_workers(p);
    for (int i = 0; i < p->n_started; i++) pthread_join(p->workers[i].thread, NULL);
    free(p->workers);
    free(p);
}

int owl_pool_threads(const owl_pool *p) { return p ? p->n_threads : 1; }

void owl_pool_run_n(owl_pool *p, owl_pool_fn fn, void *ctx, int n_chunks) {
    if (n_chunks <= 0) return;
    if (n_chunks > MAX_CHUNKS) n_chunks = MAX_CHUNKS;
    if (!p || p->n_threads == 1 || n_chunks == 1) {
        for (int i = 0; i < n_chunks; i++) fn(ctx, i, n_chunks);
        return;
    }
    p->gen = (p->gen + 1) & ((1ull << (64 - 2 * FIELD_BITS)) - 1);
    atomic_store(&p->fn, fn);
    atomic_store(&p->ctx, ctx);
    atomic_store(&p->done, 0);
    atomic_store(&p->state, p->gen << (2 * FIELD_BITS) | (uint64_t)n_chunks << FIELD_BITS);
    wake_workers(p);
    work(p);
    int spins = 0;
    while (atomic_load(&p->done) < n_chunks) {
        if (++spins < SPIN_BEFORE_YIELD) {
            cpu_relax();
        } else {
            sched_yield();
        }
    }
}

void owl_pool_run(owl_pool *p, owl_pool_fn fn, void *ctx) {
    owl_pool_run_n(p, fn, ctx, owl_pool_threads(p));
}

void owl_pool_split(int64_t n, int64_t align, int ith, int nth, int64_t *lo, int64_t *hi) {
    if (align < 1) align = 1;
    int64_t units = (n + align - 1) / align;
    int64_t per = units / nth, extra = units % nth;
    /* The first `extra` parts take one unit more. */
    int64_t start = ith * per + (ith < extra ? ith : extra);
    int64_t count = per + (ith < extra ? 1 : 0);
    int64_t a = start * align, b = (start + count) * align;
    *lo = a < n ? a : n;
    *hi = b < n ? b : n;
}
