//! TEEChain's trusted component: the only place chaincode runs and endorsement keys live.
//!
//! The boundary is one serialised call, [`Enclave::ecall`]: encoded
//! [`protocol::EnclaveRequest`] bytes in, encoded [`protocol::EnclaveResponse`] bytes
//! out. While it runs, the enclave reads committed state through the host's
//! [`protocol::Host::ocall`], also bytes in and out. Nothing else crosses, so the same
//! enclave can later run in its own process or under an SGX runtime without the host
//! changing.
//!
//! [`EnclaveHandle`] is the host's typed view of that boundary, and
//! [`host::serve_ocall`] answers the enclave's state reads, public and private, from any
//! [`teechain_types::state::StateView`].
//!
//! Two modes, one API: [`EnclaveHandle::in_process`] calls an [`Enclave`] in this process;
//! [`EnclaveHandle::connect`] and [`EnclaveHandle::spawn_process`] reach a separate
//! `teechain-enclave` process (started on an [`EnclaveBoot`] file) over a Unix socket, or
//! over loopback TCP ([`transport`]; Gramine passes no Unix socket to an SGX enclave's
//! host), where [`process::serve`] runs the same `ecall` on the same bytes, framed as
//! [`wire`] describes. The separate process is what Gramine runs inside SGX.
//!
//! Private data: the enclave decides which collections a chaincode has (its definition
//! and the channel's implicit per-organisation collections) and whether this node is a
//! member (the organisation of its signing identity); the chaincode runtime applies the
//! access rules. An endorsement ([`Endorsed`]) carries the private writes' values and
//! blinding factors apart from the signed response, whose read-write set holds only
//! their hashes.
//!
//! Identity: each enclave makes its own Ed25519 signing key and X25519 (HPKE) key
//! inside, keeps them on disk only sealed to its platform and measurement, and produces
//! evidence binding their hash and the channel ([`EnclaveAttestation`]). An organisation
//! admin registers it on the ledger; endorsements are signatures with its key.
//!
//! Platforms ([`platform`]): `virtual` is software only, offers no protection from the
//! machine's operator, and says INSECURE wherever it is shown; `sgx` runs the enclave
//! process under Gramine and refuses to start anywhere else.

mod boot;
mod collections;
mod enclave;
mod handle;
pub mod host;
mod identity;
mod keys;
pub mod platform;
pub mod process;
pub mod protocol;
pub mod transport;
pub mod wire;

/// A host that forges its enclave's state reads.
#[cfg(any(test, feature = "test-utils"))]
pub mod forging;
#[cfg(any(test, feature = "test-utils"))]
pub mod testing;
#[cfg(test)]
mod tests;

pub use boot::{BootError, BootLimits, EnclaveBoot};
pub use enclave::{Enclave, EnclaveConfig, KEYS_FILE};
pub use handle::{EnclaveError, EnclaveHandle};
pub use platform::{EnclaveAttestation, Platform};
pub use process::{EnclaveCommand, EnclaveProcess};
pub use protocol::Endorsed;
pub use transport::{EnclaveAddress, Transport};
