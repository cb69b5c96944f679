#!/usr/bin/env bash
# Installs the real-client test dependencies (the openai and ollama npm packages) from the
# committed lockfile. Idempotent: does nothing when node_modules already matches the lockfile.
set -eu
cd "$(dirname "$0")/../.."
command -v npm >/dev/null || { echo "setup: npm is not installed" >&2; exit 1; }
stamp=node_modules/.owl-lock-stamp
if [ -f "$stamp" ] && cmp -s package-lock.json "$stamp"; then exit 0; fi
npm ci --no-audit --no-fund --loglevel=error >&2
cp package-lock.json "$stamp"
