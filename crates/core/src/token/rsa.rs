//! RSA public keys and signature verification (RSASSA-PKCS1-v1_5 and
//! RSASSA-PSS, RFC 8017), in pure Rust.
//!
//! Why not the `rsa` crate: its general-purpose big integers made an RS256
//! check ~50× the native floor once compiled to WASM, and they were the
//! largest part of the module. A public-key operation needs far less: `s^e mod
//! n` for a small odd `e` (65537: 16 squarings and one multiplication), which
//! this module does with Montgomery multiplication over a context computed once
//! per key (`-n⁻¹ mod 2^w` and `R² mod n`). Limbs are 64-bit natively and
//! 32-bit on 32-bit targets, where wasm32 has a native 32×32→64 multiply but
//! only emulated 64×64→128. (WebAssembly's wide-arithmetic proposal,
//! `i64.mul_wide_u`, would give wasm32 64-bit limbs too, a quarter of the
//! products, in the hosts that run it; Rust 1.95's LLVM miscompiles code built
//! for it, see `benches/RESULTS.md`, so no build here targets it.)
//!
//! Only public values are involved (key, signature, message), so nothing here
//! needs to run in constant time.

use alloc::vec;
use alloc::vec::Vec;
use sha2::digest::{Digest, FixedOutputReset};
use sha2::{Sha256, Sha384, Sha512};

#[cfg(target_pointer_width = "64")]
type Limb = u64;
#[cfg(target_pointer_width = "64")]
type Wide = u128;
#[cfg(not(target_pointer_width = "64"))]
type Limb = u32;
#[cfg(not(target_pointer_width = "64"))]
type Wide = u64;

const LIMB_BYTES: usize = core::mem::size_of::<Limb>();
const LIMB_BITS: u32 = Limb::BITS;

/// The padding and hash of an RSA signature.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Scheme {
    /// RSASSA-PKCS1-v1_5 with SHA-256, -384 or -512 (`RS256`…).
    Pkcs1(Hash),
    /// RSASSA-PSS with MGF1 of the same hash and a salt as long as the hash (`PS256`…).
    Pss(Hash),
}

/// The hash of an RSA scheme.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Hash {
    Sha256,
    Sha384,
    Sha512,
}

/// An RSA public key with its Montgomery context.
#[derive(Clone)]
pub(crate) struct RsaKey {
    /// The modulus, big-endian, without leading zeros.
    n_be: Vec<u8>,
    /// The public exponent (odd, > 1).
    e: u32,
    /// The modulus in little-endian limbs.
    n: Vec<Limb>,
    /// `-n⁻¹ mod 2^LIMB_BITS`.
    n0: Limb,
    /// `R² mod n` with `R = 2^(LIMB_BITS · limbs)`: multiplying by it enters
    /// the Montgomery domain.
    rr: Vec<Limb>,
}

impl RsaKey {
    /// A key from its big-endian modulus (odd, no leading zeros, at least 2
    /// bytes) and exponent. The caller enforces size and exponent rules.
    pub(crate) fn new(n_be: &[u8], e: u32) -> RsaKey {
        let n = limbs(n_be, n_be.len().div_ceil(LIMB_BYTES));
        // Newton's iteration for n[0]⁻¹ mod 2^w: each step doubles the correct
        // low bits, and an odd x is its own inverse mod 8 (3 bits to start).
        let mut inv: Limb = n[0];
        for _ in 0..5 {
            inv = inv.wrapping_mul((2 as Limb).wrapping_sub(n[0].wrapping_mul(inv)));
        }
        let mut key = RsaKey {
            n_be: n_be.to_vec(),
            e,
            n0: inv.wrapping_neg(),
            rr: Vec::new(),
            n,
        };
        key.rr = key.r_squared();
        key
    }

    /// `R² mod n`: `2R mod n` (the Montgomery form of 2) by doubling from the
    /// top bit of `n`, then raised to the power `log2 R` in the Montgomery domain,
    /// which gives the Montgomery form of `R`, that is `R²`.
    fn r_squared(&self) -> Vec<Limb> {
        let s = self.n.len();
        let bits = 8 * self.n_be.len() - self.n_be[0].leading_zeros() as usize;
        let r_bits = s * LIMB_BITS as usize;
        let mut x = vec![0; s];
        x[(bits - 1) / LIMB_BITS as usize] = 1 << ((bits - 1) % LIMB_BITS as usize);
        for _ in 0..=(r_bits - bits + 1) {
            let carry = shl1(&mut x);
            if carry || !less(&x, &self.n) {
                sub_in_place(&mut x, &self.n);
            }
        }
        self.pow_mont(&x, r_bits as u64)
    }

    /// The modulus length in bytes (the signature length).
    pub(crate) fn size(&self) -> usize {
        self.n_be.len()
    }

    /// The modulus length in bits.
    pub(crate) fn bits(&self) -> usize {
        8 * self.n_be.len() - self.n_be[0].leading_zeros() as usize
    }

    /// The key as DER SubjectPublicKeyInfo (rsaEncryption, RFC 3279).
    pub(crate) fn spki_der(&self) -> Vec<u8> {
        let rsa_public_key = der(
            0x30,
            &[der_uint(&self.n_be), der_uint(&self.e.to_be_bytes())].concat(),
        );
        let algorithm = [
            0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
        ];
        let bit_string = der(0x03, &[&[0u8][..], &rsa_public_key].concat());
        der(0x30, &[&algorithm[..], &bit_string].concat())
    }

    /// Whether `sig` is a valid signature of `message` under `scheme`. The
    /// caller has checked that `sig` is [`RsaKey::size`] bytes long.
    pub(crate) fn verify(&self, scheme: Scheme, message: &[u8], sig: &[u8]) -> bool {
        let Some(em) = self.public_op(sig) else {
            return false;
        };
        match scheme {
            Scheme::Pkcs1(Hash::Sha256) => pkcs1_matches::<Sha256>(&em, message, &SHA256_PREFIX),
            Scheme::Pkcs1(Hash::Sha384) => pkcs1_matches::<Sha384>(&em, message, &SHA384_PREFIX),
            Scheme::Pkcs1(Hash::Sha512) => pkcs1_matches::<Sha512>(&em, message, &SHA512_PREFIX),
            Scheme::Pss(Hash::Sha256) => pss_matches::<Sha256>(&em, message, self.bits() - 1),
            Scheme::Pss(Hash::Sha384) => pss_matches::<Sha384>(&em, message, self.bits() - 1),
            Scheme::Pss(Hash::Sha512) => pss_matches::<Sha512>(&em, message, self.bits() - 1),
        }
    }

    /// `sig^e mod n` as big-endian bytes of the modulus length, or `None` when
    /// the signature is not below the modulus (RFC 8017 §5.2.2).
    fn public_op(&self, sig: &[u8]) -> Option<Vec<u8>> {
        let s = limbs(sig, self.n.len());
        if !less(&s, &self.n) {
            return None;
        }
        let base = self.mont_mul(&s, &self.rr);
        let power = self.pow_mont(&base, u64::from(self.e));
        let mut one = vec![0; self.n.len()];
        one[0] = 1;
        let m = self.mont_mul(&power, &one);
        Some(to_be_bytes(&m, self.n_be.len()))
    }

    /// `base^exp` in the Montgomery domain (`base` and the result in Montgomery
    /// form), left to right; `exp` ≥ 1.
    fn pow_mont(&self, base: &[Limb], exp: u64) -> Vec<Limb> {
        let mut acc = base.to_vec();
        let mut out = vec![0; self.n.len()];
        let mut t = vec![0; self.n.len() + 2];
        for bit in (0..63 - exp.leading_zeros()).rev() {
            self.mont_mul_into(&acc, &acc, &mut out, &mut t);
            if exp >> bit & 1 == 1 {
                self.mont_mul_into(&out, base, &mut acc, &mut t);
            } else {
                core::mem::swap(&mut acc, &mut out);
            }
        }
        acc
    }

    /// `a · b · R⁻¹ mod n` for `a, b < n`.
    fn mont_mul(&self, a: &[Limb], b: &[Limb]) -> Vec<Limb> {
        let mut out = vec![0; self.n.len()];
        self.mont_mul_into(a, b, &mut out, &mut vec![0; self.n.len() + 2]);
        out
    }

    /// `out = a · b · R⁻¹ mod n` for `a, b < n`, with scratch `t` of `limbs + 2`.
    /// Finely integrated operand scanning: one pass per limb of `b` both adds
    /// `a · b[i]` and the multiple of `n` that clears the low limb, then shifts.
    fn mont_mul_into(&self, a: &[Limb], b: &[Limb], out: &mut [Limb], t: &mut [Limb]) {
        let n = &self.n[..];
        let s = n.len();
        let (a, out, t) = (&a[..s], &mut out[..s], &mut t[..s + 2]);
        t.fill(0);
        for &bi in &b[..s] {
            let bi = Wide::from(bi);
            let x = Wide::from(t[0]) + Wide::from(a[0]) * bi;
            let mut c1 = x >> LIMB_BITS;
            let m = Wide::from((x as Limb).wrapping_mul(self.n0));
            let mut c2 = (Wide::from(x as Limb) + m * Wide::from(n[0])) >> LIMB_BITS;
            // t[j-1] = low limb of t[j] + a[j]·b[i] + m·n[j] + carries (iterators:
            // no bounds checks in the loop that is the whole cost).
            let mut limbs = t[..s].iter_mut();
            let mut prev = limbs.next().expect("a modulus has limbs");
            for ((tj, &aj), &nj) in limbs.zip(&a[1..]).zip(&n[1..]) {
                let x = Wide::from(*tj) + Wide::from(aj) * bi + c1;
                c1 = x >> LIMB_BITS;
                let y = Wide::from(x as Limb) + m * Wide::from(nj) + c2;
                c2 = y >> LIMB_BITS;
                *prev = y as Limb;
                prev = tj;
            }
            let x = Wide::from(t[s]) + c1 + c2;
            t[s - 1] = x as Limb;
            t[s] = (x >> LIMB_BITS) as Limb;
        }
        out.copy_from_slice(&t[..s]);
        // The result is below 2n: one subtraction at most.
        if t[s] != 0 || !less(out, n) {
            sub_in_place(out, n);
        }
    }
}

/// Big-endian bytes as `count` little-endian limbs (the bytes must fit).
fn limbs(be: &[u8], count: usize) -> Vec<Limb> {
    let mut out = vec![0 as Limb; count];
    for (i, &byte) in be.iter().rev().enumerate() {
        out[i / LIMB_BYTES] |= Limb::from(byte) << (8 * (i % LIMB_BYTES));
    }
    out
}

/// Little-endian limbs as `len` big-endian bytes (the value must fit).
fn to_be_bytes(x: &[Limb], len: usize) -> Vec<u8> {
    let mut out = vec![0u8; len];
    for (i, byte) in out.iter_mut().rev().enumerate() {
        *byte = (x[i / LIMB_BYTES] >> (8 * (i % LIMB_BYTES))) as u8;
    }
    out
}

/// `a < b` for equal-length little-endian numbers.
fn less(a: &[Limb], b: &[Limb]) -> bool {
    for (x, y) in a.iter().rev().zip(b.iter().rev()) {
        if x != y {
            return x < y;
        }
    }
    false
}

/// `a -= b` modulo `R` (the borrow out is dropped: callers subtract only when
/// the true value is at least `b`).
fn sub_in_place(a: &mut [Limb], b: &[Limb]) {
    let mut borrow = false;
    for (x, &y) in a.iter_mut().zip(b) {
        let (d, b1) = x.overflowing_sub(y);
        let (d, b2) = d.overflowing_sub(Limb::from(borrow));
        *x = d;
        borrow = b1 || b2;
    }
}

/// `a <<= 1`, returning the bit shifted out.
fn shl1(a: &mut [Limb]) -> bool {
    let mut carry = 0;
    for x in a.iter_mut() {
        let next = *x >> (LIMB_BITS - 1);
        *x = (*x << 1) | carry;
        carry = next;
    }
    carry == 1
}

/// DER TLV with a definite length.
fn der(tag: u8, content: &[u8]) -> Vec<u8> {
    let len = content.len();
    let mut out = vec![tag];
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
    out
}

/// A DER INTEGER for an unsigned big-endian value.
fn der_uint(be: &[u8]) -> Vec<u8> {
    let first = be
        .iter()
        .position(|&b| b != 0)
        .unwrap_or(be.len().saturating_sub(1));
    let be = &be[first..];
    if be.first().is_some_and(|&b| b & 0x80 != 0) {
        der(0x02, &[&[0u8][..], be].concat())
    } else {
        der(0x02, be)
    }
}

// DigestInfo prefixes (RFC 8017 §9.2, note 1).
const SHA256_PREFIX: [u8; 19] = [
    0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00,
    0x04, 0x20,
];
const SHA384_PREFIX: [u8; 19] = [
    0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x05, 0x00,
    0x04, 0x30,
];
const SHA512_PREFIX: [u8; 19] = [
    0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03, 0x05, 0x00,
    0x04, 0x40,
];

/// EMSA-PKCS1-v1_5 (RFC 8017 §9.2): `em` must be exactly
/// `00 01 FF…FF 00 DigestInfo(H(message))`, with at least 8 bytes of `FF`.
fn pkcs1_matches<D: Digest>(em: &[u8], message: &[u8], prefix: &[u8]) -> bool {
    let hash = D::digest(message);
    let t_len = prefix.len() + hash.len();
    if em.len() < t_len + 11 {
        return false;
    }
    let (head, t) = em.split_at(em.len() - t_len);
    head[0] == 0
        && head[1] == 1
        && head[2..head.len() - 1].iter().all(|&b| b == 0xff)
        && head[head.len() - 1] == 0
        && t[..prefix.len()] == *prefix
        && t[prefix.len()..] == hash[..]
}

/// EMSA-PSS-VERIFY (RFC 8017 §9.1.2) with MGF1 over `D` and a salt as long as
/// the hash (RFC 7518 §3.5). `em` is the public operation's output (the
/// modulus length); `em_bits` is the modulus length in bits minus one.
fn pss_matches<D: Digest + FixedOutputReset>(em: &[u8], message: &[u8], em_bits: usize) -> bool {
    let h_len = <D as Digest>::output_size();
    let s_len = h_len;
    let em_len = em_bits.div_ceil(8);
    // With em_bits a multiple of 8 the output has one more byte, which must be 0.
    let em = match em.len() - em_len {
        0 => em,
        1 if em[0] == 0 => &em[1..],
        _ => return false,
    };
    if em_len < h_len + s_len + 2 || em[em_len - 1] != 0xbc {
        return false;
    }
    let (masked_db, rest) = em.split_at(em_len - h_len - 1);
    let h = &rest[..h_len];
    let top_mask = 0xffu8 >> (8 * em_len - em_bits);
    if masked_db[0] & !top_mask != 0 {
        return false;
    }
    // DB = maskedDB xor MGF1(H), top bits cleared.
    let mut db = masked_db.to_vec();
    let mut hasher = D::new();
    for (counter, chunk) in db.chunks_mut(h_len).enumerate() {
        Digest::update(&mut hasher, h);
        Digest::update(&mut hasher, (counter as u32).to_be_bytes());
        let mask = hasher.finalize_reset();
        for (byte, m) in chunk.iter_mut().zip(mask.iter()) {
            *byte ^= m;
        }
    }
    db[0] &= top_mask;
    let ps_len = em_len - h_len - s_len - 2;
    if db[..ps_len].iter().any(|&b| b != 0) || db[ps_len] != 1 {
        return false;
    }
    let salt = &db[ps_len + 1..];
    let m_hash = D::digest(message);
    Digest::update(&mut hasher, [0u8; 8]);
    Digest::update(&mut hasher, &m_hash);
    Digest::update(&mut hasher, salt);
    hasher.finalize_reset()[..] == *h
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 2048-bit modulus (RFC 7515 Appendix A.2's key), big-endian.
    fn rfc_modulus() -> Vec<u8> {
        crate::b64::decode(
            "ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ",
        )
        .unwrap()
    }

    #[test]
    fn the_montgomery_context_is_right() {
        let n = rfc_modulus();
        let key = RsaKey::new(&n, 65537);
        // n · (-n0) ≡ 1 mod 2^w
        assert_eq!(key.n[0].wrapping_mul(key.n0.wrapping_neg()), 1);
        // mont_mul(x, R² ) = x·R, and mont_mul(x·R, 1) = x: a round trip.
        let mut x = vec![0 as Limb; key.n.len()];
        x[0] = 12345;
        x[3] = 678;
        let xr = key.mont_mul(&x, &key.rr);
        let mut one = vec![0 as Limb; key.n.len()];
        one[0] = 1;
        assert_eq!(key.mont_mul(&xr, &one), x);
        // (x^e)^... : 2^e mod n computed two ways agree: by the public
        // operation, and by repeated modular doubling.
        let two = to_be_bytes(
            &{
                let mut t = vec![0 as Limb; key.n.len()];
                t[0] = 2;
                t
            },
            n.len(),
        );
        let by_pow = key.public_op(&two).unwrap();
        let mut by_doubling = vec![0 as Limb; key.n.len()];
        by_doubling[0] = 1;
        for _ in 0..65537 {
            let carry = shl1(&mut by_doubling);
            if carry || !less(&by_doubling, &key.n) {
                sub_in_place(&mut by_doubling, &key.n);
            }
        }
        assert_eq!(by_pow, to_be_bytes(&by_doubling, n.len()));
    }

    #[test]
    fn a_signature_not_below_the_modulus_is_refused() {
        let n = rfc_modulus();
        let key = RsaKey::new(&n, 65537);
        assert!(key.public_op(&n).is_none());
        assert!(key.public_op(&[0xff; 256]).is_none());
    }

    #[test]
    fn der_integers_are_minimal_and_positive() {
        assert_eq!(
            der_uint(&[0x00, 0x01, 0x00, 0x01]),
            [0x02, 0x03, 0x01, 0x00, 0x01]
        );
        assert_eq!(der_uint(&[0x80]), [0x02, 0x02, 0x00, 0x80]);
        assert_eq!(der(0x04, &[0; 300])[..4], [0x04, 0x82, 0x01, 0x2c]);
    }
}
