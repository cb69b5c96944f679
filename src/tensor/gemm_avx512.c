/* AVX-512 batched products (prefill, and decoding several sequences at once): Y[t][r] for tiles
 * of weight rows against every token of a batch, each tile decoded once and reused across the
 * whole batch (see owl_gemm_fn in kernels.h). Every computable type has one: the quantized types
 * on VNNI's u8×s8 dot products (integer sums, exact), BF16 on vdpbf16ps, F16 and F32 on FMA.
 *
 * Throughput on this class of core (measured with enough independent chains): one 512-bit
 * vpdpbusd per cycle (64 multiply-adds) against one 256-bit vpdpbusd (32), so the tiles are 16
 * rows wide, one row per 32-bit lane; a chunk's last 8 rows run as a 16-row tile with the rows
 * repeated and half the lanes stored. */
#include "tensor/kernels.h"

#include "tensor/blocks.h"
#include "tensor/simd_blocks.h"

#include <immintrin.h>
#include <string.h>

static inline __m512 load_f16(const uint16_t *p) {
    return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p));
}

static inline __m512 load_f16_mask(const uint16_t *p, __mmask16 m) {
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p));
}

typedef struct q8_aux {
    float d;
    int32_t corr;
} q8_aux;

static void gemm_prep_q8_0(int64_t n, const void *act, void *aux) {
    const owl_block_q8_0 *x = act;
    q8_aux *o = aux;
    for (int64_t b = 0; b < n / 32; b++) {
        __m256i q = _mm256_loadu_si256((const __m256i *)x[b].qs);
        __m256i s = _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_set1_epi8(1), q);
        __m128i h = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
        h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0x4e));
        h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0xb1));
        o[b].d = _cvtsh_ss(x[b].d);
        o[b].corr = -128 * _mm_cvtsi128_si32(h);
    }
}



/* ---- symmetric 32-element types (Q8_0, Q4_0, Q5_0) ---------------------------------------------
 * For each tile of 16 weight rows the rows' codes are transposed once (for a span of the row
 * length) so that lane j of vector g holds bytes 4g..4g+3 of row j, as unsigned (+128). A
 * vpdpbusd of such a vector with the broadcast bytes 4g..4g+3 of a token then adds to lane j the
 * products for row j: eight vpdpbusd per 32-element block leave the 16 rows' exact integer dot
 * products in the 16 lanes, and the block scales apply to all 16 at once. The tile stays in L1
 * while every token of the batch streams past it; four tokens share each tile vector load, and
 * each keeps two chains (even and odd dwords), so eight chains hide vpdpbusd's latency. The
 * activation dwords are broadcast straight from memory into the dot product. A last tile of 8
 * rows (n_rows is a multiple of 8) repeats them in lanes 8..15 and stores 8 lanes. */
#define SYM_SPAN 32 /* blocks per tile pass: 32 × 512 bytes = 16 KiB of tile in L1 */

static inline __m512i bcast32(const int8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return _mm512_set1_epi32(v);
}

/* Σ over one block of the codes of 16 rows times one token's 32 activations, split over two
 * chains (the caller adds them): a += dwords 0,2,4,6; b += dwords 1,3,5,7. */
#define SYM_BLOCK(T, x, a, b)                                                                      \
    do {                                                                                           \
        a = _mm512_dpbusd_epi32(a, (T)[0], bcast32((x) + 0));                                      \
        b = _mm512_dpbusd_epi32(b, (T)[1], bcast32((x) + 4));                                      \
        a = _mm512_dpbusd_epi32(a, (T)[2], bcast32((x) + 8));                                      \
        b = _mm512_dpbusd_epi32(b, (T)[3], bcast32((x) + 12));                                     \
        a = _mm512_dpbusd_epi32(a, (T)[4], bcast32((x) + 16));                                     \
        b = _mm512_dpbusd_epi32(b, (T)[5], bcast32((x) + 20));                                     \
        a = _mm512_dpbusd_epi32(a, (T)[6], bcast32((x) + 24));                                     \
        b = _mm512_dpbusd_epi32(b, (T)[7], bcast32((x) + 28));                                     \
    } while (0)

static void gemm_sym32(owl_type type, int64_t n, int64_t n_rows, const void *w, size_t row_bytes,
                       const void *act, size_t act_row, const void *aux, int64_t n_tok, float *y,
                       int64_t y_stride) {
    const int64_t nb = n / 32;
    const q8_aux *ax = aux;
    const __m256i flip = _mm256_set1_epi8((char)0x80);
    __m512i tile[SYM_SPAN][8];
    __m512 dws[SYM_SPAN];
    for (int64_t r0 = 0; r0 < n_rows; r0 += 16)
    for (int64_t kb0 = 0; kb0 < nb; kb0 += SYM_SPAN) {
        const int nr = n_rows - r0 >= 16 ? 16 : 8; /* a last tile of 8 rows repeats them */
        const __mmask16 keep = nr == 16 ? (__mmask16)0xFFFF : (__mmask16)0x00FF;
        const int64_t kb1 = kb0 + SYM_SPAN < nb ? kb0 + SYM_SPAN : nb;
        /* Decoded row by row, so each row's span is read front to back (as the hardware
         * prefetcher expects), with the same span of the next tile's row requested meanwhile;
         * then transposed block by block. Small batches are bound by this step. */
        uint16_t d[SYM_SPAN][16];
        const size_t blk = row_bytes / (size_t)nb;
        for (int j = 0; j < 16; j++) {
            const char *row = (const char *)w + (size_t)(r0 + j % nr) * row_bytes;
            const char *ahead = r0 + 16 + j < n_rows ? row + 16 * row_bytes : row;
            for (int64_t b = kb0; b < kb1; b++) {
                _mm_prefetch(ahead + (size_t)b * blk, _MM_HINT_T0);
                ((__m256i *)tile[b - kb0])[j] = _mm256_xor_si256(simd_codes32(type, row, b, &d[b - kb0][j]), flip);
            }
        }
        for (int64_t b = kb0; b < kb1; b++) {
            __m256i *rows = (__m256i *)tile[b - kb0]; /* rows 0..15 as 16 halves, in place */
            __m256i lo[8], hi[8];
            for (int j = 0; j < 8; j++) {
                lo[j] = rows[j];
                hi[j] = rows[8 + j];
            }
            transpose8x8_epi32(lo);
            transpose8x8_epi32(hi);
            for (int g = 0; g < 8; g++) tile[b - kb0][g] = _mm512_inserti64x4(_mm512_castsi256_si512(lo[g]), hi[g], 1);
            dws[b - kb0] = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)d[b - kb0]));
        }
        int64_t t = 0;
        for (; t + 4 <= n_tok; t += 4) {
            const owl_block_q8_0 *x0 = (const owl_block_q8_0 *)((const char *)act + (size_t)t * act_row);
            const owl_block_q8_0 *x1 = (const owl_block_q8_0 *)((const char *)x0 + act_row);
            const owl_block_q8_0 *x2 = (const owl_block_q8_0 *)((const char *)x1 + act_row);
            const owl_block_q8_0 *x3 = (const owl_block_q8_0 *)((const char *)x2 + act_row);
            const q8_aux *a0 = ax + (size_t)t * (size_t)nb, *a1 = a0 + nb, *a2 = a1 + nb, *a3 = a2 + nb;
            float *y0 = y + t * y_stride + r0, *y1 = y0 + y_stride, *y2 = y1 + y_stride, *y3 = y2 + y_stride;
            __m512 f0 = kb0 ? _mm512_maskz_loadu_ps(keep, y0) : _mm512_setzero_ps();
            __m512 f1 = kb0 ? _mm512_maskz_loadu_ps(keep, y1) : _mm512_setzero_ps();
            __m512 f2 = kb0 ? _mm512_maskz_loadu_ps(keep, y2) : _mm512_setzero_ps();
            __m512 f3 = kb0 ? _mm512_maskz_loadu_ps(keep, y3) : _mm512_setzero_ps();
            for (int64_t b = kb0; b < kb1; b++) {
                const __m512i *T = tile[b - kb0];
                __m512i p0 = _mm512_set1_epi32(a0[b].corr), q0 = _mm512_setzero_si512();
                __m512i p1 = _mm512_set1_epi32(a1[b].corr), q1 = _mm512_setzero_si512();
                __m512i p2 = _mm512_set1_epi32(a2[b].corr), q2 = _mm512_setzero_si512();
                __m512i p3 = _mm512_set1_epi32(a3[b].corr), q3 = _mm512_setzero_si512();
                SYM_BLOCK(T, x0[b].qs, p0, q0);
                SYM_BLOCK(T, x1[b].qs, p1, q1);
                SYM_BLOCK(T, x2[b].qs, p2, q2);
                SYM_BLOCK(T, x3[b].qs, p3, q3);
                const __m512 dw = dws[b - kb0];
                f0 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(p0, q0)), _mm512_mul_ps(dw, _mm512_set1_ps(a0[b].d)), f0);
                f1 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(p1, q1)), _mm512_mul_ps(dw, _mm512_set1_ps(a1[b].d)), f1);
                f2 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(p2, q2)), _mm512_mul_ps(dw, _mm512_set1_ps(a2[b].d)), f2);
                f3 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(p3, q3)), _mm512_mul_ps(dw, _mm512_set1_ps(a3[b].d)), f3);
            }
            _mm512_mask_storeu_ps(y0, keep, f0);
            _mm512_mask_storeu_ps(y1, keep, f1);
            _mm512_mask_storeu_ps(y2, keep, f2);
            _mm512_mask_storeu_ps(y3, keep, f3);
        }
        for (; t < n_tok; t++) {
            const owl_block_q8_0 *x0 = (const owl_block_q8_0 *)((const char *)act + (size_t)t * act_row);
            const q8_aux *a0 = ax + (size_t)t * (size_t)nb;
            float *y0 = y + t * y_stride + r0;
            __m512 f0 = kb0 ? _mm512_maskz_loadu_ps(keep, y0) : _mm512_setzero_ps();
            for (int64_t b = kb0; b < kb1; b++) {
                __m512i p0 = _mm512_set1_epi32(a0[b].corr), q0 = _mm512_setzero_si512();
                SYM_BLOCK(tile[b - kb0], x0[b].qs, p0, q0);
                f0 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(p0, q0)), _mm512_mul_ps(dws[b - kb0], _mm512_set1_ps(a0[b].d)), f0);
            }
            _mm512_mask_storeu_ps(y0, keep, f0);
        }
    }
}

/* The kernel-table entry for one type: the shared body with the type fixed, so the compiler
 * specializes it. */
#define GEMM_ENTRY(name, call)                                                                     \
    static void name(int64_t n, int64_t n_rows, const void *w, size_t row_bytes, const void *act,  \
                     size_t act_row, const void *aux, int64_t n_tok, float *y, int64_t y_stride) { \
        (void)aux;                                                                                 \
        call;                                                                                      \
    }

GEMM_ENTRY(gemm_q8_0, gemm_sym32(OWL_TYPE_Q8_0, n, n_rows, w, row_bytes, act, act_row, aux, n_tok, y, y_stride))

GEMM_ENTRY(gemm_q4_0, gemm_sym32(OWL_TYPE_Q4_0, n, n_rows, w, row_bytes, act, act_row, aux, n_tok, y, y_stride))

GEMM_ENTRY(gemm_q5_0, gemm_sym32(OWL_TYPE_Q5_0, n, n_rows, w, row_bytes, act, act_row, aux, n_tok, y, y_stride))


/* Rows r0..r0+15 of 32 bytes each (lo: rows 0-7, hi: rows 8-15), transposed to out[g] = dword g
 * of each of the 16 rows. */
static inline void tile32x16(__m256i lo[8], __m256i hi[8], __m512i out[8]) {
    transpose8x8_epi32(lo);
    transpose8x8_epi32(hi);
    for (int g = 0; g < 8; g++) out[g] = _mm512_inserti64x4(_mm512_castsi256_si512(lo[g]), hi[g], 1);
}

/* ---- affine 32-element types (Q4_1, Q5_1) --------------------------------------------------------
 * x = d·q + m with unsigned codes, against Q8_1 activations: Σ = d_w·d_x·Σq_w·q_x + m_w·s_x, where
 * s_x = d_x·Σq_x comes with the activation block. The codes multiply the activation bytes
 * directly (no +128 shift), and the min term is one FMA of the 16 rows' minimums per block. A
 * tile of only 8 rows (the chunk's last) repeats them in lanes 8..15 and stores 8 lanes. */
typedef struct q8_1_aux {
    float d, s;
} q8_1_aux;

static void gemm_prep_q8_1(int64_t n, const void *act, void *aux) {
    const owl_block_q8_1 *x = act;
    q8_1_aux *o = aux;
    for (int64_t b = 0; b < n / 32; b++) o[b] = (q8_1_aux){_cvtsh_ss(x[b].d), _cvtsh_ss(x[b].s)};
}

/* The 32 unsigned codes, scale and minimum of block b of a Q4_1 / Q5_1 row. */
static inline __m256i affine_codes(owl_type type, const void *row, int64_t b, uint16_t *d, uint16_t *m) {
    if (type == OWL_TYPE_Q4_1) {
        const owl_block_q4_1 *x = (const owl_block_q4_1 *)row + b;
        *d = x->d;
        *m = x->m;
        __m128i v = _mm_loadu_si128((const __m128i *)x->qs);
        return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(v, 4), v), _mm256_set1_epi8(0x0F));
    }
    const owl_block_q5_1 *x = (const owl_block_q5_1 *)row + b;
    *d = x->d;
    *m = x->m;
    uint32_t h;
    memcpy(&h, x->qh, 4);
    __m128i v = _mm_loadu_si128((const __m128i *)x->qs);
    __m256i q = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(v, 4), v), _mm256_set1_epi8(0x0F));
    return _mm256_or_si256(q, _mm256_maskz_mov_epi8((__mmask32)h, _mm256_set1_epi8(0x10)));
}

static void gemm_affine32(owl_type type, int64_t n, int64_t n_rows, const void *w, size_t row_bytes,
                          const void *act, size_t act_row, const void *aux, int64_t n_tok, float *y,
                          int64_t y_stride) {
    const int64_t nb = n / 32;
    const q8_1_aux *ax = aux;
    __m512i tile[SYM_SPAN][8];
    __m512 dws[SYM_SPAN], mws[SYM_SPAN];
    for (int64_t r0 = 0; r0 < n_rows; r0 += 16) {
        const int nr = n_rows - r0 >= 16 ? 16 : 8;
        const __mmask16 keep = nr == 16 ? (__mmask16)0xFFFF : (__mmask16)0x00FF;
        for (int64_t kb0 = 0; kb0 < nb; kb0 += SYM_SPAN) {
            const int64_t kb1 = kb0 + SYM_SPAN < nb ? kb0 + SYM_SPAN : nb;
            uint16_t d[SYM_SPAN][16], m[SYM_SPAN][16];
            for (int j = 0; j < 16; j++) {
                const char *row = (const char *)w + (size_t)(r0 + j % nr) * row_bytes;
                for (int64_t b = kb0; b < kb1; b++)
                    ((__m256i *)tile[b - kb0])[j] = affine_codes(type, row, b, &d[b - kb0][j], &m[b - kb0][j]);
            }
            for (int64_t b = kb0; b < kb1; b++) {
                __m256i *rows = (__m256i *)tile[b - kb0];
                __m256i lo[8], hi[8];
                for (int j = 0; j < 8; j++) {
                    lo[j] = rows[j];
                    hi[j] = rows[8 + j];
                }
                tile32x16(lo, hi, tile[b - kb0]);
                dws[b - kb0] = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)d[b - kb0]));
                mws[b - kb0] = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)m[b - kb0]));
            }
            for (int64_t t = 0; t < n_tok; t++) {
                const owl_block_q8_1 *x0 = (const owl_block_q8_1 *)((const char *)act + (size_t)t * act_row);
                const q8_1_aux *a0 = ax + (size_t)t * (size_t)nb;
                float *y0 = y + t * y_stride + r0;
                __m512 f0 = kb0 ? _mm512_maskz_loadu_ps(keep, y0) : _mm512_setzero_ps();
                __m512 f1 = _mm512_setzero_ps();
                for (int64_t b = kb0; b < kb1; b++) {
                    __m512i p0 = _mm512_setzero_si512(), q0 = _mm512_setzero_si512();
                    SYM_BLOCK(tile[b - kb0], x0[b].qs, p0, q0);
                    f0 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(p0, q0)),
                                         _mm512_mul_ps(dws[b - kb0], _mm512_set1_ps(a0[b].d)), f0);
                    f1 = _mm512_fmadd_ps(mws[b - kb0], _mm512_set1_ps(a0[b].s), f1);
                }
                _mm512_mask_storeu_ps(y0, keep, _mm512_add_ps(f0, f1));
            }
        }
    }
}

GEMM_ENTRY(gemm_q4_1, gemm_affine32(OWL_TYPE_Q4_1, n, n_rows, w, row_bytes, act, act_row, aux, n_tok, y, y_stride))

GEMM_ENTRY(gemm_q5_1, gemm_affine32(OWL_TYPE_Q5_1, n, n_rows, w, row_bytes, act, act_row, aux, n_tok, y, y_stride))

/* ---- k-quants ------------------------------------------------------------------------------------
 * The same tiles over 256-element super-blocks: the codes of 16 rows stored transposed (lane =
 * row) per sub-block, so one vpdpbusd per 4 elements serves all 16 rows, and each sub-block's
 * integer sum is scaled by the 16 rows' sub-block scales at once. The codes are unsigned (Q4_K
 * 0..15, Q5_K 0..31, Q6_K 0..63), so the Q8_K activations multiply them directly. Q4_K/Q5_K's
 * mins term Σ_j min_j · Σx_j goes through vpdpwssd on (min_j, min_j+1) pairs against the
 * activations' 32-element sums, four instructions per super-block for all 16 rows. */
static void gemm_kq_nop_prep(int64_t n, const void *act, void *aux) {
    (void)n;
    (void)act;
    (void)aux;
}

#define KTILE16_SPAN 4 /* super-blocks per tile pass (~21 KiB) */

typedef struct q4k_tile16 {
    __m512i codes[8][8];     /* [sub-block][dword] */
    __m512i sc[8];           /* per sub-block: the 16 rows' scales as int32 */
    __m512i mn[4];           /* per pair of sub-blocks: the rows' (min 2k, min 2k+1) as int16 */
    __m512 d, dmin;
} q4k_tile16;

/* Q4_K, and Q5_K (five = true: the same layout plus a fifth bit per code from qh). */
static inline __attribute__((always_inline)) void gemm_k4(bool five, int64_t n, int64_t n_rows, const void *w,
                                                          size_t row_bytes, const void *act, size_t act_row,
                                                          const void *aux, int64_t n_tok, float *y, int64_t y_stride) {
    const int64_t nsb = n / 256;
    q4k_tile16 tiles[KTILE16_SPAN];
    const __m256i low = _mm256_set1_epi8(0x0F), one = _mm256_set1_epi8(1);
    for (int64_t r0 = 0; r0 < n_rows; r0 += 16)
    for (int64_t sb0 = 0; sb0 < nsb; sb0 += KTILE16_SPAN) {
        const int nr = n_rows - r0 >= 16 ? 16 : 8; /* a last tile of 8 rows repeats them */
        const __mmask16 keep = nr == 16 ? (__mmask16)0xFFFF : (__mmask16)0x00FF;
        const int64_t sb1 = sb0 + KTILE16_SPAN < nsb ? sb0 + KTILE16_SPAN : nsb;
        for (int64_t sb = sb0; sb < sb1; sb++) {
            q4k_tile16 *T = &tiles[sb - sb0];
            uint8_t sct[8][16];
            uint16_t mnt[4][16][2], ds[16], dms[16];
            __m256i lo[4][2][8], hi[4][2][8];
            for (int j = 0; j < 16; j++) {
                const char *blk = (const char *)w + (size_t)(r0 + j % nr) * row_bytes + (size_t)sb * (five ? sizeof(owl_block_q5_K) : sizeof(owl_block_q4_K));
                const owl_block_q4_K *x4 = (const owl_block_q4_K *)blk;
                const owl_block_q5_K *x5 = (const owl_block_q5_K *)blk;
                const uint8_t *qs = five ? x5->qs : x4->qs;
                uint32_t u[4];
                owl_k4_unpack(five ? x5->scales : x4->scales, u);
                const uint8_t *scs = (const uint8_t *)u, *mns = (const uint8_t *)(u + 2);
                for (int k = 0; k < 8; k++) {
                    sct[k][j] = scs[k];
                    mnt[k / 2][j][k % 2] = mns[k];
                }
                ds[j] = five ? x5->d : x4->d;
                dms[j] = five ? x5->dmin : x4->dmin;
                const __m256i qh = five ? _mm256_loadu_si256((const __m256i *)x5->qh) : _mm256_setzero_si256();
                for (int c = 0; c < 4; c++) {
                    __m256i v = _mm256_loadu_si256((const __m256i *)(qs + 32 * c));
                    __m256i l = _mm256_and_si256(v, low), h = _mm256_and_si256(_mm256_srli_epi16(v, 4), low);
                    if (five) {
                        /* sub-blocks 2c and 2c+1 take bits 2c and 2c+1 of qh[l] as their 0x10 */
                        l = _mm256_or_si256(l, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * c), one), 4));
                        h = _mm256_or_si256(h, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * c + 1), one), 4));
                    }
                    lo[c][j / 8][j % 8] = l;
                    hi[c][j / 8][j % 8] = h;
                }
            }
            for (int c = 0; c < 4; c++) {
                tile32x16(lo[c][0], lo[c][1], T->codes[2 * c]);
                tile32x16(hi[c][0], hi[c][1], T->codes[2 * c + 1]);
            }
            for (int k = 0; k < 8; k++) T->sc[k] = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)sct[k]));
            for (int k = 0; k < 4; k++) T->mn[k] = _mm512_loadu_si512(mnt[k]);
            T->d = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)ds));
            T->dmin = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)dms));
        }
        for (int64_t t = 0; t < n_tok; t++) {
            const owl_block_q8_K *xa = (const owl_block_q8_K *)((const char *)act + (size_t)t * act_row);
            float *yt = y + t * y_stride + r0;
            __m512 f = sb0 ? _mm512_maskz_loadu_ps(keep, yt) : _mm512_setzero_ps();
            for (int64_t sb = sb0; sb < sb1; sb++) {
                const q4k_tile16 *T = &tiles[sb - sb0];
                const owl_block_q8_K *x = &xa[sb];
                __m512i isum = _mm512_setzero_si512(), msum = _mm512_setzero_si512();
                for (int j = 0; j < 8; j++) {
                    __m512i p0 = _mm512_setzero_si512(), p1 = _mm512_setzero_si512();
                    SYM_BLOCK(T->codes[j], x->qs + 32 * j, p0, p1);
                    isum = _mm512_add_epi32(isum, _mm512_mullo_epi32(_mm512_add_epi32(p0, p1), T->sc[j]));
                }
                for (int k = 0; k < 4; k++) {
                    const uint16_t s0 = (uint16_t)(x->bsums[4 * k] + x->bsums[4 * k + 1]);
                    const uint16_t s1 = (uint16_t)(x->bsums[4 * k + 2] + x->bsums[4 * k + 3]);
                    msum = _mm512_dpwssd_epi32(msum, T->mn[k], _mm512_set1_epi32((int32_t)((uint32_t)s0 | (uint32_t)s1 << 16)));
                }
                const __m512 xd = _mm512_set1_ps(x->d);
                f = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_mul_ps(T->d, xd), f);
                f = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(msum), _mm512_mul_ps(T->dmin, xd), f);
            }
            _mm512_mask_storeu_ps(yt, keep, f);
        }
    }
}

GEMM_ENTRY(gemm_q4_K, gemm_k4(false, n, n_rows, w, row_bytes, act, act_row, aux, n_tok, y, y_stride))

GEMM_ENTRY(gemm_q5_K, gemm_k4(true, n, n_rows, w, row_bytes, act, act_row, aux, n_tok, y, y_stride))

/* Q6_K, Q3_K and Q2_K: sixteen sub-blocks of 16 with their own scales. The codes go into the
 * tile unsigned (Q6_K q + 32, Q3_K q + 4, Q2_K q as stored), the offset comes back as
 * -offset·Σx per sub-block from the activations' sums; Q2_K's mins, like Q4_K's, through
 * vpdpwssd on pairs of sub-blocks. */
typedef struct k16_tile {
    __m512i codes[16][4]; /* [sub-block of 16][dword] */
    __m512i sc[16];       /* per sub-block: the 16 rows' scales as int32 */
    __m512i mn[8];        /* Q2_K: per pair of sub-blocks, the rows' (min 2k, min 2k+1) as int16 */
    __m512 d, dmin;
} k16_tile;

/* Block sb of a row: codes of the eight 32-element groups (group g = elements 32g..32g+31,
 * sub-blocks 2g and 2g+1), the scales and Q2_K's mins, d and dmin. */
static inline __attribute__((always_inline)) void k16_decode(owl_type type, const char *row, int64_t sb,
                                                             __m256i q[8], int8_t sc[16], uint8_t mn[16],
                                                             uint16_t *d, uint16_t *dmin) {
    const __m256i low = _mm256_set1_epi8(0x0F), three = _mm256_set1_epi8(3), one = _mm256_set1_epi8(1);
    if (type == OWL_TYPE_Q6_K) {
        const owl_block_q6_K *x = (const owl_block_q6_K *)row + sb;
        memcpy(sc, x->scales, 16);
        *d = x->d;
        for (int h = 0; h < 2; h++) {
            const __m256i l0 = _mm256_loadu_si256((const __m256i *)(x->ql + 64 * h));
            const __m256i l1 = _mm256_loadu_si256((const __m256i *)(x->ql + 64 * h + 32));
            const __m256i qh = _mm256_loadu_si256((const __m256i *)(x->qh + 32 * h));
            q[4 * h + 0] = _mm256_or_si256(_mm256_and_si256(l0, low), _mm256_slli_epi16(_mm256_and_si256(qh, three), 4));
            q[4 * h + 1] = _mm256_or_si256(_mm256_and_si256(l1, low), _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2), three), 4));
            q[4 * h + 2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), low), _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 4), three), 4));
            q[4 * h + 3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), low), _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 6), three), 4));
        }
        return;
    }
    /* Q2_K and Q3_K: group 4h + k is bits 2k..2k+1 of qs[32h .. 32h+31]; Q3_K adds bit 4h + k of
     * hmask[0..31] as 4. */
    const uint8_t *qs;
    __m256i hm = _mm256_setzero_si256();
    if (type == OWL_TYPE_Q3_K) {
        const owl_block_q3_K *x = (const owl_block_q3_K *)row + sb;
        owl_q3k_scales(x->scales, sc);
        *d = x->d;
        qs = x->qs;
        hm = _mm256_loadu_si256((const __m256i *)x->hmask);
    } else {
        const owl_block_q2_K *x = (const owl_block_q2_K *)row + sb;
        for (int k = 0; k < 16; k++) {
            sc[k] = (int8_t)(x->scales[k] & 0xF);
            mn[k] = (uint8_t)(x->scales[k] >> 4);
        }
        *d = x->d;
        *dmin = x->dmin;
        qs = x->qs;
    }
    for (int h = 0; h < 2; h++) {
        const __m256i v = _mm256_loadu_si256((const __m256i *)(qs + 32 * h));
        for (int k = 0; k < 4; k++) {
            __m256i c = _mm256_and_si256(_mm256_srli_epi16(v, 2 * k), three);
            if (type == OWL_TYPE_Q3_K)
                c = _mm256_or_si256(c, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hm, 4 * h + k), one), 2));
            q[4 * h + k] = c;
        }
    }
}

static inline __attribute__((always_inline)) void gemm_k16(owl_type type, int64_t n, int64_t n_rows, const void *w,
                                                           size_t row_bytes, const void *act, size_t act_row,
                                                           int64_t n_tok, float *y, int64_t y_stride) {
    const int64_t nsb = n / 256;
    const int offset = type == OWL_TYPE_Q6_K ? 32 : type == OWL_TYPE_Q3_K ? 4 : 0;
    const bool mins = type == OWL_TYPE_Q2_K;
    k16_tile tiles[KTILE16_SPAN];
    for (int64_t r0 = 0; r0 < n_rows; r0 += 16)
    for (int64_t sb0 = 0; sb0 < nsb; sb0 += KTILE16_SPAN) {
        const int nr = n_rows - r0 >= 16 ? 16 : 8; /* a last tile of 8 rows repeats them */
        const __mmask16 keep = nr == 16 ? (__mmask16)0xFFFF : (__mmask16)0x00FF;
        const int64_t sb1 = sb0 + KTILE16_SPAN < nsb ? sb0 + KTILE16_SPAN : nsb;
        for (int64_t sb = sb0; sb < sb1; sb++) {
            k16_tile *T = &tiles[sb - sb0];
            __m256i q[8][2][8]; /* [32-element group][row / 8][row % 8] */
            int8_t sct[16][16];
            uint16_t mnt[8][16][2], ds[16], dms[16] = {0};
            for (int j = 0; j < 16; j++) {
                __m256i qj[8];
                int8_t sc[16];
                uint8_t mn[16] = {0};
                k16_decode(type, (const char *)w + (size_t)(r0 + j % nr) * row_bytes, sb, qj, sc, mn, &ds[j], &dms[j]);
                for (int g = 0; g < 8; g++) q[g][j / 8][j % 8] = qj[g];
                for (int k = 0; k < 16; k++) {
                    sct[k][j] = sc[k];
                    mnt[k / 2][j][k % 2] = mn[k];
                }
            }
            for (int g32 = 0; g32 < 8; g32++) {
                __m512i tt[8];
                tile32x16(q[g32][0], q[g32][1], tt);
                for (int g = 0; g < 4; g++) {
                    T->codes[2 * g32][g] = tt[g];
                    T->codes[2 * g32 + 1][g] = tt[4 + g];
                }
            }
            for (int k = 0; k < 16; k++) T->sc[k] = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)sct[k]));
            if (mins)
                for (int k = 0; k < 8; k++) T->mn[k] = _mm512_loadu_si512(mnt[k]);
            T->d = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)ds));
            T->dmin = _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)dms));
        }
        for (int64_t t = 0; t < n_tok; t++) {
            const owl_block_q8_K *xa = (const owl_block_q8_K *)((const char *)act + (size_t)t * act_row);
            float *yt = y + t * y_stride + r0;
            __m512 f = sb0 ? _mm512_maskz_loadu_ps(keep, yt) : _mm512_setzero_ps();
            for (int64_t sb = sb0; sb < sb1; sb++) {
                const k16_tile *T = &tiles[sb - sb0];
                const owl_block_q8_K *x = &xa[sb];
                __m512i isum = _mm512_setzero_si512();
                for (int s16 = 0; s16 < 16; s16++) {
                    __m512i p0 = _mm512_set1_epi32(-offset * x->bsums[s16]), p1 = _mm512_setzero_si512();
                    p0 = _mm512_dpbusd_epi32(p0, T->codes[s16][0], bcast32(x->qs + 16 * s16));
                    p1 = _mm512_dpbusd_epi32(p1, T->codes[s16][1], bcast32(x->qs + 16 * s16 + 4));
                    p0 = _mm512_dpbusd_epi32(p0, T->codes[s16][2], bcast32(x->qs + 16 * s16 + 8));
                    p1 = _mm512_dpbusd_epi32(p1, T->codes[s16][3], bcast32(x->qs + 16 * s16 + 12));
                    isum = _mm512_add_epi32(isum, _mm512_mullo_epi32(_mm512_add_epi32(p0, p1), T->sc[s16]));
                }
                const __m512 xd = _mm512_set1_ps(x->d);
                f = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_mul_ps(T->d, xd), f);
                if (mins) {
                    __m512i msum = _mm512_setzero_si512();
                    for (int k = 0; k < 8; k++) {
                        const uint32_t pair = (uint16_t)x->bsums[2 * k] | (uint32_t)(uint16_t)x->bsums[2 * k + 1] << 16;
                        msum = _mm512_dpwssd_epi32(msum, T->mn[k], _mm512_set1_epi32((int32_t)pair));
                    }
                    f = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(msum), _mm512_mul_ps(T->dmin, xd), f);
                }
            }
            _mm512_mask_storeu_ps(yt, keep, f);
        }
    }
}

GEMM_ENTRY(gemm_q6_K, gemm_k16(OWL_TYPE_Q6_K, n, n_rows, w, row_bytes, act, act_row, n_tok, y, y_stride))

GEMM_ENTRY(gemm_q3_K, gemm_k16(OWL_TYPE_Q3_K, n, n_rows, w, row_bytes, act, act_row, n_tok, y, y_stride))

GEMM_ENTRY(gemm_q2_K, gemm_k16(OWL_TYPE_Q2_K, n, n_rows, w, row_bytes, act, act_row, n_tok, y, y_stride))

/* ---- BF16 --------------------------------------------------------------------------------------
 * The integer tiles' layout with vdpbf16ps: per 16 elements of 16 rows, tile vector g holds the
 * pair of elements (2g, 2g+1) of each row (lane = row), and one vdpbf16ps against a token's
 * broadcast pair adds both products to all 16 rows, in f32. Four tokens share each tile vector,
 * two chains each. */
#define BF16_SPAN 32 /* 16-element blocks per tile pass: 16 KiB */

static inline __m512bh bcast_bf16_pair(const uint16_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return (__m512bh)_mm512_set1_epi32(v);
}

#define BF16_BLOCK(T, x, a, b)                                                                     \
    do {                                                                                           \
        for (int g_ = 0; g_ < 8; g_ += 2) {                                                        \
            a = _mm512_dpbf16_ps(a, (__m512bh)(T)[g_], bcast_bf16_pair((x) + 2 * g_));              \
            b = _mm512_dpbf16_ps(b, (__m512bh)(T)[g_ + 1], bcast_bf16_pair((x) + 2 * g_ + 2));      \
        }                                                                                          \
    } while (0)

static void gemm_bf16(int64_t n, int64_t n_rows, const void *w, size_t row_bytes, const void *act,
                      size_t act_row, const void *aux, int64_t n_tok, float *y, int64_t y_stride) {
    const int64_t nb = n / 16, tail = n % 16;
    __m512i tile[BF16_SPAN][8];
    for (int64_t r0 = 0; r0 < n_rows; r0 += 16) {
        const int nr = n_rows - r0 >= 16 ? 16 : 8; /* a last tile of 8 rows repeats them */
        const __mmask16 keep = nr == 16 ? (__mmask16)0xFFFF : (__mmask16)0x00FF;
        for (int64_t kb0 = 0; kb0 < nb; kb0 += BF16_SPAN) {
            const int64_t kb1 = kb0 + BF16_SPAN < nb ? kb0 + BF16_SPAN : nb;
            for (int j = 0; j < 16; j++) {
                const uint16_t *row = (const uint16_t *)((const char *)w + (size_t)(r0 + j % nr) * row_bytes);
                for (int64_t b = kb0; b < kb1; b++)
                    ((__m256i *)tile[b - kb0])[j] = _mm256_loadu_si256((const __m256i *)(row + 16 * b));
            }
            for (int64_t b = kb0; b < kb1; b++) {
                __m256i *rows = (__m256i *)tile[b - kb0];
                __m256i lo[8], hi[8];
                for (int j = 0; j < 8; j++) {
                    lo[j] = rows[j];
                    hi[j] = rows[8 + j];
                }
                tile32x16(lo, hi, tile[b - kb0]);
            }
            int64_t t = 0;
            for (; t + 4 <= n_tok; t += 4) {
                const uint16_t *x[4];
                float *yt[4];
                __m512 fa[4], fb[4];
                for (int i = 0; i < 4; i++) {
                    x[i] = (const uint16_t *)((const char *)act + (size_t)(t + i) * act_row);
                    yt[i] = y + (t + i) * y_stride + r0;
                    fa[i] = kb0 ? _mm512_maskz_loadu_ps(keep, yt[i]) : _mm512_setzero_ps();
                    fb[i] = _mm512_setzero_ps();
                }
                for (int64_t b = kb0; b < kb1; b++) {
                    const __m512i *T = tile[b - kb0];
                    BF16_BLOCK(T, x[0] + 16 * b, fa[0], fb[0]);
                    BF16_BLOCK(T, x[1] + 16 * b, fa[1], fb[1]);
                    BF16_BLOCK(T, x[2] + 16 * b, fa[2], fb[2]);
                    BF16_BLOCK(T, x[3] + 16 * b, fa[3], fb[3]);
                }
                for (int i = 0; i < 4; i++) _mm512_mask_storeu_ps(yt[i], keep, _mm512_add_ps(fa[i], fb[i]));
            }
            for (; t < n_tok; t++) {
                const uint16_t *x0 = (const uint16_t *)((const char *)act + (size_t)t * act_row);
                float *y0 = y + t * y_stride + r0;
                __m512 fa = kb0 ? _mm512_maskz_loadu_ps(keep, y0) : _mm512_setzero_ps(), fb = _mm512_setzero_ps();
                for (int64_t b = kb0; b < kb1; b++) BF16_BLOCK(tile[b - kb0], x0 + 16 * b, fa, fb);
                _mm512_mask_storeu_ps(y0, keep, _mm512_add_ps(fa, fb));
            }
        }
        /* Elements past the last whole 16 (rows of other lengths): plain products. */
        if (tail)
            for (int64_t t = 0; t < n_tok; t++)
                for (int j = 0; j < nr; j++) {
                    const uint16_t *row = (const uint16_t *)((const char *)w + (size_t)(r0 + j) * row_bytes);
                    const uint16_t *x0 = (const uint16_t *)((const char *)act + (size_t)t * act_row);
                    float sum = 0;
                    for (int64_t i = n - tail; i < n; i++) sum += owl_bf16_to_f32(row[i]) * owl_bf16_to_f32(x0[i]);
                    y[t * y_stride + r0 + j] = (nb ? y[t * y_stride + r0 + j] : 0.0f) + sum;
                }
    }
}

/* ---- F16 and F32 ---------------------------------------------------------------------------------
 * Small batches: register blocking, 4 weight rows × 4 tokens. Per 16 elements, 4 row loads (f16
 * converted once) and 4 token loads feed 16 independent FMA chains, so each weight element is
 * converted once per 4 tokens and the FMA units, not the loads, set the pace. */
static inline __m512 load_w(bool f32, const char *row, int64_t k) {
    return f32 ? _mm512_loadu_ps((const float *)row + k) : load_f16((const uint16_t *)row + k);
}

static inline __m512 load_w_mask(bool f32, const char *row, int64_t k, __mmask16 m) {
    return f32 ? _mm512_maskz_loadu_ps(m, (const float *)row + k) : load_f16_mask((const uint16_t *)row + k, m);
}

static inline __attribute__((always_inline)) void gemm_x4(bool f32, int64_t n, int64_t n_rows, const void *w,
                                                          size_t row_bytes, const void *act, size_t act_row,
                                                          int64_t n_tok, float *y, int64_t y_stride) {
    const int64_t n16 = n / 16 * 16;
    const __mmask16 tail = (__mmask16)((1u << (n - n16)) - 1);
    /* Blocks of 32 tokens (their activations stay in L2) against all rows of the chunk. */
    for (int64_t tb = 0; tb < n_tok; tb += 32)
    for (int64_t r0 = 0; r0 < n_rows; r0 += 4) {
        const char *wr[4];
        for (int i = 0; i < 4; i++) wr[i] = (const char *)w + (size_t)(r0 + i) * row_bytes;
        const int64_t te = tb + 32 < n_tok ? tb + 32 : n_tok;
        for (int64_t t0 = tb; t0 < te; t0 += 4) {
            const int nt = te - t0 < 4 ? (int)(te - t0) : 4;
            const float *xr[4];
            for (int j = 0; j < 4; j++) xr[j] = (const float *)((const char *)act + (size_t)(t0 + (j < nt ? j : 0)) * act_row);
            /* Sixteen named accumulators: arrays would be spilled to the stack at -O2. */
            __m512 a00 = _mm512_setzero_ps(), a01 = a00, a02 = a00, a03 = a00, a10 = a00, a11 = a00,
                   a12 = a00, a13 = a00, a20 = a00, a21 = a00, a22 = a00, a23 = a00, a30 = a00,
                   a31 = a00, a32 = a00, a33 = a00;
#define F16_STEP(W0, W1, W2, W3, X0, X1, X2, X3)                                                  \
    do {                                                                                          \
        const __m512 w0_ = (W0), w1_ = (W1), w2_ = (W2), w3_ = (W3);                              \
        const __m512 x0_ = (X0), x1_ = (X1), x2_ = (X2), x3_ = (X3);                              \
        a00 = _mm512_fmadd_ps(w0_, x0_, a00); a01 = _mm512_fmadd_ps(w0_, x1_, a01);              \
        a02 = _mm512_fmadd_ps(w0_, x2_, a02); a03 = _mm512_fmadd_ps(w0_, x3_, a03);              \
        a10 = _mm512_fmadd_ps(w1_, x0_, a10); a11 = _mm512_fmadd_ps(w1_, x1_, a11);              \
        a12 = _mm512_fmadd_ps(w1_, x2_, a12); a13 = _mm512_fmadd_ps(w1_, x3_, a13);              \
        a20 = _mm512_fmadd_ps(w2_, x0_, a20); a21 = _mm512_fmadd_ps(w2_, x1_, a21);              \
        a22 = _mm512_fmadd_ps(w2_, x2_, a22); a23 = _mm512_fmadd_ps(w2_, x3_, a23);              \
        a30 = _mm512_fmadd_ps(w3_, x0_, a30); a31 = _mm512_fmadd_ps(w3_, x1_, a31);              \
        a32 = _mm512_fmadd_ps(w3_, x2_, a32); a33 = _mm512_fmadd_ps(w3_, x3_, a33);              \
    } while (0)
            for (int64_t k = 0; k < n16; k += 16)
                F16_STEP(load_w(f32, wr[0], k), load_w(f32, wr[1], k), load_w(f32, wr[2], k), load_w(f32, wr[3], k),
                         _mm512_loadu_ps(xr[0] + k), _mm512_loadu_ps(xr[1] + k), _mm512_loadu_ps(xr[2] + k),
                         _mm512_loadu_ps(xr[3] + k));
            if (tail)
                F16_STEP(load_w_mask(f32, wr[0], n16, tail), load_w_mask(f32, wr[1], n16, tail),
                         load_w_mask(f32, wr[2], n16, tail), load_w_mask(f32, wr[3], n16, tail),
                         _mm512_maskz_loadu_ps(tail, xr[0] + n16), _mm512_maskz_loadu_ps(tail, xr[1] + n16),
                         _mm512_maskz_loadu_ps(tail, xr[2] + n16), _mm512_maskz_loadu_ps(tail, xr[3] + n16));
#undef F16_STEP
            const __m512 acc[4][4] = {{a00, a01, a02, a03}, {a10, a11, a12, a13}, {a20, a21, a22, a23}, {a30, a31, a32, a33}};
            for (int j = 0; j < nt; j++)
                for (int i = 0; i < 4; i++) y[(t0 + j) * y_stride + r0 + i] = _mm512_reduce_add_ps(acc[i][j]);
        }
    }
}


/* ---- F16 and F32, 64-row tiles -----------------------------------------------------------------
 * The weights of 64 rows are converted to f32 (or copied, for F32) once per span of F16_SPAN elements and stored
 * transposed (tile[k][v] = element k of rows 16v..16v+15), so the products of four tokens with
 * all 64 rows are, per element, 4 vector loads + 4 broadcasts feeding 16 independent FMAs: no
 * conversions and no horizontal sums in the inner loop. A last group of 16 rows uses the same
 * loop one vector wide; rows below that the 4×4 kernel above. */
#define F16_SPAN 128 /* 32 KiB of f32 tile */
#define F16_TILE_MIN_TOKENS 48

/* 16×16 transpose: afterwards r[c] holds element c of each of the 16 input rows. */
static inline void transpose16x16_ps(__m512 r[16]) {
    __m512 t[16], u[16];
    for (int i = 0; i < 4; i++) {
        t[4 * i + 0] = _mm512_unpacklo_ps(r[4 * i], r[4 * i + 1]);
        t[4 * i + 1] = _mm512_unpackhi_ps(r[4 * i], r[4 * i + 1]);
        t[4 * i + 2] = _mm512_unpacklo_ps(r[4 * i + 2], r[4 * i + 3]);
        t[4 * i + 3] = _mm512_unpackhi_ps(r[4 * i + 2], r[4 * i + 3]);
    }
    for (int i = 0; i < 4; i++) {
        /* u[4i + c], 128-bit lane L: element 4L + c of rows 4i..4i+3 */
        u[4 * i + 0] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
        u[4 * i + 1] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], 0xEE);
        u[4 * i + 2] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
        u[4 * i + 3] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xEE);
    }
    for (int c = 0; c < 4; c++) {
        const __m512 a01_lo = _mm512_shuffle_f32x4(u[c], u[4 + c], 0x88);
        const __m512 a01_hi = _mm512_shuffle_f32x4(u[c], u[4 + c], 0xDD);
        const __m512 a23_lo = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0x88);
        const __m512 a23_hi = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0xDD);
        r[c] = _mm512_shuffle_f32x4(a01_lo, a23_lo, 0x88);
        r[8 + c] = _mm512_shuffle_f32x4(a01_lo, a23_lo, 0xDD);
        r[4 + c] = _mm512_shuffle_f32x4(a01_hi, a23_hi, 0x88);
        r[12 + c] = _mm512_shuffle_f32x4(a01_hi, a23_hi, 0xDD);
    }
}

/* tile[k * nvec + v] = element k0 + k of rows r0 + 16v .. r0 + 16v + 15, for k < kn; the weights
 * are f16 or (f32 = true) f32. */
static void f16_tile(bool f32, const void *w, size_t row_bytes, int64_t r0, int nvec, int64_t k0, int64_t kn,
                     __m512 *tile) {
    for (int v = 0; v < nvec; v++)
        for (int64_t kk = 0; kk < kn; kk += 16) {
            const __mmask16 m = kn - kk >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (kn - kk)) - 1);
            __m512 r[16];
            for (int j = 0; j < 16; j++) {
                const char *row = (const char *)w + (size_t)(r0 + 16 * v + j) * row_bytes;
                r[j] = f32 ? _mm512_maskz_loadu_ps(m, (const float *)row + k0 + kk)
                           : load_f16_mask((const uint16_t *)row + k0 + kk, m);
            }
            transpose16x16_ps(r);
            for (int c = 0; c < 16 && kk + c < kn; c++) tile[(kk + c) * nvec + v] = r[c];
        }
}

/* Y rows r0.. (nvec × 16 of them, nvec 1 or 4) += the span's products, tokens 4 at a time. */
static inline __attribute__((always_inline)) void f16_span(int nvec, const __m512 *tile, int64_t k0, int64_t kn,
                                                           const void *act, size_t act_row, int64_t n_tok,
                                                           float *y, int64_t y_stride, int64_t r0) {
    for (int64_t t = 0; t < n_tok; t += 4) {
        const int nt = n_tok - t < 4 ? (int)(n_tok - t) : 4;
        const float *x[4];
        for (int i = 0; i < 4; i++) x[i] = (const float *)((const char *)act + (size_t)(t + (i < nt ? i : 0)) * act_row) + k0;
        __m512 acc[4][4];
#pragma GCC unroll 4
        for (int i = 0; i < 4; i++)
#pragma GCC unroll 4
            for (int v = 0; v < nvec; v++) acc[i][v] = _mm512_setzero_ps();
        for (int64_t k = 0; k < kn; k++) {
            const __m512 *tk = tile + k * nvec;
#pragma GCC unroll 4
            for (int i = 0; i < 4; i++) {
                const __m512 b = _mm512_set1_ps(x[i][k]);
#pragma GCC unroll 4
                for (int v = 0; v < nvec; v++) acc[i][v] = _mm512_fmadd_ps(tk[v], b, acc[i][v]);
            }
        }
        for (int i = 0; i < nt; i++)
            for (int v = 0; v < nvec; v++) {
                float *yp = y + (t + i) * y_stride + r0 + 16 * v;
                _mm512_storeu_ps(yp, k0 ? _mm512_add_ps(_mm512_loadu_ps(yp), acc[i][v]) : acc[i][v]);
            }
    }
}

/* F16 and F32 weights (f32 = true) through the f32 tiles. */
static void gemm_float(bool f32, int64_t n, int64_t n_rows, const void *w, size_t row_bytes, const void *act,
                       size_t act_row, const void *aux, int64_t n_tok, float *y, int64_t y_stride) {
    /* A small batch does not repay the tile's conversion: the 4×4 kernel converts in place. */
    if (n_tok < F16_TILE_MIN_TOKENS) {
        if (f32) gemm_x4(true, n, n_rows, w, row_bytes, act, act_row, n_tok, y, y_stride);
        else gemm_x4(false, n, n_rows, w, row_bytes, act, act_row, n_tok, y, y_stride);
        return;
    }
    __m512 tile[F16_SPAN * 4];
    int64_t r0 = 0;
    for (; r0 + 16 <= n_rows;) {
        const int nvec = r0 + 64 <= n_rows ? 4 : 1;
        for (int64_t k0 = 0; k0 < n; k0 += F16_SPAN) {
            const int64_t kn = n - k0 < F16_SPAN ? n - k0 : F16_SPAN;
            f16_tile(f32, w, row_bytes, r0, nvec, k0, kn, tile);
            if (nvec == 4) f16_span(4, tile, k0, kn, act, act_row, n_tok, y, y_stride, r0);
            else f16_span(1, tile, k0, kn, act, act_row, n_tok, y, y_stride, r0);
        }
        r0 += 16 * nvec;
    }
    if (r0 < n_rows) {
        const char *wr = (const char *)w + (size_t)r0 * row_bytes;
        if (f32) gemm_x4(true, n, n_rows - r0, wr, row_bytes, act, act_row, n_tok, y + r0, y_stride);
        else gemm_x4(false, n, n_rows - r0, wr, row_bytes, act, act_row, n_tok, y + r0, y_stride);
    }
}

GEMM_ENTRY(gemm_f16, gemm_float(false, n, n_rows, w, row_bytes, act, act_row, aux, n_tok, y, y_stride))

GEMM_ENTRY(gemm_f32, gemm_float(true, n, n_rows, w, row_bytes, act, act_row, aux, n_tok, y, y_stride))

void owl_kernels_init_avx512_gemm(owl_kernel t[OWL_TYPE_COUNT]) {
    static const struct {
        owl_type type;
        owl_gemm_fn gemm;
        owl_gemm_prep_fn prep;
        size_t aux; /* per 32 activation elements */
    } entries[] = {
        {OWL_TYPE_Q8_0, gemm_q8_0, gemm_prep_q8_0, sizeof(q8_aux)},
        {OWL_TYPE_Q4_0, gemm_q4_0, gemm_prep_q8_0, sizeof(q8_aux)},
        {OWL_TYPE_Q5_0, gemm_q5_0, gemm_prep_q8_0, sizeof(q8_aux)},
        {OWL_TYPE_Q4_1, gemm_q4_1, gemm_prep_q8_1, sizeof(q8_1_aux)},
        {OWL_TYPE_Q5_1, gemm_q5_1, gemm_prep_q8_1, sizeof(q8_1_aux)},
        {OWL_TYPE_BF16, gemm_bf16, gemm_kq_nop_prep, 0},
        {OWL_TYPE_F32, gemm_f32, gemm_kq_nop_prep, 0},
        {OWL_TYPE_F16, gemm_f16, gemm_kq_nop_prep, 0},
        {OWL_TYPE_Q4_K, gemm_q4_K, gemm_kq_nop_prep, 0},
        {OWL_TYPE_Q5_K, gemm_q5_K, gemm_kq_nop_prep, 0},
        {OWL_TYPE_Q6_K, gemm_q6_K, gemm_kq_nop_prep, 0},
        {OWL_TYPE_Q3_K, gemm_q3_K, gemm_kq_nop_prep, 0},
        {OWL_TYPE_Q2_K, gemm_q2_K, gemm_kq_nop_prep, 0},
    };
    for (size_t i = 0; i < sizeof entries / sizeof *entries; i++) {
        owl_kernel *k = &t[entries[i].type];
        k->gemm = entries[i].gemm;
        k->gemm_prep = entries[i].prep;
        k->gemm_aux = entries[i].aux;
        k->gemm_min_tokens = 0; /* these tiles pay from the default batch on (the AVX2 level's may not) */
    }
}
