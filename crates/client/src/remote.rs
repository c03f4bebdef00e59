//! A [`Gateway`] over the gRPC gateway services of running nodes.
//!
//! [`RemoteGateway`] is the blocking face of [`GatewayClient`] for the CLI and tests: it
//! owns a small tokio runtime and blocks on each call, so call it from plain threads, never
//! from inside an async runtime.
//!
//! Requests go to the node that answered last, first the first address (put the caller's
//! own organisation's nodes first). A node that is unreachable, times out, or is not the
//! leader and cannot forward is skipped for the next (or for the leader it names, when
//! that is one of ours), with backoff after each full round, for at most
//! [`RETRY_BUDGET`]. A submission that was retried may have committed on an earlier
//! attempt: if the retry meets `DUPLICATE_TXID`, the first outcome is looked up by the
//! transaction id.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use teechain_node::rpc::{ChaincodeEventRecord, ClientTls, EventStream, GatewayClient, NodeStatus};
use teechain_node::{Gateway, NodeError, SubmitOutcome};
use teechain_types::chaincode::ChaincodeResponse;
use teechain_types::keys::KeyScope;
use teechain_types::tx::{ProposalResponse, SignedProposal};
use teechain_types::{Transaction, TxId, ValidationCode};
use tokio_stream::StreamExt;

/// Longest a request keeps retrying across nodes.
pub const RETRY_BUDGET: Duration = Duration::from_secs(20);

/// Most submissions of one [`Gateway::submit_all`] in flight at once.
pub const MAX_IN_FLIGHT: usize = 512;

/// First pause after a full round of failed nodes; doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(50);
/// Longest pause between rounds.
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// A network reached through its nodes' gateways.
pub struct RemoteGateway {
    rt: tokio::runtime::Runtime,
    inner: Arc<Inner>,
}

impl std::fmt::Debug for RemoteGateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let addrs: Vec<&str> = self.inner.clients.iter().map(GatewayClient::addr).collect();
        f.debug_struct("RemoteGateway").field("addresses", &addrs).finish_non_exhaustive()
    }
}

struct Inner {
    clients: Vec<GatewayClient>,
    // Index of the node that answered last: tried first next time.
    current: AtomicUsize,
    budget: Duration,
}

/// Errors worth trying on another node: it could not be reached, ran out of time, or is
/// not the leader. Everything else (a refused proposal, a TLS refusal) fails at once.
fn retryable(e: &NodeError) -> bool {
    matches!(e, NodeError::Unavailable(_) | NodeError::Timeout(_) | NodeError::NotLeader { .. })
}

impl Inner {
    /// Runs `call` on the current node, moving on to the next on retryable errors.
    /// Returns the result and whether any attempt before it failed.
    async fn with_retry<T, F, Fut>(&self, call: F) -> Result<(T, bool), NodeError>
    where
        F: Fn(GatewayClient) -> Fut,
        Fut: Future<Output = Result<T, NodeError>>,
    {
        let n = self.clients.len();
        let started = Instant::now();
        let mut backoff = FIRST_BACKOFF;
        let mut attempts = 0usize;
        loop {
            let i = self.current.load(Ordering::Relaxed) % n;
            attempts += 1;
            let error = match call(self.clients[i].clone()).await {
                Ok(v) => return Ok((v, attempts > 1)),
                Err(e) => e,
            };
            let left = self.budget.saturating_sub(started.elapsed());
            if !retryable(&error) || left.is_zero() {
                return Err(error);
            }
            let leader = match &error {
                NodeError::NotLeader { leader: Some(addr) } => self.clients.iter().position(|c| c.addr() == addr),
                _ => None,
            };
            let next = leader.unwrap_or(i + 1) % n;
            // Another request may have moved on already; only move from where we failed.
            let _ = self.current.compare_exchange(i, next, Ordering::Relaxed, Ordering::Relaxed);
            // After a full round of failures, wait before the next.
            if leader.is_none() && attempts.is_multiple_of(n) {
                tokio::time::sleep(backoff.min(left)).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }

    async fn submit(&self, tx: Transaction) -> Result<SubmitOutcome, NodeError> {
        let tx = &tx;
        let (outcome, retried) = self.with_retry(|c| async move { c.submit(tx).await }).await?;
        if retried && outcome.code == ValidationCode::DuplicateTxId {
            // Our own earlier attempt committed; report that outcome.
            if let Some(first) = self.commit_status(outcome.tx_id, Duration::from_secs(5)).await? {
                return Ok(first);
            }
        }
        Ok(outcome)
    }

    async fn commit_status(&self, tx_id: TxId, wait: Duration) -> Result<Option<SubmitOutcome>, NodeError> {
        Ok(self.with_retry(|c| async move { c.commit_status(tx_id, wait).await }).await?.0)
    }
}

impl RemoteGateway {
    /// A gateway over `addresses` (`host:port` of gateway services), authenticating with
    /// `tls` (the user's certificate and the channel's CAs). Connects on first use.
    pub fn connect(addresses: Vec<String>, tls: ClientTls) -> Result<RemoteGateway, NodeError> {
        RemoteGateway::with_budget(addresses, tls, RETRY_BUDGET)
    }

    /// As [`RemoteGateway::connect`], from PEM: the user's certificate and PKCS#8 key, and
    /// the trust roots as (organisation, CA certificate) pairs (every channel
    /// organisation's, see `teechain_node::rpc::tls::network_roots`).
    pub fn from_pem(
        addresses: Vec<String>,
        cert_pem: &str,
        key_pem: &str,
        roots: &[(String, String)],
    ) -> Result<RemoteGateway, NodeError> {
        RemoteGateway::connect(addresses, ClientTls::new(cert_pem, key_pem, roots)?)
    }

    /// As [`RemoteGateway::connect`], retrying for at most `budget` per request.
    pub fn with_budget(addresses: Vec<String>, tls: ClientTls, budget: Duration) -> Result<RemoteGateway, NodeError> {
        if addresses.is_empty() {
            return Err(NodeError::Invalid("no gateway address given".into()));
        }
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("teechain-gateway")
            .enable_all()
            .build()
            .map_err(|e| NodeError::Invalid(format!("starting the async runtime: {e}")))?;
        let clients = {
            // Channels start their connection tasks on the runtime they are made in.
            let _guard = rt.enter();
            addresses.iter().map(|a| GatewayClient::new(a, &tls)).collect::<Result<Vec<_>, _>>()?
        };
        Ok(RemoteGateway { rt, inner: Arc::new(Inner { clients, current: AtomicUsize::new(0), budget }) })
    }

    /// The gateway addresses, in the order given.
    pub fn addresses(&self) -> Vec<String> {
        self.inner.clients.iter().map(|c| c.addr().to_string()).collect()
    }

    /// Where a transaction was committed, waiting up to `wait` for it; `None` if it was
    /// not committed by then.
    pub fn commit_status(&self, tx_id: TxId, wait: Duration) -> Result<Option<SubmitOutcome>, NodeError> {
        self.rt.block_on(self.inner.commit_status(tx_id, wait))
    }

    /// The status of the node requests currently go to.
    pub fn status(&self) -> Result<NodeStatus, NodeError> {
        Ok(self.rt.block_on(self.inner.with_retry(|c| async move { c.status().await }))?.0)
    }

    /// Events of `chaincode` from block `start_block` on, as a blocking iterator that
    /// waits for new blocks. The stream comes from one node; if it ends with an error,
    /// open a new one from the block after the last event seen.
    pub fn events(&self, chaincode: &str, start_block: u64) -> Result<Events<'_>, NodeError> {
        let (stream, _) = self
            .rt
            .block_on(self.inner.with_retry(|c| async move { c.chaincode_events(chaincode, start_block).await }))?;
        Ok(Events { rt: &self.rt, stream })
    }
}

impl Gateway for RemoteGateway {
    fn evaluate(
        &self,
        proposal: &SignedProposal,
        transient: &[(String, Vec<u8>)],
    ) -> Result<ChaincodeResponse, NodeError> {
        Ok(self.rt.block_on(self.inner.with_retry(|c| async move { c.evaluate(proposal, transient).await }))?.0)
    }

    fn endorse(
        &self,
        proposal: &SignedProposal,
        transient: &[(String, Vec<u8>)],
    ) -> Result<Vec<ProposalResponse>, NodeError> {
        Ok(self.rt.block_on(self.inner.with_retry(|c| async move { c.endorse(proposal, transient).await }))?.0)
    }

    fn submit(&self, tx: Transaction) -> Result<SubmitOutcome, NodeError> {
        self.rt.block_on(self.inner.submit(tx))
    }

    /// Submits all at once (at most [`MAX_IN_FLIGHT`] in flight), so they share blocks,
    /// and waits for every commit. Returns the outcomes in the order given, or the first
    /// error in that order.
    fn latest_key(&self, scope: &KeyScope) -> Result<Option<teechain_node::rpc::ChaincodeKey>, NodeError> {
        Ok(self.rt.block_on(self.inner.with_retry(|c| async move { c.latest_key(scope).await }))?.0)
    }

    fn submit_all(&self, txs: Vec<Transaction>) -> Result<Vec<SubmitOutcome>, NodeError> {
        let limit = Arc::new(tokio::sync::Semaphore::new(MAX_IN_FLIGHT));
        let tasks: Vec<_> = txs
            .into_iter()
            .map(|tx| {
                let inner = self.inner.clone();
                let limit = limit.clone();
                self.rt.spawn(async move {
                    // Never closed, so acquiring cannot fail; without a permit, go anyway.
                    let _permit = limit.acquire_owned().await.ok();
                    inner.submit(tx).await
                })
            })
            .collect();
        self.rt.block_on(async {
            let mut out = Vec::with_capacity(tasks.len());
            for task in tasks {
                let result = task.await.map_err(|e| NodeError::Rpc(format!("submission task failed: {e}")))?;
                out.push(result?);
            }
            Ok(out)
        })
    }
}

/// Chaincode events as a blocking iterator (see [`RemoteGateway::events`]).
pub struct Events<'a> {
    rt: &'a tokio::runtime::Runtime,
    stream: EventStream,
}

impl std::fmt::Debug for Events<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Events").finish_non_exhaustive()
    }
}

impl Events<'_> {
    /// The next event, waiting at most `wait`: `Ok(None)` when none came in time,
    /// `Err` when the stream failed or ended.
    pub fn next_within(&mut self, wait: Duration) -> Result<Option<ChaincodeEventRecord>, NodeError> {
        // The timer must be made inside the runtime.
        let stream = &mut self.stream;
        match self.rt.block_on(async move { tokio::time::timeout(wait, stream.next()).await }) {
            Err(_) => Ok(None),
            Ok(Some(event)) => event.map(Some),
            Ok(None) => Err(NodeError::Unavailable("the event stream ended".into())),
        }
    }
}

impl Iterator for Events<'_> {
    type Item = Result<ChaincodeEventRecord, NodeError>;

    /// The next event, waiting as long as it takes; `None` when the node ended the stream.
    fn next(&mut self) -> Option<Self::Item> {
        self.rt.block_on(self.stream.next())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;
    use std::path::Path;
    use teechain_node::config;
    use teechain_node::rpc::testing::{transaction, FakeNode};
    use teechain_node::rpc::{spawn, ServerHandle, ServerTls};
    use teechain_types::Hash32;

    struct Setup {
        _tmp: tempfile::TempDir,
        servers: Vec<ServerHandle>,
        nodes: Vec<Arc<FakeNode>>,
        tls: ClientTls,
        // Runs the fake nodes' servers.
        rt: tokio::runtime::Runtime,
    }

    /// Two fake nodes of a two-organisation network, served over mutual TLS.
    fn setup() -> Setup {
        let tmp = tempfile::tempdir().unwrap();
        let dir: &Path = tmp.path();
        let net = config::init_network(dir, "teechain", &["org1".to_string(), "org2".to_string()]).unwrap();
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let mut servers = Vec::new();
        let mut nodes = Vec::new();
        for (i, entry) in net.nodes.iter().enumerate() {
            let event =
                ChaincodeEventRecord { block: 1, tx_id: Hash32([1; 32]), name: "paid".into(), payload: vec![7] };
            let node =
                Arc::new(FakeNode::new(&format!("fake{i}"), &entry.org).with_events(vec![("payment".into(), event)]));
            let tls = ServerTls::for_node(dir, &net, entry).unwrap();
            servers.push(rt.block_on(spawn(node.clone(), any, any, tls)).unwrap());
            nodes.push(node);
        }
        let tls = ClientTls::for_user(dir, &net, "org1", "client").unwrap();
        Setup { _tmp: tmp, servers, nodes, tls, rt }
    }

    impl Setup {
        fn gateway(&self, budget: Duration) -> RemoteGateway {
            let addrs = self.servers.iter().map(|s| s.gateway_addr().to_string()).collect();
            RemoteGateway::with_budget(addrs, self.tls.clone(), budget).unwrap()
        }
    }

    /// Steps: first node answers not-leader naming the second; the submit lands on the
    /// second, and later requests go there first.
    #[test]
    fn not_leader_moves_to_the_named_leader() {
        let s = setup();
        let leader = s.servers[1].gateway_addr().to_string();
        s.nodes[0].fail_with(move || NodeError::NotLeader { leader: Some(leader.clone()) });
        let gw = s.gateway(Duration::from_secs(5));
        let tx = transaction(1, 10);
        let outcome = gw.submit(tx.clone()).unwrap();
        assert_eq!((outcome.tx_id, outcome.code), (tx.tx_id(), ValidationCode::Valid));
        assert_eq!(s.nodes[0].calls(), ["submit"]);
        assert_eq!(s.nodes[1].calls(), ["submit"]);
        assert_eq!(gw.status().unwrap().name, "fake1");
        assert_eq!(gw.commit_status(tx.tx_id(), Duration::ZERO).unwrap(), Some(outcome));
        assert_eq!(gw.commit_status(Hash32([5; 32]), Duration::from_millis(10)).unwrap(), None);
    }

    /// Steps: one node down (its server shut): requests reach the other one; with both
    /// down the call fails as unavailable once the budget is spent.
    #[test]
    fn unreachable_nodes_are_skipped_within_the_budget() {
        let mut s = setup();
        let first = s.servers.remove(0);
        let addrs = vec![first.gateway_addr().to_string(), s.servers[0].gateway_addr().to_string()];
        s.rt.block_on(first.shutdown()).unwrap();
        let gw = RemoteGateway::with_budget(addrs.clone(), s.tls.clone(), Duration::from_secs(5)).unwrap();
        assert_eq!(gw.status().unwrap().name, "fake1");

        let second = s.servers.remove(0);
        s.rt.block_on(second.shutdown()).unwrap();
        let gw = RemoteGateway::with_budget(addrs, s.tls.clone(), Duration::from_millis(300)).unwrap();
        let started = Instant::now();
        assert!(matches!(gw.status(), Err(NodeError::Unavailable(_))));
        assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    }

    /// Steps: a refusal that is not retryable comes back at once, from the first node.
    #[test]
    fn refusals_are_not_retried() {
        let s = setup();
        s.nodes[0].fail_with(|| NodeError::Invalid("no such function".into()));
        let gw = s.gateway(Duration::from_secs(5));
        assert!(matches!(gw.submit(transaction(1, 1)), Err(NodeError::Invalid(m)) if m == "no such function"));
        assert!(s.nodes[1].calls().is_empty());
    }

    /// Steps: a submit that times out is retried on the other node, which reports the
    /// id as a duplicate; the gateway reports the first commit instead.
    #[test]
    fn retried_submit_reports_its_first_commit() {
        let s = setup();
        let gw = s.gateway(Duration::from_secs(5));
        let tx = transaction(9, 1);
        // Commit it on node 1 "earlier", then make node 0 time out.
        let first = s.rt.block_on(async {
            let c = GatewayClient::new(&s.servers[1].gateway_addr().to_string(), &s.tls).unwrap();
            c.submit(&tx).await.unwrap()
        });
        s.nodes[0].fail_submit_with(|| NodeError::Timeout("no commit yet".into()));
        assert_eq!(gw.submit(tx).unwrap(), first);
    }

    /// Steps: submit_all keeps order; events iterate; next_within times out politely.
    #[test]
    fn submit_all_and_events() {
        let s = setup();
        let gw = s.gateway(Duration::from_secs(5));
        let txs: Vec<_> = (0..50).map(|i| transaction(100 + i, 8)).collect();
        let out = gw.submit_all(txs.clone()).unwrap();
        assert_eq!(out.iter().map(|o| o.tx_id).collect::<Vec<_>>(), txs.iter().map(|t| t.tx_id()).collect::<Vec<_>>());
        assert!(out.iter().all(|o| o.code.is_valid()));

        let events: Vec<_> = gw.events("payment", 0).unwrap().map(Result::unwrap).collect();
        assert_eq!(events.iter().map(|e| (e.block, e.name.as_str())).collect::<Vec<_>>(), [(1, "paid")]);
        assert!(gw.events("payment", 2).unwrap().next().is_none());
        let mut events = gw.events("payment", 0).unwrap();
        assert_eq!(events.next_within(Duration::from_secs(5)).unwrap().map(|e| e.payload), Some(vec![7]));
        // The fake ends its stream after the stored events.
        assert!(events.next_within(Duration::from_secs(5)).is_err());
    }
}
