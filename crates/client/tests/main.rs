//! End-to-end tests of the core: real ledgers (redb files in temporary directories),
//! real enclaves running real WebAssembly chaincode, real signatures and certificates,
//! all peers of a three-organisation network in one process.

/// Collection data keys: sealed private values, rotation.
mod collections;
/// Confidential invocations: sealed arguments and responses, verified chaincode keys.
mod confidential;
/// A fresh network directory with a deployed chaincode, shared by the tests.
mod fixture;
/// A malicious host against its own enclave: forged reads, planted keys, moved
/// ciphertexts, shifted time.
mod host_attacks;
/// Lifecycle: approvals, majority, upgrade, uncommitted chaincode refused.
mod lifecycle;
/// The payment chaincode: the transfer scenario and every refusal.
mod payment;
/// Chaincode that misbehaves: endless loops and memory bombs end, the node goes on.
mod runaway;
/// Validation codes: MVCC, duplicates, forged signatures, unknown CAs, policy.
mod validation;
