//! Private data in the redb file: what a block commit writes to the `pvt_*` tables, the
//! record layouts, and the reconciliation entry points of [`Ledger`].

use crate::error::LedgerError;
use crate::private::{private_writes_match, HashedStateWrite, MissingPrivate, PrivateBlockData, StoredPrivate};
use crate::store::Ledger;
use crate::tables::{self, PVT_EXPIRY, PVT_FLAG_EXPIRED, PVT_HASHED, PVT_HIST, PVT_MISSING, PVT_PURGED, PVT_STATE};
use redb::{ReadableDatabase, ReadableTable, Table, WriteTransaction};
use std::collections::BTreeSet;
use teechain_types::codec::{decode, encode, Limits};
use teechain_types::collection::{private_key_hash, CollectionPrivateWrites, HashedValue, PrivateWrite};
use teechain_types::tx::TxBody;
use teechain_types::{Block, CollectionHashedRwSet, Hash32, Version};

type BytesTable<'t> = Table<'t, &'static [u8], &'static [u8]>;

/// A [`PVT_STATE`] row.
pub(crate) struct StateRecord {
    pub(crate) version: Version,
    /// `None` when the value expired (`blockToLive`).
    pub(crate) value: Option<(Hash32, Vec<u8>)>,
}

fn bad(table: &'static str, reason: impl Into<String>) -> LedgerError {
    LedgerError::BadRecord { table, reason: reason.into() }
}

fn put_version(buf: &mut Vec<u8>, v: Version) {
    buf.extend_from_slice(&v.block.to_be_bytes());
    buf.extend_from_slice(&v.tx.to_be_bytes());
}

/// The version in the first 12 bytes of `b`.
fn read_version(table: &'static str, b: &[u8]) -> Result<Version, LedgerError> {
    match (b.get(..8), b.get(8..12)) {
        (Some(block), Some(tx)) => Ok(Version {
            block: u64::from_be_bytes(block.try_into().map_err(|_| bad(table, "short version"))?),
            tx: u32::from_be_bytes(tx.try_into().map_err(|_| bad(table, "short version"))?),
        }),
        _ => Err(bad(table, format!("{} bytes, too short for a version", b.len()))),
    }
}

fn read_hash(table: &'static str, b: &[u8]) -> Result<Hash32, LedgerError> {
    let a: [u8; 32] = b.try_into().map_err(|_| bad(table, format!("hash of {} bytes", b.len())))?;
    Ok(Hash32(a))
}

/// Decodes a [`PVT_HASHED`] value.
pub(crate) fn parse_hashed(b: &[u8]) -> Result<HashedValue, LedgerError> {
    if b.len() != 44 {
        return Err(bad("pvt_hashed", format!("{} bytes, expected 44", b.len())));
    }
    Ok(HashedValue { version: read_version("pvt_hashed", b)?, value_hash: read_hash("pvt_hashed", &b[12..])? })
}

fn hashed_record(version: Version, value_hash: &Hash32) -> Vec<u8> {
    let mut v = Vec::with_capacity(44);
    put_version(&mut v, version);
    v.extend_from_slice(&value_hash.0);
    v
}

/// Decodes a [`PVT_STATE`] value.
pub(crate) fn parse_state(b: &[u8]) -> Result<StateRecord, LedgerError> {
    let version = read_version("pvt_state", b)?;
    let flags = *b.get(12).ok_or_else(|| bad("pvt_state", "no flags byte"))?;
    if flags & PVT_FLAG_EXPIRED != 0 {
        return Ok(StateRecord { version, value: None });
    }
    let blind = read_hash("pvt_state", b.get(13..45).ok_or_else(|| bad("pvt_state", "no blinding factor"))?)?;
    Ok(StateRecord { version, value: Some((blind, b[45..].to_vec())) })
}

fn state_record(version: Version, blind: &Hash32, value: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(45 + value.len());
    put_version(&mut v, version);
    v.push(0);
    v.extend_from_slice(&blind.0);
    v.extend_from_slice(value);
    v
}

fn expired_record(version: Version) -> Vec<u8> {
    let mut v = Vec::with_capacity(13);
    put_version(&mut v, version);
    v.push(PVT_FLAG_EXPIRED);
    v
}

/// Decodes a [`PVT_HIST`] value.
pub(crate) fn parse_hist(b: &[u8]) -> Result<PrivateWrite, LedgerError> {
    decode(b, Limits::RECORD).map_err(|source| LedgerError::Corrupt { table: "pvt_hist", source })
}

/// Decodes a [`PVT_MISSING`] key.
fn parse_missing(k: &[u8]) -> Result<MissingPrivate, LedgerError> {
    let version = read_version("pvt_missing", k)?;
    let rest = &k[12..];
    let zero = rest.iter().position(|b| *b == 0).ok_or_else(|| bad("pvt_missing", "no namespace separator"))?;
    let text = |b: &[u8]| String::from_utf8(b.to_vec()).map_err(|_| bad("pvt_missing", "name is not UTF-8"));
    Ok(MissingPrivate {
        block: version.block,
        tx: version.tx,
        namespace: text(&rest[..zero])?,
        collection: text(&rest[zero + 1..])?,
    })
}

/// The first key after every key that starts with `prefix` followed by 12 bytes.
fn versions_end(prefix: &[u8]) -> Vec<u8> {
    let mut hi = prefix.to_vec();
    hi.extend_from_slice(&[0xff; 12]);
    hi
}

/// The hashed read-write set of `collection` that transaction `tx` of `block` wrote, if
/// the transaction is a valid invocation of `namespace` that wrote it.
pub(crate) fn committed_writes<'b>(
    block: &'b Block,
    tx: u32,
    namespace: &str,
    collection: &str,
) -> Option<&'b CollectionHashedRwSet> {
    let t = block.transactions.get(tx as usize)?;
    if !block.validation.get(tx as usize)?.is_valid() {
        return None;
    }
    let TxBody::Invoke(inv) = &t.payload.body else { return None };
    if inv.chaincode != namespace {
        return None;
    }
    inv.response.rwset.private.iter().find(|c| c.collection == collection && !c.writes.is_empty())
}

/// The private tables open in one write transaction.
pub(crate) struct PvtTables<'t> {
    hashed: BytesTable<'t>,
    state: BytesTable<'t>,
    hist: BytesTable<'t>,
    missing: BytesTable<'t>,
    expiry: BytesTable<'t>,
    purged: BytesTable<'t>,
}

impl<'t> PvtTables<'t> {
    pub(crate) fn open(txn: &'t WriteTransaction) -> Result<PvtTables<'t>, LedgerError> {
        Ok(PvtTables {
            hashed: txn.open_table(PVT_HASHED)?,
            state: txn.open_table(PVT_STATE)?,
            hist: txn.open_table(PVT_HIST)?,
            missing: txn.open_table(PVT_MISSING)?,
            expiry: txn.open_table(PVT_EXPIRY)?,
            purged: txn.open_table(PVT_PURGED)?,
        })
    }

    /// Applies block `number`'s private effects: hashed writes (every node), stored values
    /// and missing records (member nodes), then the `blockToLive` removals due at `number`.
    pub(crate) fn apply_block(
        &mut self,
        number: u64,
        hashed: &[HashedStateWrite],
        private: &PrivateBlockData,
    ) -> Result<(), LedgerError> {
        // Values and hashed writes interleave in transaction order, so that a purge removes
        // what earlier transactions of the block stored and nothing that later ones did.
        let mut stored: Vec<&StoredPrivate> = private.stored.iter().collect();
        stored.sort_by_key(|s| s.version);
        let mut next = stored.into_iter().peekable();
        for h in hashed {
            while let Some(s) = next.next_if(|s| s.version <= h.version) {
                self.store_writes(s)?;
            }
            self.apply_hashed(h)?;
        }
        for s in next {
            self.store_writes(s)?;
        }
        for m in &private.missing {
            let key = tables::pvt_missing_key(Version { block: m.block, tx: m.tx }, &m.namespace, &m.collection);
            self.missing.insert(key.as_slice(), [].as_slice())?;
        }
        self.expire(number)
    }

    fn apply_hashed(&mut self, h: &HashedStateWrite) -> Result<(), LedgerError> {
        let hk = tables::pvt_hashed_key(&h.namespace, &h.collection, &h.key_hash);
        match &h.value_hash {
            Some(value_hash) => {
                self.hashed.insert(hk.as_slice(), hashed_record(h.version, value_hash).as_slice())?;
            }
            None => {
                self.hashed.remove(hk.as_slice())?;
            }
        }
        if h.purge {
            self.purge(&hk, h.version)?;
        }
        Ok(())
    }

    /// Removes every stored write of the key `hk` (a [`PVT_HASHED`] key) and its value, and
    /// remembers the purge so that reconciliation of older data cannot bring them back.
    fn purge(&mut self, hk: &[u8], version: Version) -> Result<(), LedgerError> {
        let mut rows = Vec::new();
        let mut keys = BTreeSet::new();
        for item in self.hist.range(hk..=versions_end(hk).as_slice())? {
            let (k, v) = item?;
            rows.push(k.value().to_vec());
            // The history is the only place that knows the key behind the hash; a value
            // in pvt_state always has a history row of its own version.
            keys.insert(parse_hist(v.value())?.key);
        }
        for row in rows {
            self.hist.remove(row.as_slice())?;
        }
        let prefix = &hk[..hk.len() - 32];
        for key in keys {
            let mut sk = prefix.to_vec();
            sk.extend_from_slice(&key);
            self.state.remove(sk.as_slice())?;
        }
        let mut v = Vec::with_capacity(12);
        put_version(&mut v, version);
        self.purged.insert(hk, v.as_slice())?;
        Ok(())
    }

    /// Stores one transaction's private writes to one collection (a member node).
    fn store_writes(&mut self, s: &StoredPrivate) -> Result<(), LedgerError> {
        let (ns, coll) = (s.writes.namespace.as_str(), s.writes.collection.as_str());
        for w in &s.writes.writes {
            let kh = private_key_hash(ns, coll, &w.key);
            let hk = tables::pvt_hashed_key(ns, coll, &kh);
            let sk = tables::pvt_state_key(ns, coll, &w.key);
            if w.purge {
                self.state.remove(sk.as_slice())?;
                self.purge(&hk, s.version)?;
                continue;
            }
            self.hist.insert(tables::pvt_hist_key(ns, coll, &kh, s.version).as_slice(), encode(w).as_slice())?;
            match &w.value {
                Some(value) => {
                    self.state.insert(sk.as_slice(), state_record(s.version, &w.blind, value).as_slice())?;
                    if s.block_to_live > 0 {
                        let expiry = s.version.block.saturating_add(s.block_to_live);
                        let ek = tables::pvt_expiry_key(expiry, s.version, ns, coll, &kh);
                        self.expiry.insert(ek.as_slice(), [].as_slice())?;
                    }
                }
                None => {
                    self.state.remove(sk.as_slice())?;
                }
            }
        }
        Ok(())
    }

    /// Removes the values whose `blockToLive` ends when block `number` commits: their
    /// history rows go, and their current value if not rewritten since keeps only its
    /// version, flagged expired.
    fn expire(&mut self, number: u64) -> Result<(), LedgerError> {
        let end = number.saturating_add(1).to_be_bytes();
        let mut due = Vec::new();
        for item in self.expiry.range(..end.as_slice())? {
            due.push(item?.0.value().to_vec());
        }
        for ek in due {
            self.expiry.remove(ek.as_slice())?;
            // expiry (8) ‖ version (12) ‖ namespace 0 collection 0 key hash (32)
            if ek.len() < 20 + 2 + 32 {
                return Err(bad("pvt_expiry", format!("key of {} bytes", ek.len())));
            }
            let version = read_version("pvt_expiry", &ek[8..20])?;
            let hk = &ek[20..];
            let mut hist_key = hk.to_vec();
            put_version(&mut hist_key, version);
            let Some(write) = self.hist.remove(hist_key.as_slice())?.map(|v| parse_hist(v.value())).transpose()? else {
                // Purged already: nothing of it is left.
                continue;
            };
            let mut sk = hk[..hk.len() - 32].to_vec();
            sk.extend_from_slice(&write.key);
            let current = self.state.get(sk.as_slice())?.map(|v| parse_state(v.value())).transpose()?;
            if current.is_some_and(|r| r.version == version && r.value.is_some()) {
                self.state.insert(sk.as_slice(), expired_record(version).as_slice())?;
            }
        }
        Ok(())
    }
}

impl Ledger {
    /// Private data this member node has not received, in block order, at most `limit`.
    pub fn missing_private(&self, limit: usize) -> Result<Vec<MissingPrivate>, LedgerError> {
        let r = self.db.begin_read()?;
        let t = r.open_table(PVT_MISSING)?;
        let mut out = Vec::new();
        for item in t.iter()? {
            if out.len() >= limit {
                break;
            }
            out.push(parse_missing(item?.0.value())?);
        }
        Ok(out)
    }

    /// The private writes of transaction `tx` of block `block` to `namespace/collection`,
    /// rebuilt from this node's stored history in the order of the block's hashed writes,
    /// for a member node that missed them. `None` when this node does not hold all of
    /// them (never received, expired or purged) or the transaction wrote no such data.
    pub fn private_writes_at(
        &self,
        block: u64,
        tx: u32,
        namespace: &str,
        collection: &str,
    ) -> Result<Option<CollectionPrivateWrites>, LedgerError> {
        let snap = self.snapshot()?;
        let Some(b) = snap.block(block)? else { return Ok(None) };
        let Some(hashed) = committed_writes(&b, tx, namespace, collection) else { return Ok(None) };
        let version = Version { block, tx };
        let mut writes = Vec::with_capacity(hashed.writes.len());
        for h in &hashed.writes {
            match snap.private_history_row(namespace, collection, &h.key_hash, version)? {
                Some(w) => writes.push(w),
                None => return Ok(None),
            }
        }
        Ok(Some(CollectionPrivateWrites { namespace: namespace.into(), collection: collection.into(), writes }))
    }

    /// Stores private data received by reconciliation for a transaction recorded as
    /// missing, after checking it against the block's hashes (a mismatch stores nothing).
    /// The history gets every write; the current value changes only for keys the
    /// transaction is still the last writer of; values past their `block_to_live` are not
    /// stored at all, and writes to keys purged since are dropped. The missing record goes.
    pub fn store_reconciled(
        &self,
        missing: &MissingPrivate,
        writes: &CollectionPrivateWrites,
        block_to_live: u64,
    ) -> Result<(), LedgerError> {
        let mismatch = || LedgerError::PrivateDataMismatch {
            block: missing.block,
            tx: missing.tx,
            namespace: missing.namespace.clone(),
            collection: missing.collection.clone(),
        };
        if writes.namespace != missing.namespace || writes.collection != missing.collection {
            return Err(mismatch());
        }
        // Serialised with commits, so the height that decides expiry is the one this
        // write transaction applies to.
        let tip = self.tip.lock().unwrap_or_else(|p| p.into_inner());
        let block = self.snapshot()?.block(missing.block)?;
        let hashed =
            block.as_ref().and_then(|b| committed_writes(b, missing.tx, &missing.namespace, &missing.collection));
        let Some(hashed) = hashed else {
            return Err(LedgerError::NoPrivateWrites {
                block: missing.block,
                tx: missing.tx,
                namespace: missing.namespace.clone(),
                collection: missing.collection.clone(),
            });
        };
        if !private_writes_match(&missing.namespace, hashed, writes) {
            return Err(mismatch());
        }
        let version = Version { block: missing.block, tx: missing.tx };
        // The value expired when block `block + btl` committed, i.e. if that block is
        // already on the ledger.
        let expired = block_to_live > 0 && missing.block.saturating_add(block_to_live) < tip.height;
        let (ns, coll) = (missing.namespace.as_str(), missing.collection.as_str());
        let txn = self.db.begin_write()?;
        {
            let mut t = PvtTables::open(&txn)?;
            for (h, w) in hashed.writes.iter().zip(&writes.writes) {
                if w.purge {
                    // Applied from the hashes at commit; a purge leaves nothing to store.
                    continue;
                }
                let hk = tables::pvt_hashed_key(ns, coll, &h.key_hash);
                let purged_since =
                    t.purged.get(hk.as_slice())?.map(|v| read_version("pvt_purged", v.value())).transpose()?;
                if purged_since.is_some_and(|p| p > version) {
                    continue;
                }
                // Deletes carry no value and stay in the history like at commit; values
                // past their blockToLive are not stored at all.
                if w.value.is_none() || !expired {
                    let hist_key = tables::pvt_hist_key(ns, coll, &h.key_hash, version);
                    t.hist.insert(hist_key.as_slice(), encode(w).as_slice())?;
                }
                let Some(value) = &w.value else { continue };
                if block_to_live > 0 && !expired {
                    let expiry = missing.block.saturating_add(block_to_live);
                    let ek = tables::pvt_expiry_key(expiry, version, ns, coll, &h.key_hash);
                    t.expiry.insert(ek.as_slice(), [].as_slice())?;
                }
                let current = t.hashed.get(hk.as_slice())?.map(|v| parse_hashed(v.value())).transpose()?;
                if current.is_some_and(|c| c.version == version) {
                    // An expired value still gets its row, so reads answer "absent" rather
                    // than "not received".
                    let record = if expired { expired_record(version) } else { state_record(version, &w.blind, value) };
                    t.state.insert(tables::pvt_state_key(ns, coll, &w.key).as_slice(), record.as_slice())?;
                }
            }
            t.missing.remove(tables::pvt_missing_key(version, ns, coll).as_slice())?;
        }
        txn.commit()?;
        drop(tip);
        Ok(())
    }

    /// Forgets a missing-data record (the reconciler gave up on it). Reads of the keys it
    /// wrote keep failing as "not received" until a later write replaces them.
    pub fn drop_missing(&self, missing: &MissingPrivate) -> Result<(), LedgerError> {
        let _tip = self.tip.lock().unwrap_or_else(|p| p.into_inner());
        let txn = self.db.begin_write()?;
        let key = tables::pvt_missing_key(
            Version { block: missing.block, tx: missing.tx },
            &missing.namespace,
            &missing.collection,
        );
        txn.open_table(PVT_MISSING)?.remove(key.as_slice())?;
        txn.commit()?;
        Ok(())
    }
}
