//! Proposals, endorsements and transactions.

use crate::chaincode::{ChaincodeDefinition, ChaincodeEvent, ChaincodeResponse, Invocation};
use crate::codec::encode;
use crate::enclave::EnclaveRegistration;
use crate::hash::{sha256, sha256_parts, Hash32, Signature, TxId};
use crate::identity::Identity;
use crate::keys::{KeyDistribution, KeyScope, SealedInvocation};
use crate::rwset::ReadWriteSet;
use serde::{Deserialize, Serialize};

/// Who made a proposal or transaction, when, and a nonce that makes its id unique.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxHeader {
    /// Channel id.
    pub channel: String,
    /// The creator's identity.
    pub creator: Identity,
    /// Random bytes chosen by the creator (24 bytes by convention).
    pub nonce: Vec<u8>,
    /// Creator's clock at creation (ms since the Unix epoch).
    pub timestamp_ms: u64,
}

impl TxHeader {
    /// The transaction id: SHA-256 of the creator's certificate and the nonce, as in
    /// Fabric. A replay of the same header has the same id and is rejected.
    pub fn tx_id(&self) -> TxId {
        sha256_parts(&[self.creator.org.as_bytes(), &self.creator.cert_der, &self.nonce])
    }
}

/// A request to execute a chaincode function.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proposal {
    /// Creator, channel, nonce, time.
    pub header: TxHeader,
    /// Chaincode name.
    pub chaincode: String,
    /// Function and arguments (empty when `sealed` carries them).
    pub invocation: Invocation,
    /// A confidential invocation: function, arguments and response key sealed to the
    /// chaincode's key.
    pub sealed: Option<SealedInvocation>,
    /// Digest of the transient map (see [`transient_digest`]), so the signature binds it
    /// without the transient values ever entering the transaction.
    pub transient_digest: Hash32,
}

impl Proposal {
    /// The hash endorsements refer to.
    pub fn hash(&self) -> Hash32 {
        sha256(&encode(self))
    }
}

/// Digest of a transient map (entries in the order given).
pub fn transient_digest(transient: &[(String, Vec<u8>)]) -> Hash32 {
    sha256(&encode(transient))
}

/// A proposal and its creator's signature over [`Proposal::hash`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedProposal {
    /// The proposal.
    pub proposal: Proposal,
    /// Creator's signature over the proposal hash.
    pub signature: Signature,
}

/// The chaincode that produced an endorsement.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChaincodeRef {
    /// Name.
    pub name: String,
    /// Committed definition sequence the endorser executed under.
    pub sequence: u64,
    /// Hash of the code executed.
    pub code_hash: Hash32,
}

/// What endorsers sign: the outcome of executing one proposal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProposalResponsePayload {
    /// Hash of the proposal executed.
    pub proposal_hash: Hash32,
    /// Chaincode executed.
    pub chaincode: ChaincodeRef,
    /// Read-write set.
    pub rwset: ReadWriteSet,
    /// SHA-256 of the encoded [`crate::chaincode::ChaincodeResponse`].
    pub response_hash: Hash32,
    /// Events emitted.
    pub events: Vec<ChaincodeEvent>,
}

impl ProposalResponsePayload {
    /// The hash endorsers sign.
    pub fn hash(&self) -> Hash32 {
        sha256(&encode(self))
    }
}

/// One registered enclave's signature over a [`ProposalResponsePayload`] hash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endorsement {
    /// The organisation the enclave is registered to. Validation checks it against the
    /// registry; it is here so clients and gateways can read it without a lookup.
    pub org: String,
    /// The endorsing enclave's id ([`crate::enclave::EnclaveKeys::id`]).
    pub enclave: Hash32,
    /// Signature over the payload hash with the enclave's signing key.
    pub signature: Signature,
}

/// One endorser's answer to a proposal: the signed outcome and the chaincode's response.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProposalResponse {
    /// What was signed.
    pub payload: ProposalResponsePayload,
    /// The chaincode's response (its hash is in the payload).
    pub response: ChaincodeResponse,
    /// The signature.
    pub endorsement: Endorsement,
}

/// An executed, endorsed chaincode invocation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndorsedInvocation {
    /// Chaincode name.
    pub chaincode: String,
    /// Function and arguments, as proposed.
    pub invocation: Invocation,
    /// The sealed invocation, as proposed.
    pub sealed: Option<SealedInvocation>,
    /// Digest of the transient map, as proposed.
    pub transient_digest: Hash32,
    /// The agreed outcome.
    pub response: ProposalResponsePayload,
    /// Endorsements over `response.hash()`.
    pub endorsements: Vec<Endorsement>,
}

/// Chaincode lifecycle operations, signed by an organisation admin.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LifecycleOp {
    /// The creator's organisation approves a definition.
    Approve(ChaincodeDefinition),
    /// Commit a definition that enough organisations approved.
    Commit(ChaincodeDefinition),
}

/// What a transaction does.
// Invocations are by far the common case; boxing them would add an allocation to every
// transaction decoded for the few lifecycle ones.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TxBody {
    /// An endorsed chaincode invocation.
    Invoke(EndorsedInvocation),
    /// A lifecycle operation.
    Lifecycle(LifecycleOp),
    /// An organisation admin admits an enclave to endorse for the organisation.
    RegisterEnclave(EnclaveRegistration),
    /// An enclave distributes (or grants) one epoch of a key.
    DistributeKey(KeyDistribution),
    /// An organisation admin asks for a new epoch of a key (the enclaves make it).
    RotateKey(KeyScope),
    /// A node vouches for the time (ms since the Unix epoch) by its clock; the channel's
    /// time is the median of the organisations' latest ([`ledger_time`]).
    TimeBeacon(u64),
}

/// The signed content of a transaction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxPayload {
    /// Creator, channel, nonce, time.
    pub header: TxHeader,
    /// What it does.
    pub body: TxBody,
}

impl TxPayload {
    /// The hash the creator signs.
    pub fn hash(&self) -> Hash32 {
        sha256(&encode(self))
    }
}

/// A transaction as ordered into blocks: payload and the creator's signature.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transaction {
    /// Signed content.
    pub payload: TxPayload,
    /// Creator's signature over `payload.hash()`.
    pub signature: Signature,
}

impl Transaction {
    /// The transaction id.
    pub fn tx_id(&self) -> TxId {
        self.payload.header.tx_id()
    }

    /// For an invocation, the proposal its endorsements refer to.
    pub fn proposal(&self) -> Option<Proposal> {
        match &self.payload.body {
            TxBody::Invoke(inv) => Some(Proposal {
                header: self.payload.header.clone(),
                chaincode: inv.chaincode.clone(),
                invocation: inv.invocation.clone(),
                sealed: inv.sealed.clone(),
                transient_digest: inv.transient_digest,
            }),
            TxBody::Lifecycle(_)
            | TxBody::RegisterEnclave(_)
            | TxBody::DistributeKey(_)
            | TxBody::RotateKey(_)
            | TxBody::TimeBeacon(_) => None,
        }
    }
}

/// State namespace of the channel's time: one entry per organisation (the key is its
/// name), the latest time (ms since the Unix epoch, u64 BE) one of its nodes vouched for
/// in a [`TxBody::TimeBeacon`].
pub const TIME_NAMESPACE: &str = "_time";

/// The latest time `org`'s nodes vouched for in `state` ([`TIME_NAMESPACE`]), if any.
pub fn latest_beacon(state: &dyn crate::state::StateView, org: &str) -> Result<Option<u64>, crate::state::StateError> {
    Ok(state
        .get(TIME_NAMESPACE, org.as_bytes())?
        .and_then(|v| <[u8; 8]>::try_from(v.value.as_slice()).ok())
        .map(u64::from_be_bytes))
}

/// The channel's time as its ledger vouches for it: the lower median over the channel's
/// organisations of their latest beacons (an organisation without one counts as 0), so
/// no minority of organisations moves it beyond what an honest one said. `None` while a
/// majority of organisations has sent none.
pub fn ledger_time(mut beacons: Vec<u64>, orgs: usize) -> Option<u64> {
    beacons.resize(orgs.max(beacons.len()), 0);
    beacons.sort_unstable();
    // The lower median: the ⌈n/2⌉-th smallest.
    let median = *beacons.get(beacons.len().div_ceil(2).checked_sub(1)?)?;
    (median > 0).then_some(median)
}

#[cfg(test)]
mod time_tests {
    use super::ledger_time;

    #[test]
    fn the_median_needs_a_majority_and_ignores_a_minority() {
        assert_eq!(ledger_time(vec![], 3), None);
        assert_eq!(ledger_time(vec![100], 3), None, "one of three is no majority");
        assert_eq!(ledger_time(vec![100, 200], 3), Some(100));
        assert_eq!(ledger_time(vec![100, 200, 300], 3), Some(200));
        // One organisation far ahead or far behind does not move it past the honest two.
        assert_eq!(ledger_time(vec![100, 110, u64::MAX], 3), Some(110));
        assert_eq!(ledger_time(vec![1, 100, 110], 3), Some(100));
        assert_eq!(ledger_time(vec![5, 6, 7, 8], 4), Some(6));
        assert_eq!(ledger_time(vec![5], 1), Some(5));
    }
}
