//! Private data collections on the ledger side: what validation passes to commit (the
//! hashed writes every node applies), what a member node stores (values whose hashes the
//! block holds) and what it records as missing for reconciliation.
//!
//! The design is in `docs/PRIVATE_DATA.md`. In short: every node keeps the hashed state
//! ([`crate::tables::PVT_HASHED`]); a member node also keeps the values it received
//! ([`crate::tables::PVT_STATE`], [`crate::tables::PVT_HIST`]) and notes the ones it did
//! not ([`crate::tables::PVT_MISSING`]) so that a reconciler can fetch them later.

use crate::error::LedgerError;
use crate::lifecycle;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use teechain_types::chaincode::ChaincodeDefinition;
use teechain_types::collection::{
    private_key_hash, private_value_hash, sealed_value_hash, CollectionPrivateWrites, TxPrivateData,
};
use teechain_types::state::StateView;
use teechain_types::tx::TxBody;
use teechain_types::{Block, CollectionHashedRwSet, Hash32, TxId, ValidationCode, Version};

/// One hashed private write of a valid transaction, applied by every node to the hashed
/// state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HashedStateWrite {
    /// Chaincode namespace.
    pub namespace: String,
    /// Collection.
    pub collection: String,
    /// [`private_key_hash`] of the key.
    pub key_hash: Hash32,
    /// [`private_value_hash`] of the new value, or `None` for a delete or purge.
    pub value_hash: Option<Hash32>,
    /// True for an explicit purge: member nodes also drop the key's stored history.
    pub purge: bool,
    /// Version assigned: (block, index of the writing transaction).
    pub version: Version,
}

/// Private writes of one transaction to one collection that a member node stores with
/// the block, checked against the block's hashes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredPrivate {
    /// The writing transaction: (block, index).
    pub version: Version,
    /// The collection's `blockToLive` (0: kept forever).
    pub block_to_live: u64,
    /// The writes, in the order of the transaction's hashed writes.
    pub writes: CollectionPrivateWrites,
}

/// Private data of one transaction and collection that a member node has not received.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MissingPrivate {
    /// Block number.
    pub block: u64,
    /// Transaction index in the block.
    pub tx: u32,
    /// Chaincode namespace.
    pub namespace: String,
    /// Collection.
    pub collection: String,
}

/// What a node stores of a block's private data besides the hashes (see
/// [`plan_private_commit`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PrivateBlockData {
    /// Values received and matching the block's hashes.
    pub stored: Vec<StoredPrivate>,
    /// Collections written by valid transactions that this member node has no data for.
    pub missing: Vec<MissingPrivate>,
}

/// True when `writes` is exactly the private write set whose hashes `hashed` records:
/// same namespace and collection, same number of writes, and pairwise in order the same
/// key hash, the same purge flag, a value exactly where there is a value hash, and the
/// value with its blinding factor opening that hash (a sealed value: hashing to the
/// sealed hash).
pub fn private_writes_match(namespace: &str, hashed: &CollectionHashedRwSet, writes: &CollectionPrivateWrites) -> bool {
    writes.namespace == namespace
        && writes.collection == hashed.collection
        && writes.writes.len() == hashed.writes.len()
        && hashed.writes.iter().zip(&writes.writes).all(|(h, w)| {
            private_key_hash(namespace, &hashed.collection, &w.key) == h.key_hash
                && w.purge == h.purge
                && match (&w.value, &h.value_hash, &h.sealed_hash) {
                    // A sealed value: the host cannot open it, but checks it is the one
                    // the endorsers sealed.
                    (Some(sealed), Some(_), Some(sealed_hash)) => {
                        w.blind == Hash32::ZERO && sealed_value_hash(sealed) == *sealed_hash
                    }
                    (Some(value), Some(value_hash), None) => private_value_hash(&w.blind, value) == *value_hash,
                    (None, None, None) => true,
                    _ => false,
                }
        })
}

/// Decides what a node of organisation `my_org` stores of `block`'s private data.
///
/// `view` is state before the block (chaincode definitions are read from it) and `codes`
/// the block's validation codes. For every valid invocation and every collection it
/// writes: a member organisation's node looks among `candidates(tx_id)` (its transient
/// store) for writes matching the block's hashes ([`private_writes_match`]) and stores
/// them, or records the collection as missing; a non-member stores nothing beyond the
/// hashes, which commit applies from the validation outcome.
///
/// A collection the definition does not have is skipped: validation marks such a
/// transaction invalid, so it cannot occur with the codes the validator produced.
pub fn plan_private_commit(
    view: &dyn StateView,
    block: &Block,
    codes: &[ValidationCode],
    my_org: &str,
    candidates: &mut dyn FnMut(&TxId) -> Vec<TxPrivateData>,
) -> Result<PrivateBlockData, LedgerError> {
    let number = block.header.number;
    if codes.len() != block.transactions.len() {
        return Err(LedgerError::OutcomeMismatch { number, codes: codes.len(), txs: block.transactions.len() });
    }
    let mut plan = PrivateBlockData::default();
    let mut definitions: HashMap<String, Option<ChaincodeDefinition>> = HashMap::new();
    for (i, (tx, code)) in block.transactions.iter().zip(codes).enumerate() {
        let TxBody::Invoke(inv) = &tx.payload.body else { continue };
        if !code.is_valid() || inv.response.rwset.private.iter().all(|c| c.writes.is_empty()) {
            continue;
        }
        let ns = inv.chaincode.as_str();
        if !definitions.contains_key(ns) {
            definitions.insert(ns.to_string(), lifecycle::committed_definition(view, ns)?);
        }
        let Some(Some(def)) = definitions.get(ns) else { continue };
        let version = Version { block: number, tx: i as u32 };
        let tx_id = tx.tx_id();
        // Asked at most once per transaction, and only when this node is a member of a
        // collection it writes.
        let mut offered: Option<Vec<TxPrivateData>> = None;
        for hashed in inv.response.rwset.private.iter().filter(|c| !c.writes.is_empty()) {
            let Some(config) = def.collection(&hashed.collection) else { continue };
            if !config.is_member(my_org) {
                continue;
            }
            let offered = offered.get_or_insert_with(|| candidates(&tx_id));
            let found = offered
                .iter()
                .filter(|d| d.tx_id == tx_id)
                .flat_map(|d| &d.collections)
                .find(|w| private_writes_match(ns, hashed, w));
            match found {
                Some(writes) => plan.stored.push(StoredPrivate {
                    version,
                    block_to_live: config.block_to_live,
                    writes: writes.clone(),
                }),
                None => plan.missing.push(MissingPrivate {
                    block: number,
                    tx: i as u32,
                    namespace: ns.to_string(),
                    collection: hashed.collection.clone(),
                }),
            }
        }
    }
    Ok(plan)
}
