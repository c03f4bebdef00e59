use teechain_types::codec::DecodeError;
use teechain_types::state::StateError;
use teechain_types::Hash32;

/// Why a ledger operation failed.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// The storage engine failed (I/O, corruption, lock held by another process).
    #[error("storage error: {0}")]
    Storage(#[from] redb::Error),
    /// A stored record did not decode: the file is corrupt or from another version.
    #[error("corrupt ledger record in {table}: {source}")]
    Corrupt {
        /// Table the record came from.
        table: &'static str,
        /// The decoding failure.
        source: DecodeError,
    },
    /// A block does not extend the chain.
    #[error("block {number} does not extend the chain: expected number {expected_number} after {expected_previous}")]
    NotNext {
        /// The offered block's number.
        number: u64,
        /// The number the ledger expects next.
        expected_number: u64,
        /// The hash the next block must name as previous.
        expected_previous: Hash32,
    },
    /// A block's data hash does not match its transactions.
    #[error("block {number}: data hash does not match its transactions")]
    BadDataHash {
        /// Block number.
        number: u64,
    },
    /// The outcome does not belong to the block (wrong number of codes).
    #[error("block {number}: {codes} validation codes for {txs} transactions")]
    OutcomeMismatch {
        /// Block number.
        number: u64,
        /// Codes given.
        codes: usize,
        /// Transactions in the block.
        txs: usize,
    },
    /// The hash chain is broken at a block.
    #[error("hash chain broken at block {number}: {reason}")]
    BrokenChain {
        /// Block number.
        number: u64,
        /// What does not match.
        reason: String,
    },
    /// A state read failed during validation.
    #[error(transparent)]
    State(#[from] StateError),
}

macro_rules! storage_from {
    ($($t:ty),*) => {$(
        impl From<$t> for LedgerError {
            fn from(e: $t) -> Self {
                LedgerError::Storage(e.into())
            }
        }
    )*};
}
storage_from!(redb::DatabaseError, redb::TransactionError, redb::TableError, redb::StorageError, redb::CommitError);
