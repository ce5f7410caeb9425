// The request-target property, included by the `request_target` fuzz target
// (fuzz/fuzz_targets/request_target.rs) and by tests/security.rs, which
// replays the seeds (fuzz/seeds/request-targets.txt) on the stable toolchain.

/// For any request target and `Host` value: the engine never panics; an
/// origin-form target's path is its raw text up to `?` (never moved by a `://`
/// in the query); the origin form reads back to itself; a path the routes
/// accept has no dot segment, no empty segment but a trailing slash, and no
/// `;`; and the `Host` header never changes the decision.
pub fn check_request_target(target: &str, host: &str) {
    use tessera_core::config::TesseraConfig;
    use tessera_core::engine::{Engine, Request, Step};
    use tessera_core::request::request_target;
    use tessera_core::routes::normalize;

    if let Ok(t) = request_target(target) {
        assert!(t.path.starts_with('/'), "{target:?}");
        if target.starts_with('/') {
            assert_eq!(t.path, &target[..target.find('?').unwrap_or(target.len())], "{target:?}");
        }
        let origin_form = t.to_string();
        let again = request_target(&origin_form).expect("the origin form reads back");
        assert_eq!((again.path, again.query), (t.path, t.query), "{target:?}");
        if let Ok(path) = normalize(t.path) {
            let segments: Vec<&str> = path[1..].split('/').collect();
            for (i, s) in segments.iter().enumerate() {
                assert!(*s != "." && *s != "..", "{target:?} kept a dot segment");
                assert!(!s.is_empty() || i + 1 == segments.len(), "{target:?} kept an empty segment");
            }
            assert!(!path.contains(';'), "{target:?} kept a ;");
        }
    }
    let config = TesseraConfig::from_json(
        r#"{"issuer":"https://idp.example","defaultAccess":"public","verification":{"audience":"api"},
            "routes":[{"pattern":"/admin/**","access":"page"},{"pattern":"/api/**","access":"api"}]}"#,
    )
    .expect("fixed config");
    let mut engine = Engine::new(config).expect("engine");
    let mut decide = |headers: &[(&str, &str)]| match engine.handle(
        &Request {
            method: "GET",
            url: target,
            headers,
        },
        1_800_000_000,
        [7; 32],
    ) {
        Step::Done(d) => (d.status, d.reason, d.respond_status()),
        // No credential is sent, so nothing is fetched or verified.
        _ => panic!("{target:?} asked for I/O without a credential"),
    };
    let without = decide(&[]);
    let with = decide(&[("host", host)]);
    assert_eq!(with, without, "the Host {host:?} changed the decision for {target:?}");
}
