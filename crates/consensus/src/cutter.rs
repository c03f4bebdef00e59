//! Block cutting: batching submitted transactions into block proposals.

use std::time::{Duration, Instant};
use teechain_types::codec::encode;
use teechain_types::Transaction;

/// When to cut a block.
#[derive(Clone, Copy, Debug)]
pub struct BatchLimits {
    /// Most transactions per block.
    pub max_transactions: usize,
    /// Most encoded transaction bytes per block.
    pub max_bytes: usize,
    /// Longest a transaction waits for a block once it is pending.
    pub timeout: Duration,
}

impl Default for BatchLimits {
    fn default() -> Self {
        BatchLimits { max_transactions: 500, max_bytes: 8 << 20, timeout: Duration::from_millis(50) }
    }
}

/// Accumulates transactions and says when a block is due.
#[derive(Debug)]
pub struct BlockCutter {
    limits: BatchLimits,
    pending: Vec<Transaction>,
    pending_bytes: usize,
    oldest: Option<Instant>,
}

impl BlockCutter {
    /// An empty cutter.
    pub fn new(limits: BatchLimits) -> BlockCutter {
        BlockCutter { limits, pending: Vec::new(), pending_bytes: 0, oldest: None }
    }

    /// Adds a transaction; returns the batches that are now full, in order. A
    /// transaction larger than `max_bytes` alone forms its own batch.
    pub fn push(&mut self, tx: Transaction) -> Vec<Vec<Transaction>> {
        let size = encode(&tx).len();
        self.push_sized(tx, size)
    }

    /// [`BlockCutter::push`] for a transaction whose encoded size is already known.
    pub fn push_sized(&mut self, tx: Transaction, size: usize) -> Vec<Vec<Transaction>> {
        let mut cut = Vec::new();
        if !self.pending.is_empty() && self.pending_bytes + size > self.limits.max_bytes {
            cut.push(self.take());
        }
        self.pending.push(tx);
        self.pending_bytes += size;
        self.oldest.get_or_insert_with(Instant::now);
        if self.pending.len() >= self.limits.max_transactions || self.pending_bytes >= self.limits.max_bytes {
            cut.push(self.take());
        }
        cut
    }

    /// When the pending batch is due by age, if anything is pending.
    pub fn deadline(&self) -> Option<Instant> {
        self.oldest.map(|t| t + self.limits.timeout)
    }

    /// Takes whatever is pending (possibly nothing).
    pub fn take(&mut self) -> Vec<Transaction> {
        self.pending_bytes = 0;
        self.oldest = None;
        std::mem::take(&mut self.pending)
    }

    /// Number of pending transactions.
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    /// True if nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tx(n: u8) -> Transaction {
        crate::testing::dummy_transaction(u64::from(n))
    }

    #[test]
    fn cuts_by_count_and_keeps_order() {
        let mut c = BlockCutter::new(BatchLimits { max_transactions: 2, ..Default::default() });
        assert!(c.push(tx(1)).is_empty());
        let cut = c.push(tx(2));
        assert_eq!(cut.len(), 1);
        assert_eq!(cut[0], vec![tx(1), tx(2)]);
        assert!(c.is_empty() && c.deadline().is_none());
    }

    #[test]
    fn cuts_by_bytes_before_overflowing() {
        let size = encode(&tx(1)).len();
        let mut c =
            BlockCutter::new(BatchLimits { max_transactions: 100, max_bytes: size * 2 + 1, ..Default::default() });
        assert!(c.push(tx(1)).is_empty());
        assert!(c.push(tx(2)).is_empty());
        let cut = c.push(tx(3));
        assert_eq!(cut, vec![vec![tx(1), tx(2)]]);
        assert_eq!(c.len(), 1);
        assert!(c.deadline().is_some());
    }
}
