/* owl run: generate text with a model.
 *
 *   owl run MODEL -p PROMPT   answer once and exit; stdout carries only the generated text
 *   owl run MODEL             interactive: each line continues the conversation; /bye, /clear,
 *                             /set temp|top-k|top-p|min-p|seed|n VALUE; Ctrl-C stops the answer
 *
 * The prompt goes through the model's chat template (tokenizer.chat_template) as a user message
 * with the generation prompt added; with --raw, or when the model has no template, it is a plain
 * continuation. In a chat the whole history is rendered each turn and only the tokens that differ
 * from what the cache holds are run. Generation stops at an end-of-generation token, after -n
 * tokens, when the context is full, or where a --stop string appears (text that could be the
 * start of one is held back until it cannot; owl_stop_scan). */
#include "cli/cli.h"
#include "owl/chat.h"
#include "owl/model.h"
#include "cli/store_cli.h"
#include "owl/sample.h"
#include "owl/tokenizer.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig) {
    (void)sig;
    interrupted = 1;
}

typedef struct run_opts {
    const char *path, *prompt;
    bool raw;
    long long n_predict, threads, n_ctx;
    owl_type kv_type;
    const char **stops;   /* --stop strings (pointers into argv) */
    size_t n_stops;
    owl_sampler_params sp;
    bool seed_set;
} run_opts;

typedef struct session {
    owl_model *model;
    owl_context *ctx;
    owl_tokenizer *tok;
    owl_sampler *sampler;
    const run_opts *o;
    owl_template *tmpl;   /* NULL: plain continuation */
    json_t *messages;     /* chat history */
    int32_t *cached;      /* the tokens the KV cache holds, in order */
    size_t n_cached;
    char *reply;          /* the text of the current answer */
    size_t reply_len, reply_cap;
    char *held;           /* generated text not shown yet: it may be the start of a stop string */
    size_t held_len, held_cap;
} session;

static void reply_add(session *s, const char *p, size_t n) {
    if (s->reply_len + n + 1 > s->reply_cap) {
        size_t cap = (s->reply_len + n + 1) * 2;
        char *r = realloc(s->reply, cap);
        if (!r) return;
        s->reply = r;
        s->reply_cap = cap;
    }
    memcpy(s->reply + s->reply_len, p, n);
    s->reply_len += n;
    s->reply[s->reply_len] = 0;
}

/* Shows generated text (stdout, and the answer in the history). */
static void show(session *s, const char *p, size_t n) {
    if (!n) return;
    fwrite(p, 1, n, stdout);
    fflush(stdout);
    reply_add(s, p, n);
}

/* Takes the next piece of generated text: shows what can no longer be part of a stop string and
 * holds back the rest. Returns true when a stop string is complete (the text from it on is
 * dropped). */
static bool emit(session *s, const char *p, size_t n) {
    if (s->o->n_stops == 0) {
        show(s, p, n);
        return false;
    }
    if (s->held_len + n + 1 > s->held_cap) {
        size_t cap = (s->held_len + n + 1) * 2;
        char *h = realloc(s->held, cap);
        if (!h) { /* cannot hold text back: show it as it is */
            show(s, s->held, s->held_len);
            show(s, p, n);
            s->held_len = 0;
            return false;
        }
        s->held = h;
        s->held_cap = cap;
    }
    memcpy(s->held + s->held_len, p, n);
    s->held_len += n;
    size_t release = 0;
    bool hit = owl_stop_scan(s->held, s->held_len, s->o->stops, s->o->n_stops, &release);
    show(s, s->held, release);
    memmove(s->held, s->held + release, s->held_len - release);
    s->held_len = hit ? 0 : s->held_len - release;
    return hit;
}

/* Decodes `ids`, then samples and prints until a stop; returns 0 or a CLI error status. */
static int remember(session *s, const int32_t *ids, size_t n) {
    int32_t *c = realloc(s->cached, (s->n_cached + n + 1) * sizeof *c);
    if (!c) return -1;
    memcpy(c + s->n_cached, ids, n * sizeof *c);
    s->cached = c;
    s->n_cached += n;
    return 0;
}

static int generate(session *s, const int32_t *ids, size_t n_ids, long long n_predict) {
    owl_error err = {{0}};
    if (n_ids > 0 && owl_decode(s->ctx, ids, (int)n_ids, false, &err)) return cli_error("run: %s", err.msg);
    if (remember(s, ids, n_ids)) return cli_error("run: out of memory");
    for (size_t i = 0; i < n_ids; i++) owl_sampler_accept(s->sampler, ids[i]);
    s->reply_len = 0;
    s->held_len = 0;
    bool stopped = false;
    owl_detok_stream *ds = owl_detok_stream_new(s->tok, 0);
    if (!ds) return cli_error("run: out of memory");
    int rc = 0;
    interrupted = 0;
    for (long long i = 0; n_predict < 0 || i < n_predict; i++) {
        if (interrupted) break;
        if (owl_context_n_past(s->ctx) == 0) break; /* nothing to continue from */
        int32_t t = owl_sampler_sample(s->sampler, owl_context_logits(s->ctx, 0));
        if (owl_tokenizer_is_eog(s->tok, t)) break;
        owl_sampler_accept(s->sampler, t);
        const char *out;
        size_t len;
        if (owl_detok_stream_push(ds, t, &out, &len, &err)) {
            rc = cli_error("run: %s", err.msg);
            break;
        }
        if ((stopped = emit(s, out, len))) break;
        if (owl_context_n_past(s->ctx) >= owl_context_n_ctx(s->ctx)) break; /* context full */
        if (owl_decode(s->ctx, &t, 1, false, &err)) {
            rc = cli_error("run: %s", err.msg);
            break;
        }
        remember(s, &t, 1);
    }
    const char *out;
    size_t len;
    if (!stopped) {
        /* Generation ended otherwise: what the detokenizer and the stop matcher still hold is
         * text like any other. */
        owl_detok_stream_flush(ds, &out, &len);
        if (!emit(s, out, len)) show(s, s->held, s->held_len);
        s->held_len = 0;
    }
    owl_detok_stream_destroy(ds);
    return rc;
}

/* The conversation so far through the template, ending with the generation prompt. */
static char *render_chat(session *s) {
    owl_error err = {{0}};
    owl_str bos = owl_token_text(s->tok, owl_tokenizer_bos(s->tok));
    owl_str eos = owl_token_text(s->tok, owl_tokenizer_eos(s->tok));
    char *b = owl_str_dup(bos), *e = owl_str_dup(eos);
    owl_chat_params p = {.messages = s->messages, .add_generation_prompt = true, .bos_token = b, .eos_token = e};
    char *out = NULL;
    size_t len;
    if (owl_chat_render(s->tmpl, &p, NULL, &out, &len, &err)) {
        cli_error("run: chat template: %s", err.msg);
        out = NULL;
    }
    free(b);
    free(e);
    return out;
}

/* Tokens of the rendered chat: special tokens parsed, BOS added unless the text has it. */
static int tokenize_chat(session *s, const char *text, int32_t **ids, size_t *n) {
    owl_error err = {{0}};
    owl_str bos = owl_token_text(s->tok, owl_tokenizer_bos(s->tok));
    bool has_bos = bos.len > 0 && strncmp(text, bos.ptr, bos.len) == 0;
    if (owl_tokenize(s->tok, text, strlen(text), !has_bos, true, ids, n, &err))
        return cli_error("run: %s", err.msg);
    return 0;
}

/* Runs one user turn of a chat: renders the history, keeps the cached prefix that still
 * matches, decodes the rest and answers; the answer joins the history. */
static int chat_turn(session *s, const char *user) {
    json_array_append_new(s->messages, json_pack("{s:s, s:s}", "role", "user", "content", user));
    char *text = render_chat(s);
    if (!text) return 1;
    int32_t *ids = NULL;
    size_t n = 0;
    int rc = tokenize_chat(s, text, &ids, &n);
    free(text);
    if (rc) return rc;
    size_t keep = 0;
    while (keep < n && keep < s->n_cached && ids[keep] == s->cached[keep]) keep++;
    if (keep == n && keep > 0) keep--; /* at least one token must run to get logits */
    if ((long long)n >= owl_context_n_ctx(s->ctx)) {
        free(ids);
        json_array_remove(s->messages, json_array_size(s->messages) - 1);
        return cli_error("run: the conversation (%zu tokens) does not fit the context of %d; /clear to start again", n, owl_context_n_ctx(s->ctx));
    }
    owl_context_truncate(s->ctx, (int)keep);
    s->n_cached = keep;
    rc = generate(s, ids + keep, n - keep, s->o->n_predict);
    free(ids);
    json_array_append_new(s->messages, json_pack("{s:s, s:s%}", "role", "assistant", "content",
                                                 s->reply ? s->reply : "", s->reply ? s->reply_len : (size_t)0));
    return rc;
}

static int tokenize(session *s, const char *text, bool add_special, int32_t **ids, size_t *n) {
    owl_error err = {{0}};
    if (owl_tokenize(s->tok, text, strlen(text), add_special, false, ids, n, &err))
        return cli_error("run: %s", err.msg);
    return 0;
}

static int answer_once(session *s) {
    if (s->tmpl) {
        int rc = chat_turn(s, s->o->prompt);
        if (rc == 0) fputc('\n', stdout);
        return rc;
    }
    int32_t *ids = NULL;
    size_t n = 0;
    if (tokenize(s, s->o->prompt, true, &ids, &n)) return 1;
    if (n == 0) {
        free(ids);
        return cli_error("run: the prompt is empty and the model adds no BOS token");
    }
    if ((long long)n >= owl_context_n_ctx(s->ctx)) {
        free(ids);
        return cli_error("run: the prompt (%zu tokens) does not fit the context of %d", n, owl_context_n_ctx(s->ctx));
    }
    int rc = generate(s, ids, n, s->o->n_predict);
    free(ids);
    if (rc == 0) fputc('\n', stdout);
    return rc;
}

static void set_param(session *s, char *line) {
    char name[32];
    double v;
    if (sscanf(line, "/set %31s %lf", name, &v) != 2) {
        fprintf(stderr, "usage: /set temp|top-k|top-p|min-p|seed|n VALUE\n");
        return;
    }
    run_opts *o = (run_opts *)s->o;
    if (strcmp(name, "temp") == 0) o->sp.temperature = (float)v;
    else if (strcmp(name, "top-k") == 0) o->sp.top_k = (int)v;
    else if (strcmp(name, "top-p") == 0) o->sp.top_p = (float)v;
    else if (strcmp(name, "min-p") == 0) o->sp.min_p = (float)v;
    else if (strcmp(name, "seed") == 0) o->sp.seed = (uint64_t)v;
    else if (strcmp(name, "n") == 0) o->n_predict = (long long)v;
    else {
        fprintf(stderr, "unknown parameter '%s'\n", name);
        return;
    }
    owl_error err = {{0}};
    owl_sampler *ns = owl_sampler_new(&o->sp, owl_model_hparams(s->model)->n_vocab, &err);
    if (!ns) {
        fprintf(stderr, "%s\n", err.msg);
        return;
    }
    owl_sampler_destroy(s->sampler);
    s->sampler = ns;
}

static int interactive(session *s) {
    struct sigaction sa = {0};
    sa.sa_handler = on_sigint;
    sigaction(SIGINT, &sa, NULL);
    char line[8192];
    bool first = true;
    fprintf(stderr, "owl: interactive; /bye to quit, /clear to forget, /set NAME VALUE\n");
    for (;;) {
        fprintf(stderr, "> ");
        if (!fgets(line, sizeof line, stdin)) break;
        line[strcspn(line, "\n")] = 0;
        if (strcmp(line, "/bye") == 0) break;
        if (strcmp(line, "/clear") == 0) {
            owl_context_truncate(s->ctx, 0);
            owl_sampler_reset(s->sampler);
            /* a store model's system prompt (messages[0]) outlives /clear */
            const char *role0 =
                json_string_value(json_object_get(json_array_get(s->messages, 0), "role"));
            size_t keep = role0 && strcmp(role0, "system") == 0;
            while (json_array_size(s->messages) > keep) json_array_remove(s->messages, keep);
            s->n_cached = 0;
            first = true;
            continue;
        }
        if (strncmp(line, "/set", 4) == 0) {
            set_param(s, line);
            continue;
        }
        if (s->tmpl) {
            chat_turn(s, line);
            fputc('\n', stdout);
            fflush(stdout);
            continue;
        }
        int32_t *ids = NULL;
        size_t n = 0;
        if (tokenize(s, line, first, &ids, &n)) continue;
        if ((long long)n + owl_context_n_past(s->ctx) >= owl_context_n_ctx(s->ctx)) {
            fprintf(stderr, "owl: the context is full; /clear to start again\n");
            free(ids);
            continue;
        }
        first = false;
        generate(s, ids, n, s->o->n_predict);
        free(ids);
        fputc('\n', stdout);
        fflush(stdout);
    }
    return 0;
}

static int parse(int argc, char **argv, run_opts *o) {
    cli_args a;
    cli_args_init(&a, argc, argv);
    const char *arg;
    bool flag;
    double f;
    long long v;
    while ((arg = cli_args_next(&a, &flag))) {
        if (!flag) {
            if (o->path) return cli_error("run: more than one model given");
            o->path = arg;
            continue;
        }
        const char *val = NULL;
        if (cli_flag_is(arg, "--raw")) {
            o->raw = true;
            continue;
        }
        if (!(val = cli_args_value(&a, arg))) return 1;
        if (cli_flag_is(arg, "-p") || cli_flag_is(arg, "--prompt")) {
            o->prompt = val;
        } else if (cli_flag_is(arg, "-n") || cli_flag_is(arg, "--n-predict")) {
            if (!cli_parse_int(arg, val, -1, 1 << 24, &o->n_predict)) return 1;
        } else if (cli_flag_is(arg, "-t") || cli_flag_is(arg, "--threads")) {
            if (!cli_parse_int(arg, val, 1, 1024, &o->threads)) return 1;
        } else if (cli_flag_is(arg, "-c") || cli_flag_is(arg, "--ctx-size")) {
            if (!cli_parse_int(arg, val, 1, 1 << 22, &o->n_ctx)) return 1;
        } else if (cli_flag_is(arg, "--kv-type")) {
            if (!cli_parse_kv_type(arg, val, &o->kv_type)) return 1;
        } else if (cli_flag_is(arg, "--stop")) {
            if (!*val) return cli_error("run: --stop wants a non-empty string");
            const char **st = realloc(o->stops, (o->n_stops + 1) * sizeof *st);
            if (!st) return cli_error("run: out of memory");
            o->stops = st;
            o->stops[o->n_stops++] = val;
        } else if (cli_flag_is(arg, "--seed")) {
            if (!cli_parse_int(arg, val, 0, INT64_MAX, &v)) return 1;
            o->sp.seed = (uint64_t)v;
            o->seed_set = true;
        } else if (cli_flag_is(arg, "--top-k")) {
            if (!cli_parse_int(arg, val, 0, 1 << 24, &v)) return 1;
            o->sp.top_k = (int)v;
        } else if (cli_flag_is(arg, "--repeat-last-n")) {
            if (!cli_parse_int(arg, val, 0, 1 << 20, &v)) return 1;
            o->sp.penalty_last_n = (int)v;
        } else {
            if (!cli_parse_float(arg, val, &f)) return 1;
            if (cli_flag_is(arg, "--temp")) o->sp.temperature = (float)f;
            else if (cli_flag_is(arg, "--top-p")) o->sp.top_p = (float)f;
            else if (cli_flag_is(arg, "--min-p")) o->sp.min_p = (float)f;
            else if (cli_flag_is(arg, "--typical")) o->sp.typical_p = (float)f;
            else if (cli_flag_is(arg, "--repeat-penalty")) o->sp.repeat_penalty = (float)f;
            else if (cli_flag_is(arg, "--presence-penalty")) o->sp.presence_penalty = (float)f;
            else if (cli_flag_is(arg, "--frequency-penalty")) o->sp.frequency_penalty = (float)f;
            else return cli_error("run: unknown option %s (see 'owl help run')", arg);
        }
    }
    if (!o->path) return cli_error("run: no model given (usage: owl run MODEL [-p PROMPT])");
    return 0;
}

static int run(int argc, char **argv) {
    run_opts o = {.n_predict = -1, .sp = owl_sampler_default_params(), .kv_type = OWL_TYPE_F16};
    if (parse(argc, argv, &o)) {
        free(o.stops);
        return 1;
    }
    /* A store name brings its Modelfile defaults; options on the command line still win, so
     * they are parsed again over those defaults. */
    owl_resolved res;
    if (cli_resolve_model(o.path, &res) < 0) {
        free(o.stops);
        return 1;
    }
    if (res.from_store) {
        free(o.stops);
        o = (run_opts){.n_predict = -1, .sp = owl_sampler_default_params(), .kv_type = OWL_TYPE_F16};
        cli_apply_params(res.m.parameters, &o.sp, &o.n_ctx, &o.n_predict);
        if (json_is_integer(json_object_get(res.m.parameters, "seed"))) o.seed_set = true;
        parse(argc, argv, &o);
    }
    o.path = res.path;
    if (!o.seed_set) o.sp.seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);

    owl_error err = {{0}};
    session s = {.o = &o};
    s.model = owl_model_load(o.path, &err);
    if (!s.model) return cli_error("%s", err.msg);
    int rc = 1;
    s.tok = owl_tokenizer_from_gguf(owl_model_gguf(s.model), &err);
    if (!s.tok) {
        rc = cli_error("%s: %s", o.path, err.msg);
        goto done;
    }
    owl_str tsrc;
    if (!o.raw && res.m.template_src) {
        tsrc = (owl_str){res.m.template_src, strlen(res.m.template_src)};
    }
    if (!o.raw && (res.m.template_src ||
                   owl_gguf_get_str(owl_model_gguf(s.model), "tokenizer.chat_template", &tsrc))) {
        s.tmpl = owl_template_parse(tsrc.ptr, tsrc.len, &err);
        if (!s.tmpl) {
            rc = cli_error("%s: chat template: %s", o.path, err.msg);
            goto done;
        }
    }
    s.messages = json_array();
    if (res.m.system && s.tmpl) {
        json_t *sys = json_object();
        json_object_set_new(sys, "role", json_string("system"));
        json_object_set_new(sys, "content", json_string(res.m.system));
        json_array_append_new(s.messages, sys);
    }
    owl_context_params cp = owl_context_default_params();
    cp.n_ctx = (int)o.n_ctx;
    cp.n_threads = (int)o.threads;
    cp.kv_type = o.kv_type;
    s.ctx = owl_context_new(s.model, &cp, &err);
    s.sampler = s.ctx ? owl_sampler_new(&o.sp, owl_model_hparams(s.model)->n_vocab, &err) : NULL;
    if (!s.ctx || !s.sampler) {
        rc = cli_error("%s", err.msg);
        goto done;
    }
    rc = o.prompt ? answer_once(&s) : interactive(&s);
done:
    json_decref(s.messages);
    owl_template_destroy(s.tmpl);
    free(s.cached);
    free(s.reply);
    free(s.held);
    free(o.stops);
    owl_sampler_destroy(s.sampler);
    owl_context_destroy(s.ctx);
    owl_tokenizer_destroy(s.tok);
    owl_model_destroy(s.model);
    owl_resolved_free(&res);
    return rc;
}

const cli_command cmd_run = {
    .name = "run",
    .run = run,
    .summary = "generate text with a model (one answer, or an interactive session)",
    .usage = "usage: owl run MODEL [-p PROMPT] [--raw] [-n N] [--temp T] [--top-k K] [--top-p P]\n"
             "               [--min-p P] [--typical P] [--repeat-penalty R] [--presence-penalty P]\n"
             "               [--frequency-penalty F] [--repeat-last-n N] [--seed S] [-t THREADS] [-c CTX]\n"
             "               [--kv-type f16|f32|q8_0] [--stop STR]...\n"
             "\n"
             "With -p, answers once and exits, printing only the generated text: the prompt goes\n"
             "through the model's chat template, or is continued as plain text with --raw or when\n"
             "the model has no template.\n"
             "Without -p, reads lines from stdin: /bye quits, /clear forgets the conversation,\n"
             "/set temp|top-k|top-p|min-p|seed|n VALUE changes a setting; Ctrl-C stops an answer.\n"
             "Defaults: --temp 0.8 --top-k 40 --top-p 0.95 --min-p 0.05, -n until the model ends\n"
             "or the context is full, threads = cores, context = the model's (at most 4096, and\n"
             "no more than half the available memory holds as KV cache).\n"
             "--temp 0 is greedy. The same --seed and settings give the same text.\n"
             "--stop STR (repeatable) ends the answer where STR appears, even across tokens; STR\n"
             "itself is not printed, and text that may be its start is held back until it cannot.\n"
             "MODEL is a GGUF file or a store name (see 'owl list'); a store model's Modelfile\n"
             "parameters, template and system prompt are its defaults, the options above win.\n",
};
