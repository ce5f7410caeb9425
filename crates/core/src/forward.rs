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
//! | `x-tessera-claims` | base64url of the claims JSON |
//! | `x-tessera-signature` | `t=<unix seconds>,v1=<hex HMAC-SHA256>`, when a secret is configured |
//!
//! Values that are not visible ASCII are percent-encoded (`%XX`), so a claim can
//! never inject a header line. The signature covers the timestamp and the four
//! identity values, so an origin that shares the secret can trust them without
//! re-verifying the token ([`verify_signature`]).
//!
//! ```
//! use tessera_core::forward::{identity_headers, verify_signature};
//! # use tessera_core::{Identity, Alg};
//! # let identity = Identity { sub: "user_1".into(), sid: Some("sess_1".into()), iss: "i".into(), aud: vec![],
//! #   azp: None, exp: 2_000, iat: None, nbf: None, jti: None, scopes: vec![], org: None, kid: None,
//! #   alg: Alg::Es256, claims: Default::default() };
//! let headers = identity_headers(&identity, "eyJ...", Some(b"shared-secret-32-bytes-long....."), 1_000);
//! let get = |n: &str| headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
//! assert_eq!(get("x-tessera-user"), Some("user_1"));
//! assert!(verify_signature(&headers, b"shared-secret-32-bytes-long.....", 1_010, 60).is_ok());
//! ```

use crate::b64;
use crate::identity::Identity;
use crate::oidc::constant_time_eq;
use crate::reason::{refuse, Refusal};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use hmac::{Hmac, Mac};
use sha2::Sha256;

const USER: &str = "x-tessera-user";
const SESSION: &str = "x-tessera-session";
const ORG: &str = "x-tessera-org";
const CLAIMS: &str = "x-tessera-claims";
const SIGNATURE: &str = "x-tessera-signature";

/// The headers to add to the request forwarded to the origin (names in lower
/// case). With `secret`, they are signed at `now`.
pub fn identity_headers(
    identity: &Identity,
    access_token: &str,
    secret: Option<&[u8]>,
    now: u64,
) -> Vec<(String, String)> {
    let claims = serde_json::to_vec(&identity.claims).unwrap_or_default();
    let mut out = alloc::vec![
        (String::from("authorization"), format!("Bearer {access_token}")),
        (String::from(USER), header_safe(&identity.sub)),
    ];
    if let Some(sid) = &identity.sid {
        out.push((String::from(SESSION), header_safe(sid)));
    }
    if let Some(org) = &identity.org {
        out.push((String::from(ORG), header_safe(&org.id)));
    }
    out.push((String::from(CLAIMS), b64::encode(&claims)));
    if let Some(secret) = secret {
        let mac = mac(secret, now, &out);
        out.push((
            String::from(SIGNATURE),
            format!("t={now},v1={}", crate::hex::encode(&mac)),
        ));
    }
    out
}

/// For origins: checks `x-tessera-signature` over the identity headers in
/// `headers` with the shared `secret`, allowing `max_age` seconds between
/// signing and `now`. Refusals are `claim-invalid` (bad or missing signature)
/// or `token-expired` (too old), never a silent pass.
pub fn verify_signature(
    headers: &[(String, String)],
    secret: &[u8],
    now: u64,
    max_age: u64,
) -> Result<(), Refusal> {
    let get = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    let sig =
        get(SIGNATURE).ok_or_else(|| refuse!(ClaimInvalid, "the request has no x-tessera-signature"))?;
    let (t, v1) = sig
        .split_once(',')
        .and_then(|(t, v)| Some((t.strip_prefix("t=")?.parse::<u64>().ok()?, v.strip_prefix("v1=")?)))
        .ok_or_else(|| {
            refuse!(
                ClaimInvalid,
                "x-tessera-signature is not of the form t=<seconds>,v1=<hex>"
            )
        })?;
    if t > now.saturating_add(5) || now.saturating_sub(t) > max_age {
        return Err(refuse!(
            TokenExpired,
            "x-tessera-signature was made at {t}, now is {now} (max age {max_age} s)"
        ));
    }
    let signed: Vec<(String, String)> = [USER, SESSION, ORG, CLAIMS]
        .iter()
        .filter_map(|n| get(n).map(|v| (String::from(*n), String::from(v))))
        .collect();
    let expected = crate::hex::encode(&mac(secret, t, &signed));
    if constant_time_eq(expected.as_bytes(), v1.as_bytes()) {
        Ok(())
    } else {
        Err(refuse!(
            ClaimInvalid,
            "x-tessera-signature does not match the identity headers (altered, or another secret)"
        ))
    }
}

/// HMAC-SHA256 over `t` and the identity headers, each as `name:value\n`, in
/// a fixed order; absent headers are signed as absent.
fn mac(secret: &[u8], t: u64, headers: &[(String, String)]) -> [u8; 32] {
    // HMAC accepts keys of any length; this cannot fail.
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
    fn signatures_detect_changes_age_and_wrong_secrets() {
        let secret = b"0123456789abcdef0123456789abcdef";
        let h = identity_headers(&identity("user_1"), "t", Some(secret), 1_000);
        assert!(verify_signature(&h, secret, 1_030, 60).is_ok());
        assert_eq!(
            verify_signature(&h, secret, 1_061, 60).unwrap_err().reason.code(),
            "token-expired"
        );
        assert!(verify_signature(&h, b"another secret", 1_000, 60).is_err());
        let mut altered = h.clone();
        altered.iter_mut().find(|(n, _)| n == USER).unwrap().1 = String::from("admin");
        assert_eq!(
            verify_signature(&altered, secret, 1_000, 60)
                .unwrap_err()
                .reason
                .code(),
            "claim-invalid"
        );
        let without_org: Vec<_> = h.iter().filter(|(n, _)| n != ORG).cloned().collect();
        assert!(verify_signature(&without_org, secret, 1_000, 60).is_err());
        let unsigned = identity_headers(&identity("user_1"), "t", None, 1_000);
        assert!(verify_signature(&unsigned, secret, 1_000, 60).is_err());
    }
}
