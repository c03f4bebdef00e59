//! `teechain demo auction`: the sealed-bid auction on a fresh network of node processes.
//!
//! org1 opens an auction; org2 and org3 bid and re-bid with confidential invocations
//! (amounts sealed to the chaincode's key, and sealed again in state); after the end,
//! org1 ends it and the enclave names the winner and price. Each bidder checks its
//! receipt: the hash of its sealed bid in the committed transaction, signed by
//! registered enclaves.

use crate::cmd::chaincode::{deploy, DefinitionArgs};
use crate::cmd::demo::start_network;
use crate::conn::Connection;
use crate::output::Output;
use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use teechain_client::confidential::ChaincodeKey;
use teechain_client::{Client, Committed};
use teechain_node::config::NetworkConfig;
use teechain_node::Gateway;
use teechain_types::tx::TxBody;

/// How long bidding stays open.
const BIDDING: Duration = Duration::from_secs(6);
/// The bids, in order: (bidder, amount). Distinct seven-digit amounts, so that tests can
/// search every byte the nodes keep for them.
pub(crate) const BIDS: [(&str, u64); 3] = [("org2", 7_314_159), ("org3", 8_271_828), ("org2", 9_161_803)];

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

fn args(a: &[&str]) -> Vec<Vec<u8>> {
    a.iter().map(|s| s.as_bytes().to_vec()).collect()
}

pub(crate) fn auction(dir: &Path, base_port: Option<u16>, out: &Output) -> Result<()> {
    out.line("TEEChain demo: sealed-bid auction");
    let _running = start_network(dir, base_port, out)?;
    let policy = "OR('org1.member','org2.member','org3.member')";
    let (admin_conn, _) = Connection::open(dir, "org1", "admin")?;
    deploy(
        &admin_conn,
        &DefinitionArgs {
            dir: dir.to_path_buf(),
            name: "auction".into(),
            wasm: "auction".into(),
            policy: policy.into(),
            version: "1.0".into(),
            sequence: None,
            collections: None,
        },
    )?;
    out.line(format!("chaincode auction committed, policy {policy}"));
    let attestation = NetworkConfig::load(dir)?.channel.attestation.policy().map_err(anyhow::Error::msg)?;

    let (conn1, org1) = Connection::open(dir, "org1", "client")?;
    let end_ms = now_ms() + BIDDING.as_millis() as u64;
    org1.invoke(conn1.gateway(), "auction", "open", args(&["art", &end_ms.to_string()]), &[]).context("open")?;
    out.line(format!("org1 opens auction 'art' until {end_ms} ms ({} s from now)", BIDDING.as_secs()));

    let mut receipts = Vec::new();
    for (org, amount) in BIDS {
        let (conn, c) = Connection::open(dir, org, "client")?;
        let key = chaincode_key(&c, conn.gateway(), &attestation)?;
        let (committed, opened) = c
            .invoke_confidential(conn.gateway(), &key, "bid", args(&["art", &amount.to_string()]), &[])
            .with_context(|| format!("{org}'s bid"))?;
        let receipt: Value = serde_json::from_slice(&opened.payload).context("bid receipt")?;
        let checked = check_receipt(&conn, &committed, org, &receipt)?;
        out.line(format!(
            "{org} bids (sealed; block {}): receipt bid_hash {}…, signed by {} registered enclave(s)",
            committed.block,
            &checked["bid_hash"].as_str().unwrap_or_default()[..16],
            checked["signatures"]
        ));
        receipts.push(checked);
    }
    let refused = match org1.invoke(conn1.gateway(), "auction", "end", args(&["art"]), &[]) {
        Ok(_) => bail!("ending before the end time must be refused"),
        Err(e) => e.to_string(),
    };
    out.line(format!("org1 ends early -> {refused}"));

    let deadline = Instant::now() + BIDDING + Duration::from_secs(30);
    while now_ms() <= end_ms {
        if Instant::now() > deadline {
            bail!("the clock did not reach the auction's end");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let ended = org1.invoke(conn1.gateway(), "auction", "end", args(&["art"]), &[]).context("end")?;
    let result: Value = serde_json::from_slice(&ended.response.payload).context("auction result")?;
    out.line(format!(
        "org1 ends the auction (block {}): the enclave names winner {} at price {} from {} bidders",
        ended.block, result["winner"], result["price"], result["bids"]
    ));
    let statuses = crate::cmd::network::wait_for_agreement(dir)?;
    out.line("no host saw a bid: each travelled sealed to the chaincode's key and is stored sealed by it");
    out.result(
        "",
        json!({ "ok": true, "demo": "auction", "platform": "virtual", "insecure": true,
                "result": result, "receipts": receipts, "early_end_refused": refused,
                "bids": BIDS.iter().map(|(o, a)| json!({"bidder": o, "amount": a})).collect::<Vec<_>>(),
                "nodes": statuses.iter().map(|(n, h, t)| json!({"node": n, "height": h, "tip": t.to_hex()})).collect::<Vec<_>>() }),
    );
    Ok(())
}

/// The chaincode's key, verified, waiting for the enclaves to distribute it.
fn chaincode_key(
    c: &Client,
    gw: &dyn Gateway,
    policy: &teechain_attestation::AttestationPolicy,
) -> Result<ChaincodeKey> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match c.chaincode_key(gw, "auction", policy) {
            Ok(k) => return Ok(k),
            Err(e) if Instant::now() > deadline => return Err(e).context("the auction chaincode's key"),
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}

/// Checks a bid receipt against the committed transaction: the bid hash is the hash of
/// the sealed value written for the bidder, and registered enclaves signed it.
fn check_receipt(conn: &Connection, committed: &Committed, org: &str, receipt: &Value) -> Result<Value> {
    let (dir, config) = conn.network();
    let node = config.nodes.iter().find(|n| n.org == org).context("bidder's node")?;
    let tls = teechain_node::rpc::ClientTls::for_node(dir, config, node)?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let block = rt
        .block_on(async {
            let c = teechain_node::rpc::PeerClient::connect(&node.peer_address, &tls, Default::default()).await?;
            c.blocks(committed.block, 1).await
        })?
        .into_iter()
        .next()
        .context("the bid's block")?;
    let tx = block.transactions.iter().find(|t| t.tx_id() == committed.tx_id).context("the bid transaction")?;
    let TxBody::Invoke(inv) = &tx.payload.body else { bail!("the bid is not an invocation") };
    let key = format!("bid/art/{org}");
    let write = inv.response.rwset.writes.iter().find(|w| w.key == key.as_bytes()).context("the bid's write")?;
    let sealed = write.value.as_ref().context("the sealed bid")?;
    let hash = teechain_types::sha256(sealed).to_hex();
    if receipt["bid_hash"].as_str() != Some(hash.as_str()) {
        bail!("{org}'s receipt does not match the sealed bid on the ledger");
    }
    Ok(json!({ "bidder": org, "tx_id": committed.tx_id.to_hex(), "block": committed.block, "bid_hash": hash,
               "signatures": inv.endorsements.len(),
               "enclaves": inv.endorsements.iter().map(|e| e.enclave.to_hex()).collect::<Vec<_>>() }))
}
