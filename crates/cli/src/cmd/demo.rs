//! `teechain demo ...`: each demo on a fresh local network of node processes.

use crate::cmd::chaincode::{deploy, DefinitionArgs};
use crate::cmd::network;
use crate::conn::Connection;
use crate::output::Output;
use anyhow::{Context, Result};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use teechain_client::Client;
use teechain_node::config::{init_network_with, InitOptions};
use teechain_node::Gateway;

#[derive(Clone, Copy, clap::ValueEnum)]
pub(crate) enum Demo {
    /// Cross-bank payment: org1 pays org2, every refusal shown; then privately, in a
    /// collection of org1 and org2 that org3 witnesses only as hashes.
    Payment,
    /// Private asset transfer: public owner record, private details and prices in the
    /// organisations' implicit collections, transfer checked against the ledger's hashes.
    Asset,
    /// Sealed-bid auction: bids sealed to the chaincode's enclave key, winner named by the
    /// enclave after the end, receipts checked against the ledger.
    Auction,
}

/// Stops the demo's nodes however the demo ends.
pub(crate) struct Running<'a>(pub(crate) &'a Path);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        let _ = network::down(self.0, &Output::new(true).quiet());
    }
}

pub(crate) fn run(which: Demo, dir: Option<PathBuf>, base_port: Option<u16>, out: &Output) -> Result<()> {
    let (_tmp, dir) = match dir {
        Some(d) => (None, d),
        None => {
            let t = tempfile::Builder::new().prefix("teechain-demo-").tempdir()?;
            let d = t.path().to_path_buf();
            (Some(t), d)
        }
    };
    match which {
        Demo::Payment => payment(&dir, base_port, out),
        Demo::Asset => crate::cmd::demo_asset::asset(&dir, base_port, out),
        Demo::Auction => crate::cmd::demo_auction::auction(&dir, base_port, out),
    }
}

/// A base port whose node ports are all free now.
pub(crate) fn free_base_port(nodes: u16) -> Result<u16> {
    let seed =
        std::process::id() as u32 ^ std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.subsec_nanos();
    for attempt in 0..200u32 {
        let base = 20_000 + ((seed.wrapping_add(attempt.wrapping_mul(7919))) % 3_000) as u16 * 10;
        let free = (0..nodes)
            .all(|i| [1, 2].iter().all(|o| std::net::TcpListener::bind(("127.0.0.1", base + 10 * i + o)).is_ok()));
        if free {
            return Ok(base);
        }
    }
    anyhow::bail!("found no free ports for {nodes} nodes")
}

/// The collections of the payment chaincode's private mode.
pub(crate) const PAYMENT_COLLECTIONS: &str = include_str!("../../../../contracts/payment/collections.json");

/// Creates a three-organisation network in `dir` and starts its nodes; the guard stops them.
pub(crate) fn start_network<'a>(dir: &'a Path, base_port: Option<u16>, out: &Output) -> Result<Running<'a>> {
    let orgs: Vec<String> = ["org1", "org2", "org3"].map(String::from).to_vec();
    out.line("enclave platform: virtual (INSECURE: software only, no hardware isolation)");
    std::fs::create_dir_all(dir)?;
    let base_port = match base_port {
        Some(p) => p,
        None => free_base_port(orgs.len() as u16)?,
    };
    init_network_with(dir, &orgs, &InitOptions { base_port, ..InitOptions::default() })?;
    out.line(format!("network of {} organisations in {}; starting one process per node", orgs.len(), dir.display()));
    network::up(dir, out)?;
    Ok(Running(dir))
}

fn payment(dir: &Path, base_port: Option<u16>, out: &Output) -> Result<()> {
    let orgs: Vec<String> = ["org1", "org2", "org3"].map(String::from).to_vec();
    out.line("TEEChain demo: cross-bank payment");
    let _running = start_network(dir, base_port, out)?;
    let collections = dir.join("payment-collections.json");
    std::fs::write(&collections, PAYMENT_COLLECTIONS)?;

    let policy = "AND('org1.member','org2.member')";
    let (admin_conn, _) = Connection::open(dir, "org1", "admin")?;
    let def = deploy(
        &admin_conn,
        &DefinitionArgs {
            dir: dir.to_path_buf(),
            name: "payment".into(),
            wasm: "payment".into(),
            policy: policy.into(),
            version: "1.0".into(),
            sequence: None,
            collections: Some(collections),
        },
    )?;
    out.line(format!(
        "chaincode payment committed (sequence {}, approved by {}), policy {policy}, collection org1org2 of org1 and org2",
        def.sequence,
        orgs.join(", ")
    ));

    let client = |org: &str| -> Result<(Connection, Client)> { Connection::open(dir, org, "client") };
    let args = |a: &[&str]| a.iter().map(|s| s.as_bytes().to_vec()).collect::<Vec<_>>();
    let (conn1, org1) = client("org1")?;
    let gw = conn1.gateway();
    org1.invoke(gw, "payment", "init", args(&["org1", "org2", "org3"]), &[]).context("init")?;
    out.line(format!("init: {}", balances(gw, &org1)?.0));

    let paid = org1.invoke(gw, "payment", "transfer", args(&["org1", "org2", "10"]), &[]).context("transfer")?;
    out.line(format!("org1 pays org2 10: committed in block {} (tx {})", paid.block, paid.tx_id.short()));
    let (text, balances_json) = balances(gw, &org1)?;
    out.line(format!("balances: {text}"));

    out.line("refused, each with its reason (nothing is written):");
    let cases: [(&str, &str, [&str; 3]); 6] = [
        ("org3 spends from org1's account", "org3", ["org1", "org3", "5"]),
        ("org1 pays org2 0", "org1", ["org1", "org2", "0"]),
        ("org1 pays org2 -5", "org1", ["org1", "org2", "-5"]),
        ("org1 pays itself", "org1", ["org1", "org1", "5"]),
        ("org1 pays org2 1000", "org1", ["org1", "org2", "1000"]),
        ("org1 pays unknown org9", "org1", ["org1", "org9", "5"]),
    ];
    let mut refusals = Vec::new();
    for (label, caller, a) in cases {
        let (conn, c) = client(caller)?;
        let reason = match c.invoke(conn.gateway(), "payment", "transfer", args(&a), &[]) {
            Ok(_) => anyhow::bail!("demo case '{label}' was accepted but must be refused"),
            Err(e) => e.to_string(),
        };
        out.line(format!("  {label:<34} -> {reason}"));
        refusals.push(json!({ "case": label, "reason": reason }));
    }

    // A transaction replayed byte for byte, and one whose signature was tampered with.
    let (tx, _) = org1.prepare(gw, "payment", "transfer", args(&["org1", "org2", "1"]), &[])?;
    let first = gw.submit(tx.clone())?;
    let replay = gw.submit(tx.clone())?;
    let mut forged = org1.prepare(gw, "payment", "transfer", args(&["org1", "org2", "1"]), &[])?.0;
    forged.signature.0[0] ^= 1;
    let forged = gw.submit(forged)?;
    out.line(format!("  {:<34} -> first {}, replay {}", "replayed transaction", first.code, replay.code));
    out.line(format!("  {:<34} -> {}", "tampered client signature", forged.code));
    let (final_text, final_json) = balances(gw, &org1)?;
    out.line(format!("final balances (after the one extra payment of 1): {final_text}"));
    let private = private_payment(dir, out)?;
    let confidential = confidential_payment(dir, out)?;
    let statuses = network::wait_for_agreement(dir)?;
    for (name, height, tip) in &statuses {
        out.line(format!("{name}: {height} blocks, tip {}", tip.short()));
    }
    out.result(
        "",
        json!({ "ok": true, "demo": "payment", "platform": "virtual", "insecure": true, "processes": orgs.len(),
                "balances_after_transfer": balances_json, "refusals": refusals, "private": private,
                "confidential": confidential,
                "replay": { "first": first.code.name(), "second": replay.code.name() },
                "forged_signature": forged.code.name(), "final_balances": final_json,
                "nodes": statuses.iter().map(|(n, h, t)| json!({"node": n, "height": h, "tip": t.to_hex()})).collect::<Vec<_>>() }),
    );
    Ok(())
}

/// The private mode: balances of org1 and org2 in their collection; org3 sees hashes.
fn private_payment(dir: &Path, out: &Output) -> Result<Value> {
    let args = |a: &[&str]| a.iter().map(|s| s.as_bytes().to_vec()).collect::<Vec<_>>();
    let (conn1, org1) = Connection::open(dir, "org1", "client")?;
    let (conn3, org3) = Connection::open(dir, "org3", "client")?;
    let (gw1, gw3) = (conn1.gateway(), conn3.gateway());
    out.line("private mode: balances of org1 and org2 live in collection org1org2; org3's node holds only hashes");
    org1.invoke(gw1, "payment", "init_private", args(&["org1org2", "org1", "org2"]), &[]).context("init_private")?;
    let paid = org1
        .invoke(
            gw1,
            "payment",
            "transfer_private",
            args(&["org1org2", "org1", "org2"]),
            &[("amount".into(), b"10".to_vec())],
        )
        .context("transfer_private")?;
    out.line(format!("org1 pays org2 10 privately: committed in block {} (tx {})", paid.block, paid.tx_id.short()));
    // org3 reads through its own node: let it reach the block first.
    network::wait_for_agreement(dir)?;
    let balance = |c: &Client, gw: &dyn Gateway, org: &str| -> Result<String> {
        let r = c.query(gw, "payment", "balance_private", args(&["org1org2", org]))?;
        Ok(String::from_utf8_lossy(&r.payload).to_string())
    };
    let (b1, b2) = (balance(&org1, gw1, "org1")?, balance(&org1, gw1, "org2")?);
    out.line(format!("org1 reads the collection: org1={b1} org2={b2}"));
    let refused = match balance(&org3, gw3, "org2") {
        Ok(v) => anyhow::bail!("org3 read a private balance ({v}); it must be refused"),
        Err(e) => e.to_string(),
    };
    out.line(format!("org3 reads org2's private balance -> {refused}"));
    let hash = org3.query(gw3, "payment", "balance_hash", args(&["org1org2", "org2"]))?;
    let hash = String::from_utf8_lossy(&hash.payload).to_string();
    out.line(format!("org3 reads the hash on its own ledger: {}…", &hash[..hash.len().min(16)]));
    let opening = org1.query(gw1, "payment", "disclose", args(&["org1org2", "org2"]))?;
    let opening: Value = serde_json::from_slice(&opening.payload).context("disclose returned no JSON")?;
    let verified = verify_opening(&opening, &hash)?;
    out.line(format!(
        "org1 shows org3 the opening of org2's balance ({}); org3 checks it against the hash: {}",
        opening["value"].as_str().unwrap_or("?"),
        if verified { "it matches" } else { "MISMATCH" }
    ));
    if !verified {
        anyhow::bail!("the disclosed opening does not match the ledger's hash");
    }
    Ok(json!({ "org1": b1, "org2": b2, "org3_refused": refused, "hash": hash, "disclosed_verified": verified }))
}

/// The confidential mode: calls sealed to the chaincode's key (verified first), balances
/// sealed in state; transfers run in org1's and org2's enclaves (the policy), and no
/// host holds an amount or a balance.
fn confidential_payment(dir: &Path, out: &Output) -> Result<Value> {
    let args = |a: &[&str]| a.iter().map(|s| s.as_bytes().to_vec()).collect::<Vec<_>>();
    let policy =
        teechain_node::config::NetworkConfig::load(dir)?.channel.attestation.policy().map_err(anyhow::Error::msg)?;
    let (conn1, org1) = Connection::open(dir, "org1", "client")?;
    let (conn2, org2) = Connection::open(dir, "org2", "client")?;
    let (conn3, org3) = Connection::open(dir, "org3", "client")?;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let key = loop {
        match org1.chaincode_key(conn1.gateway(), "payment", &policy) {
            Ok(k) => break k,
            Err(e) if std::time::Instant::now() > deadline => return Err(e).context("the payment chaincode's key"),
            Err(_) => std::thread::sleep(std::time::Duration::from_millis(200)),
        }
    };
    out.line(format!(
        "confidential mode: chaincode key of payment (epoch {}) made by enclave {}, evidence verified ({})",
        key.epoch,
        key.enclave.short(),
        key.platform
    ));
    org1.invoke_confidential(conn1.gateway(), &key, "init_sealed", args(&["100", "org1", "org2", "org3"]), &[])
        .context("init_sealed")?;
    let (paid, receipt) = org1
        .invoke_confidential(conn1.gateway(), &key, "transfer_sealed", args(&["org1", "org2", "10"]), &[])
        .context("transfer_sealed")?;
    out.line(format!(
        "org1 pays org2 10 with a sealed call: block {}; only org1 reads the response: {}",
        paid.block,
        String::from_utf8_lossy(&receipt.payload)
    ));
    network::wait_for_agreement(dir)?;
    let b1 = org1.query_confidential(conn1.gateway(), &key, "balance_sealed", args(&["org1"]))?;
    let b2 = org2.query_confidential(conn2.gateway(), &key, "balance_sealed", args(&["org2"]))?;
    let (b1, b2) = (String::from_utf8_lossy(&b1.payload).to_string(), String::from_utf8_lossy(&b2.payload).to_string());
    out.line(format!("each owner reads its sealed balance: org1={b1} org2={b2}"));
    let refused = match org3.query_confidential(conn3.gateway(), &key, "balance_sealed", args(&["org2"])) {
        Ok(_) => anyhow::bail!("org3 read org2's sealed balance; it must be refused"),
        Err(e) => e.to_string(),
    };
    out.line(format!("org3 reads org2's sealed balance -> {refused}"));
    Ok(json!({ "key_epoch": key.epoch, "maker": key.enclave.to_hex(), "org1": b1, "org2": b2, "org3_refused": refused,
               "block": paid.block }))
}

/// Checks an opening `{"value": text, "blind": hex}` against a value hash in hex.
pub(crate) fn verify_opening(opening: &Value, hash_hex: &str) -> Result<bool> {
    let value = opening["value"].as_str().context("opening has no value")?;
    let blind = opening["blind"].as_str().and_then(teechain_types::Hash32::from_hex).context("opening has no blind")?;
    let hash = teechain_types::Hash32::from_hex(hash_hex.trim()).context("the hash is not hex")?;
    Ok(teechain_types::collection::private_value_hash(&blind, value.as_bytes()) == hash)
}

fn balances(gw: &dyn Gateway, c: &Client) -> Result<(String, Value)> {
    let mut text = Vec::new();
    let mut map = serde_json::Map::new();
    for org in ["org1", "org2", "org3"] {
        let r = c.query(gw, "payment", "balance", vec![org.as_bytes().to_vec()])?;
        let b = String::from_utf8_lossy(&r.payload).to_string();
        text.push(format!("{org}={b}"));
        map.insert(org.into(), json!(b.parse::<u64>().ok()));
    }
    Ok((text.join(" "), Value::Object(map)))
}
