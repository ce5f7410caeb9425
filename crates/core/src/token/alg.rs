//! The signature algorithms Tessera verifies, and the ones it refuses by name.

use core::fmt;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A JWS signature algorithm Tessera can verify (RFC 7518, RFC 8037).
///
/// HMAC algorithms (`HS*`) and `none` are deliberately absent: a verifier that holds
/// only public keys must never accept them (the classic "HS256 signed with the
/// public key" attack).
///
/// ```
/// use tessera_core::Alg;
/// assert_eq!(Alg::from_name("ES256"), Ok(Alg::Es256));
/// assert!(Alg::from_name("HS256").unwrap_err().contains("HMAC"));
/// assert_eq!(Alg::Ps256.name(), "PS256");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Alg {
    /// ECDSA on P-256 with SHA-256; raw 64-byte `r‖s` signatures.
    Es256,
    /// Ed25519 (RFC 8037), verified strictly.
    EdDsa,
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    Rs256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    Rs384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    Rs512,
    /// RSASSA-PSS with SHA-256 and MGF1-SHA-256, salt length 32.
    Ps256,
    /// RSASSA-PSS with SHA-384 and MGF1-SHA-384, salt length 48.
    Ps384,
    /// RSASSA-PSS with SHA-512 and MGF1-SHA-512, salt length 64.
    Ps512,
}

/// The default allowlist when a policy names none: the algorithms mainstream
/// providers sign session and access tokens with.
pub const DEFAULT_ALGORITHMS: [Alg; 4] = [Alg::Es256, Alg::EdDsa, Alg::Rs256, Alg::Ps256];

/// The key family an algorithm needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyFamily {
    /// RSA, any supported modulus size.
    Rsa,
    /// EC on P-256.
    P256,
    /// OKP Ed25519.
    Ed25519,
}

impl Alg {
    /// Every supported algorithm.
    pub const ALL: [Alg; 8] = [
        Alg::Es256,
        Alg::EdDsa,
        Alg::Rs256,
        Alg::Rs384,
        Alg::Rs512,
        Alg::Ps256,
        Alg::Ps384,
        Alg::Ps512,
    ];

    /// The JOSE name, e.g. `"ES256"`.
    pub const fn name(self) -> &'static str {
        match self {
            Alg::Es256 => "ES256",
            Alg::EdDsa => "EdDSA",
            Alg::Rs256 => "RS256",
            Alg::Rs384 => "RS384",
            Alg::Rs512 => "RS512",
            Alg::Ps256 => "PS256",
            Alg::Ps384 => "PS384",
            Alg::Ps512 => "PS512",
        }
    }

    /// Parses a JOSE algorithm name (case-sensitive, as RFC 7515 requires). The
    /// error explains why a known-but-refused name (`none`, `HS256`, …) is refused.
    pub fn from_name(name: &str) -> Result<Alg, &'static str> {
        Ok(match name {
            "ES256" => Alg::Es256,
            "EdDSA" | "Ed25519" => Alg::EdDsa,
            "RS256" => Alg::Rs256,
            "RS384" => Alg::Rs384,
            "RS512" => Alg::Rs512,
            "PS256" => Alg::Ps256,
            "PS384" => Alg::Ps384,
            "PS512" => Alg::Ps512,
            "none" => return Err("`none` means unsigned and is never accepted"),
            "HS256" | "HS384" | "HS512" => {
                return Err(
                    "HMAC algorithms need a shared secret and are never accepted by a public-key verifier",
                )
            }
            "ES384" | "ES512" | "ES256K" | "Ed448" => {
                return Err(
                    "this algorithm is not supported (supported: ES256, EdDSA, RS256/384/512, PS256/384/512)",
                )
            }
            _ => return Err("unknown algorithm (supported: ES256, EdDSA, RS256/384/512, PS256/384/512)"),
        })
    }

    /// The key family this algorithm verifies with.
    pub const fn family(self) -> KeyFamily {
        match self {
            Alg::Es256 => KeyFamily::P256,
            Alg::EdDsa => KeyFamily::Ed25519,
            _ => KeyFamily::Rsa,
        }
    }
}

impl fmt::Display for Alg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for Alg {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for Alg {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = alloc::string::String::deserialize(d)?;
        Alg::from_name(&name)
            .map_err(|why| serde::de::Error::custom(alloc::format!("algorithm {name:?}: {why}")))
    }
}
