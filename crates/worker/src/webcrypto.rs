//! Signature checks through WebCrypto (`crypto.subtle.verify`), for the
//! algorithms where workerd's native crypto beats the pure-Rust check compiled
//! to Wasm (see `benches/worker.bench.mjs`). The engine keeps every other rule
//! (header, key selection, claims); only the raw check of the signature over
//! the signing input happens here. Imported keys are cached per isolate.
//!
//! EdDSA too: the core refuses what the strict rules refuse before handing a
//! check out (`s` not canonical, `R` of small order or not canonical; keys of
//! small order are refused when loaded), and workerd's Ed25519 is BoringSSL's
//! cofactorless check with `R` compared as bytes, so the verdicts are exactly
//! those of the core's own `verify_strict`.

use js_sys::{Array, Object, Promise, Reflect, Uint8Array};
use std::cell::RefCell;
use std::collections::HashMap;
use tessera_core::engine::{Reply, SignatureCheck};
use tessera_core::Alg;
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::JsValue;
use worker::wasm_bindgen_futures::JsFuture;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = ["crypto", "subtle"], js_name = importKey)]
    fn import_key(
        format: &str,
        key: &Uint8Array,
        algorithm: &Object,
        extractable: bool,
        usages: &Array,
    ) -> Promise;
    #[wasm_bindgen(js_namespace = ["crypto", "subtle"], js_name = verify)]
    fn subtle_verify(algorithm: &Object, key: &JsValue, signature: &Uint8Array, data: &Uint8Array)
        -> Promise;
}

/// Imported keys kept at most; beyond that the cache starts over.
const MAX_KEYS: usize = 64;

thread_local! {
    static KEYS: RefCell<HashMap<(String, Alg), JsValue>> = RefCell::new(HashMap::new());
}

fn object(pairs: &[(&str, JsValue)]) -> Object {
    let o = Object::new();
    for (k, v) in pairs {
        let _ = Reflect::set(&o, &JsValue::from_str(k), v);
    }
    o
}

fn hash(alg: Alg) -> &'static str {
    match alg {
        Alg::Rs384 | Alg::Ps384 => "SHA-384",
        Alg::Rs512 | Alg::Ps512 => "SHA-512",
        _ => "SHA-256",
    }
}

/// (import parameters, verify parameters) for `alg`.
fn params(alg: Alg) -> (Object, Object) {
    let s = JsValue::from_str;
    match alg {
        Alg::EdDsa => (
            object(&[("name", s("Ed25519"))]),
            object(&[("name", s("Ed25519"))]),
        ),
        Alg::Es256 => (
            object(&[("name", s("ECDSA")), ("namedCurve", s("P-256"))]),
            object(&[("name", s("ECDSA")), ("hash", s("SHA-256"))]),
        ),
        Alg::Ps256 | Alg::Ps384 | Alg::Ps512 => {
            let salt = match alg {
                Alg::Ps384 => 48,
                Alg::Ps512 => 64,
                _ => 32,
            };
            (
                object(&[("name", s("RSA-PSS")), ("hash", s(hash(alg)))]),
                object(&[("name", s("RSA-PSS")), ("saltLength", JsValue::from(salt))]),
            )
        }
        _ => (
            object(&[("name", s("RSASSA-PKCS1-v1_5")), ("hash", s(hash(alg)))]),
            object(&[("name", s("RSASSA-PKCS1-v1_5"))]),
        ),
    }
}

/// The reply to the engine's check: whether the signature verifies, or
/// [`Reply::SignatureUnsupported`] when this workerd's WebCrypto does not know
/// the algorithm (`NotSupportedError` on import: a workerd older than its
/// `Ed25519`), so the engine checks it in Wasm instead of refusing every such
/// token. Any other WebCrypto error (a key it refuses, a malformed signature)
/// is a failed check, never a pass.
pub async fn verify(check: &SignatureCheck) -> Reply<'static> {
    let (import, verify) = params(check.alg);
    let cache_key = (check.key_id.clone(), check.alg);
    let cached = KEYS.with(|k| k.borrow().get(&cache_key).cloned());
    let key = match cached {
        Some(key) => key,
        None => {
            let usages = Array::of1(&JsValue::from_str("verify"));
            let spki = Uint8Array::from(check.spki_der.as_slice());
            let key = match JsFuture::from(import_key("spki", &spki, &import, false, &usages)).await {
                Ok(key) => key,
                Err(e)
                    if Reflect::get(&e, &JsValue::from_str("name"))
                        .ok()
                        .and_then(|n| n.as_string())
                        .as_deref()
                        == Some("NotSupportedError") =>
                {
                    return Reply::SignatureUnsupported;
                }
                Err(_) => return Reply::Signature(false),
            };
            KEYS.with(|k| {
                let mut k = k.borrow_mut();
                if k.len() >= MAX_KEYS {
                    k.clear();
                }
                k.insert(cache_key, key.clone());
            });
            key
        }
    };
    let signature = Uint8Array::from(check.signature.as_slice());
    let data = Uint8Array::from(check.signing_input.as_slice());
    Reply::Signature(matches!(
        JsFuture::from(subtle_verify(&verify, &key, &signature, &data)).await,
        Ok(v) if v.as_bool() == Some(true)
    ))
}
