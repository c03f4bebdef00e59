//! SGX verification on a real DCAP quote and its collateral (from dcap-qvl's samples;
//! see tests/data/README.md).

use dcap_qvl::quote::Quote;
use teechain_attestation::{
    verify, verify_sgx, AttestationError, AttestationPolicy, Evidence, Platform, PlatformReport, SgxCollateral,
    SgxEvidence, SgxMeasurement, SgxPolicy, TcbStatus, VirtualPolicy,
};
use teechain_types::codec::{self, Limits};
use teechain_types::Hash32;

const SGX_QUOTE: &[u8] = include_bytes!("data/sgx_quote");
const SGX_COLLATERAL: &[u8] = include_bytes!("data/sgx_quote_collateral.json");
const TDX_QUOTE: &[u8] = include_bytes!("data/tdx_quote");
const TDX_COLLATERAL: &[u8] = include_bytes!("data/tdx_quote_collateral.json");

/// 2025-07-01T00:00:00Z: inside the sample collateral's validity window, which runs from
/// [`WINDOW_START`] to [`WINDOW_END`].
const SAMPLE_TIME: u64 = 1_751_328_000;
/// 2025-06-19T10:56:11Z, the TCB info's `issueDate`: the latest start among the TCB info,
/// the QE identity (issued 10:01:18 that day), the PCK CRL (thisUpdate 10:23:18) and the
/// root CA CRL and certificates (all earlier).
const WINDOW_START: u64 = 1_750_330_571;
/// 2025-07-19T10:01:18Z, the QE identity's `nextUpdate`: the earliest end among the TCB
/// info (10:56:11 that day), the PCK CRL (10:23:18), the root CA CRL (2026-04-03) and the
/// certificates (2032 and later).
const WINDOW_END: u64 = 1_752_919_278;

/// Offsets in a version 3 quote: a 48-byte header, then the 384-byte enclave report
/// (MRENCLAVE at 64 into it, ATTRIBUTES at 48), then a 4-byte length and the 64-byte
/// ECDSA signature over header and report.
const MRENCLAVE_OFFSET: usize = 48 + 64;
const ATTRIBUTES_OFFSET: usize = 48 + 48;
const SIGNATURE_OFFSET: usize = 48 + 384 + 4;

/// The sample's TCB status, per its collateral: the platform needs configuration and
/// software hardening for two advisories.
const SAMPLE_STATUS: TcbStatus = TcbStatus::ConfigurationAndSWHardeningNeeded;
const SAMPLE_ADVISORIES: [&str; 2] = ["INTEL-SA-00289", "INTEL-SA-00615"];

fn collateral() -> SgxCollateral {
    SgxCollateral::from_json(SGX_COLLATERAL).expect("sample collateral parses")
}

/// The sample enclave's identity, read from the (unverified) quote so that policies can
/// name it.
fn sample_identity() -> (Hash32, Hash32, u16, u16, [u8; 64]) {
    let quote = Quote::parse(SGX_QUOTE).expect("sample quote parses");
    let r = quote.report.as_sgx().expect("sample is an SGX quote");
    (Hash32(r.mr_enclave), Hash32(r.mr_signer), r.isv_prod_id, r.isv_svn, r.report_data)
}

/// Admits the sample enclave and its platform's TCB status.
fn accepting_policy() -> SgxPolicy {
    SgxPolicy { accept_tcb: vec![SAMPLE_STATUS], ..SgxPolicy::mrenclaves([sample_identity().0]) }
}

/// Whether DCAP verification refused a signature (dcap-qvl's wording: "... signature is
/// invalid ..."), rather than failing for some unrelated reason.
fn rejected_signature(err: &AttestationError) -> bool {
    matches!(err, AttestationError::QuoteRejected { message } if message.to_lowercase().contains("signature is invalid"))
}

fn flip(quote: &[u8], offset: usize, mask: u8) -> Vec<u8> {
    let mut q = quote.to_vec();
    q[offset] ^= mask;
    q
}

#[test]
fn sample_quote_verifies_at_pinned_time() {
    let (mrenclave, mrsigner, isv_prod_id, isv_svn, report_data) = sample_identity();
    let report = verify_sgx(SGX_QUOTE, &collateral(), SAMPLE_TIME, &accepting_policy()).expect("sample verifies");
    assert_eq!(report.mrenclave, mrenclave);
    assert_eq!(report.mrsigner, mrsigner);
    assert_eq!((report.isv_prod_id, report.isv_svn), (isv_prod_id, isv_svn));
    assert_eq!(report.report_data, report_data);
    assert!(!report.debug);
    assert_eq!(report.tcb_status, SAMPLE_STATUS);
    assert_eq!(report.advisory_ids, SAMPLE_ADVISORIES);
    let shown = report.to_string();
    assert!(shown.contains("ConfigurationAndSWHardeningNeeded") && shown.contains("INTEL-SA-00615"), "{shown}");
}

#[test]
fn validity_window_edges() {
    let policy = accepting_policy();
    for t in [WINDOW_START, WINDOW_END] {
        verify_sgx(SGX_QUOTE, &collateral(), t, &policy).unwrap_or_else(|e| panic!("refused at {t}: {e}"));
    }
}

#[test]
fn fails_outside_the_validity_window() {
    let policy = accepting_policy();
    // A second past either edge, and a month out: 2025-06-01 and 2025-08-01.
    for t in [WINDOW_START - 1, WINDOW_END + 1, 1_748_736_000, 1_754_006_400] {
        let err = verify_sgx(SGX_QUOTE, &collateral(), t, &policy).expect_err("verified outside the window");
        // Refused for the right reason (dcap-qvl's wording: "... expired", "... in the future").
        assert!(
            matches!(&err, AttestationError::QuoteRejected { message } if message.contains("expired") || message.contains("future")),
            "at {t}: {err}"
        );
    }
}

#[test]
fn non_up_to_date_status_is_reported_not_accepted() {
    // Strict policy: the right enclave, but only UpToDate.
    let strict = SgxPolicy::mrenclaves([sample_identity().0]);
    let err = verify_sgx(SGX_QUOTE, &collateral(), SAMPLE_TIME, &strict).expect_err("strict policy accepted");
    assert_eq!(
        err,
        AttestationError::TcbStatusNotAccepted {
            status: SAMPLE_STATUS,
            advisory_ids: SAMPLE_ADVISORIES.iter().map(|s| s.to_string()).collect(),
        }
    );
    let message = err.to_string();
    assert!(message.contains("ConfigurationAndSWHardeningNeeded") && message.contains("INTEL-SA-00289"), "{message}");

    // Accepting some other status does not accept this one.
    let other = SgxPolicy { accept_tcb: vec![TcbStatus::SWHardeningNeeded, TcbStatus::ConfigurationNeeded], ..strict };
    assert!(matches!(
        verify_sgx(SGX_QUOTE, &collateral(), SAMPLE_TIME, &other),
        Err(AttestationError::TcbStatusNotAccepted { .. })
    ));
}

#[test]
fn tampered_report_body_fails() {
    let tampered = flip(SGX_QUOTE, MRENCLAVE_OFFSET + 5, 0x01);
    let parsed = Quote::parse(&tampered).expect("still parses");
    assert_ne!(Hash32(parsed.report.as_sgx().expect("sgx").mr_enclave), sample_identity().0, "offset is not MRENCLAVE");
    // Allow the tampered measurement too, so only the signature can refuse it.
    let mut policy = accepting_policy();
    policy.allowed.push(SgxMeasurement::MrEnclave(Hash32(parsed.report.as_sgx().expect("sgx").mr_enclave)));
    let err = verify_sgx(&tampered, &collateral(), SAMPLE_TIME, &policy).expect_err("tampered body verified");
    assert!(rejected_signature(&err), "{err}");
}

#[test]
fn tampered_signature_fails() {
    let tampered = flip(SGX_QUOTE, SIGNATURE_OFFSET + 10, 0x01);
    let err =
        verify_sgx(&tampered, &collateral(), SAMPLE_TIME, &accepting_policy()).expect_err("bad signature verified");
    assert!(rejected_signature(&err), "{err}");
}

#[test]
fn tampered_collateral_fails() {
    let mut c = collateral();
    // Move the TCB info's issue date by a second: still inside the window, so only the
    // signature over the TCB info can refuse it.
    let altered =
        c.tcb_info.replacen("\"issueDate\":\"2025-06-19T10:56:11Z\"", "\"issueDate\":\"2025-06-19T10:56:10Z\"", 1);
    assert_ne!(altered, c.tcb_info, "the sample's TCB info changed; adjust this test");
    c.tcb_info = altered;
    let err = verify_sgx(SGX_QUOTE, &c, SAMPLE_TIME, &accepting_policy()).expect_err("altered TCB info verified");
    assert!(rejected_signature(&err), "{err}");
}

#[test]
fn debug_flag_is_refused_and_cannot_be_forged_away() {
    // Setting DEBUG in the sample: refused by policy before anything else...
    let debug = flip(SGX_QUOTE, ATTRIBUTES_OFFSET, 0x02);
    let parsed = Quote::parse(&debug).expect("still parses");
    assert_eq!(parsed.report.as_sgx().expect("sgx").attributes[0] & 0x02, 0x02, "offset is not the DEBUG bit");
    assert_eq!(
        verify_sgx(&debug, &collateral(), SAMPLE_TIME, &accepting_policy()),
        Err(AttestationError::DebugEnclave)
    );
    // ...and where debug is allowed, the altered report fails its signature.
    let lenient = SgxPolicy { allow_debug: true, ..accepting_policy() };
    let err = verify_sgx(&debug, &collateral(), SAMPLE_TIME, &lenient).expect_err("altered attributes verified");
    assert!(rejected_signature(&err), "{err}");
}

#[test]
fn measurement_not_in_the_allowed_list_is_refused() {
    let (mrenclave, mrsigner, isv_prod_id, isv_svn, _) = sample_identity();
    let other = SgxPolicy { accept_tcb: vec![SAMPLE_STATUS], ..SgxPolicy::mrenclaves([Hash32([0xab; 32])]) };
    let err = verify_sgx(SGX_QUOTE, &collateral(), SAMPLE_TIME, &other).expect_err("unlisted enclave accepted");
    assert!(
        matches!(&err, AttestationError::MeasurementNotAllowed { identity } if identity.contains(&mrenclave.to_hex()))
    );

    let none = SgxPolicy { accept_tcb: vec![SAMPLE_STATUS], ..SgxPolicy::default() };
    assert!(matches!(
        verify_sgx(SGX_QUOTE, &collateral(), SAMPLE_TIME, &none),
        Err(AttestationError::MeasurementNotAllowed { .. })
    ));

    // Signer-based rules: the sample's signer and product pass, a higher minimum SVN does not.
    let by_signer = |min_isv_svn| SgxPolicy {
        allowed: vec![SgxMeasurement::MrSigner { mrsigner, isv_prod_id, min_isv_svn }],
        accept_tcb: vec![SAMPLE_STATUS],
        allow_debug: false,
    };
    assert!(verify_sgx(SGX_QUOTE, &collateral(), SAMPLE_TIME, &by_signer(isv_svn)).is_ok());
    assert!(matches!(
        verify_sgx(SGX_QUOTE, &collateral(), SAMPLE_TIME, &by_signer(isv_svn + 1)),
        Err(AttestationError::MeasurementNotAllowed { .. })
    ));
}

#[test]
fn tdx_quote_is_not_taken_for_sgx() {
    let tdx_collateral = SgxCollateral::from_json(TDX_COLLATERAL).expect("TDX collateral parses");
    let err = verify_sgx(TDX_QUOTE, &tdx_collateral, SAMPLE_TIME, &accepting_policy()).expect_err("TDX accepted");
    assert_eq!(err, AttestationError::NotSgxQuote { tee_type: 0x81 });
}

#[test]
fn garbage_is_a_malformed_quote() {
    for bad in [&[][..], &SGX_QUOTE[..100], &[0xff; 600][..]] {
        let err = verify_sgx(bad, &collateral(), SAMPLE_TIME, &accepting_policy()).expect_err("garbage verified");
        assert!(
            matches!(err, AttestationError::MalformedQuote { .. } | AttestationError::QuoteRejected { .. }),
            "{err}"
        );
    }
    assert!(SgxCollateral::from_json(b"{").is_err());
}

fn sgx_evidence() -> Evidence {
    Evidence::from_sgx(&SgxEvidence { quote: SGX_QUOTE.to_vec(), collateral: collateral() })
}

#[test]
fn entry_point_checks_platform_report_data_and_policy() {
    let expected = sample_identity().4;
    let policy = AttestationPolicy { sgx: Some(accepting_policy()), virtual_platform: None };

    // Evidence survives the canonical encoding it is stored and sent in.
    let evidence: Evidence = codec::decode(&codec::encode(&sgx_evidence()), Limits::RECORD).expect("round trip");
    let enclave = verify(&evidence, &expected, &policy, SAMPLE_TIME).expect("verifies");
    assert_eq!(enclave.platform, Platform::Sgx);
    assert_eq!(enclave.measurement, sample_identity().0);
    assert!(enclave.secure);
    assert!(matches!(&enclave.report, PlatformReport::Sgx(r) if r.tcb_status == SAMPLE_STATUS));
    assert!(!enclave.to_string().contains("INSECURE"), "{enclave}");

    // Evidence made for other keys or another channel.
    let err = verify(&evidence, &[0; 64], &policy, SAMPLE_TIME).expect_err("wrong report data accepted");
    assert!(matches!(err, AttestationError::ReportDataMismatch { .. }), "{err}");

    // A channel that does not allow SGX, or allows only the virtual platform.
    for policy in [
        AttestationPolicy::default(),
        AttestationPolicy { virtual_platform: Some(VirtualPolicy::default()), sgx: None },
    ] {
        assert_eq!(
            verify(&evidence, &expected, &policy, SAMPLE_TIME),
            Err(AttestationError::PlatformNotAllowed { platform: Platform::Sgx })
        );
    }

    // The strict TCB rule holds through the entry point too.
    let strict = AttestationPolicy { sgx: Some(SgxPolicy::mrenclaves([sample_identity().0])), virtual_platform: None };
    assert!(matches!(
        verify(&evidence, &expected, &strict, SAMPLE_TIME),
        Err(AttestationError::TcbStatusNotAccepted { status: SAMPLE_STATUS, .. })
    ));
}

#[test]
fn evidence_of_the_wrong_shape_is_malformed() {
    let expected = sample_identity().4;
    let policy = AttestationPolicy { sgx: Some(accepting_policy()), virtual_platform: None };
    for data in [vec![], vec![1, 2, 3], SGX_QUOTE.to_vec()] {
        let evidence = Evidence { platform: Platform::Sgx, data };
        assert!(matches!(
            verify(&evidence, &expected, &policy, SAMPLE_TIME),
            Err(AttestationError::MalformedEvidence { platform: Platform::Sgx, .. })
        ));
    }
}
