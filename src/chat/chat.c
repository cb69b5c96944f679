/* Chat rendering on top of the template engine: the context apply_chat_template passes
 * (messages, tools, documents, add_generation_prompt, bos_token, eos_token, extra variables). */
#include "owl/chat.h"
#include "chat/jinja.h"

#include <stdlib.h>

json_t *owl_chat_context(const owl_chat_params *p, owl_error *err) {
    if (!p || !p->messages || !json_is_array(p->messages)) {
        owl_errorf(err, "chat: messages must be a JSON array");
        return NULL;
    }
    if (p->tools && !json_is_array(p->tools) && !json_is_null(p->tools)) {
        owl_errorf(err, "chat: tools must be a JSON array");
        return NULL;
    }
    if (p->extra && !json_is_object(p->extra)) {
        owl_errorf(err, "chat: extra variables must be a JSON object");
        return NULL;
    }
    json_t *ctx = json_object();
    if (!ctx) {
        owl_errorf(err, "out of memory");
        return NULL;
    }
    /* transformers always passes tools= and documents=, so a template sees None (defined) when
     * there are none. */
    int rc = 0;
    rc |= json_object_set(ctx, "messages", (json_t *)p->messages);
    rc |= json_object_set_new(ctx, "tools", p->tools ? json_incref((json_t *)p->tools) : json_null());
    rc |= json_object_set_new(ctx, "documents", p->documents ? json_incref((json_t *)p->documents) : json_null());
    rc |= json_object_set_new(ctx, "add_generation_prompt", json_boolean(p->add_generation_prompt));
    rc |= json_object_set_new(ctx, "bos_token", json_string(p->bos_token ? p->bos_token : ""));
    rc |= json_object_set_new(ctx, "eos_token", json_string(p->eos_token ? p->eos_token : ""));
    if (p->extra) rc |= json_object_update(ctx, (json_t *)p->extra);
    if (rc) {
        json_decref(ctx);
        owl_errorf(err, "chat: cannot build the template context (bos/eos not valid UTF-8?)");
        return NULL;
    }
    return ctx;
}

int owl_chat_render(const owl_template *t, const owl_chat_params *p, const owl_template_opts *opts,
                    char **out, size_t *out_len, owl_error *err) {
    *out = NULL;
    if (out_len) *out_len = 0;
    if (!p || !p->messages || !json_is_array(p->messages)) return owl_errorf(err, "chat: messages must be a JSON array");
    if (p->tools && !json_is_array(p->tools) && !json_is_null(p->tools)) return owl_errorf(err, "chat: tools must be a JSON array");
    if (p->extra && !json_is_object(p->extra)) return owl_errorf(err, "chat: extra variables must be a JSON object");
    /* The same variables as owl_chat_context, built without touching the caller's JSON. */
    return jinja_render(t, NULL, p, opts, out, out_len, err);
}
