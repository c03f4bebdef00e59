//! The host's typed view of an enclave.

use crate::boot::EnclaveBoot;
use crate::enclave::Enclave;
use crate::process::{EnclaveCommand, EnclaveProcess, SocketClient};
use crate::protocol::{EnclaveInfo, EnclaveRequest, EnclaveResponse, Endorsed, FailureKind, Host};
use crate::transport::EnclaveAddress;
use std::path::Path;
use teechain_types::chaincode::ChaincodeResponse;
use teechain_types::codec::{decode, encode, Limits};
use teechain_types::enclave::RegisteredEnclave;
use teechain_types::keys::{KeyDistribution, KeyScope};
use teechain_types::tx::SignedProposal;
use teechain_types::Hash32;

/// Why an enclave call failed, as the host sees it.
#[derive(Debug, thiserror::Error)]
pub enum EnclaveError {
    /// The enclave answered with a failure.
    #[error("{message}")]
    Failed {
        /// Kind of failure.
        kind: FailureKind,
        /// The enclave's reason.
        message: String,
    },
    /// The enclave's answer did not decode or did not fit the request.
    #[error("enclave protocol error: {0}")]
    Protocol(String),
    /// The enclave cannot be reached: its process is not running, not listening, broke
    /// the connection or did not answer in time.
    #[error("enclave unavailable: {0}")]
    Unavailable(String),
}

impl EnclaveError {
    /// The failure kind, if the enclave reported one.
    pub fn kind(&self) -> Option<FailureKind> {
        match self {
            EnclaveError::Failed { kind, .. } => Some(*kind),
            EnclaveError::Protocol(_) | EnclaveError::Unavailable(_) => None,
        }
    }
}

/// The host's handle on its enclave, in this process or in a separate one behind a Unix
/// socket; the calls are the same either way, and so are the bytes the enclave sees.
/// Calls may be made from many threads at once.
pub struct EnclaveHandle {
    pub(crate) backend: Backend,
}

/// Where the enclave runs.
pub(crate) enum Backend {
    /// In this process.
    InProcess(Box<Enclave>),
    /// In another process, reached through its socket.
    Socket(SocketClient),
}

impl std::fmt::Debug for EnclaveHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.backend {
            Backend::InProcess(_) => f.write_str("EnclaveHandle(in process)"),
            Backend::Socket(client) => write!(f, "EnclaveHandle(process at {})", client.address()),
        }
    }
}

// The node shares one handle between its request threads.
const _: () = {
    const fn send_and_sync<T: Send + Sync>() {}
    send_and_sync::<EnclaveHandle>()
};

/// A host for calls that read no state.
struct NoState;

impl Host for NoState {
    fn ocall(&self, _request: &[u8]) -> Vec<u8> {
        encode(&crate::protocol::HostReply::Error("this call has no state access".into()))
    }
}

impl EnclaveHandle {
    /// Wraps an enclave running in this process.
    pub fn in_process(enclave: Enclave) -> EnclaveHandle {
        EnclaveHandle { backend: Backend::InProcess(Box::new(enclave)) }
    }

    /// Connects to an enclave process listening at `address` (see
    /// [`serve`](crate::process::serve)). Fails with [`EnclaveError::Unavailable`] when
    /// nothing accepts there.
    pub fn connect(address: &EnclaveAddress) -> Result<EnclaveHandle, EnclaveError> {
        Ok(EnclaveHandle { backend: Backend::Socket(SocketClient::connect(address)?) })
    }

    /// Starts the enclave binary `exe` (`teechain-enclave`) on `boot`, with its boot file
    /// and socket in `dir` (which should be private to this user), waits until it accepts
    /// connections, and connects to it. The boot file is removed once the enclave has
    /// read it. The returned guard kills the process when dropped.
    pub fn spawn_process(
        exe: &Path,
        boot: &EnclaveBoot,
        dir: &Path,
    ) -> Result<(EnclaveHandle, EnclaveProcess), EnclaveError> {
        EnclaveHandle::spawn(&EnclaveCommand::new(exe), boot, dir)
    }

    /// As [`EnclaveHandle::spawn_process`], with a transport and launcher of choice
    /// (loopback TCP under `gramine-sgx`, for SGX).
    pub fn spawn(
        command: &EnclaveCommand,
        boot: &EnclaveBoot,
        dir: &Path,
    ) -> Result<(EnclaveHandle, EnclaveProcess), EnclaveError> {
        let (client, process) = crate::process::spawn(command, boot, dir)?;
        Ok((EnclaveHandle { backend: Backend::Socket(client) }, process))
    }

    /// Where the enclave process listens, or `None` for an enclave in this process.
    pub fn address(&self) -> Option<&EnclaveAddress> {
        match &self.backend {
            Backend::InProcess(_) => None,
            Backend::Socket(client) => Some(client.address()),
        }
    }

    fn call(&self, request: &EnclaveRequest, host: &dyn Host) -> Result<EnclaveResponse, EnclaveError> {
        let bytes = match &self.backend {
            Backend::InProcess(enclave) => enclave.ecall(&encode(request), host),
            Backend::Socket(client) => client.ecall(&encode(request), host)?,
        };
        match decode::<EnclaveResponse>(&bytes, Limits::TRANSACTION) {
            Ok(EnclaveResponse::Failed { kind, message }) => Err(EnclaveError::Failed { kind, message }),
            Ok(r) => Ok(r),
            Err(e) => Err(EnclaveError::Protocol(e.to_string())),
        }
    }

    /// Describes the enclave.
    pub fn info(&self) -> Result<EnclaveInfo, EnclaveError> {
        match self.call(&EnclaveRequest::Info, &NoState)? {
            EnclaveResponse::Info(i) => Ok(i),
            other => Err(EnclaveError::Protocol(format!("unexpected answer to Info: {other:?}"))),
        }
    }

    /// Installs a chaincode package; returns its code hash.
    pub fn install(&self, wasm: Vec<u8>) -> Result<Hash32, EnclaveError> {
        match self.call(&EnclaveRequest::InstallChaincode { wasm }, &NoState)? {
            EnclaveResponse::Installed { code_hash } => Ok(code_hash),
            _ => Err(EnclaveError::Protocol("unexpected answer to InstallChaincode".into())),
        }
    }

    /// Executes and endorses a proposal: the signed response and, separately, the private
    /// data behind its hashed private writes (for member nodes only).
    pub fn endorse(
        &self,
        host: &dyn Host,
        proposal: SignedProposal,
        transient: Vec<(String, Vec<u8>)>,
    ) -> Result<Endorsed, EnclaveError> {
        match self.call(&EnclaveRequest::Endorse { proposal, transient }, host)? {
            EnclaveResponse::Endorsed(r) => Ok(*r),
            _ => Err(EnclaveError::Protocol("unexpected answer to Endorse".into())),
        }
    }

    /// Makes epoch `epoch` of a key inside the enclave, wrapped to `recipients`.
    pub fn make_key(
        &self,
        host: &dyn Host,
        scope: KeyScope,
        epoch: u32,
        recipients: Vec<RegisteredEnclave>,
    ) -> Result<KeyDistribution, EnclaveError> {
        match self.call(&EnclaveRequest::MakeKey { scope, epoch, recipients }, host)? {
            EnclaveResponse::KeyDistribution(d) => Ok(d),
            _ => Err(EnclaveError::Protocol("unexpected answer to MakeKey".into())),
        }
    }

    /// Checks the enclave's sealed state against the ledger (see
    /// [`EnclaveRequest::CheckSealedState`]); an error if it was rolled back.
    pub fn check_sealed_state(&self, host: &dyn Host) -> Result<(), EnclaveError> {
        match self.call(&EnclaveRequest::CheckSealedState, host)? {
            EnclaveResponse::SealedStateFresh { .. } => Ok(()),
            _ => Err(EnclaveError::Protocol("unexpected answer to CheckSealedState".into())),
        }
    }

    /// Wraps a key the enclave holds to more enclaves.
    pub fn grant_key(
        &self,
        host: &dyn Host,
        scope: KeyScope,
        epoch: u32,
        recipients: Vec<RegisteredEnclave>,
    ) -> Result<KeyDistribution, EnclaveError> {
        match self.call(&EnclaveRequest::GrantKey { scope, epoch, recipients }, host)? {
            EnclaveResponse::KeyDistribution(d) => Ok(d),
            _ => Err(EnclaveError::Protocol("unexpected answer to GrantKey".into())),
        }
    }

    /// Executes a proposal as a query.
    pub fn evaluate(
        &self,
        host: &dyn Host,
        proposal: SignedProposal,
        transient: Vec<(String, Vec<u8>)>,
    ) -> Result<ChaincodeResponse, EnclaveError> {
        match self.call(&EnclaveRequest::Evaluate { proposal, transient }, host)? {
            EnclaveResponse::Evaluated(r) => Ok(r),
            _ => Err(EnclaveError::Protocol("unexpected answer to Evaluate".into())),
        }
    }
}
