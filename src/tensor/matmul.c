/* Matrix products over the thread pool: Y = X · Wᵀ for weights in any computable type.
 *
 * The activations are converted once per call into the kernel's activation type (so the
 * quantization of X is not repeated per weight row). The weight rows are then cut into chunks
 * that the pool's threads claim (a few per thread, so a thread that starts late or runs slow
 * leaves its share to the others). Within a chunk:
 *   - a batch with a gemm kernel goes through it: 8-row tiles against every token, each tile
 *     decoded once and reused across the whole batch;
 *   - otherwise a tile of ROW_TILE rows (small enough to stay in L1/L2) is multiplied with every
 *     token before the next tile is loaded, so each weight byte comes from memory once. */
#include "tensor/kernels.h"
#include "tensor/pool.h"

#define ROW_TILE 16
#define GEMM_MIN_TOKENS 4
#define CHUNKS_PER_THREAD 4

typedef struct matmul_job {
    const owl_matrix *w;
    const float *x;
    int64_t n_tok;
    float *y;
    const char *act;
    size_t act_row;
    char *aux;
    size_t aux_row;
    int64_t rows_per_chunk;
    bool use_gemm;
} matmul_job;

static void quantize_part(void *vctx, int ith, int nth) {
    matmul_job *j = vctx;
    int64_t lo, hi;
    owl_pool_split(j->n_tok, 1, ith, nth, &lo, &hi);
    for (int64_t t = lo; t < hi; t++) {
        char *a = (char *)j->act + t * j->act_row;
        j->w->k->quantize_act(j->x + t * j->w->n_in, a, j->w->n_in);
        if (j->use_gemm) j->w->k->gemm_prep(j->w->n_in, a, j->aux + t * j->aux_row);
    }
}

static void dot_rows(const matmul_job *j, int64_t lo, int64_t hi) {
    const owl_matrix *w = j->w;
    const owl_dot_fn dot = w->k->dot;
    const char *base = w->data;
    for (int64_t r0 = lo; r0 < hi; r0 += ROW_TILE) {
        int64_t r1 = r0 + ROW_TILE < hi ? r0 + ROW_TILE : hi;
        for (int64_t t = 0; t < j->n_tok; t++) {
            const char *a = j->act + t * j->act_row;
            float *y = j->y + t * w->n_out;
            for (int64_t r = r0; r < r1; r++) dot(w->n_in, &y[r], base + r * w->row_bytes, a);
        }
    }
}

static void chunk_part(void *vctx, int ith, int nth) {
    matmul_job *j = vctx;
    const owl_matrix *w = j->w;
    int64_t lo = ith * j->rows_per_chunk, hi = lo + j->rows_per_chunk;
    if (hi > w->n_out) hi = w->n_out;
    if (lo >= hi) return;
    if (j->use_gemm) {
        int64_t n8 = (hi - lo) / 8 * 8;
        if (n8 > 0)
            w->k->gemm(w->n_in, n8, (const char *)w->data + lo * w->row_bytes, w->row_bytes, j->act,
                       j->act_row, j->aux, j->n_tok, j->y + lo, w->n_out);
        lo += n8;
    }
    if (lo < hi) dot_rows(j, lo, hi);
}

/* Prepares a job: the activations converted (or borrowed, for float kernels) and the chunking. */
static void prepare(owl_pool *pool, matmul_job *j, const owl_matrix *w, const float *x,
                    int64_t n_tok, float *y, char *act, const matmul_job *share) {
    *j = (matmul_job){.w = w, .x = x, .n_tok = n_tok, .y = y, .act = act};
    j->use_gemm = w->k->gemm && n_tok >= (w->k->gemm_min_tokens ? w->k->gemm_min_tokens : GEMM_MIN_TOKENS);
    if (w->k->act_type == OWL_TYPE_F32) {
        /* Float kernels read X as it is. */
        j->act = (const char *)x;
        j->act_row = (size_t)w->n_in * sizeof(float);
    } else if (share) {
        /* Another matrix of the same call already converted X the same way. */
        j->act = share->act;
        j->act_row = share->act_row;
        j->aux = share->aux;
        j->aux_row = share->aux_row;
    } else {
        j->act_row = owl_kernel_act_size(w->k, w->n_in);
        j->aux = act + j->act_row * (size_t)n_tok;
        j->aux_row = owl_kernel_aux_size(w->k, w->n_in);
        if (n_tok == 1) {
            quantize_part(j, 0, 1); /* not worth a round trip through the pool */
        } else {
            owl_pool_run(pool, quantize_part, j);
        }
    }
    /* Chunks: a few per thread, whole 8-row tiles (16 rows for cache-line-sized outputs). */
    const int nth = owl_pool_threads(pool);
    const int64_t want = nth == 1 ? 1 : (int64_t)nth * CHUNKS_PER_THREAD;
    int64_t per = (w->n_out + want - 1) / want;
    j->rows_per_chunk = (per + 15) / 16 * 16;
}

static int n_chunks(const matmul_job *j) {
    return (int)((j->w->n_out + j->rows_per_chunk - 1) / j->rows_per_chunk);
}

void owl_matmul(owl_pool *pool, const owl_matrix *w, const float *x, int64_t n_tok, float *y,
                void *act) {
    matmul_job j;
    prepare(pool, &j, w, x, n_tok, y, act, NULL);
    owl_pool_run_n(pool, chunk_part, &j, n_chunks(&j));
}

typedef struct multi_job {
    matmul_job jobs[OWL_MATMUL_MAX_MULTI];
    int first[OWL_MATMUL_MAX_MULTI + 1]; /* chunk index where each matrix starts */
    int n;
} multi_job;

static void multi_part(void *vctx, int ith, int nth) {
    multi_job *m = vctx;
    int i = 0;
    while (i + 1 < m->n && ith >= m->first[i + 1]) i++;
    chunk_part(&m->jobs[i], ith - m->first[i], nth);
}

void owl_matmul_multi(owl_pool *pool, const owl_matrix *const *ws, float *const *ys, int n,
                      const float *x, int64_t n_tok, void *act) {
    multi_job m = {.n = n};
    char *scratch = act;
    for (int i = 0; i < n; i++) {
        const matmul_job *share = NULL;
        for (int k = 0; k < i; k++)
            if (ws[k]->k->act_type == ws[i]->k->act_type && ws[k]->k->gemm_prep == ws[i]->k->gemm_prep &&
                ws[k]->k->quantize_act == ws[i]->k->quantize_act)
                share = &m.jobs[k];
        prepare(pool, &m.jobs[i], ws[i], x, n_tok, ys[i], scratch, share);
        if (!share && ws[i]->k->act_type != OWL_TYPE_F32)
            scratch += (owl_kernel_act_size(ws[i]->k, ws[i]->n_in) + owl_kernel_aux_size(ws[i]->k, ws[i]->n_in)) * (size_t)n_tok;
        m.first[i + 1] = m.first[i] + n_chunks(&m.jobs[i]);
    }
    owl_pool_run_n(pool, multi_part, &m, m.first[n]);
}
