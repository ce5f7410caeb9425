//! Attacks on revocation and back-channel logout, from the security review
//! of the change that added them: each test was first written to demonstrate
//! a weakness, and now states the fixed behaviour; the `holds_*` test is a
//! set of checks that held up.

mod harness;

use harness::*;
use serde_json::json;
use tessera_core::config::TesseraConfig;
use tessera_core::decision::{Action, Decision, Status};
use tessera_core::engine::{Engine, Reply, Request, Step, StoreOp};
use tessera_core::revocation::{Kind, Revocation, Revocations};
use tessera_tests::{Keys, ISS, NOW};

fn api(e: &mut Engine, idp: &mut Idp, cookie: &str, now: u64) -> Decision {
    drive(e, idp, "GET", "/api/me", &[("cookie", cookie)], now)
}

fn forwarded_sub(d: &Decision) -> Option<String> {
    match &d.action {
        Action::Forward {
            identity: Some(i), ..
        } => Some(i.sub.clone()),
        _ => None,
    }
}

// ---------------------------------------------------------------------------
// F1: a version 1 refresh cookie on its own launders a `sub` revocation.
#[test]
fn a_version_1_refresh_cookie_alone_is_checked_against_revocations() {
    let keys = Keys::load();
    let mut idp = Idp::new(&keys);
    let mut e = engine(json!({}));
    let old_access = access_token(
        &keys,
        json!({ "iat": NOW - 100, "nbf": NOW - 100, "exp": NOW + 60 }),
    );
    let v1_session = sealed_v1(SESSION, &old_access);
    let v1_refresh = sealed_v1(REFRESH, "rt-legacy");
    // The app disables user_1: revoke({ sub }).
    e.revoke(Kind::Sub, "user_1", NOW).unwrap();
    let both = format!("{SESSION}={v1_session}; {REFRESH}={v1_refresh}");
    let d = api(&mut e, &mut idp, &both, NOW + 1);
    assert_eq!(
        code(&d),
        Some("session-revoked"),
        "control: refused with both cookies"
    );
    // The same user drops the session cookie and sends only the refresh cookie.
    let fresh = access_token(&keys, json!({ "iat": NOW + 2, "nbf": NOW + 2, "exp": NOW + 600 }));
    idp.token.push_back(token_reply(&fresh, Some("rt-new"), None));
    let only_rt = format!("{REFRESH}={v1_refresh}");
    let d = api(&mut e, &mut idp, &only_rt, NOW + 2);
    let mut b = Browser::default();
    b.apply(&d);
    let d2 = api(&mut e, &mut idp, &b.header(), NOW + 30);
    assert_ne!(d2.status, Status::SignedIn, "nor do its cookies later");
    assert_eq!(
        code(&d),
        Some("session-revoked"),
        "revoked user got a new session"
    );
}

// ---------------------------------------------------------------------------
// F2: a logout applied during a store outage is never shared: the
// provider's retry is refused as a replay by the instance that applied it.
#[test]
fn a_logout_retried_after_a_store_outage_is_applied_and_published() {
    let keys = Keys::load();
    let mut idp = Idp::new(&keys);
    let mut a = engine(json!({}));
    let mut b = engine(json!({}));
    let browser = signed_in_as(&mut a, &mut idp, &keys, "user_1", "op-1", NOW);
    let token = logout_token(&keys, NOW + 5, json!({}));
    idp.store.down = true;
    let d = logout(&mut a, &mut idp, &token, NOW + 5);
    assert_eq!(error_of(&d).as_deref(), Some("temporarily_unavailable"));
    idp.store.down = false;
    // The provider retries, as the 400 temporarily_unavailable invited it to.
    let d = logout(&mut a, &mut idp, &token, NOW + 35);
    assert_eq!(d.respond_status(), Some(200), "the retry is applied and shared");
    idp.store.deliver(&mut b, NOW + 36);
    let d_b = api(&mut b, &mut idp, &browser.header(), NOW + 36);
    assert_eq!(code(&d_b), Some("session-revoked"));
    assert!(
        !idp.store.published.is_empty(),
        "the logout never reached the store"
    );
}

/// F2b: the jti was recorded in the store, the publish of the revocation
/// failed: the retry is refused (store says seen), nothing is published.
#[test]
fn a_logout_whose_publish_failed_is_published_when_retried_elsewhere() {
    let keys = Keys::load();
    let mut idp = Idp::new(&keys);
    let mut a = engine(json!({}));
    let mut b = engine(json!({}));
    let browser = signed_in_as(&mut a, &mut idp, &keys, "user_1", "op-1", NOW);
    let token = logout_token(&keys, NOW + 5, json!({}));
    let body = format!("logout_token={token}").into_bytes();
    // Drive by hand: Once succeeds, Revoke fails.
    let run = |e: &mut Engine, idp: &mut Idp, fail_revoke: bool, now: u64| -> Decision {
        let headers = [("content-type", "application/x-www-form-urlencoded")];
        let req = Request {
            method: "POST",
            url: "/__tessera/backchannel-logout",
            headers: &headers,
        };
        let mut step = e.handle(&req, now, seed(now, 1));
        for round in 2..10 {
            step = match step {
                Step::Done(d) => return d,
                Step::Body(p) => e.resume(p, Reply::Body(&body), now, seed(now, round)),
                Step::Store(p) => {
                    let op = p.store_op().unwrap().clone();
                    let r = match &op {
                        StoreOp::Revoke(_) if fail_revoke => {
                            idp.store.ops.push(op.clone());
                            Err("timeout")
                        }
                        _ => idp.store.apply(&op),
                    };
                    e.resume(p, Reply::Stored(r), now, seed(now, round))
                }
                Step::Fetch(p) | Step::Refresh(p) => {
                    let (s, cc, b) = idp.answer(p.request()).unwrap();
                    e.resume(
                        p,
                        Reply::Response {
                            status: s,
                            cache_control: cc,
                            body: &b,
                        },
                        now,
                        seed(now, round),
                    )
                }
                Step::Verify(p) => {
                    let c = p.signature_check().unwrap().clone();
                    e.resume(p, Reply::Signature(host_verify(&c)), now, seed(now, round))
                }
                Step::Idle => panic!(),
            };
        }
        panic!()
    };
    let first = run(&mut a, &mut idp, true, NOW + 5);
    assert_eq!(first.respond_status(), Some(400), "the publish failed");
    // The retry, on another instance (b) this time.
    let retry = run(&mut b, &mut idp, false, NOW + 35);
    assert_eq!(
        retry.respond_status(),
        Some(200),
        "the retry elsewhere is applied and shared"
    );
    let d_b = api(&mut b, &mut idp, &browser.header(), NOW + 36);
    assert_eq!(
        code(&d_b),
        Some("session-revoked"),
        "b serves a logged-out session"
    );
}

// ---------------------------------------------------------------------------
// F3: repeated sign-out with one (already signed-out) cookie pair publishes
// every time and calls the provider every time.
#[test]
fn signing_out_a_revoked_session_again_writes_nothing() {
    let keys = Keys::load();
    let mut idp = Idp::new(&keys);
    let mut e = engine(json!({}));
    let browser = signed_in_as(&mut e, &mut idp, &keys, "user_1", "op-1", NOW);
    for i in 0..50 {
        let d = drive(
            &mut e,
            &mut idp,
            "POST",
            "/__tessera/sign-out",
            &[("cookie", &browser.header()), ("origin", APP)],
            NOW + 2 + i,
        );
        assert_eq!(d.respond_status(), Some(303));
    }
    let revokes = idp
        .store
        .ops
        .iter()
        .filter(|o| matches!(o, StoreOp::Revoke(_)))
        .count();
    assert!(revokes <= 1, "replays write to the shared store once");
}

// ---------------------------------------------------------------------------
// F5: a bearer token without iat is refused for the whole sessionMaxAge
// after a sub revocation, even one issued later (docs: "a later sign-in is
// not affected").
#[test]
fn a_token_without_iat_minted_long_after_a_revocation_is_served() {
    let keys = Keys::load();
    let mut idp = Idp::new(&keys);
    let mut e = engine(json!({}));
    let no_iat = |nbf: u64| access_token(&keys, json!({ "iat": null, "nbf": nbf, "exp": nbf + 3600 }));
    let d = bearer(&mut e, &mut idp, &no_iat(NOW), NOW + 1);
    assert_eq!(d.status, Status::SignedIn);
    e.revoke(Kind::Sub, "user_1", NOW + 10).unwrap();
    let later = NOW + 20 * 24 * 3600;
    let d = bearer(&mut e, &mut idp, &no_iat(later), later + 1);
    assert_eq!(
        d.status,
        Status::SignedIn,
        "a token issued after the revocation is refused"
    );
}

// ---------------------------------------------------------------------------
// Controls that held up.
#[test]
fn holds_on_public_routes_the_session_endpoint_and_id_token_sessions() {
    let keys = Keys::load();
    let mut idp = Idp::new(&keys);
    let mut e = engine(json!({}));
    let browser = signed_in_as(&mut e, &mut idp, &keys, "user_1", "op-1", NOW);
    let d = logout(
        &mut e,
        &mut idp,
        &logout_token(&keys, NOW + 5, json!({})),
        NOW + 5,
    );
    assert_eq!(d.respond_status(), Some(200));
    let d = drive(
        &mut e,
        &mut idp,
        "GET",
        "/public/x",
        &[("cookie", &browser.header())],
        NOW + 6,
    );
    assert!(forwarded_sub(&d).is_none());
    let d = drive(
        &mut e,
        &mut idp,
        "GET",
        "/__tessera/session",
        &[("cookie", &browser.header())],
        NOW + 6,
    );
    assert_eq!(code(&d), Some("session-revoked"));
    // Only the refresh cookie (v2): dropped, never refreshes.
    let rt_only: String = browser
        .header()
        .split("; ")
        .filter(|c| c.starts_with(REFRESH))
        .collect();
    let d = drive(
        &mut e,
        &mut idp,
        "POST",
        "/__tessera/refresh",
        &[("cookie", &rt_only), ("sec-fetch-site", "same-origin")],
        NOW + 7,
    );
    assert_ne!(d.status, Status::Refreshed);
}

// ---------------------------------------------------------------------------
// F4: Entra multi-tenant (the `entra` profile's template issuer): the app's
// revoke({ sub }) and revoke({ sid }) name the template, never a token's
// issuer, so they revoke nothing.

const CONTOSO: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";

#[test]
fn the_apps_revoke_reaches_sessions_at_a_multi_tenant_issuer() {
    let keys = Keys::load();
    let doc = json!({ "issuer": ENTRA_TEMPLATE, "profile": "entra", "clientId": ENTRA_CLIENT, "clientSecret": CLIENT_SECRET,
        "appOrigin": APP, "cookieKeys": COOKIE_KEYS });
    let mut e = Engine::new(TesseraConfig::from_json(&doc.to_string()).unwrap()).unwrap();
    let mut entra = Entra::new(&keys);
    let iss = entra_issuer(CONTOSO);
    let (d, browser) = entra_sign_in(
        &mut e,
        &mut entra,
        |n| {
            entra_id_token(
                &keys,
                &iss,
                Some(CONTOSO),
                Some(n),
                NOW,
                json!({ "sid": "entra-sid-1" }),
            )
        },
        None,
    );
    assert_eq!(d.status, Status::SignedIn, "{:?}", d.message);
    let d = entra.drive(&mut e, "/dashboard", &[("cookie", &browser.header())], NOW + 5);
    assert_eq!(d.status, Status::SignedIn);
    // An admin disables the user: revoke({ sub }) and revoke({ sid }) with the
    // values the app saw (identity.sub, x-tessera-session).
    let r = e.revoke(Kind::Sub, ENTRA_SUB, NOW + 10).unwrap();
    let r2 = e.revoke(Kind::Sid, "entra-sid-1", NOW + 10).unwrap();
    assert!(
        r.iss.is_empty() && r2.iss.is_empty(),
        "the app's revocations name no issuer"
    );
    let d = entra.drive(&mut e, "/dashboard", &[("cookie", &browser.header())], NOW + 11);
    assert_eq!(
        code(&d),
        Some("session-revoked"),
        "revoked Entra user still served"
    );
}

// ---- the second review -------------------------------------------------------

// R1a: unit level. Two `sub` records for one user (the provider's, at its
// issuer, and the app's, any issuer): `held` returns the first match and
// `subject` compares only its cut-off.
#[test]
fn every_sub_record_of_a_user_counts_not_only_the_first() {
    let mut set = Revocations::new(10);
    let r = |iss: &str, at: u64| Revocation {
        kind: Kind::Sub,
        iss: iss.into(),
        value: "u".into(),
        at,
        until: at + 1000,
    };
    set.insert(r("https://idp", 100)); // back-channel logout, sub only
    set.insert(r("", 200)); // app: revoke({ sub })
    let signed_in_at = 150;
    let mut set2 = Revocations::new(10);
    set2.insert(r("", 100));
    set2.insert(r("https://idp", 200));
    assert!(
        set.subject("https://idp", "u", Some(signed_in_at), 210),
        "a later cut-off counts (forward)"
    );
    assert!(
        set2.subject("https://idp", "u", Some(signed_in_at), 210),
        "a later cut-off counts (reverse)"
    );
}

// R1b: engine level. Provider back-channel logout (sub only) at t0; the user
// signs in again at t1; the admin disables the user (revoke({ sub })) at t2.
#[test]
fn an_app_revoke_after_a_provider_sub_logout_is_enforced() {
    let keys = Keys::load();
    let mut idp = Idp::new(&keys);
    let mut e = engine(json!({}));
    let d = logout(
        &mut e,
        &mut idp,
        &logout_token(&keys, NOW, json!({ "sid": null, "sub": "user_1" })),
        NOW,
    );
    assert_eq!(d.respond_status(), Some(200), "{:?}", d.message);
    let browser = signed_in_as(&mut e, &mut idp, &keys, "user_1", "op-2", NOW + 10);
    e.revoke(Kind::Sub, "user_1", NOW + 20).unwrap();
    let d = api(&mut e, &mut idp, &browser.header(), NOW + 21);
    // And a bearer token issued at NOW+10.
    let at = access_token(
        &keys,
        json!({ "iat": NOW + 10, "nbf": NOW + 10, "exp": NOW + 3600 }),
    );
    let b = bearer(&mut e, &mut idp, &at, NOW + 21);
    assert_eq!(code(&b), Some("session-revoked"), "and the bearer token");
    assert_eq!(code(&d), Some("session-revoked"), "disabled user still served");
}

// R2: a version 1 session cookie beside the v1 refresh cookie is upgraded with
// signed_in_at = now (upgraded = session.is_none() is false), so a `sub`
// revocation of the ID-token subject is escaped when the v1 access token
// names another subject (Entra: pairwise access-token sub). With the refresh
// cookie alone, the same refresh is refused.
#[test]
fn a_version_1_session_upgraded_with_both_cookies_is_checked() {
    let keys = Keys::load();
    let run = |with_session: bool| -> (Decision, Decision) {
        let mut idp = Idp::new(&keys);
        let mut e = engine(json!({}));
        let old = access_token(
            &keys,
            json!({ "sub": "api-pairwise", "iat": NOW - 100, "nbf": NOW - 100, "exp": NOW - 50 }),
        );
        let v1_session = sealed_v1(SESSION, &old);
        let v1_refresh = sealed_v1(REFRESH, "rt-legacy");
        e.revoke(Kind::Sub, "user_1", NOW).unwrap();
        let fresh = access_token(
            &keys,
            json!({ "sub": "api-pairwise", "iat": NOW + 2, "nbf": NOW + 2, "exp": NOW + 600 }),
        );
        let id = keys.token(
            "EdDSA",
            &json!({ "alg": "EdDSA", "kid": "ed" }),
            &tessera_tests::claims(
                json!({ "aud": "app", "sub": "user_1", "iat": NOW + 2, "nbf": NOW + 2, "exp": NOW + 600 }),
            ),
        );
        idp.token
            .push_back(token_reply(&fresh, Some("rt-new"), Some(&id)));
        let cookie = if with_session {
            format!("{SESSION}={v1_session}; {REFRESH}={v1_refresh}")
        } else {
            format!("{REFRESH}={v1_refresh}")
        };
        let d = api(&mut e, &mut idp, &cookie, NOW + 2);
        let mut b = Browser::default();
        b.apply(&d);
        let d2 = api(&mut e, &mut idp, &b.header(), NOW + 30);
        (d, d2)
    };
    let (alone, _) = run(false);
    let (both, later) = run(true);
    assert_eq!(code(&alone), Some("session-revoked"));
    assert_ne!(later.status, Status::SignedIn);
    assert_ne!(
        both.status,
        Status::Refreshed,
        "v1 session upgraded past the sub revocation"
    );
}

// R3: a captured logout token replayed to an instance that did not take it
// first: every replay publishes again (a store write + broadcast) and the
// jti is never remembered locally after the store says `seen`.
#[test]
fn logout_replays_to_another_instance_write_once() {
    let keys = Keys::load();
    let mut idp = Idp::new(&keys);
    let mut a = engine(json!({}));
    let mut b = engine(json!({}));
    let token = logout_token(&keys, NOW, json!({}));
    let d = logout(&mut a, &mut idp, &token, NOW);
    assert_eq!(d.respond_status(), Some(200));
    let before = idp.store.ops.len();
    for i in 0..20 {
        let d = logout(&mut b, &mut idp, &token, NOW + 1 + i);
        assert_eq!(d.respond_status(), Some(400));
    }
    let revokes = idp.store.ops[before..]
        .iter()
        .filter(|o| matches!(o, StoreOp::Revoke(_)))
        .count();
    let keys_written: std::collections::BTreeSet<(u64, u64)> =
        idp.store.published.iter().map(|r| (r.at, r.until)).collect();
    assert!(revokes <= 1, "replays write to the shared store once");
    // The first delivery on a, and the first replay on b (harmless: the
    // same revocation); none after.
    assert!(keys_written.len() <= 2, "{keys_written:?}");
    // The first delivery on a, and the first replay on b (harmless: the
    // same revocation); none after.
    assert!(keys_written.len() <= 2, "{keys_written:?}");
}

// R4: sign-out's 'already revoked' shortcut looks at the session cookie only:
// a revoked session cookie beside another (live) session's refresh cookie
// skips revoking that live session here, in the store and at the provider.
#[test]
fn signing_out_a_revoked_session_beside_a_live_refresh_cookie_still_revokes() {
    let keys = Keys::load();
    let mut idp = Idp::new(&keys);
    let mut e = engine(json!({}));
    let a = signed_in_as(&mut e, &mut idp, &keys, "attacker", "op-a", NOW);
    let d = drive(
        &mut e,
        &mut idp,
        "POST",
        "/__tessera/sign-out",
        &[("cookie", &a.header()), ("origin", APP)],
        NOW + 1,
    );
    assert_eq!(d.respond_status(), Some(303));
    let victim = signed_in_as(&mut e, &mut idp, &keys, "user_1", "op-v", NOW + 2);
    let pick = |b: &Browser, name: &str| -> String {
        b.header().split("; ").filter(|c| c.starts_with(name)).collect()
    };
    let mixed = format!("{}; {}", pick(&a, SESSION), pick(&victim, REFRESH));
    let ops = idp.store.ops.len();
    let calls = idp.count(&format!("POST {ISS}/revoke"));
    let d = drive(
        &mut e,
        &mut idp,
        "POST",
        "/__tessera/sign-out",
        &[("cookie", &mixed), ("origin", APP)],
        NOW + 3,
    );
    assert_eq!(d.respond_status(), Some(303));
    assert!(idp.store.ops.len() > ops, "published");
    assert_eq!(
        idp.count(&format!("POST {ISS}/revoke")),
        calls + 1,
        "revoked at the provider"
    );
    let d = api(&mut e, &mut idp, &victim.header(), NOW + 4);
    assert_eq!(
        code(&d),
        Some("session-revoked"),
        "the live session beside it is revoked too"
    );
}
