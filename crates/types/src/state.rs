//! The read interface to committed world state, shared by the ledger (which implements
//! it over its store) and the chaincode runtime (which simulates against it).

use crate::chaincode::HistoryEntry;
use crate::rwset::VersionedValue;

/// Why a state read failed.
#[derive(Debug, thiserror::Error)]
#[error("state read failed: {0}")]
pub struct StateError(pub String);

/// Committed world state as of one block, read-only. Namespaces are chaincode names.
pub trait StateView {
    /// The value of `key` in `namespace`, if any.
    fn get(&self, namespace: &str, key: &[u8]) -> Result<Option<VersionedValue>, StateError>;

    /// Keys in `[start, end)` (empty `end`: unbounded) in key order, at most `limit`.
    fn range(
        &self,
        namespace: &str,
        start: &[u8],
        end: &[u8],
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, VersionedValue)>, StateError>;

    /// Committed changes of `key`, oldest first, at most the newest `limit`.
    fn history(&self, namespace: &str, key: &[u8], limit: usize) -> Result<Vec<HistoryEntry>, StateError>;
}
