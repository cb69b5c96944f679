/* Forging a shape twin: metadata as llama.cpp's converter writes it for the real model, the real
 * vocabulary, and every tensor of the real architecture filled with seeded Gaussian weights,
 * generated and quantized tensor by tensor while the file is written. */
#include "owl/forge.h"
#include "owl/quantize.h"
#include "forge/forge_internal.h"
#include "tensor/pool.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TENSORS 1024

typedef struct twin_tensor {
    char name[64];
    uint32_t n_dims;
    int64_t ne[2];
    float mean, std;     /* the Gaussian it is drawn from */
    bool rope_factors;   /* computed, not drawn */
    owl_type type;
} twin_tensor;

typedef struct forge_state {
    const forge_preset *p;
    forge_dims d;
    uint64_t seed;
    twin_tensor *t;
    size_t n;
    owl_pool *pool;
    float *f32;
    size_t f32_cap;
} forge_state;

static void add(forge_state *s, const char *name, int64_t ne0, int64_t ne1, float mean, float std) {
    twin_tensor *t = &s->t[s->n++];
    snprintf(t->name, sizeof t->name, "%s", name);
    t->n_dims = ne1 > 0 ? 2 : 1;
    t->ne[0] = ne0;
    t->ne[1] = ne1 > 0 ? ne1 : 1;
    t->mean = mean;
    t->std = std;
    t->rope_factors = false;
}

/* The tensors of the llama family (llama, qwen2, qwen3), named and shaped as llama.cpp expects:
 * ne[0] is the input dimension of a projection, ne[1] its output. */
static void list_tensors(forge_state *s, int64_t n_vocab) {
    const forge_dims *d = &s->d;
    const float e = (float)d->n_embd, q = (float)(d->n_head * d->head_dim);
    const int64_t n_q = (int64_t)d->n_head * d->head_dim, n_kv = (int64_t)d->n_head_kv * d->head_dim;
    /* Logits are a dot product of a unit-RMS vector with an embedding row: a row std of
     * 6/sqrt(n_embd) gives logits of std 6, peaked like a trained model's. */
    const float embd_std = 6.0f / sqrtf(e);
    add(s, "token_embd.weight", d->n_embd, n_vocab, 0.0f, embd_std);
    if (!s->p->tied) add(s, "output.weight", d->n_embd, n_vocab, 0.0f, embd_std);
    add(s, "output_norm.weight", d->n_embd, 0, 1.0f, 0.05f);
    if (s->p->llama3_rope) {
        add(s, "rope_freqs.weight", d->head_dim / 2, 0, 0.0f, 0.0f);
        s->t[s->n - 1].rope_factors = true;
    }
    for (int l = 0; l < d->n_layer; l++) {
        char nm[64];
#define BLK(suffix) (snprintf(nm, sizeof nm, "blk.%d.%s", l, suffix), nm)
        add(s, BLK("attn_norm.weight"), d->n_embd, 0, 1.0f, 0.05f);
        add(s, BLK("attn_q.weight"), d->n_embd, n_q, 0.0f, 1.0f / sqrtf(e));
        add(s, BLK("attn_k.weight"), d->n_embd, n_kv, 0.0f, 1.0f / sqrtf(e));
        add(s, BLK("attn_v.weight"), d->n_embd, n_kv, 0.0f, 1.0f / sqrtf(e));
        if (s->p->qkv_bias) {
            add(s, BLK("attn_q.bias"), n_q, 0, 0.0f, 0.1f);
            add(s, BLK("attn_k.bias"), n_kv, 0, 0.0f, 0.1f);
            add(s, BLK("attn_v.bias"), n_kv, 0, 0.0f, 0.1f);
        }
        if (s->p->qk_norm) {
            add(s, BLK("attn_q_norm.weight"), d->head_dim, 0, 1.0f, 0.05f);
            add(s, BLK("attn_k_norm.weight"), d->head_dim, 0, 1.0f, 0.05f);
        }
        /* The residual branches are strong: with tied embeddings a weak residual would leave each
         * position's hidden state close to its own embedding, and greedy decoding would repeat
         * the last token forever. */
        add(s, BLK("attn_output.weight"), n_q, d->n_embd, 0.0f, 6.0f / sqrtf(q));
        add(s, BLK("ffn_norm.weight"), d->n_embd, 0, 1.0f, 0.05f);
        add(s, BLK("ffn_gate.weight"), d->n_embd, d->n_ff, 0.0f, 1.0f / sqrtf(e));
        add(s, BLK("ffn_up.weight"), d->n_embd, d->n_ff, 0.0f, 1.0f / sqrtf(e));
        add(s, BLK("ffn_down.weight"), d->n_ff, d->n_embd, 0.0f, 8.0f / sqrtf((float)d->n_ff));
#undef BLK
    }
}

/* Llama 3.1+ RoPE frequency factors (factor 32, low/high frequency factors 1 and 4, original
 * context 8192): long wavelengths are stretched by the factor, short ones kept, and the band
 * between interpolated smoothly. */
static void llama3_rope_factors(float *out, int head_dim, double base) {
    const double factor = 32.0, low = 1.0, high = 4.0, orig = 8192.0;
    const double low_wavelen = orig / low, high_wavelen = orig / high;
    for (int i = 0; i < head_dim / 2; i++) {
        double freq = pow(base, -2.0 * i / head_dim);
        double wavelen = 2.0 * M_PI / freq;
        double f;
        if (wavelen < high_wavelen) f = 1.0;
        else if (wavelen > low_wavelen) f = factor;
        else {
            double smooth = (orig / wavelen - low) / (high - low);
            f = 1.0 / ((1.0 - smooth) / factor + smooth);
        }
        out[i] = (float)f;
    }
}

typedef struct gen_job {
    const twin_tensor *t;
    uint64_t seed;
    float *out;
} gen_job;

static void gen_part(void *ctx, int ith, int nth) {
    gen_job *j = ctx;
    int64_t lo, hi;
    owl_pool_split(j->t->ne[1], 1, ith, nth, &lo, &hi);
    for (int64_t r = lo; r < hi; r++) {
        forge_gaussian(j->out + r * j->t->ne[0], j->t->ne[0], j->seed, j->t->name, r, j->t->mean,
                       j->t->std);
    }
}

static int fill(void *ctx, size_t index, const owl_gguf_tensor *info, void *buf, owl_error *err) {
    forge_state *s = ctx;
    const twin_tensor *t = &s->t[index];
    size_t n = (size_t)(t->ne[0] * t->ne[1]);
    float *f32 = t->type == OWL_TYPE_F32 ? buf : NULL;
    if (!f32) {
        if (n > s->f32_cap) {
            free(s->f32);
            s->f32 = malloc(n * sizeof(float));
            s->f32_cap = s->f32 ? n : 0;
            if (!s->f32) return owl_errorf(err, "out of memory for tensor %s", t->name);
        }
        f32 = s->f32;
    }
    if (t->rope_factors) {
        llama3_rope_factors(f32, s->d.head_dim, s->p->rope_base);
    } else {
        gen_job j = {t, s->seed, f32};
        owl_pool_run(s->pool, gen_part, &j);
    }
    if (t->type != OWL_TYPE_F32) owl_quantize_rows(s->pool, t->type, f32, buf, t->ne[1], t->ne[0], NULL);
    (void)info;
    return 0;
}

/* "q4_K" names a tensor type: every matrix gets it. "Q4_K_M" names a mix. */
static int parse_type(const char *name, owl_quant_plan *plan, owl_error *err) {
    int t = owl_type_from_name(name);
    const owl_type_info *ti = t >= 0 ? owl_type_get((uint32_t)t) : NULL;
    int ftype = ti && ti->supported ? owl_ftype_for_type((owl_type)t) : -1;
    if (ftype >= 0) {
        plan->ftype = ftype;
        plan->base = (owl_type)t;
        plan->pure = true;
        return 0;
    }
    ftype = owl_ftype_from_name(name);
    if (ftype < 0) return owl_errorf(err, "unknown type '%s'", name);
    plan->ftype = ftype;
    plan->base = owl_ftype_base_type(ftype);
    plan->pure = false;
    return 0;
}

static const char *default_data_dir(char *buf, size_t n) {
    const char *shared = getenv("OWL_SHARED");
    if (shared && *shared) {
        snprintf(buf, n, "%s/models", shared);
        return buf;
    }
    return "../shared/models";
}

int owl_forge(const owl_forge_opts *o, const char *path, owl_error *err) {
    const forge_preset *p = forge_find_preset(o->preset ? o->preset : "");
    if (!p) return owl_errorf(err, "unknown preset '%s'", o->preset ? o->preset : "");
    owl_quant_plan type_plan = {0};
    if (parse_type(o->type ? o->type : "f16", &type_plan, err)) return -1;
    char dbuf[4096];
    const char *data_dir = o->data_dir ? o->data_dir : default_data_dir(dbuf, sizeof dbuf);

    forge_state s = {.p = p, .d = o->tiny ? p->tiny : p->full, .seed = o->seed};
    owl_gguf_writer *w = owl_gguf_writer_new();
    s.t = calloc(MAX_TENSORS, sizeof *s.t);
    int rc = -1;
    char *tmpl = NULL;
    const char **names = NULL;
    if (!w || !s.t) {
        owl_errorf(err, "out of memory");
        goto done;
    }
    const char *a = p->arch;
    char key[128];
#define AKEY(k) (snprintf(key, sizeof key, "%s.%s", a, k), key)
    owl_gguf_set_str(w, "general.architecture", a);
    owl_gguf_set_str(w, "general.type", "model");
    char name[128];
    snprintf(name, sizeof name, "%s%s", p->model_name, o->tiny ? " [tiny]" : "");
    owl_gguf_set_str(w, "general.name", name);
    owl_gguf_set_u32(w, "general.file_type", (uint32_t)type_plan.ftype);
    if (type_plan.base != OWL_TYPE_F32 && type_plan.base != OWL_TYPE_F16 &&
        type_plan.base != OWL_TYPE_BF16) {
        owl_gguf_set_u32(w, "general.quantization_version", 2);
    }
    owl_gguf_set_u64(w, "owl.forge.seed", o->seed);
    owl_gguf_set_str(w, "owl.forge.preset", p->name);
    owl_gguf_set_u32(w, AKEY("context_length"), (uint32_t)p->context_length);
    owl_gguf_set_u32(w, AKEY("embedding_length"), (uint32_t)s.d.n_embd);
    owl_gguf_set_u32(w, AKEY("block_count"), (uint32_t)s.d.n_layer);
    owl_gguf_set_u32(w, AKEY("feed_forward_length"), (uint32_t)s.d.n_ff);
    owl_gguf_set_u32(w, AKEY("attention.head_count"), (uint32_t)s.d.n_head);
    owl_gguf_set_u32(w, AKEY("attention.head_count_kv"), (uint32_t)s.d.n_head_kv);
    if (s.d.head_dim * s.d.n_head != s.d.n_embd) {
        owl_gguf_set_u32(w, AKEY("attention.key_length"), (uint32_t)s.d.head_dim);
        owl_gguf_set_u32(w, AKEY("attention.value_length"), (uint32_t)s.d.head_dim);
    }
    owl_gguf_set_f32(w, AKEY("attention.layer_norm_rms_epsilon"), (float)p->rms_eps);
    owl_gguf_set_f32(w, AKEY("rope.freq_base"), (float)p->rope_base);
    owl_gguf_set_u32(w, AKEY("rope.dimension_count"), (uint32_t)s.d.head_dim);

    int64_t n_vocab = forge_write_vocab(w, p, data_dir, err);
    if (n_vocab < 0) goto done;
    owl_gguf_set_u32(w, AKEY("vocab_size"), (uint32_t)n_vocab);
#undef AKEY
    if (p->template_file) {
        char tpath[8192];
        size_t tlen = 0;
        snprintf(tpath, sizeof tpath, "%s/%s", data_dir, p->template_file);
        if (!(tmpl = owl_read_file(tpath, (size_t)1 << 20, &tlen, err))) goto done;
        owl_gguf_set_strn(w, "tokenizer.chat_template", tmpl, tlen);
    }

    list_tensors(&s, n_vocab);
    names = malloc(s.n * sizeof *names);
    if (!names) {
        owl_errorf(err, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < s.n; i++) names[i] = s.t[i].name;
    owl_quant_plan plan;
    owl_quant_plan_init_names(&plan, type_plan.ftype, names, s.n, s.d.n_head / s.d.n_head_kv);
    plan.pure = type_plan.pure;
    plan.base = type_plan.base;
    for (size_t i = 0; i < s.n; i++) {
        twin_tensor *t = &s.t[i];
        t->type = owl_quant_plan_next(&plan, t->name, t->n_dims, t->ne);
        if (owl_gguf_add_tensor(w, t->name, t->type, t->n_dims, t->ne, NULL, err) < 0) goto done;
    }
    s.pool = owl_pool_new(o->n_threads, err);
    if (!s.pool) goto done;
    rc = owl_gguf_write(w, path, fill, &s, err);
done:
    owl_pool_destroy(s.pool);
    free(s.f32);
    free(s.t);
    free(names);
    free(tmpl);
    owl_gguf_writer_destroy(w);
    return rc;
}
