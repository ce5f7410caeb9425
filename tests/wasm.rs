//! The same vector suite, run by the core compiled to `wasm32-unknown-unknown`
//! inside wasmtime: every case must give byte-for-byte the same output as the
//! native run (verdicts, reason codes, messages, claims).
//!
//! `scripts/build-guest.sh` builds the guest before this test runs (see
//! `scripts/test.sh`); `TESSERA_GUEST_WASM` points at another file.

mod wasm_guest;

use tessera_tests::*;
use wasm_guest::Guest;

#[test]
fn wasm_and_native_agree_case_by_case() {
    let mut guest = Guest::load();
    let suite = suite();
    let mut mismatches = Vec::new();
    for case in &suite {
        let input = case.input.to_string();
        let native = run_native(&case.input);
        let wasm = guest.run_case(input.as_bytes());
        if wasm != native {
            mismatches.push(format!("{}:\n  native {native}\n  wasm   {wasm}", case.name));
        } else if verdicts(&wasm) != case.expect {
            mismatches.push(format!(
                "{}: expected {:?}, both gave {wasm}",
                case.name, case.expect
            ));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {} cases differ:\n{}",
        mismatches.len(),
        suite.len(),
        mismatches.join("\n")
    );
    eprintln!("{} cases: native and wasm32 agree", suite.len());
}

#[test]
fn wasm32_key_tables_keep_every_verdict() {
    // ES256 and Ed25519 keys get their tables after two checks; on wasm32 the
    // ES256 tables run on the core's own 32-bit field arithmetic
    // (src/p256_group.rs), which only this target uses. Each case's token
    // five times with the memo off: the later checks run on the tables.
    let mut guest = Guest::load();
    let mut failures = Vec::new();
    for case in suite() {
        let mut input = case.input.clone();
        let Some(now) = input["now"][0].as_u64() else {
            continue;
        };
        input["now"] = serde_json::json!(vec![now; 5]);
        input["memo"] = serde_json::json!({ "capacity": 0, "maxAge": 0 });
        let got = verdicts(&guest.run_case(input.to_string().as_bytes()));
        if got != vec![case.expect[0].to_string(); 5] {
            failures.push(format!("{}: expected {}, got {got:?}", case.name, case.expect[0]));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_guest_survives_hostile_input() {
    let mut guest = Guest::load();
    for input in [&b""[..], b"{", b"null", b"{\"policy\":{}}", &[0xff; 100]] {
        let out = guest.run_case(input);
        assert!(out.contains("\"error\""), "{out}");
    }
}
