/* Seeded Gaussian weights. Every row of every tensor has its own stream, derived from the seed,
 * the tensor's name and the row index, so the bytes do not depend on the order tensors are
 * written in or on how rows are split among threads. */
#include "forge/forge_internal.h"

#include <math.h>
#include <string.h>

static uint64_t splitmix64(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* Uniform in (0, 1]: 53 random bits, never zero (log(0) below). */
static double uniform(uint64_t *s) { return ((double)(splitmix64(s) >> 11) + 1.0) / 9007199254740992.0; }

void forge_gaussian(float *out, int64_t n, uint64_t seed, const char *name, int64_t row, float mean,
                    float std) {
    uint64_t s = seed ^ forge_hash(name, strlen(name)) ^ ((uint64_t)row * 0xD1B54A32D192ED03ULL);
    splitmix64(&s);
    for (int64_t i = 0; i < n; i += 2) {
        /* Box-Muller: two independent normals from two uniforms */
        double r = sqrt(-2.0 * log(uniform(&s)));
        double a = 6.283185307179586 * uniform(&s);
        out[i] = mean + std * (float)(r * cos(a));
        if (i + 1 < n) out[i + 1] = mean + std * (float)(r * sin(a));
    }
}
