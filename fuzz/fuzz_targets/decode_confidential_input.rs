//! A confidential call's plaintext comes from a client (any client of the channel): once
//! the enclave opens it, unpadding and decoding it as a ConfidentialInput must never
//! panic, and whatever decodes must re-encode to exactly the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use teechain_crypto::padding::unpad;
use teechain_types::codec::{decode, encode, Limits};
use teechain_types::keys::ConfidentialInput;

fuzz_target!(|data: &[u8]| {
    if let Ok(inner) = unpad(data) {
        if let Ok(v) = decode::<ConfidentialInput>(inner, Limits::TRANSACTION) {
            assert_eq!(encode(&v), inner);
        }
    }
});
