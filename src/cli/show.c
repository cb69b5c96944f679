/* `owl show FILE [--json] [--tensors]`: what a GGUF file holds — architecture, size, shapes,
 * RoPE, vocabulary, chat template, tensor types — read from its metadata alone. */
#include "cli/commands.h"
#include "cli/store_cli.h"
#include "owl/gguf.h"
#include "owl/quantize.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: owl show FILE|NAME[:TAG] [--json] [--tensors] [--modelfile]\n"
    "\n"
    "Prints what a GGUF model file holds: architecture, parameter count, file type and the mix of\n"
    "tensor types, context length, embedding size, layers, heads, RoPE settings, vocabulary and\n"
    "special tokens, chat template, name and licence. Works on vocabulary-only files too.\n"
    "A store name (see 'owl list') also shows its digest and its Modelfile defaults.\n"
    "\n"
    "  --json      one JSON object on stdout\n"
    "  --tensors   also list every tensor (name, type, shape, bytes)\n"
    "  --modelfile a store model's recipe: a Modelfile that recreates it\n";

/* Keys under "<arch>." */
static bool arch_float(const owl_gguf *g, const char *arch, const char *key, double *out) {
    char k[256];
    snprintf(k, sizeof k, "%s.%s", arch, key);
    return owl_gguf_get_float(g, k, out);
}

static json_t *jstr(owl_str s) { return json_stringn(s.ptr, s.len); }

static json_t *get_str_json(const owl_gguf *g, const char *key) {
    owl_str s;
    return owl_gguf_get_str(g, key, &s) ? jstr(s) : json_null();
}

/* Special tokens: id and text of each *_token_id key present. */
static json_t *special_tokens(const owl_gguf *g) {
    static const char *const kinds[] = {"bos", "eos", "eot", "eom", "unknown", "padding",
                                        "separator", "cls", "mask"};
    const owl_gguf_array *toks = owl_gguf_get_array(g, "tokenizer.ggml.tokens");
    json_t *o = json_object();
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        char key[128];
        snprintf(key, sizeof key, "tokenizer.ggml.%s_token_id", kinds[i]);
        int64_t id;
        /* writers store "none" as -1, or as 0xFFFFFFFF in a u32 */
        if (!owl_gguf_get_int(g, key, &id) || id < 0 || id == 0xFFFFFFFFLL) continue;
        json_t *t = json_object();
        json_object_set_new(t, "id", json_integer(id));
        if (toks && toks->type == OWL_GGUF_STRING && id >= 0 && (uint64_t)id < toks->n) {
            json_object_set_new(t, "text", jstr(toks->strs[id]));
        }
        json_object_set_new(o, kinds[i], t);
    }
    return o;
}

static json_t *build(const owl_gguf *g, bool with_tensors) {
    json_t *o = json_object();
    json_object_set_new(o, "file", json_string(g->path));
    json_object_set_new(o, "file_bytes", json_integer((json_int_t)g->size));
    json_object_set_new(o, "gguf_version", json_integer(g->version));
    char arch[64] = "";
    owl_gguf_get_cstr(g, "general.architecture", arch, sizeof arch);
    json_object_set_new(o, "architecture", arch[0] ? json_string(arch) : json_null());
    json_object_set_new(o, "name", get_str_json(g, "general.name"));
    json_object_set_new(o, "license", get_str_json(g, "general.license"));

    /* Parameters and the mix of tensor types. */
    uint64_t params = 0;
    size_t counts[OWL_TYPE_COUNT] = {0};
    uint64_t bytes[OWL_TYPE_COUNT] = {0};
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const owl_gguf_tensor *t = &g->tensors[i];
        params += t->n_elements;
        if (t->type < OWL_TYPE_COUNT) {
            counts[t->type]++;
            bytes[t->type] += t->nbytes;
        }
    }
    json_object_set_new(o, "parameters", json_integer((json_int_t)params));
    json_object_set_new(o, "tensor_count", json_integer((json_int_t)g->n_tensors));
    int64_t ft;
    if (owl_gguf_get_int(g, "general.file_type", &ft)) {
        json_object_set_new(o, "file_type", json_string(owl_ftype_name((int)ft)));
    } else {
        json_object_set_new(o, "file_type", json_null());
    }
    json_t *mix = json_array();
    for (int t = 0; t < OWL_TYPE_COUNT; t++) {
        if (!counts[t]) continue;
        json_t *e = json_object();
        json_object_set_new(e, "type", json_string(owl_type_name((uint32_t)t)));
        json_object_set_new(e, "tensors", json_integer((json_int_t)counts[t]));
        json_object_set_new(e, "bytes", json_integer((json_int_t)bytes[t]));
        json_array_append_new(mix, e);
    }
    json_object_set_new(o, "tensor_types", mix);

    /* Shapes. */
    static const struct { const char *json, *key; } ints[] = {
        {"context_length", "context_length"},
        {"embedding_length", "embedding_length"},
        {"block_count", "block_count"},
        {"feed_forward_length", "feed_forward_length"},
        {"head_count", "attention.head_count"},
        {"head_count_kv", "attention.head_count_kv"},
        {"key_length", "attention.key_length"},
        {"value_length", "attention.value_length"},
        {"vocab_size", "vocab_size"},
    };
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        int64_t v;
        if (arch[0] && owl_gguf_get_arch_int(g, arch, ints[i].key, &v)) {
            json_object_set_new(o, ints[i].json, json_integer(v));
        }
    }
    int64_t ne, nh;
    if (!json_object_get(o, "key_length") && arch[0] && owl_gguf_get_arch_int(g, arch, "embedding_length", &ne) &&
        owl_gguf_get_arch_int(g, arch, "attention.head_count", &nh) && nh > 0) {
        json_object_set_new(o, "key_length", json_integer(ne / nh));
    }
    double eps;
    if (arch[0] && arch_float(g, arch, "attention.layer_norm_rms_epsilon", &eps)) {
        json_object_set_new(o, "rms_norm_eps", json_real(eps));
    }
    json_t *rope = json_object();
    double f;
    int64_t v;
    if (arch[0] && arch_float(g, arch, "rope.freq_base", &f)) {
        json_object_set_new(rope, "freq_base", json_real(f));
    }
    if (arch[0] && owl_gguf_get_arch_int(g, arch, "rope.dimension_count", &v)) {
        json_object_set_new(rope, "dimension_count", json_integer(v));
    }
    char k[256];
    snprintf(k, sizeof k, "%s.rope.scaling.type", arch);
    owl_str st;
    if (owl_gguf_get_str(g, k, &st)) json_object_set_new(rope, "scaling", jstr(st));
    if (arch[0] && arch_float(g, arch, "rope.scaling.factor", &f)) {
        json_object_set_new(rope, "scaling_factor", json_real(f));
    }
    if (arch[0] && owl_gguf_get_arch_int(g, arch, "rope.scaling.original_context_length", &v)) {
        json_object_set_new(rope, "original_context_length", json_integer(v));
    }
    if (owl_gguf_find_tensor(g, "rope_freqs.weight")) {
        json_object_set_new(rope, "frequency_factors", json_true());
    }
    json_object_set_new(o, "rope", rope);

    /* Vocabulary. */
    json_t *voc = json_object();
    json_object_set_new(voc, "model", get_str_json(g, "tokenizer.ggml.model"));
    json_object_set_new(voc, "pre", get_str_json(g, "tokenizer.ggml.pre"));
    const owl_gguf_array *toks = owl_gguf_get_array(g, "tokenizer.ggml.tokens");
    json_object_set_new(voc, "size", toks ? json_integer((json_int_t)toks->n) : json_null());
    const owl_gguf_array *merges = owl_gguf_get_array(g, "tokenizer.ggml.merges");
    if (merges) json_object_set_new(voc, "merges", json_integer((json_int_t)merges->n));
    bool b;
    if (owl_gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &b)) {
        json_object_set_new(voc, "add_bos", json_boolean(b));
    }
    if (owl_gguf_get_bool(g, "tokenizer.ggml.add_eos_token", &b)) {
        json_object_set_new(voc, "add_eos", json_boolean(b));
    }
    json_object_set_new(voc, "special", special_tokens(g));
    json_object_set_new(o, "vocabulary", voc);

    owl_str tmpl;
    if (owl_gguf_get_str(g, "tokenizer.chat_template", &tmpl)) {
        json_object_set_new(o, "chat_template_bytes", json_integer((json_int_t)tmpl.len));
    } else {
        json_object_set_new(o, "chat_template_bytes", json_null());
    }

    if (with_tensors) {
        json_t *ts = json_array();
        for (uint64_t i = 0; i < g->n_tensors; i++) {
            const owl_gguf_tensor *t = &g->tensors[i];
            json_t *e = json_object();
            json_object_set_new(e, "name", json_string(t->name));
            json_object_set_new(e, "type", json_string(owl_type_name(t->type)));
            json_t *shape = json_array();
            for (uint32_t d = 0; d < t->n_dims; d++) json_array_append_new(shape, json_integer(t->ne[d]));
            json_object_set_new(e, "shape", shape);
            json_object_set_new(e, "bytes", json_integer((json_int_t)t->nbytes));
            json_array_append_new(ts, e);
        }
        json_object_set_new(o, "tensors", ts);
    }
    return o;
}

/* Prints a token's text with control characters escaped, so that one token is one line. */
static void print_token(const char *s) {
    putchar('\'');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '\n') fputs("\\n", stdout);
        else if (*p < 0x20) printf("\\x%02x", *p);
        else putchar(*p);
    }
    putchar('\'');
}

static void print_human(json_t *o) {
    char a[64], b[64];
    const char *arch = json_string_value(json_object_get(o, "architecture"));
    cli_fmt_bytes(a, sizeof a, (double)json_integer_value(json_object_get(o, "file_bytes")));
    printf("%-14s %s (%s, GGUF v%lld)\n", "file", json_string_value(json_object_get(o, "file")), a,
           (long long)json_integer_value(json_object_get(o, "gguf_version")));
    printf("%-14s %s\n", "architecture", arch ? arch : "(none)");
    const char *s;
    if ((s = json_string_value(json_object_get(o, "name")))) printf("%-14s %s\n", "name", s);
    if ((s = json_string_value(json_object_get(o, "license")))) printf("%-14s %s\n", "license", s);
    json_int_t params = json_integer_value(json_object_get(o, "parameters"));
    cli_fmt_count(a, sizeof a, (double)params);
    printf("%-14s %s (%lld tensors)\n", "parameters", a,
           (long long)json_integer_value(json_object_get(o, "tensor_count")));
    if ((s = json_string_value(json_object_get(o, "file_type")))) printf("%-14s %s\n", "file type", s);
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(o, "tensor_types"), i, e) {
        cli_fmt_bytes(b, sizeof b, (double)json_integer_value(json_object_get(e, "bytes")));
        printf("%-14s %-6s %4lld tensors, %s\n", i == 0 ? "tensor types" : "",
               json_string_value(json_object_get(e, "type")),
               (long long)json_integer_value(json_object_get(e, "tensors")), b);
    }
    static const struct { const char *key, *label; } shape[] = {
        {"context_length", "context"},     {"embedding_length", "embedding"},
        {"block_count", "layers"},          {"head_count", "heads"},
        {"head_count_kv", "kv heads"},      {"key_length", "head dim"},
        {"feed_forward_length", "feed forward"},
    };
    for (i = 0; i < sizeof shape / sizeof shape[0]; i++) {
        json_t *v = json_object_get(o, shape[i].key);
        if (v) printf("%-14s %lld\n", shape[i].label, (long long)json_integer_value(v));
    }
    json_t *v = json_object_get(o, "rms_norm_eps");
    if (v) printf("%-14s %g\n", "norm eps", json_real_value(v));
    json_t *rope = json_object_get(o, "rope");
    if (json_object_size(rope)) {
        char line[256] = "";
        size_t n = 0;
#define ROPE_ADD(...) (n += (size_t)snprintf(line + n, n < sizeof line ? sizeof line - n : 0, __VA_ARGS__))
        if ((v = json_object_get(rope, "freq_base"))) ROPE_ADD("base %g", json_real_value(v));
        if ((v = json_object_get(rope, "dimension_count")))
            ROPE_ADD("%s%lld dims", n ? ", " : "", (long long)json_integer_value(v));
        if ((v = json_object_get(rope, "scaling")))
            ROPE_ADD("%sscaling %s", n ? ", " : "", json_string_value(v));
        if ((v = json_object_get(rope, "scaling_factor"))) ROPE_ADD(" x%g", json_real_value(v));
        if ((v = json_object_get(rope, "original_context_length")))
            ROPE_ADD(" (from %lld)", (long long)json_integer_value(v));
        if (json_object_get(rope, "frequency_factors"))
            ROPE_ADD("%sllama3 frequency factors", n ? ", " : "");
#undef ROPE_ADD
        printf("%-14s %s\n", "rope", line);
    }
    json_t *voc = json_object_get(o, "vocabulary");
    const char *model = json_string_value(json_object_get(voc, "model"));
    if (model) {
        const char *kind = !strcmp(model, "llama") ? "SentencePiece BPE"
                         : !strcmp(model, "gpt2") ? "byte-level BPE"
                         : !strcmp(model, "bert") ? "WordPiece" : model;
        printf("%-14s %s, %lld tokens", "vocabulary", kind,
               (long long)json_integer_value(json_object_get(voc, "size")));
        if ((s = json_string_value(json_object_get(voc, "pre")))) printf(", pre-tokenizer %s", s);
        if ((v = json_object_get(voc, "merges"))) printf(", %lld merges", (long long)json_integer_value(v));
        printf("\n");
        const char *key;
        json_t *t;
        json_object_foreach(json_object_get(voc, "special"), key, t) {
            printf("%-14s %-9s %lld ", "", key, (long long)json_integer_value(json_object_get(t, "id")));
            if ((s = json_string_value(json_object_get(t, "text")))) print_token(s);
            printf("\n");
        }
        if ((v = json_object_get(voc, "add_bos"))) printf("%-14s add bos: %s\n", "", json_is_true(v) ? "yes" : "no");
    }
    v = json_object_get(o, "chat_template_bytes");
    if (json_is_integer(v)) printf("%-14s present (%lld bytes)\n", "chat template", (long long)json_integer_value(v));
    else printf("%-14s none\n", "chat template");
    json_t *ts = json_object_get(o, "tensors");
    if (ts) {
        printf("\n%-40s %-8s %-24s %s\n", "tensor", "type", "shape", "bytes");
        json_array_foreach(ts, i, e) {
            char shp[64] = "";
            size_t j;
            json_t *d;
            json_array_foreach(json_object_get(e, "shape"), j, d) {
                size_t n = strlen(shp);
                snprintf(shp + n, sizeof shp - n, "%s%lld", j ? " x " : "", (long long)json_integer_value(d));
            }
            printf("%-40s %-8s %-24s %lld\n", json_string_value(json_object_get(e, "name")),
                   json_string_value(json_object_get(e, "type")), shp,
                   (long long)json_integer_value(json_object_get(e, "bytes")));
        }
    }
}

/* What the store adds for a model name: its digest and the Modelfile defaults. */
static json_t *store_json(const owl_manifest *m) {
    char name[OWL_NAME_MAX + OWL_TAG_MAX + 2];
    owl_model_name_format(&m->name, name, sizeof name);
    json_t *o = json_object();
    json_object_set_new(o, "name", json_string(name));
    json_object_set_new(o, "digest", json_string(m->digest));
    json_object_set_new(o, "source", m->source ? json_string(m->source) : json_null());
    json_object_set_new(o, "system", m->system ? json_string(m->system) : json_null());
    json_object_set_new(o, "template", m->template_src ? json_string(m->template_src) : json_null());
    json_object_set(o, "parameters", m->parameters);
    return o;
}

static void print_store(const json_t *st) {
    const char *v;
    printf("\n%-14s %s\n", "store name", json_string_value(json_object_get(st, "name")));
    printf("%-14s %s\n", "digest", json_string_value(json_object_get(st, "digest")));
    if ((v = json_string_value(json_object_get(st, "source")))) printf("%-14s %s\n", "source", v);
    if ((v = json_string_value(json_object_get(st, "system")))) printf("%-14s %s\n", "system", v);
    if ((v = json_string_value(json_object_get(st, "template")))) {
        printf("%-14s override (%zu bytes)\n", "template", strlen(v));
    }
    const char *key;
    json_t *p;
    json_object_foreach(json_object_get(st, "parameters"), key, p) {
        char *t = json_dumps(p, JSON_ENCODE_ANY | JSON_COMPACT | JSON_REAL_PRECISION(9));
        printf("%-14s %s %s\n", "parameter", key, t ? t : "");
        free(t);
    }
}

static int run(int argc, char **argv) {
    cli_args a;
    cli_args_init(&a, argc, argv);
    const char *file = NULL, *arg;
    bool as_json = false, tensors = false, modelfile = false, flag;
    while ((arg = cli_args_next(&a, &flag))) {
        if (!flag) {
            if (file) return cli_error("show: unexpected argument '%s'", arg);
            file = arg;
        } else if (cli_flag_is(arg, "--json")) {
            as_json = true;
        } else if (cli_flag_is(arg, "--tensors")) {
            tensors = true;
        } else if (cli_flag_is(arg, "--modelfile")) {
            modelfile = true;
        } else {
            return cli_error("show: unknown option %s (see 'owl help show')", arg);
        }
    }
    if (!file) return cli_error("show: missing FILE (see 'owl help show')");
    owl_error err = {{0}};
    owl_resolved r;
    if (cli_resolve_model(file, &r) < 0) return 1;
    if (modelfile) {
        if (!r.from_store) {
            owl_resolved_free(&r);
            return cli_error("show: --modelfile needs a store name, not a file");
        }
        char *mf = owl_manifest_modelfile(&r.m, r.path);
        if (mf) fputs(mf, stdout);
        free(mf);
        owl_resolved_free(&r);
        return mf ? 0 : cli_error("show: out of memory");
    }
    owl_gguf *g = owl_gguf_open(r.path, &err);
    if (!g) {
        owl_resolved_free(&r);
        return cli_error("%s", err.msg);
    }
    json_t *o = build(g, tensors);
    if (r.from_store) json_object_set_new(o, "store", store_json(&r.m));
    if (as_json) {
        char *s = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(9));
        if (s) puts(s);
        free(s);
    } else {
        print_human(o);
        if (r.from_store) print_store(json_object_get(o, "store"));
    }
    json_decref(o);
    owl_gguf_close(g);
    owl_resolved_free(&r);
    return 0;
}

const cli_command cmd_show = {"show", run, "describe a GGUF model file or a store model", usage};
