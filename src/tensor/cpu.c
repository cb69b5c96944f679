/* CPU feature detection (cpuid + xgetbv) and the kernel tables per ISA level. The tables are
 * built once under pthread_once and never change afterwards: the only global state in libowl. */
#include "tensor/kernels.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

static owl_cpu cpu;
static owl_kernel kernels[3][OWL_TYPE_COUNT];
static owl_vec_ops vec_ops[3];
static owl_isa isa_best;
static pthread_once_t once = PTHREAD_ONCE_INIT;

#if defined(__x86_64__) || defined(__i386__)
static uint64_t xgetbv0(void) {
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

static void detect(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return;
    bool osxsave = c & (1u << 27), fma = c & (1u << 12), f16c = c & (1u << 29);
    if (!osxsave) return;
    uint64_t xcr0 = xgetbv0();
    bool ymm = (xcr0 & 0x6) == 0x6;            /* SSE and AVX state saved by the OS */
    bool zmm = ymm && (xcr0 & 0xe0) == 0xe0;   /* opmask and upper ZMM state too */
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return;
    cpu.avx2 = ymm && (b & (1u << 5));
    cpu.fma = ymm && fma;
    cpu.f16c = ymm && f16c;
    cpu.avx512f = zmm && (b & (1u << 16));
    cpu.avx512dq = zmm && (b & (1u << 17));
    cpu.avx512bw = zmm && (b & (1u << 30));
    cpu.avx512vl = zmm && (b & (1u << 31));
    cpu.avx512vnni = zmm && (c & (1u << 11));
    unsigned a1 = 0, b1 = 0, c1 = 0, d1 = 0;
    if (__get_cpuid_count(7, 1, &a1, &b1, &c1, &d1)) cpu.avx512bf16 = zmm && (a1 & (1u << 5));
}
#else
static void detect(void) {}
#endif

static void init(void) {
    detect();
    isa_best = OWL_ISA_SCALAR;
    if (cpu.avx2 && cpu.fma && cpu.f16c) isa_best = OWL_ISA_AVX2;
    if (isa_best == OWL_ISA_AVX2 && cpu.avx512f && cpu.avx512bw && cpu.avx512vl && cpu.avx512dq &&
        cpu.avx512vnni && cpu.avx512bf16)
        isa_best = OWL_ISA_AVX512;
    const char *want = getenv("OWL_ISA");
    if (want && strcmp(want, "scalar") == 0) isa_best = OWL_ISA_SCALAR;
    if (want && strcmp(want, "avx2") == 0 && isa_best > OWL_ISA_AVX2) isa_best = OWL_ISA_AVX2;

    /* Each level starts from the level below and overrides what it accelerates. */
    owl_kernels_init_scalar(kernels[OWL_ISA_SCALAR]);
    owl_vec_ops_init_scalar(&vec_ops[OWL_ISA_SCALAR]);
    owl_attn_q8_0_init_scalar(&vec_ops[OWL_ISA_SCALAR]);
    memcpy(kernels[OWL_ISA_AVX2], kernels[OWL_ISA_SCALAR], sizeof kernels[0]);
    vec_ops[OWL_ISA_AVX2] = vec_ops[OWL_ISA_SCALAR];
    if (isa_best >= OWL_ISA_AVX2) {
        owl_kernels_init_avx2(kernels[OWL_ISA_AVX2]);
        owl_vec_ops_init_avx2(&vec_ops[OWL_ISA_AVX2]);
        owl_attn_q8_0_init_avx2(&vec_ops[OWL_ISA_AVX2]);
    }
    memcpy(kernels[OWL_ISA_AVX512], kernels[OWL_ISA_AVX2], sizeof kernels[0]);
    vec_ops[OWL_ISA_AVX512] = vec_ops[OWL_ISA_AVX2];
    if (isa_best >= OWL_ISA_AVX512) {
        owl_kernels_init_avx512(kernels[OWL_ISA_AVX512]);
        //XX owl_kernels_init_avx512_bf16(kernels[OWL_ISA_AVX512]);
        owl_vec_ops_init_avx512(&vec_ops[OWL_ISA_AVX512]);
        owl_attn_q8_0_init_avx512(&vec_ops[OWL_ISA_AVX512]);
    }
}

const owl_cpu *owl_cpu_get(void) {
    pthread_once(&once, init);
    return &cpu;
}

owl_isa owl_isa_best(void) {
    pthread_once(&once, init);
    return isa_best;
}

const char *owl_isa_name(owl_isa isa) {
    switch (isa) {
    case OWL_ISA_AVX512: return "avx512";
    case OWL_ISA_AVX2: return "avx2";
    default: return "scalar";
    }
}

const owl_kernel *owl_kernel_get(owl_type wtype, owl_isa isa) {
    pthread_once(&once, init);
    if ((unsigned)wtype >= OWL_TYPE_COUNT) return NULL;
    if (isa > isa_best) isa = isa_best;
    const owl_kernel *k = &kernels[isa][wtype];
    return k->dot ? k : NULL;
}

size_t owl_kernel_act_size(const owl_kernel *k, int64_t n) {
    return owl_row_size(k->act_type, n);
}

size_t owl_kernel_aux_size(const owl_kernel *k, int64_t n) {
    /* What each level's gemm_prep writes (the k-quant and float gemms read their activations
     * as they are: 0). */
    return k->gemm ? (size_t)(n / 32) * k->gemm_aux : 0;
}

const owl_vec_ops *owl_vec_ops_get(owl_isa isa) {
    pthread_once(&once, init);
    if (isa > isa_best) isa = isa_best;
    return &vec_ops[isa];
}
