//! Confidential mode: balances sealed with the chaincode's state key (`Stub::seal`),
//! under `sealed/<account>`. Call these with `--confidential`, so that amounts travel
//! sealed as well: then no host and no ledger holds an amount or a balance in plaintext;
//! only the enclaves running the chaincode open them.

use crate::{owner, parse_amount};
use teechain_sdk::{arg_str, expect_args, json_string, refuse, Invocation, Refusal, Stub};

const SEALED_INIT_KEY: &[u8] = b"meta/sealed-initialised";

fn key(account: &str) -> Vec<u8> {
    format!("sealed/{account}").into_bytes()
}

fn load(stub: &mut Stub, account: &str) -> Result<u64, Refusal> {
    let Some(sealed) = stub.get_state(&key(account)) else {
        refuse!("unknown account {account}");
    };
    let plain = stub.open(&key(account), &sealed)?;
    match <[u8; 8]>::try_from(plain.as_slice()) {
        Ok(b) => Ok(u64::from_le_bytes(b)),
        Err(_) => refuse!("the sealed balance of {account} is corrupt"),
    }
}

fn store(stub: &mut Stub, account: &str, balance: u64) -> Result<(), Refusal> {
    let sealed = stub.seal(&key(account), &balance.to_le_bytes())?;
    stub.put_state(&key(account), &sealed);
    Ok(())
}

/// `init_sealed(balance, org...)`: every named organisation starts at `balance`.
pub(crate) fn init(stub: &mut Stub, inv: &Invocation) -> Result<Vec<u8>, Refusal> {
    if stub.get_state(SEALED_INIT_KEY).is_some() {
        refuse!("sealed payment is already initialised");
    }
    if inv.args.len() < 2 {
        refuse!("init_sealed needs a balance and at least one organisation");
    }
    let text = arg_str(inv, 0, "balance")?;
    let Some(balance) = parse_amount(text) else {
        refuse!("balance must be a positive integer, got {text:?}");
    };
    let mut seen = std::collections::BTreeSet::new();
    for i in 1..inv.args.len() {
        let org = arg_str(inv, i, "org")?;
        if org.is_empty() || !seen.insert(org.to_string()) {
            refuse!("organisation names must be non-empty and distinct");
        }
        store(stub, org, balance)?;
    }
    stub.put_state(SEALED_INIT_KEY, b"1");
    Ok(Vec::new())
}

/// `transfer_sealed(from, to, amount)`: the checks and messages of `transfer`.
pub(crate) fn transfer(stub: &mut Stub, inv: &Invocation) -> Result<Vec<u8>, Refusal> {
    expect_args(inv, &["from", "to", "amount"])?;
    let from = arg_str(inv, 0, "from")?;
    let to = arg_str(inv, 1, "to")?;
    let amount_text = arg_str(inv, 2, "amount")?;
    let amount = crate::check_transfer(stub, from, to, amount_text)?;
    let (new_from, new_to) = crate::moved(from, to, load(stub, from)?, load(stub, to)?, amount)?;
    store(stub, from, new_from)?;
    store(stub, to, new_to)?;
    // No event: an event is plaintext on every ledger. The response is sealed to the
    // client when the call is confidential.
    Ok(format!("{{\"from\":{},\"to\":{},\"amount\":{amount}}}", json_string(from), json_string(to)).into_bytes())
}

/// `balance_sealed(account)`: the owner organisation's clients only.
pub(crate) fn balance(stub: &mut Stub, inv: &Invocation) -> Result<Vec<u8>, Refusal> {
    expect_args(inv, &["account"])?;
    let account = arg_str(inv, 0, "account")?;
    let caller = stub.caller();
    if caller.org != owner(account) {
        refuse!("caller of {} may not read {account}'s sealed balance", caller.org);
    }
    Ok(load(stub, account)?.to_string().into_bytes())
}
