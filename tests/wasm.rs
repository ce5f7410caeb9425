//! The same vector suite, run by the core compiled to `wasm32-unknown-unknown`
//! inside wasmtime: every case must give byte-for-byte the same output as the
//! native run (verdicts, reason codes, messages, claims). Twice: the guest as
//! any WebAssembly host runs it, and the guest built with the core's
//! `wide-arithmetic` feature (RSA on 64-bit limbs through `i64.mul_wide_u`),
//! in a wasmtime with that proposal enabled.
//!
//! `scripts/build-guests.sh` builds both before this test runs (see
//! `scripts/test.sh`); `TESSERA_GUEST_WASM` and `TESSERA_WIDE_GUEST_WASM` point
//! at other files.

use std::path::{Path, PathBuf};
use tessera_tests::*;
use wasmtime::{Config, Engine, Instance, Memory, Module, Store, TypedFunc};

struct Guest {
    store: Store<()>,
    memory: Memory,
    alloc: TypedFunc<u32, u32>,
    free: TypedFunc<(u32, u32), ()>,
    run: TypedFunc<(u32, u32), u64>,
}

/// Where the guests are: the plain one, then the wide-arithmetic one.
fn guest_paths() -> [PathBuf; 2] {
    let built = |var: &str, dir: &str| {
        std::env::var_os(var).map(PathBuf::from).unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join(dir)
                .join("wasm32-unknown-unknown/release/tessera_wasm_guest.wasm")
        })
    };
    [
        built("TESSERA_GUEST_WASM", "../target"),
        built("TESSERA_WIDE_GUEST_WASM", "../target/wide"),
    ]
}

/// A wasmtime engine, with or without the wide-arithmetic proposal.
fn engine(wide: bool) -> Engine {
    let mut config = Config::new();
    config.wasm_wide_arithmetic(wide);
    Engine::new(&config).expect("wasmtime accepts the configuration")
}

impl Guest {
    /// Both guests, each in a wasmtime that runs the wide-arithmetic proposal.
    fn both() -> [Guest; 2] {
        guest_paths().map(|path| Guest::load(&path))
    }

    fn load(path: &Path) -> Guest {
        assert!(
            path.exists(),
            "{} is missing: build it with scripts/build-guests.sh (scripts/test.sh does)",
            path.display()
        );
        let engine = engine(true);
        let module = Module::from_file(&engine, path).expect("the guest module compiles");
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
fn the_wide_guest_needs_the_proposal_and_the_plain_one_does_not() {
    // What makes the second run of the suite a test of the 64-bit limbs: the
    // wide guest does not even compile without the proposal (it uses its
    // instructions), the plain one does.
    let [plain, wide] = guest_paths();
    let without = engine(false);
    Module::from_file(&without, &plain).expect("the plain guest needs no proposal");
    let refused = Module::from_file(&without, &wide).err().map(|e| format!("{e:?}"));
    assert!(
        refused.as_deref().is_some_and(|e| e.contains("wide arithmetic")),
        "the wide guest must use the wide-arithmetic proposal: {refused:?}"
    );
}

#[test]
fn wasm_and_native_agree_case_by_case() {
    let suite = suite();
    for (mut guest, name) in Guest::both().into_iter().zip(["plain", "wide-arithmetic"]) {
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
            "{name} guest: {} of {} cases differ:\n{}",
            mismatches.len(),
            suite.len(),
            mismatches.join("\n")
        );
        eprintln!("{} cases: native and the {name} wasm32 guest agree", suite.len());
    }
}

#[test]
fn wasm32_key_tables_keep_every_verdict() {
    // ES256 and Ed25519 keys get their tables after two checks; on wasm32 the
    // ES256 tables run on the core's own 32-bit field arithmetic
    // (src/p256_group.rs), which only this target uses. Each case's token
    // five times with the memo off: the later checks run on the tables.
    for mut guest in Guest::both() {
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
}

#[test]
fn the_guest_survives_hostile_input() {
    for mut guest in Guest::both() {
        for input in [&b""[..], b"{", b"null", b"{\"policy\":{}}", &[0xff; 100]] {
            let out = guest.run_case(input);
            assert!(out.contains("\"error\""), "{out}");
        }
    }
}
