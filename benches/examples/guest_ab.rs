//! An A/B of two builds of the wasm guest, interleaved in one process: on a
//! shared, noisy machine two criterion runs minutes apart differ by more than
//! most changes worth measuring, so this alternates short batches of the two
//! modules and compares their medians.
//!
//! `cargo run --release -p tessera-benches --example guest_ab -- A.wasm B.wasm [ALG…]`
//! (default ES256 EdDSA RS256 PS256; memo off, keys on their tables). It also
//! prints the first four checks of each module's fresh verifier: a key's
//! first checks go without its precomputed table, and the third builds it.

use serde_json::json;
use std::path::Path;
use std::time::Instant;
use tessera_benches::{WasmVerifier, NO_MEMO};
use tessera_tests::{claims, kid_for, Keys};

const ROUNDS: usize = 60;
const BATCH: usize = 40;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [a, b, algs @ ..] = &args[..] else {
        panic!("usage: guest_ab A.wasm B.wasm [ALG…]");
    };
    let algs: Vec<&str> = if algs.is_empty() {
        vec!["ES256", "EdDSA", "RS256", "PS256"]
    } else {
        algs.iter().map(String::as_str).collect()
    };
    let keys = Keys::load();
    let jwks = keys.jwks();
    let mut modules = [WasmVerifier::load(Path::new(a)), WasmVerifier::load(Path::new(b))];
    for alg in algs {
        let token = keys.token(
            alg,
            &json!({ "alg": alg, "kid": kid_for(alg) }),
            &claims(json!({})),
        );
        // A fresh verifier's first checks (a key's first ones go without its
        // precomputed table; the third builds it), then the steady state.
        let mut first = [Vec::new(), Vec::new()];
        let tokens: Vec<(u32, u32)> = modules
            .iter_mut()
            .zip(&mut first)
            .map(|(m, first)| {
                let t = m.put(token.as_bytes());
                m.install(&jwks, NO_MEMO);
                for _ in 0..4 {
                    let started = Instant::now();
                    assert_eq!(m.verify(t), 0, "{alg} must verify");
                    first.push(format!("{:.0}", started.elapsed().as_secs_f64() * 1e6));
                }
                t
            })
            .collect();
        for (m, &t) in modules.iter_mut().zip(&tokens) {
            for _ in 0..10 * BATCH {
                m.verify(t);
            }
        }
        let mut us = [Vec::new(), Vec::new()];
        for round in 0..ROUNDS {
            // Alternate which module goes first.
            for k in [round % 2, 1 - round % 2] {
                let started = Instant::now();
                for _ in 0..BATCH {
                    std::hint::black_box(modules[k].verify(tokens[k]));
                }
                us[k].push(started.elapsed().as_secs_f64() * 1e6 / BATCH as f64);
            }
        }
        let median = |v: &mut Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let (ma, mb) = (median(&mut us[0]), median(&mut us[1]));
        println!(
            "{alg:<6} A {ma:>8.1} µs  B {mb:>8.1} µs  B/A {:.3}   first checks (µs): A {}, B {}",
            mb / ma,
            first[0].join(" "),
            first[1].join(" ")
        );
    }
}
