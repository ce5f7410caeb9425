//! The P-256 group law for ES256's comb tables.
//!
//! A table is built with [`Point`] (complete projective additions) and
//! stored as [`Entry`]s (affine: one inversion for the whole table); a check
//! adds entries into a [`Sum`] and compares its x with `r` without leaving
//! its coordinates.
//!
//! On 64-bit targets all three are `p256`'s own (64-bit limbs, 128-bit
//! products: native there; the sum is projective and adds entries with
//! `p256`'s complete mixed formula). On 32-bit targets (wasm32) they are
//! [`Point32`], [`Affine32`] and [`Jacobian32`]: `p256` 0.13 implements its
//! 32-bit field with the same 64-bit limbs and 128-bit products, which wasm32
//! has no instruction for (each is a call to a software multiply; one field
//! multiplication cost ~230 ns in wasmtime). There a field element is eight
//! 32-bit limbs in Montgomery form and every product is one native 32×32→64
//! multiply; [`Point32`] uses the complete formulas `p256` uses
//! (Renes–Costello–Batina 2015, algorithm 4, `a = −3`: 14 multiplications),
//! and [`Jacobian32`] adds an affine entry in 11 (`madd-2007-bl`), with its
//! exceptional cases (equal or opposite points) handled separately.
//! Everything here handles public values only (keys, signatures), so nothing
//! needs constant time. The 32-bit types are built and tested against `p256`
//! on every target.
#![cfg_attr(not(target_pointer_width = "32"), allow(dead_code))]

use alloc::vec;
use alloc::vec::Vec;
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::elliptic_curve::PrimeField;
use p256::{AffinePoint, FieldBytes, Scalar};

/// The point type ES256's tables are built with on this target.
#[cfg(target_pointer_width = "32")]
pub(crate) type Point = Point32;
/// The point type ES256's tables are built with on this target.
#[cfg(not(target_pointer_width = "32"))]
pub(crate) type Point = Point64;

/// A table entry on this target: an affine point, never the identity.
#[cfg(target_pointer_width = "32")]
pub(crate) type Entry = Affine32;
/// A table entry on this target: an affine point, never the identity.
#[cfg(not(target_pointer_width = "32"))]
pub(crate) type Entry = AffinePoint;

/// The running sum of a check on this target.
#[cfg(target_pointer_width = "32")]
pub(crate) type Sum = Jacobian32;
/// The running sum of a check on this target.
#[cfg(not(target_pointer_width = "32"))]
pub(crate) type Sum = Sum64;

/// `p256`'s projective point behind the same interface as [`Point32`].
#[cfg(any(test, not(target_pointer_width = "32")))]
#[derive(Clone, Copy, Debug)]
pub(crate) struct Point64(p256::ProjectivePoint);

#[cfg(any(test, not(target_pointer_width = "32")))]
impl Point64 {
    pub(crate) const IDENTITY: Point64 = Point64(p256::ProjectivePoint::IDENTITY);

    pub(crate) fn from_affine(point: &AffinePoint) -> Point64 {
        Point64(point.into())
    }

    pub(crate) fn add(&self, other: &Point64) -> Point64 {
        Point64(self.0 + other.0)
    }

    #[cfg(test)]
    pub(crate) fn neg(&self) -> Point64 {
        Point64(-self.0)
    }

    /// The affine x coordinate, or `None` for the identity.
    pub(crate) fn affine_x(&self) -> Option<FieldBytes> {
        use p256::elliptic_curve::point::AffineCoordinates;
        let affine = self.0.to_affine();
        (!bool::from(affine.is_identity())).then(|| affine.x())
    }

    /// The points in affine form, with one inversion for all of them.
    pub(crate) fn entries(points: &[Point64]) -> Vec<AffinePoint> {
        use p256::elliptic_curve::group::Curve;
        let projective: Vec<p256::ProjectivePoint> = points.iter().map(|p| p.0).collect();
        let mut affine = vec![AffinePoint::IDENTITY; points.len()];
        p256::ProjectivePoint::batch_normalize(&projective, &mut affine);
        affine
    }
}

/// `p256`'s projective point as the sum of a check.
#[cfg(any(test, not(target_pointer_width = "32")))]
#[derive(Clone, Copy, Debug)]
pub(crate) struct Sum64(p256::ProjectivePoint);

#[cfg(any(test, not(target_pointer_width = "32")))]
impl Sum64 {
    pub(crate) const IDENTITY: Sum64 = Sum64(p256::ProjectivePoint::IDENTITY);

    /// `self += entry`, or `−entry` if `negative`.
    pub(crate) fn add(&mut self, entry: &AffinePoint, negative: bool) {
        self.0 += if negative { -*entry } else { *entry };
    }

    /// `self = 2·self`.
    pub(crate) fn double(&mut self) {
        use p256::elliptic_curve::group::Group;
        self.0 = self.0.double();
    }

    /// Whether the sum is not the identity and `x mod n = r` (ECDSA's final
    /// check; `r < n`).
    pub(crate) fn x_mod_n_is(&self, r: &Scalar) -> bool {
        use p256::elliptic_curve::ops::Reduce;
        Point64(self.0)
            .affine_x()
            .is_some_and(|x| <Scalar as Reduce<p256::U256>>::reduce_bytes(&x) == *r)
    }

    #[cfg(test)]
    pub(crate) fn affine_x(&self) -> Option<FieldBytes> {
        Point64(self.0).affine_x()
    }
}

/// A field element mod p, in Montgomery form (`x·2^256 mod p`), little-endian limbs.
pub(crate) type Fe = [u32; 8];

/// p = 2^256 − 2^224 + 2^192 + 2^96 − 1.
const P: Fe = [0xffff_ffff, 0xffff_ffff, 0xffff_ffff, 0, 0, 0, 1, 0xffff_ffff];

/// n, the group order, as eight 32-bit limbs (not a field element: ECDSA's
/// `r + n` candidate).
const N: Fe = {
    let mut out = [0u32; 8];
    let mut i = 0;
    while i < 8 {
        out[i] = (crate::N[i / 2] >> (32 * (i % 2))) as u32;
        i += 1;
    }
    out
};

/// `2^256 mod p`: one, in Montgomery form.
const ONE: Fe = sub_p(&[0; 8]);

/// `2^512 mod p`, to enter Montgomery form.
const R2: Fe = {
    let mut r = ONE;
    let mut i = 0;
    while i < 256 {
        r = add(&r, &r);
        i += 1;
    }
    r
};

/// The curve's `b`, in Montgomery form.
const B: Fe = mul(
    &from_be(&[
        0x5a, 0xc6, 0x35, 0xd8, 0xaa, 0x3a, 0x93, 0xe7, 0xb3, 0xeb, 0xbd, 0x55, 0x76, 0x98, 0x86, 0xbc, 0x65,
        0x1d, 0x06, 0xb0, 0xcc, 0x53, 0xb0, 0xf6, 0x3b, 0xce, 0x3c, 0x3e, 0x27, 0xd2, 0x60, 0x4b,
    ]),
    &R2,
);

/// Big-endian bytes as limbs (not reduced, not in Montgomery form).
const fn from_be(bytes: &[u8; 32]) -> Fe {
    let mut out = [0u32; 8];
    let mut i = 0;
    while i < 8 {
        let k = 28 - 4 * i;
        out[i] = u32::from_be_bytes([bytes[k], bytes[k + 1], bytes[k + 2], bytes[k + 3]]);
        i += 1;
    }
    out
}

/// `a + b` over the eight limbs, and the carry out.
#[inline(always)]
const fn adc(a: &Fe, b: &Fe) -> (Fe, bool) {
    let mut out = [0u32; 8];
    let mut carry = 0u64;
    let mut i = 0;
    while i < 8 {
        let s = a[i] as u64 + b[i] as u64 + carry;
        out[i] = s as u32;
        carry = s >> 32;
        i += 1;
    }
    (out, carry != 0)
}

/// `a − b` over the eight limbs (wrapping), and the borrow out.
#[inline(always)]
const fn sbb(a: &Fe, b: &Fe) -> (Fe, bool) {
    let mut out = [0u32; 8];
    let mut borrow = 0u64;
    let mut i = 0;
    while i < 8 {
        let d = (a[i] as u64).wrapping_sub(b[i] as u64).wrapping_sub(borrow);
        out[i] = d as u32;
        borrow = (d >> 63) & 1;
        i += 1;
    }
    (out, borrow != 0)
}

/// `a − p mod 2^256`. Where `a` stands for `a + 2^256` (a carry out of the
/// eight limbs), the wrapped result is still the right one: callers only
/// subtract when the true value is in `[p, 2p)`.
const fn sub_p(a: &Fe) -> Fe {
    sbb(a, &P).0
}

/// Whether `a ≥ p`.
const fn geq_p(a: &Fe) -> bool {
    let mut i = 8;
    while i > 0 {
        i -= 1;
        if a[i] != P[i] {
            return a[i] > P[i];
        }
    }
    true
}

/// `a + b mod p` for `a, b < p`.
pub(crate) const fn add(a: &Fe, b: &Fe) -> Fe {
    let (out, carry) = adc(a, b);
    if carry || geq_p(&out) {
        sub_p(&out)
    } else {
        out
    }
}

/// `a − b mod p` for `a, b < p`.
pub(crate) const fn sub(a: &Fe, b: &Fe) -> Fe {
    let (out, borrow) = sbb(a, b);
    // Below zero: add p back (the carry out cancels the borrow).
    if borrow {
        adc(&out, &P).0
    } else {
        out
    }
}

/// `a·b·2^−256 mod p` (Montgomery multiplication, operand scanning with the
/// reduction interleaved; `−p⁻¹ mod 2^32 = 1` because p ≡ −1 mod 2^32).
pub(crate) const fn mul(a: &Fe, b: &Fe) -> Fe {
    let mut t = [0u32; 10];
    let mut i = 0;
    while i < 8 {
        let bi = b[i] as u64;
        let mut c = 0u64;
        let mut j = 0;
        while j < 8 {
            let x = t[j] as u64 + a[j] as u64 * bi + c;
            t[j] = x as u32;
            c = x >> 32;
            j += 1;
        }
        let x = t[8] as u64 + c;
        t[8] = x as u32;
        t[9] = (x >> 32) as u32;
        // m = t[0]·(−p⁻¹) mod 2^32 = t[0]; add m·p and shift one limb down.
        let m = t[0] as u64;
        let x = t[0] as u64 + m * P[0] as u64;
        let mut c = x >> 32;
        let mut j = 1;
        while j < 8 {
            let x = t[j] as u64 + m * P[j] as u64 + c;
            t[j - 1] = x as u32;
            c = x >> 32;
            j += 1;
        }
        let x = t[8] as u64 + c;
        t[7] = x as u32;
        let x = t[9] as u64 + (x >> 32);
        t[8] = x as u32;
        t[9] = 0;
        i += 1;
    }
    let out = [t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7]];
    // The result is below 2p: at most one subtraction.
    if t[8] != 0 || geq_p(&out) {
        sub_p(&out)
    } else {
        out
    }
}

/// Big-endian bytes of a coordinate below p, into Montgomery form.
pub(crate) fn from_bytes(bytes: &[u8; 32]) -> Fe {
    mul(&from_be(bytes), &R2)
}

fn is_zero(a: &Fe) -> bool {
    a.iter().all(|&l| l == 0)
}

/// A point in projective coordinates `(X : Y : Z)`, `x = X/Z`, `y = Y/Z`, on
/// 32-bit limbs; the identity is `(0 : 1 : 0)`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Point32 {
    x: Fe,
    y: Fe,
    z: Fe,
}

impl Point32 {
    #[cfg(test)]
    pub(crate) const IDENTITY: Point32 = Point32 {
        x: [0; 8],
        y: ONE,
        z: [0; 8],
    };

    /// A validated affine point (a public key, checked when it was imported;
    /// the generator). The identity has no affine form in `p256`.
    pub(crate) fn from_affine(point: &AffinePoint) -> Point32 {
        let encoded = point.to_encoded_point(false);
        let coordinate = |c: Option<&FieldBytes>| {
            let mut out = [0u8; 32];
            out.copy_from_slice(c.map(|c| &c[..]).unwrap_or(&[0; 32]));
            from_bytes(&out)
        };
        Point32 {
            x: coordinate(encoded.x()),
            y: coordinate(encoded.y()),
            z: ONE,
        }
    }

    /// `−self`: `(X : −Y : Z)`.
    #[cfg(test)]
    pub(crate) fn neg(&self) -> Point32 {
        Point32 {
            x: self.x,
            y: sub(&[0; 8], &self.y),
            z: self.z,
        }
    }

    /// `self + other`: complete addition (also doubles, and handles the identity).
    pub(crate) fn add(&self, other: &Point32) -> Point32 {
        let (l, r) = (self, other);
        let xx = mul(&l.x, &r.x);
        let yy = mul(&l.y, &r.y);
        let zz = mul(&l.z, &r.z);
        let xy_pairs = sub(&mul(&add(&l.x, &l.y), &add(&r.x, &r.y)), &add(&xx, &yy));
        let yz_pairs = sub(&mul(&add(&l.y, &l.z), &add(&r.y, &r.z)), &add(&yy, &zz));
        let xz_pairs = sub(&mul(&add(&l.x, &l.z), &add(&r.x, &r.z)), &add(&xx, &zz));

        let bzz_part = sub(&xz_pairs, &mul(&B, &zz));
        let bzz3_part = add(&add(&bzz_part, &bzz_part), &bzz_part);
        let yy_m_bzz3 = sub(&yy, &bzz3_part);
        let yy_p_bzz3 = add(&yy, &bzz3_part);

        let zz3 = add(&add(&zz, &zz), &zz);
        let bxz_part = sub(&mul(&B, &xz_pairs), &add(&zz3, &xx));
        let bxz3_part = add(&add(&bxz_part, &bxz_part), &bxz_part);
        let xx3_m_zz3 = sub(&add(&add(&xx, &xx), &xx), &zz3);

        Point32 {
            x: sub(&mul(&yy_p_bzz3, &xy_pairs), &mul(&yz_pairs, &bxz3_part)),
            y: add(&mul(&yy_p_bzz3, &yy_m_bzz3), &mul(&xx3_m_zz3, &bxz3_part)),
            z: add(&mul(&yy_m_bzz3, &yz_pairs), &mul(&xy_pairs, &xx3_m_zz3)),
        }
    }

    /// The points in affine form (none may be the identity), with one
    /// inversion for all of them (Montgomery's trick: three multiplications
    /// a point).
    pub(crate) fn entries(points: &[Point32]) -> Vec<Affine32> {
        let mut prefix = Vec::with_capacity(points.len());
        let mut product = ONE;
        for point in points {
            product = mul(&product, &point.z);
            prefix.push(product);
        }
        // inverse = (z_0 · … · z_i)⁻¹ as i walks down.
        let mut inverse = invert(&product);
        let mut out = vec![Affine32 { x: [0; 8], y: [0; 8] }; points.len()];
        for (i, point) in points.iter().enumerate().rev() {
            let z_inv = match i {
                0 => inverse,
                _ => mul(&inverse, &prefix[i - 1]),
            };
            inverse = mul(&inverse, &point.z);
            out[i] = Affine32 {
                x: mul(&point.x, &z_inv),
                y: mul(&point.y, &z_inv),
            };
        }
        out
    }
}

/// `a^(p−2) = a⁻¹` (Fermat), or zero for zero.
fn invert(a: &Fe) -> Fe {
    // p − 2, most significant limb first.
    const E: [u32; 8] = [0xffff_ffff, 1, 0, 0, 0, 0xffff_ffff, 0xffff_ffff, 0xffff_fffd];
    let mut acc = ONE;
    for limb in E {
        for bit in (0..32).rev() {
            acc = mul(&acc, &acc);
            if limb >> bit & 1 == 1 {
                acc = mul(&acc, a);
            }
        }
    }
    acc
}

/// An affine point `(x, y)` on 32-bit limbs (a table entry; never the identity).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Affine32 {
    x: Fe,
    y: Fe,
}

/// A point in Jacobian coordinates `(X : Y : Z)`, `x = X/Z²`, `y = Y/Z³`, on
/// 32-bit limbs; the identity has `Z = 0`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Jacobian32 {
    x: Fe,
    y: Fe,
    z: Fe,
}

impl Jacobian32 {
    pub(crate) const IDENTITY: Jacobian32 = Jacobian32 {
        x: ONE,
        y: ONE,
        z: [0; 8],
    };

    /// `self += entry`, or `−entry` if `negative`: `madd-2007-bl` (7
    /// multiplications, 4 squarings), with the identity, equal points and
    /// opposite points taken apart first.
    pub(crate) fn add(&mut self, entry: &Affine32, negative: bool) {
        let (x2, y2) = (entry.x, if negative { sub(&[0; 8], &entry.y) } else { entry.y });
        if is_zero(&self.z) {
            *self = Jacobian32 { x: x2, y: y2, z: ONE };
            return;
        }
        let z1z1 = mul(&self.z, &self.z);
        let h = sub(&mul(&x2, &z1z1), &self.x);
        let s = sub(&mul(&y2, &mul(&self.z, &z1z1)), &self.y);
        if is_zero(&h) {
            // Same x: the same point (double it) or its opposite (the identity).
            *self = if is_zero(&s) {
                Jacobian32::double_affine(&x2, &y2)
            } else {
                Jacobian32::IDENTITY
            };
            return;
        }
        let r = add(&s, &s);
        let hh = mul(&h, &h);
        let hh2 = add(&hh, &hh);
        let i = add(&hh2, &hh2);
        let j = mul(&h, &i);
        let v = mul(&self.x, &i);
        let x3 = sub(&sub(&mul(&r, &r), &j), &add(&v, &v));
        let y1j = mul(&self.y, &j);
        let y3 = sub(&mul(&r, &sub(&v, &x3)), &add(&y1j, &y1j));
        let z1h = add(&self.z, &h);
        let z3 = sub(&sub(&mul(&z1h, &z1h), &z1z1), &hh);
        *self = Jacobian32 { x: x3, y: y3, z: z3 };
    }

    /// `2·(x, y)` for an affine point: only reached when a sum meets the
    /// entry it adds.
    fn double_affine(x: &Fe, y: &Fe) -> Jacobian32 {
        let mut point = Jacobian32 { x: *x, y: *y, z: ONE };
        point.double();
        point
    }

    /// `self = 2·self` (`dbl-2001-b`, `a = −3`: 3 multiplications, 5
    /// squarings); the identity stays the identity (`Z` stays zero).
    pub(crate) fn double(&mut self) {
        let delta = mul(&self.z, &self.z);
        let gamma = mul(&self.y, &self.y);
        let beta = mul(&self.x, &gamma);
        let alpha = {
            let t = mul(&sub(&self.x, &delta), &add(&self.x, &delta));
            add(&add(&t, &t), &t)
        };
        let beta2 = add(&beta, &beta);
        let beta4 = add(&beta2, &beta2);
        let x3 = sub(&mul(&alpha, &alpha), &add(&beta4, &beta4));
        let yz = add(&self.y, &self.z);
        let z3 = sub(&sub(&mul(&yz, &yz), &gamma), &delta);
        let gamma2 = mul(&gamma, &gamma);
        let gamma2_2 = add(&gamma2, &gamma2);
        let gamma2_4 = add(&gamma2_2, &gamma2_2);
        let y3 = sub(&mul(&alpha, &sub(&beta4, &x3)), &add(&gamma2_4, &gamma2_4));
        *self = Jacobian32 { x: x3, y: y3, z: z3 };
    }

    /// Whether the sum is not the identity and `x mod n = r` (ECDSA's final
    /// check; `r < n`), without an inversion (~270 multiplications): `x =
    /// X/Z²` is `r` or `r + n` (the only other value below p) exactly when
    /// `X = r·Z²` or `X = (r + n)·Z²`.
    pub(crate) fn x_mod_n_is(&self, r: &Scalar) -> bool {
        if is_zero(&self.z) {
            return false;
        }
        let zz = mul(&self.z, &self.z);
        let r = from_be(&r.to_repr().into());
        let is_x = |candidate: &Fe| mul(&mul(candidate, &R2), &zz) == self.x;
        if is_x(&r) {
            return true;
        }
        let (r_plus_n, carry) = adc(&r, &N);
        !carry && !geq_p(&r_plus_n) && is_x(&r_plus_n)
    }

    /// The affine x coordinate, or `None` for the identity.
    #[cfg(test)]
    pub(crate) fn affine_x(&self) -> Option<FieldBytes> {
        let z_inv = invert(&self.z);
        (!is_zero(&self.z)).then(|| FieldBytes::from(tests::to_bytes(&mul(&self.x, &mul(&z_inv, &z_inv)))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::{ProjectivePoint, Scalar};

    /// A field element out of Montgomery form, as big-endian bytes.
    pub(super) fn to_bytes(a: &Fe) -> [u8; 32] {
        let mut one = [0u32; 8];
        one[0] = 1;
        let x = mul(a, &one);
        let mut out = [0u8; 32];
        for (i, limb) in x.iter().enumerate() {
            let k = 28 - 4 * i;
            out[k..k + 4].copy_from_slice(&limb.to_be_bytes());
        }
        out
    }

    impl Point32 {
        /// The affine x coordinate, or `None` for the identity.
        pub(crate) fn affine_x(&self) -> Option<FieldBytes> {
            if is_zero(&self.z) {
                return None;
            }
            Some(FieldBytes::from(to_bytes(&mul(&self.x, &invert(&self.z)))))
        }
    }

    fn bytes(x: &FieldBytes) -> [u8; 32] {
        x[..].try_into().unwrap()
    }

    /// The entries for `points`, each computed as `p + G − G` with the
    /// complete formulas first, so that its Z is not 1 before normalization.
    fn entries_of(points: &[ProjectivePoint]) -> Vec<Affine32> {
        let g32 = Point32::from_affine(&AffinePoint::GENERATOR);
        let projective: Vec<Point32> = points
            .iter()
            .map(|p| Point32::from_affine(&p.to_affine()).add(&g32).add(&g32.neg()))
            .collect();
        Point32::entries(&projective)
    }

    #[test]
    fn jacobian_sums_match_p256() {
        use p256::elliptic_curve::group::Group;
        let g = ProjectivePoint::GENERATOR;
        let q = g * Scalar::from(0x1234_5678_9abc_u64);
        let points = [g, q, g + g + g, q + g, q + q];
        let entries = entries_of(&points);
        let x_of = |p: ProjectivePoint| Point64(p).affine_x();
        // Pseudo-random sums of ± entries, against p256 at every step.
        let (mut theirs, mut ours) = (ProjectivePoint::IDENTITY, Jacobian32::IDENTITY);
        let mut seed = 0x9e37_79b9_u32;
        for step in 0..300 {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            let (i, negative) = (seed as usize % points.len(), seed & 0x100 != 0);
            theirs += if negative { -points[i] } else { points[i] };
            ours.add(&entries[i], negative);
            if step % 5 == 0 {
                theirs = theirs.double();
                ours.double();
            }
            assert_eq!(ours.affine_x(), x_of(theirs), "step {step}");
        }
        // The exceptional cases: the identity plus an entry; a sum equal to
        // the entry it adds, from Z = 1 (q + q) and from Z ≠ 1 (2q + 2q); a
        // sum opposite to it (2q − 2q), and going on from the identity.
        let mut sum = Jacobian32::IDENTITY;
        sum.double();
        assert_eq!(sum.affine_x(), None);
        sum.add(&entries[1], false);
        assert_eq!(sum.affine_x(), x_of(q));
        sum.add(&entries[1], false);
        assert_eq!(sum.affine_x(), x_of(q + q));
        let two_q = sum;
        sum.add(&entries[4], false);
        assert_eq!(sum.affine_x(), x_of(q + q + q + q));
        let mut sum = two_q;
        sum.add(&entries[4], true);
        assert_eq!(sum.affine_x(), None);
        sum.add(&entries[0], true);
        assert_eq!(sum.affine_x(), x_of(-g));
        // The 64-bit sum, through the same exceptional cases.
        let affine: Vec<AffinePoint> = Point64::entries(&points.map(Point64));
        let mut sum = Sum64::IDENTITY;
        sum.add(&affine[1], false);
        sum.add(&affine[1], false);
        sum.add(&affine[4], true);
        assert_eq!(sum.affine_x(), None);
        sum.add(&affine[3], false);
        assert_eq!(sum.affine_x(), x_of(q + g));
    }

    #[test]
    fn x_mod_n_is_checks_x_without_inverting() {
        use p256::elliptic_curve::ops::Reduce;
        use p256::elliptic_curve::sec1::FromEncodedPoint;
        let g = ProjectivePoint::GENERATOR;
        // A sum with Z ≠ 1 (G + q − G), against the affine x reduced mod n.
        let q = g * Scalar::from(0xdead_beef_u64);
        let sum = |point: ProjectivePoint| {
            let entries = entries_of(&[g, point]);
            let mut ours = Jacobian32::IDENTITY;
            ours.add(&entries[0], false);
            ours.add(&entries[1], false);
            ours.add(&entries[0], true);
            (ours, Sum64(point))
        };
        let (q32, q64) = sum(q);
        let r = <Scalar as Reduce<p256::U256>>::reduce_bytes(&Point64(q).affine_x().unwrap());
        assert!(q32.x_mod_n_is(&r) && q64.x_mod_n_is(&r));
        assert!(!q32.x_mod_n_is(&(r + Scalar::ONE)) && !q64.x_mod_n_is(&(r + Scalar::ONE)));
        assert!(!Jacobian32::IDENTITY.x_mod_n_is(&Scalar::ZERO));
        assert!(!Sum64::IDENTITY.x_mod_n_is(&Scalar::ZERO));
        // A point whose x is n + t (x ≥ n, so r = t): the first t for which
        // 02‖x is on the curve.
        let (point, t) = (0u64..)
            .find_map(|t| {
                let mut low = [0u8; 32];
                low[24..].copy_from_slice(&t.to_be_bytes());
                let (x, carry) = adc(&N, &from_be(&low));
                assert!(!carry && !geq_p(&x));
                let mut sec1 = [0u8; 33];
                sec1[0] = 2;
                for (i, limb) in x.iter().enumerate() {
                    sec1[29 - 4 * i..33 - 4 * i].copy_from_slice(&limb.to_be_bytes());
                }
                let encoded = p256::EncodedPoint::from_bytes(sec1).unwrap();
                Option::<AffinePoint>::from(AffinePoint::from_encoded_point(&encoded)).map(|p| (p, t))
            })
            .unwrap();
        let (p32, p64) = sum(point.into());
        assert!(p32.x_mod_n_is(&Scalar::from(t)) && p64.x_mod_n_is(&Scalar::from(t)));
        assert!(!p32.x_mod_n_is(&Scalar::from(t + 1)) && !p64.x_mod_n_is(&Scalar::from(t + 1)));
    }

    #[test]
    fn constants_and_field_laws() {
        assert_eq!(to_bytes(&ONE)[31], 1);
        assert!(to_bytes(&ONE)[..31].iter().all(|&b| b == 0));
        // The generator is on the curve: y² = x³ − 3x + b.
        let g = Point32::from_affine(&AffinePoint::GENERATOR);
        let (x, y) = (g.x, g.y);
        let x3 = mul(&mul(&x, &x), &x);
        let rhs = add(&sub(&x3, &add(&add(&x, &x), &x)), &B);
        assert_eq!(to_bytes(&mul(&y, &y)), to_bytes(&rhs));
        assert_eq!(to_bytes(&mul(&x, &invert(&x))), to_bytes(&ONE));
        // p − 1 squared is 1; (p − 1) + 1 is 0.
        let minus_one = sub(&[0; 8], &ONE);
        assert_eq!(to_bytes(&mul(&minus_one, &minus_one)), to_bytes(&ONE));
        assert!(is_zero(&add(&minus_one, &ONE)));
    }

    #[test]
    fn the_32_bit_group_law_matches_p256() {
        // Sums of G and another point both ways, with doublings (P + P), the
        // identity and P + (−P).
        let q = ProjectivePoint::GENERATOR * Scalar::from(0x1234_5678_9abc_u64);
        let g32 = Point32::from_affine(&AffinePoint::GENERATOR);
        let q32 = Point32::from_affine(&q.to_affine());
        let (mut theirs, mut ours) = (ProjectivePoint::IDENTITY, Point32::IDENTITY);
        for i in 0..300u32 {
            let (t, o) = if i % 3 == 0 {
                (q, q32)
            } else {
                (ProjectivePoint::GENERATOR, g32)
            };
            theirs += t;
            ours = ours.add(&o);
            if i % 7 == 0 {
                theirs += theirs;
                ours = ours.add(&ours);
            }
            assert_eq!(ours.affine_x(), Point64(theirs).affine_x(), "step {i}");
        }
        let gx = Point64::from_affine(&AffinePoint::GENERATOR).affine_x();
        assert_eq!(Point32::IDENTITY.add(&g32).affine_x(), gx);
        assert_eq!(Point32::IDENTITY.add(&Point32::IDENTITY).affine_x(), None);
        let minus_q = Point32::from_affine(&(-q).to_affine());
        assert_eq!(q32.add(&minus_q).affine_x(), None);
        assert_eq!(q32.add(&q32.neg()).affine_x(), None);
        assert_eq!(
            ours.neg().add(&g32).affine_x(),
            Point64(-theirs + ProjectivePoint::GENERATOR).affine_x()
        );
        assert_eq!(Point64::IDENTITY.affine_x(), None);
        assert!(gx.is_some_and(|x| bytes(&x) != [0; 32]));
    }
}
