#!/usr/bin/env bash
# The README's test command: installs what the tests need (Debian packages; the llama.cpp
# reference through npm on first use), then runs every check CI runs.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec bash scripts/check.sh
