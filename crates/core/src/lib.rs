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
//! Modules, named for what they are: [`jws`] (compact JWS parsing and header rules),
//! [`jwk`] (key sets and key selection), [`key`] (prepared keys and the raw
//! signature check), [`backend`] (native signature checks), [`policy`] (claim rules), [`identity`] (the result),
//! [`profile`] (provider presets), [`jwks_cache`] (when to fetch keys), [`reason`]
//! (the one reason enum); for sessions [`cookie`], [`seal`], [`routes`],
//! [`request`], [`oidc`], [`refresh`], [`forward`], [`config`], and the
//! [`engine`] with its [`decision`]s.
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

pub mod alg;
pub mod b64;
pub mod backend;
mod claims;
pub mod config;
pub mod cookie;
pub mod decision;
mod ed25519;
pub mod engine;
mod fields;
pub mod forward;
pub mod hex;
pub mod identity;
pub mod json;
pub mod jwk;
pub mod jwks_cache;
pub mod jws;
pub mod key;
mod memo;
pub mod oidc;
mod pem;
pub mod policy;
pub mod profile;
pub mod reason;
pub mod refresh;
pub mod request;
pub mod routes;
mod rsa;
pub mod seal;
pub mod session;
pub mod time;
mod verifier;

pub use alg::Alg;
pub use config::ConfigError;
pub use identity::{Identity, Organization};
pub use jwk::KeySet;
pub use key::PublicKey;
pub use memo::MemoConfig;
pub use policy::Policy;
pub use profile::{Provider, ProviderSettings};
pub use reason::{Reason, Refusal};
pub use verifier::{Prepared, Signed, Verifier};
