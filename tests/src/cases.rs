//! The cases. Each group says what it proves; the expected verdicts are the
//! behaviour the core promises, not recorded output.

use super::*;
use hmac::Mac;

struct Suite {
    keys: Keys,
    jwks: String,
    cases: Vec<Case>,
}

impl Suite {
    fn add(&mut self, name: &str, input: Value, expect: &[&'static str]) {
        assert!(
            !self.cases.iter().any(|c| c.name == name),
            "duplicate case name {name}"
        );
        self.cases.push(Case {
            name: name.to_string(),
            input,
            expect: expect.to_vec(),
        });
    }

    /// A case against the standard key set and the standard policy at NOW.
    fn std(&mut self, name: &str, token: String, expect: &'static str) {
        let input = json!({ "jwks": self.jwks, "policy": policy(json!({})), "token": token, "now": [NOW] });
        self.add(name, input, &[expect]);
    }

    fn with_policy(&mut self, name: &str, extra: Value, token: String, expect: &'static str) {
        let input = json!({ "jwks": self.jwks, "policy": policy(extra), "token": token, "now": [NOW] });
        self.add(name, input, &[expect]);
    }

    fn with_jwks(&mut self, name: &str, jwks: String, token: String, expect: &'static str) {
        let input = json!({ "jwks": jwks, "policy": policy(json!({})), "token": token, "now": [NOW] });
        self.add(name, input, &[expect]);
    }

    /// A standard token for `alg` with `extra` claims.
    fn tok(&self, alg: &str, extra: Value) -> String {
        self.keys
            .token(alg, &json!({ "alg": alg, "kid": kid_for(alg) }), &claims(extra))
    }

    fn tok_header(&self, alg: &str, header: Value, extra: Value) -> String {
        self.keys.token(alg, &header, &claims(extra))
    }
}

/// Every vector of the suite.
pub fn suite() -> Vec<Case> {
    let keys = Keys::load();
    let jwks = keys.jwks();
    let mut s = Suite {
        keys,
        jwks,
        cases: Vec::new(),
    };
    valid_tokens(&mut s);
    rfc_vectors(&mut s);
    header_attacks(&mut s);
    signature_attacks(&mut s);
    encoding_attacks(&mut s);
    claim_rules(&mut s);
    key_sets(&mut s);
    pem_keys(&mut s);
    memo(&mut s);
    provider_grants(&mut s);
    s.cases
}

/// Every supported algorithm verifies a well-formed token.
fn valid_tokens(s: &mut Suite) {
    for alg in [
        "ES256", "EdDSA", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
    ] {
        let t = s.tok(alg, json!({}));
        s.std(&format!("valid {alg}"), t, "valid");
    }
    let t = s.tok_header(
        "ES256",
        json!({ "alg": "ES256", "kid": "ec", "typ": "JWT" }),
        json!({ "exp": NOW as f64 + 30.5 }),
    );
    s.std("valid with fractional exp", t, "valid");
    // jku/x5u/jwk/x5c headers are ignored for key selection: the token still
    // verifies against the configured key, and only against it.
    let t = s.tok_header(
        "ES256",
        json!({ "alg": "ES256", "kid": "ec", "jku": "https://evil.example/jwks", "x5u": "https://evil.example/c", "x5c": ["AAAA"] }),
        json!({}),
    );
    s.std("jku and x5u headers are ignored", t, "valid");
    // An attacker embeds their own key in the `jwk` header and signs with it.
    let attacker = ed25519_dalek::SigningKey::from_bytes(&[9u8; 32]);
    let header = json!({ "alg": "EdDSA", "kid": "ed", "jwk": { "kty": "OKP", "crv": "Ed25519", "x": b64(attacker.verifying_key().as_bytes()) } });
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims(json!({})).as_bytes())
    );
    let t = format!("{input}.{}", b64(&attacker.sign(input.as_bytes()).to_bytes()));
    s.std("embedded jwk header is never trusted", t, "signature-invalid");
    let t = s
        .keys
        .token("ES256", &json!({ "alg": "ES256" }), &claims(json!({})));
    s.std("no kid, exactly one fitting key", t, "valid");
    let two_ec = json!({ "keys": [s.keys.ec_jwk("a"), s.keys.ec_jwk("b")] }).to_string();
    let t = s
        .keys
        .token("ES256", &json!({ "alg": "ES256" }), &claims(json!({})));
    s.with_jwks("no kid, two fitting keys", two_ec, t, "key-not-found");
}

/// The RFC examples: signatures verify (they are checked before claims), then
/// the examples' claims fail the policy for the reason the example implies.
fn rfc_vectors(s: &mut Suite) {
    let before_exp = rfc::A_EXP - 100;
    let a2 = json!({ "keys": [{ "kty": "RSA", "n": rfc::A2_N, "e": rfc::A2_E }] }).to_string();
    let joe = json!({ "issuer": "joe", "algorithms": ["RS256", "ES256", "EdDSA"] });
    s.add(
        "RFC 7515 A.2 RS256 (no sub claim)",
        json!({ "jwks": a2, "policy": joe, "token": rfc::A2_TOKEN, "now": [before_exp, rfc::A_EXP + 10] }),
        // sub is checked before time: "who" mistakes come first.
        &["claim-missing", "claim-missing"],
    );
    let a3 = json!({ "keys": [{ "kty": "EC", "crv": "P-256", "x": rfc::A3_X, "y": rfc::A3_Y }] }).to_string();
    s.add(
        "RFC 7515 A.3 ES256 (no sub claim)",
        json!({ "jwks": a3, "policy": joe, "token": rfc::A3_TOKEN, "now": [before_exp] }),
        &["claim-missing"],
    );
    let ed = json!({ "keys": [{ "kty": "OKP", "crv": "Ed25519", "x": rfc::RFC8037_X }] }).to_string();
    s.add(
        "RFC 8037 A.4 Ed25519 (payload is text, not claims)",
        json!({ "jwks": ed, "policy": joe, "token": rfc::RFC8037_TOKEN, "now": [NOW] }),
        &["token-malformed"],
    );
    let mut altered = rfc::A3_TOKEN.to_string();
    altered.replace_range(altered.len() - 2.., "VQ");
    let a3 = json!({ "keys": [{ "kty": "EC", "crv": "P-256", "x": rfc::A3_X, "y": rfc::A3_Y }] }).to_string();
    s.add(
        "RFC 7515 A.3 with an altered signature",
        json!({ "jwks": a3, "policy": joe, "token": altered, "now": [before_exp] }),
        &["signature-invalid"],
    );
}

fn header_attacks(s: &mut Suite) {
    let body = b64(claims(json!({})).as_bytes());
    let none = format!("{}.{body}.", b64(br#"{"alg":"none"}"#));
    s.std("alg none", none, "alg-not-allowed");
    let none_kid = format!("{}.{body}.", b64(br#"{"alg":"none","kid":"ec"}"#));
    s.std("alg none with a kid", none_kid, "alg-not-allowed");
    // HS256 "signed" with the RSA public key as the HMAC secret.
    let pem = include_str!("../fixtures/keys/rsa2048.pub.pem");
    for (label, secret) in [
        ("PEM", pem.as_bytes().to_vec()),
        ("JWK n", s.keys.rsa.to_public_key().n().to_bytes_be()),
    ] {
        let input = format!("{}.{body}", b64(br#"{"alg":"HS256","kid":"rsa"}"#));
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&secret).unwrap();
        mac.update(input.as_bytes());
        let t = format!("{input}.{}", b64(&mac.finalize().into_bytes()));
        s.std(
            &format!("HS256 signed with the public key ({label})"),
            t,
            "alg-not-allowed",
        );
    }
    for alg in [
        "HS384", "HS512", "ES384", "ES512", "RSA-OAEP", "Ed448", "es256", "",
    ] {
        let t = format!(
            "{}.{body}.AAAA",
            b64(json!({ "alg": alg, "kid": "ec" }).to_string().as_bytes())
        );
        s.std(&format!("alg {alg:?} refused"), t, "alg-not-allowed");
    }
    let t = format!("{}.{body}.AAAA", b64(br#"{"kid":"ec"}"#));
    s.std("no alg", t, "token-malformed");
    let t = format!("{}.{body}.AAAA", b64(br#"{"alg":256}"#));
    s.std("alg not a string", t, "token-malformed");
    for kid in [
        "../../../../dev/null",
        "' OR '1'='1' --",
        "ec\u{0}",
        "EC",
        "ec ",
        "\u{202e}ce",
    ] {
        let t = s.tok_header("ES256", json!({ "alg": "ES256", "kid": kid }), json!({}));
        s.std(&format!("kid injection {kid:?}"), t, "key-not-found");
    }
    let t = s.tok_header("ES256", json!({ "alg": "ES256", "kid": 7 }), json!({}));
    s.std("kid not a string", t, "token-malformed");
    let t = s.tok_header(
        "ES256",
        json!({ "alg": "ES256", "kid": "ec", "crit": ["exp"] }),
        json!({}),
    );
    s.std("crit present", t, "crit-unsupported");
    let t = s.tok_header(
        "ES256",
        json!({ "alg": "ES256", "kid": "ec", "crit": [] }),
        json!({}),
    );
    s.std("empty crit present", t, "crit-unsupported");
    let t = s.tok_header(
        "ES256",
        json!({ "alg": "ES256", "kid": "ec", "b64": false, "crit": ["b64"] }),
        json!({}),
    );
    s.std("b64 false with crit", t, "crit-unsupported");
    let t = s.tok_header(
        "ES256",
        json!({ "alg": "ES256", "kid": "ec", "b64": false }),
        json!({}),
    );
    s.std("b64 false without crit", t, "token-malformed");
    let t = s.tok_header(
        "ES256",
        json!({ "alg": "ES256", "kid": "ec", "zip": "DEF" }),
        json!({}),
    );
    s.std("zip header", t, "token-malformed");
    // Algorithm confusion: a kid that names an RSA key with an EC alg, and a
    // JWK bound to RS256 used with PS256.
    let t = s.tok_header("ES256", json!({ "alg": "ES256", "kid": "rsa" }), json!({}));
    s.std("ES256 token naming an RSA key", t, "alg-not-allowed");
    let mut bound_key = s.keys.rsa_jwk("rsa");
    bound_key["alg"] = json!("RS256");
    let bound = json!({ "keys": [bound_key] });
    let t = s.tok_header("PS256", json!({ "alg": "PS256", "kid": "rsa" }), json!({}));
    s.with_jwks(
        "PS256 token for a key bound to RS256",
        bound.to_string(),
        t,
        "alg-not-allowed",
    );
    let t = s.tok("RS256", json!({}));
    s.with_policy(
        "alg outside the policy allowlist",
        json!({ "algorithms": ["ES256"] }),
        t,
        "alg-not-allowed",
    );
    let t = s.tok("ES256", json!({}));
    s.with_policy(
        "typ required but absent",
        json!({ "typ": "at+jwt" }),
        t,
        "typ-invalid",
    );
    let t = s.tok_header(
        "ES256",
        json!({ "alg": "ES256", "kid": "ec", "typ": "application/AT+JWT" }),
        json!({}),
    );
    s.with_policy(
        "typ at+jwt with application/ prefix",
        json!({ "typ": "at+jwt" }),
        t,
        "valid",
    );
    let t = s.tok_header(
        "ES256",
        json!({ "alg": "ES256", "kid": "ec", "typ": "JWT" }),
        json!({}),
    );
    s.with_policy(
        "typ JWT when at+jwt required",
        json!({ "typ": "at+jwt" }),
        t,
        "typ-invalid",
    );
    let five = format!("{}.a.b.c.d", b64(br#"{"alg":"RSA-OAEP","enc":"A256GCM"}"#));
    s.std("JWE five segments", five, "token-malformed");
}

/// `{"kty":"RSA","kid":"rsa","n":…,"e":…}` as a struct-update base.
fn rsa_fields(keys: &Keys) -> serde_json::Map<String, Value> {
    match keys.rsa_jwk("rsa") {
        Value::Object(m) => m,
        _ => unreachable!(),
    }
}

fn signature_attacks(s: &mut Suite) {
    let t = s.tok("ES256", json!({}));
    let input = &t[..t.rfind('.').unwrap()];
    s.std(
        "psychic signature r = s = 0",
        format!("{input}.{}", b64(&[0u8; 64])),
        "signature-invalid",
    );
    let n = hex32("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551");
    let mut r_is_n = n.to_vec();
    r_is_n.extend_from_slice(&[1u8; 32]);
    s.std(
        "ECDSA r equal to the group order",
        format!("{input}.{}", b64(&r_is_n)),
        "signature-invalid",
    );
    let mut s_is_n = vec![1u8; 32];
    s_is_n.extend_from_slice(&n);
    s.std(
        "ECDSA s equal to the group order",
        format!("{input}.{}", b64(&s_is_n)),
        "signature-invalid",
    );
    let raw = s.keys.sign("ES256", input.as_bytes());
    let der = p256::ecdsa::Signature::from_slice(&raw).unwrap().to_der();
    s.std(
        "DER-encoded ECDSA signature",
        format!("{input}.{}", b64(der.as_bytes())),
        "signature-invalid",
    );
    // High-S form of a valid signature: (r, n - s) is also valid ECDSA, and JWS
    // does not require low-S; it must verify, not crash.
    let sig = p256::ecdsa::Signature::from_slice(&raw).unwrap();
    let flipped = p256::ecdsa::Signature::from_scalars(sig.r(), -*sig.s()).unwrap();
    s.std(
        "ECDSA high-S twin verifies",
        format!("{input}.{}", b64(&flipped.to_bytes())),
        "valid",
    );
    s.std("empty signature", format!("{input}."), "signature-invalid");
    let t = s.tok("EdDSA", json!({}));
    let input = &t[..t.rfind('.').unwrap()];
    s.std(
        "Ed25519 all-zero signature",
        format!("{input}.{}", b64(&[0u8; 64])),
        "signature-invalid",
    );
    let mut non_canonical = s.keys.sign("EdDSA", input.as_bytes());
    // S + L is the same scalar mod L, but not canonical: strict verification refuses it.
    add_l(&mut non_canonical[32..]);
    s.std(
        "Ed25519 non-canonical S",
        format!("{input}.{}", b64(&non_canonical)),
        "signature-invalid",
    );
    s.std(
        "Ed25519 small-order R (the identity, s = k·a: only the strict rules refuse it)",
        format!(
            "{input}.{}",
            b64(&s.keys.small_order_r_signature(input.as_bytes()))
        ),
        "signature-invalid",
    );
    let t = s.tok("RS256", json!({}));
    let input = &t[..t.rfind('.').unwrap()];
    let mut short = s.keys.sign("RS256", input.as_bytes());
    short.remove(0);
    s.std(
        "RSA signature one byte short",
        format!("{input}.{}", b64(&short)),
        "signature-invalid",
    );
    // A signature made with the RS256 key but labelled RS512, and a signature by
    // another RSA key.
    let sig = s.keys.sign("RS256", input.as_bytes());
    let relabelled = format!(
        "{}.{}.{}",
        b64(br#"{"alg":"RS512","kid":"rsa"}"#),
        &input[input.find('.').unwrap() + 1..],
        b64(&sig)
    );
    s.std("RS256 signature labelled RS512", relabelled, "signature-invalid");
    // RSA edge cases for the core's own RSA: signatures that are not below the
    // modulus, trivial values, an unprefixed PKCS #1 digest, PSS salts of the
    // wrong length. Each must be refused.
    let t = s.tok("RS256", json!({}));
    let input = t[..t.rfind('.').unwrap()].to_string();
    let n = s.keys.rsa.to_public_key().n().to_bytes_be();
    let mut one = vec![0u8; n.len()];
    one[n.len() - 1] = 1;
    let mut above = n.clone();
    *above.last_mut().unwrap() ^= 2; // n is odd: flipping bit 1 gives n ± 2
    if above < n {
        above = vec![0xff; n.len()];
    }
    let pkcs1_raw = {
        use rsa::signature::hazmat::PrehashSigner;
        let digest = <sha2::Sha256 as sha2::Digest>::digest(input.as_bytes());
        let key = rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new_unprefixed(s.keys.rsa.clone());
        PrehashSigner::<rsa::pkcs1v15::Signature>::sign_prehash(&key, &digest)
            .unwrap()
            .to_vec()
    };
    for (name, sig) in [
        ("RSA signature equal to the modulus", n.clone()),
        ("RSA signature above the modulus", above),
        ("RSA signature of all zeros", vec![0u8; n.len()]),
        ("RSA signature 1 (1^e = 1)", one),
        ("RS256 signature without the DigestInfo prefix", pkcs1_raw),
    ] {
        s.std(name, format!("{input}.{}", b64(&sig)), "signature-invalid");
    }
    let t = s.tok("PS256", json!({}));
    let input = t[..t.rfind('.').unwrap()].to_string();
    for salt in [0usize, 20, 64] {
        use rsa::signature::RandomizedSigner;
        let mut rng = <rand_chacha::ChaCha20Rng as rand_chacha::rand_core::SeedableRng>::seed_from_u64(9);
        let key = rsa::pss::SigningKey::<sha2::Sha256>::new_with_salt_len(s.keys.rsa.clone(), salt);
        let sig = key.sign_with_rng(&mut rng, input.as_bytes()).to_vec();
        s.std(
            &format!("PS256 with a {salt}-byte salt (JWA requires 32)"),
            format!("{input}.{}", b64(&sig)),
            "signature-invalid",
        );
    }
    let t = s.tok("ES256", json!({}));
    let mut parts: Vec<&str> = t.split('.').collect();
    let forged = b64(claims(json!({ "sub": "admin" })).as_bytes());
    parts[1] = &forged;
    s.std(
        "claims swapped under a valid signature",
        parts.join("."),
        "signature-invalid",
    );
}

fn hex32(h: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(&h[2 * i..2 * i + 2], 16).unwrap();
    }
    out
}

/// Adds the Ed25519 group order L to a little-endian 32-byte scalar.
pub fn add_l(s: &mut [u8]) {
    const L: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];
    let mut carry = 0u16;
    for (x, l) in s.iter_mut().zip(L) {
        let sum = u16::from(*x) + u16::from(l) + carry;
        *x = sum as u8;
        carry = sum >> 8;
    }
}

fn encoding_attacks(s: &mut Suite) {
    let t = s.tok("ES256", json!({}));
    let parts: Vec<String> = t.split('.').map(String::from).collect();
    let join = |p: &[String]| p.join(".");
    let mut padded = parts.clone();
    padded[2].push_str("==");
    s.std("padding on the signature", join(&padded), "token-malformed");
    let mut padded = parts.clone();
    padded[0].push('=');
    s.std("padding on the header", join(&padded), "token-malformed");
    let mut spaced = parts.clone();
    spaced[1].insert(4, ' ');
    s.std(
        "space inside the payload segment",
        join(&spaced),
        "signature-invalid",
    );
    let mut spaced = parts.clone();
    spaced[0].insert(4, '\n');
    s.std(
        "newline inside the header segment",
        join(&spaced),
        "token-malformed",
    );
    s.std("trailing newline", format!("{t}\n"), "token-malformed");
    s.std("leading space", format!(" {t}"), "token-malformed");
    let std_sig = parts[2].replace('-', "+").replace('_', "/");
    if std_sig != parts[2] {
        s.std(
            "standard base64 alphabet in the signature",
            format!("{}.{}.{std_sig}", parts[0], parts[1]),
            "token-malformed",
        );
    }
    // Non-canonical trailing bits: 64 bytes encode to 86 chars whose last char
    // carries 4 unused bits; setting one keeps the bytes but changes the text.
    let mut sig = parts[2].clone();
    let last = sig.pop().unwrap();
    let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let idx = alphabet.find(last).unwrap();
    sig.push(alphabet.as_bytes()[idx | 1] as char);
    let mut nc = parts.clone();
    nc[2] = sig;
    if nc[2] != parts[2] {
        s.std("non-canonical trailing bits", join(&nc), "token-malformed");
    }
    s.std(
        "two segments",
        format!("{}.{}", parts[0], parts[1]),
        "token-malformed",
    );
    s.std("four segments", format!("{t}.x"), "token-malformed");
    s.std("empty token", String::new(), "token-missing");
    s.std("just dots", "..".to_string(), "token-malformed");
    let big = format!("{}.{}.{}", parts[0], "A".repeat(64 * 1024), parts[2]);
    s.std("64 KiB token", big, "token-too-large");
    let just_over = "a".repeat(8 * 1024 + 1);
    s.std("8 KiB + 1 token", just_over, "token-too-large");
    // Header JSON problems (signed properly so only the JSON is at fault).
    let hdr = |s: &Suite, h: &str| s.keys.token_raw("ES256", h, &claims(json!({})));
    let t = hdr(s, r#"{"alg":"ES256","kid":"ec","alg":"ES256"}"#);
    s.std("duplicate alg in header", t, "token-malformed");
    let t = hdr(s, r#"["ES256"]"#);
    s.std("header is an array", t, "token-malformed");
    let t = hdr(s, "\u{feff}{\"alg\":\"ES256\",\"kid\":\"ec\"}");
    s.std("header with BOM", t, "token-malformed");
    // Claims JSON problems.
    let raw = |s: &Suite, c: &str| s.keys.token_raw("ES256", r#"{"alg":"ES256","kid":"ec"}"#, c);
    let dup = format!(
        r#"{{"iss":"{ISS}","sub":"user_1","sub":"admin","exp":{}}}"#,
        NOW + 60
    );
    let dup_exp = format!(
        r#"{{"iss":"{ISS}","sub":"u","exp":{},"exp":{}}}"#,
        NOW - 100,
        NOW + 60
    );
    let nan = format!(r#"{{"iss":"{ISS}","sub":"u","exp":NaN}}"#);
    let inf = format!(r#"{{"iss":"{ISS}","sub":"u","exp":1e400}}"#);
    let deep = format!(
        r#"{{"iss":"{ISS}","sub":"u","exp":{},"x":{}{}}}"#,
        NOW + 60,
        "[".repeat(300),
        "]".repeat(300)
    );
    let ok_deep = format!(
        r#"{{"iss":"{ISS}","sub":"u","exp":{},"x":{}{}}}"#,
        NOW + 60,
        "[".repeat(20),
        "]".repeat(20)
    );
    for (name, c, expect) in [
        ("duplicate sub claim", dup.as_str(), "token-malformed"),
        ("duplicate exp claim", &dup_exp, "token-malformed"),
        ("exp NaN", &nan, "token-malformed"),
        ("exp 1e400 (infinite)", &inf, "token-malformed"),
        ("claims nested 300 deep", &deep, "token-malformed"),
        ("claims nested 20 deep", &ok_deep, "valid"),
        ("claims not JSON", "hello", "token-malformed"),
        ("claims an array", "[1,2]", "token-malformed"),
    ] {
        let t = raw(s, c);
        s.std(name, t, expect);
    }
    let input = format!(
        "{}.{}",
        b64(br#"{"alg":"ES256","kid":"ec"}"#),
        b64(b"{\"sub\":\"\xff\"}")
    );
    let t = format!("{input}.{}", b64(&s.keys.sign("ES256", input.as_bytes())));
    s.std("claims invalid UTF-8", t, "token-malformed");
}

fn claim_rules(s: &mut Suite) {
    let cases: Vec<(&str, Value, Value, &'static str)> = vec![
        ("expired", json!({ "exp": NOW - 6 }), json!({}), "token-expired"),
        (
            "expired within leeway",
            json!({ "exp": NOW - 4 }),
            json!({}),
            "valid",
        ),
        (
            "expired exactly at leeway",
            json!({ "exp": NOW - 5 }),
            json!({}),
            "token-expired",
        ),
        (
            "zero leeway",
            json!({ "exp": NOW }),
            json!({ "leeway": 0 }),
            "token-expired",
        ),
        ("exp missing", json!({ "exp": null }), json!({}), "claim-missing"),
        (
            "exp as string",
            json!({ "exp": (NOW + 60).to_string() }),
            json!({}),
            "claim-invalid",
        ),
        ("exp as bool", json!({ "exp": true }), json!({}), "claim-invalid"),
        ("exp huge", json!({ "exp": 1e300 }), json!({}), "claim-invalid"),
        ("exp negative", json!({ "exp": -1 }), json!({}), "claim-invalid"),
        (
            "exp as array",
            json!({ "exp": [NOW + 60] }),
            json!({}),
            "claim-invalid",
        ),
        (
            "nbf in future",
            json!({ "nbf": NOW + 6 }),
            json!({}),
            "token-not-yet-valid",
        ),
        ("nbf within leeway", json!({ "nbf": NOW + 5 }), json!({}), "valid"),
        ("nbf as string", json!({ "nbf": "0" }), json!({}), "claim-invalid"),
        (
            "iat in future",
            json!({ "iat": NOW + 30, "nbf": null }),
            json!({}),
            "iat-in-future",
        ),
        ("iat as float", json!({ "iat": 1.5e9 }), json!({}), "valid"),
        (
            "too old",
            json!({ "iat": NOW - 400, "nbf": null }),
            json!({ "maxTokenAge": 300 }),
            "token-too-old",
        ),
        (
            "max age without iat",
            json!({ "iat": null }),
            json!({ "maxTokenAge": 300 }),
            "claim-missing",
        ),
        (
            "young enough",
            json!({ "iat": NOW - 200 }),
            json!({ "maxTokenAge": 300 }),
            "valid",
        ),
        (
            "wrong issuer",
            json!({ "iss": "https://evil.example" }),
            json!({}),
            "issuer-invalid",
        ),
        (
            "issuer with trailing slash",
            json!({ "iss": format!("{ISS}/") }),
            json!({}),
            "issuer-invalid",
        ),
        (
            "issuer case differs",
            json!({ "iss": ISS.to_uppercase() }),
            json!({}),
            "issuer-invalid",
        ),
        (
            "issuer missing",
            json!({ "iss": null }),
            json!({}),
            "issuer-invalid",
        ),
        (
            "issuer not a string",
            json!({ "iss": [ISS] }),
            json!({}),
            "issuer-invalid",
        ),
        (
            "second allowed issuer",
            json!({ "iss": "https://other.example" }),
            json!({ "issuer": [ISS, "https://other.example"] }),
            "valid",
        ),
        (
            "audience matches",
            json!({}),
            json!({ "audience": "api" }),
            "valid",
        ),
        (
            "audience in array",
            json!({ "aud": ["x", "api"] }),
            json!({ "audience": ["api"] }),
            "valid",
        ),
        (
            "audience mismatch",
            json!({ "aud": "other" }),
            json!({ "audience": "api" }),
            "audience-invalid",
        ),
        (
            "audience missing when configured",
            json!({ "aud": null }),
            json!({ "audience": "api" }),
            "audience-invalid",
        ),
        (
            "audience empty array",
            json!({ "aud": [] }),
            json!({ "audience": "api" }),
            "audience-invalid",
        ),
        (
            "audience with non-string",
            json!({ "aud": ["api", 1] }),
            json!({ "audience": "api" }),
            "audience-invalid",
        ),
        (
            "audience not checked when unset",
            json!({ "aud": "anything" }),
            json!({}),
            "valid",
        ),
        (
            "azp matches",
            json!({ "azp": "https://app.example" }),
            json!({ "authorizedParties": ["https://app.example"] }),
            "valid",
        ),
        (
            "azp mismatch",
            json!({ "azp": "https://evil.example" }),
            json!({ "authorizedParties": ["https://app.example"] }),
            "azp-invalid",
        ),
        (
            "azp missing when configured",
            json!({}),
            json!({ "authorizedParties": ["https://app.example"] }),
            "azp-invalid",
        ),
        ("sub missing", json!({ "sub": null }), json!({}), "claim-missing"),
        ("sub empty", json!({ "sub": "" }), json!({}), "claim-invalid"),
        ("sub a number", json!({ "sub": 42 }), json!({}), "claim-invalid"),
        ("sid a number", json!({ "sid": 42 }), json!({}), "claim-invalid"),
        (
            "required claim present",
            json!({ "tenant": "t1" }),
            json!({ "requiredClaims": ["tenant"] }),
            "valid",
        ),
        (
            "required claim missing",
            json!({}),
            json!({ "requiredClaims": ["tenant"] }),
            "claim-missing",
        ),
        (
            "claim value matches",
            json!({ "token_use": "access" }),
            json!({ "claimValues": { "token_use": "access" } }),
            "valid",
        ),
        (
            "claim value differs",
            json!({ "token_use": "id" }),
            json!({ "claimValues": { "token_use": "access" } }),
            "claim-invalid",
        ),
        (
            "claim value missing",
            json!({}),
            json!({ "claimValues": { "token_use": "access" } }),
            "claim-missing",
        ),
        (
            "cognito-style audience claim",
            json!({ "aud": null, "client_id": "c1" }),
            json!({ "audience": "c1", "audienceClaim": "client_id" }),
            "valid",
        ),
        (
            "wrong issuer and expired reports issuer",
            json!({ "iss": "https://evil.example", "exp": NOW - 100 }),
            json!({}),
            "issuer-invalid",
        ),
    ];
    for (name, extra, pol, expect) in cases {
        let t = s.tok("ES256", extra);
        s.with_policy(name, pol, t, expect);
    }
}

fn key_sets(s: &mut Suite) {
    let t_ec = s.tok("ES256", json!({}));
    let t_rsa = s.tok("RS256", json!({}));
    let t_ed = s.tok("EdDSA", json!({}));
    let ec = s.keys.ec_jwk("ec");
    let rsa_base = rsa_fields(&s.keys);
    let with = |extra: Value| {
        let mut k = rsa_base.clone();
        if let Value::Object(extra) = extra {
            k.extend(extra);
        }
        Value::Object(k)
    };
    let one = |k: Value| json!({ "keys": [k, ec] }).to_string();
    s.with_jwks(
        "RSA e = 1",
        one(with(json!({ "e": "AQ" }))),
        t_rsa.clone(),
        "key-unusable",
    );
    s.with_jwks(
        "RSA e = 2 (even)",
        one(with(json!({ "e": "Ag" }))),
        t_rsa.clone(),
        "key-unusable",
    );
    s.with_jwks(
        "RSA use enc",
        one(with(json!({ "use": "enc" }))),
        t_rsa.clone(),
        "key-unusable",
    );
    s.with_jwks(
        "RSA use sig",
        one(with(json!({ "use": "sig" }))),
        t_rsa.clone(),
        "valid",
    );
    s.with_jwks(
        "RSA key_ops sign only",
        one(with(json!({ "key_ops": ["sign"] }))),
        t_rsa.clone(),
        "key-unusable",
    );
    s.with_jwks(
        "RSA key_ops verify",
        one(with(json!({ "key_ops": ["verify"] }))),
        t_rsa.clone(),
        "valid",
    );
    s.with_jwks(
        "RSA key_ops duplicated",
        one(with(json!({ "key_ops": ["verify", "verify"] }))),
        t_rsa.clone(),
        "key-unusable",
    );
    s.with_jwks(
        "RSA alg HS256 on the key",
        one(with(json!({ "alg": "HS256" }))),
        t_rsa.clone(),
        "key-unusable",
    );
    s.with_jwks(
        "RSA alg ES256 on the key",
        one(with(json!({ "alg": "ES256" }))),
        t_rsa.clone(),
        "key-unusable",
    );
    s.with_jwks(
        "RSA n with padding",
        one(with(
            json!({ "n": format!("{}=", rsa_base["n"].as_str().unwrap()) }),
        )),
        t_rsa.clone(),
        "key-unusable",
    );
    let n_zero = {
        let mut n = vec![0u8];
        n.extend(s.keys.rsa.to_public_key().n().to_bytes_be());
        b64(&n)
    };
    s.with_jwks(
        "RSA n with a leading zero byte",
        one(with(json!({ "n": n_zero }))),
        t_rsa.clone(),
        "valid",
    );
    let small = rsa_jwk("rsa", &s.keys.rsa1024.to_public_key());
    s.with_jwks(
        "RSA 1024-bit key",
        one(small.clone()),
        t_rsa.clone(),
        "key-unusable",
    );
    s.with_jwks(
        "RSA 1024-bit key only",
        json!({ "keys": [small] }).to_string(),
        t_rsa.clone(),
        "jwks-invalid",
    );
    // EC: a point off the curve (y + 1), wrong coordinate length, P-384 ignored.
    let mut y = URL_SAFE_NO_PAD.decode(ec["y"].as_str().unwrap()).unwrap();
    y[31] ^= 1;
    let off = json!({ "kty": "EC", "crv": "P-256", "kid": "ec", "x": ec["x"], "y": b64(&y) });
    s.with_jwks(
        "EC point off the curve",
        json!({ "keys": [off, s.keys.rsa_jwk("rsa")] }).to_string(),
        t_ec.clone(),
        "key-unusable",
    );
    let short = json!({ "kty": "EC", "crv": "P-256", "kid": "ec", "x": b64(&[1u8; 31]), "y": ec["y"] });
    s.with_jwks(
        "EC short coordinate",
        json!({ "keys": [short, s.keys.rsa_jwk("rsa")] }).to_string(),
        t_ec.clone(),
        "key-unusable",
    );
    let p384 =
        json!({ "kty": "EC", "crv": "P-384", "kid": "ec", "x": b64(&[1u8; 48]), "y": b64(&[2u8; 48]) });
    s.with_jwks(
        "unsupported P-384 key is ignored",
        json!({ "keys": [p384.clone(), ec.clone()] }).to_string(),
        t_ec.clone(),
        "valid",
    );
    s.with_jwks(
        "only unsupported keys",
        json!({ "keys": [p384, { "kty": "OKP", "crv": "X25519", "x": b64(&[1u8; 32]) }] }).to_string(),
        t_ec.clone(),
        "jwks-invalid",
    );
    s.with_jwks(
        "unknown kty is ignored",
        json!({ "keys": [{ "kty": "PQ", "kid": "x" }, ec.clone()] }).to_string(),
        t_ec.clone(),
        "valid",
    );
    // Ed25519 small-order points.
    let mut identity = [0u8; 32];
    identity[0] = 1;
    for (label, x) in [
        ("identity", identity.to_vec()),
        ("order 2", {
            let mut p = [0xffu8; 32];
            p[0] = 0xec;
            p[31] = 0x7f;
            p.to_vec()
        }),
    ] {
        let weak = json!({ "kty": "OKP", "crv": "Ed25519", "kid": "ed", "x": b64(&x) });
        s.with_jwks(
            &format!("Ed25519 small-order point ({label})"),
            json!({ "keys": [weak, ec.clone()] }).to_string(),
            t_ed.clone(),
            "key-unusable",
        );
    }
    // Refused outright.
    s.with_jwks(
        "symmetric oct key",
        json!({ "keys": [{ "kty": "oct", "k": "c2VjcmV0" }, ec.clone()] }).to_string(),
        t_ec.clone(),
        "jwks-invalid",
    );
    let mut private = s.keys.ec_jwk("ec");
    private["d"] = json!(b64(&[1u8; 32]));
    s.with_jwks(
        "private key member d",
        json!({ "keys": [private] }).to_string(),
        t_ec.clone(),
        "jwks-invalid",
    );
    s.with_jwks(
        "JWKS not JSON",
        "<html>".to_string(),
        t_ec.clone(),
        "jwks-invalid",
    );
    s.with_jwks(
        "JWKS without keys",
        "{}".to_string(),
        t_ec.clone(),
        "jwks-invalid",
    );
    s.with_jwks(
        "JWKS keys not an array",
        r#"{"keys":{}}"#.to_string(),
        t_ec.clone(),
        "jwks-invalid",
    );
    s.with_jwks(
        "JWKS empty",
        r#"{"keys":[]}"#.to_string(),
        t_ec.clone(),
        "jwks-invalid",
    );
    s.with_jwks(
        "JWKS key not an object",
        r#"{"keys":[1]}"#.to_string(),
        t_ec.clone(),
        "jwks-invalid",
    );
    s.with_jwks(
        "JWKS duplicate members",
        format!(r#"{{"keys":[{ec}],"keys":[]}}"#),
        t_ec.clone(),
        "jwks-invalid",
    );
    let mut huge = vec![ec.clone()];
    for i in 0..700 {
        huge.push(json!({ "kty": "EC", "crv": "P-384", "kid": format!("padding-{i}"), "x": "A".repeat(64), "y": "A".repeat(64) }));
    }
    s.with_jwks(
        "JWKS over 64 KiB",
        json!({ "keys": huge }).to_string(),
        t_ec.clone(),
        "jwks-invalid",
    );
    s.with_jwks(
        "kid not in set",
        json!({ "keys": [s.keys.rsa_jwk("other")] }).to_string(),
        t_rsa.clone(),
        "key-not-found",
    );
    // Duplicate kids: deterministic, first fitting key in document order wins.
    let other_ec = json!({ "kty": "EC", "crv": "P-256", "kid": "ec", "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0" });
    s.with_jwks(
        "duplicate kid, right key first",
        json!({ "keys": [ec.clone(), other_ec.clone()] }).to_string(),
        t_ec.clone(),
        "valid",
    );
    s.with_jwks(
        "duplicate kid, other key first",
        json!({ "keys": [other_ec, ec.clone()] }).to_string(),
        t_ec.clone(),
        "signature-invalid",
    );
    let rsa_as_ec = s.keys.rsa_jwk("ec");
    s.with_jwks(
        "duplicate kid across key types",
        json!({ "keys": [rsa_as_ec, ec.clone()] }).to_string(),
        t_ec,
        "valid",
    );
}

fn pem_keys(s: &mut Suite) {
    let pem_case = |s: &mut Suite, name: &str, pem: &str, token: String, expect: &'static str| {
        let input = json!({ "pem": pem, "policy": policy(json!({})), "token": token, "now": [NOW] });
        s.add(name, input, &[expect]);
    };
    let (t_rsa, t_ec, t_ed) = (
        s.tok("PS256", json!({})),
        s.tok("ES256", json!({})),
        s.tok("EdDSA", json!({})),
    );
    pem_case(
        s,
        "PEM RSA verifies PS256",
        include_str!("../fixtures/keys/rsa2048.pub.pem"),
        t_rsa.clone(),
        "valid",
    );
    pem_case(
        s,
        "PEM P-256",
        include_str!("../fixtures/keys/p256.pub.pem"),
        t_ec.clone(),
        "valid",
    );
    pem_case(
        s,
        "PEM Ed25519",
        include_str!("../fixtures/keys/ed25519.pub.pem"),
        t_ed.clone(),
        "valid",
    );
    pem_case(
        s,
        "PEM type mismatch",
        include_str!("../fixtures/keys/p256.pub.pem"),
        t_ed,
        "key-not-found",
    );
    pem_case(
        s,
        "PEM RSA 1024",
        include_str!("../fixtures/keys/rsa1024.pub.pem"),
        t_rsa.clone(),
        "key-unusable",
    );
    pem_case(
        s,
        "PEM P-384",
        include_str!("../fixtures/keys/p384.pub.pem"),
        t_ec.clone(),
        "key-unusable",
    );
    pem_case(
        s,
        "PEM PKCS#1",
        include_str!("../fixtures/keys/rsa2048.pkcs1.pub.pem"),
        t_rsa.clone(),
        "key-unusable",
    );
    pem_case(
        s,
        "PEM private key",
        include_str!("../fixtures/keys/p256.key.pem"),
        t_ec.clone(),
        "key-unusable",
    );
    pem_case(
        s,
        "PEM garbage",
        "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----",
        t_ec.clone(),
        "key-unusable",
    );
    pem_case(s, "not PEM", "hello", t_ec, "key-unusable");
}

/// The memo answers exactly like a full verification at every time.
fn memo(s: &mut Suite) {
    let t = s.tok("ES256", json!({ "iat": NOW, "nbf": NOW, "exp": NOW + 60 }));
    let input = json!({
        "jwks": s.jwks, "policy": policy(json!({})), "token": t,
        "now": [NOW, NOW + 30, NOW + 64, NOW + 65, NOW + 30, NOW - 6, NOW]
    });
    s.add(
        "memo follows the validity window",
        input,
        &[
            "valid",
            "valid",
            "valid",
            "token-expired",
            "valid",
            "token-not-yet-valid",
            "valid",
        ],
    );
    let input = json!({
        "jwks": s.jwks, "policy": policy(json!({ "maxTokenAge": 20 })), "token": s.tok("ES256", json!({ "iat": NOW })),
        "now": [NOW, NOW + 25, NOW + 26]
    });
    s.add(
        "memo honours the maximum token age",
        input,
        &["valid", "valid", "token-too-old"],
    );
    let input = json!({
        "jwks": s.jwks, "policy": policy(json!({})), "memo": { "capacity": 1, "maxAge": 10 },
        "token": s.tok("EdDSA", json!({})), "now": [NOW, NOW + 11, NOW + 70]
    });
    s.add(
        "memo with a short max age answers like a full verification",
        input,
        &["valid", "valid", "token-expired"],
    );
}

impl Suite {
    /// A case for `profile`'s mapping: an RS256 token with `claims` (over the
    /// standard ones), `require`d of, with the policy's `extra` settings.
    fn granted(
        &mut self,
        name: &str,
        profile: &str,
        mut extra: Value,
        claims: Value,
        require: Value,
        expect: &'static str,
    ) {
        extra
            .as_object_mut()
            .unwrap()
            .entry("audience")
            .or_insert(json!("api"));
        let token = self.tok("RS256", claims);
        let input = json!({
            "jwks": self.jwks, "policy": policy(extra), "profile": profile,
            "require": require, "token": token, "now": [NOW]
        });
        self.add(name, input, &[expect]);
    }
}

/// Provider-shaped claim sets, each built from the provider's documentation
/// of its tokens, against each profile's mapping of roles, permissions and
/// kind (`docs/authorization.md`): what grants, what must not, and how a
/// machine's token is told from a user's.
fn provider_grants(s: &mut Suite) {
    const OK: &str = "valid";
    const NO: &str = "insufficient-scope";
    let none = json!({});

    // Clerk v2 session token: org role and feature-scoped permissions.
    let clerk = json!({
        "v": 2, "sid": "sess_2abc", "azp": "https://app.example",
        "o": { "id": "org_2acme", "slg": "acme", "rol": "admin", "per": "read,manage", "fpm": "1,3" },
        "fea": "o:reports,o:billing,u:beta"
    });
    let cases: [(&str, Value, &str); 6] = [
        ("role", json!({ "roles": ["org:admin"] }), OK),
        (
            "permission",
            json!({ "permissions": ["org:billing:manage", "org:reports:read"] }),
            OK,
        ),
        (
            "ungranted permission",
            json!({ "permissions": ["org:reports:manage"] }),
            NO,
        ),
        (
            "user-scoped feature",
            json!({ "permissions": ["org:beta:read"] }),
            NO,
        ),
        (
            "org",
            json!({ "org": { "id": "org_2acme", "slug": "acme", "role": "org:admin" } }),
            OK,
        ),
        ("kind", json!({ "kind": "user" }), OK),
    ];
    for (what, require, expect) in cases {
        s.granted(
            &format!("grants: clerk v2 {what}"),
            "clerk",
            none.clone(),
            clerk.clone(),
            require,
            expect,
        );
    }
    s.granted(
        "grants: clerk v1 org claims",
        "clerk",
        none.clone(),
        json!({ "sid": "sess_1", "org_id": "org_1", "org_role": "org:member", "org_permissions": ["org:posts:read"] }),
        json!({ "roles": ["org:member"], "permissions": ["org:posts:read"] }),
        OK,
    );
    s.granted(
        "grants: clerk machine token",
        "clerk",
        none.clone(),
        json!({ "sub": "mch_2x", "sid": "s" }),
        json!({ "kind": "machine" }),
        OK,
    );

    // Auth0: RBAC permissions; roles only where a namespaced claim is configured.
    let auth0 = json!({ "permissions": ["read:orders"], "https://example.com/roles": ["admin"], "scope": "openid read:orders" });
    s.granted(
        "grants: auth0 permissions",
        "auth0",
        none.clone(),
        auth0.clone(),
        json!({ "permissions": ["read:orders"] }),
        OK,
    );
    s.granted(
        "grants: auth0 roles need a roleClaims",
        "auth0",
        none.clone(),
        auth0.clone(),
        json!({ "roles": ["admin"] }),
        NO,
    );
    s.granted(
        "grants: auth0 namespaced roles",
        "auth0",
        json!({ "roleClaims": ["https://example.com/roles"] }),
        auth0.clone(),
        json!({ "roles": ["admin"] }),
        OK,
    );
    let m2m =
        json!({ "sub": "Xy12@clients", "gty": "client-credentials", "azp": "Xy12", "scope": "read:orders" });
    s.granted(
        "grants: auth0 client credentials",
        "auth0",
        none.clone(),
        m2m.clone(),
        json!({ "kind": "machine" }),
        OK,
    );
    s.granted(
        "grants: auth0 client credentials on a user route",
        "auth0",
        none.clone(),
        m2m,
        json!({ "kind": "user" }),
        NO,
    );

    // Keycloak: realm roles and this API's client roles, never another client's.
    let kc = json!({
        "typ": "Bearer", "azp": "web",
        "realm_access": { "roles": ["staff", "offline_access"] },
        "resource_access": { "orders-api": { "roles": ["refund"] }, "account": { "roles": ["manage-account"] } }
    });
    let kc_policy = json!({ "audience": "api", "authorizedParties": ["web"] });
    s.granted(
        "grants: keycloak realm role",
        "keycloak",
        kc_policy.clone(),
        kc.clone(),
        json!({ "roles": ["staff"] }),
        OK,
    );
    s.granted(
        "grants: keycloak another client's role",
        "keycloak",
        kc_policy.clone(),
        kc.clone(),
        json!({ "roles": ["manage-account"] }),
        NO,
    );
    s.granted(
        "grants: keycloak this API's client role",
        "keycloak",
        json!({ "audience": ["api", "orders-api"] }),
        kc.clone(),
        json!({ "roles": ["refund", "staff"] }),
        OK,
    );
    let sa = json!({ "typ": "Bearer", "azp": "billing-job", "client_id": "billing-job", "preferred_username": "service-account-billing-job" });
    s.granted(
        "grants: keycloak service account",
        "keycloak",
        none.clone(),
        sa,
        json!({ "kind": "machine" }),
        OK,
    );
    s.granted(
        "grants: keycloak user",
        "keycloak",
        kc_policy,
        kc,
        json!({ "kind": "user" }),
        OK,
    );

    // Entra ID: app roles and directory roles (wids); app-only tokens.
    let entra_user = json!({ "oid": "4f2c", "sub": "pairwise-AbC", "scp": "access_as_user", "roles": ["Orders.Read"], "wids": ["62e90394-69f5-4237-9190-012177145e10"] });
    s.granted(
        "grants: entra app role",
        "entra",
        none.clone(),
        entra_user.clone(),
        json!({ "roles": ["Orders.Read"], "scopes": ["access_as_user"] }),
        OK,
    );
    s.granted(
        "grants: entra directory role",
        "entra",
        none.clone(),
        entra_user.clone(),
        json!({ "roles": ["62e90394-69f5-4237-9190-012177145e10"] }),
        OK,
    );
    s.granted(
        "grants: entra delegated token is a user",
        "entra",
        none.clone(),
        entra_user,
        json!({ "kind": "user" }),
        OK,
    );
    s.granted(
        "grants: entra idtyp app",
        "entra",
        none.clone(),
        json!({ "idtyp": "app", "oid": "9d1e", "roles": ["Jobs.Run"] }),
        json!({ "kind": "machine", "roles": ["Jobs.Run"] }),
        OK,
    );
    s.granted(
        "grants: entra app-only without idtyp",
        "entra",
        none.clone(),
        json!({ "oid": "9d1e", "sub": "9d1e", "roles": ["Jobs.Run"] }),
        json!({ "kind": "machine" }),
        OK,
    );

    // Cognito: groups, scopes, client-credentials tokens.
    let cognito = json!({ "token_use": "access", "client_id": "api", "aud": null, "username": "alice", "cognito:groups": ["admins"], "scope": "orders/read" });
    s.granted(
        "grants: cognito group",
        "cognito",
        none.clone(),
        cognito.clone(),
        json!({ "roles": ["admins"], "scopes": ["orders/read"] }),
        OK,
    );
    s.granted(
        "grants: cognito user",
        "cognito",
        none.clone(),
        cognito,
        json!({ "kind": "user" }),
        OK,
    );
    s.granted(
        "grants: cognito client credentials",
        "cognito",
        none.clone(),
        json!({ "token_use": "access", "client_id": "api", "sub": "api", "aud": null, "scope": "orders/write" }),
        json!({ "kind": "machine", "scopes": ["orders/write"] }),
        OK,
    );

    // Okta: scp array, groups claim, client credentials (sub = cid, no uid).
    let okta = json!({ "cid": "0oa1", "uid": "00u1", "sub": "alice@example.com", "scp": ["orders.read", "openid"], "groups": ["Everyone", "Admins"] });
    s.granted(
        "grants: okta groups and scp",
        "okta",
        none.clone(),
        okta.clone(),
        json!({ "roles": ["Admins"], "scopes": ["orders.read"] }),
        OK,
    );
    s.granted(
        "grants: okta user",
        "okta",
        none.clone(),
        okta,
        json!({ "kind": "user" }),
        OK,
    );
    s.granted(
        "grants: okta client credentials",
        "okta",
        none.clone(),
        json!({ "cid": "0oa1", "sub": "0oa1", "scp": ["jobs"] }),
        json!({ "kind": "machine" }),
        OK,
    );

    // WorkOS: role and permissions; M2M tokens carry no session.
    let workos =
        json!({ "sid": "session_01", "org_id": "org_01", "role": "admin", "permissions": ["posts:write"] });
    s.granted(
        "grants: workos role and permission",
        "workos",
        none.clone(),
        workos.clone(),
        json!({ "roles": ["admin"], "permissions": ["posts:write"] }),
        OK,
    );
    s.granted(
        "grants: workos user",
        "workos",
        none.clone(),
        workos,
        json!({ "kind": "user" }),
        OK,
    );
    s.granted(
        "grants: workos m2m",
        "workos",
        none.clone(),
        json!({ "sub": "client_01", "org_id": "org_01", "sid": null }),
        json!({ "kind": "machine" }),
        OK,
    );

    // Supabase: the Postgres role and app_metadata; never user_metadata,
    // which users write themselves.
    let supabase = json!({
        "role": "authenticated", "app_metadata": { "roles": ["editor"], "permissions": ["posts.publish"], "plan": "pro" },
        "user_metadata": { "roles": ["admin"] }
    });
    s.granted(
        "grants: supabase app_metadata",
        "supabase",
        none.clone(),
        supabase.clone(),
        json!({ "roles": ["authenticated", "editor"], "permissions": ["posts.publish"] }),
        OK,
    );
    s.granted(
        "grants: supabase user_metadata grants nothing",
        "supabase",
        none.clone(),
        supabase.clone(),
        json!({ "roles": ["admin"] }),
        NO,
    );
    s.granted(
        "grants: supabase plan claim",
        "supabase",
        none.clone(),
        supabase,
        json!({ "claims": { "/app_metadata/plan": "pro" } }),
        OK,
    );

    // Firebase: custom claims at the top level.
    let firebase = json!({ "auth_time": NOW - 100, "admin": true, "role": "editor" });
    s.granted(
        "grants: firebase custom claim",
        "firebase",
        none.clone(),
        firebase.clone(),
        json!({ "claims": { "admin": true }, "roles": ["editor"] }),
        OK,
    );
    s.granted(
        "grants: firebase custom claim absent",
        "firebase",
        none.clone(),
        json!({ "auth_time": NOW - 100 }),
        json!({ "claims": { "admin": true } }),
        NO,
    );

    // Google: no roles in its tokens; always a user.
    s.granted(
        "grants: google has no roles",
        "google",
        none.clone(),
        json!({ "roles": ["admin"] }),
        json!({ "roles": ["admin"] }),
        NO,
    );

    // Any OpenID Provider: roles and permissions claims; RFC 9068 machines.
    let oidc = json!({ "roles": ["admin"], "permissions": ["a:b"], "client_id": "web" });
    s.granted(
        "grants: oidc roles and permissions",
        "oidc",
        none.clone(),
        oidc.clone(),
        json!({ "roles": ["admin"], "permissions": ["a:b"], "kind": "user" }),
        OK,
    );
    s.granted(
        "grants: oidc client credentials",
        "oidc",
        none.clone(),
        json!({ "sub": "svc", "client_id": "svc" }),
        json!({ "kind": "machine" }),
        OK,
    );
    s.granted(
        "grants: oidc pointer roleClaims",
        "oidc",
        json!({ "roleClaims": ["/app/roles"] }),
        json!({ "app": { "roles": ["ops"] }, "roles": ["admin"] }),
        json!({ "roles": ["ops"] }),
        OK,
    );
    s.granted(
        "grants: oidc roleClaims replace the default",
        "oidc",
        json!({ "roleClaims": ["/app/roles"] }),
        json!({ "app": { "roles": ["ops"] }, "roles": ["admin"] }),
        json!({ "roles": ["admin"] }),
        NO,
    );
}
