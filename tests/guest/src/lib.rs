//! The core behind a zero-import C ABI, so a host (wasmtime in `tests/wasm.rs`, the
//! benches) can run the very same vector suite against the core compiled to
//! `wasm32-unknown-unknown`.
//!
//! [`run_case`] is plain Rust and is also what the native test calls, so native and
//! WASM answers are produced by identical code and compared byte for byte.
//!
//! Input (JSON): `{"jwks": "<document>"} | {"pem": "<text>"}`, plus `"policy"`
//! (the shared policy schema), `"token"`, and `"now"`: a list of unix times at which
//! the same verifier checks the token in turn (so memo behaviour is covered too).
//! Output (JSON): `{"results": [{"valid": true, "sub": …, "claims": {…}} |
//! {"valid": false, "reason": "…", "message": "…"}, …]}`.
#![no_std]
#![cfg_attr(target_arch = "wasm32", allow(unsafe_code))]

extern crate alloc;

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use serde::Deserialize;
use serde_json::{json, Value};
use tessera_core::{KeySet, MemoConfig, Policy, Refusal, Verifier};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseInput {
    #[serde(default)]
    jwks: Option<String>,
    #[serde(default)]
    pem: Option<String>,
    policy: Policy,
    #[serde(default)]
    memo: Option<MemoConfig>,
    token: String,
    now: Vec<u64>,
}

fn refusal(r: &Refusal) -> Value {
    json!({ "valid": false, "reason": r.reason.code(), "message": r.message })
}

/// Runs one vector: loads the keys, builds a verifier, verifies the token at each
/// `now` in turn, and reports every verdict as JSON.
pub fn run_case(input: &[u8]) -> String {
    let input: CaseInput = match serde_json::from_slice(input) {
        Ok(i) => i,
        Err(e) => return json!({ "error": alloc::format!("bad case input: {e}") }).to_string(),
    };
    let keys = match (&input.jwks, &input.pem) {
        (Some(jwks), None) => KeySet::from_jwks(jwks.as_bytes()),
        (None, Some(pem)) => KeySet::from_pem(pem),
        _ => return json!({ "error": "give exactly one of jwks, pem" }).to_string(),
    };
    let results: Vec<Value> = match keys {
        Err(r) => input.now.iter().map(|_| refusal(&r)).collect(),
        Ok(keys) => {
            let mut verifier = match Verifier::with_memo(keys, input.policy, input.memo.unwrap_or_default()) {
                Ok(v) => v,
                Err(e) => return json!({ "error": alloc::format!("{e}") }).to_string(),
            };
            input
                .now
                .iter()
                .map(|now| match verifier.verify(&input.token, *now) {
                    Ok(id) => json!({ "valid": true, "sub": id.sub, "claims": id.claims }),
                    Err(r) => refusal(&r),
                })
                .collect()
        }
    };
    json!({ "results": results }).to_string()
}

#[cfg(target_arch = "wasm32")]
mod abi {
    use alloc::boxed::Box;
    use alloc::vec::Vec;

    #[global_allocator]
    static ALLOC: dlmalloc::GlobalDlmalloc = dlmalloc::GlobalDlmalloc;

    #[panic_handler]
    fn panic(_: &core::panic::PanicInfo) -> ! {
        core::arch::wasm32::unreachable()
    }

    /// Reserves `len` bytes of guest memory for the host to write input into.
    #[no_mangle]
    pub extern "C" fn guest_alloc(len: usize) -> *mut u8 {
        let mut buf = Vec::<u8>::with_capacity(len);
        let ptr = buf.as_mut_ptr();
        core::mem::forget(buf);
        ptr
    }

    /// Frees memory from `guest_alloc` (capacity `len`) or `guest_run` (length `len`).
    ///
    /// # Safety
    /// `ptr`/`len` must come from one of those calls and be freed once.
    #[no_mangle]
    pub unsafe extern "C" fn guest_free(ptr: *mut u8, len: usize) {
        drop(Vec::from_raw_parts(ptr, 0, len));
    }

    /// Runs one case; returns `(ptr << 32) | len` of the JSON output.
    ///
    /// # Safety
    /// `ptr`/`len` must describe initialised guest memory.
    #[no_mangle]
    pub unsafe extern "C" fn guest_run(ptr: *const u8, len: usize) -> u64 {
        let input = core::slice::from_raw_parts(ptr, len);
        let out: Box<[u8]> = super::run_case(input).into_bytes().into_boxed_slice();
        let out_len = out.len();
        let out_ptr = Box::into_raw(out) as *mut u8;
        ((out_ptr as u64) << 32) | out_len as u64
    }
}
