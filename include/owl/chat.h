/* owl — chat templates: a Jinja-subset interpreter that renders Hugging Face chat templates
 * byte-for-byte as Python's jinja2 does in transformers' apply_chat_template (trim_blocks and
 * lstrip_blocks on, default Undefined, loop controls, transformers' tojson, raise_exception and
 * strftime_now). See docs/chat-templates.md for the language subset.
 *
 * Contexts are JSON (jansson): the template sees objects as dicts (insertion order kept), arrays
 * as lists, null as None. A parsed template is immutable and may be rendered from several
 * threads at once; each render works in its own memory, bounded by owl_template_opts. */
#ifndef OWL_CHAT_H
#define OWL_CHAT_H

#include "owl/common.h"

#include <jansson.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct owl_template owl_template;

/* Parses a template (UTF-8). A syntax error names line and column:
 * "template syntax error at line 3, column 14: unexpected end of template: missing '{% endif %}'" */
owl_template *owl_template_parse(const char *src, size_t len, owl_error *err);
void owl_template_destroy(owl_template *t);

/* Limits of one render; zero fields take the defaults given. Exceeding one fails the render with
 * a message naming the limit. */
typedef struct owl_template_opts {
    size_t max_output;  /* bytes of output (default 16 MiB) */
    size_t max_memory;  /* bytes of working memory (default 256 MiB) */
    uint64_t max_steps; /* statements, expressions and loop items evaluated (default 20 million) */
    int max_depth;      /* nesting of evaluation: macro calls, recursion (default 1000) */
    /* strftime_now(): when fixed_time, this instant (seconds since the epoch, shown in UTC);
     * otherwise the current local time. */
    bool fixed_time;
    int64_t time;
} owl_template_opts;

/* Renders with `context` (a JSON object; NULL for none) as the template's variables. On success
 * *out is a malloc'd NUL-terminated string (the NUL is not counted in *out_len) that the caller
 * frees. Errors: a template's raise_exception(msg) gives exactly msg; other errors read
 * "line N: <what went wrong>", with Python's wording where there is one. */
int owl_template_render(const owl_template *t, const json_t *context, const owl_template_opts *opts,
                        char **out, size_t *out_len, owl_error *err);

/* ---- chat rendering ------------------------------------------------------------------------- */

/* What apply_chat_template passes to a template. */
typedef struct owl_chat_params {
    const json_t *messages;     /* array of {"role", "content", ...} (required) */
    const json_t *tools;        /* array, or NULL: the template sees tools = None */
    const json_t *documents;    /* array, or NULL: documents = None */
    bool add_generation_prompt;
    const char *bos_token;      /* NULL: "" */
    const char *eos_token;      /* NULL: "" */
    const json_t *extra;        /* object of further variables (enable_thinking, ...), or NULL */
} owl_chat_params;

/* The context object for those parameters (a new reference). */
json_t *owl_chat_context(const owl_chat_params *p, owl_error *err);
/* owl_chat_context + owl_template_render. */
int owl_chat_render(const owl_template *t, const owl_chat_params *p, const owl_template_opts *opts,
                    char **out, size_t *out_len, owl_error *err);

/* ---- built-in templates --------------------------------------------------------------------- */

/* Templates for models whose GGUF has no tokenizer.chat_template: "chatml", "llama2", "llama3",
 * "mistral", "gemma", "phi3". Returns the Jinja source, or NULL for an unknown name. */
const char *owl_chat_builtin(const char *name);
/* The names, NULL-terminated. */
const char *const *owl_chat_builtin_names(void);
/* Picks a built-in template from the architecture (general.architecture, may be NULL) and the
 * vocabulary (the token strings): the special tokens a format uses decide first (<|im_start|> ->
 * chatml, <|start_header_id|> -> llama3, <start_of_turn> -> gemma, <|user|>+<|end|> -> phi3,
 * [INST] -> mistral), then the architecture; chatml when nothing matches. */
const char *owl_chat_builtin_detect(const char *arch, const owl_str *tokens, size_t n_tokens);

#ifdef __cplusplus
}
#endif
#endif
