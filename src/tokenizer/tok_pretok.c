/* Pre-tokenizers of byte-level BPE: the regexes named by `tokenizer.ggml.pre`, compiled once
 * with PCRE2 (UTF + UCP, JIT). Each regex in a list refines the chunks the previous one left:
 * matches and the gaps between them both become chunks, and a chunk's ends are the subject's
 * ends for the next regex (lookaheads and `$` do not see past them).
 *
 * Whitespace: the reference treats every Unicode White_Space code point as \s, which adds U+0085
 * to what PCRE2's \s matches under UCP; the sources below are rewritten accordingly when
 * compiled. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "tokenizer/tok_internal.h"

#include <pcre2.h>
#include <stdio.h>

#define MAX_REGEX 6

typedef struct pre_def {
    const char *names;  /* '|'-separated names of tokenizer.ggml.pre */
    const char *re[MAX_REGEX];
} pre_def;

/* Contractions, letters, numbers, other symbols, whitespace not followed by non-space. */
#define RE_GPT2 "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)"
/* Case-insensitive contractions, a letter run with one leading non-letter, numbers in threes
 * (Llama 3) or one by one (Qwen 2), punctuation with trailing newlines, newline runs. */
#define RE_LLAMA3                                                                         \
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+" \
    "|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define RE_QWEN2                                                                          \
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+" \
    "|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
/* CJK ideographs, the range below them and Hangul, as DeepSeek's tokenizers isolate them. */
#define RE_CJK "[\\x{4E00}-\\x{9FA5}\\x{0800}-\\x{4E00}\\x{AC00}-\\x{D7FF}]+"
/* DeepSeek LLM's letter class: the cased letters of Unicode, listed as ranges. */
#define RE_DEEPSEEK_LETTERS                                                                \
    "A-Za-z\\x{B5}\\x{C0}-\\x{D6}\\x{D8}-\\x{F6}\\x{F8}-\\x{1BA}\\x{1BC}-\\x{1BF}" \
    "\\x{1C4}-\\x{293}\\x{295}-\\x{2AF}\\x{370}-\\x{373}\\x{376}-\\x{377}" \
    "\\x{37B}-\\x{37D}\\x{37F}\\x{386}\\x{388}-\\x{38A}\\x{38C}\\x{38E}-\\x{3A1}" \
    "\\x{3A3}-\\x{3F5}\\x{3F7}-\\x{481}\\x{48A}-\\x{52F}\\x{531}-\\x{556}" \
    "\\x{10A0}-\\x{10C5}\\x{13A0}-\\x{13F5}\\x{13F8}-\\x{13FD}\\x{1C90}-\\x{1CBA}" \
    "\\x{1CBD}-\\x{1CBF}\\x{1D00}-\\x{1D2B}\\x{1D6B}-\\x{1D77}\\x{1D79}-\\x{1D9A}" \
    "\\x{1E00}-\\x{1F15}\\x{1F18}-\\x{1F1D}\\x{1F20}-\\x{1F45}\\x{1F48}-\\x{1F4D}" \
    "\\x{1F50}-\\x{1F57}\\x{1F59}\\x{1F5B}\\x{1F5D}\\x{1F5F}-\\x{1F7D}" \
    "\\x{1F80}-\\x{1FB4}\\x{1FB6}-\\x{1FBC}\\x{1FBE}\\x{1FC2}-\\x{1FC4}" \
    "\\x{1FC6}-\\x{1FCC}\\x{1FD0}-\\x{1FD3}\\x{1FD6}-\\x{1FDB}\\x{1FE0}-\\x{1FEC}" \
    "\\x{1FF2}-\\x{1FF4}\\x{1FF6}-\\x{1FFC}\\x{2102}\\x{2107}\\x{210A}-\\x{2113}" \
    "\\x{2115}\\x{2119}-\\x{211D}\\x{2124}\\x{2126}\\x{2128}\\x{212A}-\\x{212D}" \
    "\\x{212F}-\\x{2134}\\x{2139}\\x{213C}-\\x{213F}\\x{2145}-\\x{2149}\\x{214E}" \
    "\\x{2183}-\\x{2184}\\x{2C00}-\\x{2C7B}\\x{2C7E}-\\x{2CE4}\\x{2CEB}-\\x{2CEE}" \
    "\\x{2CF2}-\\x{2CF3}\\x{A640}-\\x{A66D}\\x{A680}-\\x{A69B}\\x{A722}-\\x{A76F}" \
    "\\x{A771}-\\x{A787}\\x{A78B}-\\x{A78E}\\x{AB70}-\\x{ABBF}\\x{FB00}-\\x{FB06}" \
    "\\x{FB13}-\\x{FB17}\\x{FF21}-\\x{FF3A}\\x{FF41}-\\x{FF5A}\\x{10400}-\\x{1044F}" \
    "\\x{104B0}-\\x{104D3}\\x{104D8}-\\x{104FB}\\x{10C80}-\\x{10CB2}" \
    "\\x{10CC0}-\\x{10CF2}\\x{118A0}-\\x{118DF}\\x{1E900}-\\x{1E943}"

static const pre_def pre_defs[] = {
    {"default", {"[\\p{P}\\$\\+<=>\\^~\\|]+", RE_GPT2, "\\p{N}+", "[0-9][0-9][0-9]"}},
    {"llama3|llama-v3|llama-bpe|falcon3|dbrx|smaug-bpe|chatglm-bpe", {RE_LLAMA3}},
    {"deepseek-llm",
     {"[\\r\\n]", "\\s?[" RE_DEEPSEEK_LETTERS "]+",
      "\\s?[!-/:-~\\x{FF01}-\\x{FF0F}\\x{FF1A}-\\x{FF5E}\\x{2018}-\\x{201F}\\x{3000}-\\x{3002}]+",
      "\\s+$", RE_CJK, "\\p{N}+"}},
    {"deepseek-coder", {"[\\r\\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", RE_CJK, "\\p{N}"}},
    {"deepseek-v3",
     {"\\p{N}{1,3}", "[\\x{4E00}-\\x{9FA5}\\x{3040}-\\x{309F}\\x{30A0}-\\x{30FF}]+",
      "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\\r\\n\\p{L}\\p{P}\\p{S}]?"
      "[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"}},
    {"falcon", {"[\\p{P}\\$\\+<=>\\^~\\|`]+", RE_GPT2, "[0-9][0-9][0-9]"}},
    {"starcoder|refact|command-r|smollm|codeshell|exaone|minerva-7b", {"\\p{N}", RE_GPT2}},
    {"gpt-2|phi-2|jina-es|jina-de|gigachat|jina-v1-en|jina-v2-es|jina-v2-de|jina-v2-code|"
     "roberta-bpe|mpt|olmo|jais",
     {RE_GPT2}},
    {"qwen2|stablelm2|megrez", {RE_QWEN2}},
    {"poro-chat|bloom|gpt3-finnish", {" ?[^(\\s|.,!?\\x{2026}\\x{3002}\\x{FF0C}\\x{3001}"
                                      "\\x{0964}\\x{06D4}\\x{060C})]+"}},
    {"viking", {" ?[^(\\s|.,!?\\x{2026}\\x{3002}\\x{FF0C}\\x{3001}\\x{0964}\\x{06D4}\\x{060C})]+",
                "\\p{N}"}},
};

struct tok_pretok {
    size_t n;
    pcre2_code *re[MAX_REGEX];
};

static bool name_in(const char *names, const char *name) {
    size_t n = strlen(name);
    const char *p = names;
    while (*p) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && memcmp(p, name, n) == 0) return true;
        if (!bar) break;
        p = bar + 1;
    }
    return false;
}

bool tok_pre_known(const char *pre) {
    for (size_t i = 0; i < sizeof pre_defs / sizeof pre_defs[0]; i++) {
        if (name_in(pre_defs[i].names, pre)) return true;
    }
    return false;
}

/* Rewrites \s and \S so that they include U+0085 (see the head of this file). */
static char *widen_space(const char *src) {
    size_t n = strlen(src);
    char *out = malloc(n * 6 + 1);
    if (!out) return NULL;
    size_t o = 0;
    bool in_class = false;
    for (size_t i = 0; i < n; i++) {
        char c = src[i];
        if (c == '\\' && i + 1 < n) {
            char e = src[i + 1];
            if (e == 's' || e == 'S') {
                const char *rep = in_class ? "\\s\\x{85}" : e == 's' ? "[\\s\\x{85}]" : "[^\\s\\x{85}]";
                size_t rl = strlen(rep);
                memcpy(out + o, rep, rl);
                o += rl;
            } else {
                out[o++] = c;
                out[o++] = e;
            }
            i++;
            continue;
        }
        if (!in_class && c == '[') {
            in_class = true;
            out[o++] = c;
            /* a ']' right after '[' or '[^' is a literal */
            if (i + 1 < n && src[i + 1] == '^') out[o++] = src[++i];
            if (i + 1 < n && src[i + 1] == ']') out[o++] = src[++i];
            continue;
        }
        if (in_class && c == ']') in_class = false;
        out[o++] = c;
    }
    out[o] = '\0';
    return out;
}

tok_pretok *tok_pretok_new(const char *pre, owl_error *err) {
    const pre_def *d = NULL;
    for (size_t i = 0; i < sizeof pre_defs / sizeof pre_defs[0]; i++) {
        if (name_in(pre_defs[i].names, pre)) d = &pre_defs[i];
    }
    if (!d) {
        owl_errorf(err, "unknown pre-tokenizer '%s' (tokenizer.ggml.pre)", pre);
        return NULL;
    }
    tok_pretok *p = calloc(1, sizeof *p);
    if (!p) {
        owl_errorf(err, "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < MAX_REGEX && d->re[i]; i++) {
        char *src = widen_space(d->re[i]);
        if (!src) {
            tok_pretok_free(p);
            owl_errorf(err, "out of memory");
            return NULL;
        }
        int ec;
        PCRE2_SIZE eo;
        pcre2_code *re = pcre2_compile((PCRE2_SPTR)src, PCRE2_ZERO_TERMINATED,
                                       PCRE2_UTF | PCRE2_UCP | PCRE2_DOLLAR_ENDONLY, &ec, &eo, NULL);
        free(src);
        if (!re) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(ec, msg, sizeof msg);
            owl_errorf(err, "pre-tokenizer '%s': regex %zu: %s at offset %zu", pre, i, (char *)msg,
                       (size_t)eo);
            tok_pretok_free(p);
            return NULL;
        }
        /* JIT is an optimisation: when it is unavailable the interpreter gives the same result */
        pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
        p->re[p->n++] = re;
    }
    return p;
}

void tok_pretok_free(tok_pretok *p) {
    if (!p) return;
    for (size_t i = 0; i < p->n; i++) pcre2_code_free(p->re[i]);
    free(p);
}

typedef struct lens {
    size_t *v;
    size_t n, cap;
} lens;

static int lens_push(lens *l, size_t x) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        size_t *v = realloc(l->v, cap * sizeof *v);
        if (!v) return -1;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = x;
    return 0;
}

int tok_pretok_split(const tok_pretok *p, const char *m, size_t mlen, size_t **words,
                     size_t *n_words) {
    lens cur = {0}, next = {0};
    int rc = -1;
    pcre2_match_data *md = NULL;
    *words = NULL;
    *n_words = 0;
    if (mlen == 0) return 0;
    if (lens_push(&cur, mlen) != 0) goto done;
    for (size_t r = 0; r < p->n; r++) {
        if (!md) {
            md = pcre2_match_data_create(4, NULL);
            if (!md) goto done;
        }
        next.n = 0;
        size_t base = 0;
        for (size_t c = 0; c < cur.n; c++) {
            const char *subj = m + base;
            size_t len = cur.v[c];
            size_t pos = 0, last = 0;
            while (pos < len) {
                int k = pcre2_match(p->re[r], (PCRE2_SPTR)subj, len, pos, PCRE2_NO_UTF_CHECK, md, NULL);
                if (k < 0) break; /* no match (or a match-time limit): the rest is one gap */
                PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
                size_t s = ov[0], e = ov[1];
                if (e <= s) {
                    /* an empty match: step over one character */
                    pos = s + 1;
                    while (pos < len && ((unsigned char)subj[pos] & 0xC0) == 0x80) pos++;
                    continue;
                }
                if (s > last && lens_push(&next, s - last) != 0) goto done;
                if (lens_push(&next, e - s) != 0) goto done;
                last = pos = e;
            }
            if (len > last && lens_push(&next, len - last) != 0) goto done;
            base += len;
        }
        lens t = cur;
        cur = next;
        next = t;
    }
    *words = cur.v;
    *n_words = cur.n;
    cur.v = NULL;
    rc = 0;
done:
    pcre2_match_data_free(md);
    free(cur.v);
    free(next.v);
    return rc;
}
