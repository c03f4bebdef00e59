use crate::fixture::{admin, args, client, definition, network, orgs, payment_network};
use teechain_node::{Gateway, NodeError};
use teechain_types::tx::LifecycleOp;
use teechain_types::ValidationCode;

#[test]
fn invoking_an_uncommitted_chaincode_is_refused_clearly() {
    let n = network();
    n.net.install(teechain_contracts::PAYMENT).expect("install");
    let err = client(&n.net, "org1").invoke(&n.net, "payment", "balance", args(&["org1"]), &[]).expect_err("refused");
    assert!(matches!(err, teechain_client::ClientError::Node(NodeError::ChaincodeNotCommitted { .. })), "{err}");
    assert!(err.to_string().contains("not committed"), "{err}");
    let q = client(&n.net, "org1").query(&n.net, "payment", "balance", args(&["org1"])).expect_err("query refused");
    assert!(q.to_string().contains("not committed"), "{q}");
}

#[test]
fn commit_needs_a_majority_of_approvals() {
    let n = network();
    let wasm = teechain_contracts::PAYMENT;
    n.net.install(wasm).expect("install");
    let def = definition("payment", wasm, 1, "AND('org1.member','org2.member')");
    let approve = |org: &str| {
        n.net.submit(admin(&n.net, org).lifecycle(LifecycleOp::Approve(def.clone()))).expect("approve").code
    };
    let commit =
        || n.net.submit(admin(&n.net, "org3").lifecycle(LifecycleOp::Commit(def.clone()))).expect("commit").code;
    assert_eq!(approve("org1"), ValidationCode::Valid);
    assert_eq!(commit(), ValidationCode::LifecycleInvalid, "1 of 3 is no majority");
    // An approval of a different definition does not count.
    let other = definition("payment", wasm, 1, "OR('org2.member')");
    let o = n.net.submit(admin(&n.net, "org2").lifecycle(LifecycleOp::Approve(other))).expect("approve other");
    assert_eq!(o.code, ValidationCode::Valid);
    assert_eq!(commit(), ValidationCode::LifecycleInvalid, "org2 approved something else");
    assert_eq!(approve("org3"), ValidationCode::Valid);
    assert_eq!(commit(), ValidationCode::Valid, "2 of 3 is a majority");
    assert_eq!(n.net.peers()[2].definition("payment").expect("read"), Some(def));
}

#[test]
fn only_admins_may_approve_and_bad_definitions_are_refused() {
    let n = network();
    let wasm = teechain_contracts::PAYMENT;
    let def = definition("payment", wasm, 1, "AND('org1.member','org2.member')");
    let by_client = client(&n.net, "org1").lifecycle(LifecycleOp::Approve(def.clone()));
    assert_eq!(n.net.submit(by_client).expect("order").code, ValidationCode::LifecycleUnauthorized);
    let bad_policy = definition("payment", wasm, 1, "AND('org1.member',");
    let out = n.net.submit(admin(&n.net, "org1").lifecycle(LifecycleOp::Approve(bad_policy))).expect("order");
    assert_eq!(out.code, ValidationCode::LifecycleInvalid);
    let skip = definition("payment", wasm, 3, "OR('org1.member')");
    let out = n.net.submit(admin(&n.net, "org1").lifecycle(LifecycleOp::Approve(skip))).expect("order");
    assert_eq!(out.code, ValidationCode::LifecycleInvalid, "sequence must be committed + 1");
    let reserved = definition("_lifecycle", wasm, 1, "OR('org1.member')");
    let out = n.net.submit(admin(&n.net, "org1").lifecycle(LifecycleOp::Approve(reserved))).expect("order");
    assert_eq!(out.code, ValidationCode::LifecycleInvalid);
}

#[test]
fn upgrade_by_new_sequence_changes_the_policy_and_retires_old_endorsements() {
    let n = payment_network();
    let c = client(&n.net, "org1");
    let (old, _) = c.prepare(&n.net, "payment", "transfer", args(&["org1", "org2", "5"]), &[]).expect("old");
    let v2 = definition("payment", teechain_contracts::PAYMENT, 2, "OR('org1.member')");
    for org in orgs() {
        let o = n.net.submit(admin(&n.net, &org).lifecycle(LifecycleOp::Approve(v2.clone()))).expect("approve");
        assert_eq!(o.code, ValidationCode::Valid);
    }
    let o = n.net.submit(admin(&n.net, "org2").lifecycle(LifecycleOp::Commit(v2))).expect("commit");
    assert_eq!(o.code, ValidationCode::Valid);
    // Endorsed under sequence 1: no longer the committed definition.
    assert_eq!(n.net.submit(old).expect("order").code, ValidationCode::ChaincodeNotDefined);
    // Under sequence 2 a single org1 endorsement suffices.
    let proposal = c.propose("payment", "transfer", args(&["org1", "org2", "5"]), &[]);
    let responses = n.net.endorse(&proposal, &[]).expect("endorse");
    assert_eq!(responses.len(), 1);
    let tx = c.assemble(&proposal, &responses).expect("assemble");
    assert_eq!(n.net.submit(tx).expect("order").code, ValidationCode::Valid);
    assert_eq!(crate::fixture::balance(&n.net, "org1"), 95);
}
