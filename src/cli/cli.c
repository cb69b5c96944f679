/* Shared helpers of the command line: errors, option walking, number parsing, formatting. */
#include "cli/cli.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cli_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("owl: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 1;
}

void cli_args_init(cli_args *a, int argc, char **argv) {
    a->argc = argc;
    a->argv = argv;
    a->i = 1;
    a->cmd = argc > 0 ? argv[0] : "owl";
}

const char *cli_args_next(cli_args *a, bool *is_flag) {
    if (a->i >= a->argc) return NULL;
    const char *s = a->argv[a->i++];
    if (strcmp(s, "--") == 0) {
        /* everything after "--" is positional: mark by returning them with is_flag false */
        if (a->i >= a->argc) return NULL;
        *is_flag = false;
        return a->argv[a->i++];
    }
    *is_flag = s[0] == '-' && s[1] != '\0';
    return s;
}

bool cli_flag_is(const char *arg, const char *name) {
    size_t n = strlen(name);
    return strncmp(arg, name, n) == 0 && (arg[n] == '\0' || arg[n] == '=');
}

const char *cli_args_value(cli_args *a, const char *flag) {
    const char *eq = strchr(flag, '=');
    if (eq && flag[0] == '-' && flag[1] == '-') return eq + 1;
    if (a->i >= a->argc) {
        cli_error("%s: option %s needs a value", a->cmd, flag);
        return NULL;
    }
    return a->argv[a->i++];
}

bool cli_parse_int(const char *flag, const char *s, long long min, long long max, long long *out) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end != '\0') {
        cli_error("%s: '%s' is not an integer", flag, s);
        return false;
    }
    if (v < min || v > max) {
        cli_error("%s: %lld is out of range [%lld, %lld]", flag, v, min, max);
        return false;
    }
    *out = v;
    return true;
}

bool cli_parse_float(const char *flag, const char *s, double *out) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end != '\0' || !isfinite(v)) {
        cli_error("%s: '%s' is not a number", flag, s);
        return false;
    }
    *out = v;
    return true;
}

bool cli_parse_kv_type(const char *flag, const char *s, owl_type *out) {
    if (strcmp(s, "f16") == 0) *out = OWL_TYPE_F16;
    else if (strcmp(s, "f32") == 0) *out = OWL_TYPE_F32;
    else if (strcmp(s, "q8_0") == 0) *out = OWL_TYPE_Q8_0;
    else {
        cli_error("%s: '%s' is not a KV cache type (f16, f32 or q8_0)", flag, s);
        return false;
    }
    return true;
}

void cli_fmt_bytes(char *buf, size_t n, double b) {
    const char *u[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int i = 0;
    while (b >= 1024 && i < 4) {
        b /= 1024;
        i++;
    }
    if (i == 0) snprintf(buf, n, "%.0f %s", b, u[i]);
    else snprintf(buf, n, "%.2f %s", b, u[i]);
}

void cli_fmt_count(char *buf, size_t n, double c) {
    if (c >= 1e9) snprintf(buf, n, "%.2fB", c / 1e9);
    else if (c >= 1e6) snprintf(buf, n, "%.2fM", c / 1e6);
    else if (c >= 1e3) snprintf(buf, n, "%.2fK", c / 1e3);
    else snprintf(buf, n, "%.0f", c);
}
