//! The redb-backed store: one file, one write transaction per block.

use crate::error::LedgerError;
use crate::private::PrivateBlockData;
use crate::pvt_store::{self, PvtTables};
use crate::tables::{
    self, meta, BLOCKS, HISTORY, META, PVT_EXPIRY, PVT_HASHED, PVT_HIST, PVT_MISSING, PVT_PURGED, PVT_STATE, STATE,
    TX_IDS,
};
use crate::validate::{BlockOutcome, LedgerView};
use redb::{Database, ReadOnlyTable, ReadableDatabase};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use teechain_types::block::data_hash;
use teechain_types::chaincode::HistoryEntry;
use teechain_types::codec::{decode, encode, Limits};
use teechain_types::collection::{private_key_hash, HashedValue, PrivateValue, PrivateWrite};
use teechain_types::state::{StateError, StateView};
use teechain_types::{Block, Hash32, TxId, ValidationCode, Version, VersionedValue};

/// Where a committed transaction is and how it was judged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxStatus {
    /// Block number.
    pub block: u64,
    /// Index in the block.
    pub index: u32,
    /// Validation code.
    pub code: ValidationCode,
}

/// The result of [`Ledger::verify_chain`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainSummary {
    /// Number of blocks.
    pub height: u64,
    /// Hash of the last block (zero if empty).
    pub last_hash: Hash32,
    /// Transactions in all blocks.
    pub transactions: u64,
    /// Of which valid.
    pub valid: u64,
}

#[derive(Clone, Copy)]
pub(crate) struct Tip {
    pub(crate) height: u64,
    pub(crate) last_hash: Hash32,
}

/// A node's ledger in one redb file.
///
/// Durability contract: when [`Ledger::commit`] returns `Ok`, the block and all of its
/// effects are on disk (redb's `Durability::Immediate`: fsync before return). When it
/// returns `Err` or the process dies inside it, none of them are.
pub struct Ledger {
    pub(crate) db: Database,
    path: PathBuf,
    /// Held by every write transaction, so commits and reconciliation writes see the
    /// height they apply to.
    pub(crate) tip: Mutex<Tip>,
}

impl Ledger {
    /// Opens the ledger at `path`, creating an empty one if absent. Fails if another
    /// process holds it open.
    pub fn open(path: &Path) -> Result<Ledger, LedgerError> {
        let db = Database::create(path)?;
        let txn = db.begin_write()?;
        // Create every table so that read transactions never meet a missing one.
        {
            txn.open_table(BLOCKS)?;
            txn.open_table(STATE)?;
            txn.open_table(HISTORY)?;
            txn.open_table(TX_IDS)?;
            txn.open_table(META)?;
            txn.open_table(PVT_HASHED)?;
            txn.open_table(PVT_STATE)?;
            txn.open_table(PVT_HIST)?;
            txn.open_table(PVT_MISSING)?;
            txn.open_table(PVT_EXPIRY)?;
            txn.open_table(PVT_PURGED)?;
        }
        txn.commit()?;
        let tip = {
            let r = db.begin_read()?;
            let m = r.open_table(META)?;
            let height = match m.get(meta::HEIGHT)? {
                Some(v) => u64_be(v.value()),
                None => 0,
            };
            let last_hash = match m.get(meta::LAST_HASH)? {
                Some(v) => hash_from(v.value()),
                None => Hash32::ZERO,
            };
            Tip { height, last_hash }
        };
        Ok(Ledger { db, path: path.to_path_buf(), tip: Mutex::new(tip) })
    }

    /// The file this ledger lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Number of committed blocks; the next block's number.
    pub fn height(&self) -> u64 {
        self.tip_now().height
    }

    /// Hash of the last committed block, or zero when empty.
    pub fn last_hash(&self) -> Hash32 {
        self.tip_now().last_hash
    }

    fn tip_now(&self) -> Tip {
        *self.tip.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A consistent read view of everything committed so far.
    pub fn snapshot(&self) -> Result<Snapshot, LedgerError> {
        let r = self.db.begin_read()?;
        let height = match r.open_table(META)?.get(meta::HEIGHT)? {
            Some(v) => u64_be(v.value()),
            None => 0,
        };
        Ok(Snapshot {
            height,
            state: r.open_table(STATE)?,
            history: r.open_table(HISTORY)?,
            tx_ids: r.open_table(TX_IDS)?,
            blocks: r.open_table(BLOCKS)?,
            pvt_hashed: r.open_table(PVT_HASHED)?,
            pvt_state: r.open_table(PVT_STATE)?,
            pvt_hist: r.open_table(PVT_HIST)?,
        })
    }

    /// The block at `number`, with its validation codes.
    pub fn block(&self, number: u64) -> Result<Option<Block>, LedgerError> {
        self.snapshot()?.block(number)
    }

    /// Where `tx_id` was committed, if it was.
    pub fn tx_status(&self, tx_id: &TxId) -> Result<Option<TxStatus>, LedgerError> {
        self.snapshot()?.tx_status(tx_id)
    }

    /// Commits a validated block and its outcome in one durable write transaction.
    /// The block must be the next one (number and previous hash) and its data hash must
    /// match its transactions.
    pub fn commit(&self, block: Block, outcome: &BlockOutcome) -> Result<Hash32, LedgerError> {
        self.commit_with_marker(block, outcome, None)
    }

    /// As [`Ledger::commit`], also storing the ordering service's last-applied marker in
    /// the same write transaction, so the marker never runs ahead of or behind the blocks.
    pub fn commit_with_marker(
        &self,
        block: Block,
        outcome: &BlockOutcome,
        marker: Option<&[u8]>,
    ) -> Result<Hash32, LedgerError> {
        self.commit_with_private(block, outcome, &PrivateBlockData::default(), marker)
    }

    /// As [`Ledger::commit_with_marker`], also storing the block's private data in the same
    /// write transaction: the hashed private writes of `outcome` (every node), and on a
    /// member node the values and missing records of `private` (from
    /// [`crate::plan_private_commit`], whose checks against the block's hashes this trusts).
    /// Values whose `blockToLive` ends with this block are removed in it too.
    pub fn commit_with_private(
        &self,
        mut block: Block,
        outcome: &BlockOutcome,
        private: &PrivateBlockData,
        marker: Option<&[u8]>,
    ) -> Result<Hash32, LedgerError> {
        let mut tip = self.tip.lock().unwrap_or_else(|p| p.into_inner());
        let number = block.header.number;
        if number != tip.height || block.header.previous_hash != tip.last_hash {
            return Err(LedgerError::NotNext { number, expected_number: tip.height, expected_previous: tip.last_hash });
        }
        if data_hash(&block.transactions) != block.header.data_hash {
            return Err(LedgerError::BadDataHash { number });
        }
        if outcome.codes.len() != block.transactions.len() {
            return Err(LedgerError::OutcomeMismatch {
                number,
                codes: outcome.codes.len(),
                txs: block.transactions.len(),
            });
        }
        let foreign = private
            .stored
            .iter()
            .map(|s| s.version)
            .chain(private.missing.iter().map(|m| Version { block: m.block, tx: m.tx }))
            .chain(outcome.private_writes.iter().map(|w| w.version))
            .find(|v| v.block != number || v.tx as usize >= block.transactions.len());
        if let Some(v) = foreign {
            return Err(LedgerError::PrivateNotInBlock { number, block: v.block, tx: v.tx });
        }
        block.validation = outcome.codes.clone();
        let hash = block.hash();
        let txn = self.db.begin_write()?;
        {
            let mut state = txn.open_table(STATE)?;
            let mut history = txn.open_table(HISTORY)?;
            let mut tx_ids = txn.open_table(TX_IDS)?;
            let mut blocks = txn.open_table(BLOCKS)?;
            let mut m = txn.open_table(META)?;
            let mut buf = Vec::new();
            for w in &outcome.writes {
                let sk = tables::state_key(&w.namespace, &w.key);
                match &w.value {
                    Some(v) => {
                        buf.clear();
                        put_version(&mut buf, w.version);
                        buf.extend_from_slice(v);
                        state.insert(sk.as_slice(), buf.as_slice())?;
                    }
                    None => {
                        state.remove(sk.as_slice())?;
                    }
                }
                let mut hk = tables::history_prefix(&sk);
                put_version(&mut hk, w.version);
                let tx_id = block.transactions[w.version.tx as usize].tx_id();
                buf.clear();
                buf.extend_from_slice(&tx_id.0);
                buf.extend_from_slice(&block.header.timestamp_ms.to_be_bytes());
                match &w.value {
                    Some(v) => {
                        buf.push(1);
                        buf.extend_from_slice(v);
                    }
                    None => buf.push(0),
                }
                history.insert(hk.as_slice(), buf.as_slice())?;
            }
            for (i, (tx, code)) in block.transactions.iter().zip(&outcome.codes).enumerate() {
                // A duplicate keeps the first commit's entry; a forgery records nothing.
                if !code.binds_tx_id() {
                    continue;
                }
                let mut v = Vec::with_capacity(13);
                put_version(&mut v, Version { block: number, tx: i as u32 });
                v.push(code_to_byte(*code));
                tx_ids.insert(&tx.tx_id().0, v.as_slice())?;
            }
            blocks.insert(number, encode(&block).as_slice())?;
            m.insert(meta::HEIGHT, (number + 1).to_be_bytes().as_slice())?;
            m.insert(meta::LAST_HASH, hash.0.as_slice())?;
            if let Some(marker) = marker {
                m.insert(meta::APPLIED, marker)?;
            }
            PvtTables::open(&txn)?.apply_block(number, &outcome.private_writes, private)?;
        }
        txn.commit()?;
        *tip = Tip { height: number + 1, last_hash: hash };
        Ok(hash)
    }

    /// Stores only the ordering service's last-applied marker (for log entries that carry
    /// no block, such as membership changes).
    pub fn set_marker(&self, marker: &[u8]) -> Result<(), LedgerError> {
        let _tip = self.tip.lock().unwrap_or_else(|p| p.into_inner());
        let txn = self.db.begin_write()?;
        txn.open_table(META)?.insert(meta::APPLIED, marker)?;
        txn.commit()?;
        Ok(())
    }

    /// The ordering service's last-applied marker, if any was stored.
    pub fn marker(&self) -> Result<Option<Vec<u8>>, LedgerError> {
        let r = self.db.begin_read()?;
        Ok(r.open_table(META)?.get(meta::APPLIED)?.map(|v| v.value().to_vec()))
    }

    /// Re-reads every block and checks numbering, previous-hash links and data hashes.
    pub fn verify_chain(&self) -> Result<ChainSummary, LedgerError> {
        let snap = self.snapshot()?;
        let summary =
            verify_blocks((0..snap.height).map(|n| {
                snap.block(n)?.ok_or(LedgerError::BrokenChain { number: n, reason: "block missing".into() })
            }))?;
        if summary.last_hash != self.last_hash() && snap.height == self.height() {
            return Err(LedgerError::BrokenChain {
                number: snap.height,
                reason: "tip hash does not match the last block".into(),
            });
        }
        Ok(summary)
    }
}

/// Checks blocks given in order from block 0: numbering, previous-hash links, data hashes
/// and that each carries its validation codes.
pub fn verify_blocks(
    blocks: impl IntoIterator<Item = Result<Block, LedgerError>>,
) -> Result<ChainSummary, LedgerError> {
    let mut previous = Hash32::ZERO;
    let mut summary = ChainSummary { height: 0, last_hash: Hash32::ZERO, transactions: 0, valid: 0 };
    for (n, block) in blocks.into_iter().enumerate() {
        let n = n as u64;
        let block = block?;
        if block.header.number != n {
            return Err(LedgerError::BrokenChain {
                number: n,
                reason: format!("stored as number {}", block.header.number),
            });
        }
        if block.header.previous_hash != previous {
            return Err(LedgerError::BrokenChain { number: n, reason: "previous hash does not match".into() });
        }
        if data_hash(&block.transactions) != block.header.data_hash {
            return Err(LedgerError::BrokenChain { number: n, reason: "data hash does not match".into() });
        }
        if block.validation.len() != block.transactions.len() {
            return Err(LedgerError::BrokenChain { number: n, reason: "validation codes missing".into() });
        }
        summary.transactions += block.transactions.len() as u64;
        summary.valid += block.validation.iter().filter(|c| c.is_valid()).count() as u64;
        previous = block.hash();
        summary.height = n + 1;
    }
    summary.last_hash = previous;
    Ok(summary)
}

/// A consistent read view of a ledger (a redb read transaction).
pub struct Snapshot {
    height: u64,
    state: ReadOnlyTable<&'static [u8], &'static [u8]>,
    history: ReadOnlyTable<&'static [u8], &'static [u8]>,
    tx_ids: ReadOnlyTable<&'static [u8; 32], &'static [u8]>,
    blocks: ReadOnlyTable<u64, &'static [u8]>,
    pvt_hashed: ReadOnlyTable<&'static [u8], &'static [u8]>,
    pvt_state: ReadOnlyTable<&'static [u8], &'static [u8]>,
    pvt_hist: ReadOnlyTable<&'static [u8], &'static [u8]>,
}

impl Snapshot {
    /// Number of blocks visible in this view.
    pub fn height(&self) -> u64 {
        self.height
    }

    /// A committed block.
    pub fn block(&self, number: u64) -> Result<Option<Block>, LedgerError> {
        match self.blocks.get(number)? {
            Some(v) => decode(v.value(), Limits::BLOCK)
                .map(Some)
                .map_err(|source| LedgerError::Corrupt { table: "blocks", source }),
            None => Ok(None),
        }
    }

    /// Where a transaction was committed.
    pub fn tx_status(&self, tx_id: &TxId) -> Result<Option<TxStatus>, LedgerError> {
        Ok(self.tx_ids.get(&tx_id.0)?.map(|v| {
            let v = v.value();
            let version = get_version(v);
            TxStatus {
                block: version.block,
                index: version.tx,
                code: code_from_byte(v.get(12).copied().unwrap_or(255)),
            }
        }))
    }
}

impl Snapshot {
    /// The hashed state of a private key.
    fn hashed(&self, namespace: &str, collection: &str, key_hash: &Hash32) -> Result<Option<HashedValue>, LedgerError> {
        let hk = tables::pvt_hashed_key(namespace, collection, key_hash);
        self.pvt_hashed.get(hk.as_slice())?.map(|v| pvt_store::parse_hashed(v.value())).transpose()
    }

    /// True when a private value written at `version` is past its collection's
    /// `blockToLive` in this view (so a member node no longer holds it, received or not).
    fn expired(&self, namespace: &str, collection: &str, version: Version) -> Result<bool, StateError> {
        let btl = crate::lifecycle::committed_definition(self, namespace)?
            .and_then(|d| d.collection(collection))
            .map_or(0, |c| c.block_to_live);
        Ok(btl > 0 && version.block.saturating_add(btl) < self.height)
    }

    /// The stored private write of a key at `version`, if this node holds it.
    pub(crate) fn private_history_row(
        &self,
        namespace: &str,
        collection: &str,
        key_hash: &Hash32,
        version: Version,
    ) -> Result<Option<PrivateWrite>, LedgerError> {
        let k = tables::pvt_hist_key(namespace, collection, key_hash, version);
        self.pvt_hist.get(k.as_slice())?.map(|v| pvt_store::parse_hist(v.value())).transpose()
    }
}

fn storage(e: impl Into<redb::Error>) -> StateError {
    StateError(e.into().to_string())
}

fn state_err(e: LedgerError) -> StateError {
    StateError(e.to_string())
}

impl StateView for Snapshot {
    fn get(&self, namespace: &str, key: &[u8]) -> Result<Option<VersionedValue>, StateError> {
        let sk = tables::state_key(namespace, key);
        Ok(self.state.get(sk.as_slice()).map_err(storage)?.map(|v| split_versioned(v.value())))
    }

    fn range(
        &self,
        namespace: &str,
        start: &[u8],
        end: &[u8],
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, VersionedValue)>, StateError> {
        let lo = tables::state_key(namespace, start);
        let hi = if end.is_empty() {
            let mut h = namespace.as_bytes().to_vec();
            h.push(1);
            h
        } else {
            tables::state_key(namespace, end)
        };
        let prefix = namespace.len() + 1;
        let mut out = Vec::new();
        if lo >= hi {
            return Ok(out);
        }
        for item in self.state.range(lo.as_slice()..hi.as_slice()).map_err(storage)? {
            if out.len() >= limit {
                break;
            }
            let (k, v) = item.map_err(storage)?;
            out.push((k.value()[prefix..].to_vec(), split_versioned(v.value())));
        }
        Ok(out)
    }

    fn history(&self, namespace: &str, key: &[u8], limit: usize) -> Result<Vec<HistoryEntry>, StateError> {
        let prefix = tables::history_prefix(&tables::state_key(namespace, key));
        let mut hi = prefix.clone();
        hi.extend_from_slice(&[0xff; 12]);
        let mut out = Vec::new();
        for item in self.history.range(prefix.as_slice()..=hi.as_slice()).map_err(storage)?.rev() {
            if out.len() >= limit {
                break;
            }
            let (k, v) = item.map_err(storage)?;
            let version = get_version(&k.value()[prefix.len()..]);
            let v = v.value();
            if v.len() < 41 {
                return Err(StateError("corrupt history record".into()));
            }
            out.push(HistoryEntry {
                tx_id: hash_from(&v[..32]),
                block: version.block,
                tx_index: version.tx,
                timestamp_ms: u64_be(&v[32..40]),
                value: (v[40] == 1).then(|| v[41..].to_vec()),
            });
        }
        out.reverse();
        Ok(out)
    }

    fn private_get(&self, namespace: &str, collection: &str, key: &[u8]) -> Result<Option<PrivateValue>, StateError> {
        let key_hash = private_key_hash(namespace, collection, key);
        let Some(hashed) = self.hashed(namespace, collection, &key_hash).map_err(state_err)? else {
            return Ok(None);
        };
        let sk = tables::pvt_state_key(namespace, collection, key);
        let record = self.pvt_state.get(sk.as_slice()).map_err(storage)?;
        let record = record.map(|v| pvt_store::parse_state(v.value())).transpose().map_err(state_err)?;
        match record {
            Some(r) if r.version == hashed.version => {
                Ok(r.value.map(|(blind, value)| PrivateValue { value, blind, version: r.version }))
            }
            // The value would have expired by now anyway: absent, whether it arrived or not.
            _ if self.expired(namespace, collection, hashed.version)? => Ok(None),
            // Never answer with an older value: the ledger says the key changed since.
            _ => Err(StateError(format!(
                "the private data of key hash {key_hash} in {namespace}/{collection} (written in block {} tx {}) has not reached this node yet (reconciliation pending)",
                hashed.version.block, hashed.version.tx
            ))),
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
        let prefix = tables::pvt_collection_prefix(namespace, collection);
        let lo = tables::pvt_state_key(namespace, collection, start);
        let hi = if end.is_empty() {
            let mut h = prefix.clone();
            if let Some(last) = h.last_mut() {
                *last = 1;
            }
            h
        } else {
            tables::pvt_state_key(namespace, collection, end)
        };
        let mut out = Vec::new();
        if lo >= hi {
            return Ok(out);
        }
        for item in self.pvt_state.range(lo.as_slice()..hi.as_slice()).map_err(storage)? {
            if out.len() >= limit {
                break;
            }
            let (k, v) = item.map_err(storage)?;
            let key = &k.value()[prefix.len()..];
            let record = pvt_store::parse_state(v.value()).map_err(state_err)?;
            let Some((blind, value)) = record.value else { continue };
            // Only values the hashed state still names: a key deleted or rewritten by a
            // transaction whose data has not arrived is left out, not shown stale.
            let current = self.hashed(namespace, collection, &private_key_hash(namespace, collection, key));
            if current.map_err(state_err)?.is_some_and(|h| h.version == record.version) {
                out.push((key.to_vec(), PrivateValue { value, blind, version: record.version }));
            }
        }
        Ok(out)
    }

    fn private_hash(
        &self,
        namespace: &str,
        collection: &str,
        key_hash: &Hash32,
    ) -> Result<Option<HashedValue>, StateError> {
        self.hashed(namespace, collection, key_hash).map_err(state_err)
    }
}

impl LedgerView for Snapshot {
    fn tx_committed(&self, tx_id: &TxId) -> Result<bool, StateError> {
        Ok(self.tx_ids.get(&tx_id.0).map_err(storage)?.is_some())
    }
}

fn put_version(buf: &mut Vec<u8>, v: Version) {
    buf.extend_from_slice(&v.block.to_be_bytes());
    buf.extend_from_slice(&v.tx.to_be_bytes());
}

fn get_version(b: &[u8]) -> Version {
    Version { block: u64_be(&b[..8.min(b.len())]), tx: u64_be(b.get(8..12).unwrap_or(&[])) as u32 }
}

fn split_versioned(b: &[u8]) -> VersionedValue {
    VersionedValue { version: get_version(b), value: b.get(12..).unwrap_or(&[]).to_vec() }
}

fn u64_be(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    let n = b.len().min(8);
    a[8 - n..].copy_from_slice(&b[..n]);
    u64::from_be_bytes(a)
}

fn hash_from(b: &[u8]) -> Hash32 {
    let mut a = [0u8; 32];
    let n = b.len().min(32);
    a[..n].copy_from_slice(&b[..n]);
    Hash32(a)
}

fn code_to_byte(c: ValidationCode) -> u8 {
    c.to_u8()
}

fn code_from_byte(b: u8) -> ValidationCode {
    // An unknown number can only come from a corrupt file; report it as invalid.
    ValidationCode::from_u8(b).unwrap_or(ValidationCode::InvalidInvocation)
}
