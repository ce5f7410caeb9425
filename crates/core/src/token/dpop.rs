//! DPoP proofs (RFC 9449): a sender-constrained access token (one whose
//! `cnf.jkt` names a key) is accepted only with a proof, signed by that key,
//! for this very request. This module checks a proof against what the
//! request and the token say; replay (`jti`) and server nonces are the
//! session layer's, which holds the state.
//!
//! The checks of RFC 9449 §4.3, cheapest first: one compact JWS of at most
//! [`MAX_PROOF_BYTES`]; header `typ` `dpop+jwt`, an allowed asymmetric `alg`,
//! a public `jwk` (no private members) that fits it; claims `jti` (a string of
//! at most [`MAX_JTI_BYTES`]), `htm` equal to the method, `htu` equal to the
//! request's URL without query and fragment (scheme and host compared
//! case-insensitively, default ports ignored), `iat` within the window,
//! `ath` the SHA-256 of the access token; the key's RFC 7638 thumbprint
//! equal to the token's `cnf.jkt`; then the signature.
//!
//! ```
//! use tessera_core::dpop::thumbprint;
//! // RFC 7638 §3.1's example key and thumbprint.
//! let jwk = serde_json::json!({
//!     "kty": "RSA", "e": "AQAB", "alg": "RS256", "kid": "2011-04-29",
//!     "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
//! });
//! assert_eq!(thumbprint(jwk.as_object().unwrap()).unwrap(), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
//! ```

use crate::alg::Alg;
use crate::json::{self, Object};
use crate::jwk::{quoted, KeySet};
use crate::key::PublicKey;
use crate::reason::{refuse, Refusal};
use crate::{b64, jws};
use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Proofs longer than this are refused before parsing (a proof carries one
/// public key; an RSA-4096 proof is under 2 KiB).
pub const MAX_PROOF_BYTES: usize = 4 * 1024;

/// The longest `jti` accepted (it is kept until the proof is too old).
pub const MAX_JTI_BYTES: usize = 256;

/// What a proof must match: the request, the token, the clock.
#[derive(Clone, Copy, Debug)]
pub struct Expected<'a> {
    /// The request method, as sent (methods are case-sensitive).
    pub method: &'a str,
    /// The request URL as the app's public origin serves it, without query
    /// and fragment: `appOrigin` and the path, never a Host header.
    pub url: &'a str,
    /// The access token the proof goes with.
    pub access_token: &'a str,
    /// The token's `cnf.jkt`.
    pub jkt: &'a str,
    /// Now, unix seconds.
    pub now: u64,
    /// How old `iat` may be, in seconds.
    pub max_age: u64,
    /// Clock-skew tolerance for `iat`, in seconds.
    pub leeway: u64,
    /// Allowed proof algorithms.
    pub algorithms: &'a [Alg],
}

/// A proof that passed every check but its signature (and replay, and the
/// nonce, which the caller checks).
pub struct Proof<'p> {
    /// Its `jti`.
    pub jti: String,
    /// Its `iat`.
    pub iat: u64,
    /// Its `nonce`, if any.
    pub nonce: Option<String>,
    /// The key in its header.
    pub key: Arc<PublicKey>,
    /// Its algorithm.
    pub alg: Alg,
    /// The bytes the signature covers.
    pub signing_input: &'p str,
    /// The signature.
    pub signature: Vec<u8>,
}

impl core::fmt::Debug for Proof<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Proof")
            .field("jti", &self.jti)
            .field("iat", &self.iat)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

impl Proof<'_> {
    /// The checks of its signature that need no cryptography.
    pub fn precheck(&self) -> Result<(), Refusal> {
        self.key
            .precheck(self.alg, &self.signature)
            .map_err(|why| invalid(&format!("its signature is malformed: {why}")))
    }

    /// Checks its signature in pure Rust.
    pub fn check_signature(&self) -> Result<(), Refusal> {
        self.precheck()?;
        self.key
            .verify(self.alg, self.signing_input.as_bytes(), &self.signature)
            .map_err(|why| invalid(&format!("its signature does not verify with its own jwk: {why}")))
    }
}

fn invalid(why: &str) -> Refusal {
    refuse!(DpopProofInvalid, "the DPoP proof is not valid: {why}")
}

/// Checks `proof` against `e`, all but its signature ([`Proof::check_signature`]).
pub fn check<'p>(proof: &'p str, e: &Expected<'_>) -> Result<Proof<'p>, Refusal> {
    if proof.len() > MAX_PROOF_BYTES {
        return Err(invalid(&format!("it is over {MAX_PROOF_BYTES} bytes")));
    }
    let parsed = jws::parse(proof).map_err(|r| invalid(&r.message))?;
    if !e.algorithms.contains(&parsed.alg) {
        return Err(invalid(&format!("its alg {} is not allowed here", parsed.alg)));
    }
    if !parsed
        .typ
        .as_deref()
        .is_some_and(|t| t.eq_ignore_ascii_case("dpop+jwt"))
    {
        return Err(invalid("its header typ is not dpop+jwt"));
    }
    let (header, claims) = jws::decode_unverified(proof).map_err(|r| invalid(&r.message))?;
    let Some(Value::Object(jwk)) = header.get("jwk") else {
        return Err(invalid("its header has no jwk object"));
    };
    let key = KeySet::single(jwk).map_err(|r| invalid(&format!("its jwk: {}", r.message)))?;
    if !key.fits(parsed.alg) {
        return Err(invalid(&format!("its alg {} does not fit its jwk", parsed.alg)));
    }
    let text = |name: &str| match claims.get(name) {
        Some(Value::String(s)) => Ok(s.as_str()),
        Some(other) => Err(invalid(&format!(
            "its {name} is {}, expected a string",
            json::kind(other)
        ))),
        None => Err(invalid(&format!("it has no {name}"))),
    };
    let jti = text("jti")?;
    if jti.is_empty() || jti.len() > MAX_JTI_BYTES {
        return Err(invalid(&format!(
            "its jti is empty or over {MAX_JTI_BYTES} bytes"
        )));
    }
    let htm = text("htm")?;
    if htm != e.method {
        return Err(invalid(&format!(
            "it is for {}, this request is {}",
            quoted(htm),
            quoted(e.method)
        )));
    }
    let htu = text("htu")?;
    let same = matches!((normalize_url(htu), normalize_url(e.url)), (Some(a), Some(b)) if a == b);
    if !same {
        return Err(invalid(&format!(
            "it is for {}, this request is for {}",
            quoted(htu),
            quoted(e.url)
        )));
    }
    let iat = match claims.get("iat") {
        Some(Value::Number(n)) => n
            .as_u64()
            .ok_or_else(|| invalid("its iat is not a whole number of seconds"))?,
        _ => return Err(invalid("it has no numeric iat")),
    };
    if iat > e.now.saturating_add(e.leeway) {
        return Err(invalid(&format!("its iat is {} s in the future", iat - e.now)));
    }
    if e.now > iat.saturating_add(e.max_age).saturating_add(e.leeway) {
        return Err(invalid(&format!(
            "it was made {} s ago, more than dpop.maxAge {} s",
            e.now - iat,
            e.max_age
        )));
    }
    let ath = text("ath")?;
    if ath != b64::encode(&Sha256::digest(e.access_token.as_bytes())) {
        return Err(invalid("its ath is not the hash of this access token"));
    }
    if thumbprint(jwk)? != e.jkt {
        return Err(invalid(
            "its key is not the one the access token is bound to (cnf.jkt)",
        ));
    }
    let nonce = match claims.get("nonce") {
        None => None,
        Some(Value::String(n)) => Some(n.clone()),
        Some(_) => return Err(invalid("its nonce is not a string")),
    };
    Ok(Proof {
        jti: String::from(jti),
        iat,
        nonce,
        key,
        alg: parsed.alg,
        signing_input: parsed.signing_input,
        signature: parsed.signature,
    })
}

/// The RFC 7638 thumbprint of a public JWK, base64url: the SHA-256 of its
/// required members, in order, as compact JSON.
pub fn thumbprint(jwk: &Object) -> Result<String, Refusal> {
    let members: &[&str] = match jwk.get("kty").and_then(Value::as_str) {
        Some("EC") => &["crv", "kty", "x", "y"],
        Some("RSA") => &["e", "kty", "n"],
        Some("OKP") => &["crv", "kty", "x"],
        _ => return Err(invalid("its jwk has no supported kty")),
    };
    let mut canonical = String::from("{");
    for name in members {
        // Base64url values and curve names need no JSON escaping; a member
        // that would is no key Tessera could use anyway.
        let v = match jwk.get(*name) {
            Some(Value::String(v))
                if v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') =>
            {
                v
            }
            _ => {
                return Err(invalid(
                    "its jwk lacks a required member, or has one that is not base64url",
                ))
            }
        };
        if canonical.len() > 1 {
            canonical.push(',');
        }
        for part in ["\"", name, "\":\"", v, "\""] {
            canonical.push_str(part);
        }
    }
    canonical.push('}');
    Ok(b64::encode(&Sha256::digest(canonical.as_bytes())))
}

/// `url` without query and fragment, scheme and host in lower case, a
/// default port dropped, an empty path as `/` (RFC 9449 §4.3: the htu
/// comparison ignores them); `None` for what is not an absolute http(s) URL.
fn normalize_url(url: &str) -> Option<String> {
    let end = url.find(['?', '#']).unwrap_or(url.len());
    let url = &url[..end];
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if authority.is_empty() || authority.contains('@') {
        return None;
    }
    let mut host = authority.to_ascii_lowercase();
    let default = match scheme.as_str() {
        "https" => ":443",
        "http" => ":80",
        _ => return None,
    };
    if host.ends_with(default) {
        host.truncate(host.len() - default.len());
    }
    Some(format!("{scheme}://{host}{path}"))
}

#[cfg(test)]
mod tests {
    use super::normalize_url;

    #[test]
    fn urls_compare_as_rfc_9449_says() {
        let n = |u| normalize_url(u);
        assert_eq!(n("HTTPS://App.Example:443/a?x=1#f"), n("https://app.example/a"));
        assert_eq!(n("https://app.example"), n("https://app.example/"));
        assert_ne!(
            n("https://app.example/A"),
            n("https://app.example/a"),
            "paths are case-sensitive"
        );
        assert_ne!(n("https://app.example:8443/a"), n("https://app.example/a"));
        assert_ne!(n("http://app.example/a"), n("https://app.example/a"));
        assert_eq!(n("https://user@app.example/a"), None);
        assert_eq!(n("/a"), None);
    }
}
