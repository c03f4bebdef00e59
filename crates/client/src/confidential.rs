//! Confidential invocations: the client verifies a chaincode's encryption key against
//! the attestation of the enclave that made it, seals the function, arguments and a
//! response key to it with HPKE, and opens the sealed response.
//!
//! No host sees the function, the arguments, the response or a refusal's reason: only
//! enclaves holding the chaincode key open the invocation, and only this client holds
//! the response key.

use crate::{Client, ClientError, Committed};
use teechain_attestation::{AttestationPolicy, Platform};
use teechain_crypto::{hpke_seal, DataKey, HpkePublicKey};
use teechain_node::rpc::ChaincodeKey as KeyOnLedger;
use teechain_node::{Gateway, NodeError};
use teechain_types::chaincode::{ChaincodeResponse, Invocation};
use teechain_types::codec::{decode, encode, Limits};
use teechain_types::keys::{invocation_info, ConfidentialInput, KeyScope, SealedInvocation, SEALED_REASON_PREFIX};
use teechain_types::tx::{transient_digest, Proposal, ProposalResponse, SignedProposal};
use teechain_types::Hash32;
use teechain_types::Transaction;

/// A chaincode's encryption key that passed [`verify_chaincode_key`].
#[derive(Clone, Debug)]
pub struct ChaincodeKey {
    /// The chaincode.
    pub chaincode: String,
    /// The key epoch.
    pub epoch: u32,
    /// The key clients encrypt to.
    pub public_key: HpkePublicKey,
    /// The enclave that made it.
    pub enclave: Hash32,
    /// Its platform (`virtual` is INSECURE).
    pub platform: Platform,
    /// Its measurement.
    pub measurement: Hash32,
}

/// The key a response is sealed to, kept by the client that made the proposal.
pub struct ResponseKey {
    key: DataKey,
    proposal_hash: Hash32,
}

impl ResponseKey {
    /// Opens a sealed response.
    pub fn open(&self, sealed: &ChaincodeResponse) -> Result<ChaincodeResponse, ClientError> {
        let plain = self
            .key
            .open_derived(&self.proposal_hash.0, &sealed.payload)
            .map_err(|e| ClientError::Sealed(format!("the response does not open: {e}")))?;
        let plain =
            teechain_crypto::padding::unpad(&plain).map_err(|e| ClientError::Sealed(format!("the response: {e}")))?;
        decode(plain, Limits::TRANSACTION).map_err(|e| ClientError::Sealed(format!("the response: {e}")))
    }

    /// The reason of a refusal sealed to this key, if `message` is one.
    pub fn open_refusal(&self, message: &str) -> Option<String> {
        let hex_part = message.split(SEALED_REASON_PREFIX).nth(1)?;
        let sealed = hex::decode(hex_part.trim()).ok()?;
        let plain = self.key.open_derived(&self.proposal_hash.0, &sealed).ok()?;
        String::from_utf8(teechain_crypto::padding::unpad(&plain).ok()?.to_vec()).ok()
    }

    /// A gateway error with a sealed refusal reason opened.
    fn reveal(&self, e: NodeError) -> ClientError {
        match self.open_refusal(&e.to_string()) {
            Some(reason) => ClientError::Refused(reason),
            None => ClientError::Node(e),
        }
    }
}

/// Checks a chaincode key found on the ledger: it is the named chaincode's; the enclave
/// that made it is registered with evidence that verifies under `policy` at `now_unix`
/// and binds its keys to `channel`; and that enclave signed the key.
pub fn verify_chaincode_key(
    channel: &str,
    chaincode: &str,
    found: &KeyOnLedger,
    policy: &AttestationPolicy,
    now_unix: u64,
) -> Result<ChaincodeKey, ClientError> {
    let untrusted = |reason: String| ClientError::UntrustedKey { chaincode: chaincode.to_string(), reason };
    let (record, maker) = found;
    if record.scope != (KeyScope::Chaincode { namespace: chaincode.to_string() }) {
        return Err(untrusted(format!("the record is the {}", record.scope)));
    }
    let (public_key, verified) =
        teechain_attestation::verify_key_record(channel, record, maker, policy, now_unix).map_err(untrusted)?;
    Ok(ChaincodeKey {
        chaincode: chaincode.to_string(),
        epoch: record.epoch,
        public_key: HpkePublicKey(public_key),
        enclave: record.made_by,
        platform: verified.platform,
        measurement: verified.measurement,
    })
}

fn now_unix() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

impl Client {
    /// Fetches a chaincode's key through `gateway` and verifies it under `policy` (the
    /// channel's attestation policy, or a stricter one of the client's own).
    pub fn chaincode_key(
        &self,
        gateway: &dyn Gateway,
        chaincode: &str,
        policy: &AttestationPolicy,
    ) -> Result<ChaincodeKey, ClientError> {
        let found = gateway.chaincode_key(chaincode)?.ok_or_else(|| ClientError::UntrustedKey {
            chaincode: chaincode.to_string(),
            reason: "it has no key yet (its enclaves make one shortly after the chaincode is committed)".into(),
        })?;
        verify_chaincode_key(&self.channel, chaincode, &found, policy, now_unix())
    }

    /// A proposal whose function, arguments, transient data and response key are sealed
    /// to `key` (padded to a size bucket). Send it with an empty transient map: the
    /// transient data is inside.
    pub fn propose_confidential(
        &self,
        key: &ChaincodeKey,
        function: &str,
        args: Vec<Vec<u8>>,
        transient: &[(String, Vec<u8>)],
    ) -> Result<(SignedProposal, ResponseKey), ClientError> {
        let header = self.header();
        let response_key = DataKey::generate();
        let input = ConfidentialInput {
            invocation: Invocation { function: function.to_string(), args },
            response_key: *response_key.as_bytes(),
            transient: transient.to_vec(),
        };
        let info = invocation_info(&self.channel, &key.chaincode, key.epoch);
        let padded = zeroize::Zeroizing::new(teechain_crypto::padding::pad(&zeroize::Zeroizing::new(encode(&input))));
        let ct = hpke_seal(&key.public_key, &info, &encode(&header), &padded)
            .map_err(|e| ClientError::Sealed(format!("sealing the invocation: {e}")))?;
        let proposal = Proposal {
            header,
            chaincode: key.chaincode.clone(),
            invocation: Invocation { function: String::new(), args: Vec::new() },
            sealed: Some(SealedInvocation { epoch: key.epoch, enc: ct.enc, ciphertext: ct.ciphertext }),
            transient_digest: transient_digest(&[]),
        };
        let proposal_hash = proposal.hash();
        let signature = self.signer.sign(&proposal_hash.0);
        Ok((SignedProposal { proposal, signature }, ResponseKey { key: response_key, proposal_hash }))
    }

    /// Has a confidential call endorsed and opens its response: the transaction to submit,
    /// the first endorsement's response and the opened response. A refusal reaches the
    /// host as an endorsement like any other (its response sealed); it is found here, and
    /// nothing is submitted.
    pub fn endorse_confidential(
        &self,
        gateway: &dyn Gateway,
        key: &ChaincodeKey,
        function: &str,
        args: Vec<Vec<u8>>,
        transient: &[(String, Vec<u8>)],
    ) -> Result<(Transaction, ProposalResponse, ChaincodeResponse), ClientError> {
        let transient = crate::with_blinding_secret(transient);
        let (proposal, response_key) = self.propose_confidential(key, function, args, &transient)?;
        let responses = gateway.endorse(&proposal, &[]).map_err(|e| response_key.reveal(e))?;
        let first = responses.first().ok_or(ClientError::NoEndorsements)?;
        let opened = response_key.open(&first.response)?;
        if !opened.is_ok() {
            return Err(ClientError::Refused(opened.message));
        }
        let tx = self.assemble(&proposal, &responses)?;
        let first = responses.into_iter().next().ok_or(ClientError::NoEndorsements)?;
        Ok((tx, first, opened))
    }

    /// Invokes a chaincode function confidentially and waits until it commits valid;
    /// returns the commit and the opened response.
    pub fn invoke_confidential(
        &self,
        gateway: &dyn Gateway,
        key: &ChaincodeKey,
        function: &str,
        args: Vec<Vec<u8>>,
        transient: &[(String, Vec<u8>)],
    ) -> Result<(Committed, ChaincodeResponse), ClientError> {
        let (tx, first, opened) = self.endorse_confidential(gateway, key, function, args, transient)?;
        let outcome = gateway.submit(tx)?;
        if !outcome.code.is_valid() {
            return Err(ClientError::Invalid { tx_id: outcome.tx_id, block: outcome.block, code: outcome.code });
        }
        let committed = Committed {
            tx_id: outcome.tx_id,
            block: outcome.block,
            response: first.response,
            events: first.payload.events,
        };
        Ok((committed, opened))
    }

    /// Evaluates a chaincode function confidentially on one node; returns the opened
    /// response.
    pub fn query_confidential(
        &self,
        gateway: &dyn Gateway,
        key: &ChaincodeKey,
        function: &str,
        args: Vec<Vec<u8>>,
    ) -> Result<ChaincodeResponse, ClientError> {
        let (proposal, response_key) = self.propose_confidential(key, function, args, &[])?;
        let sealed = gateway.evaluate(&proposal, &[]).map_err(|e| response_key.reveal(e))?;
        let opened = response_key.open(&sealed)?;
        if !opened.is_ok() {
            return Err(ClientError::Refused(opened.message));
        }
        Ok(opened)
    }
}
