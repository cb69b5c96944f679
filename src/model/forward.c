/* The forward pass shared by every llama-family architecture, for a batch of tokens, each with
 * its own sequence and position (one sequence's prompt, or one new token of each of several
 * sequences, or a mix). Per layer:
 *
 *   xb = rmsnorm(x) * attn_norm
 *   q, k, v = Wq·xb (+bq), Wk·xb (+bk), Wv·xb (+bv)
 *   q, k = per-head rmsnorm (qwen3), then RoPE
 *   append k, v to the cache; attention of each query over its sequence's positions 0..its own
 *   x += Wo·attention
 *   xb = rmsnorm(x) * ffn_norm
 *   x += Wdown·(silu(Wgate·xb) * Wup·xb)
 *
 * then logits = Woutput·(rmsnorm(x) * output_norm) for the tokens whose logits are wanted.
 * Matrix products, attention and (for batches of several tokens) the element-wise steps run on
 * the thread pool. Every matrix product covers all tokens of the batch whatever their sequence:
 * that is what makes decoding several sequences together cheaper than one by one. */
#include "model/model_internal.h"

#include <math.h>
#include <string.h>

/* ---- element-wise steps --------------------------------------------------------------------- */

static void rmsnorm(float *o, const float *x, const float *w, int64_t n, float eps) {
    /* The sum of squares in double, as ggml does: rows of thousands of values lose digits in
     * a float accumulator. Each square is rounded to float first, as ggml does too: squaring in
     * double moves the scale by an ulp now and then, and for quantized weights that ulp is
     * enough to round an activation to the neighbouring 8-bit code, a difference that reaches
     * every later position through the KV cache. */
    double ss = 0;
    for (int64_t i = 0; i < n; i++) ss += (double)(x[i] * x[i]);
    const float scale = 1.0f / sqrtf((float)(ss / (double)n) + eps);
    for (int64_t i = 0; i < n; i++) o[i] = x[i] * scale * w[i];
}

static void add_bias(float *x, const float *b, int64_t n_tok, int64_t dim) {
    if (!b) return;
    for (int64_t t = 0; t < n_tok; t++)
        for (int64_t i = 0; i < dim; i++) x[t * dim + i] += b[i];
}

static void embed(const owl_model *m, int32_t token, float *out) {
    const owl_matrix *e = &m->tok_embd;
    const char *row = (const char *)e->data + (size_t)token * e->row_bytes;
    switch (e->type) {
    case OWL_TYPE_F32: memcpy(out, row, (size_t)e->n_in * sizeof(float)); break;
    default: owl_dequantize_row(e->type, row, out, e->n_in); break;
    }
}

/* ---- RoPE ------------------------------------------------------------------------------------ */

/* YaRN's correction range: the dimensions whose wavelength fits n_ctx_orig between beta_fast
 * and beta_slow rotations are blended between interpolation and extrapolation. */
static float yarn_corr_dim(int64_t n_rot, int64_t n_ctx_orig, float n_rotations, float base) {
    return (float)n_rot * logf((float)n_ctx_orig / (n_rotations * 2.0f * (float)M_PI)) /
           (2.0f * logf(base));
}

/* cos/sin of every rotated pair for each token of the batch, at its position. */
static void rope_tables(owl_context *c, const int32_t *positions, int n) {
    const owl_model *m = c->model;
    const owl_hparams *hp = &m->hp;
    const int64_t half = hp->n_rot / 2;
    const float freq_scale = 1.0f / hp->rope_factor;
    float corr_lo = 0, corr_hi = 0, mscale = hp->yarn_attn_factor;
    if (hp->rope_scaling == OWL_ROPE_SCALING_YARN) {
        corr_lo = floorf(yarn_corr_dim(hp->n_rot, hp->rope_orig_ctx, hp->yarn_beta_fast, hp->rope_base));
        corr_hi = ceilf(yarn_corr_dim(hp->n_rot, hp->rope_orig_ctx, hp->yarn_beta_slow, hp->rope_base));
        if (corr_lo < 0) corr_lo = 0;
        if (corr_hi > (float)(hp->n_rot - 1)) corr_hi = (float)(hp->n_rot - 1);
        mscale *= 1.0f + 0.1f * logf(1.0f / freq_scale);
    } else if (hp->rope_scaling != OWL_ROPE_SCALING_LINEAR) {
        mscale = 1.0f;
    }
    for (int t = 0; t < n; t++) {
        const float pos = (float)positions[t];
        float *cs = c->rope_cos + (size_t)t * half, *sn = c->rope_sin + (size_t)t * half;
        /* The angles as ggml computes them: pos · theta_scale^i by repeated multiplication in
         * float, not a power per frequency. The two differ in the last bits, and with quantized
         * weights such a bit now and then moves an activation to the neighbouring 8-bit code. */
        const float theta_scale = powf(hp->rope_base, -2.0f / (float)hp->n_rot);
        float th = pos;
        for (int64_t i = 0; i < half; i++, th *= theta_scale) {
            const float theta_extrap = m->rope_freqs ? th / m->rope_freqs[i] : th;
            float theta = theta_extrap;
            if (hp->rope_scaling == OWL_ROPE_SCALING_LINEAR) {
                theta = freq_scale * theta_extrap;
            } else if (hp->rope_scaling == OWL_ROPE_SCALING_YARN) {
                const float theta_interp = freq_scale * theta_extrap;
                float y = ((float)i - corr_lo) / fmaxf(0.001f, corr_hi - corr_lo);
                float ramp = 1.0f - fminf(1.0f, fmaxf(0.0f, y));
                float mix = ramp * hp->yarn_ext_factor;
                theta = theta_interp * (1.0f - mix) + theta_extrap * mix;
            }
            cs[i] = cosf(theta) * mscale;
            sn[i] = sinf(theta) * mscale;
        }
    }
}

/* Rotates the first n_rot dimensions of each of n_heads heads (head_dim apart). */
static void rope_apply(const owl_hparams *hp, float *x, int64_t n_heads, const float *cs,
                       const float *sn) {
    const int64_t half = hp->n_rot / 2, hd = hp->head_dim_k;
    for (int64_t h = 0; h < n_heads; h++) {
        float *v = x + h * hd;
        if (hp->rope_kind == OWL_ROPE_NEOX) {
            for (int64_t i = 0; i < half; i++) {
                float a = v[i], b = v[i + half];
                v[i] = a * cs[i] - b * sn[i];
                v[i + half] = a * sn[i] + b * cs[i];
            }
        } else {
            for (int64_t i = 0; i < half; i++) {
                float a = v[2 * i], b = v[2 * i + 1];
                v[2 * i] = a * cs[i] - b * sn[i];
                v[2 * i + 1] = a * sn[i] + b * cs[i];
            }
        }
    }
}

/* ---- attention ------------------------------------------------------------------------------- */

typedef struct attn_job {
    owl_context *c;
    const owl_ubatch *ub;
    int64_t il;
} attn_job;

/* One work item = one token and one KV head, with the group of query heads that share it
 * (GQA): the keys and values are read once for the whole group. A token sees the positions of
 * its own sequence up to its own (causal), which lie together in that sequence's part of the
 * cache. */
static void attention_part(void *vctx, int ith, int nth) {
    attn_job *j = vctx;
    owl_context *c = j->c;
    const owl_hparams *hp = &c->model->hp;
    const owl_vec_ops *ops = c->ops;
    const owl_kv_cache *kv = &c->kv;
    const int64_t hd = hp->head_dim_k, hdv = hp->head_dim_v;
    const int group = (int)(hp->n_head / hp->n_head_kv);
    const float scale = 1.0f / sqrtf((float)hd);
    const int64_t n_ctx = c->params.n_ctx;
    float *scores = c->scores + (size_t)ith * (size_t)group * (size_t)n_ctx;
    /* Items dealt out in turn, not in contiguous ranges: a causal prompt's later tokens attend
     * to more positions, and a contiguous split would leave the first thread a third of the
     * work. */
    const int64_t n_items = (int64_t)j->ub->n * hp->n_head_kv;
    for (int64_t item = ith; item < n_items; item += nth) {
        const int64_t t = item / hp->n_head_kv, kvh = item % hp->n_head_kv;
        const int64_t base = (int64_t)j->ub->seq[t] * n_ctx;
        const int64_t n_pos = j->ub->pos[t] + 1; /* causal: itself and everything before */
        const float *q = c->q + t * hp->n_head * hd + kvh * group * hd;
        float *out = c->att_out + t * hp->n_head * hdv + kvh * group * hdv;
        if (kv->type == OWL_TYPE_F16) {
            const uint16_t *k0 = (const uint16_t *)owl_kv_k(kv, j->il, base) + kvh * hd;
            const uint16_t *v0 = (const uint16_t *)owl_kv_v(kv, j->il, base) + kvh * hdv;
            ops->attn_scores_f16(hd, n_pos, group, q, k0, kv->k_row, scale, scores, n_ctx);
            for (int i = 0; i < group; i++) ops->softmax(n_pos, scores + i * n_ctx);
            ops->attn_values_f16(hdv, n_pos, group, scores, n_ctx, v0, kv->v_row, out);
            continue;
        }
        if (kv->type == OWL_TYPE_Q8_0) {
            ops->attn_scores_q8_0(hd, n_pos, group, q, owl_kv_k(kv, j->il, base), kvh * hd, kv->k_bytes, scale, scores, n_ctx);
            for (int i = 0; i < group; i++) ops->softmax(n_pos, scores + i * n_ctx);
            ops->attn_values_q8_0(hdv, n_pos, group, scores, n_ctx, owl_kv_v(kv, j->il, base), kvh * hdv, kv->v_bytes, out);
            continue;
        }
        for (int i = 0; i < group; i++) {
            float *sc = scores + i * n_ctx;
            for (int64_t p = 0; p < n_pos; p++) {
                const float *k = (const float *)owl_kv_k(kv, j->il, base + p) + kvh * hd;
                sc[p] = scale * ops->dot_f32(hd, q + i * hd, k);
            }
            ops->softmax(n_pos, sc);
            memset(out + i * hdv, 0, (size_t)hdv * sizeof(float));
            for (int64_t p = 0; p < n_pos; p++) {
                const float *v = (const float *)owl_kv_v(kv, j->il, base + p) + kvh * hdv;
                ops->axpy_f32(hdv, sc[p], v, out + i * hdv);
            }
        }
    }
}

/* ---- token-wise steps on the pool --------------------------------------------------------------
 * The element-wise work between the matrix products (norms, biases, RoPE, the cache writes,
 * residual adds, SiLU) is small per token but not per batch: in a 256-token prefill of a small
 * model it takes as long as a matrix product, and on one thread it would leave the other cores
 * idle. Each step runs on the pool, every thread a contiguous range of the batch's tokens, once
 * the batch has enough tokens to repay the barrier; a decode step runs it inline. */
#define ROWS_PARALLEL_MIN 8

typedef enum rows_step {
    ROWS_ADD_NORM, /* x += delta (when given); xb = rmsnorm(x) * norm */
    ROWS_QK,       /* biases, q/k norms, RoPE, then k and v into the cache */
    ROWS_SILU,     /* hb = silu(hb) * hb2 */
} rows_step;

typedef struct rows_job {
    owl_context *c;
    const owl_ubatch *ub;
    const owl_layer *L;
    int64_t il;
    rows_step step;
    const float *delta; /* ROWS_ADD_NORM: the residual branch to add first, or NULL */
    const float *norm;  /* ROWS_ADD_NORM: the norm's weights */
} rows_job;

static void rows_range(const rows_job *j, int t0, int t1) {
    owl_context *c = j->c;
    const owl_hparams *hp = &c->model->hp;
    const owl_layer *L = j->L;
    const int64_t d = hp->n_embd, hd = hp->head_dim_k, half = hp->n_rot / 2;
    const int64_t q_dim = hp->n_head * hd, kv_dim = hp->n_head_kv * hd, v_dim = hp->n_head_kv * hp->head_dim_v;
    switch (j->step) {
    case ROWS_ADD_NORM:
        for (int t = t0; t < t1; t++) {
            float *x = c->x + t * d;
            if (j->delta)
                for (int64_t i = 0; i < d; i++) x[i] += j->delta[t * d + i];
            rmsnorm(c->xb + t * d, x, j->norm, d, hp->rms_eps);
        }
        break;
    case ROWS_QK:
        add_bias(c->q + t0 * q_dim, L->bq, t1 - t0, q_dim);
        add_bias(c->k + t0 * kv_dim, L->bk, t1 - t0, kv_dim);
        add_bias(c->v + t0 * v_dim, L->bv, t1 - t0, v_dim);
        for (int t = t0; t < t1; t++) {
            float *q = c->q + t * q_dim, *k = c->k + t * kv_dim;
            if (L->q_norm) {
                for (int64_t h = 0; h < hp->n_head; h++) rmsnorm(q + h * hd, q + h * hd, L->q_norm, hd, hp->rms_eps);
                for (int64_t h = 0; h < hp->n_head_kv; h++) rmsnorm(k + h * hd, k + h * hd, L->k_norm, hd, hp->rms_eps);
            }
            rope_apply(hp, q, hp->n_head, c->rope_cos + t * half, c->rope_sin + t * half);
            rope_apply(hp, k, hp->n_head_kv, c->rope_cos + t * half, c->rope_sin + t * half);
            const int64_t at = (int64_t)j->ub->seq[t] * c->params.n_ctx + j->ub->pos[t];
            owl_kv_store(&c->kv, c->ops, owl_kv_k(&c->kv, j->il, at), k, kv_dim);
            owl_kv_store(&c->kv, c->ops, owl_kv_v(&c->kv, j->il, at), c->v + t * v_dim, v_dim);
        }
        break;
    case ROWS_SILU:
        c->ops->silu_mul((int64_t)(t1 - t0) * hp->n_ff, c->hb + t0 * hp->n_ff, c->hb2 + t0 * hp->n_ff);
        break;
    }
}

static void rows_part(void *vctx, int ith, int nth) {
    const rows_job *j = vctx;
    int64_t lo, hi;
    owl_pool_split(j->ub->n, 1, ith, nth, &lo, &hi);
    if (lo < hi) rows_range(j, (int)lo, (int)hi);
}

static void run_rows(rows_job *j) {
    if (j->ub->n < ROWS_PARALLEL_MIN) rows_range(j, 0, j->ub->n);
    else owl_pool_run(j->c->pool, rows_part, j);
}

/* ---- the pass -------------------------------------------------------------------------------- */

void owl_forward(owl_context *c, const owl_ubatch *ub) {
    const owl_model *m = c->model;
    const owl_hparams *hp = &m->hp;
    const int64_t d = hp->n_embd;
    const int n = ub->n;
    owl_pool *pool = c->pool;

    for (int t = 0; t < n; t++) embed(m, ub->tokens[t], c->x + t * d);
    rope_tables(c, ub->pos, n);

    for (int64_t il = 0; il < hp->n_layer; il++) {
        const owl_layer *L = &m->layers[il];
        rows_job rj = {.c = c, .ub = ub, .L = L, .il = il};

        /* x += the previous layer's FFN output (already in xb); xb = rmsnorm(x) */
        rj.step = ROWS_ADD_NORM;
        rj.delta = il > 0 ? c->xb : NULL;
        rj.norm = L->attn_norm;
        run_rows(&rj);
        {
            const owl_matrix *ws[3] = {&L->wq, &L->wk, &L->wv};
            float *ys[3] = {c->q, c->k, c->v};
            owl_matmul_multi(pool, ws, ys, 3, c->xb, n, c->act);
        }
        rj.step = ROWS_QK;
        run_rows(&rj);

        attn_job aj = {.c = c, .ub = ub, .il = il};
        owl_pool_run(pool, attention_part, &aj);

        /* x += Wo·attention; xb = rmsnorm(x) */
        owl_matmul(pool, &L->wo, c->att_out, n, c->xb, c->act);
        rj.step = ROWS_ADD_NORM;
        rj.delta = c->xb;
        rj.norm = L->ffn_norm;
        run_rows(&rj);
        {
            const owl_matrix *ws[2] = {&L->w_gate, &L->w_up};
            float *ys[2] = {c->hb, c->hb2};
            owl_matmul_multi(pool, ws, ys, 2, c->xb, n, c->act);
        }
        rj.step = ROWS_SILU;
        run_rows(&rj);
        owl_matmul(pool, &L->w_down, c->hb, n, c->xb, c->act); /* added to x at the next step */
    }

    /* Logits of the wanted tokens only: the output matrix is the largest of small models. */
    if (ub->n_out == 0) return;
    for (int r = 0; r < ub->n_out; r++) {
        const int64_t t = ub->out[r];
        for (int64_t i = 0; i < d; i++) c->x[t * d + i] += c->xb[t * d + i];
    }
    for (int r = 0; r < ub->n_out; r++)
        rmsnorm(c->xb + r * d, c->x + (int64_t)ub->out[r] * d, m->output_norm, d, hp->rms_eps);
    owl_matmul(pool, &m->output, c->xb, ub->n_out, ub->logits, c->act);
}
