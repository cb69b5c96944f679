/* qwen3: no Q/K/V biases; instead an RMSNorm over each head of Q and K before RoPE (halves). */
#include "model/model_internal.h"

const owl_arch owl_arch_qwen3 = {
    .name = "qwen3",
    .rope_kind = OWL_ROPE_NEOX,
    .qk_norm = true,
};
