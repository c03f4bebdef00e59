//! A TEEChain node and the networks made of them.
//!
//! - [`config`]: the network directory made by `teechain network init` (organisation
//!   CAs, identities, channel config, node directories).
//! - [`Peer`]: one node: its [`teechain_ledger::Ledger`], its enclave (the only place
//!   chaincode runs) and its [`teechain_ledger::BlockValidator`].
//! - [`LocalNetwork`]: every peer of a network directory in one process with a single
//!   in-process orderer. It implements [`Gateway`], the interface clients use to
//!   endorse, submit and query; the Raft-ordered multi-process network implements the
//!   same interface.

pub mod config;
mod error;
mod gateway;
mod local;
mod peer;
pub mod private;
pub mod registry;
pub mod rpc;
pub mod service;
pub mod transient;

pub use error::NodeError;
pub use gateway::{Gateway, SubmitOutcome};
pub use local::{LocalNetwork, MAX_BLOCK_TRANSACTIONS};
pub use peer::{EnclaveBackend, EnclaveSettings, Peer, PeerSetup};
