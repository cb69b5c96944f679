/* `owl quantize IN.gguf OUT.gguf TYPE [-t N]`: rewrite a model at another precision and report
 * the error each tensor type introduced. */
#include "cli/commands.h"
#include "owl/quantize.h"

#include <math.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

static const char usage[] =
    "usage: owl quantize IN.gguf OUT.gguf TYPE [-t THREADS]\n"
    "\n"
    "Writes OUT.gguf with the tensors of IN.gguf converted to TYPE, one of\n"
    "  F32 F16 BF16 Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 Q2_K Q3_K_S Q3_K_M Q3_K_L Q4_K_S Q4_K_M\n"
    "  Q5_K_S Q5_K_M Q6_K\n"
    "with llama.cpp's per-tensor mixes (e.g. Q4_K_M keeps the output projection and part of the\n"
    "attention-value and FFN-down projections at Q6_K; norms stay F32). Prints the RMSE of each\n"
    "tensor type against the source, absolute and relative to the source's RMS.\n"
    "\n"
    "  -t, --threads N   threads (default: all cores)\n";

typedef struct progress_state {
    bool tty;
    struct timespec start;
} progress_state;

static void progress(void *ctx, const owl_quantize_progress *p) {
    progress_state *s = ctx;
    if (!s->tty) return;
    fprintf(stderr, "\r\033[K[%3zu/%zu] %-36s %s -> %s", p->index + 1, p->count, p->name,
            owl_type_name(p->from), owl_type_name(p->to));
    if (p->index + 1 == p->count) fputc('\n', stderr);
    fflush(stderr);
}

static int run(int argc, char **argv) {
    cli_args a;
    cli_args_init(&a, argc, argv);
    const char *pos[3] = {0}, *arg;
    int npos = 0;
    long long threads = 0;
    bool flag;
    while ((arg = cli_args_next(&a, &flag))) {
        if (!flag) {
            if (npos == 3) return cli_error("quantize: unexpected argument '%s'", arg);
            pos[npos++] = arg;
        } else if (cli_flag_is(arg, "--threads") || cli_flag_is(arg, "-t")) {
            const char *v = cli_args_value(&a, arg);
            if (!v || !cli_parse_int(arg, v, 1, 1024, &threads)) return 1;
        } else {
            return cli_error("quantize: unknown option %s (see 'owl help quantize')", arg);
        }
    }
    if (npos < 3) return cli_error("quantize: need IN.gguf OUT.gguf TYPE (see 'owl help quantize')");
    int ftype = owl_ftype_from_name(pos[2]);
    if (ftype < 0) return cli_error("quantize: unknown type '%s' (see 'owl help quantize')", pos[2]);

    progress_state ps = {.tty = isatty(2)};
    clock_gettime(CLOCK_MONOTONIC, &ps.start);
    owl_quantize_opts opts = {.n_threads = (int)threads, .progress = progress, .progress_ctx = &ps};
    owl_quantize_report rep;
    owl_error err = {{0}};
    if (owl_quantize_file(pos[0], pos[1], ftype, &opts, &rep, &err)) {
        if (ps.tty) fputc('\n', stderr);
        return cli_error("quantize: %s", err.msg);
    }
    struct timespec end;
    clock_gettime(CLOCK_MONOTONIC, &end);
    double secs = (double)(end.tv_sec - ps.start.tv_sec) + (double)(end.tv_nsec - ps.start.tv_nsec) / 1e9;
    char in[32], out[32];
    cli_fmt_bytes(in, sizeof in, (double)rep.bytes_in);
    cli_fmt_bytes(out, sizeof out, (double)rep.bytes_out);
    printf("%s -> %s as %s: %s -> %s of tensor data in %.2f s\n", pos[0], pos[1],
           owl_ftype_name(ftype), in, out, secs);
    printf("%-8s %8s %14s %12s %12s\n", "type", "tensors", "elements", "rmse", "rel. rmse");
    for (int t = 0; t < OWL_TYPE_COUNT; t++) {
        const owl_quant_error *e = &rep.by_type[t];
        if (!rep.tensors_by_type[t]) continue;
        double rmse = e->n ? sqrt(e->sse / (double)e->n) : 0.0;
        double rel = e->ssref > 0 ? sqrt(e->sse / e->ssref) : 0.0;
        printf("%-8s %8zu %14llu %12.3e %12.3e\n", owl_type_name((uint32_t)t),
               rep.tensors_by_type[t], (unsigned long long)e->n, rmse, rel);
    }
    return 0;
}

const cli_command cmd_quantize = {"quantize", run, "convert a model file to another precision",
                                  usage};
