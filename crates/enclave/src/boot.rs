//! What a separate enclave process is started with: the boot file.

use crate::enclave::EnclaveConfig;
use crate::platform::Platform;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::fs::{self, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use teechain_chaincode_runtime::ExecutionLimits;
use teechain_crypto::{SigningIdentity, SigningKey};
use teechain_types::codec::{decode, encode, DecodeError, Limits};
use zeroize::{Zeroize, Zeroizing};

/// Why a boot file could not be made, written, read or used.
#[derive(Debug, thiserror::Error)]
pub enum BootError {
    /// Reading or writing the file failed.
    #[error("cannot {op} enclave boot file {}: {source}", path.display())]
    Io {
        /// What was attempted (`write`, `read`).
        op: &'static str,
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The file's bytes are not an encoded [`EnclaveBoot`].
    #[error("enclave boot file {} does not decode: {source}", path.display())]
    Decode {
        /// The file.
        path: PathBuf,
        /// Why.
        source: DecodeError,
    },
    /// The signing key does not encode, decode, or belong to the certificate.
    #[error("enclave signing key: {0}")]
    Key(String),
    /// The execution limits do not fit this machine.
    #[error("enclave execution limits: {0}")]
    Limits(String),
}

/// Everything a separate enclave process (`teechain-enclave --boot FILE`) needs to become
/// the same enclave [`Enclave::new`](crate::Enclave::new) would make from an
/// [`EnclaveConfig`]. Stored canonically encoded, with mode 0600 since it holds a key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnclaveBoot {
    /// The platform the enclave runs on.
    pub platform: Platform,
    /// The channel it serves.
    pub channel: String,
    /// The channel's organisations and their CA certificates (DER).
    pub orgs: Vec<(String, Vec<u8>)>,
    /// Bounds on each chaincode call.
    pub limits: BootLimits,
    /// The identity endorsements are signed with.
    pub signer: BootSigner,
}

/// [`ExecutionLimits`] in a form with a fixed encoding (no `usize`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BootLimits {
    /// See [`ExecutionLimits::fuel`].
    pub fuel: u64,
    /// See [`ExecutionLimits::max_memory_bytes`].
    pub max_memory_bytes: u64,
    /// See [`ExecutionLimits::max_result_bytes`].
    pub max_result_bytes: u64,
    /// See [`ExecutionLimits::max_host_calls`].
    pub max_host_calls: u32,
}

/// The node's signing identity, handed to the enclave process.
///
/// Until the enclave makes its own signing key inside (a later step of the enclave work,
/// with the key's hash bound into its evidence), the host gives the enclave the node's
/// key through the boot file. So for now the host does see this key; the boot file is
/// written with mode 0600 and removed once the enclave has read it, and the key bytes
/// are wiped from memory when this value is dropped.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BootSigner {
    /// The organisation.
    pub org: String,
    /// The certificate (DER).
    pub cert_der: Vec<u8>,
    /// The Ed25519 private key, PKCS#8 DER.
    pub key_pkcs8: Vec<u8>,
}

impl fmt::Debug for BootSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BootSigner")
            .field("org", &self.org)
            .field("cert_der_len", &self.cert_der.len())
            .finish_non_exhaustive()
    }
}

impl Drop for BootSigner {
    fn drop(&mut self) {
        self.key_pkcs8.zeroize();
    }
}

impl EnclaveBoot {
    /// The boot description of the enclave `config` describes.
    pub fn from_config(config: &EnclaveConfig) -> Result<EnclaveBoot, BootError> {
        let key = config.signer.signing_key().to_pkcs8_der().map_err(|e| BootError::Key(e.to_string()))?;
        let limits = config.limits;
        Ok(EnclaveBoot {
            platform: config.platform,
            channel: config.channel.clone(),
            orgs: config.orgs.clone(),
            limits: BootLimits {
                fuel: limits.fuel,
                max_memory_bytes: limits.max_memory_bytes as u64,
                max_result_bytes: limits.max_result_bytes as u64,
                max_host_calls: limits.max_host_calls,
            },
            signer: BootSigner {
                org: config.signer.identity().org.clone(),
                cert_der: config.signer.identity().cert_der.clone(),
                key_pkcs8: key.as_bytes().to_vec(),
            },
        })
    }

    /// The configuration to start the enclave with. Checks that the key belongs to the
    /// certificate, so a mixed-up boot file fails here rather than as bad signatures.
    pub fn config(&self) -> Result<EnclaveConfig, BootError> {
        let key = SigningKey::from_pkcs8_der(&self.signer.key_pkcs8).map_err(|e| BootError::Key(e.to_string()))?;
        let cert_key = teechain_crypto::public_key_from_cert(&self.signer.cert_der)
            .map_err(|e| BootError::Key(format!("certificate: {e}")))?;
        if cert_key != key.verifying_key() {
            return Err(BootError::Key("the key does not belong to the certificate".into()));
        }
        let size = |what: &str, v: u64| {
            usize::try_from(v).map_err(|_| BootError::Limits(format!("{what} of {v} bytes does not fit this machine")))
        };
        let limits = ExecutionLimits {
            fuel: self.limits.fuel,
            max_memory_bytes: size("memory limit", self.limits.max_memory_bytes)?,
            max_result_bytes: size("result limit", self.limits.max_result_bytes)?,
            max_host_calls: self.limits.max_host_calls,
        };
        Ok(EnclaveConfig {
            platform: self.platform,
            channel: self.channel.clone(),
            orgs: self.orgs.clone(),
            signer: SigningIdentity::from_parts(&self.signer.org, self.signer.cert_der.clone(), key),
            limits,
        })
    }

    /// Writes the boot file, readable and writable by the owner only. An existing file is
    /// replaced (by a new file, so its old permissions do not carry over).
    pub fn write(&self, path: &Path) -> Result<(), BootError> {
        let io = |source| BootError::Io { op: "write", path: path.to_path_buf(), source };
        let bytes = Zeroizing::new(encode(self));
        match fs::remove_file(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io(e)),
            _ => {}
        }
        let mut file = OpenOptions::new().write(true).create_new(true).mode(0o600).open(path).map_err(io)?;
        file.write_all(&bytes).map_err(io)?;
        file.sync_all().map_err(io)
    }

    /// Reads a boot file written by [`write`](Self::write).
    pub fn read(path: &Path) -> Result<EnclaveBoot, BootError> {
        let io = |source| BootError::Io { op: "read", path: path.to_path_buf(), source };
        let limits = Limits::RECORD;
        let mut bytes = Zeroizing::new(Vec::new());
        // One byte past the limit is enough for `decode` to refuse an oversized file
        // without reading all of it.
        fs::File::open(path).map_err(io)?.take(limits.max_bytes as u64 + 1).read_to_end(&mut bytes).map_err(io)?;
        decode(&bytes, limits).map_err(|source| BootError::Decode { path: path.to_path_buf(), source })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::TestNet;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn boot_file_round_trips_with_owner_only_permissions() {
        let net = TestNet::new();
        let config = net.config("org1");
        let boot = EnclaveBoot::from_config(&config).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("enclave.boot");
        fs::write(&path, b"old").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        boot.write(&path).unwrap();
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        let read = EnclaveBoot::read(&path).unwrap();
        assert_eq!(read, boot);
        let back = read.config().unwrap();
        assert_eq!(back.signer.identity(), config.signer.identity());
        assert_eq!(back.signer.public_key(), config.signer.public_key());
        assert_eq!(back.limits, config.limits);
        assert_eq!((back.platform, &back.channel, &back.orgs), (config.platform, &config.channel, &config.orgs));
        assert!(!format!("{boot:?}").contains("key_pkcs8"));
    }

    #[test]
    fn a_key_of_another_certificate_is_refused() {
        let net = TestNet::new();
        let mut boot = EnclaveBoot::from_config(&net.config("org1")).unwrap();
        boot.signer.cert_der =
            net.identity("org2", "someone", teechain_types::identity::Role::Peer).identity().cert_der.clone();
        assert!(matches!(boot.config(), Err(BootError::Key(_))));
        boot.signer.key_pkcs8 = vec![1, 2, 3];
        assert!(matches!(boot.config(), Err(BootError::Key(_))));
    }

    #[test]
    fn a_garbage_boot_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("enclave.boot");
        fs::write(&path, b"\x01garbage").unwrap();
        assert!(matches!(EnclaveBoot::read(&path), Err(BootError::Decode { .. })));
        assert!(matches!(EnclaveBoot::read(&dir.path().join("missing")), Err(BootError::Io { .. })));
    }
}
