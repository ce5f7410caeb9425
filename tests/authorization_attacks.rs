//! Attacks on route requirements (`routes[].require`) from the review of
//! their first version: ways around a requirement, and wrong answers. Each
//! test was a finding (its comment says the attack) and now states the fixed
//! behaviour; the `held_*` tests are attacks that held from the start.

mod harness;

use harness::*;
use serde_json::{json, Value};
use tessera_core::config::TesseraConfig;
use tessera_core::decision::{Action, Decision, Status};
use tessera_core::engine::Engine;
use tessera_core::requirement::Requirement;
use tessera_tests::{claims, Keys, ISS, NOW};

fn fwd<'a>(d: &'a Decision, name: &str) -> Option<&'a str> {
    match &d.action {
        Action::Forward { headers, .. } => headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str()),
        Action::Respond { .. } => None,
    }
}

/// What a decision did, for messages: `forwarded (kind …, roles …)` or the status.
fn outcome(d: &Decision) -> String {
    match &d.action {
        Action::Forward { .. } => format!(
            "forwarded (kind {:?}, roles {:?})",
            fwd(d, "x-tessera-kind"),
            fwd(d, "x-tessera-roles")
        ),
        Action::Respond { status, body, .. } => format!("{status}: {body}"),
    }
}

/// Machine-only and user-only routes, and the rest of `/api`.
fn kind_routes() -> Value {
    json!([
        { "pattern": "/api/jobs/**", "access": "api", "require": { "kind": "machine" } },
        { "pattern": "/api/me/**", "access": "api", "require": { "kind": "user" } },
        { "pattern": "/api/**", "access": "api" }
    ])
}

// ---- 1. Keycloak introspection: every user is a machine ------------------------

/// Keycloak's introspection endpoint (AccessTokenIntrospectionProvider) answers
/// the token's claims plus `client_id` (= `azp`) and `username`, for every
/// token, user or service account. The keycloak rule "a `client_id` claim is a
/// machine" then makes every introspected user a machine: a user passes a
/// `kind: machine` route and is refused on `kind: user` ones. (Latent today:
/// Keycloak's own access tokens are JWS, which Tessera verifies instead of
/// introspecting; reached by an introspection endpoint that answers in
/// Keycloak's shape for opaque tokens under the keycloak profile.)
#[test]
fn introspected_users_are_users_whatever_the_profile() {
    let keys = Keys::load();
    let mut idp = Idp::new(&keys);
    let mut e = engine(json!({
        "profile": "keycloak",
        "introspection": { "maxAge": 60, "inactiveMaxAge": 10 },
        "routes": kind_routes()
    }));
    // A real Keycloak answer for alice's (lightweight / opaque) access token.
    let answer = json!({
        "active": true, "typ": "Bearer", "iss": ISS, "sub": "f3a1c2d4-user-alice", "aud": "api",
        "azp": "app", "client_id": "app", "username": "alice", "preferred_username": "alice",
        "sid": "kc-session-1", "scope": "openid profile", "exp": NOW + 300, "iat": NOW,
        "realm_access": { "roles": ["staff"] }
    });
    idp.introspect.push_back((200, answer.to_string()));
    let d = with_bearer(&mut e, &mut idp, "/api/jobs/run", "opaque-user-token-of-alice");
    assert_eq!(
        (d.respond_status(), d.event.requirement),
        (Some(403), Some(Requirement::Kind)),
        "a user's introspected token on a machine-only route: {}",
        outcome(&d)
    );
}

// ---- 2. Okta introspection: a machine is a user ---------------------------------

/// Okta's /introspect answer for a client-credentials token carries
/// `client_id` and `sub` (both the client id) and no `uid`, but never `cid`
/// (a JWT claim only). The okta rule (`sub == cid`, no `uid`) never matches
/// an introspection answer, so machines pass `kind: user` routes. (Latent
/// like the Keycloak case: Okta's access tokens are JWS.)
#[test]
fn introspected_machines_are_machines_whatever_the_profile() {
    let keys = Keys::load();
    let mut idp = Idp::new(&keys);
    let mut e = engine(json!({
        "profile": "okta",
        "introspection": { "maxAge": 60, "inactiveMaxAge": 10 },
        "routes": kind_routes()
    }));
    let answer = json!({
        "active": true, "token_type": "Bearer", "scope": "jobs:run", "client_id": "0oa1worker",
        "username": "0oa1worker", "sub": "0oa1worker", "aud": "api", "iss": ISS,
        "exp": NOW + 300, "iat": NOW, "jti": "AT.1"
    });
    idp.introspect.push_back((200, answer.to_string()));
    let d = with_bearer(&mut e, &mut idp, "/api/me/profile", "opaque-machine-token");
    assert_eq!(
        (d.respond_status(), d.event.requirement),
        (Some(403), Some(Requirement::Kind)),
        "a client-credentials token on a user-only route: {}",
        outcome(&d)
    );
}

// ---- 3. `;` path parameters walk past a requiring rule -----------------------------

/// A servlet origin needs `;jsessionid=…`, so the catch-all rule allows
/// semicolons. `/api/admin;x/users` does not match `/api/admin/**` (its
/// segment is `admin;x`), matches the catch-all, and is forwarded with a
/// viewer's identity; the servlet container strips `;x` and routes
/// `/api/admin/users`.
#[test]
fn a_semicolon_segment_cannot_skip_a_requiring_rule() {
    let keys = Keys::load();
    let mut idp = Idp::new(&keys);
    let mut e = engine(json!({
        "routes": [
            { "pattern": "/api/admin/**", "access": "api", "require": { "roles": ["admin"] } },
            { "pattern": "/api/**", "access": "api", "allowSemicolons": true }
        ]
    }));
    let viewer = access_token(&keys, json!({ "roles": ["viewer"] }));
    let d = with_bearer(&mut e, &mut idp, "/api/admin/users", &viewer);
    assert_eq!(d.respond_status(), Some(403), "the plain spelling is refused");
    let mut through = Vec::new();
    for path in [
        "/api/admin;jsessionid=1/users",
        "/api/admin%3Bx/users",
        "/api/ADMIN;x/users",
    ] {
        let d = with_bearer(&mut e, &mut idp, path, &viewer);
        if !matches!(d.respond_status(), Some(400 | 403)) {
            through.push(format!("{path}: {}", outcome(&d)));
        }
    }
    assert!(
        through.is_empty(),
        "spellings a servlet container routes to /api/admin/users, let through: {through:#?}"
    );
}

// ---- 4. ID-token sessions: a userinfo outage brings back dropped roles ------------

fn id_token_with(keys: &Keys, nonce: Option<&str>, now: u64, extra: Value) -> String {
    let mut c = json!({ "aud": "app", "sub": "user_1", "nonce": nonce, "iat": now, "nbf": null,
        "exp": now + 60, "email": "user_1@example.com" });
    if let (Some(base), Value::Object(extra)) = (c.as_object_mut(), extra) {
        base.extend(extra);
    }
    keys.token("EdDSA", &json!({ "alg": "EdDSA", "kid": "ed" }), &claims(c))
}

/// The provider took `admin` away: the refreshed ID token has no `roles`.
/// The userinfo call of that refresh fails, and the session's previous claims
/// are copied under the new ID token's for every name it lacks, `roles`
/// included: the demoted user keeps `admin` in a freshly refreshed session.
#[test]
fn a_userinfo_outage_at_refresh_keeps_no_role_the_new_id_token_dropped() {
    let keys = Keys::load();
    let mut idp = Idp::new(&keys);
    let mut e = engine(json!({
        "session": { "identity": "id-token", "userinfo": true },
        "routes": [
            { "pattern": "/admin/**", "access": "api", "require": { "roles": ["admin"] } },
            { "pattern": "/api/**", "access": "api" }
        ]
    }));
    idp.userinfo
        .push_back((200, json!({ "sub": "user_1", "name": "Alice" }).to_string()));
    let mut browser = signed_in_with(&mut e, &mut idp, |n| {
        id_token_with(&keys, Some(n), NOW, json!({ "roles": ["admin"] }))
    });
    let d = drive(
        &mut e,
        &mut idp,
        "GET",
        "/admin/x",
        &[("cookie", &browser.header())],
        NOW + 5,
    );
    assert!(d.respond_status().is_none(), "an admin: {}", outcome(&d));

    // Demoted: the refreshed ID token has no roles; userinfo is down.
    let later = NOW + 55;
    idp.token.push_back(token_reply(
        "opaque-2",
        Some("rt-2"),
        Some(&id_token_with(&keys, None, later, json!({}))),
    ));
    idp.userinfo.push_back((503, String::new()));
    let d = drive(
        &mut e,
        &mut idp,
        "GET",
        "/admin/x",
        &[("cookie", &browser.header())],
        later,
    );
    assert_eq!(
        (d.respond_status(), d.event.requirement),
        (Some(403), Some(Requirement::Role)),
        "the refreshed ID token grants no role: {}",
        outcome(&d)
    );
    browser.apply(&d);
}

// ---- 5. `kind: user` is whatever no machine rule recognised -------------------------

/// `kind: user` means no machine rule matched. Common client-credentials
/// tokens must match one: Auth0's (`gty`) under `oidc` as under `auth0`, and
/// Keycloak's service accounts (`client_id`) under `keycloak` (under `oidc`,
/// where every RFC 9068 token carries `client_id`, only `sub == client_id`
/// or `azp`, and `gty`, tell: docs/authorization.md).
#[test]
fn client_credentials_tokens_are_machines_under_their_profiles() {
    let keys = Keys::load();
    let mut idp = Idp::new(&keys);
    for (profile, machine) in [
        (
            "oidc",
            json!({ "sub": "Wk3bV1@clients", "azp": "Wk3bV1", "gty": "client-credentials", "sid": null }),
        ),
        (
            "keycloak",
            json!({ "typ": "Bearer", "sub": "0b1c-service-account-user", "azp": "worker", "client_id": "worker",
                    "preferred_username": "service-account-worker", "sid": null }),
        ),
    ] {
        let mut e = engine(json!({ "profile": profile, "routes": kind_routes() }));
        let token = access_token(&keys, machine);
        let d = with_bearer(&mut e, &mut idp, "/api/me/profile", &token);
        assert_eq!(
            d.event.requirement,
            Some(Requirement::Kind),
            "{profile} client-credentials token on a user-only route: {}",
            outcome(&d)
        );
    }
}

// ---- 6. Keycloak: a user named service-account-… is a machine ----------------------

/// `preferred_username` is the user's username, which self-registration (and
/// "edit username") lets the user choose. A user who registers as
/// `service-account-mallory` is a machine to the keycloak rule.
#[test]
fn a_keycloak_user_named_service_account_is_still_a_user() {
    let keys = Keys::load();
    let mut idp = Idp::new(&keys);
    let mut e = engine(json!({ "profile": "keycloak", "routes": kind_routes() }));
    let mallory = access_token(
        &keys,
        json!({ "typ": "Bearer", "azp": "app", "sub": "5e1f-user-mallory",
                "preferred_username": "service-account-mallory", "sid": "kc-session-9" }),
    );
    let d = with_bearer(&mut e, &mut idp, "/api/jobs/run", &mallory);
    assert_eq!(
        d.event.requirement,
        Some(Requirement::Kind),
        "a user with a session (sid) whose chosen username starts service-account-: {}",
        outcome(&d)
    );
}

// ---- 7. The organisation's `role` and `permissions` fallbacks ignore roleClaims ----

/// `roleClaims` / `permissionClaims` "replace" the profile's sources, but
/// with any `org_id` in the token the top-level `role` and `permissions`
/// claims still grant (Organization falls back to them), whatever the
/// configuration named.
#[test]
fn role_claims_replace_the_org_fallbacks_too() {
    let keys = Keys::load();
    let mut idp = Idp::new(&keys);
    let mut e = engine(json!({
        "verification": { "audience": "api",
            "roleClaims": ["/app_metadata/roles"], "permissionClaims": ["/app_metadata/permissions"] },
        "routes": [
            { "pattern": "/api/admin/**", "access": "api", "require": { "roles": ["admin"] } },
            { "pattern": "/api/billing/**", "access": "api", "require": { "permissions": ["billing:write"] } },
            { "pattern": "/api/**", "access": "api" }
        ]
    }));
    let token = access_token(
        &keys,
        json!({ "org_id": "org_1", "role": "admin", "permissions": ["billing:write"],
                "app_metadata": { "roles": ["viewer"], "permissions": [] } }),
    );
    let d = with_bearer(&mut e, &mut idp, "/api/admin/x", &token);
    assert_eq!(
        d.event.requirement,
        Some(Requirement::Role),
        "roleClaims names /app_metadata/roles only: {}",
        outcome(&d)
    );
    let d = with_bearer(&mut e, &mut idp, "/api/billing/x", &token);
    assert_eq!(
        d.event.requirement,
        Some(Requirement::Permission),
        "permissionClaims names /app_metadata/permissions only: {}",
        outcome(&d)
    );
}

// ---- 8. Numbers: 2 is not 2.0 ------------------------------------------------------

/// JSON has one number type; `{"tier": 2}` and a token's `"tier": 2.0` (what
/// Python's json.dumps writes for a float) are the same value, but serde_json
/// compares integer and float representations as different.
#[test]
fn a_claim_number_compares_by_value() {
    let keys = Keys::load();
    let mut idp = Idp::new(&keys);
    let mut e = engine(json!({
        "routes": [
            { "pattern": "/api/tier2/**", "access": "api", "require": { "claims": { "tier": 2 } } },
            { "pattern": "/api/**", "access": "api" }
        ]
    }));
    let token = access_token(&keys, json!({ "tier": 2.0 }));
    let d = with_bearer(&mut e, &mut idp, "/api/tier2/x", &token);
    assert!(
        d.respond_status().is_none(),
        "tier 2.0 is tier 2: {}",
        outcome(&d)
    );
    assert_eq!(d.status, Status::SignedIn);
}

// ---- 9. Entra multi-tenant: roles (and wids) granted by any tenant -----------------

/// With the multi-tenant issuer template, every tenant's tokens are trusted,
/// and app roles and directory roles (`wids`) are assigned by each tenant's
/// own administrators. Anyone can create a tenant, consent the app there and
/// give themselves the app role `Admin` (or be its Global Administrator,
/// wid 62e90394-…): a `roles` requirement is then no barrier. Roles under
/// the template need a pinned tenant, and with one the attacker's tenant is
/// refused.
#[test]
fn entra_multi_tenant_roles_need_a_pinned_tenant() {
    const CONTOSO: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
    /// A tenant anyone can create, whose admin assigns roles there.
    const ATTACKER: &str = "9122040d-6c67-4c5b-b112-36a304b66dad";
    let load = |require: Value| {
        let doc = json!({ "issuer": ENTRA_TEMPLATE, "profile": "entra", "clientId": ENTRA_CLIENT,
            "clientSecret": CLIENT_SECRET, "appOrigin": APP, "cookieKeys": COOKIE_KEYS,
            "routes": [{ "pattern": "/admin/**", "access": "page", "require": require }] });
        TesseraConfig::from_json(&doc.to_string())
    };
    for roles in [json!(["Admin"]), json!(["62e90394-69f5-4237-9190-012177145e10"])] {
        let err = load(json!({ "roles": roles })).unwrap_err();
        assert_eq!(err.field, "routes[0].require");
        assert!(err.message.contains("tid"), "{err}");
    }
    let config = load(json!({ "roles": ["Admin"], "claims": { "tid": CONTOSO } })).unwrap();
    let mut e = Engine::new(config).unwrap();
    let keys = Keys::load();
    let mut sim = Entra::new(&keys);
    let admin = json!({ "roles": ["Admin"], "wids": ["62e90394-69f5-4237-9190-012177145e10"] });
    for (tid, admitted) in [(ATTACKER, false), (CONTOSO, true)] {
        let iss = entra_issuer(tid);
        let (_, browser) = entra_sign_in(
            &mut e,
            &mut sim,
            |n| entra_id_token(&keys, &iss, Some(tid), Some(n), NOW, admin.clone()),
            None,
        );
        let d = sim.drive(&mut e, "/admin/users", &[("cookie", &browser.header())], NOW + 5);
        assert_eq!(d.respond_status().is_none(), admitted, "{tid}: {}", outcome(&d));
    }
}

// ---- Attacks that held (these pass) ------------------------------------------------

fn guarded(extra: Value) -> Engine {
    let mut routes = vec![
        json!({ "pattern": "/api/orders/**", "methods": ["GET"], "access": "api", "require": { "scopes": ["orders:read"] } }),
        json!({ "pattern": "/api/admin/**", "access": "api", "forwardPreflight": true, "require": { "roles": ["admin"] } }),
        json!({ "pattern": "/api/status", "access": "public" }),
        json!({ "pattern": "/api/**", "access": "api", "require": { "roles": ["admin"] } }),
        json!({ "pattern": "/admin/**", "access": "page", "require": { "org": { "slug": "acme" } } }),
    ];
    if let Value::Array(first) = extra {
        routes.splice(0..0, first);
    }
    engine(json!({ "routes": routes }))
}

#[test]
fn held_the_first_request_after_a_key_fetch_is_checked_against_its_rule() {
    let keys = Keys::load();
    let mut idp = Idp::new(&keys);
    let mut e = guarded(json!([]));
    let token = access_token(&keys, json!({ "scope": "orders:write" }));
    let d = with_bearer(&mut e, &mut idp, "/api/orders/1", &token);
    assert!(
        idp.count(&format!("GET {ISS}/jwks")) == 1,
        "suspended for the key set"
    );
    assert_eq!(d.event.requirement, Some(Requirement::Scope));
}

#[test]
fn held_introspected_tokens_fresh_and_cached_meet_the_rule() {
    let keys = Keys::load();
    let mut idp = Idp::new(&keys);
    let mut e = engine(json!({
        "introspection": { "maxAge": 60, "inactiveMaxAge": 10 },
        "routes": [{ "pattern": "/api/orders/**", "access": "api", "require": { "scopes": ["orders:read"] } },
                   { "pattern": "/api/**", "access": "api" }]
    }));
    idp.introspect.push_back((
        200,
        json!({ "active": true, "sub": "alice", "client_id": "app", "aud": "api", "scope": "orders:write", "exp": NOW + 300 })
            .to_string(),
    ));
    for _ in 0..2 {
        let d = with_bearer(&mut e, &mut idp, "/api/orders/1", "opaque-1");
        assert_eq!(
            (d.respond_status(), d.event.requirement),
            (Some(403), Some(Requirement::Scope))
        );
    }
    assert!(with_bearer(&mut e, &mut idp, "/api/other", "opaque-1")
        .respond_status()
        .is_none());
}

#[test]
fn held_head_follows_the_get_rule_and_a_preflight_carries_no_identity() {
    let keys = Keys::load();
    let mut idp = Idp::new(&keys);
    let mut e = guarded(json!([]));
    let token = access_token(&keys, json!({ "roles": ["admin"] }));
    let auth = format!("Bearer {token}");
    let d = drive(
        &mut e,
        &mut idp,
        "HEAD",
        "/api/orders/1",
        &[("authorization", &auth)],
        NOW,
    );
    assert_eq!(
        d.event.requirement,
        Some(Requirement::Scope),
        "HEAD is the GET rule's"
    );
    let d = drive(
        &mut e,
        &mut idp,
        "OPTIONS",
        "/api/admin/x",
        &[
            ("authorization", &auth),
            ("access-control-request-method", "DELETE"),
            ("origin", APP),
        ],
        NOW,
    );
    match &d.action {
        Action::Forward {
            identity,
            headers,
            remove,
            ..
        } => {
            assert!(identity.is_none() && headers.is_empty());
            assert!(remove.contains(&"authorization") && remove.contains(&"cookie"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn held_spellings_of_a_public_path_reach_the_requiring_catch_all() {
    let keys = Keys::load();
    let mut idp = Idp::new(&keys);
    let mut e = guarded(json!([]));
    let viewer = access_token(&keys, json!({ "roles": ["viewer"] }));
    for path in ["/API/status", "/api/status/", "/api/Status"] {
        let d = with_bearer(&mut e, &mut idp, path, &viewer);
        assert_eq!(d.event.requirement, Some(Requirement::Role), "{path}");
    }
}

#[test]
fn held_refresh_outage_fallbacks_are_checked_against_the_rule() {
    let keys = Keys::load();
    let mut idp = Idp::new(&keys);
    let mut e = guarded(json!([]));
    let viewer = access_token(&keys, json!({ "roles": ["viewer"] }));
    let browser = sign_in(&mut e, &mut idp, &keys, &viewer, Some("rt-1"));
    // Proactive refresh, provider down: the sealed identity serves, but only where it may.
    idp.down = true;
    let d = drive(
        &mut e,
        &mut idp,
        "GET",
        "/api/admin/x",
        &[("cookie", &browser.header())],
        NOW + 55,
    );
    assert!(d.event.proactive_refresh);
    assert_eq!(
        (d.respond_status(), d.event.requirement),
        (Some(403), Some(Requirement::Role))
    );
    // The provider answers garbage (auth-api-invalid): same, the refresh cookie cleared.
    idp.down = false;
    idp.token.push_back((200, "not json".into()));
    let d = drive(
        &mut e,
        &mut idp,
        "GET",
        "/api/admin/x",
        &[("cookie", &browser.header())],
        NOW + 56,
    );
    assert_eq!(
        (d.respond_status(), d.event.requirement),
        (Some(403), Some(Requirement::Role))
    );
    assert!(cleared(&d).contains(&REFRESH));
}

#[test]
fn held_pointer_and_header_tricks() {
    let keys = Keys::load();
    let mut idp = Idp::new(&keys);
    let mut e = engine(json!({
        "routes": [
            { "pattern": "/api/pro/**", "access": "api", "require": { "claims": { "/app_metadata/plan": "pro" } } },
            { "pattern": "/admin/**", "access": "page", "require": { "org": { "slug": "acme" } } },
            { "pattern": "/api/**", "access": "api" }
        ]
    }));
    // A top-level claim named like the pointer is not the pointer.
    let t = access_token(
        &keys,
        json!({ "app_metadata/plan": "pro", "app_metadata": { "plan": "free" } }),
    );
    assert_eq!(
        with_bearer(&mut e, &mut idp, "/api/pro/x", &t).event.requirement,
        Some(Requirement::Claim)
    );
    // A role cannot write a header line or another identity header.
    let t = access_token(
        &keys,
        json!({ "roles": ["a\r\nx-tessera-user: root", "b\u{2028}"] }),
    );
    let d = with_bearer(&mut e, &mut idp, "/api/x", &t);
    assert_eq!(fwd(&d, "x-tessera-user"), Some("user_1"));
    assert_eq!(
        fwd(&d, "x-tessera-roles"),
        Some("a%0D%0Ax-tessera-user:%20root,b%E2%80%A8")
    );
    // The 403 page escapes what the token says.
    let access = access_token(
        &keys,
        json!({ "org_id": "o", "org_slug": "<img src=x onerror=alert(1)>\"'" }),
    );
    let browser = sign_in(&mut e, &mut idp, &keys, &access, Some("rt-1"));
    let nav = [
        ("cookie", browser.header()),
        ("accept", "text/html".into()),
        ("sec-fetch-mode", "navigate".into()),
    ];
    let nav: Vec<(&str, &str)> = nav.iter().map(|(n, v)| (*n, v.as_str())).collect();
    let d = get(&mut e, &mut idp, "/admin/x", &nav);
    let Action::Respond {
        status: 403, body, ..
    } = &d.action
    else {
        panic!("{}", outcome(&d))
    };
    assert!(!body.contains("<img") && body.contains("&lt;img"), "{body}");
}

// ---- 10. Version 1 signatures do not cover the new headers -------------------------

/// An origin still accepting version 1 (`Check::accept_v1`, while its edge is
/// older) verifies `t` and the four v1 headers only. The new
/// `x-tessera-kind`, `-roles` and `-permissions` ride along unsigned: v1
/// headers for a viewer (or leaked from any request) plus
/// `x-tessera-roles: admin` pass `verify_signature`.
#[test]
fn a_version_1_signature_covers_no_roles() {
    use hmac::{Hmac, Mac};
    use tessera_core::forward::{verify_signature, Check};
    let secret = b"0123456789abcdef0123456789abcdef";
    let t = 1_000u64;
    let user = ("x-tessera-user", "viewer_7");
    let claims = ("x-tessera-claims", "e30");
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret).unwrap();
    mac.update(
        format!(
            "tessera-forward-v1\nt:{t}\n{}:{}\n{}:{}\n",
            user.0, user.1, claims.0, claims.1
        )
        .as_bytes(),
    );
    let v1: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let headers: Vec<(String, String)> = [
        user,
        claims,
        ("x-tessera-roles", "admin"),
        ("x-tessera-permissions", "billing:write"),
        ("x-tessera-kind", "machine"),
        ("x-tessera-signature", &format!("t={t},v1={v1}")),
    ]
    .iter()
    .map(|(n, v)| (n.to_string(), v.to_string()))
    .collect();
    let check = Check {
        method: "GET",
        origin: APP,
        target: "/api/admin",
        max_age: 60,
        accept_v1: true,
    };
    assert!(
        verify_signature(&headers, secret, t, &check).is_err(),
        "x-tessera-roles, -permissions and -kind were never signed"
    );
}
