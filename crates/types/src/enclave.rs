//! Enclave identities on the ledger: what an organisation registers, and how an
//! endorsement names the enclave that signed it.
//!
//! An enclave makes an Ed25519 signing key and an X25519 (HPKE) key inside, and binds
//! [`EnclaveKeys::keys_hash`] into its attestation evidence. An admin of its organisation
//! registers it with a [`EnclaveRegistration`] transaction; once valid, the record lives
//! in state under [`ENCLAVE_NAMESPACE`] at [`EnclaveKeys::id`], and endorsements signed
//! by that key count for that organisation.

use crate::hash::{sha256_parts, Hash32};
use crate::rwset::Version;
use serde::{Deserialize, Serialize};
use std::fmt;

/// State namespace of the enclave registry (a system namespace: no chaincode writes it).
pub const ENCLAVE_NAMESPACE: &str = "_enclaves";

/// Domain tag of [`EnclaveKeys::id`].
const ID_DOMAIN: &[u8] = b"teechain/enclave-id/v1";
/// Domain tag of [`EnclaveKeys::keys_hash`].
const KEYS_DOMAIN: &[u8] = b"teechain/enclave-keys/v1";

/// An enclave's public keys.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct EnclaveKeys {
    /// Ed25519 public key its endorsements and receipts are signed with.
    pub signing_key: [u8; 32],
    /// X25519 public key (HPKE, RFC 9180) other enclaves and clients encrypt to.
    pub hpke_key: [u8; 32],
}

impl EnclaveKeys {
    /// The enclave's id: a hash of its signing key (endorsements name it).
    pub fn id(&self) -> Hash32 {
        sha256_parts(&[ID_DOMAIN, &self.signing_key])
    }

    /// The hash of both keys that the enclave binds into its evidence's report data.
    pub fn keys_hash(&self) -> Hash32 {
        sha256_parts(&[KEYS_DOMAIN, &self.signing_key, &self.hpke_key])
    }
}

impl fmt::Debug for EnclaveKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EnclaveKeys").field("id", &self.id().short()).finish_non_exhaustive()
    }
}

/// A request, signed by an admin of `org`, to admit an enclave as that organisation's.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnclaveRegistration {
    /// The organisation the enclave endorses for.
    pub org: String,
    /// Its public keys.
    pub keys: EnclaveKeys,
    /// Its attestation evidence: an encoded `teechain_attestation::Evidence`, binding
    /// `report_data(channel, keys.keys_hash())`.
    pub evidence: Vec<u8>,
}

/// A valid registration as state holds it, with what verification established.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisteredEnclave {
    /// The registration as committed (evidence included, so clients can verify it
    /// themselves before encrypting to the enclave).
    pub registration: EnclaveRegistration,
    /// The platform the evidence came from (`virtual`, `sgx`).
    pub platform: String,
    /// The enclave's measurement (SGX: MRENCLAVE).
    pub measurement: Hash32,
    /// False for platforms without hardware isolation (virtual) and debug enclaves.
    pub secure: bool,
    /// Block and transaction that registered it.
    pub registered_at: Version,
}

/// The state key of enclave `id` in [`ENCLAVE_NAMESPACE`].
pub fn enclave_state_key(id: &Hash32) -> Vec<u8> {
    id.0.to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_and_keys_hash_bind_the_right_keys() {
        let a = EnclaveKeys { signing_key: [1; 32], hpke_key: [2; 32] };
        let b = EnclaveKeys { signing_key: [1; 32], hpke_key: [3; 32] };
        let c = EnclaveKeys { signing_key: [4; 32], hpke_key: [2; 32] };
        // The id names the signing key only; the evidence binds both keys.
        assert_eq!(a.id(), b.id());
        assert_ne!(a.id(), c.id());
        assert_ne!(a.keys_hash(), b.keys_hash());
        assert_ne!(a.keys_hash(), c.keys_hash());
        assert_ne!(a.id(), a.keys_hash());
    }
}
