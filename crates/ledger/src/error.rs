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
    /// Private data given to a block's commit names another block or a transaction the
    /// block does not have.
    #[error("block {number}: private data names block {block} tx {tx}")]
    PrivateNotInBlock {
        /// The committed block's number.
        number: u64,
        /// The block named.
        block: u64,
        /// The transaction index named.
        tx: u32,
    },
    /// A stored record has the wrong layout: the file is corrupt or from another version.
    #[error("corrupt ledger record in {table}: {reason}")]
    BadRecord {
        /// Table the record came from.
        table: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// Private data offered for a transaction does not match the hashes its block holds
    /// (tampered, or for another transaction); nothing was stored.
    #[error(
        "private data for block {block} tx {tx} collection {namespace}/{collection} does not match the block's hashes"
    )]
    PrivateDataMismatch {
        /// Block number.
        block: u64,
        /// Transaction index in the block.
        tx: u32,
        /// Chaincode namespace.
        namespace: String,
        /// Collection.
        collection: String,
    },
    /// The named transaction has no private writes to the collection: the block is not
    /// committed, the index is out of range, the transaction is invalid or is not an
    /// invocation of that chaincode, or it did not write the collection.
    #[error("block {block} tx {tx} has no committed private writes to collection {namespace}/{collection}")]
    NoPrivateWrites {
        /// Block number.
        block: u64,
        /// Transaction index in the block.
        tx: u32,
        /// Chaincode namespace.
        namespace: String,
        /// Collection.
        collection: String,
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
