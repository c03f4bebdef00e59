//! TEEChain's chaincode runtime: runs WebAssembly chaincode on the `wasmi` interpreter
//! (enclaves cannot JIT) with fuel metering, a memory cap and stack limits, and records
//! what an invocation read and wrote as a [`ReadWriteSet`].
//!
//! ```ignore
//! let runtime = Runtime::new(ExecutionLimits::default());
//! let code = runtime.compile(wasm_bytes)?;             // once per chaincode version
//! let sim = runtime.execute(&code, "payment", &state, &ctx, &invocation)?;
//! // sim.response, sim.rwset, sim.private_writes, sim.events, sim.fuel_consumed
//! ```
//!
//! Every [`Runtime::execute`] instantiates the module afresh in a fresh store, so no
//! state survives between invocations, and two endorsers given the same inputs produce
//! byte-identical read-write sets.
//!
//! # Determinism
//!
//! The engine runs wasmi's `deterministic` profile (the Wasm 3.0 deterministic profile:
//! NaN results are canonical), compiles modules eagerly (so fuel never depends on lazy
//! translation) and, on top of that, rejects floating-point instructions at compile time:
//! chaincode has no business with floats and the contracts build without them. Fuel is
//! charged per instruction by wasmi and per host call (see below), so it is the same on
//! every machine. Nothing a chaincode can observe depends on the host: time is the
//! proposal's timestamp, and there is no randomness.
//!
//! # The chaincode ABI (version 1)
//!
//! Names and codes are shared with the SDK in [`teechain_types::chaincode::abi`].
//! Pointers and lengths are `i32` values read as `u32` offsets into the guest's memory.
//!
//! ## Exports the module must have
//!
//! | export | type | purpose |
//! |---|---|---|
//! | `memory` | memory (32-bit) | the guest's linear memory |
//! | `tc_alloc` | `(len: i32) -> i32` | returns a pointer to `len` writable bytes (0: failed) |
//! | `tc_invoke` | `(ptr: i32, len: i32) -> i64` | runs the invocation encoded at `ptr..ptr+len`; returns `(resp_ptr << 32) \| resp_len` of the encoded response |
//!
//! The host encodes the [`Invocation`] with `teechain_types::codec::encode`, calls
//! `tc_alloc`, copies it in, calls `tc_invoke` and decodes a [`ChaincodeResponse`] of at
//! most [`ExecutionLimits::max_result_bytes`] from the returned span. A module may not
//! have a start function and may import nothing but the functions below.
//!
//! ## Imports (module `teechain`)
//!
//! | import | type | does |
//! |---|---|---|
//! | `result_len` | `() -> i32` | length of the staged result, or -1 |
//! | `result_read` | `(ptr)` | copies the staged result to `ptr` and clears it |
//! | `state_get` | `(key, key_len) -> i32` | stages the value; -1 if absent |
//! | `state_put` | `(key, key_len, value, value_len)` | buffers a write |
//! | `state_del` | `(key, key_len)` | buffers a delete |
//! | `state_range` | `(start, start_len, end, end_len) -> i32` | stages encoded `Vec<(key, value)>` of `[start, end)` (empty end: unbounded) |
//! | `state_history` | `(key, key_len) -> i32` | stages encoded `Vec<HistoryEntry>`, oldest first |
//! | `caller` | `() -> i32` | stages the encoded [`Caller`](teechain_types::chaincode::Caller) |
//! | `tx_id` | `() -> i32` | stages the 32-byte transaction id |
//! | `timestamp_ms` | `() -> i64` | the proposal's timestamp (bits of a `u64`) |
//! | `transient_get` | `(name, name_len) -> i32` | stages a transient input; -1 if absent |
//! | `set_event` | `(name, name_len, payload, payload_len)` | emits an event (UTF-8 name) |
//! | `panic` | `(msg, msg_len)` | ends the execution with [`RuntimeError::GuestPanic`] |
//! | `private_get` | `(coll, coll_len, key, key_len) -> i32` | stages the private value; -1 if absent |
//! | `private_put` | `(coll, coll_len, key, key_len, value, value_len) -> i32` | buffers a private write; 0 |
//! | `private_del` | `(coll, coll_len, key, key_len) -> i32` | buffers a private delete; 0 |
//! | `private_purge` | `(coll, coll_len, key, key_len) -> i32` | buffers a private delete that also purges the key's history from member nodes; 0 |
//! | `private_hash` | `(coll, coll_len, key, key_len) -> i32` | stages the 32-byte on-ledger hash of the private value; -1 if absent |
//! | `private_opening` | `(coll, coll_len, key, key_len) -> i32` | stages the opening of that hash: the 32-byte blinding factor, then the value; -1 if absent |
//! | `private_range` | `(coll, coll_len, start, start_len, end, end_len) -> i32` | stages encoded `Vec<(key, value)>` of `[start, end)` of the collection |
//!
//! **Result register.** A call that yields bytes stages them in the host and returns
//! their length `n >= 0`; the guest allocates `n` bytes and calls `result_read(ptr)`.
//! `-1` ([`ABSENT`]) means no value. `-2` ([`HOST_ERROR`]) means the call failed in a way
//! the guest may handle, with a UTF-8 message staged (read its length with `result_len`);
//! only the private-data calls return it, for refusals such as "not a member". The
//! private writes return 0 when the write is buffered.
//!
//! **Private data.** The `private_*` calls name a collection (UTF-8) of the executing
//! chaincode and follow `docs/PRIVATE_DATA.md`. The collection as this node sees it
//! comes from [`StateView::collection`], the client's organisation from the
//! [`InvocationContext`]:
//!
//! | call | unknown collection | client not member, `memberOnlyRead` | client not member, `memberOnlyWrite` | node not member |
//! |---|---|---|---|---|
//! | `private_get`, `private_range`, `private_opening` | refused | refused | – | refused ("holds only hashes") |
//! | `private_put`, `private_del`, `private_purge` | refused | – | refused | allowed (blind write) |
//! | `private_hash` | refused | allowed | – | allowed |
//!
//! A refusal returns [`HOST_ERROR`] with the reason staged, never a value. A write also
//! needs the proposal's blinding secret: the transient entry
//! [`BLINDING_TRANSIENT_KEY`](teechain_types::collection::BLINDING_TRANSIENT_KEY) of at
//! least [`MIN_BLINDING_SECRET`](teechain_types::collection::MIN_BLINDING_SECRET) bytes,
//! else it is refused too. A write of `value` to `key` records a
//! [`HashedWrite`](teechain_types::rwset::HashedWrite) whose `value_hash` is
//! `private_value_hash(blind, value)` with
//! `blind = blinding_factor(secret, tx_id, namespace, collection, key)`, and keeps the
//! value and `blind` in [`Simulation::private_writes`]; deletes and purges carry no value
//! and a zero `blind`. The first read of a key (`private_get`, `private_opening`,
//! `private_hash`) records a [`HashedRead`](teechain_types::rwset::HashedRead) with the
//! version of the on-ledger hash, and the value a node returns must open that hash. Reads
//! after a write in the same invocation see the pending write and record nothing;
//! `private_range` merges pending writes and records a hashed read of every committed key
//! it returns (no phantom check). A failing state read (private data not yet received,
//! ...) ends the execution with [`RuntimeError::State`].
//!
//! **Limits.** Keys, collection names and other names are at most [`MAX_KEY_BYTES`],
//! values (private ones too) and event payloads at most [`MAX_VALUE_BYTES`], the write
//! set (public and private writes, each private write counting
//! [`PRIVATE_WRITE_OVERHEAD`] bytes more) and events together at most
//! [`MAX_WRITE_SET_BYTES`], a range query at most [`MAX_RANGE_RESULTS`] committed keys,
//! a staged result at most [`MAX_STAGED_BYTES`], at most [`MAX_EVENTS`] events and
//! [`ExecutionLimits::max_host_calls`] host calls. Every host call costs
//! [`HOST_CALL_FUEL`] plus one unit per [`HOST_BYTES_PER_FUEL`] bytes it moves. Every
//! guest pointer is bounds-checked; a bad one ends the execution with
//! [`RuntimeError::Trap`]. No guest input can make the host panic.
//!
//! # Protecting the host
//!
//! wasmi runs with its loop dispatch (`portable-dispatch`): the default tail-call
//! dispatch depends on LLVM optimising sibling calls, and where it does not (our dev and
//! test profile, or `call` operators without `codegen-units = 1`) a chaincode's loop
//! overflows the native stack and aborts the whole process. The interpreter's own value
//! and call stacks are bounded (1,000 nested calls), so deep recursion ends with
//! [`RuntimeError::StackOverflow`].
//!
//! [`ABSENT`]: teechain_types::chaincode::abi::ABSENT
//! [`HOST_ERROR`]: teechain_types::chaincode::abi::HOST_ERROR
//! [`MAX_KEY_BYTES`]: teechain_types::chaincode::abi::MAX_KEY_BYTES
//! [`MAX_VALUE_BYTES`]: teechain_types::chaincode::abi::MAX_VALUE_BYTES

use std::fmt;
use std::sync::Arc;

use teechain_types::chaincode::abi::{EXPORT_ALLOC, EXPORT_INVOKE, EXPORT_MEMORY, IMPORT_MODULE};
use teechain_types::chaincode::{
    ChaincodeEvent, ChaincodeResponse, Invocation, InvocationContext, STATUS_ERROR, STATUS_OK, STATUS_REFUSED,
};
use teechain_types::codec::{decode, encode, Limits};
use teechain_types::collection::CollectionPrivateWrites;
use teechain_types::hash::{sha256, Hash32};
use teechain_types::state::{StateError, StateView};
use teechain_types::ReadWriteSet;
use wasmi::{CompilationMode, Config, EnforcedLimits, Engine, ExternType, Instance, Module, Store, TrapCode, ValType};

mod host;
mod simulator;

#[cfg(test)]
mod tests;

use host::{HostFn, HostState};
pub use host::{HOST_BYTES_PER_FUEL, HOST_CALL_FUEL, MAX_EVENTS, MAX_STAGED_BYTES};
pub use simulator::{KvPairs, TxSimulator, MAX_HISTORY_ENTRIES, MAX_WRITE_SET_BYTES, PRIVATE_WRITE_OVERHEAD};
pub use teechain_types::rwset::MAX_RANGE_RESULTS;

/// The largest WebAssembly module accepted.
pub const MAX_MODULE_BYTES: usize = 8 << 20;

/// Bounds on one execution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExecutionLimits {
    /// Fuel for one execution (instantiation included); roughly one unit per
    /// instruction, plus the host calls' charges.
    pub fuel: u64,
    /// The most bytes of linear memory the guest may have.
    pub max_memory_bytes: usize,
    /// The most bytes of the encoded response.
    pub max_result_bytes: usize,
    /// The most host calls one execution may make.
    pub max_host_calls: u32,
}

impl Default for ExecutionLimits {
    fn default() -> Self {
        ExecutionLimits {
            fuel: 50_000_000,
            max_memory_bytes: 64 << 20,
            max_result_bytes: 1 << 20,
            max_host_calls: 100_000,
        }
    }
}

/// Why a chaincode could not be compiled or executed.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The module is not valid WebAssembly, uses a forbidden feature (floats, a start
    /// function), or does not follow the ABI's imports and exports.
    #[error("invalid chaincode module: {0}")]
    InvalidModule(String),
    /// The execution used up its fuel (an endless or too long computation).
    #[error("chaincode ran out of fuel (limit {limit})")]
    OutOfFuel {
        /// The fuel limit.
        limit: u64,
    },
    /// The guest tried to grow its memory beyond the cap.
    #[error("chaincode exceeded the memory limit of {limit_bytes} bytes")]
    MemoryLimit {
        /// The cap in bytes.
        limit_bytes: usize,
    },
    /// The guest exceeded the call-stack limit (too deep recursion).
    #[error("chaincode exceeded the call stack limit")]
    StackOverflow,
    /// The guest trapped (unreachable, out-of-bounds access, division by zero, ...) or
    /// passed a buffer outside its memory to a host call.
    #[error("chaincode trapped: {0}")]
    Trap(String),
    /// The guest panicked; the panic message.
    #[error("chaincode panicked: {0}")]
    GuestPanic(String),
    /// Reading committed state failed.
    #[error(transparent)]
    State(#[from] StateError),
    /// The guest broke the calling convention (a malformed response, a result read
    /// without a staged result, a non-UTF-8 name, ...).
    #[error("chaincode broke the host ABI: {0}")]
    Abi(String),
    /// A key, value, result, write set or similar exceeded its bound.
    #[error("{what} of {len} exceeds the limit of {limit}")]
    TooLarge {
        /// What was too large (and its unit, when not bytes).
        what: &'static str,
        /// Its size.
        len: usize,
        /// The bound.
        limit: usize,
    },
    /// The guest made more host calls than allowed.
    #[error("chaincode made more than {limit} host calls")]
    HostCallLimit {
        /// The bound.
        limit: u32,
    },
}

/// The result of simulating one invocation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Simulation {
    /// What the chaincode returned.
    pub response: ChaincodeResponse,
    /// What it read and wrote, private data as hashes in [`ReadWriteSet::private`]. When
    /// the response is not OK the writes, public and hashed private, are dropped (reads
    /// are kept): a refused or failed invocation changes nothing.
    pub rwset: ReadWriteSet,
    /// The private writes behind the hashed writes of `rwset.private`, with their values
    /// and blinding factors: one entry per collection written (namespace: the
    /// chaincode's), sorted by collection, the writes sorted by key hash. Empty when the
    /// response is not OK. Only member nodes may receive them.
    pub private_writes: Vec<CollectionPrivateWrites>,
    /// Events emitted, in order (none when the response is not OK).
    pub events: Vec<ChaincodeEvent>,
    /// Fuel used, instantiation included.
    pub fuel_consumed: u64,
}

/// A validated and compiled chaincode module, ready to execute any number of times.
/// Cheap to clone (shared).
#[derive(Clone)]
pub struct CompiledChaincode {
    module: Module,
    imports: Arc<[HostFn]>,
    code_hash: Hash32,
}

impl CompiledChaincode {
    /// SHA-256 of the WebAssembly bytes (the chaincode package hash).
    pub fn code_hash(&self) -> Hash32 {
        self.code_hash
    }
}

impl fmt::Debug for CompiledChaincode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CompiledChaincode").field("code_hash", &self.code_hash).finish_non_exhaustive()
    }
}

/// The chaincode engine: compiles modules and executes invocations. One per process is
/// enough; it is `Send + Sync` and executions may run concurrently.
pub struct Runtime {
    engine: Engine,
    limits: ExecutionLimits,
}

impl fmt::Debug for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Runtime").field("limits", &self.limits).finish_non_exhaustive()
    }
}

impl Default for Runtime {
    fn default() -> Self {
        Runtime::new(ExecutionLimits::default())
    }
}

const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Runtime>();
    assert_send_sync::<CompiledChaincode>();
};

impl Runtime {
    /// A runtime whose executions obey `limits`.
    pub fn new(limits: ExecutionLimits) -> Self {
        let mut config = Config::default();
        config
            .consume_fuel(true)
            .floats(false)
            .wasm_memory64(false)
            .wasm_multi_memory(false)
            .wasm_custom_page_sizes(false)
            .wasm_wide_arithmetic(false)
            .allow_start_fn(false)
            .compilation_mode(CompilationMode::Eager)
            .enforced_limits(EnforcedLimits::strict())
            .set_max_recursion_depth(1_000)
            .set_max_stack_height(1_000_000);
        Runtime { engine: Engine::new(&config), limits }
    }

    /// The limits every execution obeys.
    pub fn limits(&self) -> &ExecutionLimits {
        &self.limits
    }

    /// Validates and compiles a WebAssembly binary, and checks it against the ABI
    /// (imports and exports). Compile once per chaincode version.
    pub fn compile(&self, wasm: &[u8]) -> Result<CompiledChaincode, RuntimeError> {
        let invalid = |m: String| RuntimeError::InvalidModule(m);
        if wasm.len() > MAX_MODULE_BYTES {
            return Err(invalid(format!("{} bytes exceeds the limit of {MAX_MODULE_BYTES}", wasm.len())));
        }
        if !wasm.starts_with(b"\0asm") {
            return Err(invalid("not a WebAssembly binary".into()));
        }
        let module = Module::new(&self.engine, wasm).map_err(|e| invalid(e.to_string()))?;

        let mut imports = Vec::new();
        for import in module.imports() {
            let what = format!("{}.{}", import.module(), import.name());
            if import.module() != IMPORT_MODULE {
                return Err(invalid(format!("imports {what}; chaincode may import only from `{IMPORT_MODULE}`")));
            }
            let f = HostFn::by_name(import.name())
                .ok_or_else(|| invalid(format!("imports unknown host function {what}")))?;
            let ExternType::Func(ty) = import.ty() else {
                return Err(invalid(format!("imports {what} as something other than a function")));
            };
            let (params, results) = f.signature();
            if ty.params() != params || ty.results() != results {
                return Err(invalid(format!(
                    "imports {what} as {:?} -> {:?}, the host defines {params:?} -> {results:?}",
                    ty.params(),
                    ty.results()
                )));
            }
            imports.push(f);
        }

        match module.get_export(EXPORT_MEMORY) {
            Some(ExternType::Memory(mem)) => {
                let initial = mem.minimum().saturating_mul(1 << 16);
                if initial > self.limits.max_memory_bytes as u64 {
                    return Err(invalid(format!(
                        "initial memory of {initial} bytes exceeds the limit of {} bytes",
                        self.limits.max_memory_bytes
                    )));
                }
            }
            _ => return Err(invalid(format!("does not export its memory as `{EXPORT_MEMORY}`"))),
        }
        check_func_export(&module, EXPORT_ALLOC, &[ValType::I32], &[ValType::I32])?;
        check_func_export(&module, EXPORT_INVOKE, &[ValType::I32, ValType::I32], &[ValType::I64])?;

        Ok(CompiledChaincode { module, imports: imports.into(), code_hash: sha256(wasm) })
    }

    /// Runs `invocation` of chaincode `code` whose state namespace is `namespace`,
    /// against committed `state`, and returns the response with the recorded
    /// read-write set. A refusal or a chaincode-reported error is an `Ok` with a
    /// non-200 response; running out of fuel, memory or stack, trapping, panicking or
    /// breaking the ABI is an `Err`.
    pub fn execute(
        &self,
        code: &CompiledChaincode,
        namespace: &str,
        state: &dyn StateView,
        ctx: &InvocationContext,
        invocation: &Invocation,
    ) -> Result<Simulation, RuntimeError> {
        let limits = &self.limits;
        let sim = simulator::TxSimulator::new(namespace, state);
        let mut store = Store::new(&self.engine, HostState::new(sim, ctx, limits));
        store.limiter(host::limiter_of);
        store.set_fuel(limits.fuel).map_err(|e| RuntimeError::Trap(format!("fuel metering is off: {e}")))?;

        let externs: Vec<_> = code.imports.iter().map(|f| f.wrap(&mut store)).collect();
        let instance =
            Instance::new(&mut store, &code.module, &externs).map_err(|e| classify(e, &mut store, limits))?;
        let memory = instance
            .get_memory(&store, EXPORT_MEMORY)
            .ok_or_else(|| RuntimeError::InvalidModule(format!("no memory export `{EXPORT_MEMORY}`")))?;
        store.data_mut().memory = Some(memory);
        let alloc = typed_func::<i32, i32>(&instance, &store, EXPORT_ALLOC)?;
        let invoke = typed_func::<(i32, i32), i64>(&instance, &store, EXPORT_INVOKE)?;

        // Hand the invocation to the guest.
        let input = encode(invocation);
        let len = i32::try_from(input.len()).map_err(|_| RuntimeError::TooLarge {
            what: "invocation",
            len: input.len(),
            limit: i32::MAX as usize,
        })?;
        let ptr = alloc.call(&mut store, len).map_err(|e| classify(e, &mut store, limits))?;
        if ptr == 0 && len > 0 {
            return Err(RuntimeError::Abi(format!("{EXPORT_ALLOC} could not allocate {len} bytes")));
        }
        memory
            .write(&mut store, ptr as u32 as usize, &input)
            .map_err(|_| RuntimeError::Abi(format!("{EXPORT_ALLOC} returned a buffer outside memory ({ptr:#x})")))?;

        let packed = invoke.call(&mut store, (ptr, len)).map_err(|e| classify(e, &mut store, limits))?;
        let packed = packed as u64;
        let (resp_ptr, resp_len) = ((packed >> 32) as usize, (packed & 0xffff_ffff) as usize);
        if resp_len > limits.max_result_bytes {
            return Err(RuntimeError::TooLarge {
                what: "chaincode response",
                len: resp_len,
                limit: limits.max_result_bytes,
            });
        }
        let mut out = vec![0u8; resp_len];
        memory.read(&store, resp_ptr, &mut out).map_err(|_| {
            RuntimeError::Abi(format!("{EXPORT_INVOKE} returned a response outside memory ({resp_ptr:#x}+{resp_len})"))
        })?;
        let response: ChaincodeResponse = decode(&out, Limits { max_bytes: limits.max_result_bytes })
            .map_err(|e| RuntimeError::Abi(format!("malformed response: {e}")))?;
        if ![STATUS_OK, STATUS_REFUSED, STATUS_ERROR].contains(&response.status) {
            return Err(RuntimeError::Abi(format!("unknown response status {}", response.status)));
        }

        let fuel_left = store.get_fuel().unwrap_or(0);
        let host = store.into_data();
        let (mut rwset, mut private_writes) = host.sim.into_parts();
        let mut events = host.events;
        if !response.is_ok() {
            rwset.writes.clear();
            rwset.key_epochs.clear();
            for coll in &mut rwset.private {
                coll.writes.clear();
            }
            rwset.private.retain(|coll| !coll.reads.is_empty());
            private_writes.clear();
            events.clear();
        }
        Ok(Simulation { response, rwset, private_writes, events, fuel_consumed: limits.fuel.saturating_sub(fuel_left) })
    }
}

fn check_func_export(module: &Module, name: &str, params: &[ValType], results: &[ValType]) -> Result<(), RuntimeError> {
    match module.get_export(name) {
        Some(ExternType::Func(ty)) if ty.params() == params && ty.results() == results => Ok(()),
        Some(ExternType::Func(ty)) => Err(RuntimeError::InvalidModule(format!(
            "exports `{name}` as {:?} -> {:?}, the ABI needs {params:?} -> {results:?}",
            ty.params(),
            ty.results()
        ))),
        _ => Err(RuntimeError::InvalidModule(format!("does not export the function `{name}`"))),
    }
}

fn typed_func<P: wasmi::WasmParams, R: wasmi::WasmResults>(
    instance: &Instance,
    store: &Store<HostState<'_>>,
    name: &str,
) -> Result<wasmi::TypedFunc<P, R>, RuntimeError> {
    instance
        .get_typed_func::<P, R>(store, name)
        .map_err(|e| RuntimeError::InvalidModule(format!("export `{name}`: {e}")))
}

/// Turns a wasmi error into the most precise [`RuntimeError`].
fn classify(err: wasmi::Error, store: &mut Store<HostState<'_>>, limits: &ExecutionLimits) -> RuntimeError {
    let host = store.data_mut();
    if let Some(e) = host.abort.take() {
        return e;
    }
    match err.as_trap_code() {
        Some(TrapCode::OutOfFuel) => RuntimeError::OutOfFuel { limit: limits.fuel },
        _ if host.limiter.denied => RuntimeError::MemoryLimit { limit_bytes: limits.max_memory_bytes },
        Some(TrapCode::StackOverflow) => RuntimeError::StackOverflow,
        Some(code) => RuntimeError::Trap(code.trap_message().to_string()),
        None => RuntimeError::Trap(err.to_string()),
    }
}
