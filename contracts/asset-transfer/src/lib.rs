//! Asset transfer: Fabric's secured-asset-transfer pattern on TEEChain's blinded hashes.
//!
//! An asset has a public record and private properties. The public record, under
//! `asset/<id>`, is JSON `{"id", "owner", "public_description"}`; the properties live in
//! the owner organisation's implicit collection (`_implicit_org_<org>`) under `<id>`.
//! Seller and buyer each record the price they agree to in their own implicit
//! collection (`sell/<id>`, `buy/<id>`), where the rest of the channel sees only hashes.
//!
//! | function | arguments | transient | result |
//! |---|---|---|---|
//! | `create` | `asset_id, public_description` | `asset_properties` | the public record; the caller's org owns the asset |
//! | `agree_to_sell` | `asset_id` | `asset_price` (decimal text) | empty; owner's clients only |
//! | `agree_to_buy` | `asset_id` | `asset_price` (decimal text) | empty; clients of other orgs only |
//! | `read_asset` | `asset_id` | | the public record |
//! | `read_private` | `asset_id` | | the properties from the caller's org's implicit collection |
//! | `disclose` | `asset_id, kind` (`properties`, `sell` or `buy`) | | JSON `{"value_hex", "blind_hex"}`: the caller's org's opening |
//! | `transfer` | `asset_id, buyer_org` | `asset_properties`, `properties_blind`, `sell_price`, `sell_blind`, `buy_price`, `buy_blind` | the new public record; emits a `transfer` event `{id, from, to}` |
//!
//! # Agreement by openings
//!
//! A hash on the ledger commits to a value under a per-write blinding factor, so the
//! seller's and the buyer's hashes of the same price differ. Agreement is shown instead
//! by *openings*: the buyer gets its `(price, blind)` with `disclose` and hands it to the
//! seller off-chain; the seller passes its own openings of the properties and of its
//! price, and the buyer's opening, as transient data to `transfer`. `transfer` checks
//! that each opening hashes (`private_value_hash(blind, value)`) to what the ledger holds
//! for, respectively, `<id>` in the owner's collection, `sell/<id>` in the owner's and
//! `buy/<id>` in the buyer's, and that the two prices are equal. It then writes the
//! properties to the buyer's collection, deletes `<id>` and `sell/<id>` from the owner's
//! and `buy/<id>` from the buyer's, and makes the buyer the owner.
//!
//! `transfer` reads only hashes and transient data and writes blindly, so every endorser
//! can run it, even one of an organisation in neither collection. Each failed check has
//! its own refusal message.

use teechain_sdk::teechain_types::collection::{implicit_collection_name, private_value_hash};
use teechain_sdk::{arg_str, expect_args, json_string, refuse, Hash32, Invocation, Refusal, Stub};

teechain_sdk::chaincode!(handle);

fn handle(stub: &mut Stub, inv: Invocation) -> Result<Vec<u8>, Refusal> {
    match inv.function.as_str() {
        "create" => create(stub, &inv),
        "agree_to_sell" => agree(stub, &inv, Side::Sell),
        "agree_to_buy" => agree(stub, &inv, Side::Buy),
        "read_asset" => {
            expect_args(&inv, &["asset_id"])?;
            let id = arg_str(&inv, 0, "asset_id")?;
            Ok(read_asset(stub, id)?.to_json().into_bytes())
        }
        "read_private" => read_private(stub, &inv),
        "disclose" => disclose(stub, &inv),
        "transfer" => transfer(stub, &inv),
        other => refuse!(
            "unknown function {other}; asset-transfer offers create, agree_to_sell, agree_to_buy, read_asset, \
             read_private, disclose and transfer"
        ),
    }
}

// ---- keys and records ---------------------------------------------------------------

fn asset_key(id: &str) -> Vec<u8> {
    format!("asset/{id}").into_bytes()
}

fn sell_key(id: &str) -> Vec<u8> {
    format!("sell/{id}").into_bytes()
}

fn buy_key(id: &str) -> Vec<u8> {
    format!("buy/{id}").into_bytes()
}

/// An asset id: not empty, and without `/`, so that `<id>`, `sell/<id>` and `buy/<id>`
/// of different assets never collide.
fn check_id(id: &str) -> Result<(), Refusal> {
    if id.is_empty() {
        refuse!("asset ids must not be empty");
    }
    if id.contains('/') {
        refuse!("asset id {id:?} contains '/', which asset ids may not");
    }
    Ok(())
}

/// The public record of an asset.
struct Asset {
    id: String,
    owner: String,
    public_description: String,
}

impl Asset {
    fn to_json(&self) -> String {
        format!(
            "{{\"id\":{},\"owner\":{},\"public_description\":{}}}",
            json_string(&self.id),
            json_string(&self.owner),
            json_string(&self.public_description)
        )
    }

    fn from_json(bytes: &[u8]) -> Option<Asset> {
        let fields = parse_flat_object(std::str::from_utf8(bytes).ok()?)?;
        let field = |name: &str| fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        Some(Asset { id: field("id")?, owner: field("owner")?, public_description: field("public_description")? })
    }
}

/// The public record of `id`, refusing for an unknown asset.
fn read_asset(stub: &mut Stub, id: &str) -> Result<Asset, Refusal> {
    check_id(id)?;
    match stub.get_state(&asset_key(id)) {
        None => refuse!("unknown asset {id}"),
        Some(bytes) => match Asset::from_json(&bytes) {
            Some(asset) => Ok(asset),
            None => refuse!("the stored record of asset {id} is corrupt"),
        },
    }
}

fn write_asset(stub: &mut Stub, asset: &Asset) -> String {
    let json = asset.to_json();
    stub.put_state(&asset_key(&asset.id), json.as_bytes());
    json
}

/// A price: plain decimal digits that fit a `u64`.
fn parse_price(text: &[u8]) -> Option<u64> {
    if text.is_empty() || !text.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(text).ok()?.parse().ok()
}

/// A transient input the function cannot do without.
fn required_transient(stub: &Stub, function: &str, name: &str) -> Result<Vec<u8>, Refusal> {
    match stub.transient(name) {
        Some(v) => Ok(v),
        None => refuse!("{function} needs the transient input {name}"),
    }
}

/// A blinding factor from the transient input `name` (32 bytes).
fn transient_blind(stub: &Stub, function: &str, name: &str) -> Result<Hash32, Refusal> {
    let bytes = required_transient(stub, function, name)?;
    match <[u8; 32]>::try_from(bytes.as_slice()) {
        Ok(b) => Ok(Hash32(b)),
        Err(_) => refuse!("transient input {name} must be 32 bytes, got {}", bytes.len()),
    }
}

// ---- functions ----------------------------------------------------------------------

fn create(stub: &mut Stub, inv: &Invocation) -> Result<Vec<u8>, Refusal> {
    expect_args(inv, &["asset_id", "public_description"])?;
    let id = arg_str(inv, 0, "asset_id")?;
    let public_description = arg_str(inv, 1, "public_description")?;
    check_id(id)?;
    let properties = required_transient(stub, "create", "asset_properties")?;
    if stub.get_state(&asset_key(id)).is_some() {
        refuse!("asset {id} already exists");
    }
    let owner = stub.caller().org;
    stub.put_private(&implicit_collection_name(&owner), id.as_bytes(), &properties)?;
    let asset = Asset { id: id.to_string(), owner, public_description: public_description.to_string() };
    Ok(write_asset(stub, &asset).into_bytes())
}

#[derive(Clone, Copy)]
enum Side {
    Sell,
    Buy,
}

/// `agree_to_sell` / `agree_to_buy`: records the caller's price in its org's implicit
/// collection.
fn agree(stub: &mut Stub, inv: &Invocation, side: Side) -> Result<Vec<u8>, Refusal> {
    let function = inv.function.as_str();
    expect_args(inv, &["asset_id"])?;
    let id = arg_str(inv, 0, "asset_id")?;
    let asset = read_asset(stub, id)?;
    let caller = stub.caller().org;
    let key = match side {
        Side::Sell if caller != asset.owner => {
            refuse!("caller of {caller} may not sell asset {id}, which {} owns", asset.owner)
        }
        Side::Buy if caller == asset.owner => refuse!("caller of {caller} may not buy asset {id}, which it owns"),
        Side::Sell => sell_key(id),
        Side::Buy => buy_key(id),
    };
    let price_text = required_transient(stub, function, "asset_price")?;
    let Some(price) = parse_price(&price_text) else {
        refuse!("asset_price must be decimal text, got {:?}", String::from_utf8_lossy(&price_text));
    };
    // Stored canonically, so that the opening shows the same digits whatever was typed.
    stub.put_private(&implicit_collection_name(&caller), &key, price.to_string().as_bytes())?;
    Ok(Vec::new())
}

fn read_private(stub: &mut Stub, inv: &Invocation) -> Result<Vec<u8>, Refusal> {
    expect_args(inv, &["asset_id"])?;
    let id = arg_str(inv, 0, "asset_id")?;
    check_id(id)?;
    let org = stub.caller().org;
    match stub.get_private(&implicit_collection_name(&org), id.as_bytes())? {
        Some(properties) => Ok(properties),
        None => refuse!("{org}'s collection holds no properties of asset {id}"),
    }
}

fn disclose(stub: &mut Stub, inv: &Invocation) -> Result<Vec<u8>, Refusal> {
    expect_args(inv, &["asset_id", "kind"])?;
    let id = arg_str(inv, 0, "asset_id")?;
    let kind = arg_str(inv, 1, "kind")?;
    check_id(id)?;
    let (key, what) = match kind {
        "properties" => (id.as_bytes().to_vec(), "properties"),
        "sell" => (sell_key(id), "sell price"),
        "buy" => (buy_key(id), "buy price"),
        other => refuse!("disclose: kind must be properties, sell or buy, got {other:?}"),
    };
    let org = stub.caller().org;
    let Some(opening) = stub.get_private_opening(&implicit_collection_name(&org), &key)? else {
        refuse!("{org}'s collection holds no {what} of asset {id}");
    };
    let json = format!("{{\"value_hex\":\"{}\",\"blind_hex\":\"{}\"}}", hex(&opening.value), opening.blind.to_hex());
    Ok(json.into_bytes())
}

/// Checks an opening against the hash the ledger holds for `key` in `collection`;
/// `what` names it in the refusals.
fn check_opening(
    stub: &mut Stub,
    collection: &str,
    key: &[u8],
    value: &[u8],
    blind: &Hash32,
    absent: String,
    what: &str,
) -> Result<(), Refusal> {
    let Some(on_ledger) = stub.get_private_hash(collection, key)? else {
        return Err(Refusal(absent));
    };
    if private_value_hash(blind, value) != on_ledger {
        refuse!("the opening of the {what} does not match the hash on the ledger");
    }
    Ok(())
}

fn transfer(stub: &mut Stub, inv: &Invocation) -> Result<Vec<u8>, Refusal> {
    expect_args(inv, &["asset_id", "buyer_org"])?;
    let id = arg_str(inv, 0, "asset_id")?;
    let buyer = arg_str(inv, 1, "buyer_org")?;
    let mut asset = read_asset(stub, id)?;
    let caller = stub.caller().org;
    if caller != asset.owner {
        refuse!("caller of {caller} may not transfer asset {id}, which {} owns", asset.owner);
    }
    if buyer.is_empty() {
        refuse!("the buyer organisation must not be empty");
    }
    if buyer == asset.owner {
        refuse!("{buyer} already owns asset {id}");
    }

    let properties = required_transient(stub, "transfer", "asset_properties")?;
    let properties_blind = transient_blind(stub, "transfer", "properties_blind")?;
    let sell_price = required_transient(stub, "transfer", "sell_price")?;
    let sell_blind = transient_blind(stub, "transfer", "sell_blind")?;
    let buy_price = required_transient(stub, "transfer", "buy_price")?;
    let buy_blind = transient_blind(stub, "transfer", "buy_blind")?;

    let seller_coll = implicit_collection_name(&asset.owner);
    let buyer_coll = implicit_collection_name(buyer);
    check_opening(
        stub,
        &seller_coll,
        id.as_bytes(),
        &properties,
        &properties_blind,
        format!("{}'s collection holds no properties of asset {id}", asset.owner),
        "properties",
    )?;
    check_opening(
        stub,
        &seller_coll,
        &sell_key(id),
        &sell_price,
        &sell_blind,
        format!("{} has not agreed to sell asset {id}", asset.owner),
        "sell price",
    )?;
    check_opening(
        stub,
        &buyer_coll,
        &buy_key(id),
        &buy_price,
        &buy_blind,
        format!("{buyer} has not agreed to buy asset {id}"),
        "buy price",
    )?;
    let (Some(sell), Some(buy)) = (parse_price(&sell_price), parse_price(&buy_price)) else {
        refuse!("the agreed prices of asset {id} are not decimal text");
    };
    if sell != buy {
        refuse!("the sell price {sell} and the buy price {buy} of asset {id} differ");
    }

    stub.put_private(&buyer_coll, id.as_bytes(), &properties)?;
    stub.del_private(&seller_coll, id.as_bytes())?;
    stub.del_private(&seller_coll, &sell_key(id))?;
    stub.del_private(&buyer_coll, &buy_key(id))?;
    let seller = std::mem::replace(&mut asset.owner, buyer.to_string());
    let json = write_asset(stub, &asset);
    let event =
        format!("{{\"id\":{},\"from\":{},\"to\":{}}}", json_string(id), json_string(&seller), json_string(buyer));
    stub.set_event("transfer", event.as_bytes());
    Ok(json.into_bytes())
}

// ---- text ---------------------------------------------------------------------------

/// Lower-case hex of `bytes`.
fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    out
}


/// Parses a JSON object whose values are all strings (the public records this contract
/// writes) into its fields, in order; `None` for anything else.
fn parse_flat_object(text: &str) -> Option<Vec<(String, String)>> {
    let mut chars = text.trim().chars().peekable();
    let mut fields = Vec::new();
    if chars.next()? != '{' {
        return None;
    }
    skip_ws(&mut chars);
    if chars.peek() == Some(&'}') {
        chars.next();
        return chars.next().is_none().then_some(fields);
    }
    loop {
        skip_ws(&mut chars);
        let key = parse_json_string(&mut chars)?;
        skip_ws(&mut chars);
        if chars.next()? != ':' {
            return None;
        }
        skip_ws(&mut chars);
        let value = parse_json_string(&mut chars)?;
        fields.push((key, value));
        skip_ws(&mut chars);
        match chars.next()? {
            ',' => continue,
            '}' => return chars.next().is_none().then_some(fields),
            _ => return None,
        }
    }
}

fn skip_ws(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    while chars.peek().is_some_and(|c| c.is_ascii_whitespace()) {
        chars.next();
    }
}

fn parse_json_string(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Option<String> {
    if chars.next()? != '"' {
        return None;
    }
    let mut out = String::new();
    loop {
        match chars.next()? {
            '"' => return Some(out),
            '\\' => match chars.next()? {
                '"' => out.push('"'),
                '\\' => out.push('\\'),
                '/' => out.push('/'),
                'b' => out.push('\u{8}'),
                'f' => out.push('\u{c}'),
                'n' => out.push('\n'),
                'r' => out.push('\r'),
                't' => out.push('\t'),
                'u' => {
                    let mut code = 0u32;
                    for _ in 0..4 {
                        code = code * 16 + chars.next()?.to_digit(16)?;
                    }
                    // Surrogate pairs never occur in what this contract writes.
                    out.push(char::from_u32(code)?);
                }
                _ => return None,
            },
            c if (c as u32) < 0x20 => return None,
            c => out.push(c),
        }
    }
}
