//! The transaction simulator: serves a chaincode's state calls from committed state plus
//! its own pending writes, and records what it read and wrote as a [`ReadWriteSet`].
//! Private data collections are in the `private` submodule.

use std::collections::{BTreeMap, BTreeSet};

use teechain_types::chaincode::abi::{MAX_KEY_BYTES, MAX_VALUE_BYTES};
use teechain_types::chaincode::HistoryEntry;
use teechain_types::collection::{CollectionAccess, CollectionPrivateWrites};
use teechain_types::hash::sha256;
use teechain_types::hash::Hash32;
use teechain_types::keys::KeyScope;
use teechain_types::rwset::{history_digest, in_range, range_digest, HistoryRead, KeyEpochRead, MAX_RANGE_RESULTS};
use teechain_types::state::StateView;
use teechain_types::{KvRead, KvWrite, RangeRead, ReadWriteSet};

use crate::RuntimeError;

mod private;
mod sealed;

use private::PrivateColl;
pub(crate) use private::PrivateError;

/// Key-value pairs in key order, as a range query returns them.
pub type KvPairs = Vec<(Vec<u8>, Vec<u8>)>;

pub use teechain_types::rwset::MAX_HISTORY_ENTRIES;

/// The most bytes of keys and values one invocation may write (events included). A
/// transaction encodes to at most 4 MiB (`Limits::TRANSACTION`), so this leaves room for
/// the rest of it.
pub const MAX_WRITE_SET_BYTES: usize = 3 << 20;

/// What a private write counts against [`MAX_WRITE_SET_BYTES`] on top of its key and
/// value: its key hash and value hash in the read-write set and its blinding factor in
/// the private data.
pub const PRIVATE_WRITE_OVERHEAD: usize = 96;

/// Simulates one invocation against committed state of one namespace.
///
/// - The first read of a key records a [`KvRead`] with the committed version and the
///   SHA-256 of the committed value; later reads of the key are served from a cache,
///   so the invocation sees one consistent snapshot.
/// - Writes are buffered; a read after a write of the same key returns the pending value
///   (read-your-writes) and records nothing.
/// - A range query records a [`RangeRead`] whose digest covers the committed
///   `(key, version, value hash)` triples, and returns those merged with the pending
///   writes.
/// - Private data (crate-internal methods, used by the host functions) is recorded the
///   same way as hashed reads and writes per collection, in
///   [`ReadWriteSet::private`]; the values and blinding factors of private writes are
///   kept apart (see [`TxSimulator::into_parts`]).
pub struct TxSimulator<'a> {
    namespace: &'a str,
    state: &'a dyn StateView,
    /// Committed values read so far (`None`: absent), with the recorded reads.
    reads: BTreeMap<Vec<u8>, (KvRead, Option<Vec<u8>>)>,
    range_reads: Vec<RangeRead>,
    /// Pending writes; `None` deletes.
    writes: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    /// Bytes of pending public and private writes (see [`MAX_WRITE_SET_BYTES`]).
    write_bytes: usize,
    /// The collections looked up so far that exist, as this node sees them.
    collections: BTreeMap<String, CollectionAccess>,
    /// Per collection touched: hashed reads, values read and pending writes.
    private: BTreeMap<String, PrivateColl>,
    /// Key epochs sealed under (see [`ReadWriteSet::key_epochs`]).
    key_epochs: BTreeSet<KeyEpochRead>,
    /// History queries answered so far, by key: the answer and its recorded read.
    histories: BTreeMap<Vec<u8>, (Vec<HistoryEntry>, Hash32)>,
}

impl<'a> TxSimulator<'a> {
    /// A simulator over `state` for chaincode namespace `namespace`.
    pub fn new(namespace: &'a str, state: &'a dyn StateView) -> Self {
        TxSimulator {
            namespace,
            state,
            reads: BTreeMap::new(),
            range_reads: Vec::new(),
            writes: BTreeMap::new(),
            write_bytes: 0,
            collections: BTreeMap::new(),
            private: BTreeMap::new(),
            key_epochs: BTreeSet::new(),
            histories: BTreeMap::new(),
        }
    }

    /// Notes that a value was sealed under `epoch` of the key `scope`, as its latest.
    pub fn sealed_under(&mut self, scope: KeyScope, epoch: u32, public_key: [u8; 32]) {
        self.key_epochs.insert(KeyEpochRead { scope, epoch, public_key });
    }

    /// The chaincode namespace it simulates.
    pub fn namespace(&self) -> &str {
        self.namespace
    }

    /// Bytes written so far: keys and values of pending writes, public and private (a
    /// private write also counts [`PRIVATE_WRITE_OVERHEAD`] bytes).
    pub fn write_bytes(&self) -> usize {
        self.write_bytes
    }

    /// The value of `key` as this invocation sees it.
    pub fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, RuntimeError> {
        check_len("key", key.len(), MAX_KEY_BYTES)?;
        if let Some(pending) = self.writes.get(key) {
            return Ok(pending.clone());
        }
        if let Some((_, value)) = self.reads.get(key) {
            return Ok(value.clone());
        }
        let committed = self.state.get(self.namespace, key)?;
        let (read, value) = match committed {
            Some(v) => (
                KvRead { key: key.to_vec(), version: Some(v.version), value_hash: Some(sha256(&v.value)) },
                Some(v.value),
            ),
            None => (KvRead { key: key.to_vec(), version: None, value_hash: None }, None),
        };
        self.reads.insert(key.to_vec(), (read, value.clone()));
        Ok(value)
    }

    /// Buffers a write (`None` deletes); `extra_bytes` (events) count against the same
    /// budget of [`MAX_WRITE_SET_BYTES`].
    pub fn put(&mut self, key: &[u8], value: Option<&[u8]>, extra_bytes: usize) -> Result<(), RuntimeError> {
        check_len("key", key.len(), MAX_KEY_BYTES)?;
        if let Some(v) = value {
            check_len("value", v.len(), MAX_VALUE_BYTES)?;
        }
        let old = self.writes.get(key).map(|v| key.len() + v.as_ref().map_or(0, Vec::len)).unwrap_or(0);
        let new = key.len() + value.map_or(0, <[u8]>::len);
        let total = self.write_bytes - old + new;
        if total + extra_bytes > MAX_WRITE_SET_BYTES {
            return Err(RuntimeError::TooLarge {
                what: "write set",
                len: total + extra_bytes,
                limit: MAX_WRITE_SET_BYTES,
            });
        }
        self.write_bytes = total;
        self.writes.insert(key.to_vec(), value.map(<[u8]>::to_vec));
        Ok(())
    }

    /// Keys in `[start, end)` (empty `end`: unbounded) with their values, as this
    /// invocation sees them. Fails when committed state holds more than
    /// [`MAX_RANGE_RESULTS`] keys in the range.
    pub fn range(&mut self, start: &[u8], end: &[u8]) -> Result<KvPairs, RuntimeError> {
        check_len("range start", start.len(), MAX_KEY_BYTES)?;
        check_len("range end", end.len(), MAX_KEY_BYTES)?;
        let committed = self.state.range(self.namespace, start, end, MAX_RANGE_RESULTS + 1)?;
        if committed.len() > MAX_RANGE_RESULTS {
            return Err(RuntimeError::TooLarge {
                what: "range query result (keys)",
                len: committed.len(),
                limit: MAX_RANGE_RESULTS,
            });
        }
        // The ledger's validator re-runs the query and compares this digest, so it covers
        // exactly the committed keys, whatever this invocation wrote.
        let digest = range_digest(committed.iter().map(|(k, v)| (k.as_slice(), v)));
        self.range_reads.push(RangeRead { start: start.to_vec(), end: end.to_vec(), results_digest: digest });

        let mut merged: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
        for (key, v) in committed {
            merged.insert(key, v.value);
        }
        for (key, pending) in self.writes.iter().filter(|(k, _)| in_range(k, start, end)) {
            match pending {
                Some(v) => merged.insert(key.clone(), v.clone()),
                None => merged.remove(key),
            };
        }
        Ok(merged.into_iter().collect())
    }

    /// Committed changes of `key`, oldest first, at most the newest
    /// [`MAX_HISTORY_ENTRIES`]. Recorded as a [`HistoryRead`] (the first answer per key
    /// is kept), so a validator can run the query again.
    pub fn history(&mut self, key: &[u8]) -> Result<Vec<HistoryEntry>, RuntimeError> {
        check_len("key", key.len(), MAX_KEY_BYTES)?;
        if let Some((entries, _)) = self.histories.get(key) {
            return Ok(entries.clone());
        }
        let entries = self.state.history(self.namespace, key, MAX_HISTORY_ENTRIES)?;
        self.histories.insert(key.to_vec(), (entries.clone(), history_digest(&entries)));
        Ok(entries)
    }

    /// The recorded read-write set: reads and writes sorted by key, range reads in query
    /// order, hashed private reads and writes per collection (see
    /// [`TxSimulator::into_parts`]).
    pub fn into_rwset(self) -> ReadWriteSet {
        self.into_parts().0
    }

    /// The recorded read-write set and the private writes it commits to.
    ///
    /// - `rwset.private` has one entry per collection with recorded reads or writes,
    ///   sorted by collection name; its reads and writes are sorted by key hash.
    /// - The private writes have one entry per collection written (namespace: this
    ///   simulator's), sorted by collection name, the writes sorted by key hash, each
    ///   with the value and blinding factor behind its hashed write.
    pub fn into_parts(self) -> (ReadWriteSet, Vec<CollectionPrivateWrites>) {
        let (private, private_writes) = private::finish(self.namespace, self.private);
        let rwset = ReadWriteSet {
            namespace: self.namespace.to_string(),
            reads: self.reads.into_values().map(|(read, _)| read).collect(),
            range_reads: self.range_reads,
            writes: self.writes.into_iter().map(|(key, value)| KvWrite { key, value }).collect(),
            private,
            key_epochs: self.key_epochs.into_iter().collect(),
            history_reads: self.histories.into_iter().map(|(key, (_, digest))| HistoryRead { key, digest }).collect(),
        };
        (rwset, private_writes)
    }
}

fn check_len(what: &'static str, len: usize, limit: usize) -> Result<(), RuntimeError> {
    if len > limit {
        Err(RuntimeError::TooLarge { what, len, limit })
    } else {
        Ok(())
    }
}
