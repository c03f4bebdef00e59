//! Blocks, their hash chain, and per-transaction validation codes.

use crate::codec::encode;
use crate::hash::{sha256, Hash32};
use crate::tx::Transaction;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A block header; headers form a SHA-256 hash chain through `previous_hash`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockHeader {
    /// Height (0 for the first block).
    pub number: u64,
    /// Hash of the previous header ([`Hash32::ZERO`] for block 0).
    pub previous_hash: Hash32,
    /// Digest of the transactions (see [`data_hash`]).
    pub data_hash: Hash32,
    /// Cut time chosen by the orderer (ms since the Unix epoch).
    pub timestamp_ms: u64,
}

impl BlockHeader {
    /// The block hash.
    pub fn hash(&self) -> Hash32 {
        sha256(&encode(self))
    }
}

/// The outcome of validating one transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ValidationCode {
    /// Valid: its writes were applied.
    Valid,
    /// The creator's signature does not verify.
    BadCreatorSignature,
    /// The creator's certificate does not chain to the CA of the organisation it names,
    /// or that organisation is not in the channel.
    UnknownCreator,
    /// The transaction names another channel.
    WrongChannel,
    /// A transaction with this id was already committed or appears earlier in the block.
    DuplicateTxId,
    /// A key read was changed (version or value) before this transaction committed.
    MvccReadConflict,
    /// A range read would now return different keys.
    PhantomReadConflict,
    /// The endorsements do not satisfy the chaincode's endorsement policy.
    EndorsementPolicyFailure,
    /// An endorsement signature does not verify or its endorser is not a valid peer.
    BadEndorsement,
    /// The endorsed proposal hash does not match the transaction's proposal.
    ProposalMismatch,
    /// The chaincode is not committed on the channel, or the endorsement names another
    /// definition sequence or code.
    ChaincodeNotDefined,
    /// The lifecycle operation's creator is not an organisation admin.
    LifecycleUnauthorized,
    /// The lifecycle operation is inconsistent (wrong sequence, not enough approvals,
    /// bad policy).
    LifecycleInvalid,
    /// The endorsed response was not a success, or the invocation writes into a system
    /// namespace.
    InvalidInvocation,
    /// The private part of the read-write set names a collection the chaincode does not
    /// have, or is not in canonical order.
    InvalidCollection,
    /// An enclave registration is not signed by an admin of the organisation it names.
    EnclaveRegistrationUnauthorized,
    /// An enclave registration's evidence does not verify against the channel's
    /// attestation policy, or the enclave is already registered.
    InvalidEnclaveRegistration,
    /// A key distribution is not signed by a registered enclave that may hold the key,
    /// wraps it to an enclave that may not, or its epoch is taken or was not requested;
    /// or a rotation request is not an admin's, or one is pending already.
    InvalidKeyDistribution,
    /// The proposal's time lies outside the channel's window around the channel's time
    /// (the organisations' median beacon): chaincode saw a time the ledger does not
    /// vouch for.
    ProposalTimeOutOfWindow,
    /// The invocation sealed under a key epoch that is not the latest committed one of
    /// its key, or not the committed key of that epoch.
    KeyEpochConflict,
    /// A time beacon is not a node's, or not later than its organisation's latest.
    InvalidTimeBeacon,
}

impl ValidationCode {
    /// Every code, in the order of their one-byte numbers.
    pub const ALL: [ValidationCode; 21] = [
        ValidationCode::Valid,
        ValidationCode::BadCreatorSignature,
        ValidationCode::UnknownCreator,
        ValidationCode::WrongChannel,
        ValidationCode::DuplicateTxId,
        ValidationCode::MvccReadConflict,
        ValidationCode::PhantomReadConflict,
        ValidationCode::EndorsementPolicyFailure,
        ValidationCode::BadEndorsement,
        ValidationCode::ProposalMismatch,
        ValidationCode::ChaincodeNotDefined,
        ValidationCode::LifecycleUnauthorized,
        ValidationCode::LifecycleInvalid,
        ValidationCode::InvalidInvocation,
        ValidationCode::InvalidCollection,
        ValidationCode::EnclaveRegistrationUnauthorized,
        ValidationCode::InvalidEnclaveRegistration,
        ValidationCode::InvalidKeyDistribution,
        ValidationCode::ProposalTimeOutOfWindow,
        ValidationCode::KeyEpochConflict,
        ValidationCode::InvalidTimeBeacon,
    ];

    /// The code's one-byte number (its index in [`ValidationCode::ALL`]).
    pub fn to_u8(self) -> u8 {
        Self::ALL.iter().position(|c| *c == self).unwrap_or(0) as u8
    }

    /// The code with a one-byte number, if any.
    pub fn from_u8(b: u8) -> Option<ValidationCode> {
        Self::ALL.get(b as usize).copied()
    }

    /// True when the creator's signature verified, so the id is the creator's own and
    /// is recorded against replay. A forged transaction must not burn a real id.
    pub fn binds_tx_id(self) -> bool {
        !matches!(
            self,
            ValidationCode::BadCreatorSignature
                | ValidationCode::UnknownCreator
                | ValidationCode::WrongChannel
                | ValidationCode::DuplicateTxId
        )
    }

    /// True for [`ValidationCode::Valid`].
    pub fn is_valid(self) -> bool {
        self == ValidationCode::Valid
    }

    /// The code's name as printed, e.g. `MVCC_READ_CONFLICT`.
    pub fn name(self) -> &'static str {
        match self {
            ValidationCode::Valid => "VALID",
            ValidationCode::BadCreatorSignature => "BAD_CREATOR_SIGNATURE",
            ValidationCode::UnknownCreator => "UNKNOWN_CREATOR",
            ValidationCode::WrongChannel => "WRONG_CHANNEL",
            ValidationCode::DuplicateTxId => "DUPLICATE_TXID",
            ValidationCode::MvccReadConflict => "MVCC_READ_CONFLICT",
            ValidationCode::PhantomReadConflict => "PHANTOM_READ_CONFLICT",
            ValidationCode::EndorsementPolicyFailure => "ENDORSEMENT_POLICY_FAILURE",
            ValidationCode::BadEndorsement => "BAD_ENDORSEMENT",
            ValidationCode::ProposalMismatch => "PROPOSAL_MISMATCH",
            ValidationCode::ChaincodeNotDefined => "CHAINCODE_NOT_DEFINED",
            ValidationCode::LifecycleUnauthorized => "LIFECYCLE_UNAUTHORIZED",
            ValidationCode::LifecycleInvalid => "LIFECYCLE_INVALID",
            ValidationCode::InvalidInvocation => "INVALID_INVOCATION",
            ValidationCode::InvalidCollection => "INVALID_COLLECTION",
            ValidationCode::EnclaveRegistrationUnauthorized => "ENCLAVE_REGISTRATION_UNAUTHORIZED",
            ValidationCode::InvalidEnclaveRegistration => "INVALID_ENCLAVE_REGISTRATION",
            ValidationCode::InvalidKeyDistribution => "INVALID_KEY_DISTRIBUTION",
            ValidationCode::ProposalTimeOutOfWindow => "PROPOSAL_TIME_OUT_OF_WINDOW",
            ValidationCode::KeyEpochConflict => "KEY_EPOCH_CONFLICT",
            ValidationCode::InvalidTimeBeacon => "INVALID_TIME_BEACON",
        }
    }
}

impl fmt::Display for ValidationCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A block: header, transactions, and the validation code of each transaction (not
/// covered by the header hash: every node computes the same codes deterministically).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Block {
    /// Header.
    pub header: BlockHeader,
    /// Transactions in order.
    pub transactions: Vec<Transaction>,
    /// One code per transaction once validated; empty before.
    pub validation: Vec<ValidationCode>,
}

/// Digest of a block's transactions: SHA-256 over their encodings' hashes in order.
pub fn data_hash(transactions: &[Transaction]) -> Hash32 {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for tx in transactions {
        h.update(sha256(&encode(tx)).0);
    }
    Hash32(h.finalize().into())
}

impl Block {
    /// Cuts a new, not yet validated block after `previous`.
    pub fn new(number: u64, previous_hash: Hash32, timestamp_ms: u64, transactions: Vec<Transaction>) -> Block {
        let header = BlockHeader { number, previous_hash, data_hash: data_hash(&transactions), timestamp_ms };
        Block { header, transactions, validation: Vec::new() }
    }

    /// The block hash.
    pub fn hash(&self) -> Hash32 {
        self.header.hash()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_numbers_round_trip() {
        for c in ValidationCode::ALL {
            assert_eq!(ValidationCode::from_u8(c.to_u8()), Some(c));
        }
        assert_eq!(ValidationCode::from_u8(200), None);
    }
}
