//! The vector suite, native: every case gets its expected verdict; plus the
//! properties that need more than one verdict per case (RFC signatures at the
//! seam, memo identity, random mutations, presets, no panics).

use serde_json::json;
use std::sync::Arc;
use tessera_core::{profile, Alg, KeySet, Policy, Provider, Reason, Verifier};
use tessera_tests::*;

#[test]
fn every_case_gets_its_expected_verdict() {
    let suite = suite();
    assert!(suite.len() > 150, "the suite shrank to {} cases", suite.len());
    let mut failures = Vec::new();
    for case in &suite {
        let out = run_native(&case.input);
        let got = verdicts(&out);
        if got != case.expect {
            failures.push(format!(
                "{}: expected {:?}, got {:?}\n    {out}",
                case.name, case.expect, got
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        suite.len(),
        failures.join("\n")
    );
}

#[test]
fn every_case_gets_its_expected_verdict_with_aws_lc_rs() {
    // The same suite with ES256 and RSA checked by AWS-LC: the verdicts must not
    // depend on the backend. (Messages may: AWS-LC says only "does not match"
    // where the pure-Rust check names an out-of-range scalar.)
    let mut failures = Vec::new();
    for case in suite() {
        let got = verdicts(&run_aws_lc(&case.input));
        if got != case.expect {
            failures.push(format!(
                "{}: expected {:?}, got {:?}",
                case.name, case.expect, got
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn keys_encode_the_same_spki_as_the_reference_crates() {
    use ed25519_dalek::pkcs8::EncodePublicKey as _;
    let keys = Keys::load();
    let set = KeySet::from_jwks(keys.jwks().as_bytes()).unwrap();
    let spki = |kid: &str| {
        set.usable()
            .find(|k| k.kid() == Some(kid))
            .unwrap()
            .spki_der()
            .to_vec()
    };
    let rsa = keys.rsa.to_public_key().to_public_key_der().unwrap();
    assert_eq!(spki("rsa"), rsa.as_bytes(), "RSA (our own DER)");
    let ec = p256::PublicKey::from(keys.p256.verifying_key())
        .to_public_key_der()
        .unwrap();
    assert_eq!(spki("ec"), ec.as_bytes());
    let ed = keys.ed.verifying_key().to_public_key_der().unwrap();
    assert_eq!(spki("ed"), ed.as_bytes());
}

#[test]
fn aws_lc_rs_itself_checks_every_algorithm() {
    use tessera_core::backend::{AwsLcRs, SignatureBackend};
    let keys = Keys::load();
    let backend = Arc::new(AwsLcRs::new());
    let mut v = verifier(&keys.jwks(), Policy::for_issuer(ISS));
    for (alg, kid) in [("ES256", "ec"), ("RS256", "rsa"), ("EdDSA", "ed")] {
        let token = keys.token(alg, &json!({ "alg": alg, "kid": kid }), &claims(json!({})));
        for (t, expect) in [(token.clone(), true), (tamper(&token), false)] {
            let p = v.prepare(&t).unwrap();
            let got = backend.verify(p.alg(), p.key(), p.signing_input(), p.signature());
            assert_eq!(got, Some(expect), "{alg}");
        }
    }
    // AWS-LC's Ed25519 alone accepts a signature with R of small order (the
    // cofactorless equation holds); the verifier's strict rules refuse it first.
    let token = keys.token(
        "EdDSA",
        &json!({ "alg": "EdDSA", "kid": "ed" }),
        &claims(json!({})),
    );
    let input = &token[..token.rfind('.').unwrap()];
    let weak = format!("{input}.{}", b64(&keys.small_order_r_signature(input.as_bytes())));
    let p = v.prepare(&weak).unwrap();
    assert_eq!(
        backend.verify(p.alg(), p.key(), p.signing_input(), p.signature()),
        Some(true)
    );
    let mut with_backend = verifier(&keys.jwks(), Policy::for_issuer(ISS)).with_backend(backend);
    let refusal = with_backend.verify(&weak, NOW).unwrap_err();
    assert_eq!(refusal.reason.code(), "signature-invalid");
    assert!(refusal.message.contains("small order"), "{}", refusal.message);
}

#[test]
fn repeated_checks_with_warm_key_tables_keep_every_verdict() {
    // ES256 keys get precomputed tables after a few checks (src/es256.rs), and a
    // case is usually checked once or twice. Check each case's token five times
    // with the memo off, so the later checks run on the tables: same verdicts.
    let mut failures = Vec::new();
    for case in suite() {
        let mut input = case.input.clone();
        let Some(now) = input["now"][0].as_u64() else {
            continue;
        };
        input["now"] = json!(vec![now; 5]);
        input["memo"] = json!({ "capacity": 0, "maxAge": 0 });
        let got = verdicts(&run_native(&input));
        if got != vec![case.expect[0].to_string(); 5] {
            failures.push(format!("{}: expected {}, got {got:?}", case.name, case.expect[0]));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_reason_message_is_specific() {
    // Messages name what was wrong; a refusal never has an empty message.
    for case in suite() {
        let out: serde_json::Value = serde_json::from_str(&run_native(&case.input)).unwrap();
        for r in out["results"].as_array().unwrap() {
            if r["valid"] == false {
                let msg = r["message"].as_str().unwrap();
                assert!(msg.len() > 15, "{}: message too vague: {msg:?}", case.name);
            }
        }
    }
}

fn verifier(jwks: &str, policy: Policy) -> Verifier {
    Verifier::new(KeySet::from_jwks(jwks.as_bytes()).unwrap(), policy).unwrap()
}

#[test]
fn rfc_signatures_verify_at_the_seam() {
    let mut joe = Policy::for_issuer("joe");
    joe.algorithms = Alg::ALL.to_vec();
    let cases = [
        (
            json!({ "keys": [{ "kty": "RSA", "n": rfc::A2_N, "e": rfc::A2_E }] }),
            rfc::A2_TOKEN,
        ),
        (
            json!({ "keys": [{ "kty": "EC", "crv": "P-256", "x": rfc::A3_X, "y": rfc::A3_Y }] }),
            rfc::A3_TOKEN,
        ),
        (
            json!({ "keys": [{ "kty": "OKP", "crv": "Ed25519", "x": rfc::RFC8037_X }] }),
            rfc::RFC8037_TOKEN,
        ),
    ];
    for (jwks, token) in cases {
        let mut v = verifier(&jwks.to_string(), joe.clone());
        let prepared = v.prepare(token).unwrap();
        // The host side of the seam sees exactly the RFC's signing input.
        assert_eq!(
            prepared.signing_input(),
            &token.as_bytes()[..token.rfind('.').unwrap()]
        );
        assert!(
            prepared.check_signature().is_ok(),
            "RFC signature must verify: {token}"
        );
        let mut bad = token.to_string();
        bad.replace_range(
            bad.len() - 3..bad.len() - 2,
            if bad.as_bytes()[bad.len() - 3] == b'A' {
                "B"
            } else {
                "A"
            },
        );
        let r = v.prepare(&bad).and_then(|p| p.check_signature()).unwrap_err();
        assert!(
            matches!(r.reason, Reason::SignatureInvalid | Reason::TokenMalformed),
            "{r}"
        );
    }
}

/// A stand-in native backend: checks ES256 with the p256 crate directly,
/// answers `verdict` when set, leaves other algorithms to the core, and counts.
struct Backend {
    calls: std::sync::atomic::AtomicU32,
    verdict: Option<bool>,
}

impl tessera_core::backend::SignatureBackend for Backend {
    fn verify(&self, alg: Alg, key: &tessera_core::PublicKey, message: &[u8], sig: &[u8]) -> Option<bool> {
        if alg != Alg::Es256 {
            return None;
        }
        self.calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        use p256::ecdsa::signature::Verifier as _;
        use p256::pkcs8::DecodePublicKey;
        let key = p256::ecdsa::VerifyingKey::from_public_key_der(key.spki_der()).ok()?;
        let sig = p256::ecdsa::Signature::from_slice(sig).ok()?;
        Some(self.verdict.unwrap_or(key.verify(message, &sig).is_ok()))
    }
}

/// `token` with one character of its signature changed.
fn tamper(token: &str) -> String {
    let mut bytes = token.as_bytes().to_vec();
    let i = bytes.len() - 10;
    bytes[i] = if bytes[i] == b'B' { b'C' } else { b'B' };
    String::from_utf8(bytes).unwrap()
}

#[test]
fn a_signature_backend_decides_the_signature_and_nothing_else() {
    let keys = Keys::load();
    let with = |verdict| {
        let backend = Arc::new(Backend {
            calls: Default::default(),
            verdict,
        });
        let v = verifier(&keys.jwks(), Policy::for_issuer(ISS)).with_backend(backend.clone());
        (v, backend)
    };
    let es = |c: serde_json::Value| keys.token("ES256", &json!({ "alg": "ES256", "kid": "ec" }), &claims(c));
    let good = es(json!({}));

    let (mut v, backend) = with(None);
    assert_eq!(v.verify(&good, NOW).unwrap().sub, "user_1");
    assert_eq!(
        backend.calls.load(std::sync::atomic::Ordering::Relaxed),
        1,
        "the backend checked the signature"
    );
    assert_eq!(v.verify(&good, NOW).unwrap().sub, "user_1");
    assert_eq!(
        backend.calls.load(std::sync::atomic::Ordering::Relaxed),
        1,
        "a repeat is a memo hit"
    );
    let forged = tamper(&good);
    assert_eq!(
        v.verify(&forged, NOW).unwrap_err().reason,
        Reason::SignatureInvalid
    );
    assert_eq!(backend.calls.load(std::sync::atomic::Ordering::Relaxed), 2);

    // A wrong-length signature is refused before the backend, with the core's message.
    let (mut v, backend) = with(Some(true));
    let (input, _) = good.rsplit_once('.').unwrap();
    let der = format!("{input}.{}", b64(&[0x30; 70]));
    let refusal = v.verify(&der, NOW).unwrap_err();
    assert_eq!(refusal.reason, Reason::SignatureInvalid);
    assert!(refusal.message.contains("DER"), "{}", refusal.message);
    assert_eq!(backend.calls.load(std::sync::atomic::Ordering::Relaxed), 0);
    // A backend's yes does not excuse the claims.
    let expired = es(json!({ "exp": NOW - 100 }));
    assert_eq!(v.verify(&expired, NOW).unwrap_err().reason, Reason::TokenExpired);

    // A backend's no is final, whatever the pure-Rust check would say.
    let (mut v, _) = with(Some(false));
    let refusal = v.verify(&good, NOW).unwrap_err();
    assert_eq!(refusal.reason, Reason::SignatureInvalid);
    assert!(refusal.message.contains("does not match"), "{}", refusal.message);

    // What the backend leaves (EdDSA here) is checked in pure Rust.
    let (mut v, backend) = with(Some(false));
    let ed = keys.token(
        "EdDSA",
        &json!({ "alg": "EdDSA", "kid": "ed" }),
        &claims(json!({})),
    );
    assert_eq!(v.verify(&ed, NOW).unwrap().sub, "user_1");
    let ed_forged = tamper(&ed);
    assert_eq!(
        v.verify(&ed_forged, NOW).unwrap_err().reason,
        Reason::SignatureInvalid
    );
    assert_eq!(backend.calls.load(std::sync::atomic::Ordering::Relaxed), 0);
}

#[test]
fn host_checked_signatures_flow_through_the_same_policy() {
    let keys = Keys::load();
    let token = keys.token(
        "ES256",
        &json!({ "alg": "ES256", "kid": "ec" }),
        &claims(json!({})),
    );
    let mut v = verifier(&keys.jwks(), Policy::for_issuer(ISS));
    let p = v.prepare(&token).unwrap();
    assert_eq!(p.alg(), Alg::Es256);
    assert_eq!(p.key().kid(), Some("ec"));
    // The host imports the key from SPKI and checks the signature natively (here:
    // the p256 crate directly, standing in for WebCrypto).
    let spki = p.key().spki_der();
    use p256::pkcs8::DecodePublicKey;
    let host_key = p256::ecdsa::VerifyingKey::from_public_key_der(spki).unwrap();
    use p256::ecdsa::signature::Verifier as _;
    let sig = p256::ecdsa::Signature::from_slice(p.signature()).unwrap();
    let ok = host_key.verify(p.signing_input(), &sig).is_ok();
    let id = v.finish(p.host_checked(ok).unwrap(), NOW).unwrap();
    assert_eq!(id.sub, "user_1");
    // A host that reports failure gets signature-invalid.
    let p = v.prepare(&token).unwrap();
    assert_eq!(
        p.host_checked(false).unwrap_err().reason,
        Reason::SignatureInvalid
    );
    // Claims are still enforced after a host check.
    let expired = keys.token(
        "ES256",
        &json!({ "alg": "ES256", "kid": "ec" }),
        &claims(json!({ "exp": NOW - 100 })),
    );
    let p = v.prepare(&expired).unwrap();
    assert_eq!(
        v.finish(p.host_checked(true).unwrap(), NOW).unwrap_err().reason,
        Reason::TokenExpired
    );
}

#[test]
fn memo_hits_return_the_same_identity_and_never_match_other_bytes() {
    let keys = Keys::load();
    let token = keys.token(
        "RS256",
        &json!({ "alg": "RS256", "kid": "rsa" }),
        &claims(json!({})),
    );
    let mut v = verifier(&keys.jwks(), Policy::for_issuer(ISS));
    let first = v.verify(&token, NOW).unwrap();
    assert_eq!(v.memo_len(), 1);
    let second = v.verify(&token, NOW + 1).unwrap();
    assert!(Arc::ptr_eq(&first, &second), "a repeat must be a memo hit");
    // Same length, same signature segment (same memo bucket), one byte different.
    let mut altered = token.clone().into_bytes();
    altered[5] = if altered[5] == b'a' { b'b' } else { b'a' };
    let altered = String::from_utf8(altered).unwrap();
    assert!(v.verify(&altered, NOW).is_err());
    assert!(v.remembered(&altered, NOW).is_none());
    // A refused token is never remembered.
    assert_eq!(v.memo_len(), 1);
    // Replacing the key set forgets everything.
    v.set_keys(KeySet::from_jwks(keys.jwks().as_bytes()).unwrap());
    assert_eq!(v.memo_len(), 0);
    let third = v.verify(&token, NOW + 2).unwrap();
    assert!(!Arc::ptr_eq(&first, &third));
    // A key set without the key: the token no longer verifies (no stale memo).
    v.set_keys(KeySet::from_jwks(json!({ "keys": [keys.ec_jwk("ec")] }).to_string().as_bytes()).unwrap());
    assert_eq!(v.verify(&token, NOW + 3).unwrap_err().reason, Reason::KeyNotFound);
}

#[test]
fn memo_is_bounded_and_respects_max_age() {
    let keys = Keys::load();
    let memo = tessera_core::MemoConfig {
        capacity: 4,
        max_age: 10,
    };
    let mut v = Verifier::with_memo(
        KeySet::from_jwks(keys.jwks().as_bytes()).unwrap(),
        Policy::for_issuer(ISS),
        memo,
    )
    .unwrap();
    let tokens: Vec<String> = (0..10)
        .map(|i| {
            keys.token(
                "EdDSA",
                &json!({ "alg": "EdDSA", "kid": "ed" }),
                &claims(json!({ "jti": format!("t{i}") })),
            )
        })
        .collect();
    for t in &tokens {
        v.verify(t, NOW).unwrap();
        assert!(v.memo_len() <= 4);
    }
    let a = v.verify(&tokens[9], NOW + 5).unwrap();
    let b = v.verify(&tokens[9], NOW + 9).unwrap();
    assert!(Arc::ptr_eq(&a, &b));
    // Past max_age the entry is dropped and the token is verified afresh.
    let c = v.verify(&tokens[9], NOW + 10).unwrap();
    assert!(!Arc::ptr_eq(&a, &c));
}

#[test]
fn random_mutations_of_a_valid_token_never_verify() {
    let keys = Keys::load();
    let mut policy = Policy::for_issuer(ISS);
    policy.algorithms = Alg::ALL.to_vec();
    let mut v = Verifier::with_memo(
        KeySet::from_jwks(keys.jwks().as_bytes()).unwrap(),
        policy,
        tessera_core::MemoConfig {
            capacity: 0,
            max_age: 0,
        },
    )
    .unwrap();
    let mut rng = XorShift(0x5eed_1234_abcd_ef01);
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ \n";
    let mut tried = 0;
    for alg in ["ES256", "EdDSA", "RS256", "PS256"] {
        let token = keys.token(
            alg,
            &json!({ "alg": alg, "kid": kid_for(alg) }),
            &claims(json!({})),
        );
        assert!(v.verify(&token, NOW).is_ok());
        for _ in 0..400 {
            let mut bytes = token.clone().into_bytes();
            match rng.below_usize(5) {
                0 => {
                    let i = rng.below_usize(bytes.len());
                    bytes[i] = alphabet[rng.below_usize(alphabet.len())];
                }
                1 => {
                    let i = rng.below_usize(bytes.len());
                    bytes.remove(i);
                }
                2 => {
                    let i = rng.below_usize(bytes.len() + 1);
                    bytes.insert(i, alphabet[rng.below_usize(alphabet.len())]);
                }
                3 => {
                    let i = rng.below_usize(bytes.len());
                    bytes[i] ^= 1 << rng.below_usize(7);
                }
                _ => {
                    let cut = rng.below_usize(bytes.len());
                    bytes.truncate(cut);
                }
            }
            let Ok(mutated) = String::from_utf8(bytes) else {
                continue;
            };
            if mutated == token {
                continue;
            }
            tried += 1;
            assert!(v.verify(&mutated, NOW).is_err(), "a mutation verified: {mutated}");
        }
    }
    assert!(tried > 1000);
}

#[test]
fn arbitrary_bytes_never_panic() {
    let keys = Keys::load();
    let mut v = verifier(&keys.jwks(), Policy::for_issuer(ISS));
    let mut rng = XorShift(42);
    for len in 0..2000 {
        let bytes: Vec<u8> = (0..len % 300).map(|_| rng.next_u64() as u8).collect();
        let _ = KeySet::from_jwks(&bytes);
        let text = String::from_utf8_lossy(&bytes);
        let _ = KeySet::from_pem(&text);
        let _ = tessera_core::jws::decode_unverified(&text);
        assert!(v.verify(&text, NOW).is_err());
    }
}

/// A token shaped like each provider's (header, claims, alg per its docs)
/// verifies under that provider's preset, and the near-miss is refused.
#[test]
fn provider_presets_accept_their_providers_tokens() {
    let keys = Keys::load();
    let jwks = keys.jwks();
    let check = |name: &str,
                 settings: tessera_core::ProviderSettings,
                 alg: &str,
                 header: serde_json::Value,
                 claims: serde_json::Value,
                 expect: Result<(), Reason>| {
        let token = keys.token(alg, &header, &claims.to_string());
        let mut v = verifier(&jwks, settings.policy);
        let got = v.verify(&token, NOW).map(|_| ()).map_err(|r| r.reason);
        assert_eq!(got, expect, "{name}");
    };
    let t = NOW;
    // Clerk v2 session token.
    let clerk = profile::clerk("clerk.example.com", &["https://app.example.com"]);
    assert_eq!(
        clerk.jwks_uri.as_deref(),
        Some("https://clerk.example.com/.well-known/jwks.json")
    );
    let clerk_claims = json!({ "v": 2, "iss": "https://clerk.example.com", "sub": "user_2abc", "sid": "sess_2def",
        "azp": "https://app.example.com", "iat": t - 5, "nbf": t - 15, "exp": t + 55, "sts": "active", "fva": [3, -1],
        "o": { "id": "org_2xyz", "slg": "acme", "rol": "admin", "per": "read,manage", "fpm": "3" }, "fea": "o:dashboard" });
    let clerk_header = json!({ "alg": "RS256", "kid": "rsa", "typ": "JWT" });
    check(
        "clerk",
        clerk.clone(),
        "RS256",
        clerk_header.clone(),
        clerk_claims.clone(),
        Ok(()),
    );
    let mut other_app = clerk_claims.clone();
    other_app["azp"] = json!("https://other.example.com");
    check(
        "clerk other azp",
        clerk.clone(),
        "RS256",
        clerk_header.clone(),
        other_app,
        Err(Reason::AzpInvalid),
    );
    let mut no_sid = clerk_claims.clone();
    no_sid.as_object_mut().unwrap().remove("sid");
    check(
        "clerk without sid",
        clerk.clone(),
        "RS256",
        clerk_header,
        no_sid,
        Err(Reason::ClaimMissing),
    );
    check(
        "clerk ES256 refused",
        clerk,
        "ES256",
        json!({ "alg": "ES256", "kid": "ec" }),
        clerk_claims.clone(),
        Err(Reason::AlgNotAllowed),
    );
    let id = verifier(&jwks, profile::clerk("clerk.example.com", &[]).policy)
        .verify(
            &keys.token(
                "RS256",
                &json!({ "alg": "RS256", "kid": "rsa" }),
                &clerk_claims.to_string(),
            ),
            NOW,
        )
        .unwrap();
    let org = id.org.clone().unwrap();
    assert_eq!(
        (org.id.as_str(), org.role.as_deref()),
        ("org_2xyz", Some("org:admin"))
    );
    assert_eq!(org.permissions, ["org:dashboard:read", "org:dashboard:manage"]);
    assert_eq!(id.sid.as_deref(), Some("sess_2def"));

    // Auth0 access token: issuer with a trailing slash, aud array with userinfo.
    let auth0 = profile::auth0("tenant.eu.auth0.com", "https://api.example.com");
    let auth0_claims = json!({ "iss": "https://tenant.eu.auth0.com/", "sub": "auth0|65f0", "aud": ["https://api.example.com", "https://tenant.eu.auth0.com/userinfo"],
        "iat": t - 5, "exp": t + 86_395, "scope": "openid profile read:messages", "azp": "cLiEnTiD", "org_id": "org_abc" });
    check(
        "auth0",
        auth0.clone(),
        "RS256",
        json!({ "alg": "RS256", "typ": "JWT", "kid": "rsa" }),
        auth0_claims.clone(),
        Ok(()),
    );
    let mut no_slash = auth0_claims.clone();
    no_slash["iss"] = json!("https://tenant.eu.auth0.com");
    check(
        "auth0 without trailing slash",
        auth0,
        "RS256",
        json!({ "alg": "RS256", "kid": "rsa" }),
        no_slash,
        Err(Reason::IssuerInvalid),
    );

    // Supabase (asymmetric signing keys, ES256).
    let supa = profile::supabase("https://abcdefgh.supabase.co");
    assert_eq!(
        supa.jwks_uri.as_deref(),
        Some("https://abcdefgh.supabase.co/auth/v1/.well-known/jwks.json")
    );
    let supa_claims = json!({ "iss": "https://abcdefgh.supabase.co/auth/v1", "sub": "123e4567-e89b-12d3-a456-426614174000", "aud": "authenticated",
        "exp": t + 3600, "iat": t, "role": "authenticated", "aal": "aal1", "session_id": "0b4f", "is_anonymous": false });
    check(
        "supabase",
        supa.clone(),
        "ES256",
        json!({ "alg": "ES256", "kid": "ec", "typ": "JWT" }),
        supa_claims.clone(),
        Ok(()),
    );
    let mut anon = supa_claims.clone();
    anon["aud"] = json!("anon");
    check(
        "supabase anon key",
        supa,
        "ES256",
        json!({ "alg": "ES256", "kid": "ec" }),
        anon,
        Err(Reason::AudienceInvalid),
    );

    // Firebase ID token.
    let fb = profile::firebase("my-project");
    let fb_claims = json!({ "iss": "https://securetoken.google.com/my-project", "aud": "my-project", "auth_time": t - 100,
        "user_id": "uid1", "sub": "uid1", "iat": t - 10, "exp": t + 3590, "firebase": { "sign_in_provider": "password" } });
    check(
        "firebase",
        fb.clone(),
        "RS256",
        json!({ "alg": "RS256", "kid": "rsa", "typ": "JWT" }),
        fb_claims.clone(),
        Ok(()),
    );
    let mut other_project = fb_claims.clone();
    other_project["aud"] = json!("other-project");
    check(
        "firebase other project",
        fb,
        "RS256",
        json!({ "alg": "RS256", "kid": "rsa" }),
        other_project,
        Err(Reason::AudienceInvalid),
    );

    // Cognito access token (client_id, no aud) and ID token.
    let cog = profile::cognito(
        "eu-west-1",
        "eu-west-1_AbC",
        &["app-client-1"],
        profile::CognitoTokenUse::Access,
    );
    let cog_iss = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC";
    let access = json!({ "sub": "aaaa-bbbb", "iss": cog_iss, "client_id": "app-client-1", "origin_jti": "x", "event_id": "e",
        "token_use": "access", "scope": "aws.cognito.signin.user.admin", "auth_time": t - 10, "exp": t + 3590, "iat": t - 10, "jti": "j", "username": "alice" });
    check(
        "cognito access",
        cog.clone(),
        "RS256",
        json!({ "alg": "RS256", "kid": "rsa" }),
        access.clone(),
        Ok(()),
    );
    let mut id_token = access.clone();
    id_token["token_use"] = json!("id");
    check(
        "cognito id token as access",
        cog.clone(),
        "RS256",
        json!({ "alg": "RS256", "kid": "rsa" }),
        id_token,
        Err(Reason::ClaimInvalid),
    );
    let mut other_client = access;
    other_client["client_id"] = json!("app-client-2");
    check(
        "cognito other client",
        cog,
        "RS256",
        json!({ "alg": "RS256", "kid": "rsa" }),
        other_client,
        Err(Reason::AudienceInvalid),
    );
    let cog_id = profile::cognito(
        "eu-west-1",
        "eu-west-1_AbC",
        &["app-client-1"],
        profile::CognitoTokenUse::Id,
    );
    let idt = json!({ "sub": "aaaa-bbbb", "iss": cog_iss, "aud": "app-client-1", "token_use": "id", "auth_time": t, "exp": t + 3600, "iat": t, "email": "a@example.com" });
    check(
        "cognito id",
        cog_id,
        "RS256",
        json!({ "alg": "RS256", "kid": "rsa" }),
        idt,
        Ok(()),
    );

    // WorkOS AuthKit access token (the documented example's shape).
    let workos = profile::workos("client_123");
    assert_eq!(
        workos.jwks_uri.as_deref(),
        Some("https://api.workos.com/sso/jwks/client_123")
    );
    let w = json!({ "iss": "https://api.workos.com", "sub": "user_01HBEQKA6K4QJAS93VPE39W1JT", "act": { "sub": "admin@foocorp.com" },
        "org_id": "org_01HRDMC6CM357W30QMHMQ96Q0S", "role": "member", "roles": ["member"], "permissions": ["posts:read", "posts:write"],
        "sid": "session_01HQSXZGF8FHF7A9ZZFCW4387R", "jti": "01HQSXZXPPFPKMDD32RKTFY6PV", "exp": t + 300, "iat": t });
    check(
        "workos",
        workos.clone(),
        "RS256",
        json!({ "alg": "RS256", "kid": "rsa" }),
        w.clone(),
        Ok(()),
    );
    let id = verifier(&jwks, workos.policy)
        .verify(
            &keys.token("RS256", &json!({ "alg": "RS256", "kid": "rsa" }), &w.to_string()),
            NOW,
        )
        .unwrap();
    assert_eq!(
        id.org.as_ref().unwrap().permissions,
        ["posts:read", "posts:write"]
    );

    // Keycloak access token vs. ID token.
    let kc = profile::keycloak("https://sso.example.com/", "acme");
    assert_eq!(
        kc.jwks_uri.as_deref(),
        Some("https://sso.example.com/realms/acme/protocol/openid-connect/certs")
    );
    let kc_claims = json!({ "exp": t + 300, "iat": t, "jti": "onrtac:1", "iss": "https://sso.example.com/realms/acme", "aud": "account",
        "sub": "f:1", "typ": "Bearer", "azp": "web", "sid": "s1", "scope": "openid email profile", "realm_access": { "roles": ["user"] } });
    check(
        "keycloak",
        kc.clone(),
        "RS256",
        json!({ "alg": "RS256", "typ": "JWT", "kid": "rsa" }),
        kc_claims.clone(),
        Ok(()),
    );
    let mut kc_id = kc_claims;
    kc_id["typ"] = json!("ID");
    check(
        "keycloak id token",
        kc,
        "RS256",
        json!({ "alg": "RS256", "kid": "rsa" }),
        kc_id,
        Err(Reason::ClaimInvalid),
    );

    // Generic OIDC: issuer only, every default algorithm.
    let o = profile::oidc(ISS);
    assert_eq!(o.jwks_uri, None);
    assert_eq!(o.discovery_uri, format!("{ISS}/.well-known/openid-configuration"));
    check(
        "oidc EdDSA",
        o,
        "EdDSA",
        json!({ "alg": "EdDSA", "kid": "ed" }),
        serde_json::from_str(&claims(json!({}))).unwrap(),
        Ok(()),
    );

    for p in Provider::ALL {
        assert_eq!(Provider::from_name(p.name()), Some(p));
    }
}

#[test]
fn demo_fixtures_are_current() {
    let (token, jwks) = demo_fixtures();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/demo");
    if std::env::var_os("TESSERA_WRITE_DEMO").is_some() {
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("session.jwt"), &token).unwrap();
        std::fs::write(dir.join("jwks.json"), &jwks).unwrap();
    }
    assert_eq!(
        std::fs::read_to_string(dir.join("session.jwt")).unwrap(),
        token,
        "rerun with TESSERA_WRITE_DEMO=1"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("jwks.json")).unwrap(),
        jwks,
        "rerun with TESSERA_WRITE_DEMO=1"
    );
}

#[test]
fn the_docs_document_every_reason_with_its_mapping() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/configuration.md")).unwrap();
    for r in Reason::ALL {
        let row = format!(
            "| `{}` | {} | {} |",
            r.code(),
            r.http_status(),
            if r.is_retryable() { "yes" } else { "no" }
        );
        assert!(
            readme.contains(&row),
            "docs/configuration.md's reason table lacks or misstates: {row}"
        );
    }
}

/// The token layer (`crates/core/src/token/`) never imports the session
/// layer: outside comments, no path into a session-layer module.
#[test]
fn the_token_layer_never_imports_the_session_layer() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../crates/core/src/token");
    let session: Vec<String> =
        std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../crates/core/src/session"))
            .unwrap()
            .map(|e| {
                e.unwrap()
                    .path()
                    .file_stem()
                    .unwrap()
                    .to_string_lossy()
                    .into_owned()
            })
            .filter(|name| name != "mod")
            .collect();
    assert!(session.contains(&String::from("engine")) && session.contains(&String::from("config")));
    let mut files = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        files += 1;
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            for module in &session {
                for prefix in ["crate::", "crate::session::", "super::"] {
                    let path_use = format!("{prefix}{module}");
                    assert!(
                        !code.contains(&path_use),
                        "{}:{}: the token layer uses {path_use}",
                        path.display(),
                        n + 1
                    );
                }
            }
        }
    }
    assert!(files >= 15);
}
