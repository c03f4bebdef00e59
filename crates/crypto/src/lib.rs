//! TEEChain's cryptography: Ed25519 signatures, batch verification, X.509 certificates,
//! the membership service provider (MSP), and encryption for confidential data: HPKE
//! (RFC 9180) and AES-256-GCM.
//!
//! - [`SigningIdentity`] is an [`Identity`](teechain_types::Identity) (organisation and
//!   certificate) with its Ed25519 key; it signs. [`verify`] checks one signature with
//!   strict semantics; [`BatchVerifier`] checks many at once (see its docs for how the two
//!   relate).
//! - [`Msp`] is a channel's membership: one CA certificate per organisation. It validates
//!   identities (issuer, signature, key type, role OU) and caches the verdicts, so the hot
//!   path pays one SHA-256 per identity.
//! - [`OrgCa`] issues certificates for an organisation (rcgen, Ed25519): a self-signed CA and
//!   leaf certificates whose single role OU (`admin`, `client`, `peer`) is what endorsement
//!   policies match. Keys are PKCS#8 PEM; [`write_secret`] stores them with mode 0600.
//! - [`hpke_seal`] / [`hpke_open`] encrypt to an X25519 public key ([`HpkePublicKey`],
//!   [`HpkeSecretKey`]) with HPKE in base mode, one fixed suite: DHKEM(X25519, HKDF-SHA256),
//!   HKDF-SHA256, AES-256-GCM.
//! - [`DataKey`] is an AES-256-GCM key for bulk data, with deterministic nonces
//!   ([`DataKey::derive_nonce`]); [`derive_key`] derives keys with HKDF-SHA256 under a domain
//!   tag. Secret keys are zeroed when dropped and never shown by `Debug`.
//!
//! Every certificate and signature here is Ed25519. Nothing panics on external input.

mod aead;
mod ca;
mod cert;
mod hpke;
mod msp;
pub mod padding;
mod sign;

pub use aead::{derive_key, DataKey};
pub use ca::{write_secret, IssuedIdentity, OrgCa};
pub use cert::{parse_cert_pem, public_key_from_cert};
pub use ed25519_dalek::{SigningKey, VerifyingKey};
pub use hpke::{hpke_open, hpke_seal, hpke_seal_derived, HpkeCiphertext, HpkePublicKey, HpkeSecretKey};
pub use msp::{Msp, VerifiedIdentity, DEFAULT_CACHE_CAPACITY, MAX_CERT_LEN};
pub use sign::{verify, BatchVerifier, SigningIdentity};

/// Everything that can go wrong in this crate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// Reading or writing a file failed.
    #[error("cannot {op} {path}: {message}")]
    Io {
        /// What was attempted (`read`, `create`, `write`).
        op: &'static str,
        /// The file.
        path: String,
        /// The operating system's message.
        message: String,
    },
    /// [`write_secret`] found the file already present and left it alone.
    #[error("refusing to overwrite existing secret file {path}")]
    SecretExists {
        /// The file.
        path: String,
    },
    /// PEM text did not parse, or held a block of the wrong kind.
    #[error("invalid PEM ({what}): {message}")]
    Pem {
        /// What the PEM should have held, e.g. `certificate`.
        what: String,
        /// What was wrong.
        message: String,
    },
    /// A private key did not parse as an Ed25519 PKCS#8 key.
    #[error("invalid private key ({what}): {message}")]
    Key {
        /// Which key, e.g. a file name or `CA key of org1`.
        what: String,
        /// What was wrong.
        message: String,
    },
    /// A private key does not belong to the certificate it was paired with.
    #[error("private key does not match the certificate ({what})")]
    KeyMismatch {
        /// Which pair, e.g. a file name or `CA of org1`.
        what: String,
    },
    /// The identity names an organisation that is not a member of the channel.
    #[error("unknown organisation '{org}'")]
    UnknownOrg {
        /// The claimed organisation.
        org: String,
    },
    /// A certificate did not parse, or is malformed or unusable as an identity
    /// (not Ed25519, no or several role OUs, no common name, a CA certificate, an
    /// unknown critical extension).
    #[error("invalid certificate for org '{org}': {message}")]
    InvalidCertificate {
        /// The claimed organisation (empty when there is no claim).
        org: String,
        /// What was wrong.
        message: String,
    },
    /// A certificate was not issued by the CA of the organisation it claims: the issuer
    /// name differs from the CA's subject, or the CA's signature does not verify.
    #[error("certificate not issued by the CA of org '{org}': {message}")]
    NotIssuedBy {
        /// The claimed organisation.
        org: String,
        /// What did not match.
        message: String,
    },
    /// A CA certificate (MSP configuration or [`OrgCa::load`]) is unusable.
    #[error("invalid CA certificate for org '{org}': {message}")]
    InvalidCa {
        /// The organisation whose CA it is.
        org: String,
        /// What was wrong.
        message: String,
    },
    /// An organisation name is empty or has characters a policy principal cannot name.
    #[error("invalid organisation name '{org}': use letters, digits, '.', '-' and '_'")]
    InvalidOrgName {
        /// The name.
        org: String,
    },
    /// The same organisation appears twice in the MSP configuration.
    #[error("organisation '{org}' is listed twice")]
    DuplicateOrg {
        /// The organisation.
        org: String,
    },
    /// A signature did not verify (strict Ed25519 verification).
    #[error("invalid signature")]
    BadSignature,
    /// A batch of signatures did not verify: at least one of them is invalid. Verify them
    /// one by one ([`BatchVerifier::verify_each`]) to find which.
    #[error("batch of {len} signatures failed verification")]
    BatchFailed {
        /// Number of signatures in the batch.
        len: usize,
    },
    /// Certificate or key generation failed.
    #[error("cannot issue {what}: {message}")]
    Issue {
        /// What was being issued, e.g. `certificate 'peer0' for org1`.
        what: String,
        /// Why.
        message: String,
    },
    /// Authenticated decryption (AES-256-GCM or HPKE) failed. Deliberately vague: a wrong
    /// key, nonce, AAD or `info`, and altered or truncated data all look the same.
    #[error("cannot decrypt {what}: wrong key or tampered data")]
    Decrypt {
        /// What was being decrypted, e.g. `HPKE ciphertext`.
        what: String,
    },
    /// HPKE encryption failed: the recipient's public key is unusable (a low-order X25519
    /// point).
    #[error("HPKE: {message}")]
    Hpke {
        /// What went wrong.
        message: String,
    },
}

/// Whether `org` is usable as an organisation name: non-empty ASCII letters, digits, `.`,
/// `-` and `_`, the characters an endorsement-policy principal can name.
pub fn is_valid_org_name(org: &str) -> bool {
    !org.is_empty() && org.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn org_names() {
        assert!(is_valid_org_name("org1"));
        assert!(is_valid_org_name("Org1MSP"));
        assert!(is_valid_org_name("org1.example-com_x"));
        assert!(!is_valid_org_name(""));
        assert!(!is_valid_org_name("org 1"));
        assert!(!is_valid_org_name("org'1"));
    }

    #[test]
    fn errors_are_send_sync_and_display() {
        fn assert_send_sync<T: Send + Sync + std::error::Error>() {}
        assert_send_sync::<CryptoError>();
        let e = CryptoError::UnknownOrg { org: "orgX".into() };
        assert_eq!(e.to_string(), "unknown organisation 'orgX'");
    }
}
