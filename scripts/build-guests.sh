#!/usr/bin/env bash
# Builds the zero-import wasm32 guests that tests/wasm.rs and the benches load
# into wasmtime:
#   target/wasm32-unknown-unknown/release/tessera_wasm_guest.wasm
#     the core as any WebAssembly host runs it (V8 included);
#   target/wide/wasm32-unknown-unknown/release/tessera_wasm_guest.wasm
#     the core with its `wide-arithmetic` feature and the wide-arithmetic target
#     feature (RSA on 64-bit limbs), and curve25519-dalek's 64-bit backend (its
#     documented `curve25519_dalek_bits` override: with `i64.mul_wide_u` its
#     64×64→128 products are one instruction, not a call), for wasmtime with the
#     proposal enabled. Its own target directory: different RUSTFLAGS would
#     otherwise rebuild the first.
set -euo pipefail
cd "$(dirname "$0")/.."
rustup target list --installed | grep -qx wasm32-unknown-unknown || rustup target add wasm32-unknown-unknown
cargo build -p tessera-wasm-guest --target wasm32-unknown-unknown --release
# Stable rustc warns that the target feature is unstable; the warning is expected.
CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS='-C target-feature=+wide-arithmetic --cfg curve25519_dalek_bits="64"' \
  cargo build -p tessera-wasm-guest --features wide-arithmetic --target wasm32-unknown-unknown --release \
  --target-dir target/wide
