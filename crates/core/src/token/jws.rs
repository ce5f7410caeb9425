//! Compact JWS parsing and the policy-independent header rules.
//!
//! Only the compact serialisation with three segments is accepted. Everything is
//! checked before any key is touched: size, segment shape, strict base64url, strict
//! JSON, `alg` (never `none` or HMAC), `crit` (no extension is understood, so any
//! `crit` is refused), `b64` (unencoded payloads are refused), `zip` (a JWE
//! header). `jku`, `x5u`, `jwk`, `x5c` are never used to find or fetch a key: keys
//! come only from the configured key set.

use crate::alg::Alg;
use crate::b64;
use crate::json::{self, Object};
use crate::jwk::quoted;
use crate::reason::{refuse, Refusal};
use alloc::string::String;
use alloc::vec::Vec;
use serde_json::Value;

/// Tokens longer than this many bytes are refused before parsing. Session and
/// access tokens are far smaller; the cap bounds the work a hostile token causes.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// A compact JWS split into its parts, header parsed and checked.
#[derive(Debug)]
pub struct Parsed<'t> {
    /// The header's `alg`.
    pub alg: Alg,
    /// The header's `kid`.
    pub kid: Option<String>,
    /// The header's `typ`.
    pub typ: Option<String>,
    /// `BASE64URL(header) '.' BASE64URL(payload)`: the bytes the signature covers.
    pub signing_input: &'t str,
    /// The payload segment, still encoded (decoded only after the signature verifies).
    pub payload_b64: &'t str,
    /// The decoded signature.
    pub signature: Vec<u8>,
}

/// Parses a compact JWS and applies the header rules. The policy's allowlist is
/// applied by the caller; here `alg` only has to be a supported algorithm.
///
/// ```
/// use tessera_core::jws;
/// let err = jws::parse("eyJhbGciOiJub25lIn0.e30.").unwrap_err();
/// assert_eq!(err.reason.code(), "alg-not-allowed");
/// ```
pub fn parse(token: &str) -> Result<Parsed<'_>, Refusal> {
    parse_with(token, None)
}

/// [`parse`], with the header's facts looked up in (and added to) `headers`.
// Out of line on purpose: see "Start-up" in the crate docs.
#[inline(never)]
pub(crate) fn parse_with<'t>(token: &'t str, headers: Option<&mut Headers>) -> Result<Parsed<'t>, Refusal> {
    if token.is_empty() {
        return Err(refuse!(TokenMissing, "the token is empty"));
    }
    if token.len() > MAX_TOKEN_BYTES {
        return Err(refuse!(
            TokenTooLarge,
            "the token is {} bytes, over the {MAX_TOKEN_BYTES}-byte cap; it was refused without parsing",
            token.len()
        ));
    }
    let mut segments = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (segments.next(), segments.next(), segments.next(), segments.next())
    else {
        let dots = token.bytes().filter(|b| *b == b'.').count();
        let hint = if dots == 4 {
            " (five segments: an encrypted JWE, which is not supported)"
        } else {
            ""
        };
        return Err(refuse!(
            TokenMalformed,
            "a compact JWS has three dot-separated segments, this token has {}{hint}",
            dots + 1
        ));
    };
    let Header { alg, kid, typ } = match headers {
        Some(headers) => headers.get_or_check(h)?,
        None => check_header(h)?,
    };
    let signature =
        b64::decode(s).map_err(|e| refuse!(TokenMalformed, "the signature is not strict base64url: {e}"))?;
    Ok(Parsed {
        alg,
        kid,
        typ,
        signing_input: &token[..h.len() + 1 + p.len()],
        payload_b64: p,
        signature,
    })
}

/// What the rest of verification needs from a header that passed the rules.
#[derive(Clone)]
struct Header {
    alg: Alg,
    kid: Option<String>,
    typ: Option<String>,
}

/// The headers seen lately, by their encoded segment, with their facts.
///
/// A provider signs every token of a key with the same header (`alg`, `kid`,
/// `typ`), so its segment repeats byte for byte; a hit skips the base64 and
/// strict JSON decoding and the rules, and the verdict is the same, since
/// those are a function of the segment alone. Only headers that passed are
/// kept. Each [`crate::Verifier`] holds one: a new token's header is read
/// twice when the host checks its signature (before and after the check).
#[derive(Default)]
pub(crate) struct Headers {
    seen: Vec<(String, Header)>,
    /// The entry the next new header replaces once `seen` is full.
    next: usize,
}

impl Headers {
    /// Headers remembered: a provider publishes a few keys, one header each.
    const CAPACITY: usize = 8;
    /// Longer segments are checked every time (a typical one is 50–100 bytes).
    const MAX_SEGMENT: usize = 512;

    fn get_or_check(&mut self, segment: &str) -> Result<Header, Refusal> {
        if let Some((_, header)) = self.seen.iter().find(|(s, _)| s == segment) {
            return Ok(header.clone());
        }
        let header = check_header(segment)?;
        if segment.len() <= Self::MAX_SEGMENT {
            let entry = (String::from(segment), header.clone());
            if self.seen.len() < Self::CAPACITY {
                self.seen.push(entry);
            } else {
                self.seen[self.next] = entry;
                self.next = (self.next + 1) % Self::CAPACITY;
            }
        }
        Ok(header)
    }
}

/// Decodes a header segment and applies the header rules.
fn check_header(segment: &str) -> Result<Header, Refusal> {
    let header = decode_header(segment)?;
    let alg = match header.get("alg") {
        Some(Value::String(name)) => Alg::from_name(name)
            .map_err(|why| refuse!(AlgNotAllowed, "header alg {}: {why}", quoted(name)))?,
        Some(other) => {
            return Err(refuse!(
                TokenMalformed,
                "header alg is {}, expected a string",
                json::kind(other)
            ))
        }
        None => return Err(refuse!(TokenMalformed, "the header has no alg")),
    };
    if let Some(crit) = header.get("crit") {
        return Err(refuse!(
            CritUnsupported,
            "the header marks {crit} as critical; Tessera understands no JWS extensions, so it must refuse the token"
        ));
    }
    match header.get("b64") {
        None | Some(Value::Bool(true)) => {}
        Some(_) => {
            return Err(refuse!(
                TokenMalformed,
                "unencoded payloads (RFC 7797 \"b64\") are not supported"
            ))
        }
    }
    if header.contains_key("zip") || header.contains_key("enc") {
        return Err(refuse!(
            TokenMalformed,
            "the header has zip/enc, which belong to encrypted JWE tokens"
        ));
    }
    let kid = header_string(&header, "kid")?;
    let typ = header_string(&header, "typ")?;
    Ok(Header { alg, kid, typ })
}

/// Decodes the payload (after the signature verified) into a claims object.
// Out of line on purpose: see "Start-up" in the crate docs.
#[inline(never)]
pub(crate) fn decode_payload(payload_b64: &str) -> Result<Object, Refusal> {
    let bytes = b64::decode(payload_b64)
        .map_err(|e| refuse!(TokenMalformed, "the payload is not strict base64url: {e}"))?;
    json::parse_object(&bytes).map_err(|e| refuse!(TokenMalformed, "the claims are not valid: {e}"))
}

/// Decodes header and claims *without verifying anything*, for inspection tools.
pub fn decode_unverified(token: &str) -> Result<(Object, Object), Refusal> {
    let mut segments = token.split('.');
    let (Some(h), Some(p)) = (segments.next(), segments.next()) else {
        return Err(refuse!(
            TokenMalformed,
            "a JWT has dot-separated segments; this has none"
        ));
    };
    Ok((decode_header(h)?, decode_payload(p)?))
}

fn decode_header(segment: &str) -> Result<Object, Refusal> {
    let bytes = b64::decode(segment)
        .map_err(|e| refuse!(TokenMalformed, "the header is not strict base64url: {e}"))?;
    json::parse_object(&bytes).map_err(|e| refuse!(TokenMalformed, "the header is not valid: {e}"))
}

fn header_string(header: &Object, name: &str) -> Result<Option<String>, Refusal> {
    match header.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(refuse!(
            TokenMalformed,
            "header {name} is {}, expected a string",
            json::kind(other)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;

    fn token(header: &str) -> String {
        format!("{}.e30.AAAA", b64::encode(header.as_bytes()))
    }

    /// A remembered header gives what checking it gives, for every token that
    /// carries it; headers differing in any byte are told apart; a refused
    /// header is refused every time and never remembered.
    #[test]
    fn remembered_headers_give_the_same_verdicts() {
        let mut headers = Headers::default();
        let a = token(r#"{"alg":"RS256","kid":"a","typ":"JWT"}"#);
        let b = token(r#"{"alg":"ES256","kid":"b"}"#);
        for _ in 0..3 {
            for t in [&a, &b] {
                let cached = parse_with(t, Some(&mut headers)).unwrap();
                let fresh = parse(t).unwrap();
                assert_eq!(
                    (cached.alg, &cached.kid, &cached.typ),
                    (fresh.alg, &fresh.kid, &fresh.typ)
                );
                assert_eq!(cached.signing_input, fresh.signing_input);
            }
        }
        assert_eq!(headers.seen.len(), 2);
        let other_payload = a.replace(".e30.", ".eyJzdWIiOiJ4In0.");
        assert_eq!(
            parse_with(&other_payload, Some(&mut headers))
                .unwrap()
                .payload_b64,
            "eyJzdWIiOiJ4In0"
        );

        let refused = token(r#"{"alg":"RS256","crit":["exp"]}"#);
        for _ in 0..2 {
            let err = parse_with(&refused, Some(&mut headers)).unwrap_err();
            assert_eq!(err.reason.code(), "crit-unsupported");
        }
        assert_eq!(headers.seen.len(), 2);
    }

    /// At most `CAPACITY` headers are kept (the oldest replaced first), and
    /// none longer than `MAX_SEGMENT`.
    #[test]
    fn the_header_memory_is_bounded() {
        let mut headers = Headers::default();
        for i in 0..Headers::CAPACITY + 3 {
            parse_with(
                &token(&format!(r#"{{"alg":"ES256","kid":"k{i}"}}"#)),
                Some(&mut headers),
            )
            .unwrap();
        }
        assert_eq!(headers.seen.len(), Headers::CAPACITY);
        let kids: Vec<_> = headers.seen.iter().map(|(_, h)| h.kid.clone().unwrap()).collect();
        assert!(
            !kids.contains(&String::from("k0")) && kids.contains(&String::from("k10")),
            "{kids:?}"
        );

        let long = token(&format!(
            r#"{{"alg":"ES256","kid":"{}"}}"#,
            "x".repeat(Headers::MAX_SEGMENT)
        ));
        let mut fresh = Headers::default();
        assert_eq!(parse_with(&long, Some(&mut fresh)).unwrap().alg, Alg::Es256);
        assert!(fresh.seen.is_empty());
    }
}
