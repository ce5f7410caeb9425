//! The session engine, specified as request in → decision out.
//!
//! The provider side is data, not a mock of our own code: tokens are really
//! signed with the suite's test keys, the key set is a real JWKS, and token
//! endpoint answers are the JSON documents RFC 6749 prescribes. The engine
//! never does I/O, so `Idp` only answers the HTTP requests the engine asks
//! the host to make, and records them so tests can count fetches.

mod harness;

use harness::*;
use serde_json::{json, Value};
use tessera_core::decision::{Action, Status};
use tessera_core::engine::{Engine, Reply, Request, Step};
use tessera_core::refresh::{RefreshCoordinator, Ticket};
use tessera_core::session::{RefreshRecord, SessionRecord};
use tessera_tests::{claims, Keys, XorShift, ISS, NOW};

// ---- the spec table ------------------------------------------------------------

/// What a row expects: `None` as HTTP status means forwarded to the origin.
struct Row {
    name: &'static str,
    config: Value,
    method: &'static str,
    url: &'static str,
    headers: Vec<(&'static str, String)>,
    jwks: Option<(u16, String)>,
    token: Vec<(u16, String)>,
    http: Option<u16>,
    status: &'static str,
    reason: Option<&'static str>,
}

fn row(
    name: &'static str,
    method: &'static str,
    url: &'static str,
    headers: Vec<(&'static str, String)>,
) -> Row {
    Row {
        name,
        config: json!({}),
        method,
        url,
        headers,
        jwks: None,
        token: Vec::new(),
        http: None,
        status: "signed-in",
        reason: None,
    }
}

impl Row {
    fn expect(mut self, http: Option<u16>, status: &'static str, reason: Option<&'static str>) -> Row {
        (self.http, self.status, self.reason) = (http, status, reason);
        self
    }
    fn config(mut self, c: Value) -> Row {
        self.config = c;
        self
    }
    fn jwks(mut self, status: u16, body: String) -> Row {
        self.jwks = Some((status, body));
        self
    }
    fn token(mut self, reply: (u16, String)) -> Row {
        self.token.push(reply);
        self
    }
}

fn bearer(t: &str) -> (&'static str, String) {
    ("authorization", format!("Bearer {t}"))
}

fn cookies(pairs: &[(&str, &str)]) -> (&'static str, String) {
    ("cookie", Browser::with(pairs).header())
}

fn nav() -> (&'static str, String) {
    ("sec-fetch-dest", "document".into())
}

fn rows(keys: &Keys) -> Vec<Row> {
    let valid = access_token(keys, json!({}));
    let expired = access_token(
        keys,
        json!({ "exp": NOW - 60, "iat": NOW - 120, "nbf": NOW - 120 }),
    );
    let session = sealed(SESSION, &valid);
    let expired_session = sealed(SESSION, &expired);
    let refresh = sealed(REFRESH, "rt-1");
    let other_session = ring().seal(
        SESSION,
        SessionRecord {
            id: "another-session".into(),
            ..SessionRecord::legacy(expired.clone())
        }
        .to_json()
        .as_bytes(),
        NOW + 3600,
        [2; 24],
    );
    let fresh = access_token(keys, json!({ "exp": NOW + 300 }));
    let tamper = {
        // Flip one character in the middle of the signature.
        let mut t = valid.clone().into_bytes();
        let i = t.len() - 20;
        t[i] = if t[i] == b'A' { b'B' } else { b'A' };
        String::from_utf8(t).unwrap()
    };
    let with = |extra: Value| access_token(keys, extra);
    let header_token = |header: Value, c: Value| keys.token("ES256", &header, &claims(c));
    let weak_jwks =
        json!({ "keys": [keys.ec_jwk("ec"), tessera_tests::rsa_jwk("weak", &keys.rsa1024.to_public_key())] });
    let weak_token = keys.token_raw("RS256", r#"{"alg":"RS256","kid":"weak"}"#, &claims(json!({})));
    let tx = sealed(
        TX,
        r#"{"s":"state-1","n":"nonce-1","v":"verifier-1","r":"/after"}"#,
    );
    vec![
        // Routes without credentials.
        row(
            "page navigation without a session goes to sign-in",
            "GET",
            "/dashboard",
            vec![nav()],
        )
        .expect(Some(302), "signed-out", Some("token-missing")),
        row(
            "page fetch without a session is a 401",
            "GET",
            "/dashboard",
            vec![("accept", "application/json".into())],
        )
        .expect(Some(401), "signed-out", Some("token-missing")),
        row(
            "page POST navigation without a session is a 401, never a redirect",
            "POST",
            "/dashboard",
            vec![nav()],
        )
        .expect(Some(401), "signed-out", Some("token-missing")),
        row("api without credentials is a 401", "GET", "/api/items", vec![]).expect(
            Some(401),
            "signed-out",
            Some("token-missing"),
        ),
        row(
            "public route without credentials is forwarded anonymously",
            "GET",
            "/public/about",
            vec![nav()],
        )
        .expect(None, "signed-out", Some("token-missing")),
        // Signed in.
        row(
            "page with a valid session cookie is forwarded",
            "GET",
            "/dashboard",
            vec![nav(), cookies(&[(SESSION, &session)])],
        )
        .expect(None, "signed-in", None),
        row(
            "public route with a valid session forwards the identity",
            "GET",
            "/",
            vec![cookies(&[(SESSION, &session)])],
        )
        .expect(None, "signed-in", None),
        row(
            "api with a valid bearer token is forwarded",
            "GET",
            "/api/items",
            vec![bearer(&valid)],
        )
        .expect(None, "signed-in", None),
        row(
            "page routes ignore bearer tokens",
            "GET",
            "/dashboard",
            vec![bearer(&valid)],
        )
        .expect(Some(401), "signed-out", Some("token-missing")),
        // Every verification reason, through a bearer token on an API route.
        row(
            "malformed bearer header",
            "GET",
            "/api/x",
            vec![("authorization", "Bearer a b".into())],
        )
        .expect(Some(401), "signed-out", Some("token-malformed")),
        row(
            "two authorization headers",
            "GET",
            "/api/x",
            vec![bearer(&valid), bearer(&valid)],
        )
        .expect(Some(401), "signed-out", Some("token-malformed")),
        row(
            "oversized token",
            "GET",
            "/api/x",
            vec![bearer(&format!("{}.e30.sig", "a".repeat(9000)))],
        )
        .expect(Some(401), "signed-out", Some("token-too-large")),
        row(
            "HMAC token",
            "GET",
            "/api/x",
            vec![bearer(&header_token(
                json!({"alg":"HS256","kid":"ec"}),
                json!({}),
            ))],
        )
        .expect(Some(401), "signed-out", Some("alg-not-allowed")),
        row(
            "unknown kid after one refetch",
            "GET",
            "/api/x",
            vec![bearer(&header_token(
                json!({"alg":"ES256","kid":"nope"}),
                json!({}),
            ))],
        )
        .expect(Some(401), "signed-out", Some("key-not-found")),
        row(
            "weak key named by the token",
            "GET",
            "/api/x",
            vec![bearer(&weak_token)],
        )
        .jwks(200, weak_jwks.to_string())
        .expect(Some(401), "signed-out", Some("key-unusable")),
        row("tampered signature", "GET", "/api/x", vec![bearer(&tamper)]).expect(
            Some(401),
            "signed-out",
            Some("signature-invalid"),
        ),
        row(
            "expired bearer token (no refresh for bearer)",
            "GET",
            "/api/x",
            vec![bearer(&expired)],
        )
        .expect(Some(401), "signed-out", Some("token-expired")),
        row(
            "not yet valid",
            "GET",
            "/api/x",
            vec![bearer(&with(json!({ "nbf": NOW + 60 })))],
        )
        .expect(Some(401), "signed-out", Some("token-not-yet-valid")),
        row(
            "issued in the future",
            "GET",
            "/api/x",
            vec![bearer(&with(json!({ "iat": NOW + 60, "nbf": null })))],
        )
        .expect(Some(401), "signed-out", Some("iat-in-future")),
        row(
            "older than maxTokenAge",
            "GET",
            "/api/x",
            vec![bearer(&with(json!({ "iat": NOW - 600 })))],
        )
        .config(json!({ "verification": { "audience": "api", "maxTokenAge": 300 } }))
        .expect(Some(401), "signed-out", Some("token-too-old")),
        row(
            "another issuer",
            "GET",
            "/api/x",
            vec![bearer(&with(json!({ "iss": "https://evil.example" })))],
        )
        .expect(Some(401), "signed-out", Some("issuer-invalid")),
        row(
            "another audience",
            "GET",
            "/api/x",
            vec![bearer(&with(json!({ "aud": "other" })))],
        )
        .expect(Some(401), "signed-out", Some("audience-invalid")),
        row(
            "unauthorized party",
            "GET",
            "/api/x",
            vec![bearer(&with(json!({ "azp": "https://evil.example" })))],
        )
        .config(
            json!({ "verification": { "audience": "api", "authorizedParties": ["https://app.example"] } }),
        )
        .expect(Some(401), "signed-out", Some("azp-invalid")),
        row(
            "wrong typ",
            "GET",
            "/api/x",
            vec![bearer(&header_token(
                json!({"alg":"ES256","kid":"ec","typ":"JWT"}),
                json!({}),
            ))],
        )
        .config(json!({ "verification": { "audience": "api", "typ": "at+jwt" } }))
        .expect(Some(401), "signed-out", Some("typ-invalid")),
        row(
            "crit header",
            "GET",
            "/api/x",
            vec![bearer(&header_token(
                json!({"alg":"ES256","kid":"ec","crit":["exp"]}),
                json!({}),
            ))],
        )
        .expect(Some(401), "signed-out", Some("crit-unsupported")),
        row(
            "required claim missing",
            "GET",
            "/api/x",
            vec![bearer(&with(json!({ "sid": null })))],
        )
        .config(json!({ "verification": { "audience": "api", "requiredClaims": ["sid"] } }))
        .expect(Some(401), "signed-out", Some("claim-missing")),
        row(
            "claim of the wrong type",
            "GET",
            "/api/x",
            vec![bearer(&with(json!({ "exp": "soon" })))],
        )
        .expect(Some(401), "signed-out", Some("claim-invalid")),
        // Key-set outages and bad key sets.
        row(
            "key set down: 503, not a sign-out",
            "GET",
            "/api/x",
            vec![bearer(&valid)],
        )
        .jwks(503, String::new())
        .expect(Some(503), "unavailable", Some("jwks-unavailable")),
        row(
            "key set with a symmetric key: 503 jwks-invalid",
            "GET",
            "/api/x",
            vec![bearer(&valid)],
        )
        .jwks(
            200,
            json!({ "keys": [{ "kty": "oct", "k": "c2VjcmV0" }] }).to_string(),
        )
        .expect(Some(502), "unavailable", Some("jwks-invalid")),
        row(
            "bad key set with a session: 503, cookies kept, no refresh attempted",
            "GET",
            "/dashboard",
            vec![nav(), cookies(&[(SESSION, &session), (REFRESH, &refresh)])],
        )
        .jwks(
            200,
            json!({ "keys": [{ "kty": "oct", "k": "c2VjcmV0" }] }).to_string(),
        )
        .expect(Some(502), "unavailable", Some("jwks-invalid")),
        row(
            "key set down on a public route: forwarded anonymously",
            "GET",
            "/",
            vec![cookies(&[(SESSION, &session)])],
        )
        .jwks(503, String::new())
        .expect(None, "unavailable", Some("jwks-unavailable")),
        // Cookies and refresh.
        row(
            "unsealable session cookie: 401 and cleared",
            "GET",
            "/api/x",
            vec![cookies(&[(SESSION, "t1.k1.garbage")])],
        )
        .expect(Some(401), "signed-out", Some("cookie-unsealable")),
        row(
            "expired session with refresh cookie is refreshed",
            "GET",
            "/dashboard",
            vec![
                nav(),
                cookies(&[(SESSION, &expired_session), (REFRESH, &refresh)]),
            ],
        )
        .token(token_reply(&fresh, Some("rt-2"), None))
        .expect(None, "refreshed", None),
        row(
            "refresh refused: session over, navigation to sign-in",
            "GET",
            "/dashboard",
            vec![
                nav(),
                cookies(&[(SESSION, &expired_session), (REFRESH, &refresh)]),
            ],
        )
        .token((400, json!({ "error": "invalid_grant" }).to_string()))
        .expect(Some(302), "signed-out", Some("refresh-token-invalid")),
        row(
            "refresh refused on an API: 401",
            "GET",
            "/api/x",
            vec![cookies(&[(SESSION, &expired_session), (REFRESH, &refresh)])],
        )
        .token((401, json!({ "error": "invalid_client" }).to_string()))
        .expect(Some(401), "signed-out", Some("refresh-token-invalid")),
        row(
            "token endpoint down: 503, cookies kept",
            "GET",
            "/dashboard",
            vec![
                nav(),
                cookies(&[(SESSION, &expired_session), (REFRESH, &refresh)]),
            ],
        )
        .token((502, "<html>bad gateway</html>".into()))
        .expect(Some(503), "unavailable", Some("auth-api-unavailable")),
        row(
            "token endpoint misconfigured: 503 auth-api-unavailable, cookies kept",
            "GET",
            "/api/x",
            vec![cookies(&[(SESSION, &expired_session), (REFRESH, &refresh)])],
        )
        .token((400, json!({ "error": "unauthorized_client" }).to_string()))
        .expect(Some(503), "unavailable", Some("auth-api-unavailable")),
        row(
            "refreshed token the policy refuses: 401 and cleared",
            "GET",
            "/api/x",
            vec![cookies(&[(SESSION, &expired_session), (REFRESH, &refresh)])],
        )
        .token(token_reply(&with(json!({ "aud": "other" })), Some("rt-2"), None))
        .expect(Some(401), "signed-out", Some("audience-invalid")),
        // CSRF.
        row(
            "cross-site POST with the session cookie",
            "POST",
            "/api/x",
            vec![
                cookies(&[(SESSION, &session)]),
                ("sec-fetch-site", "cross-site".into()),
                ("origin", "https://evil.example".into()),
            ],
        )
        .expect(Some(403), "denied", Some("csrf-rejected")),
        row(
            "same-site POST from a sibling origin with the session cookie",
            "POST",
            "/api/x",
            vec![
                cookies(&[(SESSION, &session)]),
                ("sec-fetch-site", "same-site".into()),
                ("origin", "https://files.app.example".into()),
            ],
        )
        .expect(Some(403), "denied", Some("csrf-rejected")),
        row(
            "same-origin POST with the session cookie",
            "POST",
            "/api/x",
            vec![
                cookies(&[(SESSION, &session)]),
                ("sec-fetch-site", "same-origin".into()),
            ],
        )
        .expect(None, "signed-in", None),
        row(
            "POST from an allowed origin",
            "POST",
            "/api/x",
            vec![
                cookies(&[(SESSION, &session)]),
                ("origin", "https://admin.example".into()),
            ],
        )
        .config(json!({ "allowedOrigins": ["https://admin.example"] }))
        .expect(None, "signed-in", None),
        row(
            "cross-site POST with a bearer token needs no CSRF gate",
            "POST",
            "/api/x",
            vec![bearer(&valid), ("sec-fetch-site", "cross-site".into())],
        )
        .expect(None, "signed-in", None),
        row(
            "cross-site POST to a public route drops the identity",
            "POST",
            "/public/form",
            vec![
                cookies(&[(SESSION, &session)]),
                ("sec-fetch-site", "cross-site".into()),
            ],
        )
        .expect(None, "signed-out", Some("csrf-rejected")),
        // Route requirements (tests/authorization.rs has the rest).
        row("bearer token without the route's scope", "GET", "/api/x", vec![bearer(&valid)])
            .config(json!({ "routes": [{ "pattern": "/api/**", "access": "api", "require": { "scopes": ["x:read"] } }] }))
            .expect(Some(403), "denied", Some("insufficient-scope")),
        row("page navigation without the route's role", "GET", "/admin", vec![cookies(&[(SESSION, &session)]), nav()])
            .config(json!({ "routes": [{ "pattern": "/admin/**", "access": "page", "require": { "roles": ["admin"] } }] }))
            .expect(Some(403), "denied", Some("insufficient-scope")),
        // Paths.
        row("encoded slash", "GET", "/api%2Fx", vec![]).expect(Some(400), "denied", Some("path-invalid")),
        row("dot-dot above the root", "GET", "/../api/x", vec![]).expect(
            Some(400),
            "denied",
            Some("path-invalid"),
        ),
        row(
            "dot-dot out of a public prefix is refused, not resolved",
            "GET",
            "/public/../api/x",
            vec![],
        )
        .expect(Some(400), "denied", Some("path-invalid")),
        // Endpoints.
        row(
            "sign-in redirects to the provider",
            "GET",
            "/__tessera/sign-in?redirect_url=/x",
            vec![nav()],
        )
        .expect(Some(302), "handshake", None),
        row("sign-in is GET only", "POST", "/__tessera/sign-in", vec![]).expect(Some(405), "denied", None),
        row(
            "callback with a wrong state",
            "GET",
            "/__tessera/callback?code=c&state=forged",
            vec![cookies(&[(TX, &tx)])],
        )
        .expect(Some(400), "denied", Some("state-mismatch")),
        row(
            "callback without a transaction",
            "GET",
            "/__tessera/callback?code=c&state=state-1",
            vec![],
        )
        .expect(Some(400), "denied", Some("state-mismatch")),
        row(
            "callback with a provider error",
            "GET",
            "/__tessera/callback?error=access_denied&state=state-1",
            vec![cookies(&[(TX, &tx)])],
        )
        .expect(Some(400), "denied", Some("callback-error")),
        row(
            "callback from another issuer (RFC 9207)",
            "GET",
            "/__tessera/callback?code=c&state=state-1&iss=https%3A%2F%2Fevil.example",
            vec![cookies(&[(TX, &tx)])],
        )
        .expect(Some(400), "denied", Some("issuer-invalid")),
        row(
            "callback whose token response is not JSON: 502, the code is spent",
            "GET",
            "/__tessera/callback?code=c&state=state-1",
            vec![cookies(&[(TX, &tx)])],
        )
        .token((200, String::from("<html>oops</html>")))
        .expect(Some(502), "unavailable", Some("auth-api-invalid")),
        row(
            "a refresh cookie alone never refreshes (it needs its session's cookie)",
            "GET",
            "/api/x",
            vec![cookies(&[(REFRESH, &refresh)])],
        )
        .expect(Some(401), "signed-out", Some("token-missing")),
        row(
            "a refresh cookie beside another session's cookie never refreshes",
            "GET",
            "/api/x",
            vec![cookies(&[(SESSION, &other_session), (REFRESH, &refresh)])],
        )
        .expect(Some(401), "signed-out", Some("token-expired")),
        row(
            "a refresh answer that is not JSON ends the session: 401",
            "GET",
            "/api/x",
            vec![cookies(&[(SESSION, &expired_session), (REFRESH, &refresh)])],
        )
        .token((200, String::from("{\"access_token\":")))
        .expect(Some(401), "signed-out", Some("refresh-token-invalid")),
        row(
            "a version 1 refresh cookie alone still refreshes (cookies from before the upgrade)",
            "GET",
            "/api/x",
            vec![cookies(&[(REFRESH, &sealed_v1(REFRESH, "rt-1"))])],
        )
        .token(token_reply(&fresh, Some("rt-2"), None))
        .expect(None, "refreshed", None),
        row(
            "callback with a refused code",
            "GET",
            "/__tessera/callback?code=c&state=state-1",
            vec![cookies(&[(TX, &tx)])],
        )
        .token((400, json!({ "error": "invalid_grant" }).to_string()))
        .expect(Some(400), "denied", Some("callback-error")),
        row(
            "callback while the token endpoint is down",
            "GET",
            "/__tessera/callback?code=c&state=state-1",
            vec![cookies(&[(TX, &tx)])],
        )
        .token((503, String::new()))
        .expect(Some(503), "unavailable", Some("auth-api-unavailable")),
        row(
            "refresh endpoint",
            "POST",
            "/__tessera/refresh",
            vec![
                cookies(&[(SESSION, &expired_session), (REFRESH, &refresh)]),
                ("sec-fetch-site", "same-origin".into()),
            ],
        )
        .token(token_reply(&fresh, None, None))
        .expect(Some(204), "refreshed", None),
        row(
            "refresh endpoint without a refresh cookie",
            "POST",
            "/__tessera/refresh",
            vec![("sec-fetch-site", "same-origin".into())],
        )
        .expect(Some(401), "signed-out", Some("token-missing")),
        row(
            "refresh endpoint cross-site",
            "POST",
            "/__tessera/refresh",
            vec![
                cookies(&[(SESSION, &expired_session), (REFRESH, &refresh)]),
                ("sec-fetch-site", "cross-site".into()),
            ],
        )
        .expect(Some(403), "denied", Some("csrf-rejected")),
        row(
            "session endpoint signed in",
            "GET",
            "/__tessera/session",
            vec![cookies(&[(SESSION, &session)])],
        )
        .expect(Some(200), "signed-in", None),
        row(
            "session endpoint signed out",
            "GET",
            "/__tessera/session",
            vec![nav()],
        )
        .expect(Some(401), "signed-out", Some("token-missing")),
        row(
            "sign-out",
            "POST",
            "/__tessera/sign-out",
            vec![
                cookies(&[(SESSION, &session), (REFRESH, &refresh)]),
                ("sec-fetch-site", "same-origin".into()),
            ],
        )
        .expect(Some(303), "signed-out", None),
        row("sign-out is POST only", "GET", "/__tessera/sign-out", vec![]).expect(Some(405), "denied", None),
        row(
            "cross-site sign-out",
            "POST",
            "/__tessera/sign-out",
            vec![
                cookies(&[(SESSION, &session)]),
                ("sec-fetch-site", "cross-site".into()),
            ],
        )
        .expect(Some(403), "denied", Some("csrf-rejected")),
        row("unknown endpoint", "GET", "/__tessera/nope", vec![]).expect(Some(404), "denied", None),
    ]
}

#[test]
fn spec_table() {
    let keys = Keys::load();
    let mut failures = Vec::new();
    for r in rows(&keys) {
        let mut engine = engine(r.config.clone());
        let mut idp = Idp::new(&keys);
        if let Some((status, body)) = &r.jwks {
            (idp.jwks_status, idp.jwks) = (*status, body.clone());
        }
        idp.token = r.token.iter().cloned().collect();
        let headers: Vec<(&str, &str)> = r.headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let url = format!("{APP}{}", r.url);
        let d = drive(&mut engine, &mut idp, r.method, &url, &headers, NOW);
        let got = (d.respond_status(), d.status.as_str(), d.reason.map(|r| r.code()));
        if got != (r.http, r.status, r.reason) {
            failures.push(format!(
                "{}: expected {:?}, got {got:?} ({:?})",
                r.name,
                (r.http, r.status, r.reason),
                d.message
            ));
        }
        // The headers the client sees always say what happened.
        let h = d.response_headers();
        assert_eq!(
            h[0],
            ("x-tessera-status".into(), d.status.as_str().into()),
            "{}",
            r.name
        );
        assert_eq!(
            h.iter()
                .find(|(n, _)| n == "x-tessera-reason")
                .map(|(_, v)| v.as_str()),
            d.reason.map(|r| r.code()),
            "{}",
            r.name
        );
        // Outages never clear a session; a refused refresh always does.
        if d.respond_status() == Some(503) && !cleared(&d).is_empty() {
            failures.push(format!("{}: an outage cleared {:?}", r.name, cleared(&d)));
        }
        if d.reason.map(|r| r.code()) == Some("refresh-token-invalid") && !cleared(&d).contains(&REFRESH) {
            failures.push(format!("{}: cleared {:?}", r.name, cleared(&d)));
        }
        if !idp.token.is_empty() {
            failures.push(format!("{}: scripted token replies left unused", r.name));
        }
        assert_eq!(d.event.status, d.status, "{}", r.name);
        assert_eq!(d.event.reason, d.reason.map(|r| r.code()), "{}", r.name);
    }
    assert!(
        failures.is_empty(),
        "{} rows failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn the_table_covers_every_reason() {
    let keys = Keys::load();
    let covered: Vec<&str> = rows(&keys).iter().filter_map(|r| r.reason).collect();
    // Reasons with tests of their own: a whole sign-in (below), an
    // introspection answer (tests/introspection.rs), revocations and the
    // shared store (tests/revocation.rs), DPoP (tests/dpop.rs).
    let elsewhere = [
        "nonce-mismatch",
        "token-inactive",
        "session-revoked",
        "store-unavailable",
        "dpop-required",
        "dpop-proof-invalid",
        "dpop-proof-replayed",
        "dpop-nonce-required",
    ];
    for reason in tessera_core::Reason::ALL {
        assert!(
            covered.contains(&reason.code()) || elsewhere.contains(&reason.code()),
            "no spec row for {reason}"
        );
    }
}

// ---- answers in detail ---------------------------------------------------------

#[test]
fn unauthorized_answers_carry_rfc6750_challenges() {
    let keys = Keys::load();
    let mut idp = Idp::new(&keys);
    let mut e = engine(json!({}));
    let d = drive(&mut e, &mut idp, "GET", "/api/x", &[], NOW);
    assert_eq!(header(&d, "www-authenticate"), Some("Bearer"));
    let expired = access_token(&keys, json!({ "exp": NOW - 60 }));
    let auth = format!("Bearer {expired}");
    let d = drive(
        &mut e,
        &mut idp,
        "GET",
        "/api/x",
        &[("authorization", &auth)],
        NOW,
    );
    let challenge = header(&d, "www-authenticate").unwrap();
    assert!(
        challenge.starts_with(r#"Bearer error="invalid_token", error_description=""#),
        "{challenge}"
    );
    assert!(challenge.contains("expired"), "{challenge}");
    assert!(!challenge[..challenge.len() - 1].ends_with('"'));
    let Action::Respond { body, .. } = &d.action else {
        panic!()
    };
    let body: Value = serde_json::from_str(body).unwrap();
    assert_eq!(body["error"], "token-expired");
    assert_eq!(header(&d, "cache-control"), Some("no-store"));
}

#[test]
fn outages_carry_retry_after_and_keep_cookies() {
    let keys = Keys::load();
    let mut idp = Idp::new(&keys);
    idp.token.push_back((503, String::new()));
    let mut e = engine(json!({}));
    let expired = access_token(
        &keys,
        json!({ "exp": NOW - 60, "iat": NOW - 120, "nbf": NOW - 120 }),
    );
    let cookie = Browser::with(&[
        (SESSION, &sealed(SESSION, &expired)),
        (REFRESH, &sealed(REFRESH, "rt-1")),
    ])
    .header();
    let d = drive(&mut e, &mut idp, "GET", "/api/x", &[("cookie", &cookie)], NOW);
    assert_eq!(d.respond_status(), Some(503));
    assert_eq!(header(&d, "retry-after"), Some("5"));
    assert!(d.set_cookies.is_empty(), "an outage must not clear cookies");
}

#[test]
fn sign_in_redirect_keeps_the_path_and_refuses_open_redirects() {
    let keys = Keys::load();
    let mut idp = Idp::new(&keys);
    let mut e =
        engine(json!({ "authorizationParams": { "prompt": "login" }, "resources": ["https://api.example"] }));
    let d = drive(
        &mut e,
        &mut idp,
        "GET",
        "/reports/q3?x=1&y=2",
        &[("sec-fetch-dest", "document")],
        NOW,
    );
    assert_eq!(
        header(&d, "location"),
        Some("/__tessera/sign-in?redirect_url=%2Freports%2Fq3%3Fx%3D1%26y%3D2")
    );

    for (redirect, back) in [
        ("%2Freports%2Fq3%3Fx%3D1", "/reports/q3?x=1"),
        ("https%3A%2F%2Fapp.example%2Fok", "/ok"),
        ("%2F%2Fevil.example", "/"),
        ("%2F%5Cevil.example", "/"),
        ("https%3A%2F%2Fevil.example%2F", "/"),
        ("%2F%252F%252Fevil.example", "/"),
    ] {
        let url = format!("/__tessera/sign-in?redirect_url={redirect}");
        let mut d = drive(&mut e, &mut idp, "GET", &url, &[], NOW);
        let location = header(&d, "location").unwrap().to_string();
        assert!(location.starts_with(&format!("{ISS}/auth?response_type=code&client_id=app&redirect_uri=https%3A%2F%2Fapp.example%2F__tessera%2Fcallback&scope=openid%20profile%20email%20offline_access&state=")), "{location}");
        for part in [
            "&code_challenge_method=S256",
            "&prompt=login",
            "&resource=https%3A%2F%2Fapi.example",
            "&nonce=",
        ] {
            assert!(location.contains(part), "{part} in {location}");
        }
        // The transaction cookie holds the return path, sealed; the browser
        // brings it back to the callback, where a wrong state must fail.
        let tx = d.set_cookies.pop().unwrap();
        assert_eq!((tx.name.as_str(), tx.max_age), (TX, Some(600)));
        let plain = ring().open(TX, &tx.value, NOW).unwrap();
        let plain: Value = serde_json::from_slice(&plain).unwrap();
        assert_eq!(plain["r"], back, "{redirect}");
        assert_eq!(plain["s"].as_str().unwrap(), query_value(&location, "state"));
    }
    // Discovery was fetched once for all of them.
    assert_eq!(
        idp.count(&format!("GET {ISS}/.well-known/openid-configuration")),
        1
    );
}

const FORWARD_SECRET: &str = "forward-secret-of-at-least-32-bytes";

#[test]
fn sign_in_callback_session_refresh_sign_out() {
    let keys = Keys::load();
    let mut idp = Idp::new(&keys);
    let mut e = engine(json!({ "forwardSigningSecret": FORWARD_SECRET }));
    let access = access_token(&keys, json!({ "exp": NOW + 60 }));
    let mut browser = sign_in(&mut e, &mut idp, &keys, &access, Some("rt-1"));
    assert!(browser.cookies.contains_key(SESSION) && browser.cookies.contains_key(REFRESH));

    // The code exchange: client_secret_basic, PKCE verifier, the registered redirect URI.
    let (auth, body) = &idp.bodies[0];
    assert_eq!(auth.as_deref(), Some("Basic YXBwOnMzY3JldC1jbGllbnQtc2VjcmV0"));
    assert!(body.starts_with("grant_type=authorization_code&code=code-1&redirect_uri=https%3A%2F%2Fapp.example%2F__tessera%2Fcallback&code_verifier="), "{body}");

    // A page request with the session: forwarded with signed identity headers.
    let cookie = browser.header();
    let d = drive(
        &mut e,
        &mut idp,
        "GET",
        "/home",
        &[("cookie", &cookie), ("sec-fetch-dest", "document")],
        NOW,
    );
    assert_eq!(d.status, Status::SignedIn);
    let Action::Forward {
        identity: Some(id),
        headers,
        ..
    } = &d.action
    else {
        panic!("{d:?}")
    };
    assert_eq!(id.sub, "user_1");
    assert_eq!(
        header(&d, "authorization"),
        Some(format!("Bearer {access}").as_str())
    );
    assert_eq!(header(&d, "x-tessera-user"), Some("user_1"));
    assert_eq!(header(&d, "x-tessera-session"), Some("sess_1"));
    let check = tessera_core::forward::Check {
        method: "GET",
        origin: APP,
        target: "/home",
        max_age: 30,
        accept_v1: false,
    };
    tessera_core::forward::verify_signature(headers, FORWARD_SECRET.as_bytes(), NOW, &check).unwrap();
    let replayed = tessera_core::forward::Check {
        target: "/admin",
        ..check
    };
    assert!(
        tessera_core::forward::verify_signature(headers, FORWARD_SECRET.as_bytes(), NOW, &replayed).is_err()
    );
    assert!(d.event.memo_hit, "the callback verified this token already");

    // The session endpoint: claims, never the tokens.
    let d = drive(
        &mut e,
        &mut idp,
        "GET",
        "/__tessera/session",
        &[("cookie", &cookie)],
        NOW,
    );
    let Action::Respond {
        status: 200, body, ..
    } = &d.action
    else {
        panic!("{d:?}")
    };
    assert!(!body.contains(&access) && !body.contains("rt-1"));
    let body: Value = serde_json::from_str(body).unwrap();
    assert_eq!(
        (body["signedIn"].clone(), body["identity"]["sub"].clone()),
        (json!(true), json!("user_1"))
    );

    // 55 s later the token is within refreshAhead (10 s): refreshed proactively.
    let later = NOW + 55;
    let renewed = access_token(&keys, json!({ "exp": NOW + 300, "iat": later }));
    idp.token.push_back(token_reply(&renewed, Some("rt-2"), None));
    let d = drive(&mut e, &mut idp, "GET", "/home", &[("cookie", &cookie)], later);
    assert_eq!(d.status, Status::Refreshed);
    assert!(d.event.proactive_refresh);
    assert_eq!(
        header(&d, "authorization"),
        Some(format!("Bearer {renewed}").as_str())
    );
    assert_eq!(idp.bodies[1].1, "grant_type=refresh_token&refresh_token=rt-1");
    assert_eq!(set(&d), [SESSION, REFRESH]);
    browser.apply(&d);
    let opened = ring().open(REFRESH, &browser.cookies[REFRESH], later).unwrap();
    let opened = RefreshRecord::from_json(&opened).unwrap();
    assert_eq!(
        opened.refresh_token, "rt-2",
        "the rotated refresh token is stored"
    );
    let session =
        SessionRecord::from_json(&ring().open(SESSION, &browser.cookies[SESSION], later).unwrap()).unwrap();
    assert_eq!(opened.id, session.id, "both cookies name the session");
    assert_eq!(
        (session.sub.as_str(), session.access_token.as_str()),
        ("user_1", renewed.as_str())
    );
    assert_eq!(
        session.id_token.nonce.as_deref().map(str::len),
        Some(22),
        "the sign-in's nonce is kept"
    );

    // Sign-out revokes the refresh token, clears both cookies, ends the provider session.
    let cookie = browser.header();
    let d = drive(
        &mut e,
        &mut idp,
        "POST",
        "/__tessera/sign-out",
        &[("cookie", &cookie), ("origin", APP)],
        later,
    );
    assert_eq!(idp.log.last().unwrap(), &format!("POST {ISS}/revoke"));
    assert!(d.event.revoked);
    assert_eq!(header(&d, "location"), Some("https://issuer.example/logout?client_id=app&post_logout_redirect_uri=https%3A%2F%2Fapp.example%2F"));
    let mut gone = cleared(&d);
    gone.sort();
    assert_eq!(gone, [REFRESH, SESSION]);
}

#[test]
fn callback_refuses_a_replayed_nonce_and_an_id_token_for_another_client() {
    let keys = Keys::load();
    let access = access_token(&keys, json!({}));
    for (id_token, reason) in [
        (id_token(&keys, "someone-elses-nonce"), "nonce-mismatch"),
        (
            keys.token(
                "EdDSA",
                &json!({"alg":"EdDSA","kid":"ed"}),
                &claims(json!({ "aud": "other-client", "nonce": "x" })),
            ),
            "audience-invalid",
        ),
    ] {
        let mut idp = Idp::new(&keys);
        let mut e = engine(json!({}));
        let d = drive(&mut e, &mut idp, "GET", "/__tessera/sign-in", &[], NOW);
        let mut browser = Browser::default();
        browser.apply(&d);
        let state = query_value(header(&d, "location").unwrap(), "state");
        idp.token
            .push_back(token_reply(&access, Some("rt"), Some(&id_token)));
        let cookie = browser.header();
        let d = drive(
            &mut e,
            &mut idp,
            "GET",
            &format!("/__tessera/callback?code=c&state={state}"),
            &[("cookie", &cookie)],
            NOW,
        );
        assert_eq!(
            (d.respond_status(), d.reason.map(|r| r.code())),
            (Some(400), Some(reason))
        );
        assert!(set(&d).is_empty(), "no session on a failed callback");
        assert_eq!(cleared(&d), [TX], "the transaction is spent");
    }
}

#[test]
fn a_late_tab_with_the_rotated_refresh_token_gets_the_same_tokens() {
    let keys = Keys::load();
    let mut idp = Idp::new(&keys);
    let mut e = engine(json!({}));
    let mut coordinator = RefreshCoordinator::new(30);
    let expired = sealed(
        SESSION,
        &access_token(&keys, json!({ "exp": NOW - 60, "iat": NOW - 120, "nbf": null })),
    );
    let cookie = Browser::with(&[(SESSION, &expired), (REFRESH, &sealed(REFRESH, "rt-1"))]).header();
    let renewed = access_token(&keys, json!({ "exp": NOW + 300 }));
    idp.token.push_back(token_reply(&renewed, Some("rt-2"), None));
    let headers = [("cookie", cookie.as_str())];
    let req = Request {
        method: "GET",
        url: "/api/a",
        headers: &headers,
    };

    // Three tabs arrive together: one leads, the others wait or replay.
    let mut outcomes = Vec::new();
    for tab in 0..3u64 {
        let mut step = e.handle(&req, NOW, seed(NOW, tab));
        let decision = loop {
            step = match step {
                Step::Done(d) => break d,
                Step::Fetch(p) => {
                    let (status, cc, body) = idp.answer(p.request()).unwrap();
                    e.resume(
                        p,
                        Reply::Response {
                            status,
                            cache_control: cc,
                            body: &body,
                        },
                        NOW,
                        seed(NOW, 9),
                    )
                }
                Step::Refresh(p) => {
                    let rt = p.refresh_token().unwrap().to_string();
                    assert_eq!(rt, "rt-1");
                    let result = match coordinator.begin(&rt, NOW) {
                        Ticket::Lead => {
                            let (status, _, body) = idp.answer(p.request()).unwrap();
                            let result = tessera_core::oidc::token_response(status, &body);
                            coordinator.complete(&rt, NOW, result.clone());
                            result
                        }
                        Ticket::Replay(result) => result,
                        Ticket::Join => unreachable!("the leader finished before the next tab"),
                    };
                    e.resume(p, Reply::Tokens(result), NOW, seed(NOW, 10 + tab))
                }
                _ => unreachable!(),
            };
        };
        outcomes.push(decision);
    }
    assert_eq!(
        idp.count(&format!("POST {ISS}/token")),
        1,
        "one refresh for three tabs"
    );
    for d in &outcomes {
        assert_eq!(d.status, Status::Refreshed);
        assert_eq!(
            header(d, "authorization"),
            Some(format!("Bearer {renewed}").as_str())
        );
    }
}

#[test]
fn proactive_refresh_during_an_outage_keeps_serving_the_valid_token() {
    let keys = Keys::load();
    let mut idp = Idp::new(&keys);
    let mut e = engine(json!({}));
    let access = access_token(&keys, json!({ "exp": NOW + 5 }));
    let cookie = Browser::with(&[
        (SESSION, &sealed(SESSION, &access)),
        (REFRESH, &sealed(REFRESH, "rt-1")),
    ])
    .header();
    idp.token.push_back((503, String::new()));
    let d = drive(&mut e, &mut idp, "GET", "/home", &[("cookie", &cookie)], NOW);
    assert_eq!(d.status, Status::SignedIn);
    assert_eq!(
        d.event.refresh,
        Some(tessera_core::decision::RefreshOutcome::Unavailable)
    );
    assert!(d.set_cookies.is_empty());
    assert_eq!(
        header(&d, "authorization"),
        Some(format!("Bearer {access}").as_str())
    );
}

#[test]
fn provider_key_rotation_is_seamless_and_unknown_kids_are_rate_limited() {
    let keys = Keys::load();
    let mut idp = Idp::new(&keys);
    let mut e = engine(json!({}));
    let old = access_token(&keys, json!({}));
    let auth = format!("Bearer {old}");
    assert_eq!(
        drive(
            &mut e,
            &mut idp,
            "GET",
            "/api/x",
            &[("authorization", &auth)],
            NOW
        )
        .status,
        Status::SignedIn
    );

    // The provider publishes the same P-256 key under a new kid and drops the old one.
    idp.jwks = json!({ "keys": [keys.ec_jwk("ec-2026")] }).to_string();
    let new = keys.token(
        "ES256",
        &json!({"alg":"ES256","kid":"ec-2026"}),
        &claims(json!({ "jti": "n" })),
    );
    let auth = format!("Bearer {new}");
    let d = drive(
        &mut e,
        &mut idp,
        "GET",
        "/api/x",
        &[("authorization", &auth)],
        NOW + 1,
    );
    assert_eq!(d.status, Status::SignedIn, "{:?}", d.message);
    assert_eq!(d.event.keys, tessera_core::decision::KeysUse::Fetched);
    let jwks_fetches = || idp.count(&format!("GET {ISS}/jwks"));
    assert_eq!(jwks_fetches(), 2);

    // A flood of made-up kids costs at most one fetch per cooldown (30 s).
    for i in 0..50 {
        let t = keys.token(
            "ES256",
            &json!({"alg":"ES256","kid":format!("made-up-{i}")}),
            &claims(json!({})),
        );
        let auth = format!("Bearer {t}");
        let d = drive(
            &mut e,
            &mut idp,
            "GET",
            "/api/x",
            &[("authorization", &auth)],
            NOW + 2 + i,
        );
        assert_eq!(d.reason.map(|r| r.code()), Some("key-not-found"));
    }
    assert_eq!(idp.count(&format!("GET {ISS}/jwks")), 3);
}

#[test]
fn concurrent_requests_seeing_a_rotation_share_one_refetch() {
    let keys = Keys::load();
    let mut idp = Idp::new(&keys);
    let mut e = engine(json!({}));
    let first = format!("Bearer {}", access_token(&keys, json!({})));
    let d = drive(
        &mut e,
        &mut idp,
        "GET",
        "/api/x",
        &[("authorization", &first)],
        NOW,
    );
    assert_eq!(d.status, Status::SignedIn);

    idp.jwks = json!({ "keys": [keys.ec_jwk("ec-2026")] }).to_string();
    let new = keys.token(
        "ES256",
        &json!({"alg":"ES256","kid":"ec-2026"}),
        &claims(json!({})),
    );
    // Ten requests with the new kid arrive before the refetch returns: the first
    // starts it, the others wait for the same fetch instead of being refused.
    let mut suspended = Vec::new();
    for i in 0..10u64 {
        match e.verify_token(&new, NOW + 1) {
            Step::Fetch(p) => suspended.push(p),
            other => panic!("request {i}: expected to wait for the key set, got {other:?}"),
        }
    }
    let answer = idp.answer(suspended[0].request()).expect("the key set");
    for (i, p) in suspended.into_iter().enumerate() {
        let reply = Reply::Response {
            status: answer.0,
            cache_control: answer.1,
            body: &answer.2,
        };
        match e.resume(p, reply, NOW + 1, seed(NOW, i as u64)) {
            Step::Done(d) => {
                assert_eq!(d.status, Status::SignedIn, "request {i}: {:?}", d.message);
                // A verdict: the identity, and no headers to forward.
                match &d.action {
                    Action::Forward {
                        identity: Some(identity),
                        headers,
                        ..
                    } => assert!(identity.sub == "user_1" && headers.is_empty(), "{headers:?}"),
                    other => panic!("request {i}: {other:?}"),
                }
            }
            other => panic!("request {i}: {other:?}"),
        }
    }
    assert_eq!(
        idp.count(&format!("GET {ISS}/jwks")),
        2,
        "the host made one refetch for all ten"
    );
}

#[test]
fn stale_keys_are_revalidated_in_the_background_and_survive_an_outage() {
    let keys = Keys::load();
    let mut idp = Idp::new(&keys);
    idp.jwks_cache_control = "max-age=60";
    let mut e = engine(json!({ "memo": { "maxAge": 1 } }));
    let token = |n: u64| {
        format!(
            "Bearer {}",
            access_token(&keys, json!({ "jti": n.to_string(), "exp": NOW + 200_000 }))
        )
    };
    let d = drive(
        &mut e,
        &mut idp,
        "GET",
        "/api/x",
        &[("authorization", &token(0))],
        NOW,
    );
    assert_eq!(d.status, Status::SignedIn, "{:?}", d.message);

    // Past max-age: the stale keys answer now, a revalidation is handed out.
    let mut d = drive(
        &mut e,
        &mut idp,
        "GET",
        "/api/x",
        &[("authorization", &token(1))],
        NOW + 61,
    );
    assert_eq!(
        (d.status, d.event.keys),
        (Status::SignedIn, tessera_core::decision::KeysUse::Stale)
    );
    let background = d.background.pop().expect("a background revalidation");
    assert!(d.background.is_empty());
    // The provider is down: the revalidation fails, keys keep serving.
    assert!(matches!(
        e.resume(background, Reply::Failed("timeout"), NOW + 62, seed(0, 0)),
        Step::Idle
    ));
    idp.down = true;
    let d = drive(
        &mut e,
        &mut idp,
        "GET",
        "/api/x",
        &[("authorization", &token(2))],
        NOW + 3600,
    );
    assert_eq!(d.status, Status::SignedIn, "stale-if-error within a day");
    // Beyond the bound (a day after they went stale), keys are never used.
    let d = drive(
        &mut e,
        &mut idp,
        "GET",
        "/api/x",
        &[("authorization", &token(3))],
        NOW + 60 + 86_400 + 40,
    );
    assert_eq!(d.reason.map(|r| r.code()), Some("jwks-unavailable"));
    assert_eq!(d.respond_status(), Some(503));
}

#[test]
fn a_snapshot_starts_a_new_isolate_warm() {
    let keys = Keys::load();
    let mut idp = Idp::new(&keys);
    let mut e = engine(json!({}));
    let auth = format!("Bearer {}", access_token(&keys, json!({})));
    drive(
        &mut e,
        &mut idp,
        "GET",
        "/api/x",
        &[("authorization", &auth)],
        NOW,
    );
    let snapshot: tessera_core::engine::Snapshot =
        serde_json::from_str(&serde_json::to_string(&e.snapshot()).unwrap()).unwrap();

    let mut cold = engine(json!({}));
    cold.restore(&snapshot, NOW + 10);
    let before = idp.log.len();
    let d = drive(
        &mut cold,
        &mut idp,
        "GET",
        "/api/x",
        &[("authorization", &auth)],
        NOW + 10,
    );
    assert_eq!(d.status, Status::SignedIn);
    assert_eq!(idp.log.len(), before, "no fetch after a restore");
}

#[test]
fn discovery_outage_is_an_outage_and_is_not_retried_within_the_cooldown() {
    let keys = Keys::load();
    let mut idp = Idp::new(&keys);
    idp.discovery_status = 500;
    let mut e = engine(json!({}));
    for t in [NOW, NOW + 10] {
        let d = drive(&mut e, &mut idp, "GET", "/__tessera/sign-in", &[], t);
        assert_eq!(
            (d.respond_status(), d.reason.map(|r| r.code())),
            (Some(503), Some("auth-api-unavailable"))
        );
    }
    assert_eq!(idp.log.len(), 1);
    idp.discovery_status = 200;
    let d = drive(&mut e, &mut idp, "GET", "/__tessera/sign-in", &[], NOW + 31);
    assert_eq!(d.respond_status(), Some(302));
    // Sign-out works while the provider is unreachable: cookies are cleared locally.
    let mut fresh = engine(json!({}));
    idp.down = true;
    let cookie = Browser::with(&[
        (SESSION, &sealed(SESSION, "x")),
        (REFRESH, &sealed(REFRESH, "rt")),
    ])
    .header();
    let d = drive(
        &mut fresh,
        &mut idp,
        "POST",
        "/__tessera/sign-out",
        &[("cookie", &cookie), ("sec-fetch-site", "same-origin")],
        NOW,
    );
    assert_eq!(
        (d.respond_status(), header(&d, "location")),
        (Some(303), Some("/"))
    );
    assert_eq!(cleared(&d).len(), 2);
}

#[test]
fn a_discovery_document_for_another_issuer_is_refused() {
    let keys = Keys::load();
    let mut idp = Idp::new(&keys);
    idp.discovery["issuer"] = json!("https://evil.example");
    let mut e = engine(json!({}));
    let d = drive(&mut e, &mut idp, "GET", "/__tessera/sign-in", &[], NOW);
    assert_eq!(d.reason.map(|r| r.code()), Some("issuer-invalid"));
    assert_ne!(d.respond_status(), Some(302));
}

#[test]
fn large_tokens_are_chunked_and_stale_chunks_cleared() {
    let keys = Keys::load();
    let mut idp = Idp::new(&keys);
    let mut e = engine(json!({}));
    let big = access_token(&keys, json!({ "padding": "x".repeat(5000) }));
    let mut browser = sign_in(&mut e, &mut idp, &keys, &big, Some("rt-1"));
    assert!(
        browser.cookies.contains_key(&format!("{SESSION}.0"))
            && browser.cookies.contains_key(&format!("{SESSION}.1"))
    );
    let cookie = browser.header();
    let d = drive(&mut e, &mut idp, "GET", "/home", &[("cookie", &cookie)], NOW);
    assert_eq!(d.status, Status::SignedIn);

    // A refresh to a small token replaces the chunks with one cookie.
    let small = access_token(&keys, json!({ "exp": NOW + 300 }));
    idp.token.push_back(token_reply(&small, None, None));
    let d = drive(
        &mut e,
        &mut idp,
        "POST",
        "/__tessera/refresh",
        &[("cookie", &cookie), ("origin", APP)],
        NOW,
    );
    assert_eq!(d.respond_status(), Some(204));
    browser.apply(&d);
    let names: Vec<&String> = browser.cookies.keys().collect();
    assert_eq!(names, [REFRESH, SESSION]);
}

#[test]
fn events_hold_no_secrets() {
    let keys = Keys::load();
    let mut idp = Idp::new(&keys);
    let mut e = engine(json!({}));
    let access = access_token(&keys, json!({ "exp": NOW + 5 }));
    let browser = sign_in(&mut e, &mut idp, &keys, &access, Some("refresh-secret-1"));
    let cookie = browser.header();
    idp.token.push_back(token_reply(
        &access_token(&keys, json!({ "exp": NOW + 300 })),
        Some("refresh-secret-2"),
        None,
    ));
    let d = drive(&mut e, &mut idp, "GET", "/home", &[("cookie", &cookie)], NOW);
    let event = serde_json::to_string(&d.event).unwrap();
    let debug = format!("{d:?}");
    for secret in ["refresh-secret", CLIENT_SECRET, &access[..40], "AAECAwQF"] {
        assert!(!event.contains(secret), "{secret} in {event}");
    }
    assert!(!debug.contains("refresh-secret") && !debug.contains(CLIENT_SECRET));
    assert!(
        !debug.contains(&access[..40]) && !debug.contains("eyJ"),
        "{debug}"
    );
    let event: Value = serde_json::from_str(&event).unwrap();
    assert_eq!(event["status"], "refreshed");
    assert_eq!(event["refresh"], "refreshed");
    assert_eq!(event["route"], "page");
    assert_eq!(event["source"], "cookie");
    assert_eq!(event["proactiveRefresh"], true);
    assert_eq!(event["fetches"], 1);
}

#[test]
fn incoming_identity_headers_never_survive() {
    // The engine's contract: forwards list the identity headers to *set*; the
    // host removes every incoming x-tessera-* first. A public anonymous forward
    // sets none, so a spoofed header would only survive a host that skips the
    // removal; the helper that hosts use refuses every case spelling.
    let spoofed = [
        ("X-Tessera-User", "admin"),
        ("x-tessera-claims", "e30"),
        ("accept", "*/*"),
    ];
    let kept = tessera_core::request::without_identity_headers(&spoofed);
    assert_eq!(kept, [("accept", "*/*")]);
    let keys = Keys::load();
    let mut idp = Idp::new(&keys);
    let mut e = engine(json!({}));
    let d = drive(&mut e, &mut idp, "GET", "/", &spoofed, NOW);
    let Action::Forward {
        identity: None,
        headers,
        remove,
        body: true,
    } = &d.action
    else {
        panic!()
    };
    assert!(headers.is_empty());
    assert_eq!(*remove, ["authorization"]);
}

#[test]
fn host_signature_checks_are_asked_once_per_token_and_trusted_only_for_their_algorithms() {
    let keys = Keys::load();
    let mut idp = Idp::new(&keys);
    let mut e = engine(json!({})).with_host_signatures(&[tessera_core::Alg::Es256]);
    let token = access_token(&keys, json!({}));
    let auth = format!("Bearer {token}");
    let headers = [("authorization", auth.as_str())];
    // Discovery and keys first, then the signature goes to the host.
    let mut asked = 0;
    let d = drive_with(&mut e, &mut idp, "GET", "/api/x", &headers, NOW, |check| {
        asked += 1;
        assert_eq!(check.key_id.len(), 64);
        assert!(token.starts_with(std::str::from_utf8(&check.signing_input).unwrap()));
        Reply::Signature(host_verify(check))
    });
    assert_eq!((d.status, asked), (Status::SignedIn, 1));
    // A repeat is a memo hit: no host check.
    let d = drive(&mut e, &mut idp, "GET", "/api/x", &headers, NOW);
    assert!(d.event.memo_hit);
    // The host's "no" is a signature-invalid refusal.
    let mut bad = token.clone().into_bytes();
    let i = bad.len() - 20;
    bad[i] = if bad[i] == b'A' { b'B' } else { b'A' };
    let auth = format!("Bearer {}", String::from_utf8(bad).unwrap());
    let d = drive(
        &mut e,
        &mut idp,
        "GET",
        "/api/x",
        &[("authorization", &auth)],
        NOW,
    );
    assert_eq!(d.reason.map(|r| r.code()), Some("signature-invalid"));
    // Other algorithms stay in the engine (host_verify would panic on them).
    let ed = keys.token(
        "EdDSA",
        &json!({"alg":"EdDSA","kid":"ed"}),
        &claims(json!({ "sid": "s" })),
    );
    let auth = format!("Bearer {ed}");
    assert_eq!(
        drive(
            &mut e,
            &mut idp,
            "GET",
            "/api/x",
            &[("authorization", &auth)],
            NOW
        )
        .status,
        Status::SignedIn
    );
}

/// A lenient native Ed25519 check: RFC 8032's cofactorless equation with `R`
/// compared as bytes (BoringSSL's, as in workerd's WebCrypto), no strict rules
/// (any `s` taken mod ℓ, small-order `R` allowed).
fn lenient_ed25519(check: &tessera_core::engine::SignatureCheck) -> bool {
    use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
    use curve25519_dalek::Scalar;
    use sha2::Digest;
    assert_eq!(check.alg, tessera_core::Alg::EdDsa);
    let a_bytes = &check.spki_der[check.spki_der.len() - 32..];
    let a = CompressedEdwardsY::from_slice(a_bytes)
        .unwrap()
        .decompress()
        .unwrap();
    let (r, s) = check.signature.split_at(32);
    let s = Scalar::from_bytes_mod_order(s.try_into().unwrap());
    let k = Scalar::from_bytes_mod_order_wide(
        &sha2::Sha512::new()
            .chain_update(r)
            .chain_update(a_bytes)
            .chain_update(&check.signing_input)
            .finalize()
            .into(),
    );
    EdwardsPoint::vartime_double_scalar_mul_basepoint(&k, &-a, &s)
        .compress()
        .as_bytes()
        == r
}

#[test]
fn host_eddsa_checks_get_the_strict_rules_first() {
    let keys = Keys::load();
    let mut idp = Idp::new(&keys);
    let mut e = engine(json!({})).with_host_signatures(&[tessera_core::Alg::EdDsa]);
    let header = json!({"alg":"EdDSA","kid":"ed"});
    let token = keys.token("EdDSA", &header, &claims(json!({ "sid": "s" })));
    let input = &token[..token.rfind('.').unwrap()];
    // (the signature, what the decision must be, whether the host is asked)
    let mut malleated = keys.sign("EdDSA", input.as_bytes());
    // s + ℓ: the same scalar mod ℓ, not canonical.
    tessera_tests::add_l(&mut malleated[32..]);
    let small_order = keys.small_order_r_signature(input.as_bytes());
    let cases: [(&[u8], Option<&str>, usize); 3] = [
        (&keys.sign("EdDSA", input.as_bytes()), None, 1),
        (&malleated, Some("not below the group order"), 0),
        (&small_order, Some("small order"), 0),
    ];
    for (sig, refused, asked_expected) in cases {
        // The lenient check accepts all three: only the engine's rules differ.
        let check = tessera_core::engine::SignatureCheck {
            alg: tessera_core::Alg::EdDsa,
            spki_der: tessera_core::KeySet::from_jwks(keys.jwks().as_bytes())
                .unwrap()
                .select(Some("ed"), tessera_core::Alg::EdDsa)
                .unwrap()
                .spki_der()
                .to_vec(),
            key_id: String::new(),
            signing_input: input.as_bytes().to_vec(),
            signature: sig.to_vec(),
        };
        assert!(lenient_ed25519(&check));
        let auth = format!("Bearer {input}.{}", tessera_tests::b64(sig));
        let mut asked = 0;
        let headers = [("authorization", auth.as_str())];
        let d = drive_with(&mut e, &mut idp, "GET", "/api/x", &headers, NOW, |check| {
            asked += 1;
            Reply::Signature(lenient_ed25519(check))
        });
        assert_eq!(asked, asked_expected, "{refused:?}");
        match refused {
            None => assert_eq!(d.status, Status::SignedIn),
            Some(why) => {
                assert_eq!(d.reason.map(|r| r.code()), Some("signature-invalid"));
                let message = d.message.unwrap_or_default();
                assert!(message.contains(why), "{message}");
            }
        }
    }
}

#[test]
fn a_host_that_cannot_check_an_algorithm_hands_it_back_to_the_engine() {
    // A runtime whose WebCrypto lacks Ed25519 (an older workerd) answers
    // "unsupported": the engine checks that token itself, with the same
    // verdicts, and stops asking the host for EdDSA; ES256 still goes to it.
    let keys = Keys::load();
    let mut idp = Idp::new(&keys);
    let mut e = engine(json!({})).with_host_signatures(&[tessera_core::Alg::Es256, tessera_core::Alg::EdDsa]);
    let ed = |sid: &str| {
        keys.token(
            "EdDSA",
            &json!({"alg":"EdDSA","kid":"ed"}),
            &claims(json!({ "sid": sid })),
        )
    };
    let mut asked = Vec::new();
    let mut run = |e: &mut Engine, token: &str, asked: &mut Vec<tessera_core::Alg>| {
        let auth = format!("Bearer {token}");
        drive_with(
            e,
            &mut idp,
            "GET",
            "/api/x",
            &[("authorization", auth.as_str())],
            NOW,
            |check| {
                asked.push(check.alg);
                match check.alg {
                    tessera_core::Alg::EdDsa => Reply::SignatureUnsupported,
                    _ => Reply::Signature(host_verify(check)),
                }
            },
        )
    };
    let d = run(&mut e, &ed("a"), &mut asked);
    assert_eq!(d.status, Status::SignedIn);
    assert_eq!(asked, [tessera_core::Alg::EdDsa]);
    // Never again for EdDSA, and a forged EdDSA signature is still refused.
    let d = run(&mut e, &ed("b"), &mut asked);
    assert_eq!(d.status, Status::SignedIn);
    let good = ed("c");
    let forged = format!(
        "{}{}",
        &good[..good.len() - 3],
        if good.ends_with("AAA") { "BBB" } else { "AAA" }
    );
    let d = run(&mut e, &forged, &mut asked);
    assert_eq!(d.reason.map(|r| r.code()), Some("signature-invalid"));
    assert_eq!(asked, [tessera_core::Alg::EdDsa]);
    // ES256 is still the host's.
    let d = run(&mut e, &access_token(&keys, json!({})), &mut asked);
    assert_eq!(d.status, Status::SignedIn);
    assert_eq!(asked, [tessera_core::Alg::EdDsa, tessera_core::Alg::Es256]);
}

#[test]
fn static_keys_verify_without_any_fetch() {
    let keys = Keys::load();
    let mut idp = Idp::new(&keys);
    let set = tessera_core::KeySet::from_jwks(keys.jwks().as_bytes()).unwrap();
    let mut e = Engine::with_keys(config(json!({})), set).unwrap();
    let auth = format!("Bearer {}", access_token(&keys, json!({})));
    let d = drive(
        &mut e,
        &mut idp,
        "GET",
        "/api/x",
        &[("authorization", &auth)],
        NOW,
    );
    assert_eq!(d.status, Status::SignedIn);
    let unknown = keys.token("ES256", &json!({"alg":"ES256","kid":"other"}), &claims(json!({})));
    let auth = format!("Bearer {unknown}");
    let d = drive(
        &mut e,
        &mut idp,
        "GET",
        "/api/x",
        &[("authorization", &auth)],
        NOW,
    );
    assert_eq!(d.reason.map(|r| r.code()), Some("key-not-found"));
    assert!(idp.log.is_empty(), "{:?}", idp.log);
}

#[test]
fn nothing_panics_on_random_requests() {
    let keys = Keys::load();
    let mut idp = Idp::new(&keys);
    let mut e = engine(json!({}));
    let session = sealed(SESSION, &access_token(&keys, json!({})));
    let pieces = [
        "/",
        "/api",
        "/__tessera",
        "/__tessera/callback",
        "/__tessera/sign-in",
        "%",
        "%2F",
        "%00",
        "..",
        "?",
        "#",
        "&",
        "state=",
        "code=",
        "redirect_url=",
        "//",
        "\\",
        "é",
        "%ZZ",
        ";",
        "=",
        "t1.k1.",
        &session,
    ];
    let methods = ["GET", "POST", "HEAD", "DELETE", "", "get"];
    let names = [
        "cookie",
        "authorization",
        "origin",
        "sec-fetch-site",
        "sec-fetch-dest",
        "accept",
        "x-tessera-user",
    ];
    let mut rng = XorShift(0x5e55_104e);
    for _ in 0..3000 {
        let mut url = String::new();
        for _ in 0..rng.below(6) {
            url.push_str(pieces[rng.below_usize(pieces.len())]);
        }
        let mut headers = Vec::new();
        for _ in 0..rng.below(4) {
            let mut value = String::new();
            for _ in 0..rng.below(4) {
                value.push_str(pieces[rng.below_usize(pieces.len())]);
            }
            headers.push((names[rng.below_usize(names.len())], value));
        }
        let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        idp.token.push_back((400, r#"{"error":"invalid_grant"}"#.into()));
        let method = methods[rng.below_usize(methods.len())];
        let d = drive(&mut e, &mut idp, method, &url, &headers, NOW + rng.below(100));
        // Whatever happened, it is one of the documented outcomes.
        if let Some(status) = d.respond_status() {
            assert!(
                [204, 200, 302, 303, 400, 401, 403, 404, 405, 503].contains(&status),
                "{status} for {url:?}"
            );
        }
        idp.token.clear();
    }
}
