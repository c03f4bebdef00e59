//! The one canonical, versioned binary encoding.
//!
//! Every encoded value starts with [`ENCODING_VERSION`], followed by the value in
//! postcard's format (varint integers, length-prefixed sequences, enum tags).
//! The same bytes are hashed, signed, stored and sent. [`decode`] refuses oversized
//! input, trailing bytes, unknown versions and any non-canonical form (it re-encodes
//! and compares), so a value has exactly one encoding and a decoded value re-hashes to
//! what its sender signed.

use serde::de::DeserializeOwned;
use serde::Serialize;

/// The encoding version written as the first byte.
pub const ENCODING_VERSION: u8 = 1;

/// Size bounds applied when decoding input from outside.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Largest accepted encoding in bytes.
    pub max_bytes: usize,
}

impl Limits {
    /// Bound for one transaction or proposal.
    pub const TRANSACTION: Limits = Limits { max_bytes: 4 << 20 };
    /// Bound for one block.
    pub const BLOCK: Limits = Limits { max_bytes: 256 << 20 };
    /// Bound for small records (stored metadata, chaincode messages).
    pub const RECORD: Limits = Limits { max_bytes: 16 << 20 };
}

/// Why bytes did not decode.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    /// The input was larger than the limit for its kind.
    #[error("input of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// Input length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The input was empty.
    #[error("empty input")]
    Empty,
    /// The version byte is not one this build reads.
    #[error("unsupported encoding version {0}")]
    Version(u8),
    /// The body is malformed.
    #[error("malformed encoding: {0}")]
    Malformed(String),
    /// Bytes remained after the value.
    #[error("{0} trailing bytes after the value")]
    Trailing(usize),
    /// The value decoded but its encoding is not the canonical one.
    #[error("non-canonical encoding")]
    NonCanonical,
}

/// Encodes a value canonically.
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    let mut out = vec![ENCODING_VERSION];
    // postcard only fails on writer exhaustion or types it cannot represent; a Vec
    // writer grows and our types are all representable, so failure is a bug.
    let body = postcard::to_allocvec(value).expect("postcard encodes all TEEChain types");
    out.extend_from_slice(&body);
    out
}

/// Decodes bytes from outside: bounded, complete and canonical, never panicking.
pub fn decode<T: Serialize + DeserializeOwned>(bytes: &[u8], limits: Limits) -> Result<T, DecodeError> {
    if bytes.len() > limits.max_bytes {
        return Err(DecodeError::TooLarge { len: bytes.len(), max: limits.max_bytes });
    }
    let (&version, body) = bytes.split_first().ok_or(DecodeError::Empty)?;
    if version != ENCODING_VERSION {
        return Err(DecodeError::Version(version));
    }
    let (value, rest): (T, &[u8]) =
        postcard::take_from_bytes(body).map_err(|e| DecodeError::Malformed(e.to_string()))?;
    if !rest.is_empty() {
        return Err(DecodeError::Trailing(rest.len()));
    }
    // Reject a second spelling of the same value (over-long varints, for one).
    if postcard::to_allocvec(&value).map_err(|e| DecodeError::Malformed(e.to_string()))? != body {
        return Err(DecodeError::NonCanonical);
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_overlong_varint() {
        // 5 as a one-byte varint is canonical; 0x85 0x00 spells it in two.
        assert_eq!(decode::<u32>(&[1, 5], Limits::RECORD), Ok(5));
        assert_eq!(decode::<u32>(&[1, 0x85, 0x00], Limits::RECORD), Err(DecodeError::NonCanonical));
    }

    #[test]
    fn rejects_trailing_version_and_size() {
        assert_eq!(decode::<u8>(&[1, 5, 6], Limits::RECORD), Err(DecodeError::Trailing(1)));
        assert_eq!(decode::<u8>(&[9, 5], Limits::RECORD), Err(DecodeError::Version(9)));
        assert_eq!(decode::<u8>(&[], Limits::RECORD), Err(DecodeError::Empty));
        assert!(matches!(decode::<Vec<u8>>(&[0; 10], Limits { max_bytes: 4 }), Err(DecodeError::TooLarge { .. })));
    }

    #[test]
    fn huge_length_prefix_fails_cleanly() {
        // A sequence claiming u32::MAX elements in a few bytes must not allocate it.
        let bytes = [1, 0xff, 0xff, 0xff, 0xff, 0x0f, 1, 2];
        assert!(decode::<Vec<Vec<u8>>>(&bytes, Limits::RECORD).is_err());
    }
}
