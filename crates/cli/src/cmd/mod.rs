//! One module per command group.

pub(crate) mod bench;
pub(crate) mod chaincode;
pub(crate) mod demo;
pub(crate) mod demo_asset;
pub(crate) mod demo_auction;
pub(crate) mod enclave;
pub(crate) mod invoke;
pub(crate) mod keys;
pub(crate) mod ledger;
pub(crate) mod network;
pub(crate) mod node;
