/* Scalar values as GGUF stores them: sizes and decoding (little-endian, possibly unaligned). */
#include "gguf/gguf_internal.h"

#include <string.h>

size_t gguf_scalar_size(owl_gguf_type t) {
    switch (t) {
    case OWL_GGUF_UINT8: case OWL_GGUF_INT8: case OWL_GGUF_BOOL: return 1;
    case OWL_GGUF_UINT16: case OWL_GGUF_INT16: return 2;
    case OWL_GGUF_UINT32: case OWL_GGUF_INT32: case OWL_GGUF_FLOAT32: return 4;
    case OWL_GGUF_UINT64: case OWL_GGUF_INT64: case OWL_GGUF_FLOAT64: return 8;
    default: return 0;
    }
}

void gguf_decode_scalar(owl_gguf_type t, const uint8_t *p, owl_gguf_value *v) {
    v->type = t;
    switch (t) {
    case OWL_GGUF_UINT8: v->u64 = p[0]; break;
    case OWL_GGUF_BOOL: v->u64 = p[0] != 0; break;
    case OWL_GGUF_INT8: v->i64 = (int8_t)p[0]; break;
    case OWL_GGUF_UINT16: { uint16_t x; memcpy(&x, p, 2); v->u64 = x; break; }
    case OWL_GGUF_INT16: { int16_t x; memcpy(&x, p, 2); v->i64 = x; break; }
    case OWL_GGUF_UINT32: { uint32_t x; memcpy(&x, p, 4); v->u64 = x; break; }
    case OWL_GGUF_INT32: { int32_t x; memcpy(&x, p, 4); v->i64 = x; break; }
    case OWL_GGUF_FLOAT32: { float x; memcpy(&x, p, 4); v->f64 = x; break; }
    case OWL_GGUF_UINT64: { uint64_t x; memcpy(&x, p, 8); v->u64 = x; break; }
    case OWL_GGUF_INT64: { int64_t x; memcpy(&x, p, 8); v->i64 = x; break; }
    case OWL_GGUF_FLOAT64: { double x; memcpy(&x, p, 8); v->f64 = x; break; }
    default: break;
    }
}
