//! A prepared public key and the pure-Rust raw signature check.
//!
//! Keys are validated and decoded once, when a key set is loaded (RSA modulus size
//! and exponent, P-256 point on the curve, Ed25519 point not of small order); each
//! verification then only hashes and checks. This is the default side of the
//! signature seam (see [`crate::Prepared`]): hosts with faster native crypto can do
//! the raw check themselves with [`PublicKey::spki_der`] and the same inputs.

use crate::alg::{Alg, KeyFamily};
use crate::ed25519::Ed25519Key;
use crate::rsa::{Hash, RsaKey, Scheme};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use sha2::{Digest, Sha256};
use tessera_p256::{Es256Key, Refused};

/// The smallest RSA modulus accepted (RFC 7518 §3.3 requires 2048 bits).
pub const RSA_MIN_BITS: usize = 2048;
/// The largest RSA modulus accepted: bigger keys only make verification slower
/// and are a cheap way to burn CPU with a hostile key set.
pub const RSA_MAX_BITS: usize = 8192;

/// A public key ready for repeated verification.
#[derive(Clone)]
pub struct PublicKey {
    pub(crate) kid: Option<String>,
    pub(crate) alg: Option<Alg>,
    pub(crate) material: Material,
    /// [`PublicKey::spki_der`] and [`PublicKey::key_id`], encoded once with the
    /// key: hosts checking signatures natively are handed them per token.
    spki_der: Vec<u8>,
    key_id: String,
}

#[derive(Clone)]
pub(crate) enum Material {
    Rsa(RsaKey),
    P256(Es256Key),
    Ed25519(Ed25519Key),
}

impl Material {
    pub(crate) fn family(&self) -> KeyFamily {
        match self {
            Material::Rsa(_) => KeyFamily::Rsa,
            Material::P256(_) => KeyFamily::P256,
            Material::Ed25519(_) => KeyFamily::Ed25519,
        }
    }

    pub(crate) fn description(&self) -> String {
        match self {
            Material::Rsa(k) => format!("RSA-{}", k.bits()),
            Material::P256(_) => String::from("EC P-256"),
            Material::Ed25519(_) => String::from("OKP Ed25519"),
        }
    }
}

impl PublicKey {
    pub(crate) fn new(kid: Option<String>, alg: Option<Alg>, material: Material) -> PublicKey {
        let spki_der = match &material {
            Material::Rsa(k) => k.spki_der(),
            Material::P256(k) => {
                let point = k.verifying_key().to_encoded_point(false);
                [&P256_SPKI_PREFIX[..], point.as_bytes()].concat()
            }
            Material::Ed25519(k) => [&ED25519_SPKI_PREFIX[..], k.verifying_key().as_bytes()].concat(),
        };
        let key_id = crate::hex::encode(&Sha256::digest(&spki_der));
        PublicKey {
            kid,
            alg,
            material,
            spki_der,
            key_id,
        }
    }

    /// The key id (`kid`), if the key has one.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The algorithm the key is bound to by its JWK `alg`, if any.
    pub fn alg(&self) -> Option<Alg> {
        self.alg
    }

    /// The key family.
    pub fn family(&self) -> KeyFamily {
        self.material.family()
    }

    /// Whether a token signed with `alg` may be verified with this key: the family
    /// must match, and a key bound to an algorithm accepts only that algorithm.
    pub fn fits(&self, alg: Alg) -> bool {
        alg.family() == self.family() && self.alg.is_none_or(|bound| bound == alg)
    }

    /// A short description for messages, e.g. `RSA-2048` or `P-256`.
    pub fn description(&self) -> String {
        self.material.description()
    }

    /// The key as DER SubjectPublicKeyInfo, for hosts that import it into native
    /// crypto (WebCrypto `importKey("spki", …)`, `node:crypto`).
    pub fn spki_der(&self) -> &[u8] {
        &self.spki_der
    }

    /// A stable name for the key, for caching imported keys: the hex SHA-256 of
    /// [`PublicKey::spki_der`].
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// Checks `signature` over `message` with `alg`. Pure Rust; never panics.
    ///
    /// The error says why the signature was refused (wrong length, DER encoding
    /// instead of raw `r‖s`, scalar out of range, or simply not matching).
    pub fn verify(&self, alg: Alg, message: &[u8], signature: &[u8]) -> Result<(), String> {
        self.precheck(alg, signature)?;
        self.verify_prechecked(alg, message, signature)
    }

    /// [`PublicKey::verify`] after [`PublicKey::precheck`] passed.
    pub(crate) fn verify_prechecked(&self, alg: Alg, message: &[u8], signature: &[u8]) -> Result<(), String> {
        match &self.material {
            Material::P256(key) => key.verify(message, signature).map_err(|why| match why {
                Refused::OutOfRange => String::from(
                    "ES256 signature has r or s out of range (zero or not below the curve order)",
                ),
                Refused::Mismatch => String::from(MISMATCH),
            }),
            Material::Ed25519(key) => key.verify(message, signature),
            Material::Rsa(key) => verify_rsa(key, alg, message, signature),
        }
    }

    /// The checks every backend shares, before any cryptography: the key fits
    /// `alg`, the signature has the length `alg` and this key give it, and an
    /// EdDSA signature follows the strict rules (`s` canonical, `R` canonical
    /// and not of small order), so a host's native Ed25519 check cannot be
    /// more lenient than the pure-Rust one. A refusal here names the problem
    /// (e.g. a DER-encoded ECDSA signature).
    pub fn precheck(&self, alg: Alg, signature: &[u8]) -> Result<(), String> {
        if !self.fits(alg) {
            return Err(format!(
                "{alg} cannot be verified with this {} key",
                self.description()
            ));
        }
        let expected = match &self.material {
            Material::Rsa(k) => k.size(),
            Material::P256(_) | Material::Ed25519(_) => 64,
        };
        if signature.len() == expected {
            return match &self.material {
                Material::Ed25519(_) => crate::ed25519::precheck(signature),
                _ => Ok(()),
            };
        }
        let der = alg == Alg::Es256 && signature.first() == Some(&0x30);
        let hint = if der {
            " (it looks DER-encoded; JWS requires the raw 64-byte r||s form)"
        } else {
            ""
        };
        let key = match &self.material {
            Material::Rsa(_) => format!(" for this {} key", self.description()),
            _ => String::new(),
        };
        Err(format!(
            "{alg} signature is {} bytes, expected {expected}{key}{hint}",
            signature.len()
        ))
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublicKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("type", &self.description())
            .finish()
    }
}

pub(crate) const MISMATCH: &str = "the signature does not match the token and key";

// Runs after `precheck`: the signature has the key's length.
fn verify_rsa(key: &RsaKey, alg: Alg, message: &[u8], sig: &[u8]) -> Result<(), String> {
    let scheme = match alg {
        Alg::Rs256 => Scheme::Pkcs1(Hash::Sha256),
        Alg::Rs384 => Scheme::Pkcs1(Hash::Sha384),
        Alg::Rs512 => Scheme::Pkcs1(Hash::Sha512),
        // RFC 7518 §3.5: the salt is as long as the hash; the check requires exactly that.
        Alg::Ps256 => Scheme::Pss(Hash::Sha256),
        Alg::Ps384 => Scheme::Pss(Hash::Sha384),
        Alg::Ps512 => Scheme::Pss(Hash::Sha512),
        // Not reachable: `precheck` matched the family.
        Alg::Es256 | Alg::EdDsa => return Err(String::from(MISMATCH)),
    };
    if key.verify(scheme, message, sig) {
        Ok(())
    } else {
        Err(String::from(MISMATCH))
    }
}

/// Builds an RSA key from big-endian modulus and exponent bytes, enforcing the
/// size and exponent rules.
pub(crate) fn rsa_material(n: &[u8], e: &[u8]) -> Result<Material, String> {
    let n_trimmed = strip_leading_zeros(n);
    let e_trimmed = strip_leading_zeros(e);
    let bits = bit_len(n_trimmed);
    if bits < RSA_MIN_BITS {
        return Err(format!(
            "RSA modulus is {bits} bits; at least {RSA_MIN_BITS} are required"
        ));
    }
    if bits > RSA_MAX_BITS {
        return Err(format!(
            "RSA modulus is {bits} bits; at most {RSA_MAX_BITS} are accepted"
        ));
    }
    if n_trimmed.last().is_some_and(|b| b & 1 == 0) {
        return Err(String::from(
            "RSA modulus is even, so it is not a valid RSA modulus",
        ));
    }
    if e_trimmed.len() > 4 {
        return Err(String::from("RSA exponent is larger than 32 bits"));
    }
    let exp = e_trimmed.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
    if exp <= 1 {
        return Err(format!(
            "RSA exponent {exp} is not allowed (e = 1 makes every signature trivially valid)"
        ));
    }
    if exp % 2 == 0 {
        return Err(format!(
            "RSA exponent {exp} is even, so it is not a valid RSA exponent"
        ));
    }
    // `exp` fits 32 bits (checked above).
    Ok(Material::Rsa(RsaKey::new(n_trimmed, exp as u32)))
}

/// Builds a P-256 key from a SEC1 point encoding, refusing points not on the curve.
pub(crate) fn p256_material(sec1: &[u8]) -> Result<Material, String> {
    p256::ecdsa::VerifyingKey::from_sec1_bytes(sec1)
        .map(|key| Material::P256(Es256Key::new(key)))
        .map_err(|_| String::from("the P-256 point is not on the curve (or is the identity)"))
}

/// Builds an Ed25519 key, refusing points that do not decode or have small order.
pub(crate) fn ed25519_material(x: &[u8]) -> Result<Material, String> {
    let bytes: &[u8; 32] = x
        .try_into()
        .map_err(|_| format!("Ed25519 public key is {} bytes, expected 32", x.len()))?;
    let key = ed25519_dalek::VerifyingKey::from_bytes(bytes)
        .map_err(|_| String::from("the Ed25519 public key is not a valid curve point"))?;
    if key.is_weak() {
        return Err(String::from(
            "the Ed25519 public key has small order (a known-weak key)",
        ));
    }
    Ok(Material::Ed25519(Ed25519Key::new(key)))
}

// The fixed part of a SubjectPublicKeyInfo (RFC 5280 §4.1) for the two key types
// of fixed size, before the key's bytes: SEQUENCE { SEQUENCE { algorithm OID,
// parameters }, BIT STRING with 0 unused bits }. Written out rather than built
// with the `spki` crate's encoder, whose code a fresh instance would otherwise
// compile for its first key set (RSA's, of variable length, is in `rsa.rs`).
/// id-ecPublicKey with the named curve prime256v1 (RFC 5480 §2); the key is the
/// uncompressed point, `04 ‖ x ‖ y`.
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86,
    0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];
/// id-Ed25519 without parameters (RFC 8410 §4); the key is its 32 bytes.
const ED25519_SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

fn strip_leading_zeros(b: &[u8]) -> &[u8] {
    let first = b.iter().position(|&x| x != 0).unwrap_or(b.len());
    &b[first..]
}

fn bit_len(be: &[u8]) -> usize {
    match be.first() {
        None => 0,
        Some(&top) => (be.len() - 1) * 8 + (8 - top.leading_zeros() as usize),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use spki::EncodePublicKey;

    #[test]
    fn fixed_size_keys_are_encoded_as_the_spki_crate_does() {
        let p256_point = p256::ecdsa::SigningKey::from_slice(&[7; 32])
            .unwrap()
            .verifying_key()
            .to_encoded_point(false);
        let p256 = PublicKey::new(None, None, p256_material(p256_point.as_bytes()).unwrap());
        let expected = p256::PublicKey::from_sec1_bytes(p256_point.as_bytes())
            .unwrap()
            .to_public_key_der()
            .unwrap();
        assert_eq!(p256.spki_der(), expected.as_bytes());

        let ed_bytes = ed25519_dalek::SigningKey::from_bytes(&[9; 32])
            .verifying_key()
            .to_bytes();
        let ed = PublicKey::new(None, None, ed25519_material(&ed_bytes).unwrap());
        let expected = ed25519_dalek::VerifyingKey::from_bytes(&ed_bytes)
            .unwrap()
            .to_public_key_der()
            .unwrap();
        assert_eq!(ed.spki_der(), expected.as_bytes());

        // The key id is the lowercase hex SHA-256 of the encoding.
        for key in [&p256, &ed] {
            let digest = Sha256::digest(key.spki_der());
            let expected: String = digest.iter().map(|b| format!("{b:02x}")).collect();
            assert_eq!(key.key_id(), expected);
        }
        assert_ne!(p256.key_id(), ed.key_id());
    }
}
