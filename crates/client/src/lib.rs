//! TEEChain's client SDK.
//!
//! A [`Client`] holds one signing identity. [`Client::invoke`] runs Fabric's flow
//! against any [`Gateway`]: sign a proposal, collect endorsements, check that they
//! agree, assemble and sign the transaction, submit it and wait for its validation code.
//! [`Client::query`] evaluates on one node without ordering.

pub mod confidential;
pub mod remote;

use std::time::{SystemTime, UNIX_EPOCH};
use teechain_crypto::SigningIdentity;
pub use teechain_node::{Gateway, NodeError, SubmitOutcome};
use teechain_types::chaincode::{ChaincodeEvent, ChaincodeResponse, Invocation};
use teechain_types::codec::encode;
use teechain_types::collection::BLINDING_TRANSIENT_KEY;
use teechain_types::tx::{
    transient_digest, EndorsedInvocation, Endorsement, LifecycleOp, Proposal, ProposalResponse, SignedProposal, TxBody,
    TxHeader, TxPayload,
};
use teechain_types::{sha256, Identity, Transaction, TxId, ValidationCode};

/// Why a client operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The network refused or failed (includes chaincode refusals, with their message).
    #[error(transparent)]
    Node(#[from] NodeError),
    /// No endorsement was returned.
    #[error("no endorsements were returned")]
    NoEndorsements,
    /// Endorsers produced different results: the transaction would be invalid.
    #[error("endorsements disagree: {0} and {1} produced different results")]
    EndorsementMismatch(String, String),
    /// An endorser's response does not match the hash it signed.
    #[error("the response of {0} does not match the hash it endorsed")]
    ResponseMismatch(String),
    /// A chaincode's encryption key cannot be trusted, or is missing.
    #[error("the chaincode key of '{chaincode}' cannot be trusted: {reason}")]
    UntrustedKey {
        /// The chaincode.
        chaincode: String,
        /// Why.
        reason: String,
    },
    /// A sealed invocation or response could not be made or opened.
    #[error("confidential invocation: {0}")]
    Sealed(String),
    /// A confidential chaincode refused; the reason was sealed to this client.
    #[error("the chaincode refused: {0}")]
    Refused(String),
    /// The transaction was ordered but found invalid.
    #[error("transaction {tx_id} was committed in block {block} as invalid: {code}")]
    Invalid {
        /// Transaction id.
        tx_id: TxId,
        /// Block number.
        block: u64,
        /// Validation code.
        code: ValidationCode,
    },
}

/// A committed, valid invocation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Committed {
    /// Transaction id.
    pub tx_id: TxId,
    /// Block number.
    pub block: u64,
    /// The chaincode's response.
    pub response: ChaincodeResponse,
    /// Events the transaction emitted.
    pub events: Vec<ChaincodeEvent>,
}

/// A client of one organisation.
#[derive(Clone)]
pub struct Client {
    signer: SigningIdentity,
    channel: String,
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// The transient map with a fresh blinding secret added (unless the caller chose one):
/// private writes derive their blinding factors from it, so the hashes on the ledger
/// cannot be tested against guessed values by anyone who never saw the proposal.
pub fn with_blinding_secret(transient: &[(String, Vec<u8>)]) -> Vec<(String, Vec<u8>)> {
    let mut out = transient.to_vec();
    if !out.iter().any(|(k, _)| k == BLINDING_TRANSIENT_KEY) {
        let secret: [u8; 32] = rand::random();
        out.push((BLINDING_TRANSIENT_KEY.to_string(), secret.to_vec()));
    }
    out
}

fn describe(e: &Endorsement) -> String {
    format!("enclave {} of {}", e.enclave.short(), e.org)
}

impl Client {
    /// A client signing with `signer` on `channel`.
    pub fn new(signer: SigningIdentity, channel: impl Into<String>) -> Client {
        Client { signer, channel: channel.into() }
    }

    /// The client's identity.
    pub fn identity(&self) -> &Identity {
        self.signer.identity()
    }

    pub(crate) fn header(&self) -> TxHeader {
        let nonce: [u8; 24] = rand::random();
        TxHeader {
            channel: self.channel.clone(),
            creator: self.signer.identity().clone(),
            nonce: nonce.to_vec(),
            timestamp_ms: now_ms(),
        }
    }

    /// Builds and signs a proposal.
    pub fn propose(
        &self,
        chaincode: &str,
        function: &str,
        args: Vec<Vec<u8>>,
        transient: &[(String, Vec<u8>)],
    ) -> SignedProposal {
        let proposal = Proposal {
            header: self.header(),
            chaincode: chaincode.to_string(),
            invocation: Invocation { function: function.to_string(), args },
            sealed: None,
            transient_digest: transient_digest(transient),
        };
        let signature = self.signer.sign(&proposal.hash().0);
        SignedProposal { proposal, signature }
    }

    /// Checks that the endorsements agree and builds the signed transaction.
    pub fn assemble(
        &self,
        proposal: &SignedProposal,
        responses: &[ProposalResponse],
    ) -> Result<Transaction, ClientError> {
        let first = responses.first().ok_or(ClientError::NoEndorsements)?;
        let expected = first.payload.hash();
        for r in responses {
            if r.payload.hash() != expected {
                return Err(ClientError::EndorsementMismatch(describe(&first.endorsement), describe(&r.endorsement)));
            }
            if sha256(&encode(&r.response)) != r.payload.response_hash {
                return Err(ClientError::ResponseMismatch(describe(&r.endorsement)));
            }
        }
        let p = &proposal.proposal;
        let body = TxBody::Invoke(EndorsedInvocation {
            chaincode: p.chaincode.clone(),
            invocation: p.invocation.clone(),
            sealed: p.sealed.clone(),
            transient_digest: p.transient_digest,
            response: first.payload.clone(),
            endorsements: responses.iter().map(|r| r.endorsement.clone()).collect(),
        });
        Ok(self.sign(TxPayload { header: p.header.clone(), body }))
    }

    /// A signed lifecycle transaction (the signer must be an organisation admin).
    pub fn lifecycle(&self, op: LifecycleOp) -> Transaction {
        self.sign(TxPayload { header: self.header(), body: TxBody::Lifecycle(op) })
    }

    fn sign(&self, payload: TxPayload) -> Transaction {
        let signature = self.signer.sign(&payload.hash().0);
        Transaction { payload, signature }
    }

    /// Endorses and assembles a transaction without submitting it.
    pub fn prepare(
        &self,
        gateway: &dyn Gateway,
        chaincode: &str,
        function: &str,
        args: Vec<Vec<u8>>,
        transient: &[(String, Vec<u8>)],
    ) -> Result<(Transaction, ProposalResponse), ClientError> {
        let transient = with_blinding_secret(transient);
        let proposal = self.propose(chaincode, function, args, &transient);
        let responses = gateway.endorse(&proposal, &transient)?;
        let tx = self.assemble(&proposal, &responses)?;
        let first = responses.into_iter().next().ok_or(ClientError::NoEndorsements)?;
        Ok((tx, first))
    }

    /// Invokes a chaincode function and waits until the transaction commits valid.
    pub fn invoke(
        &self,
        gateway: &dyn Gateway,
        chaincode: &str,
        function: &str,
        args: Vec<Vec<u8>>,
        transient: &[(String, Vec<u8>)],
    ) -> Result<Committed, ClientError> {
        let (tx, endorsed) = self.prepare(gateway, chaincode, function, args, transient)?;
        let outcome = gateway.submit(tx)?;
        if !outcome.code.is_valid() {
            return Err(ClientError::Invalid { tx_id: outcome.tx_id, block: outcome.block, code: outcome.code });
        }
        Ok(Committed {
            tx_id: outcome.tx_id,
            block: outcome.block,
            response: endorsed.response,
            events: endorsed.payload.events,
        })
    }

    /// Evaluates a chaincode function on one node (no ordering, no writes).
    pub fn query(
        &self,
        gateway: &dyn Gateway,
        chaincode: &str,
        function: &str,
        args: Vec<Vec<u8>>,
    ) -> Result<ChaincodeResponse, ClientError> {
        let proposal = self.propose(chaincode, function, args, &[]);
        Ok(gateway.evaluate(&proposal, &[])?)
    }
}
