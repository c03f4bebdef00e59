//! Enclave registration: from what an enclave says about itself to the admin-signed
//! transaction that admits it on the channel.

use crate::error::NodeError;
use std::time::{SystemTime, UNIX_EPOCH};
use teechain_attestation::{Evidence, SgxCollateral, SgxEvidence};
use teechain_crypto::SigningIdentity;
use teechain_enclave::protocol::EnclaveInfo;
use teechain_enclave::EnclaveAttestation;
use teechain_types::codec::encode;
use teechain_types::enclave::EnclaveRegistration;
use teechain_types::keys::{KeyDistribution, KeyScope};
use teechain_types::tx::TxPayload;
use teechain_types::{Transaction, TxBody, TxHeader};

/// The registration of an enclave whose evidence is complete (virtual platform).
pub fn registration_of(info: &EnclaveInfo) -> Result<EnclaveRegistration, NodeError> {
    match &info.attestation {
        EnclaveAttestation::Evidence(evidence) => {
            Ok(EnclaveRegistration { org: info.org.clone(), keys: info.keys, evidence: evidence.clone() })
        }
        EnclaveAttestation::SgxQuote(_) => Err(NodeError::Invalid(format!(
            "enclave {} gave an SGX quote: its registration needs the quote's collateral from a PCCS \
             (`teechain enclave register --collateral FILE`)",
            info.id().short()
        ))),
    }
}

/// The registration of an SGX enclave, its quote completed with `collateral`.
pub fn registration_with_collateral(
    info: &EnclaveInfo,
    collateral: SgxCollateral,
) -> Result<EnclaveRegistration, NodeError> {
    let EnclaveAttestation::SgxQuote(quote) = &info.attestation else {
        return Err(NodeError::Invalid(format!(
            "enclave {} runs on the {} platform: collateral is only for SGX quotes",
            info.id().short(),
            info.platform.name()
        )));
    };
    let evidence = Evidence::from_sgx(&SgxEvidence { quote: quote.clone(), collateral });
    Ok(EnclaveRegistration { org: info.org.clone(), keys: info.keys, evidence: encode(&evidence) })
}

/// The registration transaction, signed by `admin` (an admin of the enclave's
/// organisation, or validation refuses it).
pub fn registration_tx(admin: &SigningIdentity, channel: &str, registration: EnclaveRegistration) -> Transaction {
    signed_tx(admin, channel, TxBody::RegisterEnclave(registration))
}

/// A key distribution transaction, submitted by a node (any channel member may carry
/// one: what makes it valid is the enclave's signature inside).
pub fn key_distribution_tx(node: &SigningIdentity, channel: &str, distribution: KeyDistribution) -> Transaction {
    signed_tx(node, channel, TxBody::DistributeKey(distribution))
}

/// A request, signed by an organisation admin, for the next epoch of a key.
pub fn rotation_tx(admin: &SigningIdentity, channel: &str, scope: KeyScope) -> Transaction {
    signed_tx(admin, channel, TxBody::RotateKey(scope))
}

/// A node's time beacon: `time_ms` by its clock, signed by the node (peer role).
pub fn time_beacon_tx(node: &SigningIdentity, channel: &str, time_ms: u64) -> Transaction {
    signed_tx(node, channel, TxBody::TimeBeacon(time_ms))
}

fn signed_tx(signer: &SigningIdentity, channel: &str, body: TxBody) -> Transaction {
    let nonce: [u8; 24] = rand::random();
    let timestamp_ms = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0);
    let header = TxHeader {
        channel: channel.to_string(),
        creator: signer.identity().clone(),
        nonce: nonce.to_vec(),
        timestamp_ms,
    };
    let payload = TxPayload { header, body };
    let signature = signer.sign(&payload.hash().0);
    Transaction { payload, signature }
}
