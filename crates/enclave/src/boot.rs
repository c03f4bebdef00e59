//! What a separate enclave process is started with: the boot file.

use crate::enclave::EnclaveConfig;
use crate::platform::Platform;
use serde::{Deserialize, Serialize};
use std::fs::{self, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use teechain_attestation::AttestationPolicy;
use teechain_chaincode_runtime::ExecutionLimits;
use teechain_types::codec::{decode, encode, DecodeError, Limits};
use zeroize::Zeroizing;

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
    /// A path cannot be carried in the boot file.
    #[error("enclave boot path: {0}")]
    Path(String),
    /// The execution limits do not fit this machine.
    #[error("enclave execution limits: {0}")]
    Limits(String),
}

/// Everything a separate enclave process (`teechain-enclave --boot FILE`) needs to become
/// the same enclave [`Enclave::new`](crate::Enclave::new) would make from an
/// [`EnclaveConfig`]. It holds no secret (the enclave makes its keys itself); it is still
/// written with mode 0600, as it says where the sealed state lives.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnclaveBoot {
    /// The platform the enclave runs on.
    pub platform: Platform,
    /// The channel it serves.
    pub channel: String,
    /// The organisation of the node it serves.
    pub org: String,
    /// The channel's organisations and their CA certificates (DER).
    pub orgs: Vec<(String, Vec<u8>)>,
    /// Bounds on each chaincode call.
    pub limits: BootLimits,
    /// See [`EnclaveConfig::sealed_dir`].
    pub sealed_dir: Option<String>,
    /// See [`EnclaveConfig::virtual_platform_key`].
    pub virtual_platform_key: Option<String>,
    /// See [`EnclaveConfig::attestation`].
    pub attestation: AttestationPolicy,
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

impl EnclaveBoot {
    /// The boot description of the enclave `config` describes.
    pub fn from_config(config: &EnclaveConfig) -> Result<EnclaveBoot, BootError> {
        let limits = config.limits;
        let path = |p: &Option<PathBuf>| -> Result<Option<String>, BootError> {
            p.as_ref()
                .map(|p| {
                    p.to_str()
                        .map(str::to_string)
                        .ok_or_else(|| BootError::Path(format!("{} is not UTF-8", p.display())))
                })
                .transpose()
        };
        Ok(EnclaveBoot {
            platform: config.platform,
            channel: config.channel.clone(),
            org: config.org.clone(),
            orgs: config.orgs.clone(),
            limits: BootLimits {
                fuel: limits.fuel,
                max_memory_bytes: limits.max_memory_bytes as u64,
                max_result_bytes: limits.max_result_bytes as u64,
                max_host_calls: limits.max_host_calls,
            },
            sealed_dir: path(&config.sealed_dir)?,
            virtual_platform_key: path(&config.virtual_platform_key)?,
            attestation: config.attestation.clone(),
        })
    }

    /// The configuration to start the enclave with.
    pub fn config(&self) -> Result<EnclaveConfig, BootError> {
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
            org: self.org.clone(),
            orgs: self.orgs.clone(),
            limits,
            sealed_dir: self.sealed_dir.as_ref().map(PathBuf::from),
            virtual_platform_key: self.virtual_platform_key.as_ref().map(PathBuf::from),
            attestation: self.attestation.clone(),
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
        let mut config = net.config("org1");
        config.sealed_dir = Some("/some/where".into());
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
        assert_eq!(back.limits, config.limits);
        assert_eq!(
            (back.platform, &back.channel, &back.org, &back.orgs, &back.sealed_dir, &back.virtual_platform_key),
            (
                config.platform,
                &config.channel,
                &config.org,
                &config.orgs,
                &config.sealed_dir,
                &config.virtual_platform_key
            )
        );
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
