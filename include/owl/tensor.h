/* owl — tensor element types, quantization blocks and conversions.
 *
 * Type ids are ggml's (they are what GGUF files store). Block layouts are defined once, in
 * src/tensor/blocks.h, exactly as ggml lays them out on disk. Every supported type has a
 * bit-exact dequantizer and a quantizer; the other ggml types are known by name and size so that
 * files holding them can be read and shown, but they cannot be computed with. */
#ifndef OWL_TENSOR_H
#define OWL_TENSOR_H

#include "owl/common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum owl_type {
    OWL_TYPE_F32 = 0,
    OWL_TYPE_F16 = 1,
    OWL_TYPE_Q4_0 = 2,
    OWL_TYPE_Q4_1 = 3,
    OWL_TYPE_Q5_0 = 6,
    OWL_TYPE_Q5_1 = 7,
    OWL_TYPE_Q8_0 = 8,
    OWL_TYPE_Q8_1 = 9,
    OWL_TYPE_Q2_K = 10,
    OWL_TYPE_Q3_K = 11,
    OWL_TYPE_Q4_K = 12,
    OWL_TYPE_Q5_K = 13,
    OWL_TYPE_Q6_K = 14,
    OWL_TYPE_Q8_K = 15,
    OWL_TYPE_IQ2_XXS = 16,
    OWL_TYPE_IQ2_XS = 17,
    OWL_TYPE_IQ3_XXS = 18,
    OWL_TYPE_IQ1_S = 19,
    OWL_TYPE_IQ4_NL = 20,
    OWL_TYPE_IQ3_S = 21,
    OWL_TYPE_IQ2_S = 22,
    OWL_TYPE_IQ4_XS = 23,
    OWL_TYPE_I8 = 24,
    OWL_TYPE_I16 = 25,
    OWL_TYPE_I32 = 26,
    OWL_TYPE_I64 = 27,
    OWL_TYPE_F64 = 28,
    OWL_TYPE_IQ1_M = 29,
    OWL_TYPE_BF16 = 30,
    OWL_TYPE_TQ1_0 = 34,
    OWL_TYPE_TQ2_0 = 35,
    OWL_TYPE_MXFP4 = 39,
    OWL_TYPE_COUNT = 40
} owl_type;

typedef struct owl_type_info {
    const char *name;   /* ggml's name: "f32", "q4_K", "iq2_xxs", ... */
    int64_t block_size; /* elements per block (1 for plain types) */
    size_t type_size;   /* bytes per block */
    bool supported;     /* owl can dequantize, quantize and compute with it */
} owl_type_info;

/* NULL for ids that ggml does not define (or no longer defines). */
const owl_type_info *owl_type_get(uint32_t type);
/* "unknown" for undefined ids. */
const char *owl_type_name(uint32_t type);
/* Case-insensitive lookup by name ("q4_k", "Q4_K", "f16"); -1 when unknown. */
int owl_type_from_name(const char *name);
/* Bytes for a row of n elements; n must be a multiple of the block size. 0 for undefined ids. */
size_t owl_row_size(owl_type type, int64_t n);

/* Half and bfloat16 conversions: round-to-nearest-even; NaN stays NaN. */
float owl_f16_to_f32(uint16_t h);
uint16_t owl_f32_to_f16(float f);
float owl_bf16_to_f32(uint16_t h);
uint16_t owl_f32_to_bf16(float f);

/* Dequantizes n elements (a multiple of the block size) of a supported type to float32,
 * bit-exact with ggml's reference dequantizers. Also accepts the activation formats Q8_1 and
 * Q8_K; does nothing for other types. src must be aligned like its block (2 bytes; 4 for Q8_K),
 * which GGUF's tensor alignment guarantees. */
void owl_dequantize_row(owl_type type, const void *src, float *dst, int64_t n);

/* Quantizes n elements (a multiple of the block size) of float32 into dst, which must hold
 * owl_row_size(type, n) bytes. `weights` (n values, may be NULL) gives each element's importance
 * for the error-minimising searches of the k-quants (and of Q4_0..Q5_1). The n elements are one
 * row: with weights, Q4_0..Q5_1 scale the importance by the row's mean square. Produces the same
 * bytes as ggml's quantize_<type>() for the row. Supported types plus Q8_1 and Q8_K; returns the
 * bytes written, 0 (nothing written) for other types or when n is not a whole number of blocks. */
size_t owl_quantize_row(owl_type type, const float *src, void *dst, int64_t n, const float *weights);

#ifdef __cplusplus
}
#endif
#endif
