use crate::block_with_writes;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use teechain_ledger::Ledger;
use teechain_types::state::StateView;

const CHILD_ENV: &str = "TEECHAIN_CRASH_CHILD_LEDGER";

/// Not a test on its own: the body of the child process. Commits blocks forever,
/// printing each committed height, until it is killed.
#[test]
#[ignore = "run only as the child of kill_during_commit_leaves_a_whole_block"]
fn crash_child() {
    let Ok(path) = std::env::var(CHILD_ENV) else { return };
    let ledger = Ledger::open(std::path::Path::new(&path)).expect("open");
    loop {
        let n = ledger.height();
        let (block, outcome) = block_with_writes(n, ledger.last_hash(), 50, 2048);
        ledger.commit(block, &outcome).expect("commit");
        println!("committed {n}");
    }
}

/// Steps: start the child on a fresh ledger; read its output until it has committed a
/// few blocks (so it is mid-stream, very likely inside a commit); SIGKILL it; reopen.
/// Repeated, each round on the ledger the previous crash left.
#[test]
fn kill_during_commit_leaves_a_whole_block() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("ledger.redb");
    let mut last_height = 0;
    for round in 0..3 {
        let mut child = Command::new(std::env::current_exe().expect("exe"))
            .args(["--exact", "crash::crash_child", "--ignored", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, &path)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn child");
        let stdout = child.stdout.take().expect("stdout");
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut seen = 0;
        for line in BufReader::new(stdout).lines() {
            let line = line.expect("read");
            if line.starts_with("committed ") {
                seen += 1;
                if seen >= 5 + round * 3 {
                    break;
                }
            }
            assert!(Instant::now() < deadline, "child made no progress");
        }
        assert!(seen > 0, "child committed nothing");
        child.kill().expect("SIGKILL");
        child.wait().expect("reap");

        let ledger = Ledger::open(&path).expect("reopen after crash");
        let summary = ledger.verify_chain().expect("hash chain intact");
        assert!(summary.height > last_height, "round {round}: progress kept");
        assert_eq!(summary.height, ledger.height());
        // State is exactly that of the last whole block: its counter and all its keys.
        let snap = ledger.snapshot().expect("snapshot");
        let top = summary.height - 1;
        let counter = snap.get("cc", b"counter").expect("get").expect("counter");
        assert_eq!(counter.value, top.to_string().into_bytes());
        assert!(snap.get("cc", format!("key-{top}-49").as_bytes()).expect("get").is_some());
        assert!(snap.get("cc", format!("key-{}-0", top + 1).as_bytes()).expect("get").is_none());
        last_height = summary.height;
    }
}
