//! The host's typed view of an enclave.

use crate::enclave::Enclave;
use crate::protocol::{EnclaveInfo, EnclaveRequest, EnclaveResponse, Endorsed, FailureKind, Host};
use teechain_types::chaincode::ChaincodeResponse;
use teechain_types::codec::{decode, encode, Limits};
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
}

impl EnclaveError {
    /// The failure kind, if the enclave reported one.
    pub fn kind(&self) -> Option<FailureKind> {
        match self {
            EnclaveError::Failed { kind, .. } => Some(*kind),
            EnclaveError::Protocol(_) => None,
        }
    }
}

/// The host's handle on its enclave. In-process today; the same calls will go over a
/// socket to a separate enclave process.
pub struct EnclaveHandle {
    enclave: Enclave,
}

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
        EnclaveHandle { enclave }
    }

    fn call(&self, request: &EnclaveRequest, host: &dyn Host) -> Result<EnclaveResponse, EnclaveError> {
        let bytes = self.enclave.ecall(&encode(request), host);
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
