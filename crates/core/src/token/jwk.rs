//! JWK Set parsing (RFC 7517, 7518, 8037) into a [`KeySet`], and key selection.
//!
//! Parsing is strict about what could make a verifier unsafe and tolerant of what
//! providers legitimately publish:
//! - the whole set is refused (`jwks-invalid`) if it is not a strict JSON object with
//!   a `keys` array, exceeds [`MAX_JWKS_BYTES`], or contains a symmetric (`oct`) key
//!   or private key members: publishing those is a provider misconfiguration that
//!   must not be papered over;
//! - keys of types Tessera does not verify (EC P-384, X25519, …) are ignored;
//! - keys of supported types that are weak or inconsistent (1024-bit RSA, `e` = 1, a
//!   point off the curve, a small-order Ed25519 point, `use: enc`, `key_ops` without
//!   `verify`, an `alg` that does not fit the key) are kept as *unusable*: a token
//!   naming one gets `key-unusable` with the reason, never a verification;
//! - a set with no usable key at all is `jwks-invalid`.
//!
//! Duplicate `kid`s are resolved deterministically: among the usable keys with the
//! token's `kid` that fit its `alg`, the first in document order is used.

use crate::alg::Alg;
use crate::json::{self, Object};
use crate::key::{self, Material, PublicKey};
use crate::reason::{refuse, Refusal};
use crate::{b64, pem};
use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use serde_json::Value;

/// The largest JWKS document accepted, in bytes.
pub const MAX_JWKS_BYTES: usize = 64 * 1024;

/// Members that only a private (or symmetric) key has.
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// A parsed key set: the usable keys, prepared once, plus the keys that were
/// refused (kept so that a token naming one gets a precise reason).
#[derive(Clone, Debug, Default)]
pub struct KeySet {
    entries: Vec<Entry>,
    ignored: usize,
    /// Set for a single configured key (PEM): it verifies tokens whatever their
    /// `kid`, because the operator chose this one key explicitly.
    any_kid: bool,
}

#[derive(Clone, Debug)]
enum Entry {
    Usable(Arc<PublicKey>),
    Unusable { kid: Option<String>, why: String },
}

impl KeySet {
    /// Parses a JWK Set document.
    ///
    /// ```
    /// use tessera_core::KeySet;
    /// let jwks = br#"{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"k1",
    ///   "x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#;
    /// let set = KeySet::from_jwks(jwks).unwrap();
    /// assert_eq!(set.usable().count(), 1);
    ///
    /// let err = KeySet::from_jwks(br#"{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}"#).unwrap_err();
    /// assert_eq!(err.reason.code(), "jwks-invalid");
    /// ```
    pub fn from_jwks(bytes: &[u8]) -> Result<KeySet, Refusal> {
        if bytes.len() > MAX_JWKS_BYTES {
            return Err(refuse!(
                JwksInvalid,
                "the key set is {} bytes, over the {MAX_JWKS_BYTES}-byte cap; check the JWKS URL points at a key set",
                bytes.len()
            ));
        }
        let doc = json::parse_object(bytes)
            .map_err(|e| refuse!(JwksInvalid, "the key set is not a strict JSON object: {e}"))?;
        let keys = match doc.get("keys") {
            Some(Value::Array(keys)) => keys,
            Some(other) => {
                return Err(refuse!(
                    JwksInvalid,
                    "the key set's \"keys\" member is {}, expected an array",
                    json::kind(other)
                ))
            }
            None => {
                return Err(refuse!(
                    JwksInvalid,
                    "the key set has no \"keys\" member; is this URL really a JWKS?"
                ))
            }
        };
        let mut set = KeySet::default();
        for (index, jwk) in keys.iter().enumerate() {
            let Value::Object(jwk) = jwk else {
                return Err(refuse!(
                    JwksInvalid,
                    "key #{index} is {}, expected an object",
                    json::kind(jwk)
                ));
            };
            set.add_jwk(index, jwk)?;
        }
        set.require_usable()?;
        Ok(set)
    }

    /// Builds a key set from one PEM-encoded SubjectPublicKeyInfo (`-----BEGIN
    /// PUBLIC KEY-----`) of any supported type, for networkless verification. The
    /// key has no `kid`, so it verifies tokens with any `kid` (or none) whose `alg`
    /// fits it. A PEM that cannot be used is a `key-unusable` refusal.
    pub fn from_pem(pem_text: &str) -> Result<KeySet, Refusal> {
        let material = pem::parse_spki(pem_text).map_err(|e| refuse!(KeyUnusable, "{e}"))?;
        let key = PublicKey::new(None, None, material);
        Ok(KeySet {
            entries: alloc::vec![Entry::Usable(Arc::new(key))],
            ignored: 0,
            any_kid: true,
        })
    }

    /// The usable keys, in document order.
    pub fn usable(&self) -> impl Iterator<Item = &PublicKey> {
        self.entries.iter().filter_map(|e| match e {
            Entry::Usable(k) => Some(&**k),
            Entry::Unusable { .. } => None,
        })
    }

    /// The refused keys of supported types: `(kid, why)`.
    pub fn unusable(&self) -> impl Iterator<Item = (Option<&str>, &str)> {
        self.entries.iter().filter_map(|e| match e {
            Entry::Unusable { kid, why } => Some((kid.as_deref(), why.as_str())),
            Entry::Usable(_) => None,
        })
    }

    /// How many keys of unsupported types were skipped.
    pub fn ignored(&self) -> usize {
        self.ignored
    }

    /// Selects the key for a token with header `kid` and `alg`.
    ///
    /// With a `kid`: the first usable key with that `kid` that fits `alg`. Without
    /// (or for a PEM key set, whatever the `kid`): the only usable key that fits
    /// `alg`; zero or several is `key-not-found`.
    pub fn select(&self, kid: Option<&str>, alg: Alg) -> Result<Arc<PublicKey>, Refusal> {
        let kid = kid.filter(|_| !self.any_kid);
        let Some(kid) = kid else {
            let mut fitting = self.entries.iter().filter_map(|e| match e {
                Entry::Usable(k) if k.fits(alg) => Some(k),
                _ => None,
            });
            return match (fitting.next(), fitting.next()) {
                (Some(k), None) => Ok(k.clone()),
                (None, _) => Err(refuse!(
                    KeyNotFound,
                    "the token has no kid and no key in the set fits {alg}; check that the token comes from this issuer"
                )),
                (Some(_), Some(_)) => Err(refuse!(
                    KeyNotFound,
                    "the token has no kid and {} keys fit {alg}; without a kid the key is ambiguous, so the provider must set kid",
                    2 + fitting.count()
                )),
            };
        };
        let mut same_kid = self.entries.iter().filter(|e| e.kid() == Some(kid)).peekable();
        if same_kid.peek().is_none() {
            return Err(refuse!(
                KeyNotFound,
                "no key with kid {} in the key set (it has {}); if the provider rotated its keys, the key set must be refetched",
                quoted(kid),
                self.kid_list()
            ));
        }
        let mut unfit = None;
        let mut unusable = None;
        for entry in same_kid {
            match entry {
                Entry::Usable(k) if k.fits(alg) => return Ok(k.clone()),
                Entry::Usable(k) => unfit = unfit.or(Some(k)),
                Entry::Unusable { why, .. } => unusable = unusable.or(Some(why)),
            }
        }
        match (unfit, unusable) {
            (Some(k), _) => Err(refuse!(
                AlgNotAllowed,
                "the token says {alg}, but key {} is {}{}; a token's alg must fit its key",
                quoted(kid),
                k.description(),
                k.alg().map(|a| format!(" bound to {a}")).unwrap_or_default()
            )),
            (None, Some(why)) => Err(refuse!(
                KeyUnusable,
                "key {} was refused when the key set was loaded: {why}",
                quoted(kid)
            )),
            (None, None) => Err(refuse!(KeyNotFound, "no key with kid {}", quoted(kid))),
        }
    }

    /// The one public key a JWK describes (a DPoP proof's `jwk` header),
    /// with every rule of a key set's keys: no symmetric or private key
    /// material, a supported type, a usable key.
    pub(crate) fn single(jwk: &Object) -> Result<Arc<PublicKey>, Refusal> {
        let mut set = KeySet::default();
        set.add_jwk(0, jwk)?;
        set.require_usable()?;
        let key = set.usable().next().map(|k| Arc::new(k.clone()));
        key.ok_or_else(|| refuse!(JwksInvalid, "the key is not usable"))
    }

    fn kid_list(&self) -> String {
        let kids: Vec<String> = self
            .entries
            .iter()
            .map(|e| e.kid().map(quoted).unwrap_or_else(|| String::from("(no kid)")))
            .collect();
        if kids.is_empty() {
            String::from("no keys")
        } else {
            format!("kids {}", kids.join(", "))
        }
    }

    fn require_usable(&self) -> Result<(), Refusal> {
        if self.usable().next().is_some() {
            return Ok(());
        }
        let mut why = format!(
            "the key set has no usable signing key ({} refused, {} of unsupported types ignored)",
            self.entries.len(),
            self.ignored
        );
        if let Some((kid, reason)) = self.unusable().next() {
            why.push_str(&format!(
                "; first refusal: key {}: {reason}",
                kid.map(quoted).unwrap_or_else(|| "(no kid)".into())
            ));
        }
        Err(refuse!(JwksInvalid, "{why}"))
    }

    fn add_jwk(&mut self, index: usize, jwk: &Object) -> Result<(), Refusal> {
        let kty = match jwk.get("kty") {
            Some(Value::String(kty)) => kty.as_str(),
            _ => return Err(refuse!(JwksInvalid, "key #{index} has no string \"kty\" member")),
        };
        if kty == "oct" {
            return Err(refuse!(
                JwksInvalid,
                "key #{index} is a symmetric (oct) key; a public key set must never contain shared secrets"
            ));
        }
        if let Some(member) = PRIVATE_MEMBERS.iter().find(|m| jwk.contains_key(**m)) {
            return Err(refuse!(
                JwksInvalid,
                "key #{index} contains the private key member \"{member}\"; the provider is publishing private key material"
            ));
        }
        let kid = match jwk.get("kid") {
            None => None,
            Some(Value::String(kid)) => Some(kid.clone()),
            Some(other) => {
                self.entries.push(Entry::Unusable {
                    kid: None,
                    why: format!(
                        "key #{index} has a kid that is {}, not a string",
                        json::kind(other)
                    ),
                });
                return Ok(());
            }
        };
        let crv = jwk.get("crv").and_then(Value::as_str);
        let supported = matches!(
            (kty, crv),
            ("RSA", _) | ("EC", Some("P-256")) | ("OKP", Some("Ed25519"))
        );
        if !supported {
            self.ignored += 1;
            return Ok(());
        }
        self.entries.push(match parse_supported(kty, jwk) {
            Ok((material, alg)) => Entry::Usable(Arc::new(PublicKey::new(kid, alg, material))),
            Err(why) => Entry::Unusable { kid, why },
        });
        Ok(())
    }
}

impl Entry {
    fn kid(&self) -> Option<&str> {
        match self {
            Entry::Usable(k) => k.kid(),
            Entry::Unusable { kid, .. } => kid.as_deref(),
        }
    }
}

/// Parses a key of a supported type; the error says why it cannot be used.
fn parse_supported(kty: &str, jwk: &Object) -> Result<(Material, Option<Alg>), String> {
    check_use(jwk)?;
    let material = match kty {
        "RSA" => key::rsa_material(&member_bytes(jwk, "n")?, &member_bytes(jwk, "e")?)?,
        "EC" => {
            let (x, y) = (member_bytes(jwk, "x")?, member_bytes(jwk, "y")?);
            if x.len() != 32 || y.len() != 32 {
                return Err(format!(
                    "P-256 coordinates must be 32 bytes each, got {} and {}",
                    x.len(),
                    y.len()
                ));
            }
            let mut sec1 = Vec::with_capacity(65);
            sec1.push(0x04);
            sec1.extend_from_slice(&x);
            sec1.extend_from_slice(&y);
            key::p256_material(&sec1)?
        }
        _ => key::ed25519_material(&member_bytes(jwk, "x")?)?,
    };
    let alg = match jwk.get("alg") {
        None => None,
        Some(Value::String(name)) => {
            let alg = Alg::from_name(name).map_err(|why| format!("its alg {}: {why}", quoted(name)))?;
            if alg.family() != material.family() {
                return Err(format!(
                    "its alg {alg} does not fit a {} key",
                    material.description()
                ));
            }
            Some(alg)
        }
        Some(other) => return Err(format!("its alg is {}, not a string", json::kind(other))),
    };
    Ok((material, alg))
}

/// `use` must be `sig` when present; `key_ops` must be unique strings including
/// `verify` when present (RFC 7517 §4.2, §4.3).
fn check_use(jwk: &Object) -> Result<(), String> {
    match jwk.get("use") {
        None => {}
        Some(Value::String(u)) if u == "sig" => {}
        Some(Value::String(u)) => return Err(format!("its use is {}, not \"sig\"", quoted(u))),
        Some(other) => return Err(format!("its use is {}, not a string", json::kind(other))),
    }
    match jwk.get("key_ops") {
        None => Ok(()),
        Some(Value::Array(ops)) => {
            let mut seen: Vec<&str> = Vec::new();
            for op in ops {
                let op = op.as_str().ok_or("its key_ops contains a non-string")?;
                if seen.contains(&op) {
                    return Err(format!("its key_ops lists {} twice", quoted(op)));
                }
                seen.push(op);
            }
            if seen.contains(&"verify") {
                Ok(())
            } else {
                Err(String::from("its key_ops does not include \"verify\""))
            }
        }
        Some(other) => Err(format!("its key_ops is {}, not an array", json::kind(other))),
    }
}

fn member_bytes(jwk: &Object, name: &str) -> Result<Vec<u8>, String> {
    match jwk.get(name) {
        Some(Value::String(s)) => {
            b64::decode(s).map_err(|e| format!("its \"{name}\" is not strict base64url ({e})"))
        }
        Some(other) => Err(format!("its \"{name}\" is {}, not a string", json::kind(other))),
        None => Err(format!("it has no \"{name}\" member")),
    }
}

/// Quotes an untrusted string for a message: escaped, and cut at 64 characters so
/// a hostile `kid` cannot flood logs.
pub(crate) fn quoted(s: &str) -> String {
    const MAX: usize = 64;
    let mut cut: String = s.chars().take(MAX).collect();
    if cut.len() < s.len() {
        cut.push('…');
    }
    format!("{cut:?}")
}
