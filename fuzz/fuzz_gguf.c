/* libFuzzer target for the GGUF reader: any bytes must either be refused with a message or open
 * into a file whose every stated count, string and tensor can be walked without leaving the
 * input. Supported tensors are dequantized (first row) to reach the block decoders too. */
#include "owl/gguf.h"

#include <stdlib.h>
#include <string.h>

static volatile uint64_t sink;

static void walk_value(const owl_gguf_value *v) {
    if (v->type == OWL_GGUF_STRING) {
        for (size_t i = 0; i < v->str.len; i++) sink += (uint8_t)v->str.ptr[i];
    } else if (v->type == OWL_GGUF_ARRAY) {
        const owl_gguf_array *a = &v->arr;
        for (uint64_t i = 0; i < a->n; i++) {
            if (a->type == OWL_GGUF_STRING) sink += a->strs[i].len ? (uint8_t)a->strs[i].ptr[0] : 0;
            else if (a->type == OWL_GGUF_ARRAY) walk_value(&a->items[i]);
            else {
                double d;
                if (owl_gguf_array_float(a, i, &d)) sink += (uint64_t)(d != 0);
            }
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    /* an exact-size copy, so any read past the end is caught */
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy) return 0;
    memcpy(copy, data, size);
    owl_error err;
    owl_gguf *g = owl_gguf_open_memory(copy, size, "fuzz", &err);
    if (g) {
        for (uint64_t i = 0; i < g->n_kv; i++) walk_value(&g->kv[i].value);
        for (uint64_t i = 0; i < g->n_tensors; i++) {
            const owl_gguf_tensor *t = &g->tensors[i];
            const uint8_t *p = t->data;
            if (t->nbytes) sink += p[0] + p[t->nbytes - 1];
            const owl_type_info *ti = owl_type_get(t->type);
            if (ti && ti->supported && t->ne[0] <= 4096 && ((uintptr_t)p % 4) == 0) {
                float row[4096];
                owl_dequantize_row((owl_type)t->type, p, row, t->ne[0]);
                sink += (uint64_t)(row[0] == row[0]);
            }
        }
        owl_gguf_close(g);
    }
    free(copy);
    return 0;
}
