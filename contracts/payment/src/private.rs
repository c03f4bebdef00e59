//! Payment in private mode: the same accounts and checks as the public functions, on
//! balances held in a private data collection named by the first argument.
//!
//! The marker of `init_private` is tested with `get_private_hash`, and `transfer_private`
//! reads balances with `get_private`; so `init_private` may be endorsed by any node
//! (blind writes), the other writes only by nodes of member organisations.

use teechain_sdk::{arg_str, expect_args, json_string, refuse, Invocation, Refusal, Stub};

/// The transient input that carries a private transfer's amount.
pub(crate) const AMOUNT_TRANSIENT: &str = "amount";

use crate::{balance_key, owner, parse_balance, INITIAL_BALANCE, INIT_KEY};

/// `init_private(collection, account...)`: every named account (an organisation or one of its
/// sub-accounts) starts at 100 in `collection`.
pub(crate) fn init(stub: &mut Stub, inv: &Invocation) -> Result<Vec<u8>, Refusal> {
    if inv.args.is_empty() {
        refuse!("init_private takes a collection and at least one organisation");
    }
    let collection = arg_str(inv, 0, "collection")?;
    if inv.args.len() < 2 {
        refuse!("init_private needs at least one organisation");
    }
    let mut orgs: Vec<&str> = Vec::with_capacity(inv.args.len() - 1);
    let mut seen = std::collections::BTreeSet::new();
    for i in 1..inv.args.len() {
        let org = arg_str(inv, i, "org")?;
        if org.is_empty() {
            refuse!("organisation names must not be empty");
        }
        if !seen.insert(org) {
            refuse!("organisation {org} is named twice");
        }
        orgs.push(org);
    }
    let caller = stub.caller();
    // Accounts are organisations or their sub-accounts (`org1/treasury`); the caller must
    // own one of them.
    if !orgs.iter().any(|account| owner(account) == caller.org) {
        refuse!("caller of {} may not initialise collection {collection}: only a named organisation may", caller.org);
    }
    if stub.get_private_hash(collection, INIT_KEY)?.is_some() {
        refuse!("payment is already initialised in collection {collection}");
    }
    for org in &orgs {
        stub.put_private(collection, &balance_key(org), INITIAL_BALANCE.to_string().as_bytes())?;
    }
    stub.put_private(collection, INIT_KEY, b"1")?;
    Ok(Vec::new())
}

/// The balance of `account` in `collection`, refusing for an unknown account.
fn balance_of(stub: &mut Stub, collection: &str, account: &str) -> Result<u64, Refusal> {
    match stub.get_private(collection, &balance_key(account))? {
        None => refuse!("unknown account {account}"),
        Some(text) => parse_balance(account, &text),
    }
}

/// `transfer_private(collection, from, to)` with the amount as transient input `amount`:
/// `transfer` on balances in the collection. The amount is never an argument, since
/// arguments are part of the transaction every organisation's ledger holds.
pub(crate) fn transfer(stub: &mut Stub, inv: &Invocation) -> Result<Vec<u8>, Refusal> {
    expect_args(inv, &["collection", "from", "to"])?;
    let collection = arg_str(inv, 0, "collection")?;
    let from = arg_str(inv, 1, "from")?;
    let to = arg_str(inv, 2, "to")?;
    let Some(amount_bytes) = stub.transient(AMOUNT_TRANSIENT) else {
        refuse!("transfer_private takes the amount as transient input '{AMOUNT_TRANSIENT}', never as an argument");
    };
    let amount_text = String::from_utf8_lossy(&amount_bytes).into_owned();
    let amount_text = amount_text.as_str();

    let amount = crate::check_transfer(stub, from, to, amount_text)?;
    let from_balance = balance_of(stub, collection, from)?;
    let to_balance = balance_of(stub, collection, to)?;
    let (new_from, new_to) = crate::moved(from, to, from_balance, to_balance, amount)?;
    stub.put_private(collection, &balance_key(from), new_from.to_string().as_bytes())?;
    stub.put_private(collection, &balance_key(to), new_to.to_string().as_bytes())?;

    // Events reach the shared ledger in plaintext: no amount, no balance.
    let event = format!(
        "{{\"collection\":{},\"from\":{},\"to\":{}}}",
        json_string(collection),
        json_string(from),
        json_string(to)
    );
    stub.set_event("transfer_private", event.as_bytes());
    Ok(event.into_bytes())
}

/// `balance_private(collection, account)`: the balance as decimal text.
pub(crate) fn balance(stub: &mut Stub, inv: &Invocation) -> Result<Vec<u8>, Refusal> {
    expect_args(inv, &["collection", "account"])?;
    let collection = arg_str(inv, 0, "collection")?;
    let account = arg_str(inv, 1, "account")?;
    Ok(balance_of(stub, collection, account)?.to_string().into_bytes())
}

/// `balance_hash(collection, account)`: hex of the on-ledger hash of the balance.
pub(crate) fn balance_hash(stub: &mut Stub, inv: &Invocation) -> Result<Vec<u8>, Refusal> {
    expect_args(inv, &["collection", "account"])?;
    let collection = arg_str(inv, 0, "collection")?;
    let account = arg_str(inv, 1, "account")?;
    match stub.get_private_hash(collection, &balance_key(account))? {
        None => refuse!("unknown account {account}"),
        Some(hash) => Ok(hash.to_hex().into_bytes()),
    }
}

/// `disclose(collection, account)`: the opening of the balance's hash, as JSON
/// `{"account", "value", "blind"}`.
pub(crate) fn disclose(stub: &mut Stub, inv: &Invocation) -> Result<Vec<u8>, Refusal> {
    expect_args(inv, &["collection", "account"])?;
    let collection = arg_str(inv, 0, "collection")?;
    let account = arg_str(inv, 1, "account")?;
    let Some(opening) = stub.get_private_opening(collection, &balance_key(account))? else {
        refuse!("unknown account {account}");
    };
    // The value is disclosed exactly as stored, since the hash commits to those bytes.
    parse_balance(account, &opening.value)?;
    let value = String::from_utf8_lossy(&opening.value);
    let json = format!(
        "{{\"account\":{},\"value\":{},\"blind\":\"{}\"}}",
        json_string(account),
        json_string(&value),
        opening.blind.to_hex()
    );
    Ok(json.into_bytes())
}
