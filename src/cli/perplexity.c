/* owl perplexity: perplexity of a model over a text file, computed as llama-perplexity does.
 *
 * The text is tokenized once (with BOS) and cut into chunks of CTX tokens; each chunk is run
 * from an empty cache with its first token replaced by BOS, and only the second half of each
 * chunk is scored (every scored token then has at least CTX/2 tokens of context). The result is
 * exp(mean negative log-likelihood) with its standard error. */
#include "cli/cli.h"
#include "owl/model.h"
#include "owl/tokenizer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* -log softmax(logits)[target], computed relative to the maximum in double. */
static double nll(const float *logits, int64_t n_vocab, int32_t target) {
    float mx = logits[0];
    for (int64_t i = 1; i < n_vocab; i++)
        if (logits[i] > mx) mx = logits[i];
    double sum = 0;
    for (int64_t i = 0; i < n_vocab; i++) sum += exp((double)logits[i] - mx);
    return log(sum) - ((double)logits[target] - mx);
}

static int run(int argc, char **argv) {
    cli_args a;
    cli_args_init(&a, argc, argv);
    const char *path = NULL, *text_path = NULL, *arg;
    long long n_ctx = 512, threads = 0, max_chunks = -1;
    owl_type kv_type = OWL_TYPE_F16;
    bool flag;
    while ((arg = cli_args_next(&a, &flag))) {
        if (!flag) {
            if (path) return cli_error("perplexity: more than one model given");
            path = arg;
            continue;
        }
        const char *v = cli_args_value(&a, arg);
        if (!v) return 1;
        if (cli_flag_is(arg, "-f") || cli_flag_is(arg, "--file")) text_path = v;
        else if (cli_flag_is(arg, "-c") || cli_flag_is(arg, "--ctx-size")) {
            if (!cli_parse_int(arg, v, 8, 1 << 20, &n_ctx)) return 1;
        } else if (cli_flag_is(arg, "-t") || cli_flag_is(arg, "--threads")) {
            if (!cli_parse_int(arg, v, 1, 1024, &threads)) return 1;
        } else if (cli_flag_is(arg, "--kv-type")) {
            if (!cli_parse_kv_type(arg, v, &kv_type)) return 1;
        } else if (cli_flag_is(arg, "--chunks")) {
            if (!cli_parse_int(arg, v, 1, 1 << 30, &max_chunks)) return 1;
        } else {
            return cli_error("perplexity: unknown option %s (see 'owl help perplexity')", arg);
        }
    }
    if (!path || !text_path) return cli_error("perplexity: usage: owl perplexity MODEL -f TEXT [-c CTX]");

    size_t len;
    char *text = owl_read_file(text_path, (size_t)1 << 30, &len, NULL);
    if (!text) return cli_error("perplexity: cannot read %s", text_path);
    owl_error err = {{0}};
    owl_model *m = owl_model_load(path, &err);
    owl_tokenizer *tok = NULL;
    owl_context *c = NULL;
    int32_t *ids = NULL;
    size_t n_ids = 0;
    int rc = 1;
    if (!m) {
        rc = cli_error("%s", err.msg);
        goto done;
    }
    tok = owl_tokenizer_from_gguf(owl_model_gguf(m), &err);
    if (!tok || owl_tokenize(tok, text, len, true, false, &ids, &n_ids, &err)) {
        rc = cli_error("%s: %s", path, err.msg);
        goto done;
    }
    const int64_t n_vocab = owl_model_hparams(m)->n_vocab;
    const size_t n_chunk_all = n_ids / (size_t)n_ctx;
    if (n_chunk_all == 0) {
        rc = cli_error("perplexity: %s has %zu tokens, fewer than one chunk of %lld", text_path, n_ids, n_ctx);
        goto done;
    }
    size_t n_chunk = max_chunks > 0 && (size_t)max_chunks < n_chunk_all ? (size_t)max_chunks : n_chunk_all;
    owl_context_params cp = owl_context_default_params();
    cp.n_ctx = (int)n_ctx;
    cp.n_batch = (int)(n_ctx < 512 ? n_ctx : 512);
    cp.n_threads = (int)threads;
    cp.kv_type = kv_type;
    c = owl_context_new(m, &cp, &err);
    if (!c) {
        rc = cli_error("%s", err.msg);
        goto done;
    }
    const int32_t bos = owl_tokenizer_bos(tok);
    const bool add_bos = owl_tokenizer_add_bos(tok) && bos != OWL_TOKEN_NONE;
    double sum = 0, sum2 = 0;
    size_t count = 0;
    const int first = (int)(n_ctx / 2);
    for (size_t ci = 0; ci < n_chunk; ci++) {
        int32_t *chunk = ids + ci * (size_t)n_ctx;
        const int32_t saved = chunk[0];
        if (add_bos) chunk[0] = bos;
        owl_context_truncate(c, 0);
        int e = owl_decode(c, chunk, (int)n_ctx, true, &err);
        chunk[0] = saved;
        if (e) {
            rc = cli_error("perplexity: %s", err.msg);
            goto done;
        }
        for (int j = first; j < n_ctx - 1; j++) {
            double v = nll(owl_context_logits(c, j), n_vocab, chunk[j + 1]);
            sum += v;
            sum2 += v * v;
            count++;
        }
        printf("[%zu]%.4f,", ci + 1, exp(sum / (double)count));
        fflush(stdout);
    }
    const double mean = sum / (double)count;
    const double var = count > 1 ? (sum2 / (double)count - mean * mean) / (double)(count - 1) : 0;
    const double ppl = exp(mean);
    printf("\nFinal estimate: PPL = %.4f +/- %.5f\n", ppl, ppl * sqrt(var > 0 ? var : 0));
    rc = 0;
done:
    free(ids);
    owl_context_destroy(c);
    owl_tokenizer_destroy(tok);
    owl_model_destroy(m);
    free(text);
    return rc;
}

const cli_command cmd_perplexity = {
    .name = "perplexity",
    .run = run,
    .summary = "perplexity of a model over a text file",
    .usage = "usage: owl perplexity MODEL -f TEXT [-c CTX] [-t THREADS] [--chunks N]\n"
             "                       [--kv-type f16|f32|q8_0]\n"
             "\n"
             "Tokenizes TEXT, cuts it into chunks of CTX tokens (default 512), runs each chunk\n"
             "from an empty cache (first token replaced by BOS) and scores the second half of\n"
             "each, as llama-perplexity does. Prints the running estimate per chunk and the final\n"
             "perplexity with its standard error.\n",
};
