//! Private data on a running node: endorsement with dissemination to member nodes,
//! acceptance of what other endorsers send, answers to reconciliation pulls, and the
//! reconciler that pulls what this node missed.

use crate::config::NodeEntry;
use crate::error::NodeError;
use crate::peer::Peer;
use crate::rpc::{ClientTls, PeerClient, Transient};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use teechain_ledger::MissingPrivate;
use teechain_types::collection::{CollectionPrivateWrites, TxPrivateData};
use teechain_types::tx::{ProposalResponse, SignedProposal};
use tokio::sync::watch;

/// Peer-service clients, one reused connection per address.
pub struct PeerClients {
    tls: ClientTls,
    clients: Mutex<HashMap<String, PeerClient>>,
}

impl PeerClients {
    /// Clients authenticating with `tls`.
    pub fn new(tls: ClientTls) -> PeerClients {
        PeerClients { tls, clients: Mutex::new(HashMap::new()) }
    }

    /// The client of the node at `address`.
    pub fn get(&self, address: &str) -> Result<PeerClient, NodeError> {
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = clients.get(address) {
            return Ok(c.clone());
        }
        let c = PeerClient::new(address, &self.tls)?;
        clients.insert(address.to_string(), c.clone());
        Ok(c)
    }
}

/// How long an endorsement or a query waits for keys that the key keepers are still
/// distributing (right after a chaincode is committed, or an enclave registered).
const KEY_WAIT: Duration = Duration::from_secs(15);

/// Runs `call` until it succeeds, fails for another reason than a missing key, or
/// [`KEY_WAIT`] has passed.
pub(crate) async fn waiting_for_keys<T, F, Fut>(call: F) -> Result<T, NodeError>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<T, NodeError>>,
{
    let deadline = Instant::now() + KEY_WAIT;
    loop {
        match call().await {
            Err(e) if e.is_key_unavailable() && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            r => return r,
        }
    }
}

/// First wait before pulling missing private data again; doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
/// Longest wait between two pulls of the same missing data.
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// How often the reconciler looks for missing data.
const RECONCILE_TICK: Duration = Duration::from_millis(200);

/// A node's private-data duties.
pub struct PrivateDataService {
    peer: Arc<Peer>,
    me: NodeEntry,
    nodes: Vec<NodeEntry>,
    clients: Arc<PeerClients>,
}

impl PrivateDataService {
    /// The duties of node `me` among `nodes` (the network's active nodes).
    pub fn new(peer: Arc<Peer>, me: NodeEntry, nodes: Vec<NodeEntry>, clients: Arc<PeerClients>) -> Self {
        PrivateDataService { peer, me, nodes, clients }
    }

    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Peer) -> Result<T, NodeError> + Send + 'static,
    ) -> Result<T, NodeError> {
        let peer = self.peer.clone();
        tokio::task::spawn_blocking(move || f(&peer))
            .await
            .map_err(|e| NodeError::Unavailable(format!("worker failed: {e}")))?
    }

    /// Endorses with this node's enclave and, when the proposal wrote private data,
    /// hands it to member nodes before returning the endorsement.
    pub async fn endorse(&self, proposal: SignedProposal, transient: Transient) -> Result<ProposalResponse, NodeError> {
        let endorsed = waiting_for_keys(|| {
            let (proposal, transient) = (proposal.clone(), transient.clone());
            self.blocking(move |p| p.endorse(&proposal, &transient))
        })
        .await?;
        if let Some(data) = &endorsed.private {
            self.disseminate(data).await?;
        }
        Ok(endorsed.response)
    }

    /// Member nodes of a collection other than this one, at most `max`.
    fn member_nodes(&self, members: &std::collections::BTreeSet<String>, max: usize) -> Vec<NodeEntry> {
        self.nodes.iter().filter(|n| n.name != self.me.name && members.contains(&n.org)).take(max).cloned().collect()
    }

    /// Sends each collection's writes to at most `maxPeerCount` member nodes and fails
    /// unless at least `requiredPeerCount` of them acknowledged.
    async fn disseminate(&self, data: &TxPrivateData) -> Result<(), NodeError> {
        // Per target node, the collections it is to receive.
        let mut per_node: BTreeMap<String, (NodeEntry, Vec<CollectionPrivateWrites>)> = BTreeMap::new();
        let mut plans = Vec::new();
        for c in &data.collections {
            let (ns, coll) = (c.namespace.clone(), c.collection.clone());
            let config = self.blocking(move |p| p.collection(&ns, &coll)).await?.ok_or_else(|| {
                NodeError::Invalid(format!("chaincode '{}' has no collection '{}'", c.namespace, c.collection))
            })?;
            let targets = self.member_nodes(&config.members(), config.max_peer_count as usize);
            for t in &targets {
                per_node.entry(t.name.clone()).or_insert_with(|| (t.clone(), Vec::new())).1.push(c.clone());
            }
            plans.push((c, config.required_peer_count as usize, targets));
        }
        let mut calls = Vec::new();
        for (name, (node, collections)) in per_node {
            let client = self.clients.get(&node.peer_address)?;
            let part = TxPrivateData { tx_id: data.tx_id, collections };
            calls.push((name, tokio::spawn(async move { client.push_private(&part).await })));
        }
        let mut results: HashMap<String, Result<(), String>> = HashMap::new();
        for (name, call) in calls {
            let r = match call.await {
                Ok(r) => r.map_err(|e| e.to_string()),
                Err(e) => Err(format!("task failed: {e}")),
            };
            results.insert(name, r);
        }
        for (c, required, targets) in plans {
            let acked = targets.iter().filter(|t| matches!(results.get(&t.name), Some(Ok(())))).count();
            if acked < required {
                let failures: Vec<String> = targets
                    .iter()
                    .filter_map(|t| match results.get(&t.name) {
                        Some(Err(e)) => Some(format!("{}: {e}", t.name)),
                        _ => None,
                    })
                    .collect();
                return Err(NodeError::Dissemination(format!(
                    "collection '{}' of chaincode '{}' needs {required} member node(s) besides the endorser to \
                     acknowledge its private data; {acked} of {} did{}",
                    c.collection,
                    c.namespace,
                    targets.len(),
                    if failures.is_empty() { String::new() } else { format!(" ({})", failures.join("; ")) }
                )));
            }
        }
        Ok(())
    }

    /// Keeps private data an endorser sent.
    pub async fn accept(&self, from_org: String, data: TxPrivateData) -> Result<(), NodeError> {
        tracing::debug!(from = %from_org, tx_id = %data.tx_id.short(), "private data received");
        self.blocking(move |p| p.accept_private(data)).await
    }

    /// Answers a member node's pull of committed private writes.
    pub async fn serve_pull(
        &self,
        from_org: String,
        block: u64,
        tx: u32,
        namespace: String,
        collection: String,
    ) -> Result<Option<CollectionPrivateWrites>, NodeError> {
        self.blocking(move |p| {
            let config = p.collection(&namespace, &collection)?.ok_or_else(|| {
                NodeError::Invalid(format!("chaincode '{namespace}' has no collection '{collection}'"))
            })?;
            if !config.is_member(&from_org) {
                return Err(NodeError::PermissionDenied(format!(
                    "{from_org} is not a member of collection '{collection}' of chaincode '{namespace}'"
                )));
            }
            if !config.is_member(p.org()) {
                return Ok(None);
            }
            Ok(p.ledger().private_writes_at(block, tx, &namespace, &collection)?)
        })
        .await
    }

    /// Pulls missing private data from member nodes until `stop` turns true: every
    /// missing entry is retried with exponential backoff until it arrives or expires.
    pub async fn reconcile(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let mut backoff: HashMap<(u64, u32, String, String), (Instant, Duration)> = HashMap::new();
        loop {
            if tokio::time::timeout(RECONCILE_TICK, stop.wait_for(|s| *s)).await.is_ok() {
                return;
            }
            let missing = match self.blocking(|p| Ok(p.ledger().missing_private(256)?)).await {
                Ok(m) => m,
                Err(e) => {
                    tracing::warn!(error = %e, "reading missing private data failed");
                    continue;
                }
            };
            let now = Instant::now();
            for m in missing {
                let key = (m.block, m.tx, m.namespace.clone(), m.collection.clone());
                if backoff.get(&key).is_some_and(|(next, _)| *next > now) {
                    continue;
                }
                match self.reconcile_one(&m).await {
                    Ok(true) => {
                        backoff.remove(&key);
                    }
                    outcome => {
                        let delay = backoff.get(&key).map(|(_, d)| (*d * 2).min(MAX_BACKOFF)).unwrap_or(FIRST_BACKOFF);
                        if let Err(e) = outcome {
                            tracing::debug!(block = m.block, tx = m.tx, error = %e, "reconciliation attempt failed");
                        }
                        backoff.insert(key, (Instant::now() + delay, delay));
                    }
                }
            }
        }
    }

    /// One attempt at one missing entry; true when it is settled (stored, or no longer
    /// needed because it expired or the collection is gone).
    async fn reconcile_one(&self, m: &MissingPrivate) -> Result<bool, NodeError> {
        let (ns, coll) = (m.namespace.clone(), m.collection.clone());
        let config = self.blocking(move |p| p.collection(&ns, &coll)).await?;
        let settle = |m: MissingPrivate| self.blocking(move |p| Ok(p.ledger().drop_missing(&m)?));
        let Some(config) = config else {
            settle(m.clone()).await?;
            return Ok(true);
        };
        let btl = config.block_to_live;
        let height = self.peer.ledger().height();
        if btl > 0 && m.block.saturating_add(btl) < height {
            settle(m.clone()).await?;
            return Ok(true);
        }
        for node in self.member_nodes(&config.members(), usize::MAX) {
            let client = self.clients.get(&node.peer_address)?;
            match client.pull_private(m.block, m.tx, &m.namespace, &m.collection).await {
                Ok(Some(writes)) => {
                    let missing = m.clone();
                    match self.blocking(move |p| Ok(p.ledger().store_reconciled(&missing, &writes, btl)?)).await {
                        Ok(()) => {
                            tracing::info!(
                                block = m.block,
                                tx = m.tx,
                                collection = %m.collection,
                                from = %node.name,
                                "reconciled missing private data"
                            );
                            return Ok(true);
                        }
                        Err(e) => tracing::warn!(from = %node.name, error = %e, "pulled private data refused"),
                    }
                }
                Ok(None) => {}
                Err(e) => tracing::debug!(from = %node.name, error = %e, "pull of private data failed"),
            }
        }
        Ok(false)
    }
}
