//! TEEChain's ordering service: Raft-replicated block ordering (openraft 0.9, pinned).
//!
//! Every node runs an [`Orderer`]. The leader batches submitted transactions with the
//! [`BlockCutter`] (by count, bytes and age, as Fabric's orderer does) into
//! [`BlockProposal`]s, one Raft log entry each, and proposes them without waiting for the
//! previous one to commit. Each node applies the committed entries in log order to its
//! own ledger, building the block number and previous hash itself, so every node holds
//! byte-identical blocks.
//!
//! The crate knows nothing of gRPC, of the ledger's storage or of the enclave. It talks to
//! the node through two traits, with bytes at the network boundary:
//!
//! - [`BlockApplier`]: the state machine, the node's ledger. It commits each block
//!   together with an opaque [`AppliedMarker`] (the last applied log id and membership)
//!   in one storage transaction, which makes applying exactly-once across restarts.
//! - [`RaftTransport`]: sends one Raft RPC to a peer; the peer answers through
//!   [`Orderer::handle_rpc`].
//!
//! Where to start: [`Orderer::start`], then [`Orderer::initialize`] once on a new
//! cluster, [`Orderer::submit`] on the leader (followers answer
//! [`ConsensusError::ForwardToLeader`]), [`Orderer::status`]. The Raft log, vote and log
//! pointers live in `raft.redb` in the raft directory (tables in `tables`); snapshots are
//! the applier's ledger bytes.
//!
//! Feature `test-utils`: in-memory fakes of both traits (module `testing`) for tests of this
//! crate and of the crates built on it.

mod boundary;
mod cutter;
mod error;
mod log_store;
mod network;
mod orderer;
mod raft_types;
mod state_machine;
mod tables;
mod waiters;

#[cfg(any(test, feature = "test-utils"))]
pub mod testing;

pub use async_trait::async_trait;
pub use boundary::{
    AppliedMarker, AppliedSummary, ApplyError, BlockApplier, BlockProposal, NodeId, RaftRpcKind, RaftTransport,
    TransportError,
};
pub use cutter::{BatchLimits, BlockCutter};
pub use error::{ConsensusError, Result};
pub use orderer::{Committed, Orderer, OrdererConfig, RaftStatus, Role, LOG_FILE, SUBMIT_TIMEOUT};
