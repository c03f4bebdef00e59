//! openraft's state machine over a [`BlockApplier`]: the node's ledger.
//!
//! The applied log id and membership live in the ledger itself (the [`AppliedMarker`],
//! committed with each block), so applying is exactly-once across restarts without a
//! second store. Snapshots are the applier's ledger bytes; the current one is kept in
//! memory and in `snapshot.bin` in the raft directory (written to a temporary file,
//! synced, then renamed).

use crate::boundary::{BlockApplier, NodeId};
use crate::error::ConsensusError;
use crate::raft_types::{
    decode, encode, AppliedState, ApplyResponse, Entry, SnapshotPayload, TypeConfig, SNAPSHOT_LIMIT,
};
use crate::waiters::Waiters;
use openraft::storage::RaftStateMachine;
use openraft::{
    AnyError, BasicNode, EntryPayload, ErrorSubject, ErrorVerb, LogId, RaftSnapshotBuilder, Snapshot, SnapshotMeta,
    StorageError, StorageIOError, StoredMembership,
};
use serde::{Deserialize, Serialize};
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::Mutex;

type StoreResult<T> = Result<T, StorageError<NodeId>>;

/// File name of the current snapshot in the raft directory.
pub(crate) const SNAPSHOT_FILE: &str = "snapshot.bin";

/// A snapshot as kept on disk and in memory.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct StoredSnapshot {
    meta: SnapshotMeta<NodeId, BasicNode>,
    /// Encoded [`SnapshotPayload`]: the bytes sent to followers.
    data: Vec<u8>,
}

/// What the state machine shares with its snapshot builders and the orderer.
pub(crate) struct SmShared {
    applier: Arc<dyn BlockApplier>,
    /// The applied state; held across each apply batch and while a snapshot is taken, so a
    /// snapshot and its marker always agree.
    state: Mutex<AppliedState>,
    waiters: Arc<Waiters>,
    /// The last applied block's timestamp, for the leader's next proposal.
    last_timestamp_ms: AtomicU64,
    dir: PathBuf,
    current: std::sync::Mutex<Option<Arc<StoredSnapshot>>>,
    snapshot_seq: AtomicU64,
}

/// The state machine handed to openraft. Clones share everything.
#[derive(Clone)]
pub(crate) struct StateMachine {
    shared: Arc<SmShared>,
}

fn sm_error(verb: ErrorVerb, e: impl std::error::Error + 'static) -> StorageError<NodeId> {
    StorageIOError::new(ErrorSubject::StateMachine, verb, AnyError::new(&e)).into()
}

fn snapshot_error(verb: ErrorVerb, e: impl std::error::Error + 'static) -> StorageError<NodeId> {
    StorageIOError::new(ErrorSubject::Snapshot(None), verb, AnyError::new(&e)).into()
}

/// Runs a call into the applier on a blocking thread.
async fn blocking<T: Send + 'static>(
    verb: ErrorVerb,
    f: impl FnOnce() -> Result<T, crate::boundary::ApplyError> + Send + 'static,
) -> StoreResult<T> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r.map_err(|e| sm_error(verb, e)),
        Err(join) => Err(sm_error(verb, join)),
    }
}

impl StateMachine {
    /// Loads the applied state from the applier; snapshots live in `dir`.
    pub(crate) async fn open(
        applier: Arc<dyn BlockApplier>,
        waiters: Arc<Waiters>,
        dir: &Path,
    ) -> Result<StateMachine, ConsensusError> {
        let a = applier.clone();
        let marker = tokio::task::spawn_blocking(move || a.applied_state())
            .await
            .map_err(|e| ConsensusError::Stopped { reason: Some(format!("loading the applied state: {e}")) })??;
        let state = match marker {
            Some(m) => AppliedState::decode(&m).map_err(|e| ConsensusError::Storage {
                path: "ledger (applied marker)".into(),
                reason: format!("undecodable applied marker: {e}"),
            })?,
            None => AppliedState::default(),
        };
        Ok(StateMachine {
            shared: Arc::new(SmShared {
                applier,
                last_timestamp_ms: AtomicU64::new(state.last_timestamp_ms),
                state: Mutex::new(state),
                waiters,
                dir: dir.to_path_buf(),
                current: std::sync::Mutex::new(None),
                snapshot_seq: AtomicU64::new(0),
            }),
        })
    }

    /// What the orderer reads: the last applied block's timestamp.
    pub(crate) fn shared(&self) -> Arc<SmShared> {
        self.shared.clone()
    }
}

impl SmShared {
    /// The last applied block's timestamp (ms since the Unix epoch).
    pub(crate) fn last_timestamp_ms(&self) -> u64 {
        self.last_timestamp_ms.load(Ordering::Acquire)
    }

    fn current(&self) -> Option<Arc<StoredSnapshot>> {
        self.current.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn set_current(&self, s: Arc<StoredSnapshot>) {
        *self.current.lock().unwrap_or_else(|p| p.into_inner()) = Some(s);
    }

    /// Writes the snapshot to `snapshot.bin` durably (temporary file, fsync, rename).
    async fn persist(&self, snap: Arc<StoredSnapshot>) -> StoreResult<()> {
        let dir = self.dir.clone();
        let res = tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            use std::io::Write;
            let tmp = dir.join(format!("{SNAPSHOT_FILE}.tmp"));
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&encode(snap.as_ref()))?;
            f.sync_all()?;
            std::fs::rename(&tmp, dir.join(SNAPSHOT_FILE))?;
            // Make the rename durable too; not every platform can open a directory.
            if let Ok(d) = std::fs::File::open(&dir) {
                let _ = d.sync_all();
            }
            Ok(())
        })
        .await;
        match res {
            Ok(r) => r.map_err(|e| snapshot_error(ErrorVerb::Write, e)),
            Err(join) => Err(snapshot_error(ErrorVerb::Write, join)),
        }
    }

    async fn load(&self) -> StoreResult<Option<Arc<StoredSnapshot>>> {
        if let Some(s) = self.current() {
            return Ok(Some(s));
        }
        let path = self.dir.join(SNAPSHOT_FILE);
        let bytes = match tokio::task::spawn_blocking(move || std::fs::read(path)).await {
            Ok(Ok(b)) => b,
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Ok(Err(e)) => return Err(snapshot_error(ErrorVerb::Read, e)),
            Err(join) => return Err(snapshot_error(ErrorVerb::Read, join)),
        };
        let snap: StoredSnapshot = decode(&bytes, SNAPSHOT_LIMIT).map_err(|e| snapshot_error(ErrorVerb::Read, e))?;
        let snap = Arc::new(snap);
        self.set_current(snap.clone());
        Ok(Some(snap))
    }
}

fn to_snapshot(s: &StoredSnapshot) -> Snapshot<TypeConfig> {
    Snapshot { meta: s.meta.clone(), snapshot: Box::new(Cursor::new(s.data.clone())) }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(&mut self) -> StoreResult<(Option<LogId<NodeId>>, StoredMembership<NodeId, BasicNode>)> {
        let state = self.shared.state.lock().await;
        Ok((state.last_applied, state.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> StoreResult<Vec<ApplyResponse>>
    where
        I: IntoIterator<Item = Entry> + Send,
        I::IntoIter: Send,
    {
        let shared = &self.shared;
        let mut state = shared.state.lock().await;
        let mut replies = Vec::new();
        for entry in entries {
            let mut next = state.clone();
            next.last_applied = Some(entry.log_id);
            match entry.payload {
                EntryPayload::Blank => {
                    let (applier, marker) = (shared.applier.clone(), next.marker());
                    blocking(ErrorVerb::Write, move || applier.apply_marker(marker)).await?;
                    replies.push(ApplyResponse { block: None });
                }
                EntryPayload::Membership(m) => {
                    next.membership = StoredMembership::new(Some(entry.log_id), m);
                    let (applier, marker) = (shared.applier.clone(), next.marker());
                    blocking(ErrorVerb::Write, move || applier.apply_marker(marker)).await?;
                    replies.push(ApplyResponse { block: None });
                }
                EntryPayload::Normal(data) => {
                    let number = state.blocks;
                    let proposal = Arc::try_unwrap(data.0).unwrap_or_else(|shared| (*shared).clone());
                    next.blocks = number + 1;
                    next.last_timestamp_ms = proposal.timestamp_ms;
                    // Only a leader has waiters; followers skip hashing the ids.
                    let tx_ids: Option<Vec<_>> =
                        (!shared.waiters.is_empty()).then(|| proposal.transactions.iter().map(|t| t.tx_id()).collect());
                    let count = proposal.transactions.len();
                    let (applier, marker) = (shared.applier.clone(), next.marker());
                    let codes = blocking(ErrorVerb::Write, move || applier.apply(proposal, marker)).await?;
                    if codes.len() != count {
                        let e = AnyError::error(format!(
                            "the ledger returned {} validation codes for block {number} of {count} transactions",
                            codes.len()
                        ));
                        return Err(StorageIOError::apply(entry.log_id, e).into());
                    }
                    if let Some(ids) = tx_ids {
                        shared.waiters.resolve(number, &ids, &codes);
                    }
                    shared.last_timestamp_ms.fetch_max(next.last_timestamp_ms, Ordering::AcqRel);
                    replies.push(ApplyResponse { block: Some(number) });
                }
            }
            *state = next;
        }
        Ok(replies)
    }

    async fn get_snapshot_builder(&mut self) -> SnapshotBuilder {
        SnapshotBuilder { shared: self.shared.clone() }
    }

    async fn begin_receiving_snapshot(&mut self) -> StoreResult<Box<Cursor<Vec<u8>>>> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<NodeId, BasicNode>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> StoreResult<()> {
        let data = snapshot.into_inner();
        let payload: SnapshotPayload = decode(&data, SNAPSHOT_LIMIT)
            .map_err(|e| StorageIOError::read_snapshot(Some(meta.signature()), AnyError::new(&e)))?;
        let next = AppliedState {
            last_applied: meta.last_log_id,
            membership: meta.last_membership.clone(),
            blocks: payload.blocks,
            last_timestamp_ms: payload.last_timestamp_ms,
        };
        let mut state = self.shared.state.lock().await;
        let (applier, marker) = (self.shared.applier.clone(), next.marker());
        let ledger = payload.ledger;
        blocking(ErrorVerb::Write, move || applier.install_snapshot(&ledger, marker)).await?;
        self.shared.last_timestamp_ms.fetch_max(next.last_timestamp_ms, Ordering::AcqRel);
        *state = next;
        drop(state);
        let stored = Arc::new(StoredSnapshot { meta: meta.clone(), data });
        self.shared.persist(stored.clone()).await?;
        self.shared.set_current(stored);
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> StoreResult<Option<Snapshot<TypeConfig>>> {
        Ok(self.shared.load().await?.map(|s| to_snapshot(&s)))
    }
}

/// Builds a snapshot from the ledger while holding back applies.
pub(crate) struct SnapshotBuilder {
    shared: Arc<SmShared>,
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    async fn build_snapshot(&mut self) -> StoreResult<Snapshot<TypeConfig>> {
        let shared = &self.shared;
        let (state, ledger) = {
            let state = shared.state.lock().await;
            let applier = shared.applier.clone();
            let ledger = blocking(ErrorVerb::Read, move || applier.snapshot()).await?;
            (state.clone(), ledger)
        };
        let payload = SnapshotPayload { blocks: state.blocks, last_timestamp_ms: state.last_timestamp_ms, ledger };
        let seq = shared.snapshot_seq.fetch_add(1, Ordering::Relaxed);
        let snapshot_id = match state.last_applied {
            Some(l) => format!("{}-{}-{}-{seq}", l.leader_id.term, l.leader_id.node_id, l.index),
            None => format!("none-{seq}"),
        };
        let meta = SnapshotMeta { last_log_id: state.last_applied, last_membership: state.membership, snapshot_id };
        let stored = Arc::new(StoredSnapshot { meta, data: encode(&payload) });
        shared.persist(stored.clone()).await?;
        shared.set_current(stored.clone());
        Ok(to_snapshot(&stored))
    }
}
