use crate::block_with_writes;
use teechain_ledger::{Ledger, LedgerError};
use teechain_types::state::StateView;
use teechain_types::{Hash32, ValidationCode};

fn ledger() -> (tempfile::TempDir, Ledger) {
    let dir = tempfile::tempdir().expect("tempdir");
    let l = Ledger::open(&dir.path().join("l.redb")).expect("open");
    (dir, l)
}

#[test]
fn only_the_next_block_commits() {
    let (_d, l) = ledger();
    let (b0, o0) = block_with_writes(0, Hash32::ZERO, 2, 8);
    let h0 = l.commit(b0.clone(), &o0).expect("b0");
    assert!(matches!(l.commit(b0, &o0), Err(LedgerError::NotNext { .. })), "same block twice");
    let (wrong_prev, o) = block_with_writes(1, Hash32::ZERO, 1, 8);
    assert!(matches!(l.commit(wrong_prev, &o), Err(LedgerError::NotNext { .. })));
    let (mut tampered, o) = block_with_writes(1, h0, 1, 8);
    tampered.transactions[0].payload.header.timestamp_ms += 1;
    assert!(matches!(l.commit(tampered, &o), Err(LedgerError::BadDataHash { .. })));
    let (b1, o1) = block_with_writes(1, h0, 1, 8);
    l.commit(b1, &o1).expect("b1");
    assert_eq!(l.height(), 2);
    assert_eq!(l.verify_chain().expect("verify").height, 2);
}

#[test]
fn reopen_keeps_tip_state_history_and_tx_index() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("l.redb");
    let tx_id;
    {
        let l = Ledger::open(&path).expect("open");
        let mut prev = Hash32::ZERO;
        for n in 0..3 {
            let (b, o) = block_with_writes(n, prev, 2, 4);
            prev = l.commit(b, &o).expect("commit");
        }
        tx_id = l.block(2).expect("read").expect("block").transactions[1].tx_id();
    }
    let l = Ledger::open(&path).expect("reopen");
    assert_eq!(l.height(), 3);
    let status = l.tx_status(&tx_id).expect("status").expect("indexed");
    assert_eq!((status.block, status.index, status.code), (2, 1, ValidationCode::Valid));
    let snap = l.snapshot().expect("snap");
    let h = snap.history("cc", b"counter", 100).expect("history");
    // Two transactions per block each wrote the counter.
    assert_eq!(h.len(), 6);
    assert_eq!(h.last().expect("entry").value.as_deref(), Some(&b"2"[..]));
    assert_eq!(snap.history("cc", b"counter", 2).expect("history").len(), 2, "newest entries kept under a limit");
    let range = snap.range("cc", b"key-1", b"key-2", 100).expect("range");
    assert_eq!(range.len(), 2);
    assert!(snap.range("other", b"", b"", 100).expect("range").is_empty(), "namespaces are separate");
}

#[test]
fn the_applied_marker_commits_with_its_block() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("l.redb");
    {
        let l = Ledger::open(&path).expect("open");
        assert_eq!(l.marker().expect("marker"), None);
        let (b, o) = block_with_writes(0, Hash32::ZERO, 1, 4);
        l.commit_with_marker(b, &o, Some(b"log-7")).expect("commit");
        // A rejected block leaves the marker alone.
        let (bad, o) = block_with_writes(5, Hash32::ZERO, 1, 4);
        assert!(l.commit_with_marker(bad, &o, Some(b"log-8")).is_err());
        assert_eq!(l.marker().expect("marker").as_deref(), Some(&b"log-7"[..]));
        l.set_marker(b"log-9").expect("set");
    }
    let l = Ledger::open(&path).expect("reopen");
    assert_eq!(l.marker().expect("marker").as_deref(), Some(&b"log-9"[..]));
    assert_eq!(l.height(), 1);
}
