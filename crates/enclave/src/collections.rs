//! Collection data keys inside the enclave: what the simulator seals private values
//! with. Every enclave running a chaincode seals to a collection's public key; only the
//! enclaves of member organisations hold the secrets that open.

use crate::enclave::{Enclave, OcallState};
use crate::protocol::FailureKind;
use teechain_types::codec::{decode, Limits};
use teechain_types::collection::{CollectionAccess, CollectionSealing};
use teechain_types::keys::{key_state_key, KeyRecord, KeyScope, KEYS_NAMESPACE};
use teechain_types::state::{StateError, StateView};

impl Enclave {
    /// The keys of `collection` of chaincode `namespace`: every epoch on the ledger, the
    /// latest to seal with, and (for a member) the secrets this enclave holds. Epochs
    /// already seen cost nothing; finding out whether a newer one exists costs one ocall.
    /// A failure says whether keys are missing (not distributed or granted yet: worth a
    /// retry) or something else went wrong.
    pub(crate) fn collection_sealing(
        &self,
        state: &OcallState<'_>,
        namespace: &str,
        collection: &str,
        access: &CollectionAccess,
        derivation: [u8; 32],
    ) -> Result<CollectionSealing, (StateError, bool)> {
        let other = |e: StateError| (e, false);
        let member = access.node_is_member;
        let scope = KeyScope::Collection { namespace: namespace.to_string(), collection: collection.to_string() };
        let mut secrets = Vec::new();
        let mut latest = None;
        for epoch in 0u32.. {
            let cached = self
                .public_keys
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .get(&(scope.clone(), epoch))
                .map(|k| k.public_key);
            let held = if member { self.keys.get(&scope, epoch) } else { None };
            let (public_key, secret) = match (cached, held) {
                (Some(pk), Some(secret)) => (pk, Some(secret)),
                (Some(pk), None) if !member => (pk, None),
                _ => {
                    let Some(v) = state.get(KEYS_NAMESPACE, &key_state_key(&scope, epoch)).map_err(other)? else {
                        break;
                    };
                    let record: KeyRecord = decode(&v.value, Limits::RECORD)
                        .map_err(|e| other(StateError(format!("the {scope} record does not decode: {e}"))))?;
                    // Sealed to only once it proves genuine and made by a member's enclave:
                    // a key the host made up would let it read every value sealed to it.
                    let verified = self
                        .verified_public_key(&scope, epoch, &record, state)
                        .map_err(|(_, e)| other(StateError(e)))?;
                    if !access.members.contains(&verified.maker_org) {
                        return Err(other(StateError(format!(
                            "the {scope} (epoch {epoch}) was made by an enclave of {}, not a member",
                            verified.maker_org
                        ))));
                    }
                    let secret = if member {
                        Some(self.key(&scope, epoch, &record, state).map_err(|(kind, e)| {
                            let e = format!(
                                "this enclave has not been given the {scope} (epoch {epoch}) yet: {e}; the \
                                 key keepers grant it shortly"
                            );
                            (StateError(e), kind == FailureKind::KeyUnavailable)
                        })?)
                    } else {
                        None
                    };
                    (verified.public_key, secret)
                }
            };
            if let Some(secret) = secret {
                secrets.push((epoch, *secret));
            }
            latest = Some((epoch, public_key));
        }
        let (epoch, public_key) = latest.ok_or_else(|| {
            let e = format!(
                "collection '{collection}' of chaincode '{namespace}' has no data key yet: the enclaves of its \
                 members distribute one once the chaincode is committed; retry shortly"
            );
            (StateError(e), true)
        })?;
        Ok(CollectionSealing { epoch, public_key, secrets, derivation })
    }
}
