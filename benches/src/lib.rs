//! What the benchmarks share: the policy they verify under, and the core
//! compiled to wasm32 driven in wasmtime through the guest's bench exports.

use serde_json::json;
use std::path::{Path, PathBuf};
use tessera_core::{KeySet, MemoConfig, Policy, Verifier};
use tessera_tests::{ISS, NOW};
use wasmtime::{Engine, Instance, Memory, Module, Store, TypedFunc};

/// The benchmarks' policy: the test issuer, every algorithm allowed.
pub fn policy() -> Policy {
    let mut p = Policy::for_issuer(ISS);
    p.algorithms = tessera_core::Alg::ALL.to_vec();
    p
}

/// A native verifier for `jwks` under [`policy`].
pub fn verifier(jwks: &str, memo: MemoConfig) -> Verifier {
    Verifier::with_memo(KeySet::from_jwks(jwks.as_bytes()).unwrap(), policy(), memo).unwrap()
}

/// The memo off: every verification is cold.
pub const NO_MEMO: MemoConfig = MemoConfig {
    capacity: 0,
    max_age: 0,
};

/// The core compiled to wasm32, driven through the guest's bench exports.
pub struct WasmVerifier {
    pub store: Store<()>,
    memory: Memory,
    alloc: TypedFunc<u32, u32>,
    setup: TypedFunc<(u32, u32), u32>,
    verify: TypedFunc<(u32, u32, u64), u32>,
    pub parse: TypedFunc<(u32, u32), u32>,
}

impl WasmVerifier {
    /// Where `scripts/build-guest.sh` puts the guest.
    pub fn built() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../target/wasm32-unknown-unknown/release/tessera_wasm_guest.wasm")
    }

    /// Compiles and instantiates the guest module at `path`.
    pub fn load(path: &Path) -> WasmVerifier {
        let engine = Engine::default();
        let module = Module::from_file(&engine, path)
            .unwrap_or_else(|e| panic!("{}: {e}; build it with scripts/build-guest.sh", path.display()));
        let mut store = Store::new(&engine, ());
        let instance = Instance::new(&mut store, &module, &[]).unwrap();
        WasmVerifier {
            memory: instance.get_memory(&mut store, "memory").unwrap(),
            alloc: instance.get_typed_func(&mut store, "guest_alloc").unwrap(),
            setup: instance.get_typed_func(&mut store, "guest_bench_setup").unwrap(),
            verify: instance.get_typed_func(&mut store, "guest_bench_verify").unwrap(),
            parse: instance
                .get_typed_func(&mut store, "guest_bench_parse_jwks")
                .unwrap(),
            store,
        }
    }

    /// Copies bytes into guest memory (kept for the whole run).
    pub fn put(&mut self, bytes: &[u8]) -> (u32, u32) {
        let ptr = self.alloc.call(&mut self.store, bytes.len() as u32).unwrap();
        self.memory.write(&mut self.store, ptr as usize, bytes).unwrap();
        (ptr, bytes.len() as u32)
    }

    /// Installs the guest's verifier for `jwks` under [`policy`].
    pub fn install(&mut self, jwks: &str, memo: MemoConfig) {
        let input = json!({ "jwks": jwks, "policy": policy(), "memo": memo }).to_string();
        let (p, l) = self.put(input.as_bytes());
        assert_eq!(self.setup.call(&mut self.store, (p, l)).unwrap(), 0);
    }

    /// Verifies the token at `token` (from [`WasmVerifier::put`]) at the test
    /// time; 0 when valid.
    pub fn verify(&mut self, token: (u32, u32)) -> u32 {
        self.verify
            .call(&mut self.store, (token.0, token.1, NOW))
            .unwrap()
    }
}
