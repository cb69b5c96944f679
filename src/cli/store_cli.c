/* Helpers for the commands that work with the model store (see store_cli.h). */
#include "cli/store_cli.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int cli_store_open(owl_store *s) {
    owl_error err = {{0}};
    if (owl_store_open(s, NULL, &err) < 0) return cli_error("%s", err.msg), -1;
    return 0;
}

int cli_resolve_model(const char *arg, owl_resolved *out) {
    owl_error err = {{0}};
    struct stat st;
    /* A plain file needs no store (and creates no ~/.owl). */
    if (stat(arg, &st) == 0 && !S_ISDIR(st.st_mode)) {
        if (owl_store_resolve(NULL, arg, out, &err) < 0) return cli_error("%s", err.msg), -1;
        return 0;
    }
    owl_store s;
    if (owl_store_open(&s, NULL, &err) < 0) {
        /* no usable store: report the argument as a missing file */
        if (owl_store_resolve(NULL, arg, out, &err) < 0) return cli_error("%s", err.msg), -1;
        return 0;
    }
    int rc = owl_store_resolve(&s, arg, out, &err);
    owl_store_close(&s);
    if (rc < 0) return cli_error("%s", err.msg), -1;
    return 0;
}

void cli_apply_params(const json_t *params, owl_sampler_params *sp, long long *n_ctx,
                      long long *n_predict) {
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)params, key, v) {
        if (!json_is_number(v)) continue;
        double d = json_number_value(v);
        if (strcmp(key, "temperature") == 0) sp->temperature = (float)d;
        else if (strcmp(key, "top_k") == 0) sp->top_k = (int)d;
        else if (strcmp(key, "top_p") == 0) sp->top_p = (float)d;
        else if (strcmp(key, "min_p") == 0) sp->min_p = (float)d;
        else if (strcmp(key, "typical_p") == 0) sp->typical_p = (float)d;
        else if (strcmp(key, "repeat_penalty") == 0) sp->repeat_penalty = (float)d;
        else if (strcmp(key, "presence_penalty") == 0) sp->presence_penalty = (float)d;
        else if (strcmp(key, "frequency_penalty") == 0) sp->frequency_penalty = (float)d;
        else if (strcmp(key, "repeat_last_n") == 0 && d >= 0) sp->penalty_last_n = (int)d;
        else if (strcmp(key, "seed") == 0 && d >= 0) sp->seed = (uint64_t)d;
        else if (strcmp(key, "num_ctx") == 0 && n_ctx) *n_ctx = (long long)d;
        else if (strcmp(key, "num_predict") == 0 && n_predict) *n_predict = (long long)d;
    }
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int cli_pull_progress(void *user, const owl_pull_progress *p) {
    cli_progress *pr = user;
    if (pr->stop && *pr->stop) return 1;
    if (!pr->t0) {
        pr->t0 = now_s();
        pr->tty = isatty(STDERR_FILENO);
    }
    if (!pr->tty) return 0;
    if (strcmp(p->status, "downloading") != 0) {
        if (pr->drew) fputc('\n', stderr);
        pr->drew = false;
        if (strcmp(p->status, "success") != 0) fprintf(stderr, "%s\n", p->status);
        return 0;
    }
    /* the rate counts from the first "downloading" report: resumed bytes are not this run's */
    if (!pr->drew) pr->last_completed = p->completed, pr->t0 = now_s();
    double el = now_s() - pr->t0;
    double rate = el > 0.001 ? (double)(p->completed - pr->last_completed) / el : 0;
    char done[32], total[32], speed[32], eta[32] = "";
    cli_fmt_bytes(done, sizeof done, (double)p->completed);
    cli_fmt_bytes(total, sizeof total, (double)p->total);
    cli_fmt_bytes(speed, sizeof speed, rate);
    int pct = p->total ? (int)(100.0 * (double)p->completed / (double)p->total) : 0;
    if (rate > 0 && p->total > p->completed) {
        double s = (double)(p->total - p->completed) / rate;
        if (s >= 3600) snprintf(eta, sizeof eta, "%dh%02dm", (int)(s / 3600), (int)s % 3600 / 60);
        else if (s >= 60) snprintf(eta, sizeof eta, "%dm%02ds", (int)(s / 60), (int)s % 60);
        else snprintf(eta, sizeof eta, "%ds", (int)s);
    }
    char bar[26];
    int fill = pct / 4;
    for (int i = 0; i < 25; i++) bar[i] = i < fill ? '#' : ' ';
    bar[25] = '\0';
    if (p->total) {
        fprintf(stderr, "\rdownloading %3d%% [%s] %s/%s  %s/s  %s\033[K", pct, bar, done, total,
                speed, eta[0] ? eta : "-");
    } else {
        fprintf(stderr, "\rdownloading %s  %s/s\033[K", done, speed);
    }
    pr->drew = true;
    return 0;
}
