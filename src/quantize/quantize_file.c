/* `owl quantize`: rewrite a GGUF file with its tensors converted per a mix. Metadata is copied
 * key by key (general.file_type updated); tensors are converted one at a time, each spread over
 * the thread pool, so peak memory is one tensor in float32 plus its quantized copy. */
#include "owl/quantize.h"
#include "tensor/pool.h"

#include <stdlib.h>
#include <string.h>

typedef struct qctx {
    const owl_gguf *in;
    owl_type *types; /* destination type of each tensor */
    owl_pool *pool;
    owl_quantize_report *report;
    const owl_quantize_opts *opts;
    float *f32;      /* scratch: one tensor in float32 */
    size_t f32_cap;
} qctx;

static int fill(void *ctx, size_t index, const owl_gguf_tensor *t, void *buf, owl_error *err) {
    qctx *q = ctx;
    const owl_gguf_tensor *src = &q->in->tensors[index];
    owl_type from = (owl_type)src->type, to = q->types[index];
    if (q->opts && q->opts->progress) {
        owl_quantize_progress p = {index, (size_t)q->in->n_tensors, src->name, from, to};
        q->opts->progress(q->opts->progress_ctx, &p);
    }
    if (from == to) {
        memcpy(buf, src->data, src->nbytes);
        if (q->report) q->report->tensors_by_type[to]++;
        return 0;
    }
    const owl_type_info *fi = owl_type_get(from);
    if (!fi || !fi->supported) {
        return owl_errorf(err, "unsupported tensor type %s in %s", owl_type_name(from), src->name);
    }
    size_t need = (size_t)src->n_elements;
    if (need > q->f32_cap) {
        free(q->f32);
        q->f32 = malloc(need * sizeof(float));
        q->f32_cap = q->f32 ? need : 0;
        if (!q->f32) return owl_errorf(err, "out of memory for tensor %s", src->name);
    }
    int64_t n_per_row = src->ne[0], nrows = (int64_t)(src->n_elements / (uint64_t)src->ne[0]);
    owl_dequantize_rows(q->pool, from, src->data, q->f32, nrows, n_per_row);
    owl_quant_error *e = q->report ? &q->report->by_type[to] : NULL;
    owl_quantize_rows(q->pool, to, q->f32, buf, nrows, n_per_row, e);
    if (q->report) q->report->tensors_by_type[to]++;
    (void)t;
    return 0;
}

int owl_quantize_file(const char *in_path, const char *out_path, int ftype,
                      const owl_quantize_opts *opts, owl_quantize_report *report, owl_error *err) {
    if (owl_ftype_from_name(owl_ftype_name(ftype)) != ftype) {
        return owl_errorf(err, "cannot quantize to file type %d (%s)", ftype, owl_ftype_name(ftype));
    }
    owl_gguf *in = owl_gguf_open(in_path, err);
    if (!in) return -1;
    int rc = -1;
    qctx q = {.in = in, .report = report, .opts = opts};
    owl_gguf_writer *w = owl_gguf_writer_new();
    q.types = calloc(in->n_tensors ? in->n_tensors : 1, sizeof *q.types);
    if (!w || !q.types) {
        owl_errorf(err, "out of memory");
        goto done;
    }
    q.pool = owl_pool_new(opts ? opts->n_threads : 0, err);
    if (!q.pool) goto done;
    if (report) memset(report, 0, sizeof *report);

    for (uint64_t i = 0; i < in->n_kv; i++) {
        if (owl_gguf_set_value(w, in->kv[i].key, &in->kv[i].value)) {
            owl_errorf(err, "out of memory");
            goto done;
        }
    }
    owl_gguf_set_u32(w, "general.file_type", (uint32_t)ftype);
    owl_gguf_set_u32(w, "general.quantization_version", 2);
    if (in->alignment != 32) owl_gguf_set_alignment(w, (uint32_t)in->alignment);

    owl_quant_plan plan;
    owl_quant_plan_init(&plan, ftype, in);
    for (uint64_t i = 0; i < in->n_tensors; i++) {
        const owl_gguf_tensor *t = &in->tensors[i];
        owl_type to = owl_quant_plan_next(&plan, t->name, t->n_dims, t->ne);
        /* Integer tensors (positions, indices) are copied as they are. */
        const owl_type_info *ti = owl_type_get(t->type);
        if (to == OWL_TYPE_F32 && ti && ti->block_size == 1 && !ti->supported) {
            to = (owl_type)t->type;
        }
        q.types[i] = to;
        if (report) {
            report->bytes_in += t->nbytes;
            report->bytes_out += owl_row_size(to, t->ne[0]) * (t->n_elements / (uint64_t)t->ne[0]);
        }
        if (owl_gguf_add_tensor(w, t->name, to, t->n_dims, t->ne, NULL, err) < 0) goto done;
    }
    rc = owl_gguf_write(w, out_path, fill, &q, err);
done:
    free(q.f32);
    free(q.types);
    owl_pool_destroy(q.pool);
    owl_gguf_writer_destroy(w);
    owl_gguf_close(in);
    return rc;
}
