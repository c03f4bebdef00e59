//! `teechain node ...`: one node as its own process, and membership changes.

use crate::output::Output;
use crate::procs;
use anyhow::{bail, Context, Result};
use clap::Subcommand;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use teechain_node::config::{add_node, NetworkConfig, NodeEntry};
use teechain_node::rpc::{ClientTls, PeerClient};
use teechain_node::service::{run, NodeSetup, MEMBERSHIP_JOIN, MEMBERSHIP_LEAVE};
use teechain_types::codec::encode;

#[derive(Subcommand)]
pub(crate) enum NodeCommand {
    /// Run one node (ledger, enclave, Raft, gRPC) until SIGTERM or Ctrl-C.
    Start {
        /// The node's config: `nodes/<name>/node.json` in a network directory.
        #[arg(long)]
        config: PathBuf,
    },
    /// Add a node of an organisation to the network directory (identity, id, ports).
    Add {
        /// Network directory.
        #[arg(long)]
        dir: PathBuf,
        /// The node's organisation.
        #[arg(long)]
        org: String,
    },
    /// Start an added node and have the running network take it in: it catches up as a
    /// learner, then becomes a voter.
    Join {
        /// Network directory.
        #[arg(long)]
        dir: PathBuf,
        /// The node's name, e.g. `peer1.org1`.
        #[arg(long)]
        name: String,
    },
    /// Remove a node from the running network and stop it. Its id is never reused.
    Remove {
        /// Network directory.
        #[arg(long)]
        dir: PathBuf,
        /// The node's name.
        #[arg(long)]
        name: String,
    },
}

pub(crate) fn run_command(cmd: NodeCommand, out: &Output) -> Result<()> {
    match cmd {
        NodeCommand::Start { config } => start(config),
        NodeCommand::Add { dir, org } => {
            let n = add_node(&dir, &org)?;
            out.result(
                format!("added {} (node id {}): gateway {}, peer {}", n.name, n.node_id, n.gateway_address, n.peer_address),
                json!({ "ok": true, "node": n.name, "node_id": n.node_id, "gateway": n.gateway_address, "peer": n.peer_address }),
            );
            Ok(())
        }
        NodeCommand::Join { dir, name } => join(&dir, &name, out),
        NodeCommand::Remove { dir, name } => remove(&dir, &name, out),
    }
}

fn start(config: PathBuf) -> Result<()> {
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

/// Sends a membership request on the Raft channel to the other nodes until one (the
/// leader) accepts it, for at most `budget`.
fn membership(
    dir: &Path,
    config: &NetworkConfig,
    me: &NodeEntry,
    kind: u32,
    body: Vec<u8>,
    budget: Duration,
) -> Result<()> {
    teechain_node::rpc::tls::install_crypto_provider();
    let tls = ClientTls::for_node(dir, config, me)?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let deadline = Instant::now() + budget;
    let mut last = String::new();
    while Instant::now() < deadline {
        for other in config.active_nodes().filter(|n| n.name != me.name) {
            let r = rt.block_on(async { PeerClient::new(&other.peer_address, &tls)?.raft(kind, body.clone()).await });
            match r {
                Ok(_) => return Ok(()),
                Err(e) => last = format!("{}: {e}", other.name),
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    bail!("no node accepted the membership change within {budget:?}; last answer: {last}")
}

fn join(dir: &Path, name: &str, out: &Output) -> Result<()> {
    let config = NetworkConfig::load(dir)?;
    let me = config
        .node(name)
        .cloned()
        .with_context(|| format!("no node {name} in the network; add it with `teechain node add`"))?;
    let files = procs::files(dir, &me);
    if procs::running_pid(&files).is_none() {
        let pid = procs::start(dir, &me)?;
        out.line(format!("{name} started (pid {pid}), log {}", files.log.display()));
    }
    membership(
        dir,
        &config,
        &me,
        MEMBERSHIP_JOIN,
        encode(&(me.node_id, me.peer_address.clone())),
        Duration::from_secs(120),
    )?;
    let heights = crate::cmd::network::wait_for_agreement(dir)?;
    // Its enclave endorses once an admin of its organisation has registered it.
    crate::cmd::enclave::register(dir, Some(name), None, out)?;
    out.result(
        format!("{name} joined as a voter and caught up: {} nodes at height {}", heights.len(), heights.first().map(|h| h.1).unwrap_or(0)),
        json!({ "ok": true, "node": name, "node_id": me.node_id, "nodes": heights.len(), "height": heights.first().map(|h| h.1) }),
    );
    Ok(())
}

fn remove(dir: &Path, name: &str, out: &Output) -> Result<()> {
    let mut config = NetworkConfig::load(dir)?;
    let me = config.node(name).cloned().with_context(|| format!("no node {name} in the network"))?;
    membership(dir, &config, &me, MEMBERSHIP_LEAVE, encode(&me.node_id), Duration::from_secs(60))?;
    let killed = procs::stop(&procs::files(dir, &me), Duration::from_secs(15))?;
    if let Some(n) = config.nodes.iter_mut().find(|n| n.name == name) {
        n.removed = true;
    }
    config.save(dir)?;
    out.result(
        format!("{name} removed from the network and stopped{}", if killed { " (killed)" } else { "" }),
        json!({ "ok": true, "node": name, "node_id": me.node_id }),
    );
    Ok(())
}
