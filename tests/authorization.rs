//! Route requirements through the engine: who may use a route once Tessera
//! knows who they are. Scopes, roles, permissions, organisation, claims,
//! kind and issuer; the answers (RFC 6750 `insufficient_scope` for bearer
//! tokens, a 403 page for navigations, JSON for cookie API calls, never a
//! sign-in); the forwarded roles; and the ways around a requirement an
//! attacker would try.

mod harness;

use harness::*;
use serde_json::{json, Value};
use tessera_core::decision::{Action, Decision, Status};
use tessera_core::engine::Engine;
use tessera_core::requirement::Requirement;
use tessera_tests::{Keys, ISS, NOW};

/// An engine whose `/api/orders/**` needs the `orders:read` scope, whose
/// `/api/admin/**` needs the role `admin` or `support`, and whose `/admin/**`
/// pages need the role `admin`; `extra` rules come first.
fn guarded(extra: Value) -> Engine {
    let mut routes = vec![
        json!({ "pattern": "/", "access": "public" }),
        json!({ "pattern": "/api/orders/**", "access": "api", "require": { "scopes": ["orders:read"] } }),
        json!({ "pattern": "/api/admin/**", "access": "api", "require": { "roles": { "anyOf": ["admin", "support"] } } }),
        json!({ "pattern": "/admin/**", "access": "page", "require": { "roles": ["admin"] } }),
        json!({ "pattern": "/api/**", "access": "api" }),
    ];
    if let Value::Array(first) = extra {
        routes.splice(0..0, first);
    }
    engine(json!({ "routes": routes }))
}

fn forwarded(d: &Decision) -> &[(String, String)] {
    match &d.action {
        Action::Forward { headers, .. } => headers,
        Action::Respond { status, body, .. } => panic!("answered {status}: {body}"),
    }
}

fn fwd<'a>(d: &'a Decision, name: &str) -> Option<&'a str> {
    forwarded(d)
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

fn body(d: &Decision) -> &str {
    match &d.action {
        Action::Respond { body, .. } => body,
        Action::Forward { .. } => panic!("forwarded"),
    }
}

#[test]
fn a_scope_requirement_admits_the_scope_and_challenges_without_it() {
    let keys = Keys::load();
    let mut idp = Idp::new(&keys);
    let mut e = guarded(json!([]));
    let ok = access_token(&keys, json!({ "scope": "openid orders:read" }));
    let d = with_bearer(&mut e, &mut idp, "/api/orders/7", &ok);
    assert_eq!(fwd(&d, "x-tessera-user"), Some("user_1"));
    assert_eq!(fwd(&d, "x-tessera-kind"), Some("user"));

    for token in [
        access_token(&keys, json!({ "scope": "openid orders:write" })),
        // A longer name that starts with the scope is another scope.
        access_token(&keys, json!({ "scope": "orders:read-only" })),
        access_token(&keys, json!({ "scp": ["orders:readx", 7] })),
        access_token(&keys, json!({})),
    ] {
        let d = with_bearer(&mut e, &mut idp, "/api/orders/7", &token);
        assert_eq!(d.respond_status(), Some(403));
        assert_eq!(code(&d), Some("insufficient-scope"));
        assert_eq!(d.event.requirement, Some(Requirement::Scope));
        assert_eq!(d.status, Status::Denied);
        assert_eq!(
            header(&d, "www-authenticate"),
            Some("Bearer error=\"insufficient_scope\", error_description=\"this route requires the scope 'orders:read'\", scope=\"orders:read\"")
        );
        let b: Value = serde_json::from_str(body(&d)).unwrap();
        assert_eq!(
            (b["error"].as_str(), b["requirement"].as_str()),
            (Some("insufficient-scope"), Some("scope"))
        );
    }
    // A route without requirements takes any valid token.
    let none = access_token(&keys, json!({}));
    assert!(with_bearer(&mut e, &mut idp, "/api/other", &none)
        .respond_status()
        .is_none());
}

#[test]
fn any_of_roles_and_every_spelling_of_the_route() {
    let keys = Keys::load();
    let mut idp = Idp::new(&keys);
    let mut e = guarded(json!([]));
    let support = access_token(&keys, json!({ "roles": ["support"] }));
    let d = with_bearer(&mut e, &mut idp, "/api/admin/users", &support);
    assert_eq!(fwd(&d, "x-tessera-roles"), Some("support"));
    let viewer = access_token(&keys, json!({ "roles": ["viewer"], "role": "admin" }));
    // Case and a trailing slash reach the same protective rule, and its requirement.
    for path in ["/api/admin/users", "/API/Admin/users/", "/api/ADMIN/users"] {
        let d = with_bearer(&mut e, &mut idp, path, &viewer);
        assert_eq!(d.respond_status(), Some(403), "{path}");
        assert_eq!(d.event.requirement, Some(Requirement::Role));
        assert!(
            d.message
                .as_deref()
                .unwrap()
                .contains("one of the roles \"admin\", \"support\""),
            "{:?}",
            d.message
        );
        // A role requirement is not a scope: no scope to ask for.
        assert!(!header(&d, "www-authenticate").unwrap().contains("scope=\""));
    }
}

#[test]
fn a_page_without_the_role_gets_a_403_page_not_a_sign_in() {
    let keys = Keys::load();
    let mut idp = Idp::new(&keys);
    let mut e = guarded(json!([]));
    let access = access_token(&keys, json!({ "roles": ["viewer"] }));
    let browser = sign_in(&mut e, &mut idp, &keys, &access, Some("rt-1"));
    let cookie = browser.header();
    let nav = [
        ("cookie", cookie.as_str()),
        ("accept", "text/html"),
        ("sec-fetch-mode", "navigate"),
    ];
    let d = get(&mut e, &mut idp, "/admin/settings", &nav);
    assert_eq!(d.respond_status(), Some(403));
    assert_eq!(header(&d, "location"), None, "never a sign-in loop");
    assert_eq!(header(&d, "content-type"), Some("text/html; charset=utf-8"));
    assert!(body(&d).contains("role &quot;admin&quot;"), "{}", body(&d));
    assert!(d.set_cookies.is_empty(), "the session is kept");
    assert_eq!(d.event.requirement, Some(Requirement::Role));
    // The same session calling an API route without the role: JSON, and no
    // bearer challenge (no bearer token was used).
    let d = get(&mut e, &mut idp, "/api/admin/x", &[("cookie", &cookie)]);
    assert_eq!(
        (d.respond_status(), header(&d, "www-authenticate")),
        (Some(403), None)
    );
    assert_eq!(header(&d, "content-type"), Some("application/json"));
    // Pages without requirements still work for it.
    assert!(get(&mut e, &mut idp, "/home", &nav).respond_status().is_none());
}

#[test]
fn a_refresh_that_ends_in_a_403_still_sets_the_new_cookies() {
    let keys = Keys::load();
    let mut idp = Idp::new(&keys);
    let mut e = guarded(json!([]));
    let access = access_token(&keys, json!({ "roles": ["admin"] }));
    let mut browser = sign_in(&mut e, &mut idp, &keys, &access, Some("rt-1"));
    // The role was taken away; the next access token says so.
    let later = NOW + 120;
    let demoted = access_token(&keys, json!({ "iat": later, "nbf": later, "exp": later + 60 }));
    idp.token.push_back(token_reply(&demoted, Some("rt-2"), None));
    let d = drive(
        &mut e,
        &mut idp,
        "GET",
        "/api/admin/x",
        &[("cookie", &browser.header())],
        later,
    );
    assert_eq!(d.respond_status(), Some(403));
    assert!(
        set(&d).contains(&SESSION) && set(&d).contains(&REFRESH),
        "the rotated refresh token is kept"
    );
    browser.apply(&d);
    let d = drive(
        &mut e,
        &mut idp,
        "GET",
        "/api/other",
        &[("cookie", &browser.header())],
        later + 1,
    );
    assert!(d.respond_status().is_none(), "the session goes on with rt-2");
    assert_eq!(
        idp.count(&format!("POST {ISS}/token")),
        2,
        "one sign-in, one refresh"
    );
}

#[test]
fn org_claim_kind_and_issuer_requirements() {
    let keys = Keys::load();
    let mut idp = Idp::new(&keys);
    let mut e = guarded(json!([
        { "pattern": "/api/acme/**", "access": "api", "require": { "org": { "slug": "acme", "role": "org:admin" } } },
        { "pattern": "/api/pro/**", "access": "api", "require": { "claims": { "/app_metadata/plan": "pro", "email_verified": true } } },
        { "pattern": "/api/jobs/**", "access": "api", "require": { "kind": "machine" } },
        { "pattern": "/api/me/**", "access": "api", "require": { "kind": "user" } },
        { "pattern": "/api/partner/**", "access": "api", "require": { "issuers": ["https://partner.example"] } }
    ]));
    let member = access_token(
        &keys,
        json!({ "org_id": "org_1", "org_slug": "acme", "org_role": "org:member" }),
    );
    let admin = access_token(
        &keys,
        json!({ "org_id": "org_1", "org_slug": "acme", "org_role": "org:admin" }),
    );
    let d = with_bearer(&mut e, &mut idp, "/api/acme/x", &member);
    assert_eq!(
        (code(&d), d.event.requirement),
        (Some("insufficient-scope"), Some(Requirement::Org))
    );
    let d = with_bearer(&mut e, &mut idp, "/api/acme/x", &admin);
    assert_eq!(fwd(&d, "x-tessera-org"), Some("org_1"));
    // The organisation's role is a role too.
    assert_eq!(fwd(&d, "x-tessera-roles"), Some("org:admin"));

    let pro = access_token(
        &keys,
        json!({ "app_metadata": { "plan": "pro" }, "email_verified": true }),
    );
    assert!(with_bearer(&mut e, &mut idp, "/api/pro/x", &pro)
        .respond_status()
        .is_none());
    for claims in [
        json!({ "app_metadata": { "plan": "free" }, "email_verified": true }),
        // user_metadata is the user's to write: it is not app_metadata.
        json!({ "user_metadata": { "plan": "pro" }, "email_verified": true }),
        json!({ "app_metadata": { "plan": "pro" }, "email_verified": "true" }),
    ] {
        let d = with_bearer(
            &mut e,
            &mut idp,
            "/api/pro/x",
            &access_token(&keys, claims.clone()),
        );
        assert_eq!(d.event.requirement, Some(Requirement::Claim), "{claims}");
    }

    // RFC 9068 2.2: a client-credentials token names the client as subject.
    let machine = access_token(
        &keys,
        json!({ "sub": "worker-7", "client_id": "worker-7", "sid": null }),
    );
    let user = access_token(&keys, json!({ "client_id": "app" }));
    let d = with_bearer(&mut e, &mut idp, "/api/jobs/run", &machine);
    assert_eq!(fwd(&d, "x-tessera-kind"), Some("machine"));
    let d = with_bearer(&mut e, &mut idp, "/api/jobs/run", &user);
    assert_eq!(d.event.requirement, Some(Requirement::Kind));
    let d = with_bearer(&mut e, &mut idp, "/api/me/x", &machine);
    assert_eq!(
        (d.respond_status(), d.event.requirement),
        (Some(403), Some(Requirement::Kind))
    );
    assert!(with_bearer(&mut e, &mut idp, "/api/me/x", &user)
        .respond_status()
        .is_none());

    // A bearer token from an issuer the route does not take is invalid there
    // (401 issuer-invalid, `invalid_token`)...
    let d = with_bearer(&mut e, &mut idp, "/api/partner/x", &user);
    assert_eq!(
        (d.respond_status(), code(&d)),
        (Some(401), Some("issuer-invalid"))
    );
    assert!(header(&d, "www-authenticate")
        .unwrap()
        .starts_with("Bearer error=\"invalid_token\""));
    assert_eq!(d.event.requirement, Some(Requirement::Issuer));
    // ...while a session there gets a 403: signing in again would not help.
    let browser = sign_in(&mut e, &mut idp, &keys, &user, Some("rt-1"));
    let d = get(
        &mut e,
        &mut idp,
        "/api/partner/x",
        &[("cookie", &browser.header())],
    );
    assert_eq!(
        (d.respond_status(), code(&d)),
        (Some(403), Some("insufficient-scope"))
    );
    assert!(d.set_cookies.is_empty());
}

#[test]
fn forged_identity_headers_from_the_client_grant_nothing() {
    let keys = Keys::load();
    let mut idp = Idp::new(&keys);
    let mut e = guarded(json!([]));
    let viewer = access_token(&keys, json!({ "roles": ["viewer"] }));
    let auth = format!("Bearer {viewer}");
    let headers = [
        ("authorization", auth.as_str()),
        ("x-tessera-roles", "admin"),
        ("X-Tessera-Permissions", "everything"),
        ("x_tessera_kind", "machine"),
    ];
    let d = get(&mut e, &mut idp, "/api/admin/x", &headers);
    assert_eq!(d.respond_status(), Some(403));
    // On a route it may use, only the verified values go on; the host drops
    // every x-tessera-* header the client sent (is_identity_header).
    let d = get(&mut e, &mut idp, "/api/other", &headers);
    assert_eq!(fwd(&d, "x-tessera-roles"), Some("viewer"));
    assert_eq!(fwd(&d, "x-tessera-permissions"), None);
    assert_eq!(fwd(&d, "x-tessera-kind"), Some("user"));
    for (name, _) in &headers[1..] {
        assert!(tessera_core::request::is_identity_header(name), "{name}");
    }
}

#[test]
fn requirements_sign_forwards_and_a_role_cannot_smuggle_another() {
    let keys = Keys::load();
    let mut idp = Idp::new(&keys);
    let mut e = guarded(json!([]));
    // A role named "viewer,admin" is one role, and not admin.
    let tricky = access_token(&keys, json!({ "roles": ["viewer,admin", " admin"] }));
    let d = with_bearer(&mut e, &mut idp, "/api/admin/x", &tricky);
    assert_eq!(d.event.requirement, Some(Requirement::Role));
    let d = with_bearer(&mut e, &mut idp, "/api/other", &tricky);
    assert_eq!(fwd(&d, "x-tessera-roles"), Some("viewer%2Cadmin,%20admin"));
}

#[test]
fn requirements_are_checked_when_the_configuration_loads() {
    for (rule, field) in [
        (
            json!({ "pattern": "/", "access": "public", "require": { "roles": ["a"] } }),
            "routes[0].require",
        ),
        (
            json!({ "pattern": "/a", "access": "api", "require": { "scope": ["a"] } }),
            "routes[0].require.scope",
        ),
        (
            json!({ "pattern": "/a", "access": "api", "require": { "roles": { "anyOf": [] } } }),
            "routes[0].require.roles",
        ),
        (
            json!({ "pattern": "/a", "access": "api", "require": { "kind": "bot" } }),
            "routes[0].require.kind",
        ),
    ] {
        let err = tessera_core::config::TesseraConfig::from_json(&config_json(json!({ "routes": [rule] })))
            .unwrap_err();
        assert_eq!(err.field, field, "{err}");
    }
    let err = tessera_core::config::TesseraConfig::from_json(&config_json(
        json!({ "verification": { "audience": "api", "roleClaims": ["/a~2b"] } }),
    ))
    .unwrap_err();
    assert_eq!(err.field, "verification.roleClaims");
    assert_eq!(ISS, "https://issuer.example");
}
