//! Deterministic block validation: `(committed state, block) → codes + writes`.
//!
//! Two phases. The first is stateless and runs in parallel over the block: channel,
//! certificates, proposal binding, and every signature, checked as one Ed25519 batch per
//! worker (a failing batch is re-checked one signature at a time to find the culprits).
//! Endorsements are signatures of registered enclaves: their keys are looked up in the
//! enclave registry (committed state, cached) before that phase. The second walks the
//! transactions in order against committed state plus the writes of earlier valid
//! transactions in the same block: duplicate ids, chaincode definition, private
//! collections, endorsement policies, MVCC and phantom reads (values included), history
//! reads, key epochs sealed under, MVCC of hashed private reads (value hashes included),
//! the proposal time against the channel's time, lifecycle rules, enclave registrations
//! (attestation evidence verified against the channel's policy at the channel's time),
//! key distributions and time beacons (the last three in `admin`).
//!
//! An enclave registered in a block endorses from the next block on: the first phase
//! sees only committed registrations.

mod admin;

use crate::error::LedgerError;
use crate::lifecycle;
use crate::private::HashedStateWrite;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use teechain_attestation::AttestationPolicy;
use teechain_crypto::{BatchVerifier, Msp, VerifiedIdentity};
use teechain_types::chaincode::{ChaincodeDefinition, HistoryEntry};
use teechain_types::codec::{decode, Limits};
use teechain_types::collection::{collection_marker_hash, CollectionConfig, HashedValue};
use teechain_types::enclave::{enclave_state_key, RegisteredEnclave, ENCLAVE_NAMESPACE};
use teechain_types::hash::Signature;
use teechain_types::keys::{key_state_key, KeyRecord, KeyScope, KEYS_NAMESPACE};
use teechain_types::policy::{EndorsementPolicy, PrincipalRole};
use teechain_types::rwset::{
    history_digest, in_range, range_digest, KeyEpochRead, MAX_HISTORY_ENTRIES, MAX_RANGE_RESULTS,
};
use teechain_types::state::{StateError, StateView};
use teechain_types::tx::{EndorsedInvocation, TxBody};
use teechain_types::{
    sha256, Block, CollectionHashedRwSet, Hash32, Role, Transaction, TxId, ValidationCode, Version, VersionedValue,
};

/// Committed state plus the tx-id index: what validation reads.
pub trait LedgerView: StateView {
    /// True if a transaction with this id is in a committed block.
    fn tx_committed(&self, tx_id: &TxId) -> Result<bool, StateError>;
}

/// One write of a valid transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StateWrite {
    /// Namespace.
    pub namespace: String,
    /// Key.
    pub key: Vec<u8>,
    /// New value or `None` for delete.
    pub value: Option<Vec<u8>>,
    /// Version assigned: (block, index of the writing transaction).
    pub version: Version,
}

/// The result of validating a block.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BlockOutcome {
    /// One code per transaction.
    pub codes: Vec<ValidationCode>,
    /// Writes of the valid transactions, in order.
    pub writes: Vec<StateWrite>,
    /// Hashed private writes of the valid transactions, in order: every node applies them
    /// to its hashed private state.
    pub private_writes: Vec<HashedStateWrite>,
}

/// Validates blocks of one channel.
pub struct BlockValidator {
    channel: String,
    msp: Arc<Msp>,
    /// The channel's organisations (the membership is fixed for a validator's lifetime).
    orgs: Vec<String>,
    lifecycle_policy: EndorsementPolicy,
    policies: Mutex<HashMap<String, Arc<EndorsementPolicy>>>,
    /// Which enclave evidence the channel admits.
    attestation: AttestationPolicy,
    /// Registered enclaves already read from state. Registrations are never changed or
    /// removed, so an entry never goes stale; absent enclaves are not cached.
    enclaves: Mutex<HashMap<Hash32, Arc<EnclaveSigner>>>,
    /// How far (ms) a proposal's time may lie from the channel's time.
    proposal_window_ms: u64,
    /// Public keys of key epochs already read from state.
    key_epochs: Mutex<HashMap<(KeyScope, u32), [u8; 32]>>,
}

/// The default of [`BlockValidator::with_proposal_window_ms`]: a minute either side of
/// the channel's time.
pub const DEFAULT_PROPOSAL_WINDOW_MS: u64 = 60_000;

/// A registered enclave, as endorsement checks need it.
struct EnclaveSigner {
    id: Hash32,
    org: String,
    key: teechain_crypto::VerifyingKey,
}

/// Registered enclaves named by a block's endorsements.
type Registry = HashMap<Hash32, Arc<EnclaveSigner>>;

/// What the stateless phase learnt about one transaction.
struct Prechecked {
    code: Option<ValidationCode>,
    creator: Option<Arc<VerifiedIdentity>>,
    endorsers: Vec<Arc<EnclaveSigner>>,
}

impl BlockValidator {
    /// A validator for `channel` whose members are `msp`'s organisations and whose
    /// enclaves must attest as `attestation` admits.
    pub fn new(channel: impl Into<String>, msp: Arc<Msp>, attestation: AttestationPolicy) -> BlockValidator {
        let orgs = msp.org_names();
        let lifecycle_policy = EndorsementPolicy::majority(&orgs, PrincipalRole::Admin);
        BlockValidator {
            channel: channel.into(),
            msp,
            orgs,
            lifecycle_policy,
            policies: Mutex::new(HashMap::new()),
            attestation,
            enclaves: Mutex::new(HashMap::new()),
            proposal_window_ms: DEFAULT_PROPOSAL_WINDOW_MS,
            key_epochs: Mutex::new(HashMap::new()),
        }
    }

    /// Sets how far (ms) a proposal's time, the time its chaincode saw, may lie from the
    /// channel's time when it commits (the organisations' median beacon, or the block's
    /// time before a majority sent one); further is
    /// [`ValidationCode::ProposalTimeOutOfWindow`].
    pub fn with_proposal_window_ms(mut self, window_ms: u64) -> BlockValidator {
        self.proposal_window_ms = window_ms;
        self
    }

    /// The channel's attestation policy.
    pub fn attestation(&self) -> &AttestationPolicy {
        &self.attestation
    }

    /// The channel's membership.
    pub fn msp(&self) -> &Arc<Msp> {
        &self.msp
    }

    /// Validates `block` against `view` (state as of the previous block).
    pub fn validate(&self, view: &dyn LedgerView, block: &Block) -> Result<BlockOutcome, LedgerError> {
        let registry = self.registry(view, &block.transactions)?;
        let pre = self.precheck_all(&block.transactions, &registry);
        let mut state = BlockState { view, overlay: BTreeMap::new(), private_overlay: BTreeMap::new() };
        let mut outcome = BlockOutcome { codes: Vec::with_capacity(pre.len()), ..BlockOutcome::default() };
        let mut seen: HashSet<TxId> = HashSet::with_capacity(pre.len());
        // The time the ledger vouches for; the leader's block time only until a majority
        // of organisations has sent beacons.
        let mut clock = self.ledger_clock(&state)?;
        for (i, (tx, pre)) in block.transactions.iter().zip(pre).enumerate() {
            let version = Version { block: block.header.number, tx: i as u32 };
            let code = match pre.code {
                Some(code) => code,
                None => {
                    let tx_id = tx.tx_id();
                    if !seen.insert(tx_id) || view.tx_committed(&tx_id)? {
                        ValidationCode::DuplicateTxId
                    } else {
                        let time_ms = clock.unwrap_or(block.header.timestamp_ms);
                        if self.outside_window(tx, time_ms) {
                            ValidationCode::ProposalTimeOutOfWindow
                        } else {
                            let code =
                                self.check_stateful(&mut state, tx, &pre, version, time_ms / 1000, &mut outcome)?;
                            if code.is_valid() && matches!(tx.payload.body, TxBody::TimeBeacon(_)) {
                                clock = self.ledger_clock(&state)?;
                            }
                            code
                        }
                    }
                }
            };
            outcome.codes.push(code);
        }
        Ok(outcome)
    }

    /// True when `tx` is an invocation whose proposal time lies further from the ledger's
    /// time than the window allows: its chaincode ran at a time the ledger does not vouch
    /// for (a deadline checked early, say).
    fn outside_window(&self, tx: &Transaction, time_ms: u64) -> bool {
        let TxBody::Invoke(_) = &tx.payload.body else { return false };
        tx.payload.header.timestamp_ms.abs_diff(time_ms) > self.proposal_window_ms
    }

    /// The committed registrations of the enclaves that `txs`' endorsements name.
    fn registry(&self, view: &dyn LedgerView, txs: &[Transaction]) -> Result<Registry, LedgerError> {
        let mut found = Registry::new();
        let mut cache = self.enclaves.lock().unwrap_or_else(|p| p.into_inner());
        for tx in txs {
            let TxBody::Invoke(inv) = &tx.payload.body else { continue };
            for e in &inv.endorsements {
                if found.contains_key(&e.enclave) {
                    continue;
                }
                if let Some(signer) = cache.get(&e.enclave) {
                    found.insert(e.enclave, signer.clone());
                    continue;
                }
                let Some(v) = view.get(ENCLAVE_NAMESPACE, &enclave_state_key(&e.enclave))? else { continue };
                let record: RegisteredEnclave = decode(&v.value, Limits::RECORD)
                    .map_err(|source| LedgerError::Corrupt { table: "state (enclave registry)", source })?;
                // Registration checked the key; a record that fails now endorses nothing.
                let Ok(key) = teechain_crypto::VerifyingKey::from_bytes(&record.registration.keys.signing_key) else {
                    continue;
                };
                let signer = Arc::new(EnclaveSigner { id: e.enclave, org: record.registration.org, key });
                cache.insert(e.enclave, signer.clone());
                found.insert(e.enclave, signer);
            }
        }
        Ok(found)
    }

    fn precheck_all(&self, txs: &[Transaction], registry: &Registry) -> Vec<Prechecked> {
        let workers = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).min(8);
        if workers <= 1 || txs.len() < 64 {
            return self.precheck_chunk(txs, registry);
        }
        let chunk = txs.len().div_ceil(workers);
        std::thread::scope(|s| {
            let handles: Vec<_> =
                txs.chunks(chunk).map(|c| s.spawn(move || self.precheck_chunk(c, registry))).collect();
            handles.into_iter().flat_map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))).collect()
        })
    }

    fn precheck_chunk(&self, txs: &[Transaction], registry: &Registry) -> Vec<Prechecked> {
        // (tx index in chunk, is creator signature, digest, signature, key)
        let mut sigs: Vec<(usize, bool, Hash32, Signature, ed25519_key::Key)> = Vec::new();
        let mut out: Vec<Prechecked> =
            txs.iter().enumerate().map(|(i, tx)| self.precheck(i, tx, registry, &mut sigs)).collect();
        let mut batch = BatchVerifier::new();
        for (_, _, digest, sig, key) in &sigs {
            batch.push(digest.0, sig, key);
        }
        if batch.verify().is_err() {
            for (i, creator, digest, sig, key) in &sigs {
                if teechain_crypto::verify(key, &digest.0, sig).is_ok() {
                    continue;
                }
                // A bad creator signature outranks any other finding: the transaction
                // is not the creator's, so its id must not be recorded.
                if *creator {
                    out[*i].code = Some(ValidationCode::BadCreatorSignature);
                } else if out[*i].code.is_none() {
                    out[*i].code = Some(ValidationCode::BadEndorsement);
                }
            }
        }
        out
    }

    fn precheck(
        &self,
        i: usize,
        tx: &Transaction,
        registry: &Registry,
        sigs: &mut Vec<(usize, bool, Hash32, Signature, ed25519_key::Key)>,
    ) -> Prechecked {
        let fail = |code| Prechecked { code: Some(code), creator: None, endorsers: Vec::new() };
        let header = &tx.payload.header;
        if header.channel != self.channel {
            return fail(ValidationCode::WrongChannel);
        }
        let Ok(creator) = self.msp.validate(&header.creator) else {
            return fail(ValidationCode::UnknownCreator);
        };
        sigs.push((i, true, tx.payload.hash(), tx.signature, creator.public_key));
        let mut endorsers = Vec::new();
        if let TxBody::Invoke(inv) = &tx.payload.body {
            let proposal_hash = tx.proposal().map(|p| p.hash()).unwrap_or_default();
            if inv.response.proposal_hash != proposal_hash {
                return Prechecked { code: Some(ValidationCode::ProposalMismatch), creator: Some(creator), endorsers };
            }
            let response_hash = inv.response.hash();
            for e in &inv.endorsements {
                // Only a registered enclave endorses, and only for the organisation
                // that registered it.
                match registry.get(&e.enclave) {
                    Some(signer) if signer.org == e.org => {
                        sigs.push((i, false, response_hash, e.signature, signer.key));
                        endorsers.push(signer.clone());
                    }
                    _ => {
                        return Prechecked {
                            code: Some(ValidationCode::BadEndorsement),
                            creator: Some(creator),
                            endorsers,
                        }
                    }
                }
            }
        }
        Prechecked { code: None, creator: Some(creator), endorsers }
    }

    fn check_stateful(
        &self,
        state: &mut BlockState<'_>,
        tx: &Transaction,
        pre: &Prechecked,
        version: Version,
        now_unix: u64,
        outcome: &mut BlockOutcome,
    ) -> Result<ValidationCode, LedgerError> {
        let Some(creator) = &pre.creator else {
            return Ok(ValidationCode::UnknownCreator);
        };
        match &tx.payload.body {
            TxBody::Invoke(inv) => self.check_invoke(state, inv, pre, version, outcome),
            TxBody::Lifecycle(op) => self.check_lifecycle(state, op, creator, version, &mut outcome.writes),
            TxBody::RegisterEnclave(reg) => {
                self.check_registration(state, reg, creator, version, now_unix, &mut outcome.writes)
            }
            TxBody::DistributeKey(d) => self.check_key_distribution(state, d, version, &mut outcome.writes),
            TxBody::RotateKey(scope) => self.check_rotation(state, scope, creator, version, &mut outcome.writes),
            TxBody::TimeBeacon(t) => self.check_time_beacon(state, *t, creator, version, &mut outcome.writes),
        }
    }

    fn check_invoke(
        &self,
        state: &mut BlockState<'_>,
        inv: &EndorsedInvocation,
        pre: &Prechecked,
        version: Version,
        outcome: &mut BlockOutcome,
    ) -> Result<ValidationCode, LedgerError> {
        let ns = inv.chaincode.as_str();
        let rwset = &inv.response.rwset;
        if rwset.namespace != ns || lifecycle::check_name(ns).is_err() {
            return Ok(ValidationCode::InvalidInvocation);
        }
        let Some(def) = state.definition(ns)? else {
            return Ok(ValidationCode::ChaincodeNotDefined);
        };
        let cc = &inv.response.chaincode;
        if cc.name != ns || cc.sequence != def.sequence || cc.code_hash != def.code_hash {
            return Ok(ValidationCode::ChaincodeNotDefined);
        }
        let Some(configs) = self.private_configs(&def, &rwset.private) else {
            return Ok(ValidationCode::InvalidCollection);
        };
        // One signer per distinct enclave: an enclave that signs twice counts once. An
        // enclave endorses in the peer role of its organisation.
        let mut distinct: Vec<&Arc<EnclaveSigner>> = Vec::new();
        for e in &pre.endorsers {
            if !distinct.iter().any(|d| d.id == e.id) {
                distinct.push(e);
            }
        }
        let signers: Vec<(String, Role)> = distinct.iter().map(|e| (e.org.clone(), Role::Peer)).collect();
        // A collection's own policy replaces the chaincode's for the writes to it; the
        // chaincode's covers public writes, collections without a policy, and read-only
        // transactions (Fabric's rule).
        let mut policies: Vec<&str> = Vec::new();
        let mut chaincode_policy = !rwset.writes.is_empty();
        let mut writes_anything = !rwset.writes.is_empty();
        for (c, config) in rwset.private.iter().zip(&configs) {
            if c.writes.is_empty() {
                continue;
            }
            writes_anything = true;
            match &config.endorsement_policy {
                Some(p) => policies.push(p),
                None => chaincode_policy = true,
            }
        }
        if chaincode_policy || !writes_anything {
            policies.push(&def.endorsement_policy);
        }
        for text in policies {
            match self.policy(text) {
                Some(policy) if policy.evaluate(&signers) => {}
                _ => return Ok(ValidationCode::EndorsementPolicyFailure),
            }
        }
        for r in &rwset.reads {
            if state.written_in_block(ns, &r.key) {
                return Ok(ValidationCode::MvccReadConflict);
            }
            let current = state.view.get(ns, &r.key)?;
            let (cur_version, cur_hash) = match &current {
                Some(v) => (Some(v.version), Some(sha256(&v.value))),
                None => (None, None),
            };
            if cur_version != r.version || cur_hash != r.value_hash {
                return Ok(ValidationCode::MvccReadConflict);
            }
        }
        for rr in &rwset.range_reads {
            if state.written_in_range(ns, &rr.start, &rr.end) {
                return Ok(ValidationCode::PhantomReadConflict);
            }
            let results = state.view.range(ns, &rr.start, &rr.end, MAX_RANGE_RESULTS)?;
            if range_digest(results.iter().map(|(k, v)| (k.as_slice(), v))) != rr.results_digest {
                return Ok(ValidationCode::PhantomReadConflict);
            }
        }
        for h in &rwset.history_reads {
            if state.written_in_block(ns, &h.key) {
                return Ok(ValidationCode::MvccReadConflict);
            }
            if history_digest(&state.view.history(ns, &h.key, MAX_HISTORY_ENTRIES)?) != h.digest {
                return Ok(ValidationCode::MvccReadConflict);
            }
        }
        for k in &rwset.key_epochs {
            if k.scope.namespace() != ns {
                return Ok(ValidationCode::InvalidInvocation);
            }
            if !self.latest_key_epoch(state, k)? {
                return Ok(ValidationCode::KeyEpochConflict);
            }
        }
        for c in &rwset.private {
            for r in &c.reads {
                if state.private_written_in_block(ns, &c.collection, &r.key_hash) {
                    return Ok(ValidationCode::MvccReadConflict);
                }
                let current = state.view.private_hash(ns, &c.collection, &r.key_hash)?;
                if current.map(|h| h.version) != r.version || current.map(|h| h.value_hash) != r.value_hash {
                    return Ok(ValidationCode::MvccReadConflict);
                }
            }
        }
        for w in &rwset.writes {
            state.write(ns, &w.key, w.value.clone());
            outcome.writes.push(StateWrite {
                namespace: ns.to_string(),
                key: w.key.clone(),
                value: w.value.clone(),
                version,
            });
        }
        for c in &rwset.private {
            if !c.writes.is_empty() {
                // The collection's write marker: private range reads depend on it.
                let marker = collection_marker_hash(ns, &c.collection);
                state.private_write(ns, &c.collection, marker, Some(Hash32::ZERO), version);
                outcome.private_writes.push(HashedStateWrite {
                    namespace: ns.to_string(),
                    collection: c.collection.clone(),
                    key_hash: marker,
                    value_hash: Some(Hash32::ZERO),
                    purge: false,
                    version,
                });
            }
            for w in &c.writes {
                state.private_write(ns, &c.collection, w.key_hash, w.value_hash, version);
                outcome.private_writes.push(HashedStateWrite {
                    namespace: ns.to_string(),
                    collection: c.collection.clone(),
                    key_hash: w.key_hash,
                    value_hash: w.value_hash,
                    purge: w.purge,
                    version,
                });
            }
        }
        Ok(ValidationCode::Valid)
    }

    /// True when `k` names the committed key of its epoch, and that epoch is its key's
    /// latest (as of the transaction, in-block distributions included).
    fn latest_key_epoch(&self, state: &BlockState<'_>, k: &KeyEpochRead) -> Result<bool, LedgerError> {
        if let Some(next) = k.epoch.checked_add(1) {
            if state.get(KEYS_NAMESPACE, &key_state_key(&k.scope, next))?.is_some() {
                return Ok(false);
            }
        }
        let cached =
            self.key_epochs.lock().unwrap_or_else(|p| p.into_inner()).get(&(k.scope.clone(), k.epoch)).copied();
        let public_key = match cached {
            Some(pk) => pk,
            None => {
                let Some(v) = state.get(KEYS_NAMESPACE, &key_state_key(&k.scope, k.epoch))? else {
                    return Ok(false);
                };
                let record: KeyRecord = decode(&v.value, Limits::RECORD)
                    .map_err(|source| LedgerError::Corrupt { table: "state (keys)", source })?;
                let Some(pk) = record.public_key else { return Ok(false) };
                // An epoch's key never changes once made (grants add wraps only).
                self.key_epochs.lock().unwrap_or_else(|p| p.into_inner()).insert((k.scope.clone(), k.epoch), pk);
                pk
            }
        };
        Ok(public_key == k.public_key)
    }

    /// The config of each collection of a transaction's private read-write sets, or
    /// `None` when they are not acceptable: not strictly sorted by collection, reads or
    /// writes not strictly sorted by key hash, a purge carrying a value hash, a sealed hash
    /// without a value hash, or a
    /// collection the chaincode does not have (an implicit collection counts only for an
    /// organisation of the channel).
    fn private_configs(
        &self,
        def: &ChaincodeDefinition,
        private: &[CollectionHashedRwSet],
    ) -> Option<Vec<CollectionConfig>> {
        if !private.windows(2).all(|p| p[0].collection < p[1].collection) {
            return None;
        }
        let mut configs = Vec::with_capacity(private.len());
        for c in private {
            if !c.reads.windows(2).all(|r| r[0].key_hash < r[1].key_hash)
                || !c.writes.windows(2).all(|w| w[0].key_hash < w[1].key_hash)
                || c.writes.iter().any(|w| w.purge && w.value_hash.is_some())
                || c.writes.iter().any(|w| w.sealed_hash.is_some() && w.value_hash.is_none())
            {
                return None;
            }
            configs.push(self.collection_config(def, &c.collection)?);
        }
        Some(configs)
    }

    /// A collection of `def` (declared, or the implicit one of a channel organisation).
    fn collection_config(&self, def: &ChaincodeDefinition, collection: &str) -> Option<CollectionConfig> {
        def.channel_collection(collection, |org| self.msp.contains_org(org))
    }

    fn policy(&self, text: &str) -> Option<Arc<EndorsementPolicy>> {
        let mut cache = self.policies.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(p) = cache.get(text) {
            return Some(p.clone());
        }
        let p = Arc::new(EndorsementPolicy::parse(text).ok()?);
        cache.insert(text.to_string(), p.clone());
        Some(p)
    }
}

/// A hashed private key: (namespace, collection, key hash).
type PrivateKey = (String, String, Hash32);

/// Committed state plus the writes of earlier valid transactions of the block.
struct BlockState<'a> {
    view: &'a dyn LedgerView,
    overlay: BTreeMap<(String, Vec<u8>), Option<Vec<u8>>>,
    /// Hashed private writes: the new value hash (`None`: deleted) and its version.
    private_overlay: BTreeMap<PrivateKey, (Option<Hash32>, Version)>,
}

impl BlockState<'_> {
    fn written_in_block(&self, ns: &str, key: &[u8]) -> bool {
        self.overlay.contains_key(&(ns.to_string(), key.to_vec()))
    }

    fn written_in_range(&self, ns: &str, start: &[u8], end: &[u8]) -> bool {
        let lo = (ns.to_string(), start.to_vec());
        self.overlay.range(lo..).take_while(|((n, _), _)| n == ns).any(|((_, k), _)| in_range(k, start, end))
    }

    fn write(&mut self, ns: &str, key: &[u8], value: Option<Vec<u8>>) {
        self.overlay.insert((ns.to_string(), key.to_vec()), value);
    }

    fn private_written_in_block(&self, ns: &str, collection: &str, key_hash: &Hash32) -> bool {
        self.private_overlay.contains_key(&(ns.to_string(), collection.to_string(), *key_hash))
    }

    fn private_write(&mut self, ns: &str, collection: &str, key_hash: Hash32, value_hash: Option<Hash32>, v: Version) {
        self.private_overlay.insert((ns.to_string(), collection.to_string(), key_hash), (value_hash, v));
    }
}

impl StateView for BlockState<'_> {
    fn get(&self, ns: &str, key: &[u8]) -> Result<Option<VersionedValue>, StateError> {
        match self.overlay.get(&(ns.to_string(), key.to_vec())) {
            // The version of an in-block write is not needed by the lifecycle reads.
            Some(v) => Ok(v.clone().map(|value| VersionedValue { value, version: Version { block: u64::MAX, tx: 0 } })),
            None => self.view.get(ns, key),
        }
    }

    fn range(
        &self,
        ns: &str,
        start: &[u8],
        end: &[u8],
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, VersionedValue)>, StateError> {
        self.view.range(ns, start, end, limit)
    }

    fn history(&self, ns: &str, key: &[u8], limit: usize) -> Result<Vec<HistoryEntry>, StateError> {
        self.view.history(ns, key, limit)
    }

    fn private_hash(&self, ns: &str, collection: &str, key_hash: &Hash32) -> Result<Option<HashedValue>, StateError> {
        match self.private_overlay.get(&(ns.to_string(), collection.to_string(), *key_hash)) {
            Some((value_hash, version)) => {
                Ok(value_hash.map(|value_hash| HashedValue { value_hash, version: *version }))
            }
            None => self.view.private_hash(ns, collection, key_hash),
        }
    }
}

impl BlockState<'_> {
    fn definition(&self, name: &str) -> Result<Option<ChaincodeDefinition>, StateError> {
        lifecycle::committed_definition(self, name)
    }
}

mod ed25519_key {
    pub(super) type Key = teechain_crypto::VerifyingKey;
}
