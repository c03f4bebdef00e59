use crate::fixture::{args, client, definition, network, payment_network, testbed_network, PAYMENT_POLICY};
use teechain_client::Client;
use teechain_node::config::init_network;
use teechain_node::{Gateway, LocalNetwork};
use teechain_types::tx::LifecycleOp;
use teechain_types::{KvWrite, ValidationCode};

#[test]
fn second_of_two_transfers_reading_the_same_balance_in_one_block_is_an_mvcc_conflict() {
    let n = payment_network();
    let c = client(&n.net, "org1");
    // Both are endorsed against the same committed balance of org1, then ordered together.
    let (a, _) = c.prepare(&n.net, "payment", "transfer", args(&["org1", "org2", "5"]), &[]).expect("a");
    let (b, _) = c.prepare(&n.net, "payment", "transfer", args(&["org1", "org2", "7"]), &[]).expect("b");
    let out = n.net.submit_all(vec![a, b]).expect("order");
    assert_eq!(out[0].block, out[1].block, "one block");
    assert_eq!(out[0].code, ValidationCode::Valid);
    assert_eq!(out[1].code, ValidationCode::MvccReadConflict);
    assert_eq!(crate::fixture::balance(&n.net, "org1"), 95, "only the first applied");
    // The codes are stored in the block on every node.
    for p in n.net.peers() {
        let block = p.ledger().block(out[1].block).expect("read").expect("block");
        assert_eq!(block.validation, vec![ValidationCode::Valid, ValidationCode::MvccReadConflict]);
    }
}

#[test]
fn a_stale_read_across_blocks_is_an_mvcc_conflict() {
    let n = payment_network();
    let c = client(&n.net, "org1");
    let (stale, _) = c.prepare(&n.net, "payment", "transfer", args(&["org1", "org2", "5"]), &[]).expect("stale");
    c.invoke(&n.net, "payment", "transfer", args(&["org1", "org2", "1"]), &[]).expect("fresh");
    assert_eq!(n.net.submit(stale).expect("order").code, ValidationCode::MvccReadConflict);
}

#[test]
fn a_replayed_transaction_is_a_duplicate_in_a_later_block_and_in_the_same_block() {
    let n = payment_network();
    let c = client(&n.net, "org1");
    let (tx, _) = c.prepare(&n.net, "payment", "transfer", args(&["org1", "org2", "5"]), &[]).expect("tx");
    assert_eq!(n.net.submit(tx.clone()).expect("first").code, ValidationCode::Valid);
    assert_eq!(n.net.submit(tx.clone()).expect("replay").code, ValidationCode::DuplicateTxId);
    let (tx2, _) = c.prepare(&n.net, "payment", "transfer", args(&["org1", "org2", "5"]), &[]).expect("tx2");
    let out = n.net.submit_all(vec![tx2.clone(), tx2]).expect("both");
    assert_eq!(
        out.iter().map(|o| o.code).collect::<Vec<_>>(),
        vec![ValidationCode::Valid, ValidationCode::DuplicateTxId]
    );
    assert_eq!(crate::fixture::balance(&n.net, "org1"), 90);
}

#[test]
fn a_forged_client_signature_is_rejected_and_does_not_burn_the_tx_id() {
    let n = payment_network();
    let c = client(&n.net, "org1");
    let (tx, _) = c.prepare(&n.net, "payment", "transfer", args(&["org1", "org2", "5"]), &[]).expect("tx");
    let mut forged = tx.clone();
    forged.signature.0[10] ^= 0x40;
    assert_eq!(n.net.submit(forged).expect("forged").code, ValidationCode::BadCreatorSignature);
    // The genuine transaction with the same id still commits.
    assert_eq!(n.net.submit(tx).expect("genuine").code, ValidationCode::Valid);
}

#[test]
fn writes_changed_after_endorsement_are_rejected() {
    let n = payment_network();
    let c = client(&n.net, "org1");
    let proposal = c.propose("payment", "transfer", args(&["org1", "org2", "5"]), &[]);
    let mut responses = n.net.endorse(&proposal, &[]).expect("endorse");
    // A malicious client raises its own balance in every response and signs the result.
    for r in &mut responses {
        r.payload.rwset.writes.push(KvWrite { key: b"balance/org3".to_vec(), value: Some(b"1000000".to_vec()) });
    }
    let tx = c.assemble(&proposal, &responses).expect("assemble");
    assert_eq!(n.net.submit(tx).expect("order").code, ValidationCode::BadEndorsement);
    assert_eq!(crate::fixture::balance(&n.net, "org3"), 100);
}

#[test]
fn one_endorsement_too_few_fails_the_policy() {
    let n = payment_network();
    let c = client(&n.net, "org1");
    let proposal = c.propose("payment", "transfer", args(&["org1", "org2", "5"]), &[]);
    let responses = n.net.endorse(&proposal, &[]).expect("endorse");
    assert_eq!(responses.len(), 2, "policy {PAYMENT_POLICY} needs org1 and org2");
    let tx = c.assemble(&proposal, &responses[..1]).expect("assemble");
    assert_eq!(n.net.submit(tx).expect("order").code, ValidationCode::EndorsementPolicyFailure);
    // The same endorsement twice is still one endorser: org2's is still missing. (A fresh
    // proposal: the first one's id is recorded, its creator signature being genuine.)
    let fresh = c.propose("payment", "transfer", args(&["org1", "org2", "5"]), &[]);
    let org1 = n.net.endorse(&fresh, &[]).expect("endorse").swap_remove(0);
    let tx = c.assemble(&fresh, &[org1.clone(), org1]).expect("assemble");
    assert_eq!(n.net.submit(tx).expect("order").code, ValidationCode::EndorsementPolicyFailure);
    assert_eq!(crate::fixture::balance(&n.net, "org1"), 100, "nothing applied");
}

#[test]
fn a_certificate_from_an_unknown_ca_is_rejected_at_endorsement_and_at_validation() {
    let n = payment_network();
    let foreign_dir = tempfile::tempdir().expect("tempdir");
    init_network(foreign_dir.path(), "teechain", &["org1".to_string()]).expect("foreign init");
    let foreign_net = LocalNetwork::open(foreign_dir.path()).expect("foreign open");
    // Same organisation name, same channel, but a CA the channel does not know.
    let impostor = Client::new(foreign_net.user("org1", "client").expect("id"), "teechain");
    let err = impostor.invoke(&n.net, "payment", "transfer", args(&["org1", "org2", "5"]), &[]).expect_err("refused");
    assert!(err.to_string().contains("creator certificate"), "{err}");
    let foreign_admin = Client::new(foreign_net.user("org1", "admin").expect("id"), "teechain");
    let def = definition("payment", teechain_contracts::PAYMENT, 2, "OR('org1.member')");
    let out = n.net.submit(foreign_admin.lifecycle(LifecycleOp::Approve(def))).expect("order");
    assert_eq!(out.code, ValidationCode::UnknownCreator);
}

#[test]
fn a_transaction_for_another_channel_is_rejected() {
    let n = payment_network();
    let other = Client::new(n.net.user("org1", "admin").expect("id"), "elsewhere");
    let def = definition("payment", teechain_contracts::PAYMENT, 2, "OR('org1.member')");
    assert_eq!(
        n.net.submit(other.lifecycle(LifecycleOp::Approve(def))).expect("order").code,
        ValidationCode::WrongChannel
    );
}

#[test]
fn a_range_read_is_a_phantom_conflict_when_a_key_enters_the_range_in_the_same_block() {
    let n = testbed_network("OR('org1.member')");
    let c = client(&n.net, "org1");
    c.invoke(&n.net, "testbed", "put", args(&["k1", "a"]), &[]).expect("seed");
    let (scan, _) = c.prepare(&n.net, "testbed", "range", args(&["k0", "k9"]), &[]).expect("scan");
    let (insert, _) = c.prepare(&n.net, "testbed", "put", args(&["k5", "b"]), &[]).expect("insert");
    // Insert first, then the scan that did not see k5.
    let out = n.net.submit_all(vec![insert, scan]).expect("order");
    assert_eq!(out[0].code, ValidationCode::Valid);
    assert_eq!(out[1].code, ValidationCode::PhantomReadConflict);
    // Across blocks too: a scan endorsed before an insert commits is a phantom.
    let (scan, _) = c.prepare(&n.net, "testbed", "range", args(&["k0", "k9"]), &[]).expect("scan");
    c.invoke(&n.net, "testbed", "put", args(&["k6", "c"]), &[]).expect("insert");
    assert_eq!(n.net.submit(scan).expect("order").code, ValidationCode::PhantomReadConflict);
}

#[test]
fn validation_codes_agree_on_every_node_and_chains_verify() {
    let n = network();
    crate::fixture::deploy(&n.net, "testbed", teechain_contracts::TESTBED, "OR('org2.member')");
    let c = client(&n.net, "org2");
    c.invoke(&n.net, "testbed", "put", args(&["x", "1"]), &[]).expect("put");
    let heights: Vec<_> = n.net.peers().iter().map(|p| p.ledger().verify_chain().expect("verify")).collect();
    assert!(heights.windows(2).all(|w| w[0] == w[1]));
    assert!(heights[0].height >= 5);
}
