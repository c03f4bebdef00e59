//! Payment: cross-bank settlement between organisations.
//!
//! Accounts are stored as decimal text under `balance/<account>`. An account is an
//! organisation's name (`org1`) or one of its sub-accounts (`org1/treasury`); either is
//! owned by that organisation, whose clients alone may spend from it.
//!
//! | function | arguments | result |
//! |---|---|---|
//! | `init` | `org...` | every named org starts at 100; refused once initialised |
//! | `transfer` | `from, to, amount` | moves `amount` from `from` to `to`; emits a `transfer` event; returns the event's JSON |
//! | `balance` | `org` | the balance as decimal text |
//! | `history` | `org` | JSON list of `{tx_id, block, timestamp_ms, balance}` of that account |
//! | `init_private` | `collection, org...` | every named org starts at 100 in the collection; refused once initialised, and unless the caller belongs to a named org |
//! | `transfer_private` | `collection, from, to`; transient `amount` | like `transfer`, on balances in the collection (the amount is transient input: arguments reach every ledger); emits a `transfer_private` event `{collection, from, to}` (no amount); returns the event's JSON |
//! | `balance_private` | `collection, account` | the balance in the collection as decimal text (members only) |
//! | `balance_hash` | `collection, account` | hex of the balance's on-ledger hash (any client) |
//! | `disclose` | `collection, account` | JSON `{"account", "value", "blind"}`: the opening of the balance's hash (members only) |
//! | `init_sealed` | `balance, org...` | confidential mode (`sealed.rs`): every named org starts at `balance`, sealed |
//! | `transfer_sealed` | `from, to, amount` | like `transfer`, on sealed balances; no event |
//! | `balance_sealed` | `account` | the sealed balance, for the owner organisation's clients only |
//!
//! `transfer` refuses unless the caller belongs to `from`, the amount is a positive
//! integer, `from != to`, both accounts exist and `from` has enough funds; each refusal
//! has its own message. `transfer_private` makes the same checks with the same messages.
//!
//! # Private mode
//!
//! The `*_private` functions keep balances in a private data collection (for example
//! `org1org2` of `collections.json`) under the same keys, `balance/<account>`, with the
//! marker `meta/initialised`. The shared ledger sees only blinded hashes of them, so
//! nothing that reaches it in plaintext names an amount or a balance: the
//! `transfer_private` event and result carry the collection and the two accounts only.
//! A member shows a balance to a non-member with `disclose`; the non-member checks the
//! opening against `balance_hash` with
//! `teechain_types::collection::private_value_hash(blind, value)`. The host's refusals
//! (unknown collection, a non-member reading, no blinding secret) become refusals
//! carrying its message.

use teechain_sdk::{arg_str, expect_args, json_string, refuse, Invocation, Refusal, Stub};

mod private;
mod sealed;

teechain_sdk::chaincode!(handle);

/// The organisation that owns an account: the part before the first `/`.
fn owner(account: &str) -> &str {
    account.split('/').next().unwrap_or(account)
}

/// Balance of every organisation named by `init`.
const INITIAL_BALANCE: u64 = 100;
/// Marks that `init` has run.
const INIT_KEY: &[u8] = b"meta/initialised";

fn handle(stub: &mut Stub, inv: Invocation) -> Result<Vec<u8>, Refusal> {
    match inv.function.as_str() {
        "init" => init(stub, &inv),
        "transfer" => transfer(stub, &inv),
        "balance" => {
            expect_args(&inv, &["org"])?;
            let org = arg_str(&inv, 0, "org")?;
            Ok(balance_of(stub, org)?.to_string().into_bytes())
        }
        "history" => history(stub, &inv),
        "init_private" => private::init(stub, &inv),
        "transfer_private" => private::transfer(stub, &inv),
        "balance_private" => private::balance(stub, &inv),
        "balance_hash" => private::balance_hash(stub, &inv),
        "disclose" => private::disclose(stub, &inv),
        "init_sealed" => sealed::init(stub, &inv),
        "transfer_sealed" => sealed::transfer(stub, &inv),
        "balance_sealed" => sealed::balance(stub, &inv),
        other => {
            refuse!(
                "unknown function {other}; payment offers init, transfer, balance, history, init_private, \
                 transfer_private, balance_private, balance_hash, disclose, init_sealed, transfer_sealed \
                 and balance_sealed"
            )
        }
    }
}

fn balance_key(org: &str) -> Vec<u8> {
    format!("balance/{org}").into_bytes()
}

fn init(stub: &mut Stub, inv: &Invocation) -> Result<Vec<u8>, Refusal> {
    if stub.get_state(INIT_KEY).is_some() {
        refuse!("payment is already initialised");
    }
    if inv.args.is_empty() {
        refuse!("init needs at least one organisation");
    }
    let mut orgs: Vec<&str> = Vec::with_capacity(inv.args.len());
    let mut seen = std::collections::BTreeSet::new();
    for i in 0..inv.args.len() {
        let org = arg_str(inv, i, "org")?;
        if org.is_empty() {
            refuse!("organisation names must not be empty");
        }
        if !seen.insert(org) {
            refuse!("organisation {org} is named twice");
        }
        orgs.push(org);
    }
    for org in &orgs {
        stub.put_state(&balance_key(org), INITIAL_BALANCE.to_string().as_bytes());
    }
    stub.put_state(INIT_KEY, b"1");
    Ok(Vec::new())
}

/// The balance of `org`, refusing for an unknown account.
fn balance_of(stub: &mut Stub, org: &str) -> Result<u64, Refusal> {
    match stub.get_state(&balance_key(org)) {
        None => refuse!("unknown account {org}"),
        Some(text) => parse_balance(org, &text),
    }
}

fn parse_balance(org: &str, text: &[u8]) -> Result<u64, Refusal> {
    match std::str::from_utf8(text)
        .ok()
        .and_then(|t| t.parse::<u64>().ok())
    {
        Some(v) => Ok(v),
        None => refuse!("the stored balance of {org} is corrupt"),
    }
}

/// A positive integer in plain decimal digits.
fn parse_amount(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse::<u64>().ok().filter(|&v| v > 0)
}

fn transfer(stub: &mut Stub, inv: &Invocation) -> Result<Vec<u8>, Refusal> {
    expect_args(inv, &["from", "to", "amount"])?;
    let from = arg_str(inv, 0, "from")?;
    let to = arg_str(inv, 1, "to")?;
    let amount_text = arg_str(inv, 2, "amount")?;

    let amount = check_transfer(stub, from, to, amount_text)?;
    let (new_from, new_to) = moved(from, to, balance_of(stub, from)?, balance_of(stub, to)?, amount)?;
    stub.put_state(&balance_key(from), new_from.to_string().as_bytes());
    stub.put_state(&balance_key(to), new_to.to_string().as_bytes());

    let event = format!(
        "{{\"from\":{},\"to\":{},\"amount\":{amount}}}",
        json_string(from),
        json_string(to)
    );
    stub.set_event("transfer", event.as_bytes());
    Ok(event.into_bytes())
}

/// The checks every mode's transfer makes first, with the same messages: the caller's
/// organisation owns `from`, the amount is a positive integer, `from != to`. Returns the
/// amount.
fn check_transfer(stub: &Stub, from: &str, to: &str, amount_text: &str) -> Result<u64, Refusal> {
    let caller = stub.caller();
    if caller.org != owner(from) {
        refuse!("caller of {} may not spend from {from}'s account", caller.org);
    }
    let Some(amount) = parse_amount(amount_text) else {
        refuse!("amount must be a positive integer, got {amount_text:?}");
    };
    if from == to {
        refuse!("self-transfer is not allowed");
    }
    Ok(amount)
}

/// The balances of `from` and `to` after moving `amount`, refusing an overdraft or an
/// overflow.
fn moved(from: &str, to: &str, from_balance: u64, to_balance: u64, amount: u64) -> Result<(u64, u64), Refusal> {
    if from_balance < amount {
        refuse!("insufficient funds: {from} has {from_balance}, transfer needs {amount}");
    }
    let Some(new_to) = to_balance.checked_add(amount) else {
        refuse!("transfer would overflow the balance of {to}");
    };
    Ok((from_balance - amount, new_to))
}

fn history(stub: &mut Stub, inv: &Invocation) -> Result<Vec<u8>, Refusal> {
    expect_args(inv, &["org"])?;
    let org = arg_str(inv, 0, "org")?;
    let key = balance_key(org);
    let entries = stub.history(&key);
    if entries.is_empty() && stub.get_state(&key).is_none() {
        refuse!("unknown account {org}");
    }
    let mut out = String::from("[");
    for (i, e) in entries.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let balance = match &e.value {
            None => "null".to_string(),
            Some(v) => match std::str::from_utf8(v)
                .ok()
                .and_then(|t| t.parse::<u64>().ok())
            {
                Some(n) => n.to_string(),
                None => json_string(&String::from_utf8_lossy(v)),
            },
        };
        out.push_str(&format!(
            "{{\"tx_id\":\"{}\",\"block\":{},\"timestamp_ms\":{},\"balance\":{balance}}}",
            e.tx_id.to_hex(),
            e.block,
            e.timestamp_ms
        ));
    }
    out.push(']');
    Ok(out.into_bytes())
}

