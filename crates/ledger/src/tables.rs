//! Every redb table of the ledger, in one place.
//!
//! Keys of state are `namespace 0x00 key`: chaincode names never contain a zero byte,
//! so a namespace's keys form one contiguous range in key order.

use redb::TableDefinition;

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
