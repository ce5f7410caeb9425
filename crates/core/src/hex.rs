//! Lowercase hexadecimal, for digests that name things: key ids, refresh
//! flights, the forwarded identity's signature.

use alloc::string::String;

/// `bytes` as lowercase hex, two digits a byte.
///
/// ```
/// assert_eq!(tessera_core::hex::encode(&[0x00, 0xab, 0x7f]), "00ab7f");
/// ```
pub fn encode(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    bytes
        .iter()
        .flat_map(|&b| [DIGITS[usize::from(b >> 4)], DIGITS[usize::from(b & 15)]])
        .map(char::from)
        .collect()
}
