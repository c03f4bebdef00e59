//! Conversions between the protobuf messages and TEEChain's types, and the one mapping of
//! [`NodeError`] to gRPC statuses and back.

use super::pb;
use super::{ChaincodeEventRecord, NodeStatus, Transient};
use crate::error::NodeError;
use crate::gateway::SubmitOutcome;
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use teechain_enclave::protocol::FailureKind;
use teechain_enclave::EnclaveError;
use teechain_types::codec::{decode, encode, Limits};
use teechain_types::{Hash32, ValidationCode};
use tonic::metadata::{MetadataMap, MetadataValue};
use tonic::{Code, Status};

/// Binary metadata key carrying the typed error (canonical encoding) of a failed call.
pub const ERROR_METADATA: &str = "teechain-error-bin";
/// ASCII metadata key carrying the leader's address on a not-leader error.
pub const LEADER_METADATA: &str = "teechain-leader";

/// Longest error message put on the wire (headers are small; the rest is cut).
const MAX_ERROR_MESSAGE: usize = 2048;

/// Decodes a canonical value from a request field; the error names the field.
pub(crate) fn decode_request<T: Serialize + DeserializeOwned>(
    bytes: &[u8],
    limits: Limits,
    what: &str,
) -> Result<T, Status> {
    decode(bytes, limits).map_err(|e| Status::invalid_argument(format!("{what}: {e}")))
}

/// Decodes a canonical value from a reply field; the error names the field and the node.
pub(crate) fn decode_reply<T: Serialize + DeserializeOwned>(
    bytes: &[u8],
    limits: Limits,
    what: &str,
    addr: &str,
) -> Result<T, NodeError> {
    decode(bytes, limits).map_err(|e| NodeError::Rpc(format!("{addr} sent a malformed {what}: {e}")))
}

/// A 32-byte hash from a field.
pub(crate) fn hash_from(bytes: &[u8]) -> Option<Hash32> {
    <[u8; 32]>::try_from(bytes).ok().map(Hash32)
}

/// A validation code from its printed name.
pub(crate) fn code_from_name(name: &str) -> Option<ValidationCode> {
    ValidationCode::ALL.into_iter().find(|c| c.name() == name)
}

pub(crate) fn transient_to_pb(transient: &[(String, Vec<u8>)]) -> Vec<pb::Transient> {
    transient.iter().map(|(key, value)| pb::Transient { key: key.clone(), value: value.clone() }).collect()
}

pub(crate) fn transient_from_pb(transient: Vec<pb::Transient>) -> Transient {
    transient.into_iter().map(|t| (t.key, t.value)).collect()
}

impl From<SubmitOutcome> for pb::SubmitResponse {
    fn from(o: SubmitOutcome) -> Self {
        pb::SubmitResponse { tx_id: o.tx_id.0.to_vec(), block: o.block, code: o.code.name().to_string() }
    }
}

pub(crate) fn outcome_from_pb(r: pb::SubmitResponse, addr: &str) -> Result<SubmitOutcome, NodeError> {
    let tx_id = hash_from(&r.tx_id)
        .ok_or_else(|| NodeError::Rpc(format!("{addr} sent a transaction id of {} bytes", r.tx_id.len())))?;
    let code = code_from_name(&r.code)
        .ok_or_else(|| NodeError::Rpc(format!("{addr} sent an unknown validation code '{}'", r.code)))?;
    Ok(SubmitOutcome { tx_id, block: r.block, code })
}

impl From<NodeStatus> for pb::StatusResponse {
    fn from(s: NodeStatus) -> Self {
        pb::StatusResponse {
            name: s.name,
            org: s.org,
            role: s.role,
            term: s.term,
            leader: s.leader.unwrap_or_default(),
            height: s.height,
            last_hash: s.last_hash.0.to_vec(),
            healthy: s.healthy,
            platform: s.platform,
            enclave_info: s.enclave.as_ref().map(encode).unwrap_or_default(),
            enclave_registered: s.enclave_registered,
        }
    }
}

pub(crate) fn status_from_pb(s: pb::StatusResponse, addr: &str) -> Result<NodeStatus, NodeError> {
    let last_hash = hash_from(&s.last_hash)
        .ok_or_else(|| NodeError::Rpc(format!("{addr} sent a last hash of {} bytes", s.last_hash.len())))?;
    Ok(NodeStatus {
        name: s.name,
        org: s.org,
        role: s.role,
        term: s.term,
        leader: Some(s.leader).filter(|l| !l.is_empty()),
        height: s.height,
        last_hash,
        healthy: s.healthy,
        platform: s.platform,
        enclave: match s.enclave_info.is_empty() {
            true => None,
            false => Some(
                decode(&s.enclave_info, Limits::RECORD)
                    .map_err(|e| NodeError::Rpc(format!("{addr} sent enclave info that does not decode: {e}")))?,
            ),
        },
        enclave_registered: s.enclave_registered,
    })
}

impl From<ChaincodeEventRecord> for pb::ChaincodeEvent {
    fn from(e: ChaincodeEventRecord) -> Self {
        pb::ChaincodeEvent { block: e.block, tx_id: e.tx_id.0.to_vec(), name: e.name, payload: e.payload }
    }
}

pub(crate) fn event_from_pb(e: pb::ChaincodeEvent, addr: &str) -> Result<ChaincodeEventRecord, NodeError> {
    let tx_id = hash_from(&e.tx_id).ok_or_else(|| {
        NodeError::Rpc(format!("{addr} sent an event with a transaction id of {} bytes", e.tx_id.len()))
    })?;
    Ok(ChaincodeEventRecord { block: e.block, tx_id, name: e.name, payload: e.payload })
}

/// The typed errors that cross the wire exactly (the rest arrive as
/// [`NodeError::Remote`] with their message). Its canonical encoding travels in
/// [`ERROR_METADATA`]; append variants only, never reorder.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
enum WireError {
    Invalid(String),
    NoPeerOf(String),
    ChaincodeNotCommitted { name: String, channel: String },
    Divergence { block: u64, detail: String },
    Enclave { kind: FailureKind, message: String },
    EnclaveProtocol(String),
    NotLeader { leader: Option<String> },
    Unavailable(String),
    Timeout(String),
    PermissionDenied(String),
    Remote(String),
    Dissemination(String),
    EnclaveNotRegistered { node: String, enclave: String },
}

fn truncate(mut s: String) -> String {
    if s.len() > MAX_ERROR_MESSAGE {
        let mut end = MAX_ERROR_MESSAGE;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
        s.push('…');
    }
    s
}

fn enclave_code(kind: FailureKind) -> Code {
    match kind {
        FailureKind::BadRequest | FailureKind::BadProposal => Code::InvalidArgument,
        FailureKind::ChaincodeUnavailable
        | FailureKind::ChaincodeRefused
        | FailureKind::KeyUnavailable
        | FailureKind::SealedStateRolledBack => Code::FailedPrecondition,
        FailureKind::ExecutionFailed => Code::Aborted,
        FailureKind::HostFailure | FailureKind::ForgedKeyRecord => Code::Internal,
    }
}

/// Maps a node's error to the status a caller receives: a gRPC code a foreign client can
/// act on, the message, the typed error in [`ERROR_METADATA`], and for
/// [`NodeError::NotLeader`] the leader's address in [`LEADER_METADATA`]. Errors that only
/// make sense inside the node (files, storage, keys) become `INTERNAL` with their message.
pub fn to_status(error: NodeError) -> Status {
    let message = truncate(error.to_string());
    let (code, wire) = match error {
        NodeError::Invalid(m) => (Code::InvalidArgument, WireError::Invalid(truncate(m))),
        NodeError::NoPeerOf(org) => (Code::FailedPrecondition, WireError::NoPeerOf(org)),
        NodeError::ChaincodeNotCommitted { name, channel } => {
            (Code::NotFound, WireError::ChaincodeNotCommitted { name, channel })
        }
        NodeError::Divergence { block, detail } => {
            (Code::Internal, WireError::Divergence { block, detail: truncate(detail) })
        }
        NodeError::Enclave(EnclaveError::Failed { kind, message }) => {
            (enclave_code(kind), WireError::Enclave { kind, message: truncate(message) })
        }
        NodeError::Enclave(EnclaveError::Protocol(m)) => (Code::Internal, WireError::EnclaveProtocol(truncate(m))),
        NodeError::Enclave(EnclaveError::Unavailable(m)) => (Code::Unavailable, WireError::Unavailable(truncate(m))),
        NodeError::NotLeader { leader } => (Code::Unavailable, WireError::NotLeader { leader }),
        NodeError::Unavailable(m) => (Code::Unavailable, WireError::Unavailable(truncate(m))),
        NodeError::Timeout(m) => (Code::DeadlineExceeded, WireError::Timeout(truncate(m))),
        NodeError::PermissionDenied(m) => (Code::PermissionDenied, WireError::PermissionDenied(truncate(m))),
        NodeError::Dissemination(m) => (Code::FailedPrecondition, WireError::Dissemination(truncate(m))),
        NodeError::EnclaveNotRegistered { node, enclave } => {
            (Code::FailedPrecondition, WireError::EnclaveNotRegistered { node, enclave })
        }
        // A TLS failure of this node's own outgoing call (e.g. to the leader) is this
        // node's trouble, not the caller's certificate: report it as unavailable.
        NodeError::Tls { .. } => (Code::Unavailable, WireError::Unavailable(message.clone())),
        NodeError::Io { .. }
        | NodeError::Config { .. }
        | NodeError::AlreadyInitialised(_)
        | NodeError::Crypto(_)
        | NodeError::Ledger(_)
        | NodeError::Remote(_)
        | NodeError::Rpc(_)
        | NodeError::Listen { .. } => (Code::Internal, WireError::Remote(message.clone())),
    };
    let mut metadata = MetadataMap::new();
    metadata.insert_bin(ERROR_METADATA, MetadataValue::from_bytes(&encode(&wire)));
    if let WireError::NotLeader { leader: Some(leader) } = &wire {
        if let Ok(value) = leader.parse() {
            metadata.insert(LEADER_METADATA, value);
        }
    }
    Status::with_metadata(code, message, metadata)
}

/// Maps a status received from `addr` back to the error the node raised: exactly, from
/// [`ERROR_METADATA`], when the node sent it; otherwise from the transport failure behind
/// the status (a refused TLS handshake becomes [`NodeError::Tls`], a lost connection
/// [`NodeError::Unavailable`]) or from the gRPC code.
pub fn from_status(addr: &str, status: Status) -> NodeError {
    if let Some(wire) = status
        .metadata()
        .get_bin(ERROR_METADATA)
        .and_then(|v| v.to_bytes().ok())
        .and_then(|b| decode::<WireError>(&b, Limits::RECORD).ok())
    {
        return match wire {
            WireError::Invalid(m) => NodeError::Invalid(m),
            WireError::NoPeerOf(org) => NodeError::NoPeerOf(org),
            WireError::ChaincodeNotCommitted { name, channel } => NodeError::ChaincodeNotCommitted { name, channel },
            WireError::Divergence { block, detail } => NodeError::Divergence { block, detail },
            WireError::Enclave { kind, message } => NodeError::Enclave(EnclaveError::Failed { kind, message }),
            WireError::EnclaveProtocol(m) => NodeError::Enclave(EnclaveError::Protocol(m)),
            WireError::NotLeader { leader } => NodeError::NotLeader { leader },
            WireError::Unavailable(m) => NodeError::Unavailable(format!("{addr}: {m}")),
            WireError::Timeout(m) => NodeError::Timeout(format!("{addr}: {m}")),
            WireError::PermissionDenied(m) => NodeError::PermissionDenied(m),
            WireError::Remote(m) => NodeError::Remote(format!("{addr}: {m}")),
            WireError::Dissemination(m) => NodeError::Dissemination(m),
            WireError::EnclaveNotRegistered { node, enclave } => NodeError::EnclaveNotRegistered { node, enclave },
        };
    }
    let mut message = format!("{addr}: {}", status.message());
    if let Some(source) = std::error::Error::source(&status) {
        if let Some(tls) = tls_failure(source) {
            return NodeError::Tls { peer: addr.to_string(), message: tls };
        }
        // A transport failure: its sources say what happened (refused, reset, ...).
        message = format!("{addr}: {}", chain(source));
    }
    match status.code() {
        Code::Unavailable | Code::Cancelled | Code::Unknown => NodeError::Unavailable(message),
        Code::DeadlineExceeded => NodeError::Timeout(message),
        Code::PermissionDenied | Code::Unauthenticated => NodeError::PermissionDenied(message),
        Code::InvalidArgument => NodeError::Invalid(message),
        code => NodeError::Remote(format!("{message} ({code:?})")),
    }
}

/// The rustls error somewhere in an error's source chain, printed.
fn tls_failure(error: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut next = Some(error);
    while let Some(e) = next {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return Some(tls.to_string());
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            // tokio-rustls reports rustls errors as io::Errors wrapping them (and
            // io::Error's `source` skips the wrapped error itself).
            if let Some(tls) = io.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
                return Some(tls.to_string());
            }
            // With TLS 1.3 a server's refusal of our certificate arrives after our side of
            // the handshake completed, as an alert read with the first response; the I/O
            // error then carries only rustls' message.
            let text = io.to_string();
            if io.kind() == std::io::ErrorKind::InvalidData && text.starts_with("received fatal alert") {
                return Some(text);
            }
        }
        next = e.source();
    }
    None
}

/// An error and its sources, joined by `: `.
fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut out = error.to_string();
    let mut next = error.source();
    while let Some(e) = next {
        let s = e.to_string();
        if !out.contains(&s) {
            out.push_str(": ");
            out.push_str(&s);
        }
        next = e.source();
    }
    out
}
