//! `teechain bench`: load a fresh network of node processes with payments.
//!
//! N client threads share one gateway connection (HTTP/2 multiplexes their calls). Client
//! `i` owns accounts `org1/c<i>` and pays `org2/c<i>` 1 per transaction, so clients never
//! conflict with each other and every failure is a real one. Each transaction is
//! endorsed, then submitted; the latency reported is submit → commit (the submit call
//! returns once the block holding it is committed on the serving node).

use crate::cmd::chaincode::{deploy, DefinitionArgs};
use crate::cmd::network;
use crate::conn::Connection;
use crate::output::Output;
use anyhow::{bail, Context, Result};
use serde_json::json;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use teechain_node::config::{init_network_with, InitOptions};

/// Arguments of `teechain bench`.
#[derive(clap::Args)]
pub(crate) struct BenchArgs {
    /// Concurrent clients.
    #[arg(long, default_value_t = 32)]
    clients: usize,
    /// Transactions in all (at most 100 per client: each account starts with 100).
    #[arg(long, default_value_t = 3000)]
    transactions: usize,
    /// Network directory to create (default: a fresh temporary directory).
    #[arg(long)]
    dir: Option<PathBuf>,
}

struct Sample {
    submit_to_commit: Duration,
    end_to_end: Duration,
}

pub(crate) fn run(args: BenchArgs, out: &Output) -> Result<()> {
    if args.clients == 0 || args.transactions == 0 {
        bail!("--clients and --transactions must be positive");
    }
    if args.transactions > args.clients * 100 {
        bail!("at most 100 transactions per client: use --clients {} or more", args.transactions.div_ceil(100));
    }
    let tmp = tempfile::Builder::new().prefix("teechain-bench-").tempdir()?;
    let dir = args.dir.clone().unwrap_or_else(|| tmp.path().to_path_buf());
    let orgs: Vec<String> = ["org1", "org2", "org3"].map(String::from).to_vec();
    std::fs::create_dir_all(&dir)?;
    let base_port = crate::cmd::demo::free_base_port(orgs.len() as u16)?;
    init_network_with(&dir, &orgs, &InitOptions { base_port, ..InitOptions::default() })?;
    let quiet = Output::new(true).quiet();
    network::up(&dir, &quiet)?;
    let _running = crate::cmd::demo::Running(&dir);
    out.line(format!("network: 3 organisations, 3 node processes in {}", dir.display()));

    let (admin, _) = Connection::open(&dir, "org1", "admin")?;
    deploy(
        &admin,
        &DefinitionArgs {
            dir: dir.clone(),
            name: "payment".into(),
            wasm: "payment".into(),
            policy: "AND('org1.member','org2.member')".into(),
            version: "1.0".into(),
            sequence: None,
        },
    )?;
    let (conn, client) = Connection::open(&dir, "org1", "client")?;
    let gw = conn.gateway();
    let mut accounts: Vec<Vec<u8>> = (0..args.clients).map(|i| format!("org1/c{i}").into_bytes()).collect();
    accounts.extend((0..args.clients).map(|i| format!("org2/c{i}").into_bytes()));
    client.invoke(gw, "payment", "init", accounts, &[]).context("creating accounts")?;
    // Endorsers read their own ledgers: start once every node has the accounts.
    network::wait_for_agreement(&dir)?;
    out.line(format!("payment deployed; {} clients will submit {} transfers", args.clients, args.transactions));

    let samples = Mutex::new(Vec::with_capacity(args.transactions));
    let failures = Mutex::new(Vec::new());
    let done = AtomicUsize::new(0);
    let started = Instant::now();
    std::thread::scope(|s| {
        for c in 0..args.clients {
            let share = args.transactions / args.clients + usize::from(c < args.transactions % args.clients);
            let (samples, failures, done, client) = (&samples, &failures, &done, &client);
            s.spawn(move || {
                let from = format!("org1/c{c}");
                let to = format!("org2/c{c}");
                for _ in 0..share {
                    let t0 = Instant::now();
                    let args = vec![from.clone().into_bytes(), to.clone().into_bytes(), b"1".to_vec()];
                    let result = client
                        .prepare(gw, "payment", "transfer", args, &[])
                        .map_err(|e| e.to_string())
                        .and_then(|(tx, _)| {
                            let t1 = Instant::now();
                            let o = gw.submit(tx).map_err(|e| e.to_string())?;
                            if !o.code.is_valid() {
                                return Err(o.code.to_string());
                            }
                            Ok(Sample { submit_to_commit: t1.elapsed(), end_to_end: t0.elapsed() })
                        });
                    match result {
                        Ok(sample) => samples.lock().unwrap_or_else(|p| p.into_inner()).push(sample),
                        Err(e) => failures.lock().unwrap_or_else(|p| p.into_inner()).push(e),
                    }
                    done.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        // The live progress line.
        while done.load(Ordering::Relaxed) < args.transactions {
            if !out.is_json() {
                let n = done.load(Ordering::Relaxed);
                let rate = n as f64 / started.elapsed().as_secs_f64().max(1e-9);
                eprint!("\r  {n}/{} transactions, {rate:.0} tx/s   ", args.transactions);
                let _ = std::io::stderr().flush();
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    });
    let elapsed = started.elapsed();
    if !out.is_json() {
        eprintln!();
    }
    let mut samples = samples.into_inner().unwrap_or_else(|p| p.into_inner());
    let failures = failures.into_inner().unwrap_or_else(|p| p.into_inner());
    let committed = samples.len();
    let tps = committed as f64 / elapsed.as_secs_f64();
    samples.sort_by_key(|s| s.submit_to_commit);
    let pct = |p: f64| -> f64 {
        if samples.is_empty() {
            return 0.0;
        }
        let i = ((samples.len() as f64 * p).ceil() as usize).clamp(1, samples.len()) - 1;
        samples[i].submit_to_commit.as_secs_f64() * 1000.0
    };
    let (p50, p95, p99) = (pct(0.50), pct(0.95), pct(0.99));
    let e2e_mean = samples.iter().map(|s| s.end_to_end.as_secs_f64()).sum::<f64>() * 1000.0 / committed.max(1) as f64;
    let success = committed as f64 / args.transactions as f64;
    let heights = network::wait_for_agreement(&dir)?;
    out.result(
        format!(
            "committed {committed}/{} payments in {:.2} s: {tps:.0} tx/s\nsubmit→commit latency p50 {p50:.1} ms, p95 {p95:.1} ms, p99 {p99:.1} ms; mean endorse+submit {e2e_mean:.1} ms\nsuccess rate {:.1} %{}\nall {} nodes at height {} with the same tip",
            args.transactions,
            elapsed.as_secs_f64(),
            success * 100.0,
            failures.first().map(|f| format!(" (first failure: {f})")).unwrap_or_default(),
            heights.len(),
            heights.first().map(|h| h.1).unwrap_or(0)
        ),
        json!({ "ok": true, "clients": args.clients, "transactions": args.transactions, "committed": committed,
                "seconds": elapsed.as_secs_f64(), "tps": tps,
                "latency_ms": { "p50": p50, "p95": p95, "p99": p99 }, "endorse_submit_mean_ms": e2e_mean,
                "success_rate": success, "failures": failures.len(), "first_failure": failures.first(),
                "nodes": heights.len(), "height": heights.first().map(|h| h.1) }),
    );
    Ok(())
}
