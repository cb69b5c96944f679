/* owl logits: the raw output of the forward pass, for comparisons with other engines.
 *
 *   owl logits MODEL --ids 1,2,3 [-o FILE] [-n N] [--kv-type T] [-t THREADS] [-c CTX]
 *
 * Runs the token ids as one prompt (no tokenizer, no template, nothing added), writes the logits
 * of every position to FILE as float32 [positions][n_vocab] (the layout of llamacpp-peer's
 * `logits`), then continues greedily for N tokens from the prompt. Prints one JSON line:
 * {"positions", "n_vocab", "greedy": [ids]}. */
#include "cli/cli.h"
#include "owl/model.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Parses "1,2,3" into a new array; 0 ids is an error. */
static int32_t *parse_ids(const char *s, int *n_out) {
    size_t cap = 1;
    for (const char *p = s; *p; p++) cap += *p == ',';
    int32_t *ids = malloc(cap * sizeof *ids);
    if (!ids) return NULL;
    int n = 0;
    while (*s) {
        char *end;
        errno = 0;
        long v = strtol(s, &end, 10);
        if (end == s || errno || v < 0 || v > INT32_MAX || (*end && *end != ',')) {
            free(ids);
            return NULL;
        }
        ids[n++] = (int32_t)v;
        s = *end ? end + 1 : end;
    }
    if (n == 0) {
        free(ids);
        return NULL;
    }
    *n_out = n;
    return ids;
}

static int32_t argmax(const float *v, int64_t n) {
    int64_t b = 0;
    for (int64_t i = 1; i < n; i++)
        if (v[i] > v[b]) b = i;
    return (int32_t)b;
}

static int run(int argc, char **argv) {
    cli_args a;
    cli_args_init(&a, argc, argv);
    const char *path = NULL, *ids_arg = NULL, *out_path = NULL, *arg;
    long long n_greedy = 0, threads = 0, n_ctx = 0;
    owl_type kv_type = OWL_TYPE_F16;
    bool flag;
    while ((arg = cli_args_next(&a, &flag))) {
        if (!flag) {
            if (path) return cli_error("logits: more than one model given");
            path = arg;
            continue;
        }
        const char *v = cli_args_value(&a, arg);
        if (!v) return 1;
        if (cli_flag_is(arg, "--ids")) ids_arg = v;
        else if (cli_flag_is(arg, "-o") || cli_flag_is(arg, "--out")) out_path = v;
        else if (cli_flag_is(arg, "-n")) {
            if (!cli_parse_int(arg, v, 0, 1 << 20, &n_greedy)) return 1;
        } else if (cli_flag_is(arg, "-t") || cli_flag_is(arg, "--threads")) {
            if (!cli_parse_int(arg, v, 1, 1024, &threads)) return 1;
        } else if (cli_flag_is(arg, "-c") || cli_flag_is(arg, "--ctx-size")) {
            if (!cli_parse_int(arg, v, 1, 1 << 22, &n_ctx)) return 1;
        } else if (cli_flag_is(arg, "--kv-type")) {
            if (!cli_parse_kv_type(arg, v, &kv_type)) return 1;
        } else {
            return cli_error("logits: unknown option %s (see 'owl help logits')", arg);
        }
    }
    if (!path || !ids_arg) return cli_error("logits: usage: owl logits MODEL --ids 1,2,3 [-o FILE] [-n N]");
    int n_ids = 0;
    int32_t *ids = parse_ids(ids_arg, &n_ids);
    if (!ids) return cli_error("logits: --ids wants comma-separated token ids, got '%.40s'", ids_arg);

    owl_error err = {{0}};
    int rc = 1;
    owl_context *c = NULL;
    FILE *f = NULL;
    owl_model *m = owl_model_load(path, &err);
    if (!m) {
        rc = cli_error("%s", err.msg);
        goto done;
    }
    const int64_t nv = owl_model_hparams(m)->n_vocab;
    owl_context_params cp = owl_context_default_params();
    cp.n_ctx = n_ctx ? (int)n_ctx : n_ids + (int)n_greedy + 1;
    cp.n_threads = (int)threads;
    cp.kv_type = kv_type;
    c = owl_context_new(m, &cp, &err);
    if (!c || owl_decode(c, ids, n_ids, out_path != NULL, &err)) {
        rc = cli_error("logits: %s", err.msg);
        goto done;
    }
    if (out_path) {
        f = fopen(out_path, "wb");
        if (!f) {
            rc = cli_error("logits: cannot write %s: %s", out_path, strerror(errno));
            goto done;
        }
        for (int p = 0; p < n_ids; p++) {
            if (fwrite(owl_context_logits(c, p), sizeof(float), (size_t)nv, f) != (size_t)nv) {
                rc = cli_error("logits: cannot write %s: %s", out_path, strerror(errno));
                goto done;
            }
        }
        if (fclose(f)) {
            f = NULL;
            rc = cli_error("logits: cannot write %s: %s", out_path, strerror(errno));
            goto done;
        }
        f = NULL;
    }
    printf("{\"positions\":%d,\"n_vocab\":%lld,\"greedy\":[", n_ids, (long long)nv);
    for (long long i = 0; i < n_greedy; i++) {
        /* After an all-logits decode the last position's row is the one to continue from. */
        int32_t t = argmax(owl_context_logits(c, i == 0 ? n_ids - 1 : 0), nv);
        printf("%s%d", i ? "," : "", t);
        if (i + 1 < n_greedy && owl_decode(c, &t, 1, false, &err)) {
            printf("]}\n");
            rc = cli_error("logits: %s", err.msg);
            goto done;
        }
    }
    printf("]}\n");
    rc = 0;
done:
    if (f) fclose(f);
    owl_context_destroy(c);
    owl_model_destroy(m);
    free(ids);
    return rc;
}

const cli_command cmd_logits = {
    .name = "logits",
    .run = run,
    .summary = "dump the logits of a prompt of token ids (for comparisons with other engines)",
    .usage = "usage: owl logits MODEL --ids 1,2,3 [-o FILE] [-n N] [--kv-type f16|f32|q8_0]\n"
             "                  [-t THREADS] [-c CTX]\n"
             "\n"
             "Runs the ids as one prompt, exactly as given (nothing added). With -o, writes the\n"
             "logits of every position to FILE as float32 [positions][n_vocab]. Then continues\n"
             "greedily for N tokens (default 0). Prints {\"positions\",\"n_vocab\",\"greedy\"}.\n",
};
