//! Full verification against a real key set never panics and never accepts a
//! token it did not see signed (the fuzzer cannot produce a valid signature, so
//! any `Ok` is a bug).
#![no_main]
use libfuzzer_sys::fuzz_target;
use tessera_core::{Alg, KeySet, Policy, Verifier};

const JWKS: &str = r#"{"keys":[
 {"kty":"OKP","crv":"Ed25519","kid":"ed","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},
 {"kty":"EC","crv":"P-256","kid":"ec","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"},
 {"kty":"RSA","kid":"rsa","e":"AQAB","n":"ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ"}
]}"#;

fuzz_target!(|data: &[u8]| {
    let Ok(token) = std::str::from_utf8(data) else { return };
    let mut policy = Policy::for_issuer("joe");
    policy.algorithms = Alg::ALL.to_vec();
    let keys = KeySet::from_jwks(JWKS.as_bytes()).expect("the fixed key set parses");
    let mut verifier = Verifier::new(keys, policy).expect("the fixed policy is valid");
    // The RFC examples' signatures are real; anything else the fuzzer builds is not.
    if let Ok(id) = verifier.verify(token, 1_300_000_000) {
        panic!("accepted an unsigned token for {}", id.sub);
    }
});
