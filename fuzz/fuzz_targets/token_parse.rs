//! Token parsing never panics, whatever the bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = tessera_core::jws::parse(text);
        let _ = tessera_core::jws::decode_unverified(text);
    }
});
