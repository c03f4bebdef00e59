use crate::fixture::{args, balance, client, payment_network};
use teechain_client::ClientError;

#[test]
fn org1_pays_org2_ten_on_every_node() {
    let n = payment_network();
    let c = client(&n.net, "org1");
    let done = c.invoke(&n.net, "payment", "transfer", args(&["org1", "org2", "10"]), &[]).expect("transfer");
    assert_eq!(done.events.len(), 1, "one transfer event");
    assert_eq!((balance(&n.net, "org1"), balance(&n.net, "org2"), balance(&n.net, "org3")), (90, 110, 100));
    // Every node committed the same chain.
    let tips: Vec<_> = n.net.peers().iter().map(|p| p.ledger().verify_chain().expect("chain").last_hash).collect();
    assert!(tips.windows(2).all(|w| w[0] == w[1]), "nodes disagree: {tips:?}");
    // history(org1) lists the init and the transfer.
    let h = c.query(&n.net, "payment", "history", args(&["org1"])).expect("history");
    let text = String::from_utf8(h.payload).expect("utf8");
    assert!(text.contains("\"balance\":100") || text.contains("\"balance\":\"100\""), "{text}");
    assert!(text.contains("90"), "{text}");
}

fn refusal(org: &str, a: [&str; 3]) -> String {
    let n = payment_network();
    let before: Vec<u64> = ["org1", "org2", "org3"].iter().map(|o| balance(&n.net, o)).collect();
    let height = n.net.peers()[0].ledger().height();
    let err = client(&n.net, org).invoke(&n.net, "payment", "transfer", args(&a), &[]).expect_err("must be refused");
    assert!(matches!(err, ClientError::Node(_)), "refused at endorsement, not at commit: {err}");
    let after: Vec<u64> = ["org1", "org2", "org3"].iter().map(|o| balance(&n.net, o)).collect();
    assert_eq!(before, after, "a refusal changes no balance");
    assert_eq!(height, n.net.peers()[0].ledger().height(), "a refusal orders nothing");
    err.to_string()
}

#[test]
fn refuses_caller_spending_from_another_org() {
    let m = refusal("org3", ["org1", "org3", "5"]);
    assert!(m.contains("org3") && m.contains("org1"), "{m}");
}

#[test]
fn refuses_zero_and_negative_and_non_numeric_amounts() {
    let zero = refusal("org1", ["org1", "org2", "0"]);
    let neg = refusal("org1", ["org1", "org2", "-5"]);
    let text = refusal("org1", ["org1", "org2", "ten"]);
    assert!(zero.contains("positive"), "{zero}");
    assert!(neg.contains("positive"), "{neg}");
    assert!(text.contains("positive"), "{text}");
}

#[test]
fn refuses_self_transfer() {
    let m = refusal("org1", ["org1", "org1", "5"]);
    assert!(m.contains("self"), "{m}");
}

#[test]
fn refuses_overdraft() {
    let m = refusal("org1", ["org1", "org2", "101"]);
    assert!(m.contains("insufficient"), "{m}");
}

#[test]
fn refuses_unknown_account() {
    let m = refusal("org1", ["org1", "org9", "5"]);
    assert!(m.contains("unknown account"), "{m}");
}

#[test]
fn refusal_messages_are_distinct() {
    let all = [
        refusal("org3", ["org1", "org3", "5"]),
        refusal("org1", ["org1", "org2", "0"]),
        refusal("org1", ["org1", "org1", "5"]),
        refusal("org1", ["org1", "org2", "101"]),
        refusal("org1", ["org1", "org9", "5"]),
    ];
    for (i, a) in all.iter().enumerate() {
        for b in &all[i + 1..] {
            assert_ne!(a, b);
        }
    }
}

#[test]
fn init_twice_is_refused() {
    let n = payment_network();
    let err = client(&n.net, "org1")
        .invoke(&n.net, "payment", "init", args(&["org1", "org2", "org3"]), &[])
        .expect_err("second init");
    assert!(err.to_string().contains("already"), "{err}");
    assert_eq!(balance(&n.net, "org1"), 100);
}
