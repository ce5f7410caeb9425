//! The `entra` profile against a provider shaped as Microsoft Entra ID's
//! documentation describes it (its documents cannot be downloaded here): the
//! multi-tenant discovery document at `…/organizations/v2.0` whose `issuer` is
//! the template `https://login.microsoftonline.com/{tenantid}/v2.0`, RS256 ID
//! tokens whose `iss` is the template filled with their own `tid`, opaque
//! (Microsoft Graph) access tokens. The mix-up defence holds: the template is
//! the only issuer the discovery document and the callback may name, and a
//! token's `iss` must be its own tenant's.

mod harness;

use harness::{header, query_value, seed, Browser, APP, CLIENT_SECRET, COOKIE_KEYS, SESSION, TX};
use serde_json::{json, Value};
use std::collections::VecDeque;
use tessera_core::config::{SessionIdentity, TesseraConfig};
use tessera_core::decision::{Action, Decision, Status};
use tessera_core::engine::{Engine, Reply, Request, Step};
use tessera_tests::{Keys, NOW};

const TEMPLATE: &str = "https://login.microsoftonline.com/{tenantid}/v2.0";
const CLIENT: &str = "6731de76-14a6-49ae-97bc-6eba6914391e";
const CONTOSO: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const FABRIKAM: &str = "9122040d-6c67-4c5b-b112-36a304b66dad";
const LOGIN: &str = "https://login.microsoftonline.com";

fn issuer_of(tid: &str) -> String {
    format!("{LOGIN}/{tid}/v2.0")
}

/// Entra's back channel, as data.
struct Entra {
    discovery_issuer: String,
    jwks: String,
    token: VecDeque<String>,
    log: Vec<String>,
}

impl Entra {
    fn new(keys: &Keys) -> Entra {
        Entra {
            discovery_issuer: TEMPLATE.into(),
            jwks: json!({ "keys": [keys.rsa_jwk("rsa")] }).to_string(),
            token: VecDeque::new(),
            log: Vec::new(),
        }
    }

    fn answer(&mut self, method: &str, url: &str) -> (u16, Vec<u8>) {
        self.log.push(format!("{method} {url}"));
        let organizations = format!("{LOGIN}/organizations");
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
            (
                200,
                self.token
                    .pop_front()
                    .expect("an unscripted token request")
                    .into_bytes(),
            )
        } else {
            (404, Vec::new())
        }
    }

    fn drive(&mut self, e: &mut Engine, url: &str, headers: &[(&str, &str)], now: u64) -> Decision {
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

/// An Entra v2.0 ID token of `tid`, with `iss` as given.
fn id_token(keys: &Keys, iss: &str, tid: Option<&str>, nonce: Option<&str>, now: u64) -> String {
    let mut claims = json!({ "ver": "2.0", "iss": iss, "sub": "AAAAAAAAAAAAAAAAAAAAAIkzqFVrSaSaFHy782bbtaQ", "aud": CLIENT,
        "exp": now + 3600, "iat": now, "nbf": now, "oid": "00000000-0000-0000-66f3-3332eca7ea81",
        "preferred_username": "alice@contoso.com", "name": "Alice", "nonce": nonce });
    if let Some(tid) = tid {
        claims["tid"] = json!(tid);
    }
    keys.token(
        "RS256",
        &json!({ "alg": "RS256", "kid": "rsa", "typ": "JWT" }),
        &claims.to_string(),
    )
}

fn token_reply(id_token: &str) -> String {
    // Graph's access token: a JWT for Graph, not for this app; treated as opaque.
    json!({ "token_type": "Bearer", "scope": "openid profile email offline_access User.Read", "expires_in": 3599,
        "access_token": "eyJ0eXAiOiJKV1QiLCJub25jZSI6Im9wYXF1ZS10by11cyJ9.graph.token",
        "refresh_token": "0.AAAA-refresh", "id_token": id_token })
    .to_string()
}

fn multi_tenant() -> Engine {
    let doc = json!({ "issuer": TEMPLATE, "profile": "entra", "clientId": CLIENT, "clientSecret": CLIENT_SECRET,
        "appOrigin": APP, "cookieKeys": COOKIE_KEYS });
    Engine::new(TesseraConfig::from_json(&doc.to_string()).unwrap()).unwrap()
}

/// A sign-in whose token endpoint answers with `id(nonce)`, the callback
/// carrying `iss` when given.
fn sign_in(
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
        location.starts_with(&format!("{LOGIN}/organizations/oauth2/v2.0/authorize?")),
        "{location}"
    );
    let (state, nonce) = (query_value(&location, "state"), query_value(&location, "nonce"));
    entra.token.push_back(token_reply(&id(&nonce)));
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

fn code(d: &Decision) -> Option<&'static str> {
    d.reason.map(|r| r.code())
}

#[test]
fn a_user_of_any_tenant_signs_in_with_their_own_tenants_issuer() {
    let keys = Keys::load();
    let mut e = multi_tenant();
    assert_eq!(e.config().session.identity, SessionIdentity::IdToken);
    let mut entra = Entra::new(&keys);
    let (d, browser) = sign_in(
        &mut e,
        &mut entra,
        |n| id_token(&keys, &issuer_of(CONTOSO), Some(CONTOSO), Some(n), NOW),
        None,
    );
    assert_eq!(
        (d.respond_status(), d.status),
        (Some(303), Status::SignedIn),
        "{:?}",
        d.message
    );
    let d = entra.drive(&mut e, "/dashboard", &[("cookie", &browser.header())], NOW + 10);
    let Action::Forward {
        identity: Some(identity),
        headers,
        ..
    } = &d.action
    else {
        panic!("{:?}", d.message)
    };
    assert_eq!(identity.iss, issuer_of(CONTOSO));
    assert_eq!(identity.claims["tid"], Value::from(CONTOSO));
    assert!(
        !headers.iter().any(|(n, _)| n == "authorization"),
        "Graph's token stays with Tessera"
    );
    // Another tenant's user too (a multi-tenant app).
    let mut e = multi_tenant();
    let (d, _) = sign_in(
        &mut e,
        &mut entra,
        |n| id_token(&keys, &issuer_of(FABRIKAM), Some(FABRIKAM), Some(n), NOW),
        None,
    );
    assert_eq!(d.status, Status::SignedIn, "{:?}", d.message);
}

#[test]
fn a_tokens_iss_must_be_its_own_tenants() {
    let keys = Keys::load();
    let mut entra = Entra::new(&keys);
    for (why, iss, tid) in [
        ("another tenant's issuer", issuer_of(FABRIKAM), Some(CONTOSO)),
        ("no tid", issuer_of(CONTOSO), None),
        (
            "a tid that is not a tenant id",
            format!("{LOGIN}/x/../{CONTOSO}/v2.0"),
            Some("x/../72f988bf-86f1-41af-91ab-2d7cd011db47"),
        ),
        ("the template itself", TEMPLATE.to_string(), Some("{tenantid}")),
        (
            "the template, with a real tid",
            TEMPLATE.to_string(),
            Some(CONTOSO),
        ),
        (
            "another host",
            format!("https://evil.example/{CONTOSO}/v2.0"),
            Some(CONTOSO),
        ),
    ] {
        let mut e = multi_tenant();
        let (d, browser) = sign_in(
            &mut e,
            &mut entra,
            |n| id_token(&keys, &iss, tid, Some(n), NOW),
            None,
        );
        assert_eq!(
            (d.respond_status(), code(&d)),
            (Some(400), Some("issuer-invalid")),
            "{why}: {:?}",
            d.message
        );
        assert!(!browser.cookies.contains_key(SESSION), "{why}");
    }
}

#[test]
fn the_mix_up_defence_holds_for_the_template() {
    let keys = Keys::load();
    // A discovery document naming a concrete tenant where the template is configured.
    let mut entra = Entra::new(&keys);
    entra.discovery_issuer = issuer_of(CONTOSO);
    let mut e = multi_tenant();
    let d = entra.drive(&mut e, "/__tessera/sign-in?redirect_url=%2F", &[], NOW);
    assert_ne!(
        d.respond_status(),
        Some(302),
        "no sign-in with another issuer's endpoints"
    );
    // A callback whose iss is not the template (RFC 9207).
    let mut entra = Entra::new(&keys);
    let mut e = multi_tenant();
    let (d, _) = sign_in(
        &mut e,
        &mut entra,
        |n| id_token(&keys, &issuer_of(CONTOSO), Some(CONTOSO), Some(n), NOW),
        Some(&issuer_of(CONTOSO)),
    );
    assert_eq!(code(&d), Some("issuer-invalid"), "{:?}", d.message);
    assert_eq!(entra.token.len(), 1, "refused before the code exchange");
    entra.token.clear();
    let (d, _) = sign_in(
        &mut e,
        &mut entra,
        |n| id_token(&keys, &issuer_of(CONTOSO), Some(CONTOSO), Some(n), NOW),
        Some(TEMPLATE),
    );
    assert_eq!(d.status, Status::SignedIn, "{:?}", d.message);
    assert!(harness::cleared(&d).contains(&TX));
}

#[test]
fn a_refresh_stays_in_the_tenant_the_session_signed_in_with() {
    let keys = Keys::load();
    let mut e = multi_tenant();
    let mut entra = Entra::new(&keys);
    let (_, mut browser) = sign_in(
        &mut e,
        &mut entra,
        |n| id_token(&keys, &issuer_of(CONTOSO), Some(CONTOSO), Some(n), NOW),
        None,
    );
    // Near expiry: the same tenant renews.
    let later = NOW + 3595;
    entra.token.push_back(token_reply(&id_token(
        &keys,
        &issuer_of(CONTOSO),
        Some(CONTOSO),
        None,
        later,
    )));
    let d = entra.drive(&mut e, "/dashboard", &[("cookie", &browser.header())], later);
    assert_eq!(d.status, Status::Refreshed, "{:?}", d.message);
    browser.apply(&d);
    // Another tenant's token for the same subject ends the session.
    let later = later + 3595;
    entra.token.push_back(token_reply(&id_token(
        &keys,
        &issuer_of(FABRIKAM),
        Some(FABRIKAM),
        None,
        later,
    )));
    let d = entra.drive(&mut e, "/dashboard", &[("cookie", &browser.header())], later);
    assert_eq!(code(&d), Some("issuer-invalid"), "{:?}", d.message);
}

#[test]
fn a_single_tenant_app_names_its_tenant() {
    let keys = Keys::load();
    let doc = json!({ "issuer": issuer_of(CONTOSO), "profile": "entra", "clientId": CLIENT, "clientSecret": CLIENT_SECRET,
        "appOrigin": APP, "cookieKeys": COOKIE_KEYS });
    let c = TesseraConfig::from_json(&doc.to_string()).unwrap();
    assert_eq!(c.policy().issuers, [issuer_of(CONTOSO)]);
    assert_eq!(c.policy().algorithms, [tessera_core::Alg::Rs256]);
    // A template needs the entra profile.
    let doc = json!({ "issuer": TEMPLATE, "clientId": CLIENT });
    assert_eq!(
        TesseraConfig::from_json(&doc.to_string()).unwrap_err().field,
        "issuer"
    );
    let _ = keys;
}
