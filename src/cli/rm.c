/* owl rm: remove models from the store. */
#include "cli/commands.h"
#include "cli/store_cli.h"

#include <stdio.h>

static const char usage[] =
    "usage: owl rm NAME[:TAG]...\n"
    "\n"
    "Removes each name from the store; a model file goes when no other name uses it.\n";

static int run(int argc, char **argv) {
    cli_args a;
    cli_args_init(&a, argc, argv);
    const char *arg;
    bool flag;
    int n = 0;
    for (int i = 1; i < argc; i++) n += argv[i][0] != '-';
    if (!n) return cli_error("rm: missing NAME (see 'owl help rm')");
    owl_store s;
    if (cli_store_open(&s) < 0) return 1;
    int rc = 0;
    while ((arg = cli_args_next(&a, &flag))) {
        if (flag) {
            rc = cli_error("rm: unknown option %s", arg);
            break;
        }
        owl_error err = {{0}};
        owl_model_name mn;
        if (owl_model_name_parse(arg, &mn, &err) < 0 || owl_store_remove(&s, arg, &err) < 0) {
            rc = cli_error("rm: %s", err.msg);
            continue;
        }
        char name[OWL_NAME_MAX + OWL_TAG_MAX + 2];
        owl_model_name_format(&mn, name, sizeof name);
        printf("deleted '%s'\n", name);
    }
    owl_store_close(&s);
    return rc;
}

const cli_command cmd_rm = {"rm", run, "remove a model from the store", usage};
