/* The physical limits the benchmark report compares against, measured on this machine:
 *   - read bandwidth: threads summing a buffer far larger than the caches (decode reads every
 *     weight once per token, so tokens/s <= bandwidth / bytes per token);
 *   - arithmetic peak: float32 fused multiply-adds from registers (prefill is compute-bound:
 *     tokens/s <= peak / (2 * parameters)).
 * Prints one JSON object. Usage: peak [THREADS] [MiB] */
#include <immintrin.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

typedef struct job {
    const float *p;
    size_t n;
    double out;
    double t0, t1; /* the worker's own start and end: the caller may not be scheduled on time */
    pthread_barrier_t *bar;
    int fma_iters;
} job;

__attribute__((target("avx2"))) static double sum_avx2(const float *p, size_t n) {
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    for (size_t i = 0; i + 32 <= n; i += 32) {
        a0 = _mm256_add_ps(a0, _mm256_load_ps(p + i));
        a1 = _mm256_add_ps(a1, _mm256_load_ps(p + i + 8));
        a2 = _mm256_add_ps(a2, _mm256_load_ps(p + i + 16));
        a3 = _mm256_add_ps(a3, _mm256_load_ps(p + i + 24));
    }
    float t[8];
    _mm256_storeu_ps(t, _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
    return t[0] + t[1] + t[2] + t[3] + t[4] + t[5] + t[6] + t[7];
}

static void *read_worker(void *arg) {
    job *j = arg;
    pthread_barrier_wait(j->bar);
    j->t0 = now();
    j->out = sum_avx2(j->p, j->n);
    j->t1 = now();
    return NULL;
}

/* CHAINS independent accumulators hide the latency: with 12 this machine's zmm FMA and vpdpbusd
 * ran at well under their rate; with 16 the loops run at the ports' rate (two per cycle for
 * both). More than 16 no longer fit the 32 vector registers beside the operands, and the
 * compiler's copies then halve the vpdpbusd rate. The loops are unrolled so the accumulators
 * stay in registers. */
#define CHAINS 16
__attribute__((target("avx512f"))) static double fma_avx512(int iters) {
    __m512 a[CHAINS], x = _mm512_set1_ps(0.999999f), y = _mm512_set1_ps(1e-7f);
    for (int k = 0; k < CHAINS; k++) a[k] = _mm512_set1_ps((float)k);
    for (int i = 0; i < iters; i++)
#pragma GCC unroll 16
        for (int k = 0; k < CHAINS; k++) a[k] = _mm512_fmadd_ps(a[k], x, y);
    float s = 0, t[16];
    for (int k = 0; k < CHAINS; k++) {
        _mm512_storeu_ps(t, a[k]);
        s += t[0];
    }
    return s;
}

__attribute__((target("avx2,fma"))) static double fma_avx2(int iters) {
    __m256 a[CHAINS], x = _mm256_set1_ps(0.999999f), y = _mm256_set1_ps(1e-7f);
    for (int k = 0; k < CHAINS; k++) a[k] = _mm256_set1_ps((float)k);
    for (int i = 0; i < iters; i++)
#pragma GCC unroll 16
        for (int k = 0; k < CHAINS; k++) a[k] = _mm256_fmadd_ps(a[k], x, y);
    float s = 0, t[8];
    for (int k = 0; k < CHAINS; k++) {
        _mm256_storeu_ps(t, a[k]);
        s += t[0];
    }
    return s;
}

/* int8 dot products (vpdpbusd: 64 u8×s8 multiply-adds per 512-bit instruction), the arithmetic
 * of quantized prefill. */
__attribute__((target("avx512f,avx512vnni"))) static double vnni_avx512(int iters) {
    __m512i a[CHAINS], x = _mm512_set1_epi8(3), y = _mm512_set1_epi8(-2);
    for (int k = 0; k < CHAINS; k++) a[k] = _mm512_set1_epi32(k);
    for (int i = 0; i < iters; i++)
#pragma GCC unroll 16
        for (int k = 0; k < CHAINS; k++) a[k] = _mm512_dpbusd_epi32(a[k], x, y);
    int32_t s = 0, t[16];
    for (int k = 0; k < CHAINS; k++) {
        _mm512_storeu_si512(t, a[k]);
        s += t[0];
    }
    return (double)s;
}

static int lanes(void) { return __builtin_cpu_supports("avx512f") ? 16 : 8; }
static bool has_vnni(void) {
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vnni");
}

static void *vnni_worker(void *arg) {
    job *j = arg;
    pthread_barrier_wait(j->bar);
    j->t0 = now();
    j->out = vnni_avx512(j->fma_iters);
    j->t1 = now();
    return NULL;
}

static void *fma_worker(void *arg) {
    job *j = arg;
    pthread_barrier_wait(j->bar);
    j->t0 = now();
    j->out = lanes() == 16 ? fma_avx512(j->fma_iters) : fma_avx2(j->fma_iters);
    j->t1 = now();
    return NULL;
}

/* Runs fn on n threads at once; returns the best wall time of `reps` runs. */
static double timed(int n, void *(*fn)(void *), job *jobs, int reps) {
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        pthread_barrier_t bar;
        pthread_barrier_init(&bar, NULL, (unsigned)n + 1);
        pthread_t th[256];
        for (int i = 0; i < n; i++) {
            jobs[i].bar = &bar;
            pthread_create(&th[i], NULL, fn, &jobs[i]);
        }
        pthread_barrier_wait(&bar);
        for (int i = 0; i < n; i++) pthread_join(th[i], NULL);
        double t0 = jobs[0].t0, t1 = jobs[0].t1;
        for (int i = 1; i < n; i++) {
            if (jobs[i].t0 < t0) t0 = jobs[i].t0;
            if (jobs[i].t1 > t1) t1 = jobs[i].t1;
        }
        double dt = t1 - t0;
        pthread_barrier_destroy(&bar);
        if (dt < best) best = dt;
    }
    return best;
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 2;
    size_t mib = argc > 2 ? (size_t)atol(argv[2]) : 1024;
    if (threads < 1 || threads > 256 || mib < 64) {
        fprintf(stderr, "usage: peak [THREADS 1..256] [MiB >= 64]\n");
        return 2;
    }
    if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) {
        fprintf(stderr, "peak: needs AVX2 and FMA\n");
        return 1;
    }
    size_t n = mib * 1024 * 1024 / sizeof(float);
    float *buf = aligned_alloc(64, n * sizeof(float));
    if (!buf) return 1;
    for (size_t i = 0; i < n; i++) buf[i] = (float)(i & 1023);
    job jobs[256];
    double gbs[2] = {0};
    int counts[2] = {1, threads};
    for (int c = 0; c < 2; c++) {
        int t = counts[c];
        size_t per = n / (size_t)t / 32 * 32;
        for (int i = 0; i < t; i++) jobs[i] = (job){.p = buf + (size_t)i * per, .n = per};
        double dt = timed(t, read_worker, jobs, 5);
        gbs[c] = (double)(per * (size_t)t * sizeof(float)) / dt / 1e9;
    }
    const int iters = 10000000;
    for (int i = 0; i < threads; i++) jobs[i] = (job){.fma_iters = iters};
    double dt = timed(threads, fma_worker, jobs, 5);
    double flops = 2.0 * CHAINS * lanes() * (double)iters * threads / dt;
    double int8_ops = 0;
    if (has_vnni()) {
        for (int i = 0; i < threads; i++) jobs[i] = (job){.fma_iters = iters};
        double dv = timed(threads, vnni_worker, jobs, 5);
        int8_ops = 2.0 * CHAINS * 64 * (double)iters * threads / dv;
    }
    printf("{\"threads\":%d,\"read_gbs_1t\":%.1f,\"read_gbs\":%.1f,\"f32_fma_gflops\":%.1f,"
           "\"int8_gops\":%.1f,\"simd\":\"%s\"}\n",
           threads, gbs[0], gbs[1], flops / 1e9, int8_ops / 1e9, lanes() == 16 ? "avx512" : "avx2");
    free(buf);
    return 0;
}
