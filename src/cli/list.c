/* owl list: the models in the store. */
#include "cli/commands.h"
#include "cli/store_cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char usage[] =
    "usage: owl list [--json]\n"
    "\n"
    "Lists the models in the store ($OWL_HOME, default ~/.owl): name, id (the start of the\n"
    "blob's SHA-256), size and when the name was last written.\n"
    "\n"
    "  --json   one JSON object per model, as /api/tags reports them\n";

static void ago(char *buf, size_t n, int64_t t) {
    int64_t d = (int64_t)time(NULL) - t;
    if (d < 0) d = 0;
    if (d < 60) snprintf(buf, n, "%s", d < 2 ? "just now" : "seconds ago");
    else if (d < 3600) snprintf(buf, n, "%lld minute%s ago", (long long)(d / 60), d < 120 ? "" : "s");
    else if (d < 86400) snprintf(buf, n, "%lld hour%s ago", (long long)(d / 3600), d < 7200 ? "" : "s");
    else snprintf(buf, n, "%lld day%s ago", (long long)(d / 86400), d < 172800 ? "" : "s");
}

static int run(int argc, char **argv) {
    cli_args a;
    cli_args_init(&a, argc, argv);
    const char *arg;
    bool flag, as_json = false;
    while ((arg = cli_args_next(&a, &flag))) {
        if (flag && cli_flag_is(arg, "--json")) as_json = true;
        else if (flag) return cli_error("list: unknown option %s (see 'owl help list')", arg);
        else return cli_error("list: unexpected argument '%s'", arg);
    }
    owl_store s;
    if (cli_store_open(&s) < 0) return 1;
    owl_manifest *list;
    size_t n;
    owl_error err = {{0}};
    int rc = owl_store_list(&s, &list, &n, &err);
    owl_store_close(&s);
    if (rc < 0) return cli_error("list: %s", err.msg);
    if (!as_json) printf("%-40s %-12s %-10s %s\n", "NAME", "ID", "SIZE", "MODIFIED");
    for (size_t i = 0; i < n; i++) {
        char name[OWL_NAME_MAX + OWL_TAG_MAX + 2];
        owl_model_name_format(&list[i].name, name, sizeof name);
        if (as_json) {
            json_t *o = json_object();
            json_object_set_new(o, "name", json_string(name));
            json_object_set_new(o, "digest", json_string(list[i].digest + 7));
            json_object_set_new(o, "size", json_integer((json_int_t)list[i].size));
            json_object_set_new(o, "modified", json_integer(list[i].modified));
            if (list[i].source) json_object_set_new(o, "source", json_string(list[i].source));
            char *t = json_dumps(o, JSON_COMPACT);
            if (t) puts(t);
            free(t);
            json_decref(o);
        } else {
            char size[32], when[48];
            cli_fmt_bytes(size, sizeof size, (double)list[i].size);
            ago(when, sizeof when, list[i].modified);
            printf("%-40s %-12.12s %-10s %s\n", name, list[i].digest + 7, size, when);
        }
    }
    owl_store_list_free(list, n);
    return 0;
}

const cli_command cmd_list = {"list", run, "list the models in the store", usage};
