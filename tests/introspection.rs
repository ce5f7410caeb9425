//! Opaque bearer tokens through the introspection endpoint (RFC 7662): the
//! answer decides, is cached by the token's hash for a bounded time, and is
//! read as the untrusted input it is; outages are 503, never a refusal of
//! the credential. The provider is scripted (`harness::Idp`); tests/e2e and
//! js/test run the same against oidc-provider's endpoint.

mod harness;

use harness::*;
use serde_json::json;
use tessera_core::decision::{Action, Status};
use tessera_core::engine::{Engine, Request, Step};
use tessera_tests::{Keys, ISS, NOW};

const TOKEN: &str = "opaque-token-of-alice";

fn active(extra: serde_json::Value) -> (u16, String) {
    let mut body = json!({ "active": true, "sub": "alice", "client_id": "app", "aud": "api", "scope": "read write", "exp": NOW + 3600 });
    if let (Some(base), serde_json::Value::Object(extra)) = (body.as_object_mut(), extra) {
        for (k, v) in extra {
            if v.is_null() {
                base.remove(&k);
            } else {
                base.insert(k, v);
            }
        }
    }
    (200, body.to_string())
}

fn calls(idp: &Idp) -> usize {
    idp.count(&format!("POST {ISS}/introspect"))
}

#[test]
fn an_active_answer_admits_the_token_and_is_reused_until_max_age() {
    let keys = Keys::load();
    let mut e = introspecting(json!({}));
    let mut idp = Idp::new(&keys);
    idp.introspect.push_back(active(json!({})));
    let d = bearer(&mut e, &mut idp, TOKEN, NOW);
    assert_eq!(d.status, Status::SignedIn, "{:?}", d.message);
    let Action::Forward {
        identity: Some(identity),
        headers,
        ..
    } = &d.action
    else {
        panic!("{:?}", d.message)
    };
    assert_eq!(identity.sub, "alice");
    assert_eq!(identity.scopes, ["read", "write"]);
    assert_eq!(identity.alg, None, "no signature: the provider vouched");
    assert!(headers.contains(&("authorization".into(), format!("Bearer {TOKEN}"))));
    // The request: this client's credentials, the token, a hint.
    let (auth, body) = idp.bodies.last().unwrap();
    assert!(auth.as_deref().unwrap().starts_with("Basic "));
    assert_eq!(body, &format!("token={TOKEN}&token_type_hint=access_token"));
    // Reused without a call within maxAge, asked again after it.
    let d = bearer(&mut e, &mut idp, TOKEN, NOW + 59);
    assert_eq!(
        (d.status, d.event.memo_hit, calls(&idp)),
        (Status::SignedIn, true, 1)
    );
    idp.introspect.push_back(active(json!({})));
    let d = bearer(&mut e, &mut idp, TOKEN, NOW + 60);
    assert_eq!((d.status, calls(&idp)), (Status::SignedIn, 2));
}

#[test]
fn the_tokens_own_exp_bounds_the_reuse() {
    let keys = Keys::load();
    let mut e = introspecting(json!({}));
    let mut idp = Idp::new(&keys);
    idp.introspect.push_back(active(json!({ "exp": NOW + 20 })));
    assert_eq!(bearer(&mut e, &mut idp, TOKEN, NOW).status, Status::SignedIn);
    idp.introspect.push_back((200, r#"{"active":false}"#.into()));
    let d = bearer(&mut e, &mut idp, TOKEN, NOW + 20);
    assert_eq!(
        (d.respond_status(), code(&d), calls(&idp)),
        (Some(401), Some("token-inactive"), 2)
    );
}

#[test]
fn an_inactive_token_is_refused_and_the_answer_kept_briefly() {
    let keys = Keys::load();
    let mut e = introspecting(json!({}));
    let mut idp = Idp::new(&keys);
    idp.introspect.push_back((200, r#"{"active":false}"#.into()));
    let d = bearer(&mut e, &mut idp, TOKEN, NOW);
    assert_eq!(
        (d.respond_status(), code(&d)),
        (Some(401), Some("token-inactive"))
    );
    assert!(header(&d, "www-authenticate")
        .unwrap()
        .starts_with("Bearer error=\"invalid_token\""));
    // A flood of the same bad token: one call per inactiveMaxAge.
    for t in 1..10 {
        assert_eq!(
            code(&bearer(&mut e, &mut idp, TOKEN, NOW + t)),
            Some("token-inactive")
        );
    }
    assert_eq!(calls(&idp), 1);
}

#[test]
fn an_unreachable_or_failing_endpoint_is_an_outage_and_never_cached() {
    let keys = Keys::load();
    let mut e = introspecting(json!({}));
    let mut idp = Idp::new(&keys);
    // Discovery first, then the endpoint refuses connections.
    idp.introspect.push_back((503, String::new()));
    let d = bearer(&mut e, &mut idp, TOKEN, NOW);
    assert_eq!(
        (d.respond_status(), code(&d)),
        (Some(503), Some("auth-api-unavailable"))
    );
    assert!(header(&d, "retry-after").is_some());
    idp.down = true;
    let d = bearer(&mut e, &mut idp, TOKEN, NOW + 1);
    assert_eq!(
        (d.respond_status(), code(&d)),
        (Some(503), Some("auth-api-unavailable"))
    );
    idp.down = false;
    idp.introspect.push_back(active(json!({})));
    assert_eq!(bearer(&mut e, &mut idp, TOKEN, NOW + 2).status, Status::SignedIn);
}

#[test]
fn answers_are_untrusted_input() {
    let keys = Keys::load();
    for (answer, status, reason) in [
        (
            (401, r#"{"error":"invalid_client"}"#.to_string()),
            502,
            "auth-api-invalid",
        ),
        (
            (200, r#"{"active":"true","sub":"alice"}"#.to_string()),
            502,
            "auth-api-invalid",
        ),
        ((200, "<html>".to_string()), 502, "auth-api-invalid"),
        (
            (
                200,
                format!(r#"{{"active":true,"sub":"{}"}}"#, "a".repeat(20_000)),
            ),
            502,
            "auth-api-invalid",
        ),
        (active(json!({ "aud": "another-api" })), 401, "audience-invalid"),
        (
            active(json!({ "iss": "https://evil.example" })),
            401,
            "issuer-invalid",
        ),
        (active(json!({ "exp": NOW - 60 })), 401, "token-expired"),
        (
            active(json!({ "sub": null, "client_id": null })),
            401,
            "claim-missing",
        ),
        (active(json!({ "sub": ["alice"] })), 401, "claim-invalid"),
        (
            (200, r#"{"active":true,"active":false,"sub":"alice"}"#.to_string()),
            502,
            "auth-api-invalid",
        ),
    ] {
        let mut e = introspecting(json!({}));
        let mut idp = Idp::new(&keys);
        let shown = answer.1.chars().take(60).collect::<String>();
        idp.introspect.push_back(answer);
        let d = bearer(&mut e, &mut idp, TOKEN, NOW);
        assert_eq!(
            (d.respond_status(), code(&d)),
            (Some(status), Some(reason)),
            "{shown}: {:?}",
            d.message
        );
    }
}

#[test]
fn jwts_are_verified_locally_and_never_introspected() {
    let keys = Keys::load();
    let mut e = introspecting(json!({}));
    let mut idp = Idp::new(&keys);
    let jwt = access_token(&keys, json!({}));
    assert_eq!(bearer(&mut e, &mut idp, &jwt, NOW).status, Status::SignedIn);
    let d = bearer(&mut e, &mut idp, "a.b.c", NOW);
    assert_eq!(code(&d), Some("token-malformed"));
    assert_eq!(calls(&idp), 0);
    // Without introspection an opaque token is malformed, with no call.
    let mut plain = engine(json!({}));
    assert_eq!(
        code(&bearer(&mut plain, &mut idp, TOKEN, NOW)),
        Some("token-malformed")
    );
    assert_eq!(calls(&idp), 0);
}

#[test]
fn concurrent_requests_for_one_token_can_share_one_call() {
    let keys = Keys::load();
    let mut e = introspecting(json!({ "introspection": { "endpoint": format!("{ISS}/introspect") } }));
    let pending = |e: &mut Engine, token: &str| {
        let auth = format!("Bearer {token}");
        let headers = [("authorization", auth.as_str())];
        match e.handle(
            &Request {
                method: "GET",
                url: "/api/me",
                headers: &headers,
            },
            NOW,
            seed(NOW, 1),
        ) {
            Step::Fetch(p) => p,
            other => panic!("{other:?}"),
        }
    };
    let (a, b, c) = (
        pending(&mut e, TOKEN),
        pending(&mut e, TOKEN),
        pending(&mut e, "another-token"),
    );
    let key = a.request().share.clone().expect("a share key");
    assert!(key.starts_with("introspect:") && !key.contains(TOKEN), "{key}");
    assert_eq!(b.request().share.as_deref(), Some(key.as_str()));
    assert_ne!(c.request().share.as_deref(), Some(key.as_str()));
    // Shared: both resume with the one reply.
    let (status, body) = active(json!({}));
    let reply = || tessera_core::engine::Reply::Response {
        status,
        cache_control: None,
        body: body.as_bytes(),
    };
    for p in [a, b] {
        match e.resume(p, reply(), NOW, seed(NOW, 2)) {
            Step::Done(d) => assert_eq!(d.status, Status::SignedIn),
            other => panic!("{other:?}"),
        }
    }
    // The code exchange and refresh are never shared.
    let mut idp = Idp::new(&keys);
    let d = drive(&mut e, &mut idp, "GET", "/__tessera/sign-in", &[], NOW);
    assert_eq!(d.respond_status(), Some(302));
}

#[test]
fn a_provider_without_an_endpoint_is_told_apart_from_an_outage() {
    let keys = Keys::load();
    let mut e = introspecting(json!({}));
    let mut idp = Idp::new(&keys);
    idp.discovery
        .as_object_mut()
        .unwrap()
        .remove("introspection_endpoint");
    let d = bearer(&mut e, &mut idp, TOKEN, NOW);
    assert_eq!(
        (d.respond_status(), code(&d)),
        (Some(502), Some("auth-api-invalid"))
    );
    assert!(d.message.as_deref().unwrap().contains("introspection.endpoint"));
}

#[test]
fn endpoints_missing_from_discovery_come_from_rfc_8414_metadata() {
    let keys = Keys::load();
    let metadata_url = format!("GET {ISS}/.well-known/oauth-authorization-server");
    // As django-oauth-toolkit does: introspection and revocation only in the metadata.
    let mut idp = Idp::new(&keys);
    let d = idp.discovery.as_object_mut().unwrap();
    d.remove("introspection_endpoint");
    d.remove("revocation_endpoint");
    idp.metadata = Some(
        json!({ "issuer": ISS, "introspection_endpoint": format!("{ISS}/introspect"),
        "revocation_endpoint": format!("{ISS}/revoke") }),
    );
    let mut e = introspecting(json!({}));
    idp.introspect.push_back(active(json!({})));
    assert_eq!(bearer(&mut e, &mut idp, TOKEN, NOW).status, Status::SignedIn);
    assert_eq!((idp.count(&metadata_url), calls(&idp)), (1, 1));
    // Asked once per engine.
    idp.introspect.push_back(active(json!({})));
    assert_eq!(
        bearer(&mut e, &mut idp, "another-token", NOW).status,
        Status::SignedIn
    );
    assert_eq!(idp.count(&metadata_url), 1);

    // Metadata of another issuer adds nothing (RFC 8414 §3.3).
    let mut idp2 = Idp::new(&keys);
    idp2.discovery
        .as_object_mut()
        .unwrap()
        .remove("introspection_endpoint");
    idp2.metadata = Some(
        json!({ "issuer": "https://evil.example", "introspection_endpoint": "https://evil.example/introspect" }),
    );
    let mut e = introspecting(json!({}));
    let d = bearer(&mut e, &mut idp2, TOKEN, NOW);
    assert_eq!(
        (d.respond_status(), code(&d)),
        (Some(502), Some("auth-api-invalid"))
    );
    assert!(!idp2.log.iter().any(|l| l.contains("evil")));

    // No metadata at all (404): the same clear answer, and one attempt.
    let mut idp3 = Idp::new(&keys);
    idp3.discovery
        .as_object_mut()
        .unwrap()
        .remove("introspection_endpoint");
    let mut e = introspecting(json!({}));
    for _ in 0..3 {
        assert_eq!(
            code(&bearer(&mut e, &mut idp3, TOKEN, NOW)),
            Some("auth-api-invalid")
        );
    }
    assert_eq!(idp3.count(&metadata_url), 1);
}

#[test]
fn a_sign_out_revokes_at_the_endpoint_the_metadata_names() {
    let keys = Keys::load();
    let mut idp = Idp::new(&keys);
    idp.discovery
        .as_object_mut()
        .unwrap()
        .remove("revocation_endpoint");
    idp.metadata = Some(json!({ "issuer": ISS, "revocation_endpoint": format!("{ISS}/revoke") }));
    let mut e = engine(json!({}));
    let browser = sign_in(
        &mut e,
        &mut idp,
        &keys,
        &access_token(&keys, json!({})),
        Some("rt-1"),
    );
    let d = drive(
        &mut e,
        &mut idp,
        "POST",
        "/__tessera/sign-out",
        &[("cookie", &browser.header()), ("sec-fetch-site", "same-origin")],
        NOW,
    );
    assert_eq!(d.respond_status(), Some(303), "{:?}", d.message);
    assert!(d.event.revoked);
    assert_eq!(idp.count(&format!("POST {ISS}/revoke")), 1);
}

#[test]
fn a_replys_max_age_shortens_the_reuse() {
    // A host's shared tier replays an answer it kept with the time it has
    // left as max-age: the engine never reuses it longer.
    let mut e =
        introspecting(json!({ "introspection": { "endpoint": format!("{ISS}/introspect"), "maxAge": 60 } }));
    let auth = format!("Bearer {TOKEN}");
    let headers = [("authorization", auth.as_str())];
    let request = Request {
        method: "GET",
        url: "/api/me",
        headers: &headers,
    };
    let (status, body) = active(json!({}));
    let ask = |e: &mut Engine, now: u64| e.handle(&request, now, seed(now, 1));
    let Step::Fetch(p) = ask(&mut e, NOW) else {
        panic!("expected a call")
    };
    let reply = tessera_core::engine::Reply::Response {
        status,
        cache_control: Some("max-age=5"),
        body: body.as_bytes(),
    };
    let Step::Done(d) = e.resume(p, reply, NOW, seed(NOW, 2)) else {
        panic!()
    };
    assert_eq!(d.status, Status::SignedIn);
    assert!(
        matches!(ask(&mut e, NOW + 4), Step::Done(_)),
        "reused within the max-age"
    );
    assert!(
        matches!(ask(&mut e, NOW + 5), Step::Fetch(_)),
        "asked again after it, not after maxAge"
    );
}

#[test]
fn a_configured_revocation_endpoint_serves_a_provider_that_publishes_none() {
    let keys = Keys::load();
    let mut idp = Idp::new(&keys);
    idp.discovery
        .as_object_mut()
        .unwrap()
        .remove("revocation_endpoint");
    let mut e = engine(json!({ "revocationEndpoint": format!("{ISS}/revoke") }));
    let browser = sign_in(
        &mut e,
        &mut idp,
        &keys,
        &access_token(&keys, json!({})),
        Some("rt-1"),
    );
    let d = drive(
        &mut e,
        &mut idp,
        "POST",
        "/__tessera/sign-out",
        &[("cookie", &browser.header()), ("sec-fetch-site", "same-origin")],
        NOW,
    );
    assert_eq!(d.respond_status(), Some(303), "{:?}", d.message);
    assert!(d.event.revoked);
    assert_eq!(idp.count(&format!("POST {ISS}/revoke")), 1);
    assert_eq!(
        idp.count(&format!("GET {ISS}/.well-known/oauth-authorization-server")),
        0,
        "no metadata needed"
    );
}
