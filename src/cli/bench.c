/* owl bench: prompt processing (pp) and generation (tg) speed, measured as llama-bench does:
 * pp = N prompt tokens in batches from an empty cache; tg = N tokens decoded one at a time from
 * an empty cache; each repeated, reported as mean ± standard deviation of tokens/s. */
#include "cli/cli.h"
#include "owl/model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void mean_sd(const double *v, int n, double *mean, double *sd) {
    double s = 0, s2 = 0;
    for (int i = 0; i < n; i++) s += v[i];
    *mean = s / n;
    for (int i = 0; i < n; i++) s2 += (v[i] - *mean) * (v[i] - *mean);
    *sd = n > 1 ? sqrt(s2 / (n - 1)) : 0;
}

static double peak_rss_bytes(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss * 1024.0;
}

static int run(int argc, char **argv) {
    cli_args a;
    cli_args_init(&a, argc, argv);
    const char *path = NULL;
    long long n_prompt = 512, n_gen = 128, threads = 0, reps = 3;
    owl_type kv_type = OWL_TYPE_F16;
    bool json = false;
    const char *arg;
    bool flag;
    while ((arg = cli_args_next(&a, &flag))) {
        if (!flag) {
            if (path) return cli_error("bench: more than one model given");
            path = arg;
            continue;
        }
        const char *v;
        if (cli_flag_is(arg, "--json")) {
            json = true;
        } else if (cli_flag_is(arg, "-p") || cli_flag_is(arg, "--n-prompt")) {
            if (!(v = cli_args_value(&a, arg)) || !cli_parse_int(arg, v, 0, 1 << 20, &n_prompt)) return 1;
        } else if (cli_flag_is(arg, "-n") || cli_flag_is(arg, "--n-gen")) {
            if (!(v = cli_args_value(&a, arg)) || !cli_parse_int(arg, v, 0, 1 << 20, &n_gen)) return 1;
        } else if (cli_flag_is(arg, "-t") || cli_flag_is(arg, "--threads")) {
            if (!(v = cli_args_value(&a, arg)) || !cli_parse_int(arg, v, 1, 1024, &threads)) return 1;
        } else if (cli_flag_is(arg, "--kv-type")) {
            if (!(v = cli_args_value(&a, arg)) || !cli_parse_kv_type(arg, v, &kv_type)) return 1;
        } else if (cli_flag_is(arg, "-r") || cli_flag_is(arg, "--reps")) {
            if (!(v = cli_args_value(&a, arg)) || !cli_parse_int(arg, v, 1, 1000, &reps)) return 1;
        } else {
            return cli_error("bench: unknown option %s (see 'owl help bench')", arg);
        }
    }
    if (!path) return cli_error("bench: no model given (usage: owl bench MODEL)");

    owl_error err = {{0}};
    owl_model *m = owl_model_load(path, &err);
    if (!m) return cli_error("%s", err.msg);
    const owl_hparams *hp = owl_model_hparams(m);
    owl_context_params cp = owl_context_default_params();
    long long need = n_prompt > n_gen ? n_prompt : n_gen;
    cp.n_ctx = (int)(need > 0 ? need : 1);
    cp.n_batch = n_prompt > 0 ? (int)(n_prompt < 512 ? n_prompt : 512) : 1;
    cp.n_threads = (int)threads;
    cp.kv_type = kv_type;
    owl_context *c = owl_context_new(m, &cp, &err);
    if (!c) {
        owl_model_destroy(m);
        return cli_error("%s", err.msg);
    }
    /* Token ids spread over the vocabulary (the content does not change the cost). */
    int32_t *toks = malloc((size_t)(need > 0 ? need : 1) * sizeof *toks);
    double *pp = calloc((size_t)reps, sizeof *pp), *tg = calloc((size_t)reps, sizeof *tg);
    if (!toks || !pp || !tg) {
        free(toks);
        free(pp);
        free(tg);
        owl_context_destroy(c);
        owl_model_destroy(m);
        return cli_error("bench: out of memory");
    }
    uint64_t x = 12345;
    for (long long i = 0; i < need; i++) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        toks[i] = (int32_t)((x >> 33) % (uint64_t)hp->n_vocab);
    }
    int rc = 0;
    /* Warm-up: touches the weights and the cache pages once. */
    if (owl_decode(c, toks, n_prompt > 0 ? (int)(n_prompt < 32 ? n_prompt : 32) : 1, false, &err)) goto fail;
    for (long long r = 0; r < reps; r++) {
        if (n_prompt > 0) {
            owl_context_truncate(c, 0);
            double t0 = now_s();
            if (owl_decode(c, toks, (int)n_prompt, false, &err)) goto fail;
            pp[r] = (double)n_prompt / (now_s() - t0);
        }
        if (n_gen > 0) {
            owl_context_truncate(c, 0);
            double t0 = now_s();
            for (long long i = 0; i < n_gen; i++)
                if (owl_decode(c, &toks[i], 1, false, &err)) goto fail;
            tg[r] = (double)n_gen / (now_s() - t0);
        }
    }
    double pp_m = 0, pp_sd = 0, tg_m = 0, tg_sd = 0;
    mean_sd(pp, (int)reps, &pp_m, &pp_sd);
    mean_sd(tg, (int)reps, &tg_m, &tg_sd);
    const double rss = peak_rss_bytes();
    if (json) {
        printf("{\"model\":\"%s\",\"type\":\"%s\",\"threads\":%d,\"n_prompt\":%lld,\"n_gen\":%lld,"
               "\"reps\":%lld,\"pp_tps\":%.3f,\"pp_tps_sd\":%.3f,\"tg_tps\":%.3f,\"tg_tps_sd\":%.3f,"
               "\"peak_rss_bytes\":%.0f,\"weight_bytes\":%llu,\"kv_bytes\":%zu}\n",
               path, owl_model_type_name(m), owl_context_n_threads(c), n_prompt, n_gen, reps, pp_m,
               pp_sd, tg_m, tg_sd, rss, (unsigned long long)owl_model_weight_bytes(m),
               owl_context_kv_bytes(c));
    } else {
        char rb[32];
        cli_fmt_bytes(rb, sizeof rb, rss);
        printf("model %s (%s, %s), %d threads\n", path, hp->arch, owl_model_type_name(m), owl_context_n_threads(c));
        if (n_prompt > 0) printf("pp%-5lld %10.2f ± %.2f tokens/s\n", n_prompt, pp_m, pp_sd);
        if (n_gen > 0) printf("tg%-5lld %10.2f ± %.2f tokens/s\n", n_gen, tg_m, tg_sd);
        printf("peak resident memory %s\n", rb);
    }
    goto done;
fail:
    rc = cli_error("bench: %s", err.msg);
done:
    free(toks);
    free(pp);
    free(tg);
    owl_context_destroy(c);
    owl_model_destroy(m);
    return rc;
}

const cli_command cmd_bench = {
    .name = "bench",
    .run = run,
    .summary = "measure prompt processing and generation speed",
    .usage = "usage: owl bench MODEL [-p 512] [-n 128] [-t THREADS] [-r REPS] [--json]\n"
             "                  [--kv-type f16|f32|q8_0]\n"
             "\n"
             "Prompt processing (pp: -p tokens in batches) and generation (tg: -n tokens one at a\n"
             "time), each from an empty cache, repeated -r times; prints tokens/s as mean ± sd\n"
             "and the peak resident memory. --json prints one object with pp_tps, pp_tps_sd,\n"
             "tg_tps, tg_tps_sd and peak_rss_bytes.\n",
};
