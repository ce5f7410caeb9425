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
/// /// Leaves everything to the pure-Rust check, but counts the calls.
/// struct Counting(core::cell::Cell<u32>);
/// impl SignatureBackend for Counting {
///     fn verify(&self, _: Alg, _: &PublicKey, _: &[u8], _: &[u8]) -> Option<bool> {
///         self.0.set(self.0.get() + 1);
///         None
///     }
/// }
/// ```
pub trait SignatureBackend {
    /// Checks `signature` over `message` with `key` for `alg`: `Some(true)` if
    /// it is valid, `Some(false)` if not (including a key the backend cannot
    /// import: never fail open), `None` to leave `alg` to the pure-Rust check.
    fn verify(&self, alg: Alg, key: &PublicKey, message: &[u8], signature: &[u8]) -> Option<bool>;
}
