//! Private data collections on three node processes: what org3, outside the collection,
//! can and cannot see; dissemination, reconciliation and purge.

use crate::network::Net;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use teechain_client::remote::RemoteGateway;
use teechain_client::Client;
use teechain_node::config::{load_identity, user_dir};
use teechain_node::rpc::ClientTls;
use teechain_types::codec::{decode, Limits};
use teechain_types::collection::{private_key_hash, private_value_hash, BLINDING_TRANSIENT_KEY};
use teechain_types::Hash32;

/// `shared` as the payment demo's collection; `loose` needs no acknowledgement (so a
/// member may be down); `shortlived` keeps values 2 blocks; `needs2` asks for more
/// member nodes than exist.
const COLLECTIONS: &str = r#"[
  {"name":"shared","policy":"OR('org1.member','org2.member')","requiredPeerCount":1,"maxPeerCount":1,
   "memberOnlyRead":true,"memberOnlyWrite":true},
  {"name":"loose","policy":"OR('org1.member','org2.member')","requiredPeerCount":0,"maxPeerCount":1,
   "memberOnlyRead":true},
  {"name":"shortlived","policy":"OR('org1.member','org2.member')","requiredPeerCount":0,"maxPeerCount":1,
   "blockToLive":2},
  {"name":"needs2","policy":"OR('org1.member','org2.member')","requiredPeerCount":2,"maxPeerCount":2}
]"#;

fn marker(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").subsec_nanos();
    format!("{prefix}-{:08x}{nanos:08x}", std::process::id())
}

fn a(parts: &[&str]) -> Vec<Vec<u8>> {
    parts.iter().map(|s| s.as_bytes().to_vec()).collect()
}

fn tr(pairs: &[(&str, &[u8])]) -> Vec<(String, Vec<u8>)> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_vec())).collect()
}

/// Every file under `dir` whose bytes contain `needle`.
pub(crate) fn files_containing(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if std::fs::read(&path).expect("read").windows(needle.len()).any(|w| w == needle) {
                found.push(path);
            }
        }
    }
    found
}

/// A client of `user_org` whose gateway is the node of `node_org` only.
fn client_at(net: &Net, user_org: &str, node_org: &str) -> (RemoteGateway, Client) {
    teechain_node::rpc::tls::install_crypto_provider();
    let config = net.config();
    let tls = ClientTls::for_user(net.path(), &config, user_org, "client").expect("tls");
    let addr = config.nodes.iter().find(|n| n.org == node_org).expect("node").gateway_address.clone();
    let gw = RemoteGateway::connect(vec![addr], tls).expect("gateway");
    let signer = load_identity(&user_dir(net.path(), user_org, "client"), user_org).expect("identity");
    (gw, Client::new(signer, config.channel.channel))
}

/// A testbed read that answers an encoded `Option<Vec<u8>>`.
fn read(c: &Client, gw: &RemoteGateway, function: &str, args: &[&str]) -> Result<Option<Vec<u8>>, String> {
    let r = c.query(gw, "kv", function, a(args)).map_err(|e| e.to_string())?;
    Ok(decode(&r.payload, Limits::RECORD).expect("an encoded option"))
}

/// Steps, on three node processes with the wiretap on: org1 writes a marker value (from
/// transient input, with a marker blinding secret) to the collection of org1 and org2;
/// org2 reads it; org3 is refused on its own node and on org1's; org3 reads the hash and
/// verifies the opening org1 shows it; a collection needing two acknowledgements fails
/// the endorsement; `blockToLive` removes a value and keeps its hash; org2 is killed, a
/// value is written while it is down, and after a restart org2 reconciles it; a purge
/// removes it from both members again. At the
/// end, org3's data directory (ledger, Raft log, node log) and the capture of every gRPC
/// message it sent or received hold no marker, while org2's ledger holds the value, and
/// no node's disk holds the transient blinding secret.
#[test]
fn private_data_reaches_member_nodes_only_and_is_reconciled_and_purged() {
    let wire = tempfile::tempdir().expect("tempdir");
    let net = Net::up_with_env("org1,org2,org3", &[("TEECHAIN_WIRETAP_DIR", wire.path())]);
    let d = net.d();
    let collections = net.path().join("collections.json");
    std::fs::write(&collections, COLLECTIONS).expect("write");
    let policy = "OR('org1.member','org2.member')";
    let coll_arg = collections.to_str().expect("utf8");
    net.ok(&["chaincode", "deploy", "--dir", d, "--name", "kv", "--wasm", "testbed", "--policy", policy]
        .into_iter()
        .chain(["--collections", coll_arg])
        .collect::<Vec<_>>());
    let (gw1, c1) = client_at(&net, "org1", "org1");
    let (gw2, c2) = client_at(&net, "org2", "org2");
    let (gw3, c3) = client_at(&net, "org3", "org3");

    // A private value written from transient input, with a chosen blinding secret.
    let value = marker("PRIVATE-VALUE");
    let secret = marker("BLINDING-SECRET");
    let t = tr(&[("v", value.as_bytes()), (BLINDING_TRANSIENT_KEY, secret.as_bytes())]);
    c1.invoke(&gw1, "kv", "pput_transient", a(&["shared", "acct", "v"]), &t).expect("private write");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match read(&c2, &gw2, "pget", &["shared", "acct"]) {
            Ok(Some(v)) => {
                assert_eq!(v, value.as_bytes());
                break;
            }
            other => assert!(Instant::now() < deadline, "org2 never read the value: {other:?}"),
        }
        std::thread::sleep(Duration::from_millis(50));
    }

    // A confidential call carries its transient input sealed: org1 writes a marker from
    // transient input and org2 reads it back, both sealed to the chaincode's key; no
    // node's disk or traffic holds the marker (checked at the end).
    let policy = net.config().channel.attestation.policy().expect("policy");
    let deadline = Instant::now() + Duration::from_secs(30);
    let key = loop {
        match c1.chaincode_key(&gw1, "kv", &policy) {
            Ok(k) => break k,
            Err(e) => assert!(Instant::now() < deadline, "kv never got a key: {e}"),
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let sealed_value = marker("SEALED-TRANSIENT");
    let t = tr(&[("v", sealed_value.as_bytes())]);
    c1.invoke_confidential(&gw1, &key, "pput_transient", a(&["shared", "conf", "v"]), &t).expect("sealed write");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match c2.query_confidential(&gw2, &key, "pget", a(&["shared", "conf"])) {
            Ok(r) => {
                let v: Option<Vec<u8>> = decode(&r.payload, Limits::RECORD).expect("decodes");
                if let Some(v) = v {
                    assert_eq!(v, sealed_value.as_bytes());
                    break;
                }
            }
            Err(e) => assert!(Instant::now() < deadline, "org2 never read the sealed value: {e}"),
        }
        assert!(Instant::now() < deadline, "org2 never read the sealed value");
        std::thread::sleep(Duration::from_millis(50));
    }

    // org3 is refused, on its own node and on a member's node, and sees no value.
    net.agreed_height();
    for (gw, label) in [(&gw3, "org3's node"), (&client_at(&net, "org3", "org1").0, "org1's node")] {
        let e = read(&c3, gw, "pget", &["shared", "acct"]).expect_err(label);
        assert!(e.contains("not a member") && !e.contains(&value), "{label}: {e}");
    }
    // org3 holds the hash, and checks a value org1 shows it against it.
    let hash: Hash32 =
        decode(&c3.query(&gw3, "kv", "phash", a(&["shared", "acct"])).expect("hash").payload, Limits::RECORD)
            .map(|h: Option<Hash32>| h.expect("a hash"))
            .expect("decodes");
    let opened: Option<(Vec<u8>, Hash32)> =
        decode(&c1.query(&gw1, "kv", "popen", a(&["shared", "acct"])).expect("opening").payload, Limits::RECORD)
            .expect("decodes");
    let (shown, blind) = opened.expect("an opening");
    assert_eq!(shown, value.as_bytes());
    assert_eq!(private_value_hash(&blind, &shown), hash, "the opening verifies against org3's hash");
    assert_ne!(private_value_hash(&blind, b"another value"), hash);

    // org1's admin rotates the collection's data key: held by the two members' enclaves,
    // and the value sealed under epoch 0 still reads.
    let rotate = ["keys", "rotate", "--dir", d, "--chaincode", "kv", "--collection", "shared", "--org", "org1"];
    let rotated = net.ok(&rotate);
    assert_eq!((rotated["epoch"].as_u64(), rotated["holders"].as_u64()), (Some(1), Some(2)), "{rotated}");
    assert_eq!(read(&c2, &gw2, "pget", &["shared", "acct"]), Ok(Some(value.as_bytes().to_vec())));

    // Two acknowledgements are needed and only one other member node exists.
    let e = c1.invoke(&gw1, "kv", "pput", a(&["needs2", "k", "v"]), &[]).expect_err("requiredPeerCount unmet");
    assert!(e.to_string().contains("needs 2 member node(s)"), "{e}");
    assert_eq!(read(&c1, &gw1, "pget", &["needs2", "k"]), Ok(None), "nothing was written");

    // blockToLive 2: present while block b+1 commits, gone once block b+2 has, hash kept.
    let written = c1.invoke(&gw1, "kv", "pput", a(&["shortlived", "temp", "short-lived"]), &[]).expect("write");
    let temp_hash = c1.query(&gw1, "kv", "phash", a(&["shortlived", "temp"])).expect("hash").payload;
    let next = c1.invoke(&gw1, "kv", "put", a(&["tick", "1"]), &[]).expect("tick");
    assert_eq!(next.block, written.block + 1);
    assert_eq!(read(&c1, &gw1, "pget", &["shortlived", "temp"]), Ok(Some(b"short-lived".to_vec())));
    let last = c1.invoke(&gw1, "kv", "put", a(&["tick", "2"]), &[]).expect("tick");
    assert_eq!(last.block, written.block + 2);
    assert_eq!(read(&c1, &gw1, "pget", &["shortlived", "temp"]), Ok(None), "purged after blockToLive");
    let kept = c1.query(&gw1, "kv", "phash", a(&["shortlived", "temp"])).expect("hash").payload;
    assert_eq!(kept, temp_hash, "the hash stays");

    // org2 down while a value is written; after a restart it pulls the value from org1.
    let org2 = net.config().nodes.into_iter().find(|n| n.org == "org2").expect("org2 node");
    let pid = std::fs::read_to_string(net.path().join(&org2.data_dir).join("node.pid")).expect("pid");
    assert!(std::process::Command::new("kill").args(["-KILL", pid.trim()]).status().expect("kill").success());
    let late = marker("RECONCILED-VALUE");
    c1.invoke(&gw1, "kv", "pput_transient", a(&["loose", "late", "v"]), &tr(&[("v", late.as_bytes())]))
        .expect("write with org2 down");
    let up = crate::teechain(&["network", "up", "--dir", d]);
    assert!(up.status.success(), "{}", String::from_utf8_lossy(&up.stderr));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match read(&c2, &gw2, "pget", &["loose", "late"]) {
            Ok(Some(v)) => {
                assert_eq!(v, late.as_bytes());
                break;
            }
            other => assert!(Instant::now() < deadline, "org2 never reconciled: {other:?}"),
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    net.agreed_height();
    let log2 = std::fs::read_to_string(net.path().join(&org2.data_dir).join("node.log")).expect("log");
    assert!(log2.contains("reconciled missing private data"), "org2's log tells of the reconciliation");

    // An explicit purge removes the value from both members; the blocks keep the hashes.
    c1.invoke(&gw1, "kv", "ppurge", a(&["loose", "late"]), &[]).expect("purge");
    let deadline = Instant::now() + Duration::from_secs(20);
    while read(&c2, &gw2, "pget", &["loose", "late"]) != Ok(None) {
        assert!(Instant::now() < deadline, "org2 still holds the purged value");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(read(&c1, &gw1, "pget", &["loose", "late"]), Ok(None));
    let gone: Option<Hash32> =
        decode(&c1.query(&gw1, "kv", "phash", a(&["loose", "late"])).expect("hash").payload, Limits::RECORD)
            .expect("decodes");
    assert_eq!(gone, None, "a purged key has no current hash");
    net.ok(&["network", "down", "--dir", d]);

    // What org3 holds: its data directory (ledger, Raft log, node log) and its traffic.
    let config = net.config();
    let dir_of = |org: &str| net.path().join(&config.nodes.iter().find(|n| n.org == org).expect("node").data_dir);
    let org3_wire = wire.path().join("peer0.org3.wire");
    let capture = std::fs::read(&org3_wire).expect("org3's capture");
    let key_hash = private_key_hash("kv", "shared", b"acct");
    assert!(capture.windows(32).any(|w| w == key_hash.0), "the capture holds the transaction's key hash");
    for needle in [&value, &late, &secret] {
        assert_eq!(files_containing(&dir_of("org3"), needle.as_bytes()), Vec::<PathBuf>::new(), "{needle}");
        assert_eq!(files_containing(wire.path(), needle.as_bytes()).iter().filter(|p| **p == org3_wire).count(), 0);
    }
    // Members keep private values sealed to their enclaves: no host stores one in
    // plaintext, members' hosts included (they relay this test's values in plaintext
    // only because the client sends them as transient input and reads them back
    // without a confidential call). The search finds what is there: the value's
    // hash is in every node's hashed state.
    for org in ["org1", "org2"] {
        for needle in [&value, &late] {
            assert_eq!(files_containing(&dir_of(org), needle.as_bytes()), Vec::<PathBuf>::new(), "{org}: {needle}");
        }
        assert!(!files_containing(&dir_of(org), &hash.0).is_empty(), "{org} holds the value's hash");
    }
    // Transient input never reaches a disk; a confidential call's reaches no disk and no
    // node's traffic at all.
    for org in ["org1", "org2", "org3"] {
        assert!(files_containing(&dir_of(org), secret.as_bytes()).is_empty(), "{org} wrote the blinding secret");
    }
    // Positive control: the plain call's transient value is in the capture of the node
    // it was sent to.
    assert!(!files_containing(wire.path(), value.as_bytes()).is_empty(), "the capture search finds plaintext");
    assert_eq!(files_containing(net.path(), sealed_value.as_bytes()), Vec::<PathBuf>::new());
    assert_eq!(files_containing(wire.path(), sealed_value.as_bytes()), Vec::<PathBuf>::new());
    assert!(std::fs::read_dir(wire.path()).expect("captures").count() >= 3, "every node's traffic was captured");
}
