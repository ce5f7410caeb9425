//! Cookie parsing, chunk joining and unsealing never panic, and nothing
//! unsealable is ever produced from bytes the fuzzer made up.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tessera_core::cookie::CookieJar;
use tessera_core::seal::Keyring;

fuzz_target!(|data: &[u8]| {
    let Ok(header) = std::str::from_utf8(data) else { return };
    let jar = CookieJar::parse(header);
    let ring = Keyring::parse("k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8").expect("fixed keyring");
    for name in ["s", "__Host-tessera-session"] {
        if let Ok(Some(value)) = jar.get_joined(name) {
            assert!(ring.open(name, &value, 0).is_err(), "opened a forged cookie");
        }
        let _ = jar.stored_names(name).count();
    }
});
