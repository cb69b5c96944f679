/* libFuzzer target for the OpenAI and Ollama request parsers: any body must either parse into a
 * request whose fields keep their documented ranges, or be refused with a 400 and a one-line
 * message (naming the parameter where there is one). The first byte picks the endpoint; the
 * rest is the body. */
#include "owl/common.h"
#include "owl/server.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef int (*parse_fn)(const char *, size_t, owl_gen_request *, owl_api_error *);

static void check_ok(const owl_gen_request *r) {
    /* model may be absent (NULL): a server with one model takes requests without it */
    const bool chat = r->kind == OWL_API_OPENAI_CHAT || r->kind == OWL_API_OLLAMA_CHAT;
    if (chat && !json_is_array(r->messages)) abort();
    if (!chat && (!r->prompts || r->n_prompts == 0)) abort();
    for (size_t i = 0; i < r->n_prompts; i++)
        if (!r->prompts[i]) abort();
    for (size_t i = 0; i < r->n_stop; i++)
        if (!r->stop[i]) abort();
    if (r->n < 1 || r->top_logprobs < 0 || r->top_logprobs > 20 || r->max_tokens < -1) abort();
    const owl_gen_sampling *s = &r->sampling;
    if (!isfinite(s->temperature) || s->temperature < 0 || !isfinite(s->top_p) || !isfinite(s->min_p)) abort();
    if (s->n_logit_bias && !s->logit_bias) abort();
}

static void check_error(const owl_api_error *e) {
    if (e->status != 400 && e->status != 413) abort();
    if (!e->message[0] || strchr(e->message, '\n')) abort();
    if (!memchr(e->message, '\0', sizeof e->message) || !memchr(e->param, '\0', sizeof e->param)) abort();
    /* they go out as JSON strings: valid UTF-8, one line */
    if (!owl_utf8_valid(e->message, strlen(e->message)) || !owl_utf8_valid(e->param, strlen(e->param))) abort();
    for (const char *c = e->param; *c; c++)
        if ((unsigned char)*c < 0x20) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    static const parse_fn parsers[] = {owl_openai_parse_chat, owl_openai_parse_completion,
                                       owl_ollama_parse_chat, owl_ollama_parse_generate};
    const parse_fn parse = parsers[data[0] % 4];
    /* an exact-size copy, so any read past the end is caught */
    const size_t n = size - 1;
    char *body = malloc(n ? n : 1);
    if (!body) return 0;
    memcpy(body, data + 1, n);
    owl_gen_request r;
    owl_api_error e;
    memset(&e, 0, sizeof e);
    if (parse(body, n, &r, &e) == 0) {
        check_ok(&r);
        owl_gen_request_free(&r);
    } else {
        check_error(&e);
    }
    free(body);
    return 0;
}
