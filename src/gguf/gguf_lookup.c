/* Typed lookups of metadata keys and tensors in an opened GGUF file. Numeric getters convert
 * between widths because writers disagree on them (a context length may be u32 or u64). */
#include "gguf/gguf_internal.h"

#include <stdio.h>
#include <string.h>

int64_t owl_gguf_find_index(const owl_gguf *g, const char *key) {
    for (uint64_t i = 0; i < g->n_kv; i++) {
        if (strcmp(g->kv[i].key, key) == 0) return (int64_t)i;
    }
    return -1;
}

const owl_gguf_kv *owl_gguf_find(const owl_gguf *g, const char *key) {
    int64_t i = owl_gguf_find_index(g, key);
    return i < 0 ? NULL : &g->kv[i];
}

static bool is_unsigned(owl_gguf_type t) {
    return t == OWL_GGUF_UINT8 || t == OWL_GGUF_UINT16 || t == OWL_GGUF_UINT32 ||
           t == OWL_GGUF_UINT64 || t == OWL_GGUF_BOOL;
}

static bool is_signed(owl_gguf_type t) {
    return t == OWL_GGUF_INT8 || t == OWL_GGUF_INT16 || t == OWL_GGUF_INT32 || t == OWL_GGUF_INT64;
}

static bool value_int(const owl_gguf_value *v, int64_t *out) {
    if (is_unsigned(v->type)) {
        if (v->u64 > (uint64_t)INT64_MAX) return false;
        *out = (int64_t)v->u64;
        return true;
    }
    if (is_signed(v->type)) {
        *out = v->i64;
        return true;
    }
    return false;
}

bool owl_gguf_get_int(const owl_gguf *g, const char *key, int64_t *out) {
    const owl_gguf_kv *kv = owl_gguf_find(g, key);
    return kv && kv->value.type != OWL_GGUF_BOOL && value_int(&kv->value, out);
}

bool owl_gguf_get_float(const owl_gguf *g, const char *key, double *out) {
    const owl_gguf_kv *kv = owl_gguf_find(g, key);
    if (!kv) return false;
    if (kv->value.type == OWL_GGUF_FLOAT32 || kv->value.type == OWL_GGUF_FLOAT64) {
        *out = kv->value.f64;
        return true;
    }
    int64_t i;
    if (kv->value.type != OWL_GGUF_BOOL && value_int(&kv->value, &i)) {
        *out = (double)i;
        return true;
    }
    return false;
}

bool owl_gguf_get_bool(const owl_gguf *g, const char *key, bool *out) {
    const owl_gguf_kv *kv = owl_gguf_find(g, key);
    if (!kv || kv->value.type != OWL_GGUF_BOOL) return false;
    *out = kv->value.u64 != 0;
    return true;
}

bool owl_gguf_get_str(const owl_gguf *g, const char *key, owl_str *out) {
    const owl_gguf_kv *kv = owl_gguf_find(g, key);
    if (!kv || kv->value.type != OWL_GGUF_STRING) return false;
    *out = kv->value.str;
    return true;
}

bool owl_gguf_get_cstr(const owl_gguf *g, const char *key, char *buf, size_t size) {
    owl_str v;
    if (!owl_gguf_get_str(g, key, &v) || v.len >= size) return false;
    memcpy(buf, v.ptr, v.len);
    buf[v.len] = '\0';
    return true;
}

bool owl_gguf_get_arch_int(const owl_gguf *g, const char *arch, const char *key, int64_t *out) {
    char k[256];
    if (snprintf(k, sizeof k, "%s.%s", arch, key) >= (int)sizeof k) return false;
    if (owl_gguf_get_int(g, k, out)) return true;
    const owl_gguf_array *a = owl_gguf_get_array(g, k);
    return a && a->n > 0 && owl_gguf_array_int(a, 0, out);
}

const owl_gguf_array *owl_gguf_get_array(const owl_gguf *g, const char *key) {
    const owl_gguf_kv *kv = owl_gguf_find(g, key);
    return kv && kv->value.type == OWL_GGUF_ARRAY ? &kv->value.arr : NULL;
}

static bool array_elem(const owl_gguf_array *a, uint64_t i, owl_gguf_value *v) {
    if (i >= a->n || !a->raw) return false;
    size_t sz = gguf_scalar_size(a->type);
    if (sz == 0) return false;
    gguf_decode_scalar(a->type, a->raw + i * sz, v);
    return true;
}

bool owl_gguf_array_int(const owl_gguf_array *a, uint64_t i, int64_t *out) {
    owl_gguf_value v;
    return array_elem(a, i, &v) && value_int(&v, out);
}

bool owl_gguf_array_float(const owl_gguf_array *a, uint64_t i, double *out) {
    owl_gguf_value v;
    if (!array_elem(a, i, &v)) return false;
    if (v.type == OWL_GGUF_FLOAT32 || v.type == OWL_GGUF_FLOAT64) {
        *out = v.f64;
        return true;
    }
    int64_t x;
    if (!value_int(&v, &x)) return false;
    *out = (double)x;
    return true;
}

const owl_gguf_tensor *owl_gguf_find_tensor(const owl_gguf *g, const char *name) {
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        if (strcmp(g->tensors[i].name, name) == 0) return &g->tensors[i];
    }
    return NULL;
}
