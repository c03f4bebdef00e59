//! Chaincode lifecycle rules, as in Fabric: each organisation's admin approves a
//! definition; a definition commits once the approvals satisfy the channel's lifecycle
//! policy (a majority of organisations). Approvals and definitions live in world state
//! under the [`NAMESPACE`] namespace, so they replicate and version like any state.

use teechain_types::chaincode::{decode_definition, definition_state_key, ChaincodeDefinition, LIFECYCLE_NAMESPACE};
use teechain_types::codec::encode;
use teechain_types::collection::check_collections;
use teechain_types::policy::EndorsementPolicy;
use teechain_types::state::{StateError, StateView};
use teechain_types::{sha256, Hash32};

/// The lifecycle's state namespace.
pub const NAMESPACE: &str = LIFECYCLE_NAMESPACE;

/// State key of a committed definition.
pub fn definition_key(name: &str) -> Vec<u8> {
    definition_state_key(name)
}

/// State key of one organisation's approval of `(name, sequence)`; its value is the
/// [`definition_hash`] approved.
pub fn approval_key(name: &str, sequence: u64, org: &str) -> Vec<u8> {
    format!("approval/{name}/{sequence}/{org}").into_bytes()
}

/// The hash that identifies a definition in approvals.
pub fn definition_hash(def: &ChaincodeDefinition) -> Hash32 {
    sha256(&encode(def))
}

/// Checks that a chaincode name is usable as a state namespace: 1 to 64 characters of
/// `[A-Za-z0-9_-]`, not starting with `_` (reserved for the system).
pub fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 64 {
        return Err(format!("chaincode name must be 1 to 64 characters, got {}", name.len()));
    }
    if name.starts_with('_') {
        return Err(format!("chaincode name '{name}' is reserved: names starting with '_' belong to the system"));
    }
    if let Some(c) = name.chars().find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-')) {
        return Err(format!("chaincode name '{name}' contains '{c}': use letters, digits, '_' and '-'"));
    }
    Ok(())
}

/// Checks a definition against the channel's organisations: name, sequence, policy
/// syntax, and its collections ([`check_collections`], whose message names the field at
/// fault). Returns its policy. The validator marks a definition that fails it
/// `LIFECYCLE_INVALID`; the CLI calls it before approving, to refuse early.
pub fn check_definition(def: &ChaincodeDefinition, channel_orgs: &[String]) -> Result<EndorsementPolicy, String> {
    check_name(&def.name)?;
    if def.sequence == 0 {
        return Err("sequence starts at 1".into());
    }
    let policy = EndorsementPolicy::parse(&def.endorsement_policy).map_err(|e| format!("endorsement policy: {e}"))?;
    check_collections(&def.collections, channel_orgs).map_err(|e| format!("collections: {e}"))?;
    Ok(policy)
}

/// The committed definition of `name`, if any.
pub fn committed_definition(view: &dyn StateView, name: &str) -> Result<Option<ChaincodeDefinition>, StateError> {
    match view.get(NAMESPACE, &definition_key(name))? {
        Some(v) => decode_definition(&v.value)
            .map(Some)
            .map_err(|e| StateError(format!("corrupt chaincode definition of '{name}': {e}"))),
        None => Ok(None),
    }
}
