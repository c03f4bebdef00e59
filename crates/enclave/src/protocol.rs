//! The messages that cross the enclave boundary, in both directions.

use crate::platform::{EnclaveAttestation, Platform};
use serde::{Deserialize, Serialize};
use teechain_types::chaincode::{ChaincodeResponse, HistoryEntry};
use teechain_types::collection::{HashedValue, PrivateValue, TxPrivateData};
use teechain_types::enclave::{EnclaveKeys, RegisteredEnclave};
use teechain_types::keys::{KeyDistribution, KeyScope};
pub use teechain_types::tx::ProposalResponse;
use teechain_types::tx::SignedProposal;
use teechain_types::{Hash32, VersionedValue};

/// A call into the enclave.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum EnclaveRequest {
    /// Describe the enclave.
    Info,
    /// Compile and keep a chaincode package (WebAssembly).
    InstallChaincode {
        /// The package.
        wasm: Vec<u8>,
    },
    /// Execute a proposal against committed state and endorse a successful result.
    Endorse {
        /// The client's signed proposal.
        proposal: SignedProposal,
        /// Transient inputs (bound by the proposal's digest, never stored).
        transient: Vec<(String, Vec<u8>)>,
    },
    /// Execute a proposal as a query: same checks, no endorsement, no writes kept.
    Evaluate {
        /// The client's signed proposal.
        proposal: SignedProposal,
        /// Transient inputs.
        transient: Vec<(String, Vec<u8>)>,
    },
    /// Make epoch `epoch` of a key and wrap it to `recipients` (this enclave is added
    /// if missing). Each recipient's evidence is verified first.
    MakeKey {
        /// Which key.
        scope: KeyScope,
        /// Its epoch.
        epoch: u32,
        /// Registered enclaves to wrap it to.
        recipients: Vec<RegisteredEnclave>,
    },
    /// Check the sealed key store against the ledger's record of this enclave (done by
    /// the host right after start; a stale file makes the enclave refuse to serve).
    CheckSealedState,
    /// Wrap a key this enclave holds (from the ledger) to more enclaves.
    GrantKey {
        /// Which key.
        scope: KeyScope,
        /// Its epoch.
        epoch: u32,
        /// Registered enclaves to wrap it to.
        recipients: Vec<RegisteredEnclave>,
    },
}

/// What the enclave says about itself: everything an organisation admin needs to
/// register it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnclaveInfo {
    /// The platform it runs on.
    pub platform: Platform,
    /// The channel it serves (bound into its evidence).
    pub channel: String,
    /// The organisation it serves.
    pub org: String,
    /// Its public keys (made inside).
    pub keys: EnclaveKeys,
    /// Its measurement.
    pub measurement: Hash32,
    /// Evidence binding `report_data(channel, keys.keys_hash())`.
    pub attestation: EnclaveAttestation,
    /// Code hashes of installed chaincode.
    pub installed: Vec<Hash32>,
}

impl EnclaveInfo {
    /// The enclave's id (endorsements name it).
    pub fn id(&self) -> Hash32 {
        self.keys.id()
    }
}

/// Kinds of failure reported across the boundary.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FailureKind {
    /// The request did not decode.
    BadRequest,
    /// The proposal's signature, certificate, channel or transient digest is wrong.
    BadProposal,
    /// The chaincode is not committed, or its code is not installed here.
    ChaincodeUnavailable,
    /// The chaincode refused (its message says why).
    ChaincodeRefused,
    /// Execution failed: out of fuel, memory limit, trap.
    ExecutionFailed,
    /// The host's state service failed.
    HostFailure,
    /// A key this call needs is not on the ledger or not wrapped to this enclave.
    KeyUnavailable,
    /// The enclave's sealed state is older than the ledger's record of it.
    SealedStateRolledBack,
    /// The host answered a key read with a record that does not prove genuine: not the
    /// key asked for, not made by a registered enclave, or not signed by its maker.
    ForgedKeyRecord,
}

/// A response from the enclave.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum EnclaveResponse {
    /// Answer to [`EnclaveRequest::Info`].
    Info(EnclaveInfo),
    /// Answer to [`EnclaveRequest::InstallChaincode`].
    Installed {
        /// SHA-256 of the package.
        code_hash: Hash32,
    },
    /// Answer to [`EnclaveRequest::Endorse`].
    Endorsed(Box<Endorsed>),
    /// Answer to [`EnclaveRequest::Evaluate`].
    Evaluated(ChaincodeResponse),
    /// Answer to [`EnclaveRequest::CheckSealedState`]: the file is as new as the ledger
    /// says it must be.
    SealedStateFresh {
        /// The sealed key store's version.
        version: u64,
        /// The highest version the ledger recorded for this enclave.
        recorded: u64,
    },
    /// Answer to [`EnclaveRequest::MakeKey`] and [`EnclaveRequest::GrantKey`]: the
    /// signed distribution to commit.
    KeyDistribution(KeyDistribution),
    /// Any request failed.
    Failed {
        /// What kind of failure.
        kind: FailureKind,
        /// Why.
        message: String,
    },
}

/// A successful endorsement: the signed proposal response and, apart from it, the private
/// data behind its hashed private writes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endorsed {
    /// The signed outcome (its read-write set holds private data only as hashes).
    pub response: ProposalResponse,
    /// The values and blinding factors of the transaction's private writes, per
    /// collection; `None` when it wrote no private data. The host keeps it in its
    /// transient store and sends it only to member nodes; it never enters a block.
    pub private: Option<TxPrivateData>,
}

/// A call from the enclave to its host: reads of committed state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum HostCall {
    /// One key.
    Get {
        /// Namespace.
        namespace: String,
        /// Key.
        key: Vec<u8>,
    },
    /// A key range `[start, end)`.
    Range {
        /// Namespace.
        namespace: String,
        /// Inclusive start.
        start: Vec<u8>,
        /// Exclusive end; empty is unbounded.
        end: Vec<u8>,
        /// Most results.
        limit: u32,
    },
    /// Committed changes of a key.
    History {
        /// Namespace.
        namespace: String,
        /// Key.
        key: Vec<u8>,
        /// Most entries.
        limit: u32,
    },
    /// One private key's value, on a member node.
    PrivateGet {
        /// Namespace (chaincode).
        namespace: String,
        /// Collection.
        collection: String,
        /// Key.
        key: Vec<u8>,
    },
    /// A private key range `[start, end)`, on a member node.
    PrivateRange {
        /// Namespace (chaincode).
        namespace: String,
        /// Collection.
        collection: String,
        /// Inclusive start.
        start: Vec<u8>,
        /// Exclusive end; empty is unbounded.
        end: Vec<u8>,
        /// Most results.
        limit: u32,
    },
    /// The on-ledger hash and version of a private key, which every node holds.
    PrivateHash {
        /// Namespace (chaincode).
        namespace: String,
        /// Collection.
        collection: String,
        /// The key's hash (`private_key_hash`).
        key_hash: Hash32,
    },
}

/// The host's answer to a [`HostCall`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum HostReply {
    /// Answer to `Get`.
    Value(Option<VersionedValue>),
    /// Answer to `Range`.
    Entries(Vec<(Vec<u8>, VersionedValue)>),
    /// Answer to `History`.
    History(Vec<HistoryEntry>),
    /// Answer to `PrivateGet`.
    PrivateValue(Option<PrivateValue>),
    /// Answer to `PrivateRange`.
    PrivateEntries(Vec<(Vec<u8>, PrivateValue)>),
    /// Answer to `PrivateHash`.
    Hashed(Option<HashedValue>),
    /// The host failed to answer.
    Error(String),
}

/// The host side of the boundary, as the enclave sees it.
pub trait Host: Sync {
    /// Answers one encoded [`HostCall`] with an encoded [`HostReply`].
    fn ocall(&self, request: &[u8]) -> Vec<u8>;
}
