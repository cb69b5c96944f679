/* Attention over a Q8_0 KV cache with AVX2+FMA+F16C (see attn_q8_0.c for the layout): the same
 * scheme as attn_q8_0_avx512.c in 8-lane vectors. For each position the head's row is
 * dequantized once and every query head of the GQA group is served from it, from registers when
 * they suffice (16 of them: hd <= 64 for the scores, g · hd / 8 <= 12 accumulators for the
 * values), else through a buffer in L1. Heads that do not start and end on a block boundary
 * take the scalar reference. */
#include "tensor/kernels.h"

#include "tensor/blocks.h"

#include <immintrin.h>

#define MAX_HD 512
#define REG_V 8    /* hd / 8 held in registers for the scores */
#define REG_ACC 12 /* g · hd / 8 accumulators held in registers for the values */

/* 8 codes of a block, times its scale. */
static inline __m256 dequant8(const int8_t *qs, __m256 d) {
    return _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)qs))));
}

static inline void dequant_head(const owl_block_q8_0 *b, int64_t n_blocks, float *dst) {
    for (int64_t j = 0; j < n_blocks; j++) {
        const __m256 d = _mm256_set1_ps(_cvtsh_ss(b[j].d));
        for (int c = 0; c < 4; c++) {
            const __m256i x = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(b[j].qs + 8 * c)));
            _mm256_storeu_ps(dst + 32 * j + 8 * c, _mm256_mul_ps(d, _mm256_cvtepi32_ps(x)));
        }
    }
}

static inline float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static void attn_scores(int64_t hd, int64_t n_pos, int g, const float *q, const void *k, int64_t off,
                        size_t k_stride, float scale, float *scores, int64_t s_stride) {
    if (hd % 32 != 0 || off % 32 != 0 || hd > MAX_HD) {
        owl_attn_scores_q8_0_ref(hd, n_pos, g, q, k, off, k_stride, scale, scores, s_stride);
        return;
    }
    const int64_t nb = hd / 32;
    if (hd / 8 <= REG_V) {
        for (int64_t p = 0; p < n_pos; p++) {
            const owl_block_q8_0 *b = (const owl_block_q8_0 *)((const char *)k + (size_t)p * k_stride) + off / 32;
            __m256 kv[REG_V];
            for (int64_t j = 0; j < nb; j++) {
                const __m256 d = _mm256_set1_ps(_cvtsh_ss(b[j].d));
                for (int c = 0; c < 4; c++) kv[4 * j + c] = dequant8(b[j].qs + 8 * c, d);
            }
            for (int i = 0; i < g; i++) {
                const float *qi = q + i * hd;
                __m256 acc = _mm256_mul_ps(kv[0], _mm256_loadu_ps(qi));
                for (int64_t c = 1; c < 4 * nb; c++) acc = _mm256_fmadd_ps(kv[c], _mm256_loadu_ps(qi + 8 * c), acc);
                scores[i * s_stride + p] = scale * hsum(acc);
            }
        }
        return;
    }
    float buf[MAX_HD];
    for (int64_t p = 0; p < n_pos; p++) {
        dequant_head((const owl_block_q8_0 *)((const char *)k + (size_t)p * k_stride) + off / 32, nb, buf);
        for (int i = 0; i < g; i++) {
            const float *qi = q + i * hd;
            __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
            for (int64_t e = 0; e < hd; e += 16) {
                a0 = _mm256_fmadd_ps(_mm256_loadu_ps(buf + e), _mm256_loadu_ps(qi + e), a0);
                a1 = _mm256_fmadd_ps(_mm256_loadu_ps(buf + e + 8), _mm256_loadu_ps(qi + e + 8), a1);
            }
            scores[i * s_stride + p] = scale * hsum(_mm256_add_ps(a0, a1));
        }
    }
}

static void attn_values(int64_t hd, int64_t n_pos, int g, const float *w, int64_t w_stride,
                        const void *v, int64_t off, size_t v_stride, float *out) {
    if (hd % 32 != 0 || off % 32 != 0 || hd > MAX_HD) {
        owl_attn_values_q8_0_ref(hd, n_pos, g, w, w_stride, v, off, v_stride, out);
        return;
    }
    const int64_t nb = hd / 32, nv = hd / 8;
    if (g * nv <= REG_ACC) {
        __m256 acc[REG_ACC];
        for (int64_t j = 0; j < g * nv; j++) acc[j] = _mm256_setzero_ps();
        for (int64_t p = 0; p < n_pos; p++) {
            const owl_block_q8_0 *b = (const owl_block_q8_0 *)((const char *)v + (size_t)p * v_stride) + off / 32;
            for (int64_t j = 0; j < nb; j++) {
                const __m256 d = _mm256_set1_ps(_cvtsh_ss(b[j].d));
                for (int c = 0; c < 4; c++) {
                    const __m256 x = dequant8(b[j].qs + 8 * c, d);
                    for (int i = 0; i < g; i++)
                        acc[i * nv + 4 * j + c] = _mm256_fmadd_ps(_mm256_set1_ps(w[i * w_stride + p]), x, acc[i * nv + 4 * j + c]);
                }
            }
        }
        for (int i = 0; i < g; i++)
            for (int64_t c = 0; c < nv; c++) _mm256_storeu_ps(out + i * hd + 8 * c, acc[i * nv + c]);
        return;
    }
    float buf[MAX_HD];
    for (int64_t e = 0; e < g * hd; e += 8) _mm256_storeu_ps(out + e, _mm256_setzero_ps());
    for (int64_t p = 0; p < n_pos; p++) {
        dequant_head((const owl_block_q8_0 *)((const char *)v + (size_t)p * v_stride) + off / 32, nb, buf);
        for (int i = 0; i < g; i++) {
            const __m256 wp = _mm256_set1_ps(w[i * w_stride + p]);
            float *o = out + i * hd;
            for (int64_t e = 0; e < hd; e += 8)
                _mm256_storeu_ps(o + e, _mm256_fmadd_ps(wp, _mm256_loadu_ps(buf + e), _mm256_loadu_ps(o + e)));
        }
    }
}

void owl_attn_q8_0_init_avx2(owl_vec_ops *ops) {
    ops->attn_scores_q8_0 = attn_scores;
    ops->attn_values_q8_0 = attn_values;
}
