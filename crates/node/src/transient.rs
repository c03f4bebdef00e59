//! The transient store: private data received from endorsers, held in memory until its
//! transaction commits (then checked against the block's hashes and stored) or until it
//! is too old. Nothing here touches disk: a node that restarts before the commit pulls
//! the data from another member node (reconciliation).

use std::collections::HashMap;
use std::sync::Mutex;
use teechain_types::collection::TxPrivateData;
use teechain_types::TxId;

/// Blocks after which uncommitted private data is dropped, by default.
pub const DEFAULT_RETENTION_BLOCKS: u64 = 1_000;

/// The most distinct payloads kept for one transaction id (endorsers that disagree each
/// send their own; a flood of forgeries must not grow without bound).
const MAX_CANDIDATES: usize = 8;

struct Entry {
    received_at: u64,
    candidates: Vec<TxPrivateData>,
}

/// Private data by transaction id, with the ledger height at which it arrived.
pub struct TransientStore {
    retention_blocks: u64,
    entries: Mutex<HashMap<TxId, Entry>>,
}

impl TransientStore {
    /// A store that drops entries `retention_blocks` blocks after they arrived.
    pub fn new(retention_blocks: u64) -> TransientStore {
        TransientStore { retention_blocks, entries: Mutex::new(HashMap::new()) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<TxId, Entry>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Keeps `data`, received when the ledger was `height` blocks high.
    pub fn put(&self, data: TxPrivateData, height: u64) {
        let mut entries = self.lock();
        let entry = entries.entry(data.tx_id).or_insert_with(|| Entry { received_at: height, candidates: Vec::new() });
        if !entry.candidates.contains(&data) && entry.candidates.len() < MAX_CANDIDATES {
            entry.candidates.push(data);
        }
    }

    /// Every payload received for `tx_id`.
    pub fn candidates(&self, tx_id: &TxId) -> Vec<TxPrivateData> {
        self.lock().get(tx_id).map(|e| e.candidates.clone()).unwrap_or_default()
    }

    /// Forgets the data of transactions that committed.
    pub fn remove(&self, tx_ids: impl IntoIterator<Item = TxId>) {
        let mut entries = self.lock();
        for id in tx_ids {
            entries.remove(&id);
        }
    }

    /// Drops entries older than the retention, now that the ledger is `height` blocks
    /// high; returns how many were dropped.
    pub fn purge(&self, height: u64) -> usize {
        let mut entries = self.lock();
        let before = entries.len();
        entries.retain(|_, e| e.received_at.saturating_add(self.retention_blocks) > height);
        before - entries.len()
    }

    /// Number of transactions with data held.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// True when nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use teechain_types::collection::CollectionPrivateWrites;
    use teechain_types::Hash32;

    fn data(tx: u8, collection: &str) -> TxPrivateData {
        TxPrivateData {
            tx_id: Hash32([tx; 32]),
            collections: vec![CollectionPrivateWrites {
                namespace: "cc".into(),
                collection: collection.into(),
                writes: Vec::new(),
            }],
        }
    }

    #[test]
    fn keeps_distinct_candidates_once() {
        let store = TransientStore::new(10);
        store.put(data(1, "a"), 0);
        store.put(data(1, "a"), 0);
        store.put(data(1, "b"), 1);
        assert_eq!(store.candidates(&Hash32([1; 32])).len(), 2);
        assert!(store.candidates(&Hash32([2; 32])).is_empty());
        store.remove([Hash32([1; 32])]);
        assert!(store.is_empty());
    }

    #[test]
    fn uncommitted_entries_go_after_the_retention() {
        let store = TransientStore::new(3);
        store.put(data(1, "a"), 5);
        store.put(data(2, "a"), 6);
        assert_eq!(store.purge(7), 0);
        assert_eq!(store.purge(8), 1, "the entry received at 5 is 3 blocks old at height 8");
        assert_eq!(store.candidates(&Hash32([2; 32])).len(), 1);
        assert_eq!(store.purge(9), 1);
        assert!(store.is_empty());
    }

    #[test]
    fn candidates_per_transaction_are_bounded() {
        let store = TransientStore::new(3);
        for i in 0..20 {
            store.put(data(1, &format!("c{i}")), 0);
        }
        assert_eq!(store.candidates(&Hash32([1; 32])).len(), MAX_CANDIDATES);
    }
}
