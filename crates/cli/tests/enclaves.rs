//! The enclave registry on node processes: every enclave is registered by its
//! organisation's admin; forged and unregistered endorsements are invalid on every node;
//! an enclave that lost its sealed keys is a new enclave and endorses only once
//! registered.

use crate::network::Net;
use ed25519_dalek::Signer;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use teechain_node::Gateway;
use teechain_types::hash::Signature;
use teechain_types::{Hash32, ValidationCode};

fn transfer(amount: &str) -> Vec<Vec<u8>> {
    ["org1", "org2", amount].iter().map(|s| s.as_bytes().to_vec()).collect()
}

#[test]
fn forged_and_unregistered_endorsements_are_invalid_on_every_node() {
    let net = Net::up("org1,org2,org3");
    let d = net.d();
    let list = net.ok(&["enclave", "list", "--dir", d]);
    let enclaves = list["enclaves"].as_array().expect("enclaves").clone();
    assert_eq!(enclaves.len(), 3);
    assert!(enclaves.iter().all(|e| e["registered"] == true && e["platform"] == "virtual" && e["insecure"] == true));

    net.ok(&["chaincode", "deploy", "--dir", d, "--name", "payment", "--wasm", "payment"]);
    net.ok(&["invoke", "--dir", d, "--org", "org1", "payment", "init", "org1", "org2", "org3"]);
    let (gw, client) = net.client("org1");
    let org2_enclave =
        Hash32::from_hex(enclaves.iter().find(|e| e["org"] == "org2").expect("org2")["enclave"].as_str().expect("id"))
            .expect("hex id");
    let stranger = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng);
    let stranger_id =
        teechain_types::enclave::EnclaveKeys { signing_key: stranger.verifying_key().to_bytes(), hpke_key: [0; 32] }
            .id();

    let mut submitted = Vec::new();
    for forgery in ["unregistered enclave", "forged signature", "org1's enclave for org2"] {
        let proposal = client.propose("payment", "transfer", transfer("5"), &[]);
        let mut responses = gw.endorse(&proposal, &[]).expect("endorse");
        let hash = responses[0].payload.hash();
        let org1_enclave = responses.iter().find(|r| r.endorsement.org == "org1").expect("org1").endorsement.enclave;
        let org2 = responses.iter_mut().find(|r| r.endorsement.org == "org2").expect("org2 endorsement");
        assert_eq!(org2.endorsement.enclave, org2_enclave);
        match forgery {
            "unregistered enclave" => {
                org2.endorsement.enclave = stranger_id;
                org2.endorsement.signature = Signature(stranger.sign(&hash.0).to_bytes());
            }
            "forged signature" => org2.endorsement.signature = Signature(stranger.sign(&hash.0).to_bytes()),
            _ => org2.endorsement.enclave = org1_enclave,
        }
        let tx = client.assemble(&proposal, &responses).expect("assemble");
        let outcome = gw.submit(tx.clone()).expect("ordered");
        assert_eq!(outcome.code, ValidationCode::BadEndorsement, "{forgery}");
        submitted.push((tx.tx_id(), outcome));
    }
    net.agreed_height();
    let balance = net.ok(&["query", "--dir", d, "--org", "org1", "payment", "balance", "org2"]);
    assert_eq!(balance["payload"], "100", "no forged payment moved money");
    net.ok(&["network", "down", "--dir", d]);
    for node in &net.config().nodes {
        let ledger =
            teechain_ledger::Ledger::open(&net.path().join(&node.data_dir).join("ledger.redb")).expect("ledger");
        for (tx_id, outcome) in &submitted {
            let status = ledger.tx_status(tx_id).expect("read").expect("recorded");
            assert_eq!((status.block, status.code), (outcome.block, ValidationCode::BadEndorsement), "{}", node.name);
        }
    }
}

/// The node process of `org`, started by hand (not by `network up`, which would
/// register its enclave), its pid recorded so that `network down` stops it.
fn start_node_by_hand(net: &Net, org: &str) -> std::process::Child {
    let node = net.config().nodes.into_iter().find(|n| n.org == org).expect("node");
    let data = net.path().join(&node.data_dir);
    let log = std::fs::OpenOptions::new().create(true).append(true).open(data.join("node.log")).expect("log");
    let child = Command::new(env!("CARGO_BIN_EXE_teechain"))
        .args(["node", "start", "--config"])
        .arg(data.join("node.json"))
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .spawn()
        .expect("start node");
    std::fs::write(data.join("node.pid"), child.id().to_string()).expect("pid file");
    child
}

#[test]
fn an_enclave_that_lost_its_sealed_keys_endorses_only_once_registered_again() {
    let net = Net::up("org1,org2");
    let d = net.d();
    net.ok(&["chaincode", "deploy", "--dir", d, "--name", "payment", "--wasm", "payment"]);
    net.ok(&["invoke", "--dir", d, "--org", "org1", "payment", "init", "org1", "org2"]);
    let before = net.ok(&["enclave", "list", "--dir", d]);
    let node = net.config().nodes.into_iter().find(|n| n.org == "org2").expect("org2 node");
    let data = net.path().join(&node.data_dir);
    let sealed = data.join("enclave").join("identity.sealed");
    let bytes = std::fs::read(&sealed).expect("sealed identity on disk");
    assert!(!bytes.is_empty());
    let pid = std::fs::read_to_string(data.join("node.pid")).expect("pid");
    assert!(Command::new("kill").args(["-KILL", pid.trim()]).status().expect("kill").success());
    std::fs::remove_file(&sealed).expect("lose the sealed keys");
    let mut by_hand = start_node_by_hand(&net, "org2");

    // Wait until org2's node answers and reports an unregistered enclave.
    let deadline = Instant::now() + Duration::from_secs(60);
    let new_id = loop {
        let list = teechain_list(d);
        let row = list.iter().find(|e| e["org"] == "org2" && e["registered"] == false).cloned();
        if let Some(row) = row {
            break row["enclave"].as_str().expect("id").to_string();
        }
        assert!(Instant::now() < deadline, "org2's node never came back with a new enclave: {list:?}");
        std::thread::sleep(Duration::from_millis(200));
    };
    let old_id = before["enclaves"].as_array().expect("rows").iter().find(|e| e["org"] == "org2").expect("org2")
        ["enclave"]
        .as_str()
        .expect("id")
        .to_string();
    assert_ne!(new_id, old_id, "a new enclave has new keys");

    let (gw, client) = net.client("org1");
    let err = client.invoke(&gw, "payment", "transfer", transfer("3"), &[]).expect_err("org2 cannot endorse");
    let message = err.to_string();
    assert!(message.contains("not registered") && message.contains("teechain enclave register"), "{message}");

    let registered = net.ok(&["enclave", "register", "--dir", d]);
    let rows = registered["registered"].as_array().expect("rows");
    assert_eq!(rows.len(), 1, "only org2's new enclave needed registering: {rows:?}");
    assert_eq!(rows[0]["enclave"], new_id.as_str());
    client.invoke(&gw, "payment", "transfer", transfer("3"), &[]).expect("endorsed once registered");
    net.ok(&["network", "down", "--dir", d]);
    by_hand.wait().expect("org2's node exited");
}

fn teechain_list(d: &str) -> Vec<serde_json::Value> {
    let out = crate::teechain(&["enclave", "list", "--dir", d, "--json"]);
    if !out.status.success() {
        return Vec::new();
    }
    crate::json(&out)["enclaves"].as_array().cloned().unwrap_or_default()
}

/// `teechain demo auction` on node processes with the wiretap on: the enclave names the
/// highest bidder; each bidder's receipt checks out; and no node's data directory, log
/// or captured gRPC traffic (the auctioneer's included) holds a losing bid, as text or
/// as the bytes the contract seals. The winning price is published by `end`: finding it
/// on disk shows the search would find a plaintext bid.
#[test]
fn the_auction_demo_names_the_winner_and_no_node_holds_a_losing_bid() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wire = tempfile::tempdir().expect("tempdir");
    let net_dir = dir.path().join("net");
    let out = Command::new(env!("CARGO_BIN_EXE_teechain"))
        .args(["demo", "auction", "--json", "--dir"])
        .arg(&net_dir)
        .env("TEECHAIN_WIRETAP_DIR", wire.path())
        .output()
        .expect("run the demo");
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let v = crate::json(&out);
    assert_eq!(v["result"]["winner"], "org2");
    assert_eq!(v["result"]["price"], 9_161_803);
    assert_eq!(v["result"]["bids"], 2);
    let receipts = v["receipts"].as_array().expect("receipts");
    assert_eq!(receipts.len(), 3);
    assert!(receipts.iter().all(|r| r["signatures"].as_u64().unwrap_or(0) >= 1));
    assert!(v["early_end_refused"].as_str().expect("refusal").contains("runs until"));

    assert!(!crate::private::files_containing(&net_dir, b"9161803").is_empty(), "the published price is on disk");
    for losing in [7_314_159u64, 8_271_828] {
        for needle in [losing.to_string().into_bytes(), losing.to_le_bytes().to_vec()] {
            for place in [&net_dir, &wire.path().to_path_buf()] {
                let found = crate::private::files_containing(place, &needle);
                assert!(found.is_empty(), "bid {losing} in plaintext in {found:?}");
            }
        }
    }
    assert!(std::fs::read_dir(wire.path()).expect("captures").count() >= 3, "every node's traffic was captured");
}
