/* Thread pool: long-lived workers, a generation counter as the start signal, a done counter as
 * the end barrier. See pool.h for why it is shaped this way. */
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

/* Pauses a worker spins before it sleeps: a few tens of microseconds, longer than the gap
 * between two operations of a decode step, far shorter than the gap between two requests. */
#define SPIN_BEFORE_SLEEP 20000
/* Pauses the caller spins on a slow worker before it starts yielding the CPU (the machine may be
 * shared with other processes, and a preempted worker needs the core back). */
#define SPIN_BEFORE_YIELD 100000

typedef struct worker {
    struct owl_pool *pool;
    int ith;
    pthread_t thread;
} worker;

struct owl_pool {
    int n_threads;
    worker *workers; /* n_threads - 1 of them (thread 0 is the caller) */
    int n_started;

    /* The work of the current run, published by the release increment of `gen`. */
    owl_pool_fn fn;
    void *ctx;

    _Atomic uint32_t gen;    /* bumped once per run; the futex word workers sleep on */
    _Atomic int sleepers;    /* workers inside futex_wait (or about to be) */
    _Atomic int done;        /* workers finished with the current run */
    _Atomic int stop;
};

static void futex_wait(_Atomic uint32_t *addr, uint32_t expected) {
    syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAIT_PRIVATE, expected, NULL, NULL, 0);
}

static void futex_wake_all(_Atomic uint32_t *addr) {
    syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAKE_PRIVATE, 0x7fffffff, NULL, NULL, 0);
}

static void *worker_main(void *arg) {
    worker *w = arg;
    owl_pool *p = w->pool;
    uint32_t seen = 0;
    for (;;) {
        uint32_t g;
        int spins = 0;
        while ((g = atomic_load_explicit(&p->gen, memory_order_acquire)) == seen) {
            if (++spins < SPIN_BEFORE_SLEEP) {
                cpu_relax();
                continue;
            }
            /* Announce the sleep before re-checking (inside the futex call): the caller bumps
             * gen and then reads sleepers, both sequentially consistent, so either it sees us
             * and wakes us or the futex sees the new gen and returns at once. */
            atomic_fetch_add(&p->sleepers, 1);
            futex_wait(&p->gen, seen);
            atomic_fetch_sub(&p->sleepers, 1);
            spins = 0;
        }
        seen = g;
        if (atomic_load_explicit(&p->stop, memory_order_acquire)) break;
        p->fn(p->ctx, w->ith, p->n_threads);
        atomic_fetch_add_explicit(&p->done, 1, memory_order_release);
    }
    return NULL;
}

static void signal_workers(owl_pool *p) {
    atomic_fetch_add(&p->gen, 1); /* seq_cst: see worker_main */
    if (atomic_load(&p->sleepers) > 0) futex_wake_all(&p->gen);
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
        w->ith = i + 1;
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
    atomic_store_explicit(&p->stop, 1, memory_order_release);
    signal_workers(p);
    for (int i = 0; i < p->n_started; i++) pthread_join(p->workers[i].thread, NULL);
    free(p->workers);
    free(p);
}

int owl_pool_threads(const owl_pool *p) { return p ? p->n_threads : 1; }

void owl_pool_run(owl_pool *p, owl_pool_fn fn, void *ctx) {
    if (!p || p->n_threads == 1) {
        fn(ctx, 0, 1);
        return;
    }
    p->fn = fn;
    p->ctx = ctx;
    atomic_store_explicit(&p->done, 0, memory_order_relaxed);
    signal_workers(p);
    fn(ctx, 0, p->n_threads);
    const int want = p->n_threads - 1;
    int spins = 0;
    while (atomic_load_explicit(&p->done, memory_order_acquire) < want) {
        if (++spins < SPIN_BEFORE_YIELD) {
            cpu_relax();
        } else {
            sched_yield();
        }
    }
}

void owl_pool_split(int64_t n, int64_t align, int ith, int nth, int64_t *lo, int64_t *hi) {
    if (align < 1) align = 1;
    int64_t units = (n + align - 1) / align;
    int64_t per = units / nth, extra = units % nth;
    /* The first `extra` threads take one unit more. */
    int64_t start = ith * per + (ith < extra ? ith : extra);
    int64_t count = per + (ith < extra ? 1 : 0);
    int64_t a = start * align, b = (start + count) * align;
    *lo = a < n ? a : n;
    *hi = b < n ? b : n;
}
