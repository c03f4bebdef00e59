//! Length hiding for sealed messages: a plaintext is padded to the next size bucket
//! before it is encrypted, so a ciphertext tells its size only to the bucket, not to the
//! byte (a balance of 90 and one of 1,000,000 seal to the same length).
//!
//! Buckets are powers of two from [`MIN_BUCKET`] bytes. A padded message is
//! `length (u32 BE) ‖ plaintext ‖ zeros` filling its bucket.

use crate::CryptoError;

/// The smallest bucket, in bytes (the length prefix included).
pub const MIN_BUCKET: usize = 32;

/// The bucket a plaintext of `len` bytes is padded to.
pub fn bucket_of(len: usize) -> usize {
    (len + 4).max(MIN_BUCKET).next_power_of_two()
}

/// `plaintext` padded to its bucket.
pub fn pad(plaintext: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bucket_of(plaintext.len()));
    out.extend_from_slice(&(plaintext.len() as u32).to_be_bytes());
    out.extend_from_slice(plaintext);
    out.resize(bucket_of(plaintext.len()), 0);
    out
}

/// The plaintext inside a [`pad`] output; fails unless `padded` is exactly one bucket
/// with zeros after the plaintext.
pub fn unpad(padded: &[u8]) -> Result<&[u8], CryptoError> {
    let bad = |why: &str| CryptoError::Decrypt { what: format!("padded message: {why}") };
    let (len, rest) = padded.split_first_chunk::<4>().ok_or_else(|| bad("shorter than its length"))?;
    let len = u32::from_be_bytes(*len) as usize;
    if len > rest.len() || padded.len() != bucket_of(len) {
        return Err(bad("length and size disagree"));
    }
    let (plain, zeros) = rest.split_at(len);
    if zeros.iter().any(|b| *b != 0) {
        return Err(bad("padding is not zero"));
    }
    Ok(plain)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn sizes_fall_into_power_of_two_buckets() {
        assert_eq!(pad(b"").len(), 32);
        assert_eq!(pad(&[1; 28]).len(), 32);
        assert_eq!(pad(&[1; 29]).len(), 64);
        assert_eq!(pad(b"90").len(), pad(b"1000000").len());
        assert_eq!(pad(&[0; 1000]).len(), 1024);
    }

    #[test]
    fn malformed_padding_is_refused() {
        let mut p = pad(b"abc");
        assert_eq!(unpad(&p).unwrap(), b"abc");
        p[10] = 1;
        assert!(unpad(&p).is_err(), "non-zero padding");
        assert!(unpad(&pad(b"abc")[..31]).is_err(), "truncated");
        let mut long = pad(b"abc");
        long[..4].copy_from_slice(&100u32.to_be_bytes());
        assert!(unpad(&long).is_err(), "length beyond the bucket");
        assert!(unpad(b"ab").is_err(), "shorter than the prefix");
    }

    proptest! {
        #[test]
        fn pad_round_trips(data in proptest::collection::vec(any::<u8>(), 0..3000)) {
            let p = pad(&data);
            prop_assert!(p.len().is_power_of_two() && p.len() >= MIN_BUCKET && p.len() < 2 * (data.len() + 4).max(MIN_BUCKET));
            prop_assert_eq!(unpad(&p).unwrap(), data.as_slice());
        }

        #[test]
        fn unpad_never_panics(data in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = unpad(&data);
        }
    }
}
