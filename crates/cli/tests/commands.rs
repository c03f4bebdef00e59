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
    // Private mode: org1 and org2 see 90 and 110 in their collection, org3 is refused and
    // verifies org2's disclosed balance against the hash its own ledger holds.
    let private = &v["private"];
    assert_eq!((private["org1"].as_str(), private["org2"].as_str()), (Some("90"), Some("110")));
    assert!(private["org3_refused"].as_str().expect("refusal").contains("not a member"), "{private}");
    assert_eq!(private["disclosed_verified"], true);
    let sealed = &v["confidential"];
    assert_eq!((sealed["org1"].as_str(), sealed["org2"].as_str()), (Some("90"), Some("110")), "{sealed}");
    assert!(sealed["org3_refused"].as_str().expect("refusal").contains("may not read"), "{sealed}");
}

/// Steps: the asset demo on three node processes. A transfer at mismatched prices and
/// one with an altered opening are refused; the agreed transfer moves the details to the
/// buyer's collection and the owner record to org2; org3 reads the record, not the details.
#[test]
fn demo_asset_transfers_only_on_matching_hashes() {
    let out = teechain(&["demo", "asset", "--json"]);
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let v = json(&out);
    assert!(v["mismatch_refused"].as_str().expect("text").contains("price"), "{v}");
    assert!(v["forgery_refused"].as_str().expect("text").contains("match"), "{v}");
    assert!(v["public_record"].as_str().expect("record").contains("\"owner\":\"org2\""), "{v}");
    assert!(v["buyer_details"].as_str().expect("details").contains("unknown master"));
    assert!(!v["org3"].as_str().expect("org3").contains("unknown master"));
    let nodes = v["nodes"].as_array().expect("nodes");
    assert!(nodes.windows(2).all(|w| w[0]["tip"] == w[1]["tip"]));
}

#[test]
fn invoke_query_and_verify_by_hand() {
    // A stopped network is refused, pointing at `network up`: no command orders blocks
    // of its own, so no ledger can fork from the others.
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path().to_str().expect("utf8");
    assert!(teechain(&["network", "init", "--dir", d]).status.success());
    for args in [
        &["chaincode", "deploy", "--dir", d, "--name", "payment", "--wasm", "payment"][..],
        &["invoke", "--dir", d, "payment", "init", "org1", "org2", "org3"],
        &["query", "--dir", d, "payment", "balance", "org1"],
        &["chaincode", "list", "--dir", d],
    ] {
        let out = teechain(args);
        assert!(!out.status.success(), "{args:?} ran on a stopped network");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("not running") && err.contains("teechain network up"), "{args:?}: {err}");
    }

    let net = crate::network::Net::up("org1,org2,org3");
    let d = net.d();
    let deploy = net.ok(&["chaincode", "deploy", "--dir", d, "--name", "payment", "--wasm", "payment"]);
    assert_eq!(deploy["definition"]["sequence"], 1);
    net.ok(&["invoke", "--dir", d, "payment", "init", "org1", "org2", "org3"]);
    let pay = net.ok(&["invoke", "--dir", d, "--org", "org1", "payment", "transfer", "org1", "org2", "10"]);
    assert_eq!(pay["code"], "VALID");
    // The block number reported is the one every ledger stores.
    let block = pay["block"].as_u64().expect("block");
    let q = net.ok(&["query", "--dir", d, "--org", "org2", "payment", "balance", "org2"]);
    assert_eq!(q["payload"], "110");
    let over =
        teechain(&["invoke", "--dir", d, "--org", "org1", "payment", "transfer", "org1", "org2", "500", "--json"]);
    assert!(!over.status.success());
    assert_eq!(json(&over)["ok"], false);
    assert!(json(&over)["error"].as_str().expect("error").contains("insufficient"));
    let list = net.ok(&["chaincode", "list", "--dir", d]);
    assert_eq!(list["chaincodes"][0]["name"], "payment");
    let nodes = net.agreed_status();
    assert_eq!(nodes.len(), 3);
    assert!(nodes.iter().all(|n| n["height"].as_u64() > Some(block)), "{nodes:?}");
    net.ok(&["network", "down", "--dir", d]);
    let verify = net.ok(&["ledger", "verify", "--dir", d]);
    let nodes = verify["nodes"].as_array().expect("nodes").clone();
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

/// A collection config with a bad field is refused before any approval, naming the
/// collection and the field; nothing is committed.
#[test]
fn a_bad_collection_config_is_refused_naming_the_field() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path().to_str().expect("utf8");
    assert!(teechain(&["network", "init", "--dir", d]).status.success());
    let cases = [
        (r#"[{"name":"c","policy":"OR('org1.member')","requiredPeerCount":2,"maxPeerCount":1}]"#, "maxPeerCount"),
        (r#"[{"name":"c","policy":"OR('org9.member')"}]"#, "policy"),
        (r#"[{"name":"_c","policy":"OR('org1.member')"}]"#, "name"),
        (r#"[{"name":"c","policy":"OR('org1.member')","endorsementPolicy":"AND("}]"#, "endorsementPolicy"),
    ];
    for (json_text, field) in cases {
        let file = dir.path().join("collections.json");
        std::fs::write(&file, json_text).expect("write");
        let f = file.to_str().expect("utf8");
        let out =
            teechain(&["chaincode", "deploy", "--dir", d, "--name", "p", "--wasm", "payment", "--collections", f]);
        assert!(!out.status.success(), "{json_text} was accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("collection '") && err.contains(&format!(": {field}: ")), "{field}: {err}");
    }
    // Refused before connecting: the network was never started.
    let list = teechain(&["chaincode", "list", "--dir", d]);
    assert!(String::from_utf8_lossy(&list.stderr).contains("not running"));
}
