//! The core behind a zero-import C ABI, so a host (wasmtime in `tests/wasm.rs`, the
//! benches) can run the very same vector suite against the core compiled to
//! `wasm32-unknown-unknown`.
//!
//! [`run_case`] is plain Rust and is also what the native test calls, so native and
//! WASM answers are produced by identical code and compared byte for byte.
//!
//! Input (JSON): `{"jwks": "<document>"} | {"pem": "<text>"}`, plus `"policy"`
//! (the shared policy schema), `"token"`, and `"now"`: a list of unix times at which
//! the same verifier checks the token in turn (so memo behaviour is covered too);
//! optionally `"profile"` (a provider profile applied to the policy) and
//! `"require"` (route requirements the verified identity must meet).
//! Output (JSON): `{"results": [{"valid": true, "sub": …, "kind": …, "roles": […],
//! "permissions": […], "claims": {…}} | {"valid": false, "reason": "…",
//! "message": "…"}, …]}`; an unmet requirement is `insufficient-scope` with its
//! `requirement`.
#![no_std]
#![cfg_attr(target_arch = "wasm32", allow(unsafe_code))]

extern crate alloc;

use alloc::string::{String, ToString};
use alloc::sync::Arc;
use alloc::vec::Vec;
use serde::Deserialize;
use serde_json::{json, Value};
use tessera_core::backend::SignatureBackend;
use tessera_core::{KeySet, MemoConfig, Policy, Provider, Refusal, Requirements, Verifier};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseInput {
    #[serde(default)]
    jwks: Option<String>,
    #[serde(default)]
    pem: Option<String>,
    policy: Policy,
    #[serde(default)]
    profile: Option<String>,
    #[serde(default)]
    require: Option<Value>,
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
    run_case_with(input, None)
}

/// [`run_case`] with the signatures checked by `backend` where it takes them.
pub fn run_case_with(input: &[u8], backend: Option<Arc<dyn SignatureBackend>>) -> String {
    let input: CaseInput = match serde_json::from_slice(input) {
        Ok(i) => i,
        Err(e) => return json!({ "error": alloc::format!("bad case input: {e}") }).to_string(),
    };
    let keys = match (&input.jwks, &input.pem) {
        (Some(jwks), None) => KeySet::from_jwks(jwks.as_bytes()),
        (None, Some(pem)) => KeySet::from_pem(pem),
        _ => return json!({ "error": "give exactly one of jwks, pem" }).to_string(),
    };
    let mut policy = input.policy;
    if let Some(name) = &input.profile {
        match Provider::from_name(name) {
            Some(p) => p.apply(&mut policy),
            None => return json!({ "error": alloc::format!("no profile {name}") }).to_string(),
        }
    }
    let require = match input
        .require
        .as_ref()
        .map(|r| Requirements::from_json(&r.to_string()))
    {
        Some(Ok(r)) => r,
        Some(Err(e)) => return json!({ "error": alloc::format!("{e}") }).to_string(),
        None => Requirements::default(),
    };
    let results: Vec<Value> = match keys {
        Err(r) => input.now.iter().map(|_| refusal(&r)).collect(),
        Ok(keys) => {
            let mut verifier = match Verifier::with_memo(keys, policy, input.memo.unwrap_or_default()) {
                Ok(v) => v,
                Err(e) => return json!({ "error": alloc::format!("{e}") }).to_string(),
            };
            if let Some(backend) = backend {
                verifier = verifier.with_backend(backend);
            }
            input
                .now
                .iter()
                .map(|now| match verifier.verify(&input.token, *now) {
                    Ok(id) => match require.check(&id) {
                        Ok(()) => json!({
                            "valid": true, "sub": id.sub, "kind": id.kind, "roles": id.roles,
                            "permissions": id.permissions, "claims": id.claims
                        }),
                        Err(unmet) => json!({
                            "valid": false, "reason": "insufficient-scope",
                            "requirement": unmet.requirement, "message": unmet.message
                        }),
                    },
                    Err(r) => refusal(&r),
                })
                .collect()
        }
    };
    json!({ "results": results }).to_string()
}

/// One request of an engine transcript and the replies its fetches got, in order.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TranscriptStep {
    method: String,
    url: String,
    headers: Vec<(String, String)>,
    now: u64,
    replies: Vec<TranscriptReply>,
    /// The request body, for the back-channel logout endpoint.
    #[serde(default)]
    body: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct TranscriptReply {
    /// `None`: the connection failed.
    status: Option<u16>,
    #[serde(default)]
    cache_control: Option<String>,
    #[serde(default)]
    body: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Transcript {
    /// The configuration document.
    config: String,
    steps: Vec<TranscriptStep>,
}

/// The 32 random bytes of call `round` at `now`, as the native harness draws
/// them (`tests/harness`), so both runs seal and sign identically.
fn seed(now: u64, round: u64) -> [u8; 32] {
    let mut s = [0u8; 32];
    s[..8].copy_from_slice(&now.to_be_bytes());
    s[8..16].copy_from_slice(&round.to_be_bytes());
    s
}

/// Replays an engine transcript: one engine, each request in turn, each fetch
/// answered by the next recorded reply. Output: per request, the decision as
/// JSON (status, reason, message, HTTP answer, headers, cookies, the URLs it
/// fetched), so a native and a wasm32 run can be compared byte for byte.
pub fn run_transcript(input: &[u8]) -> String {
    use tessera_core::decision::Action;
    use tessera_core::engine::{Engine, Reply, Request, Step};
    let input: Transcript = match serde_json::from_slice(input) {
        Ok(i) => i,
        Err(e) => return json!({ "error": alloc::format!("bad transcript: {e}") }).to_string(),
    };
    let config = match tessera_core::config::TesseraConfig::from_json(&input.config) {
        Ok(c) => c,
        Err(e) => return json!({ "error": alloc::format!("{e}") }).to_string(),
    };
    let mut engine = match Engine::new(config) {
        Ok(e) => e,
        Err(e) => return json!({ "error": alloc::format!("{e}") }).to_string(),
    };
    let mut out = Vec::new();
    for step in &input.steps {
        let headers: Vec<(&str, &str)> = step
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        let request = Request {
            method: &step.method,
            url: &step.url,
            headers: &headers,
        };
        let mut replies = step.replies.iter();
        let mut fetched = Vec::new();
        let mut state = engine.handle(&request, step.now, seed(step.now, 1));
        let mut round = 2;
        let decision = loop {
            state = match state {
                Step::Done(d) => break Some(d),
                Step::Fetch(p) | Step::Refresh(p) => {
                    fetched.push(alloc::format!("{} {}", p.request().method, p.request().url));
                    let reply = match replies.next() {
                        Some(TranscriptReply {
                            status: Some(status),
                            cache_control,
                            body,
                        }) => Reply::Response {
                            status: *status,
                            cache_control: cache_control.as_deref(),
                            body: body.as_bytes(),
                        },
                        Some(_) => Reply::Failed("connection refused"),
                        None => break None,
                    };
                    round += 1;
                    engine.resume(p, reply, step.now, seed(step.now, round - 1))
                }
                Step::Body(p) => {
                    engine.resume(p, Reply::Body(step.body.as_bytes()), step.now, seed(step.now, 0))
                }
                // A store of one instance: the engine already did it in memory.
                Step::Store(p) => engine.resume(p, Reply::Stored(Ok(true)), step.now, seed(step.now, 0)),
                Step::Verify(_) | Step::Idle => break None,
            };
        };
        out.push(match decision {
            None => json!({ "error": "the transcript ran out of replies", "fetched": fetched }),
            Some(d) => {
                let (http, headers) = match &d.action {
                    Action::Respond { status, headers, .. } => (Some(*status), headers.clone()),
                    Action::Forward { headers, .. } => (None, headers.clone()),
                };
                json!({
                    "status": d.status.as_str(),
                    "reason": d.reason.map(|r| r.code()),
                    "message": d.message,
                    "http": http,
                    "headers": headers,
                    "responseHeaders": d.response_headers(),
                    "fetched": fetched,
                })
            }
        });
    }
    json!({ "steps": out }).to_string()
}

/// Settings for a long-lived verifier (benchmarks): `{"jwks", "policy", "memo"?}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VerifierInput {
    jwks: String,
    policy: Policy,
    #[serde(default)]
    memo: Option<MemoConfig>,
}

/// Builds a verifier that outlives one call, for benchmarks; `None` if the input
/// or the key set is unusable.
pub fn bench_verifier(input: &[u8]) -> Option<Verifier> {
    let input: VerifierInput = serde_json::from_slice(input).ok()?;
    let keys = KeySet::from_jwks(input.jwks.as_bytes()).ok()?;
    Verifier::with_memo(keys, input.policy, input.memo.unwrap_or_default()).ok()
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

    struct BenchVerifier(core::cell::RefCell<Option<tessera_core::Verifier>>);
    // A wasm32 guest without threads has exactly one thread.
    unsafe impl Sync for BenchVerifier {}
    static BENCH: BenchVerifier = BenchVerifier(core::cell::RefCell::new(None));

    /// Replays an engine transcript; returns `(ptr << 32) | len` of the JSON output.
    ///
    /// # Safety
    /// `ptr`/`len` must describe initialised guest memory.
    #[no_mangle]
    pub unsafe extern "C" fn guest_transcript(ptr: *const u8, len: usize) -> u64 {
        let input = core::slice::from_raw_parts(ptr, len);
        let out: Box<[u8]> = super::run_transcript(input).into_bytes().into_boxed_slice();
        let out_len = out.len();
        let out_ptr = Box::into_raw(out) as *mut u8;
        ((out_ptr as u64) << 32) | out_len as u64
    }

    /// Installs the benchmark verifier; 0 on success.
    ///
    /// # Safety
    /// `ptr`/`len` must describe initialised guest memory.
    #[no_mangle]
    pub unsafe extern "C" fn guest_bench_setup(ptr: *const u8, len: usize) -> u32 {
        let verifier = super::bench_verifier(core::slice::from_raw_parts(ptr, len));
        let ok = verifier.is_some();
        *BENCH.0.borrow_mut() = verifier;
        u32::from(!ok)
    }

    /// Verifies a token with the benchmark verifier; 0 if valid.
    ///
    /// # Safety
    /// `ptr`/`len` must describe initialised guest memory.
    #[no_mangle]
    pub unsafe extern "C" fn guest_bench_verify(ptr: *const u8, len: usize, now: u64) -> u32 {
        let Ok(token) = core::str::from_utf8(core::slice::from_raw_parts(ptr, len)) else {
            return 2;
        };
        match BENCH.0.borrow_mut().as_mut() {
            Some(v) => u32::from(v.verify(token, now).is_err()),
            None => 3,
        }
    }

    /// Parses a JWKS document; 0 if it holds a usable key.
    ///
    /// # Safety
    /// `ptr`/`len` must describe initialised guest memory.
    #[no_mangle]
    pub unsafe extern "C" fn guest_bench_parse_jwks(ptr: *const u8, len: usize) -> u32 {
        u32::from(tessera_core::KeySet::from_jwks(core::slice::from_raw_parts(ptr, len)).is_err())
    }
}
