//! `teechain invoke` and `teechain query`.

use crate::conn::Connection;
use crate::output::Output;
use anyhow::{Context, Result};
use clap::Args;
use serde_json::json;
use std::path::PathBuf;
use teechain_client::confidential::ChaincodeKey;
use teechain_node::config::NetworkConfig;

#[derive(Args)]
pub(crate) struct InvokeArgs {
    /// Network directory.
    #[arg(long)]
    dir: PathBuf,
    /// The caller's organisation.
    #[arg(long, default_value = "org1")]
    org: String,
    /// The caller's identity in that organisation (client or admin).
    #[arg(long, default_value = "client")]
    user: String,
    /// Transient input NAME=VALUE (never written to the ledger); repeatable.
    #[arg(long, value_parser = parse_transient)]
    transient: Vec<(String, Vec<u8>)>,
    /// Seal the function, arguments and response to the chaincode's key (verified
    /// against the channel's attestation policy first): no host reads them.
    #[arg(long)]
    confidential: bool,
    /// Chaincode name.
    chaincode: String,
    /// Function name.
    function: String,
    /// Arguments.
    args: Vec<String>,
}

fn parse_transient(s: &str) -> Result<(String, Vec<u8>), String> {
    let (k, v) = s.split_once('=').ok_or_else(|| format!("transient input '{s}' is not NAME=VALUE"))?;
    Ok((k.to_string(), v.as_bytes().to_vec()))
}

fn args(a: &InvokeArgs) -> Vec<Vec<u8>> {
    a.args.iter().map(|s| s.as_bytes().to_vec()).collect()
}

/// The chaincode's key, verified against the channel's attestation policy.
fn verified_key(a: &InvokeArgs, conn: &Connection, c: &teechain_client::Client) -> Result<ChaincodeKey> {
    let policy = NetworkConfig::load(&a.dir)?.channel.attestation.policy().map_err(anyhow::Error::msg)?;
    Ok(c.chaincode_key(conn.gateway(), &a.chaincode, &policy)?)
}

pub(crate) fn invoke(a: InvokeArgs, out: &Output) -> Result<()> {
    let (conn, c) = Connection::open(&a.dir, &a.org, &a.user).context("connecting")?;
    let (committed, response) = if a.confidential {
        let key = verified_key(&a, &conn, &c)?;
        c.invoke_confidential(conn.gateway(), &key, &a.function, args(&a), &a.transient)?
    } else {
        let committed = c.invoke(conn.gateway(), &a.chaincode, &a.function, args(&a), &a.transient)?;
        let response = committed.response.clone();
        (committed, response)
    };
    let payload = String::from_utf8_lossy(&response.payload).to_string();
    out.result(
        format!("committed in block {} as VALID (tx {})\n{payload}", committed.block, committed.tx_id),
        json!({ "ok": true, "tx_id": committed.tx_id.to_hex(), "block": committed.block, "code": "VALID",
                "payload": payload,
                "events": committed.events.iter().map(|e| json!({"name": e.name, "payload": String::from_utf8_lossy(&e.payload)})).collect::<Vec<_>>() }),
    );
    Ok(())
}

pub(crate) fn query(a: InvokeArgs, out: &Output) -> Result<()> {
    let (conn, c) = Connection::open(&a.dir, &a.org, &a.user).context("connecting")?;
    let response = if a.confidential {
        let key = verified_key(&a, &conn, &c)?;
        c.query_confidential(conn.gateway(), &key, &a.function, args(&a))?
    } else {
        c.query(conn.gateway(), &a.chaincode, &a.function, args(&a))?
    };
    let payload = String::from_utf8_lossy(&response.payload).to_string();
    out.result(payload.clone(), json!({ "ok": true, "payload": payload }));
    Ok(())
}
