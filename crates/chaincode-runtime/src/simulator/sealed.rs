//! Sealed private values: how a simulator inside an enclave seals a collection's values
//! for member nodes, and opens them again on a read.
//!
//! A sealed value is `epoch (u32 BE) ‖ enc (32 bytes) ‖ HPKE ciphertext` of
//! `blind (32 bytes) ‖ value padded to its size bucket` (`teechain_crypto::padding`),
//! sealed to the collection key's public key of `epoch`. The HPKE `info` binds
//! chaincode, collection and epoch, the additional data binds the key.
//! The ephemeral key is derived from the chaincode's derivation secret, the transaction,
//! the key and the plaintext, so every enclave endorsing a proposal (member of the
//! collection or not) produces the same bytes, and two different values never share an
//! ephemeral key. Only enclaves holding the epoch's secret open it.

use teechain_crypto::{derive_key, hpke_open, hpke_seal_derived, HpkeCiphertext, HpkePublicKey, HpkeSecretKey};
use teechain_types::codec::encode;
use teechain_types::collection::CollectionSealing;
use teechain_types::hash::{Hash32, TxId};
use zeroize::Zeroizing;

/// HPKE `info` domain of a sealed private value.
const INFO_DOMAIN: &[u8] = b"teechain/private-value/v1";
/// Bytes before the HPKE ciphertext: epoch and `enc`.
const HEADER: usize = 4 + 32;

fn info(namespace: &str, collection: &str, epoch: u32) -> Vec<u8> {
    encode(&(INFO_DOMAIN, namespace, collection, epoch))
}

/// The blinding factor of a sealed write: derived inside the enclave, so that no host
/// (which sees the on-ledger hash) can test guesses of a value against it.
pub(crate) fn blind(s: &CollectionSealing, tx_id: &TxId, namespace: &str, collection: &str, key: &[u8]) -> Hash32 {
    Hash32(derive_key(
        &s.derivation,
        b"teechain/pvt-blind/v1",
        &[&tx_id.0, namespace.as_bytes(), collection.as_bytes(), key],
    ))
}

/// Seals `value` with its blinding factor under the collection's current epoch.
pub(crate) fn seal(
    s: &CollectionSealing,
    tx_id: &TxId,
    namespace: &str,
    collection: &str,
    key: &[u8],
    blind: &Hash32,
    value: &[u8],
) -> Result<Vec<u8>, String> {
    let padded = Zeroizing::new(teechain_crypto::padding::pad(value));
    let mut plain = Zeroizing::new(Vec::with_capacity(32 + padded.len()));
    plain.extend_from_slice(&blind.0);
    plain.extend_from_slice(&padded);
    let epoch = s.epoch.to_be_bytes();
    let seed = Zeroizing::new(derive_key(
        &s.derivation,
        b"teechain/pvt-ephemeral/v1",
        &[&tx_id.0, namespace.as_bytes(), collection.as_bytes(), key, &epoch, &plain],
    ));
    let ct = hpke_seal_derived(&HpkePublicKey(s.public_key), &info(namespace, collection, s.epoch), key, &plain, &seed)
        .map_err(|e| format!("sealing a value of collection '{collection}': {e}"))?;
    let mut out = Vec::with_capacity(HEADER + ct.ciphertext.len());
    out.extend_from_slice(&epoch);
    out.extend_from_slice(&ct.enc);
    out.extend_from_slice(&ct.ciphertext);
    Ok(out)
}

/// Opens a sealed value of `key`: its blinding factor and value.
pub(crate) fn open(
    s: &CollectionSealing,
    namespace: &str,
    collection: &str,
    key: &[u8],
    sealed: &[u8],
) -> Result<(Hash32, Vec<u8>), String> {
    if sealed.len() < HEADER + 32 + 16 {
        return Err(format!("a value of collection '{collection}' is not sealed ({} bytes)", sealed.len()));
    }
    let epoch = u32::from_be_bytes([sealed[0], sealed[1], sealed[2], sealed[3]]);
    let secret = s.secret(epoch).ok_or_else(|| {
        format!("a value of collection '{collection}' is sealed under key epoch {epoch}, which this enclave lacks")
    })?;
    let mut enc = [0u8; 32];
    enc.copy_from_slice(&sealed[4..HEADER]);
    let ct = HpkeCiphertext { enc, ciphertext: sealed[HEADER..].to_vec() };
    let plain = Zeroizing::new(
        hpke_open(&HpkeSecretKey::from_bytes(*secret), &info(namespace, collection, epoch), key, &ct).map_err(
            |_| {
                format!("a sealed value of collection '{collection}' does not open: altered, or sealed for another key")
            },
        )?,
    );
    let (blind, padded) = plain
        .split_first_chunk::<32>()
        .ok_or_else(|| format!("a sealed value of collection '{collection}' is too short"))?;
    let value = teechain_crypto::padding::unpad(padded)
        .map_err(|e| format!("a sealed value of collection '{collection}': {e}"))?;
    Ok((Hash32(*blind), value.to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealing(epoch: u32, secret: [u8; 32], member: bool) -> CollectionSealing {
        let public_key = HpkeSecretKey::from_bytes(secret).public_key().0;
        CollectionSealing {
            epoch,
            public_key,
            secrets: if member { vec![(epoch, secret)] } else { Vec::new() },
            derivation: [9; 32],
        }
    }

    #[test]
    fn members_and_non_members_seal_alike_and_only_members_open() {
        let member = sealing(0, [1; 32], true);
        let outsider = sealing(0, [1; 32], false);
        let tx = Hash32([3; 32]);
        let b = blind(&member, &tx, "cc", "c", b"k");
        assert_eq!(b, blind(&outsider, &tx, "cc", "c", b"k"));
        let sealed = seal(&member, &tx, "cc", "c", b"k", &b, b"secret value").unwrap();
        assert_eq!(sealed, seal(&outsider, &tx, "cc", "c", b"k", &b, b"secret value").unwrap());
        assert!(!sealed.windows(12).any(|w| w == b"secret value"));
        assert_eq!(open(&member, "cc", "c", b"k", &sealed).unwrap(), (b, b"secret value".to_vec()));
        assert!(open(&outsider, "cc", "c", b"k", &sealed).unwrap_err().contains("epoch 0"));
    }

    #[test]
    fn a_sealed_value_opens_only_for_its_key_and_collection_and_unaltered() {
        let s = sealing(2, [1; 32], true);
        let tx = Hash32([3; 32]);
        let b = blind(&s, &tx, "cc", "c", b"k");
        let sealed = seal(&s, &tx, "cc", "c", b"k", &b, b"v").unwrap();
        assert!(open(&s, "cc", "c", b"other", &sealed).is_err());
        assert!(open(&s, "cc", "d", b"k", &sealed).is_err());
        let mut altered = sealed.clone();
        *altered.last_mut().unwrap() ^= 1;
        assert!(open(&s, "cc", "c", b"k", &altered).is_err());
        assert!(open(&s, "cc", "c", b"k", &sealed[..20]).is_err());
    }

    #[test]
    fn different_values_or_transactions_get_different_ephemeral_keys() {
        let s = sealing(0, [1; 32], true);
        let tx = Hash32([3; 32]);
        let b = blind(&s, &tx, "cc", "c", b"k");
        let one = seal(&s, &tx, "cc", "c", b"k", &b, b"100").unwrap();
        let two = seal(&s, &tx, "cc", "c", b"k", &b, b"200").unwrap();
        assert_ne!(one[4..36], two[4..36]);
        let other_tx = Hash32([4; 32]);
        assert_ne!(b, blind(&s, &other_tx, "cc", "c", b"k"));
    }

    #[test]
    fn old_epochs_stay_readable_after_rotation() {
        let old = sealing(0, [1; 32], true);
        let tx = Hash32([3; 32]);
        let b = blind(&old, &tx, "cc", "c", b"k");
        let sealed = seal(&old, &tx, "cc", "c", b"k", &b, b"v0").unwrap();
        let mut new = sealing(1, [2; 32], true);
        new.secrets.push((0, [1; 32]));
        assert_eq!(open(&new, "cc", "c", b"k", &sealed).unwrap().1, b"v0");
        let resealed = seal(&new, &tx, "cc", "c", b"k", &b, b"v1").unwrap();
        assert_eq!(&resealed[..4], &1u32.to_be_bytes());
    }
}
