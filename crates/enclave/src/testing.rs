//! Test fixtures shared by this crate's unit and integration tests (and available to other
//! crates with the `test-utils` feature): a channel of three organisations, committed state
//! in memory with the testbed contract defined, and signed proposals to call it.

use std::collections::BTreeMap;

use teechain_chaincode_runtime::ExecutionLimits;
use teechain_crypto::{OrgCa, SigningIdentity};
use teechain_types::chaincode::{
    definition_state_key, ChaincodeDefinition, HistoryEntry, Invocation, LIFECYCLE_NAMESPACE,
};
use teechain_types::codec::encode;
use teechain_types::collection::{
    implicit_collection_name, CollectionConfig, HashedValue, PrivateValue, BLINDING_TRANSIENT_KEY,
};
use teechain_types::identity::Role;
use teechain_types::keys::{key_state_key, KeyRecord, KeyScope, KEYS_NAMESPACE};
use teechain_types::rwset::{Version, VersionedValue};
use teechain_types::state::{StateError, StateView};
use teechain_types::tx::{transient_digest, Proposal, SignedProposal, TxHeader};
use teechain_types::{sha256, Hash32};

use crate::host::ViewHost;
use crate::protocol::EnclaveInfo;
use crate::{Enclave, EnclaveAttestation, EnclaveConfig, EnclaveHandle, Endorsed, Platform};
use std::path::PathBuf;
use teechain_attestation::{AttestationPolicy, PlatformKey, VirtualPolicy};
use teechain_types::enclave::{enclave_state_key, EnclaveRegistration, RegisteredEnclave, ENCLAVE_NAMESPACE};

/// The channel.
pub const CHANNEL: &str = "ch";
/// The testbed contract's name (its state namespace).
pub const NS: &str = "testbed";
/// The blinding secret every [`proposal`] carries in its transient map.
pub const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

/// Three organisations (`org1`, `org2`, `org3`) with their CAs, and the virtual platform
/// key (in a temporary directory) that their enclaves run on and the channel trusts.
pub struct TestNet {
    cas: Vec<OrgCa>,
    platform_key: PathBuf,
    _platform_dir: tempfile::TempDir,
}

impl Default for TestNet {
    fn default() -> Self {
        Self::new()
    }
}

impl TestNet {
    /// Fresh CAs for the three organisations.
    pub fn new() -> TestNet {
        let dir = tempfile::tempdir().expect("platform key directory");
        let platform_key = dir.path().join("platform.key");
        PlatformKey::load_or_create(&platform_key).expect("platform key");
        TestNet {
            cas: ["org1", "org2", "org3"].iter().map(|o| OrgCa::generate(o).expect("CA")).collect(),
            platform_key,
            _platform_dir: dir,
        }
    }

    /// The CA of `org`.
    pub fn ca(&self, org: &str) -> &OrgCa {
        self.cas.iter().find(|c| c.org() == org).expect("one of org1, org2, org3")
    }

    /// The channel's organisations and CA certificates.
    pub fn orgs(&self) -> Vec<(String, Vec<u8>)> {
        self.cas.iter().map(|c| (c.org().to_string(), c.cert_der().to_vec())).collect()
    }

    /// A new identity of `org`.
    pub fn identity(&self, org: &str, name: &str, role: Role) -> SigningIdentity {
        self.ca(org).issue(name, role, &[]).expect("issue").signing_identity(org).expect("identity")
    }

    /// The configuration of the enclave of a node of `org` (`peer0.<org>`).
    pub fn config(&self, org: &str) -> EnclaveConfig {
        EnclaveConfig {
            platform: Platform::Virtual,
            channel: CHANNEL.into(),
            org: org.into(),
            orgs: self.orgs(),
            limits: ExecutionLimits::default(),
            sealed_dir: None,
            virtual_platform_key: Some(self.platform_key.clone()),
            attestation: self.attestation(),
        }
    }

    /// The channel's attestation policy: the virtual platform of this test network.
    pub fn attestation(&self) -> AttestationPolicy {
        let key = PlatformKey::load(&self.platform_key).expect("platform key");
        AttestationPolicy {
            virtual_platform: Some(VirtualPolicy {
                trusted_platform_keys: vec![key.public_key()],
                allowed_measurements: None,
            }),
            sgx: None,
        }
    }

    /// The enclave of a node of `org`, in this process, with the testbed installed.
    pub fn enclave(&self, org: &str) -> EnclaveHandle {
        let handle = EnclaveHandle::in_process(Enclave::new(self.config(org)).expect("enclave"));
        handle.install(teechain_contracts::TESTBED.to_vec()).expect("install testbed");
        handle
    }
}

/// A collection of org1 and org2.
pub fn shared() -> CollectionConfig {
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

/// Committed state of one node: the testbed's definition (with the [`shared`]
/// collection), public state, the hashed private state, and the private values when
/// `member`.
pub struct MemState {
    public: BTreeMap<(String, Vec<u8>), VersionedValue>,
    hashed: BTreeMap<(String, String, Hash32), HashedValue>,
    values: BTreeMap<(String, String, Vec<u8>), PrivateValue>,
    member: bool,
    block: u64,
}

impl MemState {
    /// State with only the testbed's definition committed; `member` says whether the node
    /// holds the values of the `shared` collection.
    pub fn new(member: bool) -> MemState {
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

    /// Commits an endorsement's writes in a new block: public writes, hashed private
    /// writes, and on a member node the private values.
    pub fn commit(&mut self, endorsed: &Endorsed) {
        self.block += 1;
        let version = Version { block: self.block, tx: 0 };
        let rwset = &endorsed.response.payload.rwset;
        for w in &rwset.writes {
            let k = (rwset.namespace.clone(), w.key.clone());
            match &w.value {
                Some(value) => self.public.insert(k, VersionedValue { value: value.clone(), version }),
                None => self.public.remove(&k),
            };
        }
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

impl MemState {
    /// Registers `enclaves` and commits the testbed's keys as the key keepers would: the
    /// first enclave that may hold a key makes it, wrapped to the others that may: the
    /// chaincode key to every enclave, the `shared` collection's key to those of org1 and
    /// org2, each organisation's implicit collection key to its own.
    pub fn share_keys(&mut self, enclaves: &[&EnclaveHandle]) {
        let infos: Vec<_> = enclaves.iter().map(|e| e.info().expect("enclave info")).collect();
        let registered: Vec<RegisteredEnclave> = infos.iter().map(registered).collect();
        for r in &registered {
            self.public.insert(
                (ENCLAVE_NAMESPACE.to_string(), enclave_state_key(&r.registration.keys.id())),
                VersionedValue { value: encode(r), version: Version { block: 0, tx: 0 } },
            );
        }
        let mut scopes = vec![(KeyScope::Chaincode { namespace: NS.into() }, None)];
        scopes.push((
            KeyScope::Collection { namespace: NS.into(), collection: "shared".into() },
            Some(vec!["org1".to_string(), "org2".to_string()]),
        ));
        for org in ["org1", "org2", "org3"] {
            let collection = implicit_collection_name(org);
            scopes.push((KeyScope::Collection { namespace: NS.into(), collection }, Some(vec![org.to_string()])));
        }
        for (scope, members) in scopes {
            let holders: Vec<usize> =
                (0..infos.len()).filter(|i| members.as_ref().is_none_or(|m| m.contains(&infos[*i].org))).collect();
            let Some((first, others)) = holders.split_first() else { continue };
            let recipients = others.iter().map(|i| registered[*i].clone()).collect();
            let d = enclaves[*first].make_key(&ViewHost(&*self), scope.clone(), 0, recipients).expect("make key");
            let record = KeyRecord {
                scope: scope.clone(),
                epoch: 0,
                public_key: d.public_key,
                first_wraps: d.wraps.len() as u32,
                wraps: d.wraps,
                made_by: d.enclave,
                signature: d.signature,
                first_sealed_version: d.sealed_version,
                made_at: Version { block: 0, tx: 0 },
            };
            self.public.insert(
                (KEYS_NAMESPACE.to_string(), key_state_key(&scope, 0)),
                VersionedValue { value: encode(&record), version: Version { block: 0, tx: 0 } },
            );
        }
    }

    /// Takes the registrations and keys `other` committed (a second node of the same
    /// channel).
    pub fn share_keys_of(&mut self, other: &MemState) {
        for (k, v) in &other.public {
            if k.0 == KEYS_NAMESPACE || k.0 == ENCLAVE_NAMESPACE {
                self.public.insert(k.clone(), v.clone());
            }
        }
    }
}

/// The registration of an enclave, as the ledger would commit it.
pub fn registered(info: &EnclaveInfo) -> RegisteredEnclave {
    let EnclaveAttestation::Evidence(evidence) = &info.attestation else { panic!("virtual evidence expected") };
    RegisteredEnclave {
        registration: EnclaveRegistration { org: info.org.clone(), keys: info.keys, evidence: evidence.clone() },
        platform: info.platform.name().to_string(),
        measurement: info.measurement,
        secure: false,
        registered_at: Version { block: 0, tx: 0 },
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

/// A transient map.
pub type Transient = Vec<(String, Vec<u8>)>;

/// A signed proposal of `client` to call the testbed, and its transient map (with the
/// blinding secret). `nonce` makes the transaction id distinct.
pub fn proposal(client: &SigningIdentity, nonce: u8, function: &str, args: &[&[u8]]) -> (SignedProposal, Transient) {
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
        sealed: None,
        transient_digest: transient_digest(&transient),
    };
    let signature = client.sign(&proposal.hash().0);
    (SignedProposal { proposal, signature }, transient)
}
