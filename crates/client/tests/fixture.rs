use teechain_client::Client;
use teechain_node::config::init_network;
use teechain_node::{Gateway, LocalNetwork};
use teechain_types::chaincode::ChaincodeDefinition;
use teechain_types::sha256;
use teechain_types::tx::LifecycleOp;

pub(crate) const PAYMENT_POLICY: &str = "AND('org1.member','org2.member')";

pub(crate) struct Net {
    pub(crate) net: LocalNetwork,
    // Dropped last: the ledgers live inside.
    pub(crate) _dir: tempfile::TempDir,
}

pub(crate) fn orgs() -> Vec<String> {
    ["org1", "org2", "org3"].map(String::from).to_vec()
}

/// A new three-organisation network in a temporary directory.
pub(crate) fn network() -> Net {
    let dir = tempfile::tempdir().expect("tempdir");
    init_network(dir.path(), "teechain", &orgs()).expect("init");
    let net = LocalNetwork::open(dir.path()).expect("open");
    Net { net, _dir: dir }
}

pub(crate) fn client(net: &LocalNetwork, org: &str) -> Client {
    Client::new(net.user(org, "client").expect("client identity"), net.channel())
}

pub(crate) fn admin(net: &LocalNetwork, org: &str) -> Client {
    Client::new(net.user(org, "admin").expect("admin identity"), net.channel())
}

pub(crate) fn definition(name: &str, wasm: &[u8], sequence: u64, policy: &str) -> ChaincodeDefinition {
    ChaincodeDefinition {
        name: name.into(),
        version: format!("v{sequence}"),
        sequence,
        code_hash: sha256(wasm),
        endorsement_policy: policy.into(),
        collections: Vec::new(),
    }
}

/// Installs, approves by all three organisations and commits.
pub(crate) fn deploy(net: &LocalNetwork, name: &str, wasm: &[u8], policy: &str) {
    net.install(wasm).expect("install");
    let def = definition(name, wasm, 1, policy);
    for org in orgs() {
        let o = net.submit(admin(net, &org).lifecycle(LifecycleOp::Approve(def.clone()))).expect("approve");
        assert!(o.code.is_valid(), "approve by {org}: {}", o.code);
    }
    let o = net.submit(admin(net, "org1").lifecycle(LifecycleOp::Commit(def))).expect("commit");
    assert!(o.code.is_valid(), "commit: {}", o.code);
}

pub(crate) fn args(a: &[&str]) -> Vec<Vec<u8>> {
    a.iter().map(|s| s.as_bytes().to_vec()).collect()
}

/// A network with the payment chaincode deployed and initialised (100 each).
pub(crate) fn payment_network() -> Net {
    let n = network();
    deploy(&n.net, "payment", teechain_contracts::PAYMENT, PAYMENT_POLICY);
    client(&n.net, "org1").invoke(&n.net, "payment", "init", args(&["org1", "org2", "org3"]), &[]).expect("init");
    n
}

/// A network with the testbed chaincode deployed under `policy`.
pub(crate) fn testbed_network(policy: &str) -> Net {
    let n = network();
    deploy(&n.net, "testbed", teechain_contracts::TESTBED, policy);
    n
}

pub(crate) fn balance(net: &LocalNetwork, org: &str) -> u64 {
    let r = client(net, "org3").query(net, "payment", "balance", args(&[org])).expect("balance");
    String::from_utf8(r.payload).expect("utf8").parse().expect("number")
}
