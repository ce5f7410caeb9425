//! The one reason enum: every refusal Tessera can give, with its stable code.
//!
//! Codes are kebab-case and stable: they appear in `x-tessera-reason` headers, JSON
//! output, logs and dashboards, so a code is never renamed once released. Each reason
//! knows whether it describes an *outage* (retryable: the credential may be fine, a
//! dependency is not) or a *bad credential* (final), and how it maps to HTTP.

use alloc::string::String;
use core::fmt;

macro_rules! reasons {
    ($( $(#[$doc:meta])* $variant:ident = $code:literal, $status:literal, $retryable:literal; )*) => {
        /// Why a token, key set or request was refused.
        ///
        /// ```
        /// use tessera_core::Reason;
        /// assert_eq!(Reason::TokenExpired.code(), "token-expired");
        /// assert_eq!(Reason::from_code("jwks-unavailable"), Some(Reason::JwksUnavailable));
        /// assert!(Reason::JwksUnavailable.is_retryable());
        /// assert!(!Reason::SignatureInvalid.is_retryable());
        /// ```
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum Reason {
            $( $(#[$doc])* $variant, )*
        }

        impl Reason {
            /// Every reason, in declaration order (for documentation and tests).
            pub const ALL: &'static [Reason] = &[$(Reason::$variant,)*];

            /// The stable kebab-case code, e.g. `"token-expired"`.
            pub const fn code(self) -> &'static str {
                match self { $(Reason::$variant => $code,)* }
            }

            /// The HTTP status a runtime answers with when this reason ends a request
            /// that has no better option (a document navigation may be redirected to
            /// sign-in instead of receiving the 401).
            pub const fn http_status(self) -> u16 {
                match self { $(Reason::$variant => $status,)* }
            }

            /// `true` for outages (a dependency failed; retry later, keep the session),
            /// `false` for bad credentials or bad configuration (retrying cannot help).
            pub const fn is_retryable(self) -> bool {
                match self { $(Reason::$variant => $retryable,)* }
            }

            /// Parses a stable code back into a reason.
            pub fn from_code(code: &str) -> Option<Reason> {
                match code { $($code => Some(Reason::$variant),)* _ => None }
            }
        }
    };
}

reasons! {
    // ---- token verification --------------------------------------------------
    /// No token was presented (no bearer header, no session cookie, or an empty one).
    TokenMissing = "token-missing", 401, false;
    /// The token is not a well-formed compact JWS (segments, base64url, JSON, header).
    TokenMalformed = "token-malformed", 401, false;
    /// The token exceeds the size cap (8 KiB) and was refused before parsing.
    TokenTooLarge = "token-too-large", 401, false;
    /// The header `alg` is not allowed by policy, unknown, `none`, HMAC, or does not
    /// fit the selected key.
    AlgNotAllowed = "alg-not-allowed", 401, false;
    /// No key in the key set matches the token's `kid` (or, without `kid`, not
    /// exactly one key fits). Runtimes may refetch the key set once per cooldown.
    KeyNotFound = "key-not-found", 401, false;
    /// The selected key exists but cannot be used (weak, wrong `use`/`key_ops`,
    /// inconsistent `alg`), or a PEM key could not be used at all.
    KeyUnusable = "key-unusable", 401, false;
    /// The signature does not verify with the selected key.
    SignatureInvalid = "signature-invalid", 401, false;
    /// `exp` is in the past (beyond the leeway).
    TokenExpired = "token-expired", 401, false;
    /// `nbf` is in the future (beyond the leeway).
    TokenNotYetValid = "token-not-yet-valid", 401, false;
    /// `iat` is in the future (beyond the leeway): usually clock skew.
    IatInFuture = "iat-in-future", 401, false;
    /// The token was issued longer ago than the policy's maximum token age.
    TokenTooOld = "token-too-old", 401, false;
    /// `iss` is missing or not one of the allowed issuers.
    IssuerInvalid = "issuer-invalid", 401, false;
    /// `aud` (or the profile's audience claim) is missing or not an allowed audience.
    AudienceInvalid = "audience-invalid", 401, false;
    /// `azp` is missing or not an authorized party.
    AzpInvalid = "azp-invalid", 401, false;
    /// The header `typ` is not the one the policy requires.
    TypInvalid = "typ-invalid", 401, false;
    /// The header has a `crit` member: no extension is understood, so it is refused.
    CritUnsupported = "crit-unsupported", 401, false;
    /// A claim the policy requires is absent.
    ClaimMissing = "claim-missing", 401, false;
    /// A claim has the wrong type or value (e.g. `exp` as a string).
    ClaimInvalid = "claim-invalid", 401, false;
    // ---- keys ----------------------------------------------------------------
    /// The key set could not be fetched (network, timeout, 5xx): an outage.
    JwksUnavailable = "jwks-unavailable", 503, true;
    /// The key set was fetched but is unusable (not JSON, symmetric or private keys,
    /// too large, no usable key): the provider answered with something Tessera
    /// cannot use, so 502, like `auth-api-invalid`. Sessions are kept: the
    /// credential may be fine ([`Reason::keeps_session`]).
    JwksInvalid = "jwks-invalid", 502, false;
    // ---- session -------------------------------------------------------------
    /// The provider refused the refresh token (`invalid_grant` / `invalid_client`).
    RefreshTokenInvalid = "refresh-token-invalid", 401, false;
    /// The introspection endpoint (RFC 7662) says the opaque token is not
    /// active: revoked, expired, or never issued.
    TokenInactive = "token-inactive", 401, false;
    /// The session, or every session and token of its subject, was revoked:
    /// signed out here or on another instance, ended by the provider's
    /// back-channel logout, or revoked by the app (`revoke()`).
    SessionRevoked = "session-revoked", 401, false;
    /// The shared store (Durable Object, Redis) cannot be reached, and this
    /// instance cannot tell whether the session was revoked: it never loaded
    /// the revocations (a cold instance during an outage), or a
    /// back-channel logout could not be recorded. An outage: cookies are kept.
    StoreUnavailable = "store-unavailable", 503, true;
    /// The origin auth API is unreachable or failing: an outage, not a sign-out.
    AuthApiUnavailable = "auth-api-unavailable", 503, true;
    /// The origin auth API answered with something Tessera cannot use: a token
    /// response over the size cap, not JSON, without `access_token`, or with an
    /// `expires_in` that is not a number of seconds. The provider is
    /// misbehaving, not down: retrying the same exchange cannot help (a code
    /// or a rotated refresh token may already be spent), so a sign-in starts
    /// again and a refresh ends the session.
    AuthApiInvalid = "auth-api-invalid", 502, false;
    /// The credential is valid, but the caller lacks what the route requires
    /// (`routes[].require`): a scope, role, permission, organisation, claim
    /// value or kind of caller. The event's `requirement` says which. Bearer
    /// requests get RFC 6750's `insufficient_scope` challenge; pages a 403
    /// page, never a sign-in (signing in again would not grant it).
    InsufficientScope = "insufficient-scope", 403, false;
    /// A DPoP-bound access token (`cnf.jkt`) presented as a bearer token, or
    /// without a proof: a stolen copy must not work without the key (RFC 9449 §7.1).
    DpopRequired = "dpop-required", 401, false;
    /// The DPoP proof does not hold: not a well-formed `dpop+jwt` with a
    /// public `jwk`, for another method or URL, too old or from the future,
    /// for another token (`ath`) or key (`cnf.jkt`), or a bad signature.
    DpopProofInvalid = "dpop-proof-invalid", 401, false;
    /// The DPoP proof's `jti` was seen before (here, or through the shared store).
    DpopProofReplayed = "dpop-proof-replayed", 401, false;
    /// DPoP nonces are on and the proof has none, or a stale one: retry with
    /// the `DPoP-Nonce` the answer carries (RFC 9449 §9).
    DpopNonceRequired = "dpop-nonce-required", 401, false;
    /// A cookie-authenticated unsafe request failed the CSRF gate.
    CsrfRejected = "csrf-rejected", 403, false;
    /// The callback's `state` does not match the sign-in transaction.
    StateMismatch = "state-mismatch", 400, false;
    /// The ID token's `nonce` does not match the sign-in transaction.
    NonceMismatch = "nonce-mismatch", 400, false;
    /// A sealed cookie could not be opened (tampered, or sealed with an unknown key).
    CookieUnsealable = "cookie-unsealable", 401, false;
    /// The provider answered the callback with an error, or the code exchange failed.
    CallbackError = "callback-error", 400, false;
    /// The request path cannot be matched safely (encoded slashes, double
    /// encoding, `..` above the root, control characters): refused, never guessed.
    PathInvalid = "path-invalid", 400, false;
}

impl Reason {
    /// Whether a session survives this refusal of its token: `true` for the
    /// key set's troubles and the auth API's outages (`jwks-unavailable`,
    /// `jwks-invalid`, `auth-api-unavailable`, `store-unavailable`), where the credential may be
    /// fine and clearing cookies would sign users out for the provider's
    /// fault; `false` for everything else.
    pub const fn keeps_session(self) -> bool {
        matches!(
            self,
            Reason::JwksUnavailable
                | Reason::JwksInvalid
                | Reason::AuthApiUnavailable
                | Reason::StoreUnavailable
        )
    }
}

/// A reason serialises as its stable code (`"token-expired"`).
impl serde::Serialize for Reason {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

impl<'de> serde::Deserialize<'de> for Reason {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let code = String::deserialize(d)?;
        Reason::from_code(&code)
            .ok_or_else(|| serde::de::Error::custom(alloc::format!("unknown reason code {code:?}")))
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// A refusal: a stable [`Reason`] plus a message for humans that names the claim or
/// key involved, the expected and actual values, and what to check next.
///
/// ```
/// use tessera_core::{Reason, Refusal};
/// let r = Refusal::new(Reason::TokenMissing, "no token was presented");
/// assert_eq!(r.to_string(), "token-missing: no token was presented");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Refusal {
    /// The stable reason code.
    pub reason: Reason,
    /// What went wrong and what to check next.
    pub message: String,
}

impl Refusal {
    /// Builds a refusal from a reason and a message.
    pub fn new(reason: Reason, message: impl Into<String>) -> Self {
        Refusal {
            reason,
            message: message.into(),
        }
    }

    /// Shorthand for [`Reason::is_retryable`].
    pub fn is_retryable(&self) -> bool {
        self.reason.is_retryable()
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.reason.code(), self.message)
    }
}

impl core::error::Error for Refusal {}

/// Builds a [`Refusal`] with a `format!`-style message.
macro_rules! refuse {
    ($reason:ident, $($arg:tt)*) => {
        $crate::reason::Refusal::new($crate::reason::Reason::$reason, alloc::format!($($arg)*))
    };
}
pub(crate) use refuse;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_kebab_case_and_round_trip() {
        for (i, r) in Reason::ALL.iter().enumerate() {
            let code = r.code();
            assert!(code
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'));
            assert_eq!(Reason::from_code(code), Some(*r));
            for other in &Reason::ALL[i + 1..] {
                assert_ne!(code, other.code());
            }
        }
        assert_eq!(Reason::from_code("no-such-code"), None);
    }

    #[test]
    fn only_outages_are_retryable() {
        let retryable: alloc::vec::Vec<_> = Reason::ALL
            .iter()
            .filter(|r| r.is_retryable())
            .map(|r| r.code())
            .collect();
        assert_eq!(
            retryable,
            ["jwks-unavailable", "store-unavailable", "auth-api-unavailable"]
        );
        assert_eq!(Reason::CsrfRejected.http_status(), 403);
        assert_eq!(Reason::AuthApiUnavailable.http_status(), 503);
    }
}
