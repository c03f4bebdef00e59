//! SGX: DCAP quotes verified with `dcap-qvl`, then judged by an [`SgxPolicy`].
//!
//! dcap-qvl checks the cryptography and the collateral: Intel's root CA and CRLs, the PCK
//! certificate chain in the quote, the signed TCB info and QE identity and their validity
//! windows at the given time, the quoting enclave's report and signature, the enclave
//! report's signature, and the TCB level the platform matches. What it returns is then
//! judged here, by the channel's policy: which enclaves (measurement, or signer and
//! product), whether debug enclaves pass, and which TCB statuses other than UpToDate are
//! tolerated.
//!
//! Only dcap-qvl's RustCrypto backend is used, named explicitly, so the result does not
//! change if some other crate in the build enables its `ring` backend.

use crate::{AttestationError, ReportData};
use dcap_qvl::configs::RustCryptoConfig;
use dcap_qvl::quote::{EnclaveReport, Quote};
use dcap_qvl::verify::QuoteVerifier;
use dcap_qvl::{QuoteCollateralV3, QuotePolicy};
use serde::{Deserialize, Serialize};
use std::fmt;
use teechain_types::hash::fixed_bytes;
use teechain_types::Hash32;

/// The DEBUG bit of an SGX enclave's ATTRIBUTES.FLAGS (Intel SDM, SECS.ATTRIBUTES bit 1).
const ATTRIBUTE_DEBUG: u8 = 0x02;

/// The collateral a DCAP quote is verified against: Intel-signed TCB info and QE
/// identity, CRLs, and the certificate chains that sign them, as served by Intel's PCS or
/// a PCCS.
///
/// The enclave's host fetches it and sends it with the quote ([`SgxEvidence`]), so every
/// verifier judges the same bytes at the same time and reaches the same verdict; this
/// crate never fetches anything. Fields mirror dcap-qvl's `QuoteCollateralV3` but are our
/// own, so the canonical encoding does not change when that library's struct does.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SgxCollateral {
    /// PEM chain that issued the PCK CRL.
    pub pck_crl_issuer_chain: String,
    /// Intel SGX Root CA CRL (DER).
    pub root_ca_crl: Vec<u8>,
    /// PCK CRL (DER).
    pub pck_crl: Vec<u8>,
    /// PEM chain of the TCB info signing certificate.
    pub tcb_info_issuer_chain: String,
    /// TCB info (JSON, exactly as signed).
    pub tcb_info: String,
    /// Signature over `tcb_info`.
    pub tcb_info_signature: Vec<u8>,
    /// PEM chain of the QE identity signing certificate.
    pub qe_identity_issuer_chain: String,
    /// QE identity (JSON, exactly as signed).
    pub qe_identity: String,
    /// Signature over `qe_identity`.
    pub qe_identity_signature: Vec<u8>,
    /// PCK certificate chain (PEM), needed only for quotes that do not embed it
    /// (certification data type 3).
    pub pck_certificate_chain: Option<String>,
}

impl fmt::Debug for SgxCollateral {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The full PEM chains and JSON would bury everything else in a log line.
        f.debug_struct("SgxCollateral")
            .field("tcb_info_len", &self.tcb_info.len())
            .field("qe_identity_len", &self.qe_identity.len())
            .field("pck_crl_len", &self.pck_crl.len())
            .finish_non_exhaustive()
    }
}

impl SgxCollateral {
    /// Parses collateral in the JSON form dcap-qvl and its PCCS client write (byte
    /// fields as hex strings).
    pub fn from_json(json: &[u8]) -> Result<Self, AttestationError> {
        let c: QuoteCollateralV3 = serde_json::from_slice(json).map_err(|e| AttestationError::MalformedEvidence {
            platform: crate::Platform::Sgx,
            message: format!("collateral JSON: {e}"),
        })?;
        Ok(SgxCollateral {
            pck_crl_issuer_chain: c.pck_crl_issuer_chain,
            root_ca_crl: c.root_ca_crl,
            pck_crl: c.pck_crl,
            tcb_info_issuer_chain: c.tcb_info_issuer_chain,
            tcb_info: c.tcb_info,
            tcb_info_signature: c.tcb_info_signature,
            qe_identity_issuer_chain: c.qe_identity_issuer_chain,
            qe_identity: c.qe_identity,
            qe_identity_signature: c.qe_identity_signature,
            pck_certificate_chain: c.pck_certificate_chain,
        })
    }

    fn to_dcap(&self) -> QuoteCollateralV3 {
        QuoteCollateralV3 {
            pck_crl_issuer_chain: self.pck_crl_issuer_chain.clone(),
            root_ca_crl: self.root_ca_crl.clone(),
            pck_crl: self.pck_crl.clone(),
            tcb_info_issuer_chain: self.tcb_info_issuer_chain.clone(),
            tcb_info: self.tcb_info.clone(),
            tcb_info_signature: self.tcb_info_signature.clone(),
            qe_identity_issuer_chain: self.qe_identity_issuer_chain.clone(),
            qe_identity: self.qe_identity.clone(),
            qe_identity_signature: self.qe_identity_signature.clone(),
            pck_certificate_chain: self.pck_certificate_chain.clone(),
        }
    }
}

/// What an SGX enclave's host sends as evidence: the DCAP quote and the collateral to
/// verify it against. Carried, canonically encoded, in [`Evidence::data`](crate::Evidence).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SgxEvidence {
    /// The DCAP quote (version 3) as produced by the quoting enclave.
    pub quote: Vec<u8>,
    /// The collateral for the quote's platform.
    pub collateral: SgxCollateral,
}

/// A platform TCB status from Intel's TCB info, after convergence with the quoting
/// enclave's status. Only [`TcbStatus::UpToDate`] is accepted unless a policy lists
/// another one.
///
/// Our own copy of dcap-qvl's enum, so that policies stored on the ledger keep their
/// encoding whatever that library does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum TcbStatus {
    /// The platform is patched to the latest TCB.
    UpToDate,
    /// Up to date, but software mitigations are needed for the listed advisories.
    SWHardeningNeeded,
    /// Up to date, but the platform's configuration (e.g. BIOS settings) needs changing.
    ConfigurationNeeded,
    /// Both of the above.
    ConfigurationAndSWHardeningNeeded,
    /// The platform's TCB is out of date: known vulnerabilities are not patched.
    OutOfDate,
    /// Out of date, and configuration is needed too.
    OutOfDateConfigurationNeeded,
    /// The platform's keys are revoked. Never accepted, whatever a policy says.
    Revoked,
    /// TDX 1.5 only: launched on an out-of-date TCB that has since been updated.
    TDRelaunchAdvised,
    /// TDX 1.5 only: as above, and configuration is needed.
    TDRelaunchAdvisedConfigurationNeeded,
}

impl TcbStatus {
    /// Intel's name for the status.
    pub fn name(self) -> &'static str {
        match self {
            TcbStatus::UpToDate => "UpToDate",
            TcbStatus::SWHardeningNeeded => "SWHardeningNeeded",
            TcbStatus::ConfigurationNeeded => "ConfigurationNeeded",
            TcbStatus::ConfigurationAndSWHardeningNeeded => "ConfigurationAndSWHardeningNeeded",
            TcbStatus::OutOfDate => "OutOfDate",
            TcbStatus::OutOfDateConfigurationNeeded => "OutOfDateConfigurationNeeded",
            TcbStatus::Revoked => "Revoked",
            TcbStatus::TDRelaunchAdvised => "TDRelaunchAdvised",
            TcbStatus::TDRelaunchAdvisedConfigurationNeeded => "TDRelaunchAdvisedConfigurationNeeded",
        }
    }
}

impl fmt::Display for TcbStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl From<dcap_qvl::TcbStatus> for TcbStatus {
    fn from(s: dcap_qvl::TcbStatus) -> Self {
        // Exhaustive on purpose: a status added upstream must be classified here, not
        // fall into some default.
        match s {
            dcap_qvl::TcbStatus::UpToDate => TcbStatus::UpToDate,
            dcap_qvl::TcbStatus::SWHardeningNeeded => TcbStatus::SWHardeningNeeded,
            dcap_qvl::TcbStatus::ConfigurationNeeded => TcbStatus::ConfigurationNeeded,
            dcap_qvl::TcbStatus::ConfigurationAndSWHardeningNeeded => TcbStatus::ConfigurationAndSWHardeningNeeded,
            dcap_qvl::TcbStatus::OutOfDate => TcbStatus::OutOfDate,
            dcap_qvl::TcbStatus::OutOfDateConfigurationNeeded => TcbStatus::OutOfDateConfigurationNeeded,
            dcap_qvl::TcbStatus::Revoked => TcbStatus::Revoked,
            dcap_qvl::TcbStatus::TDRelaunchAdvised => TcbStatus::TDRelaunchAdvised,
            dcap_qvl::TcbStatus::TDRelaunchAdvisedConfigurationNeeded => {
                TcbStatus::TDRelaunchAdvisedConfigurationNeeded
            }
        }
    }
}

/// One enclave identity an [`SgxPolicy`] admits.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SgxMeasurement {
    /// Exactly this enclave build (MRENCLAVE).
    MrEnclave(Hash32),
    /// Any build signed by this key (MRSIGNER) for this product, at or above a security
    /// version: admits future releases without a policy change, and the minimum SVN keeps
    /// out older releases the signer has since fixed.
    MrSigner {
        /// Hash of the enclave signer's public key.
        mrsigner: Hash32,
        /// The product id the signer assigned.
        isv_prod_id: u16,
        /// Lowest accepted security version number.
        min_isv_svn: u16,
    },
}

impl SgxMeasurement {
    /// Whether a verified report matches this identity.
    pub fn matches(&self, report: &SgxReport) -> bool {
        match self {
            SgxMeasurement::MrEnclave(m) => *m == report.mrenclave,
            SgxMeasurement::MrSigner { mrsigner, isv_prod_id, min_isv_svn } => {
                *mrsigner == report.mrsigner && *isv_prod_id == report.isv_prod_id && report.isv_svn >= *min_isv_svn
            }
        }
    }
}

/// What a verifier accepts from SGX. The default admits nothing: no enclave identity is
/// listed, debug enclaves are refused, and only an UpToDate TCB passes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SgxPolicy {
    /// Enclave identities admitted; a report must match at least one. Empty admits none.
    pub allowed: Vec<SgxMeasurement>,
    /// Whether debug enclaves pass. Only ever for development: a debug enclave's memory
    /// is open to the host.
    pub allow_debug: bool,
    /// TCB statuses accepted besides UpToDate (which always is). Listing
    /// [`TcbStatus::Revoked`] has no effect: a revoked platform is never accepted.
    pub accept_tcb: Vec<TcbStatus>,
}

impl SgxPolicy {
    /// A policy admitting exactly these enclave builds, strict otherwise.
    pub fn mrenclaves(mrenclaves: impl IntoIterator<Item = Hash32>) -> Self {
        SgxPolicy { allowed: mrenclaves.into_iter().map(SgxMeasurement::MrEnclave).collect(), ..Default::default() }
    }

    /// Whether a TCB status passes this policy.
    pub fn accepts_tcb(&self, status: TcbStatus) -> bool {
        match status {
            TcbStatus::UpToDate => true,
            TcbStatus::Revoked => false,
            other => self.accept_tcb.contains(&other),
        }
    }

    /// Judges a report whose quote has been verified: debug flag, then identity, then TCB
    /// status. [`verify_sgx`] calls this; it is public so that a report kept from an
    /// earlier verification can be judged again when the policy changes.
    pub fn check(&self, report: &SgxReport) -> Result<(), AttestationError> {
        if report.debug && !self.allow_debug {
            return Err(AttestationError::DebugEnclave);
        }
        if !self.allowed.iter().any(|m| m.matches(report)) {
            return Err(AttestationError::MeasurementNotAllowed { identity: report.identity() });
        }
        if !self.accepts_tcb(report.tcb_status) {
            return Err(AttestationError::TcbStatusNotAccepted {
                status: report.tcb_status,
                advisory_ids: report.advisory_ids.clone(),
            });
        }
        Ok(())
    }
}

/// What a verified SGX quote says about its enclave and platform.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SgxReport {
    /// The enclave's measurement (MRENCLAVE).
    pub mrenclave: Hash32,
    /// Hash of the enclave signer's key (MRSIGNER).
    pub mrsigner: Hash32,
    /// The signer's product id.
    pub isv_prod_id: u16,
    /// The enclave's security version number.
    pub isv_svn: u16,
    /// The 64 bytes the enclave bound into its report.
    #[serde(with = "fixed_bytes")]
    pub report_data: ReportData,
    /// Whether the enclave was launched in debug mode (memory readable by the host).
    pub debug: bool,
    /// The platform's TCB status.
    pub tcb_status: TcbStatus,
    /// Intel security advisories (INTEL-SA-…) that apply to the platform.
    pub advisory_ids: Vec<String>,
}

impl SgxReport {
    fn from_enclave_report(r: &EnclaveReport, tcb_status: TcbStatus, advisory_ids: Vec<String>) -> Self {
        SgxReport {
            mrenclave: Hash32(r.mr_enclave),
            mrsigner: Hash32(r.mr_signer),
            isv_prod_id: r.isv_prod_id,
            isv_svn: r.isv_svn,
            report_data: r.report_data,
            debug: is_debug(r),
            tcb_status,
            advisory_ids,
        }
    }

    /// The enclave's identity in one line, for errors and logs.
    pub fn identity(&self) -> String {
        format!(
            "mrenclave {} mrsigner {} isv_prod_id {} isv_svn {}",
            self.mrenclave, self.mrsigner, self.isv_prod_id, self.isv_svn
        )
    }
}

impl fmt::Display for SgxReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sgx enclave {}, TCB {}", self.identity(), self.tcb_status)?;
        if !self.advisory_ids.is_empty() {
            write!(f, " ({})", self.advisory_ids.join(", "))?;
        }
        if self.debug {
            f.write_str(", DEBUG enclave (INSECURE: memory readable by the host)")?;
        }
        Ok(())
    }
}

fn is_debug(r: &EnclaveReport) -> bool {
    r.attributes[0] & ATTRIBUTE_DEBUG != 0
}

/// Verifies an SGX DCAP quote against its collateral at `now_unix` (seconds since the
/// epoch; on the ledger, the block's time, so every node agrees) and judges it by
/// `policy`.
///
/// A quote that declares a debug enclave is refused with
/// [`AttestationError::DebugEnclave`] before any signature is checked when the policy
/// refuses debug enclaves: refusing needs no proof, and the error is then the clear one.
pub fn verify_sgx(
    quote: &[u8],
    collateral: &SgxCollateral,
    now_unix: u64,
    policy: &SgxPolicy,
) -> Result<SgxReport, AttestationError> {
    let parsed = Quote::parse(quote).map_err(|e| AttestationError::MalformedQuote { message: format!("{e:#}") })?;
    let claimed = parsed.report.as_sgx().ok_or(AttestationError::NotSgxQuote { tee_type: parsed.header.tee_type })?;
    if is_debug(claimed) && !policy.allow_debug {
        return Err(AttestationError::DebugEnclave);
    }

    // dcap-qvl refuses debug enclaves itself unless told otherwise; passing the policy's
    // flag keeps that second check. `claims_only` makes its own policy step a no-op: the
    // TCB verdict is judged below, by our policy, into typed errors.
    let claims = QuoteVerifier::new_prod()
        .with_config::<RustCryptoConfig>()
        .allow_debug(policy.allow_debug)
        .verify_with_policy(quote, collateral.to_dcap(), now_unix, &QuotePolicy::claims_only(now_unix))
        .map_err(|e| AttestationError::QuoteRejected { message: format!("{e:#}") })?;
    let verified = claims.report.as_sgx().ok_or(AttestationError::NotSgxQuote { tee_type: claims.tee_type })?;
    let report = SgxReport::from_enclave_report(verified, claims.tcb.status.into(), claims.tcb.advisory_ids);
    policy.check(&report)?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> SgxReport {
        SgxReport {
            mrenclave: Hash32([1; 32]),
            mrsigner: Hash32([2; 32]),
            isv_prod_id: 7,
            isv_svn: 3,
            report_data: [0; 64],
            debug: false,
            tcb_status: TcbStatus::UpToDate,
            advisory_ids: vec![],
        }
    }

    #[test]
    fn default_policy_admits_nothing() {
        assert!(matches!(SgxPolicy::default().check(&report()), Err(AttestationError::MeasurementNotAllowed { .. })));
    }

    #[test]
    fn mrenclave_rule() {
        assert_eq!(SgxPolicy::mrenclaves([Hash32([1; 32])]).check(&report()), Ok(()));
        let err = SgxPolicy::mrenclaves([Hash32([9; 32])]).check(&report()).unwrap_err();
        assert!(matches!(err, AttestationError::MeasurementNotAllowed { .. }), "{err}");
    }

    #[test]
    fn mrsigner_rule_checks_product_and_minimum_svn() {
        let rule = |isv_prod_id, min_isv_svn| SgxPolicy {
            allowed: vec![SgxMeasurement::MrSigner { mrsigner: Hash32([2; 32]), isv_prod_id, min_isv_svn }],
            ..Default::default()
        };
        assert_eq!(rule(7, 3).check(&report()), Ok(()));
        assert_eq!(rule(7, 1).check(&report()), Ok(()));
        assert!(rule(7, 4).check(&report()).is_err(), "an older SVN than the minimum passed");
        assert!(rule(8, 0).check(&report()).is_err(), "another product passed");
        let other_signer = SgxPolicy {
            allowed: vec![SgxMeasurement::MrSigner { mrsigner: Hash32([3; 32]), isv_prod_id: 7, min_isv_svn: 0 }],
            ..Default::default()
        };
        assert!(other_signer.check(&report()).is_err());
    }

    #[test]
    fn debug_enclave_refused_unless_allowed() {
        let debug = SgxReport { debug: true, ..report() };
        let mut policy = SgxPolicy::mrenclaves([Hash32([1; 32])]);
        assert_eq!(policy.check(&debug), Err(AttestationError::DebugEnclave));
        policy.allow_debug = true;
        assert_eq!(policy.check(&debug), Ok(()));
        assert!(debug.to_string().contains("INSECURE"), "{debug}");
    }

    #[test]
    fn non_up_to_date_tcb_is_reported_unless_accepted() {
        let stale = SgxReport {
            tcb_status: TcbStatus::OutOfDate,
            advisory_ids: vec!["INTEL-SA-00001".into(), "INTEL-SA-00002".into()],
            ..report()
        };
        let mut policy = SgxPolicy::mrenclaves([Hash32([1; 32])]);
        let err = policy.check(&stale).unwrap_err();
        assert_eq!(
            err,
            AttestationError::TcbStatusNotAccepted {
                status: TcbStatus::OutOfDate,
                advisory_ids: vec!["INTEL-SA-00001".into(), "INTEL-SA-00002".into()],
            }
        );
        let message = err.to_string();
        assert!(message.contains("OutOfDate") && message.contains("INTEL-SA-00002"), "{message}");

        policy.accept_tcb = vec![TcbStatus::SWHardeningNeeded];
        assert!(policy.check(&stale).is_err(), "accepting one status accepted another");
        policy.accept_tcb.push(TcbStatus::OutOfDate);
        assert_eq!(policy.check(&stale), Ok(()));
    }

    #[test]
    fn revoked_is_never_accepted() {
        let revoked = SgxReport { tcb_status: TcbStatus::Revoked, ..report() };
        let policy = SgxPolicy { accept_tcb: vec![TcbStatus::Revoked], ..SgxPolicy::mrenclaves([Hash32([1; 32])]) };
        assert!(matches!(
            policy.check(&revoked),
            Err(AttestationError::TcbStatusNotAccepted { status: TcbStatus::Revoked, .. })
        ));
    }

    #[test]
    fn policy_has_a_canonical_encoding() {
        let policy = SgxPolicy {
            allowed: vec![
                SgxMeasurement::MrEnclave(Hash32([1; 32])),
                SgxMeasurement::MrSigner { mrsigner: Hash32([2; 32]), isv_prod_id: 1, min_isv_svn: 2 },
            ],
            allow_debug: false,
            accept_tcb: vec![TcbStatus::SWHardeningNeeded],
        };
        let bytes = teechain_types::codec::encode(&policy);
        let back: SgxPolicy = teechain_types::codec::decode(&bytes, teechain_types::codec::Limits::RECORD).unwrap();
        assert_eq!(back, policy);
    }
}
