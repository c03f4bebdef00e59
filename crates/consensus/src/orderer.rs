//! The orderer: a Raft node (openraft) whose log entries are block proposals, plus the
//! leader's block-cutting loop and the submitters waiting for their blocks.

use crate::boundary::{BlockApplier, BlockProposal, NodeId, RaftRpcKind, RaftTransport};
use crate::cutter::{BatchLimits, BlockCutter};
use crate::error::{ConsensusError, Result};
use crate::log_store::LogStore;
use crate::network::{self, Network};
use crate::raft_types::{ProposalData, TypeConfig};
use crate::state_machine::{SmShared, StateMachine};
use crate::waiters::Waiters;
use openraft::error::{ClientWriteError, InitializeError, RaftError};
use openraft::{BasicNode, Raft, RaftMetrics, ServerState, SnapshotPolicy};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use teechain_types::codec::Limits;
use teechain_types::{Transaction, TxId, ValidationCode};
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::task::JoinHandle;

/// File name of the Raft log store in the raft directory.
pub const LOG_FILE: &str = "raft.redb";

/// How long [`Orderer::submit`] waits for the block holding a transaction.
pub const SUBMIT_TIMEOUT: Duration = Duration::from_secs(30);

/// Largest `batch.max_bytes` allowed: a stored log entry is decoded with
/// [`Limits::BLOCK`].
const MAX_BLOCK_BYTES: usize = Limits::BLOCK.max_bytes / 2;
/// Most log entries (blocks) in one AppendEntries message.
const MAX_PAYLOAD_ENTRIES: u64 = 16;
/// Size of one InstallSnapshot chunk.
const SNAPSHOT_CHUNK_BYTES: u64 = 4 << 20;
/// Time allowed to send and install the last snapshot chunk (installing replays blocks).
const INSTALL_SNAPSHOT_TIMEOUT_MS: u64 = 300_000;
/// Block proposals handed to Raft and not yet applied on the leader. Raft appends and
/// replicates the ones waiting together, so more in flight means bigger appends.
const MAX_INFLIGHT_PROPOSALS: usize = 32;
/// Submitted transactions queued for the cutter before `submit` waits for room.
const SUBMIT_QUEUE: usize = 1 << 16;

/// How to run one orderer node.
#[derive(Clone, Debug)]
pub struct OrdererConfig {
    /// This node's Raft id (unique in the cluster, never reused).
    pub node_id: NodeId,
    /// This node's peer address as the other nodes dial it (stored in the membership).
    pub address: String,
    /// Directory of the Raft log (`raft.redb`) and the current snapshot (`snapshot.bin`).
    pub raft_dir: PathBuf,
    /// When the leader cuts a block. Use the same limits on every node: each accepts
    /// messages sized for its own limits ([`Orderer::max_message_bytes`]).
    pub batch: BatchLimits,
    /// Election timeout range in ms (min, max); a follower that hears no leader for a
    /// random time in the range starts an election.
    pub election_timeout_ms: (u64, u64),
    /// Leader heartbeat interval in ms. It is also the time allowed for one
    /// AppendEntries round trip, so keep it well above a block's replication time.
    pub heartbeat_ms: u64,
    /// Log entries (about one per block) between snapshots; as many entries before the
    /// latest snapshot are kept for followers that are a little behind.
    pub snapshot_every: u64,
}

impl OrdererConfig {
    /// A configuration with the default batch limits, a 150 ms heartbeat, elections
    /// after 750–1500 ms of silence, and a snapshot every 5000 entries.
    pub fn new(node_id: NodeId, address: impl Into<String>, raft_dir: impl Into<PathBuf>) -> OrdererConfig {
        OrdererConfig {
            node_id,
            address: address.into(),
            raft_dir: raft_dir.into(),
            batch: BatchLimits::default(),
            election_timeout_ms: (750, 1500),
            heartbeat_ms: 150,
            snapshot_every: 5000,
        }
    }

    fn raft_config(&self) -> Result<openraft::Config> {
        let invalid = |reason: String| ConsensusError::Config { reason };
        if self.snapshot_every == 0 {
            return Err(invalid("snapshot_every must be positive".into()));
        }
        if self.batch.max_transactions == 0 || self.batch.max_bytes == 0 {
            return Err(invalid("batch limits must be positive".into()));
        }
        if self.batch.max_bytes > MAX_BLOCK_BYTES {
            return Err(invalid(format!("batch.max_bytes may be at most {MAX_BLOCK_BYTES}")));
        }
        openraft::Config {
            cluster_name: "teechain".into(),
            election_timeout_min: self.election_timeout_ms.0,
            election_timeout_max: self.election_timeout_ms.1,
            heartbeat_interval: self.heartbeat_ms,
            install_snapshot_timeout: INSTALL_SNAPSHOT_TIMEOUT_MS,
            max_payload_entries: MAX_PAYLOAD_ENTRIES,
            snapshot_policy: SnapshotPolicy::LogsSinceLast(self.snapshot_every),
            max_in_snapshot_log_to_keep: self.snapshot_every,
            snapshot_max_chunk_size: SNAPSHOT_CHUNK_BYTES,
            ..Default::default()
        }
        .validate()
        .map_err(|e| invalid(e.to_string()))
    }

    /// Largest RPC body this node sends or accepts: a full AppendEntries of the biggest
    /// blocks the batch limits allow (a single transaction is at most
    /// [`Limits::TRANSACTION`]).
    fn max_message_bytes(&self) -> usize {
        let entry = self.batch.max_bytes.max(Limits::TRANSACTION.max_bytes) + (64 << 10);
        (MAX_PAYLOAD_ENTRIES as usize)
            .saturating_mul(entry)
            .saturating_add(1 << 20)
            .max(2 * SNAPSHOT_CHUNK_BYTES as usize)
    }
}

/// Where a submitted transaction was committed, and how it was judged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Committed {
    /// The transaction id.
    pub tx_id: TxId,
    /// Number of the block that holds it.
    pub block: u64,
    /// Its index in the block.
    pub index: u32,
    /// Its validation code. `DuplicateTxId` after a retry usually means an earlier
    /// attempt committed: look the id up in the ledger.
    pub code: ValidationCode,
}

/// A Raft node's role.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Orders blocks.
    Leader,
    /// Replicates and votes.
    Follower,
    /// Campaigning for leadership.
    Candidate,
    /// Replicates without voting (or not yet part of a cluster).
    Learner,
    /// Shutting down or stopped.
    Shutdown,
}

impl From<ServerState> for Role {
    fn from(s: ServerState) -> Role {
        match s {
            ServerState::Leader => Role::Leader,
            ServerState::Follower => Role::Follower,
            ServerState::Candidate => Role::Candidate,
            ServerState::Learner => Role::Learner,
            ServerState::Shutdown => Role::Shutdown,
        }
    }
}

/// A snapshot of a node's Raft state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RaftStatus {
    /// This node's id.
    pub id: NodeId,
    /// Its role.
    pub role: Role,
    /// Its current term.
    pub term: u64,
    /// The leader it knows of.
    pub leader_id: Option<NodeId>,
    /// The leader's address, from the membership.
    pub leader_address: Option<String>,
    /// Index of its last log entry.
    pub last_log_index: Option<u64>,
    /// Index of the last entry applied to the ledger.
    pub last_applied_index: Option<u64>,
    /// Voters of the membership in force (both configurations' during a joint change).
    pub voters: BTreeSet<NodeId>,
    /// Learners of the membership in force.
    pub learners: BTreeSet<NodeId>,
    /// Address of every member.
    pub nodes: BTreeMap<NodeId, String>,
    /// True during a joint-consensus membership change.
    pub joint: bool,
    /// Why Raft stopped, if it stopped on its own.
    pub fatal: Option<String>,
}

struct Submitted {
    tx: Transaction,
    /// Encoded size.
    size: usize,
    term: u64,
}

struct Inner {
    id: NodeId,
    raft: Raft<TypeConfig>,
    waiters: Arc<Waiters>,
    submit_tx: mpsc::Sender<Submitted>,
    stop: watch::Sender<bool>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    limits: Limits,
    shut: AtomicBool,
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Ends the cutter and the leadership watcher if `shutdown` was never called.
        let _ = self.stop.send(true);
    }
}

/// One node of the Raft-replicated ordering service. Cheap to clone.
///
/// Start with [`Orderer::start`]; form a new cluster once with [`Orderer::initialize`];
/// send transactions to the leader with [`Orderer::submit`]; serve peers' RPCs with
/// [`Orderer::handle_rpc`].
#[derive(Clone)]
pub struct Orderer {
    inner: Arc<Inner>,
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// The leader's id and address as this node knows them.
fn leader_hint(m: &RaftMetrics<NodeId, BasicNode>) -> (Option<NodeId>, Option<String>) {
    let address = m.current_leader.and_then(|l| m.membership_config.membership().get_node(&l).map(|n| n.addr.clone()));
    (m.current_leader, address)
}

fn forward(m: &RaftMetrics<NodeId, BasicNode>) -> ConsensusError {
    let (leader_id, leader_address) = leader_hint(m);
    ConsensusError::ForwardToLeader { leader_id, leader_address }
}

fn lost(m: &RaftMetrics<NodeId, BasicNode>) -> ConsensusError {
    let (leader_id, leader_address) = leader_hint(m);
    ConsensusError::LeadershipLost { leader_id, leader_address }
}

fn write_error(e: RaftError<NodeId, ClientWriteError<NodeId, BasicNode>>) -> ConsensusError {
    match e {
        RaftError::APIError(ClientWriteError::ForwardToLeader(f)) => {
            ConsensusError::ForwardToLeader { leader_id: f.leader_id, leader_address: f.leader_node.map(|n| n.addr) }
        }
        RaftError::APIError(ClientWriteError::ChangeMembershipError(e)) => {
            ConsensusError::Membership { reason: e.to_string() }
        }
        RaftError::Fatal(f) => ConsensusError::from_fatal(&f),
    }
}

impl Orderer {
    /// Opens the raft directory (creating it if needed), loads the applied state from
    /// `applier` and starts the Raft node, the block cutter and the leadership watcher.
    ///
    /// A node with an empty raft directory waits as a learner until
    /// [`Orderer::initialize`] is called on one node of a new cluster, or a leader adds
    /// it with [`Orderer::add_learner`]. Must be called inside a Tokio runtime.
    pub async fn start(
        config: OrdererConfig,
        applier: Arc<dyn BlockApplier>,
        transport: Arc<dyn RaftTransport>,
    ) -> Result<Orderer> {
        let raft_config = Arc::new(config.raft_config()?);
        let limits = Limits { max_bytes: config.max_message_bytes() };
        let dir = config.raft_dir.clone();
        let log_store = tokio::task::spawn_blocking(move || {
            std::fs::create_dir_all(&dir)
                .map_err(|e| ConsensusError::Storage { path: dir.display().to_string(), reason: e.to_string() })?;
            LogStore::open(&dir.join(LOG_FILE))
        })
        .await
        .map_err(|e| ConsensusError::Stopped { reason: Some(format!("opening the raft log: {e}")) })??;

        let waiters = Arc::new(Waiters::default());
        let sm = StateMachine::open(applier, waiters.clone(), &config.raft_dir).await?;
        let sm_shared = sm.shared();
        let net = Network { transport, limits };
        let raft = Raft::new(config.node_id, raft_config, net, log_store, sm)
            .await
            .map_err(|f| ConsensusError::from_fatal(&f))?;

        let (stop, stop_rx) = watch::channel(false);
        let (submit_tx, submit_rx) = mpsc::channel(SUBMIT_QUEUE);
        let cutter = CutLoop {
            raft: raft.clone(),
            waiters: waiters.clone(),
            sm: sm_shared,
            inflight: Arc::new(Semaphore::new(MAX_INFLIGHT_PROPOSALS)),
            last_ts: 0,
        };
        let tasks = vec![
            tokio::spawn(cutter.run(config.batch, submit_rx, stop_rx.clone())),
            tokio::spawn(watch_leadership(raft.clone(), waiters.clone(), stop_rx)),
        ];
        Ok(Orderer {
            inner: Arc::new(Inner {
                id: config.node_id,
                raft,
                waiters,
                submit_tx,
                stop,
                tasks: Mutex::new(tasks),
                limits,
                shut: AtomicBool::new(false),
            }),
        })
    }

    /// Forms a brand-new cluster whose voters are `voters` (id → peer address). Call it
    /// once, on one node, before any other use of the cluster; the others join when the
    /// elected leader contacts them. Fails with [`ConsensusError::AlreadyInitialized`] on
    /// a node that already has a log or a vote.
    pub async fn initialize(&self, voters: BTreeMap<NodeId, String>) -> Result<()> {
        let nodes: BTreeMap<NodeId, BasicNode> = voters.into_iter().map(|(id, a)| (id, BasicNode::new(a))).collect();
        self.inner.raft.initialize(nodes).await.map_err(|e| match e {
            RaftError::APIError(InitializeError::NotAllowed(e)) => {
                ConsensusError::AlreadyInitialized { reason: e.to_string() }
            }
            RaftError::APIError(InitializeError::NotInMembers(e)) => ConsensusError::Config { reason: e.to_string() },
            RaftError::Fatal(f) => ConsensusError::from_fatal(&f),
        })
    }

    /// Orders a transaction: queues it for the leader's next block and resolves when
    /// that block is applied to this node's ledger, with its number, the transaction's
    /// index and validation code.
    ///
    /// Only the leader accepts transactions; other nodes answer
    /// [`ConsensusError::ForwardToLeader`]. If this node loses leadership before the
    /// block is applied, the call fails with [`ConsensusError::LeadershipLost`] (after
    /// [`SUBMIT_TIMEOUT`], with [`ConsensusError::Timeout`]): the transaction may or may
    /// not have been ordered. Retrying at the new leader is safe: a second copy is judged
    /// `DuplicateTxId` by validation, and the caller then finds the first one by its id.
    pub async fn submit(&self, tx: Transaction) -> Result<Committed> {
        let inner = &self.inner;
        if inner.shut.load(Ordering::Acquire) {
            return Err(ConsensusError::stopped());
        }
        let term = self.leader_term()?;
        // Bounded here so that no block exceeds what the followers decode: one oversized
        // entry would stall replication for good.
        let size = teechain_types::encode(&tx).len();
        if size > Limits::TRANSACTION.max_bytes {
            return Err(ConsensusError::TooLarge { bytes: size, max: Limits::TRANSACTION.max_bytes });
        }
        let ticket = inner.waiters.register(tx.tx_id(), term);
        // The leadership watcher fails waiters of a lost term; a waiter registered just
        // after it ran would wait in vain, so look again now that it is registered.
        if let Err(e) = self.leader_term().and_then(|t| if t == term { Ok(()) } else { Err(self.forward_error()) }) {
            inner.waiters.remove(&ticket.tx_id, ticket.id);
            return Err(e);
        }
        if inner.submit_tx.send(Submitted { tx, size, term }).await.is_err() {
            inner.waiters.remove(&ticket.tx_id, ticket.id);
            return Err(ConsensusError::stopped());
        }
        match tokio::time::timeout(SUBMIT_TIMEOUT, ticket.rx).await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(_)) => Err(ConsensusError::stopped()),
            Err(_) => {
                inner.waiters.remove(&ticket.tx_id, ticket.id);
                Err(ConsensusError::Timeout { operation: "submit", after: SUBMIT_TIMEOUT })
            }
        }
    }

    /// The current term if this node is the leader, else `ForwardToLeader`.
    fn leader_term(&self) -> Result<u64> {
        let metrics = self.inner.raft.metrics();
        let m = metrics.borrow();
        if m.state == ServerState::Leader {
            Ok(m.current_term)
        } else {
            Err(forward(&m))
        }
    }

    fn forward_error(&self) -> ConsensusError {
        forward(&self.inner.raft.metrics().borrow())
    }

    /// Serves one Raft RPC from a peer (the receiving end of [`RaftTransport::call`]):
    /// decodes `body`, hands it to the Raft node and returns the encoded answer. An error
    /// means there is no answer (the body was malformed or this node is stopped); the
    /// transport reports it to the caller as a failed call.
    pub async fn handle_rpc(&self, kind: RaftRpcKind, body: &[u8]) -> Result<Vec<u8>> {
        if self.inner.shut.load(Ordering::Acquire) {
            return Err(ConsensusError::stopped());
        }
        network::serve(&self.inner.raft, kind, body, self.inner.limits).await
    }

    /// Leader only: adds node `id` at `address` as a learner and waits until its log has
    /// caught up (by log replication, or a snapshot if it is far behind); it applies the
    /// entries as soon as it learns they are committed, with the next heartbeat. Start
    /// the node's orderer first, with an empty raft directory.
    pub async fn add_learner(&self, id: NodeId, address: String) -> Result<()> {
        self.inner.raft.add_learner(id, BasicNode::new(address), true).await.map(|_| ()).map_err(write_error)
    }

    /// Leader only: makes `voters` the voting members (joint consensus, two steps).
    /// New voters must have been added as learners; members left out are removed.
    pub async fn change_membership(&self, voters: BTreeSet<NodeId>) -> Result<()> {
        self.inner.raft.change_membership(voters, false).await.map(|_| ()).map_err(write_error)
    }

    /// This node's Raft state as last reported by openraft.
    pub fn status(&self) -> RaftStatus {
        let metrics = self.inner.raft.metrics();
        let m = metrics.borrow();
        let (leader_id, leader_address) = leader_hint(&m);
        let membership = m.membership_config.membership();
        RaftStatus {
            id: self.inner.id,
            role: m.state.into(),
            term: m.current_term,
            leader_id,
            leader_address,
            last_log_index: m.last_log_index,
            last_applied_index: m.last_applied.map(|l| l.index),
            voters: membership.voter_ids().collect(),
            learners: membership.learner_ids().collect(),
            nodes: membership.nodes().map(|(id, n)| (*id, n.addr.clone())).collect(),
            joint: membership.get_joint_config().len() > 1,
            fatal: m.running_state.as_ref().err().map(|e| e.to_string()),
        }
    }

    /// This node's id.
    pub fn id(&self) -> NodeId {
        self.inner.id
    }

    /// Largest RPC body this node sends or accepts; the transport must allow messages of
    /// this size (gRPC's default limit is 4 MiB).
    pub fn max_message_bytes(&self) -> usize {
        self.inner.limits.max_bytes
    }

    /// Stops the cutter and the Raft node; waiting submitters get
    /// [`ConsensusError::Stopped`]. The raft directory can then be opened again by a new
    /// [`Orderer::start`]. Calling it again does nothing.
    pub async fn shutdown(&self) -> Result<()> {
        let inner = &self.inner;
        if inner.shut.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        let _ = inner.stop.send(true);
        let tasks = std::mem::take(&mut *inner.tasks.lock().unwrap_or_else(|p| p.into_inner()));
        for t in tasks {
            // The cutter may be waiting for room in a Raft that no longer commits (no
            // quorum): abort rather than wait. Its submitters are failed below.
            t.abort();
            let _ = t.await;
        }
        let res = inner.raft.shutdown().await;
        inner.waiters.fail_all(ConsensusError::stopped);
        res.map_err(|e| ConsensusError::Stopped { reason: Some(format!("Raft core ended abnormally: {e}")) })
    }
}

/// The leader's block-cutting loop (runs on every node; only a leader's submits reach
/// it).
struct CutLoop {
    raft: Raft<TypeConfig>,
    waiters: Arc<Waiters>,
    sm: Arc<SmShared>,
    inflight: Arc<Semaphore>,
    last_ts: u64,
}

impl CutLoop {
    async fn run(mut self, limits: BatchLimits, mut rx: mpsc::Receiver<Submitted>, mut stop: watch::Receiver<bool>) {
        let mut cutter = BlockCutter::new(limits);
        // The term the pending transactions were accepted in.
        let mut term = 0;
        loop {
            let deadline = cutter.deadline();
            let due = async move {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d.into()).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = stop.changed() => break,
                msg = rx.recv() => {
                    let Some(first) = msg else { break };
                    let mut next = Some(first);
                    // Drain what is queued before waiting again: full blocks are cut at once.
                    while let Some(s) = next.take() {
                        if s.term != term {
                            // A new leadership term: whatever is pending belongs to a lost
                            // one, and its submitters have been told.
                            let stale = cutter.take();
                            self.refuse(&stale, None);
                            term = s.term;
                        }
                        for batch in cutter.push_sized(s.tx, s.size) {
                            self.propose(batch, term).await;
                        }
                        next = rx.try_recv().ok();
                    }
                }
                _ = due => {
                    let batch = cutter.take();
                    self.propose(batch, term).await;
                }
            }
        }
    }

    /// Fails the submitters of `batch` (leadership lost, or Raft refused the proposal).
    fn refuse(&self, batch: &[Transaction], err: Option<ConsensusError>) {
        if batch.is_empty() {
            return;
        }
        let ids: Vec<TxId> = batch.iter().map(|t| t.tx_id()).collect();
        let metrics = self.raft.metrics();
        let m = metrics.borrow().clone();
        match err {
            Some(ConsensusError::ForwardToLeader { leader_id, leader_address }) => self.waiters.fail_ids(&ids, || {
                ConsensusError::LeadershipLost { leader_id, leader_address: leader_address.clone() }
            }),
            Some(ConsensusError::Stopped { reason }) => {
                self.waiters.fail_ids(&ids, || ConsensusError::Stopped { reason: reason.clone() })
            }
            _ => self.waiters.fail_ids(&ids, || lost(&m)),
        }
    }

    /// Hands one block proposal to Raft without waiting for it to commit.
    async fn propose(&mut self, batch: Vec<Transaction>, term: u64) {
        if batch.is_empty() {
            return;
        }
        let still_leader = {
            let metrics = self.raft.metrics();
            let m = metrics.borrow();
            m.state == ServerState::Leader && m.current_term == term
        };
        if !still_leader {
            self.refuse(&batch, None);
            return;
        }
        let Ok(permit) = self.inflight.clone().acquire_owned().await else { return };
        let timestamp_ms = now_ms().max(self.last_ts).max(self.sm.last_timestamp_ms());
        self.last_ts = timestamp_ms;
        let ids: Vec<TxId> = batch.iter().map(|t| t.tx_id()).collect();
        let proposal = ProposalData(Arc::new(BlockProposal { timestamp_ms, transactions: batch }));
        let rx = match self.raft.client_write_ff(proposal).await {
            Ok(rx) => rx,
            Err(f) => {
                let e = ConsensusError::from_fatal(&f);
                let reason = match e {
                    ConsensusError::Stopped { reason } => reason,
                    _ => None,
                };
                self.waiters.fail_ids(&ids, || ConsensusError::Stopped { reason: reason.clone() });
                return;
            }
        };
        let waiters = self.waiters.clone();
        let raft = self.raft.clone();
        tokio::spawn(async move {
            let _permit = permit;
            match rx.await {
                // Applied: the state machine has resolved the waiters.
                Ok(Ok(_)) => {}
                Ok(Err(ClientWriteError::ForwardToLeader(f))) => {
                    let leader_address = f.leader_node.map(|n| n.addr);
                    waiters.fail_ids(&ids, || ConsensusError::LeadershipLost {
                        leader_id: f.leader_id,
                        leader_address: leader_address.clone(),
                    });
                }
                Ok(Err(ClientWriteError::ChangeMembershipError(e))) => {
                    waiters.fail_ids(&ids, || ConsensusError::Membership { reason: e.to_string() });
                }
                // Raft dropped the proposal: it stopped or stepped down.
                Err(_) => {
                    let m = raft.metrics().borrow().clone();
                    waiters.fail_ids(&ids, || lost(&m));
                }
            }
        });
    }
}

/// Fails the waiters of a term as soon as this node stops leading in it, and every
/// waiter if Raft stops.
async fn watch_leadership(raft: Raft<TypeConfig>, waiters: Arc<Waiters>, mut stop: watch::Receiver<bool>) {
    let mut metrics = raft.metrics();
    let mut leading: Option<u64> = None;
    loop {
        let m = metrics.borrow_and_update().clone();
        let now_leading = (m.state == ServerState::Leader).then_some(m.current_term);
        if let Some(t) = leading {
            if now_leading != Some(t) {
                waiters.fail_terms_up_to(t, || lost(&m));
            }
        }
        leading = now_leading;
        if let Err(f) = &m.running_state {
            let reason = f.to_string();
            waiters.fail_all(|| ConsensusError::Stopped { reason: Some(reason.clone()) });
            return;
        }
        tokio::select! {
            _ = stop.changed() => return,
            changed = metrics.changed() => if changed.is_err() {
                waiters.fail_all(ConsensusError::stopped);
                return;
            },
        }
    }
}
