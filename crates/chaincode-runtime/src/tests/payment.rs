//! The payment contract end to end through the runtime.

use super::*;

const NS: &str = "payment";

fn payment() -> &'static CompiledChaincode {
    static CODE: OnceLock<CompiledChaincode> = OnceLock::new();
    CODE.get_or_init(|| runtime().compile(teechain_contracts::PAYMENT).expect("payment compiles"))
}

/// A ledger of one payment chaincode: executes, and commits what succeeded.
struct Ledger {
    state: MemState,
    n: u64,
}

impl Ledger {
    fn new() -> Self {
        let mut ledger = Ledger { state: MemState::default(), n: 0 };
        ledger.commit("org1", "init", &["org1", "org2", "org3"]).expect("init");
        ledger
    }

    fn exec(&mut self, org: &str, function: &str, args: &[&str]) -> Simulation {
        self.n += 1;
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        runtime()
            .execute(payment(), NS, &self.state, &ctx_n(org, self.n), &inv(function, &args))
            .unwrap_or_else(|e| panic!("{function}: {e}"))
    }

    /// Executes and commits on success; the refusal message otherwise.
    fn commit(&mut self, org: &str, function: &str, args: &[&str]) -> Result<Simulation, String> {
        let sim = self.exec(org, function, args);
        if sim.response.status != STATUS_OK {
            assert_eq!(sim.response.status, STATUS_REFUSED);
            assert!(sim.rwset.writes.is_empty() && sim.events.is_empty());
            return Err(sim.response.message);
        }
        let tx_id = sha256(&self.n.to_be_bytes());
        self.state.apply(&sim.rwset, tx_id);
        Ok(sim)
    }

    fn balance(&mut self, org: &str) -> String {
        let sim = self.exec(org, "balance", &[org]);
        assert_eq!(sim.response.status, STATUS_OK, "{}", sim.response.message);
        String::from_utf8(sim.response.payload).unwrap()
    }

    fn refusal(&mut self, org: &str, function: &str, args: &[&str]) -> String {
        match self.commit(org, function, args) {
            Ok(_) => panic!("{function}{args:?} by {org} should be refused"),
            Err(m) => m,
        }
    }
}

#[test]
fn init_gives_every_org_100_once() {
    let mut l = Ledger::new();
    for org in ["org1", "org2", "org3"] {
        assert_eq!(l.balance(org), "100");
    }
    assert_eq!(l.refusal("org2", "init", &["org1", "org2"]), "payment is already initialised");

    let mut fresh = Ledger { state: MemState::default(), n: 0 };
    assert_eq!(fresh.refusal("org1", "init", &[]), "init needs at least one organisation");
    assert_eq!(fresh.refusal("org1", "init", &["org1", "org1"]), "organisation org1 is named twice");
}

#[test]
fn transfer_moves_funds_and_emits_an_event() {
    let mut l = Ledger::new();
    let sim = l.commit("org1", "transfer", &["org1", "org2", "10"]).unwrap();
    assert_eq!(sim.events.len(), 1);
    assert_eq!(sim.events[0].name, "transfer");
    assert_eq!(sim.events[0].payload, br#"{"from":"org1","to":"org2","amount":10}"#);
    // Both balances were read at their committed versions and both are written.
    let keys: Vec<&[u8]> = sim.rwset.reads.iter().map(|r| r.key.as_slice()).collect();
    assert_eq!(keys, [&b"balance/org1"[..], b"balance/org2"]);
    assert!(sim.rwset.reads.iter().all(|r| r.version == Some(Version { block: 1, tx: 0 })));
    let writes: Vec<(&[u8], Option<&[u8]>)> =
        sim.rwset.writes.iter().map(|w| (w.key.as_slice(), w.value.as_deref())).collect();
    assert_eq!(writes, [(&b"balance/org1"[..], Some(&b"90"[..])), (b"balance/org2", Some(b"110"))]);

    assert_eq!((l.balance("org1"), l.balance("org2"), l.balance("org3")), ("90".into(), "110".into(), "100".into()));
}

#[test]
fn every_refusal_has_its_own_message() {
    let mut l = Ledger::new();
    l.commit("org1", "transfer", &["org1", "org2", "10"]).unwrap();

    let cases: &[(&str, &[&str], &str)] = &[
        ("org3", &["org1", "org2", "5"], "caller of org3 may not spend from org1's account"),
        ("org1", &["org1", "org2", "0"], "amount must be a positive integer, got \"0\""),
        ("org1", &["org1", "org2", "-5"], "amount must be a positive integer, got \"-5\""),
        ("org1", &["org1", "org2", "1.5"], "amount must be a positive integer, got \"1.5\""),
        ("org1", &["org1", "org2", "ten"], "amount must be a positive integer, got \"ten\""),
        (
            "org1",
            &["org1", "org2", "99999999999999999999999"],
            "amount must be a positive integer, got \"99999999999999999999999\"",
        ),
        ("org1", &["org1", "org1", "5"], "self-transfer is not allowed"),
        ("org1", &["org1", "org9", "5"], "unknown account org9"),
        ("org9", &["org9", "org1", "5"], "unknown account org9"),
        ("org1", &["org1", "org2", "200"], "insufficient funds: org1 has 90, transfer needs 200"),
        ("org1", &["org1", "org2"], "transfer takes 3 argument(s) (from, to, amount), got 2"),
    ];
    for (org, args, message) in cases {
        assert_eq!(l.refusal(org, "transfer", args), *message, "transfer{args:?} by {org}");
    }
    assert_eq!(l.refusal("org1", "balance", &["org9"]), "unknown account org9");
    assert_eq!(l.refusal("org1", "history", &["org9"]), "unknown account org9");
    assert_eq!(
        l.refusal("org1", "mint", &[]),
        "unknown function mint; payment offers init, transfer, balance, history, init_private, transfer_private, \
         balance_private, balance_hash, disclose, init_sealed, transfer_sealed and balance_sealed"
    );
    // Nothing moved.
    assert_eq!((l.balance("org1"), l.balance("org2"), l.balance("org3")), ("90".into(), "110".into(), "100".into()));
}

#[test]
fn history_lists_the_balances_of_an_account() {
    let mut l = Ledger::new();
    l.commit("org1", "transfer", &["org1", "org2", "10"]).unwrap();
    l.commit("org2", "transfer", &["org2", "org1", "30"]).unwrap();
    let sim = l.exec("org3", "history", &["org1"]);
    assert_eq!(sim.response.status, STATUS_OK, "{}", sim.response.message);
    let text = String::from_utf8(sim.response.payload).unwrap();
    let tx = |n: u64| sha256(&n.to_be_bytes()).to_hex();
    let expected = format!(
        "[{{\"tx_id\":\"{}\",\"block\":1,\"timestamp_ms\":1700000000001,\"balance\":100}},\
          {{\"tx_id\":\"{}\",\"block\":2,\"timestamp_ms\":1700000000002,\"balance\":90}},\
          {{\"tx_id\":\"{}\",\"block\":3,\"timestamp_ms\":1700000000003,\"balance\":120}}]",
        tx(1),
        tx(2),
        tx(3)
    );
    assert_eq!(text, expected);
}

#[test]
fn transfers_are_deterministic() {
    let l = Ledger::new();
    let c = ctx_n("org1", 42);
    let i = inv("transfer", &[b"org1", b"org2", b"7"]);
    let a = runtime().execute(payment(), NS, &l.state, &c, &i).unwrap();
    let other = Runtime::default();
    let code = other.compile(teechain_contracts::PAYMENT).unwrap();
    let b = other.execute(&code, NS, &l.state, &c, &i).unwrap();
    assert_eq!(encode(&a.rwset), encode(&b.rwset));
    assert_eq!(a.fuel_consumed, b.fuel_consumed);
}

/// Reports fuel and time per transfer (`cargo test -p teechain-chaincode-runtime
/// transfer_cost -- --nocapture`; build with `--release` for meaningful times).
#[test]
fn transfer_cost() {
    let l = Ledger::new();
    let i = inv("transfer", &[b"org1", b"org2", b"1"]);
    let c = ctx_n("org1", 7);
    let first = runtime().execute(payment(), NS, &l.state, &c, &i).unwrap();
    assert!(first.response.is_ok());
    let rounds = 200;
    let start = std::time::Instant::now();
    for _ in 0..rounds {
        let sim = runtime().execute(payment(), NS, &l.state, &c, &i).unwrap();
        assert_eq!(sim.fuel_consumed, first.fuel_consumed);
    }
    let per = start.elapsed() / rounds;
    let compile_start = std::time::Instant::now();
    runtime().compile(teechain_contracts::PAYMENT).unwrap();
    eprintln!(
        "payment transfer: {} fuel, {per:?} per instantiate+execute; compile {:?}",
        first.fuel_consumed,
        compile_start.elapsed()
    );
    // Generous bound: a transfer must stay far below the default fuel limit.
    assert!(first.fuel_consumed < ExecutionLimits::default().fuel / 100);
}
