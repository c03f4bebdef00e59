//! Integration tests of the ledger store.

/// A child process committing blocks is killed with SIGKILL; the ledger must reopen at
/// a whole block with an intact hash chain and state matching its height.
mod crash;
/// The enclave registry: registration rules and endorsements by registered enclaves.
mod enclaves;
/// Private data collections: hashed state, member storage, planning, reconciliation,
/// blockToLive, purge, and the validator's collection rules.
mod private;
/// Commit rules: next block only, data hash checked, history and tx-id indexes.
mod store;
/// The channel's time: nodes' beacons, their median, the proposal window.
mod time;

use teechain_ledger::{BlockOutcome, StateWrite};
use teechain_types::chaincode::ChaincodeDefinition;
use teechain_types::hash::Signature;
use teechain_types::tx::{LifecycleOp, TxBody, TxHeader, TxPayload};
use teechain_types::{Block, Hash32, Identity, Transaction, ValidationCode, Version};

/// A structurally complete transaction (the store does not validate).
pub(crate) fn dummy_tx(n: u64) -> Transaction {
    let header = TxHeader {
        channel: "c".into(),
        creator: Identity { org: "org1".into(), cert_der: vec![7; 32] },
        nonce: n.to_be_bytes().to_vec(),
        timestamp_ms: n,
    };
    let def = ChaincodeDefinition {
        name: "x".into(),
        version: "1".into(),
        sequence: 1,
        code_hash: Hash32::ZERO,
        endorsement_policy: "OR('org1.member')".into(),
        collections: Vec::new(),
    };
    Transaction {
        payload: TxPayload { header, body: TxBody::Lifecycle(LifecycleOp::Approve(def)) },
        signature: Signature([0; 64]),
    }
}

/// Block `number` after `previous` with `txs` transactions, each writing `counter` = number
/// and a key of its own.
pub(crate) fn block_with_writes(number: u64, previous: Hash32, txs: usize, value_size: usize) -> (Block, BlockOutcome) {
    let transactions: Vec<_> = (0..txs).map(|i| dummy_tx(number * 10_000 + i as u64)).collect();
    let block = Block::new(number, previous, 1_000 + number, transactions);
    let mut writes = Vec::new();
    for i in 0..txs {
        let version = Version { block: number, tx: i as u32 };
        writes.push(StateWrite {
            namespace: "cc".into(),
            key: format!("key-{number}-{i}").into_bytes(),
            value: Some(vec![(number % 251) as u8; value_size]),
            version,
        });
        writes.push(StateWrite {
            namespace: "cc".into(),
            key: b"counter".to_vec(),
            value: Some(number.to_string().into_bytes()),
            version,
        });
    }
    (block, BlockOutcome { codes: vec![ValidationCode::Valid; txs], writes, private_writes: Vec::new() })
}
