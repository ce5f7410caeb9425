//! Several issuers through the engine: a partner's bearer tokens verified
//! by the partner's own verifier (its policy, key set and memo), routed by
//! the token's unverified `iss` and then verified completely; unknown
//! issuers and issuers a route does not accept refused before any fetch;
//! no key or policy of one issuer ever vouching for another's token.

mod harness;

use harness::*;
use serde_json::{json, Value};
use tessera_core::decision::{Action, Decision};
use tessera_core::engine::Engine;
use tessera_tests::{claims, Keys, ISS, NOW};

const PARTNER: &str = "https://partner.example";
const PARTNER_JWKS: &str = "https://keys.partner.example/jwks";

/// The partner's own keys (its EC and Ed25519 keys differ from the main issuer's).
fn partner_keys() -> Keys {
    Keys {
        p256: p256::ecdsa::SigningKey::from_bytes(&[7u8; 32].into()).unwrap(),
        ed: ed25519_dalek::SigningKey::from_bytes(&[9u8; 32]),
        ..Keys::load()
    }
}

fn partner_jwks() -> String {
    let k = partner_keys();
    json!({ "keys": [k.ec_jwk("p-ec"), k.ed_jwk("p-ed")] }).to_string()
}

/// An ES256 token of `keys` with kid `kid`, the suite's claims and `extra`.
fn token(keys: &Keys, kid: &str, extra: Value) -> String {
    keys.token("ES256", &json!({ "alg": "ES256", "kid": kid }), &claims(extra))
}

fn partner_token(extra: Value) -> String {
    let mut base = json!({ "iss": PARTNER, "aud": "partner-api", "sub": "partner-user" });
    if let (Value::Object(b), Value::Object(e)) = (&mut base, extra) {
        b.extend(e);
    }
    token(&partner_keys(), "p-ec", base)
}

/// An engine trusting the partner (key set at `PARTNER_JWKS`, or found
/// through its discovery document without `jwksUri`), and an IdP answering
/// for both.
fn two_issuers(jwks_uri: bool, extra: Value) -> (Engine, Idp, Keys) {
    let keys = Keys::load();
    let mut idp = Idp::new(&keys);
    idp.other.insert(PARTNER_JWKS.into(), (200, partner_jwks()));
    idp.other.insert(
        format!("{PARTNER}/.well-known/openid-configuration"),
        (
            200,
            json!({ "issuer": PARTNER, "jwks_uri": PARTNER_JWKS }).to_string(),
        ),
    );
    let mut trusted =
        json!({ "issuer": PARTNER, "verification": { "audience": "partner-api", "algorithms": ["ES256"] } });
    if jwks_uri {
        trusted["jwksUri"] = json!(PARTNER_JWKS);
    }
    let mut config = json!({
        "trustedIssuers": [trusted],
        "routes": [
            { "pattern": "/api/partner/**", "access": "api", "require": { "issuers": [PARTNER] } },
            { "pattern": "/api/**", "access": "api" }
        ]
    });
    if let (Value::Object(b), Value::Object(e)) = (&mut config, extra) {
        b.extend(e);
    }
    (engine(config), idp, keys)
}

fn get(e: &mut Engine, idp: &mut Idp, path: &str, token: &str) -> Decision {
    drive(
        e,
        idp,
        "GET",
        path,
        &[("authorization", &format!("Bearer {token}"))],
        NOW,
    )
}

fn user(d: &Decision) -> Option<&str> {
    match &d.action {
        Action::Forward { headers, .. } => headers
            .iter()
            .find(|(n, _)| n == "x-tessera-user")
            .map(|(_, v)| v.as_str()),
        Action::Respond { .. } => None,
    }
}

#[test]
fn each_issuer_s_tokens_go_to_its_own_verifier() {
    for jwks_uri in [true, false] {
        let (mut e, mut idp, keys) = two_issuers(jwks_uri, json!({}));
        let d = get(&mut e, &mut idp, "/api/x", &partner_token(json!({})));
        assert_eq!(user(&d), Some("partner-user"), "{:?}", d.message);
        assert!(
            idp.log.iter().all(|l| !l.contains(ISS)),
            "the main issuer is not asked: {:?}",
            idp.log
        );
        assert!(idp.log.contains(&format!("GET {PARTNER_JWKS}")));
        assert_eq!(
            idp.log.iter().any(|l| l.contains("partner.example/.well-known")),
            !jwks_uri
        );
        // Again: the partner verifier's memo.
        let d = get(&mut e, &mut idp, "/api/x", &partner_token(json!({})));
        assert!(d.event.memo_hit);
        // The main issuer's tokens still go to the main verifier.
        let main = access_token(&keys, json!({}));
        let before = idp.log.len();
        assert_eq!(user(&get(&mut e, &mut idp, "/api/x", &main)), Some("user_1"));
        assert!(
            idp.log[before..].iter().all(|l| !l.contains("partner")),
            "{:?}",
            &idp.log[before..]
        );
    }
}

#[test]
fn no_issuer_s_key_or_policy_vouches_for_another_s_token() {
    let (mut e, mut idp, keys) = two_issuers(true, json!({}));
    // Signed with the main issuer's key (kid "ec"), naming the partner: the
    // partner's key set has no such key.
    let forged = token(&keys, "ec", json!({ "iss": PARTNER, "aud": "partner-api" }));
    assert_eq!(
        code(&get(&mut e, &mut idp, "/api/x", &forged)),
        Some("key-not-found")
    );
    // The same with the partner's kid: the signature is the main key's.
    let forged = token(&keys, "p-ec", json!({ "iss": PARTNER, "aud": "partner-api" }));
    assert_eq!(
        code(&get(&mut e, &mut idp, "/api/x", &forged)),
        Some("signature-invalid")
    );
    // Signed by the partner, naming the main issuer: the main key set.
    let forged = token(&partner_keys(), "p-ec", json!({}));
    assert_eq!(
        code(&get(&mut e, &mut idp, "/api/x", &forged)),
        Some("key-not-found")
    );
    // The partner's token for the main API's audience: the partner's policy.
    assert_eq!(
        code(&get(
            &mut e,
            &mut idp,
            "/api/x",
            &partner_token(json!({ "aud": "api" }))
        )),
        Some("audience-invalid")
    );
    // An algorithm the partner's policy does not allow.
    let ed = partner_keys().token(
        "EdDSA",
        &json!({ "alg": "EdDSA", "kid": "p-ed" }),
        &claims(json!({ "iss": PARTNER, "aud": "partner-api" })),
    );
    assert_eq!(
        code(&get(&mut e, &mut idp, "/api/x", &ed)),
        Some("alg-not-allowed")
    );
    // An ID token of the partner is not an access token either.
    assert_eq!(
        code(&get(
            &mut e,
            &mut idp,
            "/api/x",
            &partner_token(json!({ "nonce": "n" }))
        )),
        Some("typ-invalid")
    );
}

#[test]
fn unknown_issuers_and_issuers_a_route_does_not_take_are_refused_before_any_fetch() {
    let (mut e, mut idp, keys) = two_issuers(true, json!({}));
    for iss in [
        "https://evil.example",
        "https://partner.example/",
        "https://PARTNER.example",
        "",
    ] {
        let t = token(&keys, "ec", json!({ "iss": iss }));
        let d = get(&mut e, &mut idp, "/api/x", &t);
        assert_eq!(code(&d), Some("issuer-invalid"), "{iss}");
        assert!(
            d.message.as_deref().unwrap().contains("not trusted here"),
            "{:?}",
            d.message
        );
    }
    assert!(idp.log.is_empty(), "nothing fetched: {:?}", idp.log);
    // The main issuer's valid token on the partner's route.
    let d = get(
        &mut e,
        &mut idp,
        "/api/partner/x",
        &access_token(&keys, json!({})),
    );
    assert_eq!(
        (d.respond_status(), code(&d)),
        (Some(401), Some("issuer-invalid"))
    );
    assert!(idp.log.is_empty(), "nothing fetched: {:?}", idp.log);
    assert_eq!(
        user(&get(
            &mut e,
            &mut idp,
            "/api/partner/x",
            &partner_token(json!({}))
        )),
        Some("partner-user")
    );
}

#[test]
fn one_issuer_s_outage_is_not_another_s() {
    let (mut e, mut idp, keys) = two_issuers(true, json!({}));
    idp.other.insert(PARTNER_JWKS.into(), (503, String::new()));
    let d = get(&mut e, &mut idp, "/api/x", &partner_token(json!({})));
    assert_eq!(
        (d.respond_status(), code(&d)),
        (Some(503), Some("jwks-unavailable"))
    );
    assert_eq!(
        user(&get(&mut e, &mut idp, "/api/x", &access_token(&keys, json!({})))),
        Some("user_1")
    );
    // A partner without a discovery document and no jwksUri: said so.
    let (mut e, mut idp, _) = two_issuers(false, json!({}));
    idp.other
        .remove(&format!("{PARTNER}/.well-known/openid-configuration"));
    let d = get(&mut e, &mut idp, "/api/x", &partner_token(json!({})));
    assert_eq!(code(&d), Some("jwks-unavailable"));
    assert!(
        d.message.as_deref().unwrap().contains("jwksUri"),
        "{:?}",
        d.message
    );
}

#[test]
fn a_partner_profile_reads_its_own_grants_and_machines() {
    let (mut e, mut idp, _) = two_issuers(
        true,
        json!({ "trustedIssuers": [{ "issuer": PARTNER, "profile": "auth0", "jwksUri": PARTNER_JWKS,
            "verification": { "audience": "partner-api", "algorithms": ["ES256"] } }],
            "routes": [{ "pattern": "/api/jobs/**", "access": "api", "require": { "kind": "machine", "permissions": ["run:jobs"] } }] }),
    );
    let m2m = partner_token(
        json!({ "sub": "abc@clients", "gty": "client-credentials", "permissions": ["run:jobs"] }),
    );
    assert_eq!(
        user(&get(&mut e, &mut idp, "/api/jobs/1", &m2m)),
        Some("abc@clients")
    );
    let d = get(
        &mut e,
        &mut idp,
        "/api/jobs/1",
        &partner_token(json!({ "permissions": ["run:jobs"] })),
    );
    assert_eq!(code(&d), Some("insufficient-scope"));
}

#[test]
fn trusted_issuers_are_checked_when_the_configuration_loads() {
    let entry = |extra: Value| {
        let mut t = json!({ "issuer": PARTNER, "verification": { "audience": "p" } });
        if let (Value::Object(b), Value::Object(e)) = (&mut t, extra) {
            b.extend(e);
        }
        t
    };
    for (list, field) in [
        (
            json!([{ "issuer": PARTNER }]),
            "trustedIssuers[0].verification.audience",
        ),
        (
            json!([entry(json!({ "issuer": ISS }))]),
            "trustedIssuers[0].issuer",
        ),
        (
            json!([entry(json!({})), entry(json!({}))]),
            "trustedIssuers[1].issuer",
        ),
        (
            json!([entry(json!({ "issuer": "http://partner.example" }))]),
            "trustedIssuers[0].issuer",
        ),
        (
            json!([entry(json!({ "jwksUri": "ftp://x" }))]),
            "trustedIssuers[0].jwksUri",
        ),
        (
            json!([entry(json!({ "profile": "okta2" }))]),
            "trustedIssuers[0].profile",
        ),
        (
            json!([entry(
                json!({ "issuer": "https://login.microsoftonline.com/{tenantid}/v2.0" })
            )]),
            "trustedIssuers[0].issuer",
        ),
        (
            json!([{ "verification": { "audience": "p" } }]),
            "trustedIssuers[0].issuer",
        ),
    ] {
        let err =
            tessera_core::config::TesseraConfig::from_json(&config_json(json!({ "trustedIssuers": list })))
                .unwrap_err();
        assert_eq!(err.field, field, "{list}: {err}");
    }
}
