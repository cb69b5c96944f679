/* Matrix products over the thread pool: Y = X · Wᵀ for weights in any computable type.
 *
 * The activations are converted once per call into the kernel's activation type (so the
 * quantization of X is not repeated per weight row). Each thread then takes a contiguous range
 * of weight rows; inside it, a tile of ROW_TILE rows (small enough to stay in L1/L2) is
 * multiplied with every token before the next tile is loaded, so during a batched prefill each
 * weight byte comes from memory once. */
#include "tensor/kernels.h"
#include "tensor/pool.h"

#define ROW_TILE 16

typedef struct matmul_job {
    const owl_matrix *w;
    const float *x;
    int64_t n_tok;
    float *y;
    void *act;
    size_t act_row;
} matmul_job;

static void quantize_part(void *vctx, int ith, int nth) {
    matmul_job *j = vctx;
    int64_t lo, hi;
    owl_pool_split(j->n_tok, 1, ith, nth, &lo, &hi);
    for (int64_t t = lo; t < hi; t++)
        j->w->k->quantize_act(j->x + t * j->w->n_in, (char *)j->act + t * j->act_row, j->w->n_in);
}

static void dot_part(void *vctx, int ith, int nth) {
    matmul_job *j = vctx;
    const owl_matrix *w = j->w;
    int64_t lo, hi;
    /* Splitting on multiples of 4 rows keeps each thread's output on its own cache lines. */
    owl_pool_split(w->n_out, 4, ith, nth, &lo, &hi);
    const owl_dot_fn dot = w->k->dot;
    const char *base = w->data;
    for (int64_t r0 = lo; r0 < hi; r0 += ROW_TILE) {
        int64_t r1 = r0 + ROW_TILE < hi ? r0 + ROW_TILE : hi;
        for (int64_t t = 0; t < j->n_tok; t++) {
            const char *a = (const char *)j->act + t * j->act_row;
            float *y = j->y + t * w->n_out;
            for (int64_t r = r0; r < r1; r++) dot(w->n_in, &y[r], base + r * w->row_bytes, a);
        }
    }
}

void owl_matmul(owl_pool *pool, const owl_matrix *w, const float *x, int64_t n_tok, float *y,
                void *act) {
    matmul_job j = {.w = w, .x = x, .n_tok = n_tok, .y = y, .act = act};
    if (w->k->act_type == OWL_TYPE_F32) {
        /* Float kernels read X as it is. */
        j.act = (void *)x;
        j.act_row = (size_t)w->n_in * sizeof(float);
    } else {
        j.act_row = owl_kernel_act_size(w->k, w->n_in);
        if (n_tok == 1) {
            quantize_part(&j, 0, 1); /* not worth a round trip through the pool */
        } else {
            owl_pool_run(pool, quantize_part, &j);
        }
    }
    owl_pool_run(pool, dot_part, &j);
}
