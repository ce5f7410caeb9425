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
    /// The whole header object.
    pub header: Object,
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
// Out of line on purpose: see "Start-up" in the crate docs.
#[inline(never)]
pub fn parse(token: &str) -> Result<Parsed<'_>, Refusal> {
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
    let header = decode_header(h)?;

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

    let signature =
        b64::decode(s).map_err(|e| refuse!(TokenMalformed, "the signature is not strict base64url: {e}"))?;
    Ok(Parsed {
        alg,
        kid,
        typ,
        header,
        signing_input: &token[..h.len() + 1 + p.len()],
        payload_b64: p,
        signature,
    })
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
