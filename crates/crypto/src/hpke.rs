//! Hybrid public-key encryption, HPKE (RFC 9180), single-shot in base mode, with one fixed
//! suite: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256 and AES-256-GCM (KEM 0x0020, KDF 0x0001,
//! AEAD 0x0002).
//!
//! Fixing the suite keeps ciphertexts free of algorithm identifiers that an attacker could
//! change; a later suite would come with a new `info` domain, not with negotiation.

use crate::CryptoError;
use hpke::aead::AesGcm256;
use hpke::kdf::HkdfSha256;
use hpke::kem::X25519HkdfSha256;
use hpke::{Deserializable, Kem, OpModeR, OpModeS, Serializable};
use rand::rngs::OsRng;
use rand::{CryptoRng, RngCore};
use std::fmt;
use zeroize::Zeroize;

type SuiteKem = X25519HkdfSha256;
type SuitePrivateKey = <SuiteKem as Kem>::PrivateKey;
type SuitePublicKey = <SuiteKem as Kem>::PublicKey;
type SuiteEncappedKey = <SuiteKem as Kem>::EncappedKey;

/// An HPKE recipient's public key: an X25519 public key (32 bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct HpkePublicKey(pub [u8; 32]);

impl HpkePublicKey {
    /// The key as 64 lowercase hex digits.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses 64 hex digits (either case); `None` if the text is not hex or not 32 bytes.
    pub fn from_hex(s: &str) -> Option<Self> {
        let bytes = hex::decode(s).ok()?;
        Some(HpkePublicKey(bytes.try_into().ok()?))
    }
}

/// An HPKE recipient's secret key: an X25519 secret key. It is zeroed when dropped (the
/// underlying x25519-dalek key wipes itself), and its `Debug` output shows only the public
/// key. Cloning copies the key.
#[derive(Clone)]
pub struct HpkeSecretKey {
    secret: SuitePrivateKey,
    public: HpkePublicKey,
}

impl fmt::Debug for HpkeSecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HpkeSecretKey").field("public", &self.public.to_hex()).finish_non_exhaustive()
    }
}

impl HpkeSecretKey {
    /// A fresh random key pair from the operating system's generator (RFC 9180 `GenerateKeyPair`).
    pub fn generate() -> HpkeSecretKey {
        let (secret, public) = SuiteKem::gen_keypair(&mut OsRng);
        HpkeSecretKey { secret, public: public_key_bytes(&public) }
    }

    /// The secret key with these bytes (as returned by [`to_bytes`](Self::to_bytes)). Every
    /// 32-byte string is a valid X25519 secret key (it is clamped when used).
    pub fn from_bytes(mut bytes: [u8; 32]) -> HpkeSecretKey {
        let secret =
            SuitePrivateKey::from_bytes(&bytes).expect("an X25519 secret key is any 32 bytes; the length is fixed");
        // The argument is a by-value copy of the caller's bytes: wipe it too.
        bytes.zeroize();
        let public = public_key_bytes(&SuiteKem::sk_to_pk(&secret));
        HpkeSecretKey { secret, public }
    }

    /// The secret key's 32 bytes, for storing it (protect them: they decrypt everything
    /// sealed to [`public_key`](Self::public_key)).
    pub fn to_bytes(&self) -> [u8; 32] {
        let mut bytes = [0u8; 32];
        self.secret.write_exact(&mut bytes);
        bytes
    }

    /// The matching public key, which senders seal to.
    pub fn public_key(&self) -> HpkePublicKey {
        self.public
    }
}

fn public_key_bytes(pk: &SuitePublicKey) -> HpkePublicKey {
    let mut bytes = [0u8; 32];
    pk.write_exact(&mut bytes);
    HpkePublicKey(bytes)
}

/// An HPKE single-shot ciphertext: the encapsulated ephemeral X25519 public key (`enc`) and
/// the AES-256-GCM ciphertext with its 16-byte tag.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct HpkeCiphertext {
    /// The sender's encapsulated key (RFC 9180 `enc`), an ephemeral X25519 public key.
    pub enc: [u8; 32],
    /// The AEAD ciphertext followed by its 16-byte tag.
    pub ciphertext: Vec<u8>,
}

/// Encrypts `plaintext` to the holder of `to`'s secret key, authenticating `aad` (sent
/// alongside, not encrypted) and binding `info` (the application context, e.g. a domain tag
/// and a channel name; the recipient must pass the same) into the key schedule.
///
/// Fails with [`CryptoError::Hpke`] if `to` is not a usable X25519 public key (a low-order
/// point, whose shared secret would be all zeros).
pub fn hpke_seal(to: &HpkePublicKey, info: &[u8], aad: &[u8], plaintext: &[u8]) -> Result<HpkeCiphertext, CryptoError> {
    hpke_seal_with_rng(to, info, aad, plaintext, &mut OsRng)
}

/// [`hpke_seal`] with the ephemeral key derived from `seed` instead of drawn at random:
/// the same seed and inputs give the same ciphertext, so that several enclaves sealing
/// the same value for the same purpose agree byte for byte.
///
/// `seed` must be a secret that no one able to see the ciphertext can compute (whoever
/// knows it derives the ephemeral key and opens the ciphertext), and it must differ
/// whenever `plaintext` differs for the same `to`, `info` and `aad` (derive it from
/// them under a secret key).
pub fn hpke_seal_derived(
    to: &HpkePublicKey,
    info: &[u8],
    aad: &[u8],
    plaintext: &[u8],
    seed: &[u8; 32],
) -> Result<HpkeCiphertext, CryptoError> {
    hpke_seal_with_rng(to, info, aad, plaintext, &mut SeededRng::new(seed))
}

/// A deterministic byte stream: HKDF-SHA256 expansions of a secret seed with a counter.
/// Only [`hpke_seal_derived`] uses it, to draw the 32 bytes of an ephemeral key.
struct SeededRng {
    seed: zeroize::Zeroizing<[u8; 32]>,
    counter: u64,
}

impl SeededRng {
    fn new(seed: &[u8; 32]) -> SeededRng {
        SeededRng { seed: zeroize::Zeroizing::new(*seed), counter: 0 }
    }
}

impl RngCore for SeededRng {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0u8; 4];
        self.fill_bytes(&mut b);
        u32::from_le_bytes(b)
    }

    fn next_u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        self.fill_bytes(&mut b);
        u64::from_le_bytes(b)
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for chunk in dest.chunks_mut(32) {
            let block =
                crate::derive_key(self.seed.as_slice(), b"teechain/seeded-rng/v1", &[&self.counter.to_be_bytes()]);
            self.counter += 1;
            chunk.copy_from_slice(&block[..chunk.len()]);
        }
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl CryptoRng for SeededRng {}

/// [`hpke_seal`] with the ephemeral key drawn from `rng`: the known-answer test replays the
/// RFC's ephemeral keying material through it.
fn hpke_seal_with_rng<R: CryptoRng + RngCore>(
    to: &HpkePublicKey,
    info: &[u8],
    aad: &[u8],
    plaintext: &[u8],
    rng: &mut R,
) -> Result<HpkeCiphertext, CryptoError> {
    let pk = SuitePublicKey::from_bytes(&to.0)
        .map_err(|e| CryptoError::Hpke { message: format!("invalid public key {}: {e}", to.to_hex()) })?;
    let (enc, ciphertext) =
        hpke::single_shot_seal::<AesGcm256, HkdfSha256, SuiteKem, R>(&OpModeS::Base, &pk, info, plaintext, aad, rng)
            .map_err(|e| CryptoError::Hpke { message: format!("cannot seal to public key {}: {e}", to.to_hex()) })?;
    let mut enc_bytes = [0u8; 32];
    enc.write_exact(&mut enc_bytes);
    Ok(HpkeCiphertext { enc: enc_bytes, ciphertext })
}

/// Decrypts an [`hpke_seal`] ciphertext with the recipient's secret key and the same `info`
/// and `aad`.
///
/// Fails with [`CryptoError::Decrypt`] on any mismatch (wrong key, `info` or `aad`, altered
/// `enc` or ciphertext, truncated ciphertext) without saying which.
pub fn hpke_open(key: &HpkeSecretKey, info: &[u8], aad: &[u8], ct: &HpkeCiphertext) -> Result<Vec<u8>, CryptoError> {
    let decrypt_error = || CryptoError::Decrypt { what: "HPKE ciphertext".into() };
    let enc = SuiteEncappedKey::from_bytes(&ct.enc).map_err(|_| decrypt_error())?;
    hpke::single_shot_open::<AesGcm256, HkdfSha256, SuiteKem>(
        &OpModeR::Base,
        &key.secret,
        &enc,
        info,
        &ct.ciphertext,
        aad,
    )
    .map_err(|_| decrypt_error())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::{any, prop_assert_eq, proptest, ProptestConfig};

    fn unhex(s: &str) -> Vec<u8> {
        hex::decode(s).expect("test vector hex")
    }

    fn unhex32(s: &str) -> [u8; 32] {
        unhex(s).try_into().expect("32-byte test vector field")
    }

    fn assert_decrypt_error(r: Result<Vec<u8>, CryptoError>) {
        match r {
            Err(CryptoError::Decrypt { .. }) => {}
            other => panic!("expected Decrypt error, got {other:?}"),
        }
    }

    const INFO: &[u8] = b"teechain/test/v1";

    #[test]
    fn hpke_seal_open_round_trip() {
        let sk = HpkeSecretKey::generate();
        let ct = hpke_seal(&sk.public_key(), INFO, b"aad", b"private payload").unwrap();
        assert_eq!(ct.ciphertext.len(), b"private payload".len() + 16);
        assert_eq!(hpke_open(&sk, INFO, b"aad", &ct).unwrap(), b"private payload");
        // Each seal uses a fresh ephemeral key.
        let ct2 = hpke_seal(&sk.public_key(), INFO, b"aad", b"private payload").unwrap();
        assert_ne!(ct.enc, ct2.enc);
        assert_ne!(ct.ciphertext, ct2.ciphertext);
        // Empty plaintext and empty info/aad work too.
        let ct = hpke_seal(&sk.public_key(), b"", b"", b"").unwrap();
        assert_eq!(hpke_open(&sk, b"", b"", &ct).unwrap(), b"");
    }

    #[test]
    fn hpke_open_with_wrong_key_fails() {
        let sk = HpkeSecretKey::generate();
        let ct = hpke_seal(&sk.public_key(), INFO, b"aad", b"data").unwrap();
        assert_decrypt_error(hpke_open(&HpkeSecretKey::generate(), INFO, b"aad", &ct));
    }

    #[test]
    fn hpke_open_with_wrong_aad_fails() {
        let sk = HpkeSecretKey::generate();
        let ct = hpke_seal(&sk.public_key(), INFO, b"aad", b"data").unwrap();
        assert_decrypt_error(hpke_open(&sk, INFO, b"aad2", &ct));
        assert_decrypt_error(hpke_open(&sk, INFO, b"", &ct));
    }

    #[test]
    fn hpke_open_with_wrong_info_fails() {
        let sk = HpkeSecretKey::generate();
        let ct = hpke_seal(&sk.public_key(), INFO, b"aad", b"data").unwrap();
        assert_decrypt_error(hpke_open(&sk, b"teechain/test/v2", b"aad", &ct));
        assert_decrypt_error(hpke_open(&sk, b"", b"aad", &ct));
    }

    #[test]
    fn hpke_open_flipped_bit_fails() {
        let sk = HpkeSecretKey::generate();
        let ct = hpke_seal(&sk.public_key(), INFO, b"aad", b"data").unwrap();
        for i in 0..ct.ciphertext.len() * 8 {
            let mut bad = ct.clone();
            bad.ciphertext[i / 8] ^= 1 << (i % 8);
            assert_decrypt_error(hpke_open(&sk, INFO, b"aad", &bad));
        }
        // Even bit 255, which X25519 itself ignores (RFC 7748): the KEM hashes `enc` into the
        // shared secret, so any change to it breaks decryption.
        for i in 0..256 {
            let mut bad = ct.clone();
            bad.enc[i / 8] ^= 1 << (i % 8);
            assert_decrypt_error(hpke_open(&sk, INFO, b"aad", &bad));
        }
    }

    #[test]
    fn hpke_open_truncated_fails() {
        let sk = HpkeSecretKey::generate();
        let ct = hpke_seal(&sk.public_key(), INFO, b"aad", b"data").unwrap();
        for len in 0..ct.ciphertext.len() {
            let mut bad = ct.clone();
            bad.ciphertext.truncate(len);
            assert_decrypt_error(hpke_open(&sk, INFO, b"aad", &bad));
        }
    }

    #[test]
    fn hpke_open_low_order_enc_fails() {
        // An all-zero `enc` gives an all-zero shared secret, which RFC 9180 requires rejecting.
        let sk = HpkeSecretKey::generate();
        let mut ct = hpke_seal(&sk.public_key(), INFO, b"aad", b"data").unwrap();
        ct.enc = [0u8; 32];
        assert_decrypt_error(hpke_open(&sk, INFO, b"aad", &ct));
        let e = hpke_open(&sk, INFO, b"aad", &ct).unwrap_err();
        assert_eq!(e.to_string(), "cannot decrypt HPKE ciphertext: wrong key or tampered data");
    }

    #[test]
    fn hpke_seal_to_low_order_key_fails() {
        match hpke_seal(&HpkePublicKey([0u8; 32]), INFO, b"", b"data") {
            Err(CryptoError::Hpke { .. }) => {}
            other => panic!("expected Hpke error, got {other:?}"),
        }
    }

    #[test]
    fn secret_key_bytes_round_trip() {
        let sk = HpkeSecretKey::generate();
        let again = HpkeSecretKey::from_bytes(sk.to_bytes());
        assert_eq!(again.to_bytes(), sk.to_bytes());
        assert_eq!(again.public_key(), sk.public_key());
        let ct = hpke_seal(&sk.public_key(), INFO, b"", b"x").unwrap();
        assert_eq!(hpke_open(&again.clone(), INFO, b"", &ct).unwrap(), b"x");
        assert_ne!(HpkeSecretKey::generate().public_key(), sk.public_key());
    }

    #[test]
    fn secret_key_debug_shows_only_public_key() {
        let sk = HpkeSecretKey::from_bytes([0x42; 32]);
        let s = format!("{sk:?}");
        assert!(s.contains(&sk.public_key().to_hex()), "{s}");
        assert!(!s.contains(&hex::encode([0x42; 32])) && !s.contains("66, 66"), "{s}");
    }

    #[test]
    fn public_key_hex() {
        let pk = HpkeSecretKey::generate().public_key();
        assert_eq!(pk.to_hex().len(), 64);
        assert_eq!(HpkePublicKey::from_hex(&pk.to_hex()), Some(pk));
        assert_eq!(HpkePublicKey::from_hex(&pk.to_hex().to_uppercase()), Some(pk));
        assert_eq!(HpkePublicKey::from_hex(&pk.to_hex()[..62]), None);
        assert_eq!(HpkePublicKey::from_hex(&format!("{}00", pk.to_hex())), None);
        assert_eq!(HpkePublicKey::from_hex(&"zz".repeat(32)), None);
        assert_eq!(HpkePublicKey::from_hex(""), None);
    }

    /// Yields the given bytes as its "random" output: how the known-answer test makes the
    /// ephemeral key the RFC's. Panics when exhausted, which would mean the seal drew more
    /// randomness than the ephemeral key.
    #[test]
    fn derived_sealing_is_deterministic_per_seed_and_opens() {
        let key = HpkeSecretKey::generate();
        let pk = key.public_key();
        let a = hpke_seal_derived(&pk, b"info", b"aad", b"value", &[7; 32]).unwrap();
        let b = hpke_seal_derived(&pk, b"info", b"aad", b"value", &[7; 32]).unwrap();
        let c = hpke_seal_derived(&pk, b"info", b"aad", b"value", &[8; 32]).unwrap();
        assert_eq!(a, b, "same seed, same ciphertext");
        assert_ne!(a.enc, c.enc, "another seed, another ephemeral key");
        assert_eq!(hpke_open(&key, b"info", b"aad", &a).unwrap(), b"value");
        assert_eq!(hpke_open(&key, b"info", b"aad", &c).unwrap(), b"value");
        assert!(hpke_open(&key, b"info", b"other aad", &a).is_err());
    }

    struct ReplayRng(Vec<u8>);

    impl RngCore for ReplayRng {
        fn next_u32(&mut self) -> u32 {
            hpke::rand_core::impls::next_u32_via_fill(self)
        }
        fn next_u64(&mut self) -> u64 {
            hpke::rand_core::impls::next_u64_via_fill(self)
        }
        fn fill_bytes(&mut self, dest: &mut [u8]) {
            assert!(dest.len() <= self.0.len(), "ReplayRng exhausted");
            let rest = self.0.split_off(dest.len());
            dest.copy_from_slice(&self.0);
            self.0 = rest;
        }
        fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand::Error> {
            self.fill_bytes(dest);
            Ok(())
        }
    }

    impl CryptoRng for ReplayRng {}

    /// The RFC 9180 test vector for our exact suite: mode 0 (base), KEM 0x0020
    /// (DHKEM(X25519, HKDF-SHA256)), KDF 0x0001 (HKDF-SHA256), AEAD 0x0002 (AES-256-GCM),
    /// from the CFRG's official test-vectors.json (as shipped by the hpke crate,
    /// test-vectors-5f503c5.json), first encryption (sequence number 0, the one a
    /// single-shot seal performs).
    #[test]
    fn rfc9180_known_answer_x25519_sha256_aes256gcm() {
        let info = unhex("4f6465206f6e2061204772656369616e2055726e");
        let ikm_r = unhex("dac33b0e9db1b59dbbea58d59a14e7b5896e9bdf98fad6891e99d1686492b9ee");
        let ikm_e = unhex("2cd7c601cefb3d42a62b04b7a9041494c06c7843818e0ce28a8f704ae7ab20f9");
        let sk_rm = unhex32("497b4502664cfea5d5af0b39934dac72242a74f8480451e1aee7d6a53320333d");
        let pk_rm = unhex32("430f4b9859665145a6b1ba274024487bd66f03a2dd577d7753c68d7d7d00c00c");
        let enc = unhex32("6c93e09869df3402d7bf231bf540fadd35cd56be14f97178f0954db94b7fc256");
        let aad = unhex("436f756e742d30");
        let pt = unhex("4265617574792069732074727574682c20747275746820626561757479");
        let ct = unhex("e5d84cd531cfb583096e7cfa9641bd3079cf3a91cda813c52deb5f512be9931980a41de125a925cdad859d5b7a");

        // DeriveKeyPair(ikmR) gives the vector's recipient key pair.
        let (sk, pk) = SuiteKem::derive_keypair(&ikm_r);
        let mut sk_bytes = [0u8; 32];
        sk.write_exact(&mut sk_bytes);
        assert_eq!(sk_bytes, sk_rm);
        assert_eq!(public_key_bytes(&pk).0, pk_rm);
        let recipient = HpkeSecretKey::from_bytes(sk_rm);
        assert_eq!(recipient.public_key().0, pk_rm);

        // Sealing with the vector's ephemeral keying material reproduces enc and ct exactly.
        let sealed = hpke_seal_with_rng(&HpkePublicKey(pk_rm), &info, &aad, &pt, &mut ReplayRng(ikm_e)).unwrap();
        assert_eq!(sealed, HpkeCiphertext { enc, ciphertext: ct.clone() });

        // And the vector's ciphertext opens to the vector's plaintext.
        assert_eq!(hpke_open(&recipient, &info, &aad, &HpkeCiphertext { enc, ciphertext: ct }).unwrap(), pt);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn prop_hpke_seal_open_round_trip(
            sk in any::<[u8; 32]>(),
            info in proptest::collection::vec(any::<u8>(), 0..32),
            aad in proptest::collection::vec(any::<u8>(), 0..64),
            pt in proptest::collection::vec(any::<u8>(), 0..512),
        ) {
            let sk = HpkeSecretKey::from_bytes(sk);
            let ct = hpke_seal(&sk.public_key(), &info, &aad, &pt).unwrap();
            prop_assert_eq!(ct.ciphertext.len(), pt.len() + 16);
            prop_assert_eq!(hpke_open(&sk, &info, &aad, &ct).unwrap(), pt);
        }
    }
}
