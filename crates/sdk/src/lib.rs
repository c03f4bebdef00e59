//! The chaincode-side shim of TEEChain: what a chaincode written in Rust links against.
//!
//! A chaincode is a `cdylib` built for `wasm32-unknown-unknown`. It names one handler
//! with [`chaincode!`]; the handler gets a [`Stub`] (state, identity, transient data,
//! events, private data) and the [`Invocation`], and returns a payload or a [`Refusal`]:
//!
//! ```ignore
//! use teechain_sdk::{arg_str, refuse, Invocation, Refusal, Stub};
//!
//! teechain_sdk::chaincode!(handle);
//!
//! fn handle(stub: &mut Stub, inv: Invocation) -> Result<Vec<u8>, Refusal> {
//!     match inv.function.as_str() {
//!         "get" => Ok(stub.get_state(arg_str(&inv, 0, "key")?.as_bytes()).unwrap_or_default()),
//!         other => refuse!("unknown function {other}"),
//!     }
//! }
//! ```
//!
//! A [`Refusal`] becomes a response with status 400 and its message; a panic ends the
//! execution with the panic message as a runtime error (no state change is endorsed).
//!
//! Every invocation gets a fresh linear memory whose initial pages the runtime zeroes, so
//! build contracts with a small stack (`contracts/.cargo/config.toml` sets 64 KiB with
//! `-C link-arg=-zstack-size=65536`; Rust's default is 1 MiB).
//!
//! The host functions exist only when the crate is built for `wasm32`. On other targets
//! the crate still compiles (the main workspace builds and lints it), but every [`Stub`]
//! method panics with a message saying so.
//!
//! The calling convention is documented in the `teechain-chaincode-runtime` crate; the
//! shared names and codes are in [`teechain_types::chaincode::abi`].
//!
//! # Private data
//!
//! The private-data methods ([`Stub::get_private`], [`Stub::put_private`],
//! [`Stub::del_private`], [`Stub::purge_private`], [`Stub::get_private_hash`],
//! [`Stub::get_private_opening`], [`Stub::get_private_range`]) work on the chaincode's
//! private data collections: the declared ones and every channel organisation's implicit
//! `_implicit_org_<org>`. They return [`SdkError::Host`] with the host's reason when the
//! host refuses: an unknown collection, a client of a non-member organisation reading a
//! `memberOnlyRead` collection or writing a `memberOnlyWrite` one, a read of values on a
//! node whose organisation is not a member (it holds only hashes; the hash is readable
//! everywhere), or a write without the proposal's blinding secret (the client SDK puts
//! one in every proposal's transient map). Chaincode typically turns the error into a
//! [`Refusal`] with `?`. Reads after a write in the same invocation see the pending
//! write. The ledger holds only hashes of private keys and of blinded values;
//! [`Stub::get_private_opening`] returns the value with its blinding factor, which
//! together prove the value to anyone holding the ledger (see
//! `teechain_types::collection::private_value_hash`).

#![warn(missing_docs, unreachable_pub)]

use std::cell::RefCell;

pub use teechain_types;
pub use teechain_types::chaincode::{Caller, HistoryEntry, Invocation};
pub use teechain_types::hash::{Hash32, TxId};
pub use teechain_types::identity::Role;

use teechain_types::chaincode::{abi, STATUS_ERROR, STATUS_OK, STATUS_REFUSED};
use teechain_types::codec::{decode, Limits};

mod wire;

/// A chaincode's refusal of a request: becomes status 400 with this message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal(pub String);

impl Refusal {
    /// A refusal with a message.
    pub fn new(message: impl Into<String>) -> Self {
        Refusal(message.into())
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<SdkError> for Refusal {
    fn from(e: SdkError) -> Self {
        Refusal(e.to_string())
    }
}

/// Returns `Err(Refusal(format!(...)))` from the enclosing function.
#[macro_export]
macro_rules! refuse {
    ($($arg:tt)*) => {
        return ::core::result::Result::Err($crate::Refusal(::std::format!($($arg)*)))
    };
}

/// Why a fallible host call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SdkError {
    /// The host refused the call and said why.
    #[error("{0}")]
    Host(String),
    /// The host returned bytes that do not decode as the expected type.
    #[error("host returned undecodable {what}: {reason}")]
    Decode {
        /// What was expected.
        what: &'static str,
        /// The decoder's complaint.
        reason: String,
    },
    /// The host returned a status code the SDK does not know.
    #[error("host returned unknown status {0}")]
    UnknownStatus(i32),
}

/// Key-value pairs in key order, as range queries return them.
pub type KvPairs = Vec<(Vec<u8>, Vec<u8>)>;

/// The signature of a chaincode's handler (see [`chaincode!`]).
pub type Handler = fn(&mut Stub, Invocation) -> Result<Vec<u8>, Refusal>;

/// Exports the ABI entry points (`tc_alloc`, `tc_invoke`) for a handler of type
/// [`Handler`]. Use it once, at the root of the chaincode crate.
#[macro_export]
macro_rules! chaincode {
    ($handler:path) => {
        /// ABI export: a buffer of `len` bytes for the host to write the invocation into.
        #[doc(hidden)]
        #[unsafe(no_mangle)]
        pub extern "C" fn tc_alloc(len: i32) -> i32 {
            $crate::__private::alloc(len)
        }

        /// ABI export: runs the invocation at `ptr..ptr+len`, returns the response.
        #[doc(hidden)]
        #[unsafe(no_mangle)]
        pub extern "C" fn tc_invoke(ptr: i32, len: i32) -> i64 {
            $crate::__private::invoke(ptr, len, $handler)
        }
    };
}

/// `s` as a JSON string literal, for contracts that build small JSON by hand (serde_json
/// would bring floating-point code the runtime rejects).
pub fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The `index`-th argument as UTF-8 text, refusing with a message that names it
/// (`name`) when it is missing or not UTF-8.
pub fn arg_str<'a>(inv: &'a Invocation, index: usize, name: &str) -> Result<&'a str, Refusal> {
    let bytes = inv
        .args
        .get(index)
        .ok_or_else(|| Refusal(format!("{}: missing argument {} ({name})", inv.function, index + 1)))?;
    std::str::from_utf8(bytes)
        .map_err(|_| Refusal(format!("{}: argument {} ({name}) is not UTF-8 text", inv.function, index + 1)))
}

/// Refuses unless the invocation has exactly `names.len()` arguments, naming them.
pub fn expect_args(inv: &Invocation, names: &[&str]) -> Result<(), Refusal> {
    if inv.args.len() == names.len() {
        Ok(())
    } else {
        Err(Refusal(format!(
            "{} takes {} argument(s) ({}), got {}",
            inv.function,
            names.len(),
            names.join(", "),
            inv.args.len()
        )))
    }
}

/// The chaincode's view of its invocation: state of its namespace, the caller, the
/// transaction and its transient data. Reads and writes are recorded by the host into
/// the transaction's read-write set; a read after a write in the same invocation sees
/// the written value.
#[derive(Debug)]
pub struct Stub {
    _private: (),
}

impl Stub {
    fn new() -> Self {
        Stub { _private: () }
    }

    /// The value of `key`, if any.
    pub fn get_state(&mut self, key: &[u8]) -> Option<Vec<u8>> {
        // SAFETY: the pointer and length describe a live slice.
        let code = unsafe { sys::state_get(key.as_ptr(), key.len()) };
        optional_bytes(code)
    }

    /// Writes `value` under `key`.
    pub fn put_state(&mut self, key: &[u8], value: &[u8]) {
        // SAFETY: the pointers and lengths describe live slices.
        unsafe { sys::state_put(key.as_ptr(), key.len(), value.as_ptr(), value.len()) }
    }

    /// Deletes `key`.
    pub fn del_state(&mut self, key: &[u8]) {
        // SAFETY: the pointer and length describe a live slice.
        unsafe { sys::state_del(key.as_ptr(), key.len()) }
    }

    /// Keys in `[start, end)` (an empty `end` is unbounded) with their values, in key
    /// order, including this invocation's own writes.
    pub fn get_range(&mut self, start: &[u8], end: &[u8]) -> KvPairs {
        // SAFETY: the pointers and lengths describe live slices.
        let code = unsafe { sys::state_range(start.as_ptr(), start.len(), end.as_ptr(), end.len()) };
        wire::decode_pairs(&required_bytes(code)).unwrap_or_else(|e| host_broke_abi("range results", &e))
    }

    /// Committed changes of `key`, oldest first (not part of the read-write set).
    pub fn history(&mut self, key: &[u8]) -> Vec<HistoryEntry> {
        // SAFETY: the pointer and length describe a live slice.
        let code = unsafe { sys::state_history(key.as_ptr(), key.len()) };
        wire::decode_history(&required_bytes(code)).unwrap_or_else(|e| host_broke_abi("history", &e))
    }

    /// The client that invoked the chaincode.
    pub fn caller(&self) -> Caller {
        // SAFETY: no arguments.
        let code = unsafe { sys::caller() };
        decode(&required_bytes(code), Limits::RECORD).unwrap_or_else(|e| host_broke_abi("caller", &e.to_string()))
    }

    /// The transaction id.
    pub fn tx_id(&self) -> TxId {
        // SAFETY: no arguments.
        let code = unsafe { sys::tx_id() };
        let bytes = required_bytes(code);
        match <[u8; 32]>::try_from(bytes.as_slice()) {
            Ok(b) => Hash32(b),
            Err(_) => panic!("teechain-sdk: host returned a tx id of {} bytes", bytes.len()),
        }
    }

    /// The proposal's timestamp in ms since the Unix epoch (the same for every endorser).
    pub fn timestamp_ms(&self) -> u64 {
        // SAFETY: no arguments.
        let t = unsafe { sys::timestamp_ms() };
        t as u64
    }

    /// The transient input `name`, if the client sent one.
    pub fn transient(&self, name: &str) -> Option<Vec<u8>> {
        // SAFETY: the pointer and length describe a live slice.
        let code = unsafe { sys::transient_get(name.as_ptr(), name.len()) };
        optional_bytes(code)
    }

    /// Seals `value`, to be stored under `key`, with the chaincode's state key, which
    /// only enclaves holding the chaincode's key derive: store the result with
    /// [`put_state`](Self::put_state) under `key` and hosts and ledgers keep only
    /// ciphertext, padded to a size bucket. The ciphertext opens only for `key`: moved
    /// to another key it does not. Fails while the chaincode has no key.
    pub fn seal(&mut self, key: &[u8], value: &[u8]) -> Result<Vec<u8>, SdkError> {
        // SAFETY: the pointers and lengths describe live slices.
        let code = unsafe { sys::state_seal(key.as_ptr(), key.len(), value.as_ptr(), value.len()) };
        fallible_bytes(code)?.ok_or(SdkError::UnknownStatus(abi::ABSENT))
    }

    /// Opens a value [`seal`](Self::seal) made for `key` (in this chaincode).
    pub fn open(&mut self, key: &[u8], sealed: &[u8]) -> Result<Vec<u8>, SdkError> {
        // SAFETY: the pointers and lengths describe live slices.
        let code = unsafe { sys::state_open(key.as_ptr(), key.len(), sealed.as_ptr(), sealed.len()) };
        fallible_bytes(code)?.ok_or(SdkError::UnknownStatus(abi::ABSENT))
    }

    /// Emits an event, delivered to listeners once the transaction commits.
    pub fn set_event(&mut self, name: &str, payload: &[u8]) {
        // SAFETY: the pointers and lengths describe live slices.
        unsafe { sys::set_event(name.as_ptr(), name.len(), payload.as_ptr(), payload.len()) }
    }

    /// The value of `key` in private data collection `collection`, if any.
    pub fn get_private(&mut self, collection: &str, key: &[u8]) -> Result<Option<Vec<u8>>, SdkError> {
        // SAFETY: the pointers and lengths describe live slices.
        let code = unsafe { sys::private_get(collection.as_ptr(), collection.len(), key.as_ptr(), key.len()) };
        fallible_bytes(code)
    }

    /// Writes `value` under `key` in private data collection `collection`; the ledger
    /// records only hashes of the key and of the blinded value.
    pub fn put_private(&mut self, collection: &str, key: &[u8], value: &[u8]) -> Result<(), SdkError> {
        // SAFETY: the pointers and lengths describe live slices.
        let code = unsafe {
            sys::private_put(
                collection.as_ptr(),
                collection.len(),
                key.as_ptr(),
                key.len(),
                value.as_ptr(),
                value.len(),
            )
        };
        fallible_unit(code)
    }

    /// Deletes `key` from private data collection `collection`. Member nodes keep the
    /// key's earlier values in their private history; see [`Stub::purge_private`].
    pub fn del_private(&mut self, collection: &str, key: &[u8]) -> Result<(), SdkError> {
        // SAFETY: the pointers and lengths describe live slices.
        let code = unsafe { sys::private_del(collection.as_ptr(), collection.len(), key.as_ptr(), key.len()) };
        fallible_unit(code)
    }

    /// Deletes `key` from private data collection `collection` and, when the transaction
    /// commits, removes its value and stored history from member nodes; the blocks keep
    /// the hashes as proof.
    pub fn purge_private(&mut self, collection: &str, key: &[u8]) -> Result<(), SdkError> {
        // SAFETY: the pointers and lengths describe live slices.
        let code = unsafe { sys::private_purge(collection.as_ptr(), collection.len(), key.as_ptr(), key.len()) };
        fallible_unit(code)
    }

    /// The value of `key` in collection `collection` with its blinding factor: the
    /// opening of its on-ledger hash (`private_value_hash(&blind, &value)`). Same access
    /// rules as [`Stub::get_private`].
    pub fn get_private_opening(&mut self, collection: &str, key: &[u8]) -> Result<Option<PrivateOpening>, SdkError> {
        // SAFETY: the pointers and lengths describe live slices.
        let code = unsafe { sys::private_opening(collection.as_ptr(), collection.len(), key.as_ptr(), key.len()) };
        match fallible_bytes(code)? {
            None => Ok(None),
            Some(bytes) => PrivateOpening::from_staged(bytes).map(Some),
        }
    }

    /// The on-ledger hash of the value of `key` in collection `collection` (of the
    /// pending value after a write in this invocation), readable by non-members.
    pub fn get_private_hash(&mut self, collection: &str, key: &[u8]) -> Result<Option<Hash32>, SdkError> {
        // SAFETY: the pointers and lengths describe live slices.
        let code = unsafe { sys::private_hash(collection.as_ptr(), collection.len(), key.as_ptr(), key.len()) };
        match fallible_bytes(code)? {
            None => Ok(None),
            Some(bytes) => <[u8; 32]>::try_from(bytes.as_slice()).map(|b| Some(Hash32(b))).map_err(|_| {
                SdkError::Decode { what: "private data hash", reason: format!("{} bytes, expected 32", bytes.len()) }
            }),
        }
    }

    /// Keys in `[start, end)` (an empty `end` is unbounded) of collection `collection` with
    /// their values, in key order, including this invocation's own writes.
    pub fn get_private_range(&mut self, collection: &str, start: &[u8], end: &[u8]) -> Result<KvPairs, SdkError> {
        // SAFETY: the pointers and lengths describe live slices.
        let code = unsafe {
            sys::private_range(
                collection.as_ptr(),
                collection.len(),
                start.as_ptr(),
                start.len(),
                end.as_ptr(),
                end.len(),
            )
        };
        let bytes = fallible_bytes(code)?.unwrap_or_default();
        wire::decode_pairs(&bytes).map_err(|reason| SdkError::Decode { what: "private range results", reason })
    }
}

/// A private value with its blinding factor: the opening of its on-ledger hash, which
/// proves the value to anyone holding the ledger.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrivateOpening {
    /// The value.
    pub value: Vec<u8>,
    /// Its blinding factor: `private_value_hash(&blind, &value)` is the on-ledger hash.
    pub blind: Hash32,
}

impl PrivateOpening {
    /// Splits what the host staged: the 32-byte blinding factor, then the value.
    fn from_staged(mut bytes: Vec<u8>) -> Result<Self, SdkError> {
        if bytes.len() < 32 {
            return Err(SdkError::Decode {
                what: "private data opening",
                reason: format!("{} bytes, expected at least 32", bytes.len()),
            });
        }
        let value = bytes.split_off(32);
        let blind = <[u8; 32]>::try_from(bytes.as_slice()).map(Hash32).map_err(|_| SdkError::Decode {
            what: "private data opening",
            reason: "blinding factor is not 32 bytes".into(),
        })?;
        Ok(PrivateOpening { value, blind })
    }
}

/// Takes `len` staged bytes out of the host's result register.
fn take_result(len: usize) -> Vec<u8> {
    let mut buf = vec![0u8; len];
    // SAFETY: `buf` has exactly the `len` writable bytes the host copies.
    unsafe { sys::result_read(buf.as_mut_ptr()) };
    buf
}

/// Bytes for a status >= 0, `None` for [`abi::ABSENT`].
fn optional_bytes(code: i32) -> Option<Vec<u8>> {
    match code {
        abi::ABSENT => None,
        n if n >= 0 => Some(take_result(n as usize)),
        other => panic!("teechain-sdk: host returned unexpected status {other}"),
    }
}

/// Bytes for a status >= 0; anything else breaks the ABI.
fn required_bytes(code: i32) -> Vec<u8> {
    match code {
        n if n >= 0 => take_result(n as usize),
        other => panic!("teechain-sdk: host returned unexpected status {other}"),
    }
}

/// Like [`optional_bytes`], but [`abi::HOST_ERROR`] becomes the staged error message.
fn fallible_bytes(code: i32) -> Result<Option<Vec<u8>>, SdkError> {
    match code {
        abi::ABSENT => Ok(None),
        abi::HOST_ERROR => {
            // SAFETY: no arguments.
            let len = unsafe { sys::result_len() };
            let message = if len >= 0 { take_result(len as usize) } else { Vec::new() };
            Err(SdkError::Host(String::from_utf8_lossy(&message).into_owned()))
        }
        n if n >= 0 => Ok(Some(take_result(n as usize))),
        other => Err(SdkError::UnknownStatus(other)),
    }
}

/// A call that yields no bytes: 0 is success, [`abi::HOST_ERROR`] the staged message.
fn fallible_unit(code: i32) -> Result<(), SdkError> {
    match code {
        0 => Ok(()),
        abi::HOST_ERROR => fallible_bytes(code).map(drop),
        other => Err(SdkError::UnknownStatus(other)),
    }
}

fn host_broke_abi(what: &str, reason: &str) -> ! {
    panic!("teechain-sdk: host returned undecodable {what}: {reason}")
}

thread_local! {
    /// The buffer `tc_alloc` handed out for the invocation.
    static INPUT: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    /// The encoded response `tc_invoke` returned; alive until the next invocation.
    static OUTPUT: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Support for [`chaincode!`]; not a stable interface.
#[doc(hidden)]
pub mod __private {
    use super::*;

    /// `tc_alloc`: a zeroed buffer of `len` bytes, kept until `tc_invoke`; 0 on failure.
    pub fn alloc(len: i32) -> i32 {
        let Ok(len) = usize::try_from(len) else {
            return 0;
        };
        INPUT.with(|b| {
            let mut b = b.borrow_mut();
            *b = vec![0u8; len];
            b.as_mut_ptr() as usize as i32
        })
    }

    /// `tc_invoke`: decodes the invocation, runs `handler`, returns the encoded
    /// response as `(ptr << 32) | len`.
    pub fn invoke(ptr: i32, len: i32, handler: Handler) -> i64 {
        install_panic_hook();
        let input = INPUT.with(|b| std::mem::take(&mut *b.borrow_mut()));
        let encoded = if input.as_ptr() as usize as i32 != ptr || usize::try_from(len) != Ok(input.len()) {
            wire::encode_response(STATUS_ERROR, "the invocation is not in the buffer tc_alloc returned", &[])
        } else {
            match wire::decode_invocation(&input) {
                Err(e) => wire::encode_response(STATUS_ERROR, &format!("malformed invocation: {e}"), &[]),
                Ok(inv) => {
                    drop(input);
                    match handler(&mut Stub::new(), inv) {
                        Ok(payload) => wire::encode_response(STATUS_OK, "", &payload),
                        Err(Refusal(message)) => wire::encode_response(STATUS_REFUSED, &message, &[]),
                    }
                }
            }
        };
        OUTPUT.with(|o| {
            let mut o = o.borrow_mut();
            *o = encoded;
            let ptr = o.as_ptr() as usize as u32;
            ((u64::from(ptr) << 32) | o.len() as u64) as i64
        })
    }

    /// Reports panics to the host (which ends the execution with the message).
    fn install_panic_hook() {
        #[cfg(target_arch = "wasm32")]
        std::panic::set_hook(Box::new(|info| {
            let message = info.to_string();
            // SAFETY: the pointer and length describe a live string.
            unsafe { sys::panic(message.as_ptr(), message.len()) }
        }));
    }
}

/// The host functions (`teechain` import module).
#[cfg(target_arch = "wasm32")]
mod sys {
    #[link(wasm_import_module = "teechain")]
    unsafe extern "C" {
        pub(crate) fn result_len() -> i32;
        pub(crate) fn result_read(ptr: *mut u8);
        pub(crate) fn state_get(key: *const u8, key_len: usize) -> i32;
        pub(crate) fn state_put(key: *const u8, key_len: usize, value: *const u8, value_len: usize);
        pub(crate) fn state_del(key: *const u8, key_len: usize);
        pub(crate) fn state_range(start: *const u8, start_len: usize, end: *const u8, end_len: usize) -> i32;
        pub(crate) fn state_history(key: *const u8, key_len: usize) -> i32;
        pub(crate) fn caller() -> i32;
        pub(crate) fn tx_id() -> i32;
        pub(crate) fn timestamp_ms() -> i64;
        pub(crate) fn transient_get(name: *const u8, name_len: usize) -> i32;
        pub(crate) fn state_seal(key: *const u8, key_len: usize, value: *const u8, value_len: usize) -> i32;
        pub(crate) fn state_open(key: *const u8, key_len: usize, sealed: *const u8, sealed_len: usize) -> i32;
        pub(crate) fn set_event(name: *const u8, name_len: usize, payload: *const u8, payload_len: usize);
        pub(crate) fn panic(message: *const u8, message_len: usize);
        pub(crate) fn private_get(coll: *const u8, coll_len: usize, key: *const u8, key_len: usize) -> i32;
        pub(crate) fn private_put(
            coll: *const u8,
            coll_len: usize,
            key: *const u8,
            key_len: usize,
            value: *const u8,
            value_len: usize,
        ) -> i32;
        pub(crate) fn private_del(coll: *const u8, coll_len: usize, key: *const u8, key_len: usize) -> i32;
        pub(crate) fn private_purge(coll: *const u8, coll_len: usize, key: *const u8, key_len: usize) -> i32;
        pub(crate) fn private_hash(coll: *const u8, coll_len: usize, key: *const u8, key_len: usize) -> i32;
        pub(crate) fn private_opening(coll: *const u8, coll_len: usize, key: *const u8, key_len: usize) -> i32;
        pub(crate) fn private_range(
            coll: *const u8,
            coll_len: usize,
            start: *const u8,
            start_len: usize,
            end: *const u8,
            end_len: usize,
        ) -> i32;
    }
}

/// Outside wasm32 there is no host: every call panics with a message saying so.
#[cfg(not(target_arch = "wasm32"))]
#[allow(clippy::missing_safety_doc, clippy::too_many_arguments)]
mod sys {
    fn absent() -> ! {
        panic!("teechain-sdk: host functions exist only when chaincode runs as wasm32 inside the TEEChain runtime")
    }

    pub(crate) unsafe fn result_len() -> i32 {
        absent()
    }
    pub(crate) unsafe fn result_read(_: *mut u8) {
        absent()
    }
    pub(crate) unsafe fn state_get(_: *const u8, _: usize) -> i32 {
        absent()
    }
    pub(crate) unsafe fn state_put(_: *const u8, _: usize, _: *const u8, _: usize) {
        absent()
    }
    pub(crate) unsafe fn state_del(_: *const u8, _: usize) {
        absent()
    }
    pub(crate) unsafe fn state_range(_: *const u8, _: usize, _: *const u8, _: usize) -> i32 {
        absent()
    }
    pub(crate) unsafe fn state_history(_: *const u8, _: usize) -> i32 {
        absent()
    }
    pub(crate) unsafe fn caller() -> i32 {
        absent()
    }
    pub(crate) unsafe fn tx_id() -> i32 {
        absent()
    }
    pub(crate) unsafe fn timestamp_ms() -> i64 {
        absent()
    }
    pub(crate) unsafe fn transient_get(_: *const u8, _: usize) -> i32 {
        absent()
    }
    pub(crate) unsafe fn state_seal(_: *const u8, _: usize, _: *const u8, _: usize) -> i32 {
        absent()
    }
    pub(crate) unsafe fn state_open(_: *const u8, _: usize, _: *const u8, _: usize) -> i32 {
        absent()
    }
    pub(crate) unsafe fn set_event(_: *const u8, _: usize, _: *const u8, _: usize) {
        absent()
    }
    #[allow(dead_code)]
    pub(crate) unsafe fn panic(_: *const u8, _: usize) {
        absent()
    }
    pub(crate) unsafe fn private_get(_: *const u8, _: usize, _: *const u8, _: usize) -> i32 {
        absent()
    }
    pub(crate) unsafe fn private_put(_: *const u8, _: usize, _: *const u8, _: usize, _: *const u8, _: usize) -> i32 {
        absent()
    }
    pub(crate) unsafe fn private_del(_: *const u8, _: usize, _: *const u8, _: usize) -> i32 {
        absent()
    }
    pub(crate) unsafe fn private_purge(_: *const u8, _: usize, _: *const u8, _: usize) -> i32 {
        absent()
    }
    pub(crate) unsafe fn private_hash(_: *const u8, _: usize, _: *const u8, _: usize) -> i32 {
        absent()
    }
    pub(crate) unsafe fn private_opening(_: *const u8, _: usize, _: *const u8, _: usize) -> i32 {
        absent()
    }
    pub(crate) unsafe fn private_range(_: *const u8, _: usize, _: *const u8, _: usize, _: *const u8, _: usize) -> i32 {
        absent()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use teechain_types::collection::private_value_hash;

    #[test]
    fn openings_split_blind_and_value() {
        let blind = Hash32([9; 32]);
        let mut staged = blind.0.to_vec();
        staged.extend_from_slice(b"90");
        let opening = PrivateOpening::from_staged(staged).unwrap();
        assert_eq!(opening, PrivateOpening { value: b"90".to_vec(), blind });
        assert_eq!(private_value_hash(&opening.blind, &opening.value), private_value_hash(&blind, b"90"));
        let empty = PrivateOpening::from_staged(blind.0.to_vec()).unwrap();
        assert!(empty.value.is_empty());
        assert!(matches!(PrivateOpening::from_staged(vec![1; 31]), Err(SdkError::Decode { .. })));
    }
}
