//! # tessera-p256
//!
//! ES256 (ECDSA on P-256 with SHA-256) verification in pure Rust, with
//! per-key precomputed tables, for `tessera-core`.
//!
//! A crate of its own for one reason: the release profile builds the
//! WebAssembly for size (`opt-level = "s"`: less code for V8 to compile on an
//! isolate's first request), and this crate, the pure-Rust ES256 check's hot
//! loops, at `opt-level = 3` (see the workspace `Cargo.toml`).
//!
//! `p256`'s verification computes `u1·G + u2·Q` as two constant-time scalar
//! multiplications: 512 point doublings, 128 additions and thousands of
//! constant-time table selections. Verification handles only public values, so
//! once a key has shown it is in use (two checks, [`KeyTable`]) it gets
//! a fixed-base comb table (`j·64^i·Q` for every 6-bit window `i` and
//! `j ≤ 32`, for signed digits), the generator has one shared by all keys
//! (7-bit windows), and a check becomes one table lookup and one addition per
//! non-zero digit: about 80 additions, no doublings. A key used once or twice
//! never pays for its table (about 1,400 point additions, 88 KiB): its first
//! checks share 5-bit windows between both scalars (about 260 doublings and
//! 100 additions, in variable time too). Hosts that check ES256 natively
//! (WebCrypto, `node:crypto`) never build any table.
//!
//! The tables are built with `p256`'s complete formulas and stored in affine
//! coordinates; a check adds entries into a running sum (on 32-bit targets
//! over our own 32-bit field arithmetic, the `group` module: `p256`'s
//! costs a software 128-bit multiply per limb product on wasm32) and compares
//! its x with `r` without an inversion.
//!
//! Refusals are the same as `p256`'s: `r` and `s` in `[1, n−1]`, the point sum
//! not the identity, `x(R) mod n = r`.
//!
//! ```
//! use p256::ecdsa::{signature::Signer, Signature, SigningKey};
//! use tessera_p256::{Es256Key, Refused};
//!
//! let signing = SigningKey::from_slice(&[7u8; 32]).unwrap();
//! let key = Es256Key::new(*signing.verifying_key());
//! let sig: Signature = signing.sign(b"header.payload");
//! assert_eq!(key.verify(b"header.payload", &sig.to_bytes()), Ok(()));
//! assert_eq!(key.verify(b"header.payloaD", &sig.to_bytes()), Err(Refused::Mismatch));
//! assert_eq!(key.verify(b"header.payload", &[0; 64]), Err(Refused::OutOfRange));
//! ```

#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

mod group;
pub mod key_table;

use alloc::boxed::Box;
use alloc::vec::Vec;
use once_cell::race::OnceBox;
use p256::ecdsa::{Signature, VerifyingKey};
use p256::elliptic_curve::ops::Reduce;
use p256::elliptic_curve::PrimeField;
use p256::{AffinePoint, Scalar, U256};
use sha2::{Digest, Sha256};

use crate::group::{Entry, Point, Sum};
use crate::key_table::KeyTable;

/// The window width of a key's table: 43 windows of 32 entries (88 KiB),
/// about 43 additions a check.
const KEY_WINDOW: usize = 6;

/// The window width of the generator's table, which one process builds once
/// for every key: 37 windows of 64 entries (148 KiB), about 37 additions a
/// check.
const GENERATOR_WINDOW: usize = 7;

/// A P-256 public key for ES256.
#[derive(Clone)]
pub struct Es256Key {
    key: VerifyingKey,
    /// The key's comb, built once the key is in use.
    table: KeyTable<Comb>,
}

/// The generator's comb, built once per process (with the first key's) and
/// shared by every key.
static GENERATOR: OnceBox<Comb> = OnceBox::new();

/// `1..=16` times the generator, for keys without a table yet.
static GENERATOR_MULTIPLES: OnceBox<Vec<Entry>> = OnceBox::new();

/// Why a signature was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// `r` or `s` is zero or not below the group order.
    OutOfRange,
    /// The signature does not verify with this key over this message.
    Mismatch,
}

impl Es256Key {
    /// The key, its table not built yet.
    pub fn new(key: VerifyingKey) -> Es256Key {
        Es256Key {
            key,
            table: KeyTable::new(),
        }
    }

    /// The key as `p256` holds it.
    pub fn verifying_key(&self) -> &VerifyingKey {
        &self.key
    }

    /// Checks a 64-byte `r‖s` signature over `message`; the error says why not.
    pub fn verify(&self, message: &[u8], sig: &[u8]) -> Result<(), Refused> {
        // `from_slice` refuses r or s equal to zero or not below the group order,
        // which is what defeats "psychic signatures" (r = s = 0).
        let sig = Signature::from_slice(sig).map_err(|_| Refused::OutOfRange)?;
        let z = <Scalar as Reduce<U256>>::reduce_bytes(&Sha256::digest(message));
        let (r, s) = sig.split_scalars();
        let s_inv = invert_mod_n(&s);
        let (u1, u2) = (z * s_inv, *r * s_inv);
        let table = self
            .table
            .get_or_build(|| Comb::new(Point::from_affine(self.key.as_affine()), KEY_WINDOW));
        let sum = match table {
            Some(table) => {
                let generator = GENERATOR.get_or_init(|| {
                    Box::new(Comb::new(
                        Point::from_affine(&AffinePoint::GENERATOR),
                        GENERATOR_WINDOW,
                    ))
                });
                let mut sum = Sum::IDENTITY;
                generator.add_multiple(&u1, &mut sum);
                table.add_multiple(&u2, &mut sum);
                sum
            }
            // A key without its table yet (its first checks).
            None => {
                let generator = GENERATOR_MULTIPLES
                    .get_or_init(|| Box::new(multiples(Point::from_affine(&AffinePoint::GENERATOR))));
                let key = multiples(Point::from_affine(self.key.as_affine()));
                double_scalar(generator, &key, &u1, &u2)
            }
        };
        // The identity has no affine x: refused, as p256 refuses it.
        if sum.x_mod_n_is(&r) {
            Ok(())
        } else {
            Err(Refused::Mismatch)
        }
    }
}

/// n, the group order, in little-endian 64-bit limbs.
pub(crate) const N: [u64; 4] = [
    0xf3b9_cac2_fc63_2551,
    0xbce6_faad_a717_9e84,
    0xffff_ffff_ffff_ffff,
    0xffff_ffff_0000_0000,
];

/// `s⁻¹ mod n` for a non-zero scalar, in variable time (`s` is public): the
/// binary extended Euclidean algorithm (HAC 14.61) on 64-bit limbs, which
/// wasm32 adds, subtracts and shifts natively. `p256`'s `invert_vartime`
/// goes through constant-time primitives (a `black_box` per step) and was
/// ~14% of a check in WebAssembly.
fn invert_mod_n(s: &Scalar) -> Scalar {
    const ONE: [u64; 4] = [1, 0, 0, 0];
    let repr = s.to_repr();
    let mut u = [0u64; 4];
    for (i, limb) in u.iter_mut().enumerate() {
        let at = 24 - 8 * i;
        *limb = u64::from_be_bytes(repr[at..at + 8].try_into().expect("8 bytes"));
    }
    // x1·s ≡ u and x2·s ≡ v (mod n) throughout; n is prime and 0 < s < n, so
    // gcd(u, v) = 1: neither reaches zero before one of them reaches one.
    let (mut v, mut x1, mut x2) = (N, ONE, [0u64; 4]);
    while u != ONE && v != ONE {
        while u[0] & 1 == 0 {
            shr1(&mut u, false);
            halve_mod_n(&mut x1);
        }
        while v[0] & 1 == 0 {
            shr1(&mut v, false);
            halve_mod_n(&mut x2);
        }
        if less(&u, &v) {
            sub(&mut v, &u);
            sub_mod_n(&mut x2, &x1);
        } else {
            sub(&mut u, &v);
            sub_mod_n(&mut x1, &x2);
        }
    }
    let x = if u == ONE { x1 } else { x2 };
    let mut bytes = p256::FieldBytes::default();
    for (i, limb) in x.iter().enumerate() {
        let at = 24 - 8 * i;
        bytes[at..at + 8].copy_from_slice(&limb.to_be_bytes());
    }
    Scalar::from_repr(bytes).expect("below n")
}

/// `a >>= 1`, with `top` shifted in as the new top bit.
fn shr1(a: &mut [u64; 4], top: bool) {
    for i in 0..3 {
        a[i] = a[i] >> 1 | a[i + 1] << 63;
    }
    a[3] = a[3] >> 1 | u64::from(top) << 63;
}

fn less(a: &[u64; 4], b: &[u64; 4]) -> bool {
    a.iter().rev().cmp(b.iter().rev()).is_lt()
}

/// `a += b`, returning the carry out.
fn add(a: &mut [u64; 4], b: &[u64; 4]) -> bool {
    let mut carry = false;
    for (x, &y) in a.iter_mut().zip(b) {
        let (s, c1) = x.overflowing_add(y);
        let (s, c2) = s.overflowing_add(u64::from(carry));
        *x = s;
        carry = c1 || c2;
    }
    carry
}

/// `a −= b`, returning the borrow out.
fn sub(a: &mut [u64; 4], b: &[u64; 4]) -> bool {
    let mut borrow = false;
    for (x, &y) in a.iter_mut().zip(b) {
        let (d, b1) = x.overflowing_sub(y);
        let (d, b2) = d.overflowing_sub(u64::from(borrow));
        *x = d;
        borrow = b1 || b2;
    }
    borrow
}

/// `x / 2 mod n` for `x < n`: `x + n` is even when `x` is odd.
fn halve_mod_n(x: &mut [u64; 4]) {
    let carry = x[0] & 1 == 1 && add(x, &N);
    shr1(x, carry);
}

/// `a − b mod n` for `a, b < n`.
fn sub_mod_n(a: &mut [u64; 4], b: &[u64; 4]) {
    if sub(a, b) {
        add(a, &N);
    }
}

/// Signed windows of width `w`, least significant first, digits in
/// `[−2^(w−1), 2^(w−1))` with `k = Σ digit_i · 2^(w·i)`, over enough windows
/// for a 256-bit scalar and the last carry; as they come, so a check adds
/// them without a vector.
fn signed_digits(k: &Scalar, width: usize) -> impl Iterator<Item = i32> {
    let repr = k.to_repr();
    let half = 1i32 << (width - 1);
    let mut carry = 0i32;
    (0..257usize.div_ceil(width)).map(move |window| {
        let mut digit = carry;
        for b in 0..width {
            let i = width * window + b;
            let bit = i < 256 && repr[31 - i / 8] >> (i % 8) & 1 == 1;
            digit += i32::from(bit) << b;
        }
        // digit in [0, 2^w]: map [2^(w−1), 2^w] to [−2^(w−1), 0] and carry one.
        carry = i32::from(digit >= half);
        digit - (carry << width)
    })
}

/// The window width of [`double_scalar`].
const SMALL_WINDOW: usize = 5;

/// `1..=16 · P` in affine coordinates: the table of [`double_scalar`].
fn multiples(point: Point) -> Vec<Entry> {
    let mut points = Vec::with_capacity(1 << (SMALL_WINDOW - 1));
    push_multiples(&mut points, point, 1 << (SMALL_WINDOW - 1));
    Point::entries(&points)
}

/// Pushes `1..=count` times `base`; returns the last.
fn push_multiples(points: &mut Vec<Point>, base: Point, count: usize) -> Point {
    let mut multiple = base;
    points.push(multiple);
    for _ in 1..count {
        multiple = multiple.add(&base);
        points.push(multiple);
    }
    multiple
}

/// `u1·G + u2·Q` for a key without its comb: both scalars in signed 5-bit
/// windows from the top, five doublings a window shared by both, one
/// addition per non-zero digit from `1..=16` times each point (`generator`,
/// shared; `key`, 15 additions and one inversion this check). About 260
/// doublings and 100 additions: in WebAssembly several times faster than
/// `p256`'s constant-time verification, which keys used once or twice paid
/// before.
fn double_scalar(generator: &[Entry], key: &[Entry], u1: &Scalar, u2: &Scalar) -> Sum {
    // From the top: the digits come least significant first.
    let d1: Vec<i32> = signed_digits(u1, SMALL_WINDOW).collect();
    let d2: Vec<i32> = signed_digits(u2, SMALL_WINDOW).collect();
    let mut sum = Sum::IDENTITY;
    for (&a, &b) in d1.iter().zip(&d2).rev() {
        for _ in 0..SMALL_WINDOW {
            sum.double();
        }
        for (digit, table) in [(a, generator), (b, key)] {
            if digit != 0 {
                sum.add(&table[digit.unsigned_abs() as usize - 1], digit < 0);
            }
        }
    }
    sum
}

/// `j · 2^(w·i) · P` for every window `i` of `w` bits and `j` in
/// `1..=2^(w−1)`, at `2^(w−1)·i + j − 1`, in affine coordinates (adding an
/// affine point costs less: 11 multiplications instead of 14 on 32-bit
/// targets). Scalars are recoded into signed `w`-bit digits in `[−2^(w−1),
/// 2^(w−1))`, a negative digit adding the negated entry: one addition per
/// non-zero digit, and half the entries unsigned digits would need.
struct Comb {
    /// The window width `w`.
    width: usize,
    entries: Vec<Entry>,
}

impl Comb {
    fn new(point: Point, width: usize) -> Comb {
        let (windows, per_window) = Comb::shape(width);
        let mut points = Vec::with_capacity(windows * per_window);
        let mut base = point;
        for _ in 0..windows {
            let last = push_multiples(&mut points, base, per_window);
            // 2^w·base = 2^(w−1)·base + 2^(w−1)·base.
            base = last.add(&last);
        }
        Comb {
            width,
            entries: Point::entries(&points),
        }
    }

    /// The windows covering a 256-bit scalar (with room for the last carry of
    /// the signed recoding) and the entries per window (`2^(w−1)`).
    fn shape(width: usize) -> (usize, usize) {
        (257usize.div_ceil(width), 1 << (width - 1))
    }

    /// `sum += k · P`, in variable time.
    fn add_multiple(&self, k: &Scalar, sum: &mut Sum) {
        let (_, per_window) = Comb::shape(self.width);
        for (window, digit) in signed_digits(k, self.width).enumerate() {
            if digit != 0 {
                let entry = &self.entries[per_window * window + digit.unsigned_abs() as usize - 1];
                sum.add(entry, digit < 0);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::signature::Signer;
    use p256::ecdsa::SigningKey;

    #[test]
    fn signed_windows_give_k_times_the_point() {
        use p256::elliptic_curve::sec1::ToEncodedPoint;
        use p256::ProjectivePoint;
        // Every window edge of the widths in use (2^(W−1) ± 1, 2^W ± 1),
        // −1, −2^(W−1), 2^255 and pseudo-random scalars.
        let mut cases: Vec<Scalar> = [0u64, 1, 0x8421_0842_1084_2108]
            .iter()
            .map(|&k| Scalar::from(k))
            .collect();
        for w in [KEY_WINDOW, GENERATOR_WINDOW] {
            for edge in [1u64 << (w - 1), 1 << w] {
                cases.extend([edge - 1, edge, edge + 1].map(Scalar::from));
            }
            cases.push(-Scalar::from(1u64 << (w - 1)));
        }
        cases.extend([-Scalar::ONE, Scalar::from(2u64).pow_vartime(&[255])]);
        let mut k = Scalar::from(0x9e37_79b9_u64);
        for i in 0..50u64 {
            k = k * k + Scalar::from(i);
            cases.push(k);
        }
        let g = Point::from_affine(&AffinePoint::GENERATOR);
        let (key, generator) = (Comb::new(g, KEY_WINDOW), Comb::new(g, GENERATOR_WINDOW));
        for k in cases {
            let expected = (ProjectivePoint::GENERATOR * k)
                .to_affine()
                .to_encoded_point(false);
            let (mut by_key, mut by_generator) = (Sum::IDENTITY, Sum::IDENTITY);
            key.add_multiple(&k, &mut by_key);
            generator.add_multiple(&k, &mut by_generator);
            assert_eq!(by_key.affine_x(), expected.x().copied(), "{k:?}");
            assert_eq!(by_generator.affine_x(), expected.x().copied(), "{k:?}");
        }
    }

    #[test]
    fn double_scalar_gives_u1_g_plus_u2_q() {
        use p256::elliptic_curve::sec1::ToEncodedPoint;
        use p256::ProjectivePoint;
        let q = ProjectivePoint::GENERATOR * Scalar::from(0x5eed_u64);
        let generator = multiples(Point::from_affine(&AffinePoint::GENERATOR));
        let key = multiples(Point::from_affine(&q.to_affine()));
        let mut cases = alloc::vec![
            (Scalar::ZERO, Scalar::ONE),
            (Scalar::ONE, Scalar::ZERO),
            (Scalar::from(16u64), -Scalar::from(16u64)),
            (-Scalar::ONE, Scalar::from(2u64).pow_vartime(&[255])),
        ];
        let mut k = Scalar::from(0x9e37_79b9_u64);
        for i in 0..30u64 {
            let u1 = k;
            k = k * k + Scalar::from(i);
            cases.push((u1, k));
        }
        for (u1, u2) in cases {
            let expected = (ProjectivePoint::GENERATOR * u1 + q * u2)
                .to_affine()
                .to_encoded_point(false);
            let sum = double_scalar(&generator, &key, &u1, &u2);
            assert_eq!(sum.affine_x(), expected.x().copied(), "{u1:?} {u2:?}");
        }
        // u1·G = −u2·Q: the identity.
        let q_is_g = multiples(Point::from_affine(&AffinePoint::GENERATOR));
        let sum = double_scalar(&generator, &q_is_g, &Scalar::from(7u64), &-Scalar::from(7u64));
        assert_eq!(sum.affine_x(), None);
    }

    #[test]
    fn scalar_inversion_agrees_with_p256() {
        use p256::elliptic_curve::ops::Invert;
        let mut cases = alloc::vec![Scalar::ONE, Scalar::from(2u64), -Scalar::ONE, -Scalar::from(2u64)];
        cases.push(Scalar::from(2u64).pow_vartime(&[255]));
        let mut k = Scalar::from(0x9e37_79b9_u64);
        for i in 0..200u64 {
            k = k * k + Scalar::from(i);
            cases.push(k);
        }
        for s in cases {
            let inverse = invert_mod_n(&s);
            assert_eq!(inverse, s.invert_vartime().unwrap(), "{s:?}");
            assert_eq!(inverse * s, Scalar::ONE);
        }
    }

    #[test]
    fn tables_give_the_same_verdicts_as_p256() {
        let signing = SigningKey::from_slice(&[7u8; 32]).unwrap();
        let key = Es256Key::new(*signing.verifying_key());
        let other = SigningKey::from_slice(&[9u8; 32]).unwrap();
        for i in 0..8u8 {
            let message = [b'm', i];
            let sig: Signature = signing.sign(&message);
            let foreign: Signature = other.sign(&message);
            // The first TABLE_AFTER checks (half of round 0) run without a table.
            assert_eq!(key.table.built().is_some(), i > 0);
            assert!(key.verify(&message, &sig.to_bytes()).is_ok(), "check {i}");
            assert!(key.verify(&[b'x', i], &sig.to_bytes()).is_err());
            assert!(key.verify(&message, &foreign.to_bytes()).is_err());
            // The malleable twin (n − s) verifies everywhere, as with p256.
            let twin = Signature::from_scalars(sig.r(), -*sig.s()).unwrap();
            assert!(key.verify(&message, &twin.to_bytes()).is_ok());
        }
        assert_eq!(key.verify(b"m", &[0u8; 64]), Err(Refused::OutOfRange));
        let sig: Signature = signing.sign(b"m");
        assert_eq!(key.verify(b"x", &sig.to_bytes()), Err(Refused::Mismatch));
    }
}
