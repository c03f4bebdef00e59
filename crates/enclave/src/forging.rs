//! A forging host, for tests of the enclave boundary: a state view that answers the
//! enclave's reads as a malicious operator would, with chosen values for chosen keys and
//! the honest state for the rest. It models what the threat model grants a host: full
//! control of storage and of every ocall's answer, no access to enclave memory.

use std::collections::HashMap;

use teechain_types::chaincode::HistoryEntry;
use teechain_types::collection::{CollectionAccess, CollectionSealing, HashedValue, PrivateValue};
use teechain_types::state::{StateError, StateView};
use teechain_types::{Hash32, VersionedValue};

type Key = (String, Vec<u8>);
type PrivateKey = (String, String, Vec<u8>);

/// Honest state with forged answers laid over it.
pub struct ForgingHost<'a, V: StateView + Sync> {
    honest: &'a V,
    gets: HashMap<Key, Option<VersionedValue>>,
    ranges: HashMap<Key, Vec<(Vec<u8>, VersionedValue)>>,
    histories: HashMap<Key, Vec<HistoryEntry>>,
    private_gets: HashMap<PrivateKey, Option<PrivateValue>>,
    private_hashes: HashMap<(String, String, Hash32), Option<HashedValue>>,
}

impl<'a, V: StateView + Sync> ForgingHost<'a, V> {
    /// A host that answers honestly from `honest` until told otherwise.
    pub fn new(honest: &'a V) -> Self {
        ForgingHost {
            honest,
            gets: HashMap::new(),
            ranges: HashMap::new(),
            histories: HashMap::new(),
            private_gets: HashMap::new(),
            private_hashes: HashMap::new(),
        }
    }

    /// Answers a read of `key` in `namespace` with `value` (`None`: absent).
    pub fn forge_get(mut self, namespace: &str, key: &[u8], value: Option<VersionedValue>) -> Self {
        self.gets.insert((namespace.to_string(), key.to_vec()), value);
        self
    }

    /// Answers every range query of `namespace` that starts at `start` with `entries`.
    pub fn forge_range(mut self, namespace: &str, start: &[u8], entries: Vec<(Vec<u8>, VersionedValue)>) -> Self {
        self.ranges.insert((namespace.to_string(), start.to_vec()), entries);
        self
    }

    /// Answers every history query of `key` in `namespace` with `entries`.
    pub fn forge_history(mut self, namespace: &str, key: &[u8], entries: Vec<HistoryEntry>) -> Self {
        self.histories.insert((namespace.to_string(), key.to_vec()), entries);
        self
    }

    /// Answers a private read of `key` with `value`, and the hashed read of `key_hash`
    /// with `hashed` (a consistent forgery of both).
    pub fn forge_private(
        mut self,
        namespace: &str,
        collection: &str,
        key: &[u8],
        key_hash: Hash32,
        value: Option<PrivateValue>,
        hashed: Option<HashedValue>,
    ) -> Self {
        self.private_gets.insert((namespace.to_string(), collection.to_string(), key.to_vec()), value);
        self.private_hashes.insert((namespace.to_string(), collection.to_string(), key_hash), hashed);
        self
    }
}

impl<V: StateView + Sync> StateView for ForgingHost<'_, V> {
    fn get(&self, namespace: &str, key: &[u8]) -> Result<Option<VersionedValue>, StateError> {
        match self.gets.get(&(namespace.to_string(), key.to_vec())) {
            Some(forged) => Ok(forged.clone()),
            None => self.honest.get(namespace, key),
        }
    }

    fn range(
        &self,
        namespace: &str,
        start: &[u8],
        end: &[u8],
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, VersionedValue)>, StateError> {
        match self.ranges.get(&(namespace.to_string(), start.to_vec())) {
            Some(forged) => Ok(forged.iter().take(limit).cloned().collect()),
            None => self.honest.range(namespace, start, end, limit),
        }
    }

    fn history(&self, namespace: &str, key: &[u8], limit: usize) -> Result<Vec<HistoryEntry>, StateError> {
        match self.histories.get(&(namespace.to_string(), key.to_vec())) {
            Some(forged) => Ok(forged.iter().take(limit).cloned().collect()),
            None => self.honest.history(namespace, key, limit),
        }
    }

    fn collection(&self, namespace: &str, collection: &str) -> Result<Option<CollectionAccess>, StateError> {
        self.honest.collection(namespace, collection)
    }

    fn private_get(&self, namespace: &str, collection: &str, key: &[u8]) -> Result<Option<PrivateValue>, StateError> {
        match self.private_gets.get(&(namespace.to_string(), collection.to_string(), key.to_vec())) {
            Some(forged) => Ok(forged.clone()),
            None => self.honest.private_get(namespace, collection, key),
        }
    }

    fn private_range(
        &self,
        namespace: &str,
        collection: &str,
        start: &[u8],
        end: &[u8],
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, PrivateValue)>, StateError> {
        self.honest.private_range(namespace, collection, start, end, limit)
    }

    fn private_hash(
        &self,
        namespace: &str,
        collection: &str,
        key_hash: &Hash32,
    ) -> Result<Option<HashedValue>, StateError> {
        match self.private_hashes.get(&(namespace.to_string(), collection.to_string(), *key_hash)) {
            Some(forged) => Ok(*forged),
            None => self.honest.private_hash(namespace, collection, key_hash),
        }
    }

    fn collection_sealing(&self, namespace: &str, collection: &str) -> Result<Option<CollectionSealing>, StateError> {
        self.honest.collection_sealing(namespace, collection)
    }
}
