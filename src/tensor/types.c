/* The ggml type table: every type id a GGUF file can hold, with ggml's name, block size and
 * bytes per block. Ids that ggml removed (4, 5: old Q4_2/Q4_3; 31-33 and 36-38: repacked
 * layouts that now exist only in memory) have no entry. */
#include "owl/tensor.h"
#include "tensor/blocks.h"

#include <strings.h>

#define PLAIN(nm, bytes, sup) {nm, 1, bytes, sup}
#define BLOCK(nm, n, bytes, sup) {nm, n, bytes, sup}

static const owl_type_info type_table[OWL_TYPE_COUNT] = {
    [OWL_TYPE_F32] = PLAIN("f32", 4, true),
    [OWL_TYPE_F16] = PLAIN("f16", 2, true),
    [OWL_TYPE_Q4_0] = BLOCK("q4_0", OWL_QK4_0, sizeof(owl_block_q4_0), true),
    [OWL_TYPE_Q4_1] = BLOCK("q4_1", OWL_QK4_1, sizeof(owl_block_q4_1), true),
    [OWL_TYPE_Q5_0] = BLOCK("q5_0", OWL_QK5_0, sizeof(owl_block_q5_0), true),
    [OWL_TYPE_Q5_1] = BLOCK("q5_1", OWL_QK5_1, sizeof(owl_block_q5_1), true),
    [OWL_TYPE_Q8_0] = BLOCK("q8_0", OWL_QK8_0, sizeof(owl_block_q8_0), true),
    /* Q8_1 and Q8_K are activation formats: owl quantizes into and dequantizes from them, but
     * they are not weight formats (ggml cannot compute with Q8_K weights either). */
    [OWL_TYPE_Q8_1] = BLOCK("q8_1", OWL_QK8_1, sizeof(owl_block_q8_1), false),
    [OWL_TYPE_Q2_K] = BLOCK("q2_K", OWL_QK_K, sizeof(owl_block_q2_K), true),
    [OWL_TYPE_Q3_K] = BLOCK("q3_K", OWL_QK_K, sizeof(owl_block_q3_K), true),
    [OWL_TYPE_Q4_K] = BLOCK("q4_K", OWL_QK_K, sizeof(owl_block_q4_K), true),
    [OWL_TYPE_Q5_K] = BLOCK("q5_K", OWL_QK_K, sizeof(owl_block_q5_K), true),
    [OWL_TYPE_Q6_K] = BLOCK("q6_K", OWL_QK_K, sizeof(owl_block_q6_K), true),
    [OWL_TYPE_Q8_K] = BLOCK("q8_K", OWL_QK_K, sizeof(owl_block_q8_K), false),
    /* Known by size only. Sizes follow ggml's block structs: f16 scale(s) plus packed bits. */
    [OWL_TYPE_IQ2_XXS] = BLOCK("iq2_xxs", 256, 66, false),  /* d + 32 x u16 */
    [OWL_TYPE_IQ2_XS] = BLOCK("iq2_xs", 256, 74, false),    /* d + 32 x u16 + 8 scales */
    [OWL_TYPE_IQ3_XXS] = BLOCK("iq3_xxs", 256, 98, false),  /* d + 96 */
    [OWL_TYPE_IQ1_S] = BLOCK("iq1_s", 256, 50, false),      /* d + 32 + 8 x u16 */
    [OWL_TYPE_IQ4_NL] = BLOCK("iq4_nl", 32, 18, false),     /* d + 16 */
    [OWL_TYPE_IQ3_S] = BLOCK("iq3_s", 256, 110, false),     /* d + 64 + 8 + 32 + 4 */
    [OWL_TYPE_IQ2_S] = BLOCK("iq2_s", 256, 82, false),      /* d + 64 + 8 + 8 */
    [OWL_TYPE_IQ4_XS] = BLOCK("iq4_xs", 256, 136, false),   /* d + u16 + 4 + 128 */
    [OWL_TYPE_I8] = PLAIN("i8", 1, false),
    [OWL_TYPE_I16] = PLAIN("i16", 2, false),
    [OWL_TYPE_I32] = PLAIN("i32", 4, false),
    [OWL_TYPE_I64] = PLAIN("i64", 8, false),
    [OWL_TYPE_F64] = PLAIN("f64", 8, false),
    [OWL_TYPE_IQ1_M] = BLOCK("iq1_m", 256, 56, false),      /* 32 + 16 + 8, no d */
    [OWL_TYPE_BF16] = PLAIN("bf16", 2, true),
    [OWL_TYPE_TQ1_0] = BLOCK("tq1_0", 256, 54, false),      /* 48 + 4 + d */
    [OWL_TYPE_TQ2_0] = BLOCK("tq2_0", 256, 66, false),      /* 64 + d */
    [OWL_TYPE_MXFP4] = BLOCK("mxfp4", 32, 17, false),       /* e8m0 exponent + 16 */
};

const owl_type_info *owl_type_get(uint32_t type) {
    if (type >= OWL_TYPE_COUNT || !type_table[type].name) return NULL;
    return &type_table[type];
}

const char *owl_type_name(uint32_t type) {
    const owl_type_info *t = owl_type_get(type);
    return t ? t->name : "unknown";
}

int owl_type_from_name(const char *name) {
    if (!name) return -1;
    for (int i = 0; i < OWL_TYPE_COUNT; i++) {
        if (type_table[i].name && strcasecmp(type_table[i].name, name) == 0) return i;
    }
    return -1;
}

size_t owl_row_size(owl_type type, int64_t n) {
    const owl_type_info *t = owl_type_get((uint32_t)type);
    if (!t || n < 0) return 0;
    return (size_t)(n / t->block_size) * t->type_size;
}
