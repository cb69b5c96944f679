/* The shape twins: each entry states the real model's architecture and shapes (from its
 * config.json as llama.cpp converts it) and the small dimensions of its --tiny variant. Tiny
 * dimensions keep every row a multiple of 256 so that every K-quant applies, and keep each
 * family's peculiarity (qwen3's head_dim != n_embd / n_head, GQA and MQA). */
#include "forge/forge_internal.h"

#include <string.h>

static const forge_preset presets[] = {
    {
        .name = "smollm2-135m", .model_name = "SmolLM2 135M (shape twin)", .arch = "llama",
        .full = {30, 576, 9, 3, 64, 1536}, .tiny = {2, 256, 4, 1, 64, 512},
        .context_length = 8192, .rope_base = 100000.0, .rms_eps = 1e-5, .tied = true,
        .vocab = VOCAB_GGUF, .vocab_file = "vocab/ggml-vocab-gpt-2.gguf",
        .template_file = "templates/chatml.jinja",
    },
    {
        .name = "qwen2.5-0.5b", .model_name = "Qwen2.5 0.5B (shape twin)", .arch = "qwen2",
        .full = {24, 896, 14, 2, 64, 4864}, .tiny = {2, 256, 4, 2, 64, 512},
        .context_length = 32768, .rope_base = 1000000.0, .rms_eps = 1e-6, .tied = true,
        .qkv_bias = true, .vocab = VOCAB_QWEN2, .vocab_file = "tokenizers/qwen.tiktoken",
        .template_file = "templates/chatml.jinja",
    },
    {
        .name = "qwen3-0.6b", .model_name = "Qwen3 0.6B (shape twin)", .arch = "qwen3",
        .full = {28, 1024, 16, 8, 128, 3072}, .tiny = {2, 256, 4, 2, 128, 512},
        .context_length = 40960, .rope_base = 1000000.0, .rms_eps = 1e-6, .tied = true,
        .qk_norm = true, .vocab = VOCAB_QWEN3, .vocab_file = "tokenizers/qwen.tiktoken",
        .template_file = "templates/Qwen-Qwen3-0.6B.jinja",
    },
    {
        .name = "llama3.2-1b", .model_name = "Llama 3.2 1B (shape twin)", .arch = "llama",
        .full = {16, 2048, 32, 8, 64, 8192}, .tiny = {2, 256, 4, 2, 64, 512},
        .context_length = 131072, .rope_base = 500000.0, .rms_eps = 1e-5, .tied = true,
        .llama3_rope = true, .vocab = VOCAB_LLAMA3,
        .vocab_file = "tokenizers/llama3-tokenizer.model",
        .template_file = "templates/meta-llama-Llama-3.2-3B-Instruct.jinja",
    },
    {
        .name = "tinyllama-1.1b", .model_name = "TinyLlama 1.1B (shape twin)", .arch = "llama",
        .full = {22, 2048, 32, 4, 64, 5632}, .tiny = {2, 256, 4, 1, 64, 512},
        .context_length = 2048, .rope_base = 10000.0, .rms_eps = 1e-5, .tied = false,
        .vocab = VOCAB_GGUF, .vocab_file = "vocab/ggml-vocab-llama-spm.gguf",
        .template_file = NULL,
    },
};
#define N_PRESETS (sizeof presets / sizeof presets[0])

const forge_preset *forge_find_preset(const char *name) {
    for (size_t i = 0; i < N_PRESETS; i++) {
        if (strcmp(presets[i].name, name) == 0) return &presets[i];
    }
    return NULL;
}

const char *const *owl_forge_preset_names(void) {
    static const char *const names[N_PRESETS + 1] = {
        "smollm2-135m", "qwen2.5-0.5b", "qwen3-0.6b", "llama3.2-1b", "tinyllama-1.1b", NULL,
    };
    return names;
}
