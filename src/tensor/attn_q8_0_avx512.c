/* Attention over a Q8_0 KV cache with AVX-512 (see attn_q8_0.c for the layout). For each
 * position the head's row is dequantized once (16 codes widened to float and scaled per step)
 * and every query head of the GQA group is served from it, so the cache is read once per group.
 * When they fit, the dequantized row (scores) or the group's output accumulators (values) live
 * in registers, as in the F16 kernels; otherwise the row goes through a buffer in L1. Heads that
 * do not start and end on a block boundary (hd < 32) take the scalar reference. */
#include "tensor/kernels.h"

#include "tensor/blocks.h"

#include <immintrin.h>

#define MAX_HD 512
#define REG_V 8    /* hd / 16 held in registers for the scores */
#define REG_ACC 24 /* g · hd / 16 accumulators held in registers for the values */

/* 16 codes of a block, times its scale. */
static inline __m512 dequant16(const int8_t *qs, __m512 d) {
    return _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)qs))));
}

/* The hd elements of a row, from block b0 on, as floats. */
static inline void dequant_head(const owl_block_q8_0 *b, int64_t n_blocks, float *dst) {
    for (int64_t j = 0; j < n_blocks; j++) {
        const __m512 d = _mm512_set1_ps(_cvtsh_ss(b[j].d));
        const __m512i lo = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)b[j].qs));
        const __m512i hi = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(b[j].qs + 16)));
        _mm512_storeu_ps(dst + 32 * j, _mm512_mul_ps(d, _mm512_cvtepi32_ps(lo)));
        _mm512_storeu_ps(dst + 32 * j + 16, _mm512_mul_ps(d, _mm512_cvtepi32_ps(hi)));
    }
}

static void attn_scores(int64_t hd, int64_t n_pos, int g, const float *q, const void *k, int64_t off,
                        size_t k_stride, float scale, float *scores, int64_t s_stride) {
    if (hd % 32 != 0 || off % 32 != 0 || hd > MAX_HD) {
        owl_attn_scores_q8_0_ref(hd, n_pos, g, q, k, off, k_stride, scale, scores, s_stride);
        return;
    }
    const int64_t nb = hd / 32;
    if (hd / 16 <= REG_V) {
        for (int64_t p = 0; p < n_pos; p++) {
            const owl_block_q8_0 *b = (const owl_block_q8_0 *)((const char *)k + (size_t)p * k_stride) + off / 32;
            __m512 kv[REG_V];
            for (int64_t j = 0; j < nb; j++) {
                const __m512 d = _mm512_set1_ps(_cvtsh_ss(b[j].d));
                kv[2 * j] = dequant16(b[j].qs, d);
                kv[2 * j + 1] = dequant16(b[j].qs + 16, d);
            }
            for (int i = 0; i < g; i++) {
                const float *qi = q + i * hd;
                __m512 acc = _mm512_mul_ps(kv[0], _mm512_loadu_ps(qi));
                for (int64_t c = 1; c < 2 * nb; c++) acc = _mm512_fmadd_ps(kv[c], _mm512_loadu_ps(qi + 16 * c), acc);
                scores[i * s_stride + p] = scale * _mm512_reduce_add_ps(acc);
            }
        }
        return;
    }
    float buf[MAX_HD];
    for (int64_t p = 0; p < n_pos; p++) {
        dequant_head((const owl_block_q8_0 *)((const char *)k + (size_t)p * k_stride) + off / 32, nb, buf);
        for (int i = 0; i < g; i++) {
            const float *qi = q + i * hd;
            __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
            for (int64_t e = 0; e < hd; e += 32) {
                a0 = _mm512_fmadd_ps(_mm512_loadu_ps(buf + e), _mm512_loadu_ps(qi + e), a0);
                a1 = _mm512_fmadd_ps(_mm512_loadu_ps(buf + e + 16), _mm512_loadu_ps(qi + e + 16), a1);
            }
            scores[i * s_stride + p] = scale * _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
        }
    }
}

static void attn_values(int64_t hd, int64_t n_pos, int g, const float *w, int64_t w_stride,
                        const void *v, int64_t off, size_t v_stride, float *out) {
    if (hd % 32 != 0 || off % 32 != 0 || hd > MAX_HD) {
        owl_attn_values_q8_0_ref(hd, n_pos, g, w, w_stride, v, off, v_stride, out);
        return;
    }
    const int64_t nb = hd / 32, nv = hd / 16;
    if (g * nv <= REG_ACC) {
        __m512 acc[REG_ACC];
        for (int64_t j = 0; j < g * nv; j++) acc[j] = _mm512_setzero_ps();
        for (int64_t p = 0; p < n_pos; p++) {
            const owl_block_q8_0 *b = (const owl_block_q8_0 *)((const char *)v + (size_t)p * v_stride) + off / 32;
            for (int64_t j = 0; j < nb; j++) {
                const __m512 d = _mm512_set1_ps(_cvtsh_ss(b[j].d));
                const __m512 x0 = dequant16(b[j].qs, d), x1 = dequant16(b[j].qs + 16, d);
                for (int i = 0; i < g; i++) {
                    const __m512 wp = _mm512_set1_ps(w[i * w_stride + p]);
                    acc[i * nv + 2 * j] = _mm512_fmadd_ps(wp, x0, acc[i * nv + 2 * j]);
                    acc[i * nv + 2 * j + 1] = _mm512_fmadd_ps(wp, x1, acc[i * nv + 2 * j + 1]);
                }
            }
        }
        for (int i = 0; i < g; i++)
            for (int64_t c = 0; c < nv; c++) _mm512_storeu_ps(out + i * hd + 16 * c, acc[i * nv + c]);
        return;
    }
    float buf[MAX_HD];
    for (int64_t e = 0; e < g * hd; e += 16) _mm512_storeu_ps(out + e, _mm512_setzero_ps());
    for (int64_t p = 0; p < n_pos; p++) {
        dequant_head((const owl_block_q8_0 *)((const char *)v + (size_t)p * v_stride) + off / 32, nb, buf);
        for (int i = 0; i < g; i++) {
            const __m512 wp = _mm512_set1_ps(w[i * w_stride + p]);
            float *o = out + i * hd;
            for (int64_t e = 0; e < hd; e += 16)
                _mm512_storeu_ps(o + e, _mm512_fmadd_ps(wp, _mm512_loadu_ps(buf + e), _mm512_loadu_ps(o + e)));
        }
    }
}

void owl_attn_q8_0_init_avx512(owl_vec_ops *ops) {
    ops->attn_scores_q8_0 = attn_scores;
    ops->attn_values_q8_0 = attn_values;
}
