//! The enclave end to end with the testbed contract: private data endorsed against a
//! [`ViewHost`] over in-memory state, as a member and as a non-member node.

use teechain_types::codec::{decode, encode, Limits};
use teechain_types::collection::{private_key_hash, sealed_value_hash, TxPrivateData};
use teechain_types::identity::Role;
use teechain_types::tx::SignedProposal;
use teechain_types::Hash32;

use crate::host::ViewHost;
use crate::protocol::FailureKind;
use crate::testing::{proposal, MemState, TestNet, Transient, NS};
use crate::{EnclaveError, EnclaveHandle, Endorsed};

fn endorse(enclave: &EnclaveHandle, state: &MemState, (sp, transient): (SignedProposal, Transient)) -> Endorsed {
    enclave.endorse(&ViewHost(state), sp, transient).unwrap()
}

fn evaluate(
    enclave: &EnclaveHandle,
    state: &MemState,
    (sp, transient): (SignedProposal, Transient),
) -> Result<Vec<u8>, EnclaveError> {
    enclave.evaluate(&ViewHost(state), sp, transient).map(|r| r.payload)
}

#[test]
fn endorsing_a_private_write_returns_its_private_data_apart() {
    let net = TestNet::new();
    let enclave = net.enclave("org1");
    let client = net.identity("org1", "alice", Role::Client);
    let mut state = MemState::new(true);
    state.share_keys(&[&enclave]);

    let sp = proposal(
        &client,
        1,
        "ops",
        &[b"pput", b"shared", b"b", b"value of b", b"pput", b"shared", b"a", b"value of a"],
    );
    let tx_id = sp.0.proposal.header.tx_id();
    let endorsed = endorse(&enclave, &state, sp);
    let rwset = &endorsed.response.payload.rwset;
    let Some(TxPrivateData { tx_id: private_tx, collections }) = &endorsed.private else {
        panic!("no private data returned")
    };
    assert_eq!(*private_tx, tx_id);
    assert_eq!(collections.len(), 1);
    assert_eq!((collections[0].namespace.as_str(), collections[0].collection.as_str()), (NS, "shared"));
    assert_eq!(rwset.private.len(), 1);
    let hashed = &rwset.private[0];
    assert_eq!(hashed.collection, "shared");
    assert_eq!(hashed.writes.len(), 2);
    assert_eq!(collections[0].writes.len(), 2);
    for (w, h) in collections[0].writes.iter().zip(&hashed.writes) {
        assert_eq!(private_key_hash(NS, "shared", &w.key), h.key_hash);
        // Member nodes receive the value sealed, its blind inside; the ledger gets the
        // hash of the sealed bytes besides the blinded value hash.
        let sealed = w.value.as_deref().unwrap();
        assert!(!sealed.windows(10).any(|x| x == b"value of a" || x == b"value of b"));
        assert_eq!(w.blind, Hash32::ZERO);
        assert_eq!(Some(sealed_value_hash(sealed)), h.sealed_hash);
        assert!(h.value_hash.is_some());
        assert!(!w.purge && !h.purge);
    }
    assert!(hashed.writes[0].key_hash < hashed.writes[1].key_hash);
    // The signed payload carries no private value.
    assert!(!encode(&endorsed.response.payload).windows(10).any(|w| w == b"value of b"));
    // The endorsement verifies.
    let info = enclave.info().unwrap();
    assert_eq!(endorsed.response.endorsement.enclave, info.id());
    let key = teechain_crypto::VerifyingKey::from_bytes(&info.keys.signing_key).unwrap();
    teechain_crypto::verify(&key, &endorsed.response.payload.hash().0, &endorsed.response.endorsement.signature)
        .unwrap();

    // Committed, the value reads back through the private ocalls.
    state.commit(&endorsed);
    let got = evaluate(&enclave, &state, proposal(&client, 2, "pget", &[b"shared", b"a"])).unwrap();
    assert_eq!(decode::<Option<Vec<u8>>>(&got, Limits::RECORD).unwrap().as_deref(), Some(&b"value of a"[..]));
    let got = evaluate(&enclave, &state, proposal(&client, 3, "prange", &[b"shared", b"", b""])).unwrap();
    let rows: Vec<(Vec<u8>, Vec<u8>)> = decode(&got, Limits::RECORD).unwrap();
    assert_eq!(rows, vec![(b"a".to_vec(), b"value of a".to_vec()), (b"b".to_vec(), b"value of b".to_vec())]);

    // A read-only endorsement has no private data, but records its hashed read.
    let endorsed = endorse(&enclave, &state, proposal(&client, 4, "pget", &[b"shared", b"a"]));
    assert_eq!(endorsed.private, None);
    assert_eq!(endorsed.response.payload.rwset.private[0].reads.len(), 1);
}

#[test]
fn a_non_member_enclave_refuses_to_read_values() {
    let net = TestNet::new();
    let client = net.identity("org1", "alice", Role::Client);
    let member = net.enclave("org1");
    let org3 = net.enclave("org3");
    let mut org1_state = MemState::new(true);
    org1_state.share_keys(&[&member, &org3]);
    let endorsed = endorse(&member, &org1_state, proposal(&client, 1, "pput", &[b"shared", b"k", b"secret"]));
    org1_state.commit(&endorsed);
    let mut org3_state = MemState::new(false);
    org3_state.share_keys_of(&org1_state);
    org3_state.commit(&endorsed);

    for (n, (f, args)) in
        [("pget", &[&b"shared"[..], b"k"][..]), ("popen", &[b"shared", b"k"]), ("prange", &[b"shared", b"", b""])]
            .into_iter()
            .enumerate()
    {
        let (sp, transient) = proposal(&client, 10 + n as u8, f, args);
        let err = org3.endorse(&ViewHost(&org3_state), sp, transient).unwrap_err();
        assert_eq!(err.kind(), Some(FailureKind::ChaincodeRefused), "{f}: {err}");
        assert!(err.to_string().contains("holds only hashes"), "{f}: {err}");
    }
    // The hash is there for everyone, and equals the member's.
    let got = evaluate(&org3, &org3_state, proposal(&client, 20, "phash", &[b"shared", b"k"])).unwrap();
    let hash: Option<Hash32> = decode(&got, Limits::RECORD).unwrap();
    assert_eq!(hash, endorsed.response.payload.rwset.private[0].writes[0].value_hash);
    // A blind write on the non-member node produces the same endorsement payload.
    let sp = proposal(&client, 21, "pput", &[b"shared", b"k", b"new"]);
    let on_org3 = endorse(&org3, &org3_state, sp.clone());
    let on_org1 = endorse(&member, &org1_state, sp);
    assert_eq!(on_org3.response.payload, on_org1.response.payload);
    assert_eq!(on_org3.private, on_org1.private);
}

#[test]
fn implicit_collections_exist_only_for_channel_orgs() {
    let net = TestNet::new();
    let enclave = net.enclave("org2");
    let mut state = MemState::new(true);
    state.share_keys(&[&enclave]);
    let client = net.identity("org1", "alice", Role::Client);
    // org1's client hands something to org2's implicit collection.
    let endorsed = endorse(&enclave, &state, proposal(&client, 1, "pput", &[b"_implicit_org_org2", b"k", b"v"]));
    assert_eq!(endorsed.private.unwrap().collections[0].collection, "_implicit_org_org2");
    let (sp, transient) = proposal(&client, 2, "pput", &[b"_implicit_org_org9", b"k", b"v"]);
    let err = enclave.endorse(&ViewHost(&state), sp, transient).unwrap_err();
    assert_eq!(err.to_string(), "chaincode 'testbed' has no collection '_implicit_org_org9'");
    // org1's client may not read org2's implicit collection.
    let (sp, transient) = proposal(&client, 3, "pget", &[b"_implicit_org_org2", b"k"]);
    let err = enclave.endorse(&ViewHost(&state), sp, transient).unwrap_err();
    assert!(err.to_string().contains("org1 is not a member"), "{err}");
}

#[test]
fn keys_are_wrapped_only_to_registered_enclaves_of_members() {
    use crate::testing::registered;
    use teechain_types::keys::KeyScope;
    let net = TestNet::new();
    let (org1, org2, org3) = (net.enclave("org1"), net.enclave("org2"), net.enclave("org3"));
    let unregistered = net.enclave("org2");
    let mut state = MemState::new(true);
    state.share_keys(&[&org1, &org2, &org3]);
    let chaincode = KeyScope::Chaincode { namespace: NS.into() };
    let shared = KeyScope::Collection { namespace: NS.into(), collection: "shared".into() };
    let host = ViewHost(&state);
    let refused = |r: Result<teechain_types::keys::KeyDistribution, EnclaveError>, why: &str| {
        let err = r.expect_err(why);
        assert_eq!(err.kind(), Some(FailureKind::BadRequest), "{why}: {err}");
        err.to_string()
    };
    // An enclave the host names but the ledger does not hold.
    let stranger = registered(&unregistered.info().unwrap());
    let m = refused(org1.grant_key(&host, chaincode.clone(), 0, vec![stranger.clone()]), "unregistered");
    assert!(m.contains("is not registered"), "{m}");
    // A registered enclave whose organisation the host misstates.
    let mut disguised = registered(&org3.info().unwrap());
    disguised.registration.org = "org2".into();
    let m = refused(org1.grant_key(&host, shared.clone(), 0, vec![disguised]), "misstated");
    assert!(m.contains("otherwise"), "{m}");
    // A collection key to a non-member's registered enclave, and made by one.
    let org3_registered = registered(&org3.info().unwrap());
    let m = refused(org1.grant_key(&host, shared.clone(), 0, vec![org3_registered.clone()]), "non-member");
    assert!(m.contains("not a member"), "{m}");
    let m = refused(org3.make_key(&host, shared.clone(), 1, vec![]), "made by a non-member");
    assert!(m.contains("not a member"), "{m}");
    // Positive control: the chaincode key goes to org3's registered enclave.
    let d = org1.grant_key(&host, chaincode, 0, vec![org3_registered]).expect("grant to a registered enclave");
    assert_eq!(d.wraps.len(), 1);
}

#[test]
fn code_runs_only_if_it_hashes_to_the_definition() {
    let net = TestNet::new();
    let client = net.identity("org1", "alice", Role::Client);
    let enclave = EnclaveHandle::in_process(crate::Enclave::new(net.config("org1")).unwrap());
    // The host installs other code than the definition names: the enclave hashes what it
    // is given itself, so the testbed's definition finds nothing to run.
    let installed = enclave.install(teechain_contracts::PAYMENT.to_vec()).unwrap();
    assert_eq!(installed, teechain_types::sha256(teechain_contracts::PAYMENT));
    let mut state = MemState::new(true);
    state.share_keys(&[&enclave]);
    let (sp, transient) = proposal(&client, 1, "put", &[b"k", b"v"]);
    let err = enclave.endorse(&ViewHost(&state), sp.clone(), transient.clone()).unwrap_err();
    assert_eq!(err.kind(), Some(FailureKind::ChaincodeUnavailable), "{err}");
    assert!(err.to_string().contains("not installed"), "{err}");
    // Positive control: with the testbed installed it runs.
    enclave.install(teechain_contracts::TESTBED.to_vec()).unwrap();
    enclave.endorse(&ViewHost(&state), sp, transient).unwrap();
}
