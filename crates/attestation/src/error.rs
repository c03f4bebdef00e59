//! The one error type of this crate.

use crate::sgx::TcbStatus;
use crate::Platform;

/// Why evidence was refused, or a platform key could not be loaded.
///
/// Every variant that refuses evidence says which check failed, so an operator
/// registering an enclave learns what to fix (the measurement list, the TCB policy, the
/// platform's firmware) rather than only that something is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AttestationError {
    /// The policy does not admit this platform at all (e.g. virtual evidence on a
    /// channel that allows only SGX).
    #[error("platform {platform} is not allowed by the attestation policy")]
    PlatformNotAllowed {
        /// The evidence's platform.
        platform: Platform,
    },
    /// The evidence bytes did not decode as the platform's evidence.
    #[error("malformed {platform} evidence: {message}")]
    MalformedEvidence {
        /// The platform the evidence claimed.
        platform: Platform,
        /// What was wrong.
        message: String,
    },
    /// The report data bound by the enclave is not the one the verifier expected: the
    /// evidence was made for other keys or another channel.
    #[error("report data mismatch: expected {expected}, evidence binds {found}")]
    ReportDataMismatch {
        /// The expected report data (hex).
        expected: String,
        /// The report data in the evidence (hex).
        found: String,
    },

    /// The SGX quote could not be parsed.
    #[error("malformed SGX quote: {message}")]
    MalformedQuote {
        /// The parser's message.
        message: String,
    },
    /// The quote is a valid DCAP quote, but not of an SGX enclave (e.g. a TDX quote).
    #[error("not an SGX quote (TEE type {tee_type:#x})")]
    NotSgxQuote {
        /// The quote header's TEE type.
        tee_type: u32,
    },
    /// DCAP verification failed: a signature, certificate chain, CRL, collateral
    /// validity window or TCB matching check. The message is the verifier's, with its
    /// causes.
    #[error("SGX quote rejected: {message}")]
    QuoteRejected {
        /// The verifier's message.
        message: String,
    },
    /// The quote declares a debug enclave, whose memory a debugger can read, and the
    /// policy does not allow debug enclaves.
    #[error("debug enclave refused: its memory is readable by the host (policy: allow_debug = false)")]
    DebugEnclave,
    /// The platform's TCB status is not UpToDate and the policy does not accept it.
    #[error("TCB status {status} is not accepted by the policy (advisories: {})", advisories(.advisory_ids))]
    TcbStatusNotAccepted {
        /// The TCB status of the platform (converged with the quoting enclave's).
        status: TcbStatus,
        /// Intel security advisories that apply to the platform.
        advisory_ids: Vec<String>,
    },
    /// The enclave's identity is not one the policy allows.
    #[error("enclave measurement not allowed by the policy: {identity}")]
    MeasurementNotAllowed {
        /// The enclave's identity as reported (measurement, and for SGX signer, product
        /// and SVN).
        identity: String,
    },

    /// Virtual evidence signed by a platform key the verifier does not trust.
    #[error("virtual platform key {key} is not trusted")]
    UntrustedPlatformKey {
        /// The key (hex).
        key: String,
    },
    /// Virtual evidence names a byte string that is not an Ed25519 public key.
    #[error("invalid virtual platform key {key}")]
    InvalidPlatformKey {
        /// The key (hex).
        key: String,
    },
    /// The virtual evidence's signature does not verify.
    #[error("virtual evidence signature does not verify")]
    BadSignature,

    /// Reading or writing a platform key file failed.
    #[error("cannot {op} {path}: {message}")]
    Io {
        /// What was attempted (`read`, `create`, `write`).
        op: &'static str,
        /// The file.
        path: String,
        /// The operating system's message.
        message: String,
    },
    /// A platform key file did not hold an Ed25519 PKCS#8 PEM key.
    #[error("invalid platform key file {path}: {message}")]
    InvalidKeyFile {
        /// The file.
        path: String,
        /// What was wrong.
        message: String,
    },
    /// A platform key file is readable or writable by others than its owner.
    #[error("platform key file {path} has mode {mode:o}; it must be 600 (chmod 600 {path})")]
    KeyFilePermissions {
        /// The file.
        path: String,
        /// Its permission bits.
        mode: u32,
    },
}

fn advisories(ids: &[String]) -> String {
    if ids.is_empty() {
        "none".to_string()
    } else {
        ids.join(", ")
    }
}
