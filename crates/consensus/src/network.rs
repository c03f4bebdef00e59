//! openraft's network over a [`RaftTransport`]: requests and answers as bytes.
//!
//! Every body is the project's canonical encoding of openraft's own message type. The
//! answer to an `InstallSnapshot` chunk is `Result<InstallSnapshotResponse,
//! InstallSnapshotError>`, so that a follower asking for the snapshot to restart from the
//! first chunk is understood; the other answers are the plain response. A failure of the
//! serving Raft node itself is an error at the transport level, not an answer.

use crate::boundary::{NodeId, RaftRpcKind, RaftTransport, TransportError};
use crate::error::ConsensusError;
use crate::raft_types::{decode, encode, TypeConfig};
use openraft::error::{
    InstallSnapshotError, NetworkError, PayloadTooLarge, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse, VoteRequest,
    VoteResponse,
};
use openraft::{BasicNode, Raft};
use std::sync::Arc;
use teechain_types::codec::Limits;

/// AppendEntries bodies above this size are split: openraft is asked to send fewer
/// entries per message ([`PayloadTooLarge`]). openraft allows one AppendEntries round
/// trip a heartbeat interval; a message of many large blocks would time out again and
/// again and stall the follower. A single entry is sent whatever its size.
const APPEND_ENTRIES_TARGET_BYTES: usize = 2 << 20;

/// Creates one [`PeerClient`] per peer for openraft.
pub(crate) struct Network {
    pub(crate) transport: Arc<dyn RaftTransport>,
    pub(crate) limits: Limits,
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = PeerClient;

    async fn new_client(&mut self, target: NodeId, node: &BasicNode) -> PeerClient {
        PeerClient { target, address: node.addr.clone(), transport: self.transport.clone(), limits: self.limits }
    }
}

/// Sends openraft's RPCs to one peer.
pub(crate) struct PeerClient {
    target: NodeId,
    address: String,
    transport: Arc<dyn RaftTransport>,
    limits: Limits,
}

/// A transport failure as openraft's error: unreachable peers are backed off.
fn rpc_error<E: std::error::Error>(e: TransportError) -> RPCError<NodeId, BasicNode, E> {
    match e {
        TransportError::Unreachable { .. } => RPCError::Unreachable(Unreachable::new(&e)),
        TransportError::Failed { .. } => RPCError::Network(NetworkError::new(&e)),
    }
}

impl PeerClient {
    async fn call<Resp, E>(&self, kind: RaftRpcKind, body: Vec<u8>) -> Result<Resp, RPCError<NodeId, BasicNode, E>>
    where
        Resp: serde::de::DeserializeOwned,
        E: std::error::Error,
    {
        let answer = self.transport.call(self.target, &self.address, kind, body).await.map_err(rpc_error)?;
        decode(&answer, self.limits).map_err(|e| {
            rpc_error(TransportError::Failed { target: self.target, reason: format!("malformed {kind} answer: {e}") })
        })
    }
}

impl RaftNetwork<TypeConfig> for PeerClient {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        let body = encode(&rpc);
        let entries = rpc.entries.len();
        if body.len() > APPEND_ENTRIES_TARGET_BYTES && entries > 1 {
            let fit = (entries * APPEND_ENTRIES_TARGET_BYTES / body.len()).max(1);
            return Err(RPCError::PayloadTooLarge(PayloadTooLarge::new_entries_hint(fit as u64)));
        }
        self.call(RaftRpcKind::AppendEntries, body).await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<InstallSnapshotResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId, InstallSnapshotError>>>
    {
        let answer: Result<InstallSnapshotResponse<NodeId>, InstallSnapshotError> =
            self.call(RaftRpcKind::InstallSnapshot, encode(&rpc)).await?;
        answer.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, RaftError::APIError(e))))
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        _option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, BasicNode, RaftError<NodeId>>> {
        self.call(RaftRpcKind::Vote, encode(&rpc)).await
    }
}

/// The serving side: decodes a request, hands it to the local Raft node, encodes the
/// answer.
pub(crate) async fn serve(
    raft: &Raft<TypeConfig>,
    kind: RaftRpcKind,
    body: &[u8],
    limits: Limits,
) -> Result<Vec<u8>, ConsensusError> {
    let malformed = |source| ConsensusError::Malformed { kind, source };
    match kind {
        RaftRpcKind::AppendEntries => {
            let req: AppendEntriesRequest<TypeConfig> = decode(body, limits).map_err(malformed)?;
            match raft.append_entries(req).await {
                Ok(resp) => Ok(encode(&resp)),
                Err(RaftError::Fatal(f)) => Err(ConsensusError::from_fatal(&f)),
                Err(RaftError::APIError(never)) => match never {},
            }
        }
        RaftRpcKind::Vote => {
            let req: VoteRequest<NodeId> = decode(body, limits).map_err(malformed)?;
            match raft.vote(req).await {
                Ok(resp) => Ok(encode(&resp)),
                Err(RaftError::Fatal(f)) => Err(ConsensusError::from_fatal(&f)),
                Err(RaftError::APIError(never)) => match never {},
            }
        }
        RaftRpcKind::InstallSnapshot => {
            let req: InstallSnapshotRequest<TypeConfig> = decode(body, limits).map_err(malformed)?;
            let answer: Result<InstallSnapshotResponse<NodeId>, InstallSnapshotError> =
                match raft.install_snapshot(req).await {
                    Ok(resp) => Ok(resp),
                    Err(RaftError::APIError(e)) => Err(e),
                    Err(RaftError::Fatal(f)) => return Err(ConsensusError::from_fatal(&f)),
                };
            Ok(encode(&answer))
        }
    }
}
