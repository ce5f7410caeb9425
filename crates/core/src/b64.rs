//! Strict base64url (RFC 4648 §5) as JWS requires: no padding, no whitespace, no
//! characters outside the URL-safe alphabet, and canonical trailing bits (so one
//! byte string has exactly one encoding and a token cannot be altered in place).

use alloc::vec::Vec;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

/// Decodes strict base64url. The error says what was wrong, for messages.
///
/// ```
/// use tessera_core::b64;
/// assert_eq!(b64::decode("aGk").unwrap(), b"hi");
/// assert!(b64::decode("aGk=").is_err());   // padding
/// assert!(b64::decode("aGl").is_err());    // non-canonical trailing bits
/// assert!(b64::decode("a Gk").is_err());   // whitespace
/// ```
pub fn decode(s: &str) -> Result<Vec<u8>, base64::DecodeError> {
    URL_SAFE_NO_PAD.decode(s)
}

/// Encodes as base64url without padding.
pub fn encode(bytes: &[u8]) -> alloc::string::String {
    URL_SAFE_NO_PAD.encode(bytes)
}
