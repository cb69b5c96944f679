/* The subcommands, one line each; main.c lists them in its table. */
#ifndef OWL_CLI_COMMANDS_H
#define OWL_CLI_COMMANDS_H

#include "cli/cli.h"

extern const cli_command cmd_show;
extern const cli_command cmd_quantize;
extern const cli_command cmd_forge;
extern const cli_command cmd_tokenize;
extern const cli_command cmd_detokenize;
extern const cli_command cmd_render;
extern const cli_command cmd_bench;
extern const cli_command cmd_serve;
extern const cli_command cmd_run;
extern const cli_command cmd_perplexity;
extern const cli_command cmd_logits;
extern const cli_command cmd_pull;
extern const cli_command cmd_list;
extern const cli_command cmd_rm;
extern const cli_command cmd_cp;
extern const cli_command cmd_create;
extern const cli_command cmd_ps;


#endif
