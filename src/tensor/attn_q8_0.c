/* Attention over a Q8_0 KV cache, scalar reference (the oracle for attn_q8_0_avx2.c and
 * attn_q8_0_avx512.c, and their fallback for heads that do not start and end on a block).
 *
 * A cache row holds the n_head_kv heads of one position as consecutive Q8_0 blocks of 32
 * elements; a head is hd elements from element `off`. Heads usually span whole blocks (hd a
 * multiple of 32), but small models (stories260K: hd = 8) pack several heads into one block, so
 * the reference walks elements, not blocks. Keys and values are dequantized on the fly and the
 * queries and attention weights stay in float: the only rounding is the cache's own. */
#include "tensor/kernels.h"

#include "tensor/blocks.h"

/* Element e of a row of Q8_0 blocks. */
static inline float q8_0_at(const owl_block_q8_0 *row, int64_t e) {
    const owl_block_q8_0 *b = row + e / OWL_QK8_0;
    return owl_f16_to_f32(b->d) * (float)b->qs[e % OWL_QK8_0];
}

void owl_attn_scores_q8_0_ref(int64_t hd, int64_t n_pos, int g, const float *q, const void *k,
                              int64_t off, size_t k_stride, float scale, float *scores,
                              int64_t s_stride) {
    for (int64_t p = 0; p < n_pos; p++) {
        const owl_block_q8_0 *row = (const owl_block_q8_0 *)((const char *)k + (size_t)p * k_stride);
        for (int i = 0; i < g; i++) {
            const float *qi = q + i * hd;
            float s = 0;
            for (int64_t e = 0; e < hd; e++) s += qi[e] * q8_0_at(row, off + e);
            scores[i * s_stride + p] = scale * s;
        }
    }
}

void owl_attn_values_q8_0_ref(int64_t hd, int64_t n_pos, int g, const float *w, int64_t w_stride,
                              const void *v, int64_t off, size_t v_stride, float *out) {
    for (int i = 0; i < g; i++)
        for (int64_t e = 0; e < hd; e++) out[i * hd + e] = 0;
    for (int64_t p = 0; p < n_pos; p++) {
        const owl_block_q8_0 *row = (const owl_block_q8_0 *)((const char *)v + (size_t)p * v_stride);
        for (int64_t e = 0; e < hd; e++) {
            const float x = q8_0_at(row, off + e);
            for (int i = 0; i < g; i++) out[i * hd + e] += w[i * w_stride + p] * x;
        }
    }
}

void owl_attn_q8_0_init_scalar(owl_vec_ops *ops) {
    ops->attn_scores_q8_0 = owl_attn_scores_q8_0_ref;
    ops->attn_values_q8_0 = owl_attn_values_q8_0_ref;
}
