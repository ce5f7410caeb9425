//! The `entra` profile against a provider shaped as Microsoft Entra ID's
//! documentation describes it (its documents cannot be downloaded here): the
//! multi-tenant discovery document at `…/organizations/v2.0` whose `issuer` is
//! the template `https://login.microsoftonline.com/{tenantid}/v2.0`, RS256 ID
//! tokens whose `iss` is the template filled with their own `tid`, opaque
//! (Microsoft Graph) access tokens. The mix-up defence holds: the template is
//! the only issuer the discovery document and the callback may name, and a
//! token's `iss` must be its own tenant's.

mod harness;

use harness::*;
use serde_json::{json, Value};
use tessera_core::config::{SessionIdentity, TesseraConfig};
use tessera_core::decision::{Action, Status};
use tessera_core::engine::Engine;
use tessera_tests::{Keys, NOW};

const TEMPLATE: &str = ENTRA_TEMPLATE;
const CLIENT: &str = ENTRA_CLIENT;
const CONTOSO: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const FABRIKAM: &str = "9122040d-6c67-4c5b-b112-36a304b66dad";
const LOGIN: &str = ENTRA_LOGIN;

/// An Entra v2.0 ID token of `tid`, with `iss` as given.
fn id_token(keys: &Keys, iss: &str, tid: Option<&str>, nonce: Option<&str>, now: u64) -> String {
    entra_id_token(keys, iss, tid, nonce, now, json!({}))
}

fn multi_tenant() -> Engine {
    let doc = json!({ "issuer": TEMPLATE, "profile": "entra", "clientId": CLIENT, "clientSecret": CLIENT_SECRET,
        "appOrigin": APP, "cookieKeys": COOKIE_KEYS });
    Engine::new(TesseraConfig::from_json(&doc.to_string()).unwrap()).unwrap()
}

#[test]
fn a_user_of_any_tenant_signs_in_with_their_own_tenants_issuer() {
    let keys = Keys::load();
    let mut e = multi_tenant();
    assert_eq!(e.config().session.identity, SessionIdentity::IdToken);
    let mut entra = Entra::new(&keys);
    let (d, browser) = entra_sign_in(
        &mut e,
        &mut entra,
        |n| id_token(&keys, &entra_issuer(CONTOSO), Some(CONTOSO), Some(n), NOW),
        None,
    );
    assert_eq!(
        (d.respond_status(), d.status),
        (Some(303), Status::SignedIn),
        "{:?}",
        d.message
    );
    let d = entra.drive(&mut e, "/dashboard", &[("cookie", &browser.header())], NOW + 10);
    let Action::Forward {
        identity: Some(identity),
        headers,
        ..
    } = &d.action
    else {
        panic!("{:?}", d.message)
    };
    assert_eq!(identity.iss, entra_issuer(CONTOSO));
    assert_eq!(identity.claims["tid"], Value::from(CONTOSO));
    assert!(
        !headers.iter().any(|(n, _)| n == "authorization"),
        "Graph's token stays with Tessera"
    );
    // Another tenant's user too (a multi-tenant app).
    let mut e = multi_tenant();
    let (d, _) = entra_sign_in(
        &mut e,
        &mut entra,
        |n| id_token(&keys, &entra_issuer(FABRIKAM), Some(FABRIKAM), Some(n), NOW),
        None,
    );
    assert_eq!(d.status, Status::SignedIn, "{:?}", d.message);
}

#[test]
fn a_tokens_iss_must_be_its_own_tenants() {
    let keys = Keys::load();
    let mut entra = Entra::new(&keys);
    for (why, iss, tid) in [
        ("another tenant's issuer", entra_issuer(FABRIKAM), Some(CONTOSO)),
        ("no tid", entra_issuer(CONTOSO), None),
        (
            "a tid that is not a tenant id",
            format!("{LOGIN}/x/../{CONTOSO}/v2.0"),
            Some("x/../72f988bf-86f1-41af-91ab-2d7cd011db47"),
        ),
        ("the template itself", TEMPLATE.to_string(), Some("{tenantid}")),
        (
            "the template, with a real tid",
            TEMPLATE.to_string(),
            Some(CONTOSO),
        ),
        (
            "another host",
            format!("https://evil.example/{CONTOSO}/v2.0"),
            Some(CONTOSO),
        ),
    ] {
        let mut e = multi_tenant();
        let (d, browser) = entra_sign_in(
            &mut e,
            &mut entra,
            |n| id_token(&keys, &iss, tid, Some(n), NOW),
            None,
        );
        assert_eq!(
            (d.respond_status(), code(&d)),
            (Some(400), Some("issuer-invalid")),
            "{why}: {:?}",
            d.message
        );
        assert!(!browser.cookies.contains_key(SESSION), "{why}");
    }
}

#[test]
fn the_mix_up_defence_holds_for_the_template() {
    let keys = Keys::load();
    // A discovery document naming a concrete tenant where the template is configured.
    let mut entra = Entra::new(&keys);
    entra.discovery_issuer = entra_issuer(CONTOSO);
    let mut e = multi_tenant();
    let d = entra.drive(&mut e, "/__tessera/sign-in?redirect_url=%2F", &[], NOW);
    assert_ne!(
        d.respond_status(),
        Some(302),
        "no sign-in with another issuer's endpoints"
    );
    // A callback whose iss is not the template (RFC 9207).
    let mut entra = Entra::new(&keys);
    let mut e = multi_tenant();
    let (d, _) = entra_sign_in(
        &mut e,
        &mut entra,
        |n| id_token(&keys, &entra_issuer(CONTOSO), Some(CONTOSO), Some(n), NOW),
        Some(&entra_issuer(CONTOSO)),
    );
    assert_eq!(code(&d), Some("issuer-invalid"), "{:?}", d.message);
    assert_eq!(entra.token.len(), 1, "refused before the code exchange");
    entra.token.clear();
    let (d, _) = entra_sign_in(
        &mut e,
        &mut entra,
        |n| id_token(&keys, &entra_issuer(CONTOSO), Some(CONTOSO), Some(n), NOW),
        Some(TEMPLATE),
    );
    assert_eq!(d.status, Status::SignedIn, "{:?}", d.message);
    assert!(harness::cleared(&d).contains(&TX));
}

#[test]
fn a_refresh_stays_in_the_tenant_the_session_signed_in_with() {
    let keys = Keys::load();
    let mut e = multi_tenant();
    let mut entra = Entra::new(&keys);
    let (_, mut browser) = entra_sign_in(
        &mut e,
        &mut entra,
        |n| id_token(&keys, &entra_issuer(CONTOSO), Some(CONTOSO), Some(n), NOW),
        None,
    );
    // Near expiry: the same tenant renews.
    let later = NOW + 3595;
    entra.token.push_back(entra_token_reply(&id_token(
        &keys,
        &entra_issuer(CONTOSO),
        Some(CONTOSO),
        None,
        later,
    )));
    let d = entra.drive(&mut e, "/dashboard", &[("cookie", &browser.header())], later);
    assert_eq!(d.status, Status::Refreshed, "{:?}", d.message);
    browser.apply(&d);
    // Another tenant's token for the same subject ends the session.
    let later = later + 3595;
    entra.token.push_back(entra_token_reply(&id_token(
        &keys,
        &entra_issuer(FABRIKAM),
        Some(FABRIKAM),
        None,
        later,
    )));
    let d = entra.drive(&mut e, "/dashboard", &[("cookie", &browser.header())], later);
    assert_eq!(code(&d), Some("issuer-invalid"), "{:?}", d.message);
}

#[test]
fn a_single_tenant_app_names_its_tenant() {
    let keys = Keys::load();
    let doc = json!({ "issuer": entra_issuer(CONTOSO), "profile": "entra", "clientId": CLIENT, "clientSecret": CLIENT_SECRET,
        "appOrigin": APP, "cookieKeys": COOKIE_KEYS });
    let c = TesseraConfig::from_json(&doc.to_string()).unwrap();
    assert_eq!(c.policy().issuers, [entra_issuer(CONTOSO)]);
    assert_eq!(c.policy().algorithms, [tessera_core::Alg::Rs256]);
    // A template needs the entra profile.
    let doc = json!({ "issuer": TEMPLATE, "clientId": CLIENT });
    assert_eq!(
        TesseraConfig::from_json(&doc.to_string()).unwrap_err().field,
        "issuer"
    );
    let _ = keys;
}
