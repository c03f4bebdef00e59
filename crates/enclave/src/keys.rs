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

/// Secrets by (scope, epoch).
#[derive(Default)]
pub(crate) struct KeyStore {
    keys: RwLock<HashMap<(KeyScope, u32), Secret>>,
}

impl KeyStore {
    pub(crate) fn get(&self, scope: &KeyScope, epoch: u32) -> Option<Zeroizing<[u8; 32]>> {
        self.keys.read().unwrap_or_else(|p| p.into_inner()).get(&(scope.clone(), epoch)).cloned()
    }

    pub(crate) fn insert(&self, scope: &KeyScope, epoch: u32, secret: Zeroizing<[u8; 32]>) {
        self.keys.write().unwrap_or_else(|p| p.into_inner()).insert((scope.clone(), epoch), secret);
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
