//! Keys on the ledger: chaincode encryption keys and collection data keys, made
//! inside an enclave and wrapped to each registered enclave that may use them.
//!
//! A [`KeyDistribution`] carries one epoch of one key: for a chaincode key, the X25519
//! public key clients encrypt to; for every recipient enclave, the secret wrapped with
//! HPKE to that enclave's key; and the signature of the enclave that made it. The first
//! valid distribution of an epoch makes it; a later one for the same epoch only adds
//! wraps for enclaves that had none (a grant, e.g. to an enclave registered later).
//! The host stores and relays these, but holds no key that opens them.

use crate::codec::encode;
use crate::hash::{sha256, Hash32, Signature};
use crate::rwset::Version;
use serde::{Deserialize, Serialize};
use std::fmt;

/// State namespace of distributed keys (a system namespace).
pub const KEYS_NAMESPACE: &str = "_keys";

/// HPKE `info` domain of a wrapped key.
pub const WRAP_INFO_DOMAIN: &[u8] = b"teechain/key-wrap/v1";
/// HPKE `info` domain of a confidential invocation.
pub const INVOCATION_INFO_DOMAIN: &[u8] = b"teechain/confidential-invocation/v1";

/// Which key.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum KeyScope {
    /// A chaincode's encryption key: clients encrypt confidential invocations to it.
    Chaincode {
        /// The chaincode.
        namespace: String,
    },
    /// A private data collection's data key: an X25519 key pair whose secret only the
    /// enclaves of the collection's member organisations hold. Private values are
    /// HPKE-sealed to its public key (see [`crate::collection::CollectionSealing`]).
    Collection {
        /// The chaincode.
        namespace: String,
        /// The collection (declared or implicit).
        collection: String,
    },
}

impl KeyScope {
    /// The chaincode the key belongs to.
    pub fn namespace(&self) -> &str {
        match self {
            KeyScope::Chaincode { namespace } | KeyScope::Collection { namespace, .. } => namespace,
        }
    }
}

impl fmt::Display for KeyScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyScope::Chaincode { namespace } => write!(f, "chaincode key of '{namespace}'"),
            KeyScope::Collection { namespace, collection } => {
                write!(f, "data key of collection '{collection}' of chaincode '{namespace}'")
            }
        }
    }
}

/// A key's secret, HPKE-sealed to one enclave's key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WrappedKey {
    /// The recipient enclave.
    pub enclave: Hash32,
    /// HPKE encapsulated key.
    pub enc: [u8; 32],
    /// The sealed secret.
    pub ciphertext: Vec<u8>,
}

/// One epoch of one key, as an enclave distributes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyDistribution {
    /// Which key.
    pub scope: KeyScope,
    /// Its epoch (0 first).
    pub epoch: u32,
    /// The X25519 public key: clients encrypt invocations to a chaincode key; enclaves
    /// seal private values to a collection key.
    pub public_key: Option<[u8; 32]>,
    /// The secret, wrapped to each recipient enclave.
    pub wraps: Vec<WrappedKey>,
    /// The registered enclave that made (or, in a grant, holds) the key.
    pub enclave: Hash32,
    /// The version of that enclave's sealed key store after this distribution: the
    /// ledger keeps the highest, so a host that restores an older sealed file is caught.
    pub sealed_version: u64,
    /// That enclave's signature over [`KeyDistribution::statement`].
    pub signature: Signature,
}

impl KeyDistribution {
    /// What the distributing enclave signs: everything but the signature.
    pub fn statement(&self, channel: &str) -> Hash32 {
        sha256(&encode(&(
            b"teechain/key-distribution/v1".as_slice(),
            channel,
            &self.scope,
            self.epoch,
            &self.public_key,
            &self.wraps,
            &self.enclave,
            self.sealed_version,
        )))
    }
}

/// A key epoch as state holds it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRecord {
    /// Which key.
    pub scope: KeyScope,
    /// Epoch.
    pub epoch: u32,
    /// For chaincode keys: the public key.
    pub public_key: Option<[u8; 32]>,
    /// Wraps to every enclave that has the key.
    pub wraps: Vec<WrappedKey>,
    /// The distribution that made the epoch: its enclave and signature, so that a
    /// client can check the public key came from an attested enclave.
    pub made_by: Hash32,
    /// Signature of `made_by` over the first distribution's statement (with the wraps
    /// it had then: `first_wraps` of them).
    pub signature: Signature,
    /// How many of `wraps` the first distribution carried.
    pub first_wraps: u32,
    /// The sealed version the first distribution carried.
    pub first_sealed_version: u64,
    /// When the epoch was made.
    pub made_at: Version,
}

impl KeyRecord {
    /// The first distribution, as its enclave signed it.
    pub fn first_distribution(&self) -> KeyDistribution {
        KeyDistribution {
            scope: self.scope.clone(),
            epoch: self.epoch,
            public_key: self.public_key,
            wraps: self.wraps.iter().take(self.first_wraps as usize).cloned().collect(),
            enclave: self.made_by,
            sealed_version: self.first_sealed_version,
            signature: self.signature,
        }
    }
}

/// State key (in [`KEYS_NAMESPACE`]) of the highest sealed key-store version an enclave
/// has announced (u64 BE).
pub fn sealed_version_key(enclave: &Hash32) -> Vec<u8> {
    encode(&(b"sealed-version".as_slice(), enclave))
}

/// State key of a rotation request: its value is the epoch requested (u32 BE).
pub fn rotation_state_key(scope: &KeyScope) -> Vec<u8> {
    encode(&(b"rotation".as_slice(), scope))
}

/// State key of one epoch of a key.
pub fn key_state_key(scope: &KeyScope, epoch: u32) -> Vec<u8> {
    encode(&(scope, epoch))
}

/// HPKE `info` for wrapping `scope`'s epoch on `channel`.
pub fn wrap_info(channel: &str, scope: &KeyScope, epoch: u32) -> Vec<u8> {
    encode(&(WRAP_INFO_DOMAIN, channel, scope, epoch))
}

/// A confidential invocation: the function and arguments, with the key the response is
/// sealed to, HPKE-sealed to the chaincode's key. Only enclaves holding that key open it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedInvocation {
    /// The chaincode key epoch it is sealed to.
    pub epoch: u32,
    /// HPKE encapsulated key.
    pub enc: [u8; 32],
    /// The sealed [`ConfidentialInput`].
    pub ciphertext: Vec<u8>,
}

/// What a [`SealedInvocation`] holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfidentialInput {
    /// Function and arguments.
    pub invocation: crate::chaincode::Invocation,
    /// AES-256-GCM key the enclave seals the response to.
    pub response_key: [u8; 32],
    /// The transient data, which the chaincode reads as it would a plain call's, but no
    /// host sees: the proposal's own transient map is empty.
    pub transient: Vec<(String, Vec<u8>)>,
}

/// HPKE `info` of a confidential invocation of `chaincode`'s key `epoch` on `channel`.
pub fn invocation_info(channel: &str, chaincode: &str, epoch: u32) -> Vec<u8> {
    encode(&(INVOCATION_INFO_DOMAIN, channel, chaincode, epoch))
}

/// Prefix of the message of a confidential chaincode's refusal or failure (a panic, a
/// trap): the reason follows, sealed to the client's response key (hex), so that no host
/// reads it.
pub const SEALED_REASON_PREFIX: &str = "the chaincode refused or failed; the reason is sealed to the client: ";
