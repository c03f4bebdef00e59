//! Testbed: a chaincode that exercises every host function and every limit of the
//! runtime, for the tests of the runtime, the ledger and the enclave. Not for production.
//!
//! Results that are not plain bytes are encoded with `teechain_types::codec::encode`:
//!
//! | function | arguments | result |
//! |---|---|---|
//! | `put` | `k, v` | empty |
//! | `get` | `k` | `Option<Vec<u8>>` |
//! | `del` | `k` | empty |
//! | `range` | `start, end` | `Vec<(Vec<u8>, Vec<u8>)>` |
//! | `ops` | `op...` (`put k v`, `get k`, `del k`, `range s e`, the private ops below with their arguments, `refuse msg`) | `Vec<Vec<u8>>`, one result per op as above; a refused op refuses the invocation |
//! | `history` | `k` | `Vec<HistoryEntry>` |
//! | `caller` | | the caller's org as text |
//! | `caller_full` | | `Caller` |
//! | `tx_id` | | 32 bytes |
//! | `timestamp` | | decimal text |
//! | `transient` | `name` | the value, refused if absent |
//! | `event` | `name, payload` | empty |
//! | `refuse` | `msg` | refused with `msg` |
//! | `panic` | `msg` | panics with `msg` |
//! | `spin` | | never returns (runs out of fuel) |
//! | `grow` | | allocates without bound (hits the memory cap) |
//! | `recurse` | | recurses without bound (hits a stack limit) |
//! | `big` | `n` | `n` bytes of 0xAB |
//! | `pput` (alias `private_put`) | `coll, k, v` | empty |
//! | `pput_transient` | `coll, k, name` | empty; writes the transient input `name` |
//! | `pget` (alias `private_get`) | `coll, k` | `Option<Vec<u8>>` |
//! | `pdel` | `coll, k` | empty |
//! | `ppurge` | `coll, k` | empty |
//! | `phash` | `coll, k` | `Option<Hash32>` |
//! | `popen` | `coll, k` | `Option<(Vec<u8>, Hash32)>`: value and blinding factor |
//! | `prange` | `coll, start, end` | `Vec<(Vec<u8>, Vec<u8>)>` |
//!
//! A private-data call the host refuses refuses the invocation with the host's message.

use std::hint::black_box;
use teechain_sdk::teechain_types::codec::encode;
use teechain_sdk::{arg_str, expect_args, refuse, Invocation, Refusal, Stub};

teechain_sdk::chaincode!(handle);

fn arg(inv: &Invocation, i: usize, name: &str) -> Result<Vec<u8>, Refusal> {
    match inv.args.get(i) {
        Some(a) => Ok(a.clone()),
        None => refuse!("{}: missing argument {} ({name})", inv.function, i + 1),
    }
}

fn handle(stub: &mut Stub, inv: Invocation) -> Result<Vec<u8>, Refusal> {
    match inv.function.as_str() {
        "put" => {
            expect_args(&inv, &["k", "v"])?;
            stub.put_state(&inv.args[0], &inv.args[1]);
            Ok(Vec::new())
        }
        "get" => {
            expect_args(&inv, &["k"])?;
            Ok(encode(&stub.get_state(&inv.args[0])))
        }
        "del" => {
            expect_args(&inv, &["k"])?;
            stub.del_state(&inv.args[0]);
            Ok(Vec::new())
        }
        "range" => {
            expect_args(&inv, &["start", "end"])?;
            Ok(encode(&stub.get_range(&inv.args[0], &inv.args[1])))
        }
        "ops" => ops(stub, &inv),
        "history" => {
            expect_args(&inv, &["k"])?;
            Ok(encode(&stub.history(&inv.args[0])))
        }
        "caller" => Ok(stub.caller().org.into_bytes()),
        "caller_full" => Ok(encode(&stub.caller())),
        "tx_id" => Ok(stub.tx_id().0.to_vec()),
        "timestamp" => Ok(stub.timestamp_ms().to_string().into_bytes()),
        "transient" => {
            let name = arg_str(&inv, 0, "name")?;
            match stub.transient(name) {
                Some(v) => Ok(v),
                None => refuse!("no transient input {name}"),
            }
        }
        "event" => {
            expect_args(&inv, &["name", "payload"])?;
            let name = arg_str(&inv, 0, "name")?;
            stub.set_event(name, &inv.args[1]);
            Ok(Vec::new())
        }
        "refuse" => refuse!("{}", arg_str(&inv, 0, "msg")?),
        "panic" => panic!("{}", arg_str(&inv, 0, "msg")?),
        "spin" => spin(),
        "grow" => grow(),
        "recurse" => Ok(recurse(u64::MAX).to_le_bytes().to_vec()),
        "big" => {
            let n: usize = arg_str(&inv, 0, "n")?
                .parse()
                .map_err(|_| Refusal::new("n must be a number"))?;
            Ok(vec![0xAB; n])
        }
        "pput" | "private_put" => {
            expect_args(&inv, &["coll", "k", "v"])?;
            private_op(stub, &inv, "pput", 0).map(|(out, _)| out)
        }
        "pput_transient" => {
            // The value comes from transient input, so it never enters the transaction.
            expect_args(&inv, &["coll", "k", "name"])?;
            let name = arg_str(&inv, 2, "name")?;
            let Some(value) = stub.transient(name) else {
                refuse!("no transient input {name}");
            };
            stub.put_private(arg_str(&inv, 0, "coll")?, inv.args[1].as_slice(), &value)?;
            Ok(Vec::new())
        }
        "pget" | "private_get" | "pdel" | "ppurge" | "phash" | "popen" => {
            expect_args(&inv, &["coll", "k"])?;
            let op = match inv.function.as_str() {
                "private_get" => "pget",
                f => f,
            };
            private_op(stub, &inv, op, 0).map(|(out, _)| out)
        }
        "prange" => {
            expect_args(&inv, &["coll", "start", "end"])?;
            private_op(stub, &inv, "prange", 0).map(|(out, _)| out)
        }
        other => refuse!("unknown function {other}"),
    }
}

/// Runs a sequence of state operations in one invocation.
fn ops(stub: &mut Stub, inv: &Invocation) -> Result<Vec<u8>, Refusal> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    let mut i = 0;
    while i < inv.args.len() {
        let op = arg_str(inv, i, "op")?;
        match op {
            "put" => {
                stub.put_state(&arg(inv, i + 1, "k")?, &arg(inv, i + 2, "v")?);
                out.push(Vec::new());
                i += 3;
            }
            "get" => {
                out.push(encode(&stub.get_state(&arg(inv, i + 1, "k")?)));
                i += 2;
            }
            "del" => {
                stub.del_state(&arg(inv, i + 1, "k")?);
                out.push(Vec::new());
                i += 2;
            }
            "range" => {
                out.push(encode(
                    &stub.get_range(&arg(inv, i + 1, "start")?, &arg(inv, i + 2, "end")?),
                ));
                i += 3;
            }
            "refuse" => refuse!("{}", arg_str(inv, i + 1, "msg")?),
            "pput" | "pget" | "pdel" | "ppurge" | "phash" | "popen" | "prange" => {
                let (result, next) = private_op(stub, inv, op, i + 1)?;
                out.push(result);
                i = next;
            }
            other => refuse!("unknown op {other}"),
        }
    }
    Ok(encode(&out))
}

/// Runs private-data operation `op` on the arguments from `at` (collection first);
/// returns its result and the index of the next unused argument.
fn private_op(stub: &mut Stub, inv: &Invocation, op: &str, at: usize) -> Result<(Vec<u8>, usize), Refusal> {
    let coll = arg_str(inv, at, "coll")?;
    let key = arg(inv, at + 1, if op == "prange" { "start" } else { "k" })?;
    Ok(match op {
        "pput" => {
            stub.put_private(coll, &key, &arg(inv, at + 2, "v")?)?;
            (Vec::new(), at + 3)
        }
        "pget" => (encode(&stub.get_private(coll, &key)?), at + 2),
        "pdel" => {
            stub.del_private(coll, &key)?;
            (Vec::new(), at + 2)
        }
        "ppurge" => {
            stub.purge_private(coll, &key)?;
            (Vec::new(), at + 2)
        }
        "phash" => (encode(&stub.get_private_hash(coll, &key)?), at + 2),
        "popen" => {
            let opening = stub.get_private_opening(coll, &key)?.map(|o| (o.value, o.blind));
            (encode(&opening), at + 2)
        }
        "prange" => (encode(&stub.get_private_range(coll, &key, &arg(inv, at + 2, "end")?)?), at + 3),
        other => refuse!("unknown private op {other}"),
    })
}

fn spin() -> ! {
    let mut i: u64 = 0;
    loop {
        i = black_box(i.wrapping_add(1));
    }
}

fn grow() -> ! {
    let mut blocks: Vec<Vec<u8>> = Vec::new();
    loop {
        blocks.push(vec![1u8; 1 << 20]);
        black_box(&blocks);
    }
}

fn recurse(n: u64) -> u64 {
    if n == 0 {
        return 0;
    }
    let mut frame = [0u8; 64];
    frame[0] = n as u8;
    black_box(&mut frame);
    black_box(recurse(black_box(n - 1))).wrapping_add(u64::from(frame[0]))
}
