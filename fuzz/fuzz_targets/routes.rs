//! Path normalisation and route matching never panic, and normalisation is
//! idempotent: a normalised path normalises to itself and matches the same rule.
#![no_main]
use libfuzzer_sys::fuzz_target;
use tessera_core::routes::{normalize, Access, RouteRule, Routes};

fuzz_target!(|data: &[u8]| {
    let Ok(path) = std::str::from_utf8(data) else { return };
    let routes = Routes::new(
        vec![
            RouteRule::new("/public/**", Access::Public),
            RouteRule::new("/docs/*.html", Access::Public),
            RouteRule::new("/api/**", Access::Api),
        ],
        Access::Page,
    )
    .expect("fixed rules");
    if let Ok(normal) = normalize(path) {
        // A normalised path may contain '%' only as decoded text, which would
        // re-decode differently; skip those for the idempotence check.
        if !normal.contains('%') {
            assert_eq!(normalize(&normal).as_deref(), Ok(normal.as_str()));
            let a = routes.classify("GET", path).expect("normalised once");
            let b = routes.classify("GET", &normal).expect("normalised twice");
            assert_eq!(a.access, b.access);
        }
    }
});
