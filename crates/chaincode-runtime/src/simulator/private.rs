//! Private data collections in the simulator: the access rules of `docs/PRIVATE_DATA.md`,
//! hashed reads and writes, read-your-writes, and the blinded value commitments.
//!
//! | call | unknown collection | client not member, `memberOnlyRead` | client not member, `memberOnlyWrite` | node not member |
//! |---|---|---|---|---|
//! | get, range, opening | refused | refused | – | refused ("holds only hashes") |
//! | put, del, purge | refused | – | refused | allowed (blind write) |
//! | hash | refused | allowed | – | allowed |
//!
//! A refusal is a [`PrivateError::Refused`], which the host function hands the guest as
//! a `HOST_ERROR` with the message; it never carries a value.

use std::collections::btree_map::Entry;
use std::collections::BTreeMap;

use teechain_types::chaincode::abi::{MAX_KEY_BYTES, MAX_VALUE_BYTES};
use teechain_types::chaincode::InvocationContext;
use teechain_types::collection::{
    blinding_factor, collection_marker_hash, private_key_hash, private_value_hash, sealed_value_hash,
    CollectionPrivateWrites, CollectionSealing, HashedValue, PrivateValue, PrivateWrite, BLINDING_TRANSIENT_KEY,
    MIN_BLINDING_SECRET,
};
use teechain_types::hash::Hash32;
use teechain_types::keys::KeyScope;
use teechain_types::rwset::{in_range, CollectionHashedRwSet, HashedRead, HashedWrite, MAX_RANGE_RESULTS};
use teechain_types::state::StateError;

use super::sealed;
use super::{check_len, KvPairs, TxSimulator, MAX_WRITE_SET_BYTES, PRIVATE_WRITE_OVERHEAD};
use crate::RuntimeError;

/// Why a private-data call did not succeed.
#[derive(Debug)]
pub(crate) enum PrivateError {
    /// The call is not allowed (or the collection does not exist): the guest gets a
    /// `HOST_ERROR` with this message and may carry on.
    Refused(String),
    /// The execution ends with this error (a state read failed, a limit was exceeded).
    Fatal(RuntimeError),
}

impl From<RuntimeError> for PrivateError {
    fn from(e: RuntimeError) -> Self {
        PrivateError::Fatal(e)
    }
}

impl From<StateError> for PrivateError {
    fn from(e: StateError) -> Self {
        PrivateError::Fatal(RuntimeError::State(e))
    }
}

/// What a private-data call does, for the access rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    /// get, range, opening: needs the value.
    Read,
    /// put, del, purge.
    Write,
    /// hash: only the on-ledger hash.
    Hash,
}

/// Where a private write's blinding factor comes from.
enum Blinding<'a> {
    /// The collection's keys (inside an enclave): the value is sealed too.
    Sealed(CollectionSealing),
    /// The client's transient secret (outside an enclave): the value stays plain.
    Secret(&'a [u8]),
}

/// A pending private write.
#[derive(Clone, Debug)]
struct PendingWrite {
    key_hash: Hash32,
    /// `None` deletes (or purges).
    value: Option<Vec<u8>>,
    /// Zero for deletes.
    blind: Hash32,
    /// [`private_value_hash`] of the value, `None` for deletes.
    value_hash: Option<Hash32>,
    /// The value sealed for member nodes, when the collection is sealed.
    sealed: Option<Vec<u8>>,
    purge: bool,
}

impl PendingWrite {
    /// Bytes it counts against the write-set budget.
    fn budget(&self, key: &[u8]) -> usize {
        key.len() + self.sealed.as_ref().or(self.value.as_ref()).map_or(0, Vec::len) + PRIVATE_WRITE_OVERHEAD
    }
}

/// What one invocation did to one collection.
#[derive(Default)]
pub(crate) struct PrivateColl {
    /// On-ledger hashes read, by key hash (`None`: absent): the recorded reads.
    hashed: BTreeMap<Hash32, Option<HashedValue>>,
    /// Committed values fetched, by key (`None`: absent, or expired by `blockToLive`).
    values: BTreeMap<Vec<u8>, Option<PrivateValue>>,
    /// Pending writes, by key.
    writes: BTreeMap<Vec<u8>, PendingWrite>,
    /// The collection's keys, once looked up (`Some(None)`: values stay plain).
    sealing: Option<Option<CollectionSealing>>,
}

fn refused(message: String) -> PrivateError {
    PrivateError::Refused(message)
}

/// The proposal's blinding secret, from the transient map.
fn blinding_secret(ctx: &InvocationContext) -> Result<&[u8], PrivateError> {
    ctx.transient
        .iter()
        .find(|(name, _)| name == BLINDING_TRANSIENT_KEY)
        .map(|(_, secret)| secret.as_slice())
        .filter(|secret| secret.len() >= MIN_BLINDING_SECRET)
        .ok_or_else(|| {
            refused(format!(
                "private writes need a blinding secret in the transient map: an entry \
                 '{BLINDING_TRANSIENT_KEY}' of at least {MIN_BLINDING_SECRET} random bytes"
            ))
        })
}

impl TxSimulator<'_> {
    /// Applies the access rules to `op` on `collection` by the caller of `ctx`.
    fn check_access(&mut self, ctx: &InvocationContext, collection: &str, op: Op) -> Result<(), PrivateError> {
        let ns = self.namespace;
        let access = match self.collections.entry(collection.to_string()) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => match self.state.collection(ns, collection)? {
                Some(access) => e.insert(access),
                None => return Err(refused(format!("chaincode '{ns}' has no collection '{collection}'"))),
            },
        };
        let client = ctx.caller.org.as_str();
        let client_is_member = access.members.contains(client);
        match op {
            Op::Read => {
                if !client_is_member && access.config.member_only_read {
                    return Err(refused(format!(
                        "collection '{collection}' of chaincode '{ns}': {client} is not a member and the \
                         collection is memberOnlyRead"
                    )));
                }
                if !access.node_is_member {
                    return Err(refused(format!(
                        "this node's organisation is not a member of collection '{collection}' of chaincode \
                         '{ns}'; it holds only hashes"
                    )));
                }
            }
            Op::Write => {
                if !client_is_member && access.config.member_only_write {
                    return Err(refused(format!(
                        "collection '{collection}' of chaincode '{ns}': {client} is not a member and the \
                         collection is memberOnlyWrite"
                    )));
                }
            }
            Op::Hash => {}
        }
        Ok(())
    }

    /// The pending write of `key` in `collection`, if this invocation wrote it.
    fn pending(&self, collection: &str, key: &[u8]) -> Option<&PendingWrite> {
        self.private.get(collection).and_then(|c| c.writes.get(key))
    }

    /// The collection's sealing keys (looked up once per invocation).
    fn sealing(&mut self, collection: &str) -> Result<Option<CollectionSealing>, StateError> {
        if let Some(s) = self.private.get(collection).and_then(|c| c.sealing.as_ref()) {
            return Ok(s.clone());
        }
        let s = self.state.collection_sealing(self.namespace, collection)?;
        self.private.entry(collection.to_string()).or_default().sealing = Some(s.clone());
        Ok(s)
    }

    /// A committed value as this node stores it, opened when sealed.
    fn unseal(&mut self, collection: &str, key: &[u8], v: PrivateValue) -> Result<PrivateValue, StateError> {
        match self.sealing(collection)? {
            None => Ok(v),
            Some(s) => {
                let (blind, value) = sealed::open(&s, self.namespace, collection, key, &v.value)
                    .map_err(|e| StateError(format!("private data of chaincode '{}': {e}", self.namespace)))?;
                Ok(PrivateValue { value, blind, version: v.version })
            }
        }
    }

    /// The committed on-ledger hash of `key_hash`, read once and recorded.
    fn committed_hash(&mut self, collection: &str, key_hash: Hash32) -> Result<Option<HashedValue>, StateError> {
        let coll = self.private.entry(collection.to_string()).or_default();
        if let Some(hashed) = coll.hashed.get(&key_hash) {
            return Ok(*hashed);
        }
        let hashed = self.state.private_hash(self.namespace, collection, &key_hash)?;
        coll.hashed.insert(key_hash, hashed);
        Ok(hashed)
    }

    /// The committed value of `key`: its hashed read is recorded, and the value the node
    /// holds must open the on-ledger hash at the same version.
    fn committed_value(&mut self, collection: &str, key: &[u8]) -> Result<Option<PrivateValue>, StateError> {
        if let Some(value) = self.private.get(collection).and_then(|c| c.values.get(key)) {
            return Ok(value.clone());
        }
        let ns = self.namespace;
        let key_hash = private_key_hash(ns, collection, key);
        let value = match self.committed_hash(collection, key_hash)? {
            // The hashed state is canonical: no hash, no value.
            None => None,
            Some(hashed) => match self
                .state
                .private_get(ns, collection, key)?
                .map(|v| self.unseal(collection, key, v))
                .transpose()?
            {
                // Expired (blockToLive): the hash stays, the value is gone.
                None => None,
                Some(v)
                    if v.version == hashed.version && private_value_hash(&v.blind, &v.value) == hashed.value_hash =>
                {
                    Some(v)
                }
                Some(v) => {
                    return Err(StateError(format!(
                        "private data of a key in collection '{collection}' of chaincode '{ns}' (version {}:{}) \
                         does not match its on-ledger hash (version {}:{})",
                        v.version.block, v.version.tx, hashed.version.block, hashed.version.tx
                    )))
                }
            },
        };
        self.private.entry(collection.to_string()).or_default().values.insert(key.to_vec(), value.clone());
        Ok(value)
    }

    /// The value of `key` in `collection` and its blinding factor, as this invocation
    /// sees it (pending writes first).
    fn read_private(
        &mut self,
        ctx: &InvocationContext,
        collection: &str,
        key: &[u8],
    ) -> Result<Option<(Vec<u8>, Hash32)>, PrivateError> {
        check_len("key", key.len(), MAX_KEY_BYTES)?;
        self.check_access(ctx, collection, Op::Read)?;
        if let Some(w) = self.pending(collection, key) {
            return Ok(w.value.clone().map(|v| (v, w.blind)));
        }
        Ok(self.committed_value(collection, key)?.map(|v| (v.value, v.blind)))
    }

    /// The private value of `key` in `collection`.
    pub(crate) fn private_get(
        &mut self,
        ctx: &InvocationContext,
        collection: &str,
        key: &[u8],
    ) -> Result<Option<Vec<u8>>, PrivateError> {
        Ok(self.read_private(ctx, collection, key)?.map(|(value, _)| value))
    }

    /// The private value of `key` in `collection` with its blinding factor: the opening
    /// of its on-ledger hash.
    pub(crate) fn private_opening(
        &mut self,
        ctx: &InvocationContext,
        collection: &str,
        key: &[u8],
    ) -> Result<Option<(Vec<u8>, Hash32)>, PrivateError> {
        self.read_private(ctx, collection, key)
    }

    /// The on-ledger hash of the value of `key` in `collection` (of the pending value
    /// after a write in this invocation).
    pub(crate) fn private_hash(
        &mut self,
        ctx: &InvocationContext,
        collection: &str,
        key: &[u8],
    ) -> Result<Option<Hash32>, PrivateError> {
        check_len("key", key.len(), MAX_KEY_BYTES)?;
        self.check_access(ctx, collection, Op::Hash)?;
        if let Some(w) = self.pending(collection, key) {
            return Ok(w.value_hash);
        }
        let key_hash = private_key_hash(self.namespace, collection, key);
        Ok(self.committed_hash(collection, key_hash)?.map(|h| h.value_hash))
    }

    /// Keys in `[start, end)` (empty `end`: unbounded) of `collection` with their values,
    /// merged with the pending writes. Records a hashed read of every committed key
    /// returned and of the collection's write marker ([`collection_marker_hash`]), so a
    /// write to the collection between simulation and commit invalidates the
    /// transaction. Fails when committed state holds more than [`MAX_RANGE_RESULTS`] keys
    /// in the range.
    pub(crate) fn private_range(
        &mut self,
        ctx: &InvocationContext,
        collection: &str,
        start: &[u8],
        end: &[u8],
    ) -> Result<KvPairs, PrivateError> {
        check_len("range start", start.len(), MAX_KEY_BYTES)?;
        check_len("range end", end.len(), MAX_KEY_BYTES)?;
        self.check_access(ctx, collection, Op::Read)?;
        let ns = self.namespace;
        self.committed_hash(collection, collection_marker_hash(ns, collection))?;
        let committed = self.state.private_range(ns, collection, start, end, MAX_RANGE_RESULTS + 1)?;
        if committed.len() > MAX_RANGE_RESULTS {
            return Err(RuntimeError::TooLarge {
                what: "private range query result (keys)",
                len: committed.len(),
                limit: MAX_RANGE_RESULTS,
            }
            .into());
        }
        let mut merged: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
        for (key, v) in committed {
            let v = self.unseal(collection, &key, v)?;
            let coll = self.private.entry(collection.to_string()).or_default();
            if !in_range(&key, start, end) {
                return Err(StateError(format!(
                    "private range query of collection '{collection}' of chaincode '{ns}' returned a key \
                     outside the range"
                ))
                .into());
            }
            let key_hash = private_key_hash(ns, collection, &key);
            let hashed = HashedValue { value_hash: private_value_hash(&v.blind, &v.value), version: v.version };
            coll.hashed.entry(key_hash).or_insert(Some(hashed));
            merged.insert(key, v.value);
        }
        let coll = self.private.entry(collection.to_string()).or_default();
        for (key, pending) in coll.writes.iter().filter(|(k, _)| in_range(k, start, end)) {
            match &pending.value {
                Some(v) => merged.insert(key.clone(), v.clone()),
                None => merged.remove(key),
            };
        }
        Ok(merged.into_iter().collect())
    }

    /// Buffers a private write of `key` in `collection`: `Some(value)` puts, `None`
    /// deletes (`purge`: and removes the key's history from member nodes).
    /// `extra_bytes` (events) count against the same budget of [`MAX_WRITE_SET_BYTES`].
    pub(crate) fn private_write(
        &mut self,
        ctx: &InvocationContext,
        collection: &str,
        key: &[u8],
        value: Option<&[u8]>,
        purge: bool,
        extra_bytes: usize,
    ) -> Result<(), PrivateError> {
        check_len("key", key.len(), MAX_KEY_BYTES)?;
        if let Some(v) = value {
            check_len("value", v.len(), MAX_VALUE_BYTES)?;
        }
        self.check_access(ctx, collection, Op::Write)?;
        // Sealed values carry a blind derived inside the enclave; plain ones one derived
        // from the client's secret.
        let blinding = match self.sealing(collection)? {
            Some(s) => Blinding::Sealed(s),
            None => Blinding::Secret(blinding_secret(ctx)?),
        };
        let ns = self.namespace;
        if let (Blinding::Sealed(s), Some(_)) = (&blinding, value) {
            let scope = KeyScope::Collection { namespace: ns.to_string(), collection: collection.to_string() };
            self.sealed_under(scope, s.epoch, s.public_key);
        }
        let write = match value {
            Some(v) => {
                let (blind, sealed) = match &blinding {
                    Blinding::Sealed(s) => {
                        let blind = sealed::blind(s, &ctx.tx_id, ns, collection, key);
                        let sealed = sealed::seal(s, &ctx.tx_id, ns, collection, key, &blind, v)
                            .map_err(|e| PrivateError::Fatal(RuntimeError::State(StateError(e))))?;
                        (blind, Some(sealed))
                    }
                    Blinding::Secret(secret) => (blinding_factor(secret, &ctx.tx_id, ns, collection, key), None),
                };
                PendingWrite {
                    key_hash: private_key_hash(ns, collection, key),
                    value: Some(v.to_vec()),
                    blind,
                    value_hash: Some(private_value_hash(&blind, v)),
                    sealed,
                    purge: false,
                }
            }
            None => PendingWrite {
                key_hash: private_key_hash(ns, collection, key),
                value: None,
                blind: Hash32::ZERO,
                value_hash: None,
                sealed: None,
                purge,
            },
        };
        let old = self.pending(collection, key).map_or(0, |w| w.budget(key));
        let total = self.write_bytes - old + write.budget(key);
        if total + extra_bytes > MAX_WRITE_SET_BYTES {
            return Err(RuntimeError::TooLarge {
                what: "write set",
                len: total + extra_bytes,
                limit: MAX_WRITE_SET_BYTES,
            }
            .into());
        }
        self.write_bytes = total;
        self.private.entry(collection.to_string()).or_default().writes.insert(key.to_vec(), write);
        Ok(())
    }
}

/// The hashed read-write sets of the collections touched and the private writes behind
/// them (see [`TxSimulator::into_parts`]).
pub(super) fn finish(
    namespace: &str,
    private: BTreeMap<String, PrivateColl>,
) -> (Vec<CollectionHashedRwSet>, Vec<CollectionPrivateWrites>) {
    let mut hashed_sets = Vec::new();
    let mut private_writes = Vec::new();
    for (collection, coll) in private {
        let reads: Vec<HashedRead> = coll
            .hashed
            .into_iter()
            .map(|(key_hash, hashed)| HashedRead {
                key_hash,
                version: hashed.map(|h| h.version),
                value_hash: hashed.map(|h| h.value_hash),
            })
            .collect();
        let mut writes: Vec<(Vec<u8>, PendingWrite)> = coll.writes.into_iter().collect();
        writes.sort_by_key(|(_, w)| w.key_hash);
        let hashed_writes: Vec<HashedWrite> = writes
            .iter()
            .map(|(_, w)| HashedWrite {
                key_hash: w.key_hash,
                value_hash: w.value_hash,
                sealed_hash: w.sealed.as_deref().map(sealed_value_hash),
                purge: w.purge,
            })
            .collect();
        if !writes.is_empty() {
            private_writes.push(CollectionPrivateWrites {
                namespace: namespace.to_string(),
                collection: collection.clone(),
                writes: writes
                    .into_iter()
                    .map(|(key, w)| match w.sealed {
                        // Members receive the sealed value; its blind is inside.
                        Some(sealed) => PrivateWrite { key, value: Some(sealed), blind: Hash32::ZERO, purge: w.purge },
                        None => PrivateWrite { key, value: w.value, blind: w.blind, purge: w.purge },
                    })
                    .collect(),
            });
        }
        if !reads.is_empty() || !hashed_writes.is_empty() {
            hashed_sets.push(CollectionHashedRwSet { collection, reads, writes: hashed_writes });
        }
    }
    (hashed_sets, private_writes)
}
