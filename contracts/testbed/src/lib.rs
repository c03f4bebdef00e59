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
//! | `ops` | `op...` (`put k v`, `get k`, `del k`, `range s e`) | `Vec<Vec<u8>>`, one result per op as above |
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
//! | `private_put` | `coll, k, v` | empty, or refused with the host's error |
//! | `private_get` | `coll, k` | `Option<Vec<u8>>`, or refused with the host's error |

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
        "private_put" => {
            expect_args(&inv, &["coll", "k", "v"])?;
            let coll = arg_str(&inv, 0, "coll")?;
            stub.put_private(coll, &inv.args[1], &inv.args[2])?;
            Ok(Vec::new())
        }
        "private_get" => {
            expect_args(&inv, &["coll", "k"])?;
            let coll = arg_str(&inv, 0, "coll")?;
            Ok(encode(&stub.get_private(coll, &inv.args[1])?))
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
            other => refuse!("unknown op {other}"),
        }
    }
    Ok(encode(&out))
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
