/* Batched products (the prefill path) against the row-by-row dot kernel on the same operands,
 * for every type with a gemm at every ISA level this CPU has, over the shapes that select each of their
 * paths: 64-, 16-, 8- and 4-row tiles and their remainders, token counts around the groups of 4
 * and 8 and the F16 tile threshold, and row lengths over several tile spans (with a tail that
 * is not a whole vector for F16). */
#include "test.h"
#include "owl/tensor.h"
#include "tensor/kernels.h"

#include <math.h>
#include <stdlib.h>

static void check_shape(owl_type type, const owl_kernel *k, int64_t n, int64_t rows, int64_t n_tok,
                        unsigned long long *seed) {
    const size_t rb = owl_row_size(type, n), ab = owl_kernel_act_size(k, n), xb = owl_kernel_aux_size(k, n);
    char *w = malloc(rb * rows), *act = malloc(ab * n_tok), *aux = malloc(xb * n_tok + 1);
    float *row = malloc(n * 4), *y = malloc(rows * n_tok * 4), *wf = malloc(n * 4), *af = malloc(n * 4);
    for (int64_t r = 0; r < rows; r++) {
        for (int64_t i = 0; i < n; i++)
            row[i] = (r % 5 == 0 && i % 61 == 7 ? 30.0f : 1.0f) * test_rng_float(seed); /* some outliers */
        owl_quantize_row(type, row, w + r * rb, n, NULL);
    }
    for (int64_t t = 0; t < n_tok; t++) {
        for (int64_t i = 0; i < n; i++) row[i] = (t % 3 == 1 ? 20.0f : 1.0f) * test_rng_float(seed);
        k->quantize_act(row, act + t * ab, n);
        k->gemm_prep(n, act + t * ab, aux + t * xb);
    }
    k->gemm(n, rows, w, rb, act, ab, aux, n_tok, y, rows);
    int bad = 0;
    for (int64_t t = 0; t < n_tok && !bad; t++)
        for (int64_t r = 0; r < rows && !bad; r++) {
            float ref;
            k->dot(n, &ref, w + r * rb, act + t * ab);
            /* Same products summed in another order: 1e-5 of Σ|w·x|. */
            owl_dequantize_row(type, w + r * rb, wf, n);
            owl_dequantize_row(k->act_type, act + t * ab, af, n);
            double scale = 0;
            for (int64_t i = 0; i < n; i++) scale += fabs((double)wf[i] * af[i]);
            const float got = y[t * rows + r];
            if (!(fabs(got - ref) <= 1e-5 * scale + 1e-6)) {
                CHECKF(0, "%s gemm (%s) n=%lld rows=%lld n_tok=%lld: y[%lld][%lld] = %g, dot %g", owl_type_name(type), k == owl_kernel_get(type, OWL_ISA_AVX2) ? "avx2" : "avx512",
                       (long long)n, (long long)rows, (long long)n_tok, (long long)t, (long long)r, got, ref);
                bad = 1;
            }
        }
    free(w); free(act); free(aux); free(row); free(y); free(wf); free(af);
}

static void test_gemm_shapes(void) {
    int tested = 0;
    unsigned long long seed = 2024;
    for (int isa = OWL_ISA_AVX2; isa <= (int)owl_isa_best(); isa++)
    for (int ti = 0; ti < OWL_TYPE_COUNT; ti++) {
        const owl_kernel *k = owl_kernel_get((owl_type)ti, (owl_isa)isa);
        if (!k || !k->gemm) continue;
        /* a level's gemm is tested at that level only (the one above may inherit it) */
        if (isa > OWL_ISA_AVX2 && owl_kernel_get((owl_type)ti, (owl_isa)(isa - 1))->gemm == k->gemm) continue;
        tested++;
        const int64_t bs = owl_type_get((uint32_t)ti)->block_size;
        const int64_t ns[] = {bs == 1 ? 600 : 768, 2304};
        const int64_t rows[] = {8, 24, 88};
        const int64_t toks[] = {4, 7, 9, 50};
        for (int a = 0; a < 2; a++)
            for (int b = 0; b < 3; b++)
                for (int c = 0; c < 4; c++) check_shape((owl_type)ti, k, ns[a], rows[b], toks[c], &seed);
    }
    if (!tested) SKIP("no gemm kernel on this CPU");
}

int main(void) {
    RUN(test_gemm_shapes);
    return test_summary();
}
