//! Submitters waiting for the block that holds their transaction.
//!
//! A waiter is registered by [`crate::Orderer::submit`] on the leader, tagged with the
//! term it was accepted in. The state machine resolves waiters when it applies the block
//! holding their transaction (on this node only); the orderer fails them when leadership
//! of their term is lost, when a proposal is refused, or on shutdown.

use crate::error::ConsensusError;
use crate::orderer::Committed;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use teechain_types::{TxId, ValidationCode};
use tokio::sync::oneshot;

/// The answer a submitter gets.
pub(crate) type Outcome = Result<Committed, ConsensusError>;

struct Waiter {
    id: u64,
    term: u64,
    tx: oneshot::Sender<Outcome>,
}

/// Waiters by transaction id.
#[derive(Default)]
pub(crate) struct Waiters {
    map: Mutex<HashMap<TxId, Vec<Waiter>>>,
    count: AtomicUsize,
    next_id: AtomicU64,
}

/// A registered waiter: its key for removal and the receiver of its outcome.
pub(crate) struct Ticket {
    pub(crate) tx_id: TxId,
    pub(crate) id: u64,
    pub(crate) rx: oneshot::Receiver<Outcome>,
}

impl Waiters {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<TxId, Vec<Waiter>>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// True when nobody waits (the common case on followers).
    pub(crate) fn is_empty(&self) -> bool {
        self.count.load(Ordering::Acquire) == 0
    }

    /// Registers a waiter for `tx_id`, accepted in `term`.
    pub(crate) fn register(&self, tx_id: TxId, term: u64) -> Ticket {
        let (tx, rx) = oneshot::channel();
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut map = self.lock();
        map.entry(tx_id).or_default().push(Waiter { id, term, tx });
        self.count.fetch_add(1, Ordering::AcqRel);
        Ticket { tx_id, id, rx }
    }

    /// Removes one waiter (it gave up); true if it was still there.
    pub(crate) fn remove(&self, tx_id: &TxId, id: u64) -> bool {
        let mut map = self.lock();
        let Some(list) = map.get_mut(tx_id) else { return false };
        let before = list.len();
        list.retain(|w| w.id != id);
        let removed = before - list.len();
        if list.is_empty() {
            map.remove(tx_id);
        }
        self.count.fetch_sub(removed, Ordering::AcqRel);
        removed > 0
    }

    /// Resolves the waiters of the transactions of block `block`. A transaction id that
    /// occurs twice resolves at its first occurrence.
    pub(crate) fn resolve(&self, block: u64, tx_ids: &[TxId], codes: &[ValidationCode]) {
        let mut map = self.lock();
        for (index, (tx_id, code)) in tx_ids.iter().zip(codes).enumerate() {
            if let Some(list) = map.remove(tx_id) {
                self.count.fetch_sub(list.len(), Ordering::AcqRel);
                for w in list {
                    let _ = w.tx.send(Ok(Committed { tx_id: *tx_id, block, index: index as u32, code: *code }));
                }
            }
        }
    }

    /// Fails the waiters of the given transactions (a proposal that was refused).
    pub(crate) fn fail_ids(&self, tx_ids: &[TxId], err: impl Fn() -> ConsensusError) {
        let mut map = self.lock();
        for tx_id in tx_ids {
            if let Some(list) = map.remove(tx_id) {
                self.count.fetch_sub(list.len(), Ordering::AcqRel);
                for w in list {
                    let _ = w.tx.send(Err(err()));
                }
            }
        }
    }

    /// Fails every waiter accepted in `term` or earlier (leadership of `term` was lost).
    pub(crate) fn fail_terms_up_to(&self, term: u64, err: impl Fn() -> ConsensusError) {
        self.fail_where(|w| w.term <= term, err)
    }

    /// Fails every waiter (shutdown).
    pub(crate) fn fail_all(&self, err: impl Fn() -> ConsensusError) {
        self.fail_where(|_| true, err)
    }

    fn fail_where(&self, pred: impl Fn(&Waiter) -> bool, err: impl Fn() -> ConsensusError) {
        let mut map = self.lock();
        let mut failed = 0;
        map.retain(|_, list| {
            let (gone, keep): (Vec<Waiter>, Vec<Waiter>) = std::mem::take(list).into_iter().partition(|w| pred(w));
            failed += gone.len();
            for w in gone {
                let _ = w.tx.send(Err(err()));
            }
            *list = keep;
            !list.is_empty()
        });
        self.count.fetch_sub(failed, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use teechain_types::Hash32;

    fn id(n: u8) -> TxId {
        Hash32([n; 32])
    }

    #[test]
    fn resolves_first_occurrence_and_counts() {
        let w = Waiters::default();
        let mut a = w.register(id(1), 3);
        let mut b = w.register(id(1), 3);
        let mut c = w.register(id(2), 3);
        assert!(!w.is_empty());
        w.resolve(
            7,
            &[id(9), id(1), id(1)],
            &[ValidationCode::Valid, ValidationCode::Valid, ValidationCode::DuplicateTxId],
        );
        for t in [&mut a, &mut b] {
            let got = t.rx.try_recv().expect("resolved").expect("committed");
            assert_eq!((got.block, got.index, got.code), (7, 1, ValidationCode::Valid));
        }
        assert!(c.rx.try_recv().is_err(), "still waiting");
        assert!(w.remove(&id(2), c.id));
        assert!(w.is_empty());
    }

    #[test]
    fn lost_term_fails_only_its_waiters() {
        let w = Waiters::default();
        let mut old = w.register(id(1), 4);
        let mut new = w.register(id(2), 5);
        w.fail_terms_up_to(4, || ConsensusError::LeadershipLost { leader_id: Some(2), leader_address: None });
        assert!(matches!(old.rx.try_recv(), Ok(Err(ConsensusError::LeadershipLost { leader_id: Some(2), .. }))));
        assert!(new.rx.try_recv().is_err(), "a later term's waiter keeps waiting");
        w.fail_all(ConsensusError::stopped);
        assert!(matches!(new.rx.try_recv(), Ok(Err(ConsensusError::Stopped { .. }))));
        assert!(w.is_empty());
    }
}
