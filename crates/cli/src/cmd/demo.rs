//! `teechain demo ...`: each demo on a fresh local network.

use crate::cmd::chaincode::{deploy, DefinitionArgs};
use crate::output::Output;
use anyhow::{Context, Result};
use serde_json::{json, Value};
use std::path::PathBuf;
use teechain_client::{Client, ClientError};
use teechain_node::config::init_network;
use teechain_node::{Gateway, LocalNetwork};

#[derive(Clone, Copy, clap::ValueEnum)]
pub(crate) enum Demo {
    /// Cross-bank payment: org1 pays org2, every refusal shown.
    Payment,
}

pub(crate) fn run(which: Demo, dir: Option<PathBuf>, out: &Output) -> Result<()> {
    let (_tmp, dir) = match dir {
        Some(d) => (None, d),
        None => {
            let t = tempfile::Builder::new().prefix("teechain-demo-").tempdir()?;
            let d = t.path().to_path_buf();
            (Some(t), d)
        }
    };
    match which {
        Demo::Payment => payment(&dir, out),
    }
}

fn payment(dir: &std::path::Path, out: &Output) -> Result<()> {
    let orgs: Vec<String> = ["org1", "org2", "org3"].map(String::from).to_vec();
    out.line("TEEChain demo: cross-bank payment");
    out.line("enclave platform: virtual (INSECURE: software only, no hardware isolation)");
    std::fs::create_dir_all(dir)?;
    init_network(dir, "teechain", &orgs)?;
    let net = LocalNetwork::open(dir)?;
    out.line(format!("network: {} nodes ({}) in {}", net.peers().len(), orgs.join(", "), dir.display()));

    let policy = "AND('org1.member','org2.member')";
    let def = deploy(
        &net,
        &DefinitionArgs {
            dir: dir.to_path_buf(),
            name: "payment".into(),
            wasm: "payment".into(),
            policy: policy.into(),
            version: "1.0".into(),
            sequence: None,
        },
    )?;
    out.line(format!(
        "chaincode payment committed (sequence {}, approved by {}), policy {policy}",
        def.sequence,
        orgs.join(", ")
    ));

    let client = |org: &str| -> Result<Client> { Ok(Client::new(net.user(org, "client")?, net.channel())) };
    let args = |a: &[&str]| a.iter().map(|s| s.as_bytes().to_vec()).collect::<Vec<_>>();
    let org1 = client("org1")?;
    org1.invoke(&net, "payment", "init", args(&["org1", "org2", "org3"]), &[]).context("init")?;
    out.line(format!("init: {}", balances(&net, &org1)?.0));

    let paid = org1.invoke(&net, "payment", "transfer", args(&["org1", "org2", "10"]), &[]).context("transfer")?;
    out.line(format!("org1 pays org2 10: committed in block {} (tx {})", paid.block, paid.tx_id.short()));
    let (text, balances_json) = balances(&net, &org1)?;
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
        let reason = match client(caller)?.invoke(&net, "payment", "transfer", args(&a), &[]) {
            Ok(_) => anyhow::bail!("demo case '{label}' was accepted but must be refused"),
            Err(e) => e.to_string(),
        };
        out.line(format!("  {label:<34} -> {reason}"));
        refusals.push(json!({ "case": label, "reason": reason }));
    }

    // A transaction replayed byte for byte, and one whose signature was tampered with.
    let (tx, _) = org1.prepare(&net, "payment", "transfer", args(&["org1", "org2", "1"]), &[])?;
    let first = net.submit(tx.clone())?;
    let replay = net.submit(tx.clone())?;
    let mut forged = org1.prepare(&net, "payment", "transfer", args(&["org1", "org2", "1"]), &[])?.0;
    forged.signature.0[0] ^= 1;
    let forged = net.submit(forged)?;
    out.line(format!("  {:<34} -> first {}, replay {}", "replayed transaction", first.code, replay.code));
    out.line(format!("  {:<34} -> {}", "tampered client signature", forged.code));
    let (final_text, final_json) = balances(&net, &org1)?;
    out.line(format!("final balances (after the one extra payment of 1): {final_text}"));
    for p in net.peers() {
        let s = p.ledger().verify_chain()?;
        out.line(format!("{}: {} blocks, tip {}", p.name(), s.height, s.last_hash.short()));
    }
    out.result(
        "",
        json!({ "ok": true, "demo": "payment", "platform": "virtual", "insecure": true,
                "balances_after_transfer": balances_json, "refusals": refusals,
                "replay": { "first": first.code.name(), "second": replay.code.name() },
                "forged_signature": forged.code.name(), "final_balances": final_json }),
    );
    Ok(())
}

fn balances(net: &LocalNetwork, c: &Client) -> Result<(String, Value)> {
    let mut text = Vec::new();
    let mut map = serde_json::Map::new();
    for org in ["org1", "org2", "org3"] {
        let r = c
            .query(net, "payment", "balance", vec![org.as_bytes().to_vec()])
            .map_err(|e: ClientError| anyhow::anyhow!(e))?;
        let b = String::from_utf8_lossy(&r.payload).to_string();
        text.push(format!("{org}={b}"));
        map.insert(org.into(), json!(b.parse::<u64>().ok()));
    }
    Ok((text.join(" "), Value::Object(map)))
}
