use std::path::PathBuf;
use teechain_enclave::EnclaveError;
use teechain_ledger::LedgerError;

/// Why a node operation failed.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
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
    #[error("{0}")]
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
}

impl NodeError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> NodeError {
        let path = path.into();
        move |source| NodeError::Io { path, source }
    }
}
