#!/usr/bin/env bash
# owl render: byte-exact renderings of shared conformance pairs, built-in templates, variables,
# and clean failures (one line on stderr, non-zero status) for bad templates and inputs.
set -u
cd "$(dirname "$0")/../.."
owl=${OWL_BIN:-build/owl}
tpl=${OWL_SHARED:-../shared}/models/templates
tmp=$(mktemp -d "${TMPDIR:-/tmp}/owl-render.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0 skip=0
ok() { echo "ok   $1"; pass=$((pass + 1)); }
bad() { echo "FAIL $1${2:+: $2}"; fail=$((fail + 1)); }
skipped() { echo "skip $1: $2"; skip=$((skip + 1)); }

# Renders must equal the expected file byte for byte (no newline added).
exact() { # name expected-file args...
  local name=$1 exp=$2
  shift 2
  if "$owl" render "$@" >"$tmp/out" 2>"$tmp/err" && cmp -s "$tmp/out" "$exp"; then ok "$name"
  else bad "$name" "$(head -c 300 "$tmp/err")"; fi
}

# Must fail: non-zero status, nothing on stdout, exactly one line on stderr containing $2.
fails() { # name needle args...
  local name=$1 needle=$2
  shift 2
  "$owl" render "$@" >"$tmp/out" 2>"$tmp/err"
  local rc=$?
  if [ "$rc" -ne 0 ] && [ ! -s "$tmp/out" ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -qF -- "$needle" "$tmp/err"; then
    ok "$name"
  else
    bad "$name" "status $rc, stderr: $(head -c 300 "$tmp/err")"
  fi
}

if [ -d "$tpl" ]; then
  exact qwen3_tools_roundtrip "$tpl/expected/Qwen-Qwen3-0.6B__11_tools_roundtrip_parallel.txt" \
    --chat-template "$tpl/Qwen-Qwen3-0.6B.jinja" --eos '<|im_end|>' --messages "$tpl/cases/11_tools_roundtrip_parallel.json"
  # strftime_now gives today's date; the expected file has the fixed 15 Jan 2026
  exact llama32_tools "$tpl/expected/meta-llama-Llama-3.2-3B-Instruct__08_tools_list.txt" \
    --chat-template "$tpl/meta-llama-Llama-3.2-3B-Instruct.jinja" --bos '<|begin_of_text|>' --eos '<|eot_id|>' \
    --messages "$tpl/cases/08_tools_list.json" --var 'date_string="15 Jan 2026"'
  exact mistral_no_gen "$tpl/expected/mistralai-Mistral-Nemo-Instruct-2407__04_multi_turn_no_gen.txt" \
    --chat-template "$tpl/mistralai-Mistral-Nemo-Instruct-2407.jinja" --bos '<s>' --eos '</s>' \
    --messages "$tpl/cases/04_multi_turn_no_gen.json"
  exact deepseek_unicode "$tpl/expected/deepseek-ai-DeepSeek-V3.1__06_unicode_newlines_quotes.txt" \
    --chat-template "$tpl/deepseek-ai-DeepSeek-V3.1.jinja" --bos '<｜begin▁of▁sentence｜>' \
    --eos '<｜end▁of▁sentence｜>' --messages "$tpl/cases/06_unicode_newlines_quotes.json"
  fails gemma_system_role "System role not supported" \
    --chat-template "$tpl/google-gemma-2-2b-it.jinja" --messages "$tpl/cases/02_system_user.json"
else
  skipped shared_templates "$tpl is absent"
fi

# MODEL: the template and BOS/EOS strings come from the GGUF; without a template a built-in one
# is chosen from the vocabulary (stories260K: SentencePiece <s>/</s>, llama -> llama2).
stories=${OWL_SHARED:-../shared}/models/stories260K/stories260K.gguf
if [ -f "$stories" ] && [ -d "$tpl" ]; then
  printf '<s>[INST] Hi there [/INST] Hello! How can I help you today? </s><s>[INST] What is 2+2? [/INST] 2+2 equals 4. </s><s>[INST] And 3*3? [/INST]' >"$tmp/want_stories"
  exact model_builtin_llama2 "$tmp/want_stories" "$stories" --messages "$tpl/cases/03_multi_turn.json"
  printf '<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\nHello! How can I help you today?<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n2+2 equals 4.<|im_end|>\n<|im_start|>user\nAnd 3*3?<|im_end|>\n<|im_start|>assistant\n' >"$tmp/want_override"
  exact model_template_override "$tmp/want_override" "$stories" --chat-template chatml --messages "$tpl/cases/03_multi_turn.json"
  # phi-3's vocabulary file carries its chat template and BOS <s>
  phi3=${OWL_SHARED:-../shared}/models/vocab/ggml-vocab-phi-3.gguf
  if [ -f "$phi3" ]; then
    printf '<s><|user|>\nHi there<|end|>\n<|assistant|>\nHello! How can I help you today?<|end|>\n<|user|>\nWhat is 2+2?<|end|>\n<|assistant|>\n2+2 equals 4.<|end|>\n<|user|>\nAnd 3*3?<|end|>\n<|assistant|>\n' >"$tmp/want_phi3"
    exact model_gguf_template "$tmp/want_phi3" "$phi3" --messages "$tpl/cases/03_multi_turn.json"
  else
    skipped model_gguf_template "$phi3 is absent"
  fi
  fails model_missing "no-such.gguf" "$tmp/no-such.gguf" --messages "$tpl/cases/01_single_user.json"
else
  skipped model "stories260K or the templates are absent"
fi

# A bare messages array, --tools, --no-generation-prompt and --var with the built-in chatml.
printf '[{"role": "user", "content": "Hi"}]' >"$tmp/msgs.json"
printf '<|im_start|>user\nHi<|im_end|>\n' >"$tmp/want1"
exact builtin_chatml_no_gen "$tmp/want1" --chat-template chatml --messages "$tmp/msgs.json" --no-generation-prompt
printf '{%% if tools %%}{{ tools|length }} tools;{%% endif %%}{{ greeting }} {{ messages[0].content }}{{ eos_token }}{%% if add_generation_prompt %%}>{%% endif %%}' >"$tmp/t.jinja"
printf '[{"type": "function", "function": {"name": "f"}}]' >"$tmp/tools.json"
printf '1 tools;héllo Hi</s>>' >"$tmp/want2"
exact vars_tools_file "$tmp/want2" --chat-template "$tmp/t.jinja" --messages "$tmp/msgs.json" --tools "$tmp/tools.json" \
  --var 'greeting="héllo"' --eos '</s>'
cat "$tmp/msgs.json" | "$owl" render --chat-template chatml --messages - >"$tmp/out" 2>/dev/null &&
  printf '<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n' | cmp -s - "$tmp/out" && ok messages_stdin || bad messages_stdin

# Failures: syntax error with line and column, unknown template, bad JSON, missing options.
printf 'line one\n{%% if x %%}\nno end' >"$tmp/bad.jinja"
fails syntax_error_line_col "line 3, column 7: unexpected end of template" --chat-template "$tmp/bad.jinja" --messages "$tmp/msgs.json"
printf '{{ messages[0].content + 1 }}' >"$tmp/type.jinja"
fails render_type_error 'line 1: can only concatenate str (not "int") to str' --chat-template "$tmp/type.jinja" --messages "$tmp/msgs.json"
fails unknown_template "neither a file nor a built-in" --chat-template no-such-template --messages "$tmp/msgs.json"
printf '[{"role": ' >"$tmp/broken.json"
fails bad_messages_json "--messages" --chat-template chatml --messages "$tmp/broken.json"
fails bad_var_json "not JSON" --chat-template chatml --messages "$tmp/msgs.json" --var 'x={'
fails no_messages "--messages FILE is required" --chat-template chatml
fails no_template "--chat-template is required" --messages "$tmp/msgs.json"

echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
