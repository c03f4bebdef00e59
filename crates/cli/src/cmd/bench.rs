//! `teechain bench`: load a fresh network of node processes with payments.
//!
//! N client threads share one gateway connection (HTTP/2 multiplexes their calls). Client
//! `i` owns accounts `org1/c<i>` and pays `org2/c<i>` 1 per transaction, so clients never
//! conflict with each other and every failure is a real one. Each transaction is
//! endorsed, then submitted; the latency reported is submit → commit (the submit call
//! returns once the block holding it is committed on the serving node).
//!
//! Modes run one after the other on the same network, so their figures compare: public
//! balances, then private balances in the collection of org1 and org2 (hashes on the
//! ledger, values disseminated peer to peer). Ratios are to the first mode.

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
use teechain_types::Transaction;

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
    /// Modes to measure, in order, on the same network; ratios are to the first.
    #[arg(long, value_delimiter = ',', default_values_t = [Mode::Public, Mode::Private, Mode::Confidential])]
    modes: Vec<Mode>,
    /// Where the nodes' enclaves run.
    #[arg(long, value_enum, default_value_t = crate::cmd::network::EnclaveArg::InProcess)]
    enclave: crate::cmd::network::EnclaveArg,
}

/// The collection of the private mode (contracts/payment/collections.json).
const COLLECTION: &str = "org1org2";

/// How the payments are made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Mode {
    /// Balances in public state, seen by every organisation.
    Public,
    /// Balances in the collection of org1 and org2; org3 holds hashes only.
    Private,
    /// Sealed invocations and sealed balances: no host holds an amount or a balance.
    Confidential,
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Mode::Public => "public",
            Mode::Private => "private",
            Mode::Confidential => "confidential",
        })
    }
}

/// What one mode's load measured.
struct ModeResult {
    mode: Mode,
    committed: usize,
    seconds: f64,
    tps: f64,
    p50: f64,
    p95: f64,
    p99: f64,
    e2e_mean: f64,
    failures: Vec<String>,
}

impl ModeResult {
    fn text(&self, transactions: usize) -> String {
        format!(
            "{}: committed {}/{transactions} payments in {:.2} s: {:.0} tx/s; submit→commit p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms; mean endorse+submit {:.1} ms; success {:.1} %{}",
            self.mode,
            self.committed,
            self.seconds,
            self.tps,
            self.p50,
            self.p95,
            self.p99,
            self.e2e_mean,
            self.committed as f64 * 100.0 / transactions as f64,
            self.failures.first().map(|f| format!(" (first failure: {f})")).unwrap_or_default()
        )
    }

    fn json(&self, transactions: usize) -> serde_json::Value {
        json!({ "mode": self.mode.to_string(), "committed": self.committed, "seconds": self.seconds, "tps": self.tps,
                "latency_ms": { "p50": self.p50, "p95": self.p95, "p99": self.p99 },
                "endorse_submit_mean_ms": self.e2e_mean,
                "success_rate": self.committed as f64 / transactions as f64,
                "failures": self.failures.len(), "first_failure": self.failures.first() })
    }
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
    let enclave = match args.enclave {
        crate::cmd::network::EnclaveArg::InProcess => teechain_node::config::EnclaveMode::InProcess,
        crate::cmd::network::EnclaveArg::Process => teechain_node::config::EnclaveMode::Process,
    };
    init_network_with(&dir, &orgs, &InitOptions { base_port, enclave, ..InitOptions::default() })?;
    let quiet = Output::new(true).quiet();
    network::up(&dir, &quiet)?;
    let _running = crate::cmd::demo::Running(&dir);
    out.line(format!("network: 3 organisations, 3 node processes in {}", dir.display()));

    let (admin, _) = Connection::open(&dir, "org1", "admin")?;
    let collections = dir.join("payment-collections.json");
    std::fs::write(&collections, crate::cmd::demo::PAYMENT_COLLECTIONS)?;
    deploy(
        &admin,
        &DefinitionArgs {
            dir: dir.clone(),
            name: "payment".into(),
            wasm: "payment".into(),
            policy: "AND('org1.member','org2.member')".into(),
            version: "1.0".into(),
            sequence: None,
            collections: Some(collections),
        },
    )?;
    let (conn, client) = Connection::open(&dir, "org1", "client")?;
    let gw = conn.gateway();
    let mut accounts: Vec<Vec<u8>> = (0..args.clients).map(|i| format!("org1/c{i}").into_bytes()).collect();
    accounts.extend((0..args.clients).map(|i| format!("org2/c{i}").into_bytes()));
    let key = if args.modes.contains(&Mode::Confidential) {
        let policy = teechain_node::config::NetworkConfig::load(&dir)?
            .channel
            .attestation
            .policy()
            .map_err(anyhow::Error::msg)?;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match client.chaincode_key(gw, "payment", &policy) {
                Ok(k) => break Some(k),
                Err(e) if Instant::now() > deadline => return Err(e).context("the payment chaincode's key"),
                Err(_) => std::thread::sleep(Duration::from_millis(200)),
            }
        }
    } else {
        None
    };
    for mode in &args.modes {
        let (function, mut init_args) = match mode {
            Mode::Public => ("init", Vec::new()),
            Mode::Private => ("init_private", vec![COLLECTION.as_bytes().to_vec()]),
            Mode::Confidential => ("init_sealed", vec![b"100".to_vec()]),
        };
        init_args.extend(accounts.iter().cloned());
        match (mode, &key) {
            (Mode::Confidential, Some(key)) => {
                client.invoke_confidential(gw, key, function, init_args, &[]).map(|_| ())
            }
            _ => client.invoke(gw, "payment", function, init_args, &[]).map(|_| ()),
        }
        .with_context(|| format!("creating {mode} accounts"))?;
    }
    // Endorsers read their own ledgers: start once every node has the accounts.
    network::wait_for_agreement(&dir)?;
    out.line(format!(
        "payment deployed; {} clients will submit {} transfers per mode ({})",
        args.clients,
        args.transactions,
        args.modes.iter().map(Mode::to_string).collect::<Vec<_>>().join(", ")
    ));

    let mut results = Vec::new();
    for mode in &args.modes {
        let r = load(*mode, &args, &client, gw, key.as_ref(), out);
        out.line(r.text(args.transactions));
        results.push(r);
    }
    let heights = network::wait_for_agreement(&dir)?;
    let baseline = results.first().map(|r| (r.tps, r.p99)).unwrap_or((0.0, 0.0));
    let ratios: Vec<String> = results
        .iter()
        .skip(1)
        .map(|r| {
            format!(
                "{}/{}: throughput {:.2}, p99 {:.2}",
                r.mode,
                results[0].mode,
                r.tps / baseline.0.max(1e-9),
                r.p99 / baseline.1.max(1e-9)
            )
        })
        .collect();
    out.result(
        format!(
            "{}all {} nodes at height {} with the same tip",
            if ratios.is_empty() { String::new() } else { format!("ratios {}\n", ratios.join("; ")) },
            heights.len(),
            heights.first().map(|h| h.1).unwrap_or(0)
        ),
        json!({ "ok": true, "clients": args.clients, "transactions": args.transactions,
                "modes": results.iter().map(|r| r.json(args.transactions)).collect::<Vec<_>>(),
                "ratios": results.iter().skip(1).map(|r| json!({ "mode": r.mode.to_string(),
                    "baseline": results[0].mode.to_string(),
                    "throughput": r.tps / baseline.0.max(1e-9), "p99": r.p99 / baseline.1.max(1e-9) })).collect::<Vec<_>>(),
                "nodes": heights.len(), "height": heights.first().map(|h| h.1) }),
    );
    Ok(())
}

/// Runs one mode's load: each client pays from its org1 account to its org2 account.
fn load(
    mode: Mode,
    args: &BenchArgs,
    client: &teechain_client::Client,
    gw: &dyn teechain_node::Gateway,
    key: Option<&teechain_client::confidential::ChaincodeKey>,
    out: &Output,
) -> ModeResult {
    let samples = Mutex::new(Vec::with_capacity(args.transactions));
    let failures = Mutex::new(Vec::new());
    let done = AtomicUsize::new(0);
    let started = Instant::now();
    std::thread::scope(|s| {
        for c in 0..args.clients {
            let share = args.transactions / args.clients + usize::from(c < args.transactions % args.clients);
            let (samples, failures, done) = (&samples, &failures, &done);
            s.spawn(move || {
                let (function, mut base) = match mode {
                    Mode::Public => ("transfer", Vec::new()),
                    Mode::Private => ("transfer_private", vec![COLLECTION.as_bytes().to_vec()]),
                    Mode::Confidential => ("transfer_sealed", Vec::new()),
                };
                base.push(format!("org1/c{c}").into_bytes());
                base.push(format!("org2/c{c}").into_bytes());
                // A private amount travels as transient input: arguments reach every ledger.
                let transient = match mode {
                    Mode::Public | Mode::Confidential => {
                        base.push(b"1".to_vec());
                        Vec::new()
                    }
                    Mode::Private => vec![("amount".to_string(), b"1".to_vec())],
                };
                // A confidential transfer seals its call to the chaincode's key.
                let prepare = || -> Result<Transaction, String> {
                    match (mode, key) {
                        (Mode::Confidential, Some(key)) => client
                            .endorse_confidential(gw, key, function, base.clone(), &[])
                            .map(|(tx, _, _)| tx)
                            .map_err(|e| e.to_string()),
                        _ => client
                            .prepare(gw, "payment", function, base.clone(), &transient)
                            .map(|(tx, _)| tx)
                            .map_err(|e| e.to_string()),
                    }
                };
                for _ in 0..share {
                    let t0 = Instant::now();
                    let result = prepare().and_then(|tx| {
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
                eprint!("\r  {mode}: {n}/{} transactions, {rate:.0} tx/s   ", args.transactions);
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
    samples.sort_by_key(|s| s.submit_to_commit);
    let pct = |p: f64| -> f64 {
        if samples.is_empty() {
            return 0.0;
        }
        let i = ((samples.len() as f64 * p).ceil() as usize).clamp(1, samples.len()) - 1;
        samples[i].submit_to_commit.as_secs_f64() * 1000.0
    };
    ModeResult {
        mode,
        committed,
        seconds: elapsed.as_secs_f64(),
        tps: committed as f64 / elapsed.as_secs_f64(),
        p50: pct(0.50),
        p95: pct(0.95),
        p99: pct(0.99),
        e2e_mean: samples.iter().map(|s| s.end_to_end.as_secs_f64()).sum::<f64>() * 1000.0 / committed.max(1) as f64,
        failures,
    }
}
