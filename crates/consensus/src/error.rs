//! Errors of the ordering service.

use crate::boundary::{NodeId, RaftRpcKind};
use std::time::Duration;
use teechain_types::codec::DecodeError;

/// A `Result` of this crate.
pub type Result<T, E = ConsensusError> = std::result::Result<T, E>;

/// What went wrong in the orderer.
///
/// [`ConsensusError::is_retryable`] separates the errors a client should answer by
/// retrying (possibly at another node) from the ones that need an operator.
#[derive(Debug, thiserror::Error)]
pub enum ConsensusError {
    /// Retryable: this node is not the leader. Send the request to the leader, if known.
    #[error("not the leader; forward to {}", leader_hint(.leader_id, .leader_address))]
    ForwardToLeader {
        /// The leader's node id, if known.
        leader_id: Option<NodeId>,
        /// The leader's address, if known.
        leader_address: Option<String>,
    },
    /// Retryable: this node lost leadership while the transaction waited for its block.
    /// The transaction may still commit: a retry may then be judged `DuplicateTxId`, which
    /// the caller should resolve by looking the transaction id up in the ledger.
    #[error("leadership lost while waiting for the block; new leader: {}", leader_hint(.leader_id, .leader_address))]
    LeadershipLost {
        /// The new leader's node id, if known.
        leader_id: Option<NodeId>,
        /// The new leader's address, if known.
        leader_address: Option<String>,
    },
    /// Retryable: an operation did not finish in time (for example, a leader cut off
    /// from its followers cannot commit). Its outcome is unknown, as for `LeadershipLost`.
    #[error("{operation} did not finish within {after:?}")]
    Timeout {
        /// What timed out.
        operation: &'static str,
        /// The time allowed.
        after: Duration,
    },
    /// The transaction is larger than any node accepts in a block.
    #[error("transaction of {bytes} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// Its encoded size.
        bytes: usize,
        /// The limit ([`teechain_types::Limits::TRANSACTION`]).
        max: usize,
    },
    /// The orderer has been shut down, or its Raft node stopped.
    #[error("the orderer is stopped{}", .reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default())]
    Stopped {
        /// Why Raft stopped, if it stopped on its own (a storage or apply failure).
        reason: Option<String>,
    },
    /// `initialize` was called on a node that already belongs to a cluster.
    #[error("the Raft node is already initialized: {reason}")]
    AlreadyInitialized {
        /// openraft's explanation.
        reason: String,
    },
    /// A membership change was refused (another change in progress, a voter that is not
    /// a learner yet, an empty voter set).
    #[error("membership change refused: {reason}")]
    Membership {
        /// openraft's explanation.
        reason: String,
    },
    /// The configuration is invalid.
    #[error("invalid orderer configuration: {reason}")]
    Config {
        /// What is wrong.
        reason: String,
    },
    /// The raft directory or its log store could not be opened or written.
    #[error("raft storage at {path}: {reason}")]
    Storage {
        /// The file or directory.
        path: String,
        /// What failed.
        reason: String,
    },
    /// The ledger failed while loading the applied state at start.
    #[error("ledger: {0}")]
    Apply(#[from] crate::boundary::ApplyError),
    /// An RPC body from a peer did not decode.
    #[error("malformed {kind} request: {source}")]
    Malformed {
        /// The RPC kind.
        kind: RaftRpcKind,
        /// The decoding error.
        #[source]
        source: DecodeError,
    },
}

fn leader_hint(id: &Option<NodeId>, address: &Option<String>) -> String {
    match (id, address) {
        (Some(id), Some(a)) => format!("node {id} at {a}"),
        (Some(id), None) => format!("node {id}"),
        _ => "unknown leader".into(),
    }
}

impl ConsensusError {
    /// True for errors a client answers by retrying, here or at another node:
    /// [`ConsensusError::ForwardToLeader`], [`ConsensusError::LeadershipLost`] and
    /// [`ConsensusError::Timeout`].
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            ConsensusError::ForwardToLeader { .. }
                | ConsensusError::LeadershipLost { .. }
                | ConsensusError::Timeout { .. }
        )
    }

    pub(crate) fn stopped() -> ConsensusError {
        ConsensusError::Stopped { reason: None }
    }

    pub(crate) fn from_fatal(fatal: &openraft::error::Fatal<NodeId>) -> ConsensusError {
        match fatal {
            openraft::error::Fatal::Stopped => ConsensusError::stopped(),
            other => ConsensusError::Stopped { reason: Some(other.to_string()) },
        }
    }
}
