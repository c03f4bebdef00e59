//! Every redb table of the ledger, in one place.
//!
//! Keys of state are `namespace 0x00 key`: chaincode names never contain a zero byte,
//! so a namespace's keys form one contiguous range in key order. Private data tables
//! (`pvt_*`) key by `namespace 0 collection 0 …` for the same reason: collection names
//! never contain a zero byte either, and key hashes are a fixed 32 bytes.

use redb::TableDefinition;
use teechain_types::{Hash32, Version};

/// Block number → encoded [`teechain_types::Block`] including its validation codes.
pub const BLOCKS: TableDefinition<u64, &[u8]> = TableDefinition::new("blocks");

/// `namespace 0 key` → `block (8 B BE) ‖ tx (4 B BE) ‖ value`: the current world state.
pub const STATE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("state");

/// `len(state key) (4 B BE) ‖ state key ‖ block (8 B BE) ‖ tx (4 B BE)` →
/// `tx id (32 B) ‖ block timestamp (8 B BE) ‖ 0|1 ‖ value`: every committed write.
pub const HISTORY: TableDefinition<&[u8], &[u8]> = TableDefinition::new("history");

/// Tx id → `block (8 B BE) ‖ tx (4 B BE) ‖ validation code (1 B)`, for every transaction
/// in a committed block, valid or not (a replayed id is rejected either way).
pub const TX_IDS: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new("tx_ids");

/// Single values under [`meta`] keys.
pub const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");

/// Keys of [`META`].
pub mod meta {
    /// Number of committed blocks (u64 BE).
    pub const HEIGHT: &str = "height";
    /// Hash of the last committed block header (32 B).
    pub const LAST_HASH: &str = "last_hash";
    /// The ordering service's last-applied marker (opaque bytes), written in the same
    /// transaction as the block it belongs to.
    pub const APPLIED: &str = "applied";
}

/// The state key of `key` in `namespace`.
pub fn state_key(namespace: &str, key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(namespace.len() + 1 + key.len());
    k.extend_from_slice(namespace.as_bytes());
    k.push(0);
    k.extend_from_slice(key);
    k
}

/// The prefix of [`HISTORY`] keys of one state key.
pub fn history_prefix(state_key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(4 + state_key.len() + 12);
    k.extend_from_slice(&(state_key.len() as u32).to_be_bytes());
    k.extend_from_slice(state_key);
    k
}

/// Hashed private state, which every node keeps: `namespace 0 collection 0 key hash (32 B)`
/// → `block (8 B BE) ‖ tx (4 B BE) ‖ value hash (32 B)`. A delete or purge removes the row.
pub const PVT_HASHED: TableDefinition<&[u8], &[u8]> = TableDefinition::new("pvt_hashed");

/// Private values on member nodes: `namespace 0 collection 0 key` →
/// `block (8 B BE) ‖ tx (4 B BE) ‖ flags (1 B) ‖ blind (32 B) ‖ value`. Flag bit 0
/// ([`PVT_FLAG_EXPIRED`]) marks a value removed by `blockToLive`: the version stays, blind
/// and value are gone.
pub const PVT_STATE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("pvt_state");

/// Private write history on member nodes: `namespace 0 collection 0 key hash ‖ block
/// (8 B BE) ‖ tx (4 B BE)` → encoded [`teechain_types::collection::PrivateWrite`], deletes
/// included, so that a transaction's collection write set can be rebuilt for another
/// member node that missed it.
pub const PVT_HIST: TableDefinition<&[u8], &[u8]> = TableDefinition::new("pvt_hist");

/// Private data this member node has not received: `block (8 B BE) ‖ tx (4 B BE) ‖
/// namespace 0 collection` → empty.
pub const PVT_MISSING: TableDefinition<&[u8], &[u8]> = TableDefinition::new("pvt_missing");

/// Scheduled `blockToLive` removals: `expiry block (8 B BE) ‖ block (8 B BE) ‖ tx (4 B BE)
/// ‖ namespace 0 collection 0 key hash (32 B)` → empty.
pub const PVT_EXPIRY: TableDefinition<&[u8], &[u8]> = TableDefinition::new("pvt_expiry");

/// Explicit purges: `namespace 0 collection 0 key hash (32 B)` → `block (8 B BE) ‖ tx
/// (4 B BE)` of the key's last purge, so that reconciling data written before the purge
/// cannot bring the purged values back.
pub const PVT_PURGED: TableDefinition<&[u8], &[u8]> = TableDefinition::new("pvt_purged");

/// [`PVT_STATE`] flag: the value expired (`blockToLive`) and was removed.
pub const PVT_FLAG_EXPIRED: u8 = 1;

/// `namespace 0 collection 0`: the prefix of a collection's rows in [`PVT_HASHED`],
/// [`PVT_STATE`], [`PVT_HIST`] and [`PVT_PURGED`].
pub fn pvt_collection_prefix(namespace: &str, collection: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(namespace.len() + collection.len() + 2 + 32 + 12);
    k.extend_from_slice(namespace.as_bytes());
    k.push(0);
    k.extend_from_slice(collection.as_bytes());
    k.push(0);
    k
}

/// The [`PVT_HASHED`] (and [`PVT_PURGED`]) key of a private key hash.
pub fn pvt_hashed_key(namespace: &str, collection: &str, key_hash: &Hash32) -> Vec<u8> {
    let mut k = pvt_collection_prefix(namespace, collection);
    k.extend_from_slice(&key_hash.0);
    k
}

/// The [`PVT_STATE`] key of a private key.
pub fn pvt_state_key(namespace: &str, collection: &str, key: &[u8]) -> Vec<u8> {
    let mut k = pvt_collection_prefix(namespace, collection);
    k.extend_from_slice(key);
    k
}

/// The [`PVT_HIST`] key of one write of a private key.
pub fn pvt_hist_key(namespace: &str, collection: &str, key_hash: &Hash32, version: Version) -> Vec<u8> {
    let mut k = pvt_hashed_key(namespace, collection, key_hash);
    k.extend_from_slice(&version.block.to_be_bytes());
    k.extend_from_slice(&version.tx.to_be_bytes());
    k
}

/// The [`PVT_MISSING`] key of a transaction's collection.
pub fn pvt_missing_key(version: Version, namespace: &str, collection: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(12 + namespace.len() + 1 + collection.len());
    k.extend_from_slice(&version.block.to_be_bytes());
    k.extend_from_slice(&version.tx.to_be_bytes());
    k.extend_from_slice(namespace.as_bytes());
    k.push(0);
    k.extend_from_slice(collection.as_bytes());
    k
}

/// The [`PVT_EXPIRY`] key of a value written at `version` that expires when block
/// `expiry_block` commits.
pub fn pvt_expiry_key(
    expiry_block: u64,
    version: Version,
    namespace: &str,
    collection: &str,
    key_hash: &Hash32,
) -> Vec<u8> {
    let mut k = Vec::with_capacity(20 + namespace.len() + collection.len() + 2 + 32);
    k.extend_from_slice(&expiry_block.to_be_bytes());
    k.extend_from_slice(&version.block.to_be_bytes());
    k.extend_from_slice(&version.tx.to_be_bytes());
    k.extend_from_slice(&pvt_hashed_key(namespace, collection, key_hash));
    k
}
