/* owl pull: download a GGUF model into the store (resumable, verified). */
#include "cli/commands.h"
#include "cli/store_cli.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

static const char usage[] =
    "usage: owl pull URL [--name NAME[:TAG]] [--sha256 HEX] [--token TOKEN]\n"
    "\n"
    "Downloads a GGUF file into the model store ($OWL_HOME, default ~/.owl) and names it.\n"
    "URL is http(s)://... or hf://OWNER/REPO/FILE.gguf (a Hugging Face file on the main branch).\n"
    "\n"
    "An interrupted pull resumes where it stopped when the same URL is pulled again. The file's\n"
    "SHA-256 is checked against --sha256, or else against the digest the server sends\n"
    "(Hugging Face's X-Linked-Etag, or an ETag of 64 hex digits); a mismatch deletes it.\n"
    "A progress bar is drawn when stderr is a terminal.\n"
    "\n"
    "  --name NAME[:TAG]   store name (default: the file name without .gguf, tag latest)\n"
    "  --sha256 HEX        the expected SHA-256 of the file\n"
    "  --token TOKEN       sent as a Bearer token (a gated Hugging Face repository); hf:// and\n"
    "                      https://huggingface.co URLs send $HF_TOKEN when it is set\n";

static volatile sig_atomic_t interrupted;

/* The first Ctrl-C stops the transfer at its next progress report; a second one (a server that
 * sends nothing at all) ends the program at once. Either way the partial file stays. */
static void on_sigint(int sig) {
    if (interrupted) {
        signal(sig, SIG_DFL);
        raise(sig);
    }
    interrupted = 1;
}

static int run(int argc, char **argv) {
    cli_args a;
    cli_args_init(&a, argc, argv);
    const char *url = NULL, *arg;
    bool flag;
    owl_pull_opts o = {0};
    while ((arg = cli_args_next(&a, &flag))) {
        if (!flag) {
            if (url) return cli_error("pull: unexpected argument '%s'", arg);
            url = arg;
        } else if (cli_flag_is(arg, "--name")) {
            if (!(o.name = cli_args_value(&a, "--name"))) return 1;
        } else if (cli_flag_is(arg, "--sha256")) {
            if (!(o.expected_sha256 = cli_args_value(&a, "--sha256"))) return 1;
            if (!owl_sha256_hex_valid(o.expected_sha256)) {
                return cli_error("pull: --sha256 must be 64 hex digits");
            }
        } else if (cli_flag_is(arg, "--token")) {
            if (!(o.bearer_token = cli_args_value(&a, "--token"))) return 1;
        } else {
            return cli_error("pull: unknown option %s (see 'owl help pull')", arg);
        }
    }
    if (!url) return cli_error("pull: missing URL (see 'owl help pull')");
    if (!o.bearer_token) o.bearer_token = owl_pull_env_token(url);
    owl_store s;
    if (cli_store_open(&s) < 0) return 1;
    /* Ctrl-C ends the transfer cleanly: the partial file stays for the next pull. */
    cli_progress pr = {.stop = &interrupted};
    signal(SIGINT, on_sigint);
    signal(SIGTERM, on_sigint);
    o.progress = cli_pull_progress;
    o.user = &pr;
    owl_error err = {{0}};
    owl_manifest m;
    int rc = owl_store_pull(&s, url, &o, &m, &err);
    if (pr.drew) fputc('\n', stderr);
    owl_store_close(&s);
    if (rc < 0) return cli_error("pull: %s", err.msg);
    char name[OWL_NAME_MAX + OWL_TAG_MAX + 2], size[32];
    owl_model_name_format(&m.name, name, sizeof name);
    cli_fmt_bytes(size, sizeof size, (double)m.size);
    printf("pulled %s (%s, %s)\n", name, m.digest, size);
    owl_manifest_free(&m);
    return 0;
}

const cli_command cmd_pull = {"pull", run, "download a model into the store", usage};
