/* llama: Llama 2/3, Mistral, TinyLlama, SmolLM2. GQA, RoPE on adjacent pairs (the converter
 * permutes Q and K so that this order is the model's), optional llama3 frequency factors. */
#include "model/model_internal.h"

const owl_arch owl_arch_llama = {
    .name = "llama",
    .rope_kind = OWL_ROPE_NORMAL,
};
