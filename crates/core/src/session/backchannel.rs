//! OpenID Connect Back-Channel Logout 1.0: the provider POSTs a signed
//! logout token to `{prefix}/backchannel-logout` when a user signs out at the
//! provider (or an admin ends their sessions), and every session it names is
//! revoked ([`crate::revocation`]).
//!
//! The engine checks the token's signature with the provider's key set (the
//! ID-token algorithms); this module reads the form body and checks the
//! claims (§2.4, §2.6):
//!
//! | check | refused as |
//! |---|---|
//! | header `typ`, when present, is `logout+jwt` (so no other kind of token passes) | `typ-invalid` |
//! | `iss` is the provider's issuer | `issuer-invalid` |
//! | `aud` is, or contains, the client id | `audience-invalid` |
//! | `iat` present, not in the future, at most [`MAX_AGE`] old; `exp` present and not past | `claim-missing`, `iat-in-future`, `token-too-old`, `token-expired` |
//! | `jti` present (and not seen before: the engine and the store) | `claim-missing` |
//! | `events` is an object with the back-channel logout member, itself an object | `claim-invalid` |
//! | `sid`, `sub` or both, as non-empty strings | `claim-missing` |
//! | no `nonce` (an ID token is not a logout token) | `typ-invalid` |
//!
//! ```
//! use tessera_core::backchannel::logout_token_of;
//! assert_eq!(logout_token_of(b"logout_token=eyJ.a.b").unwrap(), "eyJ.a.b");
//! assert!(logout_token_of(b"logout_token=a&logout_token=b").is_err());
//! assert!(logout_token_of(b"token=a").is_err());
//! ```

use crate::json::{self, Object};
use crate::policy::Policy;
use crate::reason::{refuse, Refusal};
use alloc::string::String;
use serde_json::Value;

/// The `events` member that makes a JWT a logout token.
pub const EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// The largest request body read at the endpoint: a form with one token.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// How old a logout token may be (`iat`), in seconds, besides the leeway:
/// providers send it as the session ends, and a replay of an old one must not
/// end sessions signed in since.
pub const MAX_AGE: u64 = 300;

/// A logout token's claims that matter, once checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogoutToken {
    /// The issuer.
    pub iss: String,
    /// The provider session that ended, if named.
    pub sid: Option<String>,
    /// The user whose sessions ended, if named.
    pub sub: Option<String>,
    /// The token's id (replays are refused).
    pub jti: String,
    /// When it was issued.
    pub iat: u64,
    /// When it expires.
    pub exp: u64,
}

/// The `logout_token` of a form body (`application/x-www-form-urlencoded`):
/// exactly one, non-empty.
pub fn logout_token_of(body: &[u8]) -> Result<String, Refusal> {
    let body = core::str::from_utf8(body)
        .map_err(|_| refuse!(TokenMalformed, "the logout request body is not UTF-8"))?;
    let mut found = None;
    for pair in body.split('&') {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        if name != "logout_token" {
            continue;
        }
        if found.is_some() {
            return Err(refuse!(
                TokenMalformed,
                "the logout request has more than one logout_token"
            ));
        }
        // A compact JWS is base64url and dots: nothing to decode but `%2E`,
        // which no sender needs; anything else is refused.
        if value.is_empty()
            || !value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        {
            return Err(refuse!(
                TokenMalformed,
                "the logout_token is empty or not a compact JWT"
            ));
        }
        found = Some(String::from(value));
    }
    found.ok_or_else(|| {
        refuse!(
            TokenMissing,
            "the logout request has no logout_token form parameter"
        )
    })
}

/// Checks a logout token whose signature verified: `typ` is its header's,
/// `policy` the ID-token policy (issuers, leeway), `client_id` the audience.
pub fn check(
    typ: Option<&str>,
    claims: &Object,
    policy: &Policy,
    client_id: &str,
    now: u64,
) -> Result<LogoutToken, Refusal> {
    if let Some(typ) = typ.filter(|t| !Policy::typ_matches("logout+jwt", t)) {
        return Err(refuse!(
            TypInvalid,
            "the logout token's typ is {}, expected \"logout+jwt\"",
            crate::jwk::quoted(typ)
        ));
    }
    if claims.contains_key("nonce") {
        return Err(refuse!(
            TypInvalid,
            "the logout token carries a nonce: it is an ID token, not a logout token"
        ));
    }
    let iss = string(claims, "iss")?.unwrap_or_default();
    if !crate::claims::issuer_named(policy, &iss, claims) {
        return Err(refuse!(
            IssuerInvalid,
            "the logout token's iss is {}, not the provider's issuer",
            crate::jwk::quoted(&iss)
        ));
    }
    let aud_ok = match claims.get("aud") {
        Some(Value::String(a)) => a == client_id,
        Some(Value::Array(items)) => items.iter().any(|a| a.as_str() == Some(client_id)),
        _ => false,
    };
    if !aud_ok {
        return Err(refuse!(
            AudienceInvalid,
            "the logout token is not for this client ({}): check the client registered with the back-channel logout URI",
            crate::jwk::quoted(client_id)
        ));
    }
    let leeway = policy.leeway;
    let iat = date(claims, "iat")?;
    let exp = date(claims, "exp")?;
    if now.saturating_add(leeway) < iat {
        return Err(refuse!(
            IatInFuture,
            "the logout token was issued in the future; check the clocks"
        ));
    }
    if exp.saturating_add(leeway) <= now {
        return Err(refuse!(TokenExpired, "the logout token expired"));
    }
    if iat.saturating_add(MAX_AGE).saturating_add(leeway) < now {
        return Err(refuse!(
            TokenTooOld,
            "the logout token was issued over {MAX_AGE} s ago: a replay, or a provider retrying for too long"
        ));
    }
    let jti = string(claims, "jti")?
        .filter(|j| !j.is_empty())
        .ok_or_else(|| refuse!(ClaimMissing, "the logout token has no jti"))?;
    match claims.get("events") {
        Some(Value::Object(events)) if matches!(events.get(EVENT), Some(Value::Object(_))) => {}
        _ => {
            return Err(refuse!(
                ClaimInvalid,
                "the logout token's events claim lacks the {EVENT} member"
            ))
        }
    }
    let sid = string(claims, "sid")?.filter(|s| !s.is_empty());
    let sub = string(claims, "sub")?.filter(|s| !s.is_empty());
    if sid.is_none() && sub.is_none() {
        return Err(refuse!(
            ClaimMissing,
            "the logout token names neither a sid nor a sub"
        ));
    }
    Ok(LogoutToken {
        iss,
        sid,
        sub,
        jti,
        iat,
        exp,
    })
}

fn string(claims: &Object, name: &str) -> Result<Option<String>, Refusal> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(refuse!(
            ClaimInvalid,
            "the logout token's {name} is {}, expected a string",
            json::kind(other)
        )),
    }
}

fn date(claims: &Object, name: &str) -> Result<u64, Refusal> {
    match claims.get(name) {
        None => Err(refuse!(ClaimMissing, "the logout token has no {name}")),
        Some(v) => v.as_u64().ok_or_else(|| {
            refuse!(
                ClaimInvalid,
                "the logout token's {name} is not a whole number of seconds"
            )
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(extra: &str) -> Object {
        let text = alloc::format!(
            r#"{{"iss":"https://idp","aud":"app","iat":1000,"exp":1120,"jti":"j1","sid":"s1",
            "events":{{"{EVENT}":{{}}}}{extra}}}"#
        );
        json::parse_object(text.as_bytes()).unwrap()
    }

    fn policy() -> Policy {
        Policy::for_issuer("https://idp")
    }

    #[test]
    fn a_complete_logout_token_passes() {
        let t = check(Some("logout+jwt"), &claims(""), &policy(), "app", 1010).unwrap();
        assert_eq!(
            (t.sid.as_deref(), t.sub, t.jti.as_str()),
            (Some("s1"), None, "j1")
        );
        assert!(
            check(None, &claims(""), &policy(), "app", 1010).is_ok(),
            "typ is optional"
        );
        assert!(check(
            Some("application/logout+jwt"),
            &claims(""),
            &policy(),
            "app",
            1010
        )
        .is_ok());
    }

    #[test]
    fn each_rule_refuses_with_its_reason() {
        let p = policy();
        let code = |typ: Option<&str>, c: &Object, now: u64| {
            check(typ, c, &p, "app", now).unwrap_err().reason.code()
        };
        assert_eq!(code(Some("JWT"), &claims(""), 1010), "typ-invalid");
        assert_eq!(code(Some("at+jwt"), &claims(""), 1010), "typ-invalid");
        assert_eq!(code(None, &claims(r#","nonce":"n""#), 1010), "typ-invalid");
        assert_eq!(code(None, &claims(""), 1200), "token-expired");
        assert_eq!(code(None, &claims(""), 900), "iat-in-future");
        let mut c = claims("");
        c.insert("exp".into(), Value::from(5000));
        assert_eq!(code(None, &c, 1000 + MAX_AGE + 10), "token-too-old");
        for (name, value, reason) in [
            ("iss", Value::from("https://other"), "issuer-invalid"),
            ("aud", Value::from("someone-else"), "audience-invalid"),
            ("aud", Value::from(alloc::vec!["x"]), "audience-invalid"),
            ("jti", Value::from(""), "claim-missing"),
            ("iat", Value::from(1.5), "claim-invalid"),
            ("sid", Value::from(7), "claim-invalid"),
            ("events", Value::from("logout"), "claim-invalid"),
            ("events", serde_json::json!({ EVENT: true }), "claim-invalid"),
        ] {
            let mut c = claims("");
            c.insert(name.into(), value);
            assert_eq!(code(None, &c, 1010), reason, "{name}");
        }
        for name in ["iat", "exp", "jti", "iss", "aud", "events"] {
            let mut c = claims("");
            c.remove(name);
            assert_ne!(check(None, &c, &p, "app", 1010).map(|_| ()), Ok(()), "{name}");
        }
        let mut c = claims("");
        c.remove("sid");
        assert_eq!(code(None, &c, 1010), "claim-missing");
        c.insert("sub".into(), Value::from("u1"));
        assert_eq!(
            check(None, &c, &p, "app", 1010).unwrap().sub.as_deref(),
            Some("u1")
        );
    }

    #[test]
    fn the_form_holds_exactly_one_compact_token() {
        assert_eq!(logout_token_of(b"a=1&logout_token=x.y.z&b=2").unwrap(), "x.y.z");
        for bad in [
            &b"logout_token="[..],
            b"logout_token=a%2Eb",
            b"logout_token=a b",
            b"\xff",
            b"",
        ] {
            assert!(logout_token_of(bad).is_err());
        }
    }
}
