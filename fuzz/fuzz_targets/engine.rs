//! The session engine never panics and never loops: any request (method, URL,
//! headers, cookies) with any provider reply (the rest of the input, fed to
//! every fetch the engine asks for: discovery, key set, token endpoint; and
//! as the body of the endpoints that read one), with the shared store
//! answering anything, comes to a decision within a bounded number of steps.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tessera_core::config::TesseraConfig;
use tessera_core::engine::{Engine, Reply, Request, Step};

const CONFIG: &str = r#"{"issuer":"https://idp.example","clientId":"app","clientSecret":"s",
  "appOrigin":"https://app.example","cookieKeys":"k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8",
  "verification":{"audience":"api"},
  "routes":[{"pattern":"/","access":"public"},{"pattern":"/api/**","access":"api"}]}"#;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut lines = text.split('\n');
    let method = lines.next().unwrap_or("");
    let url = lines.next().unwrap_or("");
    let headers: Vec<(&str, &str)> = lines.by_ref().take(6).filter_map(|l| l.split_once(':')).collect();
    let body = lines.collect::<Vec<_>>().join("\n");
    let mut engine = Engine::new(TesseraConfig::from_json(CONFIG).expect("fixed config"))
        .expect("engine")
        .with_host_signatures(&[tessera_core::Alg::Es256]);
    let now = 1_800_000_000;
    let mut step = engine.handle(&Request { method, url, headers: &headers }, now, [7; 32]);
    for round in 0..8u8 {
        step = match step {
            Step::Done(_) | Step::Idle => return,
            Step::Verify(p) => engine.resume(p, Reply::Signature(round % 2 == 0), now, [round; 32]),
            Step::Fetch(p) | Step::Refresh(p) => {
                let reply = Reply::Response { status: 200, cache_control: Some("max-age=60"), body: body.as_bytes() };
                engine.resume(p, reply, now, [round; 32])
            }
            // The back-channel logout and revoke endpoints read the rest as their body.
            Step::Body(p) => engine.resume(p, Reply::Body(body.as_bytes()), now, [round; 32]),
            // The shared store: first, seen, or down, by round.
            Step::Store(p) => {
                let stored = match round % 3 { 0 => Ok(true), 1 => Ok(false), _ => Err("store down") };
                engine.resume(p, Reply::Stored(stored), now, [round; 32])
            }
        };
    }
    assert!(matches!(step, Step::Done(_) | Step::Idle), "no decision after 8 fetches");
});
