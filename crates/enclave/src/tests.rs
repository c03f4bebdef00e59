//! The enclave end to end with the testbed contract: private data endorsed against a
//! [`ViewHost`] over in-memory state, as a member and as a non-member node.

use std::collections::BTreeMap;

use teechain_chaincode_runtime::ExecutionLimits;
use teechain_crypto::{OrgCa, SigningIdentity};
use teechain_types::chaincode::{
    definition_state_key, ChaincodeDefinition, HistoryEntry, Invocation, LIFECYCLE_NAMESPACE,
};
use teechain_types::codec::{decode, encode, Limits};
use teechain_types::collection::{
    private_key_hash, private_value_hash, CollectionConfig, HashedValue, PrivateValue, TxPrivateData,
    BLINDING_TRANSIENT_KEY,
};
use teechain_types::identity::Role;
use teechain_types::rwset::{Version, VersionedValue};
use teechain_types::state::{StateError, StateView};
use teechain_types::tx::{transient_digest, Proposal, SignedProposal, TxHeader};
use teechain_types::{sha256, Hash32};

use crate::host::ViewHost;
use crate::protocol::FailureKind;
use crate::{Enclave, EnclaveConfig, EnclaveError, EnclaveHandle, Endorsed, Platform};

const CHANNEL: &str = "ch";
const NS: &str = "testbed";
const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

/// Three organisations with their CAs.
struct Net {
    cas: Vec<OrgCa>,
}

impl Net {
    fn new() -> Net {
        Net { cas: ["org1", "org2", "org3"].iter().map(|o| OrgCa::generate(o).unwrap()).collect() }
    }

    fn ca(&self, org: &str) -> &OrgCa {
        self.cas.iter().find(|c| c.org() == org).unwrap()
    }

    fn orgs(&self) -> Vec<(String, Vec<u8>)> {
        self.cas.iter().map(|c| (c.org().to_string(), c.cert_der().to_vec())).collect()
    }

    fn identity(&self, org: &str, name: &str, role: Role) -> SigningIdentity {
        self.ca(org).issue(name, role, &[]).unwrap().signing_identity(org).unwrap()
    }

    /// The enclave of a node of `org`, with the testbed installed.
    fn enclave(&self, org: &str) -> EnclaveHandle {
        let enclave = Enclave::new(EnclaveConfig {
            platform: Platform::Virtual,
            channel: CHANNEL.into(),
            orgs: self.orgs(),
            signer: self.identity(org, &format!("peer0.{org}"), Role::Peer),
            limits: ExecutionLimits::default(),
        })
        .unwrap();
        let handle = EnclaveHandle::in_process(enclave);
        handle.install(teechain_contracts::TESTBED.to_vec()).unwrap();
        handle
    }
}

/// A collection of org1 and org2.
fn shared() -> CollectionConfig {
    CollectionConfig {
        name: "shared".into(),
        member_policy: "OR('org1.member','org2.member')".into(),
        required_peer_count: 0,
        max_peer_count: 1,
        block_to_live: 0,
        member_only_read: true,
        member_only_write: true,
        endorsement_policy: None,
    }
}

/// Committed state of one node: the testbed's definition, the hashed private state, and
/// the private values when `member`.
struct MemState {
    public: BTreeMap<(String, Vec<u8>), VersionedValue>,
    hashed: BTreeMap<(String, String, Hash32), HashedValue>,
    values: BTreeMap<(String, String, Vec<u8>), PrivateValue>,
    member: bool,
    block: u64,
}

impl MemState {
    fn new(member: bool) -> MemState {
        let def = ChaincodeDefinition {
            name: NS.into(),
            version: "1".into(),
            sequence: 1,
            code_hash: sha256(teechain_contracts::TESTBED),
            endorsement_policy: "OR('org1.member')".into(),
            collections: vec![shared()],
        };
        let mut public = BTreeMap::new();
        public.insert(
            (LIFECYCLE_NAMESPACE.to_string(), definition_state_key(NS)),
            VersionedValue { value: encode(&def), version: Version { block: 0, tx: 0 } },
        );
        MemState { public, hashed: BTreeMap::new(), values: BTreeMap::new(), member, block: 0 }
    }

    /// Commits an endorsement's hashed private writes, and on a member node its values.
    fn commit(&mut self, endorsed: &Endorsed) {
        self.block += 1;
        let version = Version { block: self.block, tx: 0 };
        let rwset = &endorsed.response.payload.rwset;
        for coll in &rwset.private {
            for w in &coll.writes {
                let k = (rwset.namespace.clone(), coll.collection.clone(), w.key_hash);
                match w.value_hash {
                    Some(value_hash) => self.hashed.insert(k, HashedValue { value_hash, version }),
                    None => self.hashed.remove(&k),
                };
            }
        }
        if !self.member {
            return;
        }
        for coll in endorsed.private.iter().flat_map(|p| &p.collections) {
            for w in &coll.writes {
                let k = (coll.namespace.clone(), coll.collection.clone(), w.key.clone());
                match &w.value {
                    Some(value) => {
                        self.values.insert(k, PrivateValue { value: value.clone(), blind: w.blind, version })
                    }
                    None => self.values.remove(&k),
                };
            }
        }
    }
}

impl StateView for MemState {
    fn get(&self, namespace: &str, key: &[u8]) -> Result<Option<VersionedValue>, StateError> {
        Ok(self.public.get(&(namespace.to_string(), key.to_vec())).cloned())
    }

    fn range(&self, _: &str, _: &[u8], _: &[u8], _: usize) -> Result<Vec<(Vec<u8>, VersionedValue)>, StateError> {
        Ok(Vec::new())
    }

    fn history(&self, _: &str, _: &[u8], _: usize) -> Result<Vec<HistoryEntry>, StateError> {
        Ok(Vec::new())
    }

    fn private_get(&self, namespace: &str, collection: &str, key: &[u8]) -> Result<Option<PrivateValue>, StateError> {
        if !self.member {
            return Err(StateError("this node holds no values of the collection".into()));
        }
        Ok(self.values.get(&(namespace.to_string(), collection.to_string(), key.to_vec())).cloned())
    }

    fn private_range(
        &self,
        namespace: &str,
        collection: &str,
        start: &[u8],
        end: &[u8],
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, PrivateValue)>, StateError> {
        Ok(self
            .values
            .range((namespace.to_string(), collection.to_string(), start.to_vec())..)
            .take_while(|((ns, c, k), _)| ns == namespace && c == collection && (end.is_empty() || k.as_slice() < end))
            .take(limit)
            .map(|((_, _, k), v)| (k.clone(), v.clone()))
            .collect())
    }

    fn private_hash(
        &self,
        namespace: &str,
        collection: &str,
        key_hash: &Hash32,
    ) -> Result<Option<HashedValue>, StateError> {
        Ok(self.hashed.get(&(namespace.to_string(), collection.to_string(), *key_hash)).copied())
    }
}

/// A signed proposal of `client` to call the testbed, and its transient map (with the
/// blinding secret).
fn proposal(client: &SigningIdentity, nonce: u8, function: &str, args: &[&[u8]]) -> (SignedProposal, Transient) {
    let transient = vec![(BLINDING_TRANSIENT_KEY.to_string(), SECRET.to_vec())];
    let proposal = Proposal {
        header: TxHeader {
            channel: CHANNEL.into(),
            creator: client.identity().clone(),
            nonce: vec![nonce; 24],
            timestamp_ms: 1_700_000_000_000,
        },
        chaincode: NS.into(),
        invocation: Invocation { function: function.into(), args: args.iter().map(|a| a.to_vec()).collect() },
        transient_digest: transient_digest(&transient),
    };
    let signature = client.sign(&proposal.hash().0);
    (SignedProposal { proposal, signature }, transient)
}

type Transient = Vec<(String, Vec<u8>)>;

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
    let net = Net::new();
    let enclave = net.enclave("org1");
    let client = net.identity("org1", "alice", Role::Client);
    let mut state = MemState::new(true);

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
        let value = w.value.as_deref().unwrap();
        assert_eq!(Some(private_value_hash(&w.blind, value)), h.value_hash);
        assert!(!w.purge && !h.purge);
    }
    assert!(hashed.writes[0].key_hash < hashed.writes[1].key_hash);
    // The signed payload carries no private value.
    assert!(!encode(&endorsed.response.payload).windows(10).any(|w| w == b"value of b"));
    // The endorsement verifies.
    let signer = endorsed.response.endorsement.endorser.clone();
    let key = teechain_crypto::public_key_from_cert(&signer.cert_der).unwrap();
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
    let net = Net::new();
    let client = net.identity("org1", "alice", Role::Client);
    let member = net.enclave("org1");
    let mut org1_state = MemState::new(true);
    let endorsed = endorse(&member, &org1_state, proposal(&client, 1, "pput", &[b"shared", b"k", b"secret"]));
    org1_state.commit(&endorsed);
    let mut org3_state = MemState::new(false);
    org3_state.commit(&endorsed);

    let org3 = net.enclave("org3");
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
    let net = Net::new();
    let enclave = net.enclave("org2");
    let state = MemState::new(true);
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
