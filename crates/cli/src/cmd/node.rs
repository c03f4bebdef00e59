//! `teechain node ...`: one node as its own process.

use crate::output::Output;
use anyhow::{Context, Result};
use clap::Subcommand;
use std::path::PathBuf;
use teechain_node::service::{run, NodeSetup};

#[derive(Subcommand)]
pub(crate) enum NodeCommand {
    /// Run one node (ledger, enclave, Raft, gRPC) until SIGTERM or Ctrl-C.
    Start {
        /// The node's config: `nodes/<name>/node.json` in a network directory.
        #[arg(long)]
        config: PathBuf,
    },
}

pub(crate) fn run_command(cmd: NodeCommand, _out: &Output) -> Result<()> {
    let NodeCommand::Start { config } = cmd;
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,openraft=warn,h2=warn,tower=warn")),
        )
        .with_ansi(false)
        .init();
    let setup = NodeSetup::load(&config).with_context(|| format!("reading {}", config.display()))?;
    tracing::warn!("enclave platform: virtual (INSECURE: software only, no hardware isolation)");
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the async runtime")?;
    rt.block_on(async move {
        let shutdown = async {
            let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(t) => t,
                Err(_) => return std::future::pending().await,
            };
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        };
        run(setup, shutdown).await
    })?;
    Ok(())
}
