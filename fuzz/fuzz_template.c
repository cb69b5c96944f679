/* libFuzzer target: parse the input as a chat template and render it with a small chat.
 * Everything must end in output or a one-line error: no crash, hang, leak or runaway memory. */
#include "owl/chat.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char CONTEXT[] =
    "{\"messages\": [{\"role\": \"system\", \"content\": \"Be brief.\"},"
    " {\"role\": \"user\", \"content\": \"Hi \\u00e9 <think>x</think>\"},"
    " {\"role\": \"assistant\", \"content\": null, \"tool_calls\": [{\"id\": \"call12345\", \"type\": \"function\","
    "   \"function\": {\"name\": \"f\", \"arguments\": {\"a\": [1, 2.5, true, null]}}}]},"
    " {\"role\": \"tool\", \"content\": \"{\\\"t\\\": 1}\"}],"
    " \"tools\": [{\"type\": \"function\", \"function\": {\"name\": \"f\", \"parameters\": {\"type\": \"object\"}}}],"
    " \"documents\": null, \"add_generation_prompt\": true, \"bos_token\": \"<s>\", \"eos_token\": \"</s>\","
    " \"enable_thinking\": false}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static json_t *ctx;
    if (!ctx) ctx = json_loads(CONTEXT, 0, NULL);
    owl_error err;
    owl_template *t = owl_template_parse((const char *)data, size, &err);
    if (!t) return 0;
    owl_template_opts opts = {
        .max_output = (size_t)1 << 20,
        .max_memory = (size_t)64 << 20,
        .max_steps = 200000,
        .fixed_time = true,
        .time = 1768435200,
    };
    char *out = NULL;
    size_t len = 0;
    if (owl_template_render(t, ctx, &opts, &out, &len, &err) == 0) {
        if (strlen(out) > len) abort(); /* the reported length covers the whole string */
        free(out);
    } else if (strchr(err.msg, '\n')) {
        abort(); /* errors are one line */
    }
    owl_template_destroy(t);
    return 0;
}
