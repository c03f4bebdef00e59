//! Read-write sets: what a simulated transaction read and what it would write.

use crate::hash::Hash32;
use serde::{Deserialize, Serialize};

/// Where a value was last written: block number and the transaction's index in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Version {
    /// Block number.
    pub block: u64,
    /// Transaction index within the block.
    pub tx: u32,
}

/// A committed value and its version.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionedValue {
    /// The value.
    pub value: Vec<u8>,
    /// When it was written.
    pub version: Version,
}

/// One key read during simulation, with what was seen. `version == None` means the
/// key was absent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvRead {
    /// The key within the chaincode's namespace.
    pub key: Vec<u8>,
    /// The version read, or `None` if absent.
    pub version: Option<Version>,
    /// SHA-256 of the value read, or `None` if absent.
    pub value_hash: Option<Hash32>,
}

/// One key written; `value == None` deletes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvWrite {
    /// The key within the chaincode's namespace.
    pub key: Vec<u8>,
    /// The new value, or `None` for a delete.
    pub value: Option<Vec<u8>>,
}

/// A range query `[start, end)` and a digest of the `(key, version, value hash)` triples
/// it saw, so a validator can detect phantoms (keys added to or removed from the range)
/// and values its endorser's host altered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RangeRead {
    /// Inclusive start key.
    pub start: Vec<u8>,
    /// Exclusive end key; empty means unbounded.
    pub end: Vec<u8>,
    /// Digest of the results (see [`range_digest`]).
    pub results_digest: Hash32,
}

/// The effects of one simulated invocation on one chaincode namespace. Reads and writes
/// are sorted by key so that two endorsers produce identical bytes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadWriteSet {
    /// The namespace (chaincode name).
    pub namespace: String,
    /// Point reads, sorted by key.
    pub reads: Vec<KvRead>,
    /// Range reads in query order.
    pub range_reads: Vec<RangeRead>,
    /// Writes, sorted by key.
    pub writes: Vec<KvWrite>,
    /// Hashed reads and writes of private data, one entry per collection touched,
    /// sorted by collection name. The values travel only between member nodes.
    pub private: Vec<CollectionHashedRwSet>,
    /// The key epochs the invocation sealed under, each as the latest of its key, sorted:
    /// a host that hid a newer epoch from its enclave, or handed it one the ledger does
    /// not hold, makes the transaction invalid.
    pub key_epochs: Vec<KeyEpochRead>,
    /// History queries, sorted by key: each key and a digest of the entries returned.
    pub history_reads: Vec<HistoryRead>,
}

/// A history query of one key: a validator runs it again and compares the digest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryRead {
    /// The key within the chaincode's namespace.
    pub key: Vec<u8>,
    /// [`history_digest`] of the entries returned.
    pub digest: Hash32,
}

/// The most history entries one history query returns (the newest ones); simulation and
/// validation use the same bound.
pub const MAX_HISTORY_ENTRIES: usize = 1_000;

/// Digest of a history query's entries.
pub fn history_digest(entries: &[crate::chaincode::HistoryEntry]) -> Hash32 {
    crate::hash::sha256(&crate::codec::encode(entries))
}

/// A key epoch an invocation sealed values under, taken to be the latest of its key.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct KeyEpochRead {
    /// Which key (of the invocation's chaincode).
    pub scope: crate::keys::KeyScope,
    /// The epoch.
    pub epoch: u32,
    /// The epoch's public key, as its committed record holds it.
    pub public_key: [u8; 32],
}

/// One private key read, as the shared ledger records it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HashedRead {
    /// [`crate::collection::private_key_hash`] of the key.
    pub key_hash: Hash32,
    /// The version read, or `None` if absent.
    pub version: Option<Version>,
    /// The on-ledger value hash read ([`crate::collection::private_value_hash`]), or
    /// `None` if absent: a host that hands its enclave an older value under the current
    /// version makes the transaction invalid.
    pub value_hash: Option<Hash32>,
}

/// One private key written, as the shared ledger records it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HashedWrite {
    /// [`crate::collection::private_key_hash`] of the key.
    pub key_hash: Hash32,
    /// [`crate::collection::private_value_hash`] of the value, or `None` for a delete.
    pub value_hash: Option<Hash32>,
    /// SHA-256 of the sealed value member nodes receive and store
    /// ([`crate::collection::sealed_value_hash`]), when the value is sealed: a member's
    /// host checks what it received against it without being able to open it.
    pub sealed_hash: Option<Hash32>,
    /// True for an explicit purge (a delete that also removes the key's history from
    /// member nodes).
    pub purge: bool,
}

/// The hashed reads and writes of one invocation on one collection.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CollectionHashedRwSet {
    /// Collection name.
    pub collection: String,
    /// Reads, sorted by key hash.
    pub reads: Vec<HashedRead>,
    /// Writes, sorted by key hash.
    pub writes: Vec<HashedWrite>,
}

/// Digest of range-query results: each key, its version and the SHA-256 of its value,
/// in key order.
pub fn range_digest<'a>(results: impl IntoIterator<Item = (&'a [u8], &'a VersionedValue)>) -> Hash32 {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for (key, v) in results {
        h.update((key.len() as u64).to_be_bytes());
        h.update(key);
        h.update(v.version.block.to_be_bytes());
        h.update(v.version.tx.to_be_bytes());
        h.update(Sha256::digest(&v.value));
    }
    Hash32(h.finalize().into())
}

/// True when `key` lies in `[start, end)` (an empty `end` is unbounded).
pub fn in_range(key: &[u8], start: &[u8], end: &[u8]) -> bool {
    key >= start && (end.is_empty() || key < end)
}

/// The most results one range query returns; simulation and validation use the same
/// bound so that both compute the digest over the same keys.
pub const MAX_RANGE_RESULTS: usize = 10_000;
