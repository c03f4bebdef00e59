//! The framing of the enclave socket: how [`Enclave::ecall`](crate::Enclave::ecall) and its
//! ocalls travel between a host and a separate enclave process.
//!
//! A frame is a 4-byte big-endian length followed by that many bytes, at most
//! [`MAX_FRAME_BYTES`]. Each frame holds one canonically encoded message
//! ([`teechain_types::codec`]): [`ToEnclave`] from the host, [`FromEnclave`] from the
//! enclave. Their payloads are the same encoded bytes that cross the in-process boundary
//! ([`EnclaveRequest`](crate::protocol::EnclaveRequest),
//! [`EnclaveResponse`](crate::protocol::EnclaveResponse),
//! [`HostCall`](crate::protocol::HostCall), [`HostReply`](crate::protocol::HostReply)), so
//! both modes run the very same enclave code on the very same bytes.
//!
//! One ecall on a connection: the host sends [`ToEnclave::Call`]; the enclave answers with
//! any number of [`FromEnclave::Ocall`], each answered by one [`ToEnclave::OcallReply`],
//! and ends with [`FromEnclave::Done`]. A connection carries one ecall at a time and can
//! carry many in sequence. [`FromEnclave::Abort`] is the enclave's last word before it
//! closes a connection whose peer broke the protocol.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::io::{self, Read, Write};
use teechain_types::codec::{decode, encode, DecodeError, Limits};

/// The largest frame accepted or sent, in bytes (64 MiB). Larger than any request,
/// response or host reply the enclave itself accepts, so the frame limit never decides
/// what a call may carry; it only keeps a broken peer from making us allocate without end.
pub const MAX_FRAME_BYTES: u32 = 64 << 20;

const FRAME_LIMITS: Limits = Limits { max_bytes: MAX_FRAME_BYTES as usize };

/// A message from the host to the enclave process.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ToEnclave {
    /// Start an ecall: an encoded [`EnclaveRequest`](crate::protocol::EnclaveRequest).
    Call(Vec<u8>),
    /// The answer to the last [`FromEnclave::Ocall`]: an encoded
    /// [`HostReply`](crate::protocol::HostReply).
    OcallReply(Vec<u8>),
}

/// A message from the enclave process to the host.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FromEnclave {
    /// A state read during the current ecall: an encoded
    /// [`HostCall`](crate::protocol::HostCall).
    Ocall(Vec<u8>),
    /// The end of the current ecall: an encoded
    /// [`EnclaveResponse`](crate::protocol::EnclaveResponse).
    Done(Vec<u8>),
    /// The enclave is closing this connection because the host broke the protocol
    /// (a malformed, oversized or unexpected frame); the text says what was wrong.
    Abort(String),
}

/// Why a frame could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// The peer closed the connection between frames.
    #[error("connection closed by the peer")]
    Closed,
    /// The peer closed the connection in the middle of a frame.
    #[error("connection closed in the middle of a frame")]
    Truncated,
    /// A frame's length is over [`MAX_FRAME_BYTES`].
    #[error("frame of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// The length the frame has or claims.
        len: u64,
        /// The limit.
        max: u32,
    },
    /// A frame's bytes are not a message of the expected kind.
    #[error("malformed frame: {0}")]
    Malformed(#[from] DecodeError),
    /// The enclave closed the connection because this side broke the protocol
    /// ([`FromEnclave::Abort`]).
    #[error("the enclave closed the connection: {0}")]
    Aborted(String),
    /// A well-formed message arrived where the protocol does not allow it.
    #[error("unexpected message: {0}")]
    Unexpected(&'static str),
    /// The socket failed (including a read or write timeout).
    #[error("{0}")]
    Io(#[from] io::Error),
}

impl WireError {
    /// True when the peer had gone away before this side sent or received anything on the
    /// connection that it noticed: the connection was dead, not the exchange broken.
    pub(crate) fn peer_gone(&self) -> bool {
        match self {
            WireError::Closed => true,
            WireError::Io(e) => matches!(e.kind(), io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset),
            _ => false,
        }
    }

    /// True when one side broke the protocol (rather than the connection failing).
    pub(crate) fn is_violation(&self) -> bool {
        matches!(
            self,
            WireError::TooLarge { .. } | WireError::Malformed(_) | WireError::Unexpected(_) | WireError::Aborted(_)
        )
    }

    /// True for a read or write timeout.
    pub(crate) fn is_timeout(&self) -> bool {
        matches!(self, WireError::Io(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut))
    }
}

/// Writes one frame holding `payload`.
pub fn write_frame(w: &mut impl Write, payload: &[u8]) -> Result<(), WireError> {
    let len = u32::try_from(payload.len())
        .ok()
        .filter(|&l| l <= MAX_FRAME_BYTES)
        .ok_or(WireError::TooLarge { len: payload.len() as u64, max: MAX_FRAME_BYTES })?;
    w.write_all(&len.to_be_bytes())?;
    w.write_all(payload)?;
    w.flush()?;
    Ok(())
}

/// Reads one frame and returns its payload. A length over [`MAX_FRAME_BYTES`] is refused
/// before anything is allocated for it.
pub fn read_frame(r: &mut impl Read) -> Result<Vec<u8>, WireError> {
    let mut header = [0u8; 4];
    let mut got = 0;
    while got < header.len() {
        match r.read(&mut header[got..]) {
            // End of stream on a frame boundary is an orderly close; inside the header it
            // is not.
            Ok(0) if got == 0 => return Err(WireError::Closed),
            Ok(0) => return Err(WireError::Truncated),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    let len = u32::from_be_bytes(header);
    if len > MAX_FRAME_BYTES {
        return Err(WireError::TooLarge { len: len.into(), max: MAX_FRAME_BYTES });
    }
    // Read through `take` rather than into a buffer of the claimed size: memory then
    // grows with the bytes that actually arrive, not with what the peer claims.
    let mut payload = Vec::new();
    r.take(len.into()).read_to_end(&mut payload)?;
    if payload.len() != len as usize {
        return Err(WireError::Truncated);
    }
    Ok(payload)
}

/// Encodes `message` and writes it as one frame.
pub fn send<T: Serialize>(w: &mut impl Write, message: &T) -> Result<(), WireError> {
    write_frame(w, &encode(message))
}

/// Reads one frame and decodes it as a `T`.
pub fn recv<T: Serialize + DeserializeOwned>(r: &mut impl Read) -> Result<T, WireError> {
    let frame = read_frame(r)?;
    Ok(decode(&frame, FRAME_LIMITS)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        write_frame(&mut out, payload).unwrap();
        out
    }

    #[test]
    fn messages_round_trip() {
        let mut buf = Vec::new();
        send(&mut buf, &ToEnclave::Call(b"request".to_vec())).unwrap();
        send(&mut buf, &FromEnclave::Done(Vec::new())).unwrap();
        send(&mut buf, &FromEnclave::Abort("why".into())).unwrap();
        let mut r = buf.as_slice();
        assert_eq!(recv::<ToEnclave>(&mut r).unwrap(), ToEnclave::Call(b"request".to_vec()));
        assert_eq!(recv::<FromEnclave>(&mut r).unwrap(), FromEnclave::Done(Vec::new()));
        assert_eq!(recv::<FromEnclave>(&mut r).unwrap(), FromEnclave::Abort("why".into()));
        assert!(matches!(recv::<FromEnclave>(&mut r), Err(WireError::Closed)));
    }

    #[test]
    fn oversized_length_is_refused_before_reading_the_body() {
        let mut bytes = (MAX_FRAME_BYTES + 1).to_be_bytes().to_vec();
        bytes.extend_from_slice(b"only a few bytes follow");
        let err = read_frame(&mut bytes.as_slice()).unwrap_err();
        assert!(matches!(err, WireError::TooLarge { len, .. } if len == u64::from(MAX_FRAME_BYTES) + 1), "{err}");
        let err = read_frame(&mut u32::MAX.to_be_bytes().as_slice()).unwrap_err();
        assert!(matches!(err, WireError::TooLarge { .. }), "{err}");
        // Nor is one written.
        let big = vec![0u8; MAX_FRAME_BYTES as usize + 1];
        assert!(matches!(write_frame(&mut Vec::new(), &big), Err(WireError::TooLarge { .. })));
    }

    #[test]
    fn truncated_frames_are_refused() {
        let whole = frame(&encode(&ToEnclave::Call(vec![7; 100])));
        for cut in 1..whole.len() {
            let err = recv::<ToEnclave>(&mut &whole[..cut]).unwrap_err();
            assert!(matches!(err, WireError::Truncated), "cut at {cut}: {err}");
        }
        assert!(matches!(recv::<ToEnclave>(&mut &whole[..0]), Err(WireError::Closed)));
    }

    #[test]
    fn garbage_frames_are_refused() {
        for garbage in [
            &[][..],
            &[0xff],
            &[1, 9, 1, 2],       // unknown variant
            &[1, 0, 5, 1],       // a Vec claiming 5 bytes holding 1
            &[1, 0, 0, 0xaa],    // trailing bytes
            &[2, 0, 0],          // unknown encoding version
            &[1, 0, 0x80, 0x00], // over-long length varint
        ] {
            let err = recv::<ToEnclave>(&mut frame(garbage).as_slice()).unwrap_err();
            assert!(matches!(err, WireError::Malformed(_)), "{garbage:?}: {err}");
            assert!(err.is_violation());
        }
        // A valid message of the other direction is garbage too.
        let err = recv::<ToEnclave>(&mut frame(&encode(&FromEnclave::Abort("x".into()))).as_slice()).unwrap_err();
        assert!(matches!(err, WireError::Malformed(_)), "{err}");
    }
}
