#!/usr/bin/env bash
# Runs every benchmark, each printing our figures beside the comparison measured
# in the same run (ratios, not absolute numbers):
#   1. the core natively, with the aws-lc-rs backend and in wasmtime, against the
#      raw aws-lc-rs signature check (criterion: cargo bench -p tessera-benches);
#   2. the npm package against jose, in Node (js/bench/verify.mjs) and inside
#      workerd (js/bench/workerd.mjs); opaque tokens through introspection
#      beside a JWT memo hit and jose (js/bench/introspection.mjs);
#   3. the Rust worker in workerd: WebCrypto vs Wasm signature checks, overhead
#      over a pass-through worker, start-up (benches/worker.bench.mjs).
# `--quick` shortens every run. Installs what it needs, like scripts/test.sh.
# Results and the machine they came from: benches/RESULTS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
QUICK=""
[ "${1:-}" = "--quick" ] && QUICK=1

rustup target list --installed | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown
npm ls --depth=0 >/dev/null 2>&1 || npm ci --no-audit --no-fund

echo "== 1. the core: native, native + aws-lc-rs, wasmtime; against the aws-lc-rs floor"
./scripts/build-guest.sh
if [ -n "$QUICK" ]; then
  cargo bench -p tessera-benches -- --warm-up-time 1 --measurement-time 2
else
  cargo bench -p tessera-benches
fi

echo "== 2. tessera-edge against jose, in Node and in workerd"
./scripts/build-npm.sh
node js/bench/verify.mjs ${QUICK:+--quick}
node js/bench/workerd.mjs ${QUICK:+--quick}
node js/bench/introspection.mjs ${QUICK:+--quick}

echo "== 3. the worker in workerd"
./scripts/build-worker.sh
node benches/worker.bench.mjs ${QUICK:+50}
