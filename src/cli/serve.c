/* owl serve: the OpenAI- and Ollama-compatible HTTP server. With MODEL (a file or a store name)
 * it serves that one model through the engine backend (src/server/engine.c); without, it serves
 * every model in the store, loaded on demand by the registry (src/server/registry.c). */
#include "cli/commands.h"
#include "owl/server.h"
#include "cli/store_cli.h"
#include "server/engine.h"
#include "server/registry.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: owl serve [MODEL] [options]       (MODEL: a GGUF file or a store name)\n"
    "\n"
    "Serves the OpenAI API (/v1/chat/completions, /v1/completions, /v1/models) and the Ollama\n"
    "API (/api/chat, /api/generate, /api/tags, ...) plus /health and /metrics.\n"
    "\n"
    "options:\n"
    "  --host H            address to listen on (default 127.0.0.1)\n"
    "  --port P            port (default 8080; 0 picks a free one)\n"
    "  --api-key K         require 'Authorization: Bearer K' (not for /health)\n"
    "  --api-key-file F    the same, with the key read from the first line of F\n"
    "  --cors              allow browser pages of any origin (CORS headers, preflight)\n"
    "  --max-body BYTES    largest request body (default 8388608)\n"
    "  --timeout S         seconds a client may stay silent while sending (default 30)\n"
    "  --log-json          one JSON object per request on stderr instead of a text line\n"
    "  --parallel N        requests generated at once, one slot each (default 1)\n"
    "  -c, --ctx N         context per slot in tokens (default: the model's, at most 4096)\n"
    "  -t, --threads N     threads (default: online CPUs)\n"
    "  --max-queue N       waiting requests before 503 (default 64)\n"
    "  --kv-type T         KV cache type: f16 (default), f32 or q8_0 (half the memory of f16)\n"
    "  --prefill-chunk N   prompt tokens read per step beside running streams (default 64)\n"
    "  --no-prefix-cache   read every prompt in full (for measuring the prefix cache)\n"
    "\n"
    "Without MODEL every model in the store ($OWL_HOME, default ~/.owl) is served by name: a\n"
    "model loads on its first request and stays for its keep_alive; /api/tags, /api/show,\n"
    "/api/ps, /api/pull, /api/copy, /api/delete and /v1/models work on the store.\n"
    "  --keep-alive D      how long an idle model stays loaded when a request does not say:\n"
    "                      seconds or a duration like 5m, 1h; 0 unloads at once; negative\n"
    "                      keeps it (default 5m)\n"
    "  --memory-budget B   memory for all loaded models (file size + KV cache), e.g. 8G, 512M;\n"
    "                      the least recently used idle model is unloaded to make room\n"
    "                      (default: no limit)\n"
    "\n"
    "Each request is logged on stderr (method, path, status, tokens, ms); prompts never are.\n"
    "SIGINT or SIGTERM stops accepting, ends running streams and exits 0.\n";

static void log_stderr(void *user, const char *line) {
    /* One fputs per line keeps lines from different connections whole. */
    char buf[600];
    snprintf(buf, sizeof buf, "%s\n", line);
    fputs(buf, stderr);
}

static char *read_key_file(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return NULL;
    char line[1024];
    char *key = NULL;
    if (fgets(line, sizeof line, f)) {
        size_t n = strcspn(line, "\r\n");
        while (n && (line[n - 1] == ' ' || line[n - 1] == '\t')) n--;
        line[n] = '\0';
        key = strdup(line);
    }
    fclose(f);
    return key;
}

static int run(int argc, char **argv) {
    cli_args a;
    cli_args_init(&a, argc, argv);
    owl_server_config cfg = owl_server_default_config();
    const char *model = NULL, *arg, *v, *key_file = NULL;
    long long n;
    bool flag;
    owl_engine_params ep = {.n_slots = 1, .max_queue = 64, .kv_type = OWL_TYPE_F16};
    owl_registry_params rp = {.keep_alive_s = 300};
    while ((arg = cli_args_next(&a, &flag))) {
        if (!flag) {
            if (model) return cli_error("serve: unexpected argument '%s'", arg);
            model = arg;
        } else if (cli_flag_is(arg, "--host")) {
            if (!(v = cli_args_value(&a, "--host"))) return 1;
            cfg.host = v;
        } else if (cli_flag_is(arg, "--port")) {
            if (!(v = cli_args_value(&a, "--port")) || !cli_parse_int("--port", v, 0, 65535, &n))
                return 1;
            cfg.port = (int)n;
        } else if (cli_flag_is(arg, "--api-key")) {
            if (!(v = cli_args_value(&a, "--api-key"))) return 1;
            if (!*v) return cli_error("serve: --api-key is empty");
            cfg.api_key = v;
        } else if (cli_flag_is(arg, "--api-key-file")) {
            if (!(key_file = cli_args_value(&a, "--api-key-file"))) return 1;
        } else if (cli_flag_is(arg, "--cors")) {
            cfg.cors = true;
        } else if (cli_flag_is(arg, "--max-body")) {
            if (!(v = cli_args_value(&a, "--max-body")) ||
                !cli_parse_int("--max-body", v, 1024, 1LL << 32, &n))
                return 1;
            cfg.max_body = (size_t)n;
        } else if (cli_flag_is(arg, "--timeout")) {
            if (!(v = cli_args_value(&a, "--timeout")) ||
                !cli_parse_int("--timeout", v, 1, 3600, &n))
                return 1;
            cfg.timeout_s = (unsigned)n;
        } else if (cli_flag_is(arg, "--parallel")) {
            if (!(v = cli_args_value(&a, "--parallel")) || !cli_parse_int("--parallel", v, 1, 256, &n))
                return 1;
            ep.n_slots = (int)n;
        } else if (cli_flag_is(arg, "-c") || cli_flag_is(arg, "--ctx")) {
            if (!(v = cli_args_value(&a, arg)) || !cli_parse_int("--ctx", v, 8, 1 << 20, &n)) return 1;
            ep.n_ctx = (int)n;
        } else if (cli_flag_is(arg, "-t") || cli_flag_is(arg, "--threads")) {
            if (!(v = cli_args_value(&a, arg)) || !cli_parse_int("--threads", v, 1, 1024, &n)) return 1;
            ep.n_threads = (int)n;
        } else if (cli_flag_is(arg, "--kv-type")) {
            if (!(v = cli_args_value(&a, arg)) || !cli_parse_kv_type(arg, v, &ep.kv_type)) return 1;
        } else if (cli_flag_is(arg, "--max-queue")) {
            if (!(v = cli_args_value(&a, "--max-queue")) ||
                !cli_parse_int("--max-queue", v, 1, 1 << 16, &n))
                return 1;
            ep.max_queue = (int)n;
        } else if (cli_flag_is(arg, "--prefill-chunk")) {
            if (!(v = cli_args_value(&a, "--prefill-chunk")) ||
                !cli_parse_int("--prefill-chunk", v, 1, 4096, &n))
                return 1;
            ep.prefill_chunk = (int)n;
        } else if (cli_flag_is(arg, "--no-prefix-cache")) {
            ep.no_prefix_cache = true;
        } else if (cli_flag_is(arg, "--keep-alive")) {
            if (!(v = cli_args_value(&a, "--keep-alive"))) return 1;
            if (owl_parse_duration(v, &rp.keep_alive_s) < 0) {
                return cli_error("serve: --keep-alive: '%s' is not a duration (300, 5m, 1h, -1)", v);
            }
        } else if (cli_flag_is(arg, "--memory-budget")) {
            if (!(v = cli_args_value(&a, "--memory-budget"))) return 1;
            char *end;
            double b = strtod(v, &end);
            double unit = 1;
            if (*end == 'K' || *end == 'k') unit = 1024.0, end++;
            else if (*end == 'M' || *end == 'm') unit = 1024.0 * 1024, end++;
            else if (*end == 'G' || *end == 'g') unit = 1024.0 * 1024 * 1024, end++;
            else if (*end == 'T' || *end == 't') unit = 1024.0 * 1024 * 1024 * 1024, end++;
            if (*end == 'i' || *end == 'B') end += *end == 'i' && end[1] == 'B' ? 2 : 1;
            if (end == v || *end || !(b > 0) || b * unit > 1e18) {
                return cli_error("serve: --memory-budget: '%s' is not a size (e.g. 8G, 512M)", v);
            }
            rp.memory_budget = (uint64_t)(b * unit);
        } else if (cli_flag_is(arg, "--log-json")) {
            cfg.log_json = true;
        } else {
            return cli_error("serve: unknown option %s (see 'owl help serve')", arg);
        }
    }
    char *key = NULL;
    if (key_file) {
        key = read_key_file(key_file);
        if (!key || !*key) {
            free(key);
            return cli_error("serve: %s: cannot read an API key from its first line", key_file);
        }
        cfg.api_key = key;
    }
    owl_error err = {{0}};
    owl_backend *be = NULL;
    char store_name[OWL_NAME_MAX + OWL_TAG_MAX + 2] = "";
    if (model) {
        owl_resolved res;
        if (cli_resolve_model(model, &res) < 0) {
            free(key);
            return 1;
        }
        ep.template_src = res.m.template_src;
        be = owl_engine_backend_new(res.path, &ep, &err);
        /* a store model is listed under its store name rather than its general.name */
        if (be && res.from_store) {
            owl_model_name_format(&res.m.name, store_name, sizeof store_name);
            be->model_name = store_name;
        }
        owl_resolved_free(&res);
    } else {
        rp.engine = ep;
        be = owl_registry_backend_new(&rp, &err);
    }
    if (!be) {
        free(key);
        return cli_error("%s", err.msg);
    }
    cfg.log = log_stderr;

    /* Signals are taken by sigwait below; blocking them before the server starts its threads
     * means no connection thread is ever interrupted by one. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    owl_server *s = owl_server_new(&cfg, be, &err);
    if (!s) {
        if (model) owl_engine_backend_destroy(be);
        else owl_registry_backend_destroy(be);
        free(key);
        return cli_error("serve: %s", err.msg);
    }
    fprintf(stderr, "owl: listening on http://%s:%d serving %s\n", cfg.host, owl_server_port(s),
            model ? be->model_name : "the model store");
    int sig = 0;
    sigwait(&set, &sig);
    fprintf(stderr, "owl: %s, stopping\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    owl_server_destroy(s);
    if (model) owl_engine_backend_destroy(be);
    else owl_registry_backend_destroy(be);
    free(key);
    return 0;
}

const cli_command cmd_serve = {"serve", run, "serve the OpenAI and Ollama APIs over HTTP", usage};
