/* What the store commands (pull, list, rm, cp, create, ps) and the model-taking commands (run,
 * show, serve) share: opening the store, resolving a MODEL argument, the pull progress bar. */
#ifndef OWL_CLI_STORE_CLI_H
#define OWL_CLI_STORE_CLI_H

#include "cli/cli.h"
#include "owl/sample.h"
#include "owl/store.h"

#include <signal.h>

/* Opens $OWL_HOME (or ~/.owl); prints the error and returns -1 on failure. */
int cli_store_open(owl_store *s);
/* A file path is used as is; anything else is looked up in the store. Prints the error. */
int cli_resolve_model(const char *arg, owl_resolved *out);
/* Manifest parameters (Modelfile PARAMETER lines) as sampler defaults; n_ctx and n_predict get
 * num_ctx and num_predict when present. */
void cli_apply_params(const json_t *params, owl_sampler_params *sp, long long *n_ctx,
                      long long *n_predict);
/* The owl_pull_cb of the commands: a progress bar on stderr when it is a terminal, else nothing.
 * user points to a cli_progress (zeroed). */
typedef struct cli_progress {
    volatile sig_atomic_t *stop; /* when set and non-zero, the pull stops (Ctrl-C) */
    bool tty;
    double t0;
    uint64_t last_completed;
    bool drew;
} cli_progress;
int cli_pull_progress(void *user, const owl_pull_progress *p);

#endif
