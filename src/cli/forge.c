/* `owl forge --preset NAME [--tiny] [--type TYPE] [--seed N] -o FILE`: write a shape twin. */
#include "cli/commands.h"
#include "owl/forge.h"

#include <stdio.h>
#include <string.h>

static const char usage[] =
    "usage: owl forge --preset NAME [--tiny] [--type TYPE] [--seed N] [--data DIR] -o FILE\n"
    "\n"
    "Writes a shape twin: a GGUF model with the exact architecture, tensor names and shapes and\n"
    "the real vocabulary and chat template of a known model, with seeded random weights. For\n"
    "tests and benchmarks; the same arguments always give the same file.\n"
    "\n"
    "  --preset NAME   smollm2-135m, qwen2.5-0.5b, qwen3-0.6b, llama3.2-1b, tinyllama-1.1b\n"
    "  --tiny          same architecture and vocabulary, small dimensions\n"
    "  --type TYPE     a tensor type for every matrix (f32 f16 bf16 q8_0 q4_0 q4_1 q5_0 q5_1\n"
    "                  q2_K q3_K q4_K q5_K q6_K) or a mix (Q4_K_M, Q5_K_S, ...; see 'owl help\n"
    "                  quantize'); default f16\n"
    "  --seed N        weights seed (default 0)\n"
    "  --data DIR      where the vocabularies and templates are (default $OWL_SHARED/models or\n"
    "                  ../shared/models)\n"
    "  -t, --threads N threads (default: all cores)\n"
    "  -o FILE         output file\n";

static int run(int argc, char **argv) {
    cli_args a;
    cli_args_init(&a, argc, argv);
    owl_forge_opts o = {0};
    const char *out = NULL, *arg;
    bool flag;
    while ((arg = cli_args_next(&a, &flag))) {
        const char *v = NULL;
        long long n;
        if (!flag) return cli_error("forge: unexpected argument '%s'", arg);
        if (cli_flag_is(arg, "--tiny")) {
            o.tiny = true;
        } else if (cli_flag_is(arg, "--preset")) {
            if (!(o.preset = cli_args_value(&a, arg))) return 1;
        } else if (cli_flag_is(arg, "--type")) {
            if (!(o.type = cli_args_value(&a, arg))) return 1;
        } else if (cli_flag_is(arg, "--data")) {
            if (!(o.data_dir = cli_args_value(&a, arg))) return 1;
        } else if (cli_flag_is(arg, "-o") || cli_flag_is(arg, "--output")) {
            if (!(out = cli_args_value(&a, arg))) return 1;
        } else if (cli_flag_is(arg, "--seed")) {
            if (!(v = cli_args_value(&a, arg)) || !cli_parse_int(arg, v, 0, INT64_MAX, &n)) return 1;
            o.seed = (uint64_t)n;
        } else if (cli_flag_is(arg, "--threads") || cli_flag_is(arg, "-t")) {
            if (!(v = cli_args_value(&a, arg)) || !cli_parse_int(arg, v, 1, 1024, &n)) return 1;
            o.n_threads = (int)n;
        } else {
            return cli_error("forge: unknown option %s (see 'owl help forge')", arg);
        }
    }
    if (!o.preset) return cli_error("forge: --preset is required (see 'owl help forge')");
    if (!out) return cli_error("forge: -o FILE is required");
    owl_error err = {{0}};
    if (owl_forge(&o, out, &err)) return cli_error("forge: %s", err.msg);
    return 0;
}

const cli_command cmd_forge = {"forge", run, "write a shape-twin model for tests and benchmarks",
                               usage};
