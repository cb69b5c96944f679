/* Quantizing and dequantizing many rows at once, split over the thread pool. Each thread takes a
 * contiguous range of rows and keeps its own error sums; they are added up after the run, so no
 * thread ever waits on another. */
#include "owl/quantize.h"
#include "tensor/pool.h"

#include <stdlib.h>
#include <string.h>

#define MAX_THREADS 256

typedef struct rows_job {
    owl_type type;
    const float *src;
    void *dst;
    int64_t nrows, n_per_row;
    size_t row_bytes;
    bool measure;
    owl_quant_error part[MAX_THREADS];
} rows_job;

static void quantize_part(void *ctx, int ith, int nth) {
    rows_job *j = ctx;
    int64_t lo, hi;
    owl_pool_split(j->nrows, 1, ith, nth, &lo, &hi);
    float *back = j->measure && hi > lo ? malloc((size_t)j->n_per_row * sizeof *back) : NULL;
    owl_quant_error e = {0};
    for (int64_t r = lo; r < hi; r++) {
        const float *x = j->src + r * j->n_per_row;
        uint8_t *q = (uint8_t *)j->dst + (size_t)r * j->row_bytes;
        owl_quantize_row(j->type, x, q, j->n_per_row, NULL);
        if (back) {
            owl_dequantize_row(j->type, q, back, j->n_per_row);
            for (int64_t i = 0; i < j->n_per_row; i++) {
                double d = (double)x[i] - (double)back[i];
                e.sse += d * d;
                e.ssref += (double)x[i] * (double)x[i];
            }
            e.n += (uint64_t)j->n_per_row;
        }
    }
    free(back);
    if (ith < MAX_THREADS) j->part[ith] = e;
}

void owl_quantize_rows(owl_pool *pool, owl_type type, const float *src, void *dst, int64_t nrows,
                       int64_t n_per_row, owl_quant_error *err_out) {
    rows_job *j = calloc(1, sizeof *j);
    if (!j) return;
    j->type = type;
    j->src = src;
    j->dst = dst;
    j->nrows = nrows;
    j->n_per_row = n_per_row;
    j->row_bytes = owl_row_size(type, n_per_row);
    j->measure = err_out != NULL;
    if (type == OWL_TYPE_F32) {
        /* a copy: exact, so nothing to measure */
        memcpy(dst, src, (size_t)(nrows * n_per_row) * sizeof(float));
        if (err_out) err_out->n += (uint64_t)(nrows * n_per_row);
        free(j);
        return;
    }
    if (pool && owl_pool_threads(pool) <= MAX_THREADS) owl_pool_run(pool, quantize_part, j);
    else quantize_part(j, 0, 1);
    if (err_out) {
        for (int t = 0; t < MAX_THREADS; t++) {
            err_out->sse += j->part[t].sse;
            err_out->ssref += j->part[t].ssref;
            err_out->n += j->part[t].n;
        }
    }
    free(j);
}

typedef struct deq_job {
    owl_type type;
    const void *src;
    float *dst;
    int64_t nrows, n_per_row;
    size_t row_bytes;
} deq_job;

static void dequantize_part(void *ctx, int ith, int nth) {
    deq_job *j = ctx;
    int64_t lo, hi;
    owl_pool_split(j->nrows, 1, ith, nth, &lo, &hi);
    for (int64_t r = lo; r < hi; r++) {
        const uint8_t *q = (const uint8_t *)j->src + (size_t)r * j->row_bytes;
        float *out = j->dst + r * j->n_per_row;
        if (j->type == OWL_TYPE_F32) memcpy(out, q, (size_t)j->n_per_row * sizeof(float));
        else owl_dequantize_row(j->type, q, out, j->n_per_row);
    }
}

void owl_dequantize_rows(owl_pool *pool, owl_type type, const void *src, float *dst, int64_t nrows,
                         int64_t n_per_row) {
    deq_job j = {type, src, dst, nrows, n_per_row, owl_row_size(type, n_per_row)};
    if (pool) owl_pool_run(pool, dequantize_part, &j);
    else dequantize_part(&j, 0, 1);
}
