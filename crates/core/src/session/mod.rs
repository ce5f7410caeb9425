//! The session layer: requests, routes, cookies, the provider's flows, and
//! the [`engine`] that ties them together over the token layer
//! ([`crate::token`]), which it uses and never the other way round.
//!
//! The session record the cookies hold is [`record`] (its types are
//! re-exported here: `tessera_core::session::SessionRecord`).

pub mod backchannel;
pub mod config;
pub mod cookie;
pub mod engine;
pub mod forward;
pub mod introspection;
pub mod oidc;
pub mod record;
pub mod refresh;
pub mod request;
pub mod revocation;
pub mod routes;
pub mod seal;

pub use engine::decision;
pub use record::{IdTokenClaims, RefreshRecord, SealedIdentity, SessionRecord, VERSION};
