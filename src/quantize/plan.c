/* Which type each tensor gets under a mix. The rules follow llama.cpp's, so that owl's Q4_K_M
 * file of a model has the same tensor types as llama.cpp's and the two can be compared size for
 * size:
 *   - only matrices (n_dims >= 2) whose names end in "weight" are quantized; norms stay F32;
 *   - the output projection (or the token embedding when it is tied to the output) gets Q6_K,
 *     or Q8_0 when its rows do not fit 256-element blocks;
 *   - attn_v and ffn_down get more bits in the K mixes: Q6_K in a "use more bits" pattern of
 *     layers for Q4_K_M/Q5_K_M (the first and last eighth, and every third layer between);
 *   - rows that a K-quant cannot hold fall back to a 32-element type. */
#include "owl/quantize.h"

#include <stdio.h>
#include <string.h>

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static bool is_attn_v(const char *name) { return strstr(name, "attn_v.weight") != NULL; }
static bool is_ffn_down(const char *name) { return strstr(name, "ffn_down") != NULL; }

static void plan_reset(owl_quant_plan *p, int ftype) {
    memset(p, 0, sizeof *p);
    p->ftype = ftype;
    p->base = owl_ftype_base_type(ftype);
    p->n_gqa = 1;
}

static void count_name(owl_quant_plan *p, const char *name) {
    if (is_attn_v(name)) p->n_attn_v++;
    if (is_ffn_down(name) && ends_with(name, "weight")) p->n_ffn_down++;
    if (strcmp(name, "output.weight") == 0) p->has_output = true;
}

void owl_quant_plan_init(owl_quant_plan *p, int ftype, const owl_gguf *g) {
    plan_reset(p, ftype);
    for (uint64_t i = 0; i < g->n_tensors; i++) count_name(p, g->tensors[i].name);
    owl_str arch;
    if (owl_gguf_get_str(g, "general.architecture", &arch) && arch.len < 64) {
        char key[128];
        int64_t nh = 0, nkv = 0;
        snprintf(key, sizeof key, "%.*s.attention.head_count", (int)arch.len, arch.ptr);
        owl_gguf_get_int(g, key, &nh);
        snprintf(key, sizeof key, "%.*s.attention.head_count_kv", (int)arch.len, arch.ptr);
        owl_gguf_get_int(g, key, &nkv);
        if (nh > 0 && nkv > 0) p->n_gqa = (int)(nh / nkv);
    }
}

void owl_quant_plan_init_names(owl_quant_plan *p, int ftype, const char *const *names, size_t n,
                               int n_gqa) {
    plan_reset(p, ftype);
    for (size_t i = 0; i < n; i++) count_name(p, names[i]);
    p->n_gqa = n_gqa > 0 ? n_gqa : 1;
}

static bool use_more_bits(int i, int n) {
    return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
}

/* The mix rules, before the block-size fallback. */
static owl_type mix_type(owl_quant_plan *p, const char *name) {
    const int f = p->ftype;
    owl_type t = p->base;
    if (t == OWL_TYPE_F16 || t == OWL_TYPE_BF16) return t; /* float mixes have no rules */
    if (strcmp(name, "output.weight") == 0 ||
        (!p->has_output && strcmp(name, "token_embd.weight") == 0)) {
        return t == OWL_TYPE_Q8_0 ? t : OWL_TYPE_Q6_K;
    }
    if (is_attn_v(name)) {
        int i = p->i_attn_v++;
        if (f == OWL_FTYPE_Q2_K) t = p->n_gqa >= 4 ? OWL_TYPE_Q4_K : OWL_TYPE_Q3_K;
        else if (f == OWL_FTYPE_Q3_K_M) t = i < 2 ? OWL_TYPE_Q5_K : OWL_TYPE_Q4_K;
        else if (f == OWL_FTYPE_Q3_K_L) t = OWL_TYPE_Q5_K;
        else if ((f == OWL_FTYPE_Q4_K_M || f == OWL_FTYPE_Q5_K_M) && use_more_bits(i, p->n_attn_v))
            t = OWL_TYPE_Q6_K;
        else if (f == OWL_FTYPE_Q4_K_S && i < 4) t = OWL_TYPE_Q5_K;
        return t;
    }
    if (is_ffn_down(name)) {
        int i = p->i_ffn_down++, n = p->n_ffn_down;
        if (f == OWL_FTYPE_Q2_K) t = OWL_TYPE_Q3_K;
        else if (f == OWL_FTYPE_Q3_K_M) t = i < n / 16 ? OWL_TYPE_Q5_K : OWL_TYPE_Q4_K;
        else if (f == OWL_FTYPE_Q3_K_L) t = OWL_TYPE_Q5_K;
        else if ((f == OWL_FTYPE_Q4_K_M || f == OWL_FTYPE_Q5_K_M) && use_more_bits(i, n))
            t = OWL_TYPE_Q6_K;
        else if (f == OWL_FTYPE_Q4_K_S && i < n / 8) t = OWL_TYPE_Q5_K;
        return t;
    }
    if (strstr(name, "attn_output.weight")) {
        if (f == OWL_FTYPE_Q2_K) t = OWL_TYPE_Q3_K;
        else if (f == OWL_FTYPE_Q3_K_M) t = OWL_TYPE_Q4_K;
        else if (f == OWL_FTYPE_Q3_K_L) t = OWL_TYPE_Q5_K;
        return t;
    }
    if (strstr(name, "attn_qkv.weight")) {
        if (f == OWL_FTYPE_Q3_K_M || f == OWL_FTYPE_Q3_K_L) t = OWL_TYPE_Q4_K;
        else if (f == OWL_FTYPE_Q4_K_M) t = OWL_TYPE_Q5_K;
        else if (f == OWL_FTYPE_Q5_K_M) t = OWL_TYPE_Q6_K;
        return t;
    }
    return t;
}

static owl_type fallback(owl_type t) {
    switch (t) {
    case OWL_TYPE_Q2_K: case OWL_TYPE_Q3_K: return OWL_TYPE_Q4_0;
    case OWL_TYPE_Q4_K: return OWL_TYPE_Q5_0;
    case OWL_TYPE_Q5_K: return OWL_TYPE_Q5_1;
    case OWL_TYPE_Q6_K: return OWL_TYPE_Q8_0;
    default: return OWL_TYPE_F16;
    }
}

owl_type owl_quant_plan_next(owl_quant_plan *p, const char *name, uint32_t n_dims,
                             const int64_t *ne) {
    /* Vectors, norms and non-weight tensors keep full precision. */
    bool matrix = n_dims >= 2 && ends_with(name, "weight") && !strstr(name, "_norm.weight") &&
                  !strstr(name, "rope_freqs");
    if (!matrix || p->base == OWL_TYPE_F32) return OWL_TYPE_F32;
    owl_type t;
    if (p->pure) {
        t = p->base;
        if (is_attn_v(name)) p->i_attn_v++;
        if (is_ffn_down(name)) p->i_ffn_down++;
    } else {
        t = mix_type(p, name);
    }
    const owl_type_info *ti = owl_type_get(t);
    if (ti && ne[0] % ti->block_size != 0) {
        t = fallback(t);
        ti = owl_type_get(t);
        if (ti && ne[0] % ti->block_size != 0) t = OWL_TYPE_F16;
    }
    return t;
}
