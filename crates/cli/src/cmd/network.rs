//! `teechain network ...`: create a network directory, start and stop its nodes as
//! processes, show their status.

use crate::output::Output;
use crate::procs;
use anyhow::{bail, Context, Result};
use clap::Subcommand;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use teechain_node::config::{init_network_with, EnclaveMode, InitOptions, NetworkConfig};
use teechain_node::rpc::{ClientTls, GatewayClient, NodeStatus};

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
        /// Host the nodes listen on and are reached at.
        #[arg(long, default_value = "127.0.0.1")]
        host: String,
        /// First port: node i gets gateway port BASE+10i+1 and peer port BASE+10i+2.
        #[arg(long, default_value_t = 7050)]
        base_port: u16,
        /// Where each node's enclave runs: `in-process`, or `process` (its own
        /// `teechain-enclave` process behind a Unix socket).
        #[arg(long, value_enum, default_value_t = EnclaveArg::InProcess)]
        enclave: EnclaveArg,
        /// Another machine's virtual platform key (hex, from `teechain enclave
        /// platform-key` there) for the channel to trust besides this machine's.
        #[arg(long = "trust-platform-key")]
        trust_platform_keys: Vec<String>,
    },
    /// Start every node of the network as its own process and wait until they serve.
    Up {
        /// Network directory.
        #[arg(long)]
        dir: PathBuf,
    },
    /// Stop every node of the network.
    Down {
        /// Network directory.
        #[arg(long)]
        dir: PathBuf,
    },
    /// Show each node's role, term, last block and health.
    Status {
        /// Network directory.
        #[arg(long)]
        dir: PathBuf,
    },
}

pub(crate) fn run(cmd: NetworkCommand, out: &Output) -> Result<()> {
    match cmd {
        NetworkCommand::Init { dir, orgs, channel, host, base_port, enclave, trust_platform_keys } => {
            let enclave = match enclave {
                EnclaveArg::InProcess => EnclaveMode::InProcess,
                EnclaveArg::Process => EnclaveMode::Process,
            };
            let options = InitOptions { channel, host, base_port, enclave, trusted_platform_keys: trust_platform_keys };
            init(&dir, &orgs, &options, out)
        }
        NetworkCommand::Up { dir } => up(&dir, out),
        NetworkCommand::Down { dir } => down(&dir, out),
        NetworkCommand::Status { dir } => {
            let config = NetworkConfig::load(&dir)?;
            let statuses = statuses(&dir, &config)?;
            print_statuses(&config, &statuses, out);
            Ok(())
        }
    }
}

/// Where enclaves run, as `network init --enclave` spells it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum EnclaveArg {
    /// In the node's own process.
    InProcess,
    /// In a `teechain-enclave` process of its own.
    Process,
}

fn init(dir: &Path, orgs: &[String], options: &InitOptions, out: &Output) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let config = init_network_with(dir, orgs, options)?;
    let channel = options.channel.clone();
    let nodes: Vec<_> = config.nodes.iter().map(|n| n.name.clone()).collect();
    let lines: Vec<String> = config
        .nodes
        .iter()
        .map(|n| format!("  {}: gateway {}, peer {}", n.name, n.gateway_address, n.peer_address))
        .collect();
    out.result(
        format!(
            "network created in {}\n  channel {} with organisations {}\n{}\n  lifecycle policy: {}\n  enclave platform: virtual (INSECURE: software only, no hardware isolation)",
            dir.display(),
            channel,
            orgs.join(", "),
            lines.join("\n"),
            config.channel.lifecycle_policy
        ),
        json!({ "ok": true, "dir": dir, "channel": channel, "orgs": orgs, "nodes": nodes,
                "addresses": config.nodes.iter().map(|n| json!({"node": n.name, "gateway": n.gateway_address, "peer": n.peer_address})).collect::<Vec<_>>(),
                "lifecycle_policy": config.channel.lifecycle_policy, "platform": "virtual", "insecure": true }),
    );
    Ok(())
}

/// True if any node of the network runs as a process.
pub(crate) fn is_up(dir: &Path) -> bool {
    NetworkConfig::load(dir)
        .map(|c| procs::all(dir, &c).iter().any(|(_, f)| procs::running_pid(f).is_some()))
        .unwrap_or(false)
}

pub(crate) fn up(dir: &Path, out: &Output) -> Result<()> {
    let config = NetworkConfig::load(dir)?;
    for (node, files) in procs::all(dir, &config) {
        match procs::running_pid(&files) {
            Some(pid) => out.line(format!("{} already running (pid {pid})", node.name)),
            None => {
                let pid = procs::start(dir, &node)?;
                out.line(format!("{} started (pid {pid}), log {}", node.name, files.log.display()));
            }
        }
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let s = statuses(dir, &config)?;
        let serving = s.iter().all(|(_, st)| st.as_ref().is_ok_and(|st| st.healthy && st.leader.is_some()));
        if serving {
            break;
        }
        for (node, files) in procs::all(dir, &config) {
            if procs::running_pid(&files).is_none() {
                bail!("{} exited during start-up; see {}", node.name, files.log.display());
            }
        }
        if Instant::now() > deadline {
            print_statuses(&config, &s, out);
            bail!("the network did not elect a leader within 60 s; see the nodes' logs");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    // Only registered enclaves endorse: register the new ones, as each organisation's
    // admin (whose keys a local network directory holds).
    crate::cmd::enclave::register(dir, None, None, out)?;
    let statuses = statuses(dir, &config)?;
    print_statuses(&config, &statuses, out);
    Ok(())
}

pub(crate) fn down(dir: &Path, out: &Output) -> Result<()> {
    let config = NetworkConfig::load(dir)?;
    let mut stopped = Vec::new();
    for (node, files) in procs::all(dir, &config) {
        let was = procs::running_pid(&files).is_some();
        let killed = procs::stop(&files, Duration::from_secs(15))?;
        if was {
            out.line(format!("{} stopped{}", node.name, if killed { " (killed after 15 s)" } else { "" }));
            stopped.push(json!({ "node": node.name, "killed": killed }));
        }
    }
    out.result(if stopped.is_empty() { "no node was running" } else { "" }, json!({ "ok": true, "stopped": stopped }));
    Ok(())
}

type Statuses = Vec<(String, Result<NodeStatus, String>)>;

/// Each node's status over its gateway, as the first organisation's admin.
pub(crate) fn statuses(dir: &Path, config: &NetworkConfig) -> Result<Statuses> {
    teechain_node::rpc::tls::install_crypto_provider();
    let org = config.org_names().into_iter().next().context("network has no organisations")?;
    let tls = ClientTls::for_user(dir, config, &org, "admin")?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    Ok(rt.block_on(async {
        let mut out = Vec::new();
        for node in config.active_nodes() {
            let st = async {
                let c = GatewayClient::new(&node.gateway_address, &tls)?;
                tokio::time::timeout(Duration::from_secs(2), c.status())
                    .await
                    .map_err(|_| teechain_node::NodeError::Timeout("status".into()))?
            }
            .await
            .map_err(|e| e.to_string());
            out.push((node.name.clone(), st));
        }
        out
    }))
}

fn print_statuses(config: &NetworkConfig, statuses: &Statuses, out: &Output) {
    let mut lines = vec![format!(
        "{:<14} {:<10} {:>5} {:>7}  {:<18} {:<14} health",
        "node", "role", "term", "blocks", "tip", "leader"
    )];
    let mut items = Vec::new();
    for (name, st) in statuses {
        match st {
            Ok(s) => {
                lines.push(format!(
                    "{:<14} {:<10} {:>5} {:>7}  {:<18} {:<14} {}",
                    name,
                    s.role,
                    s.term,
                    s.height,
                    s.last_hash.short(),
                    s.leader.clone().unwrap_or_else(|| "-".into()),
                    if s.healthy { "ok" } else { "unhealthy" }
                ));
                items.push(json!({ "node": name, "up": true, "role": s.role, "term": s.term, "height": s.height,
                                   "tip": s.last_hash.to_hex(), "leader": s.leader, "healthy": s.healthy, "platform": s.platform }));
            }
            Err(e) => {
                lines.push(format!("{name:<14} down       ({e})"));
                items.push(json!({ "node": name, "up": false, "error": e }));
            }
        }
    }
    lines.push(format!("channel {}; enclave platform virtual (INSECURE)", config.channel.channel));
    out.result(lines.join("\n"), json!({ "ok": true, "nodes": items }));
}

/// Waits (at most 30 s) until every node reports the same height and tip; returns them.
pub(crate) fn wait_for_agreement(dir: &Path) -> Result<Vec<(String, u64, teechain_types::Hash32)>> {
    let config = NetworkConfig::load(dir)?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let s = statuses(dir, &config)?;
        let seen: Vec<_> =
            s.iter().filter_map(|(n, st)| st.as_ref().ok().map(|st| (n.clone(), st.height, st.last_hash))).collect();
        if seen.len() == s.len() && seen.windows(2).all(|w| w[0].1 == w[1].1 && w[0].2 == w[1].2) {
            return Ok(seen);
        }
        if Instant::now() > deadline {
            bail!("nodes did not converge within 30 s: {seen:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
