//! Request targets and Host values (the first line is the target, the rest the
//! Host): see `check_request_target` for the property.
#![no_main]
use libfuzzer_sys::fuzz_target;

include!("../../tests/src/request_target_property.rs");

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (target, host) = text.split_once('\n').unwrap_or((text, ""));
    check_request_target(target, host);
});
