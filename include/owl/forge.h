/* owl — shape twins: GGUF files with the exact architecture, tensor names and shapes and the real
 * vocabulary of a known model, and seeded random weights. They let tests and benchmarks run the
 * shapes users run (SmolLM2-135M, Qwen2.5-0.5B, Qwen3-0.6B, Llama-3.2-1B, TinyLlama-1.1B) where
 * the trained weights cannot be had, and llama.cpp loads them too, so the two engines can be
 * compared token for token and logit for logit.
 *
 * The weights are Gaussian with scales chosen so that the output distribution is peaked the way a
 * trained model's is (the logits have a standard deviation near 6), which keeps greedy decoding
 * stable enough to compare engines. The same preset, type and seed always give the same bytes. */
#ifndef OWL_FORGE_H
#define OWL_FORGE_H

#include "owl/common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct owl_forge_opts {
    const char *preset;   /* see owl_forge_preset_names() */
    bool tiny;            /* same architecture and vocabulary, small dimensions (fast tests) */
    const char *type;     /* a tensor type ("f16", "q4_K": every matrix in it) or a mix
                             ("Q4_K_M"); NULL = f16 */
    uint64_t seed;
    const char *data_dir; /* where vocab/, tokenizers/ and templates/ are; NULL = $OWL_SHARED/models
                             or ../shared/models */
    int n_threads;        /* 0 = all CPUs */
} owl_forge_opts;

/* NULL-terminated list of preset names. */
const char *const *owl_forge_preset_names(void);

/* Writes the twin to path (atomically). */
int owl_forge(const owl_forge_opts *opts, const char *path, owl_error *err);

#ifdef __cplusplus
}
#endif
#endif
