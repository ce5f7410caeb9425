#!/usr/bin/env bash
# Runs every test: the core's unit and doc tests, the vector suite natively, the
# same suite in wasmtime against the core compiled to wasm32-unknown-unknown, and
# the CLI contract tests. Installs the wasm32 target if it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

rustup target list --installed | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown

echo "== the core builds for wasm32-unknown-unknown with no default features"
cargo build -p tessera-core --target wasm32-unknown-unknown --no-default-features --release

echo "== the zero-import wasm32 guest that tests/wasm.rs loads into wasmtime"
cargo build -p tessera-wasm-guest --target wasm32-unknown-unknown --release

echo "== tests (native, wasmtime, CLI, doc tests)"
cargo test --workspace
