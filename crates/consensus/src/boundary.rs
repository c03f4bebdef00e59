//! The boundary between the orderer and the rest of a node: the ledger it drives
//! ([`BlockApplier`]) and the network it speaks through ([`RaftTransport`]).
//!
//! Both are implemented by `teechain-node`; this crate never sees redb tables of the
//! ledger, gRPC or the enclave. Everything that crosses the network is opaque bytes here.

use crate::raft_types::AppliedState;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::fmt;
use teechain_types::codec::DecodeError;
use teechain_types::{Transaction, ValidationCode};

/// A Raft node id. Ids are assigned once per node and never reused, not even for a node
/// that was removed and comes back with an empty raft directory.
pub type NodeId = u64;

/// One Raft log entry's payload: the transactions of one block, as cut by the leader.
///
/// Block number and previous hash are deliberately absent: the state machine derives
/// them while applying, so every node builds byte-identical blocks from the same log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockProposal {
    /// Cut time chosen by the leader (ms since the Unix epoch); never lower than the
    /// previous proposal's.
    pub timestamp_ms: u64,
    /// Transactions in block order.
    pub transactions: Vec<Transaction>,
}

/// What the state machine has applied: the last applied Raft log id, the membership in
/// force, the number of blocks applied and the last block's timestamp, encoded by this
/// crate.
///
/// The applier treats the bytes as opaque. It must store them in the same storage
/// transaction as the block (or, for [`BlockApplier::apply_marker`], on their own) and
/// hand back exactly the last stored bytes from [`BlockApplier::applied_state`]: that is
/// how a restarted node knows which log entries it has already applied.
#[derive(Clone, PartialEq, Eq)]
pub struct AppliedMarker(pub Vec<u8>);

impl fmt::Debug for AppliedMarker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.summary() {
            Ok(s) => write!(
                f,
                "AppliedMarker {{ last_applied: {:?}, blocks: {}, last_timestamp_ms: {} }}",
                s.last_applied_index, s.block_height, s.last_timestamp_ms
            ),
            Err(_) => write!(f, "AppliedMarker({} undecodable bytes)", self.0.len()),
        }
    }
}

/// The readable content of an [`AppliedMarker`], for diagnostics and ledger checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AppliedSummary {
    /// Index of the last applied Raft log entry, if any.
    pub last_applied_index: Option<u64>,
    /// Term of the last applied Raft log entry, if any.
    pub last_applied_term: Option<u64>,
    /// Blocks applied so far: the ledger height the marker belongs to.
    pub block_height: u64,
    /// Timestamp of the last applied block (0 before the first).
    pub last_timestamp_ms: u64,
}

impl AppliedMarker {
    /// Decodes the marker for display or for checking it against the ledger height.
    pub fn summary(&self) -> Result<AppliedSummary, DecodeError> {
        let s = AppliedState::decode(self)?;
        Ok(AppliedSummary {
            last_applied_index: s.last_applied.map(|l| l.index),
            last_applied_term: s.last_applied.map(|l| l.leader_id.term),
            block_height: s.blocks,
            last_timestamp_ms: s.last_timestamp_ms,
        })
    }
}

/// Why the ledger could not apply a block, a marker or a snapshot.
///
/// Every apply error is fatal for the Raft node: openraft stops it, because a replica that
/// skipped a committed entry would diverge. The node must be repaired and restarted.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The ledger's storage failed (I/O, corruption).
    #[error("ledger storage failed: {source}")]
    Storage {
        /// The underlying error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The request does not fit the ledger: a snapshot that does not extend it, a block
    /// that is not the next one.
    #[error("inconsistent with the ledger: {reason}")]
    Inconsistent {
        /// What did not fit.
        reason: String,
    },
}

impl ApplyError {
    /// Wraps a storage error.
    pub fn storage(source: impl std::error::Error + Send + Sync + 'static) -> ApplyError {
        ApplyError::Storage { source: Box::new(source) }
    }
}

/// The replicated state machine: the node's ledger. Implemented by `teechain-node`.
///
/// # Contract
///
/// - Calls come one at a time and in log order (the orderer serialises them); they run on
///   a blocking thread, so they may do synchronous I/O.
/// - Applying is deterministic: every node gets the same proposals in the same order and
///   must build the same blocks (`Block::new(height, last_hash, proposal.timestamp_ms,
///   proposal.transactions)`) and the same validation codes.
/// - Durability: when a method returns `Ok`, its effects and the `applied` marker are on
///   disk together (one storage transaction); when it returns `Err` or the process dies
///   inside it, none of them are. A restart then resumes from [`BlockApplier::applied_state`].
/// - Errors are fatal for the Raft node (see [`ApplyError`]). Methods must not panic.
pub trait BlockApplier: Send + Sync + 'static {
    /// Builds the next block from `proposal` (number = current height, previous hash =
    /// last block's hash), validates it and commits it durably together with `applied`.
    /// Returns one validation code per transaction, in order.
    fn apply(&self, proposal: BlockProposal, applied: AppliedMarker) -> Result<Vec<ValidationCode>, ApplyError>;

    /// Records that an entry carrying no block (a blank or membership entry) was applied:
    /// persists only the marker.
    fn apply_marker(&self, applied: AppliedMarker) -> Result<(), ApplyError>;

    /// The last marker stored by `apply`, `apply_marker` or `install_snapshot`, or `None`
    /// for a ledger that has applied nothing yet.
    fn applied_state(&self) -> Result<Option<AppliedMarker>, ApplyError>;

    /// The whole ledger as bytes (for example every block with its validation codes), as
    /// of the last applied marker. The orderer holds back further applies while this runs.
    fn snapshot(&self) -> Result<Vec<u8>, ApplyError>;

    /// Brings a ledger that is behind up to the state of `data` (bytes from another
    /// node's [`BlockApplier::snapshot`]), for example by replaying the missing blocks
    /// through validation, and stores `applied` with the result, atomically.
    fn install_snapshot(&self, data: &[u8], applied: AppliedMarker) -> Result<(), ApplyError>;
}

/// The kinds of Raft RPC a [`RaftTransport`] carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RaftRpcKind {
    /// Log replication and heartbeats (leader → followers).
    AppendEntries,
    /// Vote requests (candidate → peers).
    Vote,
    /// One chunk of a snapshot (leader → a follower that is too far behind).
    InstallSnapshot,
}

impl RaftRpcKind {
    /// Every kind.
    pub const ALL: [RaftRpcKind; 3] = [RaftRpcKind::AppendEntries, RaftRpcKind::Vote, RaftRpcKind::InstallSnapshot];

    /// A stable name, for use as a method or metadata value on the wire.
    pub fn name(self) -> &'static str {
        match self {
            RaftRpcKind::AppendEntries => "append_entries",
            RaftRpcKind::Vote => "vote",
            RaftRpcKind::InstallSnapshot => "install_snapshot",
        }
    }

    /// The kind with a [`RaftRpcKind::name`], if any.
    pub fn from_name(name: &str) -> Option<RaftRpcKind> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }
}

impl fmt::Display for RaftRpcKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a Raft RPC did not get an answer. Raft retries either way; the variant only
/// chooses how soon.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// No connection to the peer could be made; Raft backs off before trying again.
    #[error("node {target} at {address} is unreachable: {reason}")]
    Unreachable {
        /// The peer's node id.
        target: NodeId,
        /// The address tried.
        address: String,
        /// Why.
        reason: String,
    },
    /// The request was sent but failed: a timeout, a broken connection, or the peer
    /// answered with an error (for example because it is shutting down).
    #[error("RPC to node {target} failed: {reason}")]
    Failed {
        /// The peer's node id.
        target: NodeId,
        /// Why.
        reason: String,
    },
}

/// The network: sends one Raft RPC to a peer, bytes in and bytes out. Implemented by
/// `teechain-node` over gRPC with mutual TLS; the peer passes `body` to
/// [`crate::Orderer::handle_rpc`] and returns its answer (or an error status).
///
/// Implementations should reuse connections and allow messages of
/// [`crate::Orderer::max_message_bytes`]. Timeouts are applied by the caller.
#[async_trait]
pub trait RaftTransport: Send + Sync + 'static {
    /// Sends `body` as an RPC of `kind` to node `target` at `address`; returns the
    /// peer's answer.
    async fn call(
        &self,
        target: NodeId,
        address: &str,
        kind: RaftRpcKind,
        body: Vec<u8>,
    ) -> Result<Vec<u8>, TransportError>;
}
