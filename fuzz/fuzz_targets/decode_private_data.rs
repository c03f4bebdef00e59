//! Private data arrives from other nodes (dissemination and reconciliation pulls):
//! decoding untrusted bytes as TxPrivateData or CollectionPrivateWrites must never panic,
//! and whatever decodes must re-encode to exactly the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use teechain_types::codec::{decode, encode, Limits};
use teechain_types::collection::{CollectionPrivateWrites, TxPrivateData};

fuzz_target!(|data: &[u8]| {
    if let Ok(v) = decode::<TxPrivateData>(data, Limits::TRANSACTION) {
        assert_eq!(encode(&v), data);
    }
    if let Ok(v) = decode::<CollectionPrivateWrites>(data, Limits::TRANSACTION) {
        assert_eq!(encode(&v), data);
    }
});
