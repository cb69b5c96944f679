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
 * Matrix products and attention run on the thread pool; the element-wise steps are cheap and run
 * on the calling thread. Every matrix product covers all tokens of the batch whatever their
 * sequence: that is what makes decoding several sequences together cheaper than one by one. */
#include "model/model_internal.h"

#include <math.h>
#include <string.h>

/* ---- element-wise steps --------------------------------------------------------------------- */

static void rmsnorm(float *o, const float *x, const float *w, int64_t n, float eps) {
    /* The sum of squares in double, as ggml does: rows of thousands of values lose digits in
     * a float accumulator. */
    double ss = 0;
    for (int64_t i = 0; i < n; i++) ss += (double)x[i] * x[i];
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
        for (int64_t i = 0; i < half; i++) {
            float inv_freq = powf(hp->rope_base, -2.0f * (float)i / (float)hp->n_rot);
            if (m->rope_freqs) inv_freq /= m->rope_freqs[i];
            const float theta_extrap = pos * inv_freq;
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
    int64_t lo, hi;
    owl_pool_split((int64_t)j->ub->n * hp->n_head_kv, 1, ith, nth, &lo, &hi);
    for (int64_t item = lo; item < hi; item++) {
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

/* ---- the pass -------------------------------------------------------------------------------- */

void owl_forward(owl_context *c, const owl_ubatch *ub) {
    const owl_model *m = c->model;
    const owl_hparams *hp = &m->hp;
    const int64_t d = hp->n_embd, hd = hp->head_dim_k, hdv = hp->head_dim_v;
    const int64_t q_dim = hp->n_head * hd, kv_dim = hp->n_head_kv * hd, v_dim = hp->n_head_kv * hdv;
    const int64_t half = hp->n_rot / 2;
    const int n = ub->n;
    owl_pool *pool = c->pool;

    for (int t = 0; t < n; t++) embed(m, ub->tokens[t], c->x + t * d);
    rope_tables(c, ub->pos, n);

    for (int64_t il = 0; il < hp->n_layer; il++) {
        const owl_layer *L = &m->layers[il];

        for (int t = 0; t < n; t++) rmsnorm(c->xb + t * d, c->x + t * d, L->attn_norm, d, hp->rms_eps);
        {
            const owl_matrix *ws[3] = {&L->wq, &L->wk, &L->wv};
            float *ys[3] = {c->q, c->k, c->v};
            owl_matmul_multi(pool, ws, ys, 3, c->xb, n, c->act);
        }
        add_bias(c->q, L->bq, n, q_dim);
        add_bias(c->k, L->bk, n, kv_dim);
        add_bias(c->v, L->bv, n, v_dim);

        for (int t = 0; t < n; t++) {
            float *q = c->q + t * q_dim, *k = c->k + t * kv_dim;
            if (L->q_norm) {
                for (int64_t h = 0; h < hp->n_head; h++) rmsnorm(q + h * hd, q + h * hd, L->q_norm, hd, hp->rms_eps);
                for (int64_t h = 0; h < hp->n_head_kv; h++) rmsnorm(k + h * hd, k + h * hd, L->k_norm, hd, hp->rms_eps);
            }
            rope_apply(hp, q, hp->n_head, c->rope_cos + t * half, c->rope_sin + t * half);
            rope_apply(hp, k, hp->n_head_kv, c->rope_cos + t * half, c->rope_sin + t * half);
            const int64_t at = (int64_t)ub->seq[t] * c->params.n_ctx + ub->pos[t];
            owl_kv_store(&c->kv, c->ops, owl_kv_k(&c->kv, il, at), k, kv_dim);
            owl_kv_store(&c->kv, c->ops, owl_kv_v(&c->kv, il, at), c->v + t * v_dim, v_dim);
        }

        attn_job aj = {.c = c, .ub = ub, .il = il};
        owl_pool_run(pool, attention_part, &aj);

        owl_matmul(pool, &L->wo, c->att_out, n, c->xb, c->act);
        for (int64_t i = 0; i < n * d; i++) c->x[i] += c->xb[i];

        for (int t = 0; t < n; t++) rmsnorm(c->xb + t * d, c->x + t * d, L->ffn_norm, d, hp->rms_eps);
        {
            const owl_matrix *ws[2] = {&L->w_gate, &L->w_up};
            float *ys[2] = {c->hb, c->hb2};
            owl_matmul_multi(pool, ws, ys, 2, c->xb, n, c->act);
        }
        c->ops->silu_mul(n * hp->n_ff, c->hb, c->hb2);
        owl_matmul(pool, &L->w_down, c->hb, n, c->xb, c->act);
        for (int64_t i = 0; i < n * d; i++) c->x[i] += c->xb[i];
    }

    /* Logits of the wanted tokens only: the output matrix is the largest of small models. */
    if (ub->n_out == 0) return;
    for (int r = 0; r < ub->n_out; r++)
        rmsnorm(c->xb + r * d, c->x + (int64_t)ub->out[r] * d, m->output_norm, d, hp->rms_eps);
    owl_matmul(pool, &m->output, c->xb, ub->n_out, ub->logits, c->act);
}
