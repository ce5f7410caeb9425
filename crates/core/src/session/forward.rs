//! Identity headers for the origin, and their optional signature.
//!
//! After a request is authenticated, the origin receives:
//!
//! | header | value |
//! |---|---|
//! | `authorization` | `Bearer <access token>` |
//! | `x-tessera-user` | `sub` |
//! | `x-tessera-session` | `sid`, when present |
//! | `x-tessera-org` | the organisation id, when present |
//! | `x-tessera-kind` | `user`, or `machine` for a client-credentials token |
//! | `x-tessera-roles` | the roles, comma-separated, when any ([`crate::grants`]) |
//! | `x-tessera-permissions` | the permissions, comma-separated, when any |
//! | `x-tessera-claims` | base64url of the claims JSON |
//! | `x-tessera-signature` | `t=<unix seconds>,v2=<hex HMAC-SHA256>`, when a secret is configured |
//!
//! Values that are not visible ASCII are percent-encoded (`%XX`), so a claim can
//! never inject a header line; in the two lists, `,` inside a role or
//! permission is too (`%2C`): split on `,`, then percent-decode each item.
//!
//! ## The signature, version 2
//!
//! An origin that shares the secret (`forwardSigningSecret`, at least 32
//! bytes) can trust the identity headers without re-verifying the token, and
//! only for the request they were made for. The HMAC-SHA256 covers this text,
//! each line ending in `\n`:
//!
//! ```text
//! tessera-forward-v2
//! t:<the t of the header>
//! method:<the request method, upper case>
//! origin:<the app's public origin (appOrigin), empty on hosts without one>
//! target:<the request target as forwarded: path and query, as sent>
//! token:<lowercase hex SHA-256 of the access token in authorization>
//! <name>:<value>        one line per x-tessera-* header but the signature,
//!                       names lower case, sorted by name
//! ```
//!
//! Every `x-tessera-*` header is signed, whatever its name, so headers added
//! later need no new version. An origin checks, in any language: the header
//! parses as `t=<digits>,v2=<64 hex>`; `t` is within its maximum age of its
//! clock (and at most 5 s ahead); the HMAC of the text above, rebuilt from the
//! request it received and its own `appOrigin`, equals `v2` (compared in
//! constant time). Captured headers then verify for no other method, target,
//! app or token. Version 1 (`v1=`, the identity values and `t` only) is
//! accepted by [`verify_signature`] only when [`Check::accept_v1`] is set,
//! for origins upgraded before their edge.
//!
//! ```
//! use tessera_core::forward::{identity_headers, verify_signature, Check, Signing};
//! # use tessera_core::{Identity, Alg};
//! # let identity = Identity { sub: "user_1".into(), sid: Some("sess_1".into()), iss: "i".into(), aud: vec![],
//! #   azp: None, exp: 2_000, iat: None, nbf: None, jti: None, scopes: vec![], org: None, kid: None,
//! #   kind: tessera_core::Kind::User, roles: vec!["admin".into()], permissions: vec![],
//! #   alg: Some(Alg::Es256), claims: Default::default() };
//! let secret = b"shared-secret-of-32-bytes-or-more";
//! let signing = Signing { secret, method: "GET", origin: "https://app.example", target: "/api/me?x=1" };
//! let headers = identity_headers(&identity, "eyJ...", Some(&signing), 1_000);
//! let get = |n: &str| headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
//! assert_eq!(get("x-tessera-user"), Some("user_1"));
//! assert_eq!(get("x-tessera-roles"), Some("admin"));
//! let check = Check { method: "GET", origin: "https://app.example", target: "/api/me?x=1", max_age: 60, accept_v1: false };
//! assert!(verify_signature(&headers, secret, 1_010, &check).is_ok());
//! let elsewhere = Check { target: "/api/admin", ..check };
//! assert!(verify_signature(&headers, secret, 1_010, &elsewhere).is_err());
//! ```

use crate::b64;
use crate::identity::Identity;
use crate::oidc::constant_time_eq;
use crate::reason::{refuse, Refusal};
use crate::request::is_identity_header;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

const USER: &str = "x-tessera-user";
const SESSION: &str = "x-tessera-session";
const ORG: &str = "x-tessera-org";
const CLAIMS: &str = "x-tessera-claims";
const KIND: &str = "x-tessera-kind";
const ROLES: &str = "x-tessera-roles";
const PERMISSIONS: &str = "x-tessera-permissions";
const SIGNATURE: &str = "x-tessera-signature";

/// The shortest forward signing secret accepted, in bytes.
pub const MIN_SECRET_BYTES: usize = 32;

/// What a forward is signed with and for.
#[derive(Clone, Copy, Debug)]
pub struct Signing<'a> {
    /// The shared secret.
    pub secret: &'a [u8],
    /// The request method.
    pub method: &'a str,
    /// The app's public origin (`appOrigin`).
    pub origin: &'a str,
    /// The request target as forwarded (origin form).
    pub target: &'a str,
}

/// What an origin checks a signature against: the request it received.
#[derive(Clone, Copy, Debug)]
pub struct Check<'a> {
    /// The request method.
    pub method: &'a str,
    /// The app's public origin, as the edge is configured (`appOrigin`).
    pub origin: &'a str,
    /// The request target received (path and query, as sent).
    pub target: &'a str,
    /// The most seconds between signing and checking.
    pub max_age: u64,
    /// Whether version 1 signatures (not bound to the request) are accepted:
    /// only while the edge in front is older than the origin.
    pub accept_v1: bool,
}

/// The headers to add to the request forwarded to the origin (names in lower
/// case). With `signing`, they are signed at `now` (version 2).
pub fn identity_headers(
    identity: &Identity,
    access_token: &str,
    signing: Option<&Signing<'_>>,
    now: u64,
) -> Vec<(String, String)> {
    let claims = serde_json::to_vec(&identity.claims).unwrap_or_default();
    // Without a token to pass on (an ID-token session that does not pass its
    // access token), no `authorization`: the signature then covers "".
    let mut out = Vec::new();
    if !access_token.is_empty() {
        out.push((String::from("authorization"), format!("Bearer {access_token}")));
    }
    out.push((String::from(USER), header_safe(&identity.sub)));
    if let Some(sid) = &identity.sid {
        out.push((String::from(SESSION), header_safe(sid)));
    }
    if let Some(org) = &identity.org {
        out.push((String::from(ORG), header_safe(&org.id)));
    }
    out.push((String::from(KIND), String::from(identity.kind.name())));
    for (name, list) in [(ROLES, &identity.roles), (PERMISSIONS, &identity.permissions)] {
        if !list.is_empty() {
            let items: Vec<String> = list.iter().map(|i| header_safe(i).replace(',', "%2C")).collect();
            out.push((String::from(name), items.join(",")));
        }
    }
    out.push((String::from(CLAIMS), b64::encode(&claims)));
    if let Some(s) = signing {
        let mac = mac_v2(s.secret, now, s.method, s.origin, s.target, access_token, &out);
        out.push((
            String::from(SIGNATURE),
            format!("t={now},v2={}", crate::hex::encode(&mac)),
        ));
    }
    out
}

/// For origins: checks `x-tessera-signature` with the shared `secret` against
/// the request it arrived with (`check`) at `now`. Refusals are
/// `claim-invalid` (missing, malformed, altered, another secret, another
/// request, a version not accepted) or `token-expired` (too old), never a
/// silent pass.
pub fn verify_signature(
    headers: &[(String, String)],
    secret: &[u8],
    now: u64,
    check: &Check<'_>,
) -> Result<(), Refusal> {
    let get = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    let sig =
        get(SIGNATURE).ok_or_else(|| refuse!(ClaimInvalid, "the request has no x-tessera-signature"))?;
    let malformed = || {
        refuse!(
            ClaimInvalid,
            "x-tessera-signature is not of the form t=<seconds>,v2=<hex>"
        )
    };
    let (t, rest) = sig.split_once(',').ok_or_else(malformed)?;
    let t: u64 = t
        .strip_prefix("t=")
        .filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|d| d.parse().ok())
        .ok_or_else(malformed)?;
    if t > now.saturating_add(5) || now.saturating_sub(t) > check.max_age {
        return Err(refuse!(
            TokenExpired,
            "x-tessera-signature was made at {t}, now is {now} (max age {} s)",
            check.max_age
        ));
    }
    let expected = if let Some(v2) = rest.strip_prefix("v2=") {
        // Tessera sets `Bearer <token>` (`DPoP <token>` for a DPoP-bound
        // one) or no authorization at all: anything else reached the origin
        // some other way, and is refused.
        let token = match get("authorization") {
            None => "",
            Some(a) => match a.strip_prefix("Bearer ").or_else(|| a.strip_prefix("DPoP ")) {
                Some(t) if !t.is_empty() => t,
                _ => {
                    return Err(refuse!(
                        ClaimInvalid,
                        "the request's authorization is not the `Bearer <token>` Tessera sets"
                    ))
                }
            },
        };
        let signed: Vec<(String, String)> = headers
            .iter()
            .filter(|(n, _)| is_identity_header(n))
            .map(|(n, v)| (n.to_ascii_lowercase(), v.clone()))
            .collect();
        let mac = mac_v2(
            secret,
            t,
            check.method,
            check.origin,
            check.target,
            token,
            &signed,
        );
        (crate::hex::encode(&mac), v2)
    } else if let Some(v1) = rest.strip_prefix("v1=").filter(|_| check.accept_v1) {
        // Version 1 signs these four alone: any other identity header
        // (kind, roles, permissions) would ride along unsigned.
        if let Some((name, _)) = headers.iter().find(|(n, _)| {
            is_identity_header(n)
                && ![USER, SESSION, ORG, CLAIMS, SIGNATURE]
                    .iter()
                    .any(|s| n.eq_ignore_ascii_case(s))
        }) {
            return Err(refuse!(
                ClaimInvalid,
                "{name} is not covered by a version 1 signature; upgrade the edge to version 2"
            ));
        }
        let signed: Vec<(String, String)> = [USER, SESSION, ORG, CLAIMS]
            .iter()
            .filter_map(|n| get(n).map(|v| (String::from(*n), String::from(v))))
            .collect();
        (crate::hex::encode(&mac_v1(secret, t, &signed)), v1)
    } else if rest.starts_with("v1=") {
        return Err(refuse!(
            ClaimInvalid,
            "x-tessera-signature is version 1, which is not bound to the request; upgrade the edge (or accept v1 while it is older than this origin)"
        ));
    } else {
        return Err(malformed());
    };
    if constant_time_eq(expected.0.as_bytes(), expected.1.as_bytes()) {
        Ok(())
    } else {
        Err(refuse!(
            ClaimInvalid,
            "x-tessera-signature does not match this request's identity headers, method, target, app or token (altered, replayed elsewhere, or another secret)"
        ))
    }
}

/// Version 2: see the [module docs](self).
fn mac_v2(
    secret: &[u8],
    t: u64,
    method: &str,
    origin: &str,
    target: &str,
    token: &str,
    headers: &[(String, String)],
) -> [u8; 32] {
    // HMAC accepts keys of any length; this cannot fail.
    let Ok(mut m) = Hmac::<Sha256>::new_from_slice(secret) else {
        return [0; 32];
    };
    let token_hash = crate::hex::encode(&Sha256::digest(token.as_bytes()));
    let method = method.to_ascii_uppercase();
    m.update(
        format!("tessera-forward-v2\nt:{t}\nmethod:{method}\norigin:{origin}\ntarget:{target}\ntoken:{token_hash}\n")
            .as_bytes(),
    );
    let mut signed: Vec<&(String, String)> = headers
        .iter()
        .filter(|(n, _)| is_identity_header(n) && !n.eq_ignore_ascii_case(SIGNATURE))
        .collect();
    signed.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, value) in signed {
        m.update(format!("{name}:{value}\n").as_bytes());
    }
    m.finalize().into_bytes().into()
}

/// Version 1: `t` and the four identity values, in a fixed order.
fn mac_v1(secret: &[u8], t: u64, headers: &[(String, String)]) -> [u8; 32] {
    let Ok(mut m) = Hmac::<Sha256>::new_from_slice(secret) else {
        return [0; 32];
    };
    m.update(format!("tessera-forward-v1\nt:{t}\n").as_bytes());
    for name in [USER, SESSION, ORG, CLAIMS] {
        if let Some((_, v)) = headers.iter().find(|(n, _)| n == name) {
            m.update(format!("{name}:{v}\n").as_bytes());
        }
    }
    m.finalize().into_bytes().into()
}

/// Visible ASCII passes through; everything else (and `%`) is `%XX`-encoded.
fn header_safe(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if (0x21..=0x7e).contains(&b) && b != b'%' {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Organization;

    fn identity(sub: &str) -> Identity {
        Identity {
            sid: Some("sess_1".into()),
            org: Some(Organization {
                id: "org_1".into(),
                slug: None,
                role: None,
                permissions: Vec::new(),
            }),
            ..crate::identity::for_tests(sub)
        }
    }

    #[test]
    fn header_values_cannot_inject_lines() {
        let h = identity_headers(&identity("evil\r\nx-tessera-user: admin"), "t", None, 0);
        let user = &h.iter().find(|(n, _)| n == USER).unwrap().1;
        assert_eq!(user, "evil%0D%0Ax-tessera-user:%20admin");
        assert!(h.iter().all(|(_, v)| !v.contains(['\r', '\n'])));
    }

    #[test]
    fn a_comma_inside_a_role_cannot_add_a_role() {
        let mut id = identity("u");
        id.roles = alloc::vec!["viewer,admin".into(), "a%2Cb".into()];
        let h = identity_headers(&id, "t", None, 0);
        let roles = &h.iter().find(|(n, _)| n == ROLES).unwrap().1;
        assert_eq!(roles, "viewer%2Cadmin,a%252Cb");
        assert!(h.iter().all(|(n, _)| n != PERMISSIONS), "no header for none");
    }

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn signing<'a>(method: &'a str, target: &'a str) -> Signing<'a> {
        Signing {
            secret: SECRET,
            method,
            origin: "https://app.example",
            target,
        }
    }

    fn check<'a>(method: &'a str, target: &'a str) -> Check<'a> {
        Check {
            method,
            origin: "https://app.example",
            target,
            max_age: 60,
            accept_v1: false,
        }
    }

    #[test]
    fn signatures_bind_the_request_and_detect_changes() {
        let h = identity_headers(&identity("user_1"), "tok", Some(&signing("GET", "/a?b=1")), 1_000);
        assert!(h.last().unwrap().1.starts_with("t=1000,v2="));
        assert!(verify_signature(&h, SECRET, 1_030, &check("GET", "/a?b=1")).is_ok());
        assert!(verify_signature(&h, SECRET, 1_030, &check("get", "/a?b=1")).is_ok());
        let code = |h: &[(String, String)], now, c: &Check<'_>| {
            verify_signature(h, SECRET, now, c).unwrap_err().reason.code()
        };
        assert_eq!(code(&h, 1_061, &check("GET", "/a?b=1")), "token-expired");
        for other in [
            check("POST", "/a?b=1"),
            check("GET", "/a?b=2"),
            check("GET", "/admin"),
        ] {
            assert_eq!(code(&h, 1_000, &other), "claim-invalid", "{other:?}");
        }
        let other_app = Check {
            origin: "https://other.example",
            ..check("GET", "/a?b=1")
        };
        assert_eq!(code(&h, 1_000, &other_app), "claim-invalid");
        assert!(verify_signature(
            &h,
            b"another secret of 32 bytes, or more",
            1_000,
            &check("GET", "/a?b=1")
        )
        .is_err());
        let tamper = |name: &str, value: &str| {
            let mut t = h.clone();
            match t.iter_mut().find(|(n, _)| n == name) {
                Some(entry) => entry.1 = String::from(value),
                None => t.push((String::from(name), String::from(value))),
            }
            code(&t, 1_000, &check("GET", "/a?b=1"))
        };
        assert_eq!(tamper(USER, "admin"), "claim-invalid");
        assert_eq!(tamper("authorization", "Bearer another-token"), "claim-invalid");
        // Any x-tessera-* header is signed, whatever its name.
        assert_eq!(tamper("x-tessera-roles", "admin"), "claim-invalid");
        let without_org: Vec<_> = h.iter().filter(|(n, _)| n != ORG).cloned().collect();
        assert!(verify_signature(&without_org, SECRET, 1_000, &check("GET", "/a?b=1")).is_err());
        let unsigned = identity_headers(&identity("user_1"), "tok", None, 1_000);
        assert!(verify_signature(&unsigned, SECRET, 1_000, &check("GET", "/a?b=1")).is_err());
    }

    #[test]
    fn version_1_only_when_accepted() {
        // What an edge of version 1 sent: the four headers it signed.
        let mut h = identity_headers(&identity("user_1"), "tok", None, 1_000);
        h.retain(|(n, _)| [USER, SESSION, ORG, CLAIMS].contains(&n.as_str()));
        let v1 = crate::hex::encode(&mac_v1(SECRET, 1_000, &h));
        h.push((String::from(SIGNATURE), format!("t=1000,v1={v1}")));
        let err = verify_signature(&h, SECRET, 1_000, &check("GET", "/")).unwrap_err();
        assert!(err.message.contains("version 1"), "{err}");
        let accept = Check {
            accept_v1: true,
            ..check("POST", "/anything")
        };
        assert!(verify_signature(&h, SECRET, 1_000, &accept).is_ok());
        for bad in ["t=,v2=00", "t=1000", "t=1000,v3=00", "t=-1,v2=00", "1000,v2=00"] {
            let mut m = h.clone();
            m.last_mut().unwrap().1 = String::from(bad);
            assert_eq!(
                verify_signature(&m, SECRET, 1_000, &accept)
                    .unwrap_err()
                    .reason
                    .code(),
                "claim-invalid",
                "{bad}"
            );
        }
    }
}
