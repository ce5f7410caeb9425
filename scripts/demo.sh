#!/usr/bin/env bash
# The demo: a local OpenID Provider, an origin app and the Tessera worker in
# workerd, all on 127.0.0.1. Prints the URL and the test user's credentials and
# serves until Ctrl-C; with --walkthrough it signs in, calls a protected page,
# waits for a transparent refresh and signs out from the terminal instead.
# Installs what it needs (npm tools, the wasm32 target, pinned wasm-bindgen-cli
# and worker-build) on first run.
set -euo pipefail
cd "$(dirname "$0")/.."
npm ls --depth=0 >/dev/null 2>&1 || npm ci --no-audit --no-fund
./scripts/build-worker.sh >/tmp/tessera-worker-build.log 2>&1 || { cat /tmp/tessera-worker-build.log; exit 1; }
exec node scripts/demo.mjs "$@"
