//! Property test of the JWKS cache state machine: for random sequences of
//! lookups, unknown kids, fetch outcomes and clock jumps, the cache never
//! - starts a second fetch while one is in flight (until it counts as lost),
//! - refetches for unknown kids more than once per cooldown,
//! - retries a failed fetch within the cooldown,
//! - serves keys past `max-age + staleIfError` after the fetch that brought them.

use tessera_core::jwks_cache::{FetchOutcome, JwksCache, JwksCacheConfig, Lookup, UnknownKid};
use tessera_tests::XorShift;

const JWKS: &[u8] = br#"{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"k1","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#;

#[derive(Default)]
struct Model {
    in_flight: Option<u64>,
    last_failure: Option<u64>,
    last_kid_refetch: Option<u64>,
    loaded: Option<(u64, u64)>, // fetched_at, max_age
    fetches: u64,
}

#[test]
fn the_jwks_cache_keeps_its_promises_for_any_sequence() {
    let config = JwksCacheConfig {
        stale_if_error: 3_600,
        ..JwksCacheConfig::default()
    };
    let lost_after = 10; // twice the 5 s timeout
    let (mut stale, mut kid_refetches, mut failures, mut refused) = (0, 0, 0, 0);
    for seed in 1..=200u64 {
        let mut rng = XorShift(0x9e37_79b9_7f4a_7c15 ^ seed);
        let mut cache = JwksCache::new("https://idp/jwks", config);
        let mut m = Model::default();
        let mut now = 1_700_000_000u64;
        for _ in 0..400 {
            now += match rng.below(10) {
                0 => rng.below(5_000),
                1..=3 => rng.below(60),
                _ => rng.below(3),
            };
            let started = |m: &mut Model, now: u64| {
                if let Some(t) = m.in_flight {
                    assert!(
                        now >= t + lost_after,
                        "seed {seed}: second fetch while one is in flight"
                    );
                }
                if let Some(f) = m.last_failure {
                    assert!(
                        now >= f + config.cooldown,
                        "seed {seed}: retry within the cooldown"
                    );
                }
                m.in_flight = Some(now);
                m.fetches += 1;
            };
            match rng.below(4) {
                0 | 1 => match cache.lookup(now) {
                    Lookup::Fresh(_) => {
                        let (at, age) = m.loaded.expect("fresh keys were loaded");
                        assert!(now < at + age, "seed {seed}: fresh past max-age");
                    }
                    Lookup::Stale { refetch, .. } => {
                        let (at, age) = m.loaded.expect("stale keys were loaded");
                        assert!(
                            now < at + age + config.stale_if_error,
                            "seed {seed}: keys served past the bound"
                        );
                        if refetch.is_some() {
                            started(&mut m, now);
                        }
                    }
                    Lookup::Fetch(_) => {
                        if let Some((at, age)) = m.loaded {
                            assert!(
                                now >= at + age + config.stale_if_error,
                                "seed {seed}: blocking fetch with usable keys"
                            );
                        }
                        started(&mut m, now);
                    }
                    Lookup::Unavailable(r) => assert!(r.is_retryable()),
                },
                2 => {
                    let kid = format!("kid-{}", rng.below(5));
                    if let UnknownKid::Refetch(_) = cache.on_unknown_kid(&kid, now) {
                        if let Some(t) = m.last_kid_refetch {
                            assert!(
                                now >= t + config.cooldown,
                                "seed {seed}: two kid refetches within the cooldown"
                            );
                        }
                        m.last_kid_refetch = Some(now);
                        started(&mut m, now);
                    }
                }
                _ => {
                    if m.in_flight.take().is_some() {
                        let max_age = [30, 60, 600, 100_000][rng.below(4) as usize];
                        let cc = format!("max-age={max_age}");
                        let outcome = match rng.below(3) {
                            0 => FetchOutcome::Failed("timeout"),
                            1 => FetchOutcome::Response {
                                status: 503,
                                cache_control: None,
                                body: b"",
                            },
                            _ => FetchOutcome::Response {
                                status: 200,
                                cache_control: Some(&cc),
                                body: JWKS,
                            },
                        };
                        let ok = cache.on_fetched(now, outcome).is_ok();
                        if ok {
                            m.loaded = Some((now, max_age.clamp(config.min_max_age, config.max_max_age)));
                            m.last_failure = None;
                        } else {
                            m.last_failure = Some(now);
                        }
                    }
                }
            }
        }
        assert_eq!(
            cache.stats().fetches,
            m.fetches,
            "seed {seed}: the cache's count matches the model"
        );
        let st = cache.stats();
        (stale, kid_refetches, failures, refused) = (
            stale + st.stale_served,
            kid_refetches + st.unknown_kid_refetches,
            failures + st.failures,
            refused + st.unknown_kid_refused,
        );
    }
    // The sequences really went through every path.
    assert!(
        stale > 100 && kid_refetches > 100 && failures > 100 && refused > 100,
        "{stale} {kid_refetches} {failures} {refused}"
    );
}
