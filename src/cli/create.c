/* owl create: a store model from a Modelfile (FROM, PARAMETER, TEMPLATE, SYSTEM, LICENSE). */
#include "cli/commands.h"
#include "cli/store_cli.h"
#include "owl/chat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char usage[] =
    "usage: owl create NAME[:TAG] [-f MODELFILE]\n"
    "\n"
    "Creates a model in the store from a Modelfile (default ./Modelfile):\n"
    "  FROM <path | URL | hf://OWNER/REPO/FILE.gguf | store name>\n"
    "  PARAMETER <name> <value>   temperature, top_k, top_p, min_p, typical_p, repeat_penalty,\n"
    "                             repeat_last_n, presence_penalty, frequency_penalty, seed,\n"
    "                             num_ctx, num_predict, stop (repeatable)\n"
    "  TEMPLATE <chat template>   SYSTEM <system prompt>   LICENSE <text>\n"
    "Values are the rest of the line, a \"string\" or a \"\"\"text over several lines\"\"\".\n"
    "A relative FROM path is taken from the Modelfile's folder. A store name as FROM inherits\n"
    "that model's template, system prompt and parameters.\n";

static bool is_url(const char *s) {
    return strncmp(s, "http://", 7) == 0 || strncmp(s, "https://", 8) == 0 ||
           strncmp(s, "hf://", 5) == 0;
}

/* FROM as a path: relative to the Modelfile's folder; "~/" is the home folder. */
static char *from_path(const char *from, const char *mf_path) {
    char *p = NULL;
    if (from[0] == '~' && from[1] == '/' && getenv("HOME")) {
        if (asprintf(&p, "%s%s", getenv("HOME"), from + 1) < 0) p = NULL;
    } else if (from[0] != '/') {
        const char *slash = strrchr(mf_path, '/');
        if (slash) {
            if (asprintf(&p, "%.*s/%s", (int)(slash - mf_path), mf_path, from) < 0) p = NULL;
        } else {
            p = strdup(from);
        }
    } else {
        p = strdup(from);
    }
    return p;
}

static int base_model(owl_store *s, const owl_modelfile *mf, const char *mf_path,
                      const owl_model_name *name, owl_manifest *m, owl_error *err) {
    if (is_url(mf->from)) {
        cli_progress pr = {0};
        char full[OWL_NAME_MAX + OWL_TAG_MAX + 2];
        owl_model_name_format(name, full, sizeof full);
        owl_pull_opts o = {.name = full, .bearer_token = owl_pull_env_token(mf->from),
                           .progress = cli_pull_progress, .user = &pr};
        int rc = owl_store_pull(s, mf->from, &o, m, err);
        if (pr.drew) fputc('\n', stderr);
        return rc;
    }
    char *path = from_path(mf->from, mf_path);
    if (!path) return owl_errorf(err, "out of memory");
    struct stat st;
    if (stat(path, &st) == 0) {
        char digest[72];
        uint64_t size;
        char *abs = realpath(path, NULL);
        int rc = owl_store_import(s, path, digest, &size, err);
        if (rc == 0) {
            /* the manifest module fills in everything else below */
            memset(m, 0, sizeof *m);
            m->name = *name;
            snprintf(m->digest, sizeof m->digest, "%s", digest);
            m->size = size;
            m->source = abs ? abs : strdup(path);
            abs = NULL;
            m->parameters = json_object();
        }
        free(abs);
        free(path);
        return rc;
    }
    free(path);
    owl_model_name base;
    if (owl_model_name_parse(mf->from, &base, NULL) < 0 || strchr(mf->from, '/') == mf->from) {
        return owl_errorf(err, "FROM %.200s: no such file or model", mf->from);
    }
    if (owl_store_read_manifest(s, mf->from, m, err) < 0) {
        owl_error_prefix(err, "FROM %.200s", mf->from);
        return -1;
    }
    m->name = *name;
    return 0;
}

static int run(int argc, char **argv) {
    cli_args a;
    cli_args_init(&a, argc, argv);
    const char *arg, *target = NULL, *file = "Modelfile";
    bool flag;
    while ((arg = cli_args_next(&a, &flag))) {
        if (!flag) {
            if (target) return cli_error("create: unexpected argument '%s'", arg);
            target = arg;
        } else if (cli_flag_is(arg, "-f") || cli_flag_is(arg, "--file")) {
            if (!(file = cli_args_value(&a, arg))) return 1;
        } else {
            return cli_error("create: unknown option %s (see 'owl help create')", arg);
        }
    }
    if (!target) return cli_error("create: missing NAME (see 'owl help create')");
    owl_error err = {{0}};
    owl_model_name name;
    if (owl_model_name_parse(target, &name, &err) < 0) return cli_error("create: %s", err.msg);
    size_t len;
    char *text = owl_read_file(file, 1u << 20, &len, &err);
    if (!text) return cli_error("create: %s", err.msg);
    owl_modelfile mf;
    int rc = owl_modelfile_parse(text, len, &mf, &err);
    free(text);
    if (rc < 0) return cli_error("create: %s: %s", file, err.msg);
    if (mf.template_src) {
        owl_template *t = owl_template_parse(mf.template_src, strlen(mf.template_src), &err);
        if (!t) {
            owl_modelfile_free(&mf);
            return cli_error("create: %s: TEMPLATE: %s", file, err.msg);
        }
        owl_template_destroy(t);
    }
    owl_store s;
    if (cli_store_open(&s) < 0) {
        owl_modelfile_free(&mf);
        return 1;
    }
    owl_manifest m = {0};
    rc = base_model(&s, &mf, file, &name, &m, &err);
    if (rc == 0) {
        if (mf.template_src) {
            free(m.template_src);
            m.template_src = strdup(mf.template_src);
        }
        if (mf.system) {
            free(m.system);
            m.system = strdup(mf.system);
        }
        /* the Modelfile's parameters override the base model's, stop lists included */
        json_object_update(m.parameters, mf.parameters);
        rc = owl_store_write_manifest(&s, &m, &err);
    }
    if (rc < 0) {
        if (m.parameters) owl_manifest_free(&m); /* base_model succeeded, the write did not */
        rc = cli_error("create: %s", err.msg);
    } else {
        char full[OWL_NAME_MAX + OWL_TAG_MAX + 2];
        owl_model_name_format(&name, full, sizeof full);
        printf("created %s (%s)\n", full, m.digest);
        owl_manifest_free(&m);
    }
    owl_modelfile_free(&mf);
    owl_store_close(&s);
    return rc;
}

const cli_command cmd_create = {"create", run, "create a store model from a Modelfile", usage};
