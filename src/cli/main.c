/* owl — the one command-line program: `owl <command> [args]`. */
#include "cli/commands.h"

#include <stdio.h>
#include <string.h>

static const cli_command *const commands[] = {
    &cmd_show,
    &cmd_quantize,
    &cmd_forge,
    &cmd_tokenize,
    &cmd_detokenize,
    &cmd_render,
    &cmd_run,
    &cmd_bench,
    &cmd_serve,
    &cmd_perplexity,
    &cmd_logits,
    &cmd_pull,
    &cmd_list,
    &cmd_rm,
    &cmd_cp,
    &cmd_create,
    &cmd_ps,
    NULL, /* placeholder: commands are added above */
};
#define N_COMMANDS (sizeof commands / sizeof commands[0])

static const cli_command *find(const char *name) {
    for (size_t i = 0; i < N_COMMANDS; i++) {
        if (commands[i] && strcmp(commands[i]->name, name) == 0) return commands[i];
    }
    return NULL;
}

static void overview(FILE *f) {
    fprintf(f, "owl %s — run, serve and measure open-weights language models\n\n", OWL_VERSION);
    fprintf(f, "usage: owl <command> [args]\n\ncommands:\n");
    for (size_t i = 0; i < N_COMMANDS; i++) {
        if (commands[i]) fprintf(f, "  %-12s %s\n", commands[i]->name, commands[i]->summary);
    }
    fprintf(f, "\n  owl help <command>   details of one command\n  owl --version\n");
}

static int help(int argc, char **argv) {
    if (argc < 2) {
        overview(stdout);
        return 0;
    }
    const cli_command *c = find(argv[1]);
    if (!c) return cli_error("help: unknown command '%s' (see 'owl help')", argv[1]);
    fputs(c->usage, stdout);
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        overview(stderr);
        return 2;
    }
    const char *name = argv[1];
    if (strcmp(name, "--version") == 0 || strcmp(name, "version") == 0) {
        printf("owl %s\n", OWL_VERSION);
        return 0;
    }
    if (strcmp(name, "help") == 0 || strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0) {
        return help(argc - 1, argv + 1);
    }
    const cli_command *c = find(name);
    if (!c) return cli_error("unknown command '%s' (see 'owl help')", name);
    /* `owl CMD --help` prints the command's usage. */
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(c->usage, stdout);
            return 0;
        }
        if (strcmp(argv[i], "--") == 0) break;
    }
    return c->run(argc - 1, argv + 1);
}
