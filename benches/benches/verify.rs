//! Verification cost, natively (pure Rust, and with the aws-lc-rs backend) and in
//! wasmtime, as ratios against the native floor: the raw aws-lc-rs signature
//! check (key parsed once) measured in the same run.
//!
//! `cargo bench -p tessera-benches` (the wasm guest must be built first:
//! `scripts/build-guest.sh`). Criterion measures; at the end a table prints
//! every figure as a multiple of the floor for its algorithm.

use criterion::Criterion;
use serde_json::json;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;
use tessera_benches::{verifier, WasmVerifier, NO_MEMO};
use tessera_core::backend::AwsLcRs;
use tessera_core::{KeySet, MemoConfig};
use tessera_tests::{claims, kid_for, Keys, NOW};

const ALGS: [&str; 4] = ["ES256", "EdDSA", "RS256", "PS256"];

/// The floor: aws-lc-rs with the key parsed once.
fn floor_key(keys: &Keys, alg: &str) -> aws_lc_rs::signature::ParsedPublicKey {
    use aws_lc_rs::signature as s;
    let algorithm: &'static dyn s::VerificationAlgorithm = match alg {
        "ES256" => &s::ECDSA_P256_SHA256_FIXED,
        "EdDSA" => &s::ED25519,
        "RS256" => &s::RSA_PKCS1_2048_8192_SHA256,
        _ => &s::RSA_PSS_2048_8192_SHA256,
    };
    let bytes: Vec<u8> = match alg {
        "ES256" => keys
            .p256
            .verifying_key()
            .to_encoded_point(false)
            .as_bytes()
            .to_vec(),
        "EdDSA" => keys.ed.verifying_key().as_bytes().to_vec(),
        _ => {
            use rsa::pkcs1::EncodeRsaPublicKey;
            keys.rsa
                .to_public_key()
                .to_pkcs1_der()
                .unwrap()
                .as_bytes()
                .to_vec()
        }
    };
    s::ParsedPublicKey::new(algorithm, bytes).unwrap()
}

fn main() {
    let out_dir = std::env::var_os("CRITERION_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/criterion"));
    let started = SystemTime::now();
    let mut c = Criterion::default()
        .output_directory(&out_dir)
        .configure_from_args();

    let keys = Keys::load();
    let jwks = keys.jwks();
    let mut wasm = WasmVerifier::load(&WasmVerifier::built());

    for alg in ALGS {
        let token = keys.token(
            alg,
            &json!({ "alg": alg, "kid": kid_for(alg) }),
            &claims(json!({})),
        );
        let (input, sig) = token.rsplit_once('.').unwrap();
        let sig = tessera_core::b64::decode(sig).unwrap();
        let floor = floor_key(&keys, alg);
        assert!(
            floor.verify_sig(input.as_bytes(), &sig).is_ok(),
            "the floor must verify {alg}"
        );

        let mut g = c.benchmark_group(alg);
        g.bench_function("floor_aws_lc_rs", |b| {
            b.iter(|| floor.verify_sig(black_box(input.as_bytes()), black_box(&sig)))
        });
        let mut cold = verifier(&jwks, NO_MEMO);
        g.bench_function("cold_native", |b| {
            b.iter(|| cold.verify(black_box(&token), NOW).unwrap())
        });
        let mut native = verifier(&jwks, NO_MEMO).with_backend(Arc::new(AwsLcRs::new()));
        g.bench_function("cold_native_aws_lc", |b| {
            b.iter(|| native.verify(black_box(&token), NOW).unwrap())
        });
        let mut warm = verifier(&jwks, MemoConfig::default());
        warm.verify(&token, NOW).unwrap();
        g.bench_function("memo_native", |b| {
            b.iter(|| warm.verify(black_box(&token), NOW).unwrap())
        });

        let t = wasm.put(token.as_bytes());
        wasm.install(&jwks, NO_MEMO);
        assert_eq!(wasm.verify(t), 0, "wasm must verify {alg}");
        g.bench_function("cold_wasm", |b| b.iter(|| wasm.verify(black_box(t))));
        wasm.install(&jwks, MemoConfig::default());
        assert_eq!(wasm.verify(t), 0);
        g.bench_function("memo_wasm", |b| b.iter(|| wasm.verify(black_box(t))));
        g.finish();
    }

    let mut g = c.benchmark_group("jwks_parse");
    g.bench_function("native", |b| {
        b.iter(|| KeySet::from_jwks(black_box(jwks.as_bytes())).unwrap())
    });
    let j = wasm.put(jwks.as_bytes());
    g.bench_function("wasm", |b| {
        b.iter(|| assert_eq!(wasm.parse.call(&mut wasm.store, j).unwrap(), 0))
    });
    g.finish();
    c.final_summary();

    report(&out_dir, started);
}

/// The median of one benchmark from this run, in nanoseconds.
fn median_ns(dir: &Path, group: &str, id: &str, since: SystemTime) -> Option<f64> {
    let path = dir.join(group).join(id).join("new/estimates.json");
    let fresh = std::fs::metadata(&path)
        .and_then(|m| m.modified())
        .is_ok_and(|t| t >= since);
    if !fresh {
        return None;
    }
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
    v["median"]["point_estimate"].as_f64()
}

fn report(dir: &Path, since: SystemTime) {
    let us = |ns: Option<f64>| {
        ns.map(|n| format!("{:>9.2} µs", n / 1000.0))
            .unwrap_or_else(|| format!("{:>12}", "-"))
    };
    let ratio = |a: Option<f64>, floor: Option<f64>| match (a, floor) {
        (Some(a), Some(f)) => format!("{:>7.2}×", a / f),
        _ => format!("{:>8}", "-"),
    };
    println!("\nVerification cost, medians of this run; ratios are against the aws-lc-rs floor of the same algorithm.");
    println!("+aws-lc-rs: the whole verification (parse, claims, policy) with the core's aws-lc-rs backend.");
    println!(
        "{:<6} {:>12} | {:>12} {:>8} | {:>12} {:>8} | {:>12} {:>8} | {:>12} {:>12}",
        "alg",
        "aws-lc-rs",
        "cold native",
        "ratio",
        "+aws-lc-rs",
        "ratio",
        "cold wasm",
        "ratio",
        "memo native",
        "memo wasm"
    );
    for alg in ALGS {
        let m = |id: &str| median_ns(dir, alg, id, since);
        let floor = m("floor_aws_lc_rs");
        println!(
            "{:<6} {} | {} {} | {} {} | {} {} | {} {}",
            alg,
            us(floor),
            us(m("cold_native")),
            ratio(m("cold_native"), floor),
            us(m("cold_native_aws_lc")),
            ratio(m("cold_native_aws_lc"), floor),
            us(m("cold_wasm")),
            ratio(m("cold_wasm"), floor),
            us(m("memo_native")),
            us(m("memo_wasm")),
        );
    }
    let parse = |id: &str| median_ns(dir, "jwks_parse", id, since);
    println!(
        "JWKS parse (RSA-2048 + P-256 + Ed25519): native {}, wasm {} ({} of native)",
        us(parse("native")),
        us(parse("wasm")),
        ratio(parse("wasm"), parse("native"))
    );
}
