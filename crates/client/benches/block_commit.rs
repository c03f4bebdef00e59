//! Validate + commit of a 500-payment block on one node, and its parts.
//!
//! Setup builds a real three-organisation network (in temporary directories), deploys the
//! payment chaincode, creates 1000 accounts, and has the org1 and org2 nodes endorse 500
//! non-conflicting transfers. Then, on copies of one node's ledger file:
//! - `validate_commit_500`: validation (signatures, policy, MVCC) + one durable commit;
//! - `validate_500`: validation alone;
//! - `signatures_batch_1500`: the 1500 Ed25519 signatures of the block as one batch;
//! - `commit_500`: the storage commit alone (precomputed outcome);
//! - `execute_500`: running the 500 transfers in the wasm runtime (endorsement-side cost,
//!   not part of validate+commit; shown for the cost model).

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use teechain_chaincode_runtime::{ExecutionLimits, Runtime};
use teechain_client::Client;
use teechain_crypto::{BatchVerifier, Msp};
use teechain_ledger::{BlockValidator, Ledger};
use teechain_node::config::{init_network, NetworkConfig};
use teechain_node::{Gateway, LocalNetwork};
use teechain_types::chaincode::{Caller, InvocationContext};
use teechain_types::codec::{decode, Limits};
use teechain_types::enclave::{enclave_state_key, RegisteredEnclave, ENCLAVE_NAMESPACE};
use teechain_types::tx::{LifecycleOp, TxBody};
use teechain_types::{sha256, Block, Role, Transaction};

const TXS: usize = 500;

struct Fixture {
    _dir: tempfile::TempDir,
    ledger_file: PathBuf,
    config: NetworkConfig,
    txs: Vec<Transaction>,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let orgs: Vec<String> = ["org1", "org2", "org3"].map(String::from).to_vec();
    init_network(dir.path(), "teechain", &orgs).expect("init");
    let txs = {
        let net = LocalNetwork::open(dir.path()).expect("open");
        let wasm = teechain_contracts::PAYMENT;
        net.install(wasm).expect("install");
        let def = teechain_types::chaincode::ChaincodeDefinition {
            name: "payment".into(),
            version: "1".into(),
            sequence: 1,
            code_hash: sha256(wasm),
            endorsement_policy: "AND('org1.member','org2.member')".into(),
            collections: Vec::new(),
        };
        for org in &orgs {
            let admin = Client::new(net.user(org, "admin").expect("admin"), net.channel());
            net.submit(admin.lifecycle(LifecycleOp::Approve(def.clone()))).expect("approve");
        }
        let admin = Client::new(net.user("org1", "admin").expect("admin"), net.channel());
        assert!(net.submit(admin.lifecycle(LifecycleOp::Commit(def))).expect("commit").code.is_valid());
        let org1 = Client::new(net.user("org1", "client").expect("client"), net.channel());
        let mut accounts: Vec<Vec<u8>> = (0..TXS).map(|i| format!("org1/a{i}").into_bytes()).collect();
        accounts.extend((0..TXS).map(|i| format!("org2/b{i}").into_bytes()));
        org1.invoke(&net, "payment", "init", accounts, &[]).expect("init accounts");
        (0..TXS)
            .map(|i| {
                let args = [format!("org1/a{i}"), format!("org2/b{i}"), "7".into()];
                org1.prepare(&net, "payment", "transfer", args.iter().map(|s| s.as_bytes().to_vec()).collect(), &[])
                    .expect("endorse")
                    .0
            })
            .collect()
    };
    let config = NetworkConfig::load(dir.path()).expect("config");
    let ledger_file = dir.path().join(&config.nodes[2].data_dir).join("ledger.redb");
    Fixture { _dir: dir, ledger_file, config, txs }
}

fn copy_ledger(src: &Path) -> (tempfile::TempDir, Ledger) {
    let dir = tempfile::tempdir().expect("tempdir");
    let dst = dir.path().join("ledger.redb");
    std::fs::copy(src, &dst).expect("copy ledger");
    let ledger = Ledger::open(&dst).expect("open copy");
    (dir, ledger)
}

/// The next block, timed at its first transaction's proposal (within the channel's
/// window of every one of them).
fn next_block(ledger: &Ledger, txs: &[Transaction]) -> Block {
    let time = txs.first().map_or(1, |t| t.payload.header.timestamp_ms);
    Block::new(ledger.height(), ledger.last_hash(), time, txs.to_vec())
}

fn bench(c: &mut Criterion) {
    let f = fixture();
    let msp = Arc::new(Msp::new(&f.config.msp_orgs().expect("orgs")).expect("msp"));
    let attestation = f.config.channel.attestation.policy().expect("attestation policy");
    let validator = BlockValidator::new(f.config.channel.channel.clone(), msp.clone(), attestation);

    // Sanity: the block is entirely valid, so the benchmark measures the full path.
    {
        let (_d, ledger) = copy_ledger(&f.ledger_file);
        let block = next_block(&ledger, &f.txs);
        let outcome = validator.validate(&ledger.snapshot().expect("snap"), &block).expect("validate");
        assert!(outcome.codes.iter().all(|c| c.is_valid()), "{:?}", outcome.codes.iter().find(|c| !c.is_valid()));
    }

    let mut g = c.benchmark_group("block");
    g.sample_size(20);
    g.throughput(Throughput::Elements(TXS as u64));

    g.bench_function("validate_commit_500", |b| {
        b.iter_batched(
            || copy_ledger(&f.ledger_file),
            |(_d, ledger)| {
                let block = next_block(&ledger, &f.txs);
                let outcome = validator.validate(&ledger.snapshot().expect("snap"), &block).expect("validate");
                ledger.commit(block, &outcome).expect("commit");
            },
            BatchSize::PerIteration,
        )
    });

    let (_d, ledger) = copy_ledger(&f.ledger_file);
    let block = next_block(&ledger, &f.txs);
    g.bench_function("validate_500", |b| {
        b.iter(|| validator.validate(&ledger.snapshot().expect("snap"), &block).expect("validate"))
    });

    let registry = copy_ledger(&f.ledger_file);
    let snapshot = registry.1.snapshot().expect("snap");
    let enclave_key = |id: &teechain_types::Hash32| {
        use teechain_types::state::StateView;
        let v = snapshot
            .get(ENCLAVE_NAMESPACE, &enclave_state_key(id))
            .expect("read registry")
            .expect("registered enclave");
        let record: RegisteredEnclave = decode(&v.value, Limits::RECORD).expect("record");
        teechain_crypto::VerifyingKey::from_bytes(&record.registration.keys.signing_key).expect("key")
    };
    let mut sigs = Vec::new();
    for tx in &f.txs {
        let creator = msp.validate(&tx.payload.header.creator).expect("creator");
        sigs.push((tx.payload.hash().0, tx.signature, creator.public_key));
        if let TxBody::Invoke(inv) = &tx.payload.body {
            let h = inv.response.hash().0;
            for e in &inv.endorsements {
                sigs.push((h, e.signature, enclave_key(&e.enclave)));
            }
        }
    }
    assert_eq!(sigs.len(), 3 * TXS);
    g.bench_function("signatures_batch_1500", |b| {
        b.iter(|| {
            let mut batch = BatchVerifier::new();
            for (m, s, k) in &sigs {
                batch.push(m, s, k);
            }
            batch.verify().expect("valid")
        })
    });

    let outcome = validator.validate(&ledger.snapshot().expect("snap"), &block).expect("validate");
    g.bench_function("commit_500", |b| {
        b.iter_batched(
            || copy_ledger(&f.ledger_file),
            |(_d, ledger)| ledger.commit(next_block(&ledger, &f.txs), &outcome).expect("commit"),
            BatchSize::PerIteration,
        )
    });

    let runtime = Runtime::new(ExecutionLimits::default());
    let code = runtime.compile(teechain_contracts::PAYMENT).expect("compile");
    let snap = ledger.snapshot().expect("snap");
    let ctx = |tx: &Transaction| InvocationContext {
        channel: "teechain".into(),
        tx_id: tx.tx_id(),
        caller: Caller { org: "org1".into(), role: Role::Client, name: "client@org1".into() },
        timestamp_ms: tx.payload.header.timestamp_ms,
        transient: Vec::new(),
        sealing: None,
    };
    g.bench_function("execute_500", |b| {
        b.iter(|| {
            for tx in &f.txs {
                let TxBody::Invoke(inv) = &tx.payload.body else { unreachable!("payments are invocations") };
                let sim = runtime.execute(&code, "payment", &snap, &ctx(tx), &inv.invocation).expect("execute");
                assert!(sim.response.is_ok());
            }
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
