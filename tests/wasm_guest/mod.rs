//! The zero-import wasm32 guest (`tests/guest`, built by
//! `scripts/build-guest.sh`) loaded into wasmtime, shared by `wasm.rs` (the
//! vector suite) and `relying_party.rs` (the RP test plan's transcripts).
#![allow(dead_code)] // each test crate calls its own part

use std::path::PathBuf;
use wasmtime::{Engine, Instance, Memory, Module, Store, TypedFunc};

pub struct Guest {
    store: Store<()>,
    memory: Memory,
    alloc: TypedFunc<u32, u32>,
    free: TypedFunc<(u32, u32), ()>,
    run: TypedFunc<(u32, u32), u64>,
    transcript: TypedFunc<(u32, u32), u64>,
}

impl Guest {
    pub fn load() -> Guest {
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
            transcript: instance.get_typed_func(&mut store, "guest_transcript").unwrap(),
            store,
        }
    }

    /// Runs one vector suite case (`guest_run`).
    pub fn run_case(&mut self, input: &[u8]) -> String {
        let run = self.run.clone();
        self.call(&run, input)
    }

    /// Replays an engine transcript (`guest_transcript`).
    pub fn run_transcript(&mut self, input: &[u8]) -> String {
        let run = self.transcript.clone();
        self.call(&run, input)
    }

    fn call(&mut self, run: &TypedFunc<(u32, u32), u64>, input: &[u8]) -> String {
        let len = input.len() as u32;
        let ptr = self.alloc.call(&mut self.store, len).unwrap();
        self.memory.write(&mut self.store, ptr as usize, input).unwrap();
        let packed = run
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
