//! Validation of the channel's own transactions: lifecycle operations, enclave
//! registrations, key distributions and rotation requests, and time beacons. Each
//! checks its creator and the state it changes, and writes that state.

use super::{BlockState, BlockValidator, StateWrite};
use crate::error::LedgerError;
use crate::lifecycle;
use teechain_attestation::{Evidence, MAX_EVIDENCE_BYTES};
use teechain_crypto::VerifiedIdentity;
use teechain_types::codec::{decode, encode, Limits};
use teechain_types::enclave::{enclave_state_key, EnclaveRegistration, RegisteredEnclave, ENCLAVE_NAMESPACE};
use teechain_types::keys::{
    key_state_key, rotation_state_key, sealed_version_key, KeyDistribution, KeyRecord, KeyScope, KEYS_NAMESPACE,
};
use teechain_types::state::StateView;
use teechain_types::tx::{latest_beacon, ledger_time, LifecycleOp, TIME_NAMESPACE};
use teechain_types::{Hash32, Role, ValidationCode, Version};

impl BlockValidator {
    /// The channel's time from the organisations' latest beacons ([`ledger_time`]).
    pub(super) fn ledger_clock(&self, state: &BlockState<'_>) -> Result<Option<u64>, LedgerError> {
        let mut beacons = Vec::with_capacity(self.orgs.len());
        for org in &self.orgs {
            if let Some(t) = latest_beacon(state, org)? {
                beacons.push(t);
            }
        }
        Ok(ledger_time(beacons, self.orgs.len()))
    }

    /// A time beacon: a node's (peer role), later than its organisation's latest.
    pub(super) fn check_time_beacon(
        &self,
        state: &mut BlockState<'_>,
        time_ms: u64,
        creator: &VerifiedIdentity,
        version: Version,
        writes: &mut Vec<StateWrite>,
    ) -> Result<ValidationCode, LedgerError> {
        if creator.role != Role::Peer {
            return Ok(ValidationCode::InvalidTimeBeacon);
        }
        if latest_beacon(state, &creator.org)?.is_some_and(|latest| time_ms <= latest) {
            return Ok(ValidationCode::InvalidTimeBeacon);
        }
        let key = creator.org.as_bytes().to_vec();
        let value = time_ms.to_be_bytes().to_vec();
        state.write(TIME_NAMESPACE, &key, Some(value.clone()));
        writes.push(StateWrite { namespace: TIME_NAMESPACE.to_string(), key, value: Some(value), version });
        Ok(ValidationCode::Valid)
    }

    pub(super) fn check_lifecycle(
        &self,
        state: &mut BlockState<'_>,
        op: &LifecycleOp,
        creator: &VerifiedIdentity,
        version: Version,
        writes: &mut Vec<StateWrite>,
    ) -> Result<ValidationCode, LedgerError> {
        if creator.role != Role::Admin {
            return Ok(ValidationCode::LifecycleUnauthorized);
        }
        let (LifecycleOp::Approve(def) | LifecycleOp::Commit(def)) = op;
        if lifecycle::check_definition(def, &self.orgs).is_err() {
            return Ok(ValidationCode::LifecycleInvalid);
        }
        let current = state.definition(&def.name)?.map(|d| d.sequence).unwrap_or(0);
        if def.sequence != current + 1 {
            return Ok(ValidationCode::LifecycleInvalid);
        }
        let hash = lifecycle::definition_hash(def);
        let (key, value) = match op {
            LifecycleOp::Approve(_) => {
                (lifecycle::approval_key(&def.name, def.sequence, &creator.org), hash.0.to_vec())
            }
            LifecycleOp::Commit(_) => {
                let mut approvers = Vec::new();
                for org in self.orgs.iter().cloned() {
                    let k = lifecycle::approval_key(&def.name, def.sequence, &org);
                    if state.get(lifecycle::NAMESPACE, &k)?.is_some_and(|v| v.value == hash.0) {
                        approvers.push((org, Role::Admin));
                    }
                }
                if !self.lifecycle_policy.evaluate(&approvers) {
                    return Ok(ValidationCode::LifecycleInvalid);
                }
                (lifecycle::definition_key(&def.name), encode(def))
            }
        };
        state.write(lifecycle::NAMESPACE, &key, Some(value.clone()));
        writes.push(StateWrite { namespace: lifecycle::NAMESPACE.to_string(), key, value: Some(value), version });
        Ok(ValidationCode::Valid)
    }

    /// An enclave registration: by an admin of the organisation it names, for an enclave
    /// not yet registered, with evidence that verifies against the channel's policy at
    /// the block's time and binds this channel and the enclave's keys.
    pub(super) fn check_registration(
        &self,
        state: &mut BlockState<'_>,
        reg: &EnclaveRegistration,
        creator: &VerifiedIdentity,
        version: Version,
        now_unix: u64,
        writes: &mut Vec<StateWrite>,
    ) -> Result<ValidationCode, LedgerError> {
        if creator.role != Role::Admin || creator.org != reg.org {
            return Ok(ValidationCode::EnclaveRegistrationUnauthorized);
        }
        let id = reg.keys.id();
        let refuse = |why: String| {
            tracing::warn!(enclave = %id.short(), org = %reg.org, "enclave registration refused: {why}");
            Ok(ValidationCode::InvalidEnclaveRegistration)
        };
        if teechain_crypto::VerifyingKey::from_bytes(&reg.keys.signing_key).is_err() {
            return refuse("the signing key is not an Ed25519 public key".into());
        }
        let key = enclave_state_key(&id);
        if state.get(ENCLAVE_NAMESPACE, &key)?.is_some() {
            return refuse("the enclave is already registered".into());
        }
        let evidence: Evidence = match decode(&reg.evidence, Limits { max_bytes: MAX_EVIDENCE_BYTES + 64 }) {
            Ok(e) => e,
            Err(e) => return refuse(format!("evidence does not decode: {e}")),
        };
        let expected = teechain_attestation::report_data(&self.channel, &reg.keys.keys_hash());
        let verified = match teechain_attestation::verify(&evidence, &expected, &self.attestation, now_unix) {
            Ok(v) => v,
            Err(e) => return refuse(e.to_string()),
        };
        let record = RegisteredEnclave {
            registration: reg.clone(),
            platform: verified.platform.name().to_string(),
            measurement: verified.measurement,
            secure: verified.secure,
            registered_at: version,
        };
        let value = encode(&record);
        state.write(ENCLAVE_NAMESPACE, &key, Some(value.clone()));
        writes.push(StateWrite { namespace: ENCLAVE_NAMESPACE.to_string(), key, value: Some(value), version });
        Ok(ValidationCode::Valid)
    }

    /// A key distribution: signed by a registered enclave, wrapping the key to
    /// registered enclaves that may hold it. The first valid distribution of an epoch
    /// makes it (epoch 0, or the one after the latest); a later one is a grant by an
    /// enclave that holds the key, adding wraps for enclaves that had none.
    pub(super) fn check_key_distribution(
        &self,
        state: &mut BlockState<'_>,
        d: &KeyDistribution,
        version: Version,
        writes: &mut Vec<StateWrite>,
    ) -> Result<ValidationCode, LedgerError> {
        let refuse = |why: &str| {
            tracing::warn!(scope = %d.scope, epoch = d.epoch, "key distribution refused: {why}");
            Ok(ValidationCode::InvalidKeyDistribution)
        };
        let Some(def) = state.definition(d.scope.namespace())? else {
            return refuse("the chaincode is not committed");
        };
        // A collection key goes only to (and comes only from) member organisations'
        // enclaves; a chaincode key to every registered enclave.
        let members = match &d.scope {
            KeyScope::Chaincode { .. } => None,
            KeyScope::Collection { collection, .. } => match self.collection_config(&def, collection) {
                Some(config) => Some(config.members()),
                None => return refuse("the chaincode has no such collection"),
            },
        };
        let is_member = |org: &str| members.as_ref().is_none_or(|m| m.contains(org));
        if d.public_key.is_none() {
            return refuse("a key needs its public key");
        }
        let Some(signer) = registered(state, &d.enclave)? else {
            return refuse("the distributing enclave is not registered");
        };
        if !is_member(&signer.registration.org) {
            return refuse("the distributing enclave's organisation is not a member of the collection");
        }
        let Ok(key) = teechain_crypto::VerifyingKey::from_bytes(&signer.registration.keys.signing_key) else {
            return refuse("the distributing enclave's key is not usable");
        };
        if teechain_crypto::verify(&key, &d.statement(&self.channel).0, &d.signature).is_err() {
            return refuse("the enclave's signature does not verify");
        }
        if d.wraps.is_empty() {
            return refuse("it wraps the key to no enclave");
        }
        for (i, w) in d.wraps.iter().enumerate() {
            if d.wraps[..i].iter().any(|o| o.enclave == w.enclave) {
                return refuse("it wraps the key twice to one enclave");
            }
            // Every organisation of the channel may run a chaincode; only members hold a
            // collection's key.
            match registered(state, &w.enclave)? {
                None => return refuse("it wraps the key to an enclave that is not registered"),
                Some(r) if !is_member(&r.registration.org) => {
                    return refuse("it wraps a collection key to an enclave of a non-member organisation")
                }
                Some(_) => {}
            }
        }
        let key_key = key_state_key(&d.scope, d.epoch);
        let record = match state.get(KEYS_NAMESPACE, &key_key)? {
            None => {
                if let Some(prev) = d.epoch.checked_sub(1) {
                    if state.get(KEYS_NAMESPACE, &key_state_key(&d.scope, prev))?.is_none() {
                        return refuse("the epoch does not follow the latest one");
                    }
                    // A later epoch only on an admin's request.
                    let requested = state.get(KEYS_NAMESPACE, &rotation_state_key(&d.scope))?;
                    if requested.map(|v| v.value) != Some(d.epoch.to_be_bytes().to_vec()) {
                        return refuse("no rotation to this epoch was requested");
                    }
                }
                KeyRecord {
                    scope: d.scope.clone(),
                    epoch: d.epoch,
                    public_key: d.public_key,
                    wraps: d.wraps.clone(),
                    made_by: d.enclave,
                    signature: d.signature,
                    first_wraps: d.wraps.len() as u32,
                    first_sealed_version: d.sealed_version,
                    made_at: version,
                }
            }
            Some(v) => {
                let mut record: KeyRecord = decode(&v.value, Limits::RECORD)
                    .map_err(|source| LedgerError::Corrupt { table: "state (keys)", source })?;
                if record.public_key != d.public_key {
                    return refuse("the epoch is taken by another key");
                }
                if !record.wraps.iter().any(|w| w.enclave == d.enclave) {
                    return refuse("the granting enclave does not hold the key");
                }
                if d.wraps.iter().any(|w| record.wraps.iter().any(|o| o.enclave == w.enclave)) {
                    return refuse("an enclave already holds the key");
                }
                record.wraps.extend(d.wraps.iter().cloned());
                record
            }
        };
        let value = encode(&record);
        state.write(KEYS_NAMESPACE, &key_key, Some(value.clone()));
        writes.push(StateWrite { namespace: KEYS_NAMESPACE.to_string(), key: key_key, value: Some(value), version });
        // The enclave's sealed key store is at least this version from now on.
        let vkey = sealed_version_key(&d.enclave);
        let known = state.get(KEYS_NAMESPACE, &vkey)?.and_then(|v| <[u8; 8]>::try_from(v.value.as_slice()).ok());
        if known.map(u64::from_be_bytes).is_none_or(|k| d.sealed_version > k) {
            let value = d.sealed_version.to_be_bytes().to_vec();
            state.write(KEYS_NAMESPACE, &vkey, Some(value.clone()));
            writes.push(StateWrite { namespace: KEYS_NAMESPACE.to_string(), key: vkey, value: Some(value), version });
        }
        Ok(ValidationCode::Valid)
    }

    /// A rotation request: by an organisation admin, for a key that exists, when no
    /// request is pending. It asks for the epoch after the latest.
    pub(super) fn check_rotation(
        &self,
        state: &mut BlockState<'_>,
        scope: &KeyScope,
        creator: &VerifiedIdentity,
        version: Version,
        writes: &mut Vec<StateWrite>,
    ) -> Result<ValidationCode, LedgerError> {
        if creator.role != Role::Admin {
            return Ok(ValidationCode::InvalidKeyDistribution);
        }
        if let KeyScope::Collection { namespace, collection } = scope {
            // Only an admin of a member organisation rotates a collection's key.
            let member = match state.definition(namespace)? {
                Some(def) => self.collection_config(&def, collection).is_some_and(|c| c.is_member(&creator.org)),
                None => false,
            };
            if !member {
                return Ok(ValidationCode::InvalidKeyDistribution);
            }
        }
        let mut latest = None;
        while state.get(KEYS_NAMESPACE, &key_state_key(scope, latest.map_or(0, |l: u32| l + 1)))?.is_some() {
            latest = Some(latest.map_or(0, |l| l + 1));
        }
        let Some(latest) = latest else {
            return Ok(ValidationCode::InvalidKeyDistribution);
        };
        let key = rotation_state_key(scope);
        if let Some(v) = state.get(KEYS_NAMESPACE, &key)? {
            if v.value == (latest + 1).to_be_bytes() {
                return Ok(ValidationCode::InvalidKeyDistribution);
            }
        }
        let value = (latest + 1).to_be_bytes().to_vec();
        state.write(KEYS_NAMESPACE, &key, Some(value.clone()));
        writes.push(StateWrite { namespace: KEYS_NAMESPACE.to_string(), key, value: Some(value), version });
        Ok(ValidationCode::Valid)
    }
}

/// A registered enclave, as committed or registered earlier in the block.
fn registered(state: &BlockState<'_>, id: &Hash32) -> Result<Option<RegisteredEnclave>, LedgerError> {
    match state.get(ENCLAVE_NAMESPACE, &enclave_state_key(id))? {
        None => Ok(None),
        Some(v) => Ok(Some(
            decode(&v.value, Limits::RECORD)
                .map_err(|source| LedgerError::Corrupt { table: "state (enclave registry)", source })?,
        )),
    }
}
