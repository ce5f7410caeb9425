//! The same vector suite, run by the core compiled to `wasm32-unknown-unknown`
//! inside wasmtime: every case must give byte-for-byte the same output as the
//! native run (verdicts, reason codes, messages, claims).
//!
//! `scripts/build-guest.sh` builds the guest before this test runs (see
//! `scripts/test.sh`); `TESSERA_GUEST_WASM` points at another file.

use std::path::PathBuf;
use tessera_tests::*;
use wasmtime::{Engine, Instance, Memory, Module, Store, TypedFunc};

struct Guest {
    store: Store<()>,
    memory: Memory,
    alloc: TypedFunc<u32, u32>,
    free: TypedFunc<(u32, u32), ()>,
    run: TypedFunc<(u32, u32), u64>,
}

impl Guest {
    fn load() -> Guest {
        let path = std::env::var_os("TESSERA_GUEST_WASM")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                    .join("../target/wasm32-unknown-unknown/release/tessera_wasm_guest.wasm")
            });
        assert!(
            path.exists(),
            "{} is missing: build it with scripts/build-guest.sh (scripts/test.sh does)",
            path.display()
        );
        let engine = Engine::default();
        let module = Module::from_file(&engine, &path).expect("the guest module compiles");
        assert_eq!(
            module.imports().len(),
            0,
            "the guest must have zero imports (no getrandom, no JS glue)"
        );
        let mut store = Store::new(&engine, ());
        let instance = Instance::new(&mut store, &module, &[]).expect("the guest instantiates");
        Guest {
            memory: instance.get_memory(&mut store, "memory").expect("memory export"),
            alloc: instance.get_typed_func(&mut store, "guest_alloc").unwrap(),
            free: instance.get_typed_func(&mut store, "guest_free").unwrap(),
            run: instance.get_typed_func(&mut store, "guest_run").unwrap(),
            store,
        }
    }

    fn run_case(&mut self, input: &[u8]) -> String {
        let len = input.len() as u32;
        let ptr = self.alloc.call(&mut self.store, len).unwrap();
        self.memory.write(&mut self.store, ptr as usize, input).unwrap();
        let packed = self
            .run
            .call(&mut self.store, (ptr, len))
            .expect("the guest must not trap");
        self.free.call(&mut self.store, (ptr, len)).unwrap();
        let (out_ptr, out_len) = ((packed >> 32) as u32, packed as u32);
        let mut out = vec![0u8; out_len as usize];
        self.memory.read(&self.store, out_ptr as usize, &mut out).unwrap();
        self.free.call(&mut self.store, (out_ptr, out_len)).unwrap();
        String::from_utf8(out).expect("guest output is UTF-8")
    }
}

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
