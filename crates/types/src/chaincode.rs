//! Messages between the chaincode runtime and chaincode (across the wasm boundary), and
//! chaincode definitions agreed through the lifecycle.

use crate::collection::{implicit_collection_org, CollectionConfig};
use crate::hash::{Hash32, TxId};
use crate::identity::Role;
use serde::{Deserialize, Serialize};

/// A call of a chaincode function.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invocation {
    /// Function name.
    pub function: String,
    /// Arguments as byte strings.
    pub args: Vec<Vec<u8>>,
}

/// Status of a chaincode response: success.
pub const STATUS_OK: u32 = 200;
/// Status of a chaincode response: the chaincode refused the request.
pub const STATUS_REFUSED: u32 = 400;
/// Status of a chaincode response: the chaincode failed.
pub const STATUS_ERROR: u32 = 500;

/// What a chaincode function returned.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChaincodeResponse {
    /// [`STATUS_OK`], [`STATUS_REFUSED`] or [`STATUS_ERROR`].
    pub status: u32,
    /// Human-readable reason when not OK.
    pub message: String,
    /// Result bytes.
    pub payload: Vec<u8>,
}

impl ChaincodeResponse {
    /// A success with a payload.
    pub fn ok(payload: Vec<u8>) -> Self {
        ChaincodeResponse { status: STATUS_OK, message: String::new(), payload }
    }

    /// A refusal with a reason.
    pub fn refused(message: impl Into<String>) -> Self {
        ChaincodeResponse { status: STATUS_REFUSED, message: message.into(), payload: Vec::new() }
    }

    /// True for [`STATUS_OK`].
    pub fn is_ok(&self) -> bool {
        self.status == STATUS_OK
    }
}

/// An event a chaincode emitted; delivered to listeners once its transaction commits.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChaincodeEvent {
    /// Event name.
    pub name: String,
    /// Event payload.
    pub payload: Vec<u8>,
}

/// One committed change of a key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// The transaction that wrote it.
    pub tx_id: TxId,
    /// Block number.
    pub block: u64,
    /// Transaction index in the block.
    pub tx_index: u32,
    /// Block timestamp (ms since the Unix epoch).
    pub timestamp_ms: u64,
    /// The value written, or `None` for a delete.
    pub value: Option<Vec<u8>>,
}

/// The invoking client, as chaincode sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Caller {
    /// Organisation.
    pub org: String,
    /// Role from the certificate.
    pub role: Role,
    /// Subject common name.
    pub name: String,
}

/// Everything about the invocation that chaincode may read besides state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvocationContext {
    /// Channel id.
    pub channel: String,
    /// Transaction id.
    pub tx_id: TxId,
    /// The caller.
    pub caller: Caller,
    /// The proposal's timestamp (ms since the Unix epoch), identical for all endorsers.
    pub timestamp_ms: u64,
    /// Transient inputs: passed to chaincode, never written to the ledger.
    pub transient: Vec<(String, Vec<u8>)>,
    /// The keys the chaincode seals and opens state with, when it has a chaincode key
    /// (set inside the enclave; never serialised).
    #[serde(skip)]
    pub sealing: Option<StateSealing>,
}

/// A confidential chaincode's state-sealing keys, one per chaincode key epoch in
/// ascending order: the last seals, any opens what it sealed (history stays readable
/// after rotation).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StateSealing {
    /// The keys, oldest first; never empty.
    pub keys: Vec<StateSealingKey>,
}

impl StateSealing {
    /// The key new values are sealed with (the latest epoch).
    pub fn current(&self) -> Option<&StateSealingKey> {
        self.keys.last()
    }

    /// The key of `epoch`, if this enclave holds it.
    pub fn epoch(&self, epoch: u32) -> Option<&StateSealingKey> {
        self.keys.iter().find(|k| k.epoch == epoch)
    }
}

/// A confidential chaincode's state-sealing key: derived inside the enclave from the
/// chaincode key of `epoch`. Debug output shows the epoch only.
#[derive(Clone, PartialEq, Eq)]
pub struct StateSealingKey {
    /// The chaincode key epoch it derives from (named in every sealed value).
    pub epoch: u32,
    /// The AES-256-GCM key.
    pub key: [u8; 32],
    /// The key nonces are derived with, separate from `key`: no nonce, which every
    /// ciphertext shows, is an output computed with the encryption key.
    pub nonce_key: [u8; 32],
    /// The chaincode key's public key of `epoch` (named in the read-write set of an
    /// invocation that seals under it).
    pub public_key: [u8; 32],
}

impl std::fmt::Debug for StateSealingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateSealingKey").field("epoch", &self.epoch).finish_non_exhaustive()
    }
}

/// A chaincode definition as approved by organisations and committed to the channel.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChaincodeDefinition {
    /// Chaincode name (its state namespace).
    pub name: String,
    /// Free-form version label.
    pub version: String,
    /// Definition sequence: 1 for the first, +1 for each upgrade.
    pub sequence: u64,
    /// SHA-256 of the WebAssembly package.
    pub code_hash: Hash32,
    /// Endorsement policy in Fabric syntax, e.g. `AND('org1.member','org2.member')`.
    pub endorsement_policy: String,
    /// Declared private data collections (implicit per-organisation collections exist
    /// without being declared).
    pub collections: Vec<CollectionConfig>,
}

impl ChaincodeDefinition {
    /// The collection called `name`: a declared one, or the implicit collection of an
    /// organisation (whether that organisation is in the channel is the caller's check).
    pub fn collection(&self, name: &str) -> Option<CollectionConfig> {
        if let Some(org) = implicit_collection_org(name) {
            return Some(CollectionConfig::implicit(org));
        }
        self.collections.iter().find(|c| c.name == name).cloned()
    }

    /// [`ChaincodeDefinition::collection`] on a channel: an implicit collection exists
    /// only for an organisation `is_channel_org` accepts.
    pub fn channel_collection(&self, name: &str, is_channel_org: impl Fn(&str) -> bool) -> Option<CollectionConfig> {
        if implicit_collection_org(name).is_some_and(|org| !is_channel_org(org)) {
            return None;
        }
        self.collection(name)
    }
}

/// Chaincode names reserved for the system.
pub const LIFECYCLE_NAMESPACE: &str = "_lifecycle";

/// Names and codes of the chaincode ABI shared by the runtime (host) and the SDK (guest).
/// The calling convention itself is documented in the `teechain-chaincode-runtime` crate.
pub mod abi {
    /// The import module of every host function.
    pub const IMPORT_MODULE: &str = "teechain";
    /// The exported linear memory.
    pub const EXPORT_MEMORY: &str = "memory";
    /// The exported allocator: `tc_alloc(len: i32) -> i32`.
    pub const EXPORT_ALLOC: &str = "tc_alloc";
    /// The exported entry point: `tc_invoke(ptr: i32, len: i32) -> i64`.
    pub const EXPORT_INVOKE: &str = "tc_invoke";
    /// Returned by a host call that yields bytes when there is no value (absent key).
    pub const ABSENT: i32 = -1;
    /// Returned by a host call that failed in a way the guest may handle; a UTF-8
    /// message is staged in the result register.
    pub const HOST_ERROR: i32 = -2;
    /// Largest key (or collection, event or transient name) in bytes.
    pub const MAX_KEY_BYTES: usize = 64 << 10;
    /// Largest value (or event payload) in bytes.
    pub const MAX_VALUE_BYTES: usize = 1 << 20;
}

/// State key (in [`LIFECYCLE_NAMESPACE`]) of the committed definition of `name`.
pub fn definition_state_key(name: &str) -> Vec<u8> {
    format!("definition/{name}").into_bytes()
}

/// Decodes a committed definition read from state.
pub fn decode_definition(bytes: &[u8]) -> Result<ChaincodeDefinition, crate::codec::DecodeError> {
    crate::codec::decode(bytes, crate::codec::Limits::RECORD)
}
