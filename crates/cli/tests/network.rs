use crate::{json, teechain};
use std::path::Path;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};
use teechain_client::remote::RemoteGateway;
use teechain_client::Client;
use teechain_node::config::{load_identity, user_dir, NetworkConfig};
use teechain_node::rpc::{ClientTls, GatewayClient};
use teechain_node::{Gateway, NodeError};
use teechain_types::ValidationCode;

/// A network of node processes in a temporary directory, stopped when dropped.
pub(crate) struct Net {
    dir: tempfile::TempDir,
}

static NEXT_BLOCK: AtomicU16 = AtomicU16::new(0);

/// A base port whose node ports are free: each test of this process takes its own block
/// of 100 ports, offset by the process id so that concurrent test runs do not collide.
fn base_port() -> u16 {
    let offset = (std::process::id() % 200) as u16 * 100;
    loop {
        let base = 21_000 + (offset + NEXT_BLOCK.fetch_add(1, Ordering::Relaxed) * 100) % 20_000;
        if (0..4u16)
            .all(|i| [1, 2].iter().all(|o| std::net::TcpListener::bind(("127.0.0.1", base + 10 * i + o)).is_ok()))
        {
            return base;
        }
    }
}

impl Net {
    pub(crate) fn up(orgs: &str) -> Net {
        Net::up_with(orgs, &[], &[])
    }

    /// As [`Net::up`], the node processes started with extra environment variables.
    pub(crate) fn up_with_env(orgs: &str, env: &[(&str, &Path)]) -> Net {
        Net::up_with(orgs, &[], env)
    }

    /// As [`Net::up`], with extra `network init` arguments and environment variables.
    pub(crate) fn up_with(orgs: &str, init_args: &[&str], env: &[(&str, &Path)]) -> Net {
        let dir = tempfile::tempdir().expect("tempdir");
        let net = Net { dir };
        let port = base_port().to_string();
        let mut args = vec!["network", "init", "--dir", net.d(), "--orgs", orgs, "--base-port", &port];
        args.extend_from_slice(init_args);
        let init = teechain(&args);
        assert!(init.status.success(), "{}", String::from_utf8_lossy(&init.stderr));
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_teechain"));
        cmd.args(["network", "up", "--dir", net.d()]);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let up = cmd.output().expect("run teechain");
        assert!(
            up.status.success(),
            "up: {}{}",
            String::from_utf8_lossy(&up.stdout),
            String::from_utf8_lossy(&up.stderr)
        );
        net
    }

    pub(crate) fn d(&self) -> &str {
        self.dir.path().to_str().expect("utf8 path")
    }

    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }

    pub(crate) fn config(&self) -> NetworkConfig {
        NetworkConfig::load(self.path()).expect("config")
    }

    pub(crate) fn ok(&self, args: &[&str]) -> serde_json::Value {
        let mut full = args.to_vec();
        full.push("--json");
        let out = teechain(&full);
        assert!(
            out.status.success(),
            "{args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        json(&out)
    }

    /// A remote gateway and client as `user` of `org`, own organisation's nodes first.
    pub(crate) fn client(&self, org: &str) -> (RemoteGateway, Client) {
        teechain_node::rpc::tls::install_crypto_provider();
        let config = self.config();
        let tls = ClientTls::for_user(self.path(), &config, org, "client").expect("tls");
        let mut addrs: Vec<String> =
            config.nodes.iter().filter(|n| n.org == org).map(|n| n.gateway_address.clone()).collect();
        addrs.extend(config.nodes.iter().filter(|n| n.org != org).map(|n| n.gateway_address.clone()));
        let gw = RemoteGateway::connect(addrs, tls).expect("gateway");
        let signer = load_identity(&user_dir(self.path(), org, "client"), org).expect("identity");
        (gw, Client::new(signer, config.channel.channel))
    }

    /// Waits until every node reports the same height and tip.
    pub(crate) fn agreed_height(&self) -> u64 {
        self.agreed_status()[0]["height"].as_u64().expect("height")
    }

    /// The nodes' status once all are up, healthy and at the same tip. Key keepers
    /// commit blocks in the background, so one status can catch nodes mid-block.
    pub(crate) fn agreed_status(&self) -> Vec<serde_json::Value> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let v = self.ok(&["network", "status", "--dir", self.d()]);
            let nodes = v["nodes"].as_array().expect("nodes").clone();
            let all_up = nodes.iter().all(|n| n["up"] == true && n["healthy"] == true);
            if all_up && nodes.windows(2).all(|w| w[0]["tip"] == w[1]["tip"]) {
                return nodes;
            }
            assert!(Instant::now() < deadline, "nodes did not converge: {nodes:?}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        let _ = teechain(&["network", "down", "--dir", self.d()]);
    }
}

/// Steps: three node processes; deploy payment; init; org1 pays org2 10 through org1's
/// gateway; every organisation reads the balances through its own node; status shows
/// one leader; `ledger verify` agrees while running and from the files after `down`.
#[test]
fn three_processes_commit_the_payment_scenario_with_identical_ledgers() {
    payment_scenario(&Net::up("org1,org2,org3"), "in-process");
}

/// The same scenario with every node's enclave in its own `teechain-enclave` process
/// behind a Unix socket.
#[test]
fn the_payment_scenario_passes_with_enclaves_in_their_own_processes() {
    ensure_enclave_binary();
    payment_scenario(&Net::up_with("org1,org2,org3", &["--enclave", "process"], &[]), "own process");
}

/// Builds `teechain-enclave` next to the `teechain` binary under test when a partial
/// build (`cargo test -p teechain-cli`) left it out, or left one much older than the
/// binary under test; `cargo test --workspace` builds both, and then this does nothing
/// (a rebuild here would use other features and replace a binary other tests run).
fn ensure_enclave_binary() {
    let teechain = Path::new(env!("CARGO_BIN_EXE_teechain"));
    let exe = teechain.with_file_name("teechain-enclave");
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let stale = match (modified(&exe), modified(teechain)) {
        (Some(e), Some(t)) => t.duration_since(e).is_ok_and(|d| d > Duration::from_secs(1800)),
        _ => true,
    };
    if stale {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let built = std::process::Command::new(cargo)
            .args(["build", "-p", "teechain-enclave", "--bin", "teechain-enclave"])
            .status()
            .expect("cargo build");
        assert!(built.success() && exe.exists(), "no {}", exe.display());
    }
}

fn payment_scenario(net: &Net, enclave: &str) {
    let d = net.d();
    net.ok(&["chaincode", "deploy", "--dir", d, "--name", "payment", "--wasm", "payment"]);
    net.ok(&["invoke", "--dir", d, "--org", "org1", "payment", "init", "org1", "org2", "org3"]);
    let pay = net.ok(&["invoke", "--dir", d, "--org", "org1", "payment", "transfer", "org1", "org2", "10"]);
    assert_eq!(pay["code"], "VALID");
    for (org, account, expected) in [("org1", "org1", "90"), ("org2", "org2", "110"), ("org3", "org3", "100")] {
        let q = net.ok(&["query", "--dir", d, "--org", org, "payment", "balance", account]);
        assert_eq!(q["payload"], expected, "{org} reads {account}");
    }
    // The transfer's event streams from a real node, replayed from block 0, named
    // chaincode/event, with the payload the chaincode emitted.
    let (gw, _) = net.client("org3");
    let mut events = gw.events("payment", 0).expect("events");
    let event = events.next_within(Duration::from_secs(10)).expect("stream").expect("an event");
    assert_eq!(event.name, "payment/transfer");
    assert_eq!(event.tx_id.to_hex(), pay["tx_id"].as_str().expect("tx id"));
    let payload = String::from_utf8(event.payload).expect("utf8");
    assert!(payload.contains("\"amount\":10"), "{payload}");
    // Confidential mode: once the enclaves have distributed the chaincode's key, a
    // transfer whose arguments and response are sealed to it.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let q = crate::teechain(&["query", "--dir", d, "--confidential", "payment", "balance", "org1", "--json"]);
        if q.status.success() {
            assert_eq!(crate::json(&q)["payload"], "90");
            break;
        }
        assert!(Instant::now() < deadline, "no chaincode key: {}", String::from_utf8_lossy(&q.stderr));
        std::thread::sleep(Duration::from_millis(200));
    }
    let sealed = net.ok(&["invoke", "--dir", d, "--confidential", "payment", "transfer", "org1", "org2", "5"]);
    assert_eq!(sealed["code"], "VALID");
    for (org, account, expected) in [("org1", "org1", "85"), ("org2", "org2", "115")] {
        let q = net.ok(&["query", "--dir", d, "--org", org, "--confidential", "payment", "balance", account]);
        assert_eq!(q["payload"], expected, "{org} reads {account} confidentially");
    }
    // A rotation: the enclaves make epoch 1 and share it; calls sealed to it work.
    let rotated = net.ok(&["keys", "rotate", "--dir", d, "--chaincode", "payment", "--org", "org2"]);
    assert_eq!((rotated["epoch"].as_u64(), rotated["holders"].as_u64()), (Some(1), Some(3)), "{rotated}");
    let q = net.ok(&["query", "--dir", d, "--org", "org2", "--confidential", "payment", "balance", "org2"]);
    assert_eq!(q["payload"], "115");
    let height = net.agreed_height();
    let status = net.ok(&["network", "status", "--dir", d]);
    let leaders = status["nodes"].as_array().expect("nodes").iter().filter(|n| n["role"] == "leader").count();
    assert_eq!(leaders, 1);
    for n in status["nodes"].as_array().expect("nodes") {
        let platform = n["platform"].as_str().expect("platform");
        assert!(platform.contains("INSECURE") && platform.contains(enclave), "{platform}");
    }
    let running = net.ok(&["ledger", "verify", "--dir", d]);
    // At least that high: key keepers may commit blocks of their own meanwhile.
    assert!(running["nodes"].as_array().expect("nodes").iter().all(|n| n["height"].as_u64() >= Some(height)));
    net.ok(&["network", "down", "--dir", d]);
    let files = net.ok(&["ledger", "verify", "--dir", d]);
    let tips: Vec<_> = files["nodes"].as_array().expect("nodes").iter().map(|n| n["tip"].clone()).collect();
    assert!(tips.windows(2).all(|w| w[0] == w[1]), "{tips:?}");
    assert_every_organisation_vouched_for_the_time(net);
}

/// Every organisation's nodes put time beacons on the ledger while the network ran, close
/// to this machine's clock, and the channel's time is their median.
fn assert_every_organisation_vouched_for_the_time(net: &Net) {
    use teechain_types::tx::{latest_beacon, ledger_time};
    let config = net.config();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_millis() as u64;
    let node = &config.nodes[0];
    let ledger = teechain_ledger::Ledger::open(&net.path().join(&node.data_dir).join("ledger.redb")).expect("ledger");
    let snap = ledger.snapshot().expect("snapshot");
    let mut beacons = Vec::new();
    for org in ["org1", "org2", "org3"] {
        let t = latest_beacon(&snap, org).expect("read").unwrap_or_else(|| panic!("no beacon of {org}"));
        assert!(t <= now && now - t < 10 * 60_000, "{org}'s beacon {t} is far from {now}");
        beacons.push(t);
    }
    let median = ledger_time(beacons.clone(), 3).expect("a majority vouched");
    assert!(beacons.contains(&median));
}

/// A client whose certificate comes from a CA outside the channel (same organisation
/// name) is refused during the TLS handshake by a real node; the channel's own client
/// gets through on the same address.
#[test]
fn a_client_certificate_from_a_foreign_ca_is_refused_at_the_tls_layer() {
    let net = Net::up("org1,org2");
    let config = net.config();
    let foreign = tempfile::tempdir().expect("tempdir");
    let init = teechain(&["network", "init", "--dir", foreign.path().to_str().expect("utf8"), "--orgs", "org1"]);
    assert!(init.status.success());
    let cert = std::fs::read_to_string(user_dir(foreign.path(), "org1", "client").join("cert.pem")).expect("cert");
    let key = std::fs::read_to_string(user_dir(foreign.path(), "org1", "client").join("key.pem")).expect("key");
    // Trust the real network's CAs, so only the server's check of our certificate can fail.
    let roots = teechain_node::rpc::tls::network_roots(&config);
    let tls = ClientTls::new(&cert, &key, &roots).expect("tls");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("rt");
    let addr = config.nodes[0].gateway_address.clone();
    // TLS 1.3: the server checks the client certificate after the client has sent its
    // Finished, so depending on timing the client learns of the refusal as the server's
    // alert, or as a transport failure (closed connection, broken pipe) before any HTTP/2
    // response; never as an answer of the application. (The RPC unit tests also check
    // that the node is never called.)
    let at_tls = |r: &Result<teechain_node::rpc::NodeStatus, NodeError>| match r {
        Err(NodeError::Tls { .. }) => true,
        Err(NodeError::Unavailable(m)) => m.contains("transport error"),
        _ => false,
    };
    let refused = rt.block_on(async { GatewayClient::new(&addr, &tls)?.status().await });
    assert!(at_tls(&refused), "{refused:?}");
    let anonymous = ClientTls::anonymous(&roots).expect("tls");
    let refused = rt.block_on(async { GatewayClient::new(&addr, &anonymous)?.status().await });
    assert!(at_tls(&refused), "no client certificate: {refused:?}");
    let own = ClientTls::for_user(net.path(), &config, "org1", "client").expect("tls");
    let ok = rt.block_on(async { GatewayClient::new(&addr, &own)?.status().await });
    assert!(ok.is_ok(), "{ok:?}");
}

/// A payment carrying org1's endorsement only, against `AND(org1, org2)`, is ordered and
/// marked ENDORSEMENT_POLICY_FAILURE in the same block on every node; no balance moves.
#[test]
fn a_transaction_with_one_endorsement_too_few_is_invalid_on_every_node() {
    let net = Net::up("org1,org2,org3");
    let d = net.d();
    net.ok(&["chaincode", "deploy", "--dir", d, "--name", "payment", "--wasm", "payment"]);
    net.ok(&["invoke", "--dir", d, "--org", "org1", "payment", "init", "org1", "org2", "org3"]);
    let (gw, client) = net.client("org1");
    let args = ["org1", "org2", "5"].iter().map(|s| s.as_bytes().to_vec()).collect();
    let proposal = client.propose("payment", "transfer", args, &[]);
    let responses = gw.endorse(&proposal, &[]).expect("endorse");
    assert_eq!(responses.len(), 2);
    let org1_only: Vec<_> = responses.into_iter().filter(|r| r.endorsement.org == "org1").collect();
    let tx = client.assemble(&proposal, &org1_only).expect("assemble");
    let tx_id = tx.tx_id();
    let outcome = gw.submit(tx).expect("ordered");
    assert_eq!(outcome.code, ValidationCode::EndorsementPolicyFailure);
    net.agreed_height();
    let balance = net.ok(&["query", "--dir", d, "--org", "org1", "payment", "balance", "org1"]);
    assert_eq!(balance["payload"], "100");
    net.ok(&["network", "down", "--dir", d]);
    for node in &net.config().nodes {
        let ledger =
            teechain_ledger::Ledger::open(&net.path().join(&node.data_dir).join("ledger.redb")).expect("ledger");
        let status = ledger.tx_status(&tx_id).expect("read").expect("recorded");
        assert_eq!(
            (status.block, status.code),
            (outcome.block, ValidationCode::EndorsementPolicyFailure),
            "{}",
            node.name
        );
    }
}

/// Steps: three nodes, a chaincode any one organisation may endorse; a client writes keys
/// one after another through the gateways; after some acknowledgements the leader is
/// killed with SIGKILL; the client keeps going (its gateway retries on other nodes);
/// the killed node is restarted. Every acknowledged write is on every node, and all
/// nodes end with identical block hashes.
#[test]
fn killing_the_leader_under_load_loses_no_acknowledged_transaction() {
    let net = Net::up("org1,org2,org3");
    let d = net.d();
    let policy = "OR('org1.member','org2.member','org3.member')";
    net.ok(&["chaincode", "deploy", "--dir", d, "--name", "kv", "--wasm", "testbed", "--policy", policy]);
    let status = net.ok(&["network", "status", "--dir", d]);
    let leader = status["nodes"].as_array().expect("nodes").iter().find(|n| n["role"] == "leader").expect("leader")
        ["node"]
        .as_str()
        .expect("name")
        .to_string();
    let leader_node = net.config().nodes.into_iter().find(|n| n.name == leader).expect("leader entry");
    let pid_file = net.path().join(&leader_node.data_dir).join("node.pid");

    let (gw, client) = net.client("org2");
    let total = 60;
    let mut acked = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    for i in 0..total {
        let key = format!("key{i:03}");
        let args = vec![key.clone().into_bytes(), format!("value{i}").into_bytes()];
        match client.invoke(&gw, "kv", "put", args, &[]) {
            Ok(_) => acked.push(key),
            Err(e) => eprintln!("write {i} not acknowledged: {e}"),
        }
        if i == 20 {
            let pid = std::fs::read_to_string(&pid_file).expect("pid").trim().to_string();
            assert!(std::process::Command::new("kill").args(["-KILL", &pid]).status().expect("kill").success());
        }
        assert!(Instant::now() < deadline, "load did not finish");
    }
    assert!(acked.len() >= total - 5, "most writes are acknowledged across the failover: {}", acked.len());
    let up = teechain(&["network", "up", "--dir", d]);
    assert!(up.status.success(), "{}", String::from_utf8_lossy(&up.stderr));
    net.agreed_height();
    // Each organisation's client evaluates on its own organisation's node first.
    for org in ["org1", "org2", "org3"] {
        let (gw, client) = net.client(org);
        for key in &acked {
            let r = client.query(&gw, "kv", "get", vec![key.clone().into_bytes()]).expect("query");
            let value: Option<Vec<u8>> =
                teechain_types::codec::decode(&r.payload, teechain_types::codec::Limits::RECORD).expect("decode");
            let expected = format!("value{}", &key[3..].trim_start_matches('0').parse::<u32>().unwrap_or(0));
            assert_eq!(value.as_deref(), Some(expected.as_bytes()), "{key} on {org}'s node");
        }
    }
    let verify = net.ok(&["ledger", "verify", "--dir", d]);
    let tips: Vec<_> = verify["nodes"].as_array().expect("nodes").iter().map(|n| n["tip"].clone()).collect();
    assert!(tips.windows(2).all(|w| w[0] == w[1]), "{tips:?}");
}

/// Steps: three nodes commit some payments; a fourth node of org1 is added and joins;
/// it catches up (learner, then voter) to the same chain and takes part: a later payment
/// commits on all four. Then it is removed, and the remaining three go on.
#[test]
fn a_fourth_node_joins_catches_up_takes_part_and_can_be_removed() {
    let net = Net::up("org1,org2,org3");
    let d = net.d();
    net.ok(&["chaincode", "deploy", "--dir", d, "--name", "payment", "--wasm", "payment"]);
    net.ok(&["invoke", "--dir", d, "--org", "org1", "payment", "init", "org1", "org2", "org3"]);
    net.ok(&["invoke", "--dir", d, "--org", "org1", "payment", "transfer", "org1", "org2", "10"]);
    let added = net.ok(&["node", "add", "--dir", d, "--org", "org1"]);
    assert_eq!(added["node"], "peer1.org1");
    assert_eq!(added["node_id"], 4);
    let joined = net.ok(&["node", "join", "--dir", d, "--name", "peer1.org1"]);
    assert_eq!(joined["nodes"], 4);
    net.ok(&["invoke", "--dir", d, "--org", "org2", "payment", "transfer", "org2", "org3", "5"]);
    let nodes = net.agreed_status();
    assert_eq!(nodes.len(), 4);
    let verify = net.ok(&["ledger", "verify", "--dir", d]);
    assert_eq!(verify["nodes"].as_array().expect("nodes").len(), 4);

    net.ok(&["node", "remove", "--dir", d, "--name", "peer1.org1"]);
    net.ok(&["invoke", "--dir", d, "--org", "org1", "payment", "transfer", "org1", "org3", "1"]);
    net.agreed_height();
    let status = net.ok(&["network", "status", "--dir", d]);
    assert_eq!(status["nodes"].as_array().expect("nodes").len(), 3);
    let q = net.ok(&["query", "--dir", d, "--org", "org3", "payment", "balance", "org3"]);
    assert_eq!(q["payload"], "106");
}

pub(crate) fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read dir") {
        let e = e.expect("entry");
        let target = to.join(e.file_name());
        if e.file_type().expect("type").is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).expect("copy");
        }
    }
}

/// Steps: commit some payments; stop the network and keep a copy of org3's node data
/// (ledger and Raft log); commit more; stop, and put the old copy back, as a restore
/// from an old backup would; start again. The restored node catches up to exactly the
/// others' chain: same height, same block hashes, no fork.
#[test]
fn a_node_restored_from_an_old_copy_catches_up_without_forking() {
    let net = Net::up("org1,org2,org3");
    let d = net.d();
    net.ok(&["chaincode", "deploy", "--dir", d, "--name", "payment", "--wasm", "payment"]);
    net.ok(&["invoke", "--dir", d, "--org", "org1", "payment", "init", "org1", "org2", "org3"]);
    let old_height = net.agreed_height();
    net.ok(&["network", "down", "--dir", d]);
    let node3 = net.path().join("nodes/peer0.org3");
    let backup = net.path().join("backup-peer0.org3");
    copy_dir(&node3, &backup);

    let up = teechain(&["network", "up", "--dir", d]);
    assert!(up.status.success(), "{}", String::from_utf8_lossy(&up.stderr));
    for amount in ["1", "2", "3"] {
        net.ok(&["invoke", "--dir", d, "--org", "org1", "payment", "transfer", "org1", "org2", amount]);
    }
    let new_height = net.agreed_height();
    assert!(new_height > old_height);
    net.ok(&["network", "down", "--dir", d]);

    std::fs::remove_dir_all(&node3).expect("remove");
    copy_dir(&backup, &node3);
    let _ = std::fs::remove_file(node3.join("node.pid"));
    let up = teechain(&["network", "up", "--dir", d]);
    assert!(up.status.success(), "{}", String::from_utf8_lossy(&up.stderr));
    // Caught up: the same tip as the others (key keepers may have added blocks since).
    assert!(net.agreed_height() >= new_height);
    net.ok(&["invoke", "--dir", d, "--org", "org2", "payment", "transfer", "org2", "org3", "4"]);
    net.agreed_height();
    let verify = net.ok(&["ledger", "verify", "--dir", d]);
    let tips: Vec<_> = verify["nodes"].as_array().expect("nodes").iter().map(|n| n["tip"].clone()).collect();
    assert!(tips.windows(2).all(|w| w[0] == w[1]), "{tips:?}");
    let q = net.ok(&["query", "--dir", d, "--org", "org3", "payment", "balance", "org3"]);
    assert_eq!(q["payload"], "104");
}
