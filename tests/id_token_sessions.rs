//! ID-token sessions (`session.identity: "id-token"`, the `google` profile's
//! default): sign-in with an opaque access token, the identity sealed from
//! the ID token, refresh ahead of the access token's `expires_in` with the
//! refresh-time ID token rules, outages, and the grant revoked when a
//! sign-in fails after the code exchange. The provider's back channel is
//! scripted (`harness::Idp`); tests/e2e runs the same against oidc-provider.

mod harness;

use harness::*;
use serde_json::json;
use tessera_core::config::{SessionIdentity, TesseraConfig};
use tessera_core::decision::{Action, Status};
use tessera_tests::{claims, Keys, ISS, NOW};

fn identity(d: &tessera_core::decision::Decision) -> std::sync::Arc<tessera_core::Identity> {
    match &d.action {
        Action::Forward {
            identity: Some(identity),
            ..
        } => identity.clone(),
        _ => panic!("no identity forwarded: {:?}", d.message),
    }
}

fn forwarded(d: &tessera_core::decision::Decision) -> &[(String, String)] {
    match &d.action {
        Action::Forward { headers, .. } => headers,
        Action::Respond { status, body, .. } => panic!("answered {status}: {body} ({:?})", d.message),
    }
}

#[test]
fn an_opaque_access_token_signs_in_and_the_identity_is_the_id_tokens() {
    let keys = Keys::load();
    let mut e = id_sessions(json!({}));
    let mut idp = Idp::new(&keys);
    let browser = signed_in_opaque(&mut e, &mut idp, &keys);
    let d = drive(
        &mut e,
        &mut idp,
        "GET",
        "/api/me",
        &[("cookie", &browser.header())],
        NOW + 30,
    );
    assert_eq!(d.status, Status::SignedIn);
    let headers = forwarded(&d);
    let get = |n: &str| headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
    assert_eq!(get("x-tessera-user"), Some("user_1"));
    // The origin gets no access token unless the configuration passes it.
    assert_eq!(get("authorization"), None);
    let identity = identity(&d);
    assert_eq!(identity.claims["email"], "user_1@example.com");
    assert_eq!(
        identity.exp,
        NOW + 60,
        "the identity lasts as long as the access token"
    );
    // No key set fetch, no token request: the session's identity is sealed.
    assert_eq!(idp.count(&format!("POST {ISS}/token")), 1);

    let mut e = id_sessions(json!({ "session": { "identity": "id-token", "passAccessToken": true } }));
    let browser = signed_in_opaque(&mut e, &mut idp, &keys);
    let d = drive(
        &mut e,
        &mut idp,
        "GET",
        "/api/me",
        &[("cookie", &browser.header())],
        NOW + 30,
    );
    let auth = forwarded(&d)
        .iter()
        .find(|(k, _)| k == "authorization")
        .map(|(_, v)| v.clone());
    assert_eq!(auth.as_deref(), Some("Bearer opaque-access-token-1"));
}

#[test]
fn access_token_sessions_refuse_an_opaque_token_and_revoke_the_grant() {
    let keys = Keys::load();
    let mut e = engine(json!({}));
    let mut idp = Idp::new(&keys);
    let (d, _) = callback_with(
        &mut e,
        &mut idp,
        |nonce| {
            token_reply(
                OPAQUE,
                Some("rt-1"),
                Some(&id_token_for(&keys, "user_1", Some(nonce), NOW)),
            )
        },
        None,
        Some(ISS),
    );
    assert_eq!(d.respond_status(), Some(400), "{:?}", d.message);
    let message = d.message.clone().unwrap_or_default();
    assert!(message.contains("session.identity"), "{message}");
    // The consented grant does not stay live behind the failed sign-in.
    assert_eq!(idp.count(&format!("POST {ISS}/revoke")), 1);
    assert!(d.event.revoked);
}

#[test]
fn a_failed_id_token_at_sign_in_revokes_what_was_issued() {
    let keys = Keys::load();
    let mut e = id_sessions(json!({}));
    let mut idp = Idp::new(&keys);
    // The ID token is for another client: the sign-in fails after the exchange.
    let foreign = keys.token(
        "EdDSA",
        &json!({ "alg": "EdDSA", "kid": "ed" }),
        &claims(json!({ "aud": "another-app" })),
    );
    let (d, browser) = callback_with(
        &mut e,
        &mut idp,
        |_| token_reply(OPAQUE, Some("rt-1"), Some(&foreign)),
        None,
        Some(ISS),
    );
    assert_eq!(d.respond_status(), Some(400));
    assert_eq!(d.reason.map(|r| r.code()), Some("audience-invalid"));
    assert_eq!(idp.count(&format!("POST {ISS}/revoke")), 1);
    assert!(!browser.cookies.contains_key(SESSION));
    assert!(cleared(&d).contains(&TX), "the transaction is over");
}

#[test]
fn the_session_refreshes_ahead_of_expires_in_and_keeps_or_renews_its_identity() {
    let keys = Keys::load();
    let mut e = id_sessions(json!({}));
    let mut idp = Idp::new(&keys);
    let mut browser = signed_in_opaque(&mut e, &mut idp, &keys);

    // Within refreshAhead (10 s) of expires_in: a refresh, the new ID token's claims.
    let later = NOW + 55;
    idp.token.push_back(token_reply(
        "opaque-2",
        Some("rt-2"),
        Some(&id_token_for(&keys, "user_1", None, later)),
    ));
    let d = drive(
        &mut e,
        &mut idp,
        "GET",
        "/api/me",
        &[("cookie", &browser.header())],
        later,
    );
    assert_eq!(d.status, Status::Refreshed, "{:?}", d.message);
    assert!(d.event.proactive_refresh);
    assert_eq!(identity(&d).exp, later + 60);
    assert!(idp.bodies.last().unwrap().1.contains("refresh_token=rt-1"));
    browser.apply(&d);

    // Past expiry, a refresh without an ID token keeps the session's identity.
    let later = later + 61;
    idp.token.push_back(token_reply("opaque-3", Some("rt-3"), None));
    let d = drive(
        &mut e,
        &mut idp,
        "GET",
        "/api/me",
        &[("cookie", &browser.header())],
        later,
    );
    assert_eq!(d.status, Status::Refreshed, "{:?}", d.message);
    assert_eq!(identity(&d).sub, "user_1");
    assert_eq!(identity(&d).claims["email"], "user_1@example.com");
    assert!(idp.bodies.last().unwrap().1.contains("refresh_token=rt-2"));
    browser.apply(&d);

    // A refreshed ID token for someone else ends the session (Core 12.2) and
    // the tokens it came with are revoked.
    let later = later + 61;
    idp.token.push_back(token_reply(
        "opaque-4",
        Some("rt-4"),
        Some(&id_token_for(&keys, "mallory", None, later)),
    ));
    let d = drive(
        &mut e,
        &mut idp,
        "GET",
        "/api/me",
        &[("cookie", &browser.header())],
        later,
    );
    assert_eq!(d.respond_status(), Some(401), "{:?}", d.message);
    assert_eq!(d.reason.map(|r| r.code()), Some("claim-invalid"));
    assert!(cleared(&d).contains(&SESSION) && cleared(&d).contains(&REFRESH));
    assert_eq!(idp.count(&format!("POST {ISS}/revoke")), 1);
}

#[test]
fn an_outage_keeps_the_session_and_a_valid_identity_serves_through_it() {
    let keys = Keys::load();
    let mut e = id_sessions(json!({}));
    let mut idp = Idp::new(&keys);
    let browser = signed_in_opaque(&mut e, &mut idp, &keys);
    idp.down = true;
    // Ahead of expiry: the refresh fails, the sealed identity still serves.
    let d = drive(
        &mut e,
        &mut idp,
        "GET",
        "/api/me",
        &[("cookie", &browser.header())],
        NOW + 55,
    );
    assert_eq!(d.status, Status::SignedIn, "{:?}", d.message);
    assert!(d.set_cookies.is_empty());
    // Past expiry: 503, cookies kept.
    let d = drive(
        &mut e,
        &mut idp,
        "GET",
        "/api/me",
        &[("cookie", &browser.header())],
        NOW + 120,
    );
    assert_eq!(d.respond_status(), Some(503));
    assert_eq!(d.reason.map(|r| r.code()), Some("auth-api-unavailable"));
    assert!(cleared(&d).is_empty());
}

#[test]
fn an_expired_session_without_a_refresh_token_is_signed_out() {
    let keys = Keys::load();
    let mut e = id_sessions(json!({}));
    let mut idp = Idp::new(&keys);
    let (d, browser) = callback_with(
        &mut e,
        &mut idp,
        |nonce| {
            token_reply(
                OPAQUE,
                None,
                Some(&id_token_for(&keys, "user_1", Some(nonce), NOW)),
            )
        },
        None,
        Some(ISS),
    );
    assert_eq!(d.status, Status::SignedIn);
    let d = drive(
        &mut e,
        &mut idp,
        "GET",
        "/api/me",
        &[("cookie", &browser.header())],
        NOW + 70,
    );
    assert_eq!(d.respond_status(), Some(401));
    assert_eq!(d.reason.map(|r| r.code()), Some("token-expired"));
}

#[test]
fn bearer_tokens_are_still_verified_access_tokens() {
    let keys = Keys::load();
    let mut e = id_sessions(json!({}));
    let mut idp = Idp::new(&keys);
    let token = access_token(&keys, json!({}));
    let d = drive(
        &mut e,
        &mut idp,
        "GET",
        "/api/me",
        &[("authorization", &format!("Bearer {token}"))],
        NOW,
    );
    assert_eq!(d.status, Status::SignedIn, "{:?}", d.message);
    let d = drive(
        &mut e,
        &mut idp,
        "GET",
        "/api/me",
        &[("authorization", "Bearer opaque-token")],
        NOW,
    );
    assert_eq!(d.respond_status(), Some(401));
    assert_eq!(d.reason.map(|r| r.code()), Some("token-malformed"));
}

#[test]
fn id_token_sessions_need_no_audience_but_bearer_routes_still_do() {
    let base = json!({ "issuer": ISS, "clientId": "app", "appOrigin": APP, "cookieKeys": COOKIE_KEYS,
        "session": { "identity": "id-token" } });
    TesseraConfig::from_json(&base.to_string()).unwrap();
    let mut with_api = base.clone();
    with_api["routes"] = json!([{ "pattern": "/api/**", "access": "api" }]);
    let err = TesseraConfig::from_json(&with_api.to_string()).unwrap_err();
    assert_eq!(err.field, "verification.audience");
    let mut cookie_only = with_api.clone();
    cookie_only["routes"] = json!([{ "pattern": "/api/**", "access": "api", "bearer": false }]);
    TesseraConfig::from_json(&cookie_only.to_string()).unwrap();
    let mut typo = base;
    typo["session"] = json!({ "identity": "idtoken" });
    let err = TesseraConfig::from_json(&typo.to_string()).unwrap_err();
    assert_eq!(err.field, "session.identity");
    assert!(err.message.contains("access-token, id-token"), "{}", err.message);
}

#[test]
fn the_google_profile_asks_for_a_refresh_token_googles_way() {
    let doc = json!({ "issuer": "https://accounts.google.com", "profile": "google", "clientId": "123.apps.googleusercontent.com",
        "appOrigin": APP, "cookieKeys": COOKIE_KEYS });
    let c = TesseraConfig::from_json(&doc.to_string()).unwrap();
    assert_eq!(c.session.identity, SessionIdentity::IdToken);
    assert!(!c.session.passes_access_token());
    assert_eq!(c.scopes, ["openid", "email", "profile"]);
    assert_eq!(c.authorization_params["access_type"], "offline");
    assert_eq!(c.authorization_params["prompt"], "consent");
    assert_eq!(
        c.policy().issuers,
        ["https://accounts.google.com", "accounts.google.com"]
    );
    // Settings made explicitly win.
    let mut own = doc.clone();
    own["authorizationParams"] = json!({ "prompt": "select_account consent" });
    own["session"] = json!({ "passAccessToken": true });
    let c = TesseraConfig::from_json(&own.to_string()).unwrap();
    assert_eq!(c.authorization_params["prompt"], "select_account consent");
    assert!(c.session.passes_access_token());
    assert_eq!(c.session.identity, SessionIdentity::IdToken);
    // offline_access is what Google refuses: said at load, not at sign-in.
    let mut bad = doc;
    bad["scopes"] = json!(["openid", "email", "offline_access"]);
    let err = TesseraConfig::from_json(&bad.to_string()).unwrap_err();
    assert_eq!(err.field, "scopes");
    assert!(err.message.contains("invalid_scope"), "{}", err.message);
}

#[test]
fn the_configurations_own_claim_rules_bind_the_id_token() {
    let keys = Keys::load();
    // Only verified addresses of one domain (Google's `hd`, say).
    let mut e = id_sessions(
        json!({ "verification": { "audience": "api", "claimValues": { "hd": "example.com" }, "requiredClaims": ["email"] } }),
    );
    let mut idp = Idp::new(&keys);
    let signed = |hd: Option<&str>, nonce: &str| {
        keys.token(
            "EdDSA",
            &json!({ "alg": "EdDSA", "kid": "ed" }),
            &claims(json!({ "aud": "app", "nonce": nonce, "email": "user_1@example.com", "hd": hd })),
        )
    };
    let (d, _) = callback_with(
        &mut e,
        &mut idp,
        |n| token_reply(OPAQUE, Some("rt-1"), Some(&signed(Some("other.example"), n))),
        None,
        Some(ISS),
    );
    assert_eq!(d.respond_status(), Some(400));
    assert_eq!(
        d.reason.map(|r| r.code()),
        Some("claim-invalid"),
        "{:?}",
        d.message
    );
    let (d, _) = callback_with(
        &mut e,
        &mut idp,
        |n| token_reply(OPAQUE, Some("rt-1"), Some(&signed(None, n))),
        None,
        Some(ISS),
    );
    assert_eq!(
        d.reason.map(|r| r.code()),
        Some("claim-missing"),
        "{:?}",
        d.message
    );
    let (d, _) = callback_with(
        &mut e,
        &mut idp,
        |n| token_reply(OPAQUE, Some("rt-1"), Some(&signed(Some("example.com"), n))),
        None,
        Some(ISS),
    );
    assert_eq!(d.status, Status::SignedIn, "{:?}", d.message);
    // A profile's presets describe access tokens, not ID tokens: Keycloak's
    // typ "Bearer" does not refuse its ID tokens (typ "ID").
    let mut e = id_sessions(json!({ "profile": "keycloak" }));
    let (d, _) = callback_with(
        &mut e,
        &mut idp,
        |n| {
            let id = keys.token(
                "EdDSA",
                &json!({ "alg": "EdDSA", "kid": "ed" }),
                &claims(json!({ "aud": "app", "typ": "ID", "nonce": n })),
            );
            token_reply(OPAQUE, None, Some(&id))
        },
        None,
        Some(ISS),
    );
    assert_eq!(d.status, Status::SignedIn, "{:?}", d.message);
}

#[test]
fn the_okta_profile_picks_sessions_by_authorization_server() {
    let base =
        json!({ "profile": "okta", "clientId": "0oa1b2c3", "appOrigin": APP, "cookieKeys": COOKIE_KEYS });
    let load = |issuer: &str, extra: serde_json::Value| {
        let mut doc = base.clone();
        doc["issuer"] = json!(issuer);
        if let serde_json::Value::Object(extra) = extra {
            doc.as_object_mut().unwrap().extend(extra);
        }
        TesseraConfig::from_json(&doc.to_string())
    };
    // The org authorization server: ID-token sessions, no audience needed.
    let org = load("https://example.okta.com", json!({})).unwrap();
    assert_eq!(org.session.identity, SessionIdentity::IdToken);
    assert_eq!(org.policy().algorithms, [tessera_core::Alg::Rs256]);
    // A custom one: JWT access tokens for the API, whose audience is required.
    let err = load("https://example.okta.com/oauth2/default", json!({})).unwrap_err();
    assert_eq!(err.field, "verification.audience");
    assert!(err.message.contains("api://default"), "{}", err.message);
    let custom = load(
        "https://example.okta.com/oauth2/default",
        json!({ "verification": { "audience": "api://default" } }),
    )
    .unwrap();
    assert_eq!(custom.session.identity, SessionIdentity::AccessToken);
    assert_eq!(
        tessera_core::Provider::Okta
            .jwks_uri("https://example.okta.com/oauth2/default")
            .as_deref(),
        Some("https://example.okta.com/oauth2/default/v1/keys")
    );
}

#[test]
fn userinfo_claims_join_the_id_tokens_at_sign_in_and_refresh() {
    let keys = Keys::load();
    let mut e = id_sessions(json!({ "session": { "identity": "id-token", "userinfo": true } }));
    let mut idp = Idp::new(&keys);
    idp.userinfo.push_back((200, json!({ "sub": "user_1", "name": "Alice", "email": "alice@new.example", "iss": "https://evil.example" }).to_string()));
    let mut browser = signed_in_opaque(&mut e, &mut idp, &keys);
    // The userinfo request carried the new access token.
    let (auth, _) = idp.bodies.last().unwrap();
    assert_eq!(auth.as_deref(), Some("Bearer opaque-access-token-1"));
    let d = drive(
        &mut e,
        &mut idp,
        "GET",
        "/api/me",
        &[("cookie", &browser.header())],
        NOW + 5,
    );
    let id = identity(&d);
    assert_eq!(id.claims["name"], "Alice");
    assert_eq!(
        id.claims["email"], "alice@new.example",
        "the userinfo's profile claims win"
    );
    assert_eq!(id.iss, ISS, "but not over who issued the ID token");
    // At a refresh: merged again; an outage keeps the claims the session had.
    let later = NOW + 55;
    idp.token.push_back(token_reply(
        "opaque-2",
        Some("rt-2"),
        Some(&id_token_for(&keys, "user_1", None, later)),
    ));
    idp.userinfo.push_back((503, String::new()));
    let d = drive(
        &mut e,
        &mut idp,
        "GET",
        "/api/me",
        &[("cookie", &browser.header())],
        later,
    );
    assert_eq!(d.status, Status::Refreshed, "{:?}", d.message);
    assert_eq!(identity(&d).claims["name"], "Alice");
    browser.apply(&d);
    // A userinfo answer for someone else ends the session.
    let later = later + 61;
    idp.token.push_back(token_reply("opaque-3", Some("rt-3"), None));
    idp.userinfo
        .push_back((200, json!({ "sub": "mallory" }).to_string()));
    let d = drive(
        &mut e,
        &mut idp,
        "GET",
        "/api/me",
        &[("cookie", &browser.header())],
        later,
    );
    assert_eq!(
        (d.respond_status(), d.reason.map(|r| r.code())),
        (Some(401), Some("claim-invalid")),
        "{:?}",
        d.message
    );
}

#[test]
fn a_failed_userinfo_fails_the_sign_in() {
    let keys = Keys::load();
    for (answer, status, reason, revoked) in [
        (
            (200, json!({ "sub": "mallory" }).to_string()),
            400,
            "claim-invalid",
            1,
        ),
        ((401, String::new()), 502, "auth-api-invalid", 1),
        (
            (200, "eyJhbGciOiJSUzI1NiJ9.signed.userinfo".to_string()),
            502,
            "auth-api-invalid",
            1,
        ),
        ((503, String::new()), 503, "auth-api-unavailable", 0),
    ] {
        let mut e = id_sessions(json!({ "session": { "identity": "id-token", "userinfo": true } }));
        let mut idp = Idp::new(&keys);
        idp.userinfo.push_back(answer);
        let (d, browser) = callback_with(
            &mut e,
            &mut idp,
            |nonce| {
                token_reply(
                    OPAQUE,
                    Some("rt-1"),
                    Some(&id_token_for(&keys, "user_1", Some(nonce), NOW)),
                )
            },
            None,
            Some(ISS),
        );
        assert_eq!(
            (d.respond_status(), d.reason.map(|r| r.code())),
            (Some(status), Some(reason)),
            "{:?}",
            d.message
        );
        assert!(!browser.cookies.contains_key(SESSION));
        assert!(cleared(&d).contains(&TX), "the code is spent");
        assert_eq!(idp.count(&format!("POST {ISS}/revoke")), revoked, "{reason}");
    }
}

#[test]
fn a_copy_of_signed_out_cookies_is_refused_until_the_session_would_have_expired() {
    let keys = Keys::load();
    // An ID-token session whose access token lives an hour.
    let mut e = id_sessions(json!({}));
    let mut idp = Idp::new(&keys);
    let (d, browser) = callback_with(
        &mut e,
        &mut idp,
        |nonce| {
            let (_, body) = token_reply(
                OPAQUE,
                Some("rt-1"),
                Some(&id_token_for(&keys, "user_1", Some(nonce), NOW)),
            );
            let mut body: serde_json::Value = serde_json::from_str(&body).unwrap();
            body["expires_in"] = json!(3600);
            (200, body.to_string())
        },
        None,
        Some(ISS),
    );
    assert_eq!(d.status, Status::SignedIn);
    let copy = browser.header();
    let out = drive(
        &mut e,
        &mut idp,
        "POST",
        "/__tessera/sign-out",
        &[("cookie", &copy), ("sec-fetch-site", "same-origin")],
        NOW + 10,
    );
    assert_eq!(out.respond_status(), Some(303));
    // Long past the replay window, well before the hour is up.
    for at in [NOW + 11, NOW + 600, NOW + 3500] {
        let d = drive(&mut e, &mut idp, "GET", "/api/me", &[("cookie", &copy)], at);
        assert_eq!(
            (d.respond_status(), d.reason.map(|r| r.code())),
            (Some(401), Some("session-revoked")),
            "at +{}",
            at - NOW
        );
        assert!(cleared(&d).contains(&SESSION));
    }

    // An access-token session: its copy is refused at once too, not served
    // until its JWT expires.
    let mut e = engine(json!({}));
    let token = access_token(&keys, json!({ "exp": NOW + 3600 }));
    let browser = sign_in(&mut e, &mut idp, &keys, &token, Some("rt-9"));
    let copy = browser.header();
    assert_eq!(
        drive(&mut e, &mut idp, "GET", "/api/me", &[("cookie", &copy)], NOW + 5).status,
        Status::SignedIn
    );
    drive(
        &mut e,
        &mut idp,
        "POST",
        "/__tessera/sign-out",
        &[("cookie", &copy), ("sec-fetch-site", "same-origin")],
        NOW + 10,
    );
    let d = drive(
        &mut e,
        &mut idp,
        "GET",
        "/api/me",
        &[("cookie", &copy)],
        NOW + 900,
    );
    assert_eq!(
        d.reason.map(|r| r.code()),
        Some("session-revoked"),
        "{:?}",
        d.message
    );
}
