//! The enclave's own keys: made inside on first start, kept on disk only sealed.
//!
//! The sealed file holds the Ed25519 signing key and the X25519 (HPKE) key, encrypted
//! with AES-256-GCM under the platform's sealing key (bound to the platform and the
//! enclave's measurement). The additional data names the platform, the measurement and
//! the file's purpose, so a file sealed by another build, or another kind of sealed
//! file, does not open. The host stores the file but cannot read or alter it.

use crate::platform::PlatformServices;
use ed25519_dalek::{Signer, SigningKey};
use serde::{Deserialize, Serialize};
use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use teechain_crypto::{DataKey, HpkeSecretKey};
use teechain_types::codec::{decode, encode, Limits};
use teechain_types::enclave::EnclaveKeys;
use teechain_types::hash::Signature;
use teechain_types::Hash32;
use zeroize::Zeroizing;

/// File name of the sealed identity inside the enclave's directory.
pub(crate) const IDENTITY_FILE: &str = "identity.sealed";

/// The enclave's private keys.
pub(crate) struct EnclaveIdentity {
    signing: SigningKey,
    hpke: HpkeSecretKey,
}

/// The sealed file as stored.
#[derive(Serialize, Deserialize)]
struct SealedFile {
    nonce: [u8; 12],
    ciphertext: Vec<u8>,
}

/// What is sealed.
#[derive(Serialize, Deserialize)]
struct IdentitySecrets {
    signing: [u8; 32],
    hpke: [u8; 32],
}

impl Drop for IdentitySecrets {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.signing.zeroize();
        self.hpke.zeroize();
    }
}

impl EnclaveIdentity {
    /// Fresh keys from the operating system's random source.
    pub(crate) fn generate() -> EnclaveIdentity {
        EnclaveIdentity { signing: SigningKey::generate(&mut rand::rngs::OsRng), hpke: HpkeSecretKey::generate() }
    }

    /// The identity sealed in `dir`, or a new one sealed there if there is none.
    pub(crate) fn load_or_create(
        dir: &Path,
        platform: &PlatformServices,
        measurement: &Hash32,
    ) -> Result<EnclaveIdentity, String> {
        let path = dir.join(IDENTITY_FILE);
        let key = DataKey::from_bytes(platform.sealing_key(measurement)?);
        let aad = encode(&(b"teechain/sealed-identity/v1".as_slice(), platform.platform(), measurement));
        match fs::read(&path) {
            Ok(bytes) => {
                let sealed: SealedFile = decode(&bytes, Limits::RECORD)
                    .map_err(|e| format!("sealed identity {} does not decode: {e}", path.display()))?;
                let plain = Zeroizing::new(key.open(&sealed.nonce, &aad, &sealed.ciphertext).map_err(|_| {
                    format!(
                        "sealed identity {} does not open: it was sealed by another enclave build or platform, \
                         or altered",
                        path.display()
                    )
                })?);
                let secrets: IdentitySecrets =
                    decode(&plain, Limits::RECORD).map_err(|e| format!("sealed identity {}: {e}", path.display()))?;
                Ok(EnclaveIdentity {
                    signing: SigningKey::from_bytes(&secrets.signing),
                    hpke: HpkeSecretKey::from_bytes(secrets.hpke),
                })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let identity = EnclaveIdentity::generate();
                let secrets = IdentitySecrets { signing: identity.signing.to_bytes(), hpke: identity.hpke.to_bytes() };
                let plain = Zeroizing::new(encode(&secrets));
                let mut nonce = [0u8; 12];
                rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut nonce);
                let sealed = SealedFile { nonce, ciphertext: key.seal(&nonce, &aad, &plain) };
                write_atomically(&path, &encode(&sealed))?;
                Ok(identity)
            }
            Err(e) => Err(format!("reading sealed identity {}: {e}", path.display())),
        }
    }

    /// The public keys.
    pub(crate) fn keys(&self) -> EnclaveKeys {
        EnclaveKeys { signing_key: self.signing.verifying_key().to_bytes(), hpke_key: self.hpke.public_key().0 }
    }

    /// The HPKE secret key (for unwrapping keys sent to this enclave).
    pub(crate) fn hpke(&self) -> &HpkeSecretKey {
        &self.hpke
    }

    /// Signs a digest with the enclave's signing key.
    pub(crate) fn sign(&self, digest: &Hash32) -> Signature {
        Signature(self.signing.sign(&digest.0).to_bytes())
    }
}

/// Writes `bytes` to `path` through a temporary file (mode 0600) and a rename, with
/// fsyncs, so a crash leaves either the old file or the new one.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let tmp = path.with_extension("tmp");
    let io = |what: &str, e: std::io::Error| format!("{what} {}: {e}", path.display());
    let _ = fs::remove_file(&tmp);
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| io("creating sealed file for", e))?;
    f.write_all(bytes).map_err(|e| io("writing", e))?;
    f.sync_all().map_err(|e| io("syncing", e))?;
    fs::rename(&tmp, path).map_err(|e| io("renaming into", e))?;
    if let Some(dir) = path.parent() {
        fs::File::open(dir).and_then(|d| d.sync_all()).map_err(|e| io("syncing the directory of", e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use teechain_attestation::Platform;

    fn platform(dir: &Path) -> PlatformServices {
        PlatformServices::open(Platform::Virtual, Some(&dir.join("platform.key"))).unwrap()
    }

    #[test]
    fn the_identity_survives_a_restart_and_is_stored_sealed() {
        let dir = tempfile::tempdir().unwrap();
        let p = platform(dir.path());
        let m = crate::platform::virtual_measurement();
        let first = EnclaveIdentity::load_or_create(dir.path(), &p, &m).unwrap();
        let again = EnclaveIdentity::load_or_create(dir.path(), &p, &m).unwrap();
        assert_eq!(first.keys(), again.keys());
        let bytes = fs::read(dir.path().join(IDENTITY_FILE)).unwrap();
        let secret = first.signing.to_bytes();
        assert!(!bytes.windows(32).any(|w| w == secret), "signing key stored in plaintext");
        assert!(!bytes.windows(32).any(|w| w == first.hpke.to_bytes()), "HPKE key stored in plaintext");
    }

    #[test]
    fn another_build_or_a_tampered_file_does_not_open_it() {
        let dir = tempfile::tempdir().unwrap();
        let p = platform(dir.path());
        let m = crate::platform::virtual_measurement();
        EnclaveIdentity::load_or_create(dir.path(), &p, &m).unwrap();
        let other_build = Hash32([9; 32]);
        let err = EnclaveIdentity::load_or_create(dir.path(), &p, &other_build).err().unwrap();
        assert!(err.contains("does not open"), "{err}");
        let path = dir.path().join(IDENTITY_FILE);
        let mut bytes = fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        fs::write(&path, bytes).unwrap();
        assert!(EnclaveIdentity::load_or_create(dir.path(), &p, &m).err().unwrap().contains("does not open"));
    }
}
