//! The host functions a chaincode imports (module `teechain`) and the per-execution
//! host state behind them. The calling convention is described in the crate docs.

use teechain_types::chaincode::abi::{ABSENT, HOST_ERROR, MAX_KEY_BYTES, MAX_VALUE_BYTES};
use teechain_types::chaincode::{ChaincodeEvent, InvocationContext};
use teechain_types::codec::{encode, Limits};
use wasmi::errors::{MemoryError, TableError};
use wasmi::{Caller, Extern, Func, Memory, ResourceLimiter, Store, ValType};

use crate::simulator::{PrivateError, TxSimulator, MAX_WRITE_SET_BYTES};
use crate::{ExecutionLimits, RuntimeError};

/// Fuel charged for every host call, on top of the bytes it moves.
pub const HOST_CALL_FUEL: u64 = 1_000;
/// Bytes moved across the boundary (either way) per unit of fuel.
pub const HOST_BYTES_PER_FUEL: u64 = 16;
/// The most events one invocation may emit.
pub const MAX_EVENTS: usize = 64;
/// The most bytes the host stages for the guest in one result (the SDK decodes results
/// with `Limits::RECORD`).
pub const MAX_STAGED_BYTES: usize = Limits::RECORD.max_bytes;
/// The longest panic message kept from a guest.
const MAX_PANIC_MESSAGE_BYTES: usize = 4 << 10;

/// Everything one execution's host functions use; the data of its `Store`.
pub(crate) struct HostState<'a> {
    pub(crate) sim: TxSimulator<'a>,
    ctx: &'a InvocationContext,
    pub(crate) limiter: MemoryLimiter,
    /// The guest's exported memory, set right after instantiation.
    pub(crate) memory: Option<Memory>,
    /// The result register: bytes staged for the guest's `result_read`.
    register: Option<Vec<u8>>,
    pub(crate) events: Vec<ChaincodeEvent>,
    event_bytes: usize,
    host_calls: u32,
    max_host_calls: u32,
    fuel_limit: u64,
    /// Why a host function ended the execution, if one did.
    pub(crate) abort: Option<RuntimeError>,
    /// Values sealed so far: numbers the nonces, so every endorser seals identically.
    sealed: u64,
}

impl<'a> HostState<'a> {
    pub(crate) fn new(sim: TxSimulator<'a>, ctx: &'a InvocationContext, limits: &ExecutionLimits) -> Self {
        HostState {
            sim,
            ctx,
            limiter: MemoryLimiter { max_memory_bytes: limits.max_memory_bytes, denied: false },
            memory: None,
            register: None,
            events: Vec::new(),
            event_bytes: 0,
            host_calls: 0,
            max_host_calls: limits.max_host_calls,
            fuel_limit: limits.fuel,
            abort: None,
            sealed: 0,
        }
    }
}

/// Caps linear memory and tables, and remembers whether it refused a growth so that a
/// failure that follows can be reported as [`RuntimeError::MemoryLimit`].
pub(crate) struct MemoryLimiter {
    max_memory_bytes: usize,
    pub(crate) denied: bool,
}

/// The most table elements (function references) a chaincode may have.
const MAX_TABLE_ELEMENTS: usize = 100_000;

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> Result<bool, wasmi_core::LimiterError> {
        // A refused growth makes `memory.grow` return -1, as the spec says; Rust's
        // allocator then aborts, which traps.
        let allow = desired <= self.max_memory_bytes && maximum.is_none_or(|m| desired <= m);
        if !allow {
            self.denied = true;
        }
        Ok(allow)
    }

    fn memory_grow_failed(&mut self, _error: &MemoryError) -> Result<(), wasmi_core::LimiterError> {
        self.denied = true;
        Ok(())
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> Result<bool, wasmi_core::LimiterError> {
        Ok(desired <= MAX_TABLE_ELEMENTS && maximum.is_none_or(|m| desired <= m))
    }

    fn table_grow_failed(&mut self, _error: &TableError) -> Result<(), wasmi_core::LimiterError> {
        Ok(())
    }

    fn instances(&self) -> usize {
        1
    }

    fn tables(&self) -> usize {
        4
    }

    fn memories(&self) -> usize {
        1
    }
}

/// The limiter of a store's host state (a function, not a closure, so that it is
/// `'static` whatever the state's lifetime).
pub(crate) fn limiter_of<'r>(state: &'r mut HostState<'_>) -> &'r mut dyn ResourceLimiter {
    &mut state.limiter
}

type Ctx<'c, 'a> = Caller<'c, HostState<'a>>;
type HostResult<T> = Result<T, wasmi::Error>;

/// Runs a host function body; a [`RuntimeError`] is parked in the host state and the
/// guest is trapped, so the execution ends with exactly that error.
fn guard<'c, 'a, R>(
    caller: &mut Ctx<'c, 'a>,
    body: impl FnOnce(&mut Ctx<'c, 'a>) -> Result<R, RuntimeError>,
) -> HostResult<R> {
    body(caller).map_err(|e| {
        caller.data_mut().abort = Some(e);
        wasmi::Error::new("the host ended the chaincode execution")
    })
}

/// Counts a host call and charges its base fuel.
fn enter(c: &mut Ctx<'_, '_>) -> Result<(), RuntimeError> {
    let state = c.data_mut();
    state.host_calls = state.host_calls.saturating_add(1);
    if state.host_calls > state.max_host_calls {
        return Err(RuntimeError::HostCallLimit { limit: state.max_host_calls });
    }
    charge(c, HOST_CALL_FUEL)
}

/// Takes `amount` fuel from the store, failing with [`RuntimeError::OutOfFuel`].
fn charge(c: &mut Ctx<'_, '_>, amount: u64) -> Result<(), RuntimeError> {
    let fuel = c.get_fuel().map_err(|e| RuntimeError::Trap(format!("fuel metering is off: {e}")))?;
    if fuel < amount {
        // Drain what is left so that the consumed total equals the limit.
        let _ = c.set_fuel(0);
        return Err(RuntimeError::OutOfFuel { limit: c.data().fuel_limit });
    }
    c.set_fuel(fuel - amount).map_err(|e| RuntimeError::Trap(format!("fuel metering is off: {e}")))
}

fn charge_bytes(c: &mut Ctx<'_, '_>, bytes: usize) -> Result<(), RuntimeError> {
    charge(c, bytes as u64 / HOST_BYTES_PER_FUEL)
}

fn memory(c: &Ctx<'_, '_>) -> Result<Memory, RuntimeError> {
    c.data().memory.ok_or_else(|| RuntimeError::Abi("host call before the memory was set up".into()))
}

/// The guest range `ptr..ptr+len`, checked against the memory size.
fn guest_range(ptr: i32, len: usize, mem_size: usize, what: &str) -> Result<std::ops::Range<usize>, RuntimeError> {
    let start = ptr as u32 as usize;
    match start.checked_add(len) {
        Some(end) if end <= mem_size => Ok(start..end),
        _ => Err(RuntimeError::Trap(format!(
            "{what}: guest buffer at {start:#x} of {len} bytes lies outside linear memory of {mem_size} bytes"
        ))),
    }
}

/// Copies `len` bytes at `ptr` out of guest memory, refusing more than `limit`.
fn read_guest(
    c: &mut Ctx<'_, '_>,
    ptr: i32,
    len: i32,
    limit: usize,
    what: &'static str,
) -> Result<Vec<u8>, RuntimeError> {
    let len = len as u32 as usize;
    if len > limit {
        return Err(RuntimeError::TooLarge { what, len, limit });
    }
    let mem = memory(c)?;
    let data = mem.data(&*c);
    let range = guest_range(ptr, len, data.len(), what)?;
    let bytes = data[range].to_vec();
    charge_bytes(c, len)?;
    Ok(bytes)
}

/// Stages `bytes` in the result register and returns their length.
fn stage(c: &mut Ctx<'_, '_>, bytes: Vec<u8>) -> Result<i32, RuntimeError> {
    if bytes.len() > MAX_STAGED_BYTES {
        return Err(RuntimeError::TooLarge { what: "host call result", len: bytes.len(), limit: MAX_STAGED_BYTES });
    }
    let len = bytes.len();
    charge_bytes(c, len)?;
    c.data_mut().register = Some(bytes);
    // MAX_STAGED_BYTES < i32::MAX.
    Ok(len as i32)
}

fn utf8(bytes: Vec<u8>, what: &str) -> Result<String, RuntimeError> {
    String::from_utf8(bytes).map_err(|_| RuntimeError::Abi(format!("{what} is not UTF-8")))
}

// ---- the host functions -------------------------------------------------------------

fn result_len(mut caller: Ctx<'_, '_>) -> HostResult<i32> {
    guard(&mut caller, |c| {
        enter(c)?;
        Ok(c.data().register.as_ref().map_or(ABSENT, |r| r.len() as i32))
    })
}

fn result_read(mut caller: Ctx<'_, '_>, ptr: i32) -> HostResult<()> {
    guard(&mut caller, |c| {
        enter(c)?;
        let bytes = c
            .data_mut()
            .register
            .take()
            .ok_or_else(|| RuntimeError::Abi("result_read without a staged result".into()))?;
        let mem = memory(c)?;
        let data = mem.data_mut(&mut *c);
        let range = guest_range(ptr, bytes.len(), data.len(), "result_read")?;
        data[range].copy_from_slice(&bytes);
        Ok(())
    })
}

fn state_get(mut caller: Ctx<'_, '_>, key_ptr: i32, key_len: i32) -> HostResult<i32> {
    guard(&mut caller, |c| {
        enter(c)?;
        let key = read_guest(c, key_ptr, key_len, MAX_KEY_BYTES, "key")?;
        match c.data_mut().sim.get(&key)? {
            Some(value) => stage(c, value),
            None => Ok(ABSENT),
        }
    })
}

fn state_put(mut caller: Ctx<'_, '_>, key_ptr: i32, key_len: i32, value_ptr: i32, value_len: i32) -> HostResult<()> {
    guard(&mut caller, |c| {
        enter(c)?;
        let key = read_guest(c, key_ptr, key_len, MAX_KEY_BYTES, "key")?;
        let value = read_guest(c, value_ptr, value_len, MAX_VALUE_BYTES, "value")?;
        let state = c.data_mut();
        state.sim.put(&key, Some(&value), state.event_bytes)
    })
}

fn state_del(mut caller: Ctx<'_, '_>, key_ptr: i32, key_len: i32) -> HostResult<()> {
    guard(&mut caller, |c| {
        enter(c)?;
        let key = read_guest(c, key_ptr, key_len, MAX_KEY_BYTES, "key")?;
        let state = c.data_mut();
        state.sim.put(&key, None, state.event_bytes)
    })
}

fn state_range(mut caller: Ctx<'_, '_>, start_ptr: i32, start_len: i32, end_ptr: i32, end_len: i32) -> HostResult<i32> {
    guard(&mut caller, |c| {
        enter(c)?;
        let start = read_guest(c, start_ptr, start_len, MAX_KEY_BYTES, "range start")?;
        let end = read_guest(c, end_ptr, end_len, MAX_KEY_BYTES, "range end")?;
        let results = c.data_mut().sim.range(&start, &end)?;
        let bytes = encode(&results);
        stage(c, bytes)
    })
}

fn state_history(mut caller: Ctx<'_, '_>, key_ptr: i32, key_len: i32) -> HostResult<i32> {
    guard(&mut caller, |c| {
        enter(c)?;
        let key = read_guest(c, key_ptr, key_len, MAX_KEY_BYTES, "key")?;
        let entries = c.data_mut().sim.history(&key)?;
        let bytes = encode(&entries);
        stage(c, bytes)
    })
}

fn caller_identity(mut caller: Ctx<'_, '_>) -> HostResult<i32> {
    guard(&mut caller, |c| {
        enter(c)?;
        let bytes = encode(&c.data().ctx.caller);
        stage(c, bytes)
    })
}

fn tx_id(mut caller: Ctx<'_, '_>) -> HostResult<i32> {
    guard(&mut caller, |c| {
        enter(c)?;
        let bytes = c.data().ctx.tx_id.0.to_vec();
        stage(c, bytes)
    })
}

fn timestamp_ms(mut caller: Ctx<'_, '_>) -> HostResult<i64> {
    guard(&mut caller, |c| {
        enter(c)?;
        // The guest reinterprets the bits as u64.
        Ok(c.data().ctx.timestamp_ms as i64)
    })
}

fn transient_get(mut caller: Ctx<'_, '_>, name_ptr: i32, name_len: i32) -> HostResult<i32> {
    guard(&mut caller, |c| {
        enter(c)?;
        let name = read_guest(c, name_ptr, name_len, MAX_KEY_BYTES, "transient name")?;
        let value = c.data().ctx.transient.iter().find(|(n, _)| n.as_bytes() == name).map(|(_, v)| v.clone());
        match value {
            Some(v) => stage(c, v),
            None => Ok(ABSENT),
        }
    })
}

/// Domain of the additional data of sealed state.
const SEALED_STATE_AAD: &[u8] = b"teechain/sealed-state/v2";

/// The additional data of a value sealed under `epoch` for `key` of chaincode `namespace`
/// on `channel`: a ciphertext copied to another key, chaincode or channel does not open.
fn sealed_state_aad(channel: &str, namespace: &str, key: &[u8], epoch: u32) -> Vec<u8> {
    encode(&(SEALED_STATE_AAD, channel, namespace, key, epoch))
}

/// A refusal the guest sees as [`HOST_ERROR`] with `message`.
fn refuse_call(c: &mut Ctx<'_, '_>, message: String) -> Result<i32, RuntimeError> {
    stage(c, message.into_bytes())?;
    Ok(HOST_ERROR)
}

/// Seals a value for `key` with the chaincode's state key:
/// `epoch (u32 BE) ‖ nonce ‖ AES-256-GCM(padded value)`, the value padded to its size
/// bucket. The nonce comes from the nonce key (not the encryption key), the transaction
/// id, a counter, the key and the value, so endorsers agree.
fn state_seal(mut caller: Ctx<'_, '_>, key_ptr: i32, key_len: i32, ptr: i32, len: i32) -> HostResult<i32> {
    guard(&mut caller, |c| {
        enter(c)?;
        let key = read_guest(c, key_ptr, key_len, MAX_KEY_BYTES, "key of the sealed value")?;
        let plain = read_guest(c, ptr, len, MAX_VALUE_BYTES, "value to seal")?;
        let state = c.data_mut();
        let Some(k) = state.ctx.sealing.as_ref().and_then(|s| s.current()).cloned() else {
            return refuse_call(c, "this chaincode has no key to seal state with (yet)".into());
        };
        let n = state.sealed;
        state.sealed += 1;
        // The plaintext is part of the nonce's derivation: a host that replays a proposal
        // against other state gets other values sealed, and they must not share a nonce.
        let nonce = teechain_crypto::DataKey::from_bytes(k.nonce_key).derive_nonce(&[
            b"state",
            &state.ctx.tx_id.0,
            &n.to_be_bytes(),
            &key,
            &plain,
        ]);
        let aad = sealed_state_aad(&state.ctx.channel, state.sim.namespace(), &key, k.epoch);
        let scope = teechain_types::keys::KeyScope::Chaincode { namespace: state.sim.namespace().to_string() };
        state.sim.sealed_under(scope, k.epoch, k.public_key);
        let padded = zeroize::Zeroizing::new(teechain_crypto::padding::pad(&plain));
        let ct = teechain_crypto::DataKey::from_bytes(k.key).seal(&nonce, &aad, &padded);
        let mut out = Vec::with_capacity(4 + 12 + ct.len());
        out.extend_from_slice(&k.epoch.to_be_bytes());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        stage(c, out)
    })
}

/// Opens a value [`state_seal`] made for `key`.
fn state_open(mut caller: Ctx<'_, '_>, key_ptr: i32, key_len: i32, ptr: i32, len: i32) -> HostResult<i32> {
    guard(&mut caller, |c| {
        enter(c)?;
        let key = read_guest(c, key_ptr, key_len, MAX_KEY_BYTES, "key of the sealed value")?;
        let sealed = read_guest(c, ptr, len, MAX_VALUE_BYTES, "sealed value")?;
        let state = c.data();
        let Some(sealing) = state.ctx.sealing.clone() else {
            return refuse_call(c, "this chaincode has no key to open sealed state with (yet)".into());
        };
        let Some((epoch, rest)) = sealed.split_first_chunk::<4>() else {
            return refuse_call(c, "not a sealed value".into());
        };
        let Some((nonce, ct)) = rest.split_first_chunk::<12>() else {
            return refuse_call(c, "not a sealed value".into());
        };
        let epoch = u32::from_be_bytes(*epoch);
        let Some(k) = sealing.epoch(epoch).cloned() else {
            return refuse_call(c, format!("the value is sealed under key epoch {epoch}, which this enclave lacks"));
        };
        let aad = sealed_state_aad(&state.ctx.channel, state.sim.namespace(), &key, epoch);
        let opened =
            teechain_crypto::DataKey::from_bytes(k.key).open(nonce, &aad, ct).ok().map(zeroize::Zeroizing::new);
        match opened.as_deref().map(|p| teechain_crypto::padding::unpad(p)) {
            Some(Ok(plain)) => {
                let plain = plain.to_vec();
                stage(c, plain)
            }
            _ => refuse_call(
                c,
                "the sealed value does not open: altered, moved from another key, or sealed by another chaincode"
                    .into(),
            ),
        }
    })
}

fn set_event(
    mut caller: Ctx<'_, '_>,
    name_ptr: i32,
    name_len: i32,
    payload_ptr: i32,
    payload_len: i32,
) -> HostResult<()> {
    guard(&mut caller, |c| {
        enter(c)?;
        let name = read_guest(c, name_ptr, name_len, MAX_KEY_BYTES, "event name")?;
        let name = utf8(name, "event name")?;
        let payload = read_guest(c, payload_ptr, payload_len, MAX_VALUE_BYTES, "event payload")?;
        let state = c.data_mut();
        if state.events.len() >= MAX_EVENTS {
            return Err(RuntimeError::TooLarge { what: "events (count)", len: MAX_EVENTS + 1, limit: MAX_EVENTS });
        }
        let event_bytes = state.event_bytes + name.len() + payload.len();
        let total = state.sim.write_bytes() + event_bytes;
        if total > MAX_WRITE_SET_BYTES {
            return Err(RuntimeError::TooLarge { what: "write set", len: total, limit: MAX_WRITE_SET_BYTES });
        }
        state.event_bytes = event_bytes;
        state.events.push(ChaincodeEvent { name, payload });
        Ok(())
    })
}

fn guest_panic(mut caller: Ctx<'_, '_>, msg_ptr: i32, msg_len: i32) -> HostResult<()> {
    guard(&mut caller, |c| {
        let len = (msg_len as u32).min(MAX_PANIC_MESSAGE_BYTES as u32) as i32;
        let message = read_guest(c, msg_ptr, len, MAX_PANIC_MESSAGE_BYTES, "panic message")?;
        Err(RuntimeError::GuestPanic(String::from_utf8_lossy(&message).into_owned()))
    })
}

/// Reads a collection name (UTF-8, at most [`MAX_KEY_BYTES`]) out of guest memory.
fn read_collection(c: &mut Ctx<'_, '_>, ptr: i32, len: i32) -> Result<String, RuntimeError> {
    let name = read_guest(c, ptr, len, MAX_KEY_BYTES, "collection name")?;
    utf8(name, "collection name")
}

/// Hands the outcome of a private-data call that yields bytes to the guest: staged bytes,
/// [`ABSENT`], or [`HOST_ERROR`] with the refusal staged; a fatal error ends the execution.
fn private_outcome(c: &mut Ctx<'_, '_>, outcome: Result<Option<Vec<u8>>, PrivateError>) -> Result<i32, RuntimeError> {
    match outcome {
        Ok(Some(bytes)) => stage(c, bytes),
        Ok(None) => Ok(ABSENT),
        Err(PrivateError::Refused(message)) => {
            stage(c, message.into_bytes())?;
            Ok(HOST_ERROR)
        }
        Err(PrivateError::Fatal(e)) => Err(e),
    }
}

/// Like [`private_outcome`] for a private write: 0 when it was buffered.
fn private_write_outcome(c: &mut Ctx<'_, '_>, outcome: Result<(), PrivateError>) -> Result<i32, RuntimeError> {
    match outcome {
        Ok(()) => Ok(0),
        Err(e) => private_outcome(c, Err(e)),
    }
}

fn private_get(mut caller: Ctx<'_, '_>, coll_ptr: i32, coll_len: i32, key_ptr: i32, key_len: i32) -> HostResult<i32> {
    guard(&mut caller, |c| {
        enter(c)?;
        let coll = read_collection(c, coll_ptr, coll_len)?;
        let key = read_guest(c, key_ptr, key_len, MAX_KEY_BYTES, "key")?;
        let state = c.data_mut();
        let outcome = state.sim.private_get(state.ctx, &coll, &key);
        private_outcome(c, outcome)
    })
}

fn private_opening(
    mut caller: Ctx<'_, '_>,
    coll_ptr: i32,
    coll_len: i32,
    key_ptr: i32,
    key_len: i32,
) -> HostResult<i32> {
    guard(&mut caller, |c| {
        enter(c)?;
        let coll = read_collection(c, coll_ptr, coll_len)?;
        let key = read_guest(c, key_ptr, key_len, MAX_KEY_BYTES, "key")?;
        let state = c.data_mut();
        // Staged as the 32-byte blinding factor followed by the value.
        let outcome = state.sim.private_opening(state.ctx, &coll, &key).map(|opening| {
            opening.map(|(value, blind)| {
                let mut bytes = Vec::with_capacity(32 + value.len());
                bytes.extend_from_slice(&blind.0);
                bytes.extend_from_slice(&value);
                bytes
            })
        });
        private_outcome(c, outcome)
    })
}

fn private_put(
    mut caller: Ctx<'_, '_>,
    coll_ptr: i32,
    coll_len: i32,
    key_ptr: i32,
    key_len: i32,
    value_ptr: i32,
    value_len: i32,
) -> HostResult<i32> {
    guard(&mut caller, |c| {
        enter(c)?;
        let coll = read_collection(c, coll_ptr, coll_len)?;
        let key = read_guest(c, key_ptr, key_len, MAX_KEY_BYTES, "key")?;
        let value = read_guest(c, value_ptr, value_len, MAX_VALUE_BYTES, "value")?;
        let state = c.data_mut();
        let outcome = state.sim.private_write(state.ctx, &coll, &key, Some(&value), false, state.event_bytes);
        private_write_outcome(c, outcome)
    })
}

/// A private delete (`purge`: also removing the key's history from member nodes).
fn private_remove(
    caller: &mut Ctx<'_, '_>,
    coll_ptr: i32,
    coll_len: i32,
    key_ptr: i32,
    key_len: i32,
    purge: bool,
) -> HostResult<i32> {
    guard(caller, |c| {
        enter(c)?;
        let coll = read_collection(c, coll_ptr, coll_len)?;
        let key = read_guest(c, key_ptr, key_len, MAX_KEY_BYTES, "key")?;
        let state = c.data_mut();
        let outcome = state.sim.private_write(state.ctx, &coll, &key, None, purge, state.event_bytes);
        private_write_outcome(c, outcome)
    })
}

fn private_del(mut caller: Ctx<'_, '_>, coll_ptr: i32, coll_len: i32, key_ptr: i32, key_len: i32) -> HostResult<i32> {
    private_remove(&mut caller, coll_ptr, coll_len, key_ptr, key_len, false)
}

fn private_purge(mut caller: Ctx<'_, '_>, coll_ptr: i32, coll_len: i32, key_ptr: i32, key_len: i32) -> HostResult<i32> {
    private_remove(&mut caller, coll_ptr, coll_len, key_ptr, key_len, true)
}

fn private_hash(mut caller: Ctx<'_, '_>, coll_ptr: i32, coll_len: i32, key_ptr: i32, key_len: i32) -> HostResult<i32> {
    guard(&mut caller, |c| {
        enter(c)?;
        let coll = read_collection(c, coll_ptr, coll_len)?;
        let key = read_guest(c, key_ptr, key_len, MAX_KEY_BYTES, "key")?;
        let state = c.data_mut();
        let outcome = state.sim.private_hash(state.ctx, &coll, &key).map(|h| h.map(|h| h.0.to_vec()));
        private_outcome(c, outcome)
    })
}

fn private_range(
    mut caller: Ctx<'_, '_>,
    coll_ptr: i32,
    coll_len: i32,
    start_ptr: i32,
    start_len: i32,
    end_ptr: i32,
    end_len: i32,
) -> HostResult<i32> {
    guard(&mut caller, |c| {
        enter(c)?;
        let coll = read_collection(c, coll_ptr, coll_len)?;
        let start = read_guest(c, start_ptr, start_len, MAX_KEY_BYTES, "range start")?;
        let end = read_guest(c, end_ptr, end_len, MAX_KEY_BYTES, "range end")?;
        let state = c.data_mut();
        let outcome = state.sim.private_range(state.ctx, &coll, &start, &end).map(|rows| Some(encode(&rows)));
        private_outcome(c, outcome)
    })
}

// ---- the import table ---------------------------------------------------------------

/// One host function of the `teechain` import module.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HostFn {
    ResultLen,
    ResultRead,
    StateGet,
    StatePut,
    StateDel,
    StateRange,
    StateHistory,
    Caller,
    TxId,
    TimestampMs,
    TransientGet,
    SetEvent,
    Panic,
    PrivateGet,
    PrivatePut,
    PrivateDel,
    PrivateHash,
    PrivateRange,
    PrivatePurge,
    PrivateOpening,
    StateSeal,
    StateOpen,
}

const I32: ValType = ValType::I32;
const I64: ValType = ValType::I64;

impl HostFn {
    pub(crate) const ALL: [HostFn; 22] = [
        HostFn::ResultLen,
        HostFn::ResultRead,
        HostFn::StateGet,
        HostFn::StatePut,
        HostFn::StateDel,
        HostFn::StateRange,
        HostFn::StateHistory,
        HostFn::Caller,
        HostFn::TxId,
        HostFn::TimestampMs,
        HostFn::TransientGet,
        HostFn::SetEvent,
        HostFn::Panic,
        HostFn::PrivateGet,
        HostFn::PrivatePut,
        HostFn::PrivateDel,
        HostFn::PrivateHash,
        HostFn::PrivateRange,
        HostFn::PrivatePurge,
        HostFn::PrivateOpening,
        HostFn::StateSeal,
        HostFn::StateOpen,
    ];

    /// The import name.
    pub(crate) fn name(self) -> &'static str {
        match self {
            HostFn::ResultLen => "result_len",
            HostFn::ResultRead => "result_read",
            HostFn::StateGet => "state_get",
            HostFn::StatePut => "state_put",
            HostFn::StateDel => "state_del",
            HostFn::StateRange => "state_range",
            HostFn::StateHistory => "state_history",
            HostFn::Caller => "caller",
            HostFn::TxId => "tx_id",
            HostFn::TimestampMs => "timestamp_ms",
            HostFn::TransientGet => "transient_get",
            HostFn::SetEvent => "set_event",
            HostFn::Panic => "panic",
            HostFn::PrivateGet => "private_get",
            HostFn::PrivatePut => "private_put",
            HostFn::PrivateDel => "private_del",
            HostFn::PrivateHash => "private_hash",
            HostFn::PrivateRange => "private_range",
            HostFn::PrivatePurge => "private_purge",
            HostFn::PrivateOpening => "private_opening",
            HostFn::StateSeal => "state_seal",
            HostFn::StateOpen => "state_open",
        }
    }

    pub(crate) fn by_name(name: &str) -> Option<HostFn> {
        HostFn::ALL.into_iter().find(|f| f.name() == name)
    }

    /// Parameter and result types.
    pub(crate) fn signature(self) -> (&'static [ValType], &'static [ValType]) {
        match self {
            HostFn::ResultLen | HostFn::Caller | HostFn::TxId => (&[], &[I32]),
            HostFn::ResultRead => (&[I32], &[]),
            HostFn::StateGet | HostFn::StateHistory | HostFn::TransientGet => (&[I32, I32], &[I32]),
            HostFn::StatePut | HostFn::SetEvent => (&[I32, I32, I32, I32], &[]),
            HostFn::StateDel | HostFn::Panic => (&[I32, I32], &[]),
            HostFn::StateRange
            | HostFn::PrivateGet
            | HostFn::PrivateDel
            | HostFn::PrivateHash
            | HostFn::PrivatePurge
            | HostFn::PrivateOpening
            | HostFn::StateSeal
            | HostFn::StateOpen => (&[I32, I32, I32, I32], &[I32]),
            HostFn::TimestampMs => (&[], &[I64]),
            HostFn::PrivatePut | HostFn::PrivateRange => (&[I32, I32, I32, I32, I32, I32], &[I32]),
        }
    }

    /// The function, created in `store`.
    pub(crate) fn wrap(self, store: &mut Store<HostState<'_>>) -> Extern {
        let f = match self {
            HostFn::ResultLen => Func::wrap(&mut *store, result_len),
            HostFn::ResultRead => Func::wrap(&mut *store, result_read),
            HostFn::StateGet => Func::wrap(&mut *store, state_get),
            HostFn::StatePut => Func::wrap(&mut *store, state_put),
            HostFn::StateDel => Func::wrap(&mut *store, state_del),
            HostFn::StateRange => Func::wrap(&mut *store, state_range),
            HostFn::StateHistory => Func::wrap(&mut *store, state_history),
            HostFn::Caller => Func::wrap(&mut *store, caller_identity),
            HostFn::TxId => Func::wrap(&mut *store, tx_id),
            HostFn::TimestampMs => Func::wrap(&mut *store, timestamp_ms),
            HostFn::TransientGet => Func::wrap(&mut *store, transient_get),
            HostFn::SetEvent => Func::wrap(&mut *store, set_event),
            HostFn::Panic => Func::wrap(&mut *store, guest_panic),
            HostFn::PrivateGet => Func::wrap(&mut *store, private_get),
            HostFn::PrivatePut => Func::wrap(&mut *store, private_put),
            HostFn::PrivateDel => Func::wrap(&mut *store, private_del),
            HostFn::PrivateHash => Func::wrap(&mut *store, private_hash),
            HostFn::PrivateRange => Func::wrap(&mut *store, private_range),
            HostFn::PrivatePurge => Func::wrap(&mut *store, private_purge),
            HostFn::PrivateOpening => Func::wrap(&mut *store, private_opening),
            HostFn::StateSeal => Func::wrap(&mut *store, state_seal),
            HostFn::StateOpen => Func::wrap(&mut *store, state_open),
        };
        Extern::Func(f)
    }
}
