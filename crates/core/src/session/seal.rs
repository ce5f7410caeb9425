//! Sealing cookie values: XChaCha20-Poly1305 with a keyring.
//!
//! A sealed value reads `t2.<key id>.<base64url(nonce ‖ ciphertext ‖ tag)>`. The
//! first key of the ring seals; every key opens, so keys rotate without logging
//! anyone out: add the new key first, keep the old one until the longest cookie
//! lifetime has passed, then drop it.
//!
//! The associated data binds a sealed value to its cookie's logical name, so a
//! sealed refresh token cannot be replayed as a session cookie, and to the
//! app it was sealed for ([`Keyring::bound_to`]: the app origin and the
//! issuer), so two apps sharing a keyring never accept each other's cookies.
//! Values of the first format (`t1`, bound to the name only) still open
//! ([`Format::Legacy`]) so a deploy signs nobody out; the engine rewrites them
//! in the current format at their next refresh. The plaintext
//! carries an expiry that is checked on opening, so a cookie kept past its
//! lifetime by a client that ignores `Max-Age` is still refused. Nonces are 24
//! random bytes that the caller passes in (the core never draws randomness).
//!
//! ```
//! use tessera_core::seal::Keyring;
//! let ring = Keyring::parse("k2:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8").unwrap();
//! let sealed = ring.seal("session", b"eyJ...", 1_700_000_600, [7; 24]);
//! assert!(sealed.starts_with("t2.k2."));
//! assert_eq!(ring.open("session", &sealed, 1_700_000_000).unwrap(), b"eyJ...");
//! assert_eq!(ring.open("refresh", &sealed, 1_700_000_000).unwrap_err().reason.code(), "cookie-unsealable");
//! ```

use crate::b64;
use crate::config::ConfigError;
use crate::reason::{refuse, Refusal};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use core::fmt;

const VERSION: &str = "t2";
const LEGACY_VERSION: &str = "t1";
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
const EXPIRY_LEN: usize = 8;

/// One sealing key: an id (1–16 characters of `[A-Za-z0-9_-]`) and 32 secret bytes.
#[derive(Clone)]
pub struct SealKey {
    id: String,
    cipher: XChaCha20Poly1305,
    /// The key itself, for the keys derived from it ([`Keyring::derive`]).
    secret: [u8; 32],
}

/// The keys that seal and open cookies; the first one seals.
#[derive(Clone)]
pub struct Keyring {
    keys: Vec<SealKey>,
    /// What sealed values are bound to besides their name (the app origin and
    /// the issuer); empty until [`Keyring::bound_to`].
    binding: String,
}

/// Which format a sealed value was in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `t2`: bound to the cookie name and the app ([`Keyring::bound_to`]).
    Current,
    /// `t1`: bound to the cookie name only; opened so that cookies sealed
    /// before an upgrade keep working until they are rewritten.
    Legacy,
}

impl fmt::Debug for Keyring {
    /// Key ids only: secrets never appear in debug output.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field(
                "key_ids",
                &self.keys.iter().map(|k| k.id.as_str()).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Keyring {
    /// Parses `id:base64url-32-bytes[,id:base64url-32-bytes…]`, the form of the
    /// `TESSERA_COOKIE_KEYS` secret. Errors name the key by position and id, never
    /// its secret. Generate a key with `openssl rand -base64 32 | tr '+/' '-_' | tr -d '='`.
    pub fn parse(spec: &str) -> Result<Keyring, ConfigError> {
        let field = "cookieKeys";
        let mut keys: Vec<SealKey> = Vec::new();
        for (i, entry) in spec.split(',').map(str::trim).enumerate() {
            let Some((id, secret)) = entry.split_once(':') else {
                return Err(ConfigError::new(
                    field,
                    format!("key #{i} is not of the form id:base64url-secret"),
                ));
            };
            let id_ok = (1..=16).contains(&id.len())
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !id_ok {
                return Err(ConfigError::new(
                    field,
                    format!("key #{i}: the id must be 1-16 characters of A-Z a-z 0-9 - _"),
                ));
            }
            if keys.iter().any(|k| k.id == id) {
                return Err(ConfigError::new(field, format!("key id {id:?} appears twice")));
            }
            let bytes = b64::decode(secret.trim_end_matches('='))
                .map_err(|_| ConfigError::new(field, format!("key {id:?}: the secret is not base64url")))?;
            if bytes.len() != 32 {
                return Err(ConfigError::new(
                    field,
                    format!("key {id:?}: the secret is {} bytes, expected 32", bytes.len()),
                ));
            }
            if bytes.iter().all(|b| *b == bytes[0]) {
                return Err(ConfigError::new(
                    field,
                    format!("key {id:?}: the secret is one repeated byte; generate a random one"),
                ));
            }
            let cipher = XChaCha20Poly1305::new_from_slice(&bytes)
                .map_err(|_| ConfigError::new(field, format!("key {id:?}: unusable secret")))?;
            let mut secret = [0u8; 32];
            secret.copy_from_slice(&bytes);
            keys.push(SealKey {
                id: String::from(id),
                cipher,
                secret,
            });
        }
        if keys.is_empty() {
            return Err(ConfigError::new(field, "no keys given"));
        }
        Ok(Keyring {
            keys,
            binding: String::new(),
        })
    }

    /// Binds every value this ring seals (and every current-format value it
    /// opens) to one app: its origin and its provider's issuer.
    ///
    /// ```
    /// use tessera_core::seal::Keyring;
    /// let ring = Keyring::parse("k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8").unwrap();
    /// let a = ring.clone().bound_to("https://a.example", "https://idp.example");
    /// let b = ring.bound_to("https://b.example", "https://idp.example");
    /// let sealed = a.seal("session", b"x", 2_000, [1; 24]);
    /// assert!(a.open("session", &sealed, 1_000).is_ok());
    /// assert_eq!(b.open("session", &sealed, 1_000).unwrap_err().reason.code(), "cookie-unsealable");
    /// ```
    pub fn bound_to(mut self, app_origin: &str, issuer: &str) -> Keyring {
        self.binding = format!("{app_origin}\0{issuer}");
        self
    }

    /// A key for another purpose than sealing, derived from the sealing key:
    /// HMAC-SHA256 of `label` under it (DPoP nonces). Every instance with the
    /// same keyring derives the same key; rotating the keyring changes it.
    pub fn derive(&self, label: &str) -> [u8; 32] {
        use hmac::{Hmac, Mac};
        let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(&self.keys[0].secret)
            .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
        mac.update(label.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// The id of the key that seals.
    pub fn sealing_key_id(&self) -> &str {
        &self.keys[0].id
    }

    /// Seals `value` for the cookie named `name`, valid until `expires_at`.
    pub fn seal(&self, name: &str, value: &[u8], expires_at: u64, nonce: [u8; NONCE_LEN]) -> String {
        let key = &self.keys[0];
        let mut plaintext = Vec::with_capacity(EXPIRY_LEN + value.len());
        plaintext.extend_from_slice(&expires_at.to_be_bytes());
        plaintext.extend_from_slice(value);
        let aad = associated_data(name, &key.id, Some(&self.binding));
        // Encryption with a valid key and in-memory buffers cannot fail; an empty
        // ciphertext would only make the cookie unopenable, never readable.
        let ciphertext = key
            .cipher
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: &plaintext,
                    aad: &aad,
                },
            )
            .unwrap_or_default();
        let mut body = Vec::with_capacity(NONCE_LEN + ciphertext.len());
        body.extend_from_slice(&nonce);
        body.extend_from_slice(&ciphertext);
        format!("{VERSION}.{}.{}", key.id, b64::encode(&body))
    }

    /// Seals in the first format (`t1`, bound to the name only), as releases
    /// before the session record did: for tests of the upgrade path only.
    #[doc(hidden)]
    pub fn seal_v1(&self, name: &str, value: &[u8], expires_at: u64, nonce: [u8; NONCE_LEN]) -> String {
        let key = &self.keys[0];
        let mut plaintext = expires_at.to_be_bytes().to_vec();
        plaintext.extend_from_slice(value);
        let aad = associated_data(name, &key.id, None);
        let payload = Payload {
            msg: &plaintext,
            aad: &aad,
        };
        let ciphertext = key
            .cipher
            .encrypt(&XNonce::from(nonce), payload)
            .unwrap_or_default();
        format!(
            "{LEGACY_VERSION}.{}.{}",
            key.id,
            b64::encode(&[&nonce[..], &ciphertext].concat())
        )
    }

    /// Opens a value sealed for the cookie named `name`; refuses it
    /// (`cookie-unsealable`) if it is malformed, sealed with an unknown key,
    /// tampered with, meant for another cookie or another app, or expired.
    pub fn open(&self, name: &str, sealed: &str, now: u64) -> Result<Vec<u8>, Refusal> {
        self.open_versioned(name, sealed, now).map(|(value, _)| value)
    }

    /// [`Keyring::open`], also saying which format the value was in.
    pub fn open_versioned(&self, name: &str, sealed: &str, now: u64) -> Result<(Vec<u8>, Format), Refusal> {
        let mut parts = sealed.splitn(3, '.');
        let (Some(version), Some(id), Some(body)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(refuse!(
                CookieUnsealable,
                "cookie {name:?} is not a sealed value (expected t2.<key id>.<data>)"
            ));
        };
        let format = match version {
            VERSION => Format::Current,
            LEGACY_VERSION => Format::Legacy,
            _ => {
                return Err(refuse!(
                    CookieUnsealable,
                    "cookie {name:?} is not a sealed value (expected t2.<key id>.<data>)"
                ))
            }
        };
        let Some(key) = self.keys.iter().find(|k| k.id == id) else {
            return Err(refuse!(
                CookieUnsealable,
                "cookie {name:?} was sealed with key {:?}, which is not in the keyring; keep retired keys until their cookies expire",
                crate::jwk::quoted(id)
            ));
        };
        let body = b64::decode(body)
            .map_err(|_| refuse!(CookieUnsealable, "cookie {name:?} is not valid base64url"))?;
        if body.len() < NONCE_LEN + TAG_LEN + EXPIRY_LEN {
            return Err(refuse!(
                CookieUnsealable,
                "cookie {name:?} is too short to be sealed"
            ));
        }
        let (nonce, ciphertext) = body.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce
            .try_into()
            .map_err(|_| refuse!(CookieUnsealable, "cookie {name:?} is malformed"))?;
        let binding = (format == Format::Current).then_some(self.binding.as_str());
        let aad = associated_data(name, id, binding);
        let plaintext = key
            .cipher
            .decrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: ciphertext,
                    aad: &aad,
                },
            )
            .map_err(|_| {
                refuse!(
                    CookieUnsealable,
                    "cookie {name:?} failed authentication: tampered, or sealed for another cookie or another app"
                )
            })?;
        let (expiry, value) = plaintext.split_at(EXPIRY_LEN);
        let mut expiry_bytes = [0u8; EXPIRY_LEN];
        expiry_bytes.copy_from_slice(expiry);
        let expires_at = u64::from_be_bytes(expiry_bytes);
        if now >= expires_at {
            return Err(refuse!(
                CookieUnsealable,
                "cookie {name:?} expired at {}; now is {}",
                crate::time::utc(expires_at),
                crate::time::utc(now)
            ));
        }
        Ok((value.to_vec(), format))
    }
}

/// `t1`: the name and key id; `t2` also the app's binding.
fn associated_data(name: &str, key_id: &str, binding: Option<&str>) -> Vec<u8> {
    match binding {
        None => format!("tessera-cookie\0{name}\0{key_id}").into_bytes(),
        Some(binding) => format!("tessera-cookie-v2\0{name}\0{key_id}\0{binding}").into_bytes(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const K1: &str = "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";
    const K2: &str = "k2:HyAhIiMkJSYnKCkqKywtLi8wMTIzNDU2Nzg5Ojs8PT4";

    #[test]
    fn rotation_keeps_old_cookies_openable() {
        let old = Keyring::parse(K1).unwrap();
        let sealed = old.seal("refresh", b"rt-123", 2_000, [1; 24]);
        let rotated = Keyring::parse(&format!("{K2},{K1}")).unwrap();
        assert_eq!(rotated.open("refresh", &sealed, 1_000).unwrap(), b"rt-123");
        assert!(rotated
            .seal("refresh", b"x", 2_000, [2; 24])
            .starts_with("t2.k2."));
        let retired = Keyring::parse(K2).unwrap();
        let err = retired.open("refresh", &sealed, 1_000).unwrap_err();
        assert!(err.message.contains("not in the keyring"), "{err}");
    }

    #[test]
    fn tampering_expiry_and_garbage_are_refused() {
        let ring = Keyring::parse(K1).unwrap();
        let sealed = ring.seal("session", b"token", 2_000, [3; 24]);
        assert!(ring.open("session", &sealed, 1_999).is_ok());
        assert!(ring
            .open("session", &sealed, 2_000)
            .unwrap_err()
            .message
            .contains("expired"));
        let mut bytes = sealed.clone().into_bytes();
        let i = bytes.len() - 5;
        bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(bytes).unwrap();
        assert_eq!(
            ring.open("session", &tampered, 1_000).unwrap_err().reason.code(),
            "cookie-unsealable"
        );
        for bad in [
            "",
            "t1",
            "t1.k1",
            "t1.k1.",
            "t2.k1.AAAA",
            "t3.k1.AAAA",
            "t1.k1.!!!!",
            "t1.k1.AAAA",
            "plain-token",
        ] {
            assert_eq!(
                ring.open("session", bad, 1_000).unwrap_err().reason.code(),
                "cookie-unsealable",
                "{bad}"
            );
        }
    }

    /// A value sealed in the first format (bound to the name only) still opens,
    /// for any app sharing the key, and says so; the current format is bound.
    #[test]
    fn the_first_format_still_opens_and_the_current_one_is_bound() {
        let ring = Keyring::parse(K1).unwrap();
        let legacy = ring.seal_v1("session", b"token", 2_000, [9; 24]);
        let app = ring
            .clone()
            .bound_to("https://app.example", "https://idp.example");
        assert_eq!(
            app.open_versioned("session", &legacy, 1_000).unwrap(),
            (b"token".to_vec(), Format::Legacy)
        );
        assert!(app.open("refresh", &legacy, 1_000).is_err());
        let current = app.seal("session", b"token", 2_000, [4; 24]);
        assert_eq!(
            app.open_versioned("session", &current, 1_000).unwrap().1,
            Format::Current
        );
        let other_issuer = ring.bound_to("https://app.example", "https://other-idp.example");
        assert!(other_issuer.open("session", &current, 1_000).is_err());
    }

    #[test]
    fn keyring_configuration_errors_never_show_secrets() {
        for bad in [
            "",
            "k1",
            "k1:short",
            "bad id!:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8",
            &format!("{K1},{K1}"),
            "k1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        ] {
            let err = Keyring::parse(bad).unwrap_err();
            assert_eq!(err.field, "cookieKeys");
            assert!(!err.message.contains("AAECAwQF"), "{err}");
        }
        let ring = Keyring::parse(K1).unwrap();
        let debug = format!("{ring:?}");
        assert!(debug.contains("k1") && !debug.contains("AAECAwQF"), "{debug}");
    }
}
