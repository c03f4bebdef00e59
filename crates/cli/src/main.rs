//! The `teechain` command: create networks, deploy chaincode, invoke and query, verify
//! ledgers, run the demos. Every command takes `--json` for machine-readable output.

mod cmd;
mod collections;
mod conn;
mod output;
mod procs;

use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "teechain", version, about = "TEEChain: a confidential consortium blockchain")]
struct Cli {
    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create and inspect networks.
    #[command(subcommand)]
    Network(cmd::network::NetworkCommand),
    /// Install, approve, commit and list chaincode.
    #[command(subcommand)]
    Chaincode(cmd::chaincode::ChaincodeCommand),
    /// Run a node.
    #[command(subcommand)]
    Node(cmd::node::NodeCommand),
    /// Register and list the nodes' enclaves.
    #[command(subcommand)]
    Enclave(cmd::enclave::EnclaveCommand),
    /// Rotate and show chaincode keys.
    #[command(subcommand)]
    Keys(cmd::keys::KeysCommand),
    /// Invoke a chaincode function: endorse, order, commit.
    Invoke(cmd::invoke::InvokeArgs),
    /// Query a chaincode function on one node (no transaction).
    Query(cmd::invoke::InvokeArgs),
    /// Inspect and check ledgers.
    #[command(subcommand)]
    Ledger(cmd::ledger::LedgerCommand),
    /// Load a fresh network with payments and report throughput and latency.
    Bench(cmd::bench::BenchArgs),
    /// Run a demo on a fresh local network.
    Demo {
        /// Which demo.
        #[arg(value_enum)]
        which: cmd::demo::Demo,
        /// Network directory to create (default: a fresh temporary directory).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// First port of the demo's nodes (default: a free range).
        #[arg(long)]
        base_port: Option<u16>,
    },
}

fn main() {
    let cli = Cli::parse();
    let out = output::Output::new(cli.json);
    let result = match cli.command {
        Command::Network(c) => cmd::network::run(c, &out),
        Command::Node(c) => cmd::node::run_command(c, &out),
        Command::Enclave(c) => cmd::enclave::run(c, &out),
        Command::Keys(c) => cmd::keys::run(c, &out),
        Command::Bench(a) => cmd::bench::run(a, &out),
        Command::Chaincode(c) => cmd::chaincode::run(c, &out),
        Command::Invoke(a) => cmd::invoke::invoke(a, &out),
        Command::Query(a) => cmd::invoke::query(a, &out),
        Command::Ledger(c) => cmd::ledger::run(c, &out),
        Command::Demo { which, dir, base_port } => cmd::demo::run(which, dir, base_port, &out),
    };
    if let Err(e) = result {
        out.error(&e);
        std::process::exit(1);
    }
}
