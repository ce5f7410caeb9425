//! EdDSA (Ed25519) verification in pure Rust, strict, with per-key
//! precomputed tables.
//!
//! ed25519-dalek's `verify_strict` computes `[s]B − [k]A` with one shared
//! double-and-add: about 253 point doublings and 70 additions, most of the
//! cost of a check. Once a key has shown it is in use (two checks, [`KeyTable`])
//! it gets curve25519-dalek's radix-16 table of `−A` (`B` has one per process),
//! and a check becomes two fixed-base multiplications: 64 table additions each
//! and 8 doublings in all. A key used once or twice never pays for its table
//! (30 KiB, the work of a few checks).
//!
//! The rules are `verify_strict`'s, and the first checks of every key go
//! through it: `s` canonical (below ℓ), `R` a valid encoding of a point that
//! is not of small order (the key's order is checked when it is loaded), and
//! the recomputed `R`, compressed, equal to the signature's bytes (so a
//! non-canonical `R` never verifies).

use alloc::boxed::Box;
use alloc::string::String;
use curve25519_dalek::constants::ED25519_BASEPOINT_POINT;
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsBasepointTable};
use curve25519_dalek::traits::BasepointTable;
use curve25519_dalek::Scalar;
use ed25519_dalek::VerifyingKey;
use once_cell::race::OnceBox;
use sha2::{Digest, Sha512};

use crate::key::MISMATCH;
use tessera_p256::key_table::KeyTable;

/// The base point's table, built once per process (with the first key's) and
/// shared by every key. curve25519-dalek's constant one would add 30 KiB of
/// incompressible data to every WebAssembly build.
static BASEPOINT: OnceBox<EdwardsBasepointTable> = OnceBox::new();

/// An Ed25519 public key (valid point, not of small order) for EdDSA.
#[derive(Clone)]
pub(crate) struct Ed25519Key {
    key: VerifyingKey,
    /// Multiples of `−A`, built once the key is in use.
    table: KeyTable<EdwardsBasepointTable>,
}

impl Ed25519Key {
    pub(crate) fn new(key: VerifyingKey) -> Ed25519Key {
        Ed25519Key {
            key,
            table: KeyTable::new(),
        }
    }

    pub(crate) fn verifying_key(&self) -> &VerifyingKey {
        &self.key
    }

    /// Checks a 64-byte `R‖s` signature over `message`.
    pub(crate) fn verify(&self, message: &[u8], sig: &[u8]) -> Result<(), String> {
        let bytes: &[u8; 64] = sig.try_into().map_err(|_| String::from(MISMATCH))?;
        let Some(table) = self
            .table
            .get_or_build(|| EdwardsBasepointTable::create(&-self.key.to_edwards()))
        else {
            let sig = ed25519_dalek::Signature::from_bytes(bytes);
            return self
                .key
                .verify_strict(message, &sig)
                .map_err(|_| String::from(MISMATCH));
        };
        let (r_bytes, s_bytes) = bytes.split_at(32);
        let r = CompressedEdwardsY::from_slice(r_bytes).map_err(|_| String::from(MISMATCH))?;
        let s = s_bytes.try_into().map_err(|_| String::from(MISMATCH))?;
        let s =
            Option::<Scalar>::from(Scalar::from_canonical_bytes(s)).ok_or_else(|| String::from(MISMATCH))?;
        let point = match r.decompress() {
            Some(point) if canonical_y(r_bytes) && !point.is_small_order() => point,
            _ => return Err(String::from(MISMATCH)),
        };
        let mut hash = Sha512::new();
        hash.update(r_bytes);
        hash.update(self.key.as_bytes());
        hash.update(message);
        let k = Scalar::from_bytes_mod_order_wide(&hash.finalize().into());
        let basepoint =
            BASEPOINT.get_or_init(|| Box::new(EdwardsBasepointTable::create(&ED25519_BASEPOINT_POINT)));
        // Compared as points (projectively: no inversion, which compressing
        // `expected` would need). `R` is canonical and not of small order (so
        // its x is not zero and its sign bit means what it says): equal
        // points are exactly `expected.compress() == R`.
        if basepoint * &s + table * &k == point {
            Ok(())
        } else {
            Err(String::from(MISMATCH))
        }
    }
}

/// The strict rules on the signature alone, checked before any cryptography
/// (by [`crate::PublicKey::precheck`], for every backend): `s` canonical
/// (below ℓ, RFC 8032 §5.1.7), `R` encoding its y canonically and not a point
/// of small order. With them, a host whose Ed25519 check is RFC 8032's
/// cofactorless equation with `R` compared as bytes (BoringSSL's, which
/// workerd's WebCrypto uses) gives exactly `verify_strict`'s verdicts: the
/// key's own order and encoding are checked when it is loaded.
pub(crate) fn precheck(sig: &[u8]) -> Result<(), String> {
    let (r, s) = sig.split_at(32);
    let canonical_s = s
        .try_into()
        .is_ok_and(|s| Scalar::from_canonical_bytes(s).is_some().into());
    if !canonical_s {
        return Err(String::from(
            "EdDSA signature has s not below the group order (a malleated signature, refused by RFC 8032)",
        ));
    }
    if !canonical_y(r) {
        return Err(String::from(
            "EdDSA signature's R is not canonically encoded (y not below 2^255 - 19)",
        ));
    }
    let mut y = [0u8; 32];
    y.copy_from_slice(r);
    y[31] &= 0x7f;
    if SMALL_ORDER_Y.contains(&y) {
        return Err(String::from("EdDSA signature's R is a point of small order"));
    }
    Ok(())
}

/// The y coordinates of the eight points of small order (with either sign of
/// x): `R` is of small order exactly when its canonical y is one of these.
const SMALL_ORDER_Y: [[u8; 32]; 5] = [
    // y = 1: the identity (and its "negative zero" encoding).
    [
        1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ],
    // y = p − 1: order 2.
    [
        0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f,
    ],
    // y = 0: order 4.
    [0; 32],
    // Order 8.
    [
        0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10, 0x67, 0x0f, 0x2a,
        0x20, 0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac, 0x03, 0x7a,
    ],
    [
        0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef, 0x98, 0xf0, 0xd5,
        0xdf, 0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53, 0xfc, 0x05,
    ],
];

/// Whether `R`'s bytes encode its y canonically: the low 255 bits (the top
/// bit is the sign of x) below p = 2^255 − 19. curve25519-dalek decodes
/// `y + p` as `y` (RFC 8032 §5.1.7 refuses it; `verify_strict` does by
/// comparing re-encoded bytes).
fn canonical_y(bytes: &[u8]) -> bool {
    !(bytes[31] & 0x7f == 0x7f && bytes[1..31].iter().all(|&b| b == 0xff) && bytes[0] >= 0xed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;
    use ed25519_dalek::{Signer, SigningKey};
    use tessera_p256::key_table::TABLE_AFTER;

    fn signing_key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    /// The table path and `verify_strict` agree on valid signatures and on
    /// every single-bit corruption of the signature and the message.
    #[test]
    fn tables_agree_with_verify_strict() {
        for seed in 1..4u8 {
            let signer = signing_key(seed);
            let key = Ed25519Key::new(signer.verifying_key());
            for round in 0..4u8 {
                let message = [round; 40];
                let sig = signer.sign(&message).to_bytes();
                // The first TABLE_AFTER checks go through verify_strict.
                assert_eq!(key.verify(&message, &sig), Ok(()));
                for bit in (0..512).step_by(7) {
                    let mut bad = sig;
                    bad[bit / 8] ^= 1 << (bit % 8);
                    let strict = signer
                        .verifying_key()
                        .verify_strict(&message, &ed25519_dalek::Signature::from_bytes(&bad))
                        .is_ok();
                    assert_eq!(key.verify(&message, &bad).is_ok(), strict, "bit {bit}");
                }
                let mut other = message;
                other[0] ^= 1;
                assert!(key.verify(&other, &sig).is_err());
            }
            assert!(key.table.built().is_some(), "the table was built");
        }
    }

    /// The list is exactly the y coordinates of curve25519-dalek's eight
    /// torsion points, and an `R` that decodes to one of them is refused
    /// before any cryptography, whatever the sign bit; other points pass.
    #[test]
    fn small_order_r_is_refused_by_its_encoding() {
        let ys: Vec<[u8; 32]> = curve25519_dalek::constants::EIGHT_TORSION
            .iter()
            .map(|t| {
                let mut y = t.compress().to_bytes();
                y[31] &= 0x7f;
                y
            })
            .collect();
        for y in &ys {
            assert!(SMALL_ORDER_Y.contains(y));
        }
        for y in &SMALL_ORDER_Y {
            assert!(ys.contains(y));
            for sign in [0, 0x80] {
                let mut sig = [0u8; 64];
                sig[..32].copy_from_slice(y);
                sig[31] |= sign;
                let why = precheck(&sig).unwrap_err();
                assert!(why.contains("small order"), "{why}");
            }
        }
        let signer = signing_key(3);
        let sig = signer.sign(b"message").to_bytes();
        assert_eq!(precheck(&sig), Ok(()));
    }

    #[test]
    fn y_encodings_below_p_are_canonical() {
        let with = |low: u8, middle: u8, top: u8| {
            let mut bytes = [middle; 32];
            bytes[0] = low;
            bytes[31] = top;
            bytes
        };
        assert!(canonical_y(&[0; 32]));
        assert!(canonical_y(&with(0xec, 0xff, 0x7f))); // p − 1
        assert!(canonical_y(&with(0xec, 0xff, 0xff))); // p − 1, x negative
        assert!(canonical_y(&with(0xff, 0xfe, 0x7f)));
        assert!(!canonical_y(&with(0xed, 0xff, 0x7f))); // p, which is 0
        assert!(!canonical_y(&with(0xee, 0xff, 0xff))); // p + 1, x negative
        assert!(!canonical_y(&with(0xff, 0xff, 0x7f))); // 2^255 − 1
    }

    /// `s + ℓ` verifies the same equation but is not canonical; a small-order
    /// `R` (here the identity) and a non-canonical `R` encoding are refused.
    #[test]
    fn malleable_and_small_order_signatures_are_refused() {
        let signer = signing_key(9);
        let key = Ed25519Key::new(signer.verifying_key());
        for _ in 0..TABLE_AFTER {
            key.verify(b"warm", &signer.sign(b"warm").to_bytes()).unwrap();
        }
        let message = b"message";
        let sig = signer.sign(message).to_bytes();
        assert_eq!(key.verify(message, &sig), Ok(()));
        assert!(key.table.built().is_some());

        // s + ℓ (little-endian addition; s < ℓ < 2^253, so no overflow of 256 bits).
        const L: [u8; 32] = [
            0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
            0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
        ];
        let mut malleable = sig;
        let mut carry = 0u16;
        for i in 0..32 {
            let sum = u16::from(malleable[32 + i]) + u16::from(L[i]) + carry;
            malleable[32 + i] = sum as u8;
            carry = sum >> 8;
        }
        assert!(key.verify(message, &malleable).is_err());

        // R = the identity (small order), s = k·a: the equation holds, so only the
        // small-order rule refuses it (verify_strict does too).
        let mut identity = [0u8; 64];
        identity[0] = 1;
        let mut hash = Sha512::new();
        hash.update(&identity[..32]);
        hash.update(signer.verifying_key().as_bytes());
        hash.update(message);
        let k = Scalar::from_bytes_mod_order_wide(&hash.finalize().into());
        identity[32..].copy_from_slice((k * signer.to_scalar()).as_bytes());
        let table = key.table.built().unwrap();
        let s = Scalar::from_canonical_bytes(identity[32..].try_into().unwrap()).unwrap();
        let basepoint = BASEPOINT.get().unwrap();
        assert_eq!(
            (basepoint * &s + table * &k).compress().as_bytes(),
            &identity[..32]
        );
        assert!(key.verify(message, &identity).is_err());
        let strict = ed25519_dalek::Signature::from_bytes(&identity);
        assert!(signer.verifying_key().verify_strict(message, &strict).is_err());

        // A non-canonical encoding of R: y + p (only possible for y < 19).
        // 2^255 − 19 + 1 encodes y = 1 non-canonically.
        let mut non_canonical = [0xffu8; 64];
        non_canonical[0] = 0xee;
        non_canonical[31] = 0x7f;
        non_canonical[32..].copy_from_slice(&[0; 32]);
        assert!(key.verify(message, &non_canonical).is_err());
    }
}
