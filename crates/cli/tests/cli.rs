//! The CLI contract, exercised on the real binary: exit codes, `--token`
//! handling, text and JSON output, key sources (file, PEM, URL fetched from a
//! server this test starts on 127.0.0.1), and `inspect`.

use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use tessera_tests::{claims, Keys, ISS, NOW};

struct Fixture {
    dir: PathBuf,
    keys: Keys,
}

impl Fixture {
    fn new(name: &str) -> Fixture {
        let dir = std::env::temp_dir().join(format!("tessera-cli-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = Fixture {
            dir,
            keys: Keys::load(),
        };
        f.write("jwks.json", &f.keys.jwks());
        f
    }
    fn write(&self, name: &str, content: &str) -> String {
        let p = self.dir.join(name);
        std::fs::write(&p, content).unwrap();
        p.to_string_lossy().into_owned()
    }
    fn path(&self, name: &str) -> String {
        self.dir.join(name).to_string_lossy().into_owned()
    }
    fn token(&self, alg: &str, extra: Value) -> String {
        let kid = tessera_tests::kid_for(alg);
        self.keys
            .token(alg, &json!({ "alg": alg, "kid": kid }), &claims(extra))
    }
}

fn tessera(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.unwrap_or("").as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

const NOW_S: &str = "1800000000";

#[test]
fn valid_token_exits_0_with_claims() {
    let f = Fixture::new("valid");
    let t = f.token("ES256", json!({ "sid": "sess_1" }));
    let o = tessera(
        &[
            "verify",
            "--token",
            &t,
            "--jwks",
            &f.path("jwks.json"),
            "--issuer",
            ISS,
            "--now",
            NOW_S,
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let out = stdout(&o);
    assert!(out.starts_with("valid:"), "{out}");
    assert!(
        out.contains("user_1") && out.contains("sess_1") && out.contains("2027-01-15T08:01:00Z"),
        "{out}"
    );

    let o = tessera(
        &[
            "verify",
            "--json",
            "--token",
            &t,
            "--jwks",
            &f.path("jwks.json"),
            "--issuer",
            ISS,
            "--now",
            NOW_S,
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(0));
    let v: Value = serde_json::from_str(stdout(&o).trim()).expect("--json prints one JSON object");
    assert_eq!(v["valid"], true);
    assert_eq!(v["claims"]["sub"], "user_1");
    assert_eq!(v["claims"]["sid"], "sess_1");
}

#[test]
fn refused_token_exits_1_with_reason_and_both_times() {
    let f = Fixture::new("expired");
    let t = f.token("ES256", json!({ "exp": NOW - 60 }));
    let args = [
        "verify",
        "--token",
        &t,
        "--jwks",
        &f.path("jwks.json"),
        "--issuer",
        ISS,
        "--now",
        NOW_S,
    ];
    let o = tessera(&args, None);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(out.starts_with("refused: token-expired"), "{out}");
    assert!(
        out.contains("2027-01-15T07:59:00Z") && out.contains("2027-01-15T08:00:00Z"),
        "clock skew shows both times: {out}"
    );

    let mut json_args = args.to_vec();
    json_args.push("--json");
    let o = tessera(&json_args, None);
    assert_eq!(o.status.code(), Some(1));
    let v: Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(v["valid"], false);
    assert_eq!(v["reason"], "token-expired");
    assert!(v["message"].as_str().unwrap().contains("expired"));
    assert_eq!(v.as_object().unwrap().len(), 3);
}

#[test]
fn token_argument_is_verbatim_files_and_stdin_lose_one_newline() {
    let f = Fixture::new("newline");
    let t = f.token("EdDSA", json!({}));
    let jwks = f.path("jwks.json");
    let run = |token_arg: &str, stdin: Option<&str>| {
        tessera(
            &[
                "verify", "--json", "--token", token_arg, "--jwks", &jwks, "--issuer", ISS, "--now", NOW_S,
            ],
            stdin,
        )
    };
    let reason = |o: &Output| serde_json::from_str::<Value>(stdout(o).trim()).unwrap()["reason"].clone();
    // Verbatim: a stray newline or space is part of what gets refused.
    let o = run(&format!("{t}\n"), None);
    assert_eq!((o.status.code(), reason(&o)), (Some(1), json!("token-malformed")));
    let o = run(&format!("{t} "), None);
    assert_eq!(o.status.code(), Some(1));
    // Files and stdin: at most one trailing newline is stripped.
    let one = f.write("one.jwt", &format!("{t}\n"));
    assert_eq!(run(&format!("@{one}"), None).status.code(), Some(0));
    let crlf = f.write("crlf.jwt", &format!("{t}\r\n"));
    assert_eq!(run(&format!("@{crlf}"), None).status.code(), Some(0));
    let two = f.write("two.jwt", &format!("{t}\n\n"));
    let o = run(&format!("@{two}"), None);
    assert_eq!((o.status.code(), reason(&o)), (Some(1), json!("token-malformed")));
    assert_eq!(run("-", Some(&format!("{t}\n"))).status.code(), Some(0));
    assert_eq!(run("-", Some(&t)).status.code(), Some(0));
    assert_eq!(run("-", Some(&format!("{t}\n\n"))).status.code(), Some(1));
}

#[test]
fn usage_errors_exit_2() {
    let f = Fixture::new("usage");
    let t = f.token("ES256", json!({}));
    let jwks = f.path("jwks.json");
    let cases: Vec<Vec<&str>> = vec![
        vec![],
        vec!["frobnicate"],
        vec!["verify"],
        vec!["verify", "--token", &t, "--issuer", ISS],
        vec!["verify", "--token", &t, "--jwks", &jwks],
        vec![
            "verify", "--token", &t, "--jwks", &jwks, "--pem", &jwks, "--issuer", ISS,
        ],
        vec![
            "verify",
            "--token",
            &t,
            "--jwks",
            "/does/not/exist.json",
            "--issuer",
            ISS,
        ],
        vec![
            "verify", "--token", &t, "--jwks", &jwks, "--issuer", ISS, "--alg", "HS256",
        ],
        vec![
            "verify", "--token", &t, "--jwks", &jwks, "--issuer", ISS, "--alg", "none",
        ],
        vec![
            "verify", "--token", &t, "--jwks", &jwks, "--issuer", ISS, "--leeway", "abc",
        ],
        vec![
            "verify", "--token", &t, "--jwks", &jwks, "--issuer", ISS, "--leeway", "3600",
        ],
        vec![
            "verify",
            "--token",
            &t,
            "--jwks",
            &jwks,
            "--issuer",
            ISS,
            "--profile",
            "okta-ish",
        ],
        vec![
            "verify", "--token", &t, "--jwks", &jwks, "--issuer", ISS, "--frob",
        ],
        vec!["verify", "--token", &t, "--jwks", &jwks, "--issuer"],
        vec!["inspect"],
    ];
    for args in cases {
        let o = tessera(&args, None);
        assert_eq!(
            o.status.code(),
            Some(2),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(!o.stderr.is_empty(), "{args:?} must explain itself on stderr");
    }
    assert_eq!(tessera(&["--help"], None).status.code(), Some(0));
    assert_eq!(tessera(&["verify", "--help"], None).status.code(), Some(0));
}

#[test]
fn unusable_keys_are_refusals_not_usage_errors() {
    let f = Fixture::new("badkeys");
    let t = f.token("ES256", json!({}));
    let run = |flag: &str, path: &str| {
        tessera(
            &[
                "verify", "--json", "--token", &t, flag, path, "--issuer", ISS, "--now", NOW_S,
            ],
            None,
        )
    };
    let reason = |o: &Output| serde_json::from_str::<Value>(stdout(o).trim()).unwrap()["reason"].clone();
    // Content that is not even text is a refusal of the keys, not a usage error.
    let binary = f.dir.join("binary.bin");
    std::fs::write(&binary, [0xff, 0xfe, 0x00, 0x80]).unwrap();
    let binary = binary.to_string_lossy().into_owned();
    let o = run("--jwks", &binary);
    assert_eq!((o.status.code(), reason(&o)), (Some(1), json!("jwks-invalid")));
    let o = run("--pem", &binary);
    assert_eq!((o.status.code(), reason(&o)), (Some(1), json!("key-unusable")));
    let o = run(
        "--jwks",
        &f.write("oct.json", r#"{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}"#),
    );
    assert_eq!((o.status.code(), reason(&o)), (Some(1), json!("jwks-invalid")));
    let o = run("--jwks", &f.write("html.json", "<html>not found</html>"));
    assert_eq!((o.status.code(), reason(&o)), (Some(1), json!("jwks-invalid")));
    let o = run(
        "--pem",
        &f.write(
            "priv.pem",
            include_str!("../../../tests/fixtures/keys/p256.key.pem"),
        ),
    );
    assert_eq!((o.status.code(), reason(&o)), (Some(1), json!("key-unusable")));
    let o = run(
        "--pem",
        &f.write(
            "p256.pem",
            include_str!("../../../tests/fixtures/keys/p256.pub.pem"),
        ),
    );
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
}

#[test]
fn lists_repeat_and_the_default_allowlist_applies() {
    let f = Fixture::new("lists");
    let jwks = f.path("jwks.json");
    let t = f.token(
        "RS384",
        json!({ "iss": "https://second.example", "aud": ["x", "api2"], "azp": "https://app.example" }),
    );
    let base = ["verify", "--json", "--token", &t, "--jwks", &jwks, "--now", NOW_S];
    let run = |extra: &[&str]| {
        let mut a = base.to_vec();
        a.extend_from_slice(extra);
        let o = tessera(&a, None);
        let v: Value = serde_json::from_str(stdout(&o).trim()).unwrap();
        (
            o.status.code(),
            v["reason"].as_str().unwrap_or("valid").to_string(),
        )
    };
    let two_issuers = ["--issuer", ISS, "--issuer", "https://second.example"];
    assert_eq!(
        run(&two_issuers),
        (Some(1), "alg-not-allowed".into()),
        "RS384 is not in the default allowlist"
    );
    let mut a = two_issuers.to_vec();
    a.extend(["--alg", "RS384"]);
    assert_eq!(run(&a), (Some(0), "valid".into()));
    a.extend(["--audience", "api1", "--audience", "api2"]);
    assert_eq!(run(&a), (Some(0), "valid".into()));
    a.extend(["--authorized-party", "https://other.example"]);
    assert_eq!(run(&a), (Some(1), "azp-invalid".into()));
    a.extend(["--authorized-party", "https://app.example"]);
    assert_eq!(run(&a), (Some(0), "valid".into()));
    assert_eq!(
        run(&["--issuer", ISS, "--alg", "RS384"]),
        (Some(1), "issuer-invalid".into())
    );
}

#[test]
fn profile_applies_provider_conventions() {
    let f = Fixture::new("profile");
    let jwks = f.path("jwks.json");
    let clerk_claims = json!({ "iss": "https://clerk.example.com", "sub": "user_2", "sid": "sess_2", "azp": "https://app.example.com",
        "iat": NOW - 5, "nbf": NOW - 15, "exp": NOW + 55 });
    let rs = f.keys.token(
        "RS256",
        &json!({ "alg": "RS256", "kid": "rsa", "typ": "JWT" }),
        &clerk_claims.to_string(),
    );
    let es = f.keys.token(
        "ES256",
        &json!({ "alg": "ES256", "kid": "ec" }),
        &clerk_claims.to_string(),
    );
    let args = |t: &str| {
        vec![
            "verify".to_string(),
            "--token".into(),
            t.into(),
            "--jwks".into(),
            jwks.clone(),
            "--issuer".into(),
            "https://clerk.example.com".into(),
            "--profile".into(),
            "clerk".into(),
            "--now".into(),
            NOW_S.into(),
        ]
    };
    let run = |a: Vec<String>| tessera(&a.iter().map(String::as_str).collect::<Vec<_>>(), None);
    let o = run(args(&rs));
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).contains("subject   user_2 (user)"), "{}", stdout(&o));
    let o = run(args(&es));
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stdout(&o).contains("alg-not-allowed"),
        "the clerk profile allows RS256 only"
    );
}

/// Serves `body` with `status` to every connection, on 127.0.0.1.
fn serve(status: &'static str, body: String) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let _ = write!(s, "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len());
        }
    });
    format!("http://{addr}/.well-known/jwks.json")
}

#[test]
fn jwks_url_is_fetched_and_outages_are_retryable_refusals() {
    let f = Fixture::new("url");
    let t = f.token("ES256", json!({}));
    let run = |url: &str| {
        let o = tessera(
            &[
                "verify", "--json", "--token", &t, "--jwks", url, "--issuer", ISS, "--now", NOW_S,
            ],
            None,
        );
        let v: Value = serde_json::from_str(stdout(&o).trim()).unwrap();
        (
            o.status.code(),
            v["reason"].as_str().unwrap_or("valid").to_string(),
        )
    };
    assert_eq!(run(&serve("200 OK", f.keys.jwks())), (Some(0), "valid".into()));
    assert_eq!(
        run(&serve("503 Service Unavailable", "{}".into())),
        (Some(1), "jwks-unavailable".into())
    );
    assert_eq!(
        run(&serve("404 Not Found", "{}".into())),
        (Some(1), "jwks-invalid".into())
    );
    assert_eq!(
        run(&serve("200 OK", " ".repeat(70 * 1024))),
        (Some(1), "jwks-invalid".into())
    );
    // Nothing listens on a port we just released.
    let closed = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    assert_eq!(
        run(&format!("http://{closed}/jwks.json")),
        (Some(1), "jwks-unavailable".into())
    );
}

#[test]
fn inspect_labels_output_unverified_and_shows_dates() {
    let f = Fixture::new("inspect");
    let t = f.token("ES256", json!({}));
    let o = tessera(&["inspect", &t], None);
    assert_eq!(o.status.code(), Some(0));
    let out = stdout(&o);
    assert!(out.starts_with("UNVERIFIED"), "{out}");
    assert!(
        out.contains("\"alg\": \"ES256\"") && out.contains("\"sub\": \"user_1\""),
        "{out}"
    );
    assert!(out.contains("exp       2027-01-15T08:01:00Z"), "{out}");
    let o = tessera(&["inspect", "not.a-token"], None);
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn the_bundled_demo_sample_verifies() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/demo");
    let o = tessera(
        &[
            "verify",
            "--token",
            &format!("@{root}/session.jwt"),
            "--jwks",
            &format!("{root}/jwks.json"),
            "--issuer",
            "https://auth.tessera.example",
            "--authorized-party",
            "https://app.tessera.example",
            "--now",
            "1800000030",
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
}

#[test]
fn check_config_prints_the_first_error_or_every_warning() {
    let fx = Fixture::new("check-config");
    let ok = fx.write(
        "ok.json",
        r#"{"issuer":"https://auth.example.com","verification":{"audience":"api"},"routes":[{"pattern":"/","access":"public"}]}"#,
    );
    let o = tessera(&["check-config", &ok], None);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(stdout(&o).starts_with("ok:"));

    let risky = r#"{"issuer":"https://auth.example.com","defaultAccess":"public","routes":[{"pattern":"/admin/**","access":"page"},{"pattern":"/m/**","access":"page","allowSemicolons":true}]}"#;
    let o = tessera(&["check-config", "-"], Some(risky));
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(
        out.contains("warning: `defaultAccess`: is public while rules protect"),
        "{out}"
    );
    assert!(out.contains("warning: `routes[1].allowSemicolons`"), "{out}");

    let unbound = r#"{"issuer":"https://auth.example.com","routes":[{"pattern":"/api/**","access":"api"}]}"#;
    let o = tessera(&["check-config", "-"], Some(unbound));
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stdout(&o).starts_with("error: `verification.audience`: is required"),
        "{}",
        stdout(&o)
    );

    let bad = fx.write(
        "bad.json",
        r#"{"issuer":"https://auth.example.com","routes":[{"pattern":"/docs/","access":"public"}]}"#,
    );
    let o = tessera(&["check-config", &bad], None);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stdout(&o).starts_with("error: `routes[0].pattern`: \"/docs/\" has an empty segment"),
        "{}",
        stdout(&o)
    );

    let o = tessera(&["check-config"], None);
    assert_eq!(o.status.code(), Some(2));
    let o = tessera(&["check-config", &fx.path("missing.json")], None);
    assert_eq!(o.status.code(), Some(2));
}

/// An introspection endpoint on 127.0.0.1 that answers `active` only for the
/// token `good-token` asked by `gateway:s3cret` (HTTP Basic), and counts the
/// requests it saw.
fn introspection_endpoint() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            // The headers, then as much body as content-length says.
            let mut request = String::new();
            let mut buf = [0u8; 4096];
            loop {
                let n = s.read(&mut buf).unwrap_or(0);
                request.push_str(&String::from_utf8_lossy(&buf[..n]));
                let Some((head, body)) = request.split_once("\r\n\r\n") else {
                    if n == 0 {
                        break;
                    } else {
                        continue;
                    }
                };
                let length = head
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().parse().unwrap_or(0))
                    })
                    .unwrap_or(0);
                if n == 0 || body.len() >= length {
                    break;
                }
            }
            // "gateway:s3cret" in base64.
            let authorized = request
                .to_ascii_lowercase()
                .contains("authorization: basic z2f0zxdhetpzm2nyzxq=");
            let (status, body) = if !authorized {
                ("401 Unauthorized", r#"{"error":"invalid_client"}"#.to_string())
            } else if request.contains("token=good-token&token_type_hint=access_token") {
                (
                    "200 OK",
                    format!(
                        r#"{{"active":true,"sub":"alice","iss":"{ISS}","exp":{},"scope":"read"}}"#,
                        NOW + 60
                    ),
                )
            } else {
                ("200 OK", r#"{"active":false}"#.to_string())
            };
            let _ = write!(s, "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len());
        }
    });
    format!("http://{addr}/introspect")
}

#[test]
fn introspect_explains_an_opaque_tokens_verdict() {
    let url = introspection_endpoint();
    let run = |token: &str, id: &str, secret: &str| {
        let o = Command::new(env!("CARGO_BIN_EXE_tessera"))
            .args([
                "verify",
                "--token",
                token,
                "--introspect",
                &url,
                "--issuer",
                ISS,
                "--now",
                NOW_S,
            ])
            .env("TESSERA_CLIENT_ID", id)
            .env("TESSERA_CLIENT_SECRET", secret)
            .output()
            .unwrap();
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stdout).to_string(),
            String::from_utf8_lossy(&o.stderr).to_string(),
        )
    };
    let (code, out, _) = run("good-token", "gateway", "s3cret");
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("valid: the introspection endpoint says active"),
        "{out}"
    );
    assert!(out.contains("subject   alice"), "{out}");
    let (code, out, _) = run("revoked-token", "gateway", "s3cret");
    assert_eq!(code, Some(1));
    assert!(out.starts_with("refused: token-inactive"), "{out}");
    let (code, out, _) = run("good-token", "gateway", "wrong");
    assert_eq!(code, Some(1));
    assert!(out.starts_with("refused: auth-api-invalid"), "{out}");
    assert!(out.contains("check the client's credentials"), "{out}");
    let (code, _, err) = run("good-token", "", "");
    assert_eq!(code, Some(2));
    assert!(err.contains("TESSERA_CLIENT_ID"), "{err}");
    // An answer for another issuer is refused like a token of another issuer.
    let o = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args([
            "verify",
            "--token",
            "good-token",
            "--introspect",
            &url,
            "--issuer",
            "https://other.example",
            "--now",
            NOW_S,
        ])
        .env("TESSERA_CLIENT_ID", "gateway")
        .env("TESSERA_CLIENT_SECRET", "s3cret")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&o.stdout).starts_with("refused: issuer-invalid"));
}

/// `verify --config`: the engine decides, with the configuration's routes,
/// requirements and issuers; "why did I get a 403" has a one-line answer.
#[test]
fn config_decides_as_the_runtime_does() {
    let f = Fixture::new("config");
    let config = f.write(
        "tessera.json",
        &json!({
            "issuer": ISS,
            "verification": { "audience": "api" },
            "trustedIssuers": [{ "issuer": "https://partner.example", "jwksUri": "https://partner.example/keys",
                "verification": { "audience": "api" } }],
            "routes": [
                { "pattern": "/api/orders/**", "access": "api", "require": { "scopes": ["orders:read"] } },
                { "pattern": "/api/partner/**", "access": "api", "require": { "issuers": ["https://partner.example"] } },
                { "pattern": "/api/**", "access": "api" }
            ]
        })
        .to_string(),
    );
    let jwks = f.path("jwks.json");
    let run = |token: &str, extra: &[&str]| {
        let mut args = vec![
            "verify", "--token", token, "--config", &config, "--jwks", &jwks, "--now", NOW_S,
        ];
        args.extend_from_slice(extra);
        tessera(&args, None)
    };
    let reader = f.token("ES256", json!({ "scope": "orders:read" }));
    let o = run(&reader, &["--route", "GET", "/api/orders/7"]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(
        stdout(&o).starts_with("allowed GET /api/orders/7\n"),
        "{}",
        stdout(&o)
    );
    assert!(
        stdout(&o).contains("\"pattern\":\"/api/orders/**\""),
        "{}",
        stdout(&o)
    );

    let other = f.token("ES256", json!({ "scope": "profile" }));
    let o = run(&other, &["--route", "GET", "/api/orders/7"]);
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(
        out.starts_with("refused GET /api/orders/7: insufficient-scope (requirement: scope), HTTP 403\n  this route requires the scope \"orders:read\"\n"),
        "{out}"
    );
    let o = run(&other, &["--route", "GET", "/api/orders/7", "--json"]);
    let v: Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(
        (
            v["allowed"].as_bool(),
            v["requirement"].as_str(),
            v["status"].as_u64()
        ),
        (Some(false), Some("scope"), Some(403))
    );

    // The same token elsewhere, and on a route for another issuer.
    assert_eq!(
        run(&other, &["--route", "POST", "/api/other"]).status.code(),
        Some(0)
    );
    let o = run(&other, &["--route", "GET", "/api/partner/x"]);
    assert!(
        stdout(&o).starts_with("refused GET /api/partner/x: issuer-invalid (requirement: issuer), HTTP 401"),
        "{}",
        stdout(&o)
    );
    // An issuer nobody trusts, without a route (as verify() would): no fetch needed to say so.
    let stranger = f.token("ES256", json!({ "iss": "https://evil.example" }));
    let o = run(&stranger, &[]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stdout(&o).contains("issuer-invalid") && stdout(&o).contains("not trusted here"),
        "{}",
        stdout(&o)
    );
    // A DPoP-bound token without its proof.
    let bound = f.token(
        "ES256",
        json!({ "cnf": { "jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I" } }),
    );
    let o = run(&bound, &["--route", "GET", "/api/other"]);
    assert!(stdout(&o).contains("dpop-required"), "{}", stdout(&o));

    // The configuration is the policy: policy flags beside it are a usage error.
    let o = run(&reader, &["--issuer", ISS]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--issuer cannot go with --config"));
    let o = tessera(
        &[
            "verify", "--token", &reader, "--jwks", &jwks, "--issuer", ISS, "--route", "GET", "/",
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(2));
}
