//! `teechain enclave ...`: register nodes' enclaves on the channel and show them.
//!
//! Each enclave makes its own keys and evidence; an admin of its organisation registers
//! it with a transaction, which every node checks against the channel's attestation
//! policy. Only registered enclaves' endorsements count.

use crate::output::Output;
use anyhow::{bail, Context, Result};
use clap::Subcommand;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use teechain_attestation::{PlatformKey, SgxCollateral};
use teechain_node::config::{self, NetworkConfig};
use teechain_node::registry;
use teechain_node::rpc::{ClientTls, GatewayClient, NodeStatus};

#[derive(Subcommand)]
pub(crate) enum EnclaveCommand {
    /// Register the enclaves of a network's nodes (those not yet registered), each by an
    /// admin of the node's organisation. The network must be running.
    Register {
        /// Network directory.
        #[arg(long)]
        dir: PathBuf,
        /// Only this node (default: every node).
        #[arg(long)]
        node: Option<String>,
        /// SGX only: the quote's collateral from a PCCS, as JSON.
        #[arg(long)]
        collateral: Option<PathBuf>,
    },
    /// Show each node's enclave: id, platform, measurement, registration.
    List {
        /// Network directory.
        #[arg(long)]
        dir: PathBuf,
    },
    /// Print this machine's virtual platform key (creating it if missing), for other
    /// machines' `network init --trust-platform-key`. The virtual platform is INSECURE.
    PlatformKey,
}

pub(crate) fn run(cmd: EnclaveCommand, out: &Output) -> Result<()> {
    match cmd {
        EnclaveCommand::Register { dir, node, collateral } => {
            let collateral = collateral
                .map(|f| -> Result<SgxCollateral> {
                    let text = std::fs::read_to_string(&f).with_context(|| format!("reading {}", f.display()))?;
                    serde_json::from_str(&text).with_context(|| format!("{} is not SGX collateral JSON", f.display()))
                })
                .transpose()?;
            let registered = register(&dir, node.as_deref(), collateral.as_ref(), out)?;
            out.result(
                if registered.is_empty() { "every enclave was registered already" } else { "" },
                json!({ "ok": true, "registered": registered }),
            );
            Ok(())
        }
        EnclaveCommand::List { dir } => list(&dir, out),
        EnclaveCommand::PlatformKey => {
            let path = config::default_platform_key_path()?;
            let key = PlatformKey::load_or_create(&path)?;
            out.result(
                format!("{}\n(virtual platform key in {}; INSECURE: software only)", key.public_key(), path.display()),
                json!({ "ok": true, "platform_key": key.public_key().to_hex(), "path": path, "insecure": true }),
            );
            Ok(())
        }
    }
}

/// Registers the enclaves of `dir`'s running nodes (or of `only`) that are not yet
/// registered, and waits until each node sees its own registration. Returns what was
/// registered, as JSON rows.
pub(crate) fn register(
    dir: &Path,
    only: Option<&str>,
    collateral: Option<&SgxCollateral>,
    out: &Output,
) -> Result<Vec<Value>> {
    let config = NetworkConfig::load(dir)?;
    let nodes: Vec<_> = config.active_nodes().filter(|n| only.is_none_or(|o| o == n.name)).cloned().collect();
    if nodes.is_empty() {
        bail!("no node {} in the network", only.unwrap_or_default());
    }
    teechain_node::rpc::tls::install_crypto_provider();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let mut done = Vec::new();
    for node in &nodes {
        let tls = ClientTls::for_user(dir, &config, &node.org, "admin")?;
        // The client's channel needs the runtime's context to be made.
        let gateway = rt.block_on(async { GatewayClient::new(&node.gateway_address, &tls) })?;
        let status = rt.block_on(gateway.status()).with_context(|| format!("status of {}", node.name))?;
        if status.enclave_registered {
            continue;
        }
        let info = status.enclave.with_context(|| format!("the enclave of {} does not answer", node.name))?;
        let registration = match collateral {
            Some(c) => registry::registration_with_collateral(&info, c.clone())?,
            None => registry::registration_of(&info)?,
        };
        let admin = config::load_identity(&config::user_dir(dir, &node.org, "admin"), &node.org)?;
        let tx = registry::registration_tx(&admin, &config.channel.channel, registration);
        let outcome = rt.block_on(gateway.submit(&tx)).with_context(|| format!("registering {}", node.name))?;
        if !outcome.code.is_valid() {
            bail!(
                "the registration of {}'s enclave was refused: {} (the nodes' logs say why)",
                node.name,
                outcome.code
            );
        }
        out.line(format!(
            "{}: enclave {} registered for {} in block {} ({})",
            node.name,
            info.id().short(),
            node.org,
            outcome.block,
            info.platform
        ));
        done.push(json!({ "node": node.name, "org": node.org, "enclave": info.id().to_hex(),
                          "platform": info.platform.name(), "insecure": !info.platform.is_secure(),
                          "block": outcome.block }));
    }
    // Each node endorses only once it has committed its own registration.
    let deadline = Instant::now() + Duration::from_secs(30);
    for node in &nodes {
        let tls = ClientTls::for_user(dir, &config, &node.org, "admin")?;
        let gateway = rt.block_on(async { GatewayClient::new(&node.gateway_address, &tls) })?;
        loop {
            if rt.block_on(gateway.status()).is_ok_and(|s| s.enclave_registered) {
                break;
            }
            if Instant::now() > deadline {
                bail!("{} did not see its enclave's registration within 30 s", node.name);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    Ok(done)
}

fn list(dir: &Path, out: &Output) -> Result<()> {
    let config = NetworkConfig::load(dir)?;
    let statuses = crate::cmd::network::statuses(dir, &config)?;
    let mut lines = vec![format!("{:<14} {:<8} {:<18} {:<11} platform", "node", "org", "enclave", "registered")];
    let mut rows = Vec::new();
    for (name, status) in statuses {
        match status {
            Ok(NodeStatus { org, enclave: Some(info), enclave_registered, .. }) => {
                lines.push(format!(
                    "{:<14} {:<8} {:<18} {:<11} {}",
                    name,
                    org,
                    info.id().short(),
                    if enclave_registered { "yes" } else { "no" },
                    info.platform
                ));
                rows.push(json!({ "node": name, "org": org, "enclave": info.id().to_hex(),
                                  "registered": enclave_registered, "platform": info.platform.name(),
                                  "insecure": !info.platform.is_secure(), "measurement": info.measurement.to_hex() }));
            }
            Ok(_) => {
                lines.push(format!("{name:<14} (enclave does not answer)"));
                rows.push(json!({ "node": name, "error": "enclave does not answer" }));
            }
            Err(e) => {
                lines.push(format!("{name:<14} (unreachable: {e})"));
                rows.push(json!({ "node": name, "error": e }));
            }
        }
    }
    out.result(lines.join("\n"), json!({ "ok": true, "enclaves": rows }));
    Ok(())
}
