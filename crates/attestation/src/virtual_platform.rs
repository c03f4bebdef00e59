//! The virtual platform: software "attestation" for development and CI. INSECURE.
//!
//! A per-machine platform key (Ed25519) stands in for the CPU's attestation key: it signs
//! an enclave's measurement and report data. Nothing isolates the enclave from its host,
//! and whoever can read the key file can sign anything; the evidence shows only that
//! some holder of a trusted platform key vouched for the enclave. Every `Display` here
//! says so.

use crate::{AttestationError, ReportData};
use ed25519_dalek::pkcs8::{spki::der::pem::LineEnding, DecodePrivateKey, EncodePrivateKey};
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::path::Path;
use teechain_crypto::CryptoError;
use teechain_types::hash::{fixed_bytes, Signature};
use teechain_types::Hash32;

/// Domain separation for what a platform key signs: its signatures can never be taken
/// for signatures of anything else the same key might sign.
const SIGNING_DOMAIN: &[u8] = b"teechain/attestation/virtual-evidence/v1";

/// The words every display of virtual evidence carries.
pub const INSECURE_NOTICE: &str = "INSECURE: virtual platform, software only, no hardware isolation";

/// A virtual platform's public key (Ed25519, 32 bytes).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PlatformPublicKey(pub [u8; 32]);

impl PlatformPublicKey {
    /// Lower-case hex.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses 64 hex digits (as printed by [`Display`](fmt::Display)), e.g. from a config file.
    pub fn from_hex(s: &str) -> Option<Self> {
        Some(PlatformPublicKey(hex::decode(s).ok()?.try_into().ok()?))
    }
}

impl fmt::Debug for PlatformPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PlatformPublicKey({})", hex::encode(&self.0[..8]))
    }
}

impl fmt::Display for PlatformPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl Serialize for PlatformPublicKey {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        fixed_bytes::serialize(&self.0, s)
    }
}

impl<'de> Deserialize<'de> for PlatformPublicKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        fixed_bytes::deserialize(d).map(PlatformPublicKey)
    }
}

/// Evidence from the virtual platform: the platform key's signature over an enclave's
/// measurement and report data. Carried, canonically encoded, in
/// [`Evidence::data`](crate::Evidence).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VirtualEvidence {
    /// The signing platform's key.
    pub platform_public_key: PlatformPublicKey,
    /// The enclave's measurement (for the virtual platform, whatever the enclave
    /// reports about its own code; nothing checks it).
    pub measurement: Hash32,
    /// The 64 bytes the enclave binds (see [`report_data`](crate::report_data)).
    #[serde(with = "fixed_bytes")]
    pub report_data: ReportData,
    /// Ed25519 signature by `platform_public_key`.
    pub signature: Signature,
}

impl fmt::Display for VirtualEvidence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "virtual evidence, measurement {}, platform key {} ({INSECURE_NOTICE})",
            self.measurement, self.platform_public_key
        )
    }
}

/// What verified virtual evidence says. INSECURE: see the module docs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VirtualReport {
    /// The platform key that signed.
    pub platform_public_key: PlatformPublicKey,
    /// The enclave's claimed measurement.
    pub measurement: Hash32,
    /// The report data the enclave bound.
    #[serde(with = "fixed_bytes")]
    pub report_data: ReportData,
}

impl fmt::Display for VirtualReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "virtual enclave, measurement {}, platform key {} ({INSECURE_NOTICE})",
            self.measurement, self.platform_public_key
        )
    }
}

/// What the virtual platform's signature covers: fixed-length fields after a domain
/// tag, so the concatenation is unambiguous.
fn signed_message(measurement: &Hash32, report_data: &ReportData) -> Vec<u8> {
    let mut msg = Vec::with_capacity(SIGNING_DOMAIN.len() + 32 + 64);
    msg.extend_from_slice(SIGNING_DOMAIN);
    msg.extend_from_slice(&measurement.0);
    msg.extend_from_slice(report_data);
    msg
}

/// Verifies virtual evidence: the platform key must be one of `trusted_platform_keys`
/// and its signature must verify (strict Ed25519). Measurement and report data are
/// returned for the caller to judge.
pub fn verify_virtual(
    evidence: &VirtualEvidence,
    trusted_platform_keys: &[PlatformPublicKey],
) -> Result<VirtualReport, AttestationError> {
    let key = evidence.platform_public_key;
    if !trusted_platform_keys.contains(&key) {
        return Err(AttestationError::UntrustedPlatformKey { key: key.to_hex() });
    }
    let verifying_key =
        VerifyingKey::from_bytes(&key.0).map_err(|_| AttestationError::InvalidPlatformKey { key: key.to_hex() })?;
    teechain_crypto::verify(
        &verifying_key,
        &signed_message(&evidence.measurement, &evidence.report_data),
        &evidence.signature,
    )
    .map_err(|_| AttestationError::BadSignature)?;
    Ok(VirtualReport { platform_public_key: key, measurement: evidence.measurement, report_data: evidence.report_data })
}

/// A virtual platform's signing key: one per machine, kept in a file outside any node's
/// data directory, so that copying a node's data does not copy the power to attest.
pub struct PlatformKey {
    key: SigningKey,
}

impl fmt::Debug for PlatformKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PlatformKey").field("public_key", &self.public_key()).finish_non_exhaustive()
    }
}

impl PlatformKey {
    /// A fresh random key (not stored anywhere).
    pub fn generate() -> Self {
        PlatformKey { key: SigningKey::generate(&mut rand::rngs::OsRng) }
    }

    /// Wraps an existing key.
    pub fn from_signing_key(key: SigningKey) -> Self {
        PlatformKey { key }
    }

    /// Loads the key from `path` (PKCS#8 PEM), or creates one there if the file does not
    /// exist: missing parent directories are created (mode 0700 on Unix), the file with
    /// mode 0600. An existing file readable or writable by group or others is refused, as
    /// ssh refuses such a private key.
    pub fn load_or_create(path: &Path) -> Result<Self, AttestationError> {
        match std::fs::symlink_metadata(path) {
            Ok(_) => return Self::load(path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(AttestationError::Io {
                    op: "read",
                    path: path.display().to_string(),
                    message: e.to_string(),
                })
            }
        }
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            create_private_dir(parent)?;
        }
        let created = Self::generate();
        let pem = created.key.to_pkcs8_pem(LineEnding::LF).map_err(|e| AttestationError::InvalidKeyFile {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        // Written whole under a private name, then linked into place: another process
        // never reads a half-written key, and if one linked its key first, we use
        // theirs, so the machine keeps one platform key.
        let tmp = path.with_extension(format!("tmp.{}.{:016x}", std::process::id(), rand::random::<u64>()));
        let written = match teechain_crypto::write_secret(&tmp, &pem) {
            Ok(()) => std::fs::hard_link(&tmp, path),
            Err(CryptoError::Io { op, path, message }) => return Err(AttestationError::Io { op, path, message }),
            Err(other) => {
                return Err(AttestationError::Io {
                    op: "write",
                    path: tmp.display().to_string(),
                    message: other.to_string(),
                })
            }
        };
        let _ = std::fs::remove_file(&tmp);
        match written {
            Ok(()) => Ok(created),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Self::load(path),
            Err(e) => {
                Err(AttestationError::Io { op: "link", path: path.display().to_string(), message: e.to_string() })
            }
        }
    }

    /// Loads the key from an existing file (PKCS#8 PEM, mode 0600 on Unix).
    pub fn load(path: &Path) -> Result<Self, AttestationError> {
        let display = path.display().to_string();
        let io = |op: &'static str, e: std::io::Error| AttestationError::Io {
            op,
            path: display.clone(),
            message: e.to_string(),
        };
        let pem = std::fs::read_to_string(path).map_err(|e| io("read", e))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(path).map_err(|e| io("read", e))?.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(AttestationError::KeyFilePermissions { path: display, mode });
            }
        }
        let key = SigningKey::from_pkcs8_pem(&pem)
            .map_err(|e| AttestationError::InvalidKeyFile { path: display.clone(), message: e.to_string() })?;
        Ok(PlatformKey { key })
    }

    /// The key verifiers list as trusted.
    pub fn public_key(&self) -> PlatformPublicKey {
        PlatformPublicKey(self.key.verifying_key().to_bytes())
    }

    /// A key derived from the platform key for `domain` and `context`: the virtual
    /// stand-in for SGX's sealing keys. Anyone who can read the platform key file can
    /// derive it too, which is what INSECURE means here.
    pub fn derive_key(&self, domain: &[u8], context: &[u8]) -> [u8; 32] {
        let secret = zeroize::Zeroizing::new(self.key.to_bytes());
        teechain_crypto::derive_key(secret.as_slice(), domain, &[context])
    }

    /// Signs an enclave's measurement and report data into virtual evidence.
    pub fn attest(&self, measurement: Hash32, report_data: ReportData) -> VirtualEvidence {
        let signature = Signature(self.key.sign(&signed_message(&measurement, &report_data)).to_bytes());
        VirtualEvidence { platform_public_key: self.public_key(), measurement, report_data, signature }
    }
}

fn create_private_dir(dir: &Path) -> Result<(), AttestationError> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(|e| AttestationError::Io {
        op: "create",
        path: dir.display().to_string(),
        message: e.to_string(),
    })
}
