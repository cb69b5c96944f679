/* GGUF v3 writer. Keys keep the order in which they were first set (llama.cpp's own files put
 * general.* first, then the architecture's keys, then the tokenizer; we let callers decide).
 * Each value is encoded when it is set, so writing is a straight copy of the buffers followed by
 * the tensor data, produced on demand through a fill callback so that a multi-gigabyte model
 * never has to sit in memory at once. */
#include "gguf/gguf_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct wkv {
    char *key;
    uint8_t *enc; /* u32 type followed by the encoded value */
    size_t len;
} wkv;

typedef struct wtensor {
    owl_gguf_tensor info; /* name, dims, type, nbytes; offset filled at write */
} wtensor;

struct owl_gguf_writer {
    wkv *kv;
    size_t n_kv, cap_kv;
    wtensor *t;
    size_t n_t, cap_t;
    uint32_t alignment;
};

/* A growable byte buffer for encoding one value. */
typedef struct buf {
    uint8_t *p;
    size_t len, cap;
    bool oom;
} buf;

static void put(buf *b, const void *data, size_t n) {
    if (b->oom) return;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 64;
        while (cap < b->len + n) cap *= 2;
        uint8_t *p = realloc(b->p, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, data, n);
    b->len += n;
}

static void put_u32(buf *b, uint32_t v) { put(b, &v, 4); }
static void put_u64(buf *b, uint64_t v) { put(b, &v, 8); }
static void put_str(buf *b, const char *s, size_t n) {
    put_u64(b, n);
    put(b, s, n);
}

owl_gguf_writer *owl_gguf_writer_new(void) {
    owl_gguf_writer *w = calloc(1, sizeof *w);
    if (w) w->alignment = 32;
    return w;
}

void owl_gguf_writer_destroy(owl_gguf_writer *w) {
    if (!w) return;
    for (size_t i = 0; i < w->n_kv; i++) {
        free(w->kv[i].key);
        free(w->kv[i].enc);
    }
    for (size_t i = 0; i < w->n_t; i++) free(w->t[i].info.name);
    free(w->kv);
    free(w->t);
    free(w);
}

static wkv *find_kv(const owl_gguf_writer *w, const char *key) {
    for (size_t i = 0; i < w->n_kv; i++) {
        if (strcmp(w->kv[i].key, key) == 0) return &w->kv[i];
    }
    return NULL;
}

bool owl_gguf_writer_has(const owl_gguf_writer *w, const char *key) { return find_kv(w, key); }

int owl_gguf_remove(owl_gguf_writer *w, const char *key) {
    wkv *kv = find_kv(w, key);
    if (!kv) return -1;
    size_t i = (size_t)(kv - w->kv);
    free(kv->key);
    free(kv->enc);
    memmove(&w->kv[i], &w->kv[i + 1], (w->n_kv - i - 1) * sizeof *w->kv);
    w->n_kv--;
    return 0;
}

/* Takes ownership of the encoded buffer b (type already in it). */
static int set_encoded(owl_gguf_writer *w, const char *key, buf *b) {
    if (b->oom || !key || !*key) {
        free(b->p);
        return -1;
    }
    wkv *kv = find_kv(w, key);
    if (kv) {
        free(kv->enc);
    } else {
        if (w->n_kv == w->cap_kv) {
            size_t cap = w->cap_kv ? w->cap_kv * 2 : 32;
            wkv *p = realloc(w->kv, cap * sizeof *p);
            if (!p) {
                free(b->p);
                return -1;
            }
            w->kv = p;
            w->cap_kv = cap;
        }
        kv = &w->kv[w->n_kv];
        kv->key = strdup(key);
        if (!kv->key) {
            free(b->p);
            return -1;
        }
        w->n_kv++;
    }
    kv->enc = b->p;
    kv->len = b->len;
    return 0;
}

static int set_scalar(owl_gguf_writer *w, const char *key, owl_gguf_type t, const void *v) {
    buf b = {0};
    put_u32(&b, t);
    put(&b, v, gguf_scalar_size(t));
    return set_encoded(w, key, &b);
}

int owl_gguf_set_u32(owl_gguf_writer *w, const char *key, uint32_t v) {
    return set_scalar(w, key, OWL_GGUF_UINT32, &v);
}
int owl_gguf_set_i32(owl_gguf_writer *w, const char *key, int32_t v) {
    return set_scalar(w, key, OWL_GGUF_INT32, &v);
}
int owl_gguf_set_u64(owl_gguf_writer *w, const char *key, uint64_t v) {
    return set_scalar(w, key, OWL_GGUF_UINT64, &v);
}
int owl_gguf_set_f32(owl_gguf_writer *w, const char *key, float v) {
    return set_scalar(w, key, OWL_GGUF_FLOAT32, &v);
}
int owl_gguf_set_bool(owl_gguf_writer *w, const char *key, bool v) {
    uint8_t x = v;
    return set_scalar(w, key, OWL_GGUF_BOOL, &x);
}

int owl_gguf_set_strn(owl_gguf_writer *w, const char *key, const char *v, size_t len) {
    buf b = {0};
    put_u32(&b, OWL_GGUF_STRING);
    put_str(&b, v, len);
    return set_encoded(w, key, &b);
}

int owl_gguf_set_str(owl_gguf_writer *w, const char *key, const char *v) {
    return owl_gguf_set_strn(w, key, v, strlen(v));
}

int owl_gguf_set_array(owl_gguf_writer *w, const char *key, owl_gguf_type et, const void *data,
                       uint64_t n) {
    size_t sz = gguf_scalar_size(et);
    if (sz == 0) return -1;
    buf b = {0};
    put_u32(&b, OWL_GGUF_ARRAY);
    put_u32(&b, et);
    put_u64(&b, n);
    put(&b, data, (size_t)n * sz);
    return set_encoded(w, key, &b);
}

int owl_gguf_set_array_str(owl_gguf_writer *w, const char *key, const char *const *strs,
                           const size_t *lens, uint64_t n) {
    buf b = {0};
    put_u32(&b, OWL_GGUF_ARRAY);
    put_u32(&b, OWL_GGUF_STRING);
    put_u64(&b, n);
    for (uint64_t i = 0; i < n; i++) put_str(&b, strs[i], lens ? lens[i] : strlen(strs[i]));
    return set_encoded(w, key, &b);
}

/* Encodes a value read from a file (the payload without its leading type for array items). */
static void put_value(buf *b, const owl_gguf_value *v, bool with_type) {
    if (with_type) put_u32(b, v->type);
    switch (v->type) {
    case OWL_GGUF_STRING: put_str(b, v->str.ptr, v->str.len); break;
    case OWL_GGUF_ARRAY: {
        const owl_gguf_array *a = &v->arr;
        put_u32(b, a->type);
        put_u64(b, a->n);
        if (a->type == OWL_GGUF_STRING) {
            for (uint64_t i = 0; i < a->n; i++) put_str(b, a->strs[i].ptr, a->strs[i].len);
        } else if (a->type == OWL_GGUF_ARRAY) {
            for (uint64_t i = 0; i < a->n; i++) put_value(b, &a->items[i], false);
        } else {
            put(b, a->raw, (size_t)a->n * gguf_scalar_size(a->type));
        }
        break;
    }
    case OWL_GGUF_FLOAT32: { float f = (float)v->f64; put(b, &f, 4); break; }
    case OWL_GGUF_FLOAT64: put(b, &v->f64, 8); break;
    default: {
        /* integers: the low bytes of the widened value are the little-endian encoding */
        uint64_t x = v->u64;
        put(b, &x, gguf_scalar_size(v->type));
        break;
    }
    }
}

int owl_gguf_set_value(owl_gguf_writer *w, const char *key, const owl_gguf_value *v) {
    buf b = {0};
    put_value(&b, v, true);
    return set_encoded(w, key, &b);
}

int owl_gguf_set_alignment(owl_gguf_writer *w, uint32_t alignment) {
    if (alignment == 0 || (alignment & (alignment - 1)) != 0) return -1;
    w->alignment = alignment;
    return owl_gguf_set_u32(w, "general.alignment", alignment);
}

int64_t owl_gguf_add_tensor(owl_gguf_writer *w, const char *name, owl_type type, uint32_t n_dims,
                            const int64_t *ne, const void *data, owl_error *err) {
    const owl_type_info *ti = owl_type_get(type);
    if (!ti) return owl_errorf(err, "tensor %s: unknown type %d", name, (int)type);
    size_t nl = strlen(name);
    if (nl == 0 || nl >= 64) return owl_errorf(err, "tensor name '%s' must be 1..63 bytes", name);
    if (n_dims < 1 || n_dims > 4) return owl_errorf(err, "tensor %s: %u dimensions", name, n_dims);
    for (size_t i = 0; i < w->n_t; i++) {
        if (strcmp(w->t[i].info.name, name) == 0) {
            return owl_errorf(err, "duplicate tensor name %s", name);
        }
    }
    owl_gguf_tensor info = {0};
    info.n_dims = n_dims;
    info.type = (uint32_t)type;
    uint64_t n_el = 1;
    for (int d = 0; d < 4; d++) {
        info.ne[d] = (uint32_t)d < n_dims ? ne[d] : 1;
        if (info.ne[d] <= 0) return owl_errorf(err, "tensor %s: dimension %d is %lld", name, d,
                                               (long long)info.ne[d]);
        n_el *= (uint64_t)info.ne[d];
    }
    if (info.ne[0] % ti->block_size != 0) {
        return owl_errorf(err, "tensor %s: row of %lld is not a multiple of the %s block size",
                          name, (long long)info.ne[0], ti->name);
    }
    info.n_elements = n_el;
    info.nbytes = (size_t)(n_el / (uint64_t)ti->block_size * ti->type_size);
    info.data = data;
    if (w->n_t == w->cap_t) {
        size_t cap = w->cap_t ? w->cap_t * 2 : 64;
        wtensor *p = realloc(w->t, cap * sizeof *p);
        if (!p) return owl_errorf(err, "out of memory");
        w->t = p;
        w->cap_t = cap;
    }
    info.name = strdup(name);
    if (!info.name) return owl_errorf(err, "out of memory");
    w->t[w->n_t].info = info;
    return (int64_t)w->n_t++;
}

static int write_all(FILE *f, const void *p, size_t n, const char *path, owl_error *err) {
    if (n && fwrite(p, 1, n, f) != n) {
        return owl_errorf(err, "%s: write failed: %s", path, strerror(errno));
    }
    return 0;
}

static int pad_to(FILE *f, uint64_t *pos, uint64_t align, const char *path, owl_error *err) {
    static const uint8_t zeros[256];
    uint64_t target = (*pos + align - 1) / align * align;
    while (*pos < target) {
        size_t n = (size_t)(target - *pos) < sizeof zeros ? (size_t)(target - *pos) : sizeof zeros;
        if (write_all(f, zeros, n, path, err)) return -1;
        *pos += n;
    }
    return 0;
}

int owl_gguf_write(owl_gguf_writer *w, const char *path, owl_gguf_fill_fn fill, void *ctx,
                   owl_error *err) {
    /* Offsets of the tensors within the data section. */
    uint64_t off = 0;
    size_t max_fill = 0;
    for (size_t i = 0; i < w->n_t; i++) {
        owl_gguf_tensor *t = &w->t[i].info;
        off = (off + w->alignment - 1) / w->alignment * w->alignment;
        t->offset = off;
        off += t->nbytes;
        if (!t->data && t->nbytes > max_fill) max_fill = t->nbytes;
        if (!t->data && !fill) return owl_errorf(err, "tensor %s has no data", t->name);
    }

    size_t plen = strlen(path);
    char *tmp = malloc(plen + 32);
    if (!tmp) return owl_errorf(err, "out of memory");
    snprintf(tmp, plen + 32, "%s.tmp.%d", path, (int)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        owl_errorf(err, "%s: %s", tmp, strerror(errno));
        free(tmp);
        return -1;
    }
    setvbuf(f, NULL, _IOFBF, 1 << 20);
    void *scratch = NULL;
    int rc = -1;
    uint64_t pos = 0;

    buf h = {0};
    put(&h, "GGUF", 4);
    put_u32(&h, 3);
    put_u64(&h, w->n_t);
    put_u64(&h, w->n_kv);
    for (size_t i = 0; i < w->n_kv; i++) {
        put_str(&h, w->kv[i].key, strlen(w->kv[i].key));
        put(&h, w->kv[i].enc, w->kv[i].len);
    }
    for (size_t i = 0; i < w->n_t; i++) {
        const owl_gguf_tensor *t = &w->t[i].info;
        put_str(&h, t->name, strlen(t->name));
        put_u32(&h, t->n_dims);
        for (uint32_t d = 0; d < t->n_dims; d++) put_u64(&h, (uint64_t)t->ne[d]);
        put_u32(&h, t->type);
        put_u64(&h, t->offset);
    }
    if (h.oom) {
        owl_errorf(err, "out of memory");
        goto done;
    }
    if (write_all(f, h.p, h.len, tmp, err)) goto done;
    pos = h.len;
    if (pad_to(f, &pos, w->alignment, tmp, err)) goto done;

    if (max_fill) {
        scratch = malloc(max_fill);
        if (!scratch) {
            owl_errorf(err, "out of memory for a %zu-byte tensor", max_fill);
            goto done;
        }
    }
    uint64_t data_start = pos;
    for (size_t i = 0; i < w->n_t; i++) {
        const owl_gguf_tensor *t = &w->t[i].info;
        if (pad_to(f, &pos, w->alignment, tmp, err)) goto done;
        (void)data_start;
        const void *data = t->data;
        if (!data) {
            if (fill(ctx, i, t, scratch, err)) goto done;
            data = scratch;
        }
        if (write_all(f, data, t->nbytes, tmp, err)) goto done;
        pos += t->nbytes;
    }
    if (fflush(f) != 0) {
        owl_errorf(err, "%s: write failed: %s", tmp, strerror(errno));
        goto done;
    }
    rc = 0;
done:
    free(h.p);
    free(scratch);
    if (fclose(f) != 0 && rc == 0) {
        rc = owl_errorf(err, "%s: close failed: %s", tmp, strerror(errno));
    }
    if (rc == 0 && rename(tmp, path) != 0) {
        rc = owl_errorf(err, "%s: %s", path, strerror(errno));
    }
    if (rc != 0) unlink(tmp);
    free(tmp);
    return rc;
}
