/* owl render: renders a chat template with messages and prints the prompt exactly (no newline
 * added), as a server would feed it to the model. */
#include "cli/commands.h"
#include "owl/chat.h"
#include "owl/gguf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char USAGE[] =
    "usage: owl render [MODEL] [--chat-template FILE|NAME] [--bos S] [--eos S] --messages FILE\n"
    "                  [--tools FILE] [--no-generation-prompt] [--var NAME=JSON]...\n"
    "\n"
    "Renders a chat template and prints the prompt exactly as the model would see it (no newline\n"
    "is added). MODEL, a GGUF file, provides tokenizer.chat_template and the BOS/EOS token\n"
    "strings; without MODEL, --chat-template is required.\n"
    "\n"
    "  --chat-template FILE|NAME  a Jinja template file, or a built-in template:\n"
    "                             chatml, llama2, llama3, mistral, gemma, phi3\n"
    "  --bos S, --eos S           the bos_token / eos_token strings the template sees\n"
    "  --messages FILE            a JSON array of messages, or an object with \"messages\" (and\n"
    "                             optionally \"tools\", \"add_generation_prompt\" and other\n"
    "                             variables); '-' reads stdin\n"
    "  --tools FILE               a JSON array of tools (the template sees tools = None without)\n"
    "  --no-generation-prompt     add_generation_prompt = false (default true)\n"
    "  --var NAME=JSON            another template variable, e.g. --var enable_thinking=false\n";

static json_t *load_json(const char *flag, const char *path) {
    size_t len;
    char *text = owl_read_file(path, (size_t)64 << 20, &len, NULL);
    if (!text) {
        cli_error("render: %s: cannot read '%s'", flag, path);
        return NULL;
    }
    json_error_t je;
    json_t *j = json_loadb(text, len, JSON_DECODE_ANY, &je);
    free(text);
    if (!j) cli_error("render: %s: %s: line %d: %s", flag, path, je.line, je.text);
    return j;
}

typedef struct render_args {
    const char *model, *tmpl, *bos, *eos, *messages, *tools;
    bool no_gen;
    json_t *vars;
} render_args;

/* Loads the template source: --chat-template (a file, else a built-in name), else the model's. */
static char *template_source(const render_args *a, const char *model_tmpl, size_t model_len, size_t *len) {
    if (a->tmpl) {
        FILE *f = fopen(a->tmpl, "rb");
        if (f) {
            fclose(f);
            char *s = owl_read_file(a->tmpl, (size_t)16 << 20, len, NULL);
            if (!s) cli_error("render: cannot read template '%s'", a->tmpl);
            return s;
        }
        const char *b = owl_chat_builtin(a->tmpl);
        if (!b) {
            cli_error("render: --chat-template: '%s' is neither a file nor a built-in template", a->tmpl);
            return NULL;
        }
        *len = strlen(b);
        return strdup(b);
    }
    if (model_tmpl) {
        char *s = malloc(model_len + 1);
        if (s) {
            memcpy(s, model_tmpl, model_len);
            s[model_len] = '\0';
            *len = model_len;
        }
        return s;
    }
    return NULL;
}

static int run_render(int argc, char **argv) {
    render_args a = {0};
    cli_args ca;
    cli_args_init(&ca, argc, argv);
    a.vars = json_object();
    int rc = 1;
    json_t *msgs_doc = NULL, *tools = NULL, *messages = NULL;
    char *src = NULL, *out = NULL;
    owl_template *t = NULL;
    owl_gguf *g = NULL;
    char *bos_buf = NULL, *eos_buf = NULL;
    bool flag;
    const char *arg;
    while ((arg = cli_args_next(&ca, &flag)) != NULL) {
        if (!flag) {
            if (a.model) {
                cli_error("render: unexpected argument '%s'", arg);
                goto done;
            }
            a.model = arg;
            continue;
        }
        const char **slot = cli_flag_is(arg, "--chat-template") ? &a.tmpl
                          : cli_flag_is(arg, "--bos") ? &a.bos
                          : cli_flag_is(arg, "--eos") ? &a.eos
                          : cli_flag_is(arg, "--messages") ? &a.messages
                          : cli_flag_is(arg, "--tools") ? &a.tools : NULL;
        if (slot) {
            if (!(*slot = cli_args_value(&ca, arg))) goto done;
        } else if (cli_flag_is(arg, "--no-generation-prompt")) {
            a.no_gen = true;
        } else if (cli_flag_is(arg, "--var")) {
            const char *v = cli_args_value(&ca, arg);
            if (!v) goto done;
            const char *eq = strchr(v, '=');
            if (!eq || eq == v) {
                cli_error("render: --var wants NAME=JSON, got '%s'", v);
                goto done;
            }
            json_error_t je;
            json_t *j = json_loads(eq + 1, JSON_DECODE_ANY, &je);
            if (!j) {
                cli_error("render: --var %.*s: not JSON: %s", (int)(eq - v), v, je.text);
                goto done;
            }
            char name[256];
            snprintf(name, sizeof name, "%.*s", (int)(eq - v), v);
            json_object_set_new(a.vars, name, j);
        } else {
            cli_error("render: unknown option '%s' (see 'owl help render')", arg);
            goto done;
        }
    }
    if (!a.messages) {
        cli_error("render: --messages FILE is required");
        goto done;
    }
    if (!a.tmpl && !a.model) {
        cli_error("render: --chat-template is required without a MODEL");
        goto done;
    }
    size_t len = 0;
    if (a.model) {
        owl_error gerr = {{0}};
        if (!(g = owl_gguf_open(a.model, &gerr))) {
            cli_error("render: %s", gerr.msg);
            goto done;
        }
        owl_str tmpl_str = {0};
        bool has_tmpl = owl_gguf_get_str(g, "tokenizer.chat_template", &tmpl_str);
        const owl_gguf_array *tokens = owl_gguf_get_array(g, "tokenizer.ggml.tokens");
        if (tokens && tokens->type != OWL_GGUF_STRING) tokens = NULL;
        /* BOS/EOS strings: the token text of the ids the metadata names */
        if (tokens) {
            int64_t id;
            if (!a.bos && owl_gguf_get_int(g, "tokenizer.ggml.bos_token_id", &id) && id >= 0 && (uint64_t)id < tokens->n) {
                bos_buf = owl_str_dup(tokens->strs[id]);
            }
            if (!a.eos && owl_gguf_get_int(g, "tokenizer.ggml.eos_token_id", &id) && id >= 0 && (uint64_t)id < tokens->n) {
                eos_buf = owl_str_dup(tokens->strs[id]);
            }
        }
        if (!a.tmpl && !has_tmpl) {
            /* no template in the file: a built-in one chosen from the architecture and vocabulary */
            owl_str arch_s = {0};
            char *arch = owl_gguf_get_str(g, "general.architecture", &arch_s) ? owl_str_dup(arch_s) : NULL;
            a.tmpl = owl_chat_builtin_detect(arch, tokens ? tokens->strs : NULL, tokens ? (size_t)tokens->n : 0);
            free(arch);
        }
        src = template_source(&a, has_tmpl ? tmpl_str.ptr : NULL, tmpl_str.len, &len);
    } else {
        src = template_source(&a, NULL, 0, &len);
    }
    if (!src) goto done;
    if (!(msgs_doc = load_json("--messages", a.messages))) goto done;
    bool gen = true;
    if (json_is_array(msgs_doc)) {
        messages = msgs_doc;
    } else if (json_is_object(msgs_doc) && json_is_array(json_object_get(msgs_doc, "messages"))) {
        /* a whole conversation file: its other keys become variables (command line wins) */
        messages = json_object_get(msgs_doc, "messages");
        const char *k;
        json_t *v;
        json_object_foreach(msgs_doc, k, v) {
            if (!strcmp(k, "messages")) continue;
            if (!strcmp(k, "tools")) {
                if (!a.tools) tools = json_incref(v);
                continue;
            }
            if (!strcmp(k, "add_generation_prompt")) {
                gen = json_is_true(v);
                continue;
            }
            if (!json_object_get(a.vars, k)) json_object_set(a.vars, k, v);
        }
    } else {
        cli_error("render: --messages: %s holds neither a JSON array nor an object with \"messages\"", a.messages);
        goto done;
    }
    if (a.tools) {
        if (!(tools = load_json("--tools", a.tools))) goto done;
        if (!json_is_array(tools)) {
            cli_error("render: --tools: %s is not a JSON array", a.tools);
            goto done;
        }
    }
    if (a.no_gen) gen = false;
    owl_error err = {{0}};
    if (!(t = owl_template_parse(src, len, &err))) {
        cli_error("render: %s", err.msg);
        goto done;
    }
    json_t *docs = json_object_get(a.vars, "documents");
    owl_chat_params p = {
        .messages = messages,
        .tools = tools,
        .documents = docs,
        .add_generation_prompt = gen,
        .bos_token = a.bos ? a.bos : bos_buf ? bos_buf : "",
        .eos_token = a.eos ? a.eos : eos_buf ? eos_buf : "",
        .extra = a.vars,
    };
    size_t out_len;
    if (owl_chat_render(t, &p, NULL, &out, &out_len, &err) != 0) {
        cli_error("render: %s", err.msg);
        goto done;
    }
    if (fwrite(out, 1, out_len, stdout) != out_len || fflush(stdout) != 0) {
        cli_error("render: cannot write the output");
        goto done;
    }
    rc = 0;
done:
    free(out);
    free(src);
    owl_template_destroy(t);
    owl_gguf_close(g);
    free(bos_buf);
    free(eos_buf);
    json_decref(tools);
    json_decref(msgs_doc);
    json_decref(a.vars);
    return rc;
}

const cli_command cmd_render = {
    .name = "render",
    .run = run_render,
    .summary = "render a chat template with messages and print the prompt",
    .usage = USAGE,
};
