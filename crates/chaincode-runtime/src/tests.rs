//! Tests of the runtime against the contracts of `contracts/` (built by
//! `teechain-contracts`) and small hand-written modules.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use teechain_types::chaincode::abi;
use teechain_types::chaincode::{Caller, HistoryEntry, Invocation, InvocationContext, STATUS_OK, STATUS_REFUSED};
use teechain_types::codec::{decode, encode, Limits};
use teechain_types::collection::{CollectionAccess, HashedValue, PrivateValue};
use teechain_types::hash::{sha256, Hash32};
use teechain_types::identity::Role;
use teechain_types::rwset::{history_digest, range_digest, HistoryRead, Version, VersionedValue};
use teechain_types::state::{StateError, StateView};
use teechain_types::{KvRead, KvWrite, ReadWriteSet};

use super::*;

mod payment;
mod private;

// ---- fixtures -----------------------------------------------------------------------

/// Committed state in memory, with history; namespaces kept apart. Private data: the
/// hashed state every node holds, the values a member node holds, and the collections
/// as this node sees them.
#[derive(Default)]
pub(super) struct MemState {
    values: BTreeMap<(String, Vec<u8>), VersionedValue>,
    history: BTreeMap<(String, Vec<u8>), Vec<HistoryEntry>>,
    block: u64,
    pub(super) collections: BTreeMap<(String, String), CollectionAccess>,
    pub(super) pvt_hashed: BTreeMap<(String, String, Hash32), HashedValue>,
    pub(super) pvt_values: BTreeMap<(String, String, Vec<u8>), PrivateValue>,
}

impl MemState {
    /// Commits a simulation's writes (public, hashed private, and the private values of
    /// the collections this node is a member of) as the only transaction of a new block.
    pub(super) fn commit(&mut self, sim: &Simulation, tx_id: Hash32) {
        self.apply(&sim.rwset, tx_id);
        let version = Version { block: self.block, tx: 0 };
        for coll in &sim.private_writes {
            let member = self
                .collections
                .get(&(coll.namespace.clone(), coll.collection.clone()))
                .is_some_and(|a| a.node_is_member);
            if !member {
                continue;
            }
            for w in &coll.writes {
                let k = (coll.namespace.clone(), coll.collection.clone(), w.key.clone());
                match &w.value {
                    Some(value) => {
                        self.pvt_values.insert(k, PrivateValue { value: value.clone(), blind: w.blind, version });
                    }
                    None => {
                        self.pvt_values.remove(&k);
                    }
                }
            }
        }
    }

    /// Commits the writes of `rwset` (public and hashed private) as the only transaction
    /// of a new block.
    pub(super) fn apply(&mut self, rwset: &ReadWriteSet, tx_id: Hash32) {
        self.block += 1;
        let version = Version { block: self.block, tx: 0 };
        for coll in &rwset.private {
            for w in &coll.writes {
                let k = (rwset.namespace.clone(), coll.collection.clone(), w.key_hash);
                match w.value_hash {
                    Some(value_hash) => {
                        self.pvt_hashed.insert(k, HashedValue { value_hash, version });
                    }
                    None => {
                        self.pvt_hashed.remove(&k);
                    }
                }
            }
        }
        for w in &rwset.writes {
            let k = (rwset.namespace.clone(), w.key.clone());
            match &w.value {
                Some(v) => {
                    self.values.insert(k.clone(), VersionedValue { value: v.clone(), version });
                }
                None => {
                    self.values.remove(&k);
                }
            }
            self.history.entry(k).or_default().push(HistoryEntry {
                tx_id,
                block: self.block,
                tx_index: 0,
                timestamp_ms: 1_700_000_000_000 + self.block,
                value: w.value.clone(),
            });
        }
    }

    pub(super) fn put(&mut self, ns: &str, key: &[u8], value: &[u8], version: Version) {
        self.values.insert((ns.into(), key.to_vec()), VersionedValue { value: value.to_vec(), version });
    }
}

impl StateView for MemState {
    fn get(&self, namespace: &str, key: &[u8]) -> Result<Option<VersionedValue>, StateError> {
        Ok(self.values.get(&(namespace.to_string(), key.to_vec())).cloned())
    }

    fn range(
        &self,
        namespace: &str,
        start: &[u8],
        end: &[u8],
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, VersionedValue)>, StateError> {
        Ok(self
            .values
            .range((namespace.to_string(), start.to_vec())..)
            .take_while(|((ns, k), _)| ns == namespace && (end.is_empty() || k.as_slice() < end))
            .take(limit)
            .map(|((_, k), v)| (k.clone(), v.clone()))
            .collect())
    }

    fn history(&self, namespace: &str, key: &[u8], limit: usize) -> Result<Vec<HistoryEntry>, StateError> {
        let all = self.history.get(&(namespace.to_string(), key.to_vec())).cloned().unwrap_or_default();
        let skip = all.len().saturating_sub(limit);
        Ok(all.into_iter().skip(skip).collect())
    }

    fn collection(&self, namespace: &str, collection: &str) -> Result<Option<CollectionAccess>, StateError> {
        Ok(self.collections.get(&(namespace.to_string(), collection.to_string())).cloned())
    }

    fn private_get(&self, namespace: &str, collection: &str, key: &[u8]) -> Result<Option<PrivateValue>, StateError> {
        Ok(self.pvt_values.get(&(namespace.to_string(), collection.to_string(), key.to_vec())).cloned())
    }

    fn private_range(
        &self,
        namespace: &str,
        collection: &str,
        start: &[u8],
        end: &[u8],
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, PrivateValue)>, StateError> {
        Ok(self
            .pvt_values
            .range((namespace.to_string(), collection.to_string(), start.to_vec())..)
            .take_while(|((ns, c, k), _)| ns == namespace && c == collection && (end.is_empty() || k.as_slice() < end))
            .take(limit)
            .map(|((_, _, k), v)| (k.clone(), v.clone()))
            .collect())
    }

    fn private_hash(
        &self,
        namespace: &str,
        collection: &str,
        key_hash: &Hash32,
    ) -> Result<Option<HashedValue>, StateError> {
        Ok(self.pvt_hashed.get(&(namespace.to_string(), collection.to_string(), *key_hash)).copied())
    }
}

/// A state view whose reads fail.
struct BrokenState;

impl StateView for BrokenState {
    fn get(&self, _: &str, _: &[u8]) -> Result<Option<VersionedValue>, StateError> {
        Err(StateError("disk on fire".into()))
    }
    fn range(&self, _: &str, _: &[u8], _: &[u8], _: usize) -> Result<Vec<(Vec<u8>, VersionedValue)>, StateError> {
        Err(StateError("disk on fire".into()))
    }
    fn history(&self, _: &str, _: &[u8], _: usize) -> Result<Vec<HistoryEntry>, StateError> {
        Err(StateError("disk on fire".into()))
    }
}

pub(super) fn ctx(org: &str) -> InvocationContext {
    ctx_n(org, 1)
}

/// A context whose tx id derives from `n`.
pub(super) fn ctx_n(org: &str, n: u64) -> InvocationContext {
    InvocationContext {
        channel: "ch".into(),
        tx_id: sha256(&n.to_be_bytes()),
        caller: Caller { org: org.into(), role: Role::Client, name: format!("user@{org}") },
        timestamp_ms: 1_700_000_000_000,
        transient: vec![("secret".into(), b"s3cr3t".to_vec())],
        sealing: None,
    }
}

pub(super) fn inv(function: &str, args: &[&[u8]]) -> Invocation {
    Invocation { function: function.into(), args: args.iter().map(|a| a.to_vec()).collect() }
}

pub(super) fn runtime() -> &'static Runtime {
    static RT: OnceLock<Runtime> = OnceLock::new();
    RT.get_or_init(Runtime::default)
}

fn testbed() -> &'static CompiledChaincode {
    static CODE: OnceLock<CompiledChaincode> = OnceLock::new();
    CODE.get_or_init(|| runtime().compile(teechain_contracts::TESTBED).expect("testbed compiles"))
}

const NS: &str = "testbed";

fn run(state: &MemState, function: &str, args: &[&[u8]]) -> Result<Simulation, RuntimeError> {
    runtime().execute(testbed(), NS, state, &ctx("org1"), &inv(function, args))
}

fn run_ok(state: &MemState, function: &str, args: &[&[u8]]) -> Simulation {
    let sim = run(state, function, args).unwrap_or_else(|e| panic!("{function}: {e}"));
    assert_eq!(sim.response.status, STATUS_OK, "{function}: {}", sim.response.message);
    sim
}

fn v(block: u64, tx: u32) -> Version {
    Version { block, tx }
}

fn wat(text: &str) -> Vec<u8> {
    wat::parse_str(text).expect("test module parses")
}

/// A minimal module following the ABI whose `tc_invoke` body is `body`.
fn module_with(imports: &str, body: &str) -> Vec<u8> {
    wat(&format!(
        r#"(module
            {imports}
            (memory (export "memory") 1)
            (func (export "tc_alloc") (param i32) (result i32) (i32.const 1024))
            (func (export "tc_invoke") (param i32 i32) (result i64) {body}))"#
    ))
}

fn run_module(wasm: &[u8]) -> Result<Simulation, RuntimeError> {
    let code = runtime().compile(wasm)?;
    runtime().execute(&code, NS, &MemState::default(), &ctx("org1"), &inv("f", &[]))
}

// ---- compile ------------------------------------------------------------------------

#[test]
fn contracts_compile_without_floats() {
    let payment = runtime().compile(teechain_contracts::PAYMENT).expect("payment compiles");
    assert_eq!(payment.code_hash(), sha256(teechain_contracts::PAYMENT));
    testbed();
}

#[test]
fn rejects_non_wasm_and_text() {
    for bytes in [&b""[..], b"hello", b"(module)"] {
        assert!(matches!(runtime().compile(bytes), Err(RuntimeError::InvalidModule(_))));
    }
}

#[test]
fn missing_exports_are_invalid() {
    let no_invoke = wat(r#"(module (memory (export "memory") 1)
        (func (export "tc_alloc") (param i32) (result i32) (i32.const 0)))"#);
    let err = runtime().compile(&no_invoke).unwrap_err();
    assert!(matches!(&err, RuntimeError::InvalidModule(m) if m.contains("tc_invoke")), "{err}");

    let no_memory = wat(r#"(module (memory 1)
        (func (export "tc_alloc") (param i32) (result i32) (i32.const 0))
        (func (export "tc_invoke") (param i32 i32) (result i64) (i64.const 0)))"#);
    let err = runtime().compile(&no_memory).unwrap_err();
    assert!(matches!(&err, RuntimeError::InvalidModule(m) if m.contains("memory")), "{err}");

    let wrong_type = wat(r#"(module (memory (export "memory") 1)
        (func (export "tc_alloc") (param i32) (result i32) (i32.const 0))
        (func (export "tc_invoke") (param i32 i32) (result i32) (i32.const 0)))"#);
    let err = runtime().compile(&wrong_type).unwrap_err();
    assert!(matches!(&err, RuntimeError::InvalidModule(m) if m.contains("tc_invoke")), "{err}");
}

#[test]
fn foreign_or_mistyped_imports_are_invalid() {
    let wasi = module_with(r#"(import "wasi" "fd_write" (func (param i32)))"#, "(i64.const 0)");
    assert!(matches!(runtime().compile(&wasi), Err(RuntimeError::InvalidModule(m)) if m.contains("wasi.fd_write")));
    let unknown = module_with(r#"(import "teechain" "launch_missiles" (func))"#, "(i64.const 0)");
    assert!(matches!(runtime().compile(&unknown), Err(RuntimeError::InvalidModule(m)) if m.contains("unknown")));
    let mistyped = module_with(r#"(import "teechain" "state_get" (func (param i32) (result i32)))"#, "(i64.const 0)");
    assert!(matches!(runtime().compile(&mistyped), Err(RuntimeError::InvalidModule(m)) if m.contains("state_get")));
}

#[test]
fn floats_and_start_functions_are_rejected() {
    let floats = module_with("", "(drop (f64.add (f64.const 1) (f64.const 2))) (i64.const 0)");
    assert!(matches!(runtime().compile(&floats), Err(RuntimeError::InvalidModule(_))));
    let start = wat(r#"(module (memory (export "memory") 1)
        (func $s) (start $s)
        (func (export "tc_alloc") (param i32) (result i32) (i32.const 0))
        (func (export "tc_invoke") (param i32 i32) (result i64) (i64.const 0)))"#);
    assert!(matches!(runtime().compile(&start), Err(RuntimeError::InvalidModule(_))));
}

#[test]
fn oversized_initial_memory_is_rejected() {
    let rt = Runtime::new(ExecutionLimits { max_memory_bytes: 1 << 20, ..Default::default() });
    let big = wat(r#"(module (memory (export "memory") 100)
        (func (export "tc_alloc") (param i32) (result i32) (i32.const 0))
        (func (export "tc_invoke") (param i32 i32) (result i64) (i64.const 0)))"#);
    assert!(matches!(rt.compile(&big), Err(RuntimeError::InvalidModule(m)) if m.contains("initial memory")));
}

#[test]
fn host_signature_table_matches_the_functions() {
    let state = MemState::default();
    let c = ctx("org1");
    let limits = ExecutionLimits::default();
    let mut store = Store::new(&runtime().engine, HostState::new(TxSimulator::new(NS, &state), &c, &limits));
    for f in HostFn::ALL {
        let wasmi::Extern::Func(func) = f.wrap(&mut store) else { panic!("{f:?} is not a function") };
        let ty = func.ty(&store);
        let (params, results) = f.signature();
        assert_eq!((ty.params(), ty.results()), (params, results), "{}", f.name());
        assert_eq!(HostFn::by_name(f.name()), Some(f));
    }
}

// ---- limits -------------------------------------------------------------------------

#[test]
fn endless_loop_runs_out_of_fuel() {
    let rt = Runtime::new(ExecutionLimits { fuel: 2_000_000, ..Default::default() });
    let code = rt.compile(teechain_contracts::TESTBED).unwrap();
    let err = rt.execute(&code, NS, &MemState::default(), &ctx("org1"), &inv("spin", &[])).unwrap_err();
    assert!(matches!(err, RuntimeError::OutOfFuel { limit: 2_000_000 }), "{err}");
}

#[test]
fn endless_loop_ends_with_default_limits() {
    let start = std::time::Instant::now();
    let err = run(&MemState::default(), "spin", &[]).unwrap_err();
    assert!(matches!(err, RuntimeError::OutOfFuel { limit: 50_000_000 }), "{err}");
    eprintln!("50M fuel of spinning took {:?}", start.elapsed());
}

#[test]
fn memory_bomb_hits_the_memory_limit() {
    let rt = Runtime::new(ExecutionLimits { max_memory_bytes: 8 << 20, ..Default::default() });
    let code = rt.compile(teechain_contracts::TESTBED).unwrap();
    let err = rt.execute(&code, NS, &MemState::default(), &ctx("org1"), &inv("grow", &[])).unwrap_err();
    assert!(matches!(err, RuntimeError::MemoryLimit { limit_bytes } if limit_bytes == 8 << 20), "{err}");

    let err = run(&MemState::default(), "grow", &[]).unwrap_err();
    assert!(matches!(err, RuntimeError::MemoryLimit { limit_bytes } if limit_bytes == 64 << 20), "{err}");
}

#[test]
fn memory_grow_beyond_the_cap_in_wat() {
    // memory.grow returns -1; the module then traps on its own.
    let wasm =
        module_with("", "(if (i32.eq (memory.grow (i32.const 5000)) (i32.const -1)) (then unreachable)) (i64.const 0)");
    let err = run_module(&wasm).unwrap_err();
    assert!(matches!(err, RuntimeError::MemoryLimit { .. }), "{err}");
}

#[test]
fn deep_recursion_is_stopped() {
    let err = run(&MemState::default(), "recurse", &[]).unwrap_err();
    // Either wasmi's call-depth limit or the guest's shadow stack running off its memory.
    assert!(matches!(err, RuntimeError::StackOverflow | RuntimeError::Trap(_)), "{err}");

    let wasm = module_with("", "(call 1 (i32.const 0) (i32.const 0))");
    let err = run_module(&wasm).unwrap_err();
    assert!(matches!(err, RuntimeError::StackOverflow), "{err}");
}

#[test]
fn out_of_bounds_pointers_trap() {
    let imports = r#"(import "teechain" "state_get" (func $get (param i32 i32) (result i32)))
        (import "teechain" "state_put" (func $put (param i32 i32 i32 i32)))
        (import "teechain" "result_read" (func $read (param i32)))"#;
    for body in [
        "(drop (call $get (i32.const 0xFFFFFF00) (i32.const 1000))) (i64.const 0)",
        "(drop (call $get (i32.const 65530) (i32.const 100))) (i64.const 0)",
        "(call $put (i32.const 0) (i32.const 1) (i32.const -1) (i32.const 2)) (i64.const 0)",
    ] {
        let err = run_module(&module_with(imports, body)).unwrap_err();
        assert!(matches!(&err, RuntimeError::Trap(m) if m.contains("outside linear memory")), "{body}: {err}");
    }
    // A result copied to the end of memory.
    let body = "(call $put (i32.const 0) (i32.const 1) (i32.const 0) (i32.const 100))
        (drop (call $get (i32.const 0) (i32.const 1)))
        (call $read (i32.const 65500)) (i64.const 0)";
    let err = run_module(&module_with(imports, body)).unwrap_err();
    assert!(matches!(&err, RuntimeError::Trap(m) if m.contains("outside linear memory")), "{err}");
    // A response outside memory.
    let err = run_module(&module_with("", "(i64.const 0x0000FFFF00000010)")).unwrap_err();
    assert!(matches!(err, RuntimeError::Abi(_)), "{err}");
    // A length beyond the key limit fails before memory is touched.
    let err = run_module(&module_with(imports, "(drop (call $get (i32.const 0) (i32.const -1))) (i64.const 0)"));
    assert!(matches!(err, Err(RuntimeError::TooLarge { what: "key", .. })), "{err:?}");
}

#[test]
fn abi_misuse_is_reported() {
    let imports = r#"(import "teechain" "result_read" (func $read (param i32)))"#;
    let err = run_module(&module_with(imports, "(call $read (i32.const 0)) (i64.const 0)")).unwrap_err();
    assert!(matches!(&err, RuntimeError::Abi(m) if m.contains("result_read")), "{err}");
    // An empty response is not a ChaincodeResponse.
    let err = run_module(&module_with("", "(i64.const 0)")).unwrap_err();
    assert!(matches!(&err, RuntimeError::Abi(m) if m.contains("malformed response")), "{err}");
}

#[test]
fn host_call_limit_applies() {
    let rt = Runtime::new(ExecutionLimits { max_host_calls: 5, ..Default::default() });
    let code = rt.compile(teechain_contracts::TESTBED).unwrap();
    let args: Vec<&[u8]> = std::iter::repeat_n([&b"get"[..], b"k"], 10).flatten().collect();
    let err = rt.execute(&code, NS, &MemState::default(), &ctx("org1"), &inv("ops", &args)).unwrap_err();
    assert!(matches!(err, RuntimeError::HostCallLimit { limit: 5 }), "{err}");
}

#[test]
fn oversized_keys_values_and_results_are_refused() {
    let state = MemState::default();
    let big_key = vec![b'k'; abi::MAX_KEY_BYTES + 1];
    let err = run(&state, "put", &[&big_key, b"v"]).unwrap_err();
    assert!(matches!(err, RuntimeError::TooLarge { what: "key", .. }), "{err}");
    let big_value = vec![0u8; abi::MAX_VALUE_BYTES + 1];
    let err = run(&state, "put", &[b"k", &big_value]).unwrap_err();
    assert!(matches!(err, RuntimeError::TooLarge { what: "value", .. }), "{err}");
    let err = run(&state, "big", &[b"2000000"]).unwrap_err();
    assert!(matches!(err, RuntimeError::TooLarge { what: "chaincode response", .. }), "{err}");
    run_ok(&state, "big", &[b"1000"]);
}

#[test]
fn write_set_budget_applies() {
    let value = vec![7u8; abi::MAX_VALUE_BYTES];
    let mut args: Vec<Vec<u8>> = Vec::new();
    // Three values of 1 MiB and their keys exceed 3 MiB (and fit in one invocation).
    for i in 0..3u8 {
        args.extend([b"put".to_vec(), vec![i], value.clone()]);
    }
    let args: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
    let err = run(&MemState::default(), "ops", &args).unwrap_err();
    assert!(matches!(err, RuntimeError::TooLarge { what: "write set", .. }), "{err}");
}

#[test]
fn guest_panic_carries_its_message() {
    let err = run(&MemState::default(), "panic", &[b"the sky is falling"]).unwrap_err();
    assert!(matches!(&err, RuntimeError::GuestPanic(m) if m.contains("the sky is falling")), "{err}");
}

#[test]
fn state_errors_propagate() {
    let err = runtime().execute(testbed(), NS, &BrokenState, &ctx("org1"), &inv("get", &[b"k"])).unwrap_err();
    assert!(matches!(&err, RuntimeError::State(e) if e.0 == "disk on fire"), "{err}");
}

// ---- the simulator ------------------------------------------------------------------

#[test]
fn put_then_get_across_invocations() {
    let mut state = MemState::default();
    let sim = run_ok(&state, "put", &[b"k", b"v"]);
    assert!(sim.rwset.reads.is_empty());
    assert_eq!(sim.rwset.namespace, NS);
    assert_eq!(sim.rwset.writes, vec![KvWrite { key: b"k".to_vec(), value: Some(b"v".to_vec()) }]);
    state.apply(&sim.rwset, Hash32::ZERO);

    let sim = run_ok(&state, "get", &[b"k"]);
    let got: Option<Vec<u8>> = decode(&sim.response.payload, Limits::RECORD).unwrap();
    assert_eq!(got.as_deref(), Some(&b"v"[..]));
    assert_eq!(
        sim.rwset.reads,
        vec![KvRead { key: b"k".to_vec(), version: Some(v(1, 0)), value_hash: Some(sha256(b"v")) }]
    );
    assert!(sim.rwset.writes.is_empty());
}

#[test]
fn absent_reads_are_recorded_without_version() {
    let sim = run_ok(&MemState::default(), "get", &[b"nothing"]);
    let got: Option<Vec<u8>> = decode(&sim.response.payload, Limits::RECORD).unwrap();
    assert_eq!(got, None);
    assert_eq!(sim.rwset.reads, vec![KvRead { key: b"nothing".to_vec(), version: None, value_hash: None }]);
}

fn ops(state: &MemState, args: &[&[u8]]) -> (Simulation, Vec<Vec<u8>>) {
    let sim = run_ok(state, "ops", args);
    let out: Vec<Vec<u8>> = decode(&sim.response.payload, Limits::RECORD).unwrap();
    (sim, out)
}

fn opt(bytes: &[u8]) -> Option<Vec<u8>> {
    decode(bytes, Limits::RECORD).unwrap()
}

#[test]
fn reads_see_own_writes_without_recording_them() {
    let mut state = MemState::default();
    state.put(NS, b"old", b"committed", v(3, 1));
    let (sim, out) = ops(
        &state,
        &[b"put", b"new", b"pending", b"get", b"new", b"get", b"old", b"put", b"old", b"changed", b"get", b"old"],
    );
    assert_eq!(opt(&out[1]).as_deref(), Some(&b"pending"[..]));
    assert_eq!(opt(&out[2]).as_deref(), Some(&b"committed"[..]));
    assert_eq!(opt(&out[4]).as_deref(), Some(&b"changed"[..]));
    // Only the committed key was read, once, with its version.
    assert_eq!(
        sim.rwset.reads,
        vec![KvRead { key: b"old".to_vec(), version: Some(v(3, 1)), value_hash: Some(sha256(b"committed")) }]
    );
    assert_eq!(
        sim.rwset.writes,
        vec![
            KvWrite { key: b"new".to_vec(), value: Some(b"pending".to_vec()) },
            KvWrite { key: b"old".to_vec(), value: Some(b"changed".to_vec()) },
        ]
    );
}

#[test]
fn deletes_are_writes_without_value() {
    let mut state = MemState::default();
    state.put(NS, b"k", b"v", v(1, 0));
    let (sim, out) = ops(&state, &[b"del", b"k", b"get", b"k"]);
    assert_eq!(opt(&out[1]), None);
    assert!(sim.rwset.reads.is_empty());
    assert_eq!(sim.rwset.writes, vec![KvWrite { key: b"k".to_vec(), value: None }]);
    state.apply(&sim.rwset, Hash32::ZERO);
    assert_eq!(state.get(NS, b"k").unwrap(), None);
}

#[test]
fn reads_and_writes_are_sorted_by_key() {
    let (sim, _) = ops(
        &MemState::default(),
        &[b"put", b"z", b"1", b"get", b"y", b"put", b"a", b"2", b"get", b"b", b"put", b"m", b"3", b"get", b"c"],
    );
    let reads: Vec<&[u8]> = sim.rwset.reads.iter().map(|r| r.key.as_slice()).collect();
    let writes: Vec<&[u8]> = sim.rwset.writes.iter().map(|w| w.key.as_slice()).collect();
    assert_eq!(reads, [&b"b"[..], b"c", b"y"]);
    assert_eq!(writes, [&b"a"[..], b"m", b"z"]);
}

#[test]
fn range_merges_pending_writes_and_digests_committed_versions() {
    let mut state = MemState::default();
    state.put(NS, b"a1", b"v1", v(1, 0));
    state.put(NS, b"a2", b"v2", v(1, 1));
    state.put(NS, b"a3", b"v3", v(2, 0));
    state.put(NS, b"b1", b"out", v(2, 1));
    state.put("other", b"a15", b"elsewhere", v(2, 2));
    let (sim, out) = ops(&state, &[b"put", b"a25", b"new", b"del", b"a2", b"put", b"c", b"x", b"range", b"a", b"b"]);
    let results: Vec<(Vec<u8>, Vec<u8>)> = decode(&out[3], Limits::RECORD).unwrap();
    let expected: Vec<(Vec<u8>, Vec<u8>)> =
        vec![(b"a1".to_vec(), b"v1".to_vec()), (b"a25".to_vec(), b"new".to_vec()), (b"a3".to_vec(), b"v3".to_vec())];
    assert_eq!(results, expected);
    assert_eq!(sim.rwset.range_reads.len(), 1);
    let rr = &sim.rwset.range_reads[0];
    assert_eq!((rr.start.as_slice(), rr.end.as_slice()), (&b"a"[..], &b"b"[..]));
    let vv = |value: &[u8], version| VersionedValue { value: value.to_vec(), version };
    let (a1, a2, a3, b1) = (vv(b"v1", v(1, 0)), vv(b"v2", v(1, 1)), vv(b"v3", v(2, 0)), vv(b"out", v(2, 1)));
    assert_eq!(rr.results_digest, range_digest([(&b"a1"[..], &a1), (b"a2", &a2), (b"a3", &a3)]));
    // The digest binds values too: the same keys and versions with another value differ.
    assert_ne!(rr.results_digest, range_digest([(&b"a1"[..], &a1), (b"a2", &vv(b"v0", v(1, 1))), (b"a3", &a3)]));
    assert!(sim.rwset.reads.is_empty());

    // Unbounded end.
    let sim = run_ok(&state, "range", &[b"a3", b""]);
    let results: Vec<(Vec<u8>, Vec<u8>)> = decode(&sim.response.payload, Limits::RECORD).unwrap();
    assert_eq!(results.len(), 2);
    assert_eq!(sim.rwset.range_reads[0].results_digest, range_digest([(&b"a3"[..], &a3), (b"b1", &b1)]));
}

#[test]
fn range_beyond_the_result_limit_fails() {
    let mut state = MemState::default();
    for i in 0..=MAX_RANGE_RESULTS as u32 {
        state.put(NS, format!("k{i:06}").as_bytes(), b"v", v(1, 0));
    }
    let err = run(&state, "range", &[b"k", b"l"]).unwrap_err();
    assert!(matches!(err, RuntimeError::TooLarge { len, .. } if len == MAX_RANGE_RESULTS + 1), "{err}");
    run_ok(&state, "range", &[b"k", b"k000100"]);
}

#[test]
fn history_is_recorded_for_validation() {
    let mut state = MemState::default();
    for (i, val) in [&b"one"[..], b"two"].into_iter().enumerate() {
        let sim = run_ok(&state, "put", &[b"k", val]);
        state.apply(&sim.rwset, sha256(&[i as u8]));
    }
    let sim = run_ok(&state, "del", &[b"k"]);
    state.apply(&sim.rwset, sha256(b"d"));

    let sim = run_ok(&state, "history", &[b"k"]);
    let entries: Vec<HistoryEntry> = decode(&sim.response.payload, Limits::RECORD).unwrap();
    let values: Vec<Option<&[u8]>> = entries.iter().map(|e| e.value.as_deref()).collect();
    assert_eq!(values, [Some(&b"one"[..]), Some(b"two"), None]);
    assert_eq!(entries[0].tx_id, sha256(&[0]));
    // The query and a digest of its answer, for validators to run again.
    let recorded = vec![HistoryRead { key: b"k".to_vec(), digest: history_digest(&entries) }];
    assert_eq!(sim.rwset, ReadWriteSet { namespace: NS.into(), history_reads: recorded, ..Default::default() });
}

#[test]
fn context_calls() {
    let state = MemState::default();
    let c = ctx("org2");
    let exec = |f: &str, args: &[&[u8]]| runtime().execute(testbed(), NS, &state, &c, &inv(f, args)).unwrap();
    assert_eq!(exec("caller", &[]).response.payload, b"org2");
    let caller: Caller = decode(&exec("caller_full", &[]).response.payload, Limits::RECORD).unwrap();
    assert_eq!(caller, c.caller);
    assert_eq!(exec("tx_id", &[]).response.payload, c.tx_id.0.to_vec());
    assert_eq!(exec("timestamp", &[]).response.payload, b"1700000000000");
    assert_eq!(exec("transient", &[b"secret"]).response.payload, b"s3cr3t");
    let missing = exec("transient", &[b"nope"]);
    assert_eq!(
        (missing.response.status, missing.response.message.as_str()),
        (STATUS_REFUSED, "no transient input nope")
    );
}

#[test]
fn events_are_returned_in_order() {
    let sim = run_ok(&MemState::default(), "event", &[b"paid", b"{\"amount\":5}"]);
    assert_eq!(sim.events, vec![ChaincodeEvent { name: "paid".into(), payload: b"{\"amount\":5}".to_vec() }]);
}

#[test]
fn refusal_is_status_400_and_writes_nothing() {
    let sim = run(&MemState::default(), "refuse", &[b"not today"]).unwrap();
    assert_eq!(sim.response.status, STATUS_REFUSED);
    assert_eq!(sim.response.message, "not today");
    assert!(sim.rwset.writes.is_empty());
    let sim = run(&MemState::default(), "nonexistent", &[]).unwrap();
    assert_eq!(sim.response.message, "unknown function nonexistent");
}

#[test]
fn executions_are_deterministic() {
    let mut state = MemState::default();
    state.put(NS, b"a1", b"v1", v(1, 0));
    state.put(NS, b"b", b"w", v(1, 1));
    let args: &[&[u8]] = &[b"get", b"b", b"put", b"a2", b"x", b"range", b"a", b"b", b"del", b"b", b"get", b"zz"];
    let first = run_ok(&state, "ops", args);
    for _ in 0..3 {
        let again = run_ok(&state, "ops", args);
        assert_eq!(encode(&again.rwset), encode(&first.rwset));
        assert_eq!(again.response, first.response);
        assert_eq!(again.fuel_consumed, first.fuel_consumed);
    }
    // A second runtime (another endorser) agrees too.
    let other = Runtime::default();
    let code = other.compile(teechain_contracts::TESTBED).unwrap();
    let sim = other.execute(&code, NS, &state, &ctx("org1"), &inv("ops", args)).unwrap();
    assert_eq!(encode(&sim.rwset), encode(&first.rwset));
    assert_eq!(sim.fuel_consumed, first.fuel_consumed);
}

#[test]
fn executions_run_concurrently() {
    let state = MemState::default();
    std::thread::scope(|s| {
        for t in 0..4u8 {
            let state = &state;
            s.spawn(move || {
                for _ in 0..20 {
                    let sim = run_ok(state, "put", &[&[t], b"v"]);
                    assert_eq!(sim.rwset.writes.len(), 1);
                }
            });
        }
    });
}

#[test]
fn bulk_bytes_cost_little_fuel() {
    // The SDK moves byte strings in bulk: a 1 MB argument and a 1 MB result each cost
    // well under one unit of fuel per byte.
    let value = vec![1u8; 1_000_000];
    let put = run_ok(&MemState::default(), "put", &[b"k", &value]);
    let big = run_ok(&MemState::default(), "big", &[b"1000000"]);
    assert!(put.fuel_consumed < 500_000, "put of 1 MB: {} fuel", put.fuel_consumed);
    assert!(big.fuel_consumed < 500_000, "1 MB result: {} fuel", big.fuel_consumed);
}
