//! `teechain chaincode ...`: Fabric's lifecycle (install → approve → commit).

use crate::output::Output;
use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use serde_json::json;
use std::path::{Path, PathBuf};
use teechain_client::Client;
use teechain_node::{Gateway, LocalNetwork};
use teechain_types::chaincode::ChaincodeDefinition;
use teechain_types::sha256;
use teechain_types::tx::LifecycleOp;

#[derive(Subcommand)]
pub(crate) enum ChaincodeCommand {
    /// Install, approve by every organisation and commit, in one go.
    Deploy(DefinitionArgs),
    /// Install a package on every node of the network.
    Install {
        /// Network directory.
        #[arg(long)]
        dir: PathBuf,
        /// A .wasm file, or a built-in contract: payment, testbed.
        #[arg(long)]
        wasm: String,
    },
    /// Approve a definition as one organisation's admin.
    Approve {
        #[command(flatten)]
        def: DefinitionArgs,
        /// The approving organisation.
        #[arg(long)]
        org: String,
    },
    /// Commit a definition (needs approvals of a majority of organisations).
    Commit {
        #[command(flatten)]
        def: DefinitionArgs,
        /// The organisation whose admin submits the commit.
        #[arg(long)]
        org: String,
    },
    /// List committed chaincode definitions.
    List {
        /// Network directory.
        #[arg(long)]
        dir: PathBuf,
    },
}

#[derive(Args, Clone)]
pub(crate) struct DefinitionArgs {
    /// Network directory.
    #[arg(long)]
    pub(crate) dir: PathBuf,
    /// Chaincode name.
    #[arg(long)]
    pub(crate) name: String,
    /// A .wasm file, or a built-in contract: payment, testbed.
    #[arg(long)]
    pub(crate) wasm: String,
    /// Endorsement policy in Fabric syntax.
    #[arg(long, default_value = "AND('org1.member','org2.member')")]
    pub(crate) policy: String,
    /// Version label.
    #[arg(long, default_value = "1.0")]
    pub(crate) version: String,
    /// Sequence (default: the committed one + 1).
    #[arg(long)]
    pub(crate) sequence: Option<u64>,
}

/// The bytes of a built-in contract or a .wasm file.
pub(crate) fn package(wasm: &str) -> Result<Vec<u8>> {
    Ok(match wasm {
        "payment" => teechain_contracts::PAYMENT.to_vec(),
        "testbed" => teechain_contracts::TESTBED.to_vec(),
        path => std::fs::read(Path::new(path)).with_context(|| format!("reading chaincode package {path}"))?,
    })
}

fn definition(net: &LocalNetwork, args: &DefinitionArgs) -> Result<ChaincodeDefinition> {
    let wasm = package(&args.wasm)?;
    let sequence = match args.sequence {
        Some(s) => s,
        None => net.peers()[0].definition(&args.name)?.map(|d| d.sequence).unwrap_or(0) + 1,
    };
    Ok(ChaincodeDefinition {
        name: args.name.clone(),
        version: args.version.clone(),
        sequence,
        code_hash: sha256(&wasm),
        endorsement_policy: args.policy.clone(),
    })
}

fn admin(net: &LocalNetwork, org: &str) -> Result<Client> {
    Ok(Client::new(net.user(org, "admin")?, net.channel()))
}

/// Submits a lifecycle operation as `org`'s admin; fails unless it commits valid.
fn lifecycle(net: &LocalNetwork, org: &str, op: LifecycleOp) -> Result<u64> {
    let what = match &op {
        LifecycleOp::Approve(_) => "approval",
        LifecycleOp::Commit(_) => "commit",
    };
    let outcome = net.submit(admin(net, org)?.lifecycle(op))?;
    if !outcome.code.is_valid() {
        bail!("{what} by {org} was rejected: {}", outcome.code);
    }
    Ok(outcome.block)
}

/// Installs, approves by every organisation and commits; returns the definition.
pub(crate) fn deploy(net: &LocalNetwork, args: &DefinitionArgs) -> Result<ChaincodeDefinition> {
    // Check the policy before anyone approves it, with the position of any error.
    teechain_types::policy::EndorsementPolicy::parse(&args.policy).context("--policy")?;
    let def = definition(net, args)?;
    net.install(&package(&args.wasm)?)?;
    for org in net.config().org_names() {
        lifecycle(net, &org, LifecycleOp::Approve(def.clone()))?;
    }
    let first = net.config().org_names().into_iter().next().context("network has no organisations")?;
    lifecycle(net, &first, LifecycleOp::Commit(def.clone()))?;
    Ok(def)
}

fn def_json(def: &ChaincodeDefinition) -> serde_json::Value {
    json!({ "name": def.name, "version": def.version, "sequence": def.sequence,
            "code_hash": def.code_hash.to_hex(), "endorsement_policy": def.endorsement_policy })
}

pub(crate) fn run(cmd: ChaincodeCommand, out: &Output) -> Result<()> {
    match cmd {
        ChaincodeCommand::Deploy(args) => {
            let net = LocalNetwork::open(&args.dir)?;
            let def = deploy(&net, &args)?;
            out.result(
                format!(
                    "chaincode {} committed: version {}, sequence {}, code {}, policy {}",
                    def.name,
                    def.version,
                    def.sequence,
                    def.code_hash.short(),
                    def.endorsement_policy
                ),
                json!({ "ok": true, "definition": def_json(&def) }),
            );
        }
        ChaincodeCommand::Install { dir, wasm } => {
            let net = LocalNetwork::open(&dir)?;
            let hash = net.install(&package(&wasm)?)?;
            out.result(
                format!("installed package {} on {} nodes", hash, net.peers().len()),
                json!({ "ok": true, "code_hash": hash.to_hex() }),
            );
        }
        ChaincodeCommand::Approve { def, org } => {
            let net = LocalNetwork::open(&def.dir)?;
            let d = definition(&net, &def)?;
            let block = lifecycle(&net, &org, LifecycleOp::Approve(d.clone()))?;
            out.result(
                format!("{org} approved {} sequence {} (block {block})", d.name, d.sequence),
                json!({ "ok": true, "org": org, "block": block, "definition": def_json(&d) }),
            );
        }
        ChaincodeCommand::Commit { def, org } => {
            let net = LocalNetwork::open(&def.dir)?;
            let d = definition(&net, &def)?;
            let block = lifecycle(&net, &org, LifecycleOp::Commit(d.clone()))?;
            out.result(
                format!("{} sequence {} committed (block {block})", d.name, d.sequence),
                json!({ "ok": true, "block": block, "definition": def_json(&d) }),
            );
        }
        ChaincodeCommand::List { dir } => {
            let net = LocalNetwork::open(&dir)?;
            let defs = net.peers()[0].definitions()?;
            let text: Vec<String> = defs
                .iter()
                .map(|d| {
                    format!(
                        "{}  version {}  sequence {}  policy {}",
                        d.name, d.version, d.sequence, d.endorsement_policy
                    )
                })
                .collect();
            out.result(
                if text.is_empty() { "no chaincode committed".into() } else { text.join("\n") },
                json!({ "ok": true, "chaincodes": defs.iter().map(def_json).collect::<Vec<_>>() }),
            );
        }
    }
    Ok(())
}
