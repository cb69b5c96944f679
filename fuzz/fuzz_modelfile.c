/* libFuzzer target for the Modelfile parser: any bytes must either parse into a complete recipe
 * (a FROM, typed parameters) or be refused with a one-line message. Model names are fuzzed on
 * the same input, since both come from users. */
#include "owl/store.h"

#include <stdlib.h>
#include <string.h>

static bool writable_text(const char *s) {
    if (!s || !strchr(s, '\n')) return true;
    size_t n = strlen(s);
    return !strstr(s, "\"\"\"") && s[n - 1] != '"';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    /* an exact-size copy, so any read past the end is caught */
    char *copy = malloc(size ? size : 1);
    if (!copy) return 0;
    memcpy(copy, data, size);
    owl_modelfile mf;
    owl_error err = {{0}};
    if (owl_modelfile_parse(copy, size, &mf, &err) == 0) {
        if (!mf.from || !*mf.from || !json_is_object(mf.parameters)) abort();
        /* Written back out, the recipe parses to the same thing, unless a multi-line text
         * holds """ or ends in '"' (no Modelfile quoting can carry those). */
        bool writable = writable_text(mf.from) && writable_text(mf.system) &&
                        writable_text(mf.template_src);
        const char *k;
        json_t *v;
        json_object_foreach(mf.parameters, k, v) {
            size_t i;
            json_t *x;
            if (json_is_array(v)) {
                json_array_foreach(v, i, x) writable &= writable_text(json_string_value(x));
            }
        }
        owl_manifest m = {.parameters = mf.parameters, .system = mf.system,
                          .template_src = mf.template_src};
        char *text = writable ? owl_manifest_modelfile(&m, mf.from) : NULL;
        if (text) {
            owl_modelfile again;
            if (owl_modelfile_parse(text, strlen(text), &again, &err) != 0) abort();
            if (!json_equal(again.parameters, mf.parameters)) abort();
            if (!!again.system != !!mf.system || (mf.system && strcmp(again.system, mf.system)))
                abort();
            if (!!again.template_src != !!mf.template_src ||
                (mf.template_src && strcmp(again.template_src, mf.template_src)))
                abort();
            owl_modelfile_free(&again);
            free(text);
        }
        owl_modelfile_free(&mf);
    } else if (!err.msg[0] || strchr(err.msg, '\n')) {
        abort(); /* errors are one non-empty line */
    }
    /* the first line as a model name */
    size_t n = 0;
    while (n < size && n < 300 && data[n] != '\n' && data[n] != '\0') n++;
    char name[301];
    memcpy(name, data, n);
    name[n] = '\0';
    owl_model_name mn;
    if (owl_model_name_parse(name, &mn, &err) == 0) {
        if (!mn.name[0] || !mn.tag[0] || strchr(mn.name, ':') || strstr(mn.name, "/.") ||
            mn.name[0] == '.' || mn.name[0] == '/') {
            abort();
        }
    } else if (strchr(err.msg, '\n')) {
        abort();
    }
    free(copy);
    return 0;
}
