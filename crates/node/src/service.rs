//! A node as its own process: the peer (ledger, enclave, validator) ordered by Raft and
//! served over gRPC with mutual TLS.
//!
//! [`LedgerApplier`] is the Raft state machine: it turns each committed log entry into
//! the next block and commits it with the applied marker in one storage transaction.
//! [`GrpcRaftTransport`] carries Raft's messages over the peer service. [`NodeService`]
//! answers the gateway and peer services. [`run`] wires them for `teechain node start`.

use crate::config::{self, EnclaveMode, NetworkConfig, NodeEntry, NodeFile};
use crate::error::NodeError;
use crate::gateway::SubmitOutcome;
use crate::peer::{EnclaveBackend, EnclaveSettings, Peer, PeerSetup};
use crate::private::{PeerClients, PrivateDataService};
use crate::rpc::{
    self, ChaincodeEventRecord, ClientTls, EventStream, NodeApi, NodeStatus, PeerClient, ServerTls, Transient,
};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use teechain_consensus::{
    AppliedMarker, ApplyError, BlockApplier, BlockProposal, ConsensusError, NodeId, Orderer, OrdererConfig,
    RaftRpcKind, RaftTransport, TransportError,
};
use teechain_crypto::Msp;
use teechain_ledger::LedgerError;
use teechain_types::chaincode::ChaincodeResponse;
use teechain_types::codec::{decode, encode, Limits};
use teechain_types::collection::{CollectionPrivateWrites, TxPrivateData};
use teechain_types::keys::KeyScope;
use teechain_types::policy::EndorsementPolicy;
use teechain_types::tx::{latest_beacon, ProposalResponse, SignedProposal, TxBody};
use teechain_types::{Block, Role, Transaction, TxId, ValidationCode};
use tokio::sync::{broadcast, watch};

/// The Raft state machine over a peer's ledger.
pub struct LedgerApplier {
    peer: Arc<Peer>,
    height: watch::Sender<u64>,
    events: broadcast::Sender<ChaincodeEventRecord>,
}

impl LedgerApplier {
    fn publish(&self, block: &Block, codes: &[ValidationCode]) {
        for (tx, code) in block.transactions.iter().zip(codes) {
            if !code.is_valid() {
                continue;
            }
            if let TxBody::Invoke(inv) = &tx.payload.body {
                for e in &inv.response.events {
                    // No receiver is fine: nobody listens.
                    let _ = self.events.send(ChaincodeEventRecord {
                        block: block.header.number,
                        tx_id: tx.tx_id(),
                        name: format!("{}/{}", inv.chaincode, e.name),
                        payload: e.payload.clone(),
                    });
                }
            }
        }
        self.height.send_replace(self.peer.ledger().height());
    }
}

fn apply_err(e: NodeError) -> ApplyError {
    match e {
        NodeError::Ledger(l) => ApplyError::storage(l),
        other => ApplyError::Inconsistent { reason: other.to_string() },
    }
}

impl BlockApplier for LedgerApplier {
    fn apply(&self, proposal: BlockProposal, applied: AppliedMarker) -> Result<Vec<ValidationCode>, ApplyError> {
        let ledger = self.peer.ledger();
        let block = Block::new(ledger.height(), ledger.last_hash(), proposal.timestamp_ms, proposal.transactions);
        let outcome = self.peer.commit_block_with_marker(block.clone(), Some(&applied.0)).map_err(apply_err)?;
        self.publish(&block, &outcome.codes);
        Ok(outcome.codes)
    }

    fn apply_marker(&self, applied: AppliedMarker) -> Result<(), ApplyError> {
        self.peer.ledger().set_marker(&applied.0).map_err(ApplyError::storage)
    }

    fn applied_state(&self) -> Result<Option<AppliedMarker>, ApplyError> {
        Ok(self.peer.ledger().marker().map_err(ApplyError::storage)?.map(AppliedMarker))
    }

    fn snapshot(&self) -> Result<Vec<u8>, ApplyError> {
        let ledger = self.peer.ledger();
        let blocks = (0..ledger.height())
            .map(|n| {
                ledger
                    .block(n)
                    .map_err(ApplyError::storage)?
                    .ok_or_else(|| ApplyError::Inconsistent { reason: format!("block {n} missing from the ledger") })
            })
            .collect::<Result<Vec<Block>, _>>()?;
        Ok(encode(&blocks))
    }

    fn install_snapshot(&self, data: &[u8], applied: AppliedMarker) -> Result<(), ApplyError> {
        let blocks: Vec<Block> = decode(data, Limits { max_bytes: usize::MAX })
            .map_err(|e| ApplyError::Inconsistent { reason: format!("snapshot does not decode: {e}") })?;
        let ledger = self.peer.ledger();
        for block in blocks {
            let n = block.header.number;
            if n < ledger.height() {
                let mine = ledger.block(n).map_err(ApplyError::storage)?.map(|b| b.hash());
                if mine != Some(block.hash()) {
                    return Err(ApplyError::Inconsistent { reason: format!("snapshot block {n} differs from ours") });
                }
                continue;
            }
            // Replayed blocks are validated again; the codes must be the ones recorded.
            let recorded = block.validation.clone();
            let mut fresh = block.clone();
            fresh.validation.clear();
            let outcome = self.peer.commit_block(fresh).map_err(apply_err)?;
            if outcome.codes != recorded {
                return Err(ApplyError::Inconsistent {
                    reason: format!("block {n}: validation codes differ from the snapshot's"),
                });
            }
            self.publish(&block, &outcome.codes);
        }
        ledger.set_marker(&applied.0).map_err(ApplyError::storage)
    }
}

/// Raft messages over the peer gRPC service, one reused connection per peer.
pub struct GrpcRaftTransport {
    clients: Arc<PeerClients>,
}

fn kind_number(kind: RaftRpcKind) -> u32 {
    RaftRpcKind::ALL.iter().position(|k| *k == kind).unwrap_or(0) as u32
}

#[tonic::async_trait]
impl RaftTransport for GrpcRaftTransport {
    async fn call(
        &self,
        target: NodeId,
        address: &str,
        kind: RaftRpcKind,
        body: Vec<u8>,
    ) -> Result<Vec<u8>, TransportError> {
        let unreachable = |reason: String| TransportError::Unreachable { target, address: address.to_string(), reason };
        let client = self.clients.get(address).map_err(|e| unreachable(e.to_string()))?;
        client.raft(kind_number(kind), body).await.map_err(|e| match e {
            NodeError::Unavailable(r) | NodeError::Timeout(r) => unreachable(r),
            other => TransportError::Failed { target, reason: other.to_string() },
        })
    }
}

/// The gateway and peer services of one node.
pub struct NodeService {
    config: NetworkConfig,
    me: NodeEntry,
    peer: Arc<Peer>,
    orderer: OnceLock<Orderer>,
    clients: Arc<PeerClients>,
    private: Arc<PrivateDataService>,
    height: watch::Receiver<u64>,
    events: broadcast::Sender<ChaincodeEventRecord>,
}

impl NodeService {
    fn orderer(&self) -> Result<&Orderer, NodeError> {
        self.orderer.get().ok_or_else(|| NodeError::Unavailable("the orderer is starting".into()))
    }

    fn peer_client(&self, address: &str) -> Result<PeerClient, NodeError> {
        self.clients.get(address)
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(Arc<Peer>) -> Result<T, NodeError> + Send + 'static,
    ) -> Result<T, NodeError> {
        let peer = self.peer.clone();
        tokio::task::spawn_blocking(move || f(peer))
            .await
            .map_err(|e| NodeError::Unavailable(format!("worker failed: {e}")))?
    }

    fn recorded(&self, tx_id: &TxId) -> Result<Option<SubmitOutcome>, NodeError> {
        Ok(self.peer.ledger().tx_status(tx_id)?.map(|s| SubmitOutcome { tx_id: *tx_id, block: s.block, code: s.code }))
    }

    fn consensus_error(e: ConsensusError) -> NodeError {
        match e {
            ConsensusError::ForwardToLeader { leader_address, .. } => NodeError::NotLeader { leader: leader_address },
            ConsensusError::LeadershipLost { .. } => NodeError::Unavailable(e.to_string()),
            ConsensusError::Timeout { .. } => NodeError::Timeout(e.to_string()),
            ConsensusError::Stopped { .. } => NodeError::Unavailable(e.to_string()),
            other => NodeError::Rpc(other.to_string()),
        }
    }

    /// The node's status now.
    pub fn current_status(&self) -> NodeStatus {
        let ledger = self.peer.ledger();
        let (role, term, leader, healthy) = match self.orderer.get() {
            Some(o) => {
                let s = o.status();
                let leader = s
                    .leader_id
                    .and_then(|id| self.config.nodes.iter().find(|n| n.node_id == id))
                    .map(|n| n.name.clone());
                (format!("{:?}", s.role).to_lowercase(), s.term, leader, s.fatal.is_none())
            }
            None => ("starting".into(), 0, None, false),
        };
        let enclave = self.peer.enclave_info().ok();
        NodeStatus {
            name: self.me.name.clone(),
            org: self.me.org.clone(),
            role,
            term,
            leader,
            height: ledger.height(),
            last_hash: ledger.last_hash(),
            healthy,
            platform: format!(
                "{}, {}",
                enclave
                    .as_ref()
                    .map_or("unknown (the enclave does not answer)".to_string(), |e| e.platform.to_string()),
                match self.peer.enclave().address() {
                    Some(_) => "enclave in its own process",
                    None => "enclave in-process",
                }
            ),
            enclave,
            enclave_registered: self.peer.enclave_registered().unwrap_or(false),
        }
    }
}

#[tonic::async_trait]
impl NodeApi for NodeService {
    async fn evaluate(&self, proposal: SignedProposal, transient: Transient) -> Result<ChaincodeResponse, NodeError> {
        crate::private::waiting_for_keys(|| {
            let (proposal, transient) = (proposal.clone(), transient.clone());
            self.blocking(move |p| p.evaluate(&proposal, &transient))
        })
        .await
    }

    async fn endorse_here(
        &self,
        proposal: SignedProposal,
        transient: Transient,
        min_height: u64,
    ) -> Result<ProposalResponse, NodeError> {
        // Read-your-writes through the asking gateway: wait briefly for the blocks it has.
        let mut height = self.height.clone();
        let _ = tokio::time::timeout(MIN_HEIGHT_WAIT, height.wait_for(|h| *h >= min_height)).await;
        self.private.endorse(proposal, transient).await
    }

    async fn endorse(
        &self,
        proposal: SignedProposal,
        transient: Transient,
    ) -> Result<Vec<ProposalResponse>, NodeError> {
        let name = proposal.proposal.chaincode.clone();
        let def = self.peer.definition(&name)?.ok_or_else(|| NodeError::ChaincodeNotCommitted {
            name: name.clone(),
            channel: self.config.channel.channel.clone(),
        })?;
        let policy = EndorsementPolicy::parse(&def.endorsement_policy)
            .map_err(|e| NodeError::Invalid(format!("endorsement policy of '{name}': {e}")))?;
        // A collection's own endorsement policy may name organisations the chaincode's
        // does not; ask those too, so either policy can be met.
        let mut orgs = policy.orgs();
        for c in &def.collections {
            if let Some(ep) = c.endorsement_policy.as_deref().and_then(|p| EndorsementPolicy::parse(p).ok()) {
                orgs.extend(ep.orgs());
            }
        }
        let mut calls = Vec::new();
        for org in orgs {
            let (proposal, transient) = (proposal.clone(), transient.clone());
            if org == self.me.org {
                let private = self.private.clone();
                calls.push(tokio::spawn(async move { private.endorse(proposal, transient).await }));
            } else {
                let node =
                    self.config.nodes.iter().find(|n| n.org == org).ok_or_else(|| NodeError::NoPeerOf(org.clone()))?;
                let client = self.peer_client(&node.peer_address)?;
                let min_height = self.peer.ledger().height();
                calls.push(tokio::spawn(async move { client.endorse_here(&proposal, &transient, min_height).await }));
            }
        }
        // Enough endorsements to satisfy the policy suffice: an OR policy survives a node
        // that is down. Otherwise report the first failure.
        let mut out = Vec::with_capacity(calls.len());
        let mut first_error = None;
        for c in calls {
            match c.await.map_err(|e| NodeError::Unavailable(format!("endorsement task failed: {e}"))).and_then(|r| r) {
                Ok(r) => out.push(r),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        let signers: Vec<(String, Role)> = out.iter().map(|r| (r.endorsement.org.clone(), Role::Peer)).collect();
        match first_error {
            Some(e) if !policy.evaluate(&signers) => Err(e),
            _ => Ok(out),
        }
    }

    async fn submit(&self, tx: Transaction) -> Result<SubmitOutcome, NodeError> {
        let tx_id = tx.tx_id();
        // A replay is reported as DUPLICATE_TXID; a client that retried its own submission
        // asks for the commit status of the id to learn the first outcome.
        let submitted = self.orderer()?.submit(tx.clone()).await;
        match submitted {
            Ok(c) => Ok(SubmitOutcome { tx_id, block: c.block, code: c.code }),
            Err(ConsensusError::ForwardToLeader { leader_address: Some(addr), .. }) if addr != self.me.peer_address => {
                self.peer_client(&addr)?.forward(&tx).await
            }
            Err(e) => {
                // It may have committed before leadership moved.
                if let Some(done) = self.recorded(&tx_id)? {
                    return Ok(done);
                }
                Err(match Self::consensus_error(e) {
                    // Clients know gateway addresses; Raft knows peer addresses.
                    NodeError::NotLeader { leader: Some(peer) } => NodeError::NotLeader {
                        leader: self
                            .config
                            .nodes
                            .iter()
                            .find(|n| n.peer_address == peer)
                            .map(|n| n.gateway_address.clone()),
                    },
                    other => other,
                })
            }
        }
    }

    async fn commit_status(&self, tx_id: TxId, timeout: Duration) -> Result<Option<SubmitOutcome>, NodeError> {
        let deadline = tokio::time::Instant::now() + timeout.min(rpc::MAX_COMMIT_WAIT);
        let mut height = self.height.clone();
        loop {
            if let Some(done) = self.recorded(&tx_id)? {
                return Ok(Some(done));
            }
            if tokio::time::timeout_at(deadline, height.changed()).await.is_err() {
                return Ok(None);
            }
        }
    }

    async fn raft(&self, kind: u32, body: Vec<u8>) -> Result<Vec<u8>, NodeError> {
        match kind {
            MEMBERSHIP_JOIN => return self.join(&body).await,
            MEMBERSHIP_LEAVE => return self.leave(&body).await,
            _ => {}
        }
        let kind = RaftRpcKind::ALL
            .get(kind as usize)
            .copied()
            .ok_or_else(|| NodeError::Invalid(format!("unknown Raft message kind {kind}")))?;
        self.orderer()?.handle_rpc(kind, &body).await.map_err(Self::consensus_error)
    }

    async fn blocks(&self, from: u64, max: u32) -> Result<Vec<Block>, NodeError> {
        let ledger = self.peer.ledger();
        let end = ledger.height().min(from.saturating_add(u64::from(max.min(rpc::MAX_BLOCKS_PER_CALL))));
        (from..end)
            .map(|n| {
                ledger.block(n)?.ok_or_else(|| LedgerError::BrokenChain { number: n, reason: "missing".into() }.into())
            })
            .collect()
    }

    async fn status(&self) -> Result<NodeStatus, NodeError> {
        Ok(self.current_status())
    }

    async fn latest_key(&self, scope: KeyScope) -> Result<Option<crate::rpc::ChaincodeKey>, NodeError> {
        self.peer.latest_key(&scope)
    }

    fn events(&self, chaincode: String, start_block: u64) -> EventStream {
        use tokio_stream::StreamExt;
        let live = tokio_stream::wrappers::BroadcastStream::new(self.events.subscribe());
        let prefix = format!("{chaincode}/");
        let mut past = Vec::new();
        let ledger = self.peer.ledger();
        for n in start_block..ledger.height() {
            if let Ok(Some(b)) = ledger.block(n) {
                for (tx, code) in b.transactions.iter().zip(&b.validation) {
                    if let (true, TxBody::Invoke(inv)) = (code.is_valid(), &tx.payload.body) {
                        for e in &inv.response.events {
                            past.push(ChaincodeEventRecord {
                                block: n,
                                tx_id: tx.tx_id(),
                                name: format!("{}/{}", inv.chaincode, e.name),
                                payload: e.payload.clone(),
                            });
                        }
                    }
                }
            }
        }
        let first_live = ledger.height();
        let p2 = prefix.clone();
        let past = tokio_stream::iter(past.into_iter().filter(move |e| e.name.starts_with(&prefix)).map(Ok));
        let live = live.filter_map(move |r| match r {
            Ok(e) if e.block >= first_live && e.name.starts_with(&p2) => Some(Ok(e)),
            Ok(_) => None,
            Err(e) => Some(Err(NodeError::Unavailable(format!("event stream lagged: {e}")))),
        });
        Box::pin(past.chain(live))
    }

    async fn push_private(&self, from_org: String, data: TxPrivateData) -> Result<(), NodeError> {
        self.private.accept(from_org, data).await
    }

    async fn pull_private(
        &self,
        from_org: String,
        block: u64,
        tx: u32,
        namespace: String,
        collection: String,
    ) -> Result<Option<CollectionPrivateWrites>, NodeError> {
        self.private.serve_pull(from_org, block, tx, namespace, collection).await
    }
}

/// Longest an endorser waits to reach the asking gateway's height before it endorses
/// anyway (a lagging endorser then produces a result the client sees disagree).
pub const MIN_HEIGHT_WAIT: Duration = Duration::from_secs(2);

/// Raft-channel message kind: add a node (body: encoded `(node id, peer address)`).
pub const MEMBERSHIP_JOIN: u32 = 100;
/// Raft-channel message kind: remove a node (body: encoded node id).
pub const MEMBERSHIP_LEAVE: u32 = 101;

impl NodeService {
    /// Adds a node as a learner, waits until it has caught up, then makes it a voter.
    /// Only the leader does this; others answer `NotLeader`.
    async fn join(&self, body: &[u8]) -> Result<Vec<u8>, NodeError> {
        let (id, address): (NodeId, String) =
            decode(body, Limits::RECORD).map_err(|e| NodeError::Invalid(format!("join request: {e}")))?;
        let orderer = self.orderer()?;
        if orderer.status().voters.contains(&id) {
            return Ok(Vec::new());
        }
        orderer.add_learner(id, address.clone()).await.map_err(Self::consensus_error)?;
        let mut voters = orderer.status().voters;
        voters.insert(id);
        orderer.change_membership(voters).await.map_err(Self::consensus_error)?;
        tracing::info!(node_id = id, %address, "node joined as a voter");
        Ok(Vec::new())
    }

    /// Removes a node from the voters.
    async fn leave(&self, body: &[u8]) -> Result<Vec<u8>, NodeError> {
        let id: NodeId = decode(body, Limits::RECORD).map_err(|e| NodeError::Invalid(format!("leave request: {e}")))?;
        let orderer = self.orderer()?;
        let mut voters = orderer.status().voters;
        if !voters.remove(&id) {
            return Ok(Vec::new());
        }
        if voters.is_empty() {
            return Err(NodeError::Invalid("refusing to remove the last voter".into()));
        }
        orderer.change_membership(voters).await.map_err(Self::consensus_error)?;
        tracing::info!(node_id = id, "node removed from the voters");
        Ok(Vec::new())
    }
}

/// Everything `teechain node start` needs, from a node file.
pub struct NodeSetup {
    /// The network directory.
    pub dir: PathBuf,
    /// The network config.
    pub config: NetworkConfig,
    /// This node.
    pub me: NodeEntry,
    /// Blocks after which uncommitted private data is dropped.
    pub transient_retention_blocks: u64,
    /// Where and on what the enclave runs.
    pub enclave: EnclaveSettings,
}

impl NodeSetup {
    /// Reads `node.json` and the network config it points to.
    pub fn load(node_file: &Path) -> Result<NodeSetup, NodeError> {
        let text = std::fs::read_to_string(node_file).map_err(NodeError::io(node_file))?;
        let nf: NodeFile = serde_json::from_str(&text)
            .map_err(|e| NodeError::Config { path: node_file.to_path_buf(), message: e.to_string() })?;
        let base = node_file.parent().unwrap_or(Path::new("."));
        let dir = base.join(&nf.network_dir);
        let config = NetworkConfig::load(&dir)?;
        let me = config.node(&nf.name).cloned().ok_or_else(|| NodeError::Config {
            path: node_file.to_path_buf(),
            message: format!("node '{}' is not in the network config", nf.name),
        })?;
        let backend = match nf.enclave {
            EnclaveMode::InProcess => EnclaveBackend::InProcess,
            EnclaveMode::Process => EnclaveBackend::Process(teechain_enclave::EnclaveCommand {
                exe: match nf.enclave_exe {
                    // A launcher finds the executable itself (Gramine by manifest name).
                    Some(exe) if !nf.enclave_launcher.is_empty() => exe,
                    Some(exe) => base.join(exe),
                    None => default_enclave_exe()?,
                },
                transport: nf.enclave_transport,
                launcher: nf.enclave_launcher,
            }),
        };
        let enclave = EnclaveSettings {
            backend,
            platform: nf.platform,
            virtual_platform_key: nf.virtual_platform_key.map(|p| base.join(p)),
        };
        Ok(NodeSetup { dir, config, me, transient_retention_blocks: nf.transient_retention_blocks, enclave })
    }
}

/// Makes and grants keys in the background (see [`Peer::key_work`]): every half second
/// asks the enclave for the next distribution and submits it, signed by the node. A
/// node that is not the designated maker of a key steps in when the key is still missing
/// some seconds later.
async fn keep_keys(
    service: Arc<NodeService>,
    identity: teechain_crypto::SigningIdentity,
    mut stop: watch::Receiver<bool>,
) {
    let channel = service.config.channel.channel.clone();
    let mut last_failure: Option<String> = None;
    let mut distributed = false;
    for tick in 1u64.. {
        // Right after a distribution, look for more work at once (a chaincode's keys
        // come one after another); otherwise every half second.
        let pause = if distributed { Duration::ZERO } else { Duration::from_millis(500) };
        tokio::select! {
            _ = stop.changed() => return,
            _ = tokio::time::sleep(pause) => {}
        }
        distributed = false;
        let peer = service.peer.clone();
        // Every 10 s, also do work another enclave was designated for (it may be down).
        let eager = tick % 20 == 0;
        let work = tokio::task::spawn_blocking(move || peer.key_work(eager)).await;
        let result = match work {
            Ok(Ok(Some(d))) => {
                let what = format!("{} epoch {}", d.scope, d.epoch);
                let tx = crate::registry::key_distribution_tx(&identity, &channel, d);
                match service.submit(tx).await {
                    Ok(o) if o.code.is_valid() => {
                        tracing::info!(block = o.block, "distributed the {what}");
                        // Look for more work only once this node has applied the block,
                        // or it would make the same key again.
                        let mut height = service.height.clone();
                        let applied = height.wait_for(|h| *h > o.block);
                        distributed = tokio::time::timeout(Duration::from_secs(2), applied).await.is_ok();
                        Ok(())
                    }
                    Ok(o) => Err(format!("distributing the {what}: {}", o.code)),
                    Err(e) => Err(format!("distributing the {what}: {e}")),
                }
            }
            Ok(Ok(None)) => Ok(()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        // Log a failure once, not every half second.
        match result {
            Err(e) if last_failure.as_deref() != Some(e.as_str()) => {
                tracing::warn!("key distribution: {e}");
                last_failure = Some(e);
            }
            Err(_) => {}
            Ok(()) => last_failure = None,
        }
    }
}

/// Vouches for the time: whenever this organisation's latest beacon on the ledger is
/// older than the channel's beacon interval by this node's clock, submits one (see
/// [`teechain_types::tx::ledger_time`]).
async fn keep_time(
    service: Arc<NodeService>,
    identity: teechain_crypto::SigningIdentity,
    mut stop: watch::Receiver<bool>,
) {
    let interval = service.config.channel.time_beacon_interval_ms;
    if interval == 0 {
        return;
    }
    let channel = service.config.channel.channel.clone();
    let org = service.peer.org().to_string();
    let mut last_failure: Option<String> = None;
    loop {
        let latest = service.peer.ledger().snapshot().ok().and_then(|s| latest_beacon(&s, &org).ok().flatten());
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0);
        if latest.is_none_or(|t| now >= t.saturating_add(interval)) {
            let tx = crate::registry::time_beacon_tx(&identity, &channel, now);
            let result = match service.submit(tx).await {
                // Another node of the organisation may have vouched for a later time
                // first: not worth a word.
                Ok(o) if o.code.is_valid() || o.code == ValidationCode::InvalidTimeBeacon => Ok(()),
                Ok(o) => Err(o.code.to_string()),
                Err(e) => Err(e.to_string()),
            };
            match result {
                Err(e) if last_failure.as_deref() != Some(e.as_str()) => {
                    tracing::warn!("time beacon: {e}");
                    last_failure = Some(e);
                }
                Err(_) => {}
                Ok(()) => last_failure = None,
            }
        }
        let pause = Duration::from_millis((interval / 4).max(100));
        tokio::select! {
            _ = stop.changed() => return,
            _ = tokio::time::sleep(pause) => {}
        }
    }
}

/// Runs one node until `shutdown` resolves: opens its ledger and enclave, starts Raft,
/// serves gRPC, and on a brand-new network lets node 1 form the cluster from every node
/// of the config.
pub async fn run(
    setup: NodeSetup,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), NodeError> {
    rpc::tls::install_crypto_provider();
    let NodeSetup { dir, config, me, transient_retention_blocks, enclave } = setup;
    rpc::wiretap::start(&me.name);
    let orgs = config.msp_orgs()?;
    let msp = Arc::new(Msp::new(&orgs)?);
    let data_dir = dir.join(&me.data_dir);
    let attestation = config.channel.attestation.policy().map_err(|message| NodeError::Config {
        path: dir.join(config::NETWORK_FILE),
        message: format!("channel attestation policy: {message}"),
    })?;
    let peer = Arc::new(
        Peer::open(PeerSetup {
            name: &me.name,
            org: &me.org,
            data_dir: &data_dir,
            channel: &config.channel.channel,
            orgs: &orgs,
            msp,
            attestation,
            proposal_window_ms: config.channel.proposal_time_window_ms,
            enclave: &enclave,
        })?
        .with_transient_retention(transient_retention_blocks),
    );
    let (height_tx, height_rx) = watch::channel(peer.ledger().height());
    let (events, _) = broadcast::channel(4096);
    let applier = Arc::new(LedgerApplier { peer: peer.clone(), height: height_tx, events: events.clone() });
    let tls = ClientTls::for_node(&dir, &config, &me)?;
    let clients = Arc::new(PeerClients::new(tls));
    let transport = Arc::new(GrpcRaftTransport { clients: clients.clone() });
    let private = Arc::new(PrivateDataService::new(
        peer.clone(),
        me.clone(),
        config.active_nodes().cloned().collect(),
        clients.clone(),
    ));
    let (stop_reconciler, reconciler_stop) = watch::channel(false);
    let reconciler = tokio::spawn(private.clone().reconcile(reconciler_stop));
    let service = Arc::new(NodeService {
        config: config.clone(),
        me: me.clone(),
        peer,
        orderer: OnceLock::new(),
        clients,
        private,
        height: height_rx,
        events,
    });
    let server_tls = ServerTls::for_node(&dir, &config, &me)?;
    let gateway_addr = resolve(&me.gateway_address)?;
    let peer_addr = resolve(&me.peer_address)?;
    let server = rpc::spawn(service.clone(), gateway_addr, peer_addr, server_tls).await?;
    tracing::info!(node = %me.name, gateway = %server.gateway_addr(), peer = %server.peer_addr(), "listening; enclave platform virtual (INSECURE)");

    let raft_dir = data_dir.join("raft");
    std::fs::create_dir_all(&raft_dir).map_err(NodeError::io(&raft_dir))?;
    let orderer = Orderer::start(OrdererConfig::new(me.node_id, me.peer_address.clone(), raft_dir), applier, transport)
        .await
        .map_err(|e| NodeError::Rpc(format!("starting Raft: {e}")))?;
    let _ = service.orderer.set(orderer.clone());
    if me.node_id == 1 {
        let voters: BTreeMap<NodeId, String> =
            config.nodes.iter().map(|n| (n.node_id, n.peer_address.clone())).collect();
        match orderer.initialize(voters).await {
            Ok(()) => tracing::info!("formed a new Raft cluster of {} nodes", config.nodes.len()),
            Err(ConsensusError::AlreadyInitialized { .. }) => {}
            Err(e) => return Err(NodeError::Rpc(format!("forming the Raft cluster: {e}"))),
        }
    }
    let node_identity = config::load_identity(&config::peer_identity_dir(&dir, &me.org, &me.identity), &me.org)?;
    let key_keeper = tokio::spawn(keep_keys(service.clone(), node_identity.clone(), stop_reconciler.subscribe()));
    let time_keeper = tokio::spawn(keep_time(service.clone(), node_identity, stop_reconciler.subscribe()));
    shutdown.await;
    tracing::info!(node = %me.name, "shutting down");
    let started = Instant::now();
    let _ = stop_reconciler.send(true);
    let _ = reconciler.await;
    let _ = key_keeper.await;
    let _ = time_keeper.await;
    let _ = orderer.shutdown().await;
    server.shutdown().await?;
    tracing::info!(node = %me.name, took_ms = started.elapsed().as_millis() as u64, "stopped");
    Ok(())
}

/// `teechain-enclave` next to the running executable.
fn default_enclave_exe() -> Result<PathBuf, NodeError> {
    let me = std::env::current_exe().map_err(|e| NodeError::Invalid(format!("locating this executable: {e}")))?;
    Ok(me.with_file_name("teechain-enclave"))
}

fn resolve(address: &str) -> Result<std::net::SocketAddr, NodeError> {
    use std::net::ToSocketAddrs;
    address
        .to_socket_addrs()
        .map_err(|e| NodeError::Invalid(format!("address {address}: {e}")))?
        .next()
        .ok_or_else(|| NodeError::Invalid(format!("address {address} resolves to nothing")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use teechain_enclave::{EnclaveCommand, Transport};

    /// node.json for an SGX enclave: run by a launcher, on loopback TCP.
    #[test]
    fn node_json_names_the_enclave_transport_and_launcher() {
        let dir = tempfile::tempdir().expect("tempdir");
        let orgs = ["org1".to_string(), "org2".to_string()];
        crate::config::init_network(dir.path(), "ch", &orgs).expect("init");
        let node_file = dir.path().join("nodes/peer0.org1/node.json");
        let mut json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&node_file).expect("read")).expect("json");
        json["enclave"] = "process".into();
        json["enclave_transport"] = "tcp".into();
        json["enclave_launcher"] = serde_json::json!(["gramine-sgx"]);
        json["enclave_exe"] = "teechain-enclave".into();
        std::fs::write(&node_file, json.to_string()).expect("write");
        let setup = NodeSetup::load(&node_file).expect("load");
        let expected = EnclaveCommand {
            exe: "teechain-enclave".into(),
            transport: Transport::Tcp,
            launcher: vec!["gramine-sgx".into()],
        };
        assert_eq!(setup.enclave.backend, EnclaveBackend::Process(expected));
        // The default: a Unix socket, no launcher.
        json["enclave_transport"] = "unix".into();
        json.as_object_mut().expect("object").remove("enclave_launcher");
        json["enclave_exe"] = "bin/teechain-enclave".into();
        std::fs::write(&node_file, json.to_string()).expect("write");
        let EnclaveBackend::Process(command) = NodeSetup::load(&node_file).expect("load").enclave.backend else {
            panic!("a process backend")
        };
        assert_eq!((command.transport, command.launcher.len()), (Transport::Unix, 0));
        assert!(command.exe.ends_with("nodes/peer0.org1/bin/teechain-enclave"), "{}", command.exe.display());
        json["enclave_transport"] = "carrier-pigeon".into();
        std::fs::write(&node_file, json.to_string()).expect("write");
        assert!(NodeSetup::load(&node_file).is_err());
    }
}
