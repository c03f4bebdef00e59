//! Sealed-bid auction: bids are sealed to the chaincode's key, so that no host (the
//! auctioneer's included) and no ledger ever holds one in plaintext; after the end, the
//! enclave opens them and names the winner and the price (the highest bid: first price).
//!
//! Call `bid` with `teechain invoke --confidential`: then its amount travels sealed too.
//! A bid's state value is sealed with [`Stub::seal`], which only enclaves holding the
//! chaincode key can do or undo.
//!
//! | function | arguments | result |
//! |---|---|---|
//! | `open` | `auction, end_ms` | the caller's organisation is the auctioneer; bids are taken until `end_ms` (proposal time, ms since the epoch) |
//! | `bid` | `auction, amount` | the caller's organisation bids (again: the new bid replaces its last); JSON receipt `{auction, bidder, bid_hash}`: `bid_hash` is the SHA-256 of the sealed bid as written to the ledger, and the endorsing enclaves' signatures over the transaction vouch for it |
//! | `end` | `auction` | auctioneer only, at or after `end_ms`: opens the bids; JSON `{auction, winner, price, bids}` (`bids`: how many organisations bid) |
//! | `result` | `auction` | the result once ended |
//! | `status` | `auction` | JSON `{auction, auctioneer, end_ms, ended, bidders}` (who bid, never how much) |
//!
//! Refusals: an auction opened twice, a bid after the end or by the auctioneer, an amount
//! that is not a positive integer, `end` before the end or by another organisation,
//! `end` twice, and reading a result before the end.

use teechain_sdk::teechain_types::hash::sha256;
use teechain_sdk::{arg_str, expect_args, json_string, refuse, Invocation, Refusal, Stub};

teechain_sdk::chaincode!(handle);

fn handle(stub: &mut Stub, inv: Invocation) -> Result<Vec<u8>, Refusal> {
    match inv.function.as_str() {
        "open" => open(stub, &inv),
        "bid" => bid(stub, &inv),
        "end" => end(stub, &inv),
        "result" => {
            expect_args(&inv, &["auction"])?;
            let name = arg_str(&inv, 0, "auction")?;
            match stub.get_state(&result_key(name)) {
                Some(r) => Ok(r),
                None => refuse!("auction '{name}' has not ended"),
            }
        }
        "status" => status(stub, &inv),
        other => refuse!("unknown function '{other}' (open, bid, end, result, status)"),
    }
}

/// What `open` stores: `auctioneer \n end_ms`.
struct Auction {
    auctioneer: String,
    end_ms: u64,
}

fn auction_key(name: &str) -> Vec<u8> {
    format!("auction/{name}").into_bytes()
}

fn bid_prefix(name: &str) -> String {
    format!("bid/{name}/")
}

fn result_key(name: &str) -> Vec<u8> {
    format!("result/{name}").into_bytes()
}

fn load(stub: &mut Stub, name: &str) -> Result<Auction, Refusal> {
    let Some(raw) = stub.get_state(&auction_key(name)) else {
        refuse!("no auction '{name}'");
    };
    let text = String::from_utf8(raw).map_err(|_| Refusal::new("corrupt auction record"))?;
    let (auctioneer, end) = text.split_once('\n').ok_or_else(|| Refusal::new("corrupt auction record"))?;
    let end_ms = end.parse().map_err(|_| Refusal::new("corrupt auction record"))?;
    Ok(Auction { auctioneer: auctioneer.to_string(), end_ms })
}

fn open(stub: &mut Stub, inv: &Invocation) -> Result<Vec<u8>, Refusal> {
    expect_args(inv, &["auction", "end_ms"])?;
    let name = arg_str(inv, 0, "auction")?;
    let end_ms: u64 = match arg_str(inv, 1, "end_ms")?.parse() {
        Ok(t) => t,
        Err(_) => refuse!("end_ms must be a time in ms since the epoch"),
    };
    if name.is_empty() || name.contains('/') {
        refuse!("an auction name is non-empty and has no '/'");
    }
    if stub.get_state(&auction_key(name)).is_some() {
        refuse!("auction '{name}' is already open");
    }
    if end_ms <= stub.timestamp_ms() {
        refuse!("the end must lie in the future");
    }
    let auctioneer = stub.caller().org;
    stub.put_state(&auction_key(name), format!("{auctioneer}\n{end_ms}").as_bytes());
    Ok(format!("{{\"auction\":{},\"auctioneer\":{},\"end_ms\":{end_ms}}}", json_string(name), json_string(&auctioneer))
        .into_bytes())
}

fn bid(stub: &mut Stub, inv: &Invocation) -> Result<Vec<u8>, Refusal> {
    expect_args(inv, &["auction", "amount"])?;
    let name = arg_str(inv, 0, "auction")?;
    let auction = load(stub, name)?;
    let bidder = stub.caller().org;
    if bidder == auction.auctioneer {
        refuse!("the auctioneer does not bid");
    }
    if stub.timestamp_ms() >= auction.end_ms {
        refuse!("auction '{name}' has ended");
    }
    if stub.get_state(&result_key(name)).is_some() {
        refuse!("auction '{name}' has ended");
    }
    let amount: u64 = match arg_str(inv, 1, "amount")?.parse() {
        Ok(a) if a > 0 => a,
        _ => refuse!("the amount must be a positive integer"),
    };
    let key = format!("{}{bidder}", bid_prefix(name));
    let sealed = stub.seal(key.as_bytes(), &amount.to_le_bytes())?;
    stub.put_state(key.as_bytes(), &sealed);
    let hash = sha256(&sealed);
    Ok(format!(
        "{{\"auction\":{},\"bidder\":{},\"bid_hash\":\"{}\"}}",
        json_string(name),
        json_string(&bidder),
        hash.to_hex()
    )
    .into_bytes())
}

fn end(stub: &mut Stub, inv: &Invocation) -> Result<Vec<u8>, Refusal> {
    expect_args(inv, &["auction"])?;
    let name = arg_str(inv, 0, "auction")?;
    let auction = load(stub, name)?;
    if stub.caller().org != auction.auctioneer {
        refuse!("only the auctioneer ({}) ends auction '{name}'", auction.auctioneer);
    }
    if stub.timestamp_ms() < auction.end_ms {
        refuse!("auction '{name}' runs until {} ms", auction.end_ms);
    }
    if stub.get_state(&result_key(name)).is_some() {
        refuse!("auction '{name}' has ended already");
    }
    let prefix = bid_prefix(name);
    let mut end_key = prefix.clone().into_bytes();
    if let Some(last) = end_key.last_mut() {
        *last += 1;
    }
    let bids = stub.get_range(prefix.as_bytes(), &end_key);
    // The highest bid wins; an equal bid loses to the organisation named first.
    let mut best: Option<(String, u64)> = None;
    for (key, sealed) in &bids {
        let bidder = String::from_utf8_lossy(&key[prefix.len()..]).into_owned();
        let plain = stub.open(key, sealed)?;
        let amount = u64::from_le_bytes(plain.as_slice().try_into().map_err(|_| Refusal::new("corrupt sealed bid"))?);
        if best.as_ref().is_none_or(|(_, b)| amount > *b) {
            best = Some((bidder, amount));
        }
    }
    let result = match best {
        Some((winner, price)) => format!(
            "{{\"auction\":{},\"winner\":{},\"price\":{price},\"bids\":{}}}",
            json_string(name),
            json_string(&winner),
            bids.len()
        ),
        None => format!("{{\"auction\":{},\"winner\":null,\"price\":null,\"bids\":0}}", json_string(name)),
    };
    stub.put_state(&result_key(name), result.as_bytes());
    Ok(result.into_bytes())
}

fn status(stub: &mut Stub, inv: &Invocation) -> Result<Vec<u8>, Refusal> {
    expect_args(inv, &["auction"])?;
    let name = arg_str(inv, 0, "auction")?;
    let auction = load(stub, name)?;
    let prefix = bid_prefix(name);
    let mut end_key = prefix.clone().into_bytes();
    if let Some(last) = end_key.last_mut() {
        *last += 1;
    }
    let bidders: Vec<String> = stub
        .get_range(prefix.as_bytes(), &end_key)
        .iter()
        .map(|(k, _)| json_string(&String::from_utf8_lossy(&k[prefix.len()..])))
        .collect();
    let ended = stub.get_state(&result_key(name)).is_some();
    Ok(format!(
        "{{\"auction\":{},\"auctioneer\":{},\"end_ms\":{},\"ended\":{ended},\"bidders\":[{}]}}",
        json_string(name),
        json_string(&auction.auctioneer),
        auction.end_ms,
        bidders.join(",")
    )
    .into_bytes())
}
