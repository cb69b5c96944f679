/* K-quant quantizers and the error-minimising scale searches behind them.
 *
 * A k-quant super-block holds 256 values in sub-blocks of 16 or 32, each with its own small
 * integer scale (and min), which are themselves quantized against one f16 super-scale. Picking
 * the plain max/nmax scale wastes levels, so each sub-block searches a handful of candidate
 * scales and keeps the one with the least weighted error, then fits the scale by least squares.
 *
 * Two regimes, as in ggml, so that files quantized by owl match llama.cpp's byte for byte:
 *   - no importance weights: the sub-block searches weigh each value by its magnitude, and the
 *     sub-block scales are rounded against max(scale)/levels;
 *   - with weights (an importance matrix): values are weighted by w * sqrt(sigma^2 + x^2) and
 *     the sub-block scales are themselves searched (owl_qsearch_positive / symmetric).
 * After the scales are fixed, every value is re-rounded against the scale actually stored (f16
 * super-scale times integer sub-scale), so the codes fit what the dequantizer will compute.
 *
 * The float operations are kept in the order that determines the result bit for bit; do not
 * "simplify" expressions such as (w * x) * l. */
#include "tensor/quant_search.h"
#include "owl/tensor.h"

#include <math.h>

#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

/* Below this a group counts as all zero. */
#define GROUP_EPS 1e-15f

/* ---- searches ------------------------------------------------------------------------------ */

/* Without weights the searches weigh each value by x^2; materialising those once keeps the
 * inner loops free of the choice. Groups are at most OWL_QSEARCH_MAX values. */
static const float *default_weights(int n, const float *x, const float *w, float *buf) {
    if (w) return w;
    for (int i = 0; i < n; i++) buf[i] = x[i] * x[i];
    return buf;
}

float owl_qsearch_symmetric(int n, int nmax, const float *x, const float *w, int8_t *L) {
    float wbuf[OWL_QSEARCH_MAX];
    /* The scale's sign follows the largest-magnitude value so that it lands on -nmax, the code
     * with no positive twin. */
    float amax = 0, max = 0;
    for (int i = 0; i < n; i++) {
        float ax = fabsf(x[i]);
        if (ax > amax) {
            amax = ax;
            max = x[i];
        }
    }
    if (amax < GROUP_EPS) {
        memset(L, 0, (size_t)n);
        return 0.0f;
    }
    w = default_weights(n, x, w, wbuf);
    float iscale = (float)-nmax / max;
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; i++) {
        int l = owl_qclamp(owl_qround(iscale * x[i]), -nmax, nmax - 1);
        L[i] = (int8_t)(l + nmax);
        float wi = w[i];
        sumlx += wi * x[i] * (float)l;
        suml2 += wi * (float)l * (float)l;
    }
    float scale = suml2 != 0 ? sumlx / suml2 : 0.0f;
    /* For the least-squares scale the error is sum w x^2 - sumlx^2 / suml2, so the best
     * candidate maximises sumlx^2 / suml2; `best` holds that quantity. */
    float best = scale * sumlx;
    for (int k = -9; k <= 9; k++) {
        if (k == 0) continue;
        float is = -((float)nmax + 0.1f * (float)k) / max;
        float slx = 0, sl2 = 0;
        for (int i = 0; i < n; i++) {
            int l = owl_qclamp(owl_qround(is * x[i]), -nmax, nmax - 1);
            float wi = w[i];
            slx += wi * x[i] * (float)l;
            sl2 += wi * (float)l * (float)l;
        }
        if (sl2 > 0 && slx * slx > best * sl2) {
            for (int i = 0; i < n; i++) {
                L[i] = (int8_t)(nmax + owl_qclamp(owl_qround(is * x[i]), -nmax, nmax - 1));
            }
            scale = slx / sl2;
            best = scale * slx;
        }
    }
    return scale;
}

float owl_qsearch_q3(int n, int nmax, const float *x, int8_t *L) {
    float amax = 0, max = 0;
    for (int i = 0; i < n; i++) {
        float ax = fabsf(x[i]);
        if (ax > amax) {
            amax = ax;
            max = x[i];
        }
    }
    if (amax < GROUP_EPS) {
        memset(L, 0, (size_t)n);
        return 0.0f;
    }
    float iscale = (float)-nmax / max;
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; i++) {
        int l = owl_qclamp(owl_qround(iscale * x[i]), -nmax, nmax - 1);
        L[i] = (int8_t)l;
        float wi = x[i] * x[i];
        sumlx += wi * x[i] * (float)l;
        suml2 += wi * (float)l * (float)l;
    }
    /* Coordinate descent: move one code at a time to its best value given the others, keeping
     * the change when it raises sumlx^2 / suml2 (i.e. lowers the least-squares error). */
    for (int pass = 0; pass < 5; pass++) {
        int changed = 0;
        for (int i = 0; i < n; i++) {
            float wi = x[i] * x[i];
            float slx = sumlx - wi * x[i] * (float)L[i];
            if (slx > 0) {
                float sl2 = suml2 - wi * (float)L[i] * (float)L[i];
                int nl = owl_qclamp(owl_qround(x[i] * sl2 / slx), -nmax, nmax - 1);
                if (nl != L[i]) {
                    slx += wi * x[i] * (float)nl;
                    sl2 += wi * (float)nl * (float)nl;
                    if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
                        L[i] = (int8_t)nl;
                        sumlx = slx;
                        suml2 = sl2;
                        changed++;
                    }
                }
            }
        }
        if (!changed) break;
    }
    for (int i = 0; i < n; i++) L[i] = (int8_t)(L[i] + nmax);
    return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

float owl_qsearch_affine(int n, int nmax, const float *x, const float *w, uint8_t *L,
                         float *the_min, uint8_t *Laux, float rmin, float rdelta, int nstep,
                         bool use_mad) {
    float wbuf[OWL_QSEARCH_MAX] = {0};
    w = default_weights(n, x, w, wbuf);
    float min = x[0], max = x[0];
    float sum_w = w[0];
    float sum_x = sum_w * x[0];
    for (int i = 1; i < n; i++) {
        if (x[i] < min) min = x[i];
        if (x[i] > max) max = x[i];
        float wi = w[i];
        sum_w += wi;
        sum_x += wi * x[i];
    }
    /* The offset only ever moves values up: a group of positive values keeps min = 0. */
    if (min > 0) min = 0;
    if (!(max > min)) {
        memset(L, 0, (size_t)n);
        *the_min = -min;
        return 0.0f;
    }
    float iscale = (float)nmax / (max - min);
    float scale = 1 / iscale;
    float best_err = 0;
    for (int i = 0; i < n; i++) {
        L[i] = (uint8_t)owl_qclamp(owl_qround(iscale * (x[i] - min)), 0, nmax);
        float diff = scale * (float)L[i] + min - x[i];
        diff = use_mad ? fabsf(diff) : diff * diff;
        best_err += w[i] * diff;
    }
    for (int k = 0; k <= nstep; k++) {
        /* A fitted min can reach max (e.g. all values <= 0); then every code would be 0 and no
         * candidate can win, so stop rather than divide by zero. */
        if (max - min == 0) break;
        float is = (rmin + rdelta * (float)k + (float)nmax) / (max - min);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; i++) {
            int l = owl_qclamp(owl_qround(is * (x[i] - min)), 0, nmax);
            Laux[i] = (uint8_t)l;
            float wi = w[i];
            sum_l += wi * (float)l;
            sum_l2 += wi * (float)l * (float)l;
            sum_xl += wi * (float)l * x[i];
        }
        /* Weighted least squares for x ~ s * l + m over this assignment of codes. */
        float D = sum_w * sum_l2 - sum_l * sum_l;
        if (D > 0) {
            float s = (sum_w * sum_xl - sum_x * sum_l) / D;
            float m = (sum_l2 * sum_x - sum_l * sum_xl) / D;
            if (m > 0) {
                m = 0;
                s = sum_xl / sum_l2;
            }
            float err = 0;
            for (int i = 0; i < n; i++) {
                float diff = s * (float)Laux[i] + m - x[i];
                diff = use_mad ? fabsf(diff) : diff * diff;
                err += w[i] * diff;
            }
            if (err < best_err) {
                memcpy(L, Laux, (size_t)n);
                best_err = err;
                scale = s;
                min = m;
            }
        }
    }
    *the_min = -min;
    return scale;
}

float owl_qsearch_positive(int n, int nmax, const float *x, uint8_t *L, const float *w) {
    float max = 0;
    for (int i = 0; i < n; i++) max = x[i] > max ? x[i] : max;
    if (max < GROUP_EPS) {
        memset(L, 0, (size_t)n);
        return 0.0f;
    }
    /* Pick the best of 9 inverse scales around nmax/max by weighted squared error ... */
    float iscale = (float)nmax / max;
    float scale = 1 / iscale;
    float best = 0;
    for (int i = 0; i < n; i++) {
        /* The first guess is held in a byte, as the codes will be. */
        float diff = x[i] - scale * (float)(uint8_t)owl_qround(iscale * x[i]);
        best += w[i] * diff * diff;
    }
    for (int k = -4; k <= 4; k++) {
        if (k == 0) continue;
        float is = (0.1f * (float)k + (float)nmax) / max;
        float s = 1 / is;
        float err = 0;
        for (int i = 0; i < n; i++) {
            int l = owl_qround(is * x[i]);
            if (l > nmax) l = nmax;
            float diff = x[i] - s * (float)l;
            err += w[i] * diff * diff;
        }
        if (err < best) {
            best = err;
            iscale = is;
        }
    }
    /* ... then refine codes one at a time, as in owl_qsearch_q3. */
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; i++) {
        int l = owl_qround(iscale * x[i]);
        if (l > nmax) l = nmax;
        L[i] = (uint8_t)l;
        sumlx += w[i] * x[i] * (float)l;
        suml2 += w[i] * (float)l * (float)l;
    }
    for (int pass = 0; pass < 5; pass++) {
        int changed = 0;
        for (int i = 0; i < n; i++) {
            float slx = sumlx - w[i] * x[i] * (float)L[i];
            float sl2 = suml2 - w[i] * (float)L[i] * (float)L[i];
            if (slx > 0 && sl2 > 0) {
                int nl = owl_qround(x[i] * sl2 / slx);
                if (nl > nmax) nl = nmax;
                if (nl != L[i]) {
                    slx += w[i] * x[i] * (float)nl;
                    sl2 += w[i] * (float)nl * (float)nl;
                    if (slx * slx * suml2 > sumlx * sumlx * sl2) {
                        L[i] = (uint8_t)nl;
                        sumlx = slx;
                        suml2 = sl2;
                        changed++;
                    }
                }
            }
        }
        if (!changed) break;
    }
    return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

/* ---- packing helpers ----------------------------------------------------------------------- */

/* 2-bit codes of 256 elements into 64 bytes: element 128h + 32k + l -> bits 2k of qs[32h + l]. */
static void pack_2bit(const uint8_t *L, uint8_t *qs) {
    for (int h = 0; h < 2; h++) {
        const uint8_t *Lh = L + 128 * h;
        for (int l = 0; l < 32; l++) {
            qs[32 * h + l] = (uint8_t)(Lh[l] | Lh[l + 32] << 2 | Lh[l + 64] << 4 | Lh[l + 96] << 6);
        }
    }
}

/* Eight 6-bit (scale, min) pairs into the 12-byte layout of Q4_K/Q5_K (see blocks.h). */
static void pack_k4_scales(const uint8_t *ls, const uint8_t *lm, uint8_t *out) {
    for (int j = 0; j < 8; j++) {
        if (j < 4) {
            out[j] = ls[j];
            out[j + 4] = lm[j];
        } else {
            out[j + 4] = (uint8_t)((ls[j] & 0xF) | (lm[j] & 0xF) << 4);
            out[j - 4] |= (uint8_t)((ls[j] >> 4) << 6);
            out[j] |= (uint8_t)((lm[j] >> 4) << 6);
        }
    }
}

/* Sixteen biased 6-bit scales (0..63) into the 12-byte layout of Q3_K. */
static void pack_q3_scales(const int *l6, uint8_t *out) {
    memset(out, 0, 12);
    for (int j = 0; j < 16; j++) {
        int l = l6[j];
        if (j < 8) {
            out[j] = (uint8_t)(l & 0xF);
        } else {
            out[j - 8] |= (uint8_t)((l & 0xF) << 4);
        }
        out[8 + j % 4] |= (uint8_t)((l >> 4) << (2 * (j / 4)));
    }
}

/* Re-rounds the 32-element sub-blocks of a Q4_K/Q5_K super-block against the stored scales. */
static void requantize_k4(const float *x, const uint8_t *scales, uint16_t d16, uint16_t dmin16,
                          int nmax, uint8_t *L) {
    for (int j = 0; j < 8; j++) {
        uint8_t sc, mn;
        owl_k4_scale_min(j, scales, &sc, &mn);
        const float d = owl_f16_to_f32(d16) * (float)sc;
        if (d == 0) continue;
        const float dm = owl_f16_to_f32(dmin16) * (float)mn;
        for (int i = 0; i < 32; i++) {
            L[32 * j + i] = (uint8_t)owl_qclamp(owl_qround((x[32 * j + i] + dm) / d), 0, nmax);
        }
    }
}

static float sum_squares(const float *x, int n) {
    float s = 0;
    for (int i = 0; i < n; i++) s += x[i] * x[i];
    return s;
}

/* ---- Q2_K ---------------------------------------------------------------------------------- */

void owl_quantize_q2_K(const float *x, owl_block_q2_K *y, int64_t nb, const float *qw) {
    uint8_t L[OWL_QK_K], Laux[16], Ls[16], Lm[16];
    float w[16], scales[16], mins[16], sw[16];
    for (int64_t i = 0; i < nb; i++, x += OWL_QK_K, y++) {
        if (!qw) {
            /* Scales fitted by weighted absolute error, weights |x|, then rounded to 4 bits
             * against the largest. */
            float max_scale = 0, max_min = 0;
            for (int j = 0; j < 16; j++) {
                for (int l = 0; l < 16; l++) w[l] = fabsf(x[16 * j + l]);
                scales[j] = owl_qsearch_affine(16, 3, x + 16 * j, w, L + 16 * j, &mins[j], Laux,
                                               -0.5f, 0.1f, 15, true);
                if (scales[j] > max_scale) max_scale = scales[j];
                if (mins[j] > max_min) max_min = mins[j];
            }
            if (max_scale > 0) {
                float is = 15.0f / max_scale;
                for (int j = 0; j < 16; j++) y->scales[j] = (uint8_t)owl_qround(is * scales[j]);
                y->d = owl_f32_to_f16(max_scale / 15.0f);
            } else {
                memset(y->scales, 0, 16);
                y->d = owl_f32_to_f16(0.0f);
            }
            if (max_min > 0) {
                float is = 15.0f / max_min;
                for (int j = 0; j < 16; j++) {
                    y->scales[j] |= (uint8_t)((unsigned)owl_qround(is * mins[j]) << 4);
                }
                y->dmin = owl_f32_to_f16(max_min / 15.0f);
            } else {
                y->dmin = owl_f32_to_f16(0.0f);
            }
        } else {
            const float sigma2 = sum_squares(x, OWL_QK_K) / OWL_QK_K;
            for (int j = 0; j < 16; j++) {
                const float *q = qw + OWL_QK_K * i + 16 * j;
                sw[j] = 0;
                for (int l = 0; l < 16; l++) {
                    w[l] = q[l] * sqrtf(sigma2 + x[16 * j + l] * x[16 * j + l]);
                }
                for (int l = 0; l < 16; l++) sw[j] += w[l];
                scales[j] = owl_qsearch_affine(16, 3, x + 16 * j, w, L + 16 * j, &mins[j], Laux,
                                               -0.9f, 0.05f, 36, false);
            }
            float dm = owl_qsearch_positive(16, 15, scales, Ls, sw);
            float mm = owl_qsearch_positive(16, 15, mins, Lm, sw);
            y->d = owl_f32_to_f16(dm);
            y->dmin = owl_f32_to_f16(mm);
            for (int j = 0; j < 16; j++) y->scales[j] = (uint8_t)(Ls[j] | Lm[j] << 4);
        }
        const float dall = owl_f16_to_f32(y->d), mall = owl_f16_to_f32(y->dmin);
        for (int j = 0; j < 16; j++) {
            const float d = dall * (float)(y->scales[j] & 0xF);
            if (d == 0) continue;
            const float m = mall * (float)(y->scales[j] >> 4);
            for (int l = 0; l < 16; l++) {
                L[16 * j + l] = (uint8_t)owl_qclamp(owl_qround((x[16 * j + l] + m) / d), 0, 3);
            }
        }
        pack_2bit(L, y->qs);
    }
}

/* ---- Q3_K ---------------------------------------------------------------------------------- */

void owl_quantize_q3_K(const float *x, owl_block_q3_K *y, int64_t nb, const float *qw) {
    int8_t L[OWL_QK_K], Ls[16];
    float scales[16], w[16], sw[16];
    int l6[16];
    for (int64_t i = 0; i < nb; i++, x += OWL_QK_K, y++) {
        if (!qw) {
            float max_scale = 0, amax = 0;
            for (int j = 0; j < 16; j++) {
                scales[j] = owl_qsearch_q3(16, 4, x + 16 * j, L + 16 * j);
                if (fabsf(scales[j]) > amax) {
                    amax = fabsf(scales[j]);
                    max_scale = scales[j];
                }
            }
            if (max_scale != 0) {
                /* Signed 6-bit sub-scales: the largest lands on -32, the code without a twin. */
                float is = -32.0f / max_scale;
                for (int j = 0; j < 16; j++) {
                    l6[j] = owl_qclamp((int8_t)owl_qround(is * scales[j]), -32, 31) + 32;
                }
                pack_q3_scales(l6, y->scales);
                y->d = owl_f32_to_f16(1 / is);
            } else {
                memset(y->scales, 0, 12);
                y->d = owl_f32_to_f16(0.0f);
            }
        } else {
            const float sigma2 = 2 * sum_squares(x, OWL_QK_K) / OWL_QK_K;
            for (int j = 0; j < 16; j++) {
                const float *q = qw + OWL_QK_K * i + 16 * j;
                for (int l = 0; l < 16; l++) {
                    w[l] = q[l] * sqrtf(sigma2 + x[16 * j + l] * x[16 * j + l]);
                }
                float s = 0;
                for (int l = 0; l < 16; l++) s += w[l];
                sw[j] = s;
                scales[j] = owl_qsearch_symmetric(16, 4, x + 16 * j, w, L + 16 * j);
            }
            float d_block = owl_qsearch_symmetric(16, 32, scales, sw, Ls);
            for (int j = 0; j < 16; j++) l6[j] = Ls[j];
            pack_q3_scales(l6, y->scales);
            y->d = owl_f32_to_f16(d_block);
        }
        int8_t sc[16];
        owl_q3k_scales(y->scales, sc);
        for (int j = 0; j < 16; j++) {
            const float d = owl_f16_to_f32(y->d) * (float)sc[j];
            if (d == 0) continue;
            for (int l = 0; l < 16; l++) {
                L[16 * j + l] = (int8_t)(owl_qclamp(owl_qround(x[16 * j + l] / d), -4, 3) + 4);
            }
        }
        /* Codes 0..7: bit 2 goes to hmask (element e -> hmask[e % 32] bit e / 32), the low two
         * bits are packed as in Q2_K. */
        uint8_t low[OWL_QK_K];
        memset(y->hmask, 0, sizeof y->hmask);
        for (int e = 0; e < OWL_QK_K; e++) {
            if (L[e] > 3) y->hmask[e % 32] |= (uint8_t)(1u << (e / 32));
            low[e] = (uint8_t)(L[e] & 3);
        }
        pack_2bit(low, y->qs);
    }
}

/* ---- Q4_K and Q5_K ------------------------------------------------------------------------- */

/* The scale/min search shared by Q4_K (nmax 15) and Q5_K (nmax 31); fills the 6-bit scales, d
 * and dmin of one super-block, and first-guess codes in L. */
static void k4_scales(const float *x, const float *qw, int nmax, uint8_t *L, uint8_t *scales_out,
                      uint16_t *d_out, uint16_t *dmin_out) {
    uint8_t Laux[32], ls[8], lm[8];
    float w[32], scales[8], mins[8], sw[8];
    if (!qw) {
        float max_scale = 0, max_min = 0;
        for (int j = 0; j < 8; j++) {
            const float *xb = x + 32 * j;
            float av_x = sqrtf(sum_squares(xb, 32) / 32);
            for (int l = 0; l < 32; l++) w[l] = av_x + fabsf(xb[l]);
            if (nmax == 15) {
                scales[j] = owl_qsearch_affine(32, 15, xb, w, L + 32 * j, &mins[j], Laux, -1.0f,
                                               0.1f, 20, false);
            } else {
                scales[j] = owl_qsearch_affine(32, nmax, xb, w, L + 32 * j, &mins[j], Laux, -0.5f,
                                               0.1f, 15, false);
            }
            if (scales[j] > max_scale) max_scale = scales[j];
            if (mins[j] > max_min) max_min = mins[j];
        }
        float inv_scale = max_scale > 0 ? 63.0f / max_scale : 0.0f;
        float inv_min = max_min > 0 ? 63.0f / max_min : 0.0f;
        for (int j = 0; j < 8; j++) {
            uint8_t a = (uint8_t)owl_qround(inv_scale * scales[j]);
            uint8_t b = (uint8_t)owl_qround(inv_min * mins[j]);
            ls[j] = a < 63 ? a : 63;
            lm[j] = b < 63 ? b : 63;
        }
        pack_k4_scales(ls, lm, scales_out);
        *d_out = owl_f32_to_f16(max_scale / 63.0f);
        *dmin_out = owl_f32_to_f16(max_min / 63.0f);
        return;
    }
    const float sigma2 = 2 * sum_squares(x, OWL_QK_K) / OWL_QK_K;
    for (int j = 0; j < 8; j++) {
        const float *xb = x + 32 * j;
        for (int l = 0; l < 32; l++) w[l] = qw[32 * j + l] * sqrtf(sigma2 + xb[l] * xb[l]);
        float s = 0;
        for (int l = 0; l < 32; l++) s += w[l];
        sw[j] = s;
        scales[j] = owl_qsearch_affine(32, nmax, xb, w, L + 32 * j, &mins[j], Laux, -0.9f, 0.05f,
                                       36, false);
    }
    float d_block = owl_qsearch_positive(8, 63, scales, ls, sw);
    float m_block = owl_qsearch_positive(8, 63, mins, lm, sw);
    pack_k4_scales(ls, lm, scales_out);
    *d_out = owl_f32_to_f16(d_block);
    *dmin_out = owl_f32_to_f16(m_block);
}

void owl_quantize_q4_K(const float *x, owl_block_q4_K *y, int64_t nb, const float *qw) {
    uint8_t L[OWL_QK_K];
    for (int64_t i = 0; i < nb; i++, x += OWL_QK_K, y++) {
        k4_scales(x, qw ? qw + OWL_QK_K * i : NULL, 15, L, y->scales, &y->d, &y->dmin);
        requantize_k4(x, y->scales, y->d, y->dmin, 15, L);
        for (int c = 0; c < 4; c++) {
            for (int l = 0; l < 32; l++) {
                y->qs[32 * c + l] = (uint8_t)(L[64 * c + l] | L[64 * c + 32 + l] << 4);
            }
        }
    }
}

void owl_quantize_q5_K(const float *x, owl_block_q5_K *y, int64_t nb, const float *qw) {
    uint8_t L[OWL_QK_K];
    for (int64_t i = 0; i < nb; i++, x += OWL_QK_K, y++) {
        k4_scales(x, qw ? qw + OWL_QK_K * i : NULL, 31, L, y->scales, &y->d, &y->dmin);
        requantize_k4(x, y->scales, y->d, y->dmin, 31, L);
        memset(y->qh, 0, sizeof y->qh);
        for (int c = 0; c < 4; c++) {
            for (int l = 0; l < 32; l++) {
                int a = L[64 * c + l], b = L[64 * c + 32 + l];
                if (a > 15) {
                    a -= 16;
                    y->qh[l] |= (uint8_t)(1u << (2 * c));
                }
                if (b > 15) {
                    b -= 16;
                    y->qh[l] |= (uint8_t)(2u << (2 * c));
                }
                y->qs[32 * c + l] = (uint8_t)(a | b << 4);
            }
        }
    }
}

/* ---- Q6_K ---------------------------------------------------------------------------------- */

void owl_quantize_q6_K(const float *x, owl_block_q6_K *y, int64_t nb, const float *qw) {
    int8_t L[OWL_QK_K];
    float scales[16];
    for (int64_t i = 0; i < nb; i++, x += OWL_QK_K, y++) {
        float max_scale = 0, max_abs = 0;
        for (int j = 0; j < 16; j++) {
            const float *w = qw ? qw + OWL_QK_K * i + 16 * j : NULL;
            scales[j] = owl_qsearch_symmetric(16, 32, x + 16 * j, w, L + 16 * j);
            if (fabsf(scales[j]) > max_abs) {
                max_abs = fabsf(scales[j]);
                max_scale = scales[j];
            }
        }
        if (max_abs < GROUP_EPS) {
            memset(y, 0, sizeof *y);
            continue;
        }
        /* Signed 8-bit sub-scales; the largest lands on -128. */
        float is = -128.0f / max_scale;
        y->d = owl_f32_to_f16(1 / is);
        for (int j = 0; j < 16; j++) {
            int s = owl_qround(is * scales[j]);
            y->scales[j] = (int8_t)(s < 127 ? s : 127);
        }
        for (int j = 0; j < 16; j++) {
            const float d = owl_f16_to_f32(y->d) * (float)y->scales[j];
            if (d == 0) continue;
            for (int l = 0; l < 16; l++) {
                L[16 * j + l] = (int8_t)(owl_qclamp(owl_qround(x[16 * j + l] / d), -32, 31) + 32);
            }
        }
        for (int h = 0; h < 2; h++) {
            const int8_t *Lh = L + 128 * h;
            uint8_t *ql = y->ql + 64 * h, *qh = y->qh + 32 * h;
            for (int l = 0; l < 32; l++) {
                ql[l] = (uint8_t)((Lh[l] & 0xF) | (Lh[l + 64] & 0xF) << 4);
                ql[l + 32] = (uint8_t)((Lh[l + 32] & 0xF) | (Lh[l + 96] & 0xF) << 4);
                qh[l] = (uint8_t)((Lh[l] >> 4) | (Lh[l + 32] >> 4) << 2 | (Lh[l + 64] >> 4) << 4 |
                                  (Lh[l + 96] >> 4) << 6);
            }
        }
    }
}
