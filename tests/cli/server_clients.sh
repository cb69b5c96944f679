#!/usr/bin/env bash
# The server through the real openai and ollama npm clients (tests/server/*.test.mjs, run with
# node's built-in test runner). Skips when node/npm are missing or the packages cannot be
# installed (no registry); fails on any failing client test.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib.sh
build=${OWL_BUILD:-build}

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  skip "server clients" "node and npm are not installed"
elif [ ! -x "$build/tests/test_server_http" ]; then
  fail "server clients" "$build/tests/test_server_http is not built"
elif ! tests/server/setup.sh >"$T_TMP/setup.log" 2>&1; then
  skip "server clients" "npm ci failed: $(tail -n 1 "$T_TMP/setup.log")"
else
  OWL_BUILD=$build timeout 120 node --test --test-reporter=tap tests/server/ >"$T_TMP/tap" 2>&1
  rc=$?
  # Top-level TAP lines: "ok 1 - name" / "not ok 2 - name".
  while IFS= read -r line; do
    case "$line" in
      "ok "*) pass "client: ${line#ok * - }" ;;
      "not ok "*) fail "client: ${line#not ok * - }" ;;
    esac
  done <"$T_TMP/tap"
  if [ "$rc" -ne 0 ]; then
    fail "node --test" "exit status $rc"
    # the report of each failed test (the TAP block under its "not ok" line), else the start
    if grep -q '^not ok' "$T_TMP/tap"; then
      awk '/^not ok/ {p = 1} /^(ok|# Subtest)/ {p = 0} p' "$T_TMP/tap" | head -n 200
    else
      sed -n '1,80p' "$T_TMP/tap"
    fi
  fi
fi
summary
