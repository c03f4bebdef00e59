use std::path::PathBuf;
use teechain_enclave::EnclaveError;
use teechain_ledger::LedgerError;

/// Why a node operation failed.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The node's enclave is not registered on the channel, so its endorsements would
    /// be invalid.
    #[error(
        "the enclave of {node} ({enclave}) is not registered on the channel; an admin of its organisation \
         registers it with `teechain enclave register` (`teechain network up` does it for local networks)"
    )]
    EnclaveNotRegistered {
        /// The node.
        node: String,
        /// The enclave id (hex).
        enclave: String,
    },
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The failure.
        source: std::io::Error,
    },
    /// A config file is malformed.
    #[error("{path}: {message}")]
    Config {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// `network init` would overwrite an existing network.
    #[error("{0} already holds a network; refusing to overwrite it (choose another --dir or delete it)")]
    AlreadyInitialised(PathBuf),
    /// Key or certificate handling failed.
    #[error("crypto: {0}")]
    Crypto(#[from] teechain_crypto::CryptoError),
    /// The ledger failed.
    #[error("ledger: {0}")]
    Ledger(#[from] LedgerError),
    /// The enclave refused or failed.
    #[error(transparent)]
    Enclave(#[from] EnclaveError),
    /// No node of a needed organisation is in the network.
    #[error("no node of organisation '{0}' in this network")]
    NoPeerOf(String),
    /// The chaincode is not committed on the channel.
    #[error("chaincode '{name}' is not committed on channel '{channel}' (deploy it first)")]
    ChaincodeNotCommitted {
        /// Chaincode.
        name: String,
        /// Channel.
        channel: String,
    },
    /// Peers disagree on the outcome of a block: a determinism bug; stop rather than fork.
    #[error("peers disagree on block {block}: {detail}")]
    Divergence {
        /// Block number.
        block: u64,
        /// What differs.
        detail: String,
    },
    /// Something else about the request is wrong.
    #[error("{0}")]
    Invalid(String),
    /// This node is not the Raft leader and could not hand the request on. Retryable: ask
    /// `leader` (its gateway address, when known) or another node.
    #[error("this node is not the leader{}", leader.as_deref().map(|l| format!(" (the leader is {l})")).unwrap_or_default())]
    NotLeader {
        /// The leader's gateway address, when this node knows it.
        leader: Option<String>,
    },
    /// A node could not be reached, dropped the connection, or is shutting down or
    /// overloaded. Retryable, on the same node later or on another one.
    #[error("node unavailable: {0}")]
    Unavailable(String),
    /// A deadline passed before the node answered. Retryable with care: the request may
    /// still take effect (a submitted transaction may yet commit; ask its commit status).
    #[error("timed out: {0}")]
    Timeout(String),
    /// The TLS handshake failed: a certificate did not chain to the channel's CAs, was
    /// missing, or names another host. Fatal: retrying does not change certificates.
    #[error("TLS with {peer} failed: {message}")]
    Tls {
        /// The remote address.
        peer: String,
        /// What rustls reported.
        message: String,
    },
    /// The node refused the caller: its certificate lacks the role the service requires
    /// (the peer service admits only peer certificates).
    #[error("permission denied: {0}")]
    PermissionDenied(String),
    /// Private data could not reach enough member nodes (`requiredPeerCount`): the
    /// endorsement is withheld, since the data could be lost with this node.
    #[error("private data dissemination failed: {0}")]
    Dissemination(String),
    /// The remote node failed in a way that does not cross the wire as a typed error
    /// (its storage, files or keys); its message is kept.
    #[error("remote node failed: {0}")]
    Remote(String),
    /// The RPC itself went wrong: a reply did not decode, or broke the protocol.
    #[error("rpc: {0}")]
    Rpc(String),
    /// A listener could not be opened.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address.
        addr: std::net::SocketAddr,
        /// The failure.
        source: std::io::Error,
    },
}

impl NodeError {
    /// True when the enclave lacked a key that the key keepers are distributing (or
    /// granting): the same request is worth repeating shortly.
    pub fn is_key_unavailable(&self) -> bool {
        matches!(self, NodeError::Enclave(e) if e.kind() == Some(teechain_enclave::protocol::FailureKind::KeyUnavailable))
    }

    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> NodeError {
        let path = path.into();
        move |source| NodeError::Io { path, source }
    }
}
