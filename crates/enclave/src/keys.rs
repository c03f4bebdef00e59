//! Keys the enclave holds: made here or unwrapped from the ledger, never leaving in
//! plaintext.

use crate::identity::EnclaveIdentity;
use std::collections::HashMap;
use std::sync::RwLock;
use teechain_attestation::{AttestationPolicy, Evidence};
use teechain_crypto::{hpke_open, hpke_seal, HpkeCiphertext, HpkePublicKey};
use teechain_types::codec::{decode, Limits};
use teechain_types::enclave::RegisteredEnclave;
use teechain_types::keys::{wrap_info, KeyRecord, KeyScope, WrappedKey};
use teechain_types::Hash32;
use zeroize::Zeroizing;

/// A key's secret, wiped when dropped.
type Secret = Zeroizing<[u8; 32]>;

/// Secrets by (scope, epoch), and the sealed file that keeps them across restarts.
#[derive(Default)]
pub(crate) struct KeyStore {
    inner: RwLock<Held>,
    file: Option<SealedFile>,
}

#[derive(Default)]
struct Held {
    keys: HashMap<(KeyScope, u32), Secret>,
    /// Grows with every distribution this enclave signs; the ledger keeps the highest it
    /// saw, so an older file is detectable (see [`KeyStore::version`]).
    version: u64,
}

/// Where the key store is sealed, and with what.
pub(crate) struct SealedFile {
    pub(crate) path: std::path::PathBuf,
    pub(crate) key: teechain_crypto::DataKey,
    pub(crate) aad: Vec<u8>,
}

/// The sealed file's plaintext.
#[derive(serde::Serialize, serde::Deserialize)]
struct StoredKeys {
    version: u64,
    keys: Vec<(KeyScope, u32, [u8; 32])>,
}

impl KeyStore {
    /// The store sealed in `file` (empty if the file does not exist yet).
    pub(crate) fn open(file: SealedFile) -> Result<KeyStore, String> {
        let mut held = Held::default();
        match std::fs::read(&file.path) {
            Ok(bytes) => {
                let fail = |why: &str| format!("sealed key store {}: {why}", file.path.display());
                if bytes.len() < 12 {
                    return Err(fail("too short"));
                }
                let nonce: [u8; 12] = bytes[..12].try_into().map_err(|_| fail("too short"))?;
                let plain = Zeroizing::new(
                    file.key
                        .open(&nonce, &file.aad, &bytes[12..])
                        .map_err(|_| fail("does not open (another build or platform, or altered)"))?,
                );
                let stored: StoredKeys = decode(&plain, Limits::RECORD).map_err(|e| fail(&e.to_string()))?;
                held.version = stored.version;
                for (scope, epoch, secret) in stored.keys {
                    held.keys.insert((scope, epoch), Zeroizing::new(secret));
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(format!("reading {}: {e}", file.path.display())),
        }
        Ok(KeyStore { inner: RwLock::new(held), file: Some(file) })
    }

    pub(crate) fn get(&self, scope: &KeyScope, epoch: u32) -> Option<Zeroizing<[u8; 32]>> {
        self.inner.read().unwrap_or_else(|p| p.into_inner()).keys.get(&(scope.clone(), epoch)).cloned()
    }

    /// Keeps a key (and seals the store).
    pub(crate) fn insert(&self, scope: &KeyScope, epoch: u32, secret: Zeroizing<[u8; 32]>) -> Result<(), String> {
        let mut held = self.inner.write().unwrap_or_else(|p| p.into_inner());
        held.keys.insert((scope.clone(), epoch), secret);
        self.persist(&held)
    }

    /// The sealed version.
    pub(crate) fn version(&self) -> u64 {
        self.inner.read().unwrap_or_else(|p| p.into_inner()).version
    }

    /// Raises the version (before signing a distribution that announces it) and seals.
    pub(crate) fn bump(&self) -> Result<u64, String> {
        let mut held = self.inner.write().unwrap_or_else(|p| p.into_inner());
        held.version += 1;
        self.persist(&held)?;
        Ok(held.version)
    }

    fn persist(&self, held: &Held) -> Result<(), String> {
        let Some(file) = &self.file else { return Ok(()) };
        let stored = StoredKeys {
            version: held.version,
            keys: held.keys.iter().map(|((s, e), k)| (s.clone(), *e, **k)).collect(),
        };
        let plain = Zeroizing::new(teechain_types::codec::encode(&stored));
        let mut nonce = [0u8; 12];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut nonce);
        let mut bytes = nonce.to_vec();
        bytes.extend_from_slice(&file.key.seal(&nonce, &file.aad, &plain));
        crate::identity::write_atomically(&file.path, &bytes)
    }
}

/// Unwraps this enclave's copy of a key from its ledger record.
pub(crate) fn unwrap(
    identity: &EnclaveIdentity,
    channel: &str,
    record: &KeyRecord,
) -> Result<Zeroizing<[u8; 32]>, String> {
    let me = identity.keys().id();
    let wrap = record.wraps.iter().find(|w| w.enclave == me).ok_or_else(|| {
        format!("the {} (epoch {}) is not wrapped to this enclave ({})", record.scope, record.epoch, me.short())
    })?;
    let ct = HpkeCiphertext { enc: wrap.enc, ciphertext: wrap.ciphertext.clone() };
    let plain = Zeroizing::new(
        hpke_open(identity.hpke(), &wrap_info(channel, &record.scope, record.epoch), &me.0, &ct)
            .map_err(|e| format!("{} (epoch {}): {e}", record.scope, record.epoch))?,
    );
    let secret: [u8; 32] = plain.as_slice().try_into().map_err(|_| format!("the {} is not 32 bytes", record.scope))?;
    Ok(Zeroizing::new(secret))
}

/// Wraps `secret` to each recipient after checking that it is a genuine enclave: its
/// evidence verifies against the channel's policy and binds its keys to this channel.
/// The host chose the recipients; this check is what stops it from naming a key of its
/// own.
pub(crate) fn wrap_to(
    channel: &str,
    policy: &AttestationPolicy,
    scope: &KeyScope,
    epoch: u32,
    secret: &[u8; 32],
    recipients: &[RegisteredEnclave],
    now_unix: u64,
) -> Result<Vec<WrappedKey>, String> {
    let info = wrap_info(channel, scope, epoch);
    let mut wraps = Vec::with_capacity(recipients.len());
    for r in recipients {
        let keys = r.registration.keys;
        let id = keys.id();
        let evidence: Evidence = decode(&r.registration.evidence, Limits::RECORD)
            .map_err(|e| format!("evidence of enclave {}: {e}", id.short()))?;
        let expected = teechain_attestation::report_data(channel, &keys.keys_hash());
        teechain_attestation::verify(&evidence, &expected, policy, now_unix)
            .map_err(|e| format!("enclave {} does not attest: {e}", id.short()))?;
        let ct = hpke_seal(&HpkePublicKey(keys.hpke_key), &info, &id.0, secret)
            .map_err(|e| format!("wrapping to enclave {}: {e}", id.short()))?;
        wraps.push(WrappedKey { enclave: id, enc: ct.enc, ciphertext: ct.ciphertext });
    }
    Ok(wraps)
}

/// Seconds since the epoch by this machine's clock.
pub(crate) fn now_unix() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// The id of an enclave's registration record.
pub(crate) fn id_of(r: &RegisteredEnclave) -> Hash32 {
    r.registration.keys.id()
}
