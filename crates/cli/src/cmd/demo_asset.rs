//! `teechain demo asset`: Fabric's secured asset transfer on private data. org1 owns an
//! asset whose details live in its implicit collection; org1 and org2 each record their
//! price in their own implicit collection; the transfer is valid only when the openings
//! both parties hand over match the hashes on the ledger and the prices agree. org3
//! witnesses the hashes only.

use crate::cmd::chaincode::{deploy, DefinitionArgs};
use crate::cmd::demo::start_network;
use crate::cmd::network;
use crate::conn::Connection;
use crate::output::Output;
use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use std::path::Path;
use teechain_client::Client;

const ASSET: &str = "asset1";
const PROPERTIES: &str = r#"{"kind":"painting","artist":"unknown master","appraisal":"1.2M"}"#;

type Transient = Vec<(String, Vec<u8>)>;

fn transient(entries: &[(&str, &[u8])]) -> Transient {
    entries.iter().map(|(k, v)| (k.to_string(), v.to_vec())).collect()
}

fn args(a: &[&str]) -> Vec<Vec<u8>> {
    a.iter().map(|s| s.as_bytes().to_vec()).collect()
}

/// An opening (value and blind) disclosed by the organisation that wrote it.
fn opening(c: &Client, conn: &Connection, kind: &str) -> Result<(Vec<u8>, Vec<u8>)> {
    let r = c.query(conn.gateway(), "asset-transfer", "disclose", args(&[ASSET, kind]))?;
    let v: Value = serde_json::from_slice(&r.payload).context("disclose returned no JSON")?;
    let hex = |field: &str| -> Result<Vec<u8>> {
        hex::decode(v[field].as_str().with_context(|| format!("disclose gave no {field}"))?)
            .with_context(|| format!("{field} is not hex"))
    };
    Ok((hex("value_hex")?, hex("blind_hex")?))
}

pub(crate) fn asset(dir: &Path, base_port: Option<u16>, out: &Output) -> Result<()> {
    out.line("TEEChain demo: private asset transfer (Fabric's secured-asset-transfer pattern)");
    let _running = start_network(dir, base_port, out)?;
    let policy = "AND('org1.member','org2.member')";
    let (admin, _) = Connection::open(dir, "org1", "admin")?;
    deploy(
        &admin,
        &DefinitionArgs {
            dir: dir.to_path_buf(),
            name: "asset-transfer".into(),
            wasm: "asset-transfer".into(),
            policy: policy.into(),
            version: "1.0".into(),
            sequence: None,
            collections: None,
        },
    )?;
    out.line(format!("chaincode asset-transfer committed, policy {policy}; implicit collections of each organisation"));
    let (conn1, org1) = Connection::open(dir, "org1", "client")?;
    let (conn2, org2) = Connection::open(dir, "org2", "client")?;
    let (conn3, org3) = Connection::open(dir, "org3", "client")?;

    org1.invoke(
        conn1.gateway(),
        "asset-transfer",
        "create",
        args(&[ASSET, "an old painting"]),
        &transient(&[("asset_properties", PROPERTIES.as_bytes())]),
    )
    .context("create")?;
    out.line(format!("org1 creates {ASSET}; its details go to org1's implicit collection only"));
    org1.invoke(
        conn1.gateway(),
        "asset-transfer",
        "agree_to_sell",
        args(&[ASSET]),
        &transient(&[("asset_price", b"500")]),
    )
    .context("agree_to_sell")?;
    org2.invoke(
        conn2.gateway(),
        "asset-transfer",
        "agree_to_buy",
        args(&[ASSET]),
        &transient(&[("asset_price", b"400")]),
    )
    .context("agree_to_buy")?;
    // Each organisation commits through its own node; let org1's node see org2's
    // agreement before org1 endorses against it.
    network::wait_for_agreement(dir)?;
    out.line("org1 agrees to sell for 500, org2 to buy for 400 (each price private to its organisation)");

    let transfer = |buy: &(Vec<u8>, Vec<u8>)| -> Result<teechain_client::Committed> {
        let props = opening(&org1, &conn1, "properties")?;
        let sell = opening(&org1, &conn1, "sell")?;
        let t = transient(&[
            ("asset_properties", &props.0),
            ("properties_blind", &props.1),
            ("sell_price", &sell.0),
            ("sell_blind", &sell.1),
            ("buy_price", &buy.0),
            ("buy_blind", &buy.1),
        ]);
        Ok(org1.invoke(conn1.gateway(), "asset-transfer", "transfer", args(&[ASSET, "org2"]), &t)?)
    };
    let low = opening(&org2, &conn2, "buy")?;
    let mismatch = match transfer(&low) {
        Ok(_) => bail!("a transfer at mismatched prices was accepted"),
        Err(e) => e.to_string(),
    };
    out.line(format!("transfer at 500 vs 400 -> {mismatch}"));
    let mut forged = low.clone();
    forged.0 = b"500".to_vec();
    let forgery = match transfer(&forged) {
        Ok(_) => bail!("a transfer with a forged price opening was accepted"),
        Err(e) => e.to_string(),
    };
    out.line(format!("org2's opening altered to claim 500 -> {forgery}"));

    org2.invoke(
        conn2.gateway(),
        "asset-transfer",
        "agree_to_buy",
        args(&[ASSET]),
        &transient(&[("asset_price", b"500")]),
    )
    .context("agree_to_buy again")?;
    network::wait_for_agreement(dir)?;
    let done = transfer(&opening(&org2, &conn2, "buy")?).context("transfer")?;
    out.line(format!("org2 agrees at 500; transfer committed in block {} (tx {})", done.block, done.tx_id.short()));
    network::wait_for_agreement(dir)?;

    let public = org3.query(conn3.gateway(), "asset-transfer", "read_asset", args(&[ASSET]))?;
    let public = String::from_utf8_lossy(&public.payload).to_string();
    out.line(format!("public record, as org3 reads it: {public}"));
    let details = org2.query(conn2.gateway(), "asset-transfer", "read_private", args(&[ASSET]))?;
    let details = String::from_utf8_lossy(&details.payload).to_string();
    out.line(format!("org2 reads the details from its own collection: {details}"));
    if details != PROPERTIES {
        bail!("the buyer's collection holds {details:?}, expected the asset's properties");
    }
    let org3_refused = match org3.query(conn3.gateway(), "asset-transfer", "read_private", args(&[ASSET])) {
        Ok(r) if r.payload.is_empty() => "no details".to_string(),
        Ok(r) => bail!("org3 read private details: {}", String::from_utf8_lossy(&r.payload)),
        Err(e) => e.to_string(),
    };
    out.line(format!("org3 reads details -> {org3_refused}"));
    let statuses = network::wait_for_agreement(dir)?;
    for (name, height, tip) in &statuses {
        out.line(format!("{name}: {height} blocks, tip {}", tip.short()));
    }
    out.result(
        "",
        json!({ "ok": true, "demo": "asset", "platform": "virtual", "insecure": true,
                "mismatch_refused": mismatch, "forgery_refused": forgery, "transfer_block": done.block,
                "public_record": public, "buyer_details": details, "org3": org3_refused,
                "nodes": statuses.iter().map(|(n, h, t)| json!({"node": n, "height": h, "tip": t.to_hex()})).collect::<Vec<_>>() }),
    );
    Ok(())
}
