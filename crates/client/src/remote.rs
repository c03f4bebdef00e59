//! A [`Gateway`] over the gRPC gateway services of running nodes.
//!
//! Requests go to the first reachable address (put the caller's own organisation's nodes
//! first). A node that is unreachable, times out, or is not the leader and cannot forward
//! is skipped for the next, with backoff, for at most [`RETRY_BUDGET`]. A submission that
//! was retried may have committed on the first attempt: if the retry meets
//! `DUPLICATE_TXID`, the first outcome is looked up by the transaction id.

use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use teechain_node::rpc::{ClientTls, GatewayClient};
use teechain_node::{Gateway, NodeError, SubmitOutcome};
use teechain_types::chaincode::ChaincodeResponse;
use teechain_types::tx::{ProposalResponse, SignedProposal};
use teechain_types::{Transaction, TxId, ValidationCode};

/// Longest a request keeps retrying across nodes.
pub const RETRY_BUDGET: Duration = Duration::from_secs(20);

/// A network reached through its nodes' gateways.
pub struct RemoteGateway {
    rt: tokio::runtime::Runtime,
    clients: Vec<GatewayClient>,
    // Index of the node that answered last: tried first next time.
    current: AtomicUsize,
}

fn retryable(e: &NodeError) -> bool {
    matches!(e, NodeError::Unavailable(_) | NodeError::Timeout(_) | NodeError::NotLeader { .. })
}

impl RemoteGateway {
    /// A gateway over `addresses` (`host:port` of gateway services), authenticating with
    /// `tls` (the user's certificate and the channel's CAs).
    pub fn connect(addresses: Vec<String>, tls: ClientTls) -> Result<RemoteGateway, NodeError> {
        if addresses.is_empty() {
            return Err(NodeError::Invalid("no gateway address given".into()));
        }
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| NodeError::Invalid(format!("starting the async runtime: {e}")))?;
        let clients = {
            let _guard = rt.enter();
            addresses.iter().map(|a| GatewayClient::new(a, &tls)).collect::<Result<Vec<_>, _>>()?
        };
        Ok(RemoteGateway { rt, clients, current: AtomicUsize::new(0) })
    }

    /// Runs `call` on the current node, moving on to the next on retryable errors.
    /// Returns the result and whether any attempt before it failed.
    fn with_retry<T, F, Fut>(&self, call: F) -> Result<(T, bool), NodeError>
    where
        F: Fn(GatewayClient) -> Fut,
        Fut: Future<Output = Result<T, NodeError>>,
    {
        let started = Instant::now();
        let mut backoff = Duration::from_millis(50);
        let mut retried = false;
        loop {
            let i = self.current.load(Ordering::Relaxed) % self.clients.len();
            match self.rt.block_on(call(self.clients[i].clone())) {
                Ok(v) => return Ok((v, retried)),
                Err(e) if retryable(&e) && started.elapsed() < RETRY_BUDGET => {
                    retried = true;
                    self.current.store(i + 1, Ordering::Relaxed);
                    // A full round of nodes failed: wait before the next round.
                    if (i + 1) % self.clients.len() == 0 {
                        std::thread::sleep(backoff);
                        backoff = (backoff * 2).min(Duration::from_secs(1));
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Where a transaction was committed, waiting up to `wait` for it.
    pub fn commit_status(&self, tx_id: TxId, wait: Duration) -> Result<Option<SubmitOutcome>, NodeError> {
        Ok(self.with_retry(|c| async move { c.commit_status(tx_id, wait).await })?.0)
    }
}

impl Gateway for RemoteGateway {
    fn evaluate(
        &self,
        proposal: &SignedProposal,
        transient: &[(String, Vec<u8>)],
    ) -> Result<ChaincodeResponse, NodeError> {
        Ok(self.with_retry(|c| async move { c.evaluate(proposal, transient).await })?.0)
    }

    fn endorse(
        &self,
        proposal: &SignedProposal,
        transient: &[(String, Vec<u8>)],
    ) -> Result<Vec<ProposalResponse>, NodeError> {
        Ok(self.with_retry(|c| async move { c.endorse(proposal, transient).await })?.0)
    }

    fn submit(&self, tx: Transaction) -> Result<SubmitOutcome, NodeError> {
        let tx = &tx;
        let (outcome, retried) = self.with_retry(|c| async move { c.submit(tx).await })?;
        if retried && outcome.code == ValidationCode::DuplicateTxId {
            // Our own earlier attempt committed; report that outcome.
            if let Some(first) = self.commit_status(outcome.tx_id, Duration::from_secs(5))? {
                return Ok(first);
            }
        }
        Ok(outcome)
    }
}
