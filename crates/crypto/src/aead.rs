//! Symmetric authenticated encryption (AES-256-GCM) and HKDF-SHA256 key and nonce derivation.
//!
//! Every HKDF `info` here is a domain tag followed by parts, each prefixed with its length
//! as a big-endian u64, so that no two different lists of parts give the same `info`
//! (`["ab", "c"]` and `["a", "bc"]` would otherwise collide).

use crate::CryptoError;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::Aes256Gcm;
use hkdf::Hkdf;
use rand::rngs::OsRng;
use rand::RngCore;
use sha2::Sha256;
use std::fmt;
use zeroize::Zeroize;

/// HKDF domain tag of [`DataKey::derive_nonce`]; the version lets the derivation change
/// without a nonce derived one way ever equalling one derived the other.
const NONCE_DOMAIN: &[u8] = b"teechain/nonce/v1";

/// A 256-bit AES-256-GCM key. Zeroed when dropped; its `Debug` output shows no key bytes.
/// Cloning copies the key (the copy is zeroed on drop too).
#[derive(Clone)]
pub struct DataKey([u8; 32]);

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DataKey(..)")
    }
}

impl Drop for DataKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl DataKey {
    /// A fresh random key from the operating system's generator.
    pub fn generate() -> DataKey {
        let mut bytes = [0u8; 32];
        OsRng.fill_bytes(&mut bytes);
        let key = DataKey(bytes);
        // `[u8; 32]` is `Copy`: the stack copy must be wiped by hand.
        bytes.zeroize();
        key
    }

    /// Wraps existing key bytes (e.g. from [`derive_key`] or an HPKE-sealed envelope).
    pub fn from_bytes(bytes: [u8; 32]) -> DataKey {
        DataKey(bytes)
    }

    /// The raw key bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(&self.0.into())
    }

    /// Encrypts and authenticates `plaintext`, and authenticates `aad`, with AES-256-GCM.
    /// The output is the ciphertext followed by the 16-byte tag.
    ///
    /// A nonce must never be used twice with the same key: GCM then leaks the XOR of the
    /// plaintexts and lets an attacker forge tags. Use a random nonce or
    /// [`derive_nonce`](Self::derive_nonce) over parts that are unique per message.
    ///
    /// # Panics
    ///
    /// If `plaintext` or `aad` exceeds GCM's limits (64 GiB and 2^61 bytes), which no
    /// message held in memory here approaches.
    pub fn seal(&self, nonce: &[u8; 12], aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
        self.cipher()
            .encrypt(nonce.into(), Payload { msg: plaintext, aad })
            .expect("AES-GCM encryption fails only past its 64 GiB message limit")
    }

    /// Decrypts and verifies a [`seal`](Self::seal) output (ciphertext followed by the
    /// tag) with the same nonce and `aad`.
    ///
    /// Fails with [`CryptoError::Decrypt`] on any mismatch (wrong key, nonce or `aad`,
    /// altered or truncated ciphertext) without saying which: GCM cannot tell them apart,
    /// and saying more would help an attacker.
    pub fn open(&self, nonce: &[u8; 12], aad: &[u8], ciphertext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        self.cipher()
            .decrypt(nonce.into(), Payload { msg: ciphertext, aad })
            .map_err(|_| CryptoError::Decrypt { what: "AES-256-GCM ciphertext".into() })
    }

    /// A deterministic nonce for this key: the first 12 bytes of HKDF-SHA256 with the key
    /// as input keying material, no salt, and `info` = `teechain/nonce/v1` followed by each
    /// part length-prefixed (u64, big-endian).
    ///
    /// The same key and parts always give the same nonce, so the parts must identify the
    /// message uniquely (e.g. key id, transaction id, field name): sealing two different
    /// plaintexts under the same key and parts reuses the nonce.
    pub fn derive_nonce(&self, parts: &[&[u8]]) -> [u8; 12] {
        let mut nonce = [0u8; 12];
        hkdf_expand(&self.0, NONCE_DOMAIN, parts, &mut nonce);
        nonce
    }
}

impl DataKey {
    /// Seals `plaintext` with a nonce derived from `parts` and from the plaintext itself,
    /// returned as `nonce (12 bytes) ‖ ciphertext ‖ tag`. The same inputs give the same
    /// bytes (several enclaves sealing one response agree), and two different plaintexts
    /// never share a nonce, even when the sealer is made to run twice with the same
    /// `parts` (a host replaying a proposal against other state).
    pub fn seal_derived(&self, parts: &[&[u8]], aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
        let mut all = parts.to_vec();
        all.push(plaintext);
        let nonce = self.derive_nonce(&all);
        let mut out = nonce.to_vec();
        out.extend_from_slice(&self.seal(&nonce, aad, plaintext));
        out
    }

    /// Opens a [`seal_derived`](Self::seal_derived) output with the same `aad`.
    pub fn open_derived(&self, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let Some((nonce, ciphertext)) = sealed.split_first_chunk::<12>() else {
            return Err(CryptoError::Decrypt { what: "sealed message shorter than its nonce".into() });
        };
        self.open(nonce, aad, ciphertext)
    }
}

/// A 32-byte key derived from `ikm` with HKDF-SHA256 (no salt), `info` being the domain tag
/// `domain` followed by each part length-prefixed (u64, big-endian). Used to derive sealing
/// keys and blinding keys; give each use its own `domain` so that keys derived for one
/// purpose are unrelated to keys derived for another.
///
/// `ikm` must already be a uniformly random secret (a key, not a password): there is no
/// salt and no work factor.
pub fn derive_key(ikm: &[u8], domain: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut key = [0u8; 32];
    hkdf_expand(ikm, domain, parts, &mut key);
    key
}

/// HKDF-SHA256 extract (no salt) and expand into `out`, with the length-prefixed `info`.
/// `out` is at most 32 bytes here, far below HKDF's 255 * 32 limit.
fn hkdf_expand(ikm: &[u8], domain: &[u8], parts: &[&[u8]], out: &mut [u8]) {
    let mut info = Vec::with_capacity(domain.len() + parts.iter().map(|p| 8 + p.len()).sum::<usize>());
    info.extend_from_slice(domain);
    for part in parts {
        info.extend_from_slice(&(part.len() as u64).to_be_bytes());
        info.extend_from_slice(part);
    }
    Hkdf::<Sha256>::new(None, ikm)
        .expand(&info, out)
        .expect("HKDF-SHA256 output of at most 32 bytes is within its limit");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_sealing_agrees_on_equal_inputs_and_never_reuses_a_nonce() {
        let key = DataKey::from_bytes([3; 32]);
        let a = key.seal_derived(&[b"response", b"p"], b"aad", b"one");
        assert_eq!(a, key.seal_derived(&[b"response", b"p"], b"aad", b"one"));
        let b = key.seal_derived(&[b"response", b"p"], b"aad", b"two");
        assert_ne!(a[..12], b[..12], "another plaintext, another nonce");
        assert_eq!(key.open_derived(b"aad", &a).unwrap(), b"one");
        assert!(key.open_derived(b"other", &a).is_err());
        assert!(key.open_derived(b"aad", &a[..8]).is_err());
    }
    use proptest::prelude::*;

    fn unhex(s: &str) -> Vec<u8> {
        hex::decode(s).expect("test vector hex")
    }

    fn key() -> DataKey {
        DataKey::from_bytes([7u8; 32])
    }

    fn assert_decrypt_error(r: Result<Vec<u8>, CryptoError>) {
        match r {
            Err(CryptoError::Decrypt { .. }) => {}
            other => panic!("expected Decrypt error, got {other:?}"),
        }
    }

    #[test]
    fn seal_open_round_trip() {
        let k = DataKey::generate();
        let nonce = [1u8; 12];
        let ct = k.seal(&nonce, b"header", b"secret balance");
        assert_eq!(ct.len(), b"secret balance".len() + 16);
        assert_eq!(k.open(&nonce, b"header", &ct).unwrap(), b"secret balance");
        // Empty plaintext still carries a tag that authenticates the AAD.
        let ct = k.seal(&nonce, b"header", b"");
        assert_eq!(ct.len(), 16);
        assert_eq!(k.open(&nonce, b"header", &ct).unwrap(), b"");
    }

    #[test]
    fn open_with_wrong_key_fails() {
        let nonce = [1u8; 12];
        let ct = key().seal(&nonce, b"aad", b"data");
        assert_decrypt_error(DataKey::from_bytes([8u8; 32]).open(&nonce, b"aad", &ct));
    }

    #[test]
    fn open_with_wrong_aad_fails() {
        let nonce = [1u8; 12];
        let ct = key().seal(&nonce, b"aad", b"data");
        assert_decrypt_error(key().open(&nonce, b"aad!", &ct));
        assert_decrypt_error(key().open(&nonce, b"", &ct));
    }

    #[test]
    fn open_with_wrong_nonce_fails() {
        let ct = key().seal(&[1u8; 12], b"aad", b"data");
        assert_decrypt_error(key().open(&[2u8; 12], b"aad", &ct));
    }

    #[test]
    fn open_flipped_bit_fails() {
        let nonce = [1u8; 12];
        let ct = key().seal(&nonce, b"aad", b"data");
        // Every bit, in the ciphertext body and in the tag.
        for i in 0..ct.len() * 8 {
            let mut bad = ct.clone();
            bad[i / 8] ^= 1 << (i % 8);
            assert_decrypt_error(key().open(&nonce, b"aad", &bad));
        }
    }

    #[test]
    fn open_truncated_fails() {
        let nonce = [1u8; 12];
        let ct = key().seal(&nonce, b"aad", b"data");
        for len in 0..ct.len() {
            assert_decrypt_error(key().open(&nonce, b"aad", &ct[..len]));
        }
        let mut longer = ct.clone();
        longer.push(0);
        assert_decrypt_error(key().open(&nonce, b"aad", &longer));
    }

    #[test]
    fn decrypt_error_message() {
        let e = key().open(&[0u8; 12], b"", b"short").unwrap_err();
        assert_eq!(e.to_string(), "cannot decrypt AES-256-GCM ciphertext: wrong key or tampered data");
    }

    /// The AES-256 known answers of the GCM specification (McGrew and Viega, "The Galois/Counter
    /// Mode of Operation", test cases 14 and 16).
    #[test]
    fn aes_256_gcm_known_answers() {
        // Test case 14: zero key, zero nonce, one zero block, no AAD.
        let k = DataKey::from_bytes([0u8; 32]);
        let ct = k.seal(&[0u8; 12], b"", &[0u8; 16]);
        assert_eq!(hex::encode(&ct), "cea7403d4d606b6e074ec5d3baf39d18d0d1c8a799996bf0265b98b5d48ab919");

        // Test case 16: 60-byte plaintext with 20 bytes of AAD.
        let k = DataKey::from_bytes(
            unhex("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308").try_into().unwrap(),
        );
        let nonce: [u8; 12] = unhex("cafebabefacedbaddecaf888").try_into().unwrap();
        let aad = unhex("feedfacedeadbeeffeedfacedeadbeefabaddad2");
        let pt = unhex(
            "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525\
             b16aedf5aa0de657ba637b39",
        );
        let expected =
            "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838\
                        c5f61e6393ba7a0abcc9f662\
                        76fc6ece0f4e1768cddf8853bb2d551b";
        let ct = k.seal(&nonce, &aad, &pt);
        assert_eq!(hex::encode(&ct), expected);
        assert_eq!(k.open(&nonce, &aad, &ct).unwrap(), pt);
    }

    #[test]
    fn derive_nonce_is_deterministic_and_separates_inputs() {
        let k = key();
        let n = k.derive_nonce(&[b"tx-1", b"field"]);
        assert_eq!(n, k.derive_nonce(&[b"tx-1", b"field"]));
        assert_ne!(n, k.derive_nonce(&[b"tx-2", b"field"]));
        assert_ne!(n, k.derive_nonce(&[b"tx-1"]));
        assert_ne!(n, DataKey::from_bytes([8u8; 32]).derive_nonce(&[b"tx-1", b"field"]));
        // Length prefixes keep the boundaries between parts.
        assert_ne!(k.derive_nonce(&[b"ab", b"c"]), k.derive_nonce(&[b"a", b"bc"]));
        assert_ne!(k.derive_nonce(&[b"abc"]), k.derive_nonce(&[b"ab", b"c"]));
        assert_ne!(k.derive_nonce(&[]), k.derive_nonce(&[b""]));
    }

    /// Pins the exact derivation (the contract other code and stored data rely on), computed
    /// independently: HKDF-SHA256(ikm = 32 * 0x07, salt = none,
    /// info = "teechain/nonce/v1" || u64be(2) || "ab" || u64be(1) || "c").
    #[test]
    fn derive_nonce_matches_hkdf_definition() {
        let info = [b"teechain/nonce/v1".as_slice(), &2u64.to_be_bytes(), b"ab", &1u64.to_be_bytes(), b"c"].concat();
        let mut okm = [0u8; 32];
        Hkdf::<Sha256>::new(None, &[7u8; 32]).expand(&info, &mut okm).unwrap();
        assert_eq!(key().derive_nonce(&[b"ab", b"c"]), okm[..12]);
        assert_eq!(derive_key(&[7u8; 32], b"teechain/nonce/v1", &[b"ab", b"c"]), okm);
    }

    /// RFC 5869 test case 3 (SHA-256, no salt, empty info): `derive_key` with an empty domain
    /// and no parts is plain HKDF-SHA256.
    #[test]
    fn derive_key_is_rfc5869_hkdf() {
        let okm = derive_key(&[0x0b; 22], b"", &[]);
        assert_eq!(hex::encode(okm), "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d");
    }

    #[test]
    fn derive_key_separates_domains_and_parts() {
        let ikm = [9u8; 32];
        let k = derive_key(&ikm, b"teechain/seal/v1", &[b"org1"]);
        assert_eq!(k, derive_key(&ikm, b"teechain/seal/v1", &[b"org1"]));
        assert_ne!(k, derive_key(&ikm, b"teechain/blind/v1", &[b"org1"]));
        assert_ne!(k, derive_key(&ikm, b"teechain/seal/v1", &[b"org2"]));
        assert_ne!(k, derive_key(&[8u8; 32], b"teechain/seal/v1", &[b"org1"]));
        assert_ne!(derive_key(&ikm, b"d", &[b"ab", b"c"]), derive_key(&ikm, b"d", &[b"a", b"bc"]));
    }

    #[test]
    fn debug_hides_key() {
        let s = format!("{:?}", DataKey::from_bytes([0xab; 32]));
        assert!(!s.contains("171") && !s.to_lowercase().contains("ab"), "{s}");
    }

    #[test]
    fn generated_keys_differ() {
        assert_ne!(DataKey::generate().as_bytes(), DataKey::generate().as_bytes());
    }

    proptest! {
        #[test]
        fn prop_seal_open_round_trip(
            key in any::<[u8; 32]>(),
            nonce in any::<[u8; 12]>(),
            aad in proptest::collection::vec(any::<u8>(), 0..64),
            pt in proptest::collection::vec(any::<u8>(), 0..512),
        ) {
            let k = DataKey::from_bytes(key);
            let ct = k.seal(&nonce, &aad, &pt);
            prop_assert_eq!(ct.len(), pt.len() + 16);
            prop_assert_eq!(k.open(&nonce, &aad, &ct).unwrap(), pt);
        }
    }
}
