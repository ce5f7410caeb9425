//! The token layer: one token verified against a key set and a policy, and
//! the key-set cache's state machine. No cookies, no requests, no providers'
//! flows: it never imports the session layer ([`crate::session`]), and it
//! can be used on its own (an origin server verifying bearer tokens, the
//! `tessera` command-line verifier), as rustls-webpki is to rustls.
//!
//! What it shares with the session layer sits at the crate root: the one
//! reason enum ([`crate::reason`]: a token's refusals and a session's are one
//! table of codes, HTTP statuses and retryability, so the session layer never
//! translates them), configuration errors, JSON, base64url, hex and time.

pub mod alg;
pub mod backend;
pub(crate) mod claims;
pub mod dpop;
pub(crate) mod ed25519;
pub mod grants;
pub mod identity;
pub mod jwk;
pub mod jwks_cache;
pub mod jws;
pub mod key;
pub(crate) mod memo;
pub(crate) mod pem;
pub mod policy;
pub mod profile;
pub mod requirement;
pub(crate) mod rsa;
pub(crate) mod verifier;
