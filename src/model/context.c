/* Contexts: a KV cache (one part per sequence), a thread pool and the scratch buffers of one
 * forward pass; owl_decode_batch() checks a batch, gives each token its position and feeds the
 * forward pass n_batch tokens at a time. */
#include "model/model_internal.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

owl_context_params owl_context_default_params(void) {
    return (owl_context_params){.n_ctx = 0, .n_batch = 256, .n_threads = 0, .kv_type = OWL_TYPE_F16,
                                .n_seq = 1};
}

static void *alloc_floats(size_t n, bool *ok) {
    void *p = calloc(n ? n : 1, sizeof(float));
    if (!p) *ok = false;
    return p;
}

/* The largest activation buffer any matrix of the model needs for n_tok tokens. */
static size_t act_bytes(const owl_model *m, int64_t n_tok) {
    size_t best = owl_kernel_act_size(m->output.k, m->output.n_in) + owl_kernel_aux_size(m->output.k, m->output.n_in);
    for (int64_t il = 0; il < m->hp.n_layer; il++) {
        const owl_layer *L = &m->layers[il];
        const owl_matrix *ms[] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->w_gate, &L->w_up, &L->w_down};
        for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++) {
            size_t b = owl_kernel_act_size(ms[i]->k, ms[i]->n_in) + owl_kernel_aux_size(ms[i]->k, ms[i]->n_in);
            if (b > best) best = b;
        }
    }
    /* Up to three conversions of one X at once (owl_matmul_multi over Q, K, V). */
    return 3 * best * (size_t)n_tok + 64;
}

int64_t owl_context_fit(int64_t want, uint64_t bytes_per_pos, uint64_t budget) {
    if (want <= 0 || bytes_per_pos == 0 || budget == 0) return want; /* nothing known: as asked */
    const uint64_t fits = budget / bytes_per_pos;
    if ((uint64_t)want <= fits) return want;
    /* whole blocks of 256 positions, and never below one block (or the model's own context) */
    const int64_t n = (int64_t)(fits / 256 * 256);
    return n >= 256 ? n : (want < 256 ? want : 256);
}

owl_context *owl_context_new(const owl_model *m, const owl_context_params *p, owl_error *err) {
    const owl_hparams *hp = &m->hp;
    owl_context *c = calloc(1, sizeof *c);
    if (!c) {
        owl_errorf(err, "out of memory");
        return NULL;
    }
    c->model = m;
    c->params = p ? *p : owl_context_default_params();
    owl_context_params *cp = &c->params;
    if (cp->n_ctx <= 0) {
        /* The model's context, at most 4096, and at most what half the memory still available
         * holds as KV cache (the weights are mapped and need the rest). */
        const int64_t want = hp->n_ctx_train < 4096 ? hp->n_ctx_train : 4096;
        const owl_type kt = cp->kv_type;
        const uint64_t per_pos = (uint64_t)hp->n_layer *
                                 (owl_row_size(kt, hp->n_head_kv * hp->head_dim_k) +
                                  owl_row_size(kt, hp->n_head_kv * hp->head_dim_v)) *
                                 (uint64_t)(cp->n_seq > 0 ? cp->n_seq : 1);
        cp->n_ctx = (int)owl_context_fit(want, per_pos, owl_mem_available() / 2);
    }
    if (cp->n_ctx > hp->n_ctx_train * 8 || cp->n_ctx > (1 << 22)) {
        owl_errorf(err, "context of %d tokens is too long for this model (trained on %lld)",
                   cp->n_ctx, (long long)hp->n_ctx_train);
        free(c);
        return NULL;
    }
    if (cp->n_seq <= 0) cp->n_seq = 1;
    if (cp->n_seq > 256) {
        owl_errorf(err, "%d sequences are too many for one context (at most 256)", cp->n_seq);
        free(c);
        return NULL;
    }
    if (cp->n_batch <= 0) cp->n_batch = 256;
    if (cp->n_batch > cp->n_ctx) cp->n_batch = cp->n_ctx;

    c->pool = owl_pool_new(cp->n_threads, err);
    if (!c->pool) {
        free(c);
        return NULL;
    }
    cp->n_threads = owl_pool_threads(c->pool);
    c->ops = owl_vec_ops_get(owl_isa_best());
    if ((int64_t)cp->n_ctx * cp->n_seq > (1 << 24)) {
        owl_errorf(err, "%d sequences of %d positions are too many for one KV cache", cp->n_seq, cp->n_ctx);
        owl_context_destroy(c);
        return NULL;
    }
    if (owl_kv_cache_init(&c->kv, hp, cp->n_ctx * cp->n_seq, cp->kv_type, err)) {
        owl_context_destroy(c);
        return NULL;
    }

    const size_t nb = (size_t)cp->n_batch;
    const size_t q_dim = (size_t)(hp->n_head * hp->head_dim_k);
    const size_t kv_dim = (size_t)(hp->n_head_kv * hp->head_dim_k);
    bool ok = true;
    c->x = alloc_floats(nb * (size_t)hp->n_embd, &ok);
    c->xb = alloc_floats(nb * (size_t)hp->n_embd, &ok);
    c->q = alloc_floats(nb * q_dim, &ok);
    c->k = alloc_floats(nb * kv_dim, &ok);
    c->v = alloc_floats(nb * (size_t)(hp->n_head_kv * hp->head_dim_v), &ok);
    c->att_out = alloc_floats(nb * (size_t)(hp->n_head * hp->head_dim_v), &ok);
    c->hb = alloc_floats(nb * (size_t)hp->n_ff, &ok);
    c->hb2 = alloc_floats(nb * (size_t)hp->n_ff, &ok);
    c->rope_cos = alloc_floats(nb * (size_t)(hp->n_rot / 2), &ok);
    c->rope_sin = alloc_floats(nb * (size_t)(hp->n_rot / 2), &ok);
    c->scores = alloc_floats((size_t)cp->n_threads * (size_t)(hp->n_head / hp->n_head_kv) * (size_t)cp->n_ctx, &ok);
    c->act = malloc(act_bytes(m, cp->n_batch));
    c->n_past = calloc((size_t)cp->n_seq, sizeof *c->n_past);
    c->seq_count = calloc((size_t)cp->n_seq, sizeof *c->seq_count);
    c->ub_seq = calloc(nb, sizeof *c->ub_seq);
    c->ub_pos = calloc(nb, sizeof *c->ub_pos);
    c->ub_out = calloc(nb, sizeof *c->ub_out);
    if (!c->n_past || !c->seq_count || !c->ub_seq || !c->ub_pos || !c->ub_out) ok = false;
    c->n_logits_cap = 1;
    c->logits = alloc_floats((size_t)hp->n_vocab, &ok);
    if (!ok || !c->act) {
        owl_errorf(err, "out of memory for the context buffers");
        owl_context_destroy(c);
        return NULL;
    }
    return c;
}

void owl_context_destroy(owl_context *c) {
    if (!c) return;
    owl_kv_cache_free(&c->kv, c->model->hp.n_layer);
    owl_pool_destroy(c->pool);
    free(c->x);
    free(c->xb);
    free(c->q);
    free(c->k);
    free(c->v);
    free(c->att_out);
    free(c->hb);
    free(c->hb2);
    free(c->rope_cos);
    free(c->rope_sin);
    free(c->scores);
    free(c->act);
    free(c->logits);
    free(c->n_past);
    free(c->seq_count);
    free(c->ub_seq);
    free(c->ub_pos);
    free(c->ub_out);
    free(c);
}

int owl_context_n_ctx(const owl_context *c) { return c->params.n_ctx; }
int owl_context_n_seq(const owl_context *c) { return c->params.n_seq; }
int owl_context_n_threads(const owl_context *c) { return c->params.n_threads; }
size_t owl_context_kv_bytes(const owl_context *c) { return c->kv.bytes; }

int owl_context_seq_n_past(const owl_context *c, int seq) {
    return seq >= 0 && seq < c->params.n_seq ? c->n_past[seq] : 0;
}
int owl_context_n_past(const owl_context *c) { return c->n_past[0]; }

void owl_context_seq_truncate(owl_context *c, int seq, int n_past) {
    if (seq < 0 || seq >= c->params.n_seq) return;
    if (n_past < 0) n_past = 0;
    /* The positions past the new end are simply overwritten by the next tokens. */
    if (n_past < c->n_past[seq]) c->n_past[seq] = n_past;
}
void owl_context_truncate(owl_context *c, int n_past) { owl_context_seq_truncate(c, 0, n_past); }

void owl_context_seq_copy(owl_context *c, int src, int dst, int n) {
    const int n_seq = c->params.n_seq;
    if (src < 0 || src >= n_seq || dst < 0 || dst >= n_seq) return;
    if (n > c->n_past[src]) n = c->n_past[src];
    if (n < 0) n = 0;
    if (src != dst && n > 0) {
        /* A sequence's positions are consecutive rows, so each layer is two block copies. */
        const owl_kv_cache *kv = &c->kv;
        const int64_t from = (int64_t)src * c->params.n_ctx, to = (int64_t)dst * c->params.n_ctx;
        for (int64_t il = 0; il < c->model->hp.n_layer; il++) {
            memcpy(owl_kv_k(kv, il, to), owl_kv_k(kv, il, from), (size_t)n * kv->k_bytes);
            memcpy(owl_kv_v(kv, il, to), owl_kv_v(kv, il, from), (size_t)n * kv->v_bytes);
        }
    }
    c->n_past[dst] = n;
}

/* Checks the whole batch before anything changes. */
static int check_batch(owl_context *c, const owl_batch *b, owl_error *err) {
    const owl_hparams *hp = &c->model->hp;
    const int n_seq = c->params.n_seq;
    if (!b || b->n_tokens <= 0 || !b->tokens) return owl_errorf(err, "decode: no tokens");
    memset(c->seq_count, 0, (size_t)n_seq * sizeof *c->seq_count);
    for (int i = 0; i < b->n_tokens; i++) {
        if (b->tokens[i] < 0 || b->tokens[i] >= hp->n_vocab)
            return owl_errorf(err, "decode: token id %d is out of range [0, %lld)", b->tokens[i],
                              (long long)hp->n_vocab);
        const int s = b->seq_ids ? b->seq_ids[i] : 0;
        if (s < 0 || s >= n_seq)
            return owl_errorf(err, "decode: sequence id %d is out of range [0, %d)", s, n_seq);
        c->seq_count[s]++;
    }
    for (int s = 0; s < n_seq; s++)
        if (c->seq_count[s] > c->params.n_ctx - c->n_past[s])
            return owl_errorf(err, "decode: %d tokens do not fit the context (%d of %d used)",
                              c->seq_count[s], c->n_past[s], c->params.n_ctx);
    return 0;
}

int owl_decode_batch(owl_context *c, const owl_batch *b, owl_error *err) {
    const owl_hparams *hp = &c->model->hp;
    if (check_batch(c, b, err)) return -1;
    const int n = b->n_tokens;
    int need = 0;
    if (b->logits) {
        for (int i = 0; i < n; i++) need += b->logits[i];
    } else {
        need = 1;
    }
    if (need > c->n_logits_cap) {
        float *l = realloc(c->logits, (size_t)need * (size_t)hp->n_vocab * sizeof(float));
        if (!l) return owl_errorf(err, "decode: out of memory for %d rows of logits", need);
        c->logits = l;
        c->n_logits_cap = need;
    }
    int rows = 0;
    for (int done = 0; done < n;) {
        const int len = n - done < c->params.n_batch ? n - done : c->params.n_batch;
        owl_ubatch ub = {.n = len, .tokens = b->tokens + done, .seq = c->ub_seq, .pos = c->ub_pos,
                         .out = c->ub_out,
                         .logits = c->logits + (size_t)rows * (size_t)hp->n_vocab};
        for (int t = 0; t < len; t++) {
            const int i = done + t, s = b->seq_ids ? b->seq_ids[i] : 0;
            c->ub_seq[t] = s;
            c->ub_pos[t] = c->n_past[s]++;
            if (b->logits ? b->logits[i] : i == n - 1) c->ub_out[ub.n_out++] = t;
        }
        owl_forward(c, &ub);
        rows += ub.n_out;
        done += len;
    }
    c->n_logits = rows;
    return 0;
}

int owl_decode(owl_context *c, const int32_t *tokens, int n, bool all_logits, owl_error *err) {
    bool *flags = NULL;
    if (all_logits && n > 0) {
        flags = malloc((size_t)n * sizeof *flags);
        if (!flags) return owl_errorf(err, "decode: out of memory");
        for (int i = 0; i < n; i++) flags[i] = true;
    }
    owl_batch b = {.n_tokens = n, .tokens = tokens, .seq_ids = NULL, .logits = flags};
    int rc = owl_decode_batch(c, &b, err);
    free(flags);
    return rc;
}

const float *owl_context_logits(const owl_context *c, int i) {
    const int64_t nv = c->model->hp.n_vocab;
    if (c->n_logits <= 1) return c->logits;
    if (i < 0 || i >= c->n_logits) i = c->n_logits - 1;
    return c->logits + (size_t)i * (size_t)nv;
}
