//! The session record: what the sealed session and refresh cookies hold.
//!
//! Version 2 (sealed as `t2`, see [`crate::seal`]) is JSON with a version
//! number, so later versions can add fields and read older ones:
//!
//! | cookie | field | holds |
//! |---|---|---|
//! | session | `v` | `2` |
//! | session | `id` | a random session id (128 bits, base64url), fixed at sign-in and kept across refreshes: it binds the two cookies to each other and a refresh replay to the browser that led it |
//! | session | `iss`, `sub` | the issuer and the subject of the sign-in's ID token: fixed for the session's life; a refresh returning tokens for anyone else ends it |
//! | session | `asub` | the access token's `sub` at sign-in, when it differs from the ID token's (Entra ID's access tokens carry a pairwise `sub`) |
//! | session | `t` | when the user signed in (unix seconds) |
//! | session | `at` | the access token |
//! | session | `ae` | when the access token expires, when known (`exp`, or the token response's `expires_in`) |
//! | session | `idt` | the sign-in ID token's `sid`, `auth_time`, `nonce`: what OpenID Connect's refresh rules (Core 12.2) and back-channel logout compare against |
//! | session | `i` | ID-token sessions only: the identity, the claims of the last verified ID token (`c`) and its algorithm (`a`); the access token is then opaque and `ae` its expiry |
//! | refresh | `v`, `id` | `2` and the session id |
//! | refresh | `rt` | the refresh token |
//!
//! Version 1 cookies (sealed as `t1`) hold the bare access token and refresh
//! token. They keep working ([`SessionRecord::legacy`]: no session id, the
//! subject read from the sealed access token) and are rewritten as version 2
//! at their next refresh, so an upgrade signs nobody out.
//!
//! ```
//! use tessera_core::session::{RefreshRecord, SessionRecord};
//! let record = SessionRecord {
//!     id: "c2Vzc2lvbi1pZA".into(), iss: "https://idp.example".into(), sub: "user_1".into(),
//!     access_sub: None, signed_in_at: 1_700_000_000, access_token: "eyJ...".into(),
//!     access_expires_at: Some(1_700_000_060), id_token: Default::default(), identity: None,
//! };
//! let json = record.to_json();
//! assert_eq!(SessionRecord::from_json(json.as_bytes()).unwrap(), record);
//! let refresh = RefreshRecord { id: record.id.clone(), refresh_token: "rt-1".into() };
//! assert_eq!(RefreshRecord::from_json(refresh.to_json().as_bytes()).unwrap(), refresh);
//! ```

use crate::identity::Identity;
use crate::json::Object;
use crate::reason::{refuse, Refusal};
use alloc::string::String;
use alloc::vec::Vec;
use serde::{Deserialize, Serialize};

/// The version this build writes.
pub const VERSION: u32 = 2;

/// The sign-in ID token's claims a session keeps.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdTokenClaims {
    /// `sid`: the provider's session id (back-channel logout names it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// `auth_time`: when the user authenticated; a refreshed ID token that
    /// has one must have the same.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<u64>,
    /// `nonce`: a refreshed ID token may omit it, or must repeat it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
}

/// The session cookie's record. See the [module docs](self).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRecord {
    /// The session id (empty for a version 1 cookie).
    pub id: String,
    /// The issuer fixed at sign-in.
    pub iss: String,
    /// The subject fixed at sign-in (the ID token's).
    pub sub: String,
    /// The access token's subject at sign-in, when it differs from `sub`.
    #[serde(rename = "asub", default, skip_serializing_if = "Option::is_none")]
    pub access_sub: Option<String>,
    /// When the user signed in (0 for a version 1 cookie).
    #[serde(rename = "t")]
    pub signed_in_at: u64,
    /// The access token.
    #[serde(rename = "at")]
    pub access_token: String,
    /// When the access token expires, when known.
    #[serde(rename = "ae", default, skip_serializing_if = "Option::is_none")]
    pub access_expires_at: Option<u64>,
    /// The sign-in ID token's claims.
    #[serde(rename = "idt", default)]
    pub id_token: IdTokenClaims,
    /// ID-token sessions: the identity (see [`SealedIdentity`]); `None` for
    /// access-token sessions, whose identity is the verified access token.
    #[serde(rename = "i", default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<SealedIdentity>,
}

/// An ID-token session's identity: the claims of the last ID token Tessera
/// verified for it (at sign-in, or at a refresh that returned one). Sealed
/// in the session cookie, so authentic without a signature check.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedIdentity {
    /// The ID token's algorithm (`RS256`, …).
    #[serde(rename = "a")]
    pub alg: String,
    /// The ID token's claims (and the userinfo answer's, `session.userinfo`).
    #[serde(rename = "c", deserialize_with = "crate::json::object")]
    pub claims: Object,
    /// The names of the claims the last userinfo answer added: the only
    /// ones a refresh keeps when userinfo is down (never an old ID token's,
    /// whose roles the provider may have taken away since).
    #[serde(rename = "u", default, skip_serializing_if = "Vec::is_empty")]
    pub userinfo: Vec<String>,
}

impl SealedIdentity {
    /// The identity of a verified ID token.
    pub fn of(id_token: &Identity) -> SealedIdentity {
        SealedIdentity {
            alg: String::from(id_token.alg.map_or("", crate::alg::Alg::name)),
            claims: id_token.claims.clone(),
            userinfo: Vec::new(),
        }
    }

    /// Adds the userinfo answer's claims ([`crate::oidc::merge_userinfo`])
    /// and remembers which they were.
    pub fn merge_userinfo(&mut self, userinfo: Object) {
        self.userinfo = crate::oidc::merge_userinfo(&mut self.claims, userinfo);
    }

    /// The identity it holds, valid until `exp` (the session's access token
    /// expiry, not the ID token's: the ID token vouched for the sign-in),
    /// its roles and permissions read as `policy` says.
    pub fn identity(&self, exp: u64, policy: &crate::policy::Policy) -> Identity {
        let alg = crate::alg::Alg::from_name(&self.alg).ok();
        Identity::from_claims(self.claims.clone(), exp, alg, policy, true)
    }
}

impl SessionRecord {
    /// The record as the sealed cookie holds it.
    pub fn to_json(&self) -> String {
        to_json(self)
    }

    /// Reads a version 2 record.
    pub fn from_json(text: &[u8]) -> Result<SessionRecord, Refusal> {
        from_json(text, "session")
    }

    /// A version 1 session cookie (the bare access token): no session id; the
    /// subject and issuer read from the access token, which Tessera sealed
    /// itself (so its claims are authentic without a signature check, even
    /// once it has expired).
    pub fn legacy(access_token: String) -> SessionRecord {
        let claims = access_token
            .split('.')
            .nth(1)
            .and_then(|payload| crate::b64::decode(payload).ok())
            .and_then(|bytes| crate::json::parse_object(&bytes).ok());
        let text = |name: &str| {
            claims
                .as_ref()
                .and_then(|c| c.get(name))
                .and_then(serde_json::Value::as_str)
                .map(String::from)
                .unwrap_or_default()
        };
        SessionRecord {
            id: String::new(),
            iss: text("iss"),
            sub: text("sub"),
            access_sub: None,
            signed_in_at: 0,
            access_expires_at: claims
                .as_ref()
                .and_then(|c| c.get("exp"))
                .and_then(serde_json::Value::as_u64),
            access_token,
            id_token: IdTokenClaims::default(),
            identity: None,
        }
    }

    /// The subject the access token must name: `access_sub` or `sub`.
    pub fn expected_access_sub(&self) -> &str {
        self.access_sub.as_deref().unwrap_or(&self.sub)
    }
}

/// The refresh cookie's record. See the [module docs](self).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshRecord {
    /// The session id (empty for a version 1 cookie).
    pub id: String,
    /// The refresh token.
    #[serde(rename = "rt")]
    pub refresh_token: String,
}

impl RefreshRecord {
    /// The record as the sealed cookie holds it.
    pub fn to_json(&self) -> String {
        to_json(self)
    }

    /// Reads a version 2 record.
    pub fn from_json(text: &[u8]) -> Result<RefreshRecord, Refusal> {
        from_json(text, "refresh")
    }
}

/// The record's JSON object with `"v"` first. (Not `#[serde(flatten)]`,
/// which buffers every value and costs the WebAssembly builds kilobytes.)
fn to_json<T: Serialize>(record: &T) -> String {
    let body = serde_json::to_string(record).unwrap_or_default();
    let members = body.strip_prefix('{').unwrap_or("}");
    let sep = if members == "}" { "" } else { "," };
    alloc::format!("{{\"v\":{VERSION}{sep}{members}")
}

/// Reads the version from the record's first member, as [`to_json`] writes
/// it (the cookie is sealed, so its text is Tessera's own), then the record,
/// which ignores `v`: one JSON parse per request that opens a cookie.
fn from_json<T: serde::de::DeserializeOwned>(text: &[u8], cookie: &str) -> Result<T, Refusal> {
    let unreadable = || {
        refuse!(
            CookieUnsealable,
            "the {cookie} cookie does not hold a session record"
        )
    };
    let digits = text.strip_prefix(b"{\"v\":").ok_or_else(unreadable)?;
    let end = digits
        .iter()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(digits.len());
    let v: u32 = core::str::from_utf8(&digits[..end])
        .ok()
        .and_then(|d| d.parse().ok())
        .ok_or_else(unreadable)?;
    if v != VERSION {
        return Err(refuse!(
            CookieUnsealable,
            "the {cookie} cookie holds a version {v} record; this build reads version {VERSION}"
        ));
    }
    serde_json::from_slice(text).map_err(|_| unreadable())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_carry_their_version_and_refuse_others() {
        let r = RefreshRecord {
            id: "s".into(),
            refresh_token: "rt".into(),
        };
        assert_eq!(r.to_json(), r#"{"v":2,"id":"s","rt":"rt"}"#);
        for bad in [
            r#"{"v":3,"id":"s","rt":"rt"}"#,
            r#"{"id":"s","rt":"rt"}"#,
            "rt-plain",
            "",
        ] {
            let err = RefreshRecord::from_json(bad.as_bytes()).unwrap_err();
            assert_eq!(err.reason.code(), "cookie-unsealable", "{bad}");
        }
    }

    #[test]
    fn a_legacy_session_reads_its_subject_from_the_sealed_token() {
        let payload = crate::b64::encode(br#"{"iss":"https://idp.example","sub":"user_1","exp":100}"#);
        let token = alloc::format!("eyJhbGciOiJFUzI1NiJ9.{payload}.c2ln");
        let r = SessionRecord::legacy(token.clone());
        assert_eq!(
            (r.id.as_str(), r.iss.as_str(), r.sub.as_str()),
            ("", "https://idp.example", "user_1")
        );
        assert_eq!((r.access_token, r.access_expires_at), (token, Some(100)));
        assert_eq!(SessionRecord::legacy("opaque".into()).sub, "");
    }
}
