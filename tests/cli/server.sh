#!/usr/bin/env bash
# owl serve as a process: flags, API key file, the log line (text and JSON), 404 for a model not in the store,
# and SIGINT/SIGTERM ending it with status 0. Everything on 127.0.0.1 with bounded waits.
cd "$(dirname "$0")/../.." || exit 1
. tests/lib.sh
command -v curl >/dev/null || { skip "server" "curl is not installed"; summary; exit; }
export OWL_HOME=$T_TMP/owl-home # without MODEL the server serves this (empty) store

# start_server LOG ARGS...: runs owl serve on a free port; sets SRV_PID and SRV_PORT.
start_server() {
  local log=$1; shift
  "$OWL" serve --port 0 "$@" 2>"$log" &
  SRV_PID=$!
  SRV_PORT=
  for _ in $(seq 1 100); do
    SRV_PORT=$(sed -n 's|^owl: listening on http://127.0.0.1:\([0-9]*\).*|\1|p' "$log")
    [ -n "$SRV_PORT" ] && return 0
    sleep 0.05
  done
  return 1
}

# stop_server SIGNAL: sends it and waits (at most 10 s); returns the exit status.
stop_server() {
  kill -"$1" "$SRV_PID"
  for _ in $(seq 1 200); do
    kill -0 "$SRV_PID" 2>/dev/null || break
    sleep 0.05
  done
  kill -0 "$SRV_PID" 2>/dev/null && { kill -KILL "$SRV_PID"; wait "$SRV_PID"; return 99; }
  wait "$SRV_PID"
}

get() { curl -s -m 5 -o "$T_TMP/body" -w '%{http_code}' "$@"; }

printf 'k3y \n' >"$T_TMP/key"
if start_server "$T_TMP/log" --api-key-file "$T_TMP/key"; then
  base=http://127.0.0.1:$SRV_PORT
  check "health without a key" test "$(get "$base/health")" = 200
  check "401 without a key" test "$(get "$base/v1/models")" = 401
  check "401 body is OpenAI's error" grep -q '"code":"invalid_api_key"' "$T_TMP/body"
  check "200 with the key from the file" test "$(get -H 'Authorization: Bearer k3y' "$base/v1/models")" = 200
  check "404 for a model the store lacks" test "$(get -H 'Authorization: Bearer k3y' \
    -d '{"model":"nope","messages":[{"role":"user","content":"PRIVATE"}]}' "$base/v1/chat/completions")" = 404
  check "404 for Ollama paths in Ollama's shape" test "$(get -H 'Authorization: Bearer k3y' "$base/api/x")" = 404
  check "Ollama error shape" grep -q '^{"error":"no endpoint GET /api/x"}$' "$T_TMP/body"
  stop_server TERM; rc=$?
  check "SIGTERM exits 0" test "$rc" = 0
  check "log line per request" grep -q '^GET /health 200 tokens=0+0 [0-9]*ms$' "$T_TMP/log"
  check "prompts are not logged" bash -c "! grep -q PRIVATE '$T_TMP/log'"
else
  fail "server start" "$(cat "$T_TMP/log")"
fi

if start_server "$T_TMP/log2" --log-json --cors; then
  base=http://127.0.0.1:$SRV_PORT
  get -H 'Origin: http://x' -X OPTIONS "$base/v1/chat/completions" >"$T_TMP/code"
  check "CORS preflight 204" test "$(cat "$T_TMP/code")" = 204
  get "$base/metrics" >/dev/null
  check "metrics in Prometheus text" grep -q '^owl_requests_total{endpoint="/v1/chat/completions",status="204"} 1$' "$T_TMP/body"
  stop_server INT; rc=$?
  check "SIGINT exits 0" test "$rc" = 0
  check "JSON log lines" grep -q '^{"method":"GET","path":"/metrics","status":200,"prompt_tokens":0,"completion_tokens":0,"ms":[0-9]*}$' "$T_TMP/log2"
else
  fail "server start (--log-json)" "$(cat "$T_TMP/log2")"
fi

# A model with a Q8_0 KV cache; a stop string that spans tokens ends the text before it.
if need_shared models/stories260K/stories260K.gguf &&
   start_server "$T_TMP/log3" "$SHARED/models/stories260K/stories260K.gguf" --kv-type q8_0; then
  base=http://127.0.0.1:$SRV_PORT
  get -d '{"prompt":"Once upon a time","max_tokens":40,"temperature":0,"stop":["named Lily"]}' "$base/v1/completions" >"$T_TMP/code"
  check "--kv-type q8_0 serves; stop string across tokens" \
    grep -q '"text":", there was a little girl ","index":0,"logprobs":null,"finish_reason":"stop"' "$T_TMP/body"
  stop_server TERM
fi
expect_error "bad kv type" "not a KV cache type" "$OWL" serve --kv-type q2_K

expect_error "unknown option" "unknown option --nope" "$OWL" serve --nope
expect_error "bad port" "--port" "$OWL" serve --port 70000
expect_error "missing key file" "cannot read an API key" "$OWL" serve --api-key-file "$T_TMP/none"
expect_error "not a model file" "$T_TMP/key" "$OWL" serve "$T_TMP/key"
expect_error "bad host" "no.such.host.invalid" "$OWL" serve --host no.such.host.invalid
summary
