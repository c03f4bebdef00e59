//! `teechain network ...`

use crate::output::Output;
use anyhow::{Context, Result};
use clap::Subcommand;
use serde_json::json;
use std::path::PathBuf;
use teechain_node::config::init_network;

#[derive(Subcommand)]
pub(crate) enum NetworkCommand {
    /// Create a network directory: CAs, identities, channel config, node directories.
    Init {
        /// Directory to create the network in.
        #[arg(long)]
        dir: PathBuf,
        /// Organisations, comma-separated.
        #[arg(long, value_delimiter = ',', default_value = "org1,org2,org3")]
        orgs: Vec<String>,
        /// Channel id.
        #[arg(long, default_value = "teechain")]
        channel: String,
    },
}

pub(crate) fn run(cmd: NetworkCommand, out: &Output) -> Result<()> {
    match cmd {
        NetworkCommand::Init { dir, orgs, channel } => {
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            let config = init_network(&dir, &channel, &orgs)?;
            let nodes: Vec<_> = config.nodes.iter().map(|n| n.name.clone()).collect();
            out.result(
                format!(
                    "network created in {}\n  channel {} with organisations {}\n  nodes: {}\n  lifecycle policy: {}\n  enclave platform: virtual (INSECURE: software only, no hardware isolation)",
                    dir.display(),
                    channel,
                    orgs.join(", "),
                    nodes.join(", "),
                    config.channel.lifecycle_policy
                ),
                json!({ "ok": true, "dir": dir, "channel": channel, "orgs": orgs, "nodes": nodes,
                        "lifecycle_policy": config.channel.lifecycle_policy, "platform": "virtual", "insecure": true }),
            );
            Ok(())
        }
    }
}
