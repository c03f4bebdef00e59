//! Collection data keys: private values sealed inside the enclave, at rest and in the
//! transient store of member nodes, readable through members' enclaves under every key
//! epoch after rotations.

use crate::fixture::{admin, args, client, network, orgs};
use std::path::Path;
use teechain_client::Client;
use teechain_node::{Gateway, LocalNetwork};
use teechain_types::chaincode::ChaincodeDefinition;
use teechain_types::codec::{decode, Limits};
use teechain_types::collection::CollectionConfig;
use teechain_types::keys::KeyScope;
use teechain_types::state::StateView;
use teechain_types::tx::LifecycleOp;
use teechain_types::{sha256, ValidationCode};

/// The testbed as `kv`, with a collection of org1 and org2 that any client may write.
fn deploy_with_collection(net: &LocalNetwork) {
    net.install(teechain_contracts::TESTBED).expect("install");
    let def = ChaincodeDefinition {
        name: "kv".into(),
        version: "v1".into(),
        sequence: 1,
        code_hash: sha256(teechain_contracts::TESTBED),
        endorsement_policy: "OR('org1.member','org2.member')".into(),
        collections: vec![CollectionConfig {
            name: "shared".into(),
            member_policy: "OR('org1.member','org2.member')".into(),
            required_peer_count: 0,
            max_peer_count: 1,
            block_to_live: 0,
            member_only_read: true,
            member_only_write: false,
            endorsement_policy: None,
        }],
    };
    for org in orgs() {
        let o = net.submit(admin(net, &org).lifecycle(LifecycleOp::Approve(def.clone()))).expect("approve");
        assert!(o.code.is_valid(), "approve by {org}: {}", o.code);
    }
    let o = net.submit(admin(net, "org1").lifecycle(LifecycleOp::Commit(def))).expect("commit");
    assert!(o.code.is_valid(), "commit: {}", o.code);
}

fn read(c: &Client, net: &LocalNetwork, key: &str) -> Option<Vec<u8>> {
    let r = c.query(net, "kv", "pget", args(&["shared", key])).expect("read");
    decode(&r.payload, Limits::RECORD).expect("decodes")
}

/// Every file under `dir` holding `needle`.
fn files_containing(dir: &Path, needle: &[u8]) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            found.extend(files_containing(&path, needle));
        } else if std::fs::read(&path).expect("read").windows(needle.len()).any(|w| w == needle) {
            found.push(path);
        }
    }
    found
}

/// Steps: org1 writes a marker value (transient input) to the collection; org1's and org2's nodes store
/// it sealed under epoch 0, no file of the network holds it, and both members read it.
/// org1's admin, then org2's, rotate the collection's key (org3's admin may not); each
/// new write names the latest epoch, and values of all three epochs still read.
#[test]
fn private_values_are_sealed_at_rest_and_read_under_every_epoch_after_two_rotations() {
    let n = network();
    let net = &n.net;
    deploy_with_collection(net);
    let (org1, org2) = (client(net, "org1"), client(net, "org2"));
    let stored_epoch = |peer: usize, key: &str| {
        let snap = net.peers()[peer].ledger().snapshot().expect("snapshot");
        let v = snap.private_get("kv", "shared", key.as_bytes()).expect("read").expect("stored");
        u32::from_be_bytes(v.value[..4].try_into().expect("epoch"))
    };
    let rotate = |by: &str| {
        let admin = net.user(by, "admin").expect("admin");
        let scope = KeyScope::Collection { namespace: "kv".into(), collection: "shared".into() };
        net.submit(teechain_node::registry::rotation_tx(&admin, net.channel(), scope)).expect("rotation").code
    };
    let markers: Vec<String> = (0..3).map(|i| format!("SEALED-PRIVATE-VALUE-{i}-{}", std::process::id())).collect();

    // Values travel as transient input: an argument would be on every ledger.
    let put = |c: &Client, key: &str, value: &str| {
        let transient = [("v".to_string(), value.as_bytes().to_vec())];
        c.invoke(net, "kv", "pput_transient", args(&["shared", key, "v"]), &transient).expect("write");
    };
    put(&org1, "k0", &markers[0]);
    let members: Vec<usize> = (0..net.peers().len()).filter(|&i| net.peers()[i].org() != "org3").collect();
    assert_eq!(members.len(), 2);
    for &p in &members {
        assert_eq!(stored_epoch(p, "k0"), 0);
        assert!(net.peers()[p].transient().is_empty(), "committed data leaves the transient store");
    }
    assert_eq!(files_containing(n._dir.path(), markers[0].as_bytes()), Vec::<std::path::PathBuf>::new());
    assert!(!files_containing(n._dir.path(), b"k0").is_empty(), "the search finds what is stored: the key");
    assert_eq!(read(&org2, net, "k0").as_deref(), Some(markers[0].as_bytes()));

    assert_eq!(rotate("org3"), ValidationCode::InvalidKeyDistribution, "org3 is not a member");
    assert!(rotate("org1").is_valid());
    put(&org2, "k1", &markers[1]);
    assert!(rotate("org2").is_valid());
    put(&org1, "k2", &markers[2]);
    for &p in &members {
        assert_eq!((stored_epoch(p, "k0"), stored_epoch(p, "k1"), stored_epoch(p, "k2")), (0, 1, 2));
    }
    for c in [&org1, &org2] {
        for (i, m) in markers.iter().enumerate() {
            assert_eq!(read(c, net, &format!("k{i}")).as_deref(), Some(m.as_bytes()));
        }
    }
    for m in &markers {
        assert_eq!(files_containing(n._dir.path(), m.as_bytes()), Vec::<std::path::PathBuf>::new(), "{m}");
    }
    let (record, _) = net
        .latest_key(&KeyScope::Collection { namespace: "kv".into(), collection: "shared".into() })
        .expect("read")
        .expect("a key");
    assert_eq!(record.epoch, 2);
    assert_eq!(record.wraps.len(), 2, "held by org1's and org2's enclaves only");
}
