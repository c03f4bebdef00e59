//! Trusting a key on the ledger: its first distribution must be signed by a registered
//! enclave whose evidence verifies. Clients check this before they encrypt to a
//! chaincode key; enclaves before they seal to a collection key or use a secret
//! unwrapped from a record that their host handed them.

use crate::{report_data, verify, AttestationPolicy, Evidence, VerifiedEnclave};
use teechain_types::codec::{decode, Limits};
use teechain_types::enclave::RegisteredEnclave;
use teechain_types::keys::KeyRecord;

/// Checks that `record` was made by `maker`, a genuine enclave: `maker` is the enclave
/// the record names, its evidence verifies against `policy` at `now_unix` and binds its
/// keys to `channel`, and its signature over the first distribution verifies. Returns
/// the record's public key and what the evidence showed of the maker. The reason of a
/// failure names the check.
pub fn verify_key_record(
    channel: &str,
    record: &KeyRecord,
    maker: &RegisteredEnclave,
    policy: &AttestationPolicy,
    now_unix: u64,
) -> Result<([u8; 32], VerifiedEnclave), String> {
    let keys = maker.registration.keys;
    if keys.id() != record.made_by {
        return Err("the enclave offered is not the one that made the key".into());
    }
    let evidence: Evidence = decode(&maker.registration.evidence, Limits::RECORD)
        .map_err(|e| format!("the enclave's evidence does not decode: {e}"))?;
    let expected = report_data(channel, &keys.keys_hash());
    let verified = verify(&evidence, &expected, policy, now_unix)
        .map_err(|e| format!("the enclave's evidence does not verify: {e}"))?;
    let signing = teechain_crypto::VerifyingKey::from_bytes(&keys.signing_key)
        .map_err(|_| "the enclave's signing key is not usable".to_string())?;
    let first = record.first_distribution();
    teechain_crypto::verify(&signing, &first.statement(channel).0, &first.signature)
        .map_err(|_| "the enclave's signature over the key does not verify".to_string())?;
    let public_key = record.public_key.ok_or_else(|| "the record has no public key".to_string())?;
    Ok((public_key, verified))
}
