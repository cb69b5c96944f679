#!/usr/bin/env bash
# `owl quantize`: every mix from an F32 twin; each type's error in its expected range and order;
# the mixes put the tensor types where llama.cpp puts them; llama.cpp loads every result.
source "$(dirname "$0")/../lib.sh"

expect_error "quantize needs three arguments" "need IN.gguf OUT.gguf TYPE" "$OWL" quantize a.gguf
expect_error "quantize unknown type" "unknown type 'Q9_K'" "$OWL" quantize a.gguf b.gguf Q9_K
expect_error "quantize missing input" "No such file" "$OWL" quantize /nonexistent.gguf "$T_TMP/o.gguf" Q8_0
check "quantize failure leaves no output" test ! -e "$T_TMP/o.gguf"

need_shared models/vocab/ggml-vocab-gpt-2.gguf || { summary; exit; }
src="$T_TMP/src.gguf"
"$OWL" forge --preset smollm2-135m --tiny --type f32 --seed 1 -o "$src"

mixes="F16 BF16 Q8_0 Q6_K Q5_K_M Q5_K_S Q5_1 Q5_0 Q4_K_M Q4_K_S Q4_1 Q4_0 Q3_K_L Q3_K_M Q3_K_S Q2_K"
declare -A base=([F16]=f16 [BF16]=bf16 [Q8_0]=q8_0 [Q6_K]=q6_K [Q5_K_M]=q5_K [Q5_K_S]=q5_K
                 [Q5_1]=q5_1 [Q5_0]=q5_0 [Q4_K_M]=q4_K [Q4_K_S]=q4_K [Q4_1]=q4_1 [Q4_0]=q4_0
                 [Q3_K_L]=q3_K [Q3_K_M]=q3_K [Q3_K_S]=q3_K [Q2_K]=q2_K)
# Relative RMSE of each base type on Gaussian weights lies in this range.
declare -A lo=([f16]=0 [bf16]=5e-4 [q8_0]=2e-3 [q6_K]=8e-3 [q5_K]=2e-2 [q5_1]=2e-2 [q5_0]=2e-2
               [q4_K]=4e-2 [q4_1]=4e-2 [q4_0]=5e-2 [q3_K]=9e-2 [q2_K]=0.18)
declare -A hi=([f16]=5e-4 [bf16]=4e-3 [q8_0]=9e-3 [q6_K]=3e-2 [q5_K]=5e-2 [q5_1]=5e-2 [q5_0]=6e-2
               [q4_K]=9e-2 [q4_1]=1e-1 [q4_0]=1.1e-1 [q3_K]=0.21 [q2_K]=0.40)
files=()
for m in $mixes; do
  out="$T_TMP/$m.gguf"
  if ! "$OWL" quantize "$src" "$out" "$m" -t 2 >"$T_TMP/rep" 2>"$T_TMP/err"; then
    fail "quantize $m" "$(cat "$T_TMP/err")"; continue
  fi
  files+=("$out")
  b=${base[$m]}
  rel=$(awk -v t="$b" '$1 == t {print $5}' "$T_TMP/rep")
  if [ -n "$rel" ] && awk -v r="$rel" -v l="${lo[$b]}" -v h="${hi[$b]}" 'BEGIN{exit !(r >= l && r <= h)}'; then
    pass "quantize $m: $b rel. rmse $rel in [${lo[$b]}, ${hi[$b]}]"
  else
    fail "quantize $m" "$b rel. rmse '$rel' not in [${lo[$b]}, ${hi[$b]}]: $(cat "$T_TMP/rep")"
  fi
  echo "$m $rel" >>"$T_TMP/order"
done

# The error grows as bits shrink.
check "rmse order Q8_0 < Q6_K < Q5_K_M < Q4_K_M < Q3_K_M < Q2_K" awk '
  {r[$1] = $2}
  END {exit !(r["F16"] < r["Q8_0"] && r["Q8_0"] < r["Q6_K"] && r["Q6_K"] < r["Q5_K_M"] &&
              r["Q5_K_M"] < r["Q4_K_M"] && r["Q4_K_M"] < r["Q4_0"] && r["Q4_K_M"] < r["Q3_K_M"] &&
              r["Q3_K_M"] < r["Q2_K"] && r["Q5_0"] < r["Q4_0"] && r["Q5_1"] < r["Q4_1"])}' "$T_TMP/order"

# Mix rules: tied output at q6_K, norms f32, some ffn_down at q6_K in Q4_K_M.
"$OWL" show --json --tensors "$T_TMP/Q4_K_M.gguf" >"$T_TMP/m.json"
check "Q4_K_M mix" node -e '
  const o = JSON.parse(require("fs").readFileSync(process.argv[1]));
  const t = Object.fromEntries(o.tensors.map((x) => [x.name, x.type]));
  const ok = o.file_type === "Q4_K_M" && t["token_embd.weight"] === "q6_K" &&
    t["blk.0.attn_norm.weight"] === "f32" && t["blk.0.attn_q.weight"] === "q4_K" &&
    t["blk.0.ffn_down.weight"] === "q4_K" && t["blk.1.ffn_down.weight"] === "q6_K" &&
    t["blk.1.attn_v.weight"] === "q6_K";
  process.exit(ok ? 0 : 1)' "$T_TMP/m.json"
"$OWL" show --json --tensors "$T_TMP/Q8_0.gguf" >"$T_TMP/m.json"
check "Q8_0 mix keeps the output at q8_0" node -e '
  const o = JSON.parse(require("fs").readFileSync(process.argv[1]));
  const t = Object.fromEntries(o.tensors.map((x) => [x.name, x.type]));
  process.exit(t["token_embd.weight"] === "q8_0" && t["output_norm.weight"] === "f32" ? 0 : 1)' "$T_TMP/m.json"

# Requantizing a quantized file works (through float32).
check "requantize Q8_0 -> Q4_0" bash -c "'$OWL' quantize '$T_TMP/Q8_0.gguf' '$T_TMP/re.gguf' Q4_0 >/dev/null"
files+=("$T_TMP/re.gguf")

peer=$(peer_dir) || peer=
if [ -n "$peer" ]; then
  if node tests/peer/check.mjs "$peer" --text "Hello" -n 4 "${files[@]}" >"$T_TMP/peer.jsonl" 2>&1; then
    pass "llama.cpp loads all ${#files[@]} quantized files"
  else
    fail "llama.cpp loads the quantized files" "$(grep -v '"ok":true' "$T_TMP/peer.jsonl" | head -3)"
  fi
elif [ "${OWL_REQUIRE_SHARED:-0}" = 1 ]; then fail "llama.cpp reference" "peer setup failed"
else skip "llama.cpp reference" "node or the peer is unavailable"; fi
summary
