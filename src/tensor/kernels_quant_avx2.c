/* Quantized dot products for avx2 (the shared 256-bit code in kernels_simd.h). */
#include "tensor/kernels_simd.h"

void owl_kernels_init_avx2_quant(owl_kernel t[OWL_TYPE_COUNT]) { simd_install_quant(t); }
