//! Private data collections through the runtime and the testbed contract: the access
//! rules of `docs/PRIVATE_DATA.md`, hashed read-write sets, blinded commitments.

use teechain_types::collection::{
    blinding_factor, collection_marker_hash, private_key_hash, private_value_hash, CollectionConfig,
    CollectionPrivateWrites, PrivateWrite, BLINDING_TRANSIENT_KEY,
};
use teechain_types::rwset::{CollectionHashedRwSet, HashedRead, HashedWrite};

use super::*;

const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

/// A collection of org1 and org2, members only reading and writing.
fn shared() -> CollectionConfig {
    CollectionConfig {
        name: "shared".into(),
        member_policy: "OR('org1.member','org2.member')".into(),
        required_peer_count: 0,
        max_peer_count: 1,
        block_to_live: 0,
        member_only_read: true,
        member_only_write: true,
        endorsement_policy: None,
    }
}

/// A state whose node belongs to `node_org`, with the collections `configs` of the
/// testbed chaincode.
fn state_of(node_org: &str, configs: &[CollectionConfig]) -> MemState {
    let mut state = MemState::default();
    for config in configs {
        let members = config.members();
        let access = CollectionAccess { node_is_member: members.contains(node_org), members, config: config.clone() };
        state.collections.insert((NS.into(), config.name.clone()), access);
    }
    state
}

/// The state of an org1 node with the `shared` collection.
fn member_state() -> MemState {
    state_of("org1", &[shared()])
}

/// A context of a client of `org` whose proposal carries `secret` as its blinding secret.
fn pctx(org: &str, n: u64, secret: &[u8]) -> InvocationContext {
    let mut c = ctx_n(org, n);
    c.transient.push((BLINDING_TRANSIENT_KEY.into(), secret.to_vec()));
    c
}

fn exec(state: &MemState, c: &InvocationContext, function: &str, args: &[&[u8]]) -> Simulation {
    runtime().execute(testbed(), NS, state, c, &inv(function, args)).unwrap_or_else(|e| panic!("{function}: {e}"))
}

fn exec_ok(state: &MemState, c: &InvocationContext, function: &str, args: &[&[u8]]) -> Simulation {
    let sim = exec(state, c, function, args);
    assert_eq!(sim.response.status, STATUS_OK, "{function}: {}", sim.response.message);
    sim
}

/// The refusal message of an invocation that must be refused; it carries no payload.
fn refusal(state: &MemState, c: &InvocationContext, function: &str, args: &[&[u8]]) -> String {
    let sim = exec(state, c, function, args);
    assert_eq!(sim.response.status, STATUS_REFUSED, "{function} should be refused");
    assert!(sim.response.payload.is_empty());
    assert!(sim.rwset.writes.is_empty() && sim.private_writes.is_empty());
    assert!(sim.rwset.private.iter().all(|c| c.writes.is_empty()));
    sim.response.message
}

fn kh(coll: &str, key: &[u8]) -> Hash32 {
    private_key_hash(NS, coll, key)
}

fn blind_of(c: &InvocationContext, secret: &[u8], coll: &str, key: &[u8]) -> Hash32 {
    blinding_factor(secret, &c.tx_id, NS, coll, key)
}

/// Commits `pput coll key value` by a client of org1.
fn commit_put(state: &mut MemState, n: u64, coll: &str, key: &[u8], value: &[u8]) {
    let c = pctx("org1", n, SECRET);
    let sim = exec_ok(state, &c, "pput", &[coll.as_bytes(), key, value]);
    state.commit(&sim, c.tx_id);
}

/// The hashed read of `key` as `state` holds it (`None`: absent).
fn hread(state: &MemState, coll: &str, key: &[u8]) -> HashedRead {
    let h = state.pvt_hashed.get(&(NS.into(), coll.into(), kh(coll, key)));
    HashedRead { key_hash: kh(coll, key), version: h.map(|h| h.version), value_hash: h.map(|h| h.value_hash) }
}

fn decode_out<T: serde::Serialize + serde::de::DeserializeOwned>(bytes: &[u8]) -> T {
    decode(bytes, Limits::RECORD).unwrap()
}

#[test]
fn member_write_and_read_round_trip() {
    let mut state = member_state();
    let c = pctx("org1", 1, SECRET);
    let sim = exec_ok(&state, &c, "pput", &[b"shared", b"k", b"secret value"]);
    let blind = blind_of(&c, SECRET, "shared", b"k");
    assert!(sim.rwset.writes.is_empty() && sim.rwset.reads.is_empty());
    assert_eq!(
        sim.rwset.private,
        vec![CollectionHashedRwSet {
            collection: "shared".into(),
            reads: vec![],
            writes: vec![HashedWrite {
                key_hash: kh("shared", b"k"),
                value_hash: Some(private_value_hash(&blind, b"secret value")),
                sealed_hash: None,
                purge: false,
            }],
        }]
    );
    assert_eq!(
        sim.private_writes,
        vec![CollectionPrivateWrites {
            namespace: NS.into(),
            collection: "shared".into(),
            writes: vec![PrivateWrite {
                key: b"k".to_vec(),
                value: Some(b"secret value".to_vec()),
                blind,
                purge: false
            }],
        }]
    );
    // The value appears nowhere in the read-write set.
    let encoded = encode(&sim.rwset);
    assert!(!encoded.windows(12).any(|w| w == b"secret value"));
    state.commit(&sim, c.tx_id);

    // org2 (a member) reads it back; the read is recorded as a hash and a version.
    let c2 = pctx("org2", 2, SECRET);
    let sim = exec_ok(&state, &c2, "pget", &[b"shared", b"k"]);
    assert_eq!(decode_out::<Option<Vec<u8>>>(&sim.response.payload).as_deref(), Some(&b"secret value"[..]));
    assert_eq!(
        sim.rwset.private,
        vec![CollectionHashedRwSet {
            collection: "shared".into(),
            reads: vec![hread(&state, "shared", b"k")],
            writes: vec![],
        }]
    );
    assert_eq!(sim.rwset.private[0].reads[0].version, Some(v(1, 0)));
    assert!(sim.rwset.private[0].reads[0].value_hash.is_some());
    assert!(sim.private_writes.is_empty());

    // An absent key reads as None and records a read without version.
    let sim = exec_ok(&state, &c2, "pget", &[b"shared", b"nothing"]);
    assert_eq!(decode_out::<Option<Vec<u8>>>(&sim.response.payload), None);
    assert_eq!(
        sim.rwset.private[0].reads,
        vec![HashedRead { key_hash: kh("shared", b"nothing"), version: None, value_hash: None }]
    );
}

#[test]
fn collections_and_writes_are_sorted() {
    let other = CollectionConfig { name: "a_first".into(), ..shared() };
    let state = state_of("org1", &[shared(), other]);
    let c = pctx("org1", 1, SECRET);
    let args: &[&[u8]] = &[
        b"pput", b"shared", b"z", b"1", b"pput", b"shared", b"a", b"2", b"pput", b"a_first", b"m", b"3", b"pget",
        b"shared", b"q", b"pput", b"shared", b"k", b"4", b"phash", b"shared", b"b",
    ];
    let sim = exec_ok(&state, &c, "ops", args);
    let names: Vec<&str> = sim.rwset.private.iter().map(|c| c.collection.as_str()).collect();
    assert_eq!(names, ["a_first", "shared"]);
    let shared_set = &sim.rwset.private[1];
    assert!(shared_set.writes.windows(2).all(|w| w[0].key_hash < w[1].key_hash));
    assert!(shared_set.reads.windows(2).all(|r| r[0].key_hash < r[1].key_hash));
    assert_eq!(shared_set.writes.len(), 3);
    assert_eq!(shared_set.reads.len(), 2);
    let pw_names: Vec<&str> = sim.private_writes.iter().map(|c| c.collection.as_str()).collect();
    assert_eq!(pw_names, ["a_first", "shared"]);
    let shared_writes = &sim.private_writes[1].writes;
    let hashes: Vec<Hash32> = shared_writes.iter().map(|w| kh("shared", &w.key)).collect();
    assert_eq!(hashes, shared_set.writes.iter().map(|w| w.key_hash).collect::<Vec<_>>());
    // Every hashed write is recomputable from the private write behind it.
    for (w, h) in shared_writes.iter().zip(&shared_set.writes) {
        let value = w.value.as_deref().unwrap();
        assert_eq!(w.blind, blind_of(&c, SECRET, "shared", &w.key));
        assert_eq!(h.value_hash, Some(private_value_hash(&w.blind, value)));
    }
}

#[test]
fn the_same_secret_gives_the_same_rwset_and_another_secret_another_hash() {
    let state = member_state();
    let args: &[&[u8]] = &[b"shared", b"balance", b"90"];
    let first = exec_ok(&state, &pctx("org1", 1, SECRET), "pput", args);
    // Another endorser (another runtime) of the same proposal agrees byte for byte.
    let other = Runtime::default();
    let code = other.compile(teechain_contracts::TESTBED).unwrap();
    let second = other.execute(&code, NS, &state, &pctx("org1", 1, SECRET), &inv("pput", args)).unwrap();
    assert_eq!(encode(&first.rwset), encode(&second.rwset));
    assert_eq!(first.private_writes, second.private_writes);

    let third = exec_ok(&state, &pctx("org1", 1, b"another secret, 32 bytes long!!!"), "pput", args);
    let hash = |s: &Simulation| s.rwset.private[0].writes[0].value_hash;
    assert_ne!(hash(&first), hash(&third));
    assert_eq!(first.rwset.private[0].writes[0].key_hash, third.rwset.private[0].writes[0].key_hash);
    // So is another transaction with the same secret.
    let fourth = exec_ok(&state, &pctx("org1", 2, SECRET), "pput", args);
    assert_ne!(hash(&first), hash(&fourth));
}

#[test]
fn member_only_read_denies_a_non_member_client() {
    let mut state = member_state();
    commit_put(&mut state, 1, "shared", b"k", b"the secret");
    let c3 = pctx("org3", 2, SECRET);
    for (f, args) in
        [("pget", &[&b"shared"[..], b"k"][..]), ("popen", &[b"shared", b"k"]), ("prange", &[b"shared", b"", b""])]
    {
        let sim = exec(&state, &c3, f, args);
        assert_eq!(sim.response.status, STATUS_REFUSED, "{f}");
        assert_eq!(
            sim.response.message,
            "collection 'shared' of chaincode 'testbed': org3 is not a member and the collection is memberOnlyRead",
            "{f}"
        );
        assert!(sim.response.payload.is_empty());
        assert!(sim.rwset.private.is_empty(), "{f}: a refused read records nothing");
    }
    // The hash is readable by anyone.
    let sim = exec_ok(&state, &c3, "phash", &[b"shared", b"k"]);
    let hash: Option<Hash32> = decode_out(&sim.response.payload);
    assert_eq!(hash, state.pvt_hashed.get(&(NS.into(), "shared".into(), kh("shared", b"k"))).map(|h| h.value_hash));
    assert!(hash.is_some());

    // Without memberOnlyRead a non-member client reads on a member node.
    let open = CollectionConfig { name: "open".into(), member_only_read: false, ..shared() };
    let mut state = state_of("org1", &[open]);
    commit_put(&mut state, 1, "open", b"k", b"v");
    let sim = exec_ok(&state, &c3, "pget", &[b"open", b"k"]);
    assert_eq!(decode_out::<Option<Vec<u8>>>(&sim.response.payload).as_deref(), Some(&b"v"[..]));
}

#[test]
fn a_non_member_node_holds_only_hashes() {
    let mut member = member_state();
    commit_put(&mut member, 1, "shared", b"k", b"v");
    // An org3 node: same hashed state, no values.
    let mut node3 = state_of("org3", &[shared()]);
    node3.pvt_hashed = member.pvt_hashed.clone();
    let c1 = pctx("org1", 2, SECRET);
    for (f, args) in
        [("pget", &[&b"shared"[..], b"k"][..]), ("popen", &[b"shared", b"k"]), ("prange", &[b"shared", b"", b""])]
    {
        let message = refusal(&node3, &c1, f, args);
        assert_eq!(
            message,
            "this node's organisation is not a member of collection 'shared' of chaincode 'testbed'; it holds \
             only hashes",
            "{f}"
        );
        assert!(message.contains("holds only hashes"));
    }
    let sim = exec_ok(&node3, &c1, "phash", &[b"shared", b"k"]);
    let hash: Option<Hash32> = decode_out(&sim.response.payload);
    let committed = member.pvt_hashed.get(&(NS.into(), "shared".into(), kh("shared", b"k"))).unwrap();
    assert_eq!(hash, Some(committed.value_hash));
    assert_eq!(sim.rwset.private[0].reads, vec![hread(&member, "shared", b"k")]);

    // A blind write is allowed; its hash is the same as a member node's.
    let c = pctx("org1", 3, SECRET);
    let on_member = exec_ok(&member, &c, "pput", &[b"shared", b"k2", b"w"]);
    let on_node3 = exec_ok(&node3, &c, "pput", &[b"shared", b"k2", b"w"]);
    assert_eq!(on_member.rwset, on_node3.rwset);
    assert_eq!(on_member.private_writes, on_node3.private_writes);
}

#[test]
fn member_only_write_denies_a_non_member_client() {
    let state = member_state();
    let c3 = pctx("org3", 1, SECRET);
    for (f, args) in
        [("pput", &[&b"shared"[..], b"k", b"v"][..]), ("pdel", &[b"shared", b"k"]), ("ppurge", &[b"shared", b"k"])]
    {
        assert_eq!(
            refusal(&state, &c3, f, args),
            "collection 'shared' of chaincode 'testbed': org3 is not a member and the collection is memberOnlyWrite",
            "{f}"
        );
    }
    // An implicit collection: anyone writes, only its org reads.
    let implicit = CollectionConfig::implicit("org1");
    let state = state_of("org1", &[implicit]);
    let sim = exec_ok(&state, &c3, "pput", &[b"_implicit_org_org1", b"asset", b"for you"]);
    assert_eq!(sim.private_writes[0].writes[0].value.as_deref(), Some(&b"for you"[..]));
    assert!(refusal(&state, &c3, "pget", &[b"_implicit_org_org1", b"asset"]).contains("memberOnlyRead"));
}

#[test]
fn writes_without_a_blinding_secret_are_refused() {
    let state = member_state();
    let expected = "private writes need a blinding secret in the transient map: an entry '_teechain/blinding' of \
                    at least 16 random bytes";
    for c in [ctx_n("org1", 1), pctx("org1", 1, b"too short")] {
        for (f, args) in [("pput", &[&b"shared"[..], b"k", b"v"][..]), ("pdel", &[b"shared", b"k"])] {
            assert_eq!(refusal(&state, &c, f, args), expected, "{f}");
        }
        // Reads need no secret.
        exec_ok(&state, &c, "pget", &[b"shared", b"k"]);
    }
}

#[test]
fn unknown_collections_are_refused() {
    let state = member_state();
    let c = pctx("org1", 1, SECRET);
    for (f, args) in [
        ("pput", &[&b"nope"[..], b"k", b"v"][..]),
        ("pget", &[b"nope", b"k"]),
        ("phash", &[b"nope", b"k"]),
        ("popen", &[b"nope", b"k"]),
        ("ppurge", &[b"nope", b"k"]),
        ("prange", &[b"nope", b"a", b"b"]),
    ] {
        assert_eq!(refusal(&state, &c, f, args), "chaincode 'testbed' has no collection 'nope'", "{f}");
    }
}

#[test]
fn purges_and_deletes_are_flagged() {
    let mut state = member_state();
    commit_put(&mut state, 1, "shared", b"a", b"1");
    commit_put(&mut state, 2, "shared", b"b", b"2");
    let c = pctx("org1", 3, SECRET);
    let sim = exec_ok(&state, &c, "ops", &[b"ppurge", b"shared", b"a", b"pdel", b"shared", b"b"]);
    let mut expected = vec![
        HashedWrite { key_hash: kh("shared", b"a"), value_hash: None, sealed_hash: None, purge: true },
        HashedWrite { key_hash: kh("shared", b"b"), value_hash: None, sealed_hash: None, purge: false },
    ];
    expected.sort_by_key(|w| w.key_hash);
    assert_eq!(sim.rwset.private[0].writes, expected);
    let mut writes = vec![
        PrivateWrite { key: b"a".to_vec(), value: None, blind: Hash32::ZERO, purge: true },
        PrivateWrite { key: b"b".to_vec(), value: None, blind: Hash32::ZERO, purge: false },
    ];
    writes.sort_by_key(|w| kh("shared", &w.key));
    assert_eq!(sim.private_writes[0].writes, writes);
    state.commit(&sim, c.tx_id);
    let sim = exec_ok(&state, &c, "ops", &[b"pget", b"shared", b"a", b"phash", b"shared", b"b"]);
    let out: Vec<Vec<u8>> = decode_out(&sim.response.payload);
    assert_eq!(decode_out::<Option<Vec<u8>>>(&out[0]), None);
    assert_eq!(decode_out::<Option<Hash32>>(&out[1]), None);
}

#[test]
fn an_opening_verifies_against_the_hash() {
    let mut state = member_state();
    commit_put(&mut state, 1, "shared", b"k", b"42");
    let c = pctx("org2", 2, SECRET);
    let sim = exec_ok(&state, &c, "ops", &[b"popen", b"shared", b"k", b"phash", b"shared", b"k"]);
    let out: Vec<Vec<u8>> = decode_out(&sim.response.payload);
    let (value, blind): (Vec<u8>, Hash32) = decode_out::<Option<_>>(&out[0]).unwrap();
    let hash: Hash32 = decode_out::<Option<_>>(&out[1]).unwrap();
    assert_eq!(value, b"42");
    assert_eq!(private_value_hash(&blind, &value), hash);
    // One read recorded for both calls.
    assert_eq!(sim.rwset.private[0].reads, vec![hread(&state, "shared", b"k")]);
    // Absent keys have no opening.
    let sim = exec_ok(&state, &c, "popen", &[b"shared", b"nothing"]);
    assert_eq!(decode_out::<Option<(Vec<u8>, Hash32)>>(&sim.response.payload), None);
}

#[test]
fn reads_see_pending_private_writes_without_recording_them() {
    let mut state = member_state();
    commit_put(&mut state, 1, "shared", b"k", b"old");
    let c = pctx("org1", 2, SECRET);
    let sim = exec_ok(
        &state,
        &c,
        "ops",
        &[
            b"pput", b"shared", b"k", b"new", b"pget", b"shared", b"k", b"phash", b"shared", b"k", b"popen", b"shared",
            b"k", b"pdel", b"shared", b"n", b"pget", b"shared", b"n", b"phash", b"shared", b"n",
        ],
    );
    let out: Vec<Vec<u8>> = decode_out(&sim.response.payload);
    let blind = blind_of(&c, SECRET, "shared", b"k");
    assert_eq!(decode_out::<Option<Vec<u8>>>(&out[1]).as_deref(), Some(&b"new"[..]));
    assert_eq!(decode_out::<Option<Hash32>>(&out[2]), Some(private_value_hash(&blind, b"new")));
    assert_eq!(decode_out::<Option<(Vec<u8>, Hash32)>>(&out[3]), Some((b"new".to_vec(), blind)));
    assert_eq!(decode_out::<Option<Vec<u8>>>(&out[5]), None);
    assert_eq!(decode_out::<Option<Hash32>>(&out[6]), None);
    assert!(sim.rwset.private[0].reads.is_empty());
    assert_eq!(sim.rwset.private[0].writes.len(), 2);
}

#[test]
fn private_range_merges_pending_writes_and_records_committed_keys() {
    let mut state = member_state();
    for (i, (k, val)) in
        [(&b"a1"[..], &b"v1"[..]), (b"a2", b"v2"), (b"a3", b"v3"), (b"b1", b"out")].into_iter().enumerate()
    {
        commit_put(&mut state, i as u64 + 1, "shared", k, val);
    }
    let c = pctx("org1", 9, SECRET);
    let sim = exec_ok(
        &state,
        &c,
        "ops",
        &[b"pput", b"shared", b"a25", b"new", b"pdel", b"shared", b"a2", b"prange", b"shared", b"a", b"b"],
    );
    let out: Vec<Vec<u8>> = decode_out(&sim.response.payload);
    let rows: Vec<(Vec<u8>, Vec<u8>)> = decode_out(&out[2]);
    let expected: Vec<(Vec<u8>, Vec<u8>)> =
        vec![(b"a1".to_vec(), b"v1".to_vec()), (b"a25".to_vec(), b"new".to_vec()), (b"a3".to_vec(), b"v3".to_vec())];
    assert_eq!(rows, expected);
    // The keys returned, with their value hashes, and the collection's write marker
    // (absent here: this state was written without validation).
    let mut reads = vec![
        hread(&state, "shared", b"a1"),
        hread(&state, "shared", b"a2"),
        hread(&state, "shared", b"a3"),
        HashedRead { key_hash: collection_marker_hash(NS, "shared"), version: None, value_hash: None },
    ];
    assert_eq!(reads[1].version, Some(v(2, 0)));
    reads.sort_by_key(|r| r.key_hash);
    assert_eq!(sim.rwset.private[0].reads, reads);
    assert!(sim.rwset.range_reads.is_empty());
}

#[test]
fn a_refusal_drops_private_writes_and_keeps_reads() {
    let mut state = member_state();
    commit_put(&mut state, 1, "shared", b"r", b"x");
    let c = pctx("org1", 2, SECRET);
    let sim = exec(
        &state,
        &c,
        "ops",
        &[
            b"pput",
            b"shared",
            b"k",
            b"v",
            b"pget",
            b"shared",
            b"r",
            b"put",
            b"pub",
            b"1",
            b"refuse",
            b"changed my mind",
        ],
    );
    assert_eq!((sim.response.status, sim.response.message.as_str()), (STATUS_REFUSED, "changed my mind"));
    assert!(sim.rwset.writes.is_empty() && sim.private_writes.is_empty());
    assert_eq!(
        sim.rwset.private,
        vec![CollectionHashedRwSet {
            collection: "shared".into(),
            reads: vec![hread(&state, "shared", b"r")],
            writes: vec![],
        }]
    );
    // Writes only: nothing is left of the collection.
    let sim = exec(&state, &c, "ops", &[b"pput", b"shared", b"k", b"v", b"refuse", b"no"]);
    assert!(sim.rwset.private.is_empty() && sim.private_writes.is_empty());
    // A host refusal after a write refuses the invocation (the testbed's choice) and
    // drops the write too.
    let implicit = CollectionConfig::implicit("org1");
    let state = state_of("org1", &[shared(), implicit]);
    let args: &[&[u8]] =
        &[b"pput", b"_implicit_org_org1", b"k", b"v", b"phash", b"shared", b"r", b"pget", b"shared", b"r"];
    let sim = exec(&state, &pctx("org3", 3, SECRET), "ops", args);
    assert_eq!(sim.response.status, STATUS_REFUSED);
    assert!(sim.response.message.contains("memberOnlyRead"));
    assert!(sim.private_writes.is_empty());
    let names: Vec<&str> = sim.rwset.private.iter().map(|c| c.collection.as_str()).collect();
    assert_eq!(names, ["shared"], "the hashed read stays, the write to the implicit collection goes");
}

#[test]
fn collection_names_must_be_utf8() {
    let imports = r#"(import "teechain" "private_get" (func $get (param i32 i32 i32 i32) (result i32)))"#;
    let body = "(i32.store8 (i32.const 0) (i32.const 0xff)) (drop (call $get (i32.const 0) (i32.const 1) (i32.const 0) (i32.const 0))) (i64.const 0)";
    let code = runtime().compile(&module_with(imports, body)).unwrap();
    let err = runtime().execute(&code, NS, &member_state(), &pctx("org1", 1, SECRET), &inv("f", &[])).unwrap_err();
    assert!(matches!(&err, RuntimeError::Abi(m) if m.contains("collection name")), "{err}");
}

#[test]
fn a_refusal_reaches_the_guest_as_host_error() {
    // private_get of an unknown collection returns HOST_ERROR (-2) with the message
    // staged; the module traps with `unreachable` if not, and divides by zero if so.
    let imports = r#"(import "teechain" "private_get" (func $get (param i32 i32 i32 i32) (result i32)))
        (import "teechain" "result_len" (func $len (result i32)))"#;
    let expected = "chaincode 'testbed' has no collection 'x'";
    let body = format!(
        "(i32.store8 (i32.const 0) (i32.const 0x78))
        (if (i32.ne (call $get (i32.const 0) (i32.const 1) (i32.const 0) (i32.const 0)) (i32.const -2))
            (then unreachable))
        (if (i32.ne (call $len) (i32.const {})) (then unreachable))
        (drop (i32.div_u (i32.const 1) (i32.const 0)))
        (i64.const 0)",
        expected.len()
    );
    let code = runtime().compile(&module_with(imports, &body)).unwrap();
    let err = runtime().execute(&code, NS, &member_state(), &pctx("org1", 1, SECRET), &inv("f", &[])).unwrap_err();
    assert!(matches!(&err, RuntimeError::Trap(m) if m.contains("divide by zero")), "{err}");
}

#[test]
fn private_writes_count_against_the_write_set_budget() {
    let state = member_state();
    let value = vec![7u8; abi::MAX_VALUE_BYTES];
    let mut args: Vec<Vec<u8>> = Vec::new();
    for i in 0..2u8 {
        args.extend([b"pput".to_vec(), b"shared".to_vec(), vec![i], value.clone()]);
    }
    args.extend([b"put".to_vec(), vec![9], value.clone()]);
    let args: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
    let err = runtime().execute(testbed(), NS, &state, &pctx("org1", 1, SECRET), &inv("ops", &args)).unwrap_err();
    assert!(matches!(err, RuntimeError::TooLarge { what: "write set", .. }), "{err}");
    let big_key = vec![b'k'; abi::MAX_KEY_BYTES + 1];
    let err = runtime()
        .execute(testbed(), NS, &state, &pctx("org1", 1, SECRET), &inv("pput", &[b"shared", &big_key, b"v"]))
        .unwrap_err();
    assert!(matches!(err, RuntimeError::TooLarge { what: "key", .. }), "{err}");
}

/// A member node whose private store fails, or holds a value that does not open its hash.
struct Unreconciled {
    inner: MemState,
    tampered: bool,
}

impl StateView for Unreconciled {
    fn get(&self, namespace: &str, key: &[u8]) -> Result<Option<VersionedValue>, StateError> {
        self.inner.get(namespace, key)
    }
    fn range(&self, ns: &str, s: &[u8], e: &[u8], l: usize) -> Result<Vec<(Vec<u8>, VersionedValue)>, StateError> {
        self.inner.range(ns, s, e, l)
    }
    fn history(&self, namespace: &str, key: &[u8], limit: usize) -> Result<Vec<HistoryEntry>, StateError> {
        self.inner.history(namespace, key, limit)
    }
    fn collection(&self, namespace: &str, collection: &str) -> Result<Option<CollectionAccess>, StateError> {
        self.inner.collection(namespace, collection)
    }
    fn private_get(&self, ns: &str, coll: &str, key: &[u8]) -> Result<Option<PrivateValue>, StateError> {
        if self.tampered {
            let mut v = self.inner.private_get(ns, coll, key)?;
            if let Some(v) = &mut v {
                v.value = b"forged".to_vec();
            }
            return Ok(v);
        }
        Err(StateError("private data of block 1 has not been received yet".into()))
    }
    fn private_hash(&self, ns: &str, coll: &str, key_hash: &Hash32) -> Result<Option<HashedValue>, StateError> {
        self.inner.private_hash(ns, coll, key_hash)
    }
}

#[test]
fn state_errors_and_forged_values_end_the_execution() {
    let mut inner = member_state();
    commit_put(&mut inner, 1, "shared", b"k", b"v");
    let c = pctx("org1", 2, SECRET);
    let view = Unreconciled { inner, tampered: false };
    let err = runtime().execute(testbed(), NS, &view, &c, &inv("pget", &[b"shared", b"k"])).unwrap_err();
    assert!(matches!(&err, RuntimeError::State(e) if e.0.contains("not been received")), "{err}");
    let view = Unreconciled { tampered: true, ..view };
    let err = runtime().execute(testbed(), NS, &view, &c, &inv("pget", &[b"shared", b"k"])).unwrap_err();
    assert!(matches!(&err, RuntimeError::State(e) if e.0.contains("does not match its on-ledger hash")), "{err}");
    // A view without private data at all.
    let err = runtime().execute(testbed(), NS, &MemStateNoPrivate, &c, &inv("phash", &[b"shared", b"k"])).unwrap_err();
    assert!(matches!(&err, RuntimeError::State(e) if e.0.contains("holds no private data")), "{err}");
}

/// A view that implements only public state.
struct MemStateNoPrivate;

impl StateView for MemStateNoPrivate {
    fn get(&self, _: &str, _: &[u8]) -> Result<Option<VersionedValue>, StateError> {
        Ok(None)
    }
    fn range(&self, _: &str, _: &[u8], _: &[u8], _: usize) -> Result<Vec<(Vec<u8>, VersionedValue)>, StateError> {
        Ok(Vec::new())
    }
    fn history(&self, _: &str, _: &[u8], _: usize) -> Result<Vec<HistoryEntry>, StateError> {
        Ok(Vec::new())
    }
}
