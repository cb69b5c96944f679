# Shared by the integration scripts in tests/cli: the same output protocol as tests/test.h
# ("ok NAME", "FAIL NAME", "skip NAME: reason", then "N passed, N failed, N skipped").
set -u
OWL=${OWL_BIN:-$PWD/build/owl}
SHARED=${OWL_SHARED:-../shared}
export OWL_SHARED=$SHARED
T_PASS=0 T_FAIL=0 T_SKIP=0
T_TMP=$(mktemp -d "${TMPDIR:-/tmp}/owl-cli.XXXXXX")
trap 'rm -rf "$T_TMP"' EXIT

pass() { echo "ok   $1"; T_PASS=$((T_PASS + 1)); }
fail() { echo "FAIL $1${2:+: $2}"; T_FAIL=$((T_FAIL + 1)); }
skip() { echo "skip $1: $2"; T_SKIP=$((T_SKIP + 1)); }
# check NAME COMMAND...: passes when the command succeeds
check() { local n=$1; shift; if "$@"; then pass "$n"; else fail "$n"; fi; }
summary() { echo "$T_PASS passed, $T_FAIL failed, $T_SKIP skipped"; [ "$T_FAIL" -eq 0 ]; }

# need_shared REL: true when ../shared/REL exists; otherwise skips (or fails in CI) the script.
need_shared() {
  if [ -e "$SHARED/$1" ]; then return 0; fi
  if [ "${OWL_REQUIRE_SHARED:-0}" = 1 ]; then fail "shared data" "missing $SHARED/$1 (OWL_REQUIRE_SHARED=1)"
  else skip "shared data" "$SHARED/$1 is absent"; fi
  return 1
}

# peer_dir: installs (once) and prints the llama.cpp reference folder, or fails.
peer_dir() {
  [ -x "$SHARED/tools/llamacpp-peer/setup.sh" ] || return 1
  command -v node >/dev/null || return 1
  "$SHARED/tools/llamacpp-peer/setup.sh" 2>/dev/null
}

# expect_error NAME PATTERN COMMAND...: the command must fail with one line on stderr that
# starts with "owl: " and contains PATTERN, and print nothing on stdout.
expect_error() {
  local n=$1 pat=$2; shift 2
  local out err rc
  out=$("$@" 2>"$T_TMP/err"); rc=$?
  err=$(cat "$T_TMP/err")
  if [ $rc -ne 0 ] && [ -z "$out" ] && [ "$(printf '%s\n' "$err" | wc -l)" -eq 1 ] &&
     [[ $err == "owl: "* ]] && [[ $err == *"$pat"* ]]; then pass "$n"
  else fail "$n" "rc=$rc stderr='$err'"; fi
}
