//! TEEChain's ledger: what a node has committed, on disk in redb.
//!
//! - [`Ledger`] owns the redb file: blocks, world state, the history index and the
//!   tx-id index (tables listed in [`tables`]). [`Ledger::commit`] writes one block and
//!   all its effects in one durable write transaction, so a crash leaves the last whole
//!   block and nothing of the next.
//! - [`Snapshot`] is a consistent read view implementing
//!   [`teechain_types::state::StateView`], used for chaincode simulation and validation.
//! - [`BlockValidator`] turns `(committed state, block)` into a [`BlockOutcome`]:
//!   a [`teechain_types::ValidationCode`] per transaction and the writes of the valid
//!   ones. It does no I/O besides reading the view it is given, so every node computes
//!   the same outcome for the same block.
//! - [`lifecycle`] holds the chaincode-definition rules (approve, commit by majority).
//! - Private data collections (`docs/PRIVATE_DATA.md`): validation checks hashed reads
//!   and collection endorsement policies and yields [`HashedStateWrite`]s;
//!   [`plan_private_commit`] decides which values a member node stores
//!   ([`PrivateBlockData`]); [`Ledger::commit_with_private`] stores them with the block;
//!   [`Ledger::missing_private`], [`Ledger::private_writes_at`] and
//!   [`Ledger::store_reconciled`] serve reconciliation between member nodes.

mod error;
pub mod lifecycle;
mod private;
mod pvt_store;
mod store;
pub mod tables;
mod validate;

pub use error::LedgerError;
pub use private::{
    plan_private_commit, private_writes_match, HashedStateWrite, MissingPrivate, PrivateBlockData, StoredPrivate,
};
pub use store::{verify_blocks, ChainSummary, Ledger, Snapshot, TxStatus};
pub use validate::{BlockOutcome, BlockValidator, LedgerView, StateWrite, DEFAULT_PROPOSAL_WINDOW_MS};
