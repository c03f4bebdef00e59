//! The reference chaincode contracts of `contracts/`, compiled to WebAssembly when this
//! crate builds (see `build.rs`) and embedded here as bytes.
//!
//! Deploy or run them by handing the bytes to the chaincode runtime:
//! `Runtime::compile(teechain_contracts::PAYMENT)`.

/// The payment contract (cross-bank settlement; see `contracts/payment`).
pub const PAYMENT: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/payment.wasm"));

/// The asset-transfer contract (Fabric's secured asset transfer on blinded private data
/// hashes; see `contracts/asset-transfer`).
pub const ASSET_TRANSFER: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/asset_transfer.wasm"));

/// The sealed-bid auction (bids sealed to the chaincode key; see `contracts/auction`).
pub const AUCTION: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/auction.wasm"));

/// The testbed contract, which exercises every host function and limit of the runtime
/// (see `contracts/testbed`). For tests only.
pub const TESTBED: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/testbed.wasm"));

/// A contract's name and bytes, for listing.
pub const ALL: &[(&str, &[u8])] =
    &[("asset-transfer", ASSET_TRANSFER), ("auction", AUCTION), ("payment", PAYMENT), ("testbed", TESTBED)];
