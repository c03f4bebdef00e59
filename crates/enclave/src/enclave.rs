//! The trusted side of the boundary.

use crate::identity::EnclaveIdentity;
use crate::platform::{EnclaveAttestation, Platform, PlatformServices};
use crate::protocol::{
    EnclaveInfo, EnclaveRequest, EnclaveResponse, Endorsed, FailureKind, Host, HostCall, HostReply, ProposalResponse,
};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::RwLock;
use teechain_chaincode_runtime::{CompiledChaincode, ExecutionLimits, Runtime, RuntimeError, Simulation};
use teechain_crypto::Msp;
use teechain_types::chaincode::{
    decode_definition, definition_state_key, Caller, ChaincodeDefinition, HistoryEntry, InvocationContext,
    LIFECYCLE_NAMESPACE,
};
use teechain_types::codec::{decode, encode, Limits};
use teechain_types::collection::{implicit_collection_org, CollectionAccess, HashedValue, PrivateValue, TxPrivateData};
use teechain_types::state::{StateError, StateView};
use teechain_types::tx::{transient_digest, ChaincodeRef, Endorsement, ProposalResponsePayload, SignedProposal};
use teechain_types::{sha256, Hash32, VersionedValue};

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
}

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
        let result = match req {
            EnclaveRequest::Info => Ok(EnclaveResponse::Info(self.info())),
            EnclaveRequest::InstallChaincode { wasm } => self.install(&wasm),
            EnclaveRequest::Endorse { proposal, transient } => {
                self.execute(&proposal, transient, host).map(|(cc, sim)| self.endorse(&proposal, cc, sim))
            }
            EnclaveRequest::Evaluate { proposal, transient } => {
                self.execute(&proposal, transient, host).map(|(_, sim)| EnclaveResponse::Evaluated(sim.response))
            }
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
        let ctx = InvocationContext {
            channel: self.channel.clone(),
            tx_id: p.header.tx_id(),
            caller: Caller { org: creator.org.clone(), role: creator.role, name: creator.name.clone() },
            timestamp_ms: p.header.timestamp_ms,
            transient,
        };
        let state = OcallState {
            host,
            chaincode: Some(ChaincodeScope { namespace: name, def: &def, channel: &self.msp, node_org: &self.org }),
        };
        let sim = self.runtime.execute(&code, name, &state, &ctx, &p.invocation).map_err(|e| match e {
            RuntimeError::State(e) => (FailureKind::HostFailure, e.to_string()),
            e => (FailureKind::ExecutionFailed, format!("chaincode '{name}': {e}")),
        })?;
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
}

/// Committed state read through the host, from inside the enclave. Which collections
/// exist and whether this node is a member is decided here, from the chaincode
/// definition and the enclave's own identity, not by the host.
struct OcallState<'a> {
    host: &'a dyn Host,
    /// The chaincode being executed; without it there are no collections.
    chaincode: Option<ChaincodeScope<'a>>,
}

impl<'a> OcallState<'a> {
    /// A view of public state only.
    fn public(host: &'a dyn Host) -> Self {
        OcallState { host, chaincode: None }
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
        if implicit_collection_org(collection).is_some_and(|org| !scope.channel.contains_org(org)) {
            return Ok(None);
        }
        let Some(config) = scope.def.collection(collection) else {
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
}
