#!/usr/bin/env bash
# `owl show` on every GGUF in ../shared, in text and JSON, and its errors.
source "$(dirname "$0")/../lib.sh"

check "version" bash -c "'$OWL' --version | grep -q '^owl '"
check "help lists commands" bash -c "'$OWL' help | grep -q 'show'"
check "help show" bash -c "'$OWL' help show | grep -q 'usage: owl show'"
expect_error "unknown command" "unknown command" "$OWL" frobnicate
expect_error "show without file" "missing FILE" "$OWL" show
expect_error "show missing file" "No such file" "$OWL" show /nonexistent.gguf
printf 'not a model' >"$T_TMP/bad.gguf"
expect_error "show non-gguf" "not a GGUF file" "$OWL" show "$T_TMP/bad.gguf"
: >"$T_TMP/empty.gguf"
expect_error "show empty file" "empty file" "$OWL" show "$T_TMP/empty.gguf"
expect_error "show bad option" "unknown option" "$OWL" show --frob x.gguf

if need_shared models; then
  n=0
  while IFS= read -r f; do
    n=$((n + 1))
    name=${f#"$SHARED/"}
    if "$OWL" show "$f" >"$T_TMP/out" 2>"$T_TMP/err" && grep -q '^architecture' "$T_TMP/out" &&
       "$OWL" show --json --tensors "$f" >"$T_TMP/json" &&
       node -e 'const o=JSON.parse(require("fs").readFileSync(process.argv[1]));if(!o.vocabulary||o.tensors===undefined)process.exit(1)' "$T_TMP/json"; then
      pass "show $name"
    else
      fail "show $name" "$(cat "$T_TMP/err")"
    fi
  done < <(find "$SHARED/models" -name '*.gguf' | sort)
  check "found shared GGUFs" test "$n" -ge 7
  f=$SHARED/models/stories260K/stories260K.gguf
  "$OWL" show --json "$f" >"$T_TMP/s.json"
  check "stories260K facts" node -e '
    const o = JSON.parse(require("fs").readFileSync(process.argv[1]));
    const ok = o.architecture === "llama" && o.parameters === 292800 && o.block_count === 5 &&
      o.embedding_length === 64 && o.head_count === 8 && o.head_count_kv === 4 &&
      o.vocabulary.size === 512 && o.vocabulary.special.bos.id === 1 && o.chat_template_bytes === null;
    process.exit(ok ? 0 : 1)' "$T_TMP/s.json"
  "$OWL" show --json "$SHARED/models/vocab/ggml-vocab-phi-3.gguf" >"$T_TMP/p.json"
  check "phi-3 vocab-only facts" node -e '
    const o = JSON.parse(require("fs").readFileSync(process.argv[1]));
    process.exit(o.tensor_count === 0 && o.vocabulary.size === 32064 && o.chat_template_bytes > 0 ? 0 : 1)' "$T_TMP/p.json"
fi
summary
