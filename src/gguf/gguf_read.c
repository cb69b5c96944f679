/* GGUF reader: maps a file and validates every count, string, type, size and offset before any
 * of it is used, so that the rest of owl can index tensors and arrays without further checks.
 *
 * Memory is bounded by the file: every element the header announces occupies at least a few
 * bytes of the file, so counts are checked against the bytes that remain before anything is
 * allocated. A malformed file costs at most a small multiple of its own size. */
#include "gguf/gguf_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define GGUF_MAX_DEPTH 4        /* nesting of arrays in arrays */
#define GGUF_MAX_NAME 64        /* tensor names, as ggml's GGML_MAX_NAME (incl. terminator) */
#define GGUF_MAX_DIMS 4
#define GGUF_DEFAULT_ALIGNMENT 32

typedef struct cursor {
    const uint8_t *p;
    size_t size;
    size_t pos;
    owl_error *err;
} cursor;

static size_t remaining(const cursor *c) { return c->size - c->pos; }

static bool rd(cursor *c, void *out, size_t n, const char *what) {
    if (remaining(c) < n) {
        owl_errorf(c->err, "truncated file: %s at offset %zu needs %zu bytes, %zu remain", what,
                   c->pos, n, remaining(c));
        return false;
    }
    memcpy(out, c->p + c->pos, n); /* the file is little-endian, as is every host owl runs on */
    c->pos += n;
    return true;
}

static bool rd_u32(cursor *c, uint32_t *v, const char *what) { return rd(c, v, 4, what); }
static bool rd_u64(cursor *c, uint64_t *v, const char *what) { return rd(c, v, 8, what); }

/* Reads a string; checks its length against the file and its bytes for UTF-8. */
static bool rd_str(cursor *c, owl_str *s, const char *what) {
    uint64_t len;
    if (!rd_u64(c, &len, what)) return false;
    if (len > remaining(c)) {
        owl_errorf(c->err, "%s at offset %zu: string length %llu runs past the end of the file",
                   what, c->pos - 8, (unsigned long long)len);
        return false;
    }
    s->ptr = (const char *)c->p + c->pos;
    s->len = (size_t)len;
    if (!owl_utf8_valid(s->ptr, s->len)) {
        owl_errorf(c->err, "%s at offset %zu is not valid UTF-8", what, c->pos);
        return false;
    }
    c->pos += (size_t)len;
    return true;
}

const char *owl_gguf_type_name(owl_gguf_type t) {
    static const char *const names[OWL_GGUF_TYPE_COUNT] = {
        "uint8", "int8", "uint16", "int16", "uint32", "int32", "float32",
        "bool",  "string", "array", "uint64", "int64", "float64",
    };
    return (unsigned)t < OWL_GGUF_TYPE_COUNT ? names[t] : "unknown";
}

static void value_free(owl_gguf_value *v);

static void array_free(owl_gguf_array *a) {
    free(a->strs);
    if (a->items) {
        for (uint64_t i = 0; i < a->n; i++) value_free(&a->items[i]);
        free(a->items);
    }
    a->strs = NULL;
    a->items = NULL;
}

static void value_free(owl_gguf_value *v) {
    if (v->type == OWL_GGUF_ARRAY) array_free(&v->arr);
}

static bool rd_value(cursor *c, owl_gguf_type t, owl_gguf_value *v, int depth, const char *key);

static bool rd_array(cursor *c, owl_gguf_array *a, int depth, const char *key) {
    uint32_t et;
    uint64_t n;
    memset(a, 0, sizeof *a);
    if (!rd_u32(c, &et, "array element type") || !rd_u64(c, &n, "array length")) return false;
    if (et >= OWL_GGUF_TYPE_COUNT) {
        return owl_errorf(c->err, "key %s: unknown array element type %u", key, et), false;
    }
    if (et == OWL_GGUF_ARRAY && depth >= GGUF_MAX_DEPTH) {
        return owl_errorf(c->err, "key %s: arrays nested deeper than %d", key, GGUF_MAX_DEPTH),
               false;
    }
    a->type = (owl_gguf_type)et;
    /* Every element takes at least this many bytes of the file: the bound on n. */
    size_t min_elem = et == OWL_GGUF_STRING ? 8 : et == OWL_GGUF_ARRAY ? 12 : gguf_scalar_size(a->type);
    if (n > remaining(c) / min_elem) {
        return owl_errorf(c->err, "key %s: array of %llu %s elements is larger than the file", key,
                          (unsigned long long)n, owl_gguf_type_name(a->type)),
               false;
    }
    a->n = n;
    if (et == OWL_GGUF_STRING) {
        a->strs = malloc((n ? n : 1) * sizeof *a->strs);
        if (!a->strs) return owl_errorf(c->err, "out of memory"), false;
        for (uint64_t i = 0; i < n; i++) {
            if (!rd_str(c, &a->strs[i], "array string")) {
                owl_error_prefix(c->err, "key %s[%llu]", key, (unsigned long long)i);
                return false;
            }
        }
    } else if (et == OWL_GGUF_ARRAY) {
        a->items = calloc(n ? n : 1, sizeof *a->items);
        if (!a->items) return owl_errorf(c->err, "out of memory"), false;
        for (uint64_t i = 0; i < n; i++) {
            if (!rd_value(c, OWL_GGUF_ARRAY, &a->items[i], depth + 1, key)) {
                a->n = i + 1; /* free what was read */
                return false;
            }
        }
    } else {
        a->raw = c->p + c->pos;
        c->pos += (size_t)n * min_elem;
        if (et == OWL_GGUF_BOOL) {
            for (uint64_t i = 0; i < n; i++) {
                if (a->raw[i] > 1) {
                    return owl_errorf(c->err, "key %s[%llu]: bool value %u is not 0 or 1", key,
                                      (unsigned long long)i, a->raw[i]),
                           false;
                }
            }
        }
    }
    return true;
}

static bool rd_value(cursor *c, owl_gguf_type t, owl_gguf_value *v, int depth, const char *key) {
    memset(v, 0, sizeof *v);
    v->type = t;
    if (t == OWL_GGUF_STRING) {
        if (!rd_str(c, &v->str, "string value")) {
            owl_error_prefix(c->err, "key %s", key);
            return false;
        }
        return true;
    }
    if (t == OWL_GGUF_ARRAY) return rd_array(c, &v->arr, depth, key);
    size_t n = gguf_scalar_size(t);
    uint8_t buf[8];
    if (!rd(c, buf, n, "value")) {
        owl_error_prefix(c->err, "key %s", key);
        return false;
    }
    if (t == OWL_GGUF_BOOL && buf[0] > 1) {
        return owl_errorf(c->err, "key %s: bool value %u is not 0 or 1", key, buf[0]), false;
    }
    gguf_decode_scalar(t, buf, v);
    return true;
}

void owl_gguf_close(owl_gguf *g) {
    if (!g) return;
    if (g->kv) {
        for (uint64_t i = 0; i < g->n_kv; i++) {
            free(g->kv[i].key);
            value_free(&g->kv[i].value);
        }
        free(g->kv);
    }
    if (g->tensors) {
        for (uint64_t i = 0; i < g->n_tensors; i++) free(g->tensors[i].name);
        free(g->tensors);
    }
    if (g->mapped && g->base) munmap((void *)g->base, g->size);
    free(g->path);
    free(g);
}

static int cmp_offset(const void *a, const void *b) {
    const owl_gguf_tensor *x = *(const owl_gguf_tensor *const *)a;
    const owl_gguf_tensor *y = *(const owl_gguf_tensor *const *)b;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* Tensor infos: names unique and sane, dims and types known, sizes free of overflow, data inside
 * the file, aligned, and no two tensors overlapping. */
static bool rd_tensors(cursor *c, owl_gguf *g) {
    g->tensors = calloc(g->n_tensors ? g->n_tensors : 1, sizeof *g->tensors);
    if (!g->tensors) return owl_errorf(c->err, "out of memory"), false;
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        owl_gguf_tensor *t = &g->tensors[i];
        owl_str name;
        if (!rd_str(c, &name, "tensor name")) return false;
        if (name.len == 0 || name.len >= GGUF_MAX_NAME || memchr(name.ptr, 0, name.len)) {
            return owl_errorf(c->err, "tensor %llu: name of %zu bytes (must be 1..%d, no NUL)",
                              (unsigned long long)i, name.len, GGUF_MAX_NAME - 1),
                   false;
        }
        t->name = owl_str_dup(name);
        if (!t->name) return owl_errorf(c->err, "out of memory"), false;
        if (!rd_u32(c, &t->n_dims, "tensor dimension count")) return false;
        if (t->n_dims < 1 || t->n_dims > GGUF_MAX_DIMS) {
            return owl_errorf(c->err, "tensor %s: %u dimensions (must be 1..%d)", t->name,
                              t->n_dims, GGUF_MAX_DIMS),
                   false;
        }
        uint64_t n_el = 1;
        for (int d = 0; d < GGUF_MAX_DIMS; d++) {
            uint64_t ne = 1;
            if ((uint32_t)d < t->n_dims && !rd_u64(c, &ne, "tensor dimension")) return false;
            /* Each dimension and the product must stay far below what a machine can address. */
            if (ne == 0 || ne > ((uint64_t)1 << 40) || n_el > (((uint64_t)1 << 50) / ne)) {
                return owl_errorf(c->err, "tensor %s: dimension %d of %llu elements is absurd",
                                  t->name, d, (unsigned long long)ne),
                       false;
            }
            t->ne[d] = (int64_t)ne;
            n_el *= ne;
        }
        t->n_elements = n_el;
        if (!rd_u32(c, &t->type, "tensor type") || !rd_u64(c, &t->offset, "tensor offset")) {
            return false;
        }
        const owl_type_info *ti = owl_type_get(t->type);
        if (!ti) {
            return owl_errorf(c->err, "tensor %s: unknown tensor type %u", t->name, t->type),
                   false;
        }
        if (t->ne[0] % ti->block_size != 0) {
            return owl_errorf(c->err, "tensor %s: row of %lld elements is not a multiple of the "
                              "%s block size %lld", t->name, (long long)t->ne[0], ti->name,
                              (long long)ti->block_size),
                   false;
        }
        t->nbytes = (size_t)(n_el / (uint64_t)ti->block_size * ti->type_size);
        for (uint64_t j = 0; j < i; j++) {
            if (strcmp(g->tensors[j].name, t->name) == 0) {
                return owl_errorf(c->err, "duplicate tensor name %s", t->name), false;
            }
        }
    }
    return true;
}

static bool check_layout(cursor *c, owl_gguf *g) {
    if (g->n_tensors == 0) return true;
    if (g->data_offset > g->size) {
        return owl_errorf(c->err, "tensor data section starts at %llu, past the end of the file "
                          "(%zu bytes)", (unsigned long long)g->data_offset, g->size),
               false;
    }
    uint64_t data_size = g->size - g->data_offset;
    owl_gguf_tensor **order = malloc(g->n_tensors * sizeof *order);
    if (!order) return owl_errorf(c->err, "out of memory"), false;
    for (uint64_t i = 0; i < g->n_tensors; i++) order[i] = &g->tensors[i];
    qsort(order, g->n_tensors, sizeof *order, cmp_offset);
    bool ok = true;
    uint64_t end = 0;
    const char *prev = NULL;
    for (uint64_t i = 0; i < g->n_tensors && ok; i++) {
        owl_gguf_tensor *t = order[i];
        if (t->offset % g->alignment != 0) {
            ok = false;
            owl_errorf(c->err, "tensor %s: offset %llu is not a multiple of the alignment %llu",
                       t->name, (unsigned long long)t->offset, (unsigned long long)g->alignment);
        } else if (t->offset > data_size || t->nbytes > data_size - t->offset) {
            ok = false;
            owl_errorf(c->err, "tensor %s: data [%llu, +%zu) runs past the end of the file",
                       t->name, (unsigned long long)t->offset, t->nbytes);
        } else if (prev && t->offset < end) {
            ok = false;
            owl_errorf(c->err, "tensors %s and %s overlap", prev, t->name);
        } else {
            t->data = g->base + g->data_offset + t->offset;
            end = t->offset + t->nbytes;
            prev = t->name;
        }
    }
    free(order);
    return ok;
}

static owl_gguf *parse(owl_gguf *g, owl_error *err) {
    cursor c = {.p = g->base, .size = g->size, .pos = 0, .err = err};
    char magic[4];
    if (g->size == 0) return owl_errorf(err, "empty file, not a GGUF file"), NULL;
    if (!rd(&c, magic, 4, "magic")) return NULL;
    if (memcmp(magic, "GGUF", 4) != 0) return owl_errorf(err, "not a GGUF file (bad magic)"), NULL;
    if (!rd_u32(&c, &g->version, "version")) return NULL;
    if (g->version == 1) return owl_errorf(err, "GGUF v1 is not supported (convert to v3)"), NULL;
    if (g->version != 2 && g->version != 3) {
        return owl_errorf(err, "unsupported GGUF version %u (owl reads v2 and v3)", g->version),
               NULL;
    }
    uint64_t n_tensors, n_kv;
    if (!rd_u64(&c, &n_tensors, "tensor count") || !rd_u64(&c, &n_kv, "key-value count")) {
        return NULL;
    }
    /* A key-value pair takes at least 8 (key length) + 1 + 4 (type) + 1 bytes; a tensor info at
     * least 8 + 1 + 4 + 8 + 4 + 8. */
    if (n_kv > remaining(&c) / 14) {
        return owl_errorf(err, "key-value count %llu is larger than the file can hold",
                          (unsigned long long)n_kv),
               NULL;
    }
    if (n_tensors > remaining(&c) / 33) {
        return owl_errorf(err, "tensor count %llu is larger than the file can hold",
                          (unsigned long long)n_tensors),
               NULL;
    }
    g->kv = calloc(n_kv ? n_kv : 1, sizeof *g->kv);
    if (!g->kv) return owl_errorf(err, "out of memory"), NULL;
    g->alignment = GGUF_DEFAULT_ALIGNMENT;
    for (uint64_t i = 0; i < n_kv; i++) {
        owl_gguf_kv *kv = &g->kv[i];
        owl_str key;
        uint32_t type;
        if (!rd_str(&c, &key, "key")) return NULL;
        g->n_kv = i + 1; /* from here on kv[i] is freed by close */
        if (key.len == 0 || memchr(key.ptr, 0, key.len)) {
            return owl_errorf(err, "key %llu is empty or contains NUL", (unsigned long long)i),
                   NULL;
        }
        kv->key = owl_str_dup(key);
        if (!kv->key) return owl_errorf(err, "out of memory"), NULL;
        for (uint64_t j = 0; j < i; j++) {
            if (strcmp(g->kv[j].key, kv->key) == 0) {
                return owl_errorf(err, "duplicate key %s", kv->key), NULL;
            }
        }
        if (!rd_u32(&c, &type, "value type")) return NULL;
        if (type >= OWL_GGUF_TYPE_COUNT) {
            return owl_errorf(err, "key %s: unknown value type %u", kv->key, type), NULL;
        }
        if (!rd_value(&c, (owl_gguf_type)type, &kv->value, 0, kv->key)) return NULL;
        if (strcmp(kv->key, "general.alignment") == 0) {
            if (type != OWL_GGUF_UINT32 || kv->value.u64 == 0 ||
                (kv->value.u64 & (kv->value.u64 - 1)) != 0) {
                return owl_errorf(err, "general.alignment must be a power of two uint32"), NULL;
            }
            g->alignment = kv->value.u64;
        }
    }
    g->n_tensors = n_tensors;
    if (!rd_tensors(&c, g)) return NULL;
    g->data_offset = (c.pos + g->alignment - 1) / g->alignment * g->alignment;
    if (!check_layout(&c, g)) return NULL;
    return g;
}

static owl_gguf *open_common(owl_gguf *g, const char *name, owl_error *err) {
    g->path = strdup(name ? name : "(memory)");
    if (!g->path) {
        owl_errorf(err, "out of memory");
        owl_gguf_close(g);
        return NULL;
    }
    if (!parse(g, err)) {
        owl_error_prefix(err, "%s", g->path);
        owl_gguf_close(g);
        return NULL;
    }
    return g;
}

owl_gguf *owl_gguf_open_memory(const void *data, size_t size, const char *name, owl_error *err) {
    owl_gguf *g = calloc(1, sizeof *g);
    if (!g) return owl_errorf(err, "out of memory"), NULL;
    g->base = data;
    g->size = size;
    return open_common(g, name, err);
}

owl_gguf *owl_gguf_open(const char *path, owl_error *err) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return owl_errorf(err, "%s: %s", path, strerror(errno)), NULL;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        owl_errorf(err, "%s: %s", path, strerror(errno));
        close(fd);
        return NULL;
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return owl_errorf(err, "%s: not a regular file", path), NULL;
    }
    if (st.st_size == 0) {
        close(fd);
        return owl_errorf(err, "%s: empty file, not a GGUF file", path), NULL;
    }
    void *base = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd); /* the mapping keeps the file */
    if (base == MAP_FAILED) return owl_errorf(err, "%s: mmap: %s", path, strerror(errno)), NULL;
    owl_gguf *g = calloc(1, sizeof *g);
    if (!g) {
        munmap(base, (size_t)st.st_size);
        return owl_errorf(err, "out of memory"), NULL;
    }
    g->base = base;
    g->size = (size_t)st.st_size;
    g->mapped = true;
    return open_common(g, path, err);
}
