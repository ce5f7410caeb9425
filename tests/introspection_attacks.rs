//! Attacks on opaque bearer tokens (introspection), the RFC 8414 metadata
//! lookup and the Entra tenant template, from the security review of those
//! changes: each test was written to show a weakness (an answer without an
//! audience admitted, a refresh token passing as an access token, one failed
//! metadata fetch remembered for good, policy rules the JWT path applies
//! skipped, the template compared literally, templates unchecked in
//! verification.issuers) and now states the fixed behaviour.

mod harness;

use harness::*;
use serde_json::{json, Value};
use tessera_core::config::TesseraConfig;
use tessera_core::decision::{Decision, Status};
use tessera_core::engine::{Engine, HttpRequest, Reply, Request, Step};
use tessera_tests::{Keys, ISS, NOW};

fn admits(e: &mut Engine, idp: &mut Idp, body: Value) -> Result<(), &'static str> {
    idp.introspect.push_back((200, body.to_string()));
    let token = format!("t{}", idp.log.len());
    let d = bearer(e, idp, &token, NOW);
    if d.status == Status::SignedIn {
        Ok(())
    } else {
        Err(code(&d).unwrap())
    }
}

#[test]
fn the_audience_and_authorized_parties_bind_introspected_tokens() {
    let keys = Keys::load();
    let mut idp = Idp::new(&keys);
    let mut e = introspecting(json!({}));
    let base = json!({ "active": true, "sub": "alice", "exp": NOW + 600 });
    let with = |extra: Value| {
        let mut b = base.clone();
        b.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        b
    };
    assert_eq!(admits(&mut e, &mut idp, with(json!({}))), Err("audience-invalid"));
    assert_eq!(
        admits(&mut e, &mut idp, with(json!({ "aud": "other" }))),
        Err("audience-invalid")
    );
    assert_eq!(
        admits(&mut e, &mut idp, with(json!({ "aud": ["other", "api"] }))),
        Ok(())
    );
    // A provider that never names audiences: bind the client instead.
    let mut e = introspecting(json!({ "verification": { "authorizedParties": ["app"] } }));
    assert_eq!(admits(&mut e, &mut idp, with(json!({}))), Err("azp-invalid"));
    assert_eq!(
        admits(&mut e, &mut idp, with(json!({ "client_id": "spa" }))),
        Err("azp-invalid")
    );
    assert_eq!(
        admits(&mut e, &mut idp, with(json!({ "client_id": "app" }))),
        Ok(())
    );
}

#[test]
fn only_bearer_access_tokens_pass() {
    let keys = Keys::load();
    let mut idp = Idp::new(&keys);
    let mut e = introspecting(json!({}));
    for (token_type, ok) in [
        ("Bearer", true),
        ("access_token", true),
        ("client_credentials", true),
        ("refresh_token", false),
        ("urn:ietf:params:oauth:token-type:refresh_token", false),
        ("DPoP", false),
        ("id_token", false),
    ] {
        let got = admits(
            &mut e,
            &mut idp,
            json!({ "active": true, "sub": "alice", "aud": "api", "exp": NOW + 600, "token_type": token_type }),
        );
        assert_eq!(got.is_ok(), ok, "{token_type}: {got:?}");
    }
    let got = admits(
        &mut e,
        &mut idp,
        json!({ "active": true, "sub": "alice", "aud": "api", "exp": NOW + 600, "cnf": { "jkt": "x" } }),
    );
    assert_eq!(got, Err("typ-invalid"));
}

#[test]
fn the_policys_rules_hold_for_answers() {
    let keys = Keys::load();
    let mut idp = Idp::new(&keys);
    let mut e = introspecting(json!({ "verification": {
        "audience": "api", "maxTokenAge": 300, "requiredClaims": ["tenant"], "forbiddenClaims": ["act"] } }));
    let ok = json!({ "active": true, "sub": "alice", "aud": "api", "exp": NOW + 600, "iat": NOW - 10, "tenant": "t" });
    assert_eq!(admits(&mut e, &mut idp, ok.clone()), Ok(()));
    for (change, expected) in [
        (json!({ "iat": NOW - 86_400 }), "token-too-old"),
        (json!({ "iat": null }), "claim-missing"),
        (json!({ "tenant": null }), "claim-missing"),
        (json!({ "act": { "sub": "x" } }), "typ-invalid"),
    ] {
        let mut b = ok.clone();
        for (k, v) in change.as_object().unwrap() {
            if v.is_null() {
                b.as_object_mut().unwrap().remove(k);
                if k == "tenant" {
                    b["tenant"] = Value::Null;
                }
            } else {
                b[k] = v.clone();
            }
        }
        assert_eq!(admits(&mut e, &mut idp, b), Err(expected), "{change}");
    }
}

fn drive_failing(
    e: &mut Engine,
    idp: &mut Idp,
    url: &str,
    headers: &[(&str, &str)],
    now: u64,
    fails: impl Fn(&HttpRequest) -> bool,
) -> Decision {
    let req = Request {
        method: "GET",
        url,
        headers,
    };
    let mut step = e.handle(&req, now, seed(now, 1));
    for round in 2..12 {
        step = match step {
            Step::Done(d) => return d,
            Step::Fetch(p) => {
                if fails(p.request()) {
                    idp.log.push(format!("FAILED {}", p.request().url));
                    e.resume(p, Reply::Failed("reset"), now, seed(now, round))
                } else {
                    let (status, cc, body) = idp.answer(p.request()).unwrap();
                    let reply = Reply::Response {
                        status,
                        cache_control: cc,
                        body: &body,
                    };
                    e.resume(p, reply, now, seed(now, round))
                }
            }
            _ => panic!("unexpected step"),
        };
    }
    panic!("too many fetches")
}

fn metadata_only(keys: &Keys) -> Idp {
    let mut idp = Idp::new(keys);
    let d = idp.discovery.as_object_mut().unwrap();
    d.remove("introspection_endpoint");
    d.remove("revocation_endpoint");
    idp.metadata = Some(
        json!({ "issuer": ISS, "introspection_endpoint": format!("{ISS}/introspect"),
        "revocation_endpoint": format!("{ISS}/revoke") }),
    );
    idp
}

#[test]
fn a_metadata_outage_is_an_outage_and_is_retried() {
    let keys = Keys::load();
    let metadata = |r: &HttpRequest| r.url.contains("oauth-authorization-server");
    let metadata_log = format!("GET {ISS}/.well-known/oauth-authorization-server");
    // Introspection: 503 while it cannot be had, then found after the cooldown.
    let mut idp = metadata_only(&keys);
    let mut e = introspecting(json!({}));
    let h = [("authorization", "Bearer opaque-1")];
    let d = drive_failing(&mut e, &mut idp, "/api/me", &h, NOW, metadata);
    assert_eq!(
        (d.respond_status(), code(&d)),
        (Some(503), Some("auth-api-unavailable"))
    );
    let d = bearer(&mut e, &mut idp, "opaque-1", NOW + 5);
    assert_eq!(
        code(&d),
        Some("auth-api-unavailable"),
        "within the cooldown: no new attempt"
    );
    assert_eq!(idp.count(&metadata_log), 0);
    idp.introspect.push_back((
        200,
        json!({ "active": true, "sub": "alice", "aud": "api", "exp": NOW + 600 }).to_string(),
    ));
    assert_eq!(
        bearer(&mut e, &mut idp, "opaque-1", NOW + 31).status,
        Status::SignedIn
    );
    assert_eq!(idp.count(&metadata_log), 1);

    // Revocation: a sign-out after the cooldown revokes.
    let mut idp = metadata_only(&keys);
    let mut e = engine(json!({}));
    let d = drive_failing(
        &mut e,
        &mut idp,
        "/__tessera/sign-in?redirect_url=%2F",
        &[],
        NOW,
        metadata,
    );
    assert_eq!(d.respond_status(), Some(302));
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
        NOW + 31,
    );
    assert_eq!(d.respond_status(), Some(303));
    assert!(d.event.revoked);
    // A definite answer (404) is still asked once.
    let mut idp = metadata_only(&keys);
    idp.metadata = None;
    let mut e = introspecting(json!({}));
    for t in [0, 60, 600] {
        assert_eq!(
            code(&bearer(&mut e, &mut idp, "opaque-1", NOW + t)),
            Some("auth-api-invalid")
        );
    }
    assert_eq!(idp.count(&metadata_log), 1);
}

const TEMPLATE: &str = "https://login.microsoftonline.com/{tenantid}/v2.0";
const CONTOSO: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";

#[test]
fn introspection_fills_the_entra_template_like_a_jwt() {
    let doc = json!({ "issuer": TEMPLATE, "profile": "entra", "clientId": "c", "clientSecret": CLIENT_SECRET,
        "verification": { "audience": "api" },
        "introspection": { "endpoint": "https://auth-api.example/introspect" },
        "routes": [{ "pattern": "/api/**", "access": "api" }] });
    let mut e = Engine::new(TesseraConfig::from_json(&doc.to_string()).unwrap()).unwrap();
    let contoso = format!("https://login.microsoftonline.com/{CONTOSO}/v2.0");
    for (i, (answer, iss)) in [
        (json!({ "iss": TEMPLATE, "tid": CONTOSO }), None),
        (json!({ "iss": TEMPLATE }), None),
        (json!({}), None),
        (json!({ "iss": contoso, "tid": CONTOSO }), Some(contoso.clone())),
        (json!({ "tid": CONTOSO }), Some(contoso.clone())),
    ]
    .into_iter()
    .enumerate()
    {
        let mut body = json!({ "active": true, "sub": "alice", "aud": "api", "exp": NOW + 600 });
        body.as_object_mut()
            .unwrap()
            .extend(answer.as_object().unwrap().clone());
        let auth = format!("Bearer token-{i}");
        let headers = [("authorization", auth.as_str())];
        let req = Request {
            method: "GET",
            url: "/api/me",
            headers: &headers,
        };
        let Step::Fetch(p) = e.handle(&req, NOW, seed(NOW, 1)) else {
            panic!()
        };
        let body = body.to_string();
        let reply = Reply::Response {
            status: 200,
            cache_control: None,
            body: body.as_bytes(),
        };
        let Step::Done(d) = e.resume(p, reply, NOW, seed(NOW, 2)) else {
            panic!()
        };
        match (&d.action, iss) {
            (
                tessera_core::decision::Action::Forward {
                    identity: Some(id), ..
                },
                Some(iss),
            ) => assert_eq!(id.iss, iss),
            (_, None) => assert_eq!(code(&d), Some("issuer-invalid"), "{answer}"),
            _ => panic!("{answer}: {:?}", d.message),
        }
    }
}

#[test]
fn templates_need_the_entra_profile_and_one_path_segment() {
    for (doc, field) in [
        (
            json!({ "issuer": ISS, "verification": { "issuers": [ISS, format!("{ISS}/{{tenantid}}/v2.0")] } }),
            "verification.issuers",
        ),
        (
            json!({ "issuer": "https://login.microsoftonline.com/{tenantid}/{tenantid}/v2.0", "profile": "entra" }),
            "issuer",
        ),
        (
            json!({ "issuer": "https://login.microsoftonline.com/t{tenantid}/v2.0", "profile": "entra" }),
            "issuer",
        ),
        (
            json!({ "issuer": "https://{tenantid}.login.example/v2.0", "profile": "entra" }),
            "issuer",
        ),
    ] {
        let err = TesseraConfig::from_json(&doc.to_string()).unwrap_err();
        assert_eq!(err.field, field, "{doc}");
    }
    assert!(TesseraConfig::from_json(&json!({ "issuer": TEMPLATE, "profile": "entra" }).to_string()).is_ok());
}

#[test]
fn token_types_can_be_required() {
    let keys = Keys::load();
    let mut idp = Idp::new(&keys);
    let mut e = introspecting(json!({ "introspection": { "tokenTypes": ["Bearer"] } }));
    let base = json!({ "active": true, "sub": "alice", "aud": "api", "exp": NOW + 600 });
    // oidc-provider's refresh tokens: no token_type at all.
    assert_eq!(admits(&mut e, &mut idp, base.clone()), Err("typ-invalid"));
    let mut bearer = base.clone();
    bearer["token_type"] = json!("bearer");
    assert_eq!(admits(&mut e, &mut idp, bearer), Ok(()));
    assert!(TesseraConfig::from_json(&config_json(
        json!({ "introspection": { "tokenTypes": "Bearer" } })
    ))
    .is_err());
}
