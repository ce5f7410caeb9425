#!/usr/bin/env bash
# Builds the npm package tessera-edge into js/dist: the engine compiled to
# wasm32 (crates/node-binding), its wasm-bindgen glue (--target web: loads from
# bytes, a compiled module or a URL, so every runtime can use it), wasm-opt,
# then the TypeScript. Prints the gzipped WebAssembly size. Installs the pinned
# wasm-bindgen-cli and the npm tools when missing; downloads nothing else.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
rustup target list --installed | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown
wasm-bindgen --version 2>/dev/null | grep -q ' 0\.2\.130' || (cd /tmp && cargo install wasm-bindgen-cli --version 0.2.130)
[ -x node_modules/.bin/tsc ] && [ -x node_modules/.bin/wasm-opt ] || npm ci --no-audit --no-fund

cargo build -p tessera-node-binding --target wasm32-unknown-unknown --release
rm -rf js/src/wasm js/dist
wasm-bindgen --target web --out-dir js/src/wasm --out-name tessera \
  target/wasm32-unknown-unknown/release/tessera_node_binding.wasm
node_modules/.bin/wasm-opt -Oz --converge --one-caller-inline-max-function-size=50 --low-memory-unused --strip-debug --strip-producers \
  --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
  --enable-mutable-globals --enable-reference-types --enable-multivalue \
  js/src/wasm/tessera_bg.wasm -o js/src/wasm/tessera_bg.wasm
node_modules/.bin/tsc -p js
mkdir -p js/dist/wasm
cp js/src/wasm/tessera.js js/src/wasm/tessera.d.ts js/src/wasm/tessera_bg.wasm js/dist/wasm/
raw=$(wc -c < js/dist/wasm/tessera_bg.wasm)
gz=$(gzip -9 -c js/dist/wasm/tessera_bg.wasm | wc -c)
echo "tessera-edge: js/dist built; WebAssembly $raw bytes, $gz bytes gzipped ($(awk "BEGIN { printf \"%.1f\", $gz / 1024 }") KiB)"
