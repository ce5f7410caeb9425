//! The engine test harness shared by the engine's test files: the
//! provider's HTTP side as data (`Idp`), a host loop (`drive`), a cookie jar
//! that behaves like a browser, the real sign-in flow, and the helpers of
//! ID-token sessions and introspection.
#![allow(dead_code)] // each test crate uses its own part

use serde_json::{json, Value};
use std::collections::{BTreeMap, VecDeque};
use tessera_core::config::TesseraConfig;
use tessera_core::decision::{Action, Decision, Status};
use tessera_core::engine::{Engine, HttpRequest, Reply, Request, Step, StoreOp};
use tessera_core::seal::Keyring;
use tessera_core::session::{RefreshRecord, SessionRecord};
use tessera_tests::{claims, Keys, ISS, NOW};

pub const COOKIE_KEYS: &str = "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";
pub const APP: &str = "https://app.example";
pub const SESSION: &str = "__Host-tessera-session";
pub const REFRESH: &str = "__Host-tessera-refresh";
pub const TX: &str = "__Host-tessera-tx";
pub const CLIENT_SECRET: &str = "s3cret-client-secret";

/// The configuration document `config` loads.
pub fn config_json(extra: Value) -> String {
    let mut c = json!({
        "issuer": ISS, "clientId": "app", "clientSecret": CLIENT_SECRET, "appOrigin": APP,
        "cookieKeys": COOKIE_KEYS,
        "verification": { "audience": "api" },
        "routes": [
            { "pattern": "/", "access": "public" },
            { "pattern": "/public/**", "access": "public" },
            { "pattern": "/api/**", "access": "api" }
        ]
    });
    if let (Value::Object(base), Value::Object(extra)) = (&mut c, extra) {
        base.extend(extra);
    }
    c.to_string()
}

pub fn config(extra: Value) -> TesseraConfig {
    TesseraConfig::from_json(&config_json(extra)).unwrap_or_else(|e| panic!("{e}"))
}

pub fn engine(extra: Value) -> Engine {
    Engine::new(config(extra)).unwrap()
}

// ---- tokens -------------------------------------------------------------------

/// An ES256 access token with the suite's claims, `sid: "sess_1"`, and `extra`
/// merged over them (`null` removes a claim).
pub fn access_token(keys: &Keys, mut extra: Value) -> String {
    if let Value::Object(e) = &mut extra {
        e.entry("sid").or_insert(json!("sess_1"));
    }
    keys.token(
        "ES256",
        &json!({ "alg": "ES256", "kid": "ec", "typ": "at+jwt" }),
        &claims(extra),
    )
}

pub fn id_token(keys: &Keys, nonce: &str) -> String {
    keys.token(
        "EdDSA",
        &json!({ "alg": "EdDSA", "kid": "ed" }),
        &claims(json!({ "aud": "app", "nonce": nonce })),
    )
}

pub fn token_reply(access: &str, refresh: Option<&str>, id: Option<&str>) -> (u16, String) {
    let mut body = json!({ "access_token": access, "token_type": "Bearer", "expires_in": 60 });
    if let Some(r) = refresh {
        body["refresh_token"] = json!(r);
    }
    if let Some(i) = id {
        body["id_token"] = json!(i);
    }
    (200, body.to_string())
}

/// The app's keyring, bound as the engine binds it.
pub fn ring() -> Keyring {
    Keyring::parse(COOKIE_KEYS).unwrap().bound_to(APP, ISS)
}

/// The session id of the cookies `sealed` makes.
pub const SESSION_ID: &str = "test-session";

/// A cookie as the engine seals it: the session cookie holds a record for
/// `value` (the access token; subject and issuer read from it) and the
/// refresh cookie one for `value` (the refresh token), both of session
/// `SESSION_ID`; any other cookie holds `value`.
pub fn sealed(name: &str, value: &str) -> String {
    let plain = match name {
        SESSION => SessionRecord {
            id: SESSION_ID.into(),
            ..SessionRecord::legacy(value.into())
        }
        .to_json(),
        REFRESH => RefreshRecord {
            id: SESSION_ID.into(),
            refresh_token: value.into(),
        }
        .to_json(),
        _ => value.into(),
    };
    ring().seal(name, plain.as_bytes(), NOW + 3600, [1; 24])
}

/// A cookie as releases before the session record sealed it (`t1`, the bare value).
pub fn sealed_v1(name: &str, value: &str) -> String {
    Keyring::parse(COOKIE_KEYS)
        .unwrap()
        .seal_v1(name, value.as_bytes(), NOW + 3600, [1; 24])
}

// ---- the provider and the browser ---------------------------------------------

/// The provider's HTTP side as data.
pub struct Idp {
    pub discovery: Value,
    pub discovery_status: u16,
    pub jwks: String,
    pub jwks_status: u16,
    pub jwks_cache_control: &'static str,
    /// Scripted token-endpoint answers, in order.
    pub token: VecDeque<(u16, String)>,
    /// Scripted introspection answers, in order.
    pub introspect: VecDeque<(u16, String)>,
    /// The RFC 8414 metadata document, when the provider publishes one.
    pub metadata: Option<Value>,
    /// Scripted userinfo answers, in order.
    pub userinfo: VecDeque<(u16, String)>,
    /// Every request the engine asked for: `METHOD url`.
    pub log: Vec<String>,
    /// Token-endpoint bodies (to check grants and client authentication).
    pub bodies: Vec<(Option<String>, String)>,
    /// Refuse every connection.
    pub down: bool,
    /// Every request driven against this provider and the replies its
    /// fetches got, as `tests/guest`'s `run_transcript` replays them.
    pub transcript: Vec<Value>,
    /// The body of the requests driven (the back-channel logout's form).
    pub body: Option<Vec<u8>>,
    /// The deployment's shared store.
    pub store: StoreSim,
    /// Other servers' GET answers by URL (a trusted issuer's discovery
    /// document and key set).
    pub other: BTreeMap<String, (u16, String)>,
}

impl Idp {
    pub fn new(keys: &Keys) -> Idp {
        Idp {
            discovery: json!({
                "issuer": ISS,
                "authorization_endpoint": format!("{ISS}/auth"),
                "token_endpoint": format!("{ISS}/token"),
                "jwks_uri": format!("{ISS}/jwks"),
                "revocation_endpoint": format!("{ISS}/revoke"),
                "end_session_endpoint": format!("{ISS}/logout"),
                "introspection_endpoint": format!("{ISS}/introspect"),
                "userinfo_endpoint": format!("{ISS}/userinfo"),
                "code_challenge_methods_supported": ["S256"]
            }),
            discovery_status: 200,
            jwks: keys.jwks(),
            jwks_status: 200,
            jwks_cache_control: "max-age=600",
            token: VecDeque::new(),
            introspect: VecDeque::new(),
            metadata: None,
            userinfo: VecDeque::new(),
            log: Vec::new(),
            bodies: Vec::new(),
            down: false,
            transcript: Vec::new(),
            body: None,
            store: StoreSim::default(),
            other: BTreeMap::new(),
        }
    }

    pub fn count(&self, what: &str) -> usize {
        self.log.iter().filter(|l| l.as_str() == what).count()
    }

    /// Answers one request; `None` for a connection failure.
    pub fn answer(&mut self, http: &HttpRequest) -> Option<(u16, Option<&'static str>, Vec<u8>)> {
        self.log.push(format!("{} {}", http.method, http.url));
        if self.down {
            return None;
        }
        let url = http.url.as_str();
        Some(if url == format!("{ISS}/.well-known/openid-configuration") {
            (
                self.discovery_status,
                None,
                self.discovery.to_string().into_bytes(),
            )
        } else if url == format!("{ISS}/jwks") {
            (
                self.jwks_status,
                Some(self.jwks_cache_control),
                self.jwks.clone().into_bytes(),
            )
        } else if url == format!("{ISS}/token") {
            let auth = http
                .headers
                .iter()
                .find(|(n, _)| n == "authorization")
                .map(|(_, v)| v.clone());
            self.bodies.push((auth, http.body.clone().unwrap_or_default()));
            let (status, body) = self.token.pop_front().expect("an unscripted token request");
            (status, None, body.into_bytes())
        } else if url == format!("{ISS}/.well-known/oauth-authorization-server") {
            match &self.metadata {
                Some(doc) => (200, None, doc.to_string().into_bytes()),
                None => (404, None, Vec::new()),
            }
        } else if url == format!("{ISS}/userinfo") {
            let auth = http
                .headers
                .iter()
                .find(|(n, _)| n == "authorization")
                .map(|(_, v)| v.clone());
            self.bodies.push((auth, String::new()));
            let (status, body) = self.userinfo.pop_front().expect("an unscripted userinfo request");
            (status, None, body.into_bytes())
        } else if url == format!("{ISS}/introspect") {
            let auth = http
                .headers
                .iter()
                .find(|(n, _)| n == "authorization")
                .map(|(_, v)| v.clone());
            self.bodies.push((auth, http.body.clone().unwrap_or_default()));
            let (status, body) = self.introspect.pop_front().expect("an unscripted introspection");
            (status, None, body.into_bytes())
        } else if url == format!("{ISS}/revoke") {
            (200, None, Vec::new())
        } else if let Some((status, body)) = self.other.get(url) {
            (*status, Some("max-age=600"), body.clone().into_bytes())
        } else {
            (404, None, Vec::new())
        })
    }
}

pub fn seed(now: u64, salt: u64) -> [u8; 32] {
    let mut s = [0u8; 32];
    s[..8].copy_from_slice(&now.to_be_bytes());
    s[8..16].copy_from_slice(&salt.to_be_bytes());
    s
}

/// The host loop: run the request, answer every fetch from `idp`, check
/// signatures with [`host_verify`].
pub fn drive(
    engine: &mut Engine,
    idp: &mut Idp,
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    now: u64,
) -> Decision {
    drive_with(engine, idp, method, url, headers, now, |check| {
        Reply::Signature(host_verify(check))
    })
}

/// [`drive`] with the host's signature check `host`.
pub fn drive_with(
    engine: &mut Engine,
    idp: &mut Idp,
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    now: u64,
    mut host: impl FnMut(&tessera_core::engine::SignatureCheck) -> Reply<'static>,
) -> Decision {
    let req = Request { method, url, headers };
    let mut step = engine.handle(&req, now, seed(now, 1));
    let mut replies = Vec::new();
    for round in 2.. {
        assert!(round < 10, "the engine keeps asking for fetches");
        step = match step {
            Step::Done(d) => {
                let body = String::from_utf8_lossy(idp.body.as_deref().unwrap_or_default()).into_owned();
                idp.transcript.push(json!({ "method": method, "url": url, "headers": headers, "now": now, "replies": replies, "body": body }));
                return d;
            }
            Step::Fetch(p) | Step::Refresh(p) => {
                let answer = idp.answer(p.request());
                replies.push(match &answer {
                    Some((status, cc, body)) => {
                        json!({ "status": status, "cacheControl": cc, "body": String::from_utf8_lossy(body) })
                    }
                    None => json!({ "status": null }),
                });
                let reply = match &answer {
                    Some((status, cc, body)) => Reply::Response {
                        status: *status,
                        cache_control: *cc,
                        body,
                    },
                    None => Reply::Failed("connection refused"),
                };
                engine.resume(p, reply, now, seed(now, round))
            }
            Step::Verify(p) => {
                let check = p.signature_check().expect("a check").clone();
                engine.resume(p, host(&check), now, seed(now, round))
            }
            Step::Body(p) => {
                let body = idp.body.clone().unwrap_or_default();
                engine.resume(p, Reply::Body(&body), now, seed(now, round))
            }
            Step::Store(p) => {
                let reply = idp.store.apply(p.store_op().expect("an operation"));
                engine.resume(p, Reply::Stored(reply), now, seed(now, round))
            }
            Step::Idle => panic!("Idle for a request"),
        };
    }
    unreachable!()
}

/// A host's native signature check (here p256 directly on the SPKI the engine
/// hands out; in the worker it is WebCrypto).
pub fn host_verify(check: &tessera_core::engine::SignatureCheck) -> bool {
    use p256::ecdsa::signature::Verifier;
    use p256::pkcs8::DecodePublicKey;
    assert_eq!(
        check.alg,
        tessera_core::Alg::Es256,
        "only ES256 is handed to this host"
    );
    let key = p256::ecdsa::VerifyingKey::from_public_key_der(&check.spki_der).unwrap();
    let Ok(sig) = p256::ecdsa::Signature::from_slice(&check.signature) else {
        return false;
    };
    key.verify(&check.signing_input, &sig).is_ok()
}

/// The shared store as the tests see it: one for every engine driven with
/// the same [`Idp`], so two engines are two instances of one deployment.
#[derive(Default)]
pub struct StoreSim {
    /// Keys set once ([`StoreOp::Once`]).
    pub once: std::collections::BTreeSet<String>,
    /// Every revocation published, in order.
    pub published: Vec<tessera_core::revocation::Revocation>,
    /// Operations seen.
    pub ops: Vec<StoreOp>,
    /// The store is down: every operation fails.
    pub down: bool,
}

impl StoreSim {
    pub fn apply(&mut self, op: &StoreOp) -> Result<bool, &'static str> {
        self.ops.push(op.clone());
        if self.down {
            return Err("connection refused");
        }
        Ok(match op {
            StoreOp::Once { key, .. } => self.once.insert(key.clone()),
            StoreOp::Revoke(list) => {
                self.published.extend(list.iter().cloned());
                true
            }
        })
    }

    /// Hands every published revocation to `engine` (another instance's
    /// subscription).
    pub fn deliver(&self, engine: &mut Engine, now: u64) {
        for r in &self.published {
            engine.revoked(r.clone(), now);
        }
    }
}

/// A cookie store that applies `set-cookie` like a browser.
#[derive(Clone, Default)]
pub struct Browser {
    pub cookies: BTreeMap<String, String>,
}

impl Browser {
    pub fn with(pairs: &[(&str, &str)]) -> Browser {
        Browser {
            cookies: pairs
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
        }
    }

    pub fn apply(&mut self, d: &Decision) {
        for c in &d.set_cookies {
            assert!(c.validate().is_ok(), "{c}");
            if c.max_age == Some(0) {
                self.cookies.remove(&c.name);
            } else {
                self.cookies.insert(c.name.clone(), c.value.clone());
            }
        }
    }

    pub fn header(&self) -> String {
        self.cookies
            .iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

pub fn header<'a>(d: &'a Decision, name: &str) -> Option<&'a str> {
    match &d.action {
        Action::Respond { headers, .. } | Action::Forward { headers, .. } => {
            headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
        }
    }
}

pub fn cleared(d: &Decision) -> Vec<&str> {
    d.set_cookies
        .iter()
        .filter(|c| c.max_age == Some(0))
        .map(|c| c.name.as_str())
        .collect()
}

pub fn set(d: &Decision) -> Vec<&str> {
    d.set_cookies
        .iter()
        .filter(|c| c.max_age != Some(0))
        .map(|c| c.name.as_str())
        .collect()
}

pub fn query_value(url: &str, name: &str) -> String {
    let q = url.split_once('?').unwrap().1;
    q.split('&')
        .find_map(|p| p.strip_prefix(&format!("{name}=")))
        .unwrap_or_else(|| panic!("{name} in {url}"))
        .to_string()
}

/// Signs in through the real flow and returns the browser holding the session.
pub fn sign_in(e: &mut Engine, idp: &mut Idp, keys: &Keys, access: &str, refresh: Option<&str>) -> Browser {
    let mut browser = Browser::default();
    let d = drive(e, idp, "GET", "/__tessera/sign-in?redirect_url=%2Fhome", &[], NOW);
    browser.apply(&d);
    let location = header(&d, "location").unwrap().to_string();
    let (state, nonce) = (query_value(&location, "state"), query_value(&location, "nonce"));
    idp.token
        .push_back(token_reply(access, refresh, Some(&id_token(keys, &nonce))));
    let cookie = browser.header();
    let url = format!("/__tessera/callback?code=code-1&state={state}&iss=https%3A%2F%2Fissuer.example");
    let d = drive(e, idp, "GET", &url, &[("cookie", &cookie)], NOW);
    assert_eq!(
        (d.respond_status(), d.status),
        (Some(303), Status::SignedIn),
        "{:?}",
        d.message
    );
    assert_eq!(header(&d, "location"), Some("/home"));
    assert!(cleared(&d).contains(&TX));
    browser.apply(&d);
    browser
}

/// A sign-in through the engine's own endpoints up to the callback
/// (`code=code-1`, the sign-in's state or `state`, `iss` when given), the
/// token endpoint answering `reply(nonce)`: the callback's decision and the
/// browser after it. A sign-in that does not redirect to the provider is
/// returned as it is.
pub fn callback_with(
    e: &mut Engine,
    idp: &mut Idp,
    reply: impl FnOnce(&str) -> (u16, String),
    state: Option<&str>,
    iss: Option<&str>,
) -> (Decision, Browser) {
    let mut browser = Browser::default();
    let d = drive(e, idp, "GET", "/__tessera/sign-in?redirect_url=%2Fhome", &[], NOW);
    if d.respond_status() != Some(302) {
        return (d, browser);
    }
    browser.apply(&d);
    let location = header(&d, "location").unwrap().to_string();
    let (own_state, nonce) = (query_value(&location, "state"), query_value(&location, "nonce"));
    idp.token.push_back(reply(&nonce));
    let state = state.map(String::from).unwrap_or(own_state);
    let iss = iss
        .map(|i| format!("&iss={}", i.replace(':', "%3A").replace('/', "%2F")))
        .unwrap_or_default();
    let url = format!("/__tessera/callback?code=code-1&state={state}{iss}");
    let d = drive(e, idp, "GET", &url, &[("cookie", &browser.header())], NOW);
    browser.apply(&d);
    (d, browser)
}

// ---- ID-token sessions and introspection ------------------------------------

/// The opaque access token the ID-token session tests' provider issues.
pub const OPAQUE: &str = "opaque-access-token-1";

/// An engine with ID-token sessions and `extra` over the suite's configuration.
pub fn id_sessions(extra: Value) -> Engine {
    let mut c = json!({ "session": { "identity": "id-token" } });
    if let (Some(base), Value::Object(extra)) = (c.as_object_mut(), extra) {
        base.extend(extra);
    }
    engine(c)
}

/// An ID token for `sub`, issued at `now`, valid a minute.
pub fn id_token_for(keys: &Keys, sub: &str, nonce: Option<&str>, now: u64) -> String {
    keys.token(
        "EdDSA",
        &json!({ "alg": "EdDSA", "kid": "ed" }),
        &claims(
            json!({ "aud": "app", "sub": sub, "nonce": nonce, "iat": now, "nbf": null, "exp": now + 60,
            "email": format!("{sub}@example.com") }),
        ),
    )
}

/// Signs in with an opaque access token (expires_in 60), refresh token
/// `rt-1`, and the ID token `id(nonce)`.
pub fn signed_in_with(e: &mut Engine, idp: &mut Idp, id: impl FnOnce(&str) -> String) -> Browser {
    let (d, browser) = callback_with(
        e,
        idp,
        |nonce| token_reply(OPAQUE, Some("rt-1"), Some(&id(nonce))),
        None,
        Some(ISS),
    );
    assert_eq!(
        (d.respond_status(), d.status),
        (Some(303), Status::SignedIn),
        "{:?}",
        d.message
    );
    browser
}

/// [`signed_in_with`] an ID token for `user_1`.
pub fn signed_in_opaque(e: &mut Engine, idp: &mut Idp, keys: &Keys) -> Browser {
    signed_in_with(e, idp, |n| id_token_for(keys, "user_1", Some(n), NOW))
}

/// An engine introspecting opaque bearer tokens (maxAge 60, inactiveMaxAge
/// 10), with `extra` over the suite's configuration.
pub fn introspecting(extra: Value) -> Engine {
    let mut c = json!({ "introspection": { "maxAge": 60, "inactiveMaxAge": 10 } });
    if let (Some(base), Value::Object(extra)) = (c.as_object_mut(), extra) {
        base.extend(extra);
    }
    engine(c)
}

/// A `GET /api/me` with `token` as its bearer token.
pub fn bearer(e: &mut Engine, idp: &mut Idp, token: &str, now: u64) -> Decision {
    drive(
        e,
        idp,
        "GET",
        "/api/me",
        &[("authorization", &format!("Bearer {token}"))],
        now,
    )
}

/// A decision's reason code.
pub fn code(d: &Decision) -> Option<&'static str> {
    d.reason.map(|r| r.code())
}

// ---- revocation and back-channel logout ----------------------------------------

/// The `events` member of a back-channel logout token.
pub const LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// Signs in with an ID token naming provider session `sid` for `sub`; the
/// access token (a JWT for `sub`) expires in an hour.
pub fn signed_in_as(e: &mut Engine, idp: &mut Idp, keys: &Keys, sub: &str, sid: &str, at: u64) -> Browser {
    let access = access_token(
        keys,
        json!({ "sub": sub, "iat": at, "nbf": at, "exp": at + 3600, "sid": sid }),
    );
    let mut browser = Browser::default();
    let d = drive(e, idp, "GET", "/__tessera/sign-in?redirect_url=%2Fhome", &[], at);
    browser.apply(&d);
    let location = header(&d, "location").unwrap().to_string();
    let (state, nonce) = (query_value(&location, "state"), query_value(&location, "nonce"));
    let id = keys.token(
        "EdDSA",
        &json!({ "alg": "EdDSA", "kid": "ed" }),
        &tessera_tests::claims(json!({ "aud": "app", "sub": sub, "sid": sid, "nonce": nonce,
            "iat": at, "nbf": at, "exp": at + 60 })),
    );
    idp.token
        .push_back(token_reply(&access, Some(&format!("rt-{sid}")), Some(&id)));
    let url = format!("/__tessera/callback?code=code-1&state={state}&iss=https%3A%2F%2Fissuer.example");
    let d = drive(e, idp, "GET", &url, &[("cookie", &browser.header())], at);
    assert_eq!(d.status, Status::SignedIn, "{:?}", d.message);
    browser.apply(&d);
    browser
}

/// A logout token signed with the provider's EdDSA key: `claims` over a
/// valid one for `sid: "op-1"` issued at `iat`.
pub fn logout_token(keys: &Keys, iat: u64, claims: Value) -> String {
    logout_token_with(
        keys,
        json!({ "alg": "EdDSA", "kid": "ed", "typ": "logout+jwt" }),
        iat,
        claims,
    )
}

pub fn logout_token_with(keys: &Keys, header: Value, iat: u64, extra: Value) -> String {
    let mut c = json!({
        "iss": ISS, "aud": "app", "iat": iat, "exp": iat + 120, "jti": format!("jti-{iat}"),
        "sid": "op-1", "events": { LOGOUT_EVENT: {} }
    });
    for (k, v) in extra.as_object().unwrap() {
        if v.is_null() {
            c.as_object_mut().unwrap().remove(k);
        } else {
            c[k] = v.clone();
        }
    }
    let alg = header["alg"].as_str().unwrap().to_string();
    keys.token(&alg, &header, &c.to_string())
}

/// The provider posting `body` to the endpoint at `now`.
pub fn post_logout(e: &mut Engine, idp: &mut Idp, body: &str, now: u64) -> Decision {
    idp.body = Some(body.as_bytes().to_vec());
    let d = drive(
        e,
        idp,
        "POST",
        "/__tessera/backchannel-logout",
        &[("content-type", "application/x-www-form-urlencoded")],
        now,
    );
    idp.body = None;
    d
}

pub fn logout(e: &mut Engine, idp: &mut Idp, token: &str, now: u64) -> Decision {
    post_logout(e, idp, &format!("logout_token={token}"), now)
}

/// The OAuth `error` of an answer's JSON body, if any.
pub fn error_of(d: &Decision) -> Option<String> {
    match &d.action {
        Action::Respond { body, .. } => serde_json::from_str::<Value>(body)
            .ok()
            .and_then(|v| v["error"].as_str().map(String::from)),
        Action::Forward { .. } => None,
    }
}

// ---- DPoP -----------------------------------------------------------------------

/// A DPoP client's own key pair, from `seed` (not the issuer's keys).
pub fn dpop_client(seed: u8) -> Keys {
    Keys {
        p256: p256::ecdsa::SigningKey::from_bytes(&[seed; 32].into()).unwrap(),
        ..Keys::load()
    }
}

/// The client's public JWK, as a proof's header carries it.
pub fn dpop_jwk(keys: &Keys) -> Value {
    let mut jwk = keys.ec_jwk("");
    jwk.as_object_mut().unwrap().remove("kid");
    jwk
}

/// The client key's RFC 7638 thumbprint: what `cnf.jkt` names.
pub fn dpop_jkt(keys: &Keys) -> String {
    tessera_core::dpop::thumbprint(dpop_jwk(keys).as_object().unwrap()).unwrap()
}

/// An access token from `issuer`, bound to `client`'s key, `extra` over it.
pub fn bound_token(issuer: &Keys, client: &Keys, mut extra: Value) -> String {
    extra["cnf"] = json!({ "jkt": dpop_jkt(client) });
    access_token(issuer, extra)
}

/// A proof's `ath`: the base64url SHA-256 of the access token.
pub fn ath(token: &str) -> String {
    use sha2::Digest;
    tessera_tests::b64(&sha2::Sha256::digest(token.as_bytes()))
}

/// The header of a well-formed proof by `key`.
pub fn dpop_header(key: &Keys) -> Value {
    json!({ "typ": "dpop+jwt", "alg": "ES256", "jwk": dpop_jwk(key) })
}

/// A proof with `header`, signed by `key`, for `method` `url` and `token`,
/// made at `iat`, with `extra` claims over the standard ones (`null`
/// removes one).
pub fn dpop_proof_with(
    key: &Keys,
    header: Value,
    method: &str,
    url: &str,
    token: &str,
    iat: u64,
    extra: Value,
) -> String {
    let mut claims = json!({ "jti": format!("jti-{iat}-{method}-{url}"), "htm": method, "htu": url, "iat": iat, "ath": ath(token) });
    if let (Value::Object(c), Value::Object(e)) = (&mut claims, extra) {
        for (k, v) in e {
            if v.is_null() {
                c.remove(&k);
            } else {
                c.insert(k, v);
            }
        }
    }
    key.token("ES256", &header, &claims.to_string())
}

/// A well-formed proof made at `NOW`.
pub fn dpop_proof(key: &Keys, method: &str, url: &str, token: &str, extra: Value) -> String {
    dpop_proof_with(key, dpop_header(key), method, url, token, NOW, extra)
}

// ---- Microsoft Entra ID, multi-tenant --------------------------------------------

/// Entra's multi-tenant issuer template, as its discovery document says it.
pub const ENTRA_TEMPLATE: &str = "https://login.microsoftonline.com/{tenantid}/v2.0";
/// The app's client id at Entra.
pub const ENTRA_CLIENT: &str = "6731de76-14a6-49ae-97bc-6eba6914391e";
pub const ENTRA_LOGIN: &str = "https://login.microsoftonline.com";
/// The (pairwise) subject of the ID tokens [`entra_id_token`] makes.
pub const ENTRA_SUB: &str = "AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ";

/// The issuer tenant `tid`'s tokens name.
pub fn entra_issuer(tid: &str) -> String {
    format!("{ENTRA_LOGIN}/{tid}/v2.0")
}

/// Entra's back channel, as data, shaped as its documentation describes it
/// (its documents cannot be downloaded here).
pub struct Entra {
    pub discovery_issuer: String,
    pub jwks: String,
    pub token: VecDeque<String>,
    pub log: Vec<String>,
}

impl Entra {
    pub fn new(keys: &Keys) -> Entra {
        Entra {
            discovery_issuer: ENTRA_TEMPLATE.into(),
            jwks: json!({ "keys": [keys.rsa_jwk("rsa")] }).to_string(),
            token: VecDeque::new(),
            log: Vec::new(),
        }
    }

    fn answer(&mut self, method: &str, url: &str) -> (u16, Vec<u8>) {
        self.log.push(format!("{method} {url}"));
        let organizations = format!("{ENTRA_LOGIN}/organizations");
        if url == format!("{organizations}/v2.0/.well-known/openid-configuration") {
            let doc = json!({
                "issuer": self.discovery_issuer,
                "authorization_endpoint": format!("{organizations}/oauth2/v2.0/authorize"),
                "token_endpoint": format!("{organizations}/oauth2/v2.0/token"),
                "jwks_uri": format!("{organizations}/discovery/v2.0/keys"),
                "end_session_endpoint": format!("{organizations}/oauth2/v2.0/logout"),
                "userinfo_endpoint": "https://graph.microsoft.com/oidc/userinfo",
                "id_token_signing_alg_values_supported": ["RS256"],
                "code_challenge_methods_supported": ["plain", "S256"]
            });
            (200, doc.to_string().into_bytes())
        } else if url == format!("{organizations}/discovery/v2.0/keys") {
            (200, self.jwks.clone().into_bytes())
        } else if url == format!("{organizations}/oauth2/v2.0/token") {
            let body = self.token.pop_front().expect("an unscripted token request");
            (200, body.into_bytes())
        } else {
            (404, Vec::new())
        }
    }

    /// A `GET url` to its decision, every fetch answered by Entra; the
    /// host has no shared store.
    pub fn drive(&mut self, e: &mut Engine, url: &str, headers: &[(&str, &str)], now: u64) -> Decision {
        let mut step = e.handle(
            &Request {
                method: "GET",
                url,
                headers,
            },
            now,
            seed(now, 1),
        );
        for round in 2..12 {
            step = match step {
                Step::Done(d) => return d,
                Step::Fetch(p) | Step::Refresh(p) => {
                    let (method, url) = (p.request().method, p.request().url.clone());
                    let (status, body) = self.answer(method, &url);
                    let reply = Reply::Response {
                        status,
                        cache_control: Some("max-age=3600"),
                        body: &body,
                    };
                    e.resume(p, reply, now, seed(now, round))
                }
                Step::Store(p) => e.resume(p, Reply::Stored(Ok(true)), now, seed(now, round)),
                Step::Verify(_) | Step::Body(_) | Step::Idle => panic!("unexpected step"),
            };
        }
        panic!("too many fetches")
    }
}

/// An Entra v2.0 ID token naming `iss` (and `tid`, when given), with
/// `extra` claims over the standard ones.
pub fn entra_id_token(
    keys: &Keys,
    iss: &str,
    tid: Option<&str>,
    nonce: Option<&str>,
    now: u64,
    extra: Value,
) -> String {
    let mut claims = json!({ "ver": "2.0", "iss": iss, "sub": ENTRA_SUB, "aud": ENTRA_CLIENT,
        "exp": now + 3600, "iat": now, "nbf": now, "oid": "00000000-0000-0000-66f3-3332eca7ea81",
        "preferred_username": "alice@contoso.com", "name": "Alice", "nonce": nonce });
    if let Some(tid) = tid {
        claims["tid"] = json!(tid);
    }
    if let (Some(base), Value::Object(extra)) = (claims.as_object_mut(), extra) {
        base.extend(extra);
    }
    keys.token(
        "RS256",
        &json!({ "alg": "RS256", "kid": "rsa", "typ": "JWT" }),
        &claims.to_string(),
    )
}

/// Entra's token response around `id_token` (the access token is Graph's,
/// a JWT not for this app: treated as opaque).
pub fn entra_token_reply(id_token: &str) -> String {
    json!({ "token_type": "Bearer", "scope": "openid profile email offline_access User.Read", "expires_in": 3599,
        "access_token": "eyJ0eXAiOiJKV1QiLCJub25jZSI6Im9wYXF1ZS10by11cyJ9.graph.token",
        "refresh_token": "0.AAAA-refresh", "id_token": id_token })
    .to_string()
}

/// A sign-in at Entra whose token endpoint answers with `id(nonce)`, the
/// callback carrying `iss` when given: the callback's decision and the browser.
pub fn entra_sign_in(
    e: &mut Engine,
    entra: &mut Entra,
    id: impl FnOnce(&str) -> String,
    iss: Option<&str>,
) -> (Decision, Browser) {
    let mut browser = Browser::default();
    let d = entra.drive(e, "/__tessera/sign-in?redirect_url=%2F", &[], NOW);
    assert_eq!(d.respond_status(), Some(302), "{:?}", d.message);
    browser.apply(&d);
    let location = header(&d, "location").unwrap().to_string();
    assert!(
        location.starts_with(&format!("{ENTRA_LOGIN}/organizations/oauth2/v2.0/authorize?")),
        "{location}"
    );
    let (state, nonce) = (query_value(&location, "state"), query_value(&location, "nonce"));
    entra.token.push_back(entra_token_reply(&id(&nonce)));
    let iss = iss
        .map(|i| format!("&iss={}", tessera_core::oidc::form_encode(i)))
        .unwrap_or_default();
    let d = entra.drive(
        e,
        &format!("/__tessera/callback?code=0.code&state={state}{iss}"),
        &[("cookie", &browser.header())],
        NOW,
    );
    browser.apply(&d);
    (d, browser)
}

// ---- plain requests ---------------------------------------------------------------

/// A `GET path` with `headers` at `NOW`.
pub fn get(e: &mut Engine, idp: &mut Idp, path: &str, headers: &[(&str, &str)]) -> Decision {
    drive(e, idp, "GET", path, headers, NOW)
}

/// A `GET path` with `token` as its bearer token, at `NOW`.
pub fn with_bearer(e: &mut Engine, idp: &mut Idp, path: &str, token: &str) -> Decision {
    get(e, idp, path, &[("authorization", &format!("Bearer {token}"))])
}
