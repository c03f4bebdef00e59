//! `teechain chaincode ...`: Fabric's lifecycle (install → approve → commit).

use crate::conn::Connection;
use crate::output::Output;
use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use serde_json::json;
use std::path::{Path, PathBuf};
use teechain_client::Client;
use teechain_types::chaincode::ChaincodeDefinition;
use teechain_types::collection::check_collections;
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
        /// A .wasm file, or a built-in contract: payment, asset-transfer, auction, testbed.
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
    /// A .wasm file, or a built-in contract: payment, asset-transfer, auction, testbed.
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
    /// Private data collections: a JSON file in Fabric's collections_config.json shape.
    #[arg(long)]
    pub(crate) collections: Option<PathBuf>,
}

/// The bytes of a built-in contract or a .wasm file.
pub(crate) fn package(wasm: &str) -> Result<Vec<u8>> {
    match teechain_contracts::ALL.iter().find(|(name, _)| *name == wasm) {
        Some((_, bytes)) => Ok(bytes.to_vec()),
        None => std::fs::read(Path::new(wasm)).with_context(|| format!("reading chaincode package {wasm}")),
    }
}

/// The policy and collections of `args`, checked before anything reaches the network:
/// a bad one is refused with its position or the faulty field named.
fn checked_collections(args: &DefinitionArgs) -> Result<Vec<teechain_types::collection::CollectionConfig>> {
    teechain_types::policy::EndorsementPolicy::parse(&args.policy).context("--policy")?;
    let collections = match &args.collections {
        Some(path) => crate::collections::load(path)?,
        None => Vec::new(),
    };
    let orgs = teechain_node::config::NetworkConfig::load(&args.dir)?.org_names();
    check_collections(&collections, &orgs).context("--collections")?;
    Ok(collections)
}

fn definition(conn: &Connection, args: &DefinitionArgs) -> Result<ChaincodeDefinition> {
    let wasm = package(&args.wasm)?;
    let collections = checked_collections(args)?;
    let sequence = match args.sequence {
        Some(s) => s,
        None => conn.definitions()?.iter().find(|d| d.name == args.name).map(|d| d.sequence).unwrap_or(0) + 1,
    };
    Ok(ChaincodeDefinition {
        name: args.name.clone(),
        version: args.version.clone(),
        sequence,
        code_hash: sha256(&wasm),
        endorsement_policy: args.policy.clone(),
        collections,
    })
}

fn admin(dir: &Path, org: &str) -> Result<Client> {
    let config = teechain_node::config::NetworkConfig::load(dir)?;
    let signer = teechain_node::config::load_identity(&teechain_node::config::user_dir(dir, org, "admin"), org)?;
    Ok(Client::new(signer, config.channel.channel))
}

/// Submits a lifecycle operation as `org`'s admin; fails unless it commits valid.
fn lifecycle(conn: &Connection, dir: &Path, org: &str, op: LifecycleOp) -> Result<u64> {
    let what = match &op {
        LifecycleOp::Approve(_) => "approval",
        LifecycleOp::Commit(_) => "commit",
    };
    let outcome = conn.gateway().submit(admin(dir, org)?.lifecycle(op))?;
    if !outcome.code.is_valid() {
        bail!("{what} by {org} was rejected: {}", outcome.code);
    }
    Ok(outcome.block)
}

/// Installs, approves by every organisation and commits; returns the definition.
pub(crate) fn deploy(conn: &Connection, args: &DefinitionArgs) -> Result<ChaincodeDefinition> {
    let def = definition(conn, args)?;
    conn.install(&package(&args.wasm)?)?;
    let orgs = teechain_node::config::NetworkConfig::load(&args.dir)?.org_names();
    for org in &orgs {
        lifecycle(conn, &args.dir, org, LifecycleOp::Approve(def.clone()))?;
    }
    let first = orgs.first().context("network has no organisations")?;
    lifecycle(conn, &args.dir, first, LifecycleOp::Commit(def.clone()))?;
    Ok(def)
}

fn connect(dir: &Path) -> Result<Connection> {
    let config = teechain_node::config::NetworkConfig::load(dir)?;
    let org = config.org_names().into_iter().next().context("network has no organisations")?;
    Ok(Connection::open(dir, &org, "admin")?.0)
}

fn def_json(def: &ChaincodeDefinition) -> serde_json::Value {
    json!({ "name": def.name, "version": def.version, "sequence": def.sequence,
            "code_hash": def.code_hash.to_hex(), "endorsement_policy": def.endorsement_policy,
            "collections": def.collections.iter().map(|c| json!({
                "name": c.name, "policy": c.member_policy, "requiredPeerCount": c.required_peer_count,
                "maxPeerCount": c.max_peer_count, "blockToLive": c.block_to_live,
                "memberOnlyRead": c.member_only_read, "memberOnlyWrite": c.member_only_write,
                "endorsementPolicy": c.endorsement_policy })).collect::<Vec<_>>() })
}

pub(crate) fn run(cmd: ChaincodeCommand, out: &Output) -> Result<()> {
    match cmd {
        ChaincodeCommand::Deploy(args) => {
            checked_collections(&args)?;
            let def = deploy(&connect(&args.dir)?, &args)?;
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
            let hash = connect(&dir)?.install(&package(&wasm)?)?;
            out.result(
                format!("installed package {hash} on every node"),
                json!({ "ok": true, "code_hash": hash.to_hex() }),
            );
        }
        ChaincodeCommand::Approve { def, org } => {
            checked_collections(&def)?;
            let conn = connect(&def.dir)?;
            let d = definition(&conn, &def)?;
            let block = lifecycle(&conn, &def.dir, &org, LifecycleOp::Approve(d.clone()))?;
            out.result(
                format!("{org} approved {} sequence {} (block {block})", d.name, d.sequence),
                json!({ "ok": true, "org": org, "block": block, "definition": def_json(&d) }),
            );
        }
        ChaincodeCommand::Commit { def, org } => {
            checked_collections(&def)?;
            let conn = connect(&def.dir)?;
            let d = definition(&conn, &def)?;
            let block = lifecycle(&conn, &def.dir, &org, LifecycleOp::Commit(d.clone()))?;
            out.result(
                format!("{} sequence {} committed (block {block})", d.name, d.sequence),
                json!({ "ok": true, "block": block, "definition": def_json(&d) }),
            );
        }
        ChaincodeCommand::List { dir } => {
            let defs = connect(&dir)?.definitions()?;
            let text: Vec<String> = defs
                .iter()
                .map(|d| {
                    let colls: Vec<&str> = d.collections.iter().map(|c| c.name.as_str()).collect();
                    format!(
                        "{}  version {}  sequence {}  policy {}  collections [{}]",
                        d.name,
                        d.version,
                        d.sequence,
                        d.endorsement_policy,
                        colls.join(", ")
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
