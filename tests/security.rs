//! The engine's side of `docs/security.md`: each class of bypass or unsafe
//! default, tried as an attacker would, request in → decision out. The
//! adapters' side (raw HTTP against Express, Hono, Next.js and the worker)
//! lives in `js/test/bypass.test.mjs` and `tests/e2e/`.

mod harness;

use harness::*;
use serde_json::{json, Value};
use tessera_core::decision::{Action, Decision, Status};
use tessera_core::engine::{Engine, Reply};
use tessera_tests::{claims, Keys, ISS, NOW};

include!("src/request_target_property.rs");

/// The fuzz target's seeds, replayed here so the property holds on every CI
/// run (the fuzz smoke needs a nightly toolchain), each with hostile Host values.
#[test]
fn request_target_seeds_keep_the_property() {
    let seeds = include_str!("../fuzz/seeds/request-targets.txt");
    assert!(seeds.lines().count() >= 30);
    for target in seeds.lines() {
        for host in [
            "",
            "app.example",
            "a?",
            "a#",
            "evil.example/public",
            "a/b?c#d",
            "x\\y",
        ] {
            check_request_target(target, host);
        }
    }
}

fn code(d: &Decision) -> Option<&'static str> {
    d.reason.map(|r| r.code())
}

/// `(http status or None when forwarded, status, reason)`.
fn outcome(d: &Decision) -> (Option<u16>, &'static str, Option<&'static str>) {
    (d.respond_status(), d.status.as_str(), code(d))
}

fn forward(d: &Decision) -> (bool, &'static [&'static str], bool) {
    match &d.action {
        Action::Forward {
            identity,
            remove,
            body,
            ..
        } => (identity.is_some(), *remove, *body),
        Action::Respond { .. } => panic!("responded: {d:?}"),
    }
}

fn get(e: &mut Engine, idp: &mut Idp, url: &str, headers: &[(&str, &str)]) -> Decision {
    drive(e, idp, "GET", url, headers, NOW)
}

/// Item 2: a Rust host hands over the origin form; a `://` in the query is
/// data, not a scheme (it once made every such path `/`, which is public).
#[test]
fn a_url_in_the_query_never_moves_the_path() {
    let keys = Keys::load();
    let mut idp = Idp::new(&keys);
    let mut e = engine(json!({}));
    for url in [
        "/api/x?next=https://evil.example/",
        "/api/x?a=1&b=http://x",
        "https://app.example/api/x?next=https://evil.example/",
    ] {
        let d = get(&mut e, &mut idp, url, &[]);
        assert_eq!(
            outcome(&d),
            (Some(401), "signed-out", Some("token-missing")),
            "{url}"
        );
    }
    let d = get(
        &mut e,
        &mut idp,
        "/dashboard?next=https://x",
        &[("sec-fetch-dest", "document")],
    );
    assert_eq!(
        header(&d, "location"),
        Some("/__tessera/sign-in?redirect_url=%2Fdashboard%3Fnext%3Dhttps%3A%2F%2Fx")
    );
    // The engine never reads the Host header: a hostile one changes nothing.
    for host in ["a?", "a#", "a/b", "evil.example/public"] {
        let d = get(&mut e, &mut idp, "/api/x", &[("host", host)]);
        assert_eq!(code(&d), Some("token-missing"), "{host}");
    }
    // What is neither origin form nor absolute form is refused.
    for url in ["*", "api/x", "app.example:443", "?x=https://h/api"] {
        let d = get(&mut e, &mut idp, url, &[]);
        assert_eq!(
            outcome(&d),
            (Some(400), "denied", Some("path-invalid")),
            "{url:?}"
        );
    }
}

/// Items 1 and 3: every spelling a router could read as another path is
/// refused before any rule is consulted; legitimate encodings still match.
#[test]
fn paths_a_router_reads_differently_are_refused() {
    let keys = Keys::load();
    let mut idp = Idp::new(&keys);
    let css = json!({ "routes": [
        { "pattern": "/", "access": "public" },
        { "pattern": "/public/**", "access": "public" },
        { "pattern": "/**/*.css", "access": "public" },
        { "pattern": "/api/**", "access": "api" }
    ]});
    let mut e = engine(css);
    for url in [
        "/public/../api/x",
        "/public/%2e%2e/api/x",
        "/public/.%2E/api/x",
        "/api/x/..",
        "/api/.",
        "//api/x",
        "/public//api/x",
        "/api/users/42/delete;.css",
        "/api/users/42/delete%3B.css",
        "/public/..;/api/x",
        "/public%2F..%2Fapi/x",
        "/public/..%5Capi/x",
        "/api/%2561",
        "/api/%00",
    ] {
        let d = get(&mut e, &mut idp, url, &[]);
        assert_eq!(outcome(&d), (Some(400), "denied", Some("path-invalid")), "{url}");
    }
    for url in ["/api/caf%C3%A9", "/api/a%20b", "/api/x.css/"] {
        let d = get(&mut e, &mut idp, url, &[]);
        assert_eq!(code(&d), Some("token-missing"), "{url}");
    }
    let d = get(&mut e, &mut idp, "/assets/site.css", &[]);
    assert_eq!(outcome(&d), (None, "signed-out", Some("token-missing")));
}

/// Item 5: under a public default, a protective rule still catches the
/// spellings Express routes to it (any case, a trailing slash, HEAD).
#[test]
fn protective_rules_catch_case_trailing_slash_and_head() {
    let keys = Keys::load();
    let mut idp = Idp::new(&keys);
    let mut e = engine(json!({
        "defaultAccess": "public",
        "routes": [
            { "pattern": "/admin/**", "access": "page" },
            { "pattern": "/api/**", "access": "api" },
            { "pattern": "/reports", "methods": ["GET"], "access": "page" }
        ]
    }));
    let nav = [("sec-fetch-dest", "document")];
    for (method, url) in [
        ("GET", "/ADMIN/users"),
        ("GET", "/Admin"),
        ("GET", "/admin/"),
        ("HEAD", "/admin/users"),
        ("HEAD", "/reports"),
        ("GET", "/REPORTS/"),
    ] {
        let d = drive(&mut e, &mut idp, method, url, &nav, NOW);
        assert_eq!(d.respond_status(), Some(302), "{method} {url}");
    }
    let d = get(&mut e, &mut idp, "/API/x", &[]);
    assert_eq!(code(&d), Some("token-missing"));
    assert!(e.config().warnings().iter().any(|w| w.field == "defaultAccess"));
}

/// Item 4: a forward without a verified identity carries no client
/// credential, unless the route passes it; a verified one replaces it.
#[test]
fn unverified_authorization_never_reaches_the_origin() {
    let keys = Keys::load();
    let mut idp = Idp::new(&keys);
    let mut e = engine(json!({ "routes": [
        { "pattern": "/public/**", "access": "public" },
        { "pattern": "/hooks/**", "access": "public", "passAuthorization": true },
        { "pattern": "/open-api/**", "access": "public", "bearer": true },
        { "pattern": "/api/**", "access": "api" }
    ]}));
    let forged = keys.token(
        "ES256",
        &json!({"alg":"ES256","kid":"ec"}),
        &claims(json!({ "aud": "someone-else" })),
    );
    for auth in [
        String::from("Basic YWRtaW46YWRtaW4="),
        format!("Bearer {forged}"),
        String::from("Bearer not-a-token"),
    ] {
        let d = get(&mut e, &mut idp, "/public/page", &[("authorization", &auth)]);
        assert_eq!(forward(&d), (false, &["authorization"][..], true), "{auth}");
        let d = get(&mut e, &mut idp, "/open-api/x", &[("authorization", &auth)]);
        assert_eq!(forward(&d), (false, &["authorization"][..], true), "{auth}");
        let d = get(&mut e, &mut idp, "/hooks/github", &[("authorization", &auth)]);
        assert_eq!(forward(&d), (false, &[][..], true), "{auth}");
    }
    // A verified identity sets its own authorization, replacing the client's.
    let token = access_token(&keys, json!({}));
    let d = get(
        &mut e,
        &mut idp,
        "/open-api/x",
        &[("authorization", &format!("Bearer {token}"))],
    );
    assert_eq!(forward(&d), (true, &[][..], true));
    assert_eq!(
        header(&d, "authorization"),
        Some(format!("Bearer {token}").as_str())
    );
}

/// Item 11: a CORS preflight to a protected route is answered by Tessera
/// (204, no CORS headers: no handler runs without an identity) unless the
/// route forwards them; forwarded preflights carry no body or credentials.
#[test]
fn cors_preflights_never_run_protected_handlers() {
    let keys = Keys::load();
    let mut idp = Idp::new(&keys);
    let mut e = engine(json!({ "routes": [
        { "pattern": "/public/**", "access": "public" },
        { "pattern": "/api/cors/**", "access": "api", "forwardPreflight": true },
        { "pattern": "/api/**", "access": "api" }
    ]}));
    let session = format!("{SESSION}={}", sealed(SESSION, "x.y.z"));
    let preflight = |e: &mut Engine, idp: &mut Idp, url: &str| {
        let headers = [
            ("access-control-request-method", "DELETE"),
            ("origin", "https://spa.example"),
            ("authorization", "Bearer a.b.c"),
            ("cookie", session.as_str()),
        ];
        drive(e, idp, "OPTIONS", url, &headers, NOW)
    };
    for url in ["/api/orders", "/admin", "/ADMIN/x"] {
        let d = preflight(&mut e, &mut idp, url);
        assert_eq!(d.respond_status(), Some(204), "{url}");
        assert!(header(&d, "access-control-allow-origin").is_none());
    }
    for url in ["/api/cors/orders", "/public/x"] {
        let d = preflight(&mut e, &mut idp, url);
        assert_eq!(
            forward(&d),
            (false, &["authorization", "cookie"][..], false),
            "{url}"
        );
    }
    assert!(idp.log.is_empty(), "a preflight fetches nothing: {:?}", idp.log);
    // Without Access-Control-Request-Method an OPTIONS is an ordinary request.
    let d = drive(&mut e, &mut idp, "OPTIONS", "/api/orders", &[], NOW);
    assert_eq!(code(&d), Some("token-missing"));
}

/// Item 12: a forwarded response that sets session cookies is never stored
/// by a shared cache; one without cookies keeps the origin's caching.
#[test]
fn responses_setting_cookies_are_not_cacheable() {
    let keys = Keys::load();
    let mut idp = Idp::new(&keys);
    let mut e = engine(json!({}));
    let expired = access_token(
        &keys,
        json!({ "exp": NOW - 100, "iat": NOW - 200, "nbf": NOW - 200 }),
    );
    let fresh = access_token(&keys, json!({ "jti": "fresh" }));
    idp.token.push_back(token_reply(&fresh, Some("rt-2"), None));
    let browser = Browser::with(&[
        (SESSION, &sealed(SESSION, &expired)),
        (REFRESH, &sealed(REFRESH, "rt-1")),
    ]);
    let d = get(&mut e, &mut idp, "/home", &[("cookie", &browser.header())]);
    assert_eq!(d.status, Status::Refreshed, "{:?}", d.message);
    let response = d.response_headers();
    assert!(
        response.contains(&(String::from("cache-control"), String::from("no-store"))),
        "{response:?}"
    );
    let d = get(&mut e, &mut idp, "/", &[]);
    assert!(d.response_headers().iter().all(|(n, _)| n != "cache-control"));
}

/// Item 12: when a fetched key set drops a key, tokens it verified stop
/// passing at once, not at the memo's next miss.
#[test]
fn a_withdrawn_key_ends_remembered_tokens_at_once() {
    let keys = Keys::load();
    let mut idp = Idp::new(&keys);
    idp.jwks_cache_control = "max-age=60";
    let mut e = engine(json!({}));
    let long = access_token(&keys, json!({ "exp": NOW + 900 }));
    let auth = format!("Bearer {long}");
    let d = drive(
        &mut e,
        &mut idp,
        "GET",
        "/api/x",
        &[("authorization", &auth)],
        NOW,
    );
    assert_eq!(d.status, Status::SignedIn);

    // The provider withdraws the P-256 key; a new token's request finds the
    // key set stale and revalidates it in the background.
    idp.jwks = json!({ "keys": [keys.ed_jwk("ed")] }).to_string();
    let other = access_token(&keys, json!({ "exp": NOW + 900, "jti": "other" }));
    let at = NOW + 120;
    let mut d = drive(
        &mut e,
        &mut idp,
        "GET",
        "/api/x",
        &[("authorization", &format!("Bearer {other}"))],
        at,
    );
    assert_eq!(d.background.len(), 1, "a background revalidation");
    for pending in std::mem::take(&mut d.background) {
        let (status, cc, body) = idp.answer(pending.request()).unwrap();
        let reply = Reply::Response {
            status,
            cache_control: cc,
            body: &body,
        };
        e.resume(pending, reply, at, seed(at, 9));
    }
    let d = drive(
        &mut e,
        &mut idp,
        "GET",
        "/api/x",
        &[("authorization", &auth)],
        at + 1,
    );
    assert_eq!(code(&d), Some("key-not-found"), "{:?}", d.message);
    assert!(!d.event.memo_hit);
}

/// The callback of a sign-in whose token endpoint returns `id_token`.
fn callback(e: &mut Engine, idp: &mut Idp, id_token: impl Fn(&str) -> String, iss: Option<&str>) -> Decision {
    let access = access_token(&Keys::load(), json!({}));
    let reply = |nonce: &str| token_reply(&access, Some("rt"), Some(&id_token(nonce)));
    callback_with(e, idp, reply, None, iss).0
}

fn id_token_with(keys: &Keys, nonce: &str, extra: Value) -> String {
    let mut c = json!({ "aud": "app", "nonce": nonce });
    if let (Value::Object(c), Value::Object(extra)) = (&mut c, extra) {
        c.extend(extra);
    }
    keys.token("EdDSA", &json!({ "alg": "EdDSA", "kid": "ed" }), &claims(c))
}

/// RFC 9207: a provider that advertises `iss` in authorization responses
/// must send it; one that does not may omit it. A wrong one is refused.
#[test]
fn rfc_9207_iss_is_required_when_advertised() {
    let keys = Keys::load();
    let plain = |n: &str| id_token_with(&keys, n, json!({}));
    let mut idp = Idp::new(&keys);
    let mut e = engine(json!({}));
    assert_eq!(
        callback(&mut e, &mut idp, plain, None).respond_status(),
        Some(303)
    );
    let d = callback(&mut e, &mut idp, plain, Some("https://evil.example"));
    assert_eq!(outcome(&d), (Some(400), "denied", Some("issuer-invalid")));
    idp.token.clear();

    let mut idp = Idp::new(&keys);
    idp.discovery["authorization_response_iss_parameter_supported"] = json!(true);
    let mut e = engine(json!({}));
    let d = callback(&mut e, &mut idp, plain, None);
    assert_eq!(
        outcome(&d),
        (Some(400), "denied", Some("issuer-invalid")),
        "{:?}",
        d.message
    );
    assert!(idp.bodies.is_empty(), "the code was not spent");
    idp.token.clear();
    assert_eq!(
        callback(&mut e, &mut idp, plain, Some(ISS)).respond_status(),
        Some(303)
    );
}

/// OpenID Connect Core 2: `iat` is REQUIRED in an ID token.
#[test]
fn an_id_token_without_iat_is_refused() {
    let keys = Keys::load();
    let mut idp = Idp::new(&keys);
    let mut e = engine(json!({}));
    let d = callback(
        &mut e,
        &mut idp,
        |n| id_token_with(&keys, n, json!({ "iat": null })),
        Some(ISS),
    );
    assert_eq!(
        outcome(&d),
        (Some(400), "denied", Some("claim-missing")),
        "{:?}",
        d.message
    );
    assert!(d.message.unwrap().contains("iat"));
}

/// The warnings channel: what loads but deserves a second look.
#[test]
fn configuration_warnings_name_the_field() {
    let fields =
        |extra: Value| -> Vec<String> { config(extra).warnings().into_iter().map(|w| w.field).collect() };
    assert!(fields(json!({})).is_empty());
    assert_eq!(
        fields(
            json!({ "defaultAccess": "public", "routes": [{ "pattern": "/admin/**", "access": "page" }] })
        ),
        ["defaultAccess"]
    );
    assert_eq!(
        fields(json!({ "routes": [{ "pattern": "/m/**", "access": "page", "allowSemicolons": true }] })),
        ["routes[0].allowSemicolons"]
    );
    let short = tessera_core::config::TesseraConfig::from_json(
        r#"{"issuer":"https://idp.example","forwardSigningSecret":"short"}"#,
    );
    assert_eq!(short.unwrap_err().field, "forwardSigningSecret");
}

/// Item 6: sessions and bearer routes need an audience, and the app's own ID
/// tokens never pass as access tokens, even where the audience is the
/// client id.
#[test]
fn id_tokens_and_foreign_tokens_are_not_access_tokens() {
    let keys = Keys::load();
    let mut idp = Idp::new(&keys);
    let unbound =
        serde_json::json!({ "issuer": ISS, "clientId": "app", "appOrigin": APP, "cookieKeys": COOKIE_KEYS });
    let err = tessera_core::config::TesseraConfig::from_json(&unbound.to_string()).unwrap_err();
    assert_eq!(err.field, "verification.audience");
    let mut e = engine(json!({ "verification": { "audience": ["api", "app"] } }));
    let token = |extra: Value| keys.token("ES256", &json!({"alg":"ES256","kid":"ec"}), &claims(extra));
    for (extra, reason) in [
        (json!({ "aud": "app", "nonce": "n-1" }), "typ-invalid"),
        (json!({ "aud": "app", "at_hash": "x" }), "typ-invalid"),
        (json!({ "aud": "another-app" }), "audience-invalid"),
    ] {
        let d = get(
            &mut e,
            &mut idp,
            "/api/x",
            &[("authorization", &format!("Bearer {}", token(extra.clone())))],
        );
        assert_eq!(code(&d), Some(reason), "{extra}: {:?}", d.message);
    }
    let access = access_token(&keys, json!({}));
    let d = get(
        &mut e,
        &mut idp,
        "/api/x",
        &[("authorization", &format!("Bearer {access}"))],
    );
    assert_eq!(d.status, Status::SignedIn);
}

/// Item 10: made-up kids put the key set's unknown-kid refetch in its
/// cooldown; a token the provider issues right then, signed with a key it
/// just published, must not cost the user the session.
#[test]
fn a_key_rotation_during_a_kid_flood_keeps_the_refreshed_session() {
    let keys = Keys::load();
    let mut idp = Idp::new(&keys);
    let mut e = engine(json!({}));
    let flood = |e: &mut Engine, idp: &mut Idp, at: u64| {
        let t = keys.token(
            "ES256",
            &json!({"alg":"ES256","kid":format!("made-up-{at}")}),
            &claims(json!({})),
        );
        let d = drive(
            e,
            idp,
            "GET",
            "/api/x",
            &[("authorization", &format!("Bearer {t}"))],
            at,
        );
        assert_eq!(code(&d), Some("key-not-found"));
    };
    flood(&mut e, &mut idp, NOW);
    flood(&mut e, &mut idp, NOW + 1);
    // The provider starts signing with a new key.
    idp.jwks = json!({ "keys": [keys.ec_jwk("ec"), keys.ec_jwk("ec-new"), keys.ed_jwk("ed")] }).to_string();
    let rotated = |exp: u64| {
        keys.token(
            "ES256",
            &json!({"alg":"ES256","kid":"ec-new"}),
            &claims(json!({ "exp": exp, "sid": "sess_1" })),
        )
    };
    let expired = access_token(
        &keys,
        json!({ "exp": NOW - 60, "iat": NOW - 120, "nbf": NOW - 120 }),
    );

    // Within seconds of the last fetch: an outage that keeps the new tokens.
    let mut browser = Browser::with(&[
        (SESSION, &sealed(SESSION, &expired)),
        (REFRESH, &sealed(REFRESH, "rt-1")),
    ]);
    let fresh = rotated(NOW + 600);
    idp.token.push_back(token_reply(&fresh, Some("rt-2"), None));
    let d = drive(
        &mut e,
        &mut idp,
        "GET",
        "/api/x",
        &[("cookie", &browser.header())],
        NOW + 2,
    );
    assert_eq!(
        outcome(&d),
        (Some(503), "unavailable", Some("jwks-unavailable")),
        "{:?}",
        d.message
    );
    assert!(cleared(&d).is_empty());
    assert_eq!(set(&d), [SESSION, REFRESH], "the new tokens are kept");
    browser.apply(&d);
    // Seconds later, inside the unknown-kid cooldown, the stored token verifies.
    let d = drive(
        &mut e,
        &mut idp,
        "GET",
        "/api/x",
        &[("cookie", &browser.header())],
        NOW + 8,
    );
    assert_eq!(d.status, Status::SignedIn, "{:?}", d.message);

    // Later in the cooldown, a refresh's new key is fetched at once.
    idp.jwks = json!({ "keys": [keys.ec_jwk("ec-newer"), keys.ed_jwk("ed")] }).to_string();
    flood(&mut e, &mut idp, NOW + 9);
    let browser = Browser::with(&[
        (SESSION, &sealed(SESSION, &expired)),
        (REFRESH, &sealed(REFRESH, "rt-1")),
    ]);
    let newer = keys.token(
        "ES256",
        &json!({"alg":"ES256","kid":"ec-newer"}),
        &claims(json!({ "exp": NOW + 600, "sid": "sess_1" })),
    );
    idp.token.push_back(token_reply(&newer, Some("rt-3"), None));
    let d = drive(
        &mut e,
        &mut idp,
        "GET",
        "/api/x",
        &[("cookie", &browser.header())],
        NOW + 15,
    );
    assert_eq!(d.status, Status::Refreshed, "{:?}", d.message);
}

/// Review finding: a session whose token was signed with a key the provider
/// has since withdrawn refreshes (it must not answer 503 until the cookie
/// expires), and cookies carrying that key cost at most one key-set fetch
/// per cooldown.
#[test]
fn a_withdrawn_key_in_a_session_cookie_refreshes_the_session() {
    let keys = Keys::load();
    let mut idp = Idp::new(&keys);
    let mut e = engine(json!({}));
    // Warm the key set, then the provider withdraws `ec` for `ec-new`.
    let bearer = access_token(&keys, json!({}));
    assert_eq!(
        get(
            &mut e,
            &mut idp,
            "/api/x",
            &[("authorization", &format!("Bearer {bearer}"))]
        )
        .status,
        Status::SignedIn
    );
    idp.jwks = json!({ "keys": [keys.ec_jwk("ec-new"), keys.ed_jwk("ed")] }).to_string();
    let new_token = |jti: &str| {
        keys.token(
            "ES256",
            &json!({"alg":"ES256","kid":"ec-new"}),
            &claims(json!({ "exp": NOW + 900, "sid": "sess_1", "jti": jti })),
        )
    };
    for (i, exp) in [(0, NOW - 60), (1, NOW + 600)] {
        // Expired by the record (refreshed straight away), or still valid
        // but signed with the withdrawn key (key-not-found, then refreshed).
        let old = access_token(&keys, json!({ "exp": exp, "iat": NOW - 120, "nbf": NOW - 120 }));
        let browser = Browser::with(&[
            (SESSION, &sealed(SESSION, &old)),
            (REFRESH, &sealed(REFRESH, "rt-1")),
        ]);
        idp.token
            .push_back(token_reply(&new_token(&format!("n{i}")), Some("rt-2"), None));
        let at = NOW + 10 + 40 * i;
        let d = drive(
            &mut e,
            &mut idp,
            "GET",
            "/api/x",
            &[("cookie", &browser.header())],
            at,
        );
        assert_eq!(d.status, Status::Refreshed, "{exp}: {:?}", d.message);
    }
    // A stream of cookies carrying the withdrawn key: one fetch per cooldown.
    let before = idp.count(&format!("GET {ISS}/jwks"));
    for i in 0..20 {
        let old = access_token(&keys, json!({ "exp": NOW + 900, "jti": format!("w{i}") }));
        let cookie = Browser::with(&[(SESSION, &sealed(SESSION, &old))]).header();
        let d = drive(
            &mut e,
            &mut idp,
            "GET",
            "/api/x",
            &[("cookie", &cookie)],
            NOW + 100 + i,
        );
        assert_eq!(code(&d), Some("key-not-found"));
    }
    assert!(idp.count(&format!("GET {ISS}/jwks")) - before <= 1);
}

/// Review finding: sign-out ends the replay of a version 1 session's last
/// refresh too (its cookies carry no session id).
#[test]
fn sign_out_ends_replays_of_version_1_sessions() {
    let keys = Keys::load();
    let mut idp = Idp::new(&keys);
    let mut e = engine(json!({}));
    let expired = access_token(
        &keys,
        json!({ "exp": NOW - 60, "iat": NOW - 120, "nbf": NOW - 120 }),
    );
    let copied = Browser::with(&[
        (SESSION, &sealed_v1(SESSION, &expired)),
        (REFRESH, &sealed_v1(REFRESH, "rt-1")),
    ]);
    let fresh = access_token(&keys, json!({ "exp": NOW + 600 }));
    idp.token.push_back(token_reply(&fresh, Some("rt-2"), None));
    let mut victim = copied.clone();
    let d = drive(
        &mut e,
        &mut idp,
        "GET",
        "/api/x",
        &[("cookie", &victim.header())],
        NOW,
    );
    assert_eq!(d.status, Status::Refreshed);
    victim.apply(&d);
    let d = drive(
        &mut e,
        &mut idp,
        "POST",
        "/__tessera/sign-out",
        &[("cookie", &victim.header()), ("sec-fetch-site", "same-origin")],
        NOW + 5,
    );
    assert_eq!(d.respond_status(), Some(303));
    // The attacker's copy: the coordinator replays rt-1's outcome (rt-2).
    idp.token.push_back(token_reply(&fresh, Some("rt-2"), None));
    let d = drive(
        &mut e,
        &mut idp,
        "GET",
        "/api/x",
        &[("cookie", &copied.header())],
        NOW + 10,
    );
    assert_eq!(code(&d), Some("session-revoked"), "{:?}", d.message);
    assert_eq!(cleared(&d), [SESSION, REFRESH]);
}

/// Review finding: a version 1 refresh cookie kept through an outage comes
/// back bound to a session (its refresh cookie alone no longer refreshes).
#[test]
fn version_1_cookies_kept_through_an_outage_are_bound() {
    let keys = Keys::load();
    let mut idp = Idp::new(&keys);
    let mut e = engine(json!({}));
    let bearer = access_token(&keys, json!({}));
    get(
        &mut e,
        &mut idp,
        "/api/x",
        &[("authorization", &format!("Bearer {bearer}"))],
    );
    // The refresh returns a token signed with a key the key set does not list
    // yet, seconds after the last fetch: an outage that keeps the tokens.
    let unlisted = keys.token(
        "ES256",
        &json!({"alg":"ES256","kid":"not-yet"}),
        &claims(json!({ "exp": NOW + 600 })),
    );
    idp.token.push_back(token_reply(&unlisted, Some("rt-2"), None));
    let alone = Browser::with(&[(REFRESH, &sealed_v1(REFRESH, "rt-1"))]);
    let d = drive(
        &mut e,
        &mut idp,
        "GET",
        "/api/x",
        &[("cookie", &alone.header())],
        NOW + 1,
    );
    assert_eq!(outcome(&d), (Some(503), "unavailable", Some("jwks-unavailable")));
    let mut kept = Browser::default();
    kept.apply(&d);
    let session = tessera_core::session::SessionRecord::from_json(
        &ring().open(SESSION, &kept.cookies[SESSION], NOW + 1).unwrap(),
    )
    .unwrap();
    assert!(!session.id.is_empty(), "the session got an id");
    let refresh_only = Browser::with(&[(REFRESH, &kept.cookies[REFRESH])]);
    let d = drive(
        &mut e,
        &mut idp,
        "GET",
        "/api/x",
        &[("cookie", &refresh_only.header())],
        NOW + 2,
    );
    assert_eq!(code(&d), Some("token-missing"), "{:?}", d.message);
}
