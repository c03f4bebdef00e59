//! `teechain keys ...`: rotate and show chaincode keys.

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
    /// Ask for a new epoch of a chaincode's key (as an organisation's admin) and wait
    /// until the enclaves have made and shared it. New calls and new sealed state use it;
    /// older epochs stay readable.
    Rotate {
        /// Network directory.
        #[arg(long)]
        dir: PathBuf,
        /// The chaincode.
        #[arg(long)]
        chaincode: String,
        /// The organisation whose admin asks.
        #[arg(long, default_value = "org1")]
        org: String,
    },
    /// Show a chaincode's latest key epoch and the enclaves holding it.
    Show {
        /// Network directory.
        #[arg(long)]
        dir: PathBuf,
        /// The chaincode.
        #[arg(long)]
        chaincode: String,
    },
}

pub(crate) fn run(cmd: KeysCommand, out: &Output) -> Result<()> {
    match cmd {
        KeysCommand::Rotate { dir, chaincode, org } => {
            let (conn, _) = Connection::open(&dir, &org, "admin")?;
            let gw = conn.gateway();
            let before =
                gw.chaincode_key(&chaincode)?.with_context(|| format!("'{chaincode}' has no key yet"))?.0.epoch;
            let channel = NetworkConfig::load(&dir)?.channel.channel;
            let admin = load_identity(&user_dir(&dir, &org, "admin"), &org)?;
            let scope = KeyScope::Chaincode { namespace: chaincode.clone() };
            let outcome = gw.submit(teechain_node::registry::rotation_tx(&admin, &channel, scope))?;
            if !outcome.code.is_valid() {
                bail!("the rotation request was refused: {} (is a rotation pending already?)", outcome.code);
            }
            let deadline = Instant::now() + Duration::from_secs(60);
            let record = loop {
                match gw.chaincode_key(&chaincode)? {
                    Some((record, _)) if record.epoch > before => break record,
                    _ if Instant::now() > deadline => bail!("no enclave made the new epoch within 60 s"),
                    _ => std::thread::sleep(Duration::from_millis(200)),
                }
            };
            out.result(
                format!(
                    "the key of '{chaincode}' is now at epoch {} (was {before}), held by {} enclave(s)",
                    record.epoch,
                    record.wraps.len()
                ),
                json!({ "ok": true, "chaincode": chaincode, "epoch": record.epoch, "previous": before,
                        "holders": record.wraps.len(), "requested_in_block": outcome.block }),
            );
            Ok(())
        }
        KeysCommand::Show { dir, chaincode } => {
            let (conn, _) = Connection::open(&dir, "org1", "client")?;
            let (record, maker) =
                conn.gateway().chaincode_key(&chaincode)?.with_context(|| format!("'{chaincode}' has no key yet"))?;
            out.result(
                format!(
                    "key of '{chaincode}': epoch {}, made by enclave {} of {}, held by {} enclave(s)",
                    record.epoch,
                    record.made_by.short(),
                    maker.registration.org,
                    record.wraps.len()
                ),
                json!({ "ok": true, "chaincode": chaincode, "epoch": record.epoch, "made_by": record.made_by.to_hex(),
                        "maker_org": maker.registration.org,
                        "holders": record.wraps.iter().map(|w| w.enclave.to_hex()).collect::<Vec<_>>() }),
            );
            Ok(())
        }
    }
}
