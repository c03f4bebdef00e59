//! TEEChain's shared vocabulary: the types every other crate speaks.
//!
//! Start with [`tx::Transaction`] and [`block::Block`]: a client's [`tx::Proposal`] is
//! endorsed into a [`tx::ProposalResponsePayload`], assembled into a transaction, ordered
//! into a block and validated into a [`block::ValidationCode`] per transaction.
//!
//! Everything that is hashed, signed or sent is encoded by [`codec`]: one canonical,
//! versioned binary encoding whose decoder is bounded and never panics.
//!
//! This crate has no I/O and no cryptography beyond SHA-256, so it also builds for
//! `wasm32-unknown-unknown` and the chaincode SDK shares its message types.

pub mod block;
pub mod chaincode;
pub mod codec;
pub mod collection;
pub mod enclave;
pub mod hash;
pub mod identity;
pub mod keys;
pub mod policy;
pub mod rwset;
pub mod state;
pub mod tx;

pub use block::{Block, BlockHeader, ValidationCode};
pub use codec::{decode, encode, DecodeError, Limits};
pub use hash::{sha256, Hash32, TxId};
pub use identity::{Identity, Role};
pub use rwset::{
    CollectionHashedRwSet, HashedRead, HashedWrite, HistoryRead, KeyEpochRead, KvRead, KvWrite, RangeRead,
    ReadWriteSet, Version, VersionedValue,
};
pub use tx::{Transaction, TxBody, TxHeader};
