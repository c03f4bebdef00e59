use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::{json, teechain};

fn keys_under(dir: &Path, found: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).expect("read dir") {
        let p = e.expect("entry").path();
        if p.is_dir() {
            keys_under(&p, found);
        } else if p.file_name().is_some_and(|n| n == "key.pem") {
            found.push(p);
        }
    }
}

#[test]
fn network_init_writes_private_keys_0600_and_refuses_to_run_twice() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path().to_str().expect("utf8");
    let out = teechain(&["network", "init", "--dir", d, "--orgs", "org1,org2,org3", "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v = json(&out);
    assert_eq!(v["nodes"].as_array().map(|a| a.len()), Some(3));
    assert_eq!(v["insecure"], true);
    let mut keys = Vec::new();
    keys_under(dir.path(), &mut keys);
    // Per organisation: CA, admin, client, node.
    assert_eq!(keys.len(), 12, "{keys:?}");
    for k in &keys {
        let mode = std::fs::metadata(k).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", k.display());
    }
    let before = std::fs::read(dir.path().join("orgs/org1/ca/key.pem")).expect("ca key");
    let again = teechain(&["network", "init", "--dir", d, "--orgs", "org1,org2,org3"]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("refusing to overwrite"));
    assert_eq!(std::fs::read(dir.path().join("orgs/org1/ca/key.pem")).expect("ca key"), before);
}

#[test]
fn demo_payment_shows_the_balances_and_every_refusal() {
    let out = teechain(&["demo", "payment", "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v = json(&out);
    assert_eq!(v["balances_after_transfer"], serde_json::json!({"org1": 90, "org2": 110, "org3": 100}));
    let refusals = v["refusals"].as_array().expect("refusals");
    assert_eq!(refusals.len(), 6);
    let reasons: std::collections::HashSet<_> =
        refusals.iter().map(|r| r["reason"].as_str().expect("reason")).collect();
    assert!(reasons.len() >= 5, "distinct reasons: {reasons:?}");
    assert_eq!(v["replay"]["second"], "DUPLICATE_TXID");
    assert_eq!(v["forged_signature"], "BAD_CREATOR_SIGNATURE");
    // It ran on three node processes that ended with identical ledgers.
    assert_eq!(v["processes"], 3);
    let nodes = v["nodes"].as_array().expect("nodes");
    assert_eq!(nodes.len(), 3);
    assert!(nodes.windows(2).all(|w| w[0]["tip"] == w[1]["tip"] && w[0]["height"] == w[1]["height"]));
}

#[test]
fn invoke_query_and_verify_by_hand() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path().to_str().expect("utf8");
    assert!(teechain(&["network", "init", "--dir", d]).status.success());
    let deploy = teechain(&["chaincode", "deploy", "--dir", d, "--name", "payment", "--wasm", "payment", "--json"]);
    assert!(deploy.status.success(), "{}", String::from_utf8_lossy(&deploy.stderr));
    assert_eq!(json(&deploy)["definition"]["sequence"], 1);
    assert!(teechain(&["invoke", "--dir", d, "payment", "init", "org1", "org2", "org3"]).status.success());
    let pay = teechain(&["invoke", "--dir", d, "--org", "org1", "payment", "transfer", "org1", "org2", "10", "--json"]);
    assert!(pay.status.success(), "{}", String::from_utf8_lossy(&pay.stderr));
    assert_eq!(json(&pay)["code"], "VALID");
    let q = teechain(&["query", "--dir", d, "--org", "org2", "payment", "balance", "org2", "--json"]);
    assert_eq!(json(&q)["payload"], "110");
    let over =
        teechain(&["invoke", "--dir", d, "--org", "org1", "payment", "transfer", "org1", "org2", "500", "--json"]);
    assert!(!over.status.success());
    assert_eq!(json(&over)["ok"], false);
    assert!(json(&over)["error"].as_str().expect("error").contains("insufficient"));
    let list = teechain(&["chaincode", "list", "--dir", d, "--json"]);
    assert_eq!(json(&list)["chaincodes"][0]["name"], "payment");
    let verify = teechain(&["ledger", "verify", "--dir", d, "--json"]);
    assert!(verify.status.success());
    let nodes = json(&verify)["nodes"].as_array().expect("nodes").clone();
    assert_eq!(nodes.len(), 3);
    assert!(nodes.windows(2).all(|w| w[0]["tip"] == w[1]["tip"]));
}

#[test]
fn a_bad_policy_is_refused_with_its_position() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path().to_str().expect("utf8");
    assert!(teechain(&["network", "init", "--dir", d]).status.success());
    let out = teechain(&[
        "chaincode",
        "deploy",
        "--dir",
        d,
        "--name",
        "p",
        "--wasm",
        "payment",
        "--policy",
        "AND('org1.member' 'org2.member')",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("position"), "{err}");
}
