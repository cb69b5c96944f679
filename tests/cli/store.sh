#!/usr/bin/env bash
# The model store from the command line, with OWL_HOME in a temporary folder and a loopback file
# server of our own (tests/server/fileserver.mjs): full, interrupted-then-resumed, Range-less,
# 404, corrupted and oversized downloads; create from a Modelfile; list, show, cp, rm, run.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib.sh
export OWL_HOME=$T_TMP/home

if ! command -v node >/dev/null; then
  skip "store" "node is not installed"; summary; exit
fi
need_shared models/stories260K/stories260K.gguf || { summary; exit; }
src=$SHARED/models/stories260K/stories260K.gguf
www=$T_TMP/www
mkdir -p "$www"
cp "$src" "$www/tiny.gguf"
sha=$(sha256sum "$src" | cut -d' ' -f1)
size=$(stat -c %s "$src")
half=$((size / 2))

node tests/server/fileserver.mjs "$www" "$T_TMP/http.log" >"$T_TMP/port" &
FS_PID=$!
trap 'kill "$FS_PID" 2>/dev/null; rm -rf "$T_TMP"' EXIT
for _ in $(seq 1 100); do [ -s "$T_TMP/port" ] && break; sleep 0.05; done
base=http://127.0.0.1:$(head -n 1 "$T_TMP/port")

partials() { ls "$OWL_HOME/blobs/partial" 2>/dev/null | wc -l; }
blobs() { ls "$OWL_HOME/blobs" | grep -c '^sha256-'; }
digest_of() { "$OWL" list --json | grep "\"name\":\"$1\"" | sed 's/.*"digest":"\([0-9a-f]*\)".*/\1/'; }

# ---- pull -------------------------------------------------------------------------------------
out=$("$OWL" pull "$base/files/tiny.gguf" 2>"$T_TMP/err")
check "pull: full download" test $? = 0
check "pull: reports the name and digest" test "$out" = "pulled tiny:latest (sha256:$sha, 1.13 MiB)"
check "pull: blob named by its sha256" test -f "$OWL_HOME/blobs/sha256-$sha"
check "pull: quiet when stderr is not a terminal" test ! -s "$T_TMP/err"
check "pull: no partial file left" test "$(partials)" = 0
check "pull: the server's ETag was the expected digest" test "$(digest_of tiny:latest)" = "$sha"

expect_error "pull: cut off midway" "interrupted after" "$OWL" pull "$base/cut/tiny.gguf" --name cut
part=$(ls "$OWL_HOME"/blobs/partial/*.partial 2>/dev/null | head -n 1)
check "pull: the partial file stays for a resume" test -n "$part" -a "$(stat -c %s "$part" 2>/dev/null)" = "$half"
check "pull: resumed" bash -c "'$OWL' pull '$base/cut/tiny.gguf' --name cut >/dev/null"
check "pull: the resume asked for the rest with Range" \
  grep -q "^GET /cut/tiny.gguf bytes=$half- if-range=\"$sha\"\$" "$T_TMP/http.log"
check "pull: resumed file has the right digest" test "$(digest_of cut:latest)" = "$sha"
check "pull: no partial after the resume" test "$(partials)" = 0

# The file changes on the server between two attempts: If-Range makes the server send the new
# version whole instead of its tail after the old version's head.
cp "$src" "$www/ver.gguf"
expect_error "pull: a first cut" "interrupted" "$OWL" pull "$base/cut/ver.gguf" --name ver
printf '\x5a' | dd of="$www/ver.gguf" bs=1 seek=1000 conv=notrunc status=none
sha2=$(sha256sum "$www/ver.gguf" | cut -d' ' -f1)
expect_error "pull: the file changed: restarted (and cut again)" "interrupted" \
  "$OWL" pull "$base/cut/ver.gguf" --name ver
check "pull: If-Range named the first version" \
  grep -q "^GET /cut/ver.gguf bytes=$half- if-range=\"$sha\"\$" "$T_TMP/http.log"
check "pull: then resumed against the new version" bash -c "'$OWL' pull '$base/cut/ver.gguf' --name ver >/dev/null"
check "pull: the new version's digest, not a mix" test "$(digest_of ver:latest)" = "$sha2"
"$OWL" rm ver >/dev/null
check "pull: no validator left behind" test -z "$(ls "$OWL_HOME/blobs/partial")"

# Ctrl-C: the pull stops cleanly, says how to resume, and keeps what it has.
"$OWL" pull "$base/slow/tiny.gguf" --name slow >"$T_TMP/slow.out" 2>"$T_TMP/slow.err" &
pull_pid=$!
sleep 0.6
kill -INT "$pull_pid"
wait "$pull_pid"
check "pull: Ctrl-C ends it with an error" test $? = 1
check "pull: and says how to resume" grep -q "was stopped; pull again to resume" "$T_TMP/slow.err"
key=$(printf '%s' "$base/slow/tiny.gguf" | sha256sum | cut -c1-32)
check "pull: the partial file stays" test -s "$OWL_HOME/blobs/partial/$key.partial"
rm -f "$OWL_HOME/blobs/partial/$key".*

# A server that ignores Range: a stale partial for its URL is thrown away and the file taken whole.
url=$base/norange/tiny.gguf
key=$(printf '%s' "$url" | sha256sum | cut -c1-32)
head -c 1000 /dev/urandom >"$OWL_HOME/blobs/partial/$key.partial"
check "pull: a server without Range support" bash -c "'$OWL' pull '$url' --name norange >/dev/null"
check "pull: the Range was sent and ignored" grep -q "^GET /norange/tiny.gguf bytes=1000-\$" "$T_TMP/http.log"
check "pull: restarted from zero, right digest" test "$(digest_of norange:latest)" = "$sha"

check "pull: Hugging Face style redirect with X-Linked-Etag" \
  bash -c "'$OWL' pull '$base/hf/tiny.gguf' --name viahf >/dev/null"
expect_error "pull: 404" "HTTP 404 Not Found" "$OWL" pull "$base/files/missing.gguf"
expect_error "pull: a private file without a token" "HTTP 401 Unauthorized (a gated repository?" \
  "$OWL" pull "$base/private/tiny.gguf" --name private
check "pull: with --token" bash -c "'$OWL' pull '$base/private/tiny.gguf' --token owl-test-token --name private >/dev/null"
check "pull: the token's file, right digest" test "$(digest_of private:latest)" = "$sha"
check "pull: rm that name again" bash -c "'$OWL' rm private >/dev/null"
expect_error "pull: a token with a space" "the access token must be" \
  "$OWL" pull "$base/private/tiny.gguf" --token "a b" --name private
check "pull: HF_TOKEN stays home for other hosts" bash -c "HF_TOKEN=owl-test-token '$OWL' pull '$base/private/tiny.gguf' --name private2 2>&1 | grep -q 'HTTP 401'"
check "pull: nothing kept after a 404" test "$(partials)" = 0

n_blobs=$(blobs)
expect_error "pull: corrupted file vs --sha256" "sha256 mismatch" \
  "$OWL" pull "$base/corrupt/tiny.gguf" --sha256 "$sha" --name bad
check "pull: nothing kept after a mismatch" test "$(partials)" = 0 -a "$(blobs)" = "$n_blobs"
check "pull: no name after a mismatch" bash -c "! '$OWL' list | grep -q '^bad:'"
expect_error "pull: wrong digest from the server" "the server's ETag" \
  "$OWL" pull "$base/badetag/tiny.gguf" --name bad
expect_error "pull: not enough disk space" "not enough disk space" "$OWL" pull "$base/huge/tiny.gguf"
echo "not a model" >"$www/readme.gguf"
expect_error "pull: not a GGUF file" "not a GGUF file" "$OWL" pull "$base/files/readme.gguf"
check "pull: nothing kept for a non-GGUF file" test "$(partials)" = 0
if command -v script >/dev/null; then
  script -qec "'$OWL' pull '$base/files/tiny.gguf' --name bar" /dev/null >"$T_TMP/tty" 2>&1
  check "pull: a progress bar on a terminal" grep -q 'downloading 100% \[#*\] 1.13 MiB/1.13 MiB' "$T_TMP/tty"
  check "pull: then the verification step" grep -q 'verifying sha256 digest' "$T_TMP/tty"
  "$OWL" rm bar >/dev/null
else
  skip "pull: progress bar" "script(1) is not installed"
fi
expect_error "pull: not a URL" "not a URL" "$OWL" pull "ftp://example.invalid/x.gguf"
expect_error "pull: bad hf:// path" "hf://OWNER/REPO/FILE" "$OWL" pull "hf://owner/repo"
expect_error "pull: bad --sha256" "64 hex digits" "$OWL" pull "$base/files/tiny.gguf" --sha256 abc
expect_error "pull: bad name" "not allowed" "$OWL" pull "$base/files/tiny.gguf" --name "a b"

# ---- create -----------------------------------------------------------------------------------
cat >"$www/Modelfile" <<'MF'
# a story model
FROM ./tiny.gguf
PARAMETER temperature 0
PARAMETER num_predict 8
SYSTEM """Tell stories."""
MF
check "create: from a Modelfile (path relative to it)" \
  test "$("$OWL" create story -f "$www/Modelfile")" = "created story:latest (sha256:$sha)"
"$OWL" show story >"$T_TMP/show"
check "show: a store name shows its defaults" grep -q '^parameter *temperature 0' "$T_TMP/show"
check "show: and its digest" grep -q "^digest *sha256:$sha\$" "$T_TMP/show"
check "show --json: the store part" bash -c "'$OWL' show story --json | grep -q '\"store\":{'"
want=$("$OWL" run "$src" -p "Once" -n 8 --temp 0 2>/dev/null)
got=$("$OWL" run story -p "Once" 2>/dev/null)
check "run: a store name with its Modelfile defaults" test -n "$want" -a "$got" = "$want"
"$OWL" show story --modelfile >"$T_TMP/story.mf"
check "show --modelfile: FROM the blob" grep -q "^FROM $OWL_HOME/blobs/sha256-$sha\$" "$T_TMP/story.mf"
check "show --modelfile: the recipe" grep -q '^SYSTEM """Tell stories."""$' "$T_TMP/story.mf"
check "show --modelfile: recreates the model" bash -c \
  "'$OWL' create story:again -f '$T_TMP/story.mf' >/dev/null && '$OWL' show story:again --modelfile | cmp -s - '$T_TMP/story.mf' && '$OWL' rm story:again >/dev/null"
expect_error "show --modelfile: not for a file" "needs a store name" "$OWL" show "$src" --modelfile
printf 'FROM story\nPARAMETER top_k 1\n' >"$T_TMP/Modelfile2"
check "create: FROM a store name" bash -c "'$OWL' create story:k1 -f '$T_TMP/Modelfile2' >/dev/null"
"$OWL" show story:k1 >"$T_TMP/show2"
check "create: inherits the base model's defaults" grep -q '^parameter *temperature 0' "$T_TMP/show2"
check "create: and adds its own" grep -q '^parameter *top_k 1' "$T_TMP/show2"
printf 'FROM story\nPARAMETER colour blue\n' >"$T_TMP/Modelfile3"
expect_error "create: a bad Modelfile names the line" "line 2: unknown parameter 'colour'" \
  "$OWL" create x -f "$T_TMP/Modelfile3"
printf 'FROM ./nothing.gguf\n' >"$T_TMP/Modelfile4"
expect_error "create: FROM a missing file" "no such file or model" "$OWL" create x -f "$T_TMP/Modelfile4"
expect_error "create: missing Modelfile" "nope" "$OWL" create x -f "$T_TMP/nope"

# ---- serve NAME ---------------------------------------------------------------------------------
if command -v curl >/dev/null; then
  "$OWL" serve story --port 0 -t 1 2>"$T_TMP/serve.log" &
  srv=$!
  port=
  for _ in $(seq 1 100); do
    port=$(sed -n 's|^owl: listening on http://127.0.0.1:\([0-9]*\).*|\1|p' "$T_TMP/serve.log")
    [ -n "$port" ] && break
    sleep 0.05
  done
  check "serve: a store name is listed under that name" \
    grep -q '"id":"story:latest"' <(curl -s -m 5 "http://127.0.0.1:$port/v1/models")
  kill -TERM "$srv"; wait "$srv"
  check "serve: stops with status 0" test $? = 0
else
  skip "serve NAME" "curl is not installed"
fi

# ---- list, cp, rm -----------------------------------------------------------------------------
"$OWL" list >"$T_TMP/list"
check "list: a header and one line per name" test "$(wc -l <"$T_TMP/list")" = 7
check "list: name, id, size" grep -q "^tiny:latest  *${sha:0:12} *1.13 MiB" "$T_TMP/list"
check "cp" test "$("$OWL" cp tiny team/tiny:v2)" = "copied 'tiny:latest' to 'team/tiny:v2'"
check "cp: the copy lists" grep -q '^team/tiny:v2 ' <("$OWL" list)
expect_error "cp: onto an existing name" "already exists" "$OWL" cp tiny story
expect_error "cp: a missing source" "not found" "$OWL" cp nope x
expect_error "rm: a missing name" "not found" "$OWL" rm nope
for n in tiny team/tiny:v2 cut norange viahf story; do "$OWL" rm "$n" >/dev/null; done
check "rm: the blob stays while a name uses it" test "$(blobs)" = 1
check "rm" test "$("$OWL" rm story:k1)" = "deleted 'story:k1'"
check "rm: everything gone" test "$("$OWL" list | wc -l)" = 1
check "rm: the last name takes the blob with it" test "$(blobs)" = 0
check "run: a file path still works" test -n "$want"
expect_error "run: an unknown name" "model 'ghost:latest' not found" "$OWL" run ghost -p hi
expect_error "ps: no server" "is 'owl serve' running" "$OWL" ps --port 1
summary
