//! The OpenID Connect relying-party test plan as a table: one row per test of
//! the OpenID Foundation's Basic, Config and refresh RP plans that applies to
//! a code-flow relying party, and per rule of RFC 9207 and OpenID Connect Core
//! 12.2, with the outcome Tessera gives. The provider's browser side is the
//! engine's own sign-in; its back channel (discovery, key set, token
//! endpoint) is scripted here and tampered with per row. Rows where Tessera
//! deliberately differs from a test's expectation say so (`differs`), as
//! docs/security.md does.
//!
//! Every row's exchanges are recorded and replayed by the core compiled to
//! `wasm32-unknown-unknown` in wasmtime (`tests/guest`'s `run_transcript`):
//! the decisions, cookies and messages must be byte-for-byte the native ones.

mod harness;
mod wasm_guest;

use harness::*;
use serde_json::{json, Value};
use tessera_core::decision::Decision;
use tessera_core::engine::Engine;
use tessera_tests::{b64, claims, Keys, ISS, NOW};

/// The sign-in ID token's `auth_time`.
const AUTH_TIME: u64 = NOW - 100;

/// What the back channel answers for one row.
struct Tamper {
    /// The token endpoint's reply, from the keys and the sign-in's nonce.
    token: fn(&Keys, &str) -> (u16, String),
    /// Changes to the discovery document and key set before the flow.
    provider: fn(&Keys, &mut Idp),
    /// The callback's `iss` parameter (`None`: absent).
    iss: Option<&'static str>,
    /// The callback's `state`: the sign-in's, or this.
    state: Option<&'static str>,
}

impl Default for Tamper {
    fn default() -> Self {
        Tamper {
            token: |keys, nonce| good_tokens(keys, nonce, json!({})),
            provider: |_, _| {},
            iss: Some(ISS),
            state: None,
        }
    }
}

struct Row {
    /// The OpenID RP test id, or the rule's reference.
    id: &'static str,
    tamper: Tamper,
    /// `(HTTP status, reason)`.
    expect: (u16, Option<&'static str>),
    /// Where Tessera deliberately differs from the test's expectation.
    differs: Option<&'static str>,
}

fn row(id: &'static str, tamper: Tamper, expect: (u16, Option<&'static str>)) -> Row {
    Row {
        id,
        tamper,
        expect,
        differs: None,
    }
}

/// An ID token for this sign-in (EdDSA, kid `ed`), `extra` merged over the
/// claims (`null` removes one).
fn id_token(keys: &Keys, nonce: &str, extra: Value) -> String {
    id_token_signed(
        keys,
        "EdDSA",
        json!({ "alg": "EdDSA", "kid": "ed" }),
        nonce,
        extra,
    )
}

fn id_token_signed(keys: &Keys, alg: &str, header: Value, nonce: &str, extra: Value) -> String {
    let mut c = json!({ "aud": "app", "nonce": nonce, "auth_time": AUTH_TIME, "sid": "op-session-1" });
    if let (Value::Object(c), Value::Object(extra)) = (&mut c, extra) {
        c.extend(extra);
    }
    keys.token(alg, &header, &claims(c))
}

fn good_tokens(keys: &Keys, nonce: &str, id_extra: Value) -> (u16, String) {
    let access = access_token(keys, json!({}));
    token_reply(&access, Some("rt-1"), Some(&id_token(keys, nonce, id_extra)))
}

/// The token response with the ID token's signature altered.
fn bad_signature(token: &str) -> String {
    let (rest, sig) = token.rsplit_once('.').unwrap();
    let mut bytes = tessera_core::b64::decode(sig).unwrap();
    bytes[5] ^= 1;
    format!("{rest}.{}", b64(&bytes))
}

/// Runs sign-in and callback with the row's back channel; the decision of the callback.
fn callback(keys: &Keys, tamper: &Tamper) -> (Decision, Idp) {
    let mut idp = Idp::new(keys);
    (tamper.provider)(keys, &mut idp);
    let mut e = engine(json!({}));
    let (d, _) = callback_with(
        &mut e,
        &mut idp,
        |nonce| (tamper.token)(keys, nonce),
        tamper.state,
        tamper.iss,
    );
    (d, idp)
}

fn sign_in_rows() -> Vec<Row> {
    vec![
        row("rp-response_type-code", Tamper::default(), (303, None)),
        row(
            "rp-token_endpoint-client_secret_basic",
            Tamper::default(),
            (303, None),
        ),
        row(
            "rp-id_token-sig-none",
            Tamper {
                token: |keys, nonce| {
                    let header = b64(br#"{"alg":"none"}"#);
                    let body = b64(claims(json!({ "aud": "app", "nonce": nonce })).as_bytes());
                    token_reply(&access_token(keys, json!({})), None, Some(&format!("{header}.{body}.")))
                },
                ..Tamper::default()
            },
            (400, Some("alg-not-allowed")),
        ),
        row(
            "rp-id_token-bad-sig-es256",
            Tamper {
                token: |keys, nonce| {
                    let id = id_token_signed(keys, "ES256", json!({ "alg": "ES256", "kid": "ec" }), nonce, json!({}));
                    token_reply(&access_token(keys, json!({})), None, Some(&bad_signature(&id)))
                },
                ..Tamper::default()
            },
            (400, Some("signature-invalid")),
        ),
        row(
            "rp-id_token-bad-sig-rs256",
            Tamper {
                token: |keys, nonce| {
                    let id = id_token_signed(keys, "RS256", json!({ "alg": "RS256", "kid": "rsa" }), nonce, json!({}));
                    token_reply(&access_token(keys, json!({})), None, Some(&bad_signature(&id)))
                },
                ..Tamper::default()
            },
            (400, Some("signature-invalid")),
        ),
        row(
            "rp-id_token-sig-rs256",
            Tamper {
                token: |keys, nonce| {
                    let id = id_token_signed(keys, "RS256", json!({ "alg": "RS256", "kid": "rsa" }), nonce, json!({}));
                    token_reply(&access_token(keys, json!({})), None, Some(&id))
                },
                ..Tamper::default()
            },
            (303, None),
        ),
        row(
            "rp-id_token-sig-hs256 (signed with the public key as an HMAC secret)",
            Tamper {
                token: |keys, nonce| {
                    let id = id_token_signed(keys, "ES256", json!({ "alg": "HS256", "kid": "ec" }), nonce, json!({}));
                    token_reply(&access_token(keys, json!({})), None, Some(&id))
                },
                ..Tamper::default()
            },
            (400, Some("alg-not-allowed")),
        ),
        row(
            "rp-id_token-issuer-mismatch",
            Tamper {
                token: |keys, nonce| good_tokens(keys, nonce, json!({ "iss": "https://evil.example" })),
                ..Tamper::default()
            },
            (400, Some("issuer-invalid")),
        ),
        row(
            "rp-id_token-aud",
            Tamper {
                token: |keys, nonce| good_tokens(keys, nonce, json!({ "aud": "another-client" })),
                ..Tamper::default()
            },
            (400, Some("audience-invalid")),
        ),
        row(
            "rp-id_token-azp (several audiences, no azp)",
            Tamper {
                token: |keys, nonce| good_tokens(keys, nonce, json!({ "aud": ["app", "other"] })),
                ..Tamper::default()
            },
            (400, Some("azp-invalid")),
        ),
        row(
            "rp-id_token-azp (azp another client)",
            Tamper {
                token: |keys, nonce| good_tokens(keys, nonce, json!({ "azp": "other" })),
                ..Tamper::default()
            },
            (400, Some("azp-invalid")),
        ),
        row(
            "rp-id_token-sub",
            Tamper {
                token: |keys, nonce| good_tokens(keys, nonce, json!({ "sub": null })),
                ..Tamper::default()
            },
            (400, Some("claim-missing")),
        ),
        row(
            "rp-id_token-iat",
            Tamper {
                token: |keys, nonce| good_tokens(keys, nonce, json!({ "iat": null })),
                ..Tamper::default()
            },
            (400, Some("claim-missing")),
        ),
        row(
            "rp-id_token-exp (expired)",
            Tamper {
                token: |keys, nonce| good_tokens(keys, nonce, json!({ "exp": NOW - 60 })),
                ..Tamper::default()
            },
            (400, Some("token-expired")),
        ),
        row(
            "rp-nonce-invalid",
            Tamper {
                token: |keys, _| good_tokens(keys, "another-nonce", json!({})),
                ..Tamper::default()
            },
            (400, Some("nonce-mismatch")),
        ),
        row(
            "rp-nonce-unless-code-flow (no nonce though one was sent)",
            Tamper {
                token: |keys, nonce| good_tokens(keys, nonce, json!({ "nonce": null })),
                ..Tamper::default()
            },
            (400, Some("nonce-mismatch")),
        ),
        row(
            "rp-id_token-kid-absent-single-jwks",
            Tamper {
                token: |keys, nonce| {
                    let id = id_token_signed(keys, "ES256", json!({ "alg": "ES256" }), nonce, json!({}));
                    token_reply(&access_token(keys, json!({})), None, Some(&id))
                },
                ..Tamper::default()
            },
            (303, None),
        ),
        Row {
            differs: Some(
                "the test expects the RP to try every key; Tessera refuses a token without kid when more than one key fits",
            ),
            ..row(
                "rp-id_token-kid-absent-multiple-jwks",
                Tamper {
                    token: |keys, nonce| {
                        let id = id_token_signed(keys, "ES256", json!({ "alg": "ES256" }), nonce, json!({}));
                        token_reply(&access_token(keys, json!({})), None, Some(&id))
                    },
                    provider: |keys, idp| {
                        idp.jwks = json!({ "keys": [keys.ec_jwk("ec"), keys.ec_jwk("ec-2"), keys.ed_jwk("ed")] }).to_string();
                    },
                    ..Tamper::default()
                },
                (400, Some("key-not-found")),
            )
        },
        row(
            "rp-key-rotation-op-sign-key",
            Tamper {
                token: |keys, nonce| {
                    let id = id_token_signed(keys, "ES256", json!({ "alg": "ES256", "kid": "rotated" }), nonce, json!({}));
                    token_reply(&access_token(keys, json!({})), None, Some(&id))
                },
                provider: |keys, idp| {
                    // The key set the engine fetches at sign-in already has the
                    // new key only under its new kid.
                    idp.jwks = json!({ "keys": [keys.ec_jwk("ec"), keys.ec_jwk("rotated"), keys.ed_jwk("ed")] }).to_string();
                },
                ..Tamper::default()
            },
            (303, None),
        ),
        row(
            "rp-discovery-issuer-not-matching-config",
            Tamper {
                provider: |_, idp| idp.discovery["issuer"] = json!("https://evil.example"),
                ..Tamper::default()
            },
            (401, Some("issuer-invalid")),
        ),
        row(
            "state mismatch (a forged callback)",
            Tamper {
                state: Some("forged"),
                ..Tamper::default()
            },
            (400, Some("state-mismatch")),
        ),
        row(
            "RFC 9207: a wrong iss",
            Tamper {
                iss: Some("https://evil.example"),
                ..Tamper::default()
            },
            (400, Some("issuer-invalid")),
        ),
        row(
            "RFC 9207: no iss from a provider that does not promise it",
            Tamper {
                iss: None,
                ..Tamper::default()
            },
            (303, None),
        ),
        row(
            "RFC 9207: no iss from a provider that promises it",
            Tamper {
                iss: None,
                provider: |_, idp| {
                    idp.discovery["authorization_response_iss_parameter_supported"] = json!(true);
                },
                ..Tamper::default()
            },
            (400, Some("issuer-invalid")),
        ),
        row(
            "code replay (invalid_grant from the token endpoint)",
            Tamper {
                token: |_, _| (400, json!({ "error": "invalid_grant" }).to_string()),
                ..Tamper::default()
            },
            (400, Some("callback-error")),
        ),
        row(
            "token response not JSON",
            Tamper {
                token: |_, _| (200, String::from("<html>")),
                ..Tamper::default()
            },
            (502, Some("auth-api-invalid")),
        ),
        row(
            "token response over the 64 KiB cap",
            Tamper {
                token: |_, _| (200, format!(r#"{{"access_token":"{}"}}"#, "a".repeat(70_000))),
                ..Tamper::default()
            },
            (502, Some("auth-api-invalid")),
        ),
        row(
            "token response without access_token",
            Tamper {
                token: |keys, nonce| (200, json!({ "token_type": "Bearer", "id_token": id_token(keys, nonce, json!({})) }).to_string()),
                ..Tamper::default()
            },
            (502, Some("auth-api-invalid")),
        ),
        row(
            "token response with expires_in that is not seconds",
            Tamper {
                token: |keys, nonce| {
                    let body = json!({ "access_token": access_token(keys, json!({})), "token_type": "Bearer",
                        "expires_in": "an hour", "id_token": id_token(keys, nonce, json!({})) });
                    (200, body.to_string())
                },
                ..Tamper::default()
            },
            (502, Some("auth-api-invalid")),
        ),
    ]
}

/// Replays `idp`'s transcript natively and in wasmtime: both must agree byte
/// for byte, and with the decision `d` the row got.
fn replay_agrees(guest: &mut wasm_guest::Guest, id: &str, idp: &Idp, d: &Decision) -> Result<(), String> {
    let input = json!({ "config": config_json(json!({})), "steps": idp.transcript }).to_string();
    let native = tessera_wasm_guest::run_transcript(input.as_bytes());
    let wasm = guest.run_transcript(input.as_bytes());
    if wasm != native {
        return Err(format!(
            "{id}: wasm32 and native differ:\n  native {native}\n  wasm   {wasm}"
        ));
    }
    let replayed: Value = serde_json::from_str(&native).unwrap();
    let last = &replayed["steps"][idp.transcript.len() - 1];
    if last["reason"] != json!(d.reason.map(|r| r.code())) || last["http"] != json!(d.respond_status()) {
        return Err(format!("{id}: the replay decided {last}, the row {:?}", d.reason));
    }
    Ok(())
}

#[test]
fn sign_in_rows_of_the_rp_test_plan() {
    let keys = Keys::load();
    let mut guest = wasm_guest::Guest::load();
    let mut failures = Vec::new();
    for r in sign_in_rows() {
        let (d, idp) = callback(&keys, &r.tamper);
        if let Err(why) = replay_agrees(&mut guest, r.id, &idp, &d) {
            failures.push(why);
        }
        let got = (d.respond_status().unwrap_or(0), d.reason.map(|x| x.code()));
        if got != r.expect {
            failures.push(format!(
                "{}: expected {:?}, got {got:?} ({:?})",
                r.id, r.expect, d.message
            ));
        }
        if r.id == "rp-token_endpoint-client_secret_basic" {
            let (auth, body) = idp.bodies.last().unwrap();
            assert!(
                auth.as_deref().is_some_and(|a| a.starts_with("Basic ")),
                "client_secret_basic"
            );
            assert!(body.contains("code_verifier="), "PKCE");
        }
        if r.expect.0 == 303 {
            assert!(set(&d).contains(&SESSION), "{}: a session", r.id);
        }
    }
    assert!(
        failures.is_empty(),
        "{} rows failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Where Tessera differs from the plan on purpose, docs/security.md says so.
#[test]
fn deliberate_differences_are_documented() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/security.md")).unwrap();
    let differing: Vec<Row> = sign_in_rows()
        .into_iter()
        .filter(|r| r.differs.is_some())
        .collect();
    assert!(!differing.is_empty());
    for r in differing {
        assert!(
            doc.contains(r.id),
            "docs/security.md does not explain {} ({})",
            r.id,
            r.differs.unwrap()
        );
    }
}

/// A refresh of a session signed in through the real flow, the token endpoint
/// answering `reply`; the decision and the provider.
fn refresh(keys: &Keys, reply: fn(&Keys, &str) -> (u16, String)) -> (Decision, Idp) {
    let mut idp = Idp::new(keys);
    let mut e: Engine = engine(json!({}));
    let mut original_nonce = String::new();
    let sign_in = |nonce: &str| {
        original_nonce = nonce.to_owned();
        let access = access_token(keys, json!({ "exp": NOW + 30 }));
        token_reply(&access, Some("rt-1"), Some(&id_token(keys, nonce, json!({}))))
    };
    let (d, browser) = callback_with(&mut e, &mut idp, sign_in, None, Some(ISS));
    assert_eq!(d.respond_status(), Some(303), "{:?}", d.message);
    idp.token.push_back(reply(keys, &original_nonce));
    let d = drive(
        &mut e,
        &mut idp,
        "GET",
        "/api/x",
        &[("cookie", &browser.header())],
        NOW + 60,
    );
    (d, idp)
}

/// A refreshed token set at `NOW + 60`, the ID token with `extra`.
fn refreshed(keys: &Keys, nonce: &str, extra: Value) -> (u16, String) {
    let access = access_token(
        keys,
        json!({ "exp": NOW + 600, "iat": NOW + 60, "nbf": NOW + 60 }),
    );
    let mut c = json!({ "iat": NOW + 60, "exp": NOW + 600, "nbf": NOW + 60 });
    if let (Value::Object(c), Value::Object(extra)) = (&mut c, extra) {
        c.extend(extra);
    }
    token_reply(&access, Some("rt-2"), Some(&id_token(keys, nonce, c)))
}

type RefreshRow = (
    &'static str,
    fn(&Keys, &str) -> (u16, String),
    (u16, Option<&'static str>),
);

fn refresh_rows() -> Vec<RefreshRow> {
    vec![
        (
            "12.2: a refreshed ID token for the same session",
            |k, n| refreshed(k, n, json!({})),
            (200, None),
        ),
        (
            "12.2: nonce omitted",
            |k, n| refreshed(k, n, json!({ "nonce": null })),
            (200, None),
        ),
        (
            "12.2: no new ID token",
            |k, _| token_reply(&access_token(k, json!({ "exp": NOW + 600 })), Some("rt-2"), None),
            (200, None),
        ),
        (
            "12.2: signature invalid",
            |k, n| {
                let (status, body) = refreshed(k, n, json!({}));
                let mut v: Value = serde_json::from_str(&body).unwrap();
                v["id_token"] = json!(bad_signature(v["id_token"].as_str().unwrap()));
                (status, v.to_string())
            },
            (401, Some("signature-invalid")),
        ),
        (
            "12.2: another sub",
            |k, n| refreshed(k, n, json!({ "sub": "mallory" })),
            (401, Some("claim-invalid")),
        ),
        (
            "12.2: another iss",
            |k, n| refreshed(k, n, json!({ "iss": "https://evil.example" })),
            (401, Some("issuer-invalid")),
        ),
        (
            "12.2: aud without the client",
            |k, n| refreshed(k, n, json!({ "aud": "another-client" })),
            (401, Some("audience-invalid")),
        ),
        (
            "12.2: iat not fresh",
            |k, n| refreshed(k, n, json!({ "iat": NOW - 1_000, "nbf": NOW - 1_000 })),
            (401, Some("claim-invalid")),
        ),
        (
            "12.2: iat absent",
            |k, n| refreshed(k, n, json!({ "iat": null })),
            (401, Some("claim-missing")),
        ),
        (
            "12.2: another auth_time",
            |k, n| refreshed(k, n, json!({ "auth_time": AUTH_TIME + 5 })),
            (401, Some("claim-invalid")),
        ),
        (
            "12.2: another nonce",
            |k, n| refreshed(k, n, json!({ "nonce": "another" })),
            (401, Some("claim-invalid")),
        ),
        (
            "the refreshed access token names another subject",
            |k, n| {
                let access = access_token(k, json!({ "sub": "mallory", "exp": NOW + 600 }));
                token_reply(
                    &access,
                    Some("rt-2"),
                    Some(&id_token(k, n, json!({ "iat": NOW + 60, "exp": NOW + 600 }))),
                )
            },
            (401, Some("claim-invalid")),
        ),
        (
            "a refresh answer that is not JSON ends the session",
            |_, _| (200, String::from("{")),
            (401, Some("refresh-token-invalid")),
        ),
        (
            "invalid_grant ends the session",
            |_, _| (400, json!({ "error": "invalid_grant" }).to_string()),
            (401, Some("refresh-token-invalid")),
        ),
        (
            "an outage keeps it",
            |_, _| (503, String::new()),
            (503, Some("auth-api-unavailable")),
        ),
    ]
}

#[test]
fn refresh_rows_of_openid_connect_core_12_2() {
    let keys = Keys::load();
    let mut guest = wasm_guest::Guest::load();
    let mut failures = Vec::new();
    for (id, reply, expect) in refresh_rows() {
        let (d, idp) = refresh(&keys, reply);
        if let Err(why) = replay_agrees(&mut guest, id, &idp, &d) {
            failures.push(why);
        }
        let got = (d.respond_status().unwrap_or(200), d.reason.map(|x| x.code()));
        if got != expect {
            failures.push(format!(
                "{id}: expected {expect:?}, got {got:?} ({:?})",
                d.message
            ));
            continue;
        }
        let revoked = idp.count(&format!("POST {ISS}/revoke")) == 1;
        match expect.0 {
            200 => assert_eq!(set(&d), [SESSION, REFRESH], "{id}"),
            503 => assert!(d.set_cookies.is_empty(), "{id}: an outage keeps the cookies"),
            _ => {
                assert_eq!(cleared(&d), [SESSION, REFRESH], "{id}: the session ends");
                // Tokens the engine refused are revoked; a refused grant has none.
                let received = !id.contains("ends the session");
                assert_eq!(revoked, received, "{id}: revoked what it received");
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} rows failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
