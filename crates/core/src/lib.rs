//! # tessera-core
//!
//! The sans-IO decision core of Tessera. At the bottom it turns *(key set,
//! token, policy, now)* into a verified [`Identity`] or a typed [`Refusal`]; at
//! the top, [`engine::Engine`] turns a whole request into a
//! [`decision::Decision`] (forward with identity headers, redirect to sign-in,
//! refresh, deny, unavailable). It never reads a clock, fetches, or draws
//! randomness: callers pass `now`, random bytes and fetched documents in, and get
//! decisions out. That is what lets the very same code run natively, in
//! wasmtime, in workerd and in Node with identical answers.
//!
//! ```
//! use tessera_core::{KeySet, Policy, Verifier, Reason};
//!
//! let jwks = br#"{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"k1",
//!     "x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#;
//! let keys = KeySet::from_jwks(jwks)?;
//! let mut verifier = Verifier::new(keys, Policy::for_issuer("https://auth.example.com"))
//!     .expect("valid policy");
//! match verifier.verify("eyJ...", 1_700_000_000) {
//!     Ok(identity) => println!("signed in as {}", identity.sub),
//!     Err(refusal) => {
//!         assert_eq!(refusal.reason, Reason::TokenMalformed);
//!         println!("{}: {}", refusal.reason, refusal.message);
//!     }
//! }
//! # Ok::<(), tessera_core::Refusal>(())
//! ```
//!
//! Two layers, each a folder. The token layer ([`token`]): [`jws`] (compact
//! JWS parsing and header rules), [`jwk`] (key sets and key selection),
//! [`key`] (prepared keys and the raw signature check), [`backend`] (native
//! signature checks), [`policy`] (claim rules), [`identity`] (the result),
//! [`profile`] (provider presets), [`jwks_cache`] (when to fetch keys). The
//! session layer ([`session`]), which uses the token layer and never the
//! other way round: [`cookie`], [`seal`], [`routes`], [`request`], [`oidc`],
//! [`refresh`], [`forward`], [`config`], the session [`session::record`],
//! and the [`engine`] with its [`decision`]s. Both share [`reason`] (the one
//! reason enum), [`json`], [`b64`], [`hex`] and [`time`]. Every module is
//! also at the crate root (`tessera_core::jwk`, `tessera_core::engine`).
//!
//! # Start-up
//!
//! V8 compiles a WebAssembly function on its first call, the whole function at
//! once, and a fresh isolate pays that before its first answer. The stages of
//! a verification (parse, key lookup, signature, claims) are therefore kept
//! out of line (`#[inline(never)]`, and wasm-opt's one-caller inlining capped
//! in the build scripts): a request compiles the stages it reaches instead of
//! one 64 KB function holding all of them.
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;
#[cfg(feature = "aws-lc-rs")]
extern crate std;

// The two layers, and what both share (the one reason enum among it).
pub mod b64;
mod fields;
pub mod hex;
pub mod json;
pub mod reason;
#[cfg(feature = "session")]
pub mod session;
pub mod time;
pub mod token;

// Every module keeps its path at the crate root (`tessera_core::jwk`,
// `tessera_core::engine`), as before the layers had folders.
#[cfg(feature = "session")]
pub use session::{
    backchannel, config, cookie, decision, engine, forward, introspection, oidc, refresh, request,
    revocation, routes, seal,
};
pub use token::{
    alg, backend, dpop, grants, identity, jwk, jwks_cache, jws, key, policy, profile, requirement,
};
pub(crate) use token::{claims, ed25519, memo, pem, rsa, verifier};

pub use alg::Alg;
pub use fields::ConfigError;
pub use grants::Kind;
pub use identity::{Identity, Organization};
pub use jwk::KeySet;
pub use key::PublicKey;
pub use memo::MemoConfig;
pub use policy::Policy;
pub use profile::{Provider, ProviderSettings};
pub use reason::{Reason, Refusal};
pub use requirement::{Requirement, Requirements, Unmet};
pub use verifier::{Prepared, Signed, Verifier};

/// The examples in `docs/rust.md`, compiled as doc tests so the guide cannot
/// drift from the API.
#[cfg(all(doctest, feature = "session"))]
#[doc = include_str!("../../../docs/rust.md")]
pub struct RustGuide;

/// The README's Rust example, compiled as a doc test.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct Readme;
