#!/usr/bin/env bash
# Everything CI checks, in order; stops at the first failure:
#   1. gcc and clang builds, warnings as errors (-Wall -Wextra -Werror);
#   2. the whole suite (unit + integration) on the gcc build;
#   3. the whole suite again built with AddressSanitizer + UndefinedBehaviorSanitizer.
# The last line is the total over both runs: "N passed, N failed, N skipped".
set -uo pipefail
cd "$(dirname "$0")/.."
jobs=${OWL_JOBS:-2}
log=$(mktemp -d "${TMPDIR:-/tmp}/owl-check.XXXXXX")
trap 'rm -rf "$log"' EXIT

step() { printf '\n==== %s\n' "$*"; }

step "build (gcc)"
make -s -j"$jobs" all tests || exit 1
step "build (clang)"
make -s -j"$jobs" CC=clang BUILD=build-clang all tests || exit 1

step "tests (gcc build)"
make -s test 2>&1 | tee "$log/plain"
plain=${PIPESTATUS[0]}

step "tests (ASan + UBSan build)"
make -s -j"$jobs" SAN=1 tests || exit 1
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
  make -s SAN=1 test 2>&1 | tee "$log/san"
san=${PIPESTATUS[0]}

total() { grep -E '^[0-9]+ passed, [0-9]+ failed' "$1" | tail -n 1; }
read -r p1 _ f1 _ s1 _ <<<"$(total "$log/plain" | tr -d ,)"
read -r p2 _ f2 _ s2 _ <<<"$(total "$log/san" | tr -d ,)"
echo
echo "gcc build: ${p1:-0} passed, ${f1:-0} failed; sanitizer build: ${p2:-0} passed, ${f2:-0} failed"
failed=$(( ${f1:-0} + ${f2:-0} ))
[ "$plain" -ne 0 ] || [ "$san" -ne 0 ] && [ "$failed" -eq 0 ] && failed=1
echo "$(( ${p1:-0} + ${p2:-0} )) passed, $failed failed, $(( ${s1:-0} + ${s2:-0} )) skipped"
[ "$failed" -eq 0 ]
