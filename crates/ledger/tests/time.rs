//! The channel's time: nodes' beacons on the ledger, their median, and the proposal
//! window measured from it rather than from the leader's block time.

use crate::enclaves::{client, net, node, CHANNEL};
use teechain_attestation::AttestationPolicy;
use teechain_crypto::SigningIdentity;
use teechain_ledger::{BlockValidator, Ledger};
use teechain_types::chaincode::Invocation;
use teechain_types::tx::{
    ChaincodeRef, EndorsedInvocation, Proposal, ProposalResponsePayload, TxBody, TxHeader, TxPayload,
};
use teechain_types::{Block, Hash32, ReadWriteSet, Transaction, ValidationCode};

/// Now, as honest nodes' clocks say.
const NOW: u64 = 1_751_328_000_000;
const MINUTE: u64 = 60_000;

fn signed(creator: &SigningIdentity, nonce: u64, timestamp_ms: u64, body: TxBody) -> Transaction {
    let header = TxHeader {
        channel: CHANNEL.into(),
        creator: creator.identity().clone(),
        nonce: nonce.to_be_bytes().to_vec(),
        timestamp_ms,
    };
    let payload = TxPayload { header, body };
    let signature = creator.sign(&payload.hash().0);
    Transaction { payload, signature }
}

fn beacon(org: &str, nonce: u64, time_ms: u64) -> Transaction {
    signed(node(org), nonce, time_ms, TxBody::TimeBeacon(time_ms))
}

/// An invocation proposed at `proposal_ms` with no endorsements: past the window check it
/// fails on its (undefined) chaincode, so its code tells whether the time passed.
fn invoke_at(nonce: u64, proposal_ms: u64) -> Transaction {
    let header = TxHeader {
        channel: CHANNEL.into(),
        creator: client("org1").identity().clone(),
        nonce: nonce.to_be_bytes().to_vec(),
        timestamp_ms: proposal_ms,
    };
    let invocation = Invocation { function: "f".into(), args: Vec::new() };
    let proposal = Proposal {
        header,
        chaincode: "cc".into(),
        invocation: invocation.clone(),
        sealed: None,
        transient_digest: Hash32::ZERO,
    };
    let response = ProposalResponsePayload {
        proposal_hash: proposal.hash(),
        chaincode: ChaincodeRef { name: "cc".into(), sequence: 1, code_hash: Hash32::ZERO },
        rwset: ReadWriteSet { namespace: "cc".into(), ..ReadWriteSet::default() },
        response_hash: Hash32::ZERO,
        events: Vec::new(),
    };
    let body = TxBody::Invoke(EndorsedInvocation {
        chaincode: "cc".into(),
        invocation,
        sealed: None,
        transient_digest: Hash32::ZERO,
        response,
        endorsements: Vec::new(),
    });
    let mut tx = signed(client("org1"), nonce, proposal_ms, body);
    tx.signature = client("org1").sign(&tx.payload.hash().0);
    tx
}

/// Validates and commits `txs` in a block the leader timed at `block_ms`.
fn run(l: &Ledger, block_ms: u64, txs: Vec<Transaction>) -> Vec<ValidationCode> {
    let block = Block::new(l.height(), l.last_hash(), block_ms, txs);
    let validator = BlockValidator::new(CHANNEL, net().msp.clone(), AttestationPolicy::default());
    let outcome = validator.validate(&l.snapshot().expect("snap"), &block).expect("validate");
    l.commit(block, &outcome).expect("commit");
    outcome.codes
}

#[test]
fn beacons_come_from_nodes_and_only_move_forward() {
    let dir = tempfile::tempdir().expect("tempdir");
    let l = Ledger::open(&dir.path().join("l.redb")).expect("open");
    use ValidationCode::*;
    let codes = run(
        &l,
        NOW,
        vec![
            beacon("org1", 1, NOW),
            signed(client("org2"), 2, NOW, TxBody::TimeBeacon(NOW)),
            beacon("org1", 3, NOW),
            beacon("org1", 4, NOW - 1),
            beacon("org2", 5, NOW + 1),
        ],
    );
    assert_eq!(codes, vec![Valid, InvalidTimeBeacon, InvalidTimeBeacon, InvalidTimeBeacon, Valid]);
    assert_eq!(run(&l, NOW, vec![beacon("org1", 6, NOW + 5)]), vec![Valid]);
}

/// A malicious leader times its blocks ten minutes ahead to end an auction early (attack
/// B through the block time). Once a majority of organisations vouch for the time, the
/// window is measured from their median: the early proposal is out, a proposal at the
/// honest time is in, whatever the block says. Before that, the block time rules.
#[test]
fn the_window_follows_the_organisations_median_not_the_leader() {
    let dir = tempfile::tempdir().expect("tempdir");
    let l = Ledger::open(&dir.path().join("l.redb")).expect("open");
    let early = NOW + 10 * MINUTE;
    use ValidationCode::*;
    // No beacons yet: the leader's block time is all there is.
    assert_eq!(run(&l, early, vec![invoke_at(1, early)]), vec![ChaincodeNotDefined]);
    // One organisation is no majority; two are.
    assert_eq!(run(&l, early, vec![beacon("org3", 2, early), invoke_at(3, early)]), vec![Valid, ChaincodeNotDefined]);
    assert_eq!(
        run(&l, early, vec![beacon("org1", 4, NOW), beacon("org2", 5, NOW + 1_000), invoke_at(6, early)]),
        vec![Valid, Valid, ProposalTimeOutOfWindow]
    );
    // The median of org1, org2 (honest) and org3 (ahead) is org2's: the leader's block
    // time no longer counts, and an honest proposal passes in its block.
    assert_eq!(
        run(&l, early, vec![invoke_at(7, early), invoke_at(8, NOW + 2_000)]),
        vec![ProposalTimeOutOfWindow, ChaincodeNotDefined]
    );
    // A beacon earlier in the block moves the time for the transactions after it.
    assert_eq!(
        run(
            &l,
            NOW,
            vec![
                invoke_at(9, NOW + 3 * MINUTE),
                beacon("org1", 10, NOW + 3 * MINUTE),
                beacon("org2", 11, NOW + 3 * MINUTE),
                invoke_at(12, NOW + 3 * MINUTE)
            ]
        ),
        vec![ProposalTimeOutOfWindow, Valid, Valid, ChaincodeNotDefined]
    );
}
