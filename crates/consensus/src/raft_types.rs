//! openraft's type configuration for TEEChain, and the encodings of what this crate
//! stores and sends.

use crate::boundary::{AppliedMarker, BlockProposal, NodeId};
use openraft::{BasicNode, LogId, StoredMembership};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::io::Cursor;
use std::sync::Arc;
use teechain_types::codec::{self, DecodeError, Limits};

openraft::declare_raft_types!(
    /// The Raft types of the ordering service: one log entry per block proposal.
    pub(crate) TypeConfig:
        D = ProposalData,
        R = ApplyResponse,
        NodeId = NodeId,
        Node = BasicNode,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = Cursor<Vec<u8>>,
        AsyncRuntime = openraft::TokioRuntime,
);

/// A Raft log entry of this crate.
pub(crate) type Entry = openraft::Entry<TypeConfig>;

/// The application data of a log entry: a shared [`BlockProposal`], so that the entry
/// can sit in memory, be replicated and be applied without copying its transactions.
/// Encoded exactly as the proposal itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ProposalData(pub(crate) Arc<BlockProposal>);

impl Serialize for ProposalData {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de> Deserialize<'de> for ProposalData {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        BlockProposal::deserialize(d).map(|p| ProposalData(Arc::new(p)))
    }
}

/// What applying one entry returns to the proposer: the block number, for entries that
/// carry a block.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ApplyResponse {
    /// The number of the block built from the entry, if it carried one.
    pub(crate) block: Option<u64>,
}

/// The content of an [`AppliedMarker`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct AppliedState {
    /// The last applied log id.
    pub(crate) last_applied: Option<LogId<NodeId>>,
    /// The last applied membership (with the log id that carried it).
    pub(crate) membership: StoredMembership<NodeId, BasicNode>,
    /// Blocks applied: the next block's number.
    pub(crate) blocks: u64,
    /// The last block's timestamp (ms since the Unix epoch), 0 before the first block.
    pub(crate) last_timestamp_ms: u64,
}

impl AppliedState {
    /// The opaque marker handed to the applier.
    pub(crate) fn marker(&self) -> AppliedMarker {
        AppliedMarker(codec::encode(self))
    }

    /// Reads a marker back.
    pub(crate) fn decode(marker: &AppliedMarker) -> Result<AppliedState, DecodeError> {
        decode(&marker.0, Limits::RECORD)
    }
}

/// The snapshot data of this crate: the applier's ledger bytes plus what the marker of
/// the installing node needs beyond the snapshot's metadata.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SnapshotPayload {
    /// Blocks in the ledger bytes.
    pub(crate) blocks: u64,
    /// The last block's timestamp.
    pub(crate) last_timestamp_ms: u64,
    /// What [`crate::BlockApplier::snapshot`] returned.
    pub(crate) ledger: Vec<u8>,
}

/// Bound on snapshot bytes accepted from a peer or from disk. Snapshots hold the whole
/// ledger; the bound only stops a corrupt length from allocating without end.
pub(crate) const SNAPSHOT_LIMIT: Limits = Limits { max_bytes: usize::MAX >> 1 };

/// Bound on one stored log entry (a block proposal or a membership change).
pub(crate) const ENTRY_LIMIT: Limits = Limits::BLOCK;

/// Encodes a value in the project's canonical encoding.
pub(crate) fn encode<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    codec::encode(value)
}

/// Decodes bytes from a peer or from disk, bounded and without panicking.
///
/// Unlike [`codec::decode`] this does not re-encode to reject non-canonical input: Raft
/// messages and stored log entries are never hashed or signed as bytes (a transaction's
/// id and signature are checked over its re-encoded value), and the re-encoding would
/// double the cost of every replicated block.
pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8], limits: Limits) -> Result<T, DecodeError> {
    if bytes.len() > limits.max_bytes {
        return Err(DecodeError::TooLarge { len: bytes.len(), max: limits.max_bytes });
    }
    let (&version, body) = bytes.split_first().ok_or(DecodeError::Empty)?;
    if version != codec::ENCODING_VERSION {
        return Err(DecodeError::Version(version));
    }
    let (value, rest): (T, &[u8]) =
        postcard::take_from_bytes(body).map_err(|e| DecodeError::Malformed(e.to_string()))?;
    if !rest.is_empty() {
        return Err(DecodeError::Trailing(rest.len()));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_is_bounded_and_total() {
        let bytes = encode(&(7u64, vec![1u8, 2, 3]));
        assert_eq!(decode::<(u64, Vec<u8>)>(&bytes, Limits::RECORD), Ok((7, vec![1, 2, 3])));
        assert!(matches!(decode::<(u64, Vec<u8>)>(&bytes, Limits { max_bytes: 3 }), Err(DecodeError::TooLarge { .. })));
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert_eq!(decode::<(u64, Vec<u8>)>(&trailing, Limits::RECORD), Err(DecodeError::Trailing(1)));
        assert_eq!(decode::<u8>(&[], Limits::RECORD), Err(DecodeError::Empty));
        assert_eq!(decode::<u8>(&[9, 1], Limits::RECORD), Err(DecodeError::Version(9)));
        // A length prefix claiming far more elements than the input holds fails cleanly.
        assert!(decode::<Vec<Vec<u8>>>(&[1, 0xff, 0xff, 0xff, 0xff, 0x0f, 1, 2], Limits::RECORD).is_err());
    }
}
