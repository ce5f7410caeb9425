//! Revocations and back-channel logout through the engine: what a logout
//! token, a sign-out or the app's `revoke` ends, on this instance and (through
//! the shared store the harness simulates) on another; forged, replayed and
//! malformed logout tokens; and an instance that cannot read the store.

mod harness;

use harness::*;
use serde_json::{json, Value};
use tessera_core::decision::{Decision, Status, StoreUse};
use tessera_core::engine::{Engine, Step, StoreOp};
use tessera_core::revocation::Kind;
use tessera_tests::{Keys, ISS, NOW};

/// The endpoint's answer: HTTP status and the OAuth `error`, if any.
fn answer(d: &Decision) -> (Option<u16>, Option<String>) {
    (d.respond_status(), error_of(d))
}

fn api(e: &mut Engine, idp: &mut Idp, browser: &Browser, now: u64) -> Decision {
    drive(e, idp, "GET", "/api/me", &[("cookie", &browser.header())], now)
}

#[test]
fn a_logout_token_for_a_provider_session_ends_it_and_only_it() {
    let keys = Keys::load();
    let mut idp = Idp::new(&keys);
    let mut e = engine(json!({}));
    let alice = signed_in_as(&mut e, &mut idp, &keys, "user_1", "op-1", NOW);
    let other_tab_of_alice = signed_in_as(&mut e, &mut idp, &keys, "user_1", "op-2", NOW);
    assert_eq!(api(&mut e, &mut idp, &alice, NOW + 5).status, Status::SignedIn);

    let d = logout(
        &mut e,
        &mut idp,
        &logout_token(&keys, NOW + 10, json!({})),
        NOW + 10,
    );
    assert_eq!(answer(&d), (Some(200), None), "{:?}", d.message);
    assert_eq!(header(&d, "cache-control"), Some("no-store"));
    // Published for the other instances, for the longest a session lives.
    let published = &idp.store.published;
    assert_eq!(published.len(), 1);
    assert_eq!(
        (
            published[0].kind,
            published[0].value.as_str(),
            published[0].iss.as_str()
        ),
        (Kind::Sid, "op-1", ISS)
    );
    assert_eq!(published[0].until, NOW + 10 + 30 * 24 * 3600);

    let d = api(&mut e, &mut idp, &alice, NOW + 11);
    assert_eq!(
        (d.respond_status(), code(&d)),
        (Some(401), Some("session-revoked"))
    );
    assert_eq!(d.event.store, Some(StoreUse::Revoked));
    assert_eq!(cleared(&d), [SESSION, REFRESH], "the cookies are cleared");
    // A page navigation goes to sign-in, not into a loop of 401s.
    let d = drive(
        &mut e,
        &mut idp,
        "GET",
        "/dashboard",
        &[("cookie", &alice.header()), ("sec-fetch-dest", "document")],
        NOW + 11,
    );
    assert_eq!(d.respond_status(), Some(302));
    assert!(header(&d, "location").unwrap().starts_with("/__tessera/sign-in"));
    // The refresh endpoint does not bring it back.
    let d = drive(
        &mut e,
        &mut idp,
        "POST",
        "/__tessera/refresh",
        &[("cookie", &alice.header()), ("sec-fetch-site", "same-origin")],
        NOW + 12,
    );
    assert_eq!(code(&d), Some("session-revoked"));
    assert_eq!(
        idp.count(&format!("POST {ISS}/token")),
        2,
        "only the two sign-ins"
    );
    // The same user's other provider session goes on.
    assert_eq!(
        api(&mut e, &mut idp, &other_tab_of_alice, NOW + 12).status,
        Status::SignedIn
    );
}

#[test]
fn a_logout_token_for_a_subject_ends_what_was_issued_before_it_only() {
    let keys = Keys::load();
    let mut idp = Idp::new(&keys);
    let mut e = engine(json!({}));
    let before = signed_in_as(&mut e, &mut idp, &keys, "user_1", "op-1", NOW);
    let bystander = signed_in_as(&mut e, &mut idp, &keys, "user_2", "op-9", NOW);
    let old_bearer = access_token(&keys, json!({ "iat": NOW, "nbf": NOW, "exp": NOW + 3600 }));
    assert_eq!(
        bearer(&mut e, &mut idp, &old_bearer, NOW + 1).status,
        Status::SignedIn
    );

    let token = logout_token(&keys, NOW + 100, json!({ "sid": null, "sub": "user_1" }));
    let d = logout(&mut e, &mut idp, &token, NOW + 100);
    assert_eq!(answer(&d), (Some(200), None), "{:?}", d.message);
    assert_eq!(idp.store.published[0].kind, Kind::Sub);
    assert_eq!(
        idp.store.published[0].at,
        NOW + 100,
        "the cut-off is the token's iat"
    );

    assert_eq!(
        code(&api(&mut e, &mut idp, &before, NOW + 101)),
        Some("session-revoked")
    );
    let d = bearer(&mut e, &mut idp, &old_bearer, NOW + 101);
    assert_eq!(
        (d.respond_status(), code(&d)),
        (Some(401), Some("session-revoked"))
    );
    assert!(header(&d, "www-authenticate").unwrap().contains("invalid_token"));
    // Through the token-only API too, memo hit or not.
    for _ in 0..2 {
        let Step::Done(d) = e.verify_token(&old_bearer, NOW + 102) else {
            panic!()
        };
        assert_eq!(code(&d), Some("session-revoked"));
        assert!(e.remembered(&old_bearer, NOW + 102).is_none());
    }
    // Other users, and the same user's sign-ins and tokens after it, go on.
    assert_eq!(
        api(&mut e, &mut idp, &bystander, NOW + 101).status,
        Status::SignedIn
    );
    let after = signed_in_as(&mut e, &mut idp, &keys, "user_1", "op-3", NOW + 101);
    assert_eq!(api(&mut e, &mut idp, &after, NOW + 102).status, Status::SignedIn);
    let new_bearer = access_token(
        &keys,
        json!({ "iat": NOW + 101, "nbf": NOW + 101, "exp": NOW + 3600 }),
    );
    assert_eq!(
        bearer(&mut e, &mut idp, &new_bearer, NOW + 102).status,
        Status::SignedIn
    );
}

#[test]
fn forged_and_malformed_logout_tokens_are_refused_with_400() {
    let keys = Keys::load();
    let mut idp = Idp::new(&keys);
    let mut e = engine(json!({}));
    let victim = signed_in_as(&mut e, &mut idp, &keys, "user_1", "op-1", NOW);
    let at = NOW + 10;
    let forged_signature = {
        let t = logout_token(&keys, at, json!({}));
        let (rest, _) = t.rsplit_once('.').unwrap();
        let other = logout_token(&keys, at, json!({ "sid": "op-2" }));
        format!("{rest}.{}", other.rsplit_once('.').unwrap().1)
    };
    let id_token = keys.token(
        "EdDSA",
        &json!({ "alg": "EdDSA", "kid": "ed" }),
        &tessera_tests::claims(json!({ "aud": "app", "sid": "op-1", "nonce": "n", "iat": at })),
    );
    let cases: Vec<(&str, String, &str)> = vec![
        ("another token's signature", forged_signature, "signature-invalid"),
        (
            "typ JWT",
            logout_token_with(
                &keys,
                json!({ "alg": "EdDSA", "kid": "ed", "typ": "JWT" }),
                at,
                json!({}),
            ),
            "typ-invalid",
        ),
        (
            "an access token's typ",
            logout_token_with(
                &keys,
                json!({ "alg": "EdDSA", "kid": "ed", "typ": "at+jwt" }),
                at,
                json!({}),
            ),
            "typ-invalid",
        ),
        ("the app's ID token", id_token, "typ-invalid"),
        (
            "a nonce",
            logout_token(&keys, at, json!({ "nonce": "n" })),
            "typ-invalid",
        ),
        (
            "another issuer",
            logout_token(&keys, at, json!({ "iss": "https://evil.example" })),
            "issuer-invalid",
        ),
        (
            "another client",
            logout_token(&keys, at, json!({ "aud": "other-app" })),
            "audience-invalid",
        ),
        (
            "the API's audience",
            logout_token(&keys, at, json!({ "aud": "api" })),
            "audience-invalid",
        ),
        (
            "no events",
            logout_token(&keys, at, json!({ "events": null })),
            "claim-invalid",
        ),
        (
            "another event",
            logout_token(&keys, at, json!({ "events": { "urn:other": {} } })),
            "claim-invalid",
        ),
        (
            "no jti",
            logout_token(&keys, at, json!({ "jti": null })),
            "claim-missing",
        ),
        (
            "no sid or sub",
            logout_token(&keys, at, json!({ "sid": null })),
            "claim-missing",
        ),
        (
            "no iat",
            logout_token(&keys, at, json!({ "iat": null })),
            "claim-missing",
        ),
        (
            "no exp",
            logout_token(&keys, at, json!({ "exp": null })),
            "claim-missing",
        ),
        (
            "expired",
            logout_token(&keys, at - 200, json!({})),
            "token-expired",
        ),
        (
            "too old, a long exp",
            logout_token(&keys, at - 400, json!({ "exp": at + 3600 })),
            "token-too-old",
        ),
        (
            "issued in the future",
            logout_token(&keys, at + 60, json!({})),
            "iat-in-future",
        ),
        (
            "alg none",
            {
                let t = logout_token(&keys, at, json!({}));
                let parts: Vec<&str> = t.split('.').collect();
                format!("eyJhbGciOiJub25lIn0.{}.", parts[1])
            },
            "alg-not-allowed",
        ),
        (
            "an unknown key",
            logout_token_with(
                &keys,
                json!({ "alg": "EdDSA", "kid": "nope", "typ": "logout+jwt" }),
                at,
                json!({}),
            ),
            "key-not-found",
        ),
    ];
    for (name, token, reason) in cases {
        let d = logout(&mut e, &mut idp, &token, at);
        assert_eq!(
            answer(&d),
            (Some(400), Some("invalid_request".into())),
            "{name}: {:?}",
            d.message
        );
        assert_eq!(code(&d), Some(reason), "{name}: {:?}", d.message);
    }
    for (name, body, reason) in [
        ("no token", String::from("token=abc"), "token-missing"),
        ("an empty body", String::new(), "token-missing"),
        (
            "two tokens",
            format!(
                "logout_token={0}&logout_token={0}",
                logout_token(&keys, at, json!({}))
            ),
            "token-malformed",
        ),
        (
            "an encoded token",
            "logout_token=a%2Eb%2Ec".into(),
            "token-malformed",
        ),
        (
            "an oversized body",
            format!("logout_token={}", "a".repeat(17_000)),
            "token-too-large",
        ),
    ] {
        let d = post_logout(&mut e, &mut idp, &body, at);
        assert_eq!(answer(&d), (Some(400), Some("invalid_request".into())), "{name}");
        assert_eq!(code(&d), Some(reason), "{name}");
    }
    // Nothing was revoked, nothing published.
    assert!(idp.store.published.is_empty());
    assert_eq!(api(&mut e, &mut idp, &victim, at + 1).status, Status::SignedIn);
    // Only POST.
    let d = drive(&mut e, &mut idp, "GET", "/__tessera/backchannel-logout", &[], at);
    assert_eq!(
        (d.respond_status(), header(&d, "allow")),
        (Some(405), Some("POST"))
    );
}

#[test]
fn a_replayed_logout_token_is_refused_here_and_on_another_instance() {
    let keys = Keys::load();
    let mut idp = Idp::new(&keys);
    let mut a = engine(json!({}));
    let mut b = engine(json!({}));
    let token = logout_token(&keys, NOW, json!({}));
    assert_eq!(answer(&logout(&mut a, &mut idp, &token, NOW)).0, Some(200));
    let d = logout(&mut a, &mut idp, &token, NOW + 1);
    assert_eq!(answer(&d).0, Some(400));
    assert!(d.message.unwrap().contains("replay"));
    // Instance b has not seen it, the shared store has.
    let d = logout(&mut b, &mut idp, &token, NOW + 2);
    assert_eq!(answer(&d).0, Some(400));
    assert!(
        matches!(idp.store.ops.last(), Some(StoreOp::Once { key, ttl }) if key.starts_with("logout-jti:") && *ttl > 0)
    );
    assert!(
        !idp.store
            .ops
            .iter()
            .any(|op| matches!(op, StoreOp::Once { key, .. } if key.contains("jti-"))),
        "store keys name no jti in the clear"
    );
}

#[test]
fn a_revocation_made_on_one_instance_is_enforced_by_another() {
    let keys = Keys::load();
    let mut idp = Idp::new(&keys);
    let mut a = engine(json!({}));
    let mut b = engine(json!({}));
    let browser = signed_in_as(&mut a, &mut idp, &keys, "user_1", "op-1", NOW);
    assert_eq!(api(&mut b, &mut idp, &browser, NOW + 1).status, Status::SignedIn);
    // Signed out through instance a; the cookies' copy reaches instance b.
    let d = drive(
        &mut a,
        &mut idp,
        "POST",
        "/__tessera/sign-out",
        &[("cookie", &browser.header()), ("sec-fetch-site", "same-origin")],
        NOW + 2,
    );
    assert_eq!(d.respond_status(), Some(303));
    let revoked = &idp.store.published;
    assert_eq!(revoked.len(), 2, "by session id and by refresh token");
    assert!(revoked
        .iter()
        .all(|r| r.kind == Kind::Session && r.iss.is_empty()));
    // The provider revoked the refresh token: kept only as long as a copy
    // could be served (the access token's hour), not the session's 30 days.
    assert!(revoked.iter().all(|r| r.until <= NOW + 3600 + 10), "{revoked:?}");
    assert_eq!(
        api(&mut b, &mut idp, &browser, NOW + 3).status,
        Status::SignedIn,
        "not yet delivered"
    );
    idp.store.deliver(&mut b, NOW + 3);
    let d = api(&mut b, &mut idp, &browser, NOW + 4);
    assert_eq!(code(&d), Some("session-revoked"));
    // The app's own revoke, published the same way.
    let c2 = signed_in_as(&mut b, &mut idp, &keys, "user_2", "op-2", NOW + 5);
    let r = b.revoke(Kind::Sub, "user_2", NOW + 6).unwrap();
    assert_eq!(
        (r.iss.as_str(), r.at),
        ("", NOW + 6),
        "the app names its user at any issuer"
    );
    assert_eq!(
        code(&api(&mut b, &mut idp, &c2, NOW + 6)),
        Some("session-revoked")
    );
    assert_eq!(api(&mut a, &mut idp, &c2, NOW + 6).status, Status::SignedIn);
    a.revoked(r, NOW + 6);
    assert_eq!(
        code(&api(&mut a, &mut idp, &c2, NOW + 7)),
        Some("session-revoked")
    );
    assert!(b.revoke(Kind::Sid, "", NOW).is_err());
}

#[test]
fn without_a_revocation_endpoint_a_sign_out_is_kept_as_long_as_a_session_lives() {
    let keys = Keys::load();
    let mut idp = Idp::new(&keys);
    idp.discovery
        .as_object_mut()
        .unwrap()
        .remove("revocation_endpoint");
    let mut e = engine(json!({}));
    let browser = signed_in_as(&mut e, &mut idp, &keys, "user_1", "op-1", NOW);
    let d = drive(
        &mut e,
        &mut idp,
        "POST",
        "/__tessera/sign-out",
        &[("cookie", &browser.header()), ("sec-fetch-site", "same-origin")],
        NOW + 2,
    );
    assert_eq!(d.respond_status(), Some(303));
    assert!(!d.event.revoked);
    assert!(idp
        .store
        .published
        .iter()
        .all(|r| r.until == NOW + 2 + 30 * 24 * 3600));
    // Its copy cannot refresh: months later, still refused.
    let d = api(&mut e, &mut idp, &browser, NOW + 20 * 24 * 3600);
    assert_eq!(code(&d), Some("session-revoked"));
}

#[test]
fn a_store_outage_neither_signs_out_nor_readmits() {
    let keys = Keys::load();
    let mut idp = Idp::new(&keys);
    let mut e = engine(json!({}));
    let browser = signed_in_as(&mut e, &mut idp, &keys, "user_1", "op-1", NOW);
    idp.store.down = true;
    // A logout while the store is down: applied here, and the provider is
    // told it failed (400 temporarily_unavailable) so it may try again.
    let d = logout(
        &mut e,
        &mut idp,
        &logout_token(&keys, NOW + 5, json!({})),
        NOW + 5,
    );
    assert_eq!(answer(&d), (Some(400), Some("temporarily_unavailable".into())));
    assert_eq!(code(&d), Some("store-unavailable"));
    assert_eq!(d.event.store, Some(StoreUse::Error));
    assert_eq!(
        code(&api(&mut e, &mut idp, &browser, NOW + 6)),
        Some("session-revoked")
    );
    // A sign-out while the store is down still signs out here.
    let other = signed_in_as(&mut e, &mut idp, &keys, "user_2", "op-2", NOW + 6);
    let d = drive(
        &mut e,
        &mut idp,
        "POST",
        "/__tessera/sign-out",
        &[("cookie", &other.header()), ("sec-fetch-site", "same-origin")],
        NOW + 7,
    );
    assert_eq!(
        (d.respond_status(), d.event.store),
        (Some(303), Some(StoreUse::Error))
    );
    assert_eq!(
        code(&api(&mut e, &mut idp, &other, NOW + 8)),
        Some("session-revoked")
    );
}

#[test]
fn an_instance_that_cannot_read_the_store_serves_only_what_is_newer() {
    let keys = Keys::load();
    let mut idp = Idp::new(&keys);
    let mut e = engine(json!({}));
    let old = signed_in_as(&mut e, &mut idp, &keys, "user_1", "op-1", NOW);
    let old_bearer = access_token(&keys, json!({ "iat": NOW, "nbf": NOW, "exp": NOW + 3600 }));
    // A cold instance, started at NOW + 100, that could not load the revocations.
    e.set_revocations_unknown_since(Some(NOW + 100));
    let d = api(&mut e, &mut idp, &old, NOW + 101);
    assert_eq!(
        (d.respond_status(), code(&d)),
        (Some(503), Some("store-unavailable"))
    );
    assert_eq!(d.event.store, Some(StoreUse::Unknown));
    assert!(cleared(&d).is_empty(), "never a sign-out for a store outage");
    assert!(header(&d, "retry-after").is_some());
    let d = bearer(&mut e, &mut idp, &old_bearer, NOW + 101);
    assert_eq!(code(&d), Some("store-unavailable"));
    // What began after it started cannot have been revoked before.
    let new = signed_in_as(&mut e, &mut idp, &keys, "user_1", "op-2", NOW + 100);
    assert_eq!(api(&mut e, &mut idp, &new, NOW + 101).status, Status::SignedIn);
    let new_bearer = access_token(
        &keys,
        json!({ "iat": NOW + 100, "nbf": NOW + 100, "exp": NOW + 3600 }),
    );
    assert_eq!(
        bearer(&mut e, &mut idp, &new_bearer, NOW + 101).status,
        Status::SignedIn
    );
    // Loaded: everything is served again.
    e.set_revocations_unknown_since(None);
    assert_eq!(api(&mut e, &mut idp, &old, NOW + 102).status, Status::SignedIn);
}

#[test]
fn a_refresh_finishing_after_a_revocation_does_not_bring_the_session_back() {
    let keys = Keys::load();
    let mut idp = Idp::new(&keys);
    let mut e = engine(json!({}));
    let browser = signed_in_as(&mut e, &mut idp, &keys, "user_1", "op-1", NOW);
    // The access token has expired: the request suspends on the refresh,
    // and the logout arrives meanwhile.
    let later = NOW + 4000;
    let cookie = browser.header();
    let req = tessera_core::engine::Request {
        method: "GET",
        url: "/api/me",
        headers: &[("cookie", &cookie)],
    };
    let Step::Refresh(pending) = e.handle(&req, later, seed(later, 1)) else {
        panic!("a refresh")
    };
    let d = logout(&mut e, &mut idp, &logout_token(&keys, later, json!({})), later);
    assert_eq!(answer(&d).0, Some(200));
    let fresh = access_token(
        &keys,
        json!({ "iat": later, "nbf": later, "exp": later + 60, "sid": "op-1" }),
    );
    let (status, body) = token_reply(&fresh, Some("rt-2"), None);
    let reply = tessera_core::engine::Reply::Response {
        status,
        cache_control: None,
        body: body.as_bytes(),
    };
    let Step::Done(d) = e.resume(pending, reply, later, seed(later, 2)) else {
        panic!()
    };
    assert_eq!(code(&d), Some("session-revoked"));
    assert_eq!(cleared(&d), [SESSION, REFRESH]);
}

#[test]
fn the_revoke_endpoint_takes_only_its_secret_and_one_name() {
    let keys = Keys::load();
    let mut idp = Idp::new(&keys);
    const SECRET: &str = "cmV2b2tlLXNlY3JldC1vZi1hdC1sZWFzdC0zMi1ieXRlcw==";
    let mut e = engine(json!({ "revokeSecret": SECRET }));
    let victim = signed_in_as(&mut e, &mut idp, &keys, "user_1", "op-1", NOW);
    let post = |e: &mut Engine, idp: &mut Idp, auth: Option<&str>, body: &str| {
        idp.body = Some(body.as_bytes().to_vec());
        let bearer = auth.map(|a| format!("Bearer {a}"));
        let mut headers = vec![("content-type", "application/json")];
        if let Some(b) = &bearer {
            headers.push(("authorization", b));
        }
        let d = drive(e, idp, "POST", "/__tessera/revoke", &headers, NOW + 5);
        idp.body = None;
        d
    };
    for (auth, reason) in [
        (None, "token-missing"),
        (Some("guess"), "signature-invalid"),
        (Some(&SECRET[..31]), "signature-invalid"),
    ] {
        let d = post(&mut e, &mut idp, auth, r#"{"sub":"user_1"}"#);
        assert_eq!((d.respond_status(), code(&d)), (Some(401), Some(reason)));
    }
    for body in [
        r#"{}"#,
        r#"{"sub":"user_1","sid":"op-1"}"#,
        r#"{"sub":7}"#,
        r#"{"user":"user_1"}"#,
        r#"{"sub":""}"#,
        "sub=user_1",
    ] {
        let d = post(&mut e, &mut idp, Some(SECRET), body);
        assert_eq!(d.respond_status(), Some(400), "{body}");
    }
    assert!(idp.store.published.is_empty());
    assert_eq!(api(&mut e, &mut idp, &victim, NOW + 5).status, Status::SignedIn);
    let d = post(&mut e, &mut idp, Some(SECRET), r#"{"sub":"user_1"}"#);
    assert_eq!(d.respond_status(), Some(200), "{:?}", d.message);
    assert_eq!(idp.store.published[0].kind, Kind::Sub);
    assert_eq!(
        code(&api(&mut e, &mut idp, &victim, NOW + 6)),
        Some("session-revoked")
    );
    // The store down: revoked here, and the caller told to retry.
    idp.store.down = true;
    let d = post(&mut e, &mut idp, Some(SECRET), r#"{"sid":"op-9"}"#);
    assert_eq!(
        (d.respond_status(), code(&d)),
        (Some(503), Some("store-unavailable"))
    );
    // Only POST; and without a secret configured there is no such endpoint.
    let d = drive(&mut e, &mut idp, "GET", "/__tessera/revoke", &[], NOW);
    assert_eq!(d.respond_status(), Some(405));
    let mut plain = engine(json!({}));
    let d = post(&mut plain, &mut idp, Some(SECRET), r#"{"sub":"user_1"}"#);
    assert_eq!(d.respond_status(), Some(404));
    assert!(engine_config_refuses(json!({ "revokeSecret": "short" })));
}

fn engine_config_refuses(extra: Value) -> bool {
    tessera_core::config::TesseraConfig::from_json(&config_json(extra))
        .is_err_and(|e| e.field == "revokeSecret")
}
