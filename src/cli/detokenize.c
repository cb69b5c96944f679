/* `owl detokenize MODEL --ids 1,2,3`: the text of token ids, exactly (no newline added). */
#include "cli/commands.h"
#include "owl/tokenizer.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: owl detokenize MODEL [--ids 1,2,3] [--special] [--clean]\n"
    "\n"
    "Prints the text of the token ids, byte for byte, with no newline added. The ids are a list\n"
    "separated by commas or spaces (brackets allowed, so `owl tokenize` output fits), given with\n"
    "--ids or on standard input. SentencePiece's leading space (the one tokenizing adds) is\n"
    "dropped from the first token.\n"
    "\n"
    "  --ids LIST  the token ids (instead of standard input)\n"
    "  --special   write control tokens as their text (\"<s>\", \"<|im_end|>\"); by default\n"
    "              they print as nothing\n"
    "  --clean     the model's clean-up of spaces before punctuation (\" ,\" -> \",\"), where\n"
    "              its tokenizer asks for it; lossy\n";

owl_tokenizer *cli_load_tokenizer(const char *path);

/* Parses "1,2, 3" or "[1,2,3]" into a malloc'd array. */
static int parse_ids(const char *s, int32_t **out, size_t *n) {
    size_t cap = 64, k = 0;
    int32_t *v = malloc(cap * sizeof *v);
    if (!v) return cli_error("out of memory");
    const char *p = s;
    for (;;) {
        while (*p == ' ' || *p == ',' || *p == '[' || *p == ']' || *p == '\n' || *p == '\t' || *p == '\r') p++;
        if (!*p) break;
        char *end;
        errno = 0;
        long long x = strtoll(p, &end, 10);
        if (end == p || errno || x < 0 || x > INT32_MAX) {
            free(v);
            return cli_error("detokenize: bad token id near '%.20s'", p);
        }
        if (k == cap) {
            int32_t *nv = realloc(v, cap * 2 * sizeof *nv);
            if (!nv) {
                free(v);
                return cli_error("out of memory");
            }
            v = nv;
            cap *= 2;
        }
        v[k++] = (int32_t)x;
        p = end;
    }
    *out = v;
    *n = k;
    return 0;
}

static char *read_stdin(void) {
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    if (!buf) return NULL;
    size_t k;
    while ((k = fread(buf + n, 1, cap - n - 1, stdin)) > 0) {
        n += k;
        if (n + 1 == cap) {
            char *p = realloc(buf, cap * 2);
            if (!p) {
                free(buf);
                return NULL;
            }
            buf = p;
            cap *= 2;
        }
    }
    buf[n] = '\0';
    if (memchr(buf, '\0', n)) buf[0] = 'x'; /* an embedded NUL is not a list: make it fail to parse */
    return buf;
}

static int run(int argc, char **argv) {
    cli_args a;
    cli_args_init(&a, argc, argv);
    const char *model = NULL, *list = NULL, *arg;
    bool flag;
    unsigned flags = 0;
    while ((arg = cli_args_next(&a, &flag))) {
        if (!flag) {
            if (model) return cli_error("detokenize: unexpected argument '%s'", arg);
            model = arg;
        } else if (cli_flag_is(arg, "--ids")) {
            if (!(list = cli_args_value(&a, "--ids"))) return 1;
        } else if (cli_flag_is(arg, "--special")) {
            flags |= OWL_DETOK_SPECIAL;
        } else if (cli_flag_is(arg, "--clean")) {
            flags |= OWL_DETOK_CLEAN_SPACES;
        } else {
            return cli_error("detokenize: unknown option %s (see 'owl help detokenize')", arg);
        }
    }
    if (!model) return cli_error("detokenize: missing MODEL (see 'owl help detokenize')");
    char *input = NULL;
    if (!list) {
        input = read_stdin();
        if (!input) return cli_error("detokenize: cannot read standard input");
        list = input;
    }
    int32_t *ids = NULL;
    size_t n = 0;
    int rc = parse_ids(list, &ids, &n);
    free(input);
    if (rc) return rc;
    owl_tokenizer *t = cli_load_tokenizer(model);
    if (!t) {
        free(ids);
        return 1;
    }
    owl_error err = {{0}};
    size_t len = 0;
    char *text = owl_detokenize(t, ids, n, flags, &len, &err);
    free(ids);
    owl_tokenizer_destroy(t);
    if (!text) return cli_error("%s", err.msg);
    fwrite(text, 1, len, stdout);
    free(text);
    return 0;
}

const cli_command cmd_detokenize = {"detokenize", run, "token ids to text", usage};
