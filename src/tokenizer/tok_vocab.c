/* Building a tokenizer: the vocabulary, its special tokens and flags, the merge table, and the
 * defaults each model family implies when the metadata is silent. */
#include "tokenizer/tok_internal.h"

#include <ctype.h>
#include <stdio.h>

void owl_tokenizer_desc_init(owl_tokenizer_desc *d) {
    memset(d, 0, sizeof *d);
    d->bos = d->eos = d->eot = d->eom = d->unk = d->sep = d->pad = d->mask = d->cls =
        OWL_TOK_DEFAULT;
    d->add_bos = d->add_eos = d->add_space_prefix = OWL_TOK_DEFAULT;
}

static uint16_t attr_of_type(int32_t type) {
    switch (type) {
    case OWL_TOKEN_NORMAL: return TOK_ATTR_NORMAL;
    case OWL_TOKEN_UNKNOWN: return TOK_ATTR_UNKNOWN;
    case OWL_TOKEN_CONTROL: return TOK_ATTR_CONTROL;
    case OWL_TOKEN_USER_DEFINED: return TOK_ATTR_USER_DEFINED;
    case OWL_TOKEN_UNUSED: return TOK_ATTR_UNUSED;
    case OWL_TOKEN_BYTE: return TOK_ATTR_BYTE;
    default: return TOK_ATTR_UNDEFINED;
    }
}

/* Pre-tokenizers whose models do not clean up spaces when decoding (the rest of byte-level BPE
 * does, following clean_up_tokenization_spaces). */
static bool pre_keeps_spaces(const char *pre) {
    static const char *const keep[] = {"deepseek-llm", "deepseek-coder", "deepseek-v3", "command-r",
                                       "qwen2", "poro-chat", "viking", "tekken", "smollm",
                                       "chameleon"};
    for (size_t i = 0; i < sizeof keep / sizeof keep[0]; i++) {
        if (strcmp(pre, keep[i]) == 0) return true;
    }
    return false;
}

static bool pre_is_llama3(const char *pre) {
    return strcmp(pre, "llama3") == 0 || strcmp(pre, "llama-v3") == 0 ||
           strcmp(pre, "llama-bpe") == 0 || strcmp(pre, "falcon3") == 0;
}

/* An id from the description: in range replaces the default, OWL_TOKEN_NONE clears it, anything
 * else (OWL_TOK_DEFAULT, out of range such as a stored 0xFFFFFFFF) keeps the default. */
static void set_id(int32_t *id, int64_t v, size_t n) {
    if (v == OWL_TOKEN_NONE) *id = OWL_TOKEN_NONE;
    else if (v >= 0 && (uint64_t)v < n) *id = (int32_t)v;
}

static int32_t find_text(const owl_tokenizer *t, const char *s) {
    return tok_strmap_get(&t->vocab, s, strlen(s));
}

/* The first (lowest id) token whose text is one of names, or -1. */
static int32_t find_any(const owl_tokenizer *t, const char *const *names, size_t n) {
    int32_t best = -1;
    for (size_t i = 0; i < n; i++) {
        int32_t id = find_text(t, names[i]);
        if (id >= 0 && (best < 0 || id < best)) best = id;
    }
    return best;
}

static void make_control(owl_tokenizer *t, int32_t id) {
    if (id >= 0 && !(t->attr[id] & TOK_ATTR_CONTROL)) t->attr[id] = TOK_ATTR_CONTROL;
}

static int add_eog(owl_tokenizer *t, int32_t id) {
    if (id < 0) return 0;
    for (size_t i = 0; i < t->n_eog; i++) {
        if (t->eog[i] == id) return 0;
    }
    int32_t *p = realloc(t->eog, (t->n_eog + 1) * sizeof *p);
    if (!p) return -1;
    t->eog = p;
    t->eog[t->n_eog++] = id;
    return 0;
}

/* Tokens that mark turns and fill-in-the-middle slots are control tokens even where a converter
 * stored them as normal or user-defined: they must never be matched in plain text. */
static int detect_specials(owl_tokenizer *t) {
    static const char *const eot_names[] = {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>",
                                            "<|endoftext|>", "<EOT>",
                                            "<\357\275\234end\342\226\201of\342\226\201sentence\357\275\234>"};
    static const char *const eom_names[] = {"<|eom_id|>"};
    static const char *const fim_pre[] = {"<|fim_prefix|>", "<fim-prefix>",
                                          "<\357\275\234fim\342\226\201begin\357\275\234>",
                                          "<PRE>"};
    static const char *const fim_suf[] = {"<|fim_suffix|>", "<fim-suffix>",
                                          "<\357\275\234fim\342\226\201hole\357\275\234>",
                                          "<SUF>"};
    static const char *const fim_mid[] = {"<|fim_middle|>", "<fim-middle>",
                                          "<\357\275\234fim\342\226\201end\357\275\234>",
                                          "<MID>"};
    static const char *const fim_pad[] = {"<|fim_pad|>", "<fim-pad>", "<PAD>"};
    static const char *const fim_rep[] = {"<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>"};
    static const char *const fim_sep[] = {"<|file_sep|>"};
    static const char *const eog_names[] = {
        "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>",
        "<end_of_turn>", "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]",
        "<|end_of_text|>", "<end_of_utterance>"};
#define N(a) (sizeof a / sizeof a[0])
    if (t->eot < 0) {
        t->eot = find_any(t, eot_names, N(eot_names));
        make_control(t, t->eot);
    }
    if (t->eom < 0) {
        t->eom = find_any(t, eom_names, N(eom_names));
        make_control(t, t->eom);
    }
    int32_t pre = find_any(t, fim_pre, N(fim_pre)), suf = find_any(t, fim_suf, N(fim_suf));
    int32_t mid = find_any(t, fim_mid, N(fim_mid)), pad = find_any(t, fim_pad, N(fim_pad));
    int32_t rep = find_any(t, fim_rep, N(fim_rep)), sep = find_any(t, fim_sep, N(fim_sep));
    make_control(t, pre);
    make_control(t, suf);
    make_control(t, mid);
    make_control(t, pad);
    make_control(t, rep);
    make_control(t, sep);
    if (add_eog(t, pad) || add_eog(t, rep) || add_eog(t, sep)) return -1;
    for (size_t i = 0; i < N(eog_names); i++) {
        int32_t id = find_text(t, eog_names[i]);
        if (id >= 0) {
            make_control(t, id);
            if (add_eog(t, id)) return -1;
        }
    }
#undef N
    if (add_eog(t, t->eos) || add_eog(t, t->eot) || add_eog(t, t->eom)) return -1;
    return 0;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int build_specials(owl_tokenizer *t) {
    size_t n = 0;
    for (size_t i = 0; i < t->n_vocab; i++) {
        if (t->attr[i] & (TOK_ATTR_CONTROL | TOK_ATTR_USER_DEFINED | TOK_ATTR_UNKNOWN)) n++;
    }
    t->specials = malloc((n ? n : 1) * sizeof *t->specials);
    uint64_t *keys = malloc((n ? n : 1) * sizeof *keys);
    if (!t->specials || !keys) {
        free(keys);
        return -1;
    }
    /* longest text first, then by id: the key sorts both at once */
    for (size_t i = 0; i < t->n_vocab; i++) {
        if (t->attr[i] & (TOK_ATTR_CONTROL | TOK_ATTR_USER_DEFINED | TOK_ATTR_UNKNOWN)) {
            keys[t->n_specials++] = (uint64_t)(UINT32_MAX - t->text_len[i]) << 32 | (uint32_t)i;
        }
    }
    qsort(keys, t->n_specials, sizeof *keys, cmp_u64);
    for (size_t i = 0; i < t->n_specials; i++) t->specials[i] = (int32_t)(uint32_t)keys[i];
    free(keys);
    size_t bytes = 0;
    for (size_t i = 0; i < t->n_specials; i++) bytes += t->text_len[t->specials[i]];
    t->sp_end = malloc((t->n_specials ? t->n_specials : 1) * sizeof *t->sp_end);
    if (!t->sp_end || tok_pairmap_init(&t->sp_trie, bytes + 1) != 0) return -1;
    t->sp_nodes = 1; /* the root */
    for (int b = 0; b < 256; b++) t->sp_root[b] = -1;
    for (size_t i = 0; i < t->n_specials; i++) {
        const unsigned char *s = (const unsigned char *)t->text[t->specials[i]];
        uint32_t node = 0;
        for (uint32_t k = 0; k < t->text_len[t->specials[i]]; k++) {
            int32_t child;
            if (tok_pairmap_get(&t->sp_trie, node, s[k], &child) < 0) {
                child = (int32_t)t->sp_nodes++;
                if (tok_pairmap_put(&t->sp_trie, node, s[k], 0, child) != 0) return -1;
            }
            node = (uint32_t)child;
        }
        t->sp_end[i] = node;
        if (t->text_len[t->specials[i]]) {
            int32_t child;
            tok_pairmap_get(&t->sp_trie, 0, s[0], &child);
            t->sp_root[s[0]] = child;
        }
    }
    return 0;
}

/* Per-model token attributes that the metadata does not carry (matched by name, like the
 * reference): Phi-3 strips whitespace after its special tokens. */
static void name_attributes(owl_tokenizer *t, const char *name, const char *pre) {
    char low[256] = {0};
    if (name) {
        for (size_t i = 0; i + 1 < sizeof low && name[i]; i++) low[i] = (char)tolower((unsigned char)name[i]);
    }
    if (pre && (strstr(pre, "jina-v2-de") || strstr(pre, "jina-v2-es") || strstr(pre, "jina-v2-code"))) {
        int32_t id = find_text(t, "<mask>");
        if (id >= 0) t->attr[id] |= TOK_ATTR_LSTRIP;
    } else if (strstr(low, "phi-3") || strstr(low, "phi3")) {
        for (size_t i = 0; i < t->n_specials; i++) t->attr[t->specials[i]] |= TOK_ATTR_RSTRIP;
        int32_t id = find_text(t, "</s>");
        if (id >= 0) t->attr[id] |= TOK_ATTR_RSTRIP;
        static const char *const keep[] = {"<unk>", "<s>", "<|endoftext|>"};
        for (size_t i = 0; i < 3; i++) {
            id = find_text(t, keep[i]);
            if (id >= 0) t->attr[id] &= (uint16_t)~TOK_ATTR_RSTRIP;
        }
    }
}

/* ---- byte-level BPE: symbols and merges -------------------------------------------------------- */

/* A symbol is a vocabulary token (its id) or another string that merges produce (n_vocab + k). */
typedef struct interner {
    owl_tokenizer *t;
    tok_strmap extra;
    size_t cap;
} interner;

static int32_t intern_find(const interner *in, const char *s, size_t n) {
    int32_t id = tok_strmap_get(&in->t->vocab, s, n);
    if (id >= 0) return id;
    return tok_strmap_get(&in->extra, s, n);
}

static int32_t intern(interner *in, const char *s, size_t n) {
    int32_t id = intern_find(in, s, n);
    if (id >= 0) return id;
    owl_tokenizer *t = in->t;
    if (t->n_extra == in->cap) {
        size_t cap = in->cap ? in->cap * 2 : 256;
        char **tx = realloc(t->extra_text, cap * sizeof *tx);
        if (!tx) return -2;
        t->extra_text = tx;
        uint32_t *tl = realloc(t->extra_len, cap * sizeof *tl);
        if (!tl) return -2;
        t->extra_len = tl;
        in->cap = cap;
    }
    char *copy = malloc(n + 1);
    if (!copy) return -2;
    memcpy(copy, s, n);
    copy[n] = '\0';
    t->extra_text[t->n_extra] = copy;
    t->extra_len[t->n_extra] = (uint32_t)n;
    id = (int32_t)(t->n_vocab + t->n_extra);
    t->n_extra++;
    if (tok_strmap_put(&in->extra, copy, n, id) != 0) return -2;
    return id;
}

static int build_merges(owl_tokenizer *t, const owl_tokenizer_desc *d, owl_error *err) {
    interner in = {.t = t};
    if (tok_strmap_init(&in.extra, 1024) != 0 || tok_pairmap_init(&t->merges, d->n_merges) != 0) {
        tok_strmap_free(&in.extra);
        return owl_errorf(err, "out of memory");
    }
    char *buf = NULL;
    size_t bufcap = 0;
    int rc = 0;
    for (size_t i = 0; i < d->n_merges && rc == 0; i++) {
        owl_str m = d->merges[i];
        /* split at the first space after the first byte (a merge may begin with a space) */
        const char *sp = m.len > 1 ? memchr(m.ptr + 1, ' ', m.len - 1) : NULL;
        if (!sp) continue;
        size_t ln = (size_t)(sp - m.ptr), rn = m.len - ln - 1;
        if (ln + rn > bufcap) {
            bufcap = (ln + rn) * 2;
            char *nb = realloc(buf, bufcap);
            if (!nb) {
                rc = -1;
                break;
            }
            buf = nb;
        }
        memcpy(buf, m.ptr, ln);
        memcpy(buf + ln, sp + 1, rn);
        int32_t l = intern(&in, m.ptr, ln), r = intern(&in, sp + 1, rn), res = intern(&in, buf, ln + rn);
        if (l < -1 || r < -1 || res < -1 ||
            tok_pairmap_put(&t->merges, (uint32_t)l, (uint32_t)r, (int32_t)i, res) != 0) {
            rc = -1;
        }
    }
    free(buf);
    if (rc == 0) {
        for (int b = 0; b < 256; b++) {
            char u[4];
            size_t n = owl_utf8_encode(owl_bpe_byte_codepoint((uint8_t)b), u);
            t->byte_sym[b] = intern_find(&in, u, n);
        }
    }
    tok_strmap_free(&in.extra);
    if (rc != 0) return owl_errorf(err, "out of memory");
    return 0;
}

/* ---- construction ------------------------------------------------------------------------------ */

owl_tokenizer *owl_tokenizer_new(const owl_tokenizer_desc *d, owl_error *err) {
    if (!d->model) {
        owl_errorf(err, "tokenizer: no model (tokenizer.ggml.model)");
        return NULL;
    }
    owl_tok_kind kind;
    if (strcmp(d->model, "llama") == 0) kind = OWL_TOK_SPM;
    else if (strcmp(d->model, "gpt2") == 0) kind = OWL_TOK_BPE;
    else if (strcmp(d->model, "bert") == 0) kind = OWL_TOK_WPM;
    else {
        owl_errorf(err, "unsupported tokenizer model '%s' (tokenizer.ggml.model)", d->model);
        return NULL;
    }
    if (d->n_tokens == 0 || d->n_tokens > (size_t)INT32_MAX / 2 || !d->tokens) {
        owl_errorf(err, "tokenizer: bad vocabulary size %zu", d->n_tokens);
        return NULL;
    }
    if (d->n_merges && !d->merges) {
        owl_errorf(err, "tokenizer: %zu merges but no merge list", d->n_merges);
        return NULL;
    }
    const char *pre = d->pre && *d->pre ? d->pre : "default";
    if (kind == OWL_TOK_BPE && !tok_pre_known(pre)) {
        owl_errorf(err, "unknown pre-tokenizer '%s' (tokenizer.ggml.pre)", pre);
        return NULL;
    }

    owl_tokenizer *t = calloc(1, sizeof *t);
    if (!t) goto oom;
    t->kind = kind;
    for (uint32_t cp = 0; cp < 324; cp++) t->cp_byte[cp] = (int16_t)tok_cp_to_byte(cp);
    for (int b = 0; b < 256; b++) {
        char u[4];
        t->byte_utf8_len[b] = (uint8_t)owl_utf8_encode(owl_bpe_byte_codepoint((uint8_t)b), u);
        memcpy(t->byte_utf8[b], u, 2); /* the code points are below U+0800: two bytes at most */
    }
    t->n_vocab = d->n_tokens;
    t->pre_name = strdup(kind == OWL_TOK_BPE ? pre : d->pre && *d->pre ? d->pre : "default");
    t->text = calloc(t->n_vocab, sizeof *t->text);
    t->text_len = calloc(t->n_vocab, sizeof *t->text_len);
    t->score = calloc(t->n_vocab, sizeof *t->score);
    t->type = calloc(t->n_vocab, sizeof *t->type);
    t->attr = calloc(t->n_vocab, sizeof *t->attr);
    if (!t->pre_name || !t->text || !t->text_len || !t->score || !t->type || !t->attr) goto oom;
    if (tok_strmap_init(&t->vocab, t->n_vocab) != 0) goto oom;

    for (size_t i = 0; i < t->n_vocab; i++) {
        owl_str s = d->tokens[i];
        char tmp[32];
        if (s.len == 0) { /* an empty text could never be matched; give it a unique name */
            snprintf(tmp, sizeof tmp, "[EMPTY_%zu]", i);
            s.ptr = tmp;
            s.len = strlen(tmp);
        }
        t->text[i] = owl_str_dup(s);
        if (!t->text[i]) goto oom;
        t->text_len[i] = (uint32_t)s.len;
        if (s.len > t->max_token_len) t->max_token_len = s.len;
        t->score[i] = d->scores ? d->scores[i] : 0.0f;
        int32_t ty = d->types ? d->types[i] : OWL_TOKEN_NORMAL;
        t->type[i] = (uint8_t)(ty >= 0 && ty <= 6 ? ty : 0);
        t->attr[i] = d->types ? attr_of_type(ty) : TOK_ATTR_NORMAL;
        if (tok_strmap_put(&t->vocab, t->text[i], s.len, (int32_t)i) != 0) goto oom;
    }

    /* defaults of each family, then the metadata */
    t->eot = t->eom = t->sep = t->pad = t->mask = OWL_TOKEN_NONE;
    switch (kind) {
    case OWL_TOK_SPM:
        t->bos = 1, t->eos = 2, t->unk = 0;
        t->add_space_prefix = true, t->add_bos = true;
        break;
    case OWL_TOK_BPE:
        t->bos = 11, t->eos = 11, t->unk = OWL_TOKEN_NONE;
        t->clean_spaces = !pre_keeps_spaces(pre);
        if (pre_is_llama3(pre) || strcmp(pre, "tekken") == 0) t->ignore_merges = t->add_bos = true;
        if (strcmp(pre, "chatglm-bpe") == 0) t->bos = OWL_TOKEN_NONE;
        break;
    case OWL_TOK_WPM:
        t->bos = 101, t->eos = OWL_TOKEN_NONE, t->unk = 100, t->sep = 102, t->pad = 0, t->mask = 103;
        t->clean_spaces = true, t->add_bos = true;
        break;
    }
    /* defaults that do not exist in a small vocabulary are no tokens at all */
    int32_t *ids[] = {&t->bos, &t->eos, &t->unk, &t->sep, &t->pad, &t->mask};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        if (*ids[i] >= (int64_t)t->n_vocab) *ids[i] = OWL_TOKEN_NONE;
    }
    if (kind == OWL_TOK_WPM && d->bos == OWL_TOK_DEFAULT) set_id(&t->bos, d->cls, t->n_vocab);
    set_id(&t->bos, d->bos, t->n_vocab);
    set_id(&t->eos, d->eos, t->n_vocab);
    set_id(&t->eot, d->eot, t->n_vocab);
    set_id(&t->eom, d->eom, t->n_vocab);
    set_id(&t->unk, d->unk, t->n_vocab);
    set_id(&t->sep, d->sep, t->n_vocab);
    set_id(&t->pad, d->pad, t->n_vocab);
    set_id(&t->mask, d->mask, t->n_vocab);
    if (d->add_space_prefix != OWL_TOK_DEFAULT) t->add_space_prefix = d->add_space_prefix != 0;
    if (d->add_bos != OWL_TOK_DEFAULT) t->add_bos = d->add_bos != 0;
    if (d->add_eos != OWL_TOK_DEFAULT) t->add_eos = d->add_eos != 0;

    if (detect_specials(t) != 0 || build_specials(t) != 0) goto oom;
    name_attributes(t, d->name, d->pre);

    if (kind == OWL_TOK_SPM) {
        t->spm_word_cut = true;
        for (size_t i = 0; i < t->n_vocab && t->spm_word_cut; i++) {
            const char *x = t->text[i];
            for (uint32_t k = 1; k + 3 <= t->text_len[i]; k++) {
                if (memcmp(x + k, "\342\226\201", 3) != 0) continue;
                if (k < 3 || memcmp(x + k - 3, "\342\226\201", 3) != 0) {
                    t->spm_word_cut = false;
                    break;
                }
            }
        }
        for (int b = 0; b < 256; b++) {
            char hex[8];
            snprintf(hex, sizeof hex, "<0x%02X>", b);
            int32_t id = find_text(t, hex);
            if (id < 0) {
                char one = (char)b;
                id = tok_strmap_get(&t->vocab, &one, 1);
            }
            t->byte_token[b] = id >= 0 ? id : t->unk;
        }
    }
    if (kind == OWL_TOK_BPE) {
        if (build_merges(t, d, err) != 0) goto fail;
        t->pretok = tok_pretok_new(pre, err);
        if (!t->pretok) goto fail;
    }
    if (tok_build_pieces(t, err) != 0) goto fail;
    return t;
oom:
    owl_errorf(err, "out of memory building the tokenizer");
fail:
    owl_tokenizer_destroy(t);
    return NULL;
}

void owl_tokenizer_destroy(owl_tokenizer *t) {
    if (!t) return;
    for (size_t i = 0; t->text && i < t->n_vocab; i++) free(t->text[i]);
    for (size_t i = 0; t->piece && i < t->n_vocab; i++) free(t->piece[i]);
    for (size_t i = 0; i < t->n_extra; i++) free(t->extra_text[i]);
    free(t->text);
    free(t->text_len);
    free(t->score);
    free(t->type);
    free(t->attr);
    free(t->piece);
    free(t->piece_len);
    free(t->extra_text);
    free(t->extra_len);
    free(t->specials);
    free(t->sp_end);
    tok_pairmap_free(&t->sp_trie);
    free(t->eog);
    free(t->pre_name);
    tok_strmap_free(&t->vocab);
    tok_pairmap_free(&t->merges);
    tok_pretok_free(t->pretok);
    free(t);
}

/* ---- accessors ----------------------------------------------------------------------------------- */

owl_tok_kind owl_tokenizer_kind(const owl_tokenizer *t) { return t->kind; }
const char *owl_tokenizer_pre(const owl_tokenizer *t) { return t->pre_name; }
size_t owl_tokenizer_n_vocab(const owl_tokenizer *t) { return t->n_vocab; }
int32_t owl_tokenizer_bos(const owl_tokenizer *t) { return t->bos; }
int32_t owl_tokenizer_eos(const owl_tokenizer *t) { return t->eos; }
int32_t owl_tokenizer_eot(const owl_tokenizer *t) { return t->eot; }
int32_t owl_tokenizer_unk(const owl_tokenizer *t) { return t->unk; }
int32_t owl_tokenizer_sep(const owl_tokenizer *t) { return t->sep; }
int32_t owl_tokenizer_pad(const owl_tokenizer *t) { return t->pad; }
bool owl_tokenizer_add_bos(const owl_tokenizer *t) { return t->add_bos; }
bool owl_tokenizer_add_eos(const owl_tokenizer *t) { return t->add_eos; }

bool owl_tokenizer_is_eog(const owl_tokenizer *t, int32_t id) {
    for (size_t i = 0; i < t->n_eog; i++) {
        if (t->eog[i] == id) return true;
    }
    return false;
}

owl_str owl_token_text(const owl_tokenizer *t, int32_t id) {
    owl_str s = {"", 0};
    if (id >= 0 && (size_t)id < t->n_vocab) {
        s.ptr = t->text[id];
        s.len = t->text_len[id];
    }
    return s;
}

owl_token_type owl_token_get_type(const owl_tokenizer *t, int32_t id) {
    if (id < 0 || (size_t)id >= t->n_vocab) return OWL_TOKEN_UNDEFINED;
    return (owl_token_type)t->type[id];
}

int32_t owl_tokenizer_find(const owl_tokenizer *t, const char *text, size_t len) {
    return tok_strmap_get(&t->vocab, text, len);
}
