//! SPKI PEM public keys (`-----BEGIN PUBLIC KEY-----`) for networkless mode.
//!
//! Any supported key type is accepted (RSA, EC P-256, Ed25519), read properly from
//! the DER structure, with the same validation as JWKs.

use crate::key::{self, Material};
use alloc::format;
use alloc::string::String;
use spki::der::asn1::UintRef;
use spki::der::{Decode, Reader, SliceReader};
use spki::ObjectIdentifier;

const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const RSASSA_PSS: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.10");
const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const PRIME256V1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const ED25519: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.101.112");

/// Parses one PEM SubjectPublicKeyInfo into key material.
pub(crate) fn parse_spki(text: &str) -> Result<Material, String> {
    let (label, der) = pem_rfc7468::decode_vec(text.trim().as_bytes())
        .map_err(|e| format!("not a PEM document ({e}); expected -----BEGIN PUBLIC KEY-----"))?;
    match label {
        "PUBLIC KEY" => {}
        "RSA PUBLIC KEY" => {
            return Err(String::from(
                "this is a PKCS#1 RSA PUBLIC KEY; convert it to SPKI with `openssl rsa -RSAPublicKey_in -in key.pem -pubout`",
            ))
        }
        "CERTIFICATE" => {
            return Err(String::from(
                "this is a certificate; extract its public key with `openssl x509 -in cert.pem -pubkey -noout`",
            ))
        }
        l if l.contains("PRIVATE") => {
            return Err(format!("this is a {l}; give the public key only (`openssl pkey -in key.pem -pubout`)"))
        }
        other => return Err(format!("PEM label is {other:?}; expected PUBLIC KEY")),
    }
    let spki = spki::SubjectPublicKeyInfoRef::from_der(&der)
        .map_err(|e| format!("the PEM body is not a DER SubjectPublicKeyInfo ({e})"))?;
    let bits = spki
        .subject_public_key
        .as_bytes()
        .ok_or("the public key BIT STRING has unused bits")?;
    let oid = spki.algorithm.oid;
    if oid == RSA_ENCRYPTION {
        // RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER } (RFC 8017 A.1.1)
        let (n, e) = SliceReader::new(bits)
            .and_then(|mut r| {
                let pair = r.sequence(|r| Ok((UintRef::decode(r)?, UintRef::decode(r)?)))?;
                r.finish(pair)
            })
            .map_err(|e| format!("the RSA public key is malformed ({e})"))?;
        key::rsa_material(n.as_bytes(), e.as_bytes())
    } else if oid == EC_PUBLIC_KEY {
        let curve = spki
            .algorithm
            .parameters_oid()
            .map_err(|_| "the EC key does not name its curve")?;
        if curve != PRIME256V1 {
            return Err(format!(
                "the EC key is on curve {curve}; only P-256 (1.2.840.10045.3.1.7) is supported"
            ));
        }
        key::p256_material(bits)
    } else if oid == ED25519 {
        key::ed25519_material(bits)
    } else if oid == RSASSA_PSS {
        Err(String::from(
            "RSASSA-PSS-restricted keys (OID 1.2.840.113549.1.1.10) are not supported; export the key as rsaEncryption",
        ))
    } else {
        Err(format!(
            "unsupported key algorithm {oid}; supported: RSA, EC P-256, Ed25519"
        ))
    }
}
