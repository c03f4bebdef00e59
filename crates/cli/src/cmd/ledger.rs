//! `teechain ledger ...`

use crate::output::Output;
use anyhow::{bail, Result};
use clap::Subcommand;
use serde_json::json;
use std::path::PathBuf;
use teechain_node::LocalNetwork;

#[derive(Subcommand)]
pub(crate) enum LedgerCommand {
    /// Check every node's hash chain and that all nodes agree block by block.
    Verify {
        /// Network directory.
        #[arg(long)]
        dir: PathBuf,
    },
}

pub(crate) fn run(cmd: LedgerCommand, out: &Output) -> Result<()> {
    let LedgerCommand::Verify { dir } = cmd;
    let net = LocalNetwork::open(&dir)?;
    let mut nodes = Vec::new();
    let mut reference: Option<(String, Vec<teechain_types::Hash32>)> = None;
    for peer in net.peers() {
        let summary = peer.ledger().verify_chain()?;
        let mut hashes = Vec::new();
        for n in 0..summary.height {
            if let Some(b) = peer.ledger().block(n)? {
                hashes.push(b.hash());
            }
        }
        if let Some((ref_name, ref_hashes)) = &reference {
            if let Some(n) = (0..ref_hashes.len().max(hashes.len())).find(|&i| ref_hashes.get(i) != hashes.get(i)) {
                bail!("{} and {ref_name} differ first at block {n}", peer.name());
            }
        } else {
            reference = Some((peer.name().to_string(), hashes));
        }
        out.line(format!(
            "{}: {} blocks, {} transactions ({} valid), tip {}",
            peer.name(),
            summary.height,
            summary.transactions,
            summary.valid,
            summary.last_hash.short()
        ));
        nodes.push(json!({ "node": peer.name(), "height": summary.height, "transactions": summary.transactions,
                           "valid": summary.valid, "tip": summary.last_hash.to_hex() }));
    }
    out.result("all nodes agree; hash chains intact", json!({ "ok": true, "nodes": nodes }));
    Ok(())
}
