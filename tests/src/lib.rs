//! The vector suite shared by the native and the WASM runs.
//!
//! Every case is plain data (key set, policy, token, times) plus the expected
//! verdict per time (`"valid"` or a reason code). Tokens are signed here, at test
//! time, with the test-only keys in `fixtures/keys/`; the hostile ones are built by
//! hand. [`run_native`] runs a case through the guest's `run_case` compiled for the
//! host; `wasm.rs` runs the same bytes through the guest compiled to WASM.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use p256::ecdsa::signature::{RandomizedSigner, Signer};
use p256::pkcs8::DecodePrivateKey;
use rand_chacha::rand_core::SeedableRng;
use rsa::signature::SignatureEncoding;
use rsa::traits::PublicKeyParts;
use serde_json::{json, Value};

/// The "current time" of the suite: 2027-01-15T08:00:00Z.
pub const NOW: u64 = 1_800_000_000;
/// The issuer of the suite's tokens.
pub const ISS: &str = "https://issuer.example";

/// One vector.
pub struct Case {
    /// A unique, descriptive name.
    pub name: String,
    /// The guest input (see the guest crate's docs).
    pub input: Value,
    /// Expected verdict per `now`: `"valid"` or a reason code.
    pub expect: Vec<&'static str>,
}

/// base64url without padding.
pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The test-only keys.
pub struct Keys {
    pub rsa: rsa::RsaPrivateKey,
    pub rsa1024: rsa::RsaPrivateKey,
    pub p256: p256::ecdsa::SigningKey,
    pub ed: ed25519_dalek::SigningKey,
}

impl Keys {
    pub fn load() -> Keys {
        Keys {
            rsa: rsa::RsaPrivateKey::from_pkcs8_pem(include_str!("../fixtures/keys/rsa2048.key.pem"))
                .unwrap(),
            rsa1024: rsa::RsaPrivateKey::from_pkcs8_pem(include_str!("../fixtures/keys/rsa1024.key.pem"))
                .unwrap(),
            p256: p256::ecdsa::SigningKey::from_pkcs8_pem(include_str!("../fixtures/keys/p256.key.pem"))
                .unwrap(),
            ed: ed25519_dalek::SigningKey::from_pkcs8_pem(include_str!("../fixtures/keys/ed25519.key.pem"))
                .unwrap(),
        }
    }

    /// Signs `message` with the key for `alg` (`"ES256"`, `"EdDSA"`, `"RS256"`, …).
    pub fn sign(&self, alg: &str, message: &[u8]) -> Vec<u8> {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(7);
        match alg {
            "ES256" => {
                let sig: p256::ecdsa::Signature = self.p256.sign(message);
                sig.to_bytes().to_vec()
            }
            "EdDSA" => self.ed.sign(message).to_bytes().to_vec(),
            "RS256" => rsa_pkcs1::<sha2::Sha256>(&self.rsa, message),
            "RS384" => rsa_pkcs1::<sha2::Sha384>(&self.rsa, message),
            "RS512" => rsa_pkcs1::<sha2::Sha512>(&self.rsa, message),
            "PS256" => rsa::pss::BlindedSigningKey::<sha2::Sha256>::new(self.rsa.clone())
                .sign_with_rng(&mut rng, message)
                .to_vec(),
            "PS384" => rsa::pss::BlindedSigningKey::<sha2::Sha384>::new(self.rsa.clone())
                .sign_with_rng(&mut rng, message)
                .to_vec(),
            "PS512" => rsa::pss::BlindedSigningKey::<sha2::Sha512>::new(self.rsa.clone())
                .sign_with_rng(&mut rng, message)
                .to_vec(),
            other => panic!("no test key for {other}"),
        }
    }

    /// An Ed25519 signature of `message` whose `R` is the identity (a point of
    /// small order) and `s = k·a`, `k = H(R ‖ A ‖ message)`: RFC 8032's
    /// cofactorless equation `[s]B = R + [k]A` holds, so only the strict rules
    /// (no small-order `R`) refuse it. A lenient native check accepts it.
    pub fn small_order_r_signature(&self, message: &[u8]) -> [u8; 64] {
        use curve25519_dalek::Scalar;
        use sha2::Digest;
        let mut sig = [0u8; 64];
        sig[0] = 1; // the identity: y = 1
        let mut hash = sha2::Sha512::new();
        hash.update(&sig[..32]);
        hash.update(self.ed.verifying_key().as_bytes());
        hash.update(message);
        let k = Scalar::from_bytes_mod_order_wide(&hash.finalize().into());
        sig[32..].copy_from_slice((k * self.ed.to_scalar()).as_bytes());
        sig
    }

    /// A JWS over raw header and claims texts, signed with the key for `alg`.
    pub fn token_raw(&self, alg: &str, header: &str, claims: &str) -> String {
        let input = format!("{}.{}", b64(header.as_bytes()), b64(claims.as_bytes()));
        let sig = self.sign(alg, input.as_bytes());
        format!("{input}.{}", b64(&sig))
    }

    /// A JWS over `header` and the *raw* claims text (raw so cases can carry
    /// duplicate members or non-JSON), signed with the key for `alg`.
    pub fn token(&self, alg: &str, header: &Value, claims: &str) -> String {
        let input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.as_bytes())
        );
        let sig = self.sign(alg, input.as_bytes());
        format!("{input}.{}", b64(&sig))
    }

    pub fn rsa_jwk(&self, kid: &str) -> Value {
        rsa_jwk(kid, &self.rsa.to_public_key())
    }

    pub fn ec_jwk(&self, kid: &str) -> Value {
        let point = self.p256.verifying_key().to_encoded_point(false);
        json!({ "kty": "EC", "crv": "P-256", "kid": kid, "x": b64(point.x().unwrap()), "y": b64(point.y().unwrap()) })
    }

    pub fn ed_jwk(&self, kid: &str) -> Value {
        json!({ "kty": "OKP", "crv": "Ed25519", "kid": kid, "x": b64(self.ed.verifying_key().as_bytes()) })
    }

    /// A key set with one key of each supported type: kids `rsa`, `ec`, `ed`.
    pub fn jwks(&self) -> String {
        json!({ "keys": [self.rsa_jwk("rsa"), self.ec_jwk("ec"), self.ed_jwk("ed")] }).to_string()
    }
}

fn rsa_pkcs1<D: sha2::Digest + rsa::pkcs8::AssociatedOid>(
    key: &rsa::RsaPrivateKey,
    message: &[u8],
) -> Vec<u8> {
    rsa::pkcs1v15::SigningKey::<D>::new(key.clone())
        .sign(message)
        .to_vec()
}

/// An RSA public JWK.
pub fn rsa_jwk(kid: &str, key: &rsa::RsaPublicKey) -> Value {
    json!({ "kty": "RSA", "kid": kid, "n": b64(&key.n().to_bytes_be()), "e": b64(&key.e().to_bytes_be()) })
}

/// The kid the suite uses for each algorithm's key.
pub fn kid_for(alg: &str) -> &'static str {
    match alg {
        "ES256" => "ec",
        "EdDSA" => "ed",
        _ => "rsa",
    }
}

/// Standard claims valid at [`NOW`], with `extra` merged over them.
pub fn claims(extra: Value) -> String {
    let mut c = json!({ "iss": ISS, "sub": "user_1", "aud": "api", "iat": NOW - 10, "nbf": NOW - 10, "exp": NOW + 60 });
    if let (Value::Object(base), Value::Object(extra)) = (&mut c, extra) {
        for (k, v) in extra {
            if v.is_null() {
                base.remove(&k);
            } else {
                base.insert(k, v);
            }
        }
    }
    c.to_string()
}

/// The policy most cases use: the suite's issuer, every algorithm allowed.
pub fn policy(extra: Value) -> Value {
    let mut p = json!({
        "issuer": ISS,
        "algorithms": ["ES256", "EdDSA", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512"]
    });
    if let (Value::Object(base), Value::Object(extra)) = (&mut p, extra) {
        base.extend(extra);
    }
    p
}

/// Runs a case through the guest's `run_case`, natively.
pub fn run_native(input: &Value) -> String {
    tessera_wasm_guest::run_case(input.to_string().as_bytes())
}

/// Runs a case natively with the aws-lc-rs signature backend.
pub fn run_aws_lc(input: &Value) -> String {
    let backend = std::sync::Arc::new(tessera_core::backend::AwsLcRs::new());
    tessera_wasm_guest::run_case_with(input.to_string().as_bytes(), Some(backend))
}

/// The verdicts (`"valid"` or reason codes) in a guest output.
pub fn verdicts(output: &str) -> Vec<String> {
    let v: Value =
        serde_json::from_str(output).unwrap_or_else(|e| panic!("guest output is not JSON ({e}): {output}"));
    let Some(results) = v["results"].as_array() else {
        panic!("guest output has no results: {output}");
    };
    results
        .iter()
        .map(|r| {
            if r["valid"] == true {
                String::from("valid")
            } else {
                r["reason"].as_str().unwrap_or("?").to_string()
            }
        })
        .collect()
}

/// A tiny deterministic PRNG for property tests, so failures reproduce.
pub struct XorShift(pub u64);

impl XorShift {
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number below `n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// An index below `n`.
    pub fn below_usize(&mut self, n: usize) -> usize {
        self.below(n as u64) as usize
    }
}

/// RFC test vectors (public examples from the specifications).
pub mod rfc {
    /// RFC 7515 A.2: RS256. Key `n`, `e` and the token.
    pub const A2_N: &str = "ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ";
    pub const A2_E: &str = "AQAB";
    pub const A2_TOKEN: &str = "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.cC4hiUPoj9Eetdgtv3hF80EGrhuB__dzERat0XF9g2VtQgr9PJbu3XOiZj5RZmh7AAuHIm4Bh-0Qc_lF5YKt_O8W2Fp5jujGbds9uJdbF9CUAr7t1dnZcAcQjbKBYNX4BAynRFdiuB--f_nZLgrnbyTyWzO75vRK5h6xBArLIARNPvkSjtQBMHlb1L07Qe7K0GarZRmB_eSN9383LcOLn6_dO--xi12jzDwusC-eOkHWEsqtFZESc6BfI7noOPqvhJ1phCnvWh6IeYI2w9QOYEUipUTI8np6LbgGY9Fs98rqVt5AXLIhWkWywlVmtVrBp0igcN_IoypGlUPQGe77Rw";
    /// RFC 7515 A.3: ES256. Key `x`, `y` and the token.
    pub const A3_X: &str = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
    pub const A3_Y: &str = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";
    pub const A3_TOKEN: &str = "eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q";
    /// The `exp` of the A.2/A.3 payload.
    pub const A_EXP: u64 = 1_300_819_380;
    /// RFC 8037 A.4: Ed25519 over "Example of Ed25519 signing".
    pub const RFC8037_X: &str = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
    pub const RFC8037_TOKEN: &str = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc.hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg";
}

mod cases;

pub use cases::{add_l, suite};

/// The demo's bundled sample: a Clerk-shaped session token (ES256, 60 s) and the
/// key set that verifies it. Deterministic (RFC 6979), so the committed files in
/// `fixtures/demo/` can be checked against a fresh build of them.
pub fn demo_fixtures() -> (String, String) {
    let keys = Keys::load();
    let claims = json!({
        "iss": "https://auth.tessera.example", "sub": "user_2demo", "sid": "sess_2demo",
        "azp": "https://app.tessera.example", "iat": NOW, "nbf": NOW - 10, "exp": NOW + 60,
        "org_id": "org_2acme", "org_slug": "acme", "org_role": "org:admin", "scope": "openid profile"
    });
    let token = keys.token(
        "ES256",
        &json!({ "alg": "ES256", "kid": "ec", "typ": "JWT" }),
        &claims.to_string(),
    );
    let jwks = serde_json::to_string_pretty(
        &json!({ "keys": [keys.ec_jwk("ec"), keys.ed_jwk("ed"), keys.rsa_jwk("rsa")] }),
    )
    .unwrap();
    (format!("{token}\n"), format!("{jwks}\n"))
}
