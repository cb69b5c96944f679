/* owl — a thread pool built for per-token latency.
 *
 * A decode step runs a few hundred small parallel operations, so the cost of starting one must be
 * far below a microsecond or two. Workers therefore live as long as the pool, spin for a short
 * while after each run (the next operation usually follows at once) and only then sleep on a
 * futex. The calling thread works too, so a pool of n threads starts n - 1 workers and a pool of
 * one thread is a plain function call.
 *
 * A run is split into chunks that the threads claim one at a time; a descheduled worker's
 * chunks are taken by the others, so a busy machine slows a run down but never stalls it.
 * owl_pool_run() returns when every chunk is finished: each run is a barrier. A pool is driven
 * by one thread at a time (it is not re-entrant). */
#ifndef OWL_TENSOR_POOL_H
#define OWL_TENSOR_POOL_H

#include "owl/common.h"

typedef struct owl_pool owl_pool;

/* Called once per chunk: ith in 0..nth-1 (nth = the chunk count). Chunks run concurrently on
 * any thread, each exactly once, so scratch memory indexed by ith is never shared. */
typedef void (*owl_pool_fn)(void *ctx, int ith, int nth);

/* n_threads >= 1 (0 or less means the number of online CPUs). */
owl_pool *owl_pool_new(int n_threads, owl_error *err);
void owl_pool_destroy(owl_pool *pool);
int owl_pool_threads(const owl_pool *pool);
/* Runs fn(ctx, ith, nth) for nth = owl_pool_threads() chunks and waits for all of them. */
void owl_pool_run(owl_pool *pool, owl_pool_fn fn, void *ctx);
/* The same with n_chunks chunks (more chunks than threads balance uneven work). */
void owl_pool_run_n(owl_pool *pool, owl_pool_fn fn, void *ctx, int n_chunks);

/* The share [*lo, *hi) of n items that thread ith of nth takes, in contiguous chunks that are
 * multiples of `align` (the last one takes the remainder). */
void owl_pool_split(int64_t n, int64_t align, int ith, int nth, int64_t *lo, int64_t *hi);

#endif
