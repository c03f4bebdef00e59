//! The Raft log, vote and log pointers in redb (`raft.redb`).
//!
//! Durability contract (openraft's `RaftLogStorage`): a vote, an append, a truncation or
//! a purge is one redb write transaction committed with `Durability::Immediate` (fsync)
//! before openraft is told it is done; an append's entries are readable when `append`
//! returns and reported flushed only after the commit. The committed log id is a hint
//! written without its own fsync (the state machine is durable on its own). Writes run
//! one at a time, on a blocking thread, in the order openraft issues them.
//!
//! The newest entries (up to [`CACHE_BYTES`] of them, encoded) are also kept in memory,
//! decoded: the leader reads each entry once per follower to replicate it and once more
//! to apply it, and decoding a block costs more than reading it.

// openraft's storage traits return its `StorageError` (over 200 bytes); the helpers here
// return it too rather than box it only to unbox it at the trait boundary.
#![allow(clippy::result_large_err)]

use crate::boundary::NodeId;
use crate::error::ConsensusError;
use crate::raft_types::{decode, encode, Entry, TypeConfig, ENTRY_LIMIT};
use crate::tables::{meta, LOG, META};
use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{AnyError, ErrorSubject, ErrorVerb, LogId, RaftLogReader, StorageError, StorageIOError, Vote};
use redb::{Database, Durability, ReadableDatabase, ReadableTable};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};
use std::path::Path;
use std::sync::{Arc, Mutex};
use teechain_types::codec::Limits;

type StoreResult<T> = Result<T, StorageError<NodeId>>;

/// Encoded bytes of the entries kept decoded in memory.
const CACHE_BYTES: usize = 64 << 20;

/// The newest log entries, decoded: always a contiguous suffix of the log (possibly
/// empty), so a read that starts inside it is served from it entirely.
#[derive(Default)]
struct Cache {
    /// Index → entry and its encoded size.
    entries: BTreeMap<u64, (Entry, usize)>,
    bytes: usize,
}

impl Cache {
    fn recount(&mut self) {
        self.bytes = self.entries.values().map(|(_, n)| n).sum();
    }

    /// Entries appended (and committed to disk), in index order.
    fn append(&mut self, new: Vec<(Entry, usize)>) {
        let Some(first) = new.first().map(|(e, _)| e.log_id.index) else { return };
        match self.entries.keys().next_back() {
            // Not adjacent to what we hold: start over from these.
            Some(&last) if first > last + 1 => self.entries.clear(),
            _ => {
                self.entries.split_off(&first);
            }
        }
        for (e, n) in new {
            self.entries.insert(e.log_id.index, (e, n));
        }
        self.recount();
        while self.bytes > CACHE_BYTES && self.entries.len() > 1 {
            if let Some((_, (_, n))) = self.entries.pop_first() {
                self.bytes -= n;
            }
        }
    }

    /// Entries from `index` on were deleted.
    fn truncate(&mut self, index: u64) {
        self.entries.split_off(&index);
        self.recount();
    }

    /// Entries up to `index` were purged.
    fn purge(&mut self, index: u64) {
        self.entries = self.entries.split_off(&index.saturating_add(1));
        self.recount();
    }

    /// The entries of `range` if the cache covers its start.
    fn get(&self, range: &impl RangeBounds<u64>) -> Option<Vec<Entry>> {
        let first = *self.entries.keys().next()?;
        let start = match range.start_bound() {
            Bound::Included(&s) => s,
            Bound::Excluded(&s) => s.saturating_add(1),
            Bound::Unbounded => 0,
        };
        if start < first {
            return None;
        }
        let end = match range.end_bound() {
            Bound::Included(&e) => Bound::Included(e),
            Bound::Excluded(&e) => Bound::Excluded(e),
            Bound::Unbounded => Bound::Unbounded,
        };
        Some(self.entries.range((Bound::Included(start), end)).map(|(_, (e, _))| e.clone()).collect())
    }
}

/// The redb-backed log store. Clones share the database and the cache: openraft uses
/// clones as log readers for replication.
#[derive(Clone)]
pub(crate) struct LogStore {
    db: Arc<Database>,
    cache: Arc<Mutex<Cache>>,
}

fn io_error(
    subject: ErrorSubject<NodeId>,
    verb: ErrorVerb,
    e: impl std::error::Error + 'static,
) -> StorageError<NodeId> {
    StorageIOError::new(subject, verb, AnyError::new(&e)).into()
}

fn logs_error(verb: ErrorVerb) -> impl Fn(redb::Error) -> StorageError<NodeId> {
    move |e| io_error(ErrorSubject::Logs, verb, e)
}

impl LogStore {
    /// Opens (creating if absent) the log store at `path`.
    pub(crate) fn open(path: &Path) -> Result<LogStore, ConsensusError> {
        let storage =
            |e: redb::Error| ConsensusError::Storage { path: path.display().to_string(), reason: e.to_string() };
        let db = Database::create(path).map_err(|e| storage(e.into()))?;
        let txn = db.begin_write().map_err(|e| storage(e.into()))?;
        {
            // Create every table so that read transactions never meet a missing one.
            txn.open_table(LOG).map_err(|e| storage(e.into()))?;
            txn.open_table(META).map_err(|e| storage(e.into()))?;
        }
        txn.commit().map_err(|e| storage(e.into()))?;
        Ok(LogStore { db: Arc::new(db), cache: Arc::default() })
    }

    /// Runs a write on a blocking thread and waits for it.
    async fn write<T, F>(&self, subject: ErrorSubject<NodeId>, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Database) -> Result<T, redb::Error> + Send + 'static,
    {
        let db = self.db.clone();
        match tokio::task::spawn_blocking(move || f(&db)).await {
            Ok(r) => r.map_err(|e| io_error(subject, ErrorVerb::Write, e)),
            Err(join) => Err(io_error(subject, ErrorVerb::Write, join)),
        }
    }

    fn read_meta<T: Serialize + DeserializeOwned>(
        &self,
        key: &str,
        subject: ErrorSubject<NodeId>,
    ) -> StoreResult<Option<T>> {
        let read = || -> Result<Option<Vec<u8>>, redb::Error> {
            let r = self.db.begin_read()?;
            let t = r.open_table(META)?;
            Ok(t.get(key)?.map(|v| v.value().to_vec()))
        };
        match read().map_err(|e| io_error(subject.clone(), ErrorVerb::Read, e))? {
            None => Ok(None),
            Some(bytes) => decode(&bytes, Limits::RECORD).map(Some).map_err(|e| io_error(subject, ErrorVerb::Read, e)),
        }
    }

    fn last_purged(&self) -> StoreResult<Option<LogId<NodeId>>> {
        Ok(self.read_meta::<Option<LogId<NodeId>>>(meta::LAST_PURGED, ErrorSubject::Logs)?.flatten())
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn read_entries<RB: RangeBounds<u64>>(&self, range: RB) -> StoreResult<Vec<Entry>> {
        if let Some(hit) = self.cache().get(&range) {
            return Ok(hit);
        }
        let read = || -> Result<Vec<(u64, Vec<u8>)>, redb::Error> {
            let r = self.db.begin_read()?;
            let t = r.open_table(LOG)?;
            let mut out = Vec::new();
            for item in t.range(range)? {
                let (k, v) = item?;
                out.push((k.value(), v.value().to_vec()));
            }
            Ok(out)
        };
        let raw = read().map_err(logs_error(ErrorVerb::Read))?;
        raw.into_iter()
            .map(|(index, bytes)| {
                decode::<Entry>(&bytes, ENTRY_LIMIT)
                    .map_err(|e| StorageIOError::read_log_at_index(index, AnyError::new(&e)).into())
            })
            .collect()
    }

    fn last_entry(&self) -> StoreResult<Option<Entry>> {
        let read = || -> Result<Option<(u64, Vec<u8>)>, redb::Error> {
            let r = self.db.begin_read()?;
            let t = r.open_table(LOG)?;
            let last = t.last()?.map(|(k, v)| (k.value(), v.value().to_vec()));
            Ok(last)
        };
        match read().map_err(logs_error(ErrorVerb::Read))? {
            None => Ok(None),
            Some((index, bytes)) => decode::<Entry>(&bytes, ENTRY_LIMIT)
                .map(Some)
                .map_err(|e| StorageIOError::read_log_at_index(index, AnyError::new(&e)).into()),
        }
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
        &mut self,
        range: RB,
    ) -> StoreResult<Vec<Entry>> {
        self.read_entries(range)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> StoreResult<LogState<TypeConfig>> {
        let last_purged_log_id = self.last_purged()?;
        let last_log_id = match self.last_entry()? {
            Some(e) => Some(e.log_id),
            None => last_purged_log_id,
        };
        Ok(LogState { last_purged_log_id, last_log_id })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> StoreResult<()> {
        let bytes = encode(vote);
        self.write(ErrorSubject::Vote, move |db| {
            let txn = db.begin_write()?;
            txn.open_table(META)?.insert(meta::VOTE, bytes.as_slice())?;
            txn.commit()?;
            Ok(())
        })
        .await
    }

    async fn read_vote(&mut self) -> StoreResult<Option<Vote<NodeId>>> {
        self.read_meta(meta::VOTE, ErrorSubject::Vote)
    }

    async fn save_committed(&mut self, committed: Option<LogId<NodeId>>) -> StoreResult<()> {
        let bytes = encode(&committed);
        self.write(ErrorSubject::Store, move |db| {
            let mut txn = db.begin_write()?;
            // A hint: made durable by the next durable commit (an append or a vote).
            txn.set_durability(Durability::None)?;
            txn.open_table(META)?.insert(meta::COMMITTED, bytes.as_slice())?;
            txn.commit()?;
            Ok(())
        })
        .await
    }

    async fn read_committed(&mut self) -> StoreResult<Option<LogId<NodeId>>> {
        Ok(self.read_meta::<Option<LogId<NodeId>>>(meta::COMMITTED, ErrorSubject::Store)?.flatten())
    }

    async fn append<I>(&mut self, entries: I, callback: LogFlushed<TypeConfig>) -> StoreResult<()>
    where
        I: IntoIterator<Item = Entry> + Send,
        I::IntoIter: Send,
    {
        let entries: Vec<Entry> = entries.into_iter().collect();
        let encoded: Vec<(u64, Vec<u8>)> = entries.iter().map(|e| (e.log_id.index, encode(e))).collect();
        let sizes: Vec<usize> = encoded.iter().map(|(_, b)| b.len()).collect();
        let res = self
            .write(ErrorSubject::Logs, move |db| {
                let txn = db.begin_write()?;
                {
                    let mut t = txn.open_table(LOG)?;
                    for (index, bytes) in &encoded {
                        t.insert(*index, bytes.as_slice())?;
                    }
                }
                txn.commit()?;
                Ok(())
            })
            .await;
        match &res {
            Ok(()) => {
                self.cache().append(entries.into_iter().zip(sizes).collect());
                callback.log_io_completed(Ok(()))
            }
            Err(e) => callback.log_io_completed(Err(std::io::Error::other(e.to_string()))),
        }
        res
    }

    async fn truncate(&mut self, log_id: LogId<NodeId>) -> StoreResult<()> {
        self.write(ErrorSubject::Logs, move |db| {
            let txn = db.begin_write()?;
            txn.open_table(LOG)?.retain_in(log_id.index.., |_, _| false)?;
            txn.commit()?;
            Ok(())
        })
        .await?;
        self.cache().truncate(log_id.index);
        Ok(())
    }

    async fn purge(&mut self, log_id: LogId<NodeId>) -> StoreResult<()> {
        let bytes = encode(&Some(log_id));
        self.write(ErrorSubject::Logs, move |db| {
            let txn = db.begin_write()?;
            txn.open_table(LOG)?.retain_in(..=log_id.index, |_, _| false)?;
            txn.open_table(META)?.insert(meta::LAST_PURGED, bytes.as_slice())?;
            txn.commit()?;
            Ok(())
        })
        .await?;
        self.cache().purge(log_id.index);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    //! openraft's storage conformance suite against [`LogStore`] and the
    //! [`StateMachine`] over an in-memory ledger, plus reopen checks of our own.

    use super::*;
    use crate::state_machine::StateMachine;
    use crate::testing::MemApplier;
    use crate::waiters::Waiters;
    use openraft::storage::RaftLogStorageExt;
    use openraft::testing::{StoreBuilder, Suite};
    use openraft::{CommittedLeaderId, Entry, EntryPayload, RaftLogReader};
    use tempfile::TempDir;

    struct Builder;

    impl StoreBuilder<TypeConfig, LogStore, StateMachine, TempDir> for Builder {
        async fn build(&self) -> StoreResult<(TempDir, LogStore, StateMachine)> {
            let dir = TempDir::new().expect("temp dir");
            let log = LogStore::open(&dir.path().join("raft.redb")).expect("open log store");
            let sm = StateMachine::open(MemApplier::new(), Arc::new(Waiters::default()), dir.path())
                .await
                .expect("open state machine");
            Ok((dir, log, sm))
        }
    }

    #[test]
    fn conformance_suite() {
        Suite::test_all(Builder).expect("openraft storage suite");
    }

    fn blank(term: u64, index: u64) -> Entry<TypeConfig> {
        Entry { log_id: LogId::new(CommittedLeaderId::new(term, 1), index), payload: EntryPayload::Blank }
    }

    async fn append(store: &mut LogStore, entries: Vec<Entry<TypeConfig>>) {
        // Waits for the flush callback, as openraft does.
        store.blocking_append(entries).await.expect("append");
    }

    /// Steps: append 1..=10, vote, purge ≤3, truncate ≥8, commit 7; reopen the file and
    /// check that all of it survived.
    #[tokio::test]
    async fn log_survives_reopen() {
        let dir = TempDir::new().expect("temp dir");
        let path = dir.path().join("raft.redb");
        {
            let mut s = LogStore::open(&path).expect("open");
            append(&mut s, (1..=10).map(|i| blank(1, i)).collect()).await;
            s.save_vote(&Vote::new(3, 2)).await.expect("vote");
            s.purge(LogId::new(CommittedLeaderId::new(1, 1), 3)).await.expect("purge");
            s.truncate(LogId::new(CommittedLeaderId::new(1, 1), 8)).await.expect("truncate");
            s.save_committed(Some(LogId::new(CommittedLeaderId::new(1, 1), 7))).await.expect("committed");
            // A durable write after the hint, as openraft always issues one eventually.
            s.save_vote(&Vote::new(3, 2)).await.expect("vote");
        }
        let mut s = LogStore::open(&path).expect("reopen");
        assert_eq!(s.read_vote().await.expect("vote"), Some(Vote::new(3, 2)));
        let state = s.get_log_state().await.expect("state");
        assert_eq!(state.last_purged_log_id.map(|l| l.index), Some(3));
        assert_eq!(state.last_log_id.map(|l| l.index), Some(7));
        assert_eq!(s.read_committed().await.expect("committed").map(|l| l.index), Some(7));
        let got: Vec<u64> = s.try_get_log_entries(0..100).await.expect("read").iter().map(|e| e.log_id.index).collect();
        assert_eq!(got, vec![4, 5, 6, 7]);
    }
}
