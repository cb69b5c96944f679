#!/usr/bin/env bash
# Tokenizer speed: owl against llama.cpp on the same ~1 MB of mixed text (several scripts, code,
# numbers, whitespace runs: tests/data/tokenizer/corpus.txt and the vocab test strings, cycled
# with varying numbers), for each vocabulary GGUF and the forged twins' vocabularies. Each engine
# tokenizes the whole text 3 times in one process and reports its fastest run; the peer runs in
# the same script on the same file. Prints a Markdown table on stdout.
#   bench/tokenizer.sh [MB]        (default 1)
set -euo pipefail
cd "$(dirname "$0")/.."
OWL=${OWL_BIN:-$PWD/build/owl}
SHARED=${OWL_SHARED:-../shared}
MB=${1:-1}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/owl-tokbench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
[ -x "$OWL" ] || { echo "build owl first (make)" >&2; exit 1; }

# the text: corpus lines and the vocab test strings, cycled, a third of them with a number added
awk -v limit=$((MB * 1048576)) '
  FNR == 1 { f++ }
  f == 1 { lines[n++] = $0; next }
  f == 2 { lines[n++] = $0 }
  END {
    s = 12345; size = 0
    while (size < limit) {
      s = (s * 1103515245 + 12345) % 2147483648
      line = lines[s % n]
      if (s % 3 == 0) line = line " " (s % 100000000)
      print line; size += length(line) + 1
    }
  }' tests/data/tokenizer/corpus.txt "$SHARED/models/vocab/ggml-vocab-gpt-2.gguf.inp" >"$tmp/text.txt"
bytes=$(wc -c <"$tmp/text.txt")

peer=""
if command -v node >/dev/null && [ -x "$SHARED/tools/llamacpp-peer/setup.sh" ]; then
  peer=$("$SHARED/tools/llamacpp-peer/setup.sh" 2>/dev/null || true)
fi

models=()
for v in llama-spm phi-3 gpt-2 deepseek-coder deepseek-llm bert-bge; do
  f="$SHARED/models/vocab/ggml-vocab-$v.gguf"
  [ -f "$f" ] && models+=("$v=$f")
done
for p in llama3.2-1b qwen2.5-0.5b smollm2-135m; do
  if "$OWL" forge --preset "$p" --tiny --type q8_0 -t 2 -o "$tmp/$p.gguf" >/dev/null 2>&1; then
    models+=("$p (twin)=$tmp/$p.gguf")
  fi
done

num() { sed -n "s/.*\"$1\":\([0-9.]*\).*/\1/p"; }

echo "### Tokenizer speed: owl vs llama.cpp ($(date -u +%F), $bytes bytes of mixed text, best of 3)"
echo
echo "| vocabulary | tokens | owl tokens/s | llama.cpp tokens/s | ratio | same count |"
echo "|---|---:|---:|---:|---:|:---:|"
for m in "${models[@]}"; do
  name=${m%%=*} path=${m#*=}
  o=$("$OWL" tokenize "$path" --bench 3 <"$tmp/text.txt" 2>&1 >/dev/null | tail -n 1)
  ot=$(num tokens <<<"$o") ors=$(num tokens_per_s <<<"$o")
  if [ -n "$peer" ]; then
    r=$(node bench/tokenizer_peer.mjs "$peer" "$path" "$tmp/text.txt" 3 2>/dev/null | tail -n 1)
    rt=$(num tokens <<<"$r") rrs=$(num tokens_per_s <<<"$r")
    ratio=$(awk -v a="$ors" -v b="$rrs" 'BEGIN { printf "%.2fx", a / b }')
    same=$([ "$ot" = "$rt" ] && echo yes || echo "no ($rt)")
  else
    rrs="n/a" ratio="n/a" same="n/a"
  fi
  echo "| $name | $ot | $ors | $rrs | $ratio | $same |"
done
if [ -z "$peer" ]; then echo "(llama.cpp not available: node or ../shared/tools/llamacpp-peer missing)" >&2; fi
