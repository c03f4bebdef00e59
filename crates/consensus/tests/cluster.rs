//! In-process clusters of orderers over [`MemNetwork`], each node with its own raft
//! directory and a [`MemApplier`] ledger. Every wait polls status against a deadline.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use teechain_consensus::testing::{dummy_transaction, MemApplier, MemNetwork};
use teechain_consensus::{BatchLimits, Committed, ConsensusError, NodeId, Orderer, OrdererConfig, Role};
use teechain_types::{Transaction, ValidationCode};
use tempfile::TempDir;

/// Longest any awaited condition may take.
const DEADLINE: Duration = Duration::from_secs(60);

fn address(id: NodeId) -> String {
    format!("mem://node{id}")
}

fn config(dir: &Path, id: NodeId, batch: BatchLimits, snapshot_every: u64) -> OrdererConfig {
    let mut c = OrdererConfig::new(id, address(id), dir.join(format!("node{id}")));
    c.batch = batch;
    // Generous timings: several clusters share two cores while the tests run.
    c.heartbeat_ms = 100;
    c.election_timeout_ms = (800, 1600);
    c.snapshot_every = snapshot_every;
    c
}

fn small_blocks() -> BatchLimits {
    BatchLimits { max_transactions: 50, max_bytes: 1 << 20, timeout: Duration::from_millis(20) }
}

/// Polls `f` until it returns `Some`, or panics after [`DEADLINE`].
async fn wait_for<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + DEADLINE;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

struct Node {
    orderer: Orderer,
    applier: Arc<MemApplier>,
}

/// Live orderers by id, shared with submitting tasks.
type Live = Arc<Mutex<BTreeMap<NodeId, Orderer>>>;

struct Cluster {
    dir: TempDir,
    net: Arc<MemNetwork>,
    batch: BatchLimits,
    snapshot_every: u64,
    nodes: BTreeMap<NodeId, Node>,
    live: Live,
}

impl Cluster {
    /// Starts nodes `1..=n` and initializes them as the voters of a new cluster. Small
    /// snapshot intervals make the tests exercise snapshots and log purging.
    async fn start(n: u64, batch: BatchLimits, snapshot_every: u64) -> Cluster {
        let mut c = Cluster {
            dir: TempDir::new().expect("temp dir"),
            net: MemNetwork::new(),
            batch,
            snapshot_every,
            nodes: BTreeMap::new(),
            live: Arc::new(Mutex::new(BTreeMap::new())),
        };
        for id in 1..=n {
            c.start_node(id, MemApplier::new()).await;
        }
        let voters = (1..=n).map(|id| (id, address(id))).collect();
        c.nodes[&1].orderer.initialize(voters).await.expect("initialize");
        c
    }

    /// Starts (or restarts) node `id` from its raft directory over `applier`.
    async fn start_node(&mut self, id: NodeId, applier: Arc<MemApplier>) {
        let orderer = Orderer::start(
            config(self.dir.path(), id, self.batch, self.snapshot_every),
            applier.clone(),
            self.net.transport(id),
        )
        .await
        .expect("start orderer");
        self.net.register(orderer.clone());
        self.net.set_down(id, false);
        self.live.lock().unwrap().insert(id, orderer.clone());
        self.nodes.insert(id, Node { orderer, applier });
    }

    /// Shuts node `id` down and cuts it off the network.
    async fn kill(&mut self, id: NodeId) {
        self.net.set_down(id, true);
        self.live.lock().unwrap().remove(&id);
        self.nodes[&id].orderer.shutdown().await.expect("shutdown");
    }

    /// Waits until one live node leads and every live voter agrees on it.
    async fn leader(&self) -> NodeId {
        let live = self.live.clone();
        wait_for("an agreed leader", || {
            let live = live.lock().unwrap();
            let leader = live.values().map(|o| o.status()).find(|s| s.role == Role::Leader)?;
            let agreed = live
                .values()
                .map(|o| o.status())
                .filter(|s| leader.voters.contains(&s.id))
                .all(|s| s.leader_id == Some(leader.id));
            agreed.then_some(leader.id)
        })
        .await
    }

    /// Submits every transaction concurrently, each retried at the current leader until
    /// it commits.
    async fn submit_all(&self, txs: Vec<Transaction>) -> Vec<Committed> {
        let tasks: Vec<_> = txs.into_iter().map(|tx| tokio::spawn(submit_retrying(self.live.clone(), tx))).collect();
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.expect("submit task"));
        }
        out
    }

    /// Waits until the appliers of `ids` hold the same blocks, at least `min_height`.
    async fn wait_identical(&self, ids: &[NodeId], min_height: u64) -> Vec<teechain_types::Hash32> {
        let appliers: Vec<_> = ids.iter().map(|id| self.nodes[id].applier.clone()).collect();
        wait_for("identical ledgers", || {
            let first = appliers[0].block_hashes();
            let same = appliers.iter().all(|a| a.block_hashes() == first);
            (same && first.len() as u64 >= min_height).then_some(first)
        })
        .await
    }
}

/// Submits `tx` to whichever live node leads, retrying on retryable errors.
async fn submit_retrying(live: Live, tx: Transaction) -> Committed {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let leader = live.lock().unwrap().values().find(|o| o.status().role == Role::Leader).cloned();
        if let Some(o) = leader {
            match o.submit(tx.clone()).await {
                Ok(c) => return c,
                Err(e) if e.is_retryable() => {}
                Err(e) => panic!("submit failed: {e}"),
            }
        }
        assert!(Instant::now() < deadline, "transaction never committed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn txs(range: std::ops::Range<u64>) -> Vec<Transaction> {
    range.map(dummy_transaction).collect()
}

/// Steps: start three nodes and initialize; wait for a leader; submit 200 transactions
/// concurrently; check each outcome against the leader's blocks; wait until all three
/// ledgers hold identical blocks; submit at a follower and expect a forward to the
/// leader's address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_order_identical_blocks() {
    let cluster = Cluster::start(3, small_blocks(), 10).await;
    let leader = cluster.leader().await;

    let outcomes = cluster.submit_all(txs(0..200)).await;
    let blocks = cluster.nodes[&leader].applier.blocks();
    for c in &outcomes {
        // A retry after a lost leadership may see its first copy: DuplicateTxId.
        assert!(matches!(c.code, ValidationCode::Valid | ValidationCode::DuplicateTxId), "{c:?}");
        let block = &blocks[c.block as usize];
        assert_eq!(block.header.number, c.block);
        assert_eq!(block.transactions[c.index as usize].tx_id(), c.tx_id);
        assert_eq!(block.validation[c.index as usize], c.code);
    }
    let valid = cluster.nodes[&leader].applier.valid_tx_ids();
    assert!(txs(0..200).iter().all(|t| valid.contains(&t.tx_id())), "every transaction committed valid");

    let hashes = cluster.wait_identical(&[1, 2, 3], blocks.len() as u64).await;
    assert!(hashes.len() >= 4, "200 transactions in blocks of at most 50");
    // Blocks chain.
    let blocks = cluster.nodes[&1].applier.blocks();
    for (i, b) in blocks.iter().enumerate().skip(1) {
        assert_eq!(b.header.previous_hash, blocks[i - 1].hash());
        assert!(b.header.timestamp_ms >= blocks[i - 1].header.timestamp_ms);
    }

    let leader = cluster.leader().await;
    let follower = *cluster.nodes.keys().find(|id| **id != leader).expect("a follower");
    match cluster.nodes[&follower].orderer.submit(dummy_transaction(1000)).await {
        Err(ConsensusError::ForwardToLeader { leader_id, leader_address }) => {
            assert_eq!(leader_id, Some(leader));
            assert_eq!(leader_address, Some(address(leader)));
        }
        other => panic!("expected a forward to the leader, got {other:?}"),
    }
    let status = cluster.nodes[&follower].orderer.status();
    assert_eq!(status.role, Role::Follower);
    assert_eq!(status.voters, BTreeSet::from([1, 2, 3]));
    assert_eq!(status.leader_address, Some(address(leader)));
}

/// Steps: start three nodes; commit 50 transactions; shut the leader down and cut it
/// off; wait for another leader; commit 50 more; restart the old leader from its raft
/// directory over its (kept) ledger; wait until it holds the same blocks, and check that
/// it applied every block exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failover_and_restart_without_reapplying() {
    let mut cluster = Cluster::start(3, small_blocks(), 10).await;
    let old = cluster.leader().await;
    cluster.submit_all(txs(0..50)).await;
    let before = cluster.nodes[&old].applier.height();
    assert!(before >= 1);

    cluster.kill(old).await;
    let new = cluster.leader().await;
    assert_ne!(new, old);
    cluster.submit_all(txs(50..100)).await;
    let others: Vec<NodeId> = cluster.nodes.keys().copied().filter(|id| *id != old).collect();
    cluster.wait_identical(&others, before + 1).await;
    assert_eq!(cluster.nodes[&old].applier.height(), before, "a dead node applies nothing");

    let applier = cluster.nodes[&old].applier.clone();
    let marker = applier.marker().expect("marker stored").summary().expect("marker decodes");
    assert_eq!(marker.block_height, before, "the marker is stored with each block");
    cluster.start_node(old, applier.clone()).await;
    let height = cluster.nodes[&new].applier.height();
    cluster.wait_identical(&[1, 2, 3], height).await;
    assert_eq!(applier.apply_calls(), applier.height(), "every block applied once, none again after restart");
    let valid = applier.valid_tx_ids();
    assert!(txs(0..100).iter().all(|t| valid.contains(&t.tx_id())));

    // The restarted node serves as a follower again.
    cluster.submit_all(txs(100..120)).await;
    let height = cluster.nodes[&cluster.leader().await].applier.height();
    cluster.wait_identical(&[1, 2, 3], height).await;
}

/// Steps: start three nodes with a snapshot every 10 entries; commit 200 transactions
/// in blocks of 5 (so early log entries are purged); start a fourth node with an empty
/// directory, add it as a learner (it must catch up from a snapshot), then make it a
/// voter; commit more and check all four ledgers agree.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn learner_catches_up_then_votes() {
    let batch = BatchLimits { max_transactions: 5, max_bytes: 1 << 20, timeout: Duration::from_millis(10) };
    let mut cluster = Cluster::start(3, batch, 10).await;
    let leader = cluster.leader().await;
    cluster.submit_all(txs(0..200)).await;
    let height = cluster.nodes[&leader].applier.height();
    assert!(height >= 40);

    cluster.start_node(4, MemApplier::new()).await;
    let leader = cluster.leader().await;
    cluster.nodes[&leader].orderer.add_learner(4, address(4)).await.expect("add learner");
    // add_learner returns once the log is replicated; applying follows with the next
    // heartbeat's commit index.
    let learner = cluster.nodes[&4].applier.clone();
    wait_for("the learner to apply", || (learner.height() >= height).then_some(())).await;
    assert!(cluster.nodes[&4].applier.snapshots_installed() >= 1, "purged entries arrive as a snapshot");
    assert_eq!(cluster.nodes[&4].orderer.status().role, Role::Learner);

    cluster.nodes[&leader].orderer.change_membership(BTreeSet::from([1, 2, 3, 4])).await.expect("change membership");
    let status = cluster.nodes[&leader].orderer.status();
    assert_eq!(status.voters, BTreeSet::from([1, 2, 3, 4]));
    assert!(!status.joint);
    wait_for("node 4 to vote", || (cluster.nodes[&4].orderer.status().role == Role::Follower).then_some(())).await;

    cluster.submit_all(txs(200..230)).await;
    let height = cluster.nodes[&cluster.leader().await].applier.height();
    cluster.wait_identical(&[1, 2, 3, 4], height).await;
}

/// Measures ordering throughput: 3 nodes, 500-transaction blocks cut every 20 ms,
/// 20,000 transactions of about 2 KB (a payment's size) submitted at once. Run with
/// `cargo test -p teechain-consensus --test main -- --ignored --nocapture throughput`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, not a check"]
async fn throughput() {
    let batch = BatchLimits { max_transactions: 500, max_bytes: 8 << 20, timeout: Duration::from_millis(20) };
    let cluster = Cluster::start(3, batch, 5000).await;
    let leader = cluster.leader().await;
    let n = 20_000;
    // `CERT_BYTES=32` measures tiny transactions instead.
    let cert: usize = std::env::var("CERT_BYTES").ok().and_then(|v| v.parse().ok()).unwrap_or(2000);
    let all: Vec<Transaction> = (0..n)
        .map(|i| {
            let mut tx = dummy_transaction(i);
            tx.payload.header.creator.cert_der = vec![7; cert];
            tx
        })
        .collect();
    let size = teechain_types::encode(&all[0]).len();
    let started = Instant::now();
    let outcomes = cluster.submit_all(all).await;
    let elapsed = started.elapsed();
    assert_eq!(outcomes.len() as u64, n);
    let height = cluster.nodes[&leader].applier.height();
    println!(
        "{n} transactions of {size} B committed on the leader in {elapsed:?}: {:.0} tx/s, {height} blocks",
        n as f64 / elapsed.as_secs_f64()
    );
    cluster.wait_identical(&[1, 2, 3], height).await;
    println!("all three ledgers identical after {:?}", started.elapsed());
}

/// Steps: start three nodes; cut the leader off (it still believes it leads) and submit
/// to it; wait until the others elect a new leader; reconnect the old one. When it steps
/// down, the pending submit fails with `LeadershipLost` naming the new leader, and its
/// proposal never commits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cut_off_leader_fails_its_waiters() {
    let cluster = Cluster::start(3, small_blocks(), 10).await;
    let old = cluster.leader().await;
    cluster.submit_all(txs(0..10)).await;
    cluster.net.set_down(old, true);
    let stale = cluster.nodes[&old].orderer.clone();
    let pending = tokio::spawn(async move { stale.submit(dummy_transaction(500)).await });

    let live = cluster.live.clone();
    let new = wait_for("a new leader", || {
        let live = live.lock().unwrap();
        live.values().map(|o| o.status()).find(|s| s.role == Role::Leader && s.id != old).map(|s| s.id)
    })
    .await;
    cluster.net.set_down(old, false);
    match pending.await.expect("submit task") {
        Err(ConsensusError::LeadershipLost { leader_id, .. }) => assert!(leader_id.is_none() || leader_id == Some(new)),
        other => panic!("expected LeadershipLost, got {other:?}"),
    }
    cluster.submit_all(txs(10..20)).await;
    let height = cluster.nodes[&cluster.leader().await].applier.height();
    cluster.wait_identical(&[1, 2, 3], height).await;
    let lost = dummy_transaction(500).tx_id();
    assert!(!cluster.nodes[&1].applier.valid_tx_ids().contains(&lost), "the cut-off leader's block was discarded");
}
