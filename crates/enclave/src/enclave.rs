//! The trusted side of the boundary.

use crate::identity::EnclaveIdentity;
use crate::keys::{self, KeyStore, SealedFile};
use crate::platform::{EnclaveAttestation, Platform, PlatformServices};
use crate::protocol::{
    EnclaveInfo, EnclaveRequest, EnclaveResponse, Endorsed, FailureKind, Host, HostCall, HostReply, ProposalResponse,
};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::RwLock;
use teechain_attestation::AttestationPolicy;
use teechain_chaincode_runtime::{CompiledChaincode, ExecutionLimits, Runtime, RuntimeError, Simulation};
use teechain_crypto::{hpke_open, hpke_seal, DataKey, HpkeCiphertext, HpkePublicKey, HpkeSecretKey, Msp};
use teechain_types::chaincode::{
    decode_definition, definition_state_key, Caller, ChaincodeDefinition, HistoryEntry, InvocationContext,
    LIFECYCLE_NAMESPACE,
};
use teechain_types::chaincode::{ChaincodeResponse, StateSealing, StateSealingKey};
use teechain_types::codec::{decode, encode, Limits};
use teechain_types::collection::{CollectionAccess, CollectionSealing, HashedValue, PrivateValue, TxPrivateData};
use teechain_types::enclave::{enclave_state_key, RegisteredEnclave, ENCLAVE_NAMESPACE};
use teechain_types::hash::Signature;
use teechain_types::keys::{
    invocation_info, key_state_key, sealed_version_key, wrap_info, ConfidentialInput, KeyDistribution, KeyRecord,
    KeyScope, SealedInvocation, WrappedKey, KEYS_NAMESPACE, SEALED_REASON_PREFIX,
};
use teechain_types::state::{StateError, StateView};
use teechain_types::tx::Proposal;
use teechain_types::tx::{transient_digest, ChaincodeRef, Endorsement, ProposalResponsePayload, SignedProposal};
use teechain_types::{sha256, Hash32, VersionedValue};
use zeroize::Zeroizing;

/// What an enclave is started with. Nothing here is secret: the enclave makes its keys
/// itself.
#[derive(Clone, Debug)]
pub struct EnclaveConfig {
    /// The platform it runs on.
    pub platform: Platform,
    /// The channel it serves.
    pub channel: String,
    /// The organisation of the node it serves: the one that registers it, and whose
    /// collections it holds.
    pub org: String,
    /// The channel's organisations and their CA certificates (DER), to check clients.
    pub orgs: Vec<(String, Vec<u8>)>,
    /// Bounds on each chaincode call.
    pub limits: ExecutionLimits,
    /// Directory for the enclave's sealed state (its keys). `None`: keys live in memory
    /// only and a restart makes a new enclave (tests).
    pub sealed_dir: Option<PathBuf>,
    /// The virtual platform's key file (outside any node's data directory). `None`: a
    /// key that lives only as long as the enclave, whose evidence no channel trusts.
    pub virtual_platform_key: Option<PathBuf>,
    /// The channel's attestation policy: the enclave wraps keys only to enclaves whose
    /// evidence passes it.
    pub attestation: AttestationPolicy,
}

/// The trusted component: checks proposals, runs chaincode, signs endorsements.
pub struct Enclave {
    platform: Platform,
    channel: String,
    org: String,
    identity: EnclaveIdentity,
    measurement: Hash32,
    attestation: EnclaveAttestation,
    msp: Msp,
    runtime: Runtime,
    code: RwLock<HashMap<Hash32, CompiledChaincode>>,
    attestation_policy: AttestationPolicy,
    pub(crate) keys: KeyStore,
    /// Public keys of key epochs whose records proved genuine (they never change).
    pub(crate) public_keys: RwLock<HashMap<(KeyScope, u32), VerifiedKey>>,
    /// State-sealing keys derived from chaincode key epochs, by (chaincode, epoch):
    /// derived once, not at every execution.
    sealing_keys: RwLock<HashMap<(String, u32), StateSealingKey>>,
    /// Set when the sealed key store proved older than the ledger's record: the enclave
    /// then refuses every call but `Info`.
    rolled_back: AtomicBool,
}

/// A key epoch whose record proved genuine.
#[derive(Clone, Debug)]
pub(crate) struct VerifiedKey {
    /// Its public key.
    pub(crate) public_key: [u8; 32],
    /// The organisation that registered the enclave that made it.
    pub(crate) maker_org: String,
}

/// File name of the sealed key store inside the enclave's directory.
pub const KEYS_FILE: &str = "keys.sealed";

type Failure = (FailureKind, String);

impl Enclave {
    /// Starts an enclave: opens its platform, unseals its keys (or makes and seals new
    /// ones) and produces evidence binding them to the channel.
    pub fn new(config: EnclaveConfig) -> Result<Enclave, String> {
        let msp = Msp::new(&config.orgs).map_err(|e| format!("channel organisations: {e}"))?;
        if !msp.contains_org(&config.org) {
            return Err(format!("organisation '{}' is not in channel '{}'", config.org, config.channel));
        }
        let platform = PlatformServices::open(config.platform, config.virtual_platform_key.as_deref())?;
        let measurement = platform.measurement()?;
        let identity = match &config.sealed_dir {
            Some(dir) => EnclaveIdentity::load_or_create(dir, &platform, &measurement)?,
            None => EnclaveIdentity::generate(),
        };
        let keys = match &config.sealed_dir {
            Some(dir) => KeyStore::open(SealedFile {
                path: dir.join(KEYS_FILE),
                key: DataKey::from_bytes(platform.sealing_key(&measurement)?),
                aad: encode(&(b"teechain/sealed-keys/v1".as_slice(), config.platform, measurement)),
            })?,
            None => KeyStore::default(),
        };
        let report_data = teechain_attestation::report_data(&config.channel, &identity.keys().keys_hash());
        let attestation = platform.attest(measurement, report_data)?;
        Ok(Enclave {
            platform: config.platform,
            channel: config.channel,
            org: config.org,
            identity,
            measurement,
            attestation,
            msp,
            runtime: Runtime::new(config.limits),
            code: RwLock::new(HashMap::new()),
            attestation_policy: config.attestation,
            keys,
            public_keys: RwLock::new(HashMap::new()),
            sealing_keys: RwLock::new(HashMap::new()),
            rolled_back: AtomicBool::new(false),
        })
    }

    /// The one entry point: an encoded [`EnclaveRequest`] in, an encoded
    /// [`EnclaveResponse`] out. Reads of state go through `host`.
    pub fn ecall(&self, request: &[u8], host: &dyn Host) -> Vec<u8> {
        let response = match decode::<EnclaveRequest>(request, Limits::TRANSACTION) {
            Err(e) => EnclaveResponse::Failed { kind: FailureKind::BadRequest, message: e.to_string() },
            Ok(req) => self.handle(req, host),
        };
        encode(&response)
    }

    fn handle(&self, req: EnclaveRequest, host: &dyn Host) -> EnclaveResponse {
        if self.rolled_back.load(Ordering::Relaxed) && !matches!(req, EnclaveRequest::Info) {
            return EnclaveResponse::Failed {
                kind: FailureKind::SealedStateRolledBack,
                message: "this enclave's sealed state was rolled back; it serves nothing".into(),
            };
        }
        let result = match req {
            EnclaveRequest::CheckSealedState => self.check_sealed_state(host),
            EnclaveRequest::Info => Ok(EnclaveResponse::Info(self.info())),
            EnclaveRequest::InstallChaincode { wasm } => self.install(&wasm),
            EnclaveRequest::Endorse { proposal, transient } => {
                self.execute(&proposal, transient, host).map(|(cc, sim)| self.endorse(&proposal, cc, sim))
            }
            EnclaveRequest::Evaluate { proposal, transient } => {
                self.execute(&proposal, transient, host).map(|(_, sim)| EnclaveResponse::Evaluated(sim.response))
            }
            EnclaveRequest::MakeKey { scope, epoch, recipients } => self.make_key(scope, epoch, recipients, host),
            EnclaveRequest::GrantKey { scope, epoch, recipients } => self.grant_key(scope, epoch, recipients, host),
        };
        result.unwrap_or_else(|(kind, message)| EnclaveResponse::Failed { kind, message })
    }

    fn info(&self) -> EnclaveInfo {
        let mut installed: Vec<Hash32> = self.code.read().unwrap_or_else(|p| p.into_inner()).keys().copied().collect();
        installed.sort();
        EnclaveInfo {
            platform: self.platform,
            channel: self.channel.clone(),
            org: self.org.clone(),
            keys: self.identity.keys(),
            measurement: self.measurement,
            attestation: self.attestation.clone(),
            installed,
        }
    }

    fn make_key(
        &self,
        scope: KeyScope,
        epoch: u32,
        mut recipients: Vec<RegisteredEnclave>,
        host: &dyn Host,
    ) -> Result<EnclaveResponse, Failure> {
        let me = self.identity.keys().id();
        recipients.retain(|r| keys::id_of(r) != me);
        let members = self.collection_members(&scope, host)?;
        if members.as_ref().is_some_and(|m| !m.contains(&self.org)) {
            return Err((
                FailureKind::BadRequest,
                format!("this enclave's organisation {} is not a member: it does not make the {scope}", self.org),
            ));
        }
        self.check_recipients(&scope, members.as_ref(), &recipients, host)?;
        let secret = HpkeSecretKey::generate();
        let public_key = Some(secret.public_key().0);
        let bytes = Zeroizing::new(secret.to_bytes());
        let mut wraps = keys::wrap_to(
            &self.channel,
            &self.attestation_policy,
            &scope,
            epoch,
            &bytes,
            &recipients,
            keys::now_unix(),
        )
        .map_err(|e| (FailureKind::BadRequest, e))?;
        // Kept only in the wrap to itself: if another enclave's distribution of this
        // epoch commits first, this secret never becomes the key, and must not linger.
        wraps.insert(0, self.wrap_to_self(&scope, epoch, &bytes)?);
        Ok(EnclaveResponse::KeyDistribution(self.sign_distribution(scope, epoch, public_key, wraps)?))
    }

    fn grant_key(
        &self,
        scope: KeyScope,
        epoch: u32,
        recipients: Vec<RegisteredEnclave>,
        host: &dyn Host,
    ) -> Result<EnclaveResponse, Failure> {
        self.check_recipients(&scope, self.collection_members(&scope, host)?.as_ref(), &recipients, host)?;
        let record = self.key_record(&scope, epoch, host)?;
        let secret = self.key(&scope, epoch, &record, &OcallState::public(host))?;
        let wraps = keys::wrap_to(
            &self.channel,
            &self.attestation_policy,
            &scope,
            epoch,
            &secret,
            &recipients,
            keys::now_unix(),
        )
        .map_err(|e| (FailureKind::BadRequest, e))?;
        Ok(EnclaveResponse::KeyDistribution(self.sign_distribution(scope, epoch, record.public_key, wraps)?))
    }

    /// The member organisations of a collection key's collection, from the committed
    /// definition; `None` for a chaincode key (every organisation may hold it).
    fn collection_members(
        &self,
        scope: &KeyScope,
        host: &dyn Host,
    ) -> Result<Option<std::collections::BTreeSet<String>>, Failure> {
        let KeyScope::Collection { namespace, collection } = scope else { return Ok(None) };
        let def = OcallState::public(host)
            .get(LIFECYCLE_NAMESPACE, &definition_state_key(namespace))
            .map_err(|e| (FailureKind::HostFailure, e.to_string()))?
            .ok_or_else(|| (FailureKind::BadRequest, format!("chaincode '{namespace}' is not committed")))?;
        let def = decode_definition(&def.value)
            .map_err(|e| (FailureKind::HostFailure, format!("definition of '{namespace}' does not decode: {e}")))?;
        let config = def.channel_collection(collection, |org| self.msp.contains_org(org)).ok_or_else(|| {
            (FailureKind::BadRequest, format!("chaincode '{namespace}' has no collection '{collection}'"))
        })?;
        Ok(Some(config.members()))
    }

    /// Keys are wrapped only to enclaves registered on the ledger as the host names
    /// them, and a collection's key only to enclaves of its member organisations
    /// (`members`, `None` for a chaincode key).
    fn check_recipients(
        &self,
        scope: &KeyScope,
        members: Option<&std::collections::BTreeSet<String>>,
        recipients: &[RegisteredEnclave],
        host: &dyn Host,
    ) -> Result<(), Failure> {
        let state = OcallState::public(host);
        for r in recipients {
            let id = keys::id_of(r);
            let refuse =
                |why: &str| Err((FailureKind::BadRequest, format!("enclave {} {why}: no {scope} for it", id.short())));
            let recorded = state
                .get(ENCLAVE_NAMESPACE, &enclave_state_key(&id))
                .map_err(|e| (FailureKind::HostFailure, e.to_string()))?;
            match recorded.map(|v| decode::<RegisteredEnclave>(&v.value, Limits::RECORD)) {
                Some(Ok(recorded)) if recorded == *r => {}
                Some(Ok(_)) => return refuse("is registered otherwise than the host says"),
                _ => return refuse("is not registered"),
            }
            if members.is_some_and(|m| !m.contains(&r.registration.org)) {
                return refuse(&format!("belongs to {}, not a member of the collection", r.registration.org));
            }
        }
        Ok(())
    }

    fn wrap_to_self(&self, scope: &KeyScope, epoch: u32, secret: &[u8; 32]) -> Result<WrappedKey, Failure> {
        let me = self.identity.keys();
        let ct = hpke_seal(&HpkePublicKey(me.hpke_key), &wrap_info(&self.channel, scope, epoch), &me.id().0, secret)
            .map_err(|e| (FailureKind::HostFailure, e.to_string()))?;
        Ok(WrappedKey { enclave: me.id(), enc: ct.enc, ciphertext: ct.ciphertext })
    }

    fn sign_distribution(
        &self,
        scope: KeyScope,
        epoch: u32,
        public_key: Option<[u8; 32]>,
        wraps: Vec<WrappedKey>,
    ) -> Result<KeyDistribution, Failure> {
        let sealed_version = self.keys.bump().map_err(|e| (FailureKind::HostFailure, e))?;
        let mut d = KeyDistribution {
            scope,
            epoch,
            public_key,
            wraps,
            enclave: self.identity.keys().id(),
            sealed_version,
            signature: Signature([0; 64]),
        };
        d.signature = self.identity.sign(&d.statement(&self.channel));
        Ok(d)
    }

    /// Compares the sealed key store's version with the highest the ledger recorded for
    /// this enclave. An older file means the host restored a stale copy: from then on
    /// the enclave refuses to serve.
    fn check_sealed_state(&self, host: &dyn Host) -> Result<EnclaveResponse, Failure> {
        let recorded = OcallState::public(host)
            .get(KEYS_NAMESPACE, &sealed_version_key(&self.identity.keys().id()))
            .map_err(|e| (FailureKind::HostFailure, e.to_string()))?
            .and_then(|v| <[u8; 8]>::try_from(v.value.as_slice()).ok())
            .map_or(0, u64::from_be_bytes);
        let version = self.keys.version();
        if version < recorded {
            self.rolled_back.store(true, Ordering::Relaxed);
            return Err((
                FailureKind::SealedStateRolledBack,
                format!(
                    "sealed state rolled back: the enclave's sealed key store is at version {version}, \
                     the ledger records {recorded} for this enclave; restore the latest file or start a new \
                     enclave (and register it)"
                ),
            ));
        }
        Ok(EnclaveResponse::SealedStateFresh { version, recorded })
    }

    /// A key's ledger record, read through the host.
    fn key_record(&self, scope: &KeyScope, epoch: u32, host: &dyn Host) -> Result<KeyRecord, Failure> {
        let v = OcallState::public(host)
            .get(KEYS_NAMESPACE, &key_state_key(scope, epoch))
            .map_err(|e| (FailureKind::HostFailure, e.to_string()))?
            .ok_or_else(|| (FailureKind::KeyUnavailable, format!("the {scope} has no epoch {epoch} on the ledger")))?;
        decode(&v.value, Limits::RECORD)
            .map_err(|e| (FailureKind::HostFailure, format!("the {scope} record does not decode: {e}")))
    }

    /// The public key of a key epoch and the organisation of the enclave that made it,
    /// once its record proves genuine: the record is the one asked for, its maker is a
    /// registered enclave whose evidence verifies against the channel's policy, and the
    /// maker's signature over the first distribution verifies. Checked once per epoch
    /// (the answer is kept), so a host cannot plant a key whose secret it knows.
    pub(crate) fn verified_public_key(
        &self,
        scope: &KeyScope,
        epoch: u32,
        record: &KeyRecord,
        state: &dyn StateView,
    ) -> Result<VerifiedKey, Failure> {
        let forged = |why: String| (FailureKind::ForgedKeyRecord, format!("the {scope} (epoch {epoch}) {why}"));
        if record.scope != *scope || record.epoch != epoch {
            return Err(forged("was answered with the record of another key".into()));
        }
        let known = self.public_keys.read().unwrap_or_else(|p| p.into_inner()).get(&(scope.clone(), epoch)).cloned();
        if let Some(known) = known {
            return match record.public_key == Some(known.public_key) {
                true => Ok(known),
                false => Err(forged("was answered with a record of another public key".into())),
            };
        }
        let maker = state
            .get(ENCLAVE_NAMESPACE, &enclave_state_key(&record.made_by))
            .map_err(|e| (FailureKind::HostFailure, e.to_string()))?
            .ok_or_else(|| forged("was made by an enclave that is not registered".into()))?;
        let maker: RegisteredEnclave = decode(&maker.value, Limits::RECORD)
            .map_err(|e| forged(format!("names a maker whose registration does not decode: {e}")))?;
        let (public_key, _) = teechain_attestation::verify_key_record(
            &self.channel,
            record,
            &maker,
            &self.attestation_policy,
            keys::now_unix(),
        )
        .map_err(forged)?;
        let verified = VerifiedKey { public_key, maker_org: maker.registration.org };
        self.public_keys.write().unwrap_or_else(|p| p.into_inner()).insert((scope.clone(), epoch), verified.clone());
        Ok(verified)
    }

    /// The secret of a key epoch: from memory, or unwrapped from its record once the
    /// record proves genuine ([`Self::verified_public_key`]) and the secret matches its
    /// public key (wraps added by grants are not signed in the record).
    pub(crate) fn key(
        &self,
        scope: &KeyScope,
        epoch: u32,
        record: &KeyRecord,
        state: &dyn StateView,
    ) -> Result<Zeroizing<[u8; 32]>, Failure> {
        let verified = self.verified_public_key(scope, epoch, record, state)?;
        let matches = |k: &[u8; 32]| HpkeSecretKey::from_bytes(*k).public_key().0 == verified.public_key;
        if let Some(k) = self.keys.get(&record.scope, record.epoch) {
            if matches(&k) {
                return Ok(k);
            }
        }
        let k = keys::unwrap(&self.identity, &self.channel, record).map_err(|e| (FailureKind::KeyUnavailable, e))?;
        if !matches(&k) {
            return Err((
                FailureKind::ForgedKeyRecord,
                format!(
                    "the {} (epoch {}) wrapped to this enclave is not the key's secret",
                    record.scope, record.epoch
                ),
            ));
        }
        self.keys.insert(&record.scope, record.epoch, k.clone()).map_err(|e| (FailureKind::HostFailure, e))?;
        Ok(k)
    }

    /// The chaincode's state-sealing keys, one per chaincode key epoch this enclave
    /// holds, oldest first; `None` while the chaincode has no key. Epochs already
    /// unwrapped cost nothing; finding out whether a newer one exists costs one ocall.
    fn state_sealing(&self, chaincode: &str, host: &dyn Host) -> Result<Option<StateSealing>, Failure> {
        let scope = KeyScope::Chaincode { namespace: chaincode.to_string() };
        let mut keys = Vec::new();
        for epoch in 0u32.. {
            let cached = self
                .sealing_keys
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .get(&(chaincode.to_string(), epoch))
                .cloned();
            if let Some(k) = cached {
                keys.push(k);
                continue;
            }
            let found = OcallState::public(host)
                .get(KEYS_NAMESPACE, &key_state_key(&scope, epoch))
                .map_err(|e| (FailureKind::HostFailure, e.to_string()))?;
            let Some(v) = found else { break };
            let record: KeyRecord = decode(&v.value, Limits::RECORD)
                .map_err(|e| (FailureKind::HostFailure, format!("the {scope} record does not decode: {e}")))?;
            // Not (yet) wrapped to this enclave: seal with what it holds. A record that
            // does not prove genuine is the host's, never a key.
            let state = OcallState::public(host);
            let secret = match self.key(&scope, epoch, &record, &state) {
                Ok(k) => k,
                Err((FailureKind::KeyUnavailable, _)) => break,
                Err(e) => return Err(e),
            };
            let public_key = self.verified_public_key(&scope, epoch, &record, &state)?.public_key;
            let derive =
                |domain: &[u8]| teechain_crypto::derive_key(secret.as_slice(), domain, &[chaincode.as_bytes()]);
            let k = StateSealingKey {
                epoch,
                key: derive(b"teechain/state-sealing/v1"),
                nonce_key: derive(b"teechain/state-nonce/v1"),
                public_key,
            };
            self.sealing_keys
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .insert((chaincode.to_string(), epoch), k.clone());
            keys.push(k);
        }
        Ok((!keys.is_empty()).then_some(StateSealing { keys }))
    }

    /// Opens a confidential invocation with the chaincode's key.
    fn open_invocation(
        &self,
        p: &Proposal,
        sealed: &SealedInvocation,
        host: &dyn Host,
    ) -> Result<ConfidentialInput, Failure> {
        let scope = KeyScope::Chaincode { namespace: p.chaincode.clone() };
        let secret = match self.keys.get(&scope, sealed.epoch) {
            Some(k) => k,
            None => {
                let record = self.key_record(&scope, sealed.epoch, host)?;
                self.key(&scope, sealed.epoch, &record, &OcallState::public(host))?
            }
        };
        let key = HpkeSecretKey::from_bytes(*secret);
        let ct = HpkeCiphertext { enc: sealed.enc, ciphertext: sealed.ciphertext.clone() };
        let info = invocation_info(&self.channel, &p.chaincode, sealed.epoch);
        let plain = Zeroizing::new(
            hpke_open(&key, &info, &encode(&p.header), &ct)
                .map_err(|_| (FailureKind::BadProposal, "the sealed invocation does not open".to_string()))?,
        );
        let input = teechain_crypto::padding::unpad(&plain)
            .map_err(|e| (FailureKind::BadProposal, format!("the sealed invocation: {e}")))?;
        decode(input, Limits::TRANSACTION)
            .map_err(|e| (FailureKind::BadProposal, format!("the sealed invocation does not decode: {e}")))
    }

    fn install(&self, wasm: &[u8]) -> Result<EnclaveResponse, Failure> {
        let compiled = self
            .runtime
            .compile(wasm)
            .map_err(|e| (FailureKind::ChaincodeUnavailable, format!("chaincode package rejected: {e}")))?;
        let code_hash = compiled.code_hash();
        self.code.write().unwrap_or_else(|p| p.into_inner()).insert(code_hash, compiled);
        Ok(EnclaveResponse::Installed { code_hash })
    }

    /// Checks the proposal and runs it; a non-OK chaincode response is a failure.
    fn execute(
        &self,
        sp: &SignedProposal,
        transient: Vec<(String, Vec<u8>)>,
        host: &dyn Host,
    ) -> Result<(ChaincodeRef, Simulation), Failure> {
        let p = &sp.proposal;
        let bad = |m: String| (FailureKind::BadProposal, m);
        if p.header.channel != self.channel {
            return Err(bad(format!(
                "proposal is for channel '{}', this node serves '{}'",
                p.header.channel, self.channel
            )));
        }
        let creator = self.msp.validate(&p.header.creator).map_err(|e| bad(format!("creator certificate: {e}")))?;
        teechain_crypto::verify(&creator.public_key, &p.hash().0, &sp.signature)
            .map_err(|_| bad("proposal signature does not verify".into()))?;
        if transient_digest(&transient) != p.transient_digest {
            return Err(bad("transient data does not match the proposal's digest".into()));
        }
        let name = &p.chaincode;
        let def = OcallState::public(host)
            .get(LIFECYCLE_NAMESPACE, &definition_state_key(name))
            .map_err(|e| (FailureKind::HostFailure, e.to_string()))?
            .ok_or_else(|| {
                (
                    FailureKind::ChaincodeUnavailable,
                    format!("chaincode '{name}' is not committed on channel '{}'", self.channel),
                )
            })?;
        let def = decode_definition(&def.value)
            .map_err(|e| (FailureKind::HostFailure, format!("definition of '{name}' does not decode: {e}")))?;
        let code =
            self.code.read().unwrap_or_else(|p| p.into_inner()).get(&def.code_hash).cloned().ok_or_else(|| {
                (
                    FailureKind::ChaincodeUnavailable,
                    format!(
                        "code of chaincode '{name}' (hash {}) is not installed on this node",
                        def.code_hash.short()
                    ),
                )
            })?;
        let confidential = match &p.sealed {
            None => None,
            Some(_) if !p.invocation.function.is_empty() || !p.invocation.args.is_empty() => {
                return Err(bad("a confidential proposal carries its invocation only sealed".into()));
            }
            Some(_) if !transient.is_empty() => {
                return Err(bad("a confidential proposal carries its transient data only sealed".into()));
            }
            Some(sealed) => Some(self.open_invocation(p, sealed, host)?),
        };
        // A confidential call's transient data travelled sealed with its invocation.
        let transient = match &confidential {
            Some(c) => c.transient.clone(),
            None => transient,
        };
        let ctx = InvocationContext {
            channel: self.channel.clone(),
            tx_id: p.header.tx_id(),
            caller: Caller { org: creator.org.clone(), role: creator.role, name: creator.name.clone() },
            timestamp_ms: p.header.timestamp_ms,
            transient,
            sealing: self.state_sealing(name, host)?,
        };
        let state = OcallState {
            host,
            chaincode: Some(ChaincodeScope {
                namespace: name,
                def: &def,
                channel: &self.msp,
                node_org: &self.org,
                enclave: self,
                derivation: ctx
                    .sealing
                    .as_ref()
                    .and_then(|s| s.current())
                    .map(|k| teechain_crypto::derive_key(&k.key, b"teechain/private-data/v1", &[name.as_bytes()])),
            }),
            key_missing: AtomicBool::new(false),
        };
        let invocation = confidential.as_ref().map_or(&p.invocation, |c| &c.invocation);
        // A failure's reason, sealed to the client of a confidential call.
        let reason = |message: String| match &confidential {
            None => message,
            Some(c) => {
                let key = DataKey::from_bytes(c.response_key);
                let proposal_hash = p.hash();
                let padded = teechain_crypto::padding::pad(message.as_bytes());
                let sealed = key.seal_derived(&[b"reason", &proposal_hash.0], &proposal_hash.0, &padded);
                format!("{SEALED_REASON_PREFIX}{}", hex::encode(sealed))
            }
        };
        let mut sim = self.runtime.execute(&code, name, &state, &ctx, invocation).map_err(|e| match e {
            // Keys not distributed (or granted) yet: worth a retry, unlike a host failure.
            RuntimeError::State(e) if state.key_missing.load(Ordering::Relaxed) => {
                (FailureKind::KeyUnavailable, e.to_string())
            }
            RuntimeError::State(e) => (FailureKind::HostFailure, e.to_string()),
            // A confidential chaincode's panic or trap may quote what it computed.
            e => (FailureKind::ExecutionFailed, reason(format!("chaincode '{name}': {e}"))),
        })?;
        if let Some(c) = &confidential {
            // Only the client opens the response, a refusal included: the host sees an
            // endorsement either way (a refusal's has no writes), padded to a size bucket.
            // Every endorser seals it identically (the nonce derives from proposal and
            // response).
            let key = DataKey::from_bytes(c.response_key);
            let proposal_hash = p.hash();
            let padded = Zeroizing::new(teechain_crypto::padding::pad(&encode(&sim.response)));
            let sealed = key.seal_derived(&[b"response", &proposal_hash.0], &proposal_hash.0, &padded);
            sim.response = ChaincodeResponse::ok(sealed);
        }
        if !sim.response.is_ok() {
            return Err((FailureKind::ChaincodeRefused, sim.response.message));
        }
        let cc = ChaincodeRef { name: name.clone(), sequence: def.sequence, code_hash: def.code_hash };
        Ok((cc, sim))
    }

    fn endorse(&self, sp: &SignedProposal, chaincode: ChaincodeRef, sim: Simulation) -> EnclaveResponse {
        let private = (!sim.private_writes.is_empty())
            .then(|| TxPrivateData { tx_id: sp.proposal.header.tx_id(), collections: sim.private_writes });
        let payload = ProposalResponsePayload {
            proposal_hash: sp.proposal.hash(),
            chaincode,
            rwset: sim.rwset,
            response_hash: sha256(&encode(&sim.response)),
            events: sim.events,
        };
        let signature = self.identity.sign(&payload.hash());
        let endorsement = Endorsement { org: self.org.clone(), enclave: self.identity.keys().id(), signature };
        let response = ProposalResponse { payload, response: sim.response, endorsement };
        EnclaveResponse::Endorsed(Box::new(Endorsed { response, private }))
    }
}

/// The chaincode an execution runs, for answering which collections it has.
struct ChaincodeScope<'a> {
    /// Its name: the state namespace.
    namespace: &'a str,
    /// Its committed definition (declared collections).
    def: &'a ChaincodeDefinition,
    /// The channel's organisations (each has an implicit collection).
    channel: &'a Msp,
    /// The organisation of this enclave: the node's.
    node_org: &'a str,
    /// The enclave, for the collections' keys.
    enclave: &'a Enclave,
    /// Derived from the chaincode key's latest epoch (see
    /// [`teechain_types::collection::CollectionSealing::derivation`]); `None` while the
    /// chaincode has no key.
    derivation: Option<[u8; 32]>,
}

/// Committed state read through the host, from inside the enclave. Which collections
/// exist and whether this node is a member is decided here, from the chaincode
/// definition and the enclave's own identity, not by the host.
pub(crate) struct OcallState<'a> {
    host: &'a dyn Host,
    /// The chaincode being executed; without it there are no collections.
    chaincode: Option<ChaincodeScope<'a>>,
    /// Set when a collection's keys were missing (not distributed or granted yet).
    key_missing: AtomicBool,
}

impl<'a> OcallState<'a> {
    /// A view of public state only.
    fn public(host: &'a dyn Host) -> Self {
        OcallState { host, chaincode: None, key_missing: AtomicBool::new(false) }
    }

    fn call(&self, call: HostCall) -> Result<HostReply, StateError> {
        let reply = self.host.ocall(&encode(&call));
        match decode::<HostReply>(&reply, Limits::RECORD) {
            Ok(HostReply::Error(e)) => Err(StateError(e)),
            Ok(r) => Ok(r),
            Err(e) => Err(StateError(format!("host reply does not decode: {e}"))),
        }
    }
}

fn unexpected() -> StateError {
    StateError("host answered a different call".into())
}

impl StateView for OcallState<'_> {
    fn get(&self, namespace: &str, key: &[u8]) -> Result<Option<VersionedValue>, StateError> {
        match self.call(HostCall::Get { namespace: namespace.into(), key: key.to_vec() })? {
            HostReply::Value(v) => Ok(v),
            _ => Err(unexpected()),
        }
    }

    fn range(
        &self,
        namespace: &str,
        start: &[u8],
        end: &[u8],
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, VersionedValue)>, StateError> {
        let call = HostCall::Range {
            namespace: namespace.into(),
            start: start.to_vec(),
            end: end.to_vec(),
            limit: limit.min(u32::MAX as usize) as u32,
        };
        match self.call(call)? {
            HostReply::Entries(v) if v.len() <= limit => Ok(v),
            _ => Err(unexpected()),
        }
    }

    fn history(&self, namespace: &str, key: &[u8], limit: usize) -> Result<Vec<HistoryEntry>, StateError> {
        let call = HostCall::History {
            namespace: namespace.into(),
            key: key.to_vec(),
            limit: limit.min(u32::MAX as usize) as u32,
        };
        match self.call(call)? {
            HostReply::History(v) if v.len() <= limit => Ok(v),
            _ => Err(unexpected()),
        }
    }

    fn collection(&self, namespace: &str, collection: &str) -> Result<Option<CollectionAccess>, StateError> {
        let Some(scope) = &self.chaincode else {
            return Ok(None);
        };
        if namespace != scope.namespace {
            return Ok(None);
        }
        let Some(config) = scope.def.channel_collection(collection, |org| scope.channel.contains_org(org)) else {
            return Ok(None);
        };
        let members = config.members();
        let node_is_member = members.contains(scope.node_org);
        Ok(Some(CollectionAccess { config, members, node_is_member }))
    }

    fn private_get(&self, namespace: &str, collection: &str, key: &[u8]) -> Result<Option<PrivateValue>, StateError> {
        let call =
            HostCall::PrivateGet { namespace: namespace.into(), collection: collection.into(), key: key.to_vec() };
        match self.call(call)? {
            HostReply::PrivateValue(v) => Ok(v),
            _ => Err(unexpected()),
        }
    }

    fn private_range(
        &self,
        namespace: &str,
        collection: &str,
        start: &[u8],
        end: &[u8],
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, PrivateValue)>, StateError> {
        let call = HostCall::PrivateRange {
            namespace: namespace.into(),
            collection: collection.into(),
            start: start.to_vec(),
            end: end.to_vec(),
            limit: limit.min(u32::MAX as usize) as u32,
        };
        match self.call(call)? {
            HostReply::PrivateEntries(v) if v.len() <= limit => Ok(v),
            _ => Err(unexpected()),
        }
    }

    fn private_hash(
        &self,
        namespace: &str,
        collection: &str,
        key_hash: &Hash32,
    ) -> Result<Option<HashedValue>, StateError> {
        let call =
            HostCall::PrivateHash { namespace: namespace.into(), collection: collection.into(), key_hash: *key_hash };
        match self.call(call)? {
            HostReply::Hashed(v) => Ok(v),
            _ => Err(unexpected()),
        }
    }

    /// Inside the enclave every collection is sealed: its keys, or an error saying why
    /// there are none yet.
    fn collection_sealing(&self, namespace: &str, collection: &str) -> Result<Option<CollectionSealing>, StateError> {
        let Some(scope) = &self.chaincode else {
            return Ok(None);
        };
        let Some(access) = self.collection(namespace, collection)? else {
            return Ok(None);
        };
        let missing = |e: StateError| {
            self.key_missing.store(true, Ordering::Relaxed);
            e
        };
        let derivation = scope.derivation.ok_or_else(|| {
            missing(StateError(format!(
                "chaincode '{namespace}' has no key yet: private data is sealed with keys its enclaves distribute \
                 once it is committed; retry shortly"
            )))
        })?;
        let sealing = scope.enclave.collection_sealing(self, namespace, collection, &access, derivation);
        sealing.map(Some).map_err(|(e, key_missing)| if key_missing { missing(e) } else { e })
    }
}
