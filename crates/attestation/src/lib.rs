//! TEEChain attestation: verifying that evidence comes from a genuine enclave, running
//! code the channel allows, bound to the keys and channel it is registered for.
//!
//! Every node runs [`verify`] when an organisation registers an enclave on the ledger,
//! and clients run it before they encrypt to an enclave's key. Both must reach the same
//! verdict, so verification is offline and deterministic: SGX collateral travels with the
//! quote in the evidence ([`SgxEvidence`]) and the time is an argument (on the ledger,
//! the block's timestamp).
//!
//! - [`Evidence`] is what an enclave's host hands over: a [`Platform`] and that
//!   platform's evidence bytes, canonically encoded like everything else on the ledger.
//! - [`report_data`] computes the 64 bytes an enclave binds into its evidence: a hash of
//!   the channel id and of the enclave's public keys.
//! - [`verify_sgx`] checks a DCAP quote with `dcap-qvl` against Intel's root of trust and
//!   then applies an [`SgxPolicy`]: allowed measurements, no debug enclaves, and a strict
//!   TCB rule (a status other than UpToDate is an error naming it and its advisories
//!   unless the policy lists it).
//! - [`verify_virtual`] checks INSECURE development evidence signed by a per-machine
//!   [`PlatformKey`].
//! - [`verify`] is the single entry point: platform admitted by the [`AttestationPolicy`],
//!   evidence verified, report data equal to the expected one, measurement allowed.
//!
//! Nothing here panics on outside input, and nothing fetches collateral: the host that
//! obtains a quote also obtains its collateral (from a PCCS) and ships both.

mod error;
mod key_record;
mod sgx;
mod virtual_platform;

pub use error::AttestationError;
pub use key_record::verify_key_record;
pub use sgx::{verify_sgx, SgxCollateral, SgxEvidence, SgxMeasurement, SgxPolicy, SgxReport, TcbStatus};
pub use virtual_platform::{
    verify_virtual, PlatformKey, PlatformPublicKey, VirtualEvidence, VirtualReport, INSECURE_NOTICE,
};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha512};
use std::fmt;
use teechain_types::codec::{self, Limits};
use teechain_types::hash::fixed_bytes;
use teechain_types::Hash32;

/// The 64 bytes of user data an enclave binds into its evidence (SGX's REPORTDATA).
pub type ReportData = [u8; 64];

/// Domain tag of [`report_data`]; the version changes if the binding ever does.
pub const REPORT_DATA_DOMAIN: &[u8] = b"teechain/attestation/report-data/v1";

/// Largest accepted encoding of one platform's evidence. An SGX quote with its
/// collateral is about 20 KiB; the bound only stops absurd input early.
pub const MAX_EVIDENCE_BYTES: usize = 1 << 20;

/// The report data an enclave must bind for `channel`, given the hash of its public
/// keys (signing and HPKE; the enclave crate defines how they are hashed together).
///
/// SHA-512 over the domain tag, the channel id and the keys hash, each prefixed by its
/// length as a big-endian u64: a distinct (channel, keys) pair can never produce the same
/// input, and SHA-512's output fills the 64 bytes exactly, leaving no unbound bytes an
/// enclave could fill with anything. Binding the channel means evidence given to one
/// channel cannot be replayed to register the same enclave on another.
pub fn report_data(channel: &str, enclave_keys_hash: &Hash32) -> ReportData {
    let mut h = Sha512::new();
    for part in [REPORT_DATA_DOMAIN, channel.as_bytes(), &enclave_keys_hash.0] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part);
    }
    h.finalize().into()
}

/// The trusted-execution platform evidence comes from. New platforms (TDX, SEV-SNP) are
/// added at the end, so existing encodings keep their meaning.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Platform {
    /// Software only, for development and CI: the host can read everything. INSECURE.
    Virtual,
    /// Intel SGX; evidence is a DCAP quote with its collateral.
    Sgx,
}

impl Platform {
    /// Short name as used in configs.
    pub fn name(self) -> &'static str {
        match self {
            Platform::Virtual => "virtual",
            Platform::Sgx => "sgx",
        }
    }

    /// Parses a config name.
    pub fn parse(name: &str) -> Option<Platform> {
        match name {
            "virtual" => Some(Platform::Virtual),
            "sgx" => Some(Platform::Sgx),
            _ => None,
        }
    }

    /// Whether the platform protects an enclave from its host at all.
    pub fn is_secure(self) -> bool {
        match self {
            Platform::Virtual => false,
            Platform::Sgx => true,
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Platform::Virtual => write!(f, "virtual ({INSECURE_NOTICE})"),
            Platform::Sgx => f.write_str("sgx"),
        }
    }
}

/// Attestation evidence as it travels and is stored: the platform and the canonical
/// encoding of that platform's evidence ([`VirtualEvidence`] or [`SgxEvidence`]).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    /// Which platform made it, and so how `data` is read.
    pub platform: Platform,
    /// The platform's evidence, encoded with `teechain_types::codec`.
    pub data: Vec<u8>,
}

impl fmt::Debug for Evidence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Evidence").field("platform", &self.platform).field("len", &self.data.len()).finish()
    }
}

impl Evidence {
    /// Wraps virtual evidence.
    pub fn from_virtual(evidence: &VirtualEvidence) -> Self {
        Evidence { platform: Platform::Virtual, data: codec::encode(evidence) }
    }

    /// Wraps an SGX quote and its collateral.
    pub fn from_sgx(evidence: &SgxEvidence) -> Self {
        Evidence { platform: Platform::Sgx, data: codec::encode(evidence) }
    }

    /// Reads the virtual evidence inside.
    pub fn decode_virtual(&self) -> Result<VirtualEvidence, AttestationError> {
        self.decode_as(Platform::Virtual)
    }

    /// Reads the SGX evidence inside.
    pub fn decode_sgx(&self) -> Result<SgxEvidence, AttestationError> {
        self.decode_as(Platform::Sgx)
    }

    fn decode_as<T: Serialize + serde::de::DeserializeOwned>(&self, platform: Platform) -> Result<T, AttestationError> {
        if self.platform != platform {
            return Err(AttestationError::MalformedEvidence {
                platform: self.platform,
                message: format!("expected {} evidence", platform.name()),
            });
        }
        codec::decode(&self.data, Limits { max_bytes: MAX_EVIDENCE_BYTES })
            .map_err(|e| AttestationError::MalformedEvidence { platform, message: e.to_string() })
    }
}

/// What the virtual platform may attest, where a channel allows it at all.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VirtualPolicy {
    /// Platform keys whose signatures are believed. Empty trusts none.
    pub trusted_platform_keys: Vec<PlatformPublicKey>,
    /// Measurements admitted; `None` admits any. A virtual measurement is only the
    /// enclave's own claim and changes with every development build, so pinning it buys
    /// little, but a channel can.
    pub allowed_measurements: Option<Vec<Hash32>>,
}

/// A channel's (or a client's) attestation policy: which platforms, and on each, what.
/// The default admits nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttestationPolicy {
    /// The virtual platform's rules; `None` refuses virtual evidence, as every production
    /// channel should.
    pub virtual_platform: Option<VirtualPolicy>,
    /// The SGX rules; `None` refuses SGX evidence.
    pub sgx: Option<SgxPolicy>,
}

impl AttestationPolicy {
    /// Whether evidence of `platform` can pass at all.
    pub fn allows(&self, platform: Platform) -> bool {
        match platform {
            Platform::Virtual => self.virtual_platform.is_some(),
            Platform::Sgx => self.sgx.is_some(),
        }
    }
}

/// The platform-specific report behind a [`VerifiedEnclave`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PlatformReport {
    /// From the virtual platform. INSECURE.
    Virtual(VirtualReport),
    /// From an SGX quote.
    Sgx(SgxReport),
}

/// An enclave whose evidence passed [`verify`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifiedEnclave {
    /// The platform.
    pub platform: Platform,
    /// The enclave's measurement (SGX: MRENCLAVE).
    pub measurement: Hash32,
    /// Whether the host is kept out: false for the virtual platform and for SGX debug
    /// enclaves (admitted only where a policy allows them).
    pub secure: bool,
    /// The report data the evidence binds (equal to the expected one).
    #[serde(with = "fixed_bytes")]
    pub report_data: ReportData,
    /// Everything else the platform reported.
    pub report: PlatformReport,
}

impl fmt::Display for VerifiedEnclave {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.report {
            PlatformReport::Virtual(r) => r.fmt(f),
            PlatformReport::Sgx(r) => r.fmt(f),
        }
    }
}

/// Verifies evidence for registration or use: the platform must be admitted by
/// `policy`, the evidence must verify on its platform at `now_unix` (seconds since the
/// epoch), it must bind exactly `expected_report_data` (see [`report_data`]), and the
/// enclave's measurement must be allowed.
pub fn verify(
    evidence: &Evidence,
    expected_report_data: &ReportData,
    policy: &AttestationPolicy,
    now_unix: u64,
) -> Result<VerifiedEnclave, AttestationError> {
    let not_allowed = || AttestationError::PlatformNotAllowed { platform: evidence.platform };
    match evidence.platform {
        Platform::Virtual => {
            let rules = policy.virtual_platform.as_ref().ok_or_else(not_allowed)?;
            let report = verify_virtual(&evidence.decode_virtual()?, &rules.trusted_platform_keys)?;
            check_report_data(expected_report_data, &report.report_data)?;
            if let Some(allowed) = &rules.allowed_measurements {
                if !allowed.contains(&report.measurement) {
                    return Err(AttestationError::MeasurementNotAllowed {
                        identity: format!("virtual measurement {}", report.measurement),
                    });
                }
            }
            Ok(VerifiedEnclave {
                platform: Platform::Virtual,
                measurement: report.measurement,
                secure: false,
                report_data: report.report_data,
                report: PlatformReport::Virtual(report),
            })
        }
        Platform::Sgx => {
            let rules = policy.sgx.as_ref().ok_or_else(not_allowed)?;
            let sgx = evidence.decode_sgx()?;
            let report = verify_sgx(&sgx.quote, &sgx.collateral, now_unix, rules)?;
            check_report_data(expected_report_data, &report.report_data)?;
            Ok(VerifiedEnclave {
                platform: Platform::Sgx,
                measurement: report.mrenclave,
                secure: !report.debug,
                report_data: report.report_data,
                report: PlatformReport::Sgx(report),
            })
        }
    }
}

fn check_report_data(expected: &ReportData, found: &ReportData) -> Result<(), AttestationError> {
    if expected != found {
        return Err(AttestationError::ReportDataMismatch {
            expected: hex::encode(expected),
            found: hex::encode(found),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_data_binds_channel_and_keys() {
        let keys = Hash32([7; 32]);
        let a = report_data("payments", &keys);
        assert_eq!(a, report_data("payments", &keys), "not deterministic");
        assert_ne!(a, report_data("auction", &keys));
        assert_ne!(a, report_data("payments", &Hash32([8; 32])));
        // Length prefixes: moving bytes between channel and keys changes the input.
        assert_ne!(report_data("", &keys), report_data("\0", &keys));
    }

    #[test]
    fn report_data_known_answer() {
        // Pinned (computed independently, with Python's hashlib) so that a change to the
        // binding, which would invalidate every registered enclave's evidence, cannot
        // happen by accident.
        assert_eq!(
            hex::encode(report_data("mychannel", &Hash32([0; 32]))),
            "735d12600ad36d9ad35c7c11142cfce7c113098c17b29fa45695d51ac14e726f\
             721467a28406ad4b79b0a044a4bf32a4c4915fe07a47d6d3d39c6e5e1c3d7f08"
        );
    }

    #[test]
    fn platform_names_round_trip_and_virtual_says_insecure() {
        for p in [Platform::Virtual, Platform::Sgx] {
            assert_eq!(Platform::parse(p.name()), Some(p));
        }
        assert!(Platform::Virtual.to_string().contains("INSECURE"));
        assert!(!Platform::Virtual.is_secure());
    }
}
