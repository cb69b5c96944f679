#!/usr/bin/env bash
# Installs every Debian package owl needs to build, test and fuzz. Idempotent: packages that are
# already present are not touched, so a second run costs one dpkg query.
set -euo pipefail

pkgs=(
  build-essential clang llvm libclang-rt-dev   # gcc and clang; clang's runtime for libFuzzer, ASan, UBSan
  make pkg-config ca-certificates time   # time: peak memory in the benchmark
  libjansson-dev        # the one JSON layer
  libpcre2-dev          # pre-tokenizer regexes (JIT)
  libutf8proc-dev       # Unicode categories and normalisation
  libmicrohttpd-dev     # HTTP server
  libcurl4-openssl-dev  # HTTP client (model pulls)
  libsqlite3-dev        # usage ledger, store index
  libssl-dev            # libcrypto: SHA-256 of model blobs
)

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

# Node.js runs the test clients (openai, ollama) and the llama.cpp reference. Any node >= 18 with
# npm will do; Debian's packages are used only when none is on the PATH.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  missing+=(nodejs npm)
fi

if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "setup: installing ${missing[*]}" >&2
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi
