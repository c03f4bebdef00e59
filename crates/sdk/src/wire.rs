//! Hand-written codecs for the few messages that cross the ABI in bulk: the invocation,
//! the response, range results and history. They produce and accept exactly the bytes of
//! `teechain_types::codec` (a version byte, then postcard), but copy byte strings in one
//! go: serde moves a `Vec<u8>` element by element, which inside the interpreter costs
//! about a hundred units of fuel per byte. The tests check them against the codec.

use teechain_types::chaincode::{HistoryEntry, Invocation};
use teechain_types::codec::ENCODING_VERSION;
use teechain_types::hash::Hash32;

/// Reads postcard values from a byte string.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    /// A reader after the version byte.
    pub(crate) fn new(bytes: &'a [u8]) -> Result<Self, String> {
        match bytes.split_first() {
            Some((&ENCODING_VERSION, rest)) => Ok(Reader { buf: rest }),
            Some((v, _)) => Err(format!("unsupported encoding version {v}")),
            None => Err("empty input".into()),
        }
    }

    fn byte(&mut self) -> Result<u8, String> {
        let (&b, rest) = self.buf.split_first().ok_or("unexpected end of input")?;
        self.buf = rest;
        Ok(b)
    }

    /// A canonical (shortest) LEB128 varint of at most `max_bytes` bytes.
    fn varint(&mut self, max_bytes: usize) -> Result<u64, String> {
        let mut value: u64 = 0;
        for i in 0..max_bytes {
            let b = self.byte()?;
            value |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                if b == 0 && i > 0 {
                    return Err("non-canonical varint".into());
                }
                return Ok(value);
            }
        }
        Err("varint too long".into())
    }

    pub(crate) fn u64(&mut self) -> Result<u64, String> {
        self.varint(10)
    }

    pub(crate) fn u32(&mut self) -> Result<u32, String> {
        u32::try_from(self.varint(5)?).map_err(|_| "u32 out of range".to_string())
    }

    fn len(&mut self) -> Result<usize, String> {
        let len = usize::try_from(self.u64()?).map_err(|_| "length out of range".to_string())?;
        if len > self.buf.len() {
            return Err(format!("length {len} exceeds the {} remaining bytes", self.buf.len()));
        }
        Ok(len)
    }

    pub(crate) fn bytes(&mut self) -> Result<&'a [u8], String> {
        let len = self.len()?;
        let (head, rest) = self.buf.split_at(len);
        self.buf = rest;
        Ok(head)
    }

    pub(crate) fn string(&mut self) -> Result<String, String> {
        let bytes = self.bytes()?;
        String::from_utf8(bytes.to_vec()).map_err(|_| "string is not UTF-8".to_string())
    }

    /// A sequence length; each element takes at least one byte, so it is bounded by the
    /// remaining input.
    pub(crate) fn seq_len(&mut self) -> Result<usize, String> {
        self.len()
    }

    pub(crate) fn option_tag(&mut self) -> Result<bool, String> {
        match self.byte()? {
            0 => Ok(false),
            1 => Ok(true),
            t => Err(format!("bad option tag {t}")),
        }
    }

    pub(crate) fn finish(self) -> Result<(), String> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(format!("{} trailing bytes", self.buf.len()))
        }
    }
}

fn write_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn write_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    write_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// Encodes a `ChaincodeResponse { status, message, payload }`.
pub(crate) fn encode_response(status: u32, message: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + 5 + 5 + message.len() + 5 + payload.len());
    out.push(ENCODING_VERSION);
    write_varint(&mut out, u64::from(status));
    write_bytes(&mut out, message.as_bytes());
    write_bytes(&mut out, payload);
    out
}

/// Decodes an `Invocation { function, args }`.
pub(crate) fn decode_invocation(bytes: &[u8]) -> Result<Invocation, String> {
    let mut r = Reader::new(bytes)?;
    let function = r.string()?;
    let n = r.seq_len()?;
    let mut args = Vec::with_capacity(n);
    for _ in 0..n {
        args.push(r.bytes()?.to_vec());
    }
    r.finish()?;
    Ok(Invocation { function, args })
}

/// Decodes a `Vec<(Vec<u8>, Vec<u8>)>`.
pub(crate) fn decode_pairs(bytes: &[u8]) -> Result<crate::KvPairs, String> {
    let mut r = Reader::new(bytes)?;
    let n = r.seq_len()?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let k = r.bytes()?.to_vec();
        let v = r.bytes()?.to_vec();
        out.push((k, v));
    }
    r.finish()?;
    Ok(out)
}

/// Decodes a `Vec<HistoryEntry>`.
pub(crate) fn decode_history(bytes: &[u8]) -> Result<Vec<HistoryEntry>, String> {
    let mut r = Reader::new(bytes)?;
    let n = r.seq_len()?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let tx_id = <[u8; 32]>::try_from(r.bytes()?).map_err(|_| "tx id is not 32 bytes".to_string())?;
        let block = r.u64()?;
        let tx_index = r.u32()?;
        let timestamp_ms = r.u64()?;
        let value = if r.option_tag()? { Some(r.bytes()?.to_vec()) } else { None };
        out.push(HistoryEntry { tx_id: Hash32(tx_id), block, tx_index, timestamp_ms, value });
    }
    r.finish()?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use teechain_types::chaincode::ChaincodeResponse;
    use teechain_types::codec::encode;
    use teechain_types::hash::sha256;

    fn big(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 7) as u8).collect()
    }

    #[test]
    fn response_matches_the_codec() {
        for (status, message, payload) in [
            (200, "", vec![]),
            (400, "insufficient funds: ü", vec![1, 2, 3]),
            (500, "x", big(70_000)),
            (u32::MAX, "", vec![]),
        ] {
            let expected = encode(&ChaincodeResponse { status, message: message.into(), payload: payload.clone() });
            assert_eq!(encode_response(status, message, &payload), expected);
        }
    }

    #[test]
    fn invocation_matches_the_codec() {
        for inv in [
            Invocation { function: String::new(), args: vec![] },
            Invocation { function: "transfer".into(), args: vec![b"org1".to_vec(), vec![], big(300)] },
            Invocation { function: "big".into(), args: vec![big(200_000)] },
        ] {
            assert_eq!(decode_invocation(&encode(&inv)).unwrap(), inv);
        }
    }

    #[test]
    fn pairs_and_history_match_the_codec() {
        let pairs = vec![(b"a".to_vec(), big(200)), (vec![], vec![]), (big(130), b"z".to_vec())];
        assert_eq!(decode_pairs(&encode(&pairs)).unwrap(), pairs);
        let history = vec![
            HistoryEntry { tx_id: sha256(b"1"), block: 0, tx_index: 0, timestamp_ms: 0, value: None },
            HistoryEntry {
                tx_id: sha256(b"2"),
                block: u64::MAX,
                tx_index: u32::MAX,
                timestamp_ms: 1_700_000_000_000,
                value: Some(big(1000)),
            },
        ];
        assert_eq!(decode_history(&encode(&history)).unwrap(), history);
    }

    #[test]
    fn malformed_input_is_an_error() {
        let good = encode(&Invocation { function: "f".into(), args: vec![b"x".to_vec()] });
        for n in 0..good.len() {
            assert!(decode_invocation(&good[..n]).is_err(), "prefix of {n} bytes");
        }
        let mut trailing = good.clone();
        trailing.push(0);
        assert!(decode_invocation(&trailing).is_err());
        let mut version = good.clone();
        version[0] = 9;
        assert!(decode_invocation(&version).is_err());
        // Over-long varint (a length of 1 spelled in two bytes) and a huge length.
        assert!(decode_pairs(&[1, 0x81, 0x00]).is_err());
        assert!(decode_pairs(&[1, 0xff, 0xff, 0xff, 0xff, 0x0f]).is_err());
        assert!(decode_history(&[1, 1, 3, 1, 2, 3]).is_err());
    }
}
