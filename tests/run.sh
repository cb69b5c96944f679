#!/usr/bin/env bash
# Runs every test program (build/tests/test_*) and every integration script (tests/cli/*.sh),
# two at a time, prints each one's output in order, and ends with the total:
#   N passed, N failed, N skipped
# Exit status is non-zero when any test failed or any program crashed.
# Usage: tests/run.sh [filter]   (OWL_BUILD selects the build folder, default build)
set -u
cd "$(dirname "$0")/.."
build=${OWL_BUILD:-build}
filter=${1:-}
export OWL_BIN="$PWD/$build/owl"
export OWL_BUILD="$build"
out=$(mktemp -d "${TMPDIR:-/tmp}/owl-run.XXXXXX")
trap 'rm -rf "$out"' EXIT

progs=()
for t in "$build"/tests/test_* tests/cli/*.sh; do
  [ -e "$t" ] || continue
  case "$t" in *"$filter"*) progs+=("$t") ;; esac
done

run_one() {
  local t=$1 log=$2 start end rc
  start=$EPOCHREALTIME
  if [[ $t == *.sh ]]; then bash "$t" >"$log" 2>&1; else "./$t" >"$log" 2>&1; fi
  rc=$?
  end=$EPOCHREALTIME
  echo "$rc $(awk -v a="$start" -v b="$end" 'BEGIN{printf "%.1f", b-a}')" >"$log.rc"
}
export -f run_one

i=0
for t in "${progs[@]}"; do
  printf '%s\0%s\0' "$t" "$out/$i.log"
  i=$((i + 1))
done | xargs -0 -n 2 -P "${OWL_TEST_JOBS:-2}" bash -c 'run_one "$0" "$1"'

passed=0 failed=0 skipped=0 broken=0
i=0
for t in "${progs[@]}"; do
  log="$out/$i.log"
  read -r rc secs <"$log.rc"
  echo "== $t (${secs}s)"
  grep -v -E '^[0-9]+ passed, [0-9]+ failed' "$log"
  summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
  if [ -n "$summary" ]; then
    read -r p _ f _ s _ <<<"${summary//,/}"
    passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + ${s:-0}))
  fi
  if [ "$rc" -ne 0 ] && { [ -z "$summary" ] || [ "${f:-0}" -eq 0 ]; }; then
    echo "FAIL $t exited with status $rc"
    failed=$((failed + 1)); broken=1
  fi
  f=0
  i=$((i + 1))
done
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ] && [ "$broken" -eq 0 ]
