//! The same tests against every enclave mode: in this process, and as a separate
//! `teechain-enclave` process behind a Unix socket or on a loopback TCP port (as under
//! Gramine).

use std::path::Path;
use std::time::{Duration, Instant};

use teechain_enclave::host::ViewHost;
use teechain_enclave::protocol::FailureKind;
use teechain_enclave::testing::{self, proposal, MemState, TestNet, NS};
use teechain_enclave::{
    Enclave, EnclaveAddress, EnclaveAttestation, EnclaveBoot, EnclaveCommand, EnclaveError, EnclaveHandle,
    EnclaveProcess, Transport,
};
use teechain_types::codec::{decode, encode, Limits};
use teechain_types::identity::Role;
use teechain_types::sha256;

const EXE: &str = env!("CARGO_BIN_EXE_teechain-enclave");

/// One enclave of org1 under test, and what keeps it alive.
struct Under {
    handle: EnclaveHandle,
    process: Option<EnclaveProcess>,
    _dir: Option<tempfile::TempDir>,
}

fn in_process(net: &TestNet) -> Under {
    Under { handle: EnclaveHandle::in_process(Enclave::new(net.config("org1")).unwrap()), process: None, _dir: None }
}

fn separate_process(net: &TestNet, transport: Transport) -> Under {
    let dir = tempfile::tempdir().unwrap();
    let boot = EnclaveBoot::from_config(&net.config("org1")).unwrap();
    let command = EnclaveCommand { exe: EXE.into(), transport, launcher: Vec::new() };
    let (handle, process) = EnclaveHandle::spawn(&command, &boot, dir.path()).unwrap();
    // The boot file is gone once the enclave has read it.
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    let sockets = usize::from(transport == Transport::Unix);
    assert_eq!(left.len(), sockets, "only the socket remains: {left:?}");
    match (transport, process.address()) {
        (Transport::Tcp, Some(EnclaveAddress::Tcp(a))) => assert!(a.ip().is_loopback() && a.port() != 0),
        (Transport::Unix, Some(EnclaveAddress::Unix(p))) => assert!(p.starts_with(dir.path())),
        other => panic!("listens at {other:?}"),
    }
    Under { handle, process: Some(process), _dir: Some(dir) }
}

/// Runs `test` against a fresh enclave in each mode.
fn each_mode(test: impl Fn(&TestNet, &EnclaveHandle)) {
    let net = TestNet::new();
    let modes = [
        ("in-process", in_process(&net)),
        ("separate process, Unix socket", separate_process(&net, Transport::Unix)),
        ("separate process, loopback TCP", separate_process(&net, Transport::Tcp)),
    ];
    for (mode, under) in modes {
        eprintln!("mode: {mode}");
        assert_eq!(under.handle.address().is_some(), under.process.is_some());
        test(&net, &under.handle);
    }
}

#[test]
fn info_and_install() {
    each_mode(|_, enclave| {
        let info = enclave.info().unwrap();
        assert_eq!((info.platform.name(), info.platform.is_secure()), ("virtual", false));
        assert_eq!((info.org.as_str(), info.channel.as_str()), ("org1", testing::CHANNEL));
        // The evidence binds the enclave's keys and the channel.
        let EnclaveAttestation::Evidence(bytes) = &info.attestation else { panic!("virtual evidence expected") };
        let evidence: teechain_attestation::Evidence = decode(bytes, Limits::RECORD).unwrap();
        let virt = evidence.decode_virtual().unwrap();
        let expected = teechain_attestation::report_data(testing::CHANNEL, &info.keys.keys_hash());
        let report = teechain_attestation::verify_virtual(&virt, &[virt.platform_public_key]).unwrap();
        assert_eq!(report.report_data, expected);
        assert_eq!(report.measurement, info.measurement);
        assert!(info.installed.is_empty());
        let hash = enclave.install(teechain_contracts::TESTBED.to_vec()).unwrap();
        assert_eq!(hash, sha256(teechain_contracts::TESTBED));
        assert_eq!(enclave.info().unwrap().installed, vec![hash]);
        let err = enclave.install(b"not wasm".to_vec()).unwrap_err();
        assert_eq!(err.kind(), Some(FailureKind::ChaincodeUnavailable), "{err}");
    });
}

#[test]
fn endorse_a_put_then_evaluate_a_get_through_ocalls() {
    each_mode(|net, enclave| {
        enclave.install(teechain_contracts::TESTBED.to_vec()).unwrap();
        let alice = net.identity("org1", "alice", Role::Client);
        let mut state = MemState::new(true);
        let (sp, transient) = proposal(&alice, 1, "put", &[b"colour", b"blue"]);
        let endorsed = enclave.endorse(&ViewHost(&state), sp.clone(), transient).unwrap();
        let payload = &endorsed.response.payload;
        assert_eq!(payload.proposal_hash, sp.proposal.hash());
        assert_eq!(payload.rwset.writes.len(), 1);
        let endorsement = &endorsed.response.endorsement;
        let info = enclave.info().unwrap();
        assert_eq!((endorsement.enclave, endorsement.org.as_str()), (info.id(), "org1"));
        let key = teechain_crypto::VerifyingKey::from_bytes(&info.keys.signing_key).unwrap();
        teechain_crypto::verify(&key, &payload.hash().0, &endorsement.signature).unwrap();
        assert_eq!(endorsed.private, None);

        state.commit(&endorsed);
        let (sp, transient) = proposal(&alice, 2, "get", &[b"colour"]);
        let got = enclave.evaluate(&ViewHost(&state), sp, transient).unwrap();
        let value: Option<Vec<u8>> = decode(&got.payload, Limits::RECORD).unwrap();
        assert_eq!(value.as_deref(), Some(&b"blue"[..]));
    });
}

#[test]
fn a_private_write_returns_its_private_data() {
    each_mode(|net, enclave| {
        enclave.install(teechain_contracts::TESTBED.to_vec()).unwrap();
        let alice = net.identity("org1", "alice", Role::Client);
        let mut state = MemState::new(true);
        state.share_keys(&[enclave]);
        let (sp, transient) = proposal(&alice, 1, "pput", &[b"shared", b"k", b"private value"]);
        let tx_id = sp.proposal.header.tx_id();
        let endorsed = enclave.endorse(&ViewHost(&state), sp, transient).unwrap();
        let private = endorsed.private.clone().expect("private data");
        assert_eq!(private.tx_id, tx_id);
        assert_eq!(
            (private.collections[0].namespace.as_str(), private.collections[0].collection.as_str()),
            (NS, "shared")
        );
        // Sealed for member nodes; only hashes in the signed part.
        let sealed = private.collections[0].writes[0].value.as_deref().expect("a value");
        assert!(!sealed.windows(13).any(|w| w == b"private value"));
        assert!(!encode(&endorsed.response.payload).windows(13).any(|w| w == b"private value"));

        state.commit(&endorsed);
        let (sp, transient) = proposal(&alice, 2, "pget", &[b"shared", b"k"]);
        let got = enclave.evaluate(&ViewHost(&state), sp, transient).unwrap();
        let value: Option<Vec<u8>> = decode(&got.payload, Limits::RECORD).unwrap();
        assert_eq!(value.as_deref(), Some(&b"private value"[..]));
    });
}

#[test]
fn a_refusal_leaves_the_enclave_usable() {
    each_mode(|net, enclave| {
        enclave.install(teechain_contracts::TESTBED.to_vec()).unwrap();
        let alice = net.identity("org1", "alice", Role::Client);
        let state = MemState::new(true);
        for nonce in 1..4 {
            let (sp, transient) = proposal(&alice, nonce, "refuse", &[b"no, thank you"]);
            let err = enclave.endorse(&ViewHost(&state), sp, transient).unwrap_err();
            assert_eq!(err.kind(), Some(FailureKind::ChaincodeRefused), "{err}");
            assert_eq!(err.to_string(), "no, thank you");
            // A proposal that is not the client's own is refused before running.
            let (mut sp, transient) = proposal(&alice, nonce, "put", &[b"k", b"v"]);
            sp.proposal.invocation.args[1] = b"w".to_vec();
            let err = enclave.evaluate(&ViewHost(&state), sp, transient).unwrap_err();
            assert_eq!(err.kind(), Some(FailureKind::BadProposal), "{err}");
            let (sp, transient) = proposal(&alice, 10 + nonce, "put", &[b"k", b"v"]);
            enclave.endorse(&ViewHost(&state), sp, transient).unwrap();
        }
    });
}

#[test]
fn concurrent_endorsements_all_succeed() {
    each_mode(|net, enclave| {
        enclave.install(teechain_contracts::TESTBED.to_vec()).unwrap();
        let alice = net.identity("org1", "alice", Role::Client);
        let state = MemState::new(true);
        std::thread::scope(|s| {
            let threads: Vec<_> = (0..6u8)
                .map(|t| {
                    let (alice, state) = (&alice, &state);
                    s.spawn(move || {
                        for i in 0..5u8 {
                            let key = [b'k', t, i];
                            let (sp, transient) =
                                proposal(alice, t * 16 + i, "ops", &[b"get", &key, b"put", &key, b"v"]);
                            let endorsed = enclave.endorse(&ViewHost(state), sp.clone(), transient).unwrap();
                            assert_eq!(endorsed.response.payload.proposal_hash, sp.proposal.hash());
                            assert_eq!(endorsed.response.payload.rwset.writes[0].key, key);
                        }
                    })
                })
                .collect();
            for t in threads {
                t.join().unwrap();
            }
        });
    });
}

#[test]
fn a_killed_enclave_process_is_unavailable_not_a_hang() {
    let net = TestNet::new();
    let mut under = separate_process(&net, Transport::Tcp);
    let enclave = &under.handle;
    enclave.install(teechain_contracts::TESTBED.to_vec()).unwrap();
    let alice = net.identity("org1", "alice", Role::Client);
    let state = MemState::new(true);
    let (sp, transient) = proposal(&alice, 1, "put", &[b"k", b"v"]);
    enclave.endorse(&ViewHost(&state), sp, transient).unwrap();

    under.process.as_mut().unwrap().kill().unwrap();
    let started = Instant::now();
    let (sp, transient) = proposal(&alice, 2, "put", &[b"k", b"v"]);
    let err = under.handle.endorse(&ViewHost(&state), sp, transient).unwrap_err();
    assert!(matches!(err, EnclaveError::Unavailable(_)), "{err}");
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
    assert!(matches!(under.handle.info(), Err(EnclaveError::Unavailable(_))));
    // Connecting anew fails the same way.
    let address = under.process.as_ref().unwrap().address().unwrap().clone();
    assert!(matches!(EnclaveHandle::connect(&address), Err(EnclaveError::Unavailable(_))));
}

#[test]
fn a_process_that_cannot_start_is_unavailable() {
    let net = TestNet::new();
    let dir = tempfile::tempdir().unwrap();
    let mut boot = EnclaveBoot::from_config(&net.config("org1")).unwrap();
    // An organisation outside the channel: the enclave refuses to start.
    boot.org = "org9".into();
    let started = Instant::now();
    let err = EnclaveHandle::spawn_process(Path::new(EXE), &boot, dir.path()).unwrap_err();
    assert!(matches!(&err, EnclaveError::Unavailable(m) if m.contains("exited")), "{err}");
    assert!(started.elapsed() < Duration::from_secs(20));
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "boot file removed");
    let err = EnclaveHandle::spawn_process(&dir.path().join("no-such-binary"), &boot, dir.path()).unwrap_err();
    assert!(matches!(err, EnclaveError::Unavailable(_)), "{err}");
}

#[test]
fn the_enclave_process_exits_when_its_host_goes_away() {
    let net = TestNet::new();
    let dir = tempfile::tempdir().unwrap();
    let (socket, boot) = (dir.path().join("e.sock"), dir.path().join("e.boot"));
    EnclaveBoot::from_config(&net.config("org1")).unwrap().write(&boot).unwrap();
    let mut child = std::process::Command::new(EXE)
        .args(["--exit-on-stdin-close", "--socket"])
        .arg(&socket)
        .arg("--boot")
        .arg(&boot)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while EnclaveHandle::connect(&EnclaveAddress::Unix(socket.clone())).is_err() {
        assert!(Instant::now() < deadline, "the enclave did not listen");
        std::thread::sleep(Duration::from_millis(20));
    }
    // Closing its standard input is what the host's death does.
    drop(child.stdin.take());
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("the enclave outlived its host");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status}");
}

#[test]
fn bad_arguments_are_refused() {
    let out = std::process::Command::new(EXE).arg("--socket").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("usage: teechain-enclave"));
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(EXE)
        .arg("--socket")
        .arg(dir.path().join("e.sock"))
        .arg("--boot")
        .arg(dir.path().join("missing.boot"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read enclave boot file"), "{out:?}");
}
