/* qwen2 (Qwen2, Qwen2.5): llama with biases on Q, K and V, and RoPE over rotated halves. */
#include "model/model_internal.h"

const owl_arch owl_arch_qwen2 = {
    .name = "qwen2",
    .rope_kind = OWL_ROPE_NEOX,
    .qkv_bias = true,
};
