//! The virtual (INSECURE) platform: evidence, its verification, and the platform key file.

use teechain_attestation::{
    report_data, verify, verify_virtual, AttestationError, AttestationPolicy, Evidence, Platform, PlatformKey,
    PlatformPublicKey, PlatformReport, SgxPolicy, VirtualPolicy,
};
use teechain_types::codec::{self, Limits};
use teechain_types::Hash32;

const NOW: u64 = 1_751_328_000;

fn measurement() -> Hash32 {
    Hash32([0x11; 32])
}

fn keys_hash() -> Hash32 {
    Hash32([0x22; 32])
}

fn policy_trusting(key: &PlatformKey) -> AttestationPolicy {
    AttestationPolicy {
        virtual_platform: Some(VirtualPolicy {
            trusted_platform_keys: vec![key.public_key()],
            allowed_measurements: None,
        }),
        sgx: None,
    }
}

#[test]
fn evidence_verifies_and_says_insecure() {
    let platform = PlatformKey::generate();
    let expected = report_data("payments", &keys_hash());
    let evidence = platform.attest(measurement(), expected);
    assert!(evidence.to_string().contains("INSECURE"), "{evidence}");

    let report = verify_virtual(&evidence, &[platform.public_key()]).expect("verifies");
    assert_eq!((report.measurement, report.report_data), (measurement(), expected));
    assert!(report.to_string().contains("INSECURE"), "{report}");

    let wrapped: Evidence = codec::decode(&codec::encode(&Evidence::from_virtual(&evidence)), Limits::RECORD).unwrap();
    let enclave = verify(&wrapped, &expected, &policy_trusting(&platform), NOW).expect("verifies");
    assert_eq!(enclave.platform, Platform::Virtual);
    assert_eq!(enclave.measurement, measurement());
    assert!(!enclave.secure);
    assert!(matches!(enclave.report, PlatformReport::Virtual(_)));
    assert!(enclave.to_string().contains("INSECURE"), "{enclave}");
    assert!(Platform::Virtual.to_string().contains("INSECURE"));
}

#[test]
fn untrusted_platform_key_is_refused() {
    let platform = PlatformKey::generate();
    let stranger = PlatformKey::generate();
    let evidence = stranger.attest(measurement(), report_data("payments", &keys_hash()));
    assert!(matches!(
        verify_virtual(&evidence, &[platform.public_key()]),
        Err(AttestationError::UntrustedPlatformKey { .. })
    ));
    assert!(matches!(verify_virtual(&evidence, &[]), Err(AttestationError::UntrustedPlatformKey { .. })));
}

#[test]
fn altered_evidence_fails_its_signature() {
    let platform = PlatformKey::generate();
    let trusted = [platform.public_key()];
    let good = platform.attest(measurement(), report_data("payments", &keys_hash()));

    let mut other_measurement = good.clone();
    other_measurement.measurement = Hash32([0x33; 32]);
    let mut other_report_data = good.clone();
    other_report_data.report_data = report_data("auction", &keys_hash());
    let mut bad_signature = good.clone();
    bad_signature.signature.0[3] ^= 1;
    for evidence in [other_measurement, other_report_data, bad_signature] {
        assert_eq!(verify_virtual(&evidence, &trusted), Err(AttestationError::BadSignature));
    }
}

#[test]
fn a_trusted_non_key_is_refused() {
    // 32 bytes that are no Ed25519 point, listed as trusted by mistake.
    let not_a_point = (0u8..=255)
        .map(|b| [b; 32])
        .find(|bytes| ed25519_dalek::VerifyingKey::from_bytes(bytes).is_err())
        .expect("some constant byte string is not a point");
    let mut evidence = PlatformKey::generate().attest(measurement(), [0; 64]);
    evidence.platform_public_key = PlatformPublicKey(not_a_point);
    assert!(matches!(
        verify_virtual(&evidence, &[PlatformPublicKey(not_a_point)]),
        Err(AttestationError::InvalidPlatformKey { .. })
    ));
}

#[test]
fn entry_point_checks_report_data_measurement_and_platform() {
    let platform = PlatformKey::generate();
    let expected = report_data("payments", &keys_hash());
    let evidence = Evidence::from_virtual(&platform.attest(measurement(), expected));

    // Bound to another channel's report data.
    let err = verify(&evidence, &report_data("auction", &keys_hash()), &policy_trusting(&platform), NOW).unwrap_err();
    assert!(matches!(err, AttestationError::ReportDataMismatch { .. }), "{err}");

    // A measurement list that does not name it.
    let mut pinned = policy_trusting(&platform);
    if let Some(v) = pinned.virtual_platform.as_mut() {
        v.allowed_measurements = Some(vec![Hash32([0x44; 32])]);
    }
    assert!(matches!(verify(&evidence, &expected, &pinned, NOW), Err(AttestationError::MeasurementNotAllowed { .. })));
    if let Some(v) = pinned.virtual_platform.as_mut() {
        v.allowed_measurements = Some(vec![measurement()]);
    }
    assert!(verify(&evidence, &expected, &pinned, NOW).is_ok());

    // Channels that do not allow the virtual platform, the default first.
    for policy in
        [AttestationPolicy::default(), AttestationPolicy { virtual_platform: None, sgx: Some(SgxPolicy::default()) }]
    {
        assert_eq!(
            verify(&evidence, &expected, &policy, NOW),
            Err(AttestationError::PlatformNotAllowed { platform: Platform::Virtual })
        );
    }

    // Virtual evidence labelled as SGX, and garbage labelled as virtual.
    let relabelled = Evidence { platform: Platform::Sgx, data: evidence.data.clone() };
    let both = AttestationPolicy { sgx: Some(SgxPolicy::default()), ..policy_trusting(&platform) };
    assert!(matches!(
        verify(&relabelled, &expected, &both, NOW),
        Err(AttestationError::MalformedEvidence { platform: Platform::Sgx, .. })
    ));
    let garbage = Evidence { platform: Platform::Virtual, data: vec![1, 0xff, 0xff] };
    assert!(matches!(
        verify(&garbage, &expected, &both, NOW),
        Err(AttestationError::MalformedEvidence { platform: Platform::Virtual, .. })
    ));
}

#[cfg(unix)]
#[test]
fn platform_key_file_is_private_and_stable() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("platform").join("platform-key.pem");

    let created = PlatformKey::load_or_create(&path).expect("creates");
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let reloaded = PlatformKey::load_or_create(&path).expect("reloads");
    assert_eq!(created.public_key(), reloaded.public_key(), "a second call made a new key");
    assert_eq!(PlatformKey::load(&path).unwrap().public_key(), created.public_key());
    // Evidence from the reloaded key verifies against the original's public key.
    let evidence = reloaded.attest(measurement(), [7; 64]);
    assert!(verify_virtual(&evidence, &[created.public_key()]).is_ok());

    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert!(matches!(
        PlatformKey::load_or_create(&path),
        Err(AttestationError::KeyFilePermissions { mode: 0o644, .. })
    ));

    let junk = dir.path().join("junk.pem");
    std::fs::write(&junk, "not a key").unwrap();
    std::fs::set_permissions(&junk, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert!(matches!(PlatformKey::load_or_create(&junk), Err(AttestationError::InvalidKeyFile { .. })));

    assert!(matches!(PlatformKey::load(&dir.path().join("missing.pem")), Err(AttestationError::Io { .. })));
}

#[test]
fn platform_public_key_hex_round_trip() {
    let key = PlatformKey::generate().public_key();
    assert_eq!(PlatformPublicKey::from_hex(&key.to_string()), Some(key));
    assert_eq!(PlatformPublicKey::from_hex("abcd"), None);
}

#[test]
fn processes_racing_to_create_the_platform_key_end_with_one_key() {
    for _ in 0..20 {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("teechain").join("platform.key");
        let keys: Vec<_> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..6).map(|_| s.spawn(|| PlatformKey::load_or_create(&path))).collect();
            handles.into_iter().map(|h| h.join().unwrap().expect("no racer sees a half-written key")).collect()
        });
        assert!(keys.iter().all(|k| k.public_key() == keys[0].public_key()), "one key per machine");
        let left: Vec<_> = std::fs::read_dir(path.parent().unwrap()).unwrap().collect();
        assert_eq!(left.len(), 1, "no temporary file left behind");
    }
}
