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
# worker-build keeps the function names (for stack traces in workerd logs): about
# 30 KiB of the gzipped module. They go, unless TESSERA_KEEP_NAMES=1.
if [ "${TESSERA_KEEP_NAMES:-0}" != 1 ]; then
  "$ROOT/node_modules/.bin/wasm-opt" build/index_bg.wasm -o build/index_bg.wasm --strip-debug \
    --enable-mutable-globals --enable-sign-ext --enable-nontrapping-float-to-int --enable-bulk-memory \
    --enable-multivalue --enable-reference-types --enable-exception-handling
fi
gz=$(gzip -9 -c build/index_bg.wasm | wc -c)
echo "tessera-worker: crates/worker/build/index_bg.wasm $(wc -c < build/index_bg.wasm) bytes, $gz bytes gzipped ($(awk "BEGIN { printf \"%.1f\", $gz / 1024 }") KiB)"
