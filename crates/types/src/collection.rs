//! Private data collections: which organisations share a chaincode's private data, and
//! how the shared ledger carries only keyed hashes of it.
//!
//! A chaincode definition declares collections ([`CollectionConfig`]); every channel
//! organisation also has an implicit collection (`_implicit_org_<org>`) in every
//! chaincode without declaring it. A private write appears in the public read-write set
//! as a [`crate::rwset::HashedWrite`]: the hash of the key ([`private_key_hash`]) and the
//! hash of the value under a per-write blinding factor ([`private_value_hash`]). The
//! value, with its blinding factor, travels only between member nodes
//! ([`CollectionPrivateWrites`]).

use crate::hash::{sha256_parts, Hash32, TxId};
use crate::policy::EndorsementPolicy;
use crate::rwset::Version;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// Prefix of the implicit per-organisation collections.
pub const IMPLICIT_COLLECTION_PREFIX: &str = "_implicit_org_";

/// The transient-map entry that carries a proposal's blinding secret: 32 random bytes
/// chosen by the client, from which every private write's blinding factor is derived.
/// Transient data never reaches the ledger, so a node that holds only the ledger cannot
/// test a guessed value against a hash; every endorser gets the same secret, so their
/// hashes agree.
pub const BLINDING_TRANSIENT_KEY: &str = "_teechain/blinding";

/// The shortest blinding secret accepted.
pub const MIN_BLINDING_SECRET: usize = 16;

/// A private data collection of a chaincode, as in Fabric's collection config.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CollectionConfig {
    /// Collection name, unique within the chaincode.
    pub name: String,
    /// Member organisations as a policy, e.g. `OR('org1.member','org2.member')`: the
    /// organisations the policy names are the members.
    pub member_policy: String,
    /// Member nodes (other than the endorser) that must acknowledge the private data
    /// before an endorsement is returned.
    pub required_peer_count: u32,
    /// The most member nodes the endorser sends the private data to.
    pub max_peer_count: u32,
    /// Blocks after its last write that a private value is kept; 0 keeps it forever.
    pub block_to_live: u64,
    /// Only clients of member organisations may read.
    pub member_only_read: bool,
    /// Only clients of member organisations may write.
    pub member_only_write: bool,
    /// Endorsement policy for transactions that write to this collection, replacing the
    /// chaincode's for those writes.
    pub endorsement_policy: Option<String>,
}

impl CollectionConfig {
    /// The implicit collection of `org`: its members are `org` alone; any client may
    /// write to it (a seller hands an asset to a buyer's collection), only members read.
    pub fn implicit(org: &str) -> CollectionConfig {
        CollectionConfig {
            name: implicit_collection_name(org),
            member_policy: format!("OR('{org}.member')"),
            required_peer_count: 0,
            max_peer_count: 1,
            block_to_live: 0,
            member_only_read: true,
            member_only_write: false,
            endorsement_policy: None,
        }
    }

    /// The member organisations (those the member policy names). Empty when the policy
    /// does not parse, which [`check_collections`] refuses.
    pub fn members(&self) -> BTreeSet<String> {
        EndorsementPolicy::parse(&self.member_policy).map(|p| p.orgs()).unwrap_or_default()
    }

    /// True when `org` is a member.
    pub fn is_member(&self, org: &str) -> bool {
        self.members().contains(org)
    }
}

/// The implicit collection name of `org`.
pub fn implicit_collection_name(org: &str) -> String {
    format!("{IMPLICIT_COLLECTION_PREFIX}{org}")
}

/// The organisation of an implicit collection name.
pub fn implicit_collection_org(name: &str) -> Option<&str> {
    name.strip_prefix(IMPLICIT_COLLECTION_PREFIX).filter(|o| !o.is_empty())
}

/// A collection config that is not acceptable, with the field at fault.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("collection '{collection}': {field}: {message}")]
pub struct CollectionConfigError {
    /// The collection's name as given.
    pub collection: String,
    /// The field at fault, as in the JSON config (`name`, `policy`, `requiredPeerCount`,
    /// `maxPeerCount`, `endorsementPolicy`).
    pub field: &'static str,
    /// What is wrong.
    pub message: String,
}

/// Checks a chaincode's declared collections against the channel's organisations.
pub fn check_collections(
    collections: &[CollectionConfig],
    channel_orgs: &[String],
) -> Result<(), CollectionConfigError> {
    let mut names = BTreeSet::new();
    for c in collections {
        let err = |field, message: String| CollectionConfigError { collection: c.name.clone(), field, message };
        if c.name.is_empty() || c.name.len() > 64 {
            return Err(err("name", format!("must be 1 to 64 characters, got {}", c.name.len())));
        }
        if c.name.starts_with('_') {
            return Err(err("name", "names starting with '_' are reserved (implicit collections)".into()));
        }
        if let Some(ch) = c.name.chars().find(|ch| !(ch.is_ascii_alphanumeric() || *ch == '_' || *ch == '-')) {
            return Err(err("name", format!("contains '{ch}': use letters, digits, '_' and '-'")));
        }
        if !names.insert(c.name.as_str()) {
            return Err(err("name", "declared twice".into()));
        }
        let policy = EndorsementPolicy::parse(&c.member_policy).map_err(|e| err("policy", e.to_string()))?;
        let members = policy.orgs();
        if let Some(unknown) = members.iter().find(|o| !channel_orgs.contains(o)) {
            return Err(err("policy", format!("names organisation '{unknown}', which is not in the channel")));
        }
        if c.max_peer_count < c.required_peer_count {
            return Err(err(
                "maxPeerCount",
                format!("{} is below requiredPeerCount {}", c.max_peer_count, c.required_peer_count),
            ));
        }
        if let Some(ep) = &c.endorsement_policy {
            let ep = EndorsementPolicy::parse(ep).map_err(|e| err("endorsementPolicy", e.to_string()))?;
            if let Some(unknown) = ep.orgs().iter().find(|o| !channel_orgs.contains(o)) {
                return Err(err("endorsementPolicy", format!("names organisation '{unknown}', not in the channel")));
            }
        }
    }
    Ok(())
}

/// The hash under which a private key appears on the ledger. Unkeyed, as in Fabric, so
/// that a non-member can address a key it is told (`get_private_data_hash`) and every
/// node can check versions; private data keys are identifiers, the values are secret.
pub fn private_key_hash(namespace: &str, collection: &str, key: &[u8]) -> Hash32 {
    sha256_parts(&[b"teechain/pvt-key", namespace.as_bytes(), collection.as_bytes(), key])
}

/// The key hash under which hashed state keeps a collection's write marker: every valid
/// transaction that writes to the collection sets it to its version (value hash
/// [`Hash32::ZERO`]). A private range query records a hashed read of it, so a key added
/// to or removed from the collection after the query, which a validator without the
/// plaintext keys could not place in the range, makes the transaction invalid. No
/// [`private_key_hash`] collides with it: the domains differ.
pub fn collection_marker_hash(namespace: &str, collection: &str) -> Hash32 {
    sha256_parts(&[b"teechain/pvt-collection-marker", namespace.as_bytes(), collection.as_bytes()])
}

/// The blinding factor of one private write, derived from the proposal's blinding
/// secret, so every endorser of the proposal derives the same one and nobody without
/// the secret can.
pub fn blinding_factor(secret: &[u8], tx_id: &TxId, namespace: &str, collection: &str, key: &[u8]) -> Hash32 {
    sha256_parts(&[b"teechain/pvt-blind", secret, &tx_id.0, namespace.as_bytes(), collection.as_bytes(), key])
}

/// The hash under which a private value appears on the ledger: a commitment to the value
/// under its blinding factor. Showing `(value, blind)` proves the value to anyone
/// holding the ledger; the hash alone does not let them test guesses.
pub fn private_value_hash(blind: &Hash32, value: &[u8]) -> Hash32 {
    sha256_parts(&[b"teechain/pvt-value", &blind.0, value])
}

/// SHA-256 of a sealed private value, as the public read-write set records it
/// ([`crate::rwset::HashedWrite::sealed_hash`]).
pub fn sealed_value_hash(sealed: &[u8]) -> Hash32 {
    sha256_parts(&[b"teechain/pvt-sealed", sealed])
}

/// A collection's keys, as an enclave hands them to the simulator to seal and open
/// private values with. Debug output shows epochs only.
#[derive(Clone, PartialEq, Eq)]
pub struct CollectionSealing {
    /// The epoch new values are sealed under (the latest).
    pub epoch: u32,
    /// That epoch's X25519 public key, which every enclave may seal to.
    pub public_key: [u8; 32],
    /// The X25519 secrets of the epochs this enclave holds: only enclaves of the
    /// collection's member organisations hold any.
    pub secrets: Vec<(u32, [u8; 32])>,
    /// A secret every enclave running the chaincode holds (derived from its chaincode
    /// key): blinding factors and the ephemeral keys of sealed values derive from it, so
    /// that endorsers of one proposal seal identically and no host predicts either.
    pub derivation: [u8; 32],
}

impl CollectionSealing {
    /// The secret of `epoch`, if this enclave holds it.
    pub fn secret(&self, epoch: u32) -> Option<&[u8; 32]> {
        self.secrets.iter().find(|(e, _)| *e == epoch).map(|(_, s)| s)
    }
}

impl std::fmt::Debug for CollectionSealing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CollectionSealing")
            .field("epoch", &self.epoch)
            .field("held_epochs", &self.secrets.iter().map(|(e, _)| *e).collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// One private write as member nodes receive and store it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrivateWrite {
    /// The key.
    pub key: Vec<u8>,
    /// The value (sealed, when written inside an enclave), or `None` for a delete or
    /// purge.
    pub value: Option<Vec<u8>>,
    /// Its blinding factor (zero for deletes, and for sealed values, which carry it
    /// inside).
    pub blind: Hash32,
    /// True for an explicit purge: the key's value and history go from member nodes.
    pub purge: bool,
}

/// The private writes of one transaction to one collection, sorted by key hash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CollectionPrivateWrites {
    /// Chaincode namespace.
    pub namespace: String,
    /// Collection.
    pub collection: String,
    /// The writes.
    pub writes: Vec<PrivateWrite>,
}

/// What an endorser disseminates for one transaction: its private writes per collection.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxPrivateData {
    /// The transaction.
    pub tx_id: TxId,
    /// Per collection, sorted by (namespace, collection).
    pub collections: Vec<CollectionPrivateWrites>,
}

/// A committed private value as a member node holds it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrivateValue {
    /// The value (sealed, when written inside an enclave: the blinding factor is then
    /// inside it and `blind` is zero).
    pub value: Vec<u8>,
    /// Its blinding factor: with the value, the opening of the on-ledger hash.
    pub blind: Hash32,
    /// The version that wrote it.
    pub version: Version,
}

/// The on-ledger (hashed) view of a private key, which every node holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HashedValue {
    /// [`private_value_hash`] of the current value.
    pub value_hash: Hash32,
    /// The version that wrote it.
    pub version: Version,
}

/// A collection as an endorsing node sees it: its config, its members, and whether the
/// node itself is one (only members hold values).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CollectionAccess {
    /// The config (implicit collections included).
    pub config: CollectionConfig,
    /// The member organisations.
    pub members: BTreeSet<String>,
    /// True when the node answering belongs to a member organisation.
    pub node_is_member: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn orgs() -> Vec<String> {
        vec!["org1".into(), "org2".into(), "org3".into()]
    }

    fn config() -> CollectionConfig {
        CollectionConfig {
            name: "org1org2".into(),
            member_policy: "OR('org1.member','org2.member')".into(),
            required_peer_count: 1,
            max_peer_count: 2,
            block_to_live: 0,
            member_only_read: true,
            member_only_write: true,
            endorsement_policy: None,
        }
    }

    #[test]
    fn a_good_config_passes_and_names_its_members() {
        check_collections(&[config()], &orgs()).unwrap();
        assert_eq!(config().members().into_iter().collect::<Vec<_>>(), vec!["org1", "org2"]);
        assert!(!config().is_member("org3"));
    }

    #[test]
    fn each_bad_field_is_named() {
        let cases: Vec<(CollectionConfig, &str)> = vec![
            (CollectionConfig { name: "".into(), ..config() }, "name"),
            (CollectionConfig { name: "_x".into(), ..config() }, "name"),
            (CollectionConfig { name: "a b".into(), ..config() }, "name"),
            (CollectionConfig { member_policy: "OR(".into(), ..config() }, "policy"),
            (CollectionConfig { member_policy: "OR('org9.member')".into(), ..config() }, "policy"),
            (CollectionConfig { max_peer_count: 0, ..config() }, "maxPeerCount"),
            (CollectionConfig { endorsement_policy: Some("AND(".into()), ..config() }, "endorsementPolicy"),
        ];
        for (c, field) in cases {
            let e = check_collections(std::slice::from_ref(&c), &orgs()).unwrap_err();
            assert_eq!(e.field, field, "{c:?}: {e}");
        }
        let e = check_collections(&[config(), config()], &orgs()).unwrap_err();
        assert_eq!((e.field, e.message.as_str()), ("name", "declared twice"));
    }

    #[test]
    fn implicit_collections_belong_to_one_org() {
        let c = CollectionConfig::implicit("org2");
        assert_eq!(c.name, "_implicit_org_org2");
        assert_eq!(implicit_collection_org(&c.name), Some("org2"));
        assert!(c.is_member("org2") && !c.is_member("org1"));
        assert_eq!(implicit_collection_org("_implicit_org_"), None);
    }

    #[test]
    fn value_hashes_depend_on_the_blind() {
        let tx = Hash32([7; 32]);
        let b1 = blinding_factor(b"secret-one-16byte", &tx, "pay", "c", b"k");
        let b2 = blinding_factor(b"secret-two-16byte", &tx, "pay", "c", b"k");
        assert_ne!(b1, b2);
        assert_ne!(private_value_hash(&b1, b"90"), private_value_hash(&b2, b"90"));
        assert_eq!(private_value_hash(&b1, b"90"), private_value_hash(&b1, b"90"));
        assert_ne!(private_key_hash("pay", "c", b"k"), private_key_hash("pay", "d", b"k"));
    }
}
