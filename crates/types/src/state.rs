//! The read interface to committed world state, shared by the ledger (which implements
//! it over its store) and the chaincode runtime (which simulates against it).

use crate::chaincode::HistoryEntry;
use crate::collection::{CollectionAccess, CollectionSealing, HashedValue, PrivateValue};
use crate::hash::Hash32;
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

    /// The collection `collection` of chaincode `namespace` as this node sees it, or
    /// `None` when the chaincode has no such collection. Views without private data
    /// answer with an error.
    fn collection(&self, namespace: &str, collection: &str) -> Result<Option<CollectionAccess>, StateError> {
        let _ = (namespace, collection);
        Err(no_private_data())
    }

    /// The committed private value of `key`, on a member node. Fails (rather than
    /// answering `None`) when the ledger holds a hash for the key but this node has not
    /// received the value yet; a value purged after its `blockToLive` reads as absent.
    fn private_get(&self, namespace: &str, collection: &str, key: &[u8]) -> Result<Option<PrivateValue>, StateError> {
        let _ = (namespace, collection, key);
        Err(no_private_data())
    }

    /// Private keys in `[start, end)` (empty `end`: unbounded) in key order, at most
    /// `limit`, on a member node.
    fn private_range(
        &self,
        namespace: &str,
        collection: &str,
        start: &[u8],
        end: &[u8],
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, PrivateValue)>, StateError> {
        let _ = (namespace, collection, start, end, limit);
        Err(no_private_data())
    }

    /// The on-ledger hash and version of a private key, which every node holds.
    fn private_hash(
        &self,
        namespace: &str,
        collection: &str,
        key_hash: &Hash32,
    ) -> Result<Option<HashedValue>, StateError> {
        let _ = (namespace, collection, key_hash);
        Err(no_private_data())
    }

    /// The keys to seal and open `collection`'s private values with, held inside an
    /// enclave. `None`: values stay plain (a simulator outside an enclave, as in unit
    /// tests); an enclave answers with its keys or fails, never `None`.
    fn collection_sealing(&self, namespace: &str, collection: &str) -> Result<Option<CollectionSealing>, StateError> {
        let _ = (namespace, collection);
        Ok(None)
    }
}

fn no_private_data() -> StateError {
    StateError("this state view holds no private data".into())
}
