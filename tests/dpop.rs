//! DPoP (RFC 9449) through the engine: a token bound to a key passes only
//! as `Authorization: DPoP` with a proof signed by that key for this very
//! request, once. Every way a stolen token or a captured proof could be
//! reused is tried: as a bearer token, replayed here and on another
//! instance, for another URL or method, with another key, for another
//! token, too old, from the future, malformed; and server nonces.

mod harness;

use harness::*;
use serde_json::json;
use tessera_core::decision::{Action, Decision};
use tessera_core::engine::{Engine, Step, StoreOp};
use tessera_tests::{b64, Keys, NOW};

fn call(
    e: &mut Engine,
    idp: &mut Idp,
    method: &str,
    path: &str,
    scheme: &str,
    token: &str,
    proofs: &[&str],
) -> Decision {
    let auth = format!("{scheme} {token}");
    let mut headers = vec![("authorization", auth.as_str())];
    headers.extend(proofs.iter().map(|p| ("dpop", *p)));
    drive(e, idp, method, path, &headers, NOW)
}

fn forwarded_authorization(d: &Decision) -> Option<&str> {
    match &d.action {
        Action::Forward { headers, .. } => headers
            .iter()
            .find(|(n, _)| n == "authorization")
            .map(|(_, v)| v.as_str()),
        Action::Respond { .. } => None,
    }
}

fn challenge(d: &Decision) -> &str {
    header(d, "www-authenticate").unwrap_or("")
}

const URL: &str = "https://app.example/api/orders";

#[test]
fn a_bound_token_with_its_proof_passes_once_and_goes_on_as_dpop() {
    let (issuer, key) = (Keys::load(), dpop_client(11));
    let mut idp = Idp::new(&issuer);
    let mut e = engine(json!({}));
    let token = bound_token(&issuer, &key, json!({}));
    let p = dpop_proof(&key, "GET", URL, &token, json!({}));
    let d = call(&mut e, &mut idp, "GET", "/api/orders", "DPoP", &token, &[&p]);
    assert_eq!(
        forwarded_authorization(&d),
        Some(format!("DPoP {token}").as_str()),
        "{:?}",
        d.message
    );
    assert!(
        idp.store
            .ops
            .iter()
            .any(|op| matches!(op, StoreOp::Once { key, .. } if key.starts_with("dpop-jti:"))),
        "the jti is recorded in the shared store"
    );
    // The same proof again: a replay.
    let d = call(&mut e, &mut idp, "GET", "/api/orders", "DPoP", &token, &[&p]);
    assert_eq!(
        (d.respond_status(), code(&d)),
        (Some(401), Some("dpop-proof-replayed"))
    );
    assert!(
        challenge(&d).starts_with("DPoP error=\"invalid_dpop_proof\""),
        "{}",
        challenge(&d)
    );
    assert!(
        challenge(&d).ends_with("algs=\"ES256 EdDSA RS256 PS256\""),
        "{}",
        challenge(&d)
    );
    // A new proof for the same request passes.
    let p2 = dpop_proof(&key, "GET", URL, &token, json!({ "jti": "another" }));
    assert!(
        call(&mut e, &mut idp, "GET", "/api/orders", "DPoP", &token, &[&p2])
            .respond_status()
            .is_none()
    );
}

#[test]
fn a_proof_replayed_on_another_instance_is_refused_there() {
    let (issuer, key) = (Keys::load(), dpop_client(11));
    let mut idp = Idp::new(&issuer);
    let (mut a, mut b) = (engine(json!({})), engine(json!({})));
    let token = bound_token(&issuer, &key, json!({}));
    let p = dpop_proof(&key, "GET", URL, &token, json!({}));
    assert!(
        call(&mut a, &mut idp, "GET", "/api/orders", "DPoP", &token, &[&p])
            .respond_status()
            .is_none()
    );
    let d = call(&mut b, &mut idp, "GET", "/api/orders", "DPoP", &token, &[&p]);
    assert_eq!(code(&d), Some("dpop-proof-replayed"));
    assert!(d.message.as_deref().unwrap().contains("another instance"));
    // The store down: whether another instance saw it cannot be told.
    idp.store.down = true;
    let p3 = dpop_proof(&key, "GET", URL, &token, json!({ "jti": "third" }));
    let d = call(&mut b, &mut idp, "GET", "/api/orders", "DPoP", &token, &[&p3]);
    assert_eq!(
        (d.respond_status(), code(&d)),
        (Some(503), Some("store-unavailable"))
    );
}

#[test]
fn a_bound_token_is_never_a_bearer_token() {
    let (issuer, key) = (Keys::load(), dpop_client(11));
    let mut idp = Idp::new(&issuer);
    let mut e = engine(json!({}));
    let token = bound_token(&issuer, &key, json!({}));
    let p = dpop_proof(&key, "GET", URL, &token, json!({}));
    for proofs in [vec![], vec![p.as_str()]] {
        let d = call(&mut e, &mut idp, "GET", "/api/orders", "Bearer", &token, &proofs);
        assert_eq!((d.respond_status(), code(&d)), (Some(401), Some("dpop-required")));
        assert!(
            challenge(&d).starts_with("DPoP error=\"invalid_token\""),
            "{}",
            challenge(&d)
        );
    }
    // Nor does verify() take it on its own (no request to bind a proof to).
    let step = e.verify_token(&token, NOW);
    let Step::Done(d) = step else {
        panic!("a verified token needs no fetch now")
    };
    assert_eq!(code(&d), Some("dpop-required"));
    // A token bound some other way (a certificate) is refused too.
    let mtls = access_token(
        &issuer,
        json!({ "cnf": { "x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2" } }),
    );
    assert_eq!(
        code(&call(
            &mut e,
            &mut idp,
            "GET",
            "/api/orders",
            "Bearer",
            &mtls,
            &[]
        )),
        Some("claim-invalid")
    );
}

#[test]
fn every_part_of_the_proof_must_fit_this_request_token_and_key() {
    let (issuer, key) = (Keys::load(), dpop_client(11));
    let other_key = Keys {
        p256: p256::ecdsa::SigningKey::from_bytes(&[12u8; 32].into()).unwrap(),
        ..Keys::load()
    };
    let mut idp = Idp::new(&issuer);
    let mut e = engine(json!({}));
    let token = bound_token(&issuer, &key, json!({}));
    let other_token = access_token(
        &issuer,
        json!({ "cnf": { "jkt": dpop_jkt(&key) }, "jti": "another-token" }),
    );
    let header = |k: &Keys| json!({ "typ": "dpop+jwt", "alg": "ES256", "jwk": dpop_jwk(k) });
    let cases: Vec<(&str, String)> = vec![
        (
            "another URL",
            dpop_proof(&key, "GET", "https://app.example/api/other", &token, json!({})),
        ),
        (
            "another origin (a Host header would say so)",
            dpop_proof(&key, "GET", "https://evil.example/api/orders", &token, json!({})),
        ),
        (
            "another scheme",
            dpop_proof(&key, "GET", "http://app.example/api/orders", &token, json!({})),
        ),
        ("another method", dpop_proof(&key, "POST", URL, &token, json!({}))),
        (
            "a method in another case",
            dpop_proof(&key, "get", URL, &token, json!({})),
        ),
        (
            "another key than the token's",
            dpop_proof(&other_key, "GET", URL, &token, json!({})),
        ),
        (
            "another token",
            dpop_proof(&key, "GET", URL, &other_token, json!({})),
        ),
        (
            "no ath",
            dpop_proof(&key, "GET", URL, &token, json!({ "ath": null })),
        ),
        (
            "no jti",
            dpop_proof(&key, "GET", URL, &token, json!({ "jti": null })),
        ),
        (
            "an empty jti",
            dpop_proof(&key, "GET", URL, &token, json!({ "jti": "" })),
        ),
        (
            "a jti over 256 bytes",
            dpop_proof(&key, "GET", URL, &token, json!({ "jti": "j".repeat(257) })),
        ),
        (
            "too old",
            dpop_proof_with(&key, header(&key), "GET", URL, &token, NOW - 70, json!({})),
        ),
        (
            "from the future",
            dpop_proof_with(&key, header(&key), "GET", URL, &token, NOW + 30, json!({})),
        ),
        (
            "no iat",
            dpop_proof(&key, "GET", URL, &token, json!({ "iat": null })),
        ),
        (
            "iat as a string",
            dpop_proof(&key, "GET", URL, &token, json!({ "iat": NOW.to_string() })),
        ),
        (
            "typ JWT",
            dpop_proof_with(
                &key,
                json!({ "typ": "JWT", "alg": "ES256", "jwk": dpop_jwk(&key) }),
                "GET",
                URL,
                &token,
                NOW,
                json!({}),
            ),
        ),
        (
            "no typ",
            dpop_proof_with(
                &key,
                json!({ "alg": "ES256", "jwk": dpop_jwk(&key) }),
                "GET",
                URL,
                &token,
                NOW,
                json!({}),
            ),
        ),
        (
            "no jwk",
            dpop_proof_with(
                &key,
                json!({ "typ": "dpop+jwt", "alg": "ES256" }),
                "GET",
                URL,
                &token,
                NOW,
                json!({}),
            ),
        ),
        (
            "a kid instead of a jwk",
            dpop_proof_with(
                &key,
                json!({ "typ": "dpop+jwt", "alg": "ES256", "kid": "ec" }),
                "GET",
                URL,
                &token,
                NOW,
                json!({}),
            ),
        ),
        ("a private jwk", {
            let mut j = dpop_jwk(&key);
            j["d"] = json!(b64(&key.p256.to_bytes()));
            dpop_proof_with(
                &key,
                json!({ "typ": "dpop+jwt", "alg": "ES256", "jwk": j }),
                "GET",
                URL,
                &token,
                NOW,
                json!({}),
            )
        }),
        (
            "a symmetric jwk",
            dpop_proof_with(
                &key,
                json!({ "typ": "dpop+jwt", "alg": "ES256", "jwk": { "kty": "oct", "k": "c2VjcmV0" } }),
                "GET",
                URL,
                &token,
                NOW,
                json!({}),
            ),
        ),
        (
            "an alg that does not fit the jwk",
            dpop_proof_with(
                &key,
                json!({ "typ": "dpop+jwt", "alg": "EdDSA", "jwk": dpop_jwk(&key) }),
                "GET",
                URL,
                &token,
                NOW,
                json!({}),
            ),
        ),
        ("a signature by another key", {
            let p = dpop_proof(&key, "GET", URL, &token, json!({}));
            let forged = dpop_proof(&other_key, "GET", URL, &token, json!({}));
            let (head, _) = p.rsplit_once('.').unwrap();
            format!("{head}.{}", forged.rsplit_once('.').unwrap().1)
        }),
        ("not a JWS", String::from("not-a-proof")),
    ];
    for (what, p) in &cases {
        let d = call(&mut e, &mut idp, "GET", "/api/orders", "DPoP", &token, &[p]);
        assert_eq!(
            (d.respond_status(), code(&d)),
            (Some(401), Some("dpop-proof-invalid")),
            "{what}: {:?}",
            d.message
        );
        assert!(
            challenge(&d).starts_with("DPoP error=\"invalid_dpop_proof\""),
            "{what}"
        );
    }
    // No proof, two proofs, a proof with an unbound token.
    let p = dpop_proof(&key, "GET", URL, &token, json!({}));
    assert_eq!(
        code(&call(&mut e, &mut idp, "GET", "/api/orders", "DPoP", &token, &[])),
        Some("dpop-proof-invalid")
    );
    assert_eq!(
        code(&call(
            &mut e,
            &mut idp,
            "GET",
            "/api/orders",
            "DPoP",
            &token,
            &[&p, &p]
        )),
        Some("dpop-proof-invalid")
    );
    let unbound = access_token(&issuer, json!({}));
    let pu = dpop_proof(&key, "GET", URL, &unbound, json!({}));
    assert_eq!(
        code(&call(
            &mut e,
            &mut idp,
            "GET",
            "/api/orders",
            "DPoP",
            &unbound,
            &[&pu]
        )),
        Some("dpop-proof-invalid")
    );
    // None of them spent the jti of a good proof: it still passes, with a
    // query string and a default port its htu may leave out or name.
    let good = dpop_proof(
        &key,
        "GET",
        "https://APP.example:443/api/orders",
        &token,
        json!({}),
    );
    let d = call(
        &mut e,
        &mut idp,
        "GET",
        "/api/orders?page=2",
        "DPoP",
        &token,
        &[&good],
    );
    assert!(d.respond_status().is_none(), "{:?}", d.message);
}

#[test]
fn server_nonces_are_asked_for_and_accepted_across_instances() {
    let (issuer, key) = (Keys::load(), dpop_client(11));
    let mut idp = Idp::new(&issuer);
    let config = json!({ "dpop": { "nonce": true } });
    let (mut a, mut b) = (engine(config.clone()), engine(config));
    let token = bound_token(&issuer, &key, json!({}));
    let d = call(
        &mut a,
        &mut idp,
        "GET",
        "/api/orders",
        "DPoP",
        &token,
        &[&dpop_proof(&key, "GET", URL, &token, json!({}))],
    );
    assert_eq!(
        (d.respond_status(), code(&d)),
        (Some(401), Some("dpop-nonce-required"))
    );
    assert!(
        challenge(&d).starts_with("DPoP error=\"use_dpop_nonce\""),
        "{}",
        challenge(&d)
    );
    let nonce = header(&d, "dpop-nonce").expect("a nonce to use").to_string();
    // Another instance with the same cookie keys takes it.
    let p = dpop_proof(
        &key,
        "GET",
        URL,
        &token,
        json!({ "nonce": nonce, "jti": "with-nonce" }),
    );
    assert!(
        call(&mut b, &mut idp, "GET", "/api/orders", "DPoP", &token, &[&p])
            .respond_status()
            .is_none()
    );
    let stale = dpop_proof(
        &key,
        "GET",
        URL,
        &token,
        json!({ "nonce": "bm90LWEtbm9uY2U", "jti": "stale" }),
    );
    assert_eq!(
        code(&call(
            &mut b,
            &mut idp,
            "GET",
            "/api/orders",
            "DPoP",
            &token,
            &[&stale]
        )),
        Some("dpop-nonce-required")
    );
    // Nonces need the cookie keys they derive from.
    let err = tessera_core::config::TesseraConfig::from_json(
        r#"{"issuer":"https://issuer.example","verification":{"audience":"api"},"dpop":{"nonce":true}}"#,
    );
    assert_eq!(err.unwrap_err().field, "dpop.nonce");
}

#[test]
fn the_host_may_check_the_proof_s_signature() {
    let (issuer, key) = (Keys::load(), dpop_client(11));
    let mut idp = Idp::new(&issuer);
    let mut e = engine(json!({})).with_host_signatures(&[tessera_core::Alg::Es256]);
    let token = bound_token(&issuer, &key, json!({}));
    let p = dpop_proof(&key, "GET", URL, &token, json!({}));
    let d = call(&mut e, &mut idp, "GET", "/api/orders", "DPoP", &token, &[&p]);
    assert!(d.respond_status().is_none(), "{:?}", d.message);
    let other = Keys {
        p256: p256::ecdsa::SigningKey::from_bytes(&[13u8; 32].into()).unwrap(),
        ..Keys::load()
    };
    let forged = dpop_proof(&other, "GET", URL, &token, json!({ "jti": "forged" }));
    let (head, _) = dpop_proof(&key, "GET", URL, &token, json!({ "jti": "forged" }))
        .rsplit_once('.')
        .map(|(h, s)| (h.to_string(), s.to_string()))
        .unwrap();
    let spliced = format!("{head}.{}", forged.rsplit_once('.').unwrap().1);
    let d = call(
        &mut e,
        &mut idp,
        "GET",
        "/api/orders",
        "DPoP",
        &token,
        &[&spliced],
    );
    assert_eq!(code(&d), Some("dpop-proof-invalid"));
}

#[test]
fn a_dpop_request_that_lacks_a_scope_gets_the_dpop_challenge() {
    let (issuer, key) = (Keys::load(), dpop_client(11));
    let mut idp = Idp::new(&issuer);
    let mut e = engine(
        json!({ "routes": [{ "pattern": "/api/**", "access": "api", "require": { "scopes": ["orders:write"] } }] }),
    );
    let token = bound_token(&issuer, &key, json!({ "scope": "orders:read" }));
    let p = dpop_proof(&key, "GET", URL, &token, json!({}));
    let d = call(&mut e, &mut idp, "GET", "/api/orders", "DPoP", &token, &[&p]);
    assert_eq!(
        (d.respond_status(), code(&d)),
        (Some(403), Some("insufficient-scope"))
    );
    assert!(
        challenge(&d).starts_with("DPoP error=\"insufficient_scope\"")
            && challenge(&d).ends_with("scope=\"orders:write\""),
        "{}",
        challenge(&d)
    );
}
