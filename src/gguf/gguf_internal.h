/* Private to src/gguf: scalar value encoding shared by the reader, the lookups and the writer. */
#ifndef OWL_GGUF_INTERNAL_H
#define OWL_GGUF_INTERNAL_H

#include "owl/gguf.h"

/* Bytes of one scalar of type t in a file; 0 for string and array. */
size_t gguf_scalar_size(owl_gguf_type t);
/* Decodes one little-endian scalar at p (any alignment) into v. */
void gguf_decode_scalar(owl_gguf_type t, const uint8_t *p, owl_gguf_value *v);

#endif
