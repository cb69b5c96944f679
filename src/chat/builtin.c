/* Built-in chat templates for models whose GGUF carries none, and the choice among them.
 * They are ordinary Jinja sources run by the same engine, written to the published prompt
 * formats of each family. */
#include "owl/chat.h"

#include <string.h>

typedef struct builtin {
    const char *name;
    const char *src;
} builtin;

static const builtin BUILTINS[] = {
    {"chatml",
     "{%- for message in messages -%}\n"
     "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' -}}\n"
     "{%- endfor -%}\n"
     "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}\n"},
    {"llama2",
     "{%- if messages and messages[0]['role'] == 'system' -%}\n"
     "{%- set system_message = messages[0]['content'] -%}\n"
     "{%- set loop_messages = messages[1:] -%}\n"
     "{%- else -%}{%- set loop_messages = messages -%}{%- endif -%}\n"
     "{%- for message in loop_messages -%}\n"
     "{%- if message['role'] == 'user' -%}\n"
     "{%- if loop.first and system_message is defined -%}\n"
     "{{- bos_token + '[INST] <<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] | trim + ' [/INST]' -}}\n"
     "{%- else -%}{{- bos_token + '[INST] ' + message['content'] | trim + ' [/INST]' -}}{%- endif -%}\n"
     "{%- elif message['role'] == 'assistant' -%}{{- ' ' + message['content'] | trim + ' ' + eos_token -}}\n"
     "{%- endif -%}\n"
     "{%- endfor -%}\n"},
    {"llama3",
     "{{- bos_token -}}\n"
     "{%- for message in messages -%}\n"
     "{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + message['content'] | trim + '<|eot_id|>' -}}\n"
     "{%- endfor -%}\n"
     "{%- if add_generation_prompt -%}{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' -}}{%- endif -%}\n"},
    {"mistral",
     "{%- if messages and messages[0]['role'] == 'system' -%}\n"
     "{%- set system_message = messages[0]['content'] -%}\n"
     "{%- set loop_messages = messages[1:] -%}\n"
     "{%- else -%}{%- set loop_messages = messages -%}{%- endif -%}\n"
     "{{- bos_token -}}\n"
     "{%- for message in loop_messages -%}\n"
     "{%- if message['role'] == 'user' -%}\n"
     "{%- if loop.first and system_message is defined -%}\n"
     "{{- '[INST] ' + system_message + '\\n\\n' + message['content'] + '[/INST]' -}}\n"
     "{%- else -%}{{- '[INST] ' + message['content'] + '[/INST]' -}}{%- endif -%}\n"
     "{%- elif message['role'] == 'assistant' -%}{{- ' ' + message['content'] + eos_token -}}\n"
     "{%- endif -%}\n"
     "{%- endfor -%}\n"},
    {"gemma",
     "{{- bos_token -}}\n"
     "{%- if messages and messages[0]['role'] == 'system' -%}\n"
     "{%- set first_prefix = messages[0]['content'] + '\\n\\n' -%}\n"
     "{%- set loop_messages = messages[1:] -%}\n"
     "{%- else -%}{%- set first_prefix = '' -%}{%- set loop_messages = messages -%}{%- endif -%}\n"
     "{%- for message in loop_messages -%}\n"
     "{%- set role = 'model' if message['role'] == 'assistant' else message['role'] -%}\n"
     "{{- '<start_of_turn>' + role + '\\n' + (first_prefix if loop.first else '') + message['content'] | trim + '<end_of_turn>\\n' -}}\n"
     "{%- endfor -%}\n"
     "{%- if add_generation_prompt -%}{{- '<start_of_turn>model\\n' -}}{%- endif -%}\n"},
    {"phi3",
     "{%- for message in messages -%}\n"
     "{{- '<|' + message['role'] + '|>\\n' + message['content'] + '<|end|>\\n' -}}\n"
     "{%- endfor -%}\n"
     "{%- if add_generation_prompt -%}{{- '<|assistant|>\\n' -}}{%- else -%}{{- eos_token -}}{%- endif -%}\n"},
};

static const char *const NAMES[] = {"chatml", "llama2", "llama3", "mistral", "gemma", "phi3", NULL};

const char *owl_chat_builtin(const char *name) {
    for (size_t i = 0; i < sizeof BUILTINS / sizeof BUILTINS[0]; i++) {
        if (name && strcmp(BUILTINS[i].name, name) == 0) return BUILTINS[i].src;
    }
    return NULL;
}

const char *const *owl_chat_builtin_names(void) { return NAMES; }

const char *owl_chat_builtin_detect(const char *arch, const owl_str *tokens, size_t n_tokens) {
    bool im_start = false, header = false, turn = false, phi_user = false, phi_end = false, inst = false;
    for (size_t i = 0; i < n_tokens; i++) {
        owl_str t = tokens[i];
        if (t.len < 6 || (t.ptr[0] != '<' && t.ptr[0] != '[')) continue;
        im_start |= owl_str_eq(t, "<|im_start|>");
        header |= owl_str_eq(t, "<|start_header_id|>");
        turn |= owl_str_eq(t, "<start_of_turn>");
        phi_user |= owl_str_eq(t, "<|user|>");
        phi_end |= owl_str_eq(t, "<|end|>");
        inst |= owl_str_eq(t, "[INST]");
    }
    /* The special tokens say which format the model was trained on; they decide first. */
    if (im_start) return "chatml";
    if (header) return "llama3";
    if (turn) return "gemma";
    if (phi_user && phi_end) return "phi3";
    if (inst) return "mistral";
    if (arch) {
        if (strncmp(arch, "gemma", 5) == 0) return "gemma";
        if (strncmp(arch, "phi3", 4) == 0) return "phi3";
        if (strcmp(arch, "mistral") == 0) return "mistral";
        if (strcmp(arch, "llama") == 0) return "llama2";
    }
    return "chatml";
}
