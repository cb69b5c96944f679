#!/usr/bin/env bash
# `make bench`: owl against llama.cpp on the same forged files, with the same threads, in one run,
# next to the machine's physical limits. Writes bench/results/<date>.md (and prints it).
#
#   models: the SmolLM2-135M and Qwen2.5-0.5B shape twins in Q8_0 and Q4_K_M, SmolLM2 in F16
#   speed:  pp512 and tg128 (tokens/s, mean of 3 runs for owl; llama.cpp's best run, with 1 and
#           with 2 threads, and the better of the two is the reference)
#   limits: decode bound = read bandwidth / bytes read per token; prefill bound = arithmetic
#           peak / (2 x the parameters a prompt token multiplies: all but the embedding lookup and
#           the output matrix, which a prompt uses for its last token only), with the int8
#           dot-product peak for quantized files (their products run on int8 activations) and
#           the f32 FMA peak for f16/bf16/f32
#   tokenizer: bench/tokenizer.sh (1 MB of mixed text)
#   serving: bench/serve.mjs (1/4/8/16 streaming clients on `owl serve`, multi-turn TTFT with and
#           without the prefix cache)
# Environment: OWL_BENCH_MODELS="preset:type ..." to choose models, OWL_BENCH_REPS (3).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${OWL_BUILD:-build}
OWL=$PWD/$build/owl
SHARED=${OWL_SHARED:-../shared}
export OWL_SHARED=$SHARED
reps=${OWL_BENCH_REPS:-3}
threads=${OWL_BENCH_THREADS:-$(nproc)}
models=${OWL_BENCH_MODELS:-"smollm2-135m:Q8_0 smollm2-135m:Q4_K_M smollm2-135m:f16 qwen2.5-0.5b:Q8_0 qwen2.5-0.5b:Q4_K_M"}
work=bench/work
mkdir -p "$work" bench/results
peer=$("$SHARED/tools/llamacpp-peer/setup.sh")
day=$(date -u +%F)
out=bench/results/$day.md

json() { node -e 'const o=JSON.parse(process.argv[1]); const v=process.argv[2].split(".").reduce((a,k)=>a?.[k],o); console.log(v ?? "")' "$1" "$2"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b > 0) printf "%.2f", a / b; else print "-" }'; }
# peak RSS (KiB) of a command, from GNU time's %M or /proc as a fallback
rss_of() { /usr/bin/time -f '%M' -o "$work/rss" "$@" >"$work/cmd.out" 2>"$work/cmd.err"; cat "$work/rss"; }

peak=$("$build/bench/peak" "$threads" 1024)
bw=$(json "$peak" read_gbs); flops=$(json "$peak" f32_fma_gflops); int8=$(json "$peak" int8_gops)

{
  echo "# owl vs llama.cpp — $day"
  echo
  echo "Machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)."
  echo "Measured here: read bandwidth $bw GB/s ($(json "$peak" read_gbs_1t) GB/s one thread), f32 FMA peak $flops GFLOP/s, int8 dot-product peak $int8 GOP/s ($threads threads, $(json "$peak" simd))."
  echo "owl: $threads threads, mean of $reps runs. llama.cpp (node-llama-cpp $(node -e "console.log(require('$peer/node_modules/node-llama-cpp/package.json').version)")): best of $reps runs, with 1 and with 2 threads; the ratio is against the better."
  echo
  echo "| model | type | owl pp512 | llama.cpp pp512 (1t / 2t) | pp ratio | owl tg128 | llama.cpp tg128 (1t / 2t) | tg ratio | decode bound | owl % of bound | prefill bound | owl % of bound | owl RSS | llama.cpp RSS |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
} >"$out"

for m in $models; do
  preset=${m%%:*}; type=${m#*:}
  f="$work/$preset-$type.gguf"
  [ -f "$f" ] || "$OWL" forge --preset "$preset" --type "$type" -o "$f"
  # bytes read per decoded token: every tensor once, except an untied input embedding (one row)
  "$OWL" show --json --tensors "$f" >"$work/show.json"
  read -r per_tok params <<<"$(node -e '
    const o = JSON.parse(require("fs").readFileSync(process.argv[1]));
    const untied = o.tensors.some((t) => t.name === "output.weight");
    let b = 0, p = o.parameters;
    for (const t of o.tensors) {
      if (!(untied && t.name === "token_embd.weight")) b += t.bytes;
      if (t.name === "token_embd.weight" || t.name === "output.weight") p -= t.shape.reduce((a, x) => a * x, 1);
    }
    console.log(b, p)' "$work/show.json")"
  owl_rss=$(rss_of "$OWL" bench "$f" -p 512 -n 128 -t "$threads" -r "$reps" --json)
  o=$(cat "$work/cmd.out")
  l1=$(node "$peer/peer.mjs" bench "$f" --threads 1 --pp 512 --tg 128 --reps "$reps")
  l2_rss=$(rss_of node "$peer/peer.mjs" bench "$f" --threads 2 --pp 512 --tg 128 --reps "$reps")
  l2=$(cat "$work/cmd.out")
  opp=$(json "$o" pp_tps); otg=$(json "$o" tg_tps)
  lpp=$(awk -v a="$(json "$l1" pp_tps)" -v b="$(json "$l2" pp_tps)" 'BEGIN{print (a > b ? a : b)}')
  ltg=$(awk -v a="$(json "$l1" tg_tps)" -v b="$(json "$l2" tg_tps)" 'BEGIN{print (a > b ? a : b)}')
  bound=$(awk -v bw="$bw" -v b="$per_tok" 'BEGIN{printf "%.0f", bw * 1e9 / b}')
  case $type in q*|Q*) pk=$int8 ;; *) pk=$flops ;; esac
  awk -v x="$pk" 'BEGIN{exit !(x > 0)}' || pk=$flops
  pbound=$(awk -v f="$pk" -v p="$params" 'BEGIN{printf "%.0f", f * 1e9 / (2 * p)}')
  pct=$(awk -v t="$otg" -v b="$bound" 'BEGIN{printf "%.0f%%", 100 * t / b}')
  ppct=$(awk -v t="$opp" -v b="$pbound" 'BEGIN{printf "%.0f%%", 100 * t / b}')
  printf '| %s | %s | %.1f ± %.1f | %s / %s | %s | %.1f ± %.1f | %s / %s | %s | %s tok/s | %s | %s tok/s | %s | %s MiB | %s MiB |\n' \
    "$preset" "$type" "$opp" "$(json "$o" pp_tps_sd)" "$(json "$l1" pp_tps)" "$(json "$l2" pp_tps)" \
    "$(ratio "$opp" "$lpp")" "$otg" "$(json "$o" tg_tps_sd)" "$(json "$l1" tg_tps)" "$(json "$l2" tg_tps)" \
    "$(ratio "$otg" "$ltg")" "$bound" "$pct" "$pbound" "$ppct" "$((owl_rss / 1024))" "$((l2_rss / 1024))" >>"$out"
done

{
  echo
  echo "RSS is the peak resident set of the whole process (llama.cpp's includes Node.js, about 50 MiB)."
  echo
  if [ -x bench/tokenizer.sh ] || [ -f bench/tokenizer.sh ]; then
    echo "## Tokenizer"
    echo
    OWL_BIN=$OWL bash bench/tokenizer.sh 1
  fi
  # Serving: concurrent streaming clients and multi-turn TTFT on the SmolLM2 twin in Q8_0.
  serve_model="$work/smollm2-135m-Q8_0.gguf"
  [ -f "$serve_model" ] || "$OWL" forge --preset smollm2-135m --type Q8_0 -o "$serve_model" >&2
  echo
  node bench/serve.mjs "$OWL" "$serve_model" --threads "$threads"
} >>"$out"
cat "$out"
