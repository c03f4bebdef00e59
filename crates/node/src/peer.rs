//! One node: ledger, enclave, validator.

use crate::error::NodeError;
use crate::transient::{TransientStore, DEFAULT_RETENTION_BLOCKS};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use teechain_attestation::AttestationPolicy;
use teechain_chaincode_runtime::ExecutionLimits;
use teechain_crypto::Msp;
use teechain_enclave::host::ViewHost;
use teechain_enclave::protocol::EnclaveInfo;
use teechain_enclave::Endorsed;
use teechain_enclave::{Enclave, EnclaveBoot, EnclaveConfig, EnclaveHandle, EnclaveProcess, Platform};
use teechain_ledger::lifecycle;
use teechain_ledger::{BlockOutcome, BlockValidator, Ledger};
use teechain_types::chaincode::{ChaincodeDefinition, ChaincodeResponse};
use teechain_types::codec::{decode, Limits};
use teechain_types::collection::{CollectionConfig, TxPrivateData};
use teechain_types::enclave::{enclave_state_key, RegisteredEnclave, ENCLAVE_NAMESPACE};
use teechain_types::keys::{key_state_key, rotation_state_key, KeyDistribution, KeyRecord, KeyScope, KEYS_NAMESPACE};
use teechain_types::state::StateView;
use teechain_types::tx::SignedProposal;
use teechain_types::{Block, Hash32};

/// One node of an organisation.
pub struct Peer {
    name: String,
    org: String,
    data_dir: PathBuf,
    ledger: Ledger,
    enclave: EnclaveHandle,
    /// The enclave's process, when it runs in its own; dropping it stops the process.
    _enclave_process: Option<EnclaveProcess>,
    validator: BlockValidator,
    transient: TransientStore,
    /// The enclave's id; endorsements are refused until it is registered.
    enclave_id: Hash32,
    /// Set once the enclave's registration is seen committed (registrations are never
    /// removed).
    registered: AtomicBool,
}

/// What a node is opened with.
pub struct PeerSetup<'a> {
    /// Node name.
    pub name: &'a str,
    /// Its organisation.
    pub org: &'a str,
    /// Its data directory.
    pub data_dir: &'a Path,
    /// Channel id.
    pub channel: &'a str,
    /// The channel's organisations and CA certificates (DER).
    pub orgs: &'a [(String, Vec<u8>)],
    /// The channel's membership.
    pub msp: Arc<Msp>,
    /// Which enclaves the channel admits.
    pub attestation: AttestationPolicy,
    /// How far (ms) a proposal's time may lie from the channel's time.
    pub proposal_window_ms: u64,
    /// How the enclave runs.
    pub enclave: &'a EnclaveSettings,
}

/// How and on what a node runs its enclave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnclaveSettings {
    /// In this process or its own.
    pub backend: EnclaveBackend,
    /// The platform.
    pub platform: Platform,
    /// The virtual platform's key file.
    pub virtual_platform_key: Option<PathBuf>,
}

/// How a node runs its enclave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EnclaveBackend {
    /// In the node's process.
    InProcess,
    /// As its own process (`teechain-enclave`), behind a Unix socket in the data
    /// directory or a loopback TCP port, possibly under a launcher (`gramine-sgx`).
    Process(teechain_enclave::EnclaveCommand),
}

impl Peer {
    /// Opens a node's data directory: its ledger, its enclave (which unseals its keys
    /// from the enclave directory, or makes them on first start), and the chaincode
    /// packages installed before.
    pub fn open(setup: PeerSetup<'_>) -> Result<Peer, NodeError> {
        let PeerSetup { name, org, data_dir, channel, orgs, msp, attestation, proposal_window_ms, enclave } = setup;
        let ledger = Ledger::open(&data_dir.join("ledger.redb"))?;
        // The enclave's sealed state and socket are the node user's alone.
        let dir = data_dir.join("enclave");
        std::fs::create_dir_all(&dir).map_err(NodeError::io(&dir))?;
        std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .map_err(NodeError::io(&dir))?;
        let virtual_platform_key = match (&enclave.virtual_platform_key, enclave.platform) {
            (Some(p), _) => Some(p.clone()),
            (None, Platform::Virtual) => Some(crate::config::default_platform_key_path()?),
            (None, _) => None,
        };
        let config = EnclaveConfig {
            platform: enclave.platform,
            channel: channel.to_string(),
            org: org.to_string(),
            orgs: orgs.to_vec(),
            limits: ExecutionLimits::default(),
            sealed_dir: Some(dir.clone()),
            virtual_platform_key,
            attestation: attestation.clone(),
        };
        let (handle, process) = match &enclave.backend {
            EnclaveBackend::InProcess => {
                (EnclaveHandle::in_process(Enclave::new(config).map_err(NodeError::Invalid)?), None)
            }
            EnclaveBackend::Process(command) => {
                let boot = EnclaveBoot::from_config(&config).map_err(|e| NodeError::Invalid(e.to_string()))?;
                let (handle, process) = EnclaveHandle::spawn(command, &boot, &dir)?;
                let address = process.address().map(ToString::to_string).unwrap_or_default();
                tracing::info!(pid = process.id(), %address, "enclave process started");
                (handle, Some(process))
            }
        };
        // A host that restored an older sealed file is caught here, against the ledger.
        handle.check_sealed_state(&ViewHost(&ledger.snapshot()?))?;
        let info = handle.info()?;
        if !info.platform.is_secure() {
            tracing::warn!(enclave = %info.id().short(), "enclave platform {} (INSECURE)", info.platform.name());
        }
        let peer = Peer {
            name: name.to_string(),
            org: org.to_string(),
            data_dir: data_dir.to_path_buf(),
            ledger,
            enclave: handle,
            _enclave_process: process,
            validator: BlockValidator::new(channel, msp, attestation).with_proposal_window_ms(proposal_window_ms),
            transient: TransientStore::new(DEFAULT_RETENTION_BLOCKS),
            enclave_id: info.id(),
            registered: AtomicBool::new(false),
        };
        peer.reinstall()?;
        Ok(peer)
    }

    /// What the enclave says about itself (keys, evidence): what its organisation's
    /// admin registers.
    pub fn enclave_info(&self) -> Result<EnclaveInfo, NodeError> {
        Ok(self.enclave.info()?)
    }

    /// The enclave's id.
    pub fn enclave_id(&self) -> Hash32 {
        self.enclave_id
    }

    /// Every registered enclave, by id.
    pub fn registered_enclaves(&self) -> Result<Vec<RegisteredEnclave>, NodeError> {
        let snap = self.ledger.snapshot()?;
        let rows = snap.range(ENCLAVE_NAMESPACE, &[], &[], usize::MAX).map_err(teechain_ledger::LedgerError::from)?;
        rows.into_iter()
            .map(|(_, v)| {
                decode(&v.value, Limits::RECORD)
                    .map_err(|e| NodeError::Invalid(format!("corrupt enclave registry entry: {e}")))
            })
            .collect()
    }

    /// A key epoch's record, if committed.
    pub fn key_record(&self, scope: &KeyScope, epoch: u32) -> Result<Option<KeyRecord>, NodeError> {
        let snap = self.ledger.snapshot()?;
        let Some(v) =
            snap.get(KEYS_NAMESPACE, &key_state_key(scope, epoch)).map_err(teechain_ledger::LedgerError::from)?
        else {
            return Ok(None);
        };
        Ok(Some(decode(&v.value, Limits::RECORD).map_err(|e| NodeError::Invalid(format!("corrupt key record: {e}")))?))
    }

    /// A key's latest epoch and the registration of the enclave that made it: for a
    /// chaincode key, what a client verifies before it encrypts to the key.
    pub fn latest_key(&self, scope: &KeyScope) -> Result<Option<(KeyRecord, RegisteredEnclave)>, NodeError> {
        let mut latest = None;
        let mut epoch = 0;
        while let Some(r) = self.key_record(scope, epoch)? {
            latest = Some(r);
            epoch += 1;
        }
        let Some(record) = latest else { return Ok(None) };
        let maker = self.registered_enclaves()?.into_iter().find(|e| e.registration.keys.id() == record.made_by);
        Ok(maker.map(|m| (record, m)))
    }

    /// The next key distribution this node's enclave should make, if any: epoch 0 of
    /// the key of each committed chaincode that has none, and grants to registered
    /// enclaves that lack a key this enclave holds. `eager` says whether this node acts
    /// now; the enclave with the smallest id always does, so that normally one enclave
    /// makes each key, and the others step in when it does not (`eager`, after a delay
    /// the caller chooses).
    pub fn key_work(&self, eager: bool) -> Result<Option<KeyDistribution>, NodeError> {
        if !self.enclave_registered()? {
            return Ok(None);
        }
        let enclaves = self.registered_enclaves()?;
        let snap = self.ledger.snapshot()?;
        let host = ViewHost(&snap);
        for def in self.definitions()? {
            // The chaincode key goes to every registered enclave; a collection's key to
            // the enclaves of its member organisations, and only they make it.
            let mut scopes = vec![(KeyScope::Chaincode { namespace: def.name.clone() }, None)];
            let mut collections = def.collections.clone();
            collections.push(CollectionConfig::implicit(&self.org));
            for c in collections.into_iter().filter(|c| c.is_member(&self.org)) {
                let scope = KeyScope::Collection { namespace: def.name.clone(), collection: c.name.clone() };
                scopes.push((scope, Some(c.members())));
            }
            for (scope, members) in scopes {
                let eligible: Vec<RegisteredEnclave> = enclaves
                    .iter()
                    .filter(|e| members.as_ref().is_none_or(|m| m.contains(&e.registration.org)))
                    .cloned()
                    .collect();
                if let Some(d) = self.scope_work(&host, scope, eligible, eager)? {
                    return Ok(Some(d));
                }
            }
        }
        Ok(None)
    }

    /// [`Peer::key_work`] for one key, among the enclaves that may hold it.
    fn scope_work(
        &self,
        host: &dyn teechain_enclave::protocol::Host,
        scope: KeyScope,
        enclaves: Vec<RegisteredEnclave>,
        eager: bool,
    ) -> Result<Option<KeyDistribution>, NodeError> {
        let me = self.enclave_id;
        let first = enclaves.iter().map(|e| e.registration.keys.id()).min();
        let mut latest = None;
        while let Some(record) = self.key_record(&scope, latest.map_or(0, |l: u32| l + 1))? {
            latest = Some(record.epoch);
            // Grants: every eligible enclave gets every epoch (history stays readable).
            let holders: Vec<Hash32> = record.wraps.iter().map(|w| w.enclave).collect();
            if !holders.contains(&me) {
                continue;
            }
            let missing: Vec<RegisteredEnclave> =
                enclaves.iter().filter(|e| !holders.contains(&e.registration.keys.id())).cloned().collect();
            let first_holder = holders.iter().min() == Some(&me);
            if !missing.is_empty() && (eager || first_holder) {
                return Ok(Some(self.enclave.grant_key(host, scope, record.epoch, missing)?));
            }
        }
        // The first epoch, or the next one an admin asked for.
        let next = match latest {
            None => Some(0),
            Some(n) => (self.requested_epoch(&scope)? == Some(n + 1)).then_some(n + 1),
        };
        match next {
            Some(epoch) if eager || first == Some(me) => Ok(Some(self.enclave.make_key(host, scope, epoch, enclaves)?)),
            _ => Ok(None),
        }
    }

    /// The epoch an admin's rotation request asks for, if any.
    fn requested_epoch(&self, scope: &KeyScope) -> Result<Option<u32>, NodeError> {
        let snap = self.ledger.snapshot()?;
        let v = snap.get(KEYS_NAMESPACE, &rotation_state_key(scope)).map_err(teechain_ledger::LedgerError::from)?;
        Ok(v.and_then(|v| <[u8; 4]>::try_from(v.value.as_slice()).ok()).map(u32::from_be_bytes))
    }

    /// Whether the enclave's registration is committed.
    pub fn enclave_registered(&self) -> Result<bool, NodeError> {
        if self.registered.load(Ordering::Relaxed) {
            return Ok(true);
        }
        let snap = self.ledger.snapshot()?;
        let found = snap
            .get(ENCLAVE_NAMESPACE, &enclave_state_key(&self.enclave_id))
            .map_err(teechain_ledger::LedgerError::from)?
            .is_some();
        if found {
            self.registered.store(true, Ordering::Relaxed);
        }
        Ok(found)
    }

    fn packages_dir(&self) -> PathBuf {
        self.data_dir.join("chaincode")
    }

    fn reinstall(&self) -> Result<(), NodeError> {
        let dir = self.packages_dir();
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return Ok(());
        };
        for entry in entries {
            let path = entry.map_err(NodeError::io(&dir))?.path();
            if path.extension().is_some_and(|e| e == "wasm") {
                let wasm = std::fs::read(&path).map_err(NodeError::io(&path))?;
                self.enclave.install(wasm)?;
            }
        }
        Ok(())
    }

    /// Drops uncommitted private data after `blocks` blocks instead of the default.
    pub fn with_transient_retention(mut self, blocks: u64) -> Peer {
        self.transient = TransientStore::new(blocks);
        self
    }

    /// Node name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Organisation.
    pub fn org(&self) -> &str {
        &self.org
    }

    /// The ledger.
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// The enclave.
    pub fn enclave(&self) -> &EnclaveHandle {
        &self.enclave
    }

    /// Installs a chaincode package: kept in the data directory and loaded into the
    /// enclave. Returns its code hash.
    pub fn install(&self, wasm: &[u8]) -> Result<Hash32, NodeError> {
        let hash = self.enclave.install(wasm.to_vec())?;
        let dir = self.packages_dir();
        std::fs::create_dir_all(&dir).map_err(NodeError::io(&dir))?;
        let path = dir.join(format!("{}.wasm", hash.to_hex()));
        if !path.exists() {
            std::fs::write(&path, wasm).map_err(NodeError::io(&path))?;
        }
        Ok(hash)
    }

    /// The committed definition of a chaincode.
    pub fn definition(&self, name: &str) -> Result<Option<ChaincodeDefinition>, NodeError> {
        let snap = self.ledger.snapshot()?;
        Ok(lifecycle::committed_definition(&snap, name).map_err(teechain_ledger::LedgerError::from)?)
    }

    /// Every committed chaincode definition, by name.
    pub fn definitions(&self) -> Result<Vec<ChaincodeDefinition>, NodeError> {
        let snap = self.ledger.snapshot()?;
        let prefix = lifecycle::definition_key("");
        let mut end = prefix.clone();
        if let Some(last) = end.last_mut() {
            *last += 1;
        }
        let rows =
            snap.range(lifecycle::NAMESPACE, &prefix, &end, usize::MAX).map_err(teechain_ledger::LedgerError::from)?;
        rows.into_iter()
            .map(|(_, v)| {
                teechain_types::chaincode::decode_definition(&v.value)
                    .map_err(|e| NodeError::Invalid(format!("corrupt chaincode definition: {e}")))
            })
            .collect()
    }

    /// Executes and endorses a proposal in the enclave against committed state. The
    /// private data it wrote is kept in the transient store for the collections this
    /// node's organisation is a member of, and returned for dissemination.
    pub fn endorse(&self, proposal: &SignedProposal, transient: &[(String, Vec<u8>)]) -> Result<Endorsed, NodeError> {
        // An endorsement of an unregistered enclave is invalid everywhere: say so now.
        if !self.enclave_registered()? {
            return Err(NodeError::EnclaveNotRegistered { node: self.name.clone(), enclave: self.enclave_id.to_hex() });
        }
        let snap = self.ledger.snapshot()?;
        let host = ViewHost(&snap);
        let endorsed = match self.enclave.endorse(&host, proposal.clone(), transient.to_vec()) {
            Err(e) if missing_code(&e) => {
                self.reinstall()?;
                self.enclave.endorse(&host, proposal.clone(), transient.to_vec())?
            }
            r => r?,
        };
        if let Some(data) = &endorsed.private {
            if let Some(mine) = self.part_for(data, &self.org)? {
                self.transient.put(mine, snap.height());
            }
        }
        Ok(endorsed)
    }

    /// The transient store.
    pub fn transient(&self) -> &TransientStore {
        &self.transient
    }

    /// The config of a chaincode's collection (implicit ones only for channel
    /// organisations).
    pub fn collection(&self, namespace: &str, collection: &str) -> Result<Option<CollectionConfig>, NodeError> {
        let Some(def) = self.definition(namespace)? else {
            return Ok(None);
        };
        Ok(def.channel_collection(collection, |org| self.validator.msp().contains_org(org)))
    }

    /// The part of `data` for the collections `org` is a member of, if any.
    pub fn part_for(&self, data: &TxPrivateData, org: &str) -> Result<Option<TxPrivateData>, NodeError> {
        let mut collections = Vec::new();
        for c in &data.collections {
            if self.collection(&c.namespace, &c.collection)?.is_some_and(|cfg| cfg.is_member(org)) {
                collections.push(c.clone());
            }
        }
        Ok((!collections.is_empty()).then_some(TxPrivateData { tx_id: data.tx_id, collections }))
    }

    /// Keeps private data another node disseminated, for the collections this node's
    /// organisation is a member of; refuses data of no such collection.
    pub fn accept_private(&self, data: TxPrivateData) -> Result<(), NodeError> {
        match self.part_for(&data, &self.org)? {
            Some(mine) => {
                self.transient.put(mine, self.ledger.height());
                Ok(())
            }
            None => Err(NodeError::PermissionDenied(format!(
                "{} of {} is not a member of any collection in the private data offered",
                self.name, self.org
            ))),
        }
    }

    /// Executes a proposal as a query.
    pub fn evaluate(
        &self,
        proposal: &SignedProposal,
        transient: &[(String, Vec<u8>)],
    ) -> Result<ChaincodeResponse, NodeError> {
        let snap = self.ledger.snapshot()?;
        let host = ViewHost(&snap);
        match self.enclave.evaluate(&host, proposal.clone(), transient.to_vec()) {
            Err(e) if missing_code(&e) => {
                self.reinstall()?;
                Ok(self.enclave.evaluate(&host, proposal.clone(), transient.to_vec())?)
            }
            r => Ok(r?),
        }
    }

    /// Validates and commits the next block; returns the outcome.
    pub fn commit_block(&self, block: Block) -> Result<BlockOutcome, NodeError> {
        self.commit_block_with_marker(block, None)
    }

    /// As [`Peer::commit_block`], storing the ordering service's applied marker in the
    /// same storage transaction.
    pub fn commit_block_with_marker(&self, block: Block, marker: Option<&[u8]>) -> Result<BlockOutcome, NodeError> {
        let snap = self.ledger.snapshot()?;
        let outcome = self.validator.validate(&snap, &block)?;
        let private = teechain_ledger::plan_private_commit(&snap, &block, &outcome.codes, &self.org, &mut |id| {
            self.transient.candidates(id)
        })?;
        drop(snap);
        if !private.missing.is_empty() {
            tracing::info!(
                block = block.header.number,
                missing = private.missing.len(),
                "private data not received before commit; reconciliation will pull it"
            );
        }
        let tx_ids: Vec<_> = block.transactions.iter().map(|tx| tx.tx_id()).collect();
        self.ledger.commit_with_private(block, &outcome, &private, marker)?;
        self.transient.remove(tx_ids);
        self.transient.purge(self.ledger.height());
        Ok(outcome)
    }
}

/// True when the enclave lacks the code of a committed chaincode; packages copied into the
/// data directory while the node runs are then loaded and the call retried once.
fn missing_code(e: &teechain_enclave::EnclaveError) -> bool {
    e.kind() == Some(teechain_enclave::protocol::FailureKind::ChaincodeUnavailable)
        && e.to_string().contains("not installed")
}
