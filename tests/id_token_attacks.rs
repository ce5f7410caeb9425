//! Attacks on ID-token sessions (the google profile's, any provider with
//! opaque access tokens), from the security review of the change that added
//! them: each test was first written to demonstrate a weakness, and now
//! states the fixed behaviour; each `holds_*` test is a check that held up.

mod harness;

use harness::*;
use serde_json::json;
use tessera_core::decision::{Action, Decision, Status};
use tessera_core::engine::{Engine, Reply, Request, Step};
use tessera_core::forward::{verify_signature, Check};
use tessera_core::session::SessionRecord;
use tessera_tests::{claims, Keys, ISS, NOW};

const SECRET: &str = "forward-signing-secret-of-32-bytes-at-least!";

fn forward_of(d: &Decision) -> (&[(String, String)], &'static [&'static str]) {
    match &d.action {
        Action::Forward { headers, remove, .. } => (headers, remove),
        Action::Respond { status, body, .. } => panic!("answered {status}: {body} ({:?})", d.message),
    }
}

/// What a host that follows `Action::Forward`'s contract passes to the
/// origin (crates/worker/src/proxy.rs, js/src/core.ts `forwardHeaders`):
/// the incoming headers less `x-tessera-*` and `remove`, then `headers` set.
fn as_host_forwards(incoming: &[(&str, &str)], d: &Decision) -> Vec<(String, String)> {
    let (set, remove) = forward_of(d);
    let mut out: Vec<(String, String)> = incoming
        .iter()
        .filter(|(n, _)| !n.starts_with("x-tessera-") && !remove.contains(n) && *n != "cookie")
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    for (n, v) in set {
        out.retain(|(k, _)| k != n);
        out.push((n.clone(), v.clone()));
    }
    out
}

fn get<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

// ---------------------------------------------------------------------------
// Finding 1: with passAccessToken off (the id-token/google default), a
// client's own Authorization header reaches the origin next to the verified
// identity, and the v2 signature (Rust verifier) still verifies.
// ---------------------------------------------------------------------------

#[test]
fn the_clients_authorization_never_reaches_the_origin_beside_an_identity() {
    let keys = Keys::load();
    let mut e = id_sessions(json!({ "forwardSigningSecret": SECRET }));
    let mut idp = Idp::new(&keys);
    let browser = signed_in_opaque(&mut e, &mut idp, &keys);
    let cookie = browser.header();

    // A page route (bearer off): the attacker, signed in as themselves
    // (user_1), adds a credential of their choosing.
    let forged = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZG1pbiIsInJvbGUiOiJhZG1pbiJ9.";
    let auth = format!("bearer {forged}");
    let incoming = [("cookie", cookie.as_str()), ("authorization", auth.as_str())];
    let d = drive(&mut e, &mut idp, "GET", "/dashboard", &incoming, NOW + 5);
    assert_eq!(d.status, Status::SignedIn, "{:?}", d.message);
    let (set, remove) = forward_of(&d);
    assert_eq!(get(set, "authorization"), None, "Tessera sets no authorization");
    assert_eq!(remove, ["authorization"], "and removes the client's");
    let origin_sees = as_host_forwards(&incoming, &d);
    assert_eq!(get(&origin_sees, "x-tessera-user"), Some("user_1"));
    assert_eq!(
        get(&origin_sees, "authorization"),
        None,
        "the client's credential stays out"
    );
    let check = Check {
        method: "GET",
        origin: APP,
        target: "/dashboard",
        max_age: 60,
        accept_v1: false,
    };
    verify_signature(&origin_sees, SECRET.as_bytes(), NOW + 5, &check).expect("the forward verifies");
    // Should a credential reach the origin anyway (a proxy adding one), the
    // signature check refuses anything but the `Bearer <token>` Tessera sets.
    let mut smuggled = origin_sees.clone();
    smuggled.push(("authorization".into(), auth.clone()));
    assert!(verify_signature(&smuggled, SECRET.as_bytes(), NOW + 5, &check).is_err());

    // The same on a bearer route with another scheme (Basic is not a bearer
    // token, so the cookie session is used and the header kept).
    let incoming = [
        ("cookie", cookie.as_str()),
        ("authorization", "Basic YWRtaW46YWRtaW4="),
    ];
    let d = drive(&mut e, &mut idp, "GET", "/api/me", &incoming, NOW + 5);
    let origin_sees = as_host_forwards(&incoming, &d);
    assert_eq!(get(&origin_sees, "authorization"), None);
    let check = Check {
        target: "/api/me",
        ..check
    };
    verify_signature(&origin_sees, SECRET.as_bytes(), NOW + 5, &check).unwrap();

    // Contrast: an access-token session always replaces it.
    let mut e = engine(json!({ "forwardSigningSecret": SECRET }));
    let token = access_token(&keys, json!({}));
    let browser = sign_in(&mut e, &mut idp, &keys, &token, Some("rt-1"));
    let cookie = browser.header();
    let incoming = [("cookie", cookie.as_str()), ("authorization", auth.as_str())];
    let d = drive(&mut e, &mut idp, "GET", "/dashboard", &incoming, NOW + 5);
    let origin_sees = as_host_forwards(&incoming, &d);
    assert_eq!(
        get(&origin_sees, "authorization"),
        Some(format!("Bearer {token}").as_str())
    );
}

// ---------------------------------------------------------------------------
// Finding 2: a refreshed ID token whose verification meets a key-set outage
// (a new kid the cache cannot fetch yet, as at a key rotation) is stored
// unverified (keep_unverified): the session's *old* sealed identity is then
// extended to the new expires_in, with the new, unchecked access token, and
// no OpenID Connect Core 12.2 check ever happens. Here the refreshed ID token
// names someone else, which the normal path refuses and revokes.
// ---------------------------------------------------------------------------

#[test]
fn a_key_outage_at_refresh_does_not_extend_the_identity() {
    let keys = Keys::load();
    let mut e = id_sessions(json!({ "session": { "identity": "id-token", "passAccessToken": true } }));
    let mut idp = Idp::new(&keys);
    let mut browser = signed_in_opaque(&mut e, &mut idp, &keys);

    // Ahead of expiry: a refresh. The provider answers with tokens for
    // "mallory", the ID token signed with a key the cached set lacks, and the
    // key set cannot be fetched right now.
    let later = NOW + 55;
    let mallory_id = keys.token(
        "EdDSA",
        &json!({ "alg": "EdDSA", "kid": "ed-rotated" }),
        &claims(json!({ "aud": "app", "sub": "mallory", "iat": later, "nbf": null, "exp": later + 3600 })),
    );
    idp.jwks_status = 503;
    idp.token.push_back((
        200,
        json!({ "access_token": "mallorys-opaque-token", "token_type": "Bearer", "expires_in": 3600,
                "refresh_token": "rt-mallory", "id_token": mallory_id })
        .to_string(),
    ));
    let d = drive(
        &mut e,
        &mut idp,
        "GET",
        "/api/me",
        &[("cookie", &browser.header())],
        later,
    );
    assert_eq!(d.respond_status(), Some(503), "{:?}", d.message);
    assert_eq!(d.reason.map(|r| r.code()), Some("jwks-unavailable"));
    assert_eq!(idp.count(&format!("POST {ISS}/revoke")), 0, "nothing revoked");
    browser.apply(&d);

    // The key set is back. The unverified answer did not extend the
    // session's identity: the next request refreshes (from the rotated
    // token), and an ID token for someone else now ends the session.
    idp.jwks_status = 200;
    let mallory_again = keys.token(
        "EdDSA",
        &json!({ "alg": "EdDSA", "kid": "ed" }),
        &claims(
            json!({ "aud": "app", "sub": "mallory", "iat": later + 1800, "nbf": null, "exp": later + 5400 }),
        ),
    );
    idp.token.push_back(token_reply(
        "mallorys-opaque-token-2",
        Some("rt-mallory-2"),
        Some(&mallory_again),
    ));
    let d = drive(
        &mut e,
        &mut idp,
        "GET",
        "/api/me",
        &[("cookie", &browser.header())],
        later + 1800,
    );
    assert_eq!(d.respond_status(), Some(401), "{:?}", d.message);
    assert_eq!(d.reason.map(|r| r.code()), Some("claim-invalid"));
    assert!(
        idp.bodies.last().unwrap().1.contains("refresh_token=rt-mallory"),
        "refreshed from the rotated token"
    );
    assert_eq!(idp.count(&format!("POST {ISS}/revoke")), 1);
}

// ---------------------------------------------------------------------------
// Finding 3: Google's two issuer spellings are both accepted, but the Core
// 12.2 refresh check compares the refreshed ID token's iss to the session's
// byte for byte: a refresh whose ID token uses the other spelling ends the
// session *and revokes the user's grant at Google*.
// ---------------------------------------------------------------------------

const G_ISS: &str = "https://accounts.google.com";
const G_CLIENT: &str = "123.apps.googleusercontent.com";

struct Google {
    jwks: String,
    token: std::collections::VecDeque<String>,
    log: Vec<String>,
}

impl Google {
    fn answer(&mut self, url: &str, method: &str) -> (u16, Vec<u8>) {
        self.log.push(format!("{method} {url}"));
        match url {
            "https://accounts.google.com/.well-known/openid-configuration" => (
                200,
                json!({
                    "issuer": G_ISS,
                    "authorization_endpoint": "https://accounts.google.com/o/oauth2/v2/auth",
                    "token_endpoint": "https://oauth2.googleapis.com/token",
                    "jwks_uri": "https://www.googleapis.com/oauth2/v3/certs",
                    "revocation_endpoint": "https://oauth2.googleapis.com/revoke",
                    "code_challenge_methods_supported": ["S256"]
                })
                .to_string()
                .into_bytes(),
            ),
            "https://www.googleapis.com/oauth2/v3/certs" => (200, self.jwks.clone().into_bytes()),
            "https://oauth2.googleapis.com/token" => (200, self.token.pop_front().unwrap().into_bytes()),
            "https://oauth2.googleapis.com/revoke" => (200, Vec::new()),
            _ => (404, Vec::new()),
        }
    }

    fn drive(&mut self, e: &mut Engine, url: &str, headers: &[(&str, &str)], now: u64) -> Decision {
        let req = Request {
            method: "GET",
            url,
            headers,
        };
        let mut step = e.handle(&req, now, seed(now, 1));
        for round in 2..12 {
            step = match step {
                Step::Done(d) => return d,
                Step::Fetch(p) | Step::Refresh(p) => {
                    let (m, u) = (p.request().method, p.request().url.clone());
                    let (status, body) = self.answer(&u, m);
                    e.resume(
                        p,
                        Reply::Response {
                            status,
                            cache_control: Some("max-age=600"),
                            body: &body,
                        },
                        now,
                        seed(now, round),
                    )
                }
                other => panic!("unexpected step {}", matches!(other, Step::Idle)),
            };
        }
        panic!("too many fetches")
    }
}

fn google_id(keys: &Keys, iss: &str, nonce: Option<&str>, now: u64) -> String {
    keys.token(
        "RS256",
        &json!({ "alg": "RS256", "kid": "rsa" }),
        &json!({ "iss": iss, "sub": "10769150350006150715113082367", "aud": G_CLIENT, "azp": G_CLIENT,
                 "email": "jsmith@example.com", "email_verified": true, "iat": now, "exp": now + 3600, "nonce": nonce })
        .to_string(),
    )
}

#[test]
fn googles_two_issuer_spellings_are_one_issuer_at_refresh() {
    let keys = Keys::load();
    let config = json!({ "issuer": G_ISS, "profile": "google", "clientId": G_CLIENT, "clientSecret": CLIENT_SECRET,
        "appOrigin": APP, "cookieKeys": COOKIE_KEYS });
    let mut e =
        Engine::new(tessera_core::config::TesseraConfig::from_json(&config.to_string()).unwrap()).unwrap();
    let mut g = Google {
        jwks: keys.jwks(),
        token: Default::default(),
        log: Vec::new(),
    };
    let mut browser = Browser::default();
    let d = g.drive(&mut e, "/__tessera/sign-in?redirect_url=%2F", &[], NOW);
    browser.apply(&d);
    let location = match &d.action {
        Action::Respond { headers, .. } => headers.iter().find(|(n, _)| n == "location").unwrap().1.clone(),
        _ => panic!(),
    };
    let (state, nonce) = (query_value(&location, "state"), query_value(&location, "nonce"));
    // Sign-in: "https://accounts.google.com".
    g.token.push_back(
        json!({ "access_token": "ya29.opaque", "token_type": "Bearer", "expires_in": 3599, "refresh_token": "1//rt",
                "id_token": google_id(&keys, G_ISS, Some(&nonce), NOW) })
        .to_string(),
    );
    let cookie = browser.header();
    let d = g.drive(
        &mut e,
        &format!("/__tessera/callback?code=4%2Fcode&state={state}"),
        &[("cookie", &cookie)],
        NOW,
    );
    assert_eq!(d.status, Status::SignedIn, "{:?}", d.message);
    browser.apply(&d);

    // Refresh ahead of expiry; Google's refreshed ID token says "accounts.google.com".
    let later = NOW + 3590;
    g.token.push_back(
        json!({ "access_token": "ya29.opaque2", "token_type": "Bearer", "expires_in": 3599,
                "id_token": google_id(&keys, "accounts.google.com", None, later) })
        .to_string(),
    );
    let d = g.drive(&mut e, "/", &[("cookie", &browser.header())], later);
    assert_eq!(d.status, Status::Refreshed, "{:?}", d.message);
    assert!(cleared(&d).is_empty());
    assert!(!g
        .log
        .contains(&"POST https://oauth2.googleapis.com/revoke".to_string()));
}

// ---------------------------------------------------------------------------
// Finding 4: sealed claims are never held to the configuration again: a
// tightened claim rule (hd, email_verified, ...) does not reach sessions
// already signed in, and a refresh without an ID token carries the old
// claims forward indefinitely. Access-token sessions re-check every request.
// ---------------------------------------------------------------------------

#[test]
fn sealed_claims_are_held_to_the_claim_rules_as_they_are_now() {
    let keys = Keys::load();
    let outsider = |n: &str| {
        keys.token(
            "EdDSA",
            &json!({ "alg": "EdDSA", "kid": "ed" }),
            &claims(json!({ "aud": "app", "nonce": n, "hd": "other.example", "iat": NOW, "exp": NOW + 60 })),
        )
    };
    let mut open = id_sessions(json!({}));
    let mut idp = Idp::new(&keys);
    let mut browser = signed_in_with(&mut open, &mut idp, outsider);

    // The operator restricts sign-in to one domain and redeploys (same keys).
    let mut strict =
        id_sessions(json!({ "verification": { "audience": "api", "claimValues": { "hd": "example.com" } } }));
    let d = drive(
        &mut strict,
        &mut idp,
        "GET",
        "/api/me",
        &[("cookie", &browser.header())],
        NOW + 5,
    );
    assert_eq!(d.respond_status(), Some(401), "{:?}", d.message);
    assert_eq!(d.reason.map(|r| r.code()), Some("claim-invalid"));
    assert!(cleared(&d).contains(&SESSION));
    // A refresh without an ID token does not carry the old claims past the
    // rule either.
    let mut strict =
        id_sessions(json!({ "verification": { "audience": "api", "claimValues": { "hd": "example.com" } } }));
    idp.token.push_back(token_reply("opaque-2", Some("rt-2"), None));
    let d = drive(
        &mut strict,
        &mut idp,
        "GET",
        "/api/me",
        &[("cookie", &browser.header())],
        NOW + 61,
    );
    assert_eq!(
        d.reason.map(|r| r.code()),
        Some("claim-invalid"),
        "{:?}",
        d.message
    );
    browser.apply(&d);
    assert!(!browser.cookies.contains_key(SESSION));
}

// ---------------------------------------------------------------------------
// Finding 5 (low): a key-set outage at the callback now revokes the grant
// the user just consented to, and the 503 keeps the transaction cookie "so
// the user may retry the same callback", which can no longer work.
// ---------------------------------------------------------------------------

#[test]
fn an_outage_at_the_callback_revokes_nothing_and_ends_the_transaction() {
    let keys = Keys::load();
    let mut e = id_sessions(json!({}));
    let mut idp = Idp::new(&keys);
    idp.jwks_status = 503;
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
    assert_eq!(d.respond_status(), Some(503), "{:?}", d.message);
    assert_eq!(
        idp.count(&format!("POST {ISS}/revoke")),
        0,
        "an outage revokes nothing"
    );
    assert!(
        cleared(&d).contains(&TX),
        "the code is spent: the transaction ends"
    );
    let body = match &d.action {
        Action::Respond { body, .. } => body.clone(),
        _ => unreachable!(),
    };
    assert!(body.contains("Sign-in failed"), "{body}");
}

// ---------------------------------------------------------------------------
// What held up.
// ---------------------------------------------------------------------------

/// A record sealed with an `i` for someone else cannot be made without the
/// keys; but an engine's own access-token session cookie (no `i`) under an
/// id-token configuration is verified as an access token (not trusted), and
/// an id-token session cookie under an access-token configuration is
/// refused (its opaque token does not verify) and its refresh revokes.
#[test]
fn holds_cross_mode_cookies_fail_closed() {
    let keys = Keys::load();
    let mut idp = Idp::new(&keys);
    // id-token cookie -> access-token engine.
    let mut id_engine = id_sessions(json!({}));
    let browser = signed_in_opaque(&mut id_engine, &mut idp, &keys);
    let mut at_engine = engine(json!({}));
    idp.token.push_back(token_reply(
        "opaque-2",
        Some("rt-2"),
        Some(&id_token_for(&keys, "user_1", None, NOW + 5)),
    ));
    let d = drive(
        &mut at_engine,
        &mut idp,
        "GET",
        "/api/me",
        &[("cookie", &browser.header())],
        NOW + 5,
    );
    // The sealed identity is ignored: the opaque token is refused, the
    // refresh is tried, and the provider's opaque answer is refused too.
    assert_eq!(d.respond_status(), Some(401), "{:?}", d.message);
    assert!(cleared(&d).contains(&SESSION) && cleared(&d).contains(&REFRESH));
    assert_eq!(idp.count(&format!("POST {ISS}/revoke")), 1, "{:?}", d.message);
}

/// A forged `i` in an otherwise valid (sealed by us) record is impossible;
/// what the engine seals for an id-token session opens back to exactly the
/// verified claims, and an id-token record whose `ae` is absent is treated as
/// expired, never as eternal.
#[test]
fn holds_record_without_expiry_is_expired() {
    let keys = Keys::load();
    let mut e = id_sessions(json!({}));
    let mut idp = Idp::new(&keys);
    let browser = signed_in_opaque(&mut e, &mut idp, &keys);
    let plain = ring().open(SESSION, &browser.cookies[SESSION], NOW).unwrap();
    let mut record = SessionRecord::from_json(&plain).unwrap();
    assert!(record.identity.is_some());
    record.access_expires_at = None;
    let cookie = ring().seal(SESSION, record.to_json().as_bytes(), NOW + 3600, [9; 24]);
    let jar = format!("{SESSION}={cookie}");
    let d = drive(&mut e, &mut idp, "GET", "/api/me", &[("cookie", &jar)], NOW + 5);
    assert_eq!(d.respond_status(), Some(401));
    assert_eq!(d.reason.map(|r| r.code()), Some("token-expired"));
}

/// A refresh cookie of another session beside this session cookie does not
/// refresh; the session cookie alone serves only until `ae` + leeway.
#[test]
fn holds_swapped_refresh_cookie_and_expiry_edge() {
    let keys = Keys::load();
    let mut e = id_sessions(json!({}));
    let mut idp = Idp::new(&keys);
    let a = signed_in_opaque(&mut e, &mut idp, &keys);
    let b = signed_in_with(&mut e, &mut idp, |n| id_token_for(&keys, "user_2", Some(n), NOW));
    let mixed = format!(
        "{SESSION}={}; {REFRESH}={}",
        a.cookies[SESSION], b.cookies[REFRESH]
    );
    let d = drive(
        &mut e,
        &mut idp,
        "GET",
        "/api/me",
        &[("cookie", &mixed)],
        NOW + 120,
    );
    assert_eq!(d.respond_status(), Some(401), "{:?}", d.message);
    assert_eq!(
        idp.count(&format!("POST {ISS}/token")),
        2,
        "no refresh with b's token"
    );
    // Leeway edge: served at ae + leeway - 1, refused at ae + leeway.
    let only = format!("{SESSION}={}", a.cookies[SESSION]);
    let d = drive(
        &mut e,
        &mut idp,
        "GET",
        "/api/me",
        &[("cookie", &only)],
        NOW + 60 + 4,
    );
    assert_eq!(d.status, Status::SignedIn);
    let d = drive(
        &mut e,
        &mut idp,
        "GET",
        "/api/me",
        &[("cookie", &only)],
        NOW + 60 + 5,
    );
    assert_eq!(d.respond_status(), Some(401));
}

/// [`drive`], also recording every request body the engine sends.
fn drive_logging(
    e: &mut Engine,
    idp: &mut Idp,
    url: &str,
    headers: &[(&str, &str)],
    now: u64,
    sent: &mut Vec<(String, String)>,
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
            Step::Fetch(p) | Step::Refresh(p) => {
                let http = p.request().clone();
                sent.push((http.url.clone(), http.body.clone().unwrap_or_default()));
                let answer = idp.answer(&http);
                match &answer {
                    Some((status, cc, body)) => e.resume(
                        p,
                        Reply::Response {
                            status: *status,
                            cache_control: *cc,
                            body,
                        },
                        now,
                        seed(now, round),
                    ),
                    None => e.resume(p, Reply::Failed("down"), now, seed(now, round)),
                }
            }
            _ => panic!("unexpected step"),
        };
    }
    panic!("too many fetches")
}

// ---------------------------------------------------------------------------
// Finding 6 (low): a refused refresh that did not rotate the refresh token
// now revokes the *access token* (with token_type_hint=refresh_token), and
// leaves the refresh token that produced the refused answer live.
// ---------------------------------------------------------------------------

#[test]
fn a_refused_refresh_without_rotation_revokes_the_sessions_refresh_token() {
    let keys = Keys::load();
    let mut e = id_sessions(json!({}));
    let mut idp = Idp::new(&keys);
    let browser = signed_in_opaque(&mut e, &mut idp, &keys);
    let later = NOW + 55;
    // No refresh_token in the answer (no rotation), an ID token for someone else.
    idp.token.push_back(token_reply(
        "opaque-mallory",
        None,
        Some(&id_token_for(&keys, "mallory", None, later)),
    ));
    let mut sent = Vec::new();
    let d = drive_logging(
        &mut e,
        &mut idp,
        "/api/me",
        &[("cookie", &browser.header())],
        later,
        &mut sent,
    );
    assert_eq!(
        d.reason.map(|r| r.code()),
        Some("claim-invalid"),
        "{:?}",
        d.message
    );
    let revoke = sent
        .iter()
        .find(|(u, _)| u == &format!("{ISS}/revoke"))
        .expect("a revocation");
    assert!(
        revoke.1.contains("token=rt-1&token_type_hint=refresh_token"),
        "{}",
        revoke.1
    );
}

/// A refreshed ID token is held to the configuration's claim rules: one
/// that no longer has the required `hd` ends the session and is revoked.
#[test]
fn holds_refreshed_id_token_meets_the_claim_rules() {
    let keys = Keys::load();
    let mut e =
        id_sessions(json!({ "verification": { "audience": "api", "claimValues": { "hd": "example.com" } } }));
    let mut idp = Idp::new(&keys);
    let with_hd = |hd: Option<&str>, nonce: Option<&str>, now: u64| {
        keys.token(
            "EdDSA",
            &json!({ "alg": "EdDSA", "kid": "ed" }),
            &claims(
                json!({ "aud": "app", "nonce": nonce, "hd": hd, "iat": now, "nbf": null, "exp": now + 60 }),
            ),
        )
    };
    let browser = signed_in_with(&mut e, &mut idp, |n| with_hd(Some("example.com"), Some(n), NOW));
    idp.token.push_back(token_reply(
        "opaque-2",
        Some("rt-2"),
        Some(&with_hd(None, None, NOW + 55)),
    ));
    let d = drive(
        &mut e,
        &mut idp,
        "GET",
        "/api/me",
        &[("cookie", &browser.header())],
        NOW + 55,
    );
    assert_eq!(d.respond_status(), Some(401), "{:?}", d.message);
    assert_eq!(d.reason.map(|r| r.code()), Some("claim-missing"));
    assert!(cleared(&d).contains(&SESSION));
    assert_eq!(idp.count(&format!("POST {ISS}/revoke")), 1);
}

/// An access-token session cookie (no `i`) under an id-token configuration is
/// not taken on trust: its access token is verified as before (a tampered or
/// foreign one is refused), and an id-token record under an access-token
/// configuration is never served from its sealed claims.
#[test]
fn holds_access_token_record_under_id_token_engine_is_verified() {
    let keys = Keys::load();
    let mut idp = Idp::new(&keys);
    let mut at = engine(json!({}));
    let token = access_token(&keys, json!({}));
    let browser = sign_in(&mut at, &mut idp, &keys, &token, None);
    let mut id = id_sessions(json!({}));
    let d = drive(
        &mut id,
        &mut idp,
        "GET",
        "/api/me",
        &[("cookie", &browser.header())],
        NOW + 5,
    );
    assert_eq!(d.status, Status::SignedIn, "{:?}", d.message);
    assert!(
        d.event.memo_hit || d.event.fetches > 0,
        "the token was verified, not trusted"
    );
    // A record (sealed by us) holding a token for another audience is refused.
    let foreign = access_token(&keys, json!({ "aud": "someone-else" }));
    let jar = format!("{SESSION}={}", sealed(SESSION, &foreign));
    let d = drive(&mut id, &mut idp, "GET", "/api/me", &[("cookie", &jar)], NOW + 5);
    assert_eq!(d.respond_status(), Some(401), "{:?}", d.message);
}
