//! `teechain ledger ...`

use crate::output::Output;
use anyhow::{bail, Context, Result};
use clap::Subcommand;
use serde_json::json;
use std::path::{Path, PathBuf};
use teechain_node::config::NetworkConfig;
use teechain_node::rpc::ClientTls;
use teechain_types::{Block, Hash32};

#[derive(Subcommand)]
pub(crate) enum LedgerCommand {
    /// Check every node's hash chain and that all nodes agree block by block.
    Verify {
        /// Network directory.
        #[arg(long)]
        dir: PathBuf,
    },
}

/// Every node's blocks: read from the files when the network is down, fetched from the
/// nodes' peer services when it is up.
fn chains(dir: &Path, config: &NetworkConfig) -> Result<Vec<(String, Vec<Block>)>> {
    if crate::cmd::network::is_up(dir) {
        teechain_node::rpc::tls::install_crypto_provider();
        // The peer service admits node certificates only: use this directory's first node.
        let first = config.nodes.first().context("network has no nodes")?;
        let tls = ClientTls::for_node(dir, config, first)?;
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        config
            .active_nodes()
            .map(|n| {
                let blocks = rt.block_on(crate::conn::chain_of(&n.peer_address, &tls));
                Ok((n.name.clone(), blocks.with_context(|| format!("fetching blocks of {}", n.name))?))
            })
            .collect()
    } else {
        config
            .active_nodes()
            .map(|n| {
                let ledger = teechain_ledger::Ledger::open(&dir.join(&n.data_dir).join("ledger.redb"))
                    .with_context(|| format!("opening the ledger of {}", n.name))?;
                let blocks = (0..ledger.height())
                    .map(|i| ledger.block(i)?.context("block missing"))
                    .collect::<Result<Vec<_>>>()?;
                Ok((n.name.clone(), blocks))
            })
            .collect()
    }
}

pub(crate) fn run(cmd: LedgerCommand, out: &Output) -> Result<()> {
    let LedgerCommand::Verify { dir } = cmd;
    let config = NetworkConfig::load(&dir)?;
    let mut nodes = Vec::new();
    let mut reference: Option<(String, Vec<Hash32>)> = None;
    for (name, blocks) in chains(&dir, &config)? {
        let hashes: Vec<Hash32> = blocks.iter().map(|b| b.hash()).collect();
        let summary =
            teechain_ledger::verify_blocks(blocks.into_iter().map(Ok)).with_context(|| format!("chain of {name}"))?;
        if let Some((ref_name, ref_hashes)) = &reference {
            // A node that is merely behind agrees on every block it has.
            let common = ref_hashes.len().min(hashes.len());
            if let Some(n) = (0..common).find(|&i| ref_hashes[i] != hashes[i]) {
                bail!(
                    "{name} and {ref_name} differ first at block {n}: {} vs {}",
                    hashes[n].short(),
                    ref_hashes[n].short()
                );
            }
        } else {
            reference = Some((name.clone(), hashes));
        }
        out.line(format!(
            "{name}: {} blocks, {} transactions ({} valid), tip {}",
            summary.height,
            summary.transactions,
            summary.valid,
            summary.last_hash.short()
        ));
        nodes.push(json!({ "node": name, "height": summary.height, "transactions": summary.transactions,
                           "valid": summary.valid, "tip": summary.last_hash.to_hex() }));
    }
    out.result("all nodes agree; hash chains intact", json!({ "ok": true, "nodes": nodes }));
    Ok(())
}
