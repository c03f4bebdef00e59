//! Collection configs from JSON in the shape of Fabric's `collections_config.json`.

use anyhow::{Context, Result};
use serde::Deserialize;
use std::path::Path;
use teechain_types::collection::CollectionConfig;

/// A collection as Fabric's JSON spells it.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct FabricCollection {
    name: String,
    policy: String,
    #[serde(default)]
    required_peer_count: u32,
    max_peer_count: Option<u32>,
    #[serde(default)]
    block_to_live: u64,
    #[serde(default)]
    member_only_read: bool,
    #[serde(default)]
    member_only_write: bool,
    endorsement_policy: Option<EndorsementPolicyJson>,
}

/// Fabric nests the policy (`{"signaturePolicy": "..."}`); a plain string is accepted too.
#[derive(Deserialize)]
#[serde(untagged)]
enum EndorsementPolicyJson {
    Text(String),
    #[serde(rename_all = "camelCase")]
    Nested {
        signature_policy: String,
    },
}

/// Parses collection configs from JSON text.
pub(crate) fn parse(text: &str) -> Result<Vec<CollectionConfig>> {
    let raw: Vec<FabricCollection> = serde_json::from_str(text)?;
    Ok(raw
        .into_iter()
        .map(|c| CollectionConfig {
            max_peer_count: c.max_peer_count.unwrap_or(c.required_peer_count),
            name: c.name,
            member_policy: c.policy,
            required_peer_count: c.required_peer_count,
            block_to_live: c.block_to_live,
            member_only_read: c.member_only_read,
            member_only_write: c.member_only_write,
            endorsement_policy: c.endorsement_policy.map(|p| match p {
                EndorsementPolicyJson::Text(t) => t,
                EndorsementPolicyJson::Nested { signature_policy } => signature_policy,
            }),
        })
        .collect())
}

/// Reads collection configs from a JSON file.
pub(crate) fn load(path: &Path) -> Result<Vec<CollectionConfig>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    parse(&text).with_context(|| format!("collection config {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_fabrics_shape() {
        let c = parse(
            r#"[{"name":"org1org2","policy":"OR('org1.member','org2.member')","requiredPeerCount":1,
                "maxPeerCount":2,"blockToLive":5,"memberOnlyRead":true,"memberOnlyWrite":true,
                "endorsementPolicy":{"signaturePolicy":"AND('org1.member','org2.member')"}}]"#,
        )
        .unwrap();
        assert_eq!(c.len(), 1);
        assert_eq!((c[0].required_peer_count, c[0].max_peer_count, c[0].block_to_live), (1, 2, 5));
        assert!(c[0].member_only_read && c[0].member_only_write);
        assert_eq!(c[0].endorsement_policy.as_deref(), Some("AND('org1.member','org2.member')"));
    }

    #[test]
    fn refuses_unknown_fields_by_name() {
        let e = parse(r#"[{"name":"c","policy":"OR('org1.member')","requiredPeers":1}]"#).unwrap_err();
        assert!(format!("{e:#}").contains("requiredPeers"), "{e:#}");
    }
}
