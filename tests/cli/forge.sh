#!/usr/bin/env bash
# Shape twins: every preset (tiny) in every tensor type is forged, described by `owl show`, and
# loaded by llama.cpp, which tokenizes a string and decodes greedily from it. Forging is
# deterministic. Also `owl quantize` of a twin into every mix.
#
# The same files check the forward pass against llama.cpp, every architecture × every type:
# `owl logits` dumps the logits of every position of a 64-token prompt and its greedy
# continuation of 32 tokens, and tests/peer/check.mjs compares both with llama.cpp's under the
# per-type tolerances in its table (top-1 agreement, max |Δ| against the logit range, identical
# greedy continuations for f32, f16 and q8_0).
source "$(dirname "$0")/../lib.sh"

presets="smollm2-135m qwen2.5-0.5b qwen3-0.6b llama3.2-1b tinyllama-1.1b"
types="f32 f16 bf16 q8_0 q4_0 q4_1 q5_0 q5_1 q2_K q3_K q4_K q5_K q6_K"
# Under the sanitizers (several times slower) three presets are forged in one type, q8_0: the
# gpt-2 and SentencePiece copies and one tiktoken-built vocabulary (qwen3 and llama3.2 build
# theirs through the same code, and a 150k-token build takes minutes under ASan).
if [ "${OWL_BUILD:-build}" = build-san ]; then reduced=1; else reduced=0; fi

expect_error "forge unknown preset" "unknown preset" "$OWL" forge --preset nope -o "$T_TMP/x.gguf"
expect_error "forge unknown type" "unknown type" "$OWL" forge --preset smollm2-135m --type q9 -o "$T_TMP/x.gguf"
expect_error "forge needs -o" "-o FILE" "$OWL" forge --preset smollm2-135m
expect_error "forge missing data" "No such file" "$OWL" forge --preset smollm2-135m --tiny --data /nonexistent -o "$T_TMP/x.gguf"

need_shared models/tokenizers/qwen.tiktoken || { summary; exit; }
peer=$(peer_dir) || peer=
if [ -z "$peer" ]; then
  if [ "${OWL_REQUIRE_SHARED:-0}" = 1 ]; then fail "llama.cpp reference" "peer setup failed"
  else skip "llama.cpp reference" "node or ../shared/tools/llamacpp-peer unavailable"; fi
fi

# The prompt: 64 ids spread over the part of the vocabulary every preset has.
ids=$(awk 'BEGIN { for (i = 0; i < 64; i++) printf "%s%d", i ? "," : "", (i * 7919 + 100) % 30000 }')

i=0
for p in $presets; do
  files=()
  for t in $types; do
    i=$((i + 1))
    if [ $reduced = 1 ] && { [ "$t" != q8_0 ] || [ "$p" = qwen3-0.6b ] || [ "$p" = llama3.2-1b ]; }; then
      continue
    fi
    f="$T_TMP/$p-$t.gguf"
    if ! "$OWL" forge --preset "$p" --tiny --type "$t" --seed 7 -o "$f" 2>"$T_TMP/err"; then
      fail "forge $p $t" "$(cat "$T_TMP/err")"; continue
    fi
    "$OWL" show --json "$f" >"$T_TMP/show.json" 2>"$T_TMP/err"
    if node -e '
        const [file, type, preset] = process.argv.slice(1);
        const o = JSON.parse(require("fs").readFileSync(file));
        const types = o.tensor_types.map((e) => e.type);
        const arch = {"qwen2.5-0.5b": "qwen2", "qwen3-0.6b": "qwen3"}[preset] ?? "llama";
        const ok = o.architecture === arch && o.block_count === 2 && types.includes(type) &&
          o.vocabulary.size > 30000 && o.parameters > 1e6;
        process.exit(ok ? 0 : 1)' "$T_TMP/show.json" "$t" "$p"; then
      pass "forge $p $t"
      files+=("$f")
      if [ -n "$peer" ] && ! "$OWL" logits "$f" --ids "$ids" -o "$f.owl.f32" -n 32 -t 2 >"$f.owl.json" 2>"$T_TMP/err"; then
        fail "owl logits $p $t" "$(cat "$T_TMP/err")"
      fi
    else
      fail "forge $p $t" "owl show: $(head -c 300 "$T_TMP/show.json") $(cat "$T_TMP/err")"
    fi
  done
  if [ -n "$peer" ] && [ ${#files[@]} -gt 0 ]; then
    node tests/peer/check.mjs "$peer" --text "Hello world! 123" -n 8 --ids "$ids" "${files[@]}" >"$T_TMP/peer.jsonl" 2>"$T_TMP/err"
    while IFS= read -r line; do
      name=$(node -e 'const o=JSON.parse(process.argv[1]); console.log(require("path").basename(o.file) +
          (o.top1 === undefined ? "" : ` (top-1 ${o.top1}/${o.positions}, ${o.top1_strict} strictly, max|d| ${o.maxd} of ${o.range}, greedy ${o.greedy_same}/32${o.greedy_tie ? " then a tie" : ""})`))' "$line")
      if [[ $line == *'"ok":true'* ]]; then pass "llama.cpp agrees on $name"
      else fail "llama.cpp agrees on $name" "$line"; fi
    done <"$T_TMP/peer.jsonl"
    n_lines=$(wc -l <"$T_TMP/peer.jsonl")
    check "llama.cpp checked every $p file" test "$n_lines" -eq ${#files[@]}
  fi
  for f in "${files[@]}"; do rm -f "$f" "$f.owl.f32" "$f.owl.json"; done
done

# Determinism: the same arguments give the same bytes; another seed gives other bytes.
"$OWL" forge --preset smollm2-135m --tiny --type q4_K --seed 3 -o "$T_TMP/a.gguf" -t 1
"$OWL" forge --preset smollm2-135m --tiny --type q4_K --seed 3 -o "$T_TMP/b.gguf" -t 2
"$OWL" forge --preset smollm2-135m --tiny --type q4_K --seed 4 -o "$T_TMP/c.gguf"
check "forge is deterministic across thread counts" cmp -s "$T_TMP/a.gguf" "$T_TMP/b.gguf"
check "forge seed changes the weights" bash -c "! cmp -s '$T_TMP/a.gguf' '$T_TMP/c.gguf'"

# Full-size shapes (metadata and tensor shapes only; a small preset keeps this quick).
"$OWL" forge --preset smollm2-135m --type q8_0 -o "$T_TMP/full.gguf"
"$OWL" show --json --tensors "$T_TMP/full.gguf" >"$T_TMP/full.json"
check "smollm2-135m full shapes" node -e '
  const o = JSON.parse(require("fs").readFileSync(process.argv[1]));
  const t = Object.fromEntries(o.tensors.map((x) => [x.name, x.shape.join("x")]));
  const ok = o.block_count === 30 && o.embedding_length === 576 && o.head_count === 9 &&
    o.head_count_kv === 3 && o.feed_forward_length === 1536 && o.rope.freq_base === 100000 &&
    t["blk.29.attn_k.weight"] === "576x192" && t["blk.0.ffn_down.weight"] === "1536x576" &&
    !("output.weight" in t) && o.parameters > 134e6 && o.parameters < 166e6;
  process.exit(ok ? 0 : 1)' "$T_TMP/full.json"
rm -f "$T_TMP"/*.gguf
summary
