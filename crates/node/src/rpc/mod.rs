//! The gRPC edge of a node: tonic services over mutual TLS.
//!
//! Two services on two listeners (`proto/teechain.proto`):
//! - **Gateway**, for clients: evaluate, endorse (collected from the organisations' nodes),
//!   submit (waits for the commit), commit status, chaincode events, status.
//! - **Peer**, node to node: endorsement by this node only, Raft messages, forwarding a
//!   submit to the leader, blocks for catch-up, status. Only peer certificates are admitted.
//!
//! Start reading at [`NodeApi`]: what a node implements so this module needs no knowledge
//! of its wiring; [`serve`] (or [`spawn`]) puts it on the network. [`GatewayClient`] and
//! [`PeerClient`] are the callers' side, one reused connection per target with connect
//! timeouts and per-call deadlines. [`tls`] builds the TLS material from the network
//! directory.
//!
//! Protobuf stays at this edge: domain objects travel as `bytes` in TEEChain's canonical
//! encoding and are decoded with bounded [`Limits`](teechain_types::Limits), never
//! panicking. Errors cross as gRPC statuses: [`to_status`] on the server, [`from_status`]
//! on the client, with the typed error carried in the `teechain-error-bin` metadata so a
//! chaincode refusal or a not-leader redirect arrives as the same [`NodeError`] a local
//! call gives.

mod client;
mod convert;
pub mod pb;
mod server;
#[cfg(any(test, feature = "test-utils"))]
pub mod testing;
#[cfg(test)]
mod tests;
pub mod tls;
pub mod wiretap;

use crate::error::NodeError;
use crate::gateway::SubmitOutcome;
use std::pin::Pin;
use std::time::Duration;
use teechain_types::chaincode::ChaincodeResponse;
use teechain_types::collection::{CollectionPrivateWrites, TxPrivateData};
use teechain_types::tx::{ProposalResponse, SignedProposal};
use teechain_types::{Block, Hash32, Transaction, TxId};
use tokio_stream::Stream;

pub use client::{GatewayClient, PeerClient, Timeouts};
pub use convert::{from_status, to_status, ERROR_METADATA, LEADER_METADATA};
pub use server::{serve, serve_with_listeners, spawn, ServerHandle};
pub use tls::{ClientTls, ServerTls};

/// Largest gRPC message sent or accepted (gRPC's default is 4 MiB; blocks travel here).
/// A block whose encoding exceeds this cannot be served for catch-up, so the orderer must
/// cut blocks well below it.
pub const MAX_MESSAGE_BYTES: usize = 64 << 20;

/// Most blocks one `Blocks` call returns; the reply also stops short of
/// [`MAX_MESSAGE_BYTES`].
pub const MAX_BLOCKS_PER_CALL: u32 = 1024;

/// Longest a `CommitStatus` call waits on the server, whatever the client asks.
pub const MAX_COMMIT_WAIT: Duration = Duration::from_secs(300);

/// A proposal's transient map: (key, value) in the order given.
pub type Transient = Vec<(String, Vec<u8>)>;

/// Chaincode events as they commit; ends when the node shuts down or the caller drops it.
pub type EventStream = Pin<Box<dyn Stream<Item = Result<ChaincodeEventRecord, NodeError>> + Send>>;

/// A node's health and position, as its `Status` RPC reports them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeStatus {
    /// Node name, e.g. `peer0.org1`.
    pub name: String,
    /// Its organisation.
    pub org: String,
    /// Raft role: `leader`, `follower`, `candidate` or `learner`.
    pub role: String,
    /// Current Raft term.
    pub term: u64,
    /// The leader as this node knows it (its gateway address), if any.
    pub leader: Option<String>,
    /// Blocks committed; the last block is `height - 1`.
    pub height: u64,
    /// Hash of the last block header ([`Hash32::ZERO`] before the first block).
    pub last_hash: Hash32,
    /// Whether the node considers itself able to serve (a leader is known, storage works).
    pub healthy: bool,
    /// Trusted-execution platform of its enclave (`virtual` is INSECURE).
    pub platform: String,
    /// What its enclave says about itself (keys, evidence), if it answered.
    pub enclave: Option<teechain_enclave::protocol::EnclaveInfo>,
    /// Whether its enclave's registration is committed.
    pub enclave_registered: bool,
}

/// A chaincode's encryption key record and the registration of the enclave that made
/// it.
pub type ChaincodeKey = (teechain_types::keys::KeyRecord, teechain_types::enclave::RegisteredEnclave);

/// One event of a valid committed transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChaincodeEventRecord {
    /// Block the transaction was committed in.
    pub block: u64,
    /// The transaction.
    pub tx_id: TxId,
    /// Event name.
    pub name: String,
    /// Event payload.
    pub payload: Vec<u8>,
}

/// What a node offers the network; the services of this module translate RPCs into
/// these calls. Errors are [`NodeError`]s, mapped to gRPC statuses by [`to_status`]:
/// return [`NodeError::NotLeader`] or [`NodeError::Unavailable`] for what a client
/// should retry elsewhere.
#[tonic::async_trait]
pub trait NodeApi: Send + Sync + 'static {
    /// Runs a proposal as a query on this node.
    async fn evaluate(&self, proposal: SignedProposal, transient: Transient) -> Result<ChaincodeResponse, NodeError>;

    /// Endorses a proposal with this node's enclave only (the peer service).
    async fn endorse_here(
        &self,
        proposal: SignedProposal,
        transient: Transient,
        min_height: u64,
    ) -> Result<ProposalResponse, NodeError>;

    /// Collects endorsements from nodes of the organisations the chaincode's endorsement
    /// policy names (the gateway service).
    async fn endorse(&self, proposal: SignedProposal, transient: Transient)
        -> Result<Vec<ProposalResponse>, NodeError>;

    /// Orders a transaction (on the leader, or forwarded to it) and waits for its commit.
    /// Also serves the peer service's `Forward`, so a node that receives a forwarded
    /// transaction while no longer leader should answer [`NodeError::NotLeader`] rather
    /// than forward again.
    async fn submit(&self, tx: Transaction) -> Result<SubmitOutcome, NodeError>;

    /// Where a transaction was committed, waiting up to `timeout` for it; `None` when it
    /// was not committed by then.
    async fn commit_status(&self, tx_id: TxId, timeout: Duration) -> Result<Option<SubmitOutcome>, NodeError>;

    /// Handles one Raft message (`kind` and `body` are the consensus layer's).
    async fn raft(&self, kind: u32, body: Vec<u8>) -> Result<Vec<u8>, NodeError>;

    /// Up to `max` committed blocks from number `from` on, consecutive.
    async fn blocks(&self, from: u64, max: u32) -> Result<Vec<Block>, NodeError>;

    /// This node's health and position.
    async fn status(&self) -> Result<NodeStatus, NodeError>;

    /// A key's latest epoch (a chaincode's encryption key, a collection's data key) and
    /// the registration of the enclave that made it.
    async fn latest_key(&self, scope: teechain_types::keys::KeyScope) -> Result<Option<ChaincodeKey>, NodeError>;

    /// Events of `chaincode` from block `start_block` on, then as blocks commit.
    fn events(&self, chaincode: String, start_block: u64) -> EventStream;

    /// Keeps private data an endorser of organisation `from_org` disseminated, for the
    /// collections this node's organisation is a member of; refuses data of no such
    /// collection.
    async fn push_private(&self, from_org: String, data: TxPrivateData) -> Result<(), NodeError> {
        let _ = (from_org, data);
        Err(NodeError::Invalid("this node keeps no private data".into()))
    }

    /// The committed private writes of transaction `(block, tx)` to a collection, for a
    /// node of organisation `from_org`, which must be a member of the collection.
    async fn pull_private(
        &self,
        from_org: String,
        block: u64,
        tx: u32,
        namespace: String,
        collection: String,
    ) -> Result<Option<CollectionPrivateWrites>, NodeError> {
        let _ = (from_org, block, tx, namespace, collection);
        Err(NodeError::Invalid("this node keeps no private data".into()))
    }
}
