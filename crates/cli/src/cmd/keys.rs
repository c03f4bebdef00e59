//! `teechain keys ...`: rotate and show chaincode keys and collection data keys.

use crate::conn::Connection;
use crate::output::Output;
use anyhow::{bail, Context, Result};
use clap::Subcommand;
use serde_json::json;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use teechain_node::config::{load_identity, user_dir, NetworkConfig};
use teechain_types::keys::KeyScope;

#[derive(Subcommand)]
pub(crate) enum KeysCommand {
    /// Ask for a new epoch of a chaincode's key, or of a collection's data key (as an
    /// admin of a member organisation), and wait until the enclaves have made and shared
    /// it. New calls, sealed state and private values use it; older epochs stay readable.
    Rotate {
        #[command(flatten)]
        key: KeyArgs,
        /// The organisation whose admin asks.
        #[arg(long, default_value = "org1")]
        org: String,
    },
    /// Show the latest epoch of a chaincode's key (or of a collection's data key) and
    /// the enclaves holding it.
    Show {
        #[command(flatten)]
        key: KeyArgs,
    },
}

/// Which key, in which network.
#[derive(clap::Args)]
pub(crate) struct KeyArgs {
    /// Network directory.
    #[arg(long)]
    dir: PathBuf,
    /// The chaincode.
    #[arg(long)]
    chaincode: String,
    /// A collection of the chaincode: its data key instead of the chaincode's key.
    #[arg(long)]
    collection: Option<String>,
}

impl KeyArgs {
    fn scope(&self) -> KeyScope {
        let namespace = self.chaincode.clone();
        match &self.collection {
            None => KeyScope::Chaincode { namespace },
            Some(collection) => KeyScope::Collection { namespace, collection: collection.clone() },
        }
    }
}

pub(crate) fn run(cmd: KeysCommand, out: &Output) -> Result<()> {
    match cmd {
        KeysCommand::Rotate { key, org } => {
            let (conn, _) = Connection::open(&key.dir, &org, "admin")?;
            let gw = conn.gateway();
            let scope = key.scope();
            let KeyArgs { dir, chaincode, collection } = key;
            let before = gw.latest_key(&scope)?.with_context(|| format!("the {scope} is not made yet"))?.0.epoch;
            let channel = NetworkConfig::load(&dir)?.channel.channel;
            let admin = load_identity(&user_dir(&dir, &org, "admin"), &org)?;
            let outcome = gw.submit(teechain_node::registry::rotation_tx(&admin, &channel, scope.clone()))?;
            if !outcome.code.is_valid() {
                bail!(
                    "the rotation request was refused: {} (is a rotation pending already? a collection's key \
                     is rotated by an admin of a member organisation)",
                    outcome.code
                );
            }
            let deadline = Instant::now() + Duration::from_secs(60);
            let record = loop {
                match gw.latest_key(&scope)? {
                    Some((record, _)) if record.epoch > before => break record,
                    _ if Instant::now() > deadline => bail!("no enclave made the new epoch within 60 s"),
                    _ => std::thread::sleep(Duration::from_millis(200)),
                }
            };
            out.result(
                format!(
                    "the {scope} is now at epoch {} (was {before}), held by {} enclave(s)",
                    record.epoch,
                    record.wraps.len()
                ),
                json!({ "ok": true, "chaincode": chaincode, "collection": collection, "epoch": record.epoch,
                        "previous": before,
                        "holders": record.wraps.len(), "requested_in_block": outcome.block }),
            );
            Ok(())
        }
        KeysCommand::Show { key } => {
            let (conn, _) = Connection::open(&key.dir, "org1", "client")?;
            let scope = key.scope();
            let KeyArgs { chaincode, collection, .. } = key;
            let (record, maker) =
                conn.gateway().latest_key(&scope)?.with_context(|| format!("the {scope} is not made yet"))?;
            out.result(
                format!(
                    "{scope}: epoch {}, made by enclave {} of {}, held by {} enclave(s)",
                    record.epoch,
                    record.made_by.short(),
                    maker.registration.org,
                    record.wraps.len()
                ),
                json!({ "ok": true, "chaincode": chaincode, "collection": collection, "epoch": record.epoch,
                        "made_by": record.made_by.to_hex(),
                        "maker_org": maker.registration.org,
                        "holders": record.wraps.iter().map(|w| w.enclave.to_hex()).collect::<Vec<_>>() }),
            );
            Ok(())
        }
    }
}
