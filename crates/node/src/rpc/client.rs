//! Callers of the two services: one reused HTTP/2 connection per target (reconnected on
//! demand), connect timeouts and a deadline on every call.

use super::convert::{decode_reply, event_from_pb, from_status, outcome_from_pb, status_from_pb, transient_to_pb};
use super::pb;
use super::pb::gateway_client::GatewayClient as GatewayRpc;
use super::pb::peer_client::PeerClient as PeerRpc;
use super::tls::ClientTls;
use super::wiretap;
use super::{EventStream, NodeStatus, MAX_COMMIT_WAIT, MAX_MESSAGE_BYTES};
use crate::error::NodeError;
use crate::gateway::SubmitOutcome;
use std::future::Future;
use std::time::Duration;
use teechain_types::block::data_hash;
use teechain_types::chaincode::ChaincodeResponse;
use teechain_types::codec::{encode, Limits};
use teechain_types::collection::{CollectionPrivateWrites, TxPrivateData};
use teechain_types::keys::KeyScope;
use teechain_types::tx::{ProposalResponse, SignedProposal};
use teechain_types::{Block, Transaction, TxId};
use tokio_stream::StreamExt;
use tonic::transport::{Channel, Endpoint};
use tonic::{Request, Status};

/// Time limits of a client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// Longest to wait for a TCP connection and TLS handshake.
    pub connect: Duration,
    /// Deadline of an ordinary call (evaluate, endorse, status, raft, blocks).
    pub call: Duration,
    /// Deadline of a submit, which waits for the transaction's commit.
    pub submit: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts { connect: Duration::from_secs(5), call: Duration::from_secs(30), submit: Duration::from_secs(60) }
    }
}

/// Allowance on top of a deadline sent to the server before the client gives up itself,
/// so the server's own `DEADLINE_EXCEEDED` normally arrives first.
const CLIENT_SLACK: Duration = Duration::from_millis(500);

/// A channel to `addr` (`host:port`, or a full `https://` URI) over mutual TLS. It
/// connects lazily and reconnects after failures; clones share the connection.
fn channel(addr: &str, tls: &ClientTls, timeouts: &Timeouts) -> Result<Channel, NodeError> {
    let uri = if addr.contains("://") { addr.to_string() } else { format!("https://{addr}") };
    let endpoint = Endpoint::from_shared(uri)
        .map_err(|e| NodeError::Invalid(format!("node address '{addr}': {e}")))?
        .tls_config(tls.client_config())
        .map_err(|e| NodeError::Invalid(format!("TLS for '{addr}': {e}")))?
        .connect_timeout(timeouts.connect)
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(30))
        .keep_alive_while_idle(true);
    Ok(endpoint.connect_lazy())
}

/// Runs one call with a deadline: sent to the server as `grpc-timeout`, and enforced here
/// too in case the server never answers.
async fn call<T: prost::Message>(
    addr: &str,
    what: &str,
    deadline: Duration,
    fut: impl Future<Output = Result<tonic::Response<T>, Status>>,
) -> Result<T, NodeError> {
    let reply = call_unrecorded(addr, what, deadline, fut).await?;
    wiretap::record(&reply);
    Ok(reply)
}

/// As [`call`], for replies that are not one message (streams record their items).
async fn call_unrecorded<T>(
    addr: &str,
    what: &str,
    deadline: Duration,
    fut: impl Future<Output = Result<tonic::Response<T>, Status>>,
) -> Result<T, NodeError> {
    match tokio::time::timeout(deadline + CLIENT_SLACK, fut).await {
        Ok(Ok(response)) => Ok(response.into_inner()),
        Ok(Err(status)) => Err(from_status(addr, status)),
        Err(_) => Err(NodeError::Timeout(format!("{addr}: {what} took longer than {deadline:?}"))),
    }
}

fn request<T: prost::Message>(message: T, deadline: Duration) -> Request<T> {
    wiretap::record(&message);
    let mut req = Request::new(message);
    req.set_timeout(deadline);
    req
}

fn proposal_request(proposal: &SignedProposal, transient: &[(String, Vec<u8>)]) -> pb::ProposalRequest {
    pb::ProposalRequest { signed_proposal: encode(proposal), transient: transient_to_pb(transient), min_height: 0 }
}

/// A node's peer service, as other nodes call it.
#[derive(Clone, Debug)]
pub struct PeerClient {
    addr: String,
    rpc: PeerRpc<Channel>,
    timeouts: Timeouts,
}

impl PeerClient {
    /// A client of the peer service at `addr` with default [`Timeouts`]. Connects on
    /// first use (so a node can be configured before its peers are up); must be called
    /// inside a tokio runtime.
    pub fn new(addr: &str, tls: &ClientTls) -> Result<PeerClient, NodeError> {
        PeerClient::with_timeouts(addr, tls, Timeouts::default())
    }

    /// As [`PeerClient::new`], with the given time limits.
    pub fn with_timeouts(addr: &str, tls: &ClientTls, timeouts: Timeouts) -> Result<PeerClient, NodeError> {
        let rpc = PeerRpc::new(channel(addr, tls, &timeouts)?)
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES);
        Ok(PeerClient { addr: addr.to_string(), rpc, timeouts })
    }

    /// Connects now: fails if the node cannot be reached or its certificate is refused.
    pub async fn connect(addr: &str, tls: &ClientTls, timeouts: Timeouts) -> Result<PeerClient, NodeError> {
        let client = PeerClient::with_timeouts(addr, tls, timeouts)?;
        client.status().await?;
        Ok(client)
    }

    /// The address dialled.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Endorsement of a proposal by that node's enclave, once it has applied at least
    /// `min_height` blocks (or after a short wait).
    pub async fn endorse_here(
        &self,
        proposal: &SignedProposal,
        transient: &[(String, Vec<u8>)],
        min_height: u64,
    ) -> Result<ProposalResponse, NodeError> {
        let t = self.timeouts.call;
        let mut rpc = self.rpc.clone();
        let req = pb::ProposalRequest { min_height, ..proposal_request(proposal, transient) };
        let reply = call(&self.addr, "endorse", t, rpc.endorse(request(req, t))).await?;
        decode_reply(&reply.response, Limits::RECORD, "proposal response", &self.addr)
    }

    /// Sends a Raft message; returns the reply body.
    pub async fn raft(&self, kind: u32, body: Vec<u8>) -> Result<Vec<u8>, NodeError> {
        let t = self.timeouts.call;
        let mut rpc = self.rpc.clone();
        let reply = call(&self.addr, "raft", t, rpc.raft(request(pb::RaftRequest { kind, body }, t))).await?;
        Ok(reply.body)
    }

    /// Hands a transaction to that node (the leader) and waits for its commit.
    pub async fn forward(&self, tx: &Transaction) -> Result<SubmitOutcome, NodeError> {
        let t = self.timeouts.submit;
        let mut rpc = self.rpc.clone();
        let req = request(pb::SubmitRequest { transaction: encode(tx) }, t);
        let reply = call(&self.addr, "forward", t, rpc.forward(req)).await?;
        outcome_from_pb(reply, &self.addr)
    }

    /// Up to `max` committed blocks from number `from` on. Checks what arrives: at most
    /// `max` blocks, numbered consecutively from `from`, each one's data hash matching
    /// its transactions and each one's previous hash the hash of the block before. (The
    /// first block's previous hash is the caller's to check against its own chain.)
    pub async fn blocks(&self, from: u64, max: u32) -> Result<Vec<Block>, NodeError> {
        let t = self.timeouts.call;
        let mut rpc = self.rpc.clone();
        let reply = call(&self.addr, "blocks", t, rpc.blocks(request(pb::BlocksRequest { from, max }, t))).await?;
        if reply.blocks.len() > max as usize {
            return Err(NodeError::Rpc(format!("{} sent {} blocks, {max} asked", self.addr, reply.blocks.len())));
        }
        let mut blocks: Vec<Block> = Vec::with_capacity(reply.blocks.len());
        for (i, bytes) in reply.blocks.iter().enumerate() {
            let block: Block = decode_reply(bytes, Limits::BLOCK, "block", &self.addr)?;
            let expected = from.checked_add(i as u64);
            let bad = |what: &str| NodeError::Rpc(format!("{} sent block {}: {what}", self.addr, block.header.number));
            if Some(block.header.number) != expected {
                return Err(bad(&format!("expected number {}", from.saturating_add(i as u64))));
            }
            if block.header.data_hash != data_hash(&block.transactions) {
                return Err(bad("its data hash does not match its transactions"));
            }
            if let Some(previous) = blocks.last() {
                if block.header.previous_hash != previous.hash() {
                    return Err(bad("its previous hash is not the hash of the block before"));
                }
            }
            blocks.push(block);
        }
        Ok(blocks)
    }

    /// That node's health and position.
    pub async fn status(&self) -> Result<NodeStatus, NodeError> {
        let t = self.timeouts.call;
        let mut rpc = self.rpc.clone();
        let reply = call(&self.addr, "status", t, rpc.status(request(pb::StatusRequest {}, t))).await?;
        status_from_pb(reply, &self.addr)
    }

    /// Hands that node private data of a transaction (it must be a member of the
    /// collections in it).
    pub async fn push_private(&self, data: &TxPrivateData) -> Result<(), NodeError> {
        let t = self.timeouts.call;
        let mut rpc = self.rpc.clone();
        let req = request(pb::PrivateDataPush { data: encode(data) }, t);
        call(&self.addr, "push private data", t, rpc.push_private_data(req)).await?;
        Ok(())
    }

    /// Asks that node for the committed private writes of transaction `(block, tx)` to a
    /// collection; `None` when it has none to give.
    pub async fn pull_private(
        &self,
        block: u64,
        tx: u32,
        namespace: &str,
        collection: &str,
    ) -> Result<Option<CollectionPrivateWrites>, NodeError> {
        let t = self.timeouts.call;
        let mut rpc = self.rpc.clone();
        let req = pb::PrivateDataPullRequest {
            block,
            tx,
            namespace: namespace.to_string(),
            collection: collection.to_string(),
        };
        let reply = call(&self.addr, "pull private data", t, rpc.pull_private_data(request(req, t))).await?;
        if !reply.found {
            return Ok(None);
        }
        decode_reply(&reply.writes, Limits::TRANSACTION, "private writes", &self.addr).map(Some)
    }
}

/// A node's gateway service, as clients call it.
#[derive(Clone, Debug)]
pub struct GatewayClient {
    addr: String,
    rpc: GatewayRpc<Channel>,
    timeouts: Timeouts,
}

impl GatewayClient {
    /// A client of the gateway service at `addr` with default [`Timeouts`]. Connects on
    /// first use; must be called inside a tokio runtime.
    pub fn new(addr: &str, tls: &ClientTls) -> Result<GatewayClient, NodeError> {
        GatewayClient::with_timeouts(addr, tls, Timeouts::default())
    }

    /// As [`GatewayClient::new`], with the given time limits.
    pub fn with_timeouts(addr: &str, tls: &ClientTls, timeouts: Timeouts) -> Result<GatewayClient, NodeError> {
        let rpc = GatewayRpc::new(channel(addr, tls, &timeouts)?)
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES);
        Ok(GatewayClient { addr: addr.to_string(), rpc, timeouts })
    }

    /// Connects now: fails if the node cannot be reached or refuses our certificate.
    pub async fn connect(addr: &str, tls: &ClientTls, timeouts: Timeouts) -> Result<GatewayClient, NodeError> {
        let client = GatewayClient::with_timeouts(addr, tls, timeouts)?;
        client.status().await?;
        Ok(client)
    }

    /// The address dialled.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Runs a proposal as a query on that node.
    pub async fn evaluate(
        &self,
        proposal: &SignedProposal,
        transient: &[(String, Vec<u8>)],
    ) -> Result<ChaincodeResponse, NodeError> {
        let t = self.timeouts.call;
        let mut rpc = self.rpc.clone();
        let reply =
            call(&self.addr, "evaluate", t, rpc.evaluate(request(proposal_request(proposal, transient), t))).await?;
        decode_reply(&reply.response, Limits::RECORD, "chaincode response", &self.addr)
    }

    /// Collects endorsements through that node.
    pub async fn endorse(
        &self,
        proposal: &SignedProposal,
        transient: &[(String, Vec<u8>)],
    ) -> Result<Vec<ProposalResponse>, NodeError> {
        let t = self.timeouts.call;
        let mut rpc = self.rpc.clone();
        let reply =
            call(&self.addr, "endorse", t, rpc.endorse(request(proposal_request(proposal, transient), t))).await?;
        reply.responses.iter().map(|r| decode_reply(r, Limits::RECORD, "proposal response", &self.addr)).collect()
    }

    /// Submits a transaction and waits for its commit.
    pub async fn submit(&self, tx: &Transaction) -> Result<SubmitOutcome, NodeError> {
        let t = self.timeouts.submit;
        let mut rpc = self.rpc.clone();
        let req = request(pb::SubmitRequest { transaction: encode(tx) }, t);
        let reply = call(&self.addr, "submit", t, rpc.submit(req)).await?;
        outcome_from_pb(reply, &self.addr)
    }

    /// Where a transaction was committed, waiting up to `wait` (at most
    /// [`MAX_COMMIT_WAIT`]); `None` if it was not committed by then.
    pub async fn commit_status(&self, tx_id: TxId, wait: Duration) -> Result<Option<SubmitOutcome>, NodeError> {
        let wait = wait.min(MAX_COMMIT_WAIT);
        let timeout_ms = u32::try_from(wait.as_millis()).unwrap_or(u32::MAX);
        let t = wait + self.timeouts.call;
        let mut rpc = self.rpc.clone();
        let req = request(pb::CommitStatusRequest { tx_id: tx_id.0.to_vec(), timeout_ms }, t);
        let reply = call(&self.addr, "commit status", t, rpc.commit_status(req)).await?;
        if !reply.found {
            return Ok(None);
        }
        let outcome = outcome_from_pb(
            pb::SubmitResponse { tx_id: tx_id.0.to_vec(), block: reply.block, code: reply.code },
            &self.addr,
        )?;
        Ok(Some(outcome))
    }

    /// Events of `chaincode` from block `start_block` on, then as blocks commit. The
    /// stream has no deadline; it ends with an error if the connection drops (resume from
    /// the last block seen).
    pub async fn chaincode_events(&self, chaincode: &str, start_block: u64) -> Result<EventStream, NodeError> {
        let t = self.timeouts.call;
        let mut rpc = self.rpc.clone();
        let req = pb::ChaincodeEventsRequest { chaincode: chaincode.to_string(), start_block };
        // The deadline covers opening the stream only.
        wiretap::record(&req);
        let stream =
            call_unrecorded(&self.addr, "chaincode events", t, rpc.chaincode_events(Request::new(req))).await?;
        let addr = self.addr.clone();
        Ok(Box::pin(stream.map(move |item| match item {
            Ok(event) => {
                wiretap::record(&event);
                event_from_pb(event, &addr)
            }
            Err(status) => Err(from_status(&addr, status)),
        })))
    }

    /// That node's health and position.
    pub async fn status(&self) -> Result<NodeStatus, NodeError> {
        let t = self.timeouts.call;
        let mut rpc = self.rpc.clone();
        let reply = call(&self.addr, "status", t, rpc.status(request(pb::StatusRequest {}, t))).await?;
        status_from_pb(reply, &self.addr)
    }

    /// A key's latest epoch and the registration of the enclave that made it.
    pub async fn latest_key(&self, scope: &KeyScope) -> Result<Option<super::ChaincodeKey>, NodeError> {
        let t = self.timeouts.call;
        let mut rpc = self.rpc.clone();
        let (chaincode, collection) = match scope {
            KeyScope::Chaincode { namespace } => (namespace.clone(), String::new()),
            KeyScope::Collection { namespace, collection } => (namespace.clone(), collection.clone()),
        };
        let req = request(pb::ChaincodeKeyRequest { chaincode, collection }, t);
        let reply = call(&self.addr, "chaincode key", t, rpc.chaincode_key(req)).await?;
        if reply.record.is_empty() {
            return Ok(None);
        }
        let record = decode_reply(&reply.record, Limits::RECORD, "key record", &self.addr)?;
        let enclave = decode_reply(&reply.enclave, Limits::RECORD, "enclave registration", &self.addr)?;
        Ok(Some((record, enclave)))
    }
}
