//! The enclave registry: who may register an enclave, which evidence passes, and which
//! endorsements count (only those of registered enclaves, for their own organisation).

use std::sync::OnceLock;
use teechain_attestation::{AttestationPolicy, Evidence, PlatformKey, VirtualPolicy};
use teechain_crypto::{Msp, OrgCa, SigningIdentity, SigningKey};
use teechain_ledger::{lifecycle, BlockOutcome, BlockValidator, Ledger, StateWrite};
use teechain_types::chaincode::{ChaincodeDefinition, Invocation};
use teechain_types::enclave::{
    enclave_state_key, EnclaveKeys, EnclaveRegistration, RegisteredEnclave, ENCLAVE_NAMESPACE,
};
use teechain_types::hash::Signature;
use teechain_types::keys::{KeyDistribution, KeyScope, WrappedKey};
use teechain_types::state::StateView;
use teechain_types::tx::{
    ChaincodeRef, EndorsedInvocation, Endorsement, Proposal, ProposalResponsePayload, TxBody, TxHeader, TxPayload,
};
use teechain_types::{decode, encode, Block, Hash32, Limits, ReadWriteSet, Role, Transaction, ValidationCode, Version};

pub(crate) const CHANNEL: &str = "ch";
const CC: &str = "cc";

pub(crate) struct Net {
    pub(crate) msp: std::sync::Arc<Msp>,
    /// (org, admin, client, node)
    ids: Vec<(String, SigningIdentity, SigningIdentity, SigningIdentity)>,
    platform: PlatformKey,
}

/// org1..org3 with an admin, a client and a node identity each, and the platform key the
/// channel trusts.
pub(crate) fn net() -> &'static Net {
    static NET: OnceLock<Net> = OnceLock::new();
    NET.get_or_init(|| {
        let mut cas = Vec::new();
        let mut ids = Vec::new();
        for org in ["org1", "org2", "org3"] {
            let ca = OrgCa::generate(org).expect("ca");
            let id = |name: &str, role| ca.issue(name, role, &[]).expect("issue").signing_identity(org).expect("id");
            ids.push((org.to_string(), id("admin", Role::Admin), id("client", Role::Client), id("peer0", Role::Peer)));
            cas.push((org.to_string(), ca.cert_der().to_vec()));
        }
        Net { msp: std::sync::Arc::new(Msp::new(&cas).expect("msp")), ids, platform: PlatformKey::generate() }
    })
}

fn admin(org: &str) -> &'static SigningIdentity {
    &net().ids.iter().find(|(o, ..)| o == org).expect("org").1
}

pub(crate) fn client(org: &str) -> &'static SigningIdentity {
    &net().ids.iter().find(|(o, ..)| o == org).expect("org").2
}

pub(crate) fn node(org: &str) -> &'static SigningIdentity {
    &net().ids.iter().find(|(o, ..)| o == org).expect("org").3
}

fn validator() -> BlockValidator {
    let policy = AttestationPolicy {
        virtual_platform: Some(VirtualPolicy {
            trusted_platform_keys: vec![net().platform.public_key()],
            allowed_measurements: None,
        }),
        sgx: None,
    };
    BlockValidator::new(CHANNEL, net().msp.clone(), policy)
}

/// An enclave: its signing key and public keys.
struct TestEnclave {
    key: SigningKey,
    keys: EnclaveKeys,
}

fn enclave() -> TestEnclave {
    let key = SigningKey::generate(&mut rand::rngs::OsRng);
    let keys = EnclaveKeys { signing_key: key.verifying_key().to_bytes(), hpke_key: rand::random() };
    TestEnclave { key, keys }
}

/// Virtual evidence for `keys` on `channel`, signed by `platform`.
fn evidence(platform: &PlatformKey, channel: &str, keys: &EnclaveKeys) -> Vec<u8> {
    let report_data = teechain_attestation::report_data(channel, &keys.keys_hash());
    encode(&Evidence::from_virtual(&platform.attest(Hash32([5; 32]), report_data)))
}

fn tx(creator: &SigningIdentity, nonce: u64, body: TxBody) -> Transaction {
    let header = TxHeader {
        channel: CHANNEL.into(),
        creator: creator.identity().clone(),
        nonce: nonce.to_be_bytes().to_vec(),
        timestamp_ms: BLOCK_TIME_MS + nonce,
    };
    let payload = TxPayload { header, body };
    let signature = creator.sign(&payload.hash().0);
    Transaction { payload, signature }
}

fn register(by: &SigningIdentity, nonce: u64, org: &str, keys: &EnclaveKeys, evidence: Vec<u8>) -> Transaction {
    tx(by, nonce, TxBody::RegisterEnclave(EnclaveRegistration { org: org.into(), keys: *keys, evidence }))
}

/// An invocation of `cc` writing one key, endorsed by each `(enclave, claimed org)`.
fn invoke(nonce: u64, endorsers: &[(&TestEnclave, &str)]) -> Transaction {
    use ed25519_dalek::Signer;
    let creator = client("org1");
    let header = TxHeader {
        channel: CHANNEL.into(),
        creator: creator.identity().clone(),
        nonce: nonce.to_be_bytes().to_vec(),
        timestamp_ms: BLOCK_TIME_MS + nonce,
    };
    let invocation = Invocation { function: "f".into(), args: Vec::new() };
    let proposal = Proposal {
        header: header.clone(),
        chaincode: CC.into(),
        invocation: invocation.clone(),
        sealed: None,
        transient_digest: Hash32::ZERO,
    };
    let rwset = ReadWriteSet {
        namespace: CC.into(),
        writes: vec![teechain_types::KvWrite { key: nonce.to_be_bytes().to_vec(), value: Some(b"v".to_vec()) }],
        ..ReadWriteSet::default()
    };
    let response = ProposalResponsePayload {
        proposal_hash: proposal.hash(),
        chaincode: ChaincodeRef { name: CC.into(), sequence: 1, code_hash: Hash32([9; 32]) },
        rwset,
        response_hash: Hash32::ZERO,
        events: Vec::new(),
    };
    let endorsements = endorsers
        .iter()
        .map(|(e, org)| Endorsement {
            org: org.to_string(),
            enclave: e.keys.id(),
            signature: Signature(e.key.sign(&response.hash().0).to_bytes()),
        })
        .collect();
    let body = TxBody::Invoke(EndorsedInvocation {
        chaincode: CC.into(),
        invocation,
        sealed: None,
        transient_digest: Hash32::ZERO,
        response,
        endorsements,
    });
    tx(creator, nonce, body)
}

/// A ledger whose block 0 committed `cc` with policy `OR(org1, org2)`.
fn ledger() -> (tempfile::TempDir, Ledger) {
    let dir = tempfile::tempdir().expect("tempdir");
    let l = Ledger::open(&dir.path().join("l.redb")).expect("open");
    let def = ChaincodeDefinition {
        name: CC.into(),
        version: "1".into(),
        sequence: 1,
        code_hash: Hash32([9; 32]),
        endorsement_policy: "OR('org1.member','org2.member')".into(),
        collections: Vec::new(),
    };
    let block = Block::new(0, Hash32::ZERO, 1, vec![crate::dummy_tx(0)]);
    let writes = vec![StateWrite {
        namespace: lifecycle::NAMESPACE.into(),
        key: lifecycle::definition_key(CC),
        value: Some(encode(&def)),
        version: Version { block: 0, tx: 0 },
    }];
    let outcome = BlockOutcome { codes: vec![ValidationCode::Valid], writes, private_writes: Vec::new() };
    l.commit(block, &outcome).expect("commit definition");
    (dir, l)
}

/// The time of every block these tests validate (evidence is checked at it).
const BLOCK_TIME_MS: u64 = 1_751_328_000_000;

/// Validates and commits the next block of `txs`; returns the codes.
fn run(l: &Ledger, txs: Vec<Transaction>) -> Vec<ValidationCode> {
    let block = Block::new(l.height(), l.last_hash(), BLOCK_TIME_MS, txs);
    let outcome = validator().validate(&l.snapshot().expect("snap"), &block).expect("validate");
    l.commit(block, &outcome).expect("commit");
    outcome.codes
}

#[test]
fn only_an_admin_of_the_organisation_registers_with_evidence_the_channel_trusts() {
    let (_d, l) = ledger();
    let trusted = &net().platform;
    let good = enclave();
    let untrusted_platform = enclave();
    let other_channel = enclave();
    let by_client = enclave();
    let for_other_org = enclave();
    let garbage = enclave();
    let codes = run(
        &l,
        vec![
            register(admin("org1"), 1, "org1", &good.keys, evidence(trusted, CHANNEL, &good.keys)),
            // The same enclave again, in the same block: already registered.
            register(admin("org1"), 2, "org1", &good.keys, evidence(trusted, CHANNEL, &good.keys)),
            register(
                admin("org2"),
                3,
                "org2",
                &untrusted_platform.keys,
                evidence(&PlatformKey::generate(), CHANNEL, &untrusted_platform.keys),
            ),
            register(admin("org2"), 4, "org2", &other_channel.keys, evidence(trusted, "other", &other_channel.keys)),
            register(client("org2"), 5, "org2", &by_client.keys, evidence(trusted, CHANNEL, &by_client.keys)),
            register(admin("org1"), 6, "org2", &for_other_org.keys, evidence(trusted, CHANNEL, &for_other_org.keys)),
            register(admin("org3"), 7, "org3", &garbage.keys, b"not evidence".to_vec()),
            // Evidence of another enclave's keys: the report data does not match.
            register(admin("org3"), 8, "org3", &garbage.keys, evidence(trusted, CHANNEL, &good.keys)),
        ],
    );
    use ValidationCode::*;
    assert_eq!(
        codes,
        vec![
            Valid,
            InvalidEnclaveRegistration,
            InvalidEnclaveRegistration,
            InvalidEnclaveRegistration,
            EnclaveRegistrationUnauthorized,
            EnclaveRegistrationUnauthorized,
            InvalidEnclaveRegistration,
            InvalidEnclaveRegistration,
        ]
    );
    let snap = l.snapshot().expect("snap");
    let stored = snap.get(ENCLAVE_NAMESPACE, &enclave_state_key(&good.keys.id())).expect("read").expect("registered");
    let record: RegisteredEnclave = decode(&stored.value, Limits::RECORD).expect("record");
    assert_eq!((record.registration.org.as_str(), record.platform.as_str(), record.secure), ("org1", "virtual", false));
    assert_eq!(record.measurement, Hash32([5; 32]));
    for refused in [&untrusted_platform, &other_channel, &by_client, &for_other_org, &garbage] {
        assert!(snap.get(ENCLAVE_NAMESPACE, &enclave_state_key(&refused.keys.id())).expect("read").is_none());
    }
}

#[test]
fn only_registered_enclaves_endorse_and_only_for_their_own_organisation() {
    let (_d, l) = ledger();
    let org1 = enclave();
    let unregistered = enclave();
    let codes =
        run(&l, vec![register(admin("org1"), 1, "org1", &org1.keys, evidence(&net().platform, CHANNEL, &org1.keys))]);
    assert_eq!(codes, vec![ValidationCode::Valid]);

    // A forger who knows org1's enclave id but not its key.
    let forger = TestEnclave { key: SigningKey::generate(&mut rand::rngs::OsRng), keys: org1.keys };
    let codes = run(
        &l,
        vec![
            invoke(10, &[(&org1, "org1")]),
            invoke(11, &[(&unregistered, "org1")]),
            invoke(12, &[(&forger, "org1")]),
            // org1's enclave claiming to endorse for org2.
            invoke(13, &[(&org1, "org2")]),
            // A valid endorsement plus an unregistered one: the transaction is not clean.
            invoke(14, &[(&org1, "org1"), (&unregistered, "org2")]),
        ],
    );
    use ValidationCode::*;
    assert_eq!(codes, vec![Valid, BadEndorsement, BadEndorsement, BadEndorsement, BadEndorsement]);
}

#[test]
fn an_enclave_endorses_from_the_block_after_its_registration() {
    let (_d, l) = ledger();
    let e = enclave();
    let codes = run(
        &l,
        vec![
            register(admin("org2"), 1, "org2", &e.keys, evidence(&net().platform, CHANNEL, &e.keys)),
            invoke(2, &[(&e, "org2")]),
        ],
    );
    assert_eq!(codes, vec![ValidationCode::Valid, ValidationCode::BadEndorsement]);
    assert_eq!(run(&l, vec![invoke(3, &[(&e, "org2")])]), vec![ValidationCode::Valid]);
}

/// A distribution of epoch 0 of `scope` by `maker`, wrapped to `to` (the wraps' contents
/// are not the ledger's to check: only their recipients).
fn distribute(nonce: u64, scope: &KeyScope, maker: &TestEnclave, to: &[&TestEnclave]) -> Transaction {
    use ed25519_dalek::Signer;
    let mut d = KeyDistribution {
        scope: scope.clone(),
        epoch: 0,
        public_key: Some([4; 32]),
        wraps: to.iter().map(|e| WrappedKey { enclave: e.keys.id(), enc: [0; 32], ciphertext: vec![1] }).collect(),
        enclave: maker.keys.id(),
        sealed_version: 1,
        signature: Signature([0; 64]),
    };
    d.signature = Signature(maker.key.sign(&d.statement(CHANNEL).0).to_bytes());
    tx(admin("org1"), nonce, TxBody::DistributeKey(d))
}

#[test]
fn a_collection_key_goes_only_to_and_from_enclaves_of_member_organisations() {
    let (_d, l) = ledger();
    let (org1, org1b, org2) = (enclave(), enclave(), enclave());
    let codes = run(
        &l,
        vec![
            register(admin("org1"), 1, "org1", &org1.keys, evidence(&net().platform, CHANNEL, &org1.keys)),
            register(admin("org1"), 2, "org1", &org1b.keys, evidence(&net().platform, CHANNEL, &org1b.keys)),
            register(admin("org2"), 3, "org2", &org2.keys, evidence(&net().platform, CHANNEL, &org2.keys)),
        ],
    );
    assert_eq!(codes, vec![ValidationCode::Valid; 3]);
    // org1's implicit collection: org1 is its only member.
    let scope = KeyScope::Collection { namespace: CC.into(), collection: "_implicit_org_org1".into() };
    let no_such = KeyScope::Collection { namespace: CC.into(), collection: "nope".into() };
    use ValidationCode::*;
    let codes = run(
        &l,
        vec![
            distribute(10, &scope, &org1, &[&org1, &org2]),
            distribute(11, &scope, &org2, &[&org2]),
            distribute(12, &no_such, &org1, &[&org1]),
            distribute(13, &scope, &org1, &[&org1]),
        ],
    );
    assert_eq!(codes, vec![InvalidKeyDistribution, InvalidKeyDistribution, InvalidKeyDistribution, Valid]);
    // A grant to the non-member is refused; the same grant to org1's other enclave is not.
    let grant = |nonce: u64, to: &TestEnclave| {
        let mut grant = distribute(nonce, &scope, &org1, &[to]);
        if let TxBody::DistributeKey(d) = &mut grant.payload.body {
            d.sealed_version = 2;
        }
        resigned(grant, &org1)
    };
    assert_eq!(run(&l, vec![grant(14, &org2)]), vec![InvalidKeyDistribution]);
    assert_eq!(run(&l, vec![grant(15, &org1b)]), vec![Valid]);
    // Only an admin of a member organisation asks for the next epoch.
    let codes = run(
        &l,
        vec![
            tx(admin("org2"), 20, TxBody::RotateKey(scope.clone())),
            tx(client("org1"), 21, TxBody::RotateKey(scope.clone())),
            tx(admin("org1"), 22, TxBody::RotateKey(scope.clone())),
        ],
    );
    assert_eq!(codes, vec![InvalidKeyDistribution, InvalidKeyDistribution, Valid]);
}

/// `t`'s distribution signed again by `by` (after a change), in a new transaction.
fn resigned(t: Transaction, by: &TestEnclave) -> Transaction {
    use ed25519_dalek::Signer;
    let TxBody::DistributeKey(mut d) = t.payload.body else { panic!("not a distribution") };
    d.signature = Signature(by.key.sign(&d.statement(CHANNEL).0).to_bytes());
    tx(admin("org1"), u64::from_be_bytes(t.payload.header.nonce.try_into().expect("nonce")), TxBody::DistributeKey(d))
}
