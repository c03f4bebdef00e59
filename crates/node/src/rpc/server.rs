//! The two services and their listeners.

use super::convert::{decode_request, hash_from, to_status, transient_from_pb};
use super::pb;
use super::pb::gateway_server::{Gateway as GatewayRpc, GatewayServer};
use super::pb::peer_server::{Peer as PeerRpc, PeerServer};
use super::tls::ServerTls;
use super::wiretap;
use super::{NodeApi, MAX_BLOCKS_PER_CALL, MAX_COMMIT_WAIT, MAX_MESSAGE_BYTES};
use crate::error::NodeError;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use teechain_crypto::Msp;
use teechain_types::codec::{encode, Limits};
use teechain_types::keys::KeyScope;
use teechain_types::tx::SignedProposal;
use teechain_types::{Identity, Role, Transaction};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_stream::{Stream, StreamExt};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::server::TcpIncoming;
use tonic::transport::Server;
use tonic::{Request, Response, Status};

/// How long open calls (event streams above all) may run on after shutdown is asked.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// Interval of HTTP/2 keep-alive pings on idle connections.
const KEEPALIVE: Duration = Duration::from_secs(30);

struct GatewayService {
    api: Arc<dyn NodeApi>,
}

struct PeerService {
    api: Arc<dyn NodeApi>,
}

fn proposal_of(req: pb::ProposalRequest) -> Result<(SignedProposal, super::Transient), Status> {
    let proposal = decode_request(&req.signed_proposal, Limits::TRANSACTION, "signed_proposal")?;
    Ok((proposal, transient_from_pb(req.transient)))
}

fn transaction_of(req: pb::SubmitRequest) -> Result<Transaction, Status> {
    decode_request(&req.transaction, Limits::TRANSACTION, "transaction")
}

#[tonic::async_trait]
impl GatewayRpc for GatewayService {
    async fn evaluate(&self, req: Request<pb::ProposalRequest>) -> Result<Response<pb::EvaluateResponse>, Status> {
        wiretap::record(req.get_ref());
        let (proposal, transient) = proposal_of(req.into_inner())?;
        let response = self.api.evaluate(proposal, transient).await.map_err(to_status)?;
        Ok(wiretap::reply(pb::EvaluateResponse { response: encode(&response) }))
    }

    async fn endorse(&self, req: Request<pb::ProposalRequest>) -> Result<Response<pb::EndorseResponse>, Status> {
        wiretap::record(req.get_ref());
        let (proposal, transient) = proposal_of(req.into_inner())?;
        let responses = self.api.endorse(proposal, transient).await.map_err(to_status)?;
        Ok(wiretap::reply(pb::EndorseResponse { responses: responses.iter().map(encode).collect() }))
    }

    async fn submit(&self, req: Request<pb::SubmitRequest>) -> Result<Response<pb::SubmitResponse>, Status> {
        wiretap::record(req.get_ref());
        let tx = transaction_of(req.into_inner())?;
        let outcome = self.api.submit(tx).await.map_err(to_status)?;
        Ok(wiretap::reply(outcome.into()))
    }

    async fn commit_status(
        &self,
        req: Request<pb::CommitStatusRequest>,
    ) -> Result<Response<pb::CommitStatusResponse>, Status> {
        wiretap::record(req.get_ref());
        let req = req.into_inner();
        let tx_id = hash_from(&req.tx_id).ok_or_else(|| Status::invalid_argument("tx_id must be 32 bytes"))?;
        let wait = Duration::from_millis(u64::from(req.timeout_ms)).min(MAX_COMMIT_WAIT);
        let found = self.api.commit_status(tx_id, wait).await.map_err(to_status)?;
        Ok(wiretap::reply(match found {
            Some(o) => pb::CommitStatusResponse { block: o.block, code: o.code.name().to_string(), found: true },
            None => pb::CommitStatusResponse { block: 0, code: String::new(), found: false },
        }))
    }

    type ChaincodeEventsStream = Pin<Box<dyn Stream<Item = Result<pb::ChaincodeEvent, Status>> + Send>>;

    async fn chaincode_events(
        &self,
        req: Request<pb::ChaincodeEventsRequest>,
    ) -> Result<Response<Self::ChaincodeEventsStream>, Status> {
        wiretap::record(req.get_ref());
        let req = req.into_inner();
        let events = self.api.events(req.chaincode, req.start_block);
        let stream = events.map(|e| {
            e.map(|e| {
                let e = pb::ChaincodeEvent::from(e);
                wiretap::record(&e);
                e
            })
            .map_err(to_status)
        });
        Ok(Response::new(Box::pin(stream)))
    }

    async fn chaincode_key(
        &self,
        req: Request<pb::ChaincodeKeyRequest>,
    ) -> Result<Response<pb::ChaincodeKeyResponse>, Status> {
        wiretap::record(req.get_ref());
        let req = req.into_inner();
        let scope = match req.collection.is_empty() {
            true => KeyScope::Chaincode { namespace: req.chaincode },
            false => KeyScope::Collection { namespace: req.chaincode, collection: req.collection },
        };
        let found = self.api.latest_key(scope).await.map_err(to_status)?;
        let reply = match found {
            Some((record, enclave)) => pb::ChaincodeKeyResponse { record: encode(&record), enclave: encode(&enclave) },
            None => pb::ChaincodeKeyResponse { record: Vec::new(), enclave: Vec::new() },
        };
        Ok(wiretap::reply(reply))
    }

    async fn status(&self, req: Request<pb::StatusRequest>) -> Result<Response<pb::StatusResponse>, Status> {
        wiretap::record(req.get_ref());
        let status = self.api.status().await.map_err(to_status)?;
        Ok(wiretap::reply(status.into()))
    }
}

#[tonic::async_trait]
impl PeerRpc for PeerService {
    async fn endorse(&self, req: Request<pb::ProposalRequest>) -> Result<Response<pb::EndorseHereResponse>, Status> {
        wiretap::record(req.get_ref());
        let req = req.into_inner();
        let min_height = req.min_height;
        let (proposal, transient) = proposal_of(req)?;
        let response = self.api.endorse_here(proposal, transient, min_height).await.map_err(to_status)?;
        Ok(wiretap::reply(pb::EndorseHereResponse { response: encode(&response) }))
    }

    async fn raft(&self, req: Request<pb::RaftRequest>) -> Result<Response<pb::RaftResponse>, Status> {
        wiretap::record(req.get_ref());
        let req = req.into_inner();
        let body = self.api.raft(req.kind, req.body).await.map_err(to_status)?;
        Ok(wiretap::reply(pb::RaftResponse { body }))
    }

    async fn forward(&self, req: Request<pb::SubmitRequest>) -> Result<Response<pb::SubmitResponse>, Status> {
        wiretap::record(req.get_ref());
        let tx = transaction_of(req.into_inner())?;
        let outcome = self.api.submit(tx).await.map_err(to_status)?;
        Ok(wiretap::reply(outcome.into()))
    }

    async fn blocks(&self, req: Request<pb::BlocksRequest>) -> Result<Response<pb::BlocksResponse>, Status> {
        wiretap::record(req.get_ref());
        let req = req.into_inner();
        let max = req.max.clamp(1, MAX_BLOCKS_PER_CALL);
        let blocks = self.api.blocks(req.from, max).await.map_err(to_status)?;
        // Stay under the message limit: stop before the block that would cross it, but
        // always send the first one (the caller cannot progress otherwise).
        let budget = MAX_MESSAGE_BYTES - (1 << 20);
        let mut out = Vec::new();
        let mut total = 0usize;
        for block in blocks.iter().take(max as usize) {
            let bytes = encode(block);
            if !out.is_empty() && total + bytes.len() > budget {
                break;
            }
            if bytes.len() > budget {
                return Err(to_status(NodeError::Invalid(format!(
                    "block {} is {} bytes, more than the {budget}-byte message budget",
                    block.header.number,
                    bytes.len()
                ))));
            }
            total += bytes.len();
            out.push(bytes);
        }
        Ok(wiretap::reply(pb::BlocksResponse { blocks: out }))
    }

    async fn status(&self, req: Request<pb::StatusRequest>) -> Result<Response<pb::StatusResponse>, Status> {
        wiretap::record(req.get_ref());
        let status = self.api.status().await.map_err(to_status)?;
        Ok(wiretap::reply(status.into()))
    }

    async fn push_private_data(
        &self,
        req: Request<pb::PrivateDataPush>,
    ) -> Result<Response<pb::PrivateDataAck>, Status> {
        wiretap::record(req.get_ref());
        let from = caller_org(&req)?;
        let data = decode_request(&req.into_inner().data, Limits::TRANSACTION, "data")?;
        self.api.push_private(from, data).await.map_err(to_status)?;
        Ok(wiretap::reply(pb::PrivateDataAck {}))
    }

    async fn pull_private_data(
        &self,
        req: Request<pb::PrivateDataPullRequest>,
    ) -> Result<Response<pb::PrivateDataPullResponse>, Status> {
        wiretap::record(req.get_ref());
        let from = caller_org(&req)?;
        let r = req.into_inner();
        let found = self.api.pull_private(from, r.block, r.tx, r.namespace, r.collection).await.map_err(to_status)?;
        Ok(wiretap::reply(match found {
            Some(w) => pb::PrivateDataPullResponse { found: true, writes: encode(&w) },
            None => pb::PrivateDataPullResponse { found: false, writes: Vec::new() },
        }))
    }
}

/// The organisation of the calling node (the [`PeerOnly`] interceptor has checked its
/// certificate against the channel's CAs already).
fn caller_org<T>(req: &Request<T>) -> Result<String, Status> {
    let certs = req.peer_certs().ok_or_else(|| Status::unauthenticated("no client certificate"))?;
    let leaf = certs.first().ok_or_else(|| Status::unauthenticated("no client certificate"))?;
    organisation_of(leaf.as_ref()).ok_or_else(|| Status::permission_denied("client certificate names no organisation"))
}

/// Admits to the peer service only callers whose TLS certificate is a peer certificate of
/// a channel organisation (the handshake already checked that it chains to a channel CA;
/// this checks the role OU, so a client of a member organisation cannot send Raft
/// messages or forward transactions as a node).
#[derive(Clone)]
struct PeerOnly {
    msp: Arc<Msp>,
}

impl PeerOnly {
    fn check(&self, req: &Request<()>) -> Result<(), Status> {
        let certs = req.peer_certs().ok_or_else(|| Status::unauthenticated("no client certificate"))?;
        let leaf = certs.first().ok_or_else(|| Status::unauthenticated("no client certificate"))?;
        let org = organisation_of(leaf.as_ref())
            .ok_or_else(|| Status::permission_denied("client certificate names no organisation"))?;
        let verified = self
            .msp
            .validate(&Identity { org, cert_der: leaf.to_vec() })
            .map_err(|e| Status::permission_denied(format!("client certificate: {e}")))?;
        if verified.role != Role::Peer {
            return Err(to_status(NodeError::PermissionDenied(format!(
                "the peer service admits only peer certificates; {} of {} is a {} certificate",
                verified.name, verified.org, verified.role
            ))));
        }
        Ok(())
    }
}

impl tonic::service::Interceptor for PeerOnly {
    fn call(&mut self, req: Request<()>) -> Result<Request<()>, Status> {
        self.check(&req)?;
        Ok(req)
    }
}

/// The organisation (subject O) a certificate names.
fn organisation_of(cert_der: &[u8]) -> Option<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(cert_der).ok()?;
    let org = cert.subject().iter_organization().next()?.as_str().ok()?.to_string();
    Some(org)
}

/// Serves `api` until `shutdown` completes: the gateway service on `gateway_addr` and the
/// peer service on `peer_addr`, both over mutual TLS with `tls`. Returns when both
/// listeners have closed (open calls get 5 seconds to finish), or at once with
/// the error if either fails.
pub async fn serve(
    api: Arc<dyn NodeApi>,
    gateway_addr: SocketAddr,
    peer_addr: SocketAddr,
    tls: ServerTls,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), NodeError> {
    let gateway = bind(gateway_addr).await?;
    let peer = bind(peer_addr).await?;
    serve_with_listeners(api, gateway, peer, tls, shutdown).await
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, NodeError> {
    TcpListener::bind(addr).await.map_err(|source| NodeError::Listen { addr, source })
}

/// As [`serve`], on listeners the caller bound (e.g. to port 0, reading the port after).
pub async fn serve_with_listeners(
    api: Arc<dyn NodeApi>,
    gateway: TcpListener,
    peer: TcpListener,
    tls: ServerTls,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), NodeError> {
    let (stop_tx, stop_rx) = watch::channel(false);
    let signal = |mut rx: watch::Receiver<bool>| async move {
        // An error means the sender is gone: stop as well.
        let _ = rx.wait_for(|stop| *stop).await;
    };
    let server = || -> Result<Server, NodeError> {
        Server::builder()
            .tls_config(tls.server_config())
            .map_err(|e| NodeError::Rpc(format!("TLS configuration: {e}")))
            .map(|b| b.tcp_nodelay(true).http2_keepalive_interval(Some(KEEPALIVE)))
    };

    let gateway_service = GatewayServer::new(GatewayService { api: api.clone() })
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES);
    let peer_service = InterceptedService::new(
        PeerServer::new(PeerService { api })
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES),
        PeerOnly { msp: tls.msp() },
    );
    let gateway_future = server()?
        .add_service(gateway_service)
        .serve_with_incoming_shutdown(TcpIncoming::from(gateway), signal(stop_rx.clone()));
    let peer_future =
        server()?.add_service(peer_service).serve_with_incoming_shutdown(TcpIncoming::from(peer), signal(stop_rx));

    let servers = async {
        let gateway = async { gateway_future.await.map_err(|e| NodeError::Rpc(format!("gateway service: {e}"))) };
        let peer = async { peer_future.await.map_err(|e| NodeError::Rpc(format!("peer service: {e}"))) };
        tokio::try_join!(gateway, peer).map(|_| ())
    };
    tokio::pin!(servers);
    tokio::select! {
        result = &mut servers => return result,
        () = shutdown => {}
    }
    let _ = stop_tx.send(true);
    // Long-lived calls (event streams) would hold a graceful shutdown open forever.
    match tokio::time::timeout(SHUTDOWN_GRACE, servers).await {
        Ok(result) => result,
        Err(_) => Ok(()),
    }
}

/// A node's services running in the background (see [`spawn`]).
#[derive(Debug)]
pub struct ServerHandle {
    gateway_addr: SocketAddr,
    peer_addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), NodeError>>,
}

impl ServerHandle {
    /// Where the gateway service listens.
    pub fn gateway_addr(&self) -> SocketAddr {
        self.gateway_addr
    }

    /// Where the peer service listens.
    pub fn peer_addr(&self) -> SocketAddr {
        self.peer_addr
    }

    /// Stops both services and waits until they have closed.
    pub async fn shutdown(mut self) -> Result<(), NodeError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match (&mut self.task).await {
            Ok(result) => result,
            Err(e) => Err(NodeError::Rpc(format!("server task failed: {e}"))),
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Binds both listeners (port 0 picks a free port) and serves `api` on the current tokio
/// runtime in the background until [`ServerHandle::shutdown`] or the handle is dropped.
pub async fn spawn(
    api: Arc<dyn NodeApi>,
    gateway_addr: SocketAddr,
    peer_addr: SocketAddr,
    tls: ServerTls,
) -> Result<ServerHandle, NodeError> {
    let gateway = bind(gateway_addr).await?;
    let peer = bind(peer_addr).await?;
    let local = |l: &TcpListener, addr| l.local_addr().map_err(|source| NodeError::Listen { addr, source });
    let (gateway_addr, peer_addr) = (local(&gateway, gateway_addr)?, local(&peer, peer_addr)?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(serve_with_listeners(api, gateway, peer, tls, async move {
        // Sent or dropped: either way, stop.
        let _ = stopped.await;
    }));
    Ok(ServerHandle { gateway_addr, peer_addr, stop: Some(stop), task })
}
