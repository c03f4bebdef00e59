//! The `teechain` binary as a user runs it, and networks of real node processes on
//! 127.0.0.1 in temporary directories.

/// Commands as a user types them: refused on a stopped network, run against node
/// processes, and the demos.
mod commands;
/// The enclave registry on node processes: registration, forged and unregistered
/// endorsements, lost sealed keys.
mod enclaves;
/// Networks of node processes: Raft ordering, mutual TLS, faults.
mod network;
/// Private data collections on node processes: confidentiality, dissemination,
/// reconciliation, purge.
mod private;

use std::process::{Command, Output};

pub(crate) fn teechain(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_teechain")).args(args).output().expect("run teechain")
}

pub(crate) fn json(out: &Output) -> serde_json::Value {
    let text = String::from_utf8_lossy(&out.stdout);
    let last = text.lines().last().unwrap_or_default();
    serde_json::from_str(last).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}
