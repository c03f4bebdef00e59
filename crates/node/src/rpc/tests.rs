//! The RPC edge over real sockets and mutual TLS, against [`FakeNode`].
//!
//! Every test makes a throwaway network with `config::init_network` (CAs and identities
//! on disk), serves a fake node on 127.0.0.1 ports chosen by the OS, and calls it.

use super::testing::{chain, transaction, FakeNode};
use super::*;
use crate::config::{self, NetworkConfig};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use teechain_enclave::protocol::FailureKind;
use teechain_enclave::EnclaveError;
use teechain_types::chaincode::Invocation;
use teechain_types::tx::{Proposal, SignedProposal, TxHeader};
use teechain_types::{Hash32, Identity, ValidationCode};
use tokio_stream::StreamExt;

struct Net {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    config: NetworkConfig,
}

fn network() -> Net {
    network_of(&["org1", "org2"])
}

fn network_of(orgs: &[&str]) -> Net {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    let orgs: Vec<String> = orgs.iter().map(|o| o.to_string()).collect();
    let config = config::init_network(&dir, "teechain", &orgs).unwrap();
    Net { _tmp: tmp, dir, config }
}

fn read_pair(dir: &Path) -> (String, String) {
    (std::fs::read_to_string(dir.join("cert.pem")).unwrap(), std::fs::read_to_string(dir.join("key.pem")).unwrap())
}

impl Net {
    fn server_tls(&self) -> ServerTls {
        ServerTls::for_node(&self.dir, &self.config, &self.config.nodes[0]).unwrap()
    }

    fn user_tls(&self, org: &str, user: &str) -> ClientTls {
        ClientTls::for_user(&self.dir, &self.config, org, user).unwrap()
    }

    fn node_tls(&self, i: usize) -> ClientTls {
        ClientTls::for_node(&self.dir, &self.config, &self.config.nodes[i]).unwrap()
    }

    fn roots(&self) -> Vec<(String, String)> {
        tls::network_roots(&self.config)
    }

    /// (cert, key) PEM of a user of this network.
    fn user_pair(&self, org: &str, user: &str) -> (String, String) {
        read_pair(&config::user_dir(&self.dir, org, user))
    }

    /// (cert, key) PEM of a node identity of this network.
    fn peer_pair(&self, org: &str) -> (String, String) {
        read_pair(&config::peer_identity_dir(&self.dir, org, "peer0"))
    }
}

fn any_port() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

async fn start(node: Arc<FakeNode>, tls: ServerTls) -> ServerHandle {
    spawn(node, any_port(), any_port(), tls).await.unwrap()
}

fn proposal(function: &str) -> SignedProposal {
    let header = TxHeader {
        channel: "teechain".into(),
        creator: Identity { org: "org1".into(), cert_der: Vec::new() },
        nonce: vec![7; 24],
        timestamp_ms: 1,
    };
    let proposal = Proposal {
        header,
        chaincode: "payment".into(),
        invocation: Invocation { function: function.into(), args: vec![b"a".to_vec()] },
        sealed: None,
        transient_digest: Hash32::ZERO,
    };
    SignedProposal { proposal, signature: teechain_types::hash::Signature([1; 64]) }
}

fn assert_tls_refusal(result: Result<NodeStatus, NodeError>) -> String {
    match result {
        Err(NodeError::Tls { message, .. }) => message,
        other => panic!("expected a TLS handshake failure, got {other:?}"),
    }
}

/// Steps: serve a fake node with peer0.org1's identity; call Status over mTLS as org1's
/// client, org2's admin (every channel CA is a root) and peer0.org2 (peer service).
#[tokio::test]
async fn member_clients_are_admitted() {
    let net = network();
    let node = Arc::new(FakeNode::new("peer0.org1", "org1"));
    let server = start(node.clone(), net.server_tls()).await;
    let gw = server.gateway_addr().to_string();

    let status = GatewayClient::new(&gw, &net.user_tls("org1", "client")).unwrap().status().await.unwrap();
    assert_eq!((status.name.as_str(), status.org.as_str(), status.healthy), ("peer0.org1", "org1", true));
    let status = GatewayClient::new(&gw, &net.user_tls("org2", "admin")).unwrap().status().await.unwrap();
    assert_eq!(status.name, "peer0.org1");
    // By name as well as by address: peer certificates carry `localhost`.
    let local = format!("localhost:{}", server.gateway_addr().port());
    GatewayClient::new(&local, &net.user_tls("org1", "client")).unwrap().status().await.unwrap();

    let peer = PeerClient::new(&server.peer_addr().to_string(), &net.node_tls(1)).unwrap();
    assert_eq!(peer.status().await.unwrap().name, "peer0.org1");
    assert_eq!(peer.raft(7, b"vote".to_vec()).await.unwrap(), [&7u32.to_be_bytes()[..], b"vote"].concat());
    server.shutdown().await.unwrap();
}

/// Steps: make a second network whose org1 CA is another key; its client (same org name,
/// roots of ours) calls our node: refused during the handshake, the node never called.
/// Then the same with a CA of a name ours do not have (org9).
#[tokio::test]
async fn client_of_foreign_ca_is_refused_at_handshake() {
    let net = network();
    let foreign = network();
    let node = Arc::new(FakeNode::new("peer0.org1", "org1"));
    let server = start(node.clone(), net.server_tls()).await;

    let (cert, key) = foreign.user_pair("org1", "client");
    let tls = ClientTls::new(&cert, &key, &net.roots()).unwrap();
    let gateway = GatewayClient::new(&server.gateway_addr().to_string(), &tls).unwrap();
    let message = assert_tls_refusal(gateway.status().await);
    // Same CA name, other key: the server's verifier finds our ca.org1 as the issuer and
    // the signature fails (rustls answers with a DecryptError alert).
    assert!(message.contains("DecryptError"), "{message}");
    // A foreign *peer* certificate fares no better on the peer service.
    let (cert, key) = foreign.peer_pair("org1");
    let tls = ClientTls::new(&cert, &key, &net.roots()).unwrap();
    let peer = PeerClient::new(&server.peer_addr().to_string(), &tls).unwrap();
    assert_tls_refusal(peer.status().await);
    // A CA our roots do not name at all: unknown CA.
    let other = network_of(&["org9"]);
    let (cert, key) = other.user_pair("org9", "client");
    let tls = ClientTls::new(&cert, &key, &net.roots()).unwrap();
    let gateway = GatewayClient::new(&server.gateway_addr().to_string(), &tls).unwrap();
    let message = assert_tls_refusal(gateway.status().await);
    assert!(message.contains("UnknownCA"), "{message}");
    assert!(node.calls().is_empty(), "the node was reached: {:?}", node.calls());
    server.shutdown().await.unwrap();
}

/// Steps: a client with no certificate calls both services: refused during the handshake.
#[tokio::test]
async fn client_without_certificate_is_refused() {
    let net = network();
    let node = Arc::new(FakeNode::new("peer0.org1", "org1"));
    let server = start(node.clone(), net.server_tls()).await;
    let tls = ClientTls::anonymous(&net.roots()).unwrap();
    let message =
        assert_tls_refusal(GatewayClient::new(&server.gateway_addr().to_string(), &tls).unwrap().status().await);
    assert!(message.contains("CertificateRequired"), "{message}");
    assert_tls_refusal(PeerClient::new(&server.peer_addr().to_string(), &tls).unwrap().status().await);
    assert!(node.calls().is_empty());
    server.shutdown().await.unwrap();
}

/// Steps: serve with a peer certificate of a foreign network; our client refuses the
/// server (unknown issuer); and a server name the certificate lacks is refused too.
#[tokio::test]
async fn server_not_chaining_to_roots_is_refused() {
    let net = network();
    let foreign = network();
    let (cert, key) = foreign.peer_pair("org1");
    let server_tls = ServerTls::new(&cert, &key, &net.roots()).unwrap();
    let node = Arc::new(FakeNode::new("impostor", "org1"));
    let server = start(node.clone(), server_tls).await;
    let gateway = GatewayClient::new(&server.gateway_addr().to_string(), &net.user_tls("org1", "client")).unwrap();
    let message = assert_tls_refusal(gateway.status().await);
    // The foreign CA has our CA's name (ca.org1): webpki takes it for the issuer, then
    // the signature fails.
    assert!(message.contains("BadSignature"), "{message}");
    server.shutdown().await.unwrap();
    // A server certificate from a CA of a name our roots lack: unknown issuer.
    let other = network_of(&["org9"]);
    let (cert, key) = other.peer_pair("org9");
    let server = start(node.clone(), ServerTls::new(&cert, &key, &net.roots()).unwrap()).await;
    let gateway = GatewayClient::new(&server.gateway_addr().to_string(), &net.user_tls("org1", "client")).unwrap();
    let message = assert_tls_refusal(gateway.status().await);
    assert!(message.contains("UnknownIssuer"), "{message}");
    assert!(node.calls().is_empty());
    server.shutdown().await.unwrap();

    // The right certificate, checked against a name it does not carry.
    let server = start(node.clone(), net.server_tls()).await;
    let tls = net.user_tls("org1", "client").with_server_name("peer9.elsewhere");
    let message =
        assert_tls_refusal(GatewayClient::new(&server.gateway_addr().to_string(), &tls).unwrap().status().await);
    assert!(message.contains("not valid for name"), "{message}");
    server.shutdown().await.unwrap();
}

/// Steps: a member's client certificate calls the peer service: passes the handshake
/// (it chains to a channel CA) and is refused as not a peer, before the node is called.
#[tokio::test]
async fn peer_service_admits_only_peer_certificates() {
    let net = network();
    let node = Arc::new(FakeNode::new("peer0.org1", "org1"));
    let server = start(node.clone(), net.server_tls()).await;
    let peer = PeerClient::new(&server.peer_addr().to_string(), &net.user_tls("org2", "client")).unwrap();
    match peer.raft(1, Vec::new()).await {
        Err(NodeError::PermissionDenied(m)) => assert!(m.contains("only peer certificates"), "{m}"),
        other => panic!("expected permission denied, got {other:?}"),
    }
    assert!(matches!(peer.status().await, Err(NodeError::PermissionDenied(_))));
    assert!(node.calls().is_empty());
    server.shutdown().await.unwrap();
}

/// Steps: serve two 6 MiB blocks (a 12 MiB reply, three times gRPC's default limit) and
/// fetch them; a broken hash chain is refused by the client.
#[tokio::test]
async fn large_block_replies_pass_and_are_checked() {
    let net = network();
    let blocks = chain(2, 6 << 20);
    let node = Arc::new(FakeNode::new("peer0.org1", "org1").with_blocks(blocks.clone()));
    let server = start(node, net.server_tls()).await;
    let peer = PeerClient::new(&server.peer_addr().to_string(), &net.node_tls(1)).unwrap();
    assert_eq!(peer.blocks(0, 10).await.unwrap(), blocks);
    assert_eq!(peer.blocks(1, 10).await.unwrap(), blocks[1..]);
    assert_eq!(peer.blocks(5, 10).await.unwrap(), Vec::new());
    server.shutdown().await.unwrap();

    let mut broken = chain(3, 16);
    broken[2].header.previous_hash = Hash32([9; 32]);
    let node = Arc::new(FakeNode::new("peer0.org1", "org1").with_blocks(broken));
    let server = start(node, net.server_tls()).await;
    let peer = PeerClient::new(&server.peer_addr().to_string(), &net.node_tls(1)).unwrap();
    assert_eq!(peer.blocks(0, 2).await.unwrap().len(), 2);
    match peer.blocks(0, 3).await {
        Err(NodeError::Rpc(m)) => assert!(m.contains("previous hash"), "{m}"),
        other => panic!("expected a refused chain, got {other:?}"),
    }
    server.shutdown().await.unwrap();
}

/// Steps: evaluate, endorse, submit, commit status and events through the gateway.
#[tokio::test]
async fn gateway_calls_round_trip() {
    let net = network();
    let events = vec![
        (
            "payment".to_string(),
            ChaincodeEventRecord { block: 1, tx_id: Hash32([1; 32]), name: "a".into(), payload: vec![1] },
        ),
        (
            "other".to_string(),
            ChaincodeEventRecord { block: 2, tx_id: Hash32([2; 32]), name: "b".into(), payload: vec![] },
        ),
        (
            "payment".to_string(),
            ChaincodeEventRecord { block: 3, tx_id: Hash32([3; 32]), name: "c".into(), payload: vec![3] },
        ),
    ];
    let node = Arc::new(FakeNode::new("peer0.org1", "org1").with_events(events.clone()));
    let server = start(node.clone(), net.server_tls()).await;
    let gateway = GatewayClient::new(&server.gateway_addr().to_string(), &net.user_tls("org1", "client")).unwrap();

    let p = proposal("transfer");
    let transient = vec![("secret".to_string(), vec![1, 2, 3])];
    assert_eq!(gateway.evaluate(&p, &transient).await.unwrap().payload, b"peer0.org1:transfer");
    let endorsed = gateway.endorse(&p, &transient).await.unwrap();
    assert_eq!(endorsed.len(), 1);
    assert_eq!(endorsed[0].payload.proposal_hash, p.proposal.hash());

    let tx = transaction(42, 100);
    assert_eq!(gateway.commit_status(tx.tx_id(), Duration::ZERO).await.unwrap(), None);
    let waiter = {
        let gateway = gateway.clone();
        let id = tx.tx_id();
        tokio::spawn(async move { gateway.commit_status(id, Duration::from_secs(10)).await })
    };
    let outcome = gateway.submit(&tx).await.unwrap();
    assert_eq!((outcome.tx_id, outcome.block, outcome.code), (tx.tx_id(), 0, ValidationCode::Valid));
    assert_eq!(waiter.await.unwrap().unwrap(), Some(outcome));
    assert_eq!(gateway.submit(&tx).await.unwrap().code, ValidationCode::DuplicateTxId);

    let got: Vec<_> = gateway.chaincode_events("payment", 2).await.unwrap().collect::<Vec<_>>().await;
    let got: Vec<_> = got.into_iter().map(Result::unwrap).collect();
    assert_eq!(got, vec![events[2].1.clone()]);
    server.shutdown().await.unwrap();
}

fn sample_errors() -> Vec<NodeError> {
    vec![
        NodeError::Invalid("bad request".into()),
        NodeError::NoPeerOf("org3".into()),
        NodeError::ChaincodeNotCommitted { name: "payment".into(), channel: "teechain".into() },
        NodeError::Divergence { block: 4, detail: "codes differ".into() },
        NodeError::Enclave(EnclaveError::Failed {
            kind: FailureKind::ChaincodeRefused,
            message: "insufficient funds".into(),
        }),
        NodeError::Enclave(EnclaveError::Protocol("garbled".into())),
        NodeError::NotLeader { leader: Some("127.0.0.1:7061".into()) },
        NodeError::NotLeader { leader: None },
        NodeError::PermissionDenied("not a peer".into()),
    ]
}

/// Steps: map each typed error to a status and back: the same error, with the gRPC code a
/// foreign client would act on, and the leader's address in plain metadata.
#[test]
fn errors_round_trip_through_status() {
    for error in sample_errors() {
        let shown = error.to_string();
        let status = to_status(error);
        assert_eq!(status.message(), shown);
        let back = from_status("node", status);
        assert_eq!(back.to_string(), shown, "{back:?}");
    }
    let status = to_status(NodeError::NotLeader { leader: Some("127.0.0.1:7061".into()) });
    assert_eq!(status.code(), tonic::Code::Unavailable);
    assert_eq!(status.metadata().get(LEADER_METADATA).unwrap(), "127.0.0.1:7061");
    assert!(matches!(
        from_status("node", status),
        NodeError::NotLeader { leader: Some(l) } if l == "127.0.0.1:7061"
    ));
    let refused = to_status(NodeError::Enclave(EnclaveError::Failed {
        kind: FailureKind::ChaincodeRefused,
        message: "no".into(),
    }));
    assert_eq!(refused.code(), tonic::Code::FailedPrecondition);
    assert!(matches!(
        from_status("node", refused),
        NodeError::Enclave(EnclaveError::Failed { kind: FailureKind::ChaincodeRefused, .. })
    ));

    // Errors that stay inside the node arrive as `Remote` with their message.
    let io = NodeError::Io { path: "/x".into(), source: std::io::Error::other("disk full") };
    let status = to_status(io);
    assert_eq!(status.code(), tonic::Code::Internal);
    assert!(matches!(from_status("node", status), NodeError::Remote(m) if m.contains("disk full")));
    // Retryable ones keep their kind and name the node.
    assert!(
        matches!(from_status("n1", to_status(NodeError::Unavailable("busy".into()))), NodeError::Unavailable(m) if m == "n1: busy")
    );
    assert!(matches!(from_status("n1", to_status(NodeError::Timeout("slow".into()))), NodeError::Timeout(_)));
    // A status from a foreign server (no TEEChain metadata) maps by code.
    assert!(matches!(from_status("n1", tonic::Status::unavailable("x")), NodeError::Unavailable(_)));
    assert!(matches!(from_status("n1", tonic::Status::deadline_exceeded("x")), NodeError::Timeout(_)));
    assert!(matches!(from_status("n1", tonic::Status::permission_denied("x")), NodeError::PermissionDenied(_)));
    assert!(matches!(from_status("n1", tonic::Status::internal("x")), NodeError::Remote(_)));
    // Long messages are cut, on a character boundary.
    let long = to_status(NodeError::Invalid("é".repeat(5000)));
    assert!(long.message().len() < 2100);
}

/// Steps: the same errors raised by the node arrive through a real call.
#[tokio::test]
async fn errors_cross_the_wire() {
    let net = network();
    let node = Arc::new(FakeNode::new("peer0.org1", "org1"));
    let server = start(node.clone(), net.server_tls()).await;
    let gateway = GatewayClient::new(&server.gateway_addr().to_string(), &net.user_tls("org1", "client")).unwrap();
    for (i, error) in sample_errors().into_iter().enumerate() {
        let shown = error.to_string();
        node.fail_with(move || sample_errors().swap_remove(i));
        let got = gateway.submit(&transaction(1, 1)).await.unwrap_err();
        assert_eq!(got.to_string(), shown);
    }
    node.succeed();
    // A malformed transaction is refused before the node sees it.
    let calls = node.calls().len();
    let mut rpc = pb::gateway_client::GatewayClient::new(
        tonic::transport::Endpoint::from_shared(format!("https://{}", server.gateway_addr()))
            .unwrap()
            .tls_config(net.user_tls("org1", "client").client_config())
            .unwrap()
            .connect()
            .await
            .unwrap(),
    );
    let status = rpc.submit(pb::SubmitRequest { transaction: vec![1, 0xff, 0xff] }).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    assert_eq!(node.calls().len(), calls);
    server.shutdown().await.unwrap();
}

/// Steps: a node that is not listening: the call fails as unavailable (retryable), fast.
#[tokio::test]
async fn unreachable_node_is_unavailable() {
    let net = network();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let gateway = GatewayClient::new(&format!("127.0.0.1:{port}"), &net.user_tls("org1", "client")).unwrap();
    match gateway.status().await {
        Err(NodeError::Unavailable(m)) => assert!(m.contains(&port.to_string()), "{m}"),
        other => panic!("expected unavailable, got {other:?}"),
    }
}

/// Steps: TLS material that does not parse is refused when built, not at first use.
#[test]
fn bad_tls_material_is_refused_early() {
    let net = network();
    let (cert, key) = net.user_pair("org1", "client");
    assert!(matches!(ClientTls::new("junk", &key, &net.roots()), Err(NodeError::Config { .. })));
    assert!(matches!(ClientTls::new(&cert, "junk", &net.roots()), Err(NodeError::Config { .. })));
    assert!(matches!(ClientTls::new(&cert, &key, &[]), Err(NodeError::Config { .. })));
    let bad_root =
        vec![("org1".to_string(), "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".to_string())];
    assert!(ClientTls::new(&cert, &key, &bad_root).is_err());
    assert!(ServerTls::new(&cert, &key, &[]).is_err());
}
