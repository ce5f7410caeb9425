#!/usr/bin/env bash
# Builds the zero-import wasm32 guest that tests/wasm.rs and the benches load
# into wasmtime: target/wasm32-unknown-unknown/release/tessera_wasm_guest.wasm,
# the core as any WebAssembly host runs it (V8 included), with the release
# profile's fat LTO, as the npm package and the worker are built.
set -euo pipefail
cd "$(dirname "$0")/.."
rustup target list --installed | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown
# `cargo rustc --crate-type cdylib`: the guest is an rlib for native use (see
# its Cargo.toml).
cargo rustc -p tessera-wasm-guest --crate-type cdylib --target wasm32-unknown-unknown --release
