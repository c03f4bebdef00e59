//! What the enclave asks of the platform it runs on: a measurement, evidence binding
//! report data, and a sealing key that only this enclave build on this platform gets.
//!
//! - `virtual`: software only, INSECURE. The "hardware" is a per-machine platform key
//!   file outside every node's data directory; evidence is signed with it and the
//!   sealing key is derived from it.
//! - `sgx`: the enclave process runs under Gramine (`gramine-sgx`), which exposes the
//!   SGX instructions as files under `/dev/attestation`: the enclave's own target info
//!   (its MRENCLAVE), quotes over 64 bytes of report data, and the MRENCLAVE-bound
//!   sealing key. Outside Gramine there is no such directory, and the enclave refuses to
//!   start rather than pretend.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
pub use teechain_attestation::Platform;
use teechain_attestation::{Evidence, PlatformKey, ReportData};
use teechain_types::codec::encode;
use teechain_types::hash::sha256_parts;
use teechain_types::Hash32;

/// The virtual platform's measurement: the enclave's version, as it claims it. It
/// proves nothing (the platform is software) but changes when the protocol does.
pub fn virtual_measurement() -> Hash32 {
    sha256_parts(&[b"teechain/virtual-measurement/v1", env!("CARGO_PKG_VERSION").as_bytes()])
}

/// Where Gramine exposes the SGX attestation interface inside an enclave.
const GRAMINE_ATTESTATION: &str = "/dev/attestation";

/// Attestation as the enclave produces it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum EnclaveAttestation {
    /// Complete evidence: an encoded `teechain_attestation::Evidence` (virtual platform).
    Evidence(Vec<u8>),
    /// An SGX DCAP quote. The host adds the collateral for the quote's platform (from a
    /// PCCS) to make `Evidence`: the enclave has no network, and the collateral is
    /// public and signed by Intel, so the host cannot forge it.
    SgxQuote(Vec<u8>),
}

/// The platform services of one running enclave.
pub(crate) enum PlatformServices {
    Virtual { key: PlatformKey },
    Sgx { root: PathBuf },
}

impl PlatformServices {
    /// Opens the platform: for `virtual`, the platform key at `virtual_key` (created if
    /// missing) or, without a path, a key that lives only as long as this enclave (its
    /// evidence then verifies nowhere); for `sgx`, Gramine's attestation interface.
    pub(crate) fn open(platform: Platform, virtual_key: Option<&Path>) -> Result<Self, String> {
        match platform {
            Platform::Virtual => {
                let key = match virtual_key {
                    Some(path) => {
                        PlatformKey::load_or_create(path).map_err(|e| format!("virtual platform key: {e}"))?
                    }
                    None => PlatformKey::generate(),
                };
                Ok(PlatformServices::Virtual { key })
            }
            Platform::Sgx => {
                let root = PathBuf::from(GRAMINE_ATTESTATION);
                if !root.join("quote").exists() {
                    return Err(format!(
                        "the sgx platform needs the enclave to run under Gramine (gramine-sgx teechain-enclave); \
                         {} is missing, so this is not an SGX enclave",
                        root.join("quote").display()
                    ));
                }
                Ok(PlatformServices::Sgx { root })
            }
        }
    }

    pub(crate) fn platform(&self) -> Platform {
        match self {
            PlatformServices::Virtual { .. } => Platform::Virtual,
            PlatformServices::Sgx { .. } => Platform::Sgx,
        }
    }

    /// The enclave's measurement.
    pub(crate) fn measurement(&self) -> Result<Hash32, String> {
        match self {
            PlatformServices::Virtual { .. } => Ok(virtual_measurement()),
            PlatformServices::Sgx { root } => {
                // TARGETINFO starts with the enclave's MRENCLAVE.
                let info = read(&root.join("my_target_info"))?;
                let m: [u8; 32] = info
                    .get(..32)
                    .and_then(|m| m.try_into().ok())
                    .ok_or("Gramine's my_target_info is shorter than a measurement")?;
                Ok(Hash32(m))
            }
        }
    }

    /// Evidence binding `report_data`.
    pub(crate) fn attest(&self, measurement: Hash32, report_data: ReportData) -> Result<EnclaveAttestation, String> {
        match self {
            PlatformServices::Virtual { key } => {
                Ok(EnclaveAttestation::Evidence(encode(&Evidence::from_virtual(&key.attest(measurement, report_data)))))
            }
            PlatformServices::Sgx { root } => {
                std::fs::write(root.join("user_report_data"), report_data)
                    .map_err(|e| format!("writing report data to Gramine: {e}"))?;
                Ok(EnclaveAttestation::SgxQuote(read(&root.join("quote"))?))
            }
        }
    }

    /// A 256-bit key that only this enclave build on this platform can derive.
    pub(crate) fn sealing_key(&self, measurement: &Hash32) -> Result<[u8; 32], String> {
        let domain = b"teechain/sealing-key/v1";
        match self {
            PlatformServices::Virtual { key } => Ok(key.derive_key(domain, &measurement.0)),
            PlatformServices::Sgx { root } => {
                // EGETKEY with the MRENCLAVE policy: another build gets another key.
                let k = zeroize::Zeroizing::new(read(&root.join("keys/_sgx_mrenclave"))?);
                Ok(teechain_crypto::derive_key(&k, domain, &[&measurement.0]))
            }
        }
    }
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("reading {}: {e}", path.display()))
}
