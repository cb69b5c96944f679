/* Reading a tokenizer from GGUF metadata (the tokenizer.ggml.* keys and general.name). */
#include "tokenizer/tok_internal.h"

static int64_t gguf_id(const owl_gguf *g, const char *key) {
    int64_t v;
    return owl_gguf_get_int(g, key, &v) ? v : OWL_TOK_DEFAULT;
}

static int gguf_flag(const owl_gguf *g, const char *key) {
    bool b;
    return owl_gguf_get_bool(g, key, &b) ? (int)b : OWL_TOK_DEFAULT;
}

owl_tokenizer *owl_tokenizer_from_gguf(const owl_gguf *g, owl_error *err) {
    owl_tokenizer_desc d;
    owl_tokenizer_desc_init(&d);
    owl_str model, pre, name;
    if (!owl_gguf_get_str(g, "tokenizer.ggml.model", &model)) {
        owl_errorf(err, "no tokenizer in the file (tokenizer.ggml.model is missing)");
        return NULL;
    }
    const owl_gguf_array *toks = owl_gguf_get_array(g, "tokenizer.ggml.tokens");
    if (!toks || toks->type != OWL_GGUF_STRING) {
        owl_errorf(err, "tokenizer.ggml.tokens is missing or not an array of strings");
        return NULL;
    }
    const owl_gguf_array *scores = owl_gguf_get_array(g, "tokenizer.ggml.scores");
    const owl_gguf_array *types = owl_gguf_get_array(g, "tokenizer.ggml.token_type");
    const owl_gguf_array *merges = owl_gguf_get_array(g, "tokenizer.ggml.merges");
    if (scores && (scores->type != OWL_GGUF_FLOAT32 || scores->n != toks->n)) {
        owl_errorf(err, "tokenizer.ggml.scores: expected %llu float32 values",
                   (unsigned long long)toks->n);
        return NULL;
    }
    if (types && (types->type != OWL_GGUF_INT32 || types->n != toks->n)) {
        owl_errorf(err, "tokenizer.ggml.token_type: expected %llu int32 values",
                   (unsigned long long)toks->n);
        return NULL;
    }
    if (merges && merges->type != OWL_GGUF_STRING) {
        owl_errorf(err, "tokenizer.ggml.merges is not an array of strings");
        return NULL;
    }
    char *model_s = owl_str_dup(model);
    char *pre_s = owl_gguf_get_str(g, "tokenizer.ggml.pre", &pre) ? owl_str_dup(pre) : NULL;
    char *name_s = owl_gguf_get_str(g, "general.name", &name) ? owl_str_dup(name) : NULL;
    float *sc = scores ? malloc(scores->n * sizeof *sc + 1) : NULL;
    int32_t *ty = types ? malloc(types->n * sizeof *ty + 1) : NULL;
    owl_tokenizer *t = NULL;
    if (!model_s || (scores && !sc) || (types && !ty)) {
        owl_errorf(err, "out of memory");
        goto done;
    }
    if (strcmp(model_s, "gpt2") == 0 && !merges) {
        owl_errorf(err, "tokenizer.ggml.merges is missing (required by a gpt2 tokenizer)");
        goto done;
    }
    if (sc) memcpy(sc, scores->raw, scores->n * sizeof *sc); /* raw may be unaligned */
    if (ty) memcpy(ty, types->raw, types->n * sizeof *ty);
    d.model = model_s;
    d.pre = pre_s;
    d.name = name_s;
    d.n_tokens = (size_t)toks->n;
    d.tokens = toks->strs;
    d.scores = sc;
    d.types = ty;
    d.n_merges = merges ? (size_t)merges->n : 0;
    d.merges = merges ? merges->strs : NULL;
    d.bos = gguf_id(g, "tokenizer.ggml.bos_token_id");
    d.eos = gguf_id(g, "tokenizer.ggml.eos_token_id");
    d.eot = gguf_id(g, "tokenizer.ggml.eot_token_id");
    d.eom = gguf_id(g, "tokenizer.ggml.eom_token_id");
    d.unk = gguf_id(g, "tokenizer.ggml.unknown_token_id");
    d.sep = gguf_id(g, "tokenizer.ggml.seperator_token_id");
    d.pad = gguf_id(g, "tokenizer.ggml.padding_token_id");
    d.mask = gguf_id(g, "tokenizer.ggml.mask_token_id");
    d.cls = gguf_id(g, "tokenizer.ggml.cls_token_id");
    d.add_bos = gguf_flag(g, "tokenizer.ggml.add_bos_token");
    d.add_eos = gguf_flag(g, "tokenizer.ggml.add_eos_token");
    d.add_space_prefix = gguf_flag(g, "tokenizer.ggml.add_space_prefix");
    t = owl_tokenizer_new(&d, err);
done:
    free(model_s);
    free(pre_s);
    free(name_s);
    free(sc);
    free(ty);
    return t;
}

