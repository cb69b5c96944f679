/* The owl command line: one file per subcommand (src/cli/<command>.c), each exporting
 * `int cmd_<name>(int argc, char **argv)` where argv[0] is the command name. A command prints its
 * results on stdout, one-line errors on stderr through cli_error(), and returns the exit status. */
#ifndef OWL_CLI_H
#define OWL_CLI_H

#include "owl/common.h"
#include "owl/tensor.h"

#include <stdbool.h>

typedef struct cli_command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary; /* one line for `owl help` */
    const char *usage;   /* full text for `owl help <command>` */
} cli_command;

/* Prints "owl: <message>" on stderr; returns 1 (the usual exit status). */
int cli_error(const char *fmt, ...) OWL_PRINTF(1, 2);

/* Option parsing shared by the commands. Flags look like --name VALUE, --name=VALUE or -x VALUE.
 * cli_args walks argv; positionals are collected in order. */
typedef struct cli_args {
    int argc;
    char **argv;
    int i;          /* next index */
    const char *cmd;
} cli_args;

void cli_args_init(cli_args *a, int argc, char **argv);
/* Returns the next argument, or NULL at the end. `*is_flag` tells whether it starts with '-'
 * (a lone "-" is a positional; "--" ends flags). */
const char *cli_args_next(cli_args *a, bool *is_flag);
/* The value of the flag just returned (the part after '=' or the next argument); prints an error
 * and returns NULL when there is none. */
const char *cli_args_value(cli_args *a, const char *flag);
/* True when arg names this flag ("--json" matches "--json" and "--json=..."). */
bool cli_flag_is(const char *arg, const char *name);
/* Numeric values with range checks; print an error and return false on bad input. */
bool cli_parse_int(const char *flag, const char *s, long long min, long long max, long long *out);
bool cli_parse_float(const char *flag, const char *s, double *out);
/* --kv-type: "f16", "f32" or "q8_0". */
bool cli_parse_kv_type(const char *flag, const char *s, owl_type *out);

/* Human-readable sizes and counts: "1.2 GiB", "135.0M". */
void cli_fmt_bytes(char *buf, size_t n, double bytes);
void cli_fmt_count(char *buf, size_t n, double count);

#endif
