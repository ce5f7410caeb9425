//! Native signature backends: the raw check done by faster crypto than the
//! pure-Rust default, synchronously, in the style of rustls' crypto providers.
//!
//! A [`SignatureBackend`] sees only what the pure-Rust check sees: the algorithm,
//! the prepared [`PublicKey`] (with its SPKI encoding and a stable
//! [`PublicKey::key_id`] to cache imports by), the signing input and the
//! signature, after [`PublicKey::precheck`] passed. Everything else (parsing,
//! header rules, key selection, claims, the memo) stays in the core, so verdicts
//! cannot depend on the backend beyond the signature itself.
//!
//! Runtimes whose native crypto is asynchronous (WebCrypto) use the engine's
//! suspension instead ([`crate::engine::Step::Verify`]).

use crate::alg::Alg;
use crate::key::PublicKey;

/// A synchronous signature check used in place of the pure-Rust one.
///
/// ```
/// use tessera_core::backend::SignatureBackend;
/// use tessera_core::{Alg, PublicKey};
///
/// use std::sync::atomic::{AtomicU32, Ordering};
///
/// /// Leaves everything to the pure-Rust check, but counts the calls.
/// struct Counting(AtomicU32);
/// impl SignatureBackend for Counting {
///     fn verify(&self, _: Alg, _: &PublicKey, _: &[u8], _: &[u8]) -> Option<bool> {
///         self.0.fetch_add(1, Ordering::Relaxed);
///         None
///     }
/// }
/// ```
pub trait SignatureBackend: ThreadSafe {
    /// Checks `signature` over `message` with `key` for `alg`: `Some(true)` if
    /// it is valid, `Some(false)` if not (including a key the backend cannot
    /// import: never fail open), `None` to leave `alg` to the pure-Rust check.
    fn verify(&self, alg: Alg, key: &PublicKey, message: &[u8], signature: &[u8]) -> Option<bool>;
}

/// `Send + Sync` natively, so a [`crate::Verifier`] with a backend can be
/// shared across threads; nothing on wasm32, where runtimes are
/// single-threaded and backends hold JavaScript values (which are neither).
#[cfg(not(target_arch = "wasm32"))]
pub trait ThreadSafe: Send + Sync {}
#[cfg(not(target_arch = "wasm32"))]
impl<T: Send + Sync> ThreadSafe for T {}
/// `Send + Sync` natively, so a [`crate::Verifier`] with a backend can be
/// shared across threads; nothing on wasm32, where runtimes are
/// single-threaded and backends hold JavaScript values (which are neither).
#[cfg(target_arch = "wasm32")]
pub trait ThreadSafe {}
#[cfg(target_arch = "wasm32")]
impl<T> ThreadSafe for T {}

#[cfg(feature = "aws-lc-rs")]
pub use aws_lc::AwsLcRs;

#[cfg(feature = "aws-lc-rs")]
mod aws_lc {
    use super::SignatureBackend;
    use crate::alg::Alg;
    use crate::key::PublicKey;
    use alloc::collections::BTreeMap;
    use alloc::string::String;
    use alloc::sync::Arc;
    use alloc::vec::Vec;
    use aws_lc_rs::signature::{self, ParsedPublicKey, VerificationAlgorithm};
    use std::sync::Mutex;

    /// One key parsed for each algorithm it was used with.
    type PerAlg = Vec<(Alg, Arc<ParsedPublicKey>)>;

    /// How many keys [`AwsLcRs`] keeps parsed; beyond it, the cache starts over
    /// (key sets hold a handful of keys; rotation adds one at a time).
    const KEYS: usize = 64;

    /// Signature checks by [aws-lc-rs] (AWS-LC), for origin servers in Rust:
    /// every algorithm. Each key is parsed once per algorithm and kept.
    /// AWS-LC's Ed25519 is RFC 8032's cofactorless check with `R` compared as
    /// bytes; with the strict rules the verifier applies first
    /// ([`PublicKey::precheck`]) its verdicts are the pure-Rust check's.
    /// Enable with the `aws-lc-rs` cargo feature (needs `std` and a C
    /// toolchain).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use tessera_core::{backend::AwsLcRs, KeySet, Policy, Verifier};
    /// let keys = KeySet::from_jwks(br#"{"keys":[{"kty":"EC","crv":"P-256","kid":"k",
    ///   "x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
    ///   "y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}"#).unwrap();
    /// let verifier = Verifier::new(keys, Policy::for_issuer("https://auth.example.com"))
    ///     .unwrap()
    ///     .with_backend(Arc::new(AwsLcRs::new()));
    /// # drop(verifier);
    /// ```
    ///
    /// [aws-lc-rs]: https://docs.rs/aws-lc-rs
    #[derive(Default)]
    pub struct AwsLcRs {
        /// Parsed keys by [`PublicKey::key_id`], one per algorithm used.
        keys: Mutex<BTreeMap<String, PerAlg>>,
    }

    impl AwsLcRs {
        /// A backend with an empty key cache.
        pub fn new() -> AwsLcRs {
            AwsLcRs::default()
        }

        fn parsed(
            &self,
            alg: Alg,
            key: &PublicKey,
            params: &'static dyn VerificationAlgorithm,
        ) -> Option<Arc<ParsedPublicKey>> {
            // A poisoned lock only means another thread panicked mid-insert;
            // the map itself is still consistent.
            let mut keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((_, parsed)) = keys
                .get(key.key_id())
                .and_then(|v| v.iter().find(|(a, _)| *a == alg))
            {
                return Some(parsed.clone());
            }
            let parsed = Arc::new(ParsedPublicKey::new(params, key.spki_der()).ok()?);
            if keys.len() >= KEYS && !keys.contains_key(key.key_id()) {
                keys.clear();
            }
            keys.entry(String::from(key.key_id()))
                .or_default()
                .push((alg, parsed.clone()));
            Some(parsed)
        }
    }

    impl SignatureBackend for AwsLcRs {
        fn verify(&self, alg: Alg, key: &PublicKey, message: &[u8], sig: &[u8]) -> Option<bool> {
            let params: &'static dyn VerificationAlgorithm = match alg {
                Alg::Es256 => &signature::ECDSA_P256_SHA256_FIXED,
                Alg::Rs256 => &signature::RSA_PKCS1_2048_8192_SHA256,
                Alg::Rs384 => &signature::RSA_PKCS1_2048_8192_SHA384,
                Alg::Rs512 => &signature::RSA_PKCS1_2048_8192_SHA512,
                // Salt length = hash length, as RFC 7518 §3.5 and the pure-Rust check require.
                Alg::Ps256 => &signature::RSA_PSS_2048_8192_SHA256,
                Alg::Ps384 => &signature::RSA_PSS_2048_8192_SHA384,
                Alg::Ps512 => &signature::RSA_PSS_2048_8192_SHA512,
                Alg::EdDsa => &signature::ED25519,
            };
            // A key aws-lc refuses to import never verifies anything.
            Some(
                self.parsed(alg, key, params)
                    .is_some_and(|k| k.verify_sig(message, sig).is_ok()),
            )
        }
    }
}
