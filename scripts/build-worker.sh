#!/usr/bin/env bash
# Builds the worker (crates/worker/build/) with worker-build, pointing it at the
# local wasm-bindgen, esbuild and wasm-opt so that nothing is downloaded.
# Installs the pinned tools when missing.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
rustup target list --installed | grep -q wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown
wasm-bindgen --version 2>/dev/null | grep -q ' 0\.2\.130' || (cd /tmp && cargo install wasm-bindgen-cli --version 0.2.130)
worker-build --version 2>/dev/null | grep -q ' 0\.8\.7' || (cd /tmp && cargo install --locked worker-build --version 0.8.7)
[ -x node_modules/.bin/wasm-opt ] || npm ci --no-audit --no-fund
cd crates/worker
WASM_BINDGEN_BIN=$(command -v wasm-bindgen) \
ESBUILD_BIN="$ROOT/node_modules/.bin/esbuild" \
WASM_OPT_BIN="$ROOT/node_modules/.bin/wasm-opt" \
  worker-build --release
