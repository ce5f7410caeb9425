//! Key set and PEM parsing never panic; a parsed set answers key selection.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tessera_core::{Alg, KeySet};

fuzz_target!(|data: &[u8]| {
    if let Ok(set) = KeySet::from_jwks(data) {
        for alg in Alg::ALL {
            let _ = set.select(Some("k"), alg);
            let _ = set.select(None, alg);
        }
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = KeySet::from_pem(text);
    }
});
