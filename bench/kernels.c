/* Single-thread matrix-vector speed of every weight type's dot kernel at every ISA level.
 *
 * For each type: a matrix of n = 4096 columns and as many rows as fill the requested weight size
 * (a few distinct quantized rows repeated, so setting up is quick), one activation row converted
 * once, then y[r] = dot(W row r, x) for every row, repeated for 0.06 s of CPU time; the best of
 * five such runs is reported as weight GB/s, ns per 256 elements, and the GB/s as a multiple of
 * q4_K's at the same level (the yardstick: quantized files are mostly q4_K). Timing uses the
 * thread's CPU time, so time lost to other processes on a shared machine is not counted, but the
 * caches and memory bandwidth they share still make the numbers noisy.
 *
 * Usage: kernels [--kib N] [--isa scalar|avx2|avx512] [TYPE...]
 *   --kib N  weight bytes per matrix in KiB (default 512: resident in L2, the kernel's own speed;
 *            use e.g. 65536 for a matrix streamed from memory)
 *   TYPE     type names (default: every type with a kernel) */
#include "owl/tensor.h"
#include "tensor/kernels.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static float rand_float(unsigned long long *rng) {
    *rng ^= *rng << 13;
    *rng ^= *rng >> 7;
    *rng ^= *rng << 17;
    return (float)((*rng >> 40) & 0xFFFFFF) / 8388608.0f - 1.0f;
}

static const owl_type all_types[] = {
    OWL_TYPE_F32,  OWL_TYPE_F16,  OWL_TYPE_BF16, OWL_TYPE_Q8_0, OWL_TYPE_Q4_0, OWL_TYPE_Q4_1, OWL_TYPE_Q5_0,
    OWL_TYPE_Q5_1, OWL_TYPE_Q2_K, OWL_TYPE_Q3_K, OWL_TYPE_Q4_K, OWL_TYPE_Q5_K, OWL_TYPE_Q6_K,
};

enum { N = 4096, DISTINCT = 16 };

/* Best-of-five seconds for one pass over all rows. */
static double time_matvec(const owl_kernel *k, const char *w, size_t row_bytes, int64_t rows,
                          const void *act, float *y) {
    double best = 1e30;
    for (int rep = 0; rep < 5; rep++) {
        int passes = 0;
        double t0 = cpu_now(), t;
        do {
            for (int64_t r = 0; r < rows; r++) k->dot(N, &y[r], w + (size_t)r * row_bytes, act);
            passes++;
            t = cpu_now() - t0;
        } while (t < 0.06);
        if (t / passes < best) best = t / passes;
    }
    return best;
}

/* GB/s of weights and ns per 256 elements of type t's matvec at every ISA level (or only isa_only). */
static void measure(owl_type t, long kib, int isa_only, const float *xf, float *wf, unsigned long long *rng,
                    double gbs[3], double ns[3]) {
    const size_t rb = owl_row_size(t, N);
    int64_t rows = (int64_t)((size_t)kib * 1024 / rb);
    if (rows < 1) rows = 1;
    char *w = malloc(rb * (size_t)rows);
    for (int64_t r = 0; r < rows; r++) {
        if (r < DISTINCT) {
            for (int i = 0; i < N; i++) wf[i] = rand_float(rng) * (r % 3 == 0 ? 0.05f : 1.0f);
            owl_quantize_row(t, wf, w + (size_t)r * rb, N, NULL);
        } else {
            memcpy(w + (size_t)r * rb, w + (size_t)(r % DISTINCT) * rb, rb);
        }
    }
    float *y = malloc((size_t)rows * sizeof(float));
    for (int isa = 0; isa <= (int)owl_isa_best(); isa++) {
        gbs[isa] = ns[isa] = 0;
        if (isa_only >= 0 && isa != isa_only) continue;
        const owl_kernel *k = owl_kernel_get(t, (owl_isa)isa);
        void *act = calloc(1, owl_kernel_act_size(k, N));
        k->quantize_act(xf, act, N);
        const double s = time_matvec(k, w, rb, rows, act, y);
        gbs[isa] = (double)rb * (double)rows / s * 1e-9;
        ns[isa] = s * 1e9 / ((double)rows * N / 256);
        free(act);
    }
    free(y);
    free(w);
}

int main(int argc, char **argv) {
    long kib = 512;
    int isa_only = -1;
    owl_type types[32];
    int n_types = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--kib") == 0 && i + 1 < argc) {
            kib = strtol(argv[++i], NULL, 10);
            if (kib < 16 || kib > (1L << 22)) {
                fprintf(stderr, "kernels: --kib must be 16..4194304\n");
                return 2;
            }
        } else if (strcmp(argv[i], "--isa") == 0 && i + 1 < argc) {
            const char *s = argv[++i];
            isa_only = strcmp(s, "scalar") == 0 ? 0 : strcmp(s, "avx2") == 0 ? 1 : strcmp(s, "avx512") == 0 ? 2 : -2;
            if (isa_only == -2) {
                fprintf(stderr, "kernels: unknown ISA %s\n", s);
                return 2;
            }
        } else {
            int t = owl_type_from_name(argv[i]);
            if (t < 0 || n_types == 32) {
                fprintf(stderr, "kernels: unknown type %s\n", argv[i]);
                return 2;
            }
            types[n_types++] = (owl_type)t;
        }
    }
    if (!n_types)
        for (size_t i = 0; i < sizeof all_types / sizeof all_types[0]; i++) types[n_types++] = all_types[i];

    printf("single-thread matvec, n=%d, %ld KiB of weights per matrix, CPU time, best of 5\n", N, kib);
    printf("%-6s %-7s %9s %12s %8s\n", "type", "isa", "GB/s", "ns/256 el", "vs q4_K");
    unsigned long long rng = 0x9e3779b97f4a7c15ULL;
    float *xf = malloc(N * sizeof(float)), *wf = malloc(N * sizeof(float));
    for (int i = 0; i < N; i++) xf[i] = rand_float(&rng);
    /* q4_K first, as the yardstick: the most common weight type of quantized files. */
    double ref[3] = {0, 0, 0}, ns[3];
    measure(OWL_TYPE_Q4_K, kib, isa_only, xf, wf, &rng, ref, ns);
    for (int ti = 0; ti < n_types; ti++) {
        double gbs[3];
        measure(types[ti], kib, isa_only, xf, wf, &rng, gbs, ns);
        for (int isa = 0; isa <= (int)owl_isa_best(); isa++) {
            if (isa_only >= 0 && isa != isa_only) continue;
            printf("%-6s %-7s %9.2f %12.2f %8.2f\n", owl_type_name(types[ti]), owl_isa_name((owl_isa)isa), gbs[isa],
                   ns[isa], gbs[isa] / ref[isa]);
        }
        fflush(stdout);
    }
    free(xf);
    free(wf);
    return 0;
}
