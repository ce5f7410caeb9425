//! DPoP proof checks never panic, whatever the proof: the proof string, and
//! the request and token it is checked against, all from the fuzzer.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tessera_core::dpop::{check, Expected};
use tessera_core::Alg;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    // proof \n method \n url \n token \n jkt, any of them missing or odd.
    let mut parts = text.splitn(5, '\n');
    let proof = parts.next().unwrap_or("");
    let expected = Expected {
        method: parts.next().unwrap_or("GET"),
        url: parts.next().unwrap_or("https://app.example/api"),
        access_token: parts.next().unwrap_or("a.b.c"),
        jkt: parts.next().unwrap_or(""),
        now: 1_800_000_000,
        max_age: 60,
        leeway: 5,
        algorithms: &[Alg::Es256, Alg::EdDsa, Alg::Rs256, Alg::Ps256],
    };
    if let Ok(p) = check(proof, &expected) {
        let _ = p.check_signature();
    }
    if let Ok((header, _)) = tessera_core::jws::decode_unverified(proof) {
        if let Some(jwk) = header.get("jwk").and_then(|v| v.as_object()) {
            let _ = tessera_core::dpop::thumbprint(jwk);
        }
    }
});
