/* owl — GGUF files: read (mmap, fully validated), look up, write.
 *
 * Format (v2 and v3; v1 is refused). All integers little-endian.
 *   header:  magic "GGUF" | u32 version | u64 n_tensors | u64 n_kv
 *   kv[n_kv]:       string key | u32 value type | value
 *   tensor[n]:      string name | u32 n_dims (1..4) | u64 ne[n_dims] | u32 ggml type | u64 offset
 *   padding to general.alignment (default 32), then the tensor data section; each tensor's offset
 *   is relative to that section and a multiple of the alignment.
 *   string = u64 length | bytes (UTF-8, no terminator); array = u32 elem type | u64 n | elems.
 *
 * The reader validates everything before it returns: a file that opens is safe to index with the
 * counts and sizes it states. Strings and tensor data point into the mapping, so they live as
 * long as the owl_gguf. */
#ifndef OWL_GGUF_H
#define OWL_GGUF_H

#include "owl/common.h"
#include "owl/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum owl_gguf_type {
    OWL_GGUF_UINT8 = 0,
    OWL_GGUF_INT8 = 1,
    OWL_GGUF_UINT16 = 2,
    OWL_GGUF_INT16 = 3,
    OWL_GGUF_UINT32 = 4,
    OWL_GGUF_INT32 = 5,
    OWL_GGUF_FLOAT32 = 6,
    OWL_GGUF_BOOL = 7,
    OWL_GGUF_STRING = 8,
    OWL_GGUF_ARRAY = 9,
    OWL_GGUF_UINT64 = 10,
    OWL_GGUF_INT64 = 11,
    OWL_GGUF_FLOAT64 = 12,
    OWL_GGUF_TYPE_COUNT = 13
} owl_gguf_type;

const char *owl_gguf_type_name(owl_gguf_type t);

typedef struct owl_gguf_value owl_gguf_value;

typedef struct owl_gguf_array {
    owl_gguf_type type;    /* element type */
    uint64_t n;            /* element count */
    const uint8_t *raw;    /* scalar elements: n * size bytes in the file (may be unaligned) */
    owl_str *strs;         /* type == STRING: n strings */
    owl_gguf_value *items; /* type == ARRAY: n nested arrays */
} owl_gguf_array;

struct owl_gguf_value {
    owl_gguf_type type;
    union {
        uint64_t u64; /* every unsigned integer type, widened; bool as 0/1 */
        int64_t i64;  /* every signed integer type, widened */
        double f64;   /* FLOAT32 and FLOAT64 */
        owl_str str;
        owl_gguf_array arr;
    };
};

typedef struct owl_gguf_kv {
    char *key; /* NUL-terminated copy */
    owl_gguf_value value;
} owl_gguf_kv;

typedef struct owl_gguf_tensor {
    char *name;         /* NUL-terminated copy */
    uint32_t n_dims;    /* 1..4 */
    int64_t ne[4];      /* ne[0] is the row length (contiguous); unused dims are 1 */
    uint32_t type;      /* ggml type id (owl_type), possibly unsupported */
    uint64_t offset;    /* from the start of the data section */
    uint64_t n_elements;
    size_t nbytes;
    const void *data;   /* into the mapping */
} owl_gguf_tensor;

typedef struct owl_gguf {
    char *path;
    const uint8_t *base; /* the whole file */
    size_t size;
    bool mapped;         /* base is an mmap (else it borrows caller memory) */
    uint32_t version;
    uint64_t n_kv;
    owl_gguf_kv *kv;
    uint64_t n_tensors;
    owl_gguf_tensor *tensors;
    uint64_t alignment;
    uint64_t data_offset; /* start of the tensor data section */
} owl_gguf;

/* Maps and validates a file. On failure returns NULL and err names the file and the problem. */
owl_gguf *owl_gguf_open(const char *path, owl_error *err);
/* Same over caller-owned bytes (which must outlive the result); `name` is used in messages. */
owl_gguf *owl_gguf_open_memory(const void *data, size_t size, const char *name, owl_error *err);
void owl_gguf_close(owl_gguf *g);

/* Lookups; NULL / false when the key is missing or has an incompatible type. */
const owl_gguf_kv *owl_gguf_find(const owl_gguf *g, const char *key);
int64_t owl_gguf_find_index(const owl_gguf *g, const char *key); /* -1 when missing */
/* Any integer type (and bool) that fits int64. */
bool owl_gguf_get_int(const owl_gguf *g, const char *key, int64_t *out);
/* FLOAT32, FLOAT64 or any integer type. */
bool owl_gguf_get_float(const owl_gguf *g, const char *key, double *out);
bool owl_gguf_get_bool(const owl_gguf *g, const char *key, bool *out);
bool owl_gguf_get_str(const owl_gguf *g, const char *key, owl_str *out);
/* A string value copied into buf (NUL-terminated); false when missing, not a string or longer
 * than size - 1 bytes. */
bool owl_gguf_get_cstr(const owl_gguf *g, const char *key, char *buf, size_t size);
/* "<arch>.<key>" as an integer (e.g. "llama" and "block_count"); for a key that holds one value
 * per layer, the first. */
bool owl_gguf_get_arch_int(const owl_gguf *g, const char *arch, const char *key, int64_t *out);
const owl_gguf_array *owl_gguf_get_array(const owl_gguf *g, const char *key);
/* Element i of a scalar array, converted; false when out of range or not numeric. */
bool owl_gguf_array_int(const owl_gguf_array *a, uint64_t i, int64_t *out);
bool owl_gguf_array_float(const owl_gguf_array *a, uint64_t i, double *out);

const owl_gguf_tensor *owl_gguf_find_tensor(const owl_gguf *g, const char *name);

/* ---- writing ---------------------------------------------------------------------------- */

typedef struct owl_gguf_writer owl_gguf_writer;

/* Fills buf (t->nbytes) with the data of tensor `index` when it was added without data. */
typedef int (*owl_gguf_fill_fn)(void *ctx, size_t index, const owl_gguf_tensor *t, void *buf,
                                owl_error *err);

owl_gguf_writer *owl_gguf_writer_new(void);
void owl_gguf_writer_destroy(owl_gguf_writer *w);

/* Setting a key that exists replaces its value in place (order of first setting is kept). */
int owl_gguf_set_u32(owl_gguf_writer *w, const char *key, uint32_t v);
int owl_gguf_set_i32(owl_gguf_writer *w, const char *key, int32_t v);
int owl_gguf_set_u64(owl_gguf_writer *w, const char *key, uint64_t v);
int owl_gguf_set_f32(owl_gguf_writer *w, const char *key, float v);
int owl_gguf_set_bool(owl_gguf_writer *w, const char *key, bool v);
int owl_gguf_set_str(owl_gguf_writer *w, const char *key, const char *v);
int owl_gguf_set_strn(owl_gguf_writer *w, const char *key, const char *v, size_t len);
/* Arrays of scalars: elements of elem_type, n of them, raw little-endian values. */
int owl_gguf_set_array(owl_gguf_writer *w, const char *key, owl_gguf_type elem_type,
                       const void *data, uint64_t n);
/* Arrays of strings; lens may be NULL for NUL-terminated strings. */
int owl_gguf_set_array_str(owl_gguf_writer *w, const char *key, const char *const *strs,
                           const size_t *lens, uint64_t n);
/* Copies a value read from another file (any type, nested arrays included). */
int owl_gguf_set_value(owl_gguf_writer *w, const char *key, const owl_gguf_value *v);
bool owl_gguf_writer_has(const owl_gguf_writer *w, const char *key);
int owl_gguf_remove(owl_gguf_writer *w, const char *key);
/* Sets general.alignment too (power of two, default 32). */
int owl_gguf_set_alignment(owl_gguf_writer *w, uint32_t alignment);

/* Declares a tensor. `data` (nbytes = owl_row_size * rows) is borrowed until the write, or NULL
 * to have `fill` produce it at write time. Returns the index, -1 on error. */
int64_t owl_gguf_add_tensor(owl_gguf_writer *w, const char *name, owl_type type, uint32_t n_dims,
                            const int64_t *ne, const void *data, owl_error *err);

/* Writes a GGUF v3 file atomically (a temporary beside it, then rename). */
int owl_gguf_write(owl_gguf_writer *w, const char *path, owl_gguf_fill_fn fill, void *ctx,
                   owl_error *err);

#ifdef __cplusplus
}
#endif
#endif
