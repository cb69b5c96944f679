/* `owl tokenize MODEL [--special] [--add-bos] [--text STR]`: the token ids of a text (standard
 * input when --text is not given) as one JSON array on one line. */
#include "cli/commands.h"
#include "owl/gguf.h"
#include "owl/tokenizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char usage[] =
    "usage: owl tokenize MODEL [--special] [--add-bos] [--text STR]\n"
    "\n"
    "Prints the token ids of the text as one JSON array on one line. The text is STR, or all of\n"
    "standard input when --text is not given (read as bytes; nothing is trimmed). MODEL is a GGUF\n"
    "file; its tokenizer.* metadata is all that is read.\n"
    "\n"
    "  --special   recognise control tokens written in the text (\"<|im_start|>\", \"<s>\")\n"
    "  --add-bos   add the special tokens the model adds to a prompt: BOS (and EOS) as its\n"
    "              metadata says, or CLS ... SEP for WordPiece\n"
    "  --text STR  the text (instead of standard input)\n"
    "  --bench N   tokenize N times and report the fastest run on standard error (tokens, bytes,\n"
    "              seconds, tokens/s as one JSON line)\n";

/* Reads all of a stream; NULL when out of memory or on a read error. */
static char *read_stream(FILE *f, size_t *len) {
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    if (!buf) return NULL;
    for (;;) {
        size_t k = fread(buf + n, 1, cap - n, f);
        n += k;
        if (k == 0) break;
        if (n == cap) {
            char *p = cap > ((size_t)1 << 40) ? NULL : realloc(buf, cap * 2);
            if (!p) {
                free(buf);
                return NULL;
            }
            buf = p;
            cap *= 2;
        }
    }
    if (ferror(f)) {
        free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}

/* Opens MODEL and builds its tokenizer; prints the error and returns NULL on failure. */
owl_tokenizer *cli_load_tokenizer(const char *path);
owl_tokenizer *cli_load_tokenizer(const char *path) {
    owl_error err = {{0}};
    owl_gguf *g = owl_gguf_open(path, &err);
    if (!g) {
        cli_error("%s", err.msg);
        return NULL;
    }
    owl_tokenizer *t = owl_tokenizer_from_gguf(g, &err);
    if (!t) {
        owl_error_prefix(&err, "%s", path);
        cli_error("%s", err.msg);
    }
    owl_gguf_close(g);
    return t;
}

static int run(int argc, char **argv) {
    cli_args a;
    cli_args_init(&a, argc, argv);
    const char *model = NULL, *text = NULL, *arg;
    bool special = false, add = false, flag;
    long long bench = 0;
    while ((arg = cli_args_next(&a, &flag))) {
        if (!flag) {
            if (model) return cli_error("tokenize: unexpected argument '%s'", arg);
            model = arg;
        } else if (cli_flag_is(arg, "--special")) {
            special = true;
        } else if (cli_flag_is(arg, "--add-bos")) {
            add = true;
        } else if (cli_flag_is(arg, "--bench")) {
            const char *v = cli_args_value(&a, "--bench");
            if (!v || !cli_parse_int("--bench", v, 1, 1000000, &bench)) return 1;
        } else if (cli_flag_is(arg, "--text")) {
            if (!(text = cli_args_value(&a, "--text"))) return 1;
        } else {
            return cli_error("tokenize: unknown option %s (see 'owl help tokenize')", arg);
        }
    }
    if (!model) return cli_error("tokenize: missing MODEL (see 'owl help tokenize')");
    owl_tokenizer *t = cli_load_tokenizer(model);
    if (!t) return 1;
    size_t len = 0;
    char *input = NULL;
    if (text) {
        len = strlen(text);
    } else {
        input = read_stream(stdin, &len);
        if (!input) {
            owl_tokenizer_destroy(t);
            return cli_error("tokenize: cannot read standard input");
        }
        text = input;
    }
    int32_t *ids = NULL;
    size_t n = 0;
    owl_error err = {{0}};
    int rc = owl_tokenize(t, text, len, add, special, &ids, &n, &err);
    double best = 0;
    for (long long r = 0; rc == 0 && r < bench; r++) {
        struct timespec t0, t1;
        free(ids);
        clock_gettime(CLOCK_MONOTONIC, &t0);
        rc = owl_tokenize(t, text, len, add, special, &ids, &n, &err);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
        if (r == 0 || s < best) best = s;
    }
    if (rc == 0 && bench) {
        fprintf(stderr, "{\"tokens\":%zu,\"bytes\":%zu,\"seconds\":%.6f,\"tokens_per_s\":%.0f}\n", n, len,
                best, best > 0 ? (double)n / best : 0.0);
    }
    free(input);
    owl_tokenizer_destroy(t);
    if (rc != 0) return cli_error("%s", err.msg);
    putchar('[');
    for (size_t i = 0; i < n; i++) printf(i ? ",%d" : "%d", ids[i]);
    puts("]");
    free(ids);
    return 0;
}

const cli_command cmd_tokenize = {"tokenize", run, "text to token ids (JSON array)", usage};
