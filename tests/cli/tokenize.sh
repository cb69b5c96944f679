#!/usr/bin/env bash
# `owl tokenize` and `owl detokenize`: ids as JSON, standard input, special tokens, exact round
# trips, agreement with llama.cpp on a small model, and the errors.
source "$(dirname "$0")/../lib.sh"

check "help tokenize" bash -c "'$OWL' help tokenize | grep -q 'usage: owl tokenize'"
check "help detokenize" bash -c "'$OWL' help detokenize | grep -q 'usage: owl detokenize'"
expect_error "tokenize without model" "missing MODEL" "$OWL" tokenize
expect_error "detokenize without model" "missing MODEL" "$OWL" detokenize --ids 1
expect_error "tokenize missing file" "No such file" "$OWL" tokenize /nonexistent.gguf --text x
expect_error "tokenize bad option" "unknown option" "$OWL" tokenize --frob x.gguf
printf 'not a model' >"$T_TMP/bad.gguf"
expect_error "tokenize non-gguf" "not a GGUF file" "$OWL" tokenize "$T_TMP/bad.gguf" --text x

if need_shared models/vocab; then
  V=$SHARED/models/vocab
  check "gpt-2 ids" test "$("$OWL" tokenize "$V/ggml-vocab-gpt-2.gguf" --text 'Hello world')" = "[15496,995]"
  check "empty text" test "$("$OWL" tokenize "$V/ggml-vocab-gpt-2.gguf" --text '')" = "[]"
  check "standard input" test "$(printf 'Hello world' | "$OWL" tokenize "$V/ggml-vocab-gpt-2.gguf")" = "[15496,995]"
  check "spm prefix space" test "$("$OWL" tokenize "$V/ggml-vocab-llama-spm.gguf" --text 'Hello world')" = "[15043,3186]"
  check "add bos" test "$("$OWL" tokenize "$V/ggml-vocab-llama-spm.gguf" --add-bos --text 'Hello')" = "[1,15043]"
  check "special parsed" test "$("$OWL" tokenize "$V/ggml-vocab-gpt-2.gguf" --special --text 'a<|endoftext|>')" = "[64,50256]"
  check "special as text" test "$("$OWL" tokenize "$V/ggml-vocab-gpt-2.gguf" --text '<|endoftext|>')" = "[27,91,437,1659,5239,91,29]"
  check "bert cls/sep" test "$("$OWL" tokenize "$V/ggml-vocab-bert-bge.gguf" --add-bos --text 'hello')" = "[101,7592,102]"
  check "detokenize" test "$("$OWL" detokenize "$V/ggml-vocab-gpt-2.gguf" --ids 15496,995)" = "Hello world"
  check "detokenize ids on stdin" test "$(echo '[15043, 3186]' | "$OWL" detokenize "$V/ggml-vocab-llama-spm.gguf")" = "Hello world"
  check "detokenize special" test "$("$OWL" detokenize "$V/ggml-vocab-llama-spm.gguf" --special --ids 1,15043)" = "<s> Hello"
  check "detokenize clean" test "$("$OWL" detokenize "$V/ggml-vocab-gpt-2.gguf" --clean --ids 15496,837,995)" = "Hello, world"
  expect_error "detokenize out of range" "out of range" "$OWL" detokenize "$V/ggml-vocab-gpt-2.gguf" --ids 1,99999999
  expect_error "detokenize bad id" "bad token id" "$OWL" detokenize "$V/ggml-vocab-gpt-2.gguf" --ids 1,x

  # exact round trips through the CLI, newlines, tabs and UTF-8 included
  printf '  two\tspaces\nand a newline\n\n caf\xc3\xa9 \xf0\x9f\xa6\x99 \xe4\xbd\xa0\xe5\xa5\xbd 1234567 ' >"$T_TMP/text"
  for v in gpt-2 llama-spm phi-3 deepseek-coder deepseek-llm; do
    "$OWL" tokenize "$V/ggml-vocab-$v.gguf" <"$T_TMP/text" >"$T_TMP/ids" &&
      "$OWL" detokenize "$V/ggml-vocab-$v.gguf" <"$T_TMP/ids" >"$T_TMP/back"
    check "round trip $v" cmp -s "$T_TMP/text" "$T_TMP/back"
  done
fi

# llama.cpp on a whole model (the vocab-only files need a vocabulary-only load; the unit test
# test_tokenizer_peer covers those)
if need_shared models/stories260K/stories260K.gguf && peer=$(peer_dir); then
  M=$SHARED/models/stories260K/stories260K.gguf
  for text in 'Once upon a time, there was a little girl.' ' two  spaces' '<s>x</s>y'; do
    want=$(node "$peer/peer.mjs" tokenize "$M" --text "$text" --special 2>/dev/null | node -e 'process.stdout.write(JSON.stringify(JSON.parse(require("fs").readFileSync(0)).ids))')
    got=$("$OWL" tokenize "$M" --special --text "$text")
    check "llama.cpp ids: $text" test "$got" = "$want"
  done
fi
summary
