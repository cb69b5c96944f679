/* owl cp: a second name for a stored model. */
#include "cli/commands.h"
#include "cli/store_cli.h"

#include <stdio.h>

static const char usage[] =
    "usage: owl cp SOURCE[:TAG] DEST[:TAG]\n"
    "\n"
    "Gives a stored model a second name with the same file and defaults (no bytes are copied).\n";

static int run(int argc, char **argv) {
    cli_args a;
    cli_args_init(&a, argc, argv);
    const char *arg, *names[2] = {0};
    bool flag;
    int n = 0;
    while ((arg = cli_args_next(&a, &flag))) {
        if (flag) return cli_error("cp: unknown option %s", arg);
        if (n == 2) return cli_error("cp: unexpected argument '%s'", arg);
        names[n++] = arg;
    }
    if (n < 2) return cli_error("cp: need SOURCE and DEST (see 'owl help cp')");
    owl_store s;
    if (cli_store_open(&s) < 0) return 1;
    owl_error err = {{0}};
    owl_model_name src, dst;
    int rc = 0;
    if (owl_model_name_parse(names[0], &src, &err) < 0 ||
        owl_model_name_parse(names[1], &dst, &err) < 0 ||
        owl_store_copy(&s, names[0], names[1], &err) < 0) {
        rc = cli_error("cp: %s", err.msg);
    } else {
        char a1[OWL_NAME_MAX + OWL_TAG_MAX + 2], a2[OWL_NAME_MAX + OWL_TAG_MAX + 2];
        owl_model_name_format(&src, a1, sizeof a1);
        owl_model_name_format(&dst, a2, sizeof a2);
        printf("copied '%s' to '%s'\n", a1, a2);
    }
    owl_store_close(&s);
    return rc;
}

const cli_command cmd_cp = {"cp", run, "copy a model in the store under a new name", usage};
