//! Decoding untrusted bytes as a SignedProposal must never panic, and whatever decodes
//! must re-encode to exactly the input (one encoding per value).
#![no_main]

use libfuzzer_sys::fuzz_target;
use teechain_types::codec::{decode, encode, Limits};

fuzz_target!(|data: &[u8]| {
    if let Ok(v) = decode::<teechain_types::tx::SignedProposal>(data, Limits::TRANSACTION) {
        assert_eq!(encode(&v), data);
    }
});
