//! Private data collections: store, planning, reconciliation, blockToLive, purge (store
//! tests build outcomes by hand) and the validator's collection rules (real signatures).

use crate::dummy_tx;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use teechain_crypto::{Msp, OrgCa, SigningIdentity};
use teechain_ledger::{
    lifecycle, plan_private_commit, private_writes_match, tables, BlockOutcome, BlockValidator, HashedStateWrite,
    Ledger, LedgerError, MissingPrivate, PrivateBlockData, StateWrite,
};
use teechain_types::chaincode::{ChaincodeDefinition, Invocation};
use teechain_types::collection::{
    collection_marker_hash, implicit_collection_name, private_key_hash, private_value_hash, CollectionConfig,
    CollectionPrivateWrites, PrivateWrite, TxPrivateData,
};
use teechain_types::enclave::{
    enclave_state_key, EnclaveKeys, EnclaveRegistration, RegisteredEnclave, ENCLAVE_NAMESPACE,
};
use teechain_types::state::StateView;
use teechain_types::tx::{
    ChaincodeRef, EndorsedInvocation, Endorsement, LifecycleOp, Proposal, ProposalResponsePayload, TxBody, TxHeader,
    TxPayload,
};
use teechain_types::{
    encode, sha256, Block, CollectionHashedRwSet, Hash32, HashedRead, HashedWrite, KvWrite, ReadWriteSet, Role,
    Transaction, TxId, ValidationCode, Version,
};

const CHANNEL: &str = "ch";
const CC: &str = "cc";
/// Members org1 and org2, no endorsement policy of its own.
const C12: &str = "c12";
/// Members org1 and org2, endorsement policy AND(org1, org2).
const CEP: &str = "cep";
/// Members org1 only, blockToLive 2.
const CTL: &str = "ctl";

struct Org {
    peer: SigningIdentity,
    client: SigningIdentity,
    admin: SigningIdentity,
}

struct Net {
    msp: Arc<Msp>,
    orgs: BTreeMap<String, Org>,
}

/// Three organisations with a CA each, shared by all tests (certificates are slow-ish).
fn net() -> &'static Net {
    static NET: OnceLock<Net> = OnceLock::new();
    NET.get_or_init(|| {
        let mut cas = Vec::new();
        let mut orgs = BTreeMap::new();
        for org in ["org1", "org2", "org3"] {
            let ca = OrgCa::generate(org).expect("ca");
            let id = |name: &str, role| {
                ca.issue(&format!("{name}.{org}"), role, &[]).expect("issue").signing_identity(org).expect("identity")
            };
            orgs.insert(
                org.to_string(),
                Org {
                    peer: id("peer", Role::Peer),
                    client: id("client", Role::Client),
                    admin: id("admin", Role::Admin),
                },
            );
            cas.push((org.to_string(), ca.cert_der().to_vec()));
        }
        Net { msp: Arc::new(Msp::new(&cas).expect("msp")), orgs }
    })
}

fn org(name: &str) -> &'static Org {
    &net().orgs[name]
}

fn validator() -> BlockValidator {
    BlockValidator::new(CHANNEL, net().msp.clone(), teechain_attestation::AttestationPolicy::default())
}

/// The enclave keys these tests endorse with: each organisation's peer key, registered
/// directly in block 0 (registration itself is tested in `enclaves.rs`).
fn enclave_keys(peer: &SigningIdentity) -> EnclaveKeys {
    EnclaveKeys { signing_key: peer.public_key().to_bytes(), hpke_key: [0; 32] }
}

fn collection(name: &str, members: &[&str], block_to_live: u64, endorsement: Option<&str>) -> CollectionConfig {
    let members: Vec<String> = members.iter().map(|m| format!("'{m}.member'")).collect();
    CollectionConfig {
        name: name.into(),
        member_policy: format!("OR({})", members.join(",")),
        required_peer_count: 0,
        max_peer_count: 2,
        block_to_live,
        member_only_read: true,
        member_only_write: false,
        endorsement_policy: endorsement.map(String::from),
    }
}

fn definition(name: &str, policy: &str) -> ChaincodeDefinition {
    ChaincodeDefinition {
        name: name.into(),
        version: "1".into(),
        sequence: 1,
        code_hash: Hash32([9; 32]),
        endorsement_policy: policy.into(),
        collections: vec![
            collection(C12, &["org1", "org2"], 0, None),
            collection(CEP, &["org1", "org2"], 0, Some("AND('org1.member','org2.member')")),
            collection(CTL, &["org1"], 2, None),
        ],
    }
}

/// A ledger whose block 0 committed `defs`.
fn ledger_with(defs: &[ChaincodeDefinition]) -> (tempfile::TempDir, PathBuf, Ledger) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("l.redb");
    let l = Ledger::open(&path).expect("open");
    let block = Block::new(0, Hash32::ZERO, 1, vec![dummy_tx(0)]);
    let version = Version { block: 0, tx: 0 };
    let mut writes: Vec<StateWrite> = defs
        .iter()
        .map(|d| StateWrite {
            namespace: lifecycle::NAMESPACE.into(),
            key: lifecycle::definition_key(&d.name),
            value: Some(encode(d)),
            version,
        })
        .collect();
    for (name, o) in &net().orgs {
        let keys = enclave_keys(&o.peer);
        let record = RegisteredEnclave {
            registration: EnclaveRegistration { org: name.clone(), keys, evidence: Vec::new() },
            platform: "virtual".into(),
            measurement: Hash32::ZERO,
            secure: false,
            registered_at: version,
        };
        writes.push(StateWrite {
            namespace: ENCLAVE_NAMESPACE.into(),
            key: enclave_state_key(&keys.id()),
            value: Some(encode(&record)),
            version,
        });
    }
    let outcome = BlockOutcome { codes: vec![ValidationCode::Valid], writes, private_writes: Vec::new() };
    l.commit(block, &outcome).expect("commit definitions");
    (dir, path, l)
}

fn ledger() -> (tempfile::TempDir, PathBuf, Ledger) {
    ledger_with(&[definition(CC, "OR('org1.member','org2.member')")])
}

fn put(key: &str, value: &str) -> PrivateWrite {
    PrivateWrite {
        key: key.into(),
        value: Some(value.into()),
        blind: sha256(format!("blind/{key}/{value}").as_bytes()),
        purge: false,
    }
}

fn del(key: &str) -> PrivateWrite {
    PrivateWrite { key: key.into(), value: None, blind: Hash32::ZERO, purge: false }
}

fn purge(key: &str) -> PrivateWrite {
    PrivateWrite { purge: true, ..del(key) }
}

fn kh(coll: &str, key: &str) -> Hash32 {
    private_key_hash(CC, coll, key.as_bytes())
}

/// The hashed read-write set of `writes` to `coll` and its private payload, both sorted by
/// key hash as an endorser produces them.
fn coll_writes(coll: &str, mut writes: Vec<PrivateWrite>) -> (CollectionHashedRwSet, CollectionPrivateWrites) {
    writes.sort_by_key(|w| private_key_hash(CC, coll, &w.key));
    let hashed = writes
        .iter()
        .map(|w| HashedWrite {
            key_hash: private_key_hash(CC, coll, &w.key),
            value_hash: w.value.as_ref().map(|v| private_value_hash(&w.blind, v)),
            sealed_hash: None,
            purge: w.purge,
        })
        .collect();
    (
        CollectionHashedRwSet { collection: coll.into(), reads: Vec::new(), writes: hashed },
        CollectionPrivateWrites { namespace: CC.into(), collection: coll.into(), writes },
    )
}

fn rwset(private: Vec<CollectionHashedRwSet>) -> ReadWriteSet {
    ReadWriteSet { namespace: CC.into(), private, ..ReadWriteSet::default() }
}

/// An invocation of `chaincode` by org1's client, endorsed by `endorsers`.
fn invoke_of(chaincode: &str, nonce: u64, rwset: ReadWriteSet, endorsers: &[&SigningIdentity]) -> Transaction {
    let creator = &org("org1").client;
    let header = TxHeader {
        channel: CHANNEL.into(),
        creator: creator.identity().clone(),
        nonce: nonce.to_be_bytes().to_vec(),
        timestamp_ms: nonce,
    };
    let invocation = Invocation { function: "f".into(), args: Vec::new() };
    let proposal = Proposal {
        header: header.clone(),
        chaincode: chaincode.into(),
        invocation: invocation.clone(),
        sealed: None,
        transient_digest: Hash32::ZERO,
    };
    let response = ProposalResponsePayload {
        proposal_hash: proposal.hash(),
        chaincode: ChaincodeRef { name: chaincode.into(), sequence: 1, code_hash: Hash32([9; 32]) },
        rwset: ReadWriteSet { namespace: chaincode.into(), ..rwset },
        response_hash: Hash32::ZERO,
        events: Vec::new(),
    };
    let endorsements = endorsers
        .iter()
        .map(|e| Endorsement {
            org: e.identity().org.clone(),
            enclave: enclave_keys(e).id(),
            signature: e.sign(&response.hash().0),
        })
        .collect();
    let body = TxBody::Invoke(EndorsedInvocation {
        chaincode: chaincode.into(),
        invocation,
        sealed: None,
        transient_digest: Hash32::ZERO,
        response,
        endorsements,
    });
    let payload = TxPayload { header, body };
    let signature = creator.sign(&payload.hash().0);
    Transaction { payload, signature }
}

fn invoke(nonce: u64, rwset: ReadWriteSet) -> Transaction {
    invoke_of(CC, nonce, rwset, &[&org("org1").peer, &org("org2").peer])
}

/// What a validator would conclude if every transaction were valid (store tests).
fn all_valid(block: &Block) -> BlockOutcome {
    let mut o = BlockOutcome { codes: vec![ValidationCode::Valid; block.transactions.len()], ..Default::default() };
    for (i, tx) in block.transactions.iter().enumerate() {
        let TxBody::Invoke(inv) = &tx.payload.body else { continue };
        let version = Version { block: block.header.number, tx: i as u32 };
        for c in &inv.response.rwset.private {
            for w in &c.writes {
                o.private_writes.push(HashedStateWrite {
                    namespace: inv.chaincode.clone(),
                    collection: c.collection.clone(),
                    key_hash: w.key_hash,
                    value_hash: w.value_hash,
                    purge: w.purge,
                    version,
                });
            }
        }
    }
    o
}

fn next_block(l: &Ledger, txs: Vec<Transaction>) -> Block {
    Block::new(l.height(), l.last_hash(), 1_000 + l.height(), txs)
}

/// Plans and commits `txs` as a node of `my_org` whose transient store holds `payloads`.
fn commit_as(l: &Ledger, my_org: &str, txs: Vec<Transaction>, payloads: &[TxPrivateData]) -> PrivateBlockData {
    let block = next_block(l, txs);
    let outcome = all_valid(&block);
    let plan = {
        let snap = l.snapshot().expect("snapshot");
        let mut candidates =
            |id: &TxId| -> Vec<TxPrivateData> { payloads.iter().filter(|p| p.tx_id == *id).cloned().collect() };
        plan_private_commit(&snap, &block, &outcome.codes, my_org, &mut candidates).expect("plan")
    };
    l.commit_with_private(block, &outcome, &plan, None).expect("commit");
    plan
}

fn payload(tx: &Transaction, writes: Vec<CollectionPrivateWrites>) -> TxPrivateData {
    TxPrivateData { tx_id: tx.tx_id(), collections: writes }
}

fn get(l: &Ledger, coll: &str, key: &str) -> Option<Vec<u8>> {
    l.snapshot().expect("snap").private_get(CC, coll, key.as_bytes()).expect("private_get").map(|v| v.value)
}

fn not_reached(l: &Ledger, coll: &str, key: &str) -> String {
    let err = l.snapshot().expect("snap").private_get(CC, coll, key.as_bytes()).expect_err("value must be missing");
    let msg = err.to_string();
    assert!(msg.contains("not reached this node"), "{msg}");
    msg
}

fn missing(block: u64, tx: u32, coll: &str) -> MissingPrivate {
    MissingPrivate { block, tx, namespace: CC.into(), collection: coll.into() }
}

/// Rows of a table whose key starts with `prefix`, read from the file (ledger closed).
fn raw_rows(path: &Path, table: redb::TableDefinition<&[u8], &[u8]>, prefix: &[u8]) -> Vec<Vec<u8>> {
    use redb::{ReadableDatabase, ReadableTable};
    let db = redb::Database::open(path).expect("open raw");
    let r = db.begin_read().expect("read");
    let t = r.open_table(table).expect("table");
    let mut out = Vec::new();
    for item in t.iter().expect("iter") {
        let (k, _) = item.expect("row");
        if k.value().starts_with(prefix) {
            out.push(k.value().to_vec());
        }
    }
    out
}

#[test]
fn member_stores_values_others_only_hashes() {
    let (_d1, _p1, member) = ledger();
    let (_d2, _p2, outsider) = ledger();
    let (_d3, _p3, unlucky) = ledger();
    let (hashed, writes) = coll_writes(C12, vec![put("k1", "v1"), put("k2", "v2")]);
    let tx = invoke(1, rwset(vec![hashed.clone()]));
    let data = [payload(&tx, vec![writes.clone()])];

    let plan = commit_as(&member, "org1", vec![tx.clone()], &data);
    assert_eq!(plan.stored.len(), 1);
    assert!(plan.missing.is_empty());
    let plan = commit_as(&outsider, "org3", vec![tx.clone()], &data);
    assert_eq!(plan, PrivateBlockData::default(), "a non-member stores nothing but hashes");
    let plan = commit_as(&unlucky, "org2", vec![tx], &[]);
    assert_eq!(plan.missing, vec![missing(1, 0, C12)]);

    let v = member.snapshot().expect("snap").private_get(CC, C12, b"k1").expect("get").expect("value");
    assert_eq!((v.value.as_slice(), v.version), (&b"v1"[..], Version { block: 1, tx: 0 }));
    assert_eq!(
        private_value_hash(&v.blind, &v.value),
        hashed.writes.iter().find(|w| w.key_hash == kh(C12, "k1")).and_then(|w| w.value_hash).expect("hash")
    );
    let range = member.snapshot().expect("snap").private_range(CC, C12, b"", b"", 10).expect("range");
    assert_eq!(range.iter().map(|(k, _)| k.as_slice()).collect::<Vec<_>>(), vec![&b"k1"[..], &b"k2"[..]]);
    let range = member.snapshot().expect("snap").private_range(CC, C12, b"k2", b"", 10).expect("range");
    assert_eq!(range.len(), 1);
    assert!(member.snapshot().expect("snap").private_range(CC, CEP, b"", b"", 10).expect("range").is_empty());
    assert_eq!(get(&member, C12, "absent"), None, "an unwritten key reads absent, not missing");
    assert!(member.missing_private(10).expect("missing").is_empty());

    for l in [&member, &outsider, &unlucky] {
        let h = l.snapshot().expect("snap").private_hash(CC, C12, &kh(C12, "k1")).expect("hash").expect("present");
        assert_eq!(h.version, Version { block: 1, tx: 0 });
        assert_eq!(Some(h.value_hash), Some(private_value_hash(&v.blind, b"v1")));
    }
    not_reached(&outsider, C12, "k1");
    assert!(outsider.missing_private(10).expect("missing").is_empty(), "non-members record nothing missing");
    not_reached(&unlucky, C12, "k2");
    assert!(unlucky.snapshot().expect("snap").private_range(CC, C12, b"", b"", 10).expect("range").is_empty());
    assert_eq!(unlucky.missing_private(10).expect("missing"), vec![missing(1, 0, C12)]);
}

#[test]
fn private_state_survives_reopen() {
    let (_d, path, l) = ledger();
    let (hashed, writes) = coll_writes(C12, vec![put("k", "v")]);
    let tx = invoke(1, rwset(vec![hashed]));
    commit_as(&l, "org1", vec![tx.clone()], &[payload(&tx, vec![writes])]);
    drop(l);
    let l = Ledger::open(&path).expect("reopen");
    assert_eq!(get(&l, C12, "k").as_deref(), Some(&b"v"[..]));
}

#[test]
fn plan_stores_only_payloads_matching_the_hashes() {
    let (_d, _p, l) = ledger();
    let (h12, w12) = coll_writes(C12, vec![put("a", "1"), del("b")]);
    let (hcep, wcep) = coll_writes(CEP, vec![put("x", "9")]);
    let (hctl, wctl) = coll_writes(CTL, vec![put("t", "t")]);
    let tx = invoke(1, rwset(vec![h12.clone(), hcep, hctl]));
    let block = next_block(&l, vec![tx.clone()]);
    let snap = l.snapshot().expect("snap");
    let plan_with = |my_org: &str, codes: &[ValidationCode], data: Vec<TxPrivateData>| {
        let mut cands = |_: &TxId| data.clone();
        plan_private_commit(&snap, &block, codes, my_org, &mut cands).expect("plan")
    };
    let valid = [ValidationCode::Valid];

    // All three collections offered and matching: org1 (member of all) stores all three.
    let good = payload(&tx, vec![w12.clone(), wcep.clone(), wctl.clone()]);
    let plan = plan_with("org1", &valid, vec![good.clone()]);
    assert_eq!(plan.stored.iter().map(|s| s.writes.collection.as_str()).collect::<Vec<_>>(), vec![C12, CEP, CTL]);
    assert!(plan.stored.iter().all(|s| s.version == Version { block: 1, tx: 0 }));
    assert_eq!(plan.stored[2].block_to_live, 2, "blockToLive comes from the collection config");
    assert!(plan.missing.is_empty());
    // org2 is not a member of ctl: it neither stores nor misses it.
    let plan = plan_with("org2", &valid, vec![good.clone()]);
    assert_eq!(plan.stored.len(), 2);
    assert!(plan.missing.is_empty());
    // org3 is a member of nothing here.
    assert_eq!(plan_with("org3", &valid, vec![good.clone()]), PrivateBlockData::default());
    // An invalid transaction stores and misses nothing.
    assert_eq!(plan_with("org1", &[ValidationCode::MvccReadConflict], vec![good]), PrivateBlockData::default());

    // Tampered value (same blind): recorded missing, nothing stored for that collection.
    let mut tampered = w12.clone();
    tampered.writes.iter_mut().find(|w| w.value.is_some()).expect("put").value = Some(b"2".to_vec());
    let plan = plan_with("org1", &valid, vec![payload(&tx, vec![tampered.clone(), wcep.clone(), wctl.clone()])]);
    assert_eq!(plan.missing, vec![missing(1, 0, C12)]);
    assert_eq!(plan.stored.len(), 2);
    assert!(!private_writes_match(CC, &h12, &tampered));
    // Wrong blind, a delete turned into a purge, a dropped write, another tx's payload.
    let mut wrong_blind = w12.clone();
    wrong_blind.writes.iter_mut().for_each(|w| w.blind = Hash32([1; 32]));
    let mut purged = w12.clone();
    purged.writes.iter_mut().filter(|w| w.value.is_none()).for_each(|w| w.purge = true);
    let mut short = w12.clone();
    short.writes.pop();
    for bad in [wrong_blind, purged, short] {
        assert!(!private_writes_match(CC, &h12, &bad), "{bad:?}");
        let plan = plan_with("org2", &valid, vec![payload(&tx, vec![bad])]);
        assert_eq!(plan.missing, vec![missing(1, 0, C12), missing(1, 0, CEP)]);
        assert!(plan.stored.is_empty());
    }
    let other = TxPrivateData { tx_id: Hash32([5; 32]), collections: vec![w12.clone()] };
    assert_eq!(plan_with("org2", &valid, vec![other]).missing.len(), 2, "payload of another transaction");
    assert!(private_writes_match(CC, &h12, &w12));
}

#[test]
fn reconciliation_stores_matching_data_and_refuses_tampered() {
    let (_da, _pa, a) = ledger();
    let (_db, _pb, b) = ledger();
    let (h1, w1) = coll_writes(C12, vec![put("k1", "v1"), put("k2", "v2"), del("k3")]);
    let tx1 = invoke(1, rwset(vec![h1]));
    commit_as(&a, "org1", vec![tx1.clone()], &[payload(&tx1, vec![w1.clone()])]);
    commit_as(&b, "org2", vec![tx1], &[]);
    // Block 2 rewrites k1; b receives that one.
    let (h2, w2) = coll_writes(C12, vec![put("k1", "v1b")]);
    let tx2 = invoke(2, rwset(vec![h2]));
    let data2 = [payload(&tx2, vec![w2])];
    commit_as(&a, "org1", vec![tx2.clone()], &data2);
    commit_as(&b, "org2", vec![tx2], &data2);

    let m = missing(1, 0, C12);
    assert_eq!(b.missing_private(10).expect("missing"), vec![m.clone()]);
    assert_eq!(b.private_writes_at(1, 0, CC, C12).expect("at"), None, "b does not hold it");
    let served = a.private_writes_at(1, 0, CC, C12).expect("at").expect("a holds it");
    assert_eq!(served, w1);
    assert_eq!(a.private_writes_at(1, 0, CC, CEP).expect("at"), None, "no writes to that collection");
    assert_eq!(a.private_writes_at(1, 7, CC, C12).expect("at"), None, "no such transaction");

    let mut tampered = served.clone();
    tampered.writes[0].value = Some(b"forged".to_vec());
    let err = b.store_reconciled(&m, &tampered, 0).expect_err("tampered");
    assert!(
        matches!(&err, LedgerError::PrivateDataMismatch { block: 1, tx: 0, collection, .. } if collection == C12),
        "{err}"
    );
    let err = b.store_reconciled(&m, &CollectionPrivateWrites { collection: CEP.into(), ..served.clone() }, 0);
    assert!(matches!(err, Err(LedgerError::PrivateDataMismatch { .. })), "payload for another collection");
    let err = b.store_reconciled(&missing(1, 3, C12), &served, 0);
    assert!(matches!(err, Err(LedgerError::NoPrivateWrites { tx: 3, .. })), "{err:?}");
    assert_eq!(b.missing_private(10).expect("missing"), vec![m.clone()], "nothing stored on refusal");
    not_reached(&b, C12, "k2");
    assert_eq!(b.private_writes_at(1, 0, CC, C12).expect("at"), None);

    b.store_reconciled(&m, &served, 0).expect("reconcile");
    assert!(b.missing_private(10).expect("missing").is_empty());
    assert_eq!(get(&b, C12, "k2").as_deref(), Some(&b"v2"[..]));
    assert_eq!(get(&b, C12, "k1").as_deref(), Some(&b"v1b"[..]), "the later write wins");
    assert_eq!(get(&b, C12, "k3"), None);
    assert_eq!(b.private_writes_at(1, 0, CC, C12).expect("at"), Some(w1), "b can now serve it too");

    // Block 3 rewrites k2 and b misses it: b must not answer with its older value.
    let (h3, _) = coll_writes(C12, vec![put("k2", "v2c")]);
    commit_as(&b, "org2", vec![invoke(3, rwset(vec![h3]))], &[]);
    not_reached(&b, C12, "k2");
    let range = b.snapshot().expect("snap").private_range(CC, C12, b"", b"", 10).expect("range");
    assert_eq!(range.iter().map(|(k, _)| k.as_slice()).collect::<Vec<_>>(), vec![&b"k1"[..]], "stale k2 left out");
}

#[test]
fn dropping_a_missing_record_forgets_it() {
    let (_d, _p, l) = ledger();
    let (h, _) = coll_writes(C12, vec![put("k", "v")]);
    let (h2, _) = coll_writes(CEP, vec![put("k", "v")]);
    commit_as(&l, "org1", vec![invoke(1, rwset(vec![h])), invoke(2, rwset(vec![h2]))], &[]);
    assert_eq!(l.missing_private(10).expect("missing"), vec![missing(1, 0, C12), missing(1, 1, CEP)]);
    assert_eq!(l.missing_private(1).expect("missing").len(), 1, "limit");
    l.drop_missing(&missing(1, 0, C12)).expect("drop");
    assert_eq!(l.missing_private(10).expect("missing"), vec![missing(1, 1, CEP)]);
    not_reached(&l, C12, "k");
}

#[test]
fn block_to_live_removes_values_and_keeps_hashes() {
    let (_d, path, l) = ledger();
    let (_db, _pb, late) = ledger();
    // Block 1: t1 and t2 (ctl has blockToLive 2, so they go when block 3 commits).
    let (h1, w1) = coll_writes(CTL, vec![put("t1", "a"), put("t2", "b")]);
    let tx1 = invoke(1, rwset(vec![h1]));
    commit_as(&l, "org1", vec![tx1.clone()], &[payload(&tx1, vec![w1.clone()])]);
    commit_as(&late, "org1", vec![tx1], &[]);
    // Block 2: t2 rewritten, which schedules its own removal at block 4.
    let (h2, w2) = coll_writes(CTL, vec![put("t2", "b2")]);
    let tx2 = invoke(2, rwset(vec![h2]));
    commit_as(&l, "org1", vec![tx2.clone()], &[payload(&tx2, vec![w2.clone()])]);
    commit_as(&late, "org1", vec![tx2], &[]);
    assert_eq!(get(&l, CTL, "t1").as_deref(), Some(&b"a"[..]), "still alive after block 2");

    commit_as(&l, "org1", Vec::new(), &[]);
    commit_as(&late, "org1", Vec::new(), &[]);
    assert_eq!(get(&l, CTL, "t1"), None, "expired when block 1 + 2 committed");
    let h = l.snapshot().expect("snap").private_hash(CC, CTL, &kh(CTL, "t1")).expect("hash").expect("hash kept");
    assert_eq!(h.version, Version { block: 1, tx: 0 });
    assert_eq!(get(&l, CTL, "t2").as_deref(), Some(&b"b2"[..]), "rewritten in block 2: alive");
    assert_eq!(l.private_writes_at(1, 0, CC, CTL).expect("at"), None, "history of block 1 gone");
    let range = l.snapshot().expect("snap").private_range(CC, CTL, b"", b"", 10).expect("range");
    assert_eq!(range.iter().map(|(k, _)| k.as_slice()).collect::<Vec<_>>(), vec![&b"t2"[..]]);

    // Data received after its expiry is not stored, and reads answer absent, not missing.
    late.store_reconciled(&missing(1, 0, CTL), &w1, 2).expect("reconcile expired");
    assert_eq!(get(&late, CTL, "t1"), None);
    assert_eq!(late.private_writes_at(1, 0, CC, CTL).expect("at"), None, "no values stored");
    // Block 2's data arrives before it expires: stored, then expires with block 4.
    late.store_reconciled(&missing(2, 0, CTL), &w2, 2).expect("reconcile live");
    assert_eq!(get(&late, CTL, "t2").as_deref(), Some(&b"b2"[..]));

    // A third node never receives t1: once expired, it reads absent rather than missing.
    let (_dn, _pn, never) = ledger();
    commit_as(&never, "org1", vec![invoke(1, rwset(vec![coll_writes(CTL, vec![put("t1", "a")]).0]))], &[]);
    commit_as(&never, "org1", Vec::new(), &[]);
    not_reached(&never, CTL, "t1");
    commit_as(&never, "org1", Vec::new(), &[]);
    assert_eq!(get(&never, CTL, "t1"), None);

    commit_as(&l, "org1", Vec::new(), &[]);
    commit_as(&late, "org1", Vec::new(), &[]);
    for node in [&l, &late] {
        assert_eq!(get(node, CTL, "t2"), None, "expired when block 2 + 2 committed");
        assert!(node.snapshot().expect("snap").private_hash(CC, CTL, &kh(CTL, "t2")).expect("hash").is_some());
        assert_eq!(node.private_writes_at(2, 0, CC, CTL).expect("at"), None);
    }
    drop(l);
    assert!(raw_rows(&path, tables::PVT_EXPIRY, b"").is_empty(), "every expiry row consumed");
    assert!(raw_rows(&path, tables::PVT_HIST, &tables::pvt_collection_prefix(CC, CTL)).is_empty());
}

#[test]
fn purge_removes_the_key_everywhere_and_nothing_else() {
    let (_d, path, l) = ledger();
    let (_dm, path_m, without) = ledger();
    let (h1, w1) = coll_writes(C12, vec![put("k1", "a"), put("k2", "b")]);
    let tx1 = invoke(1, rwset(vec![h1]));
    let (h2, w2) = coll_writes(C12, vec![put("k1", "a2")]);
    let tx2 = invoke(2, rwset(vec![h2]));
    let (h3, w3) = coll_writes(C12, vec![purge("k1")]);
    let tx3 = invoke(3, rwset(vec![h3]));
    // Block 1 and 2 reach both nodes; `without` misses block 2 and the purge's data.
    commit_as(&l, "org1", vec![tx1.clone()], &[payload(&tx1, vec![w1.clone()])]);
    commit_as(&without, "org1", vec![tx1.clone()], &[payload(&tx1, vec![w1])]);
    commit_as(&l, "org1", vec![tx2.clone()], &[payload(&tx2, vec![w2.clone()])]);
    commit_as(&without, "org1", vec![tx2], &[]);
    commit_as(&l, "org1", vec![tx3.clone()], &[payload(&tx3, vec![w3])]);
    commit_as(&without, "org1", vec![tx3], &[]);

    for node in [&l, &without] {
        assert_eq!(get(node, C12, "k1"), None);
        assert_eq!(node.snapshot().expect("snap").private_hash(CC, C12, &kh(C12, "k1")).expect("hash"), None);
        assert_eq!(get(node, C12, "k2").as_deref(), Some(&b"b"[..]), "other keys untouched");
        assert_eq!(node.private_writes_at(1, 0, CC, C12).expect("at"), None, "k1's row of block 1 is gone");
    }
    // Block 2's data reaching `without` after the purge must not bring k1 back.
    without.store_reconciled(&missing(2, 0, C12), &w2, 0).expect("reconcile");
    assert_eq!(get(&without, C12, "k1"), None);
    assert_eq!(without.private_writes_at(2, 0, CC, C12).expect("at"), None);
    drop(l);
    drop(without);

    for p in [&path, &path_m] {
        let k1 = tables::pvt_hashed_key(CC, C12, &kh(C12, "k1"));
        let k2 = tables::pvt_hashed_key(CC, C12, &kh(C12, "k2"));
        assert!(raw_rows(p, tables::PVT_HIST, &k1).is_empty(), "every history row of k1 gone");
        assert_eq!(raw_rows(p, tables::PVT_HIST, &k2).len(), 1, "k2's history kept");
        assert!(raw_rows(p, tables::PVT_STATE, &tables::pvt_state_key(CC, C12, b"k1")).is_empty());
        assert!(raw_rows(p, tables::PVT_HASHED, &k1).is_empty());
        assert_eq!(raw_rows(p, tables::PVT_HASHED, &k2).len(), 1);
    }
}

#[test]
fn a_write_after_a_purge_in_the_same_block_survives() {
    let (_d, _p, l) = ledger();
    let (h1, w1) = coll_writes(C12, vec![put("k", "old")]);
    let tx1 = invoke(1, rwset(vec![h1]));
    commit_as(&l, "org1", vec![tx1.clone()], &[payload(&tx1, vec![w1])]);
    let (hp, wp) = coll_writes(C12, vec![purge("k")]);
    let (hn, wn) = coll_writes(C12, vec![put("k", "new")]);
    let (tp, tn) = (invoke(2, rwset(vec![hp])), invoke(3, rwset(vec![hn])));
    let data = [payload(&tp, vec![wp]), payload(&tn, vec![wn.clone()])];
    commit_as(&l, "org1", vec![tp, tn], &data);
    assert_eq!(get(&l, C12, "k").as_deref(), Some(&b"new"[..]));
    assert_eq!(l.private_writes_at(2, 1, CC, C12).expect("at"), Some(wn));
}

#[test]
fn commit_refuses_private_data_of_another_block() {
    let (_d, _p, l) = ledger();
    let block = next_block(&l, Vec::new());
    let outcome = all_valid(&block);
    let private = PrivateBlockData { stored: Vec::new(), missing: vec![missing(7, 0, C12)] };
    let err = l.commit_with_private(block, &outcome, &private, None);
    assert!(matches!(err, Err(LedgerError::PrivateNotInBlock { number: 1, block: 7, .. })), "{err:?}");
    assert_eq!(l.height(), 1);
}

// ---- validation ----

/// A hashed read of `key` as absent (`version: None`) or at `version` with the hash of
/// `value` (as [`coll_writes`] writes it).
fn read(coll: &str, key: &str, version: Option<Version>) -> HashedRead {
    read_value(coll, key, version, "v")
}

fn read_value(coll: &str, key: &str, version: Option<Version>, value: &str) -> HashedRead {
    let value_hash = version.map(|_| coll_writes(coll, vec![put(key, value)]).0.writes[0].value_hash.expect("hash"));
    HashedRead { key_hash: kh(coll, key), version, value_hash }
}

fn validate_commit(l: &Ledger, txs: Vec<Transaction>) -> BlockOutcome {
    let block = next_block(l, txs);
    let outcome = validator().validate(&l.snapshot().expect("snap"), &block).expect("validate");
    l.commit(block, &outcome).expect("commit");
    outcome
}

#[test]
fn hashed_reads_are_checked_against_hashed_state_and_the_block() {
    let (_d, _p, l) = ledger();
    let (h, _) = coll_writes(C12, vec![put("k", "v")]);
    let o = validate_commit(&l, vec![invoke(1, rwset(vec![h.clone()]))]);
    assert_eq!(o.codes, vec![ValidationCode::Valid]);
    let v1 = Version { block: 1, tx: 0 };
    // The write, and the collection's write marker at the same version.
    assert_eq!(
        o.private_writes,
        vec![
            HashedStateWrite {
                namespace: CC.into(),
                collection: C12.into(),
                key_hash: collection_marker_hash(CC, C12),
                value_hash: Some(Hash32::ZERO),
                purge: false,
                version: v1,
            },
            HashedStateWrite {
                namespace: CC.into(),
                collection: C12.into(),
                key_hash: kh(C12, "k"),
                value_hash: h.writes[0].value_hash,
                purge: false,
                version: v1,
            }
        ]
    );

    let reading_value = |nonce, version, value| {
        let reads = vec![read_value(C12, "k", version, value)];
        invoke(nonce, rwset(vec![CollectionHashedRwSet { collection: C12.into(), reads, writes: vec![] }]))
    };
    let reading = |nonce, version| reading_value(nonce, version, "v");
    // A read at the current version of another value (a host handing its enclave an
    // older value under the current version) conflicts.
    let o = validate_commit(
        &l,
        vec![
            reading(2, None),
            reading(3, Some(Version { block: 0, tx: 0 })),
            reading_value(30, Some(v1), "older"),
            reading(4, Some(v1)),
        ],
    );
    assert_eq!(
        o.codes,
        vec![
            ValidationCode::MvccReadConflict,
            ValidationCode::MvccReadConflict,
            ValidationCode::MvccReadConflict,
            ValidationCode::Valid
        ]
    );
    assert!(o.private_writes.is_empty());

    // Written earlier in the same block: the read of the committed version conflicts.
    let (h2, _) = coll_writes(C12, vec![put("k", "v2")]);
    let o = validate_commit(&l, vec![invoke(5, rwset(vec![h2])), reading(6, Some(v1))]);
    assert_eq!(o.codes, vec![ValidationCode::Valid, ValidationCode::MvccReadConflict]);
    // A read of a key never written, recorded as absent, is fine.
    let c = CollectionHashedRwSet { collection: C12.into(), reads: vec![read(C12, "none", None)], writes: vec![] };
    assert_eq!(validate_commit(&l, vec![invoke(7, rwset(vec![c]))]).codes, vec![ValidationCode::Valid]);
    // A delete removes the hashed state: a read of the old version then conflicts.
    let (hd, _) = coll_writes(C12, vec![del("k")]);
    assert_eq!(validate_commit(&l, vec![invoke(8, rwset(vec![hd]))]).codes, vec![ValidationCode::Valid]);
    assert_eq!(l.snapshot().expect("snap").private_hash(CC, C12, &kh(C12, "k")).expect("hash"), None);
    assert_eq!(validate_commit(&l, vec![reading(9, Some(v1))]).codes, vec![ValidationCode::MvccReadConflict]);

    // A private range query reads the collection's write marker: valid while nothing was
    // written to the collection since, a conflict once anything was (a key added or
    // removed that a validator holding only hashes could not place in the range).
    let marker = collection_marker_hash(CC, C12);
    let at = l.snapshot().expect("snap").private_hash(CC, C12, &marker).expect("marker").expect("written");
    let ranging = |nonce| {
        let reads = vec![HashedRead { key_hash: marker, version: Some(at.version), value_hash: Some(Hash32::ZERO) }];
        invoke(nonce, rwset(vec![CollectionHashedRwSet { collection: C12.into(), reads, writes: vec![] }]))
    };
    assert_eq!(validate_commit(&l, vec![ranging(10)]).codes, vec![ValidationCode::Valid]);
    let (other_key, _) = coll_writes(C12, vec![put("other", "v")]);
    let o = validate_commit(&l, vec![invoke(11, rwset(vec![other_key])), ranging(12)]);
    assert_eq!(o.codes, vec![ValidationCode::Valid, ValidationCode::MvccReadConflict]);
    assert_eq!(validate_commit(&l, vec![ranging(13)]).codes, vec![ValidationCode::MvccReadConflict]);
}

#[test]
fn collections_must_exist_and_be_in_canonical_order() {
    let (_d, _p, l) = ledger();
    let one = |coll: &str, key: &str| coll_writes(coll, vec![put(key, "v")]).0;
    let two_keys = coll_writes(C12, vec![put("a", "1"), put("b", "2")]).0;
    let mut unsorted_writes = two_keys.clone();
    unsorted_writes.writes.reverse();
    let mut duplicate_writes = two_keys.clone();
    duplicate_writes.writes[1] = duplicate_writes.writes[0].clone();
    let mut unsorted_reads = two_keys.clone();
    unsorted_reads.reads = vec![read(C12, "a", None), read(C12, "b", None)];
    unsorted_reads.reads.sort_by_key(|r| std::cmp::Reverse(r.key_hash));
    let mut purge_with_value = one(C12, "p");
    purge_with_value.writes[0].purge = true;
    let mut sorted = vec![one(C12, "x"), one(CTL, "x")];
    sorted.sort_by(|a, b| a.collection.cmp(&b.collection));
    let mut reversed = sorted.clone();
    reversed.reverse();

    let cases: Vec<(Vec<CollectionHashedRwSet>, ValidationCode)> = vec![
        (vec![one("nope", "k")], ValidationCode::InvalidCollection),
        (reversed, ValidationCode::InvalidCollection),
        (vec![one(C12, "x"), one(C12, "y")], ValidationCode::InvalidCollection),
        (vec![unsorted_writes], ValidationCode::InvalidCollection),
        (vec![duplicate_writes], ValidationCode::InvalidCollection),
        (vec![unsorted_reads], ValidationCode::InvalidCollection),
        (vec![purge_with_value], ValidationCode::InvalidCollection),
        (vec![one(&implicit_collection_name("org9"), "k")], ValidationCode::InvalidCollection),
        (vec![one("_implicit_org_", "k")], ValidationCode::InvalidCollection),
        (vec![one(&implicit_collection_name("org3"), "k")], ValidationCode::Valid),
        (sorted, ValidationCode::Valid),
        (vec![two_keys], ValidationCode::Valid),
    ];
    let expected: Vec<ValidationCode> = cases.iter().map(|(_, c)| *c).collect();
    let txs = cases.into_iter().enumerate().map(|(i, (p, _))| invoke(10 + i as u64, rwset(p))).collect();
    let o = validate_commit(&l, txs);
    assert_eq!(o.codes, expected);
    // Only the valid transactions' hashed writes come out, each collection written with
    // its marker: (1 + 1) + (2 + 2) + (2 + 1).
    assert_eq!(o.private_writes.len(), 9);
    assert!(o.private_writes.iter().all(|w| [9, 10, 11].contains(&w.version.tx)));
}

#[test]
fn collection_endorsement_policies_are_enforced() {
    let (_d, _p, l) =
        ledger_with(&[definition(CC, "OR('org1.member','org2.member')"), definition("cc3", "OR('org3.member')")]);
    let (p1, p2, p3) = (&org("org1").peer, &org("org2").peer, &org("org3").peer);
    let cep = || coll_writes(CEP, vec![put("k", "v")]).0;
    let c12 = || coll_writes(C12, vec![put("k", "v")]).0;
    let public = |private: Vec<CollectionHashedRwSet>| ReadWriteSet {
        writes: vec![KvWrite { key: b"pub".to_vec(), value: Some(b"1".to_vec()) }],
        ..rwset(private)
    };
    let read_only = || {
        let c = CollectionHashedRwSet { collection: CEP.into(), reads: vec![read(CEP, "r", None)], writes: vec![] };
        rwset(vec![c])
    };
    let cases: Vec<(Transaction, ValidationCode)> = vec![
        // AND(org1, org2) on the collection, though the chaincode's OR is met.
        (invoke_of(CC, 1, rwset(vec![cep()]), &[p1]), ValidationCode::EndorsementPolicyFailure),
        (invoke_of(CC, 2, rwset(vec![cep()]), &[p1, p1]), ValidationCode::EndorsementPolicyFailure),
        (invoke_of(CC, 3, rwset(vec![cep()]), &[p1, p2]), ValidationCode::Valid),
        // No policy of its own: the chaincode's.
        (invoke_of(CC, 4, rwset(vec![c12()]), &[p2]), ValidationCode::Valid),
        (invoke_of(CC, 5, rwset(vec![c12()]), &[p3]), ValidationCode::EndorsementPolicyFailure),
        // Reading a collection with a policy: the chaincode's applies (read-only).
        (invoke_of(CC, 6, read_only(), &[p1]), ValidationCode::Valid),
        (invoke_of(CC, 7, read_only(), &[p3]), ValidationCode::EndorsementPolicyFailure),
        // cc3's policy is org3: a write only to cep needs org1 and org2, not org3...
        (invoke_of("cc3", 8, rwset(vec![cep()]), &[p1, p2]), ValidationCode::Valid),
        // ...but a public write as well needs both policies.
        (invoke_of("cc3", 9, public(vec![cep()]), &[p1, p2]), ValidationCode::EndorsementPolicyFailure),
        (invoke_of("cc3", 10, public(vec![cep()]), &[p1, p2, p3]), ValidationCode::Valid),
        // A write to c12 (no policy) in cc3 needs cc3's org3 besides cep's.
        (
            invoke_of("cc3", 11, rwset(vec![coll_writes(C12, vec![put("z", "v")]).0, cep()]), &[p1, p2]),
            ValidationCode::EndorsementPolicyFailure,
        ),
    ];
    let expected: Vec<ValidationCode> = cases.iter().map(|(_, c)| *c).collect();
    let o = validate_commit(&l, cases.into_iter().map(|(t, _)| t).collect());
    assert_eq!(o.codes, expected);
}

fn approve(nonce: u64, def: ChaincodeDefinition) -> Transaction {
    let admin = &org("org1").admin;
    let header = TxHeader {
        channel: CHANNEL.into(),
        creator: admin.identity().clone(),
        nonce: nonce.to_be_bytes().to_vec(),
        timestamp_ms: nonce,
    };
    let payload = TxPayload { header, body: TxBody::Lifecycle(LifecycleOp::Approve(def)) };
    let signature = admin.sign(&payload.hash().0);
    Transaction { payload, signature }
}

#[test]
fn a_bad_collection_config_makes_a_definition_invalid() {
    let (_d, _p, l) = ledger();
    let orgs: Vec<String> = ["org1", "org2", "org3"].map(String::from).to_vec();
    let good = definition("newcc", "OR('org1.member')");
    let mut foreign = good.clone();
    foreign.collections[0].member_policy = "OR('org9.member')".into();
    let mut counts = good.clone();
    counts.collections[1].max_peer_count = 0;
    counts.collections[1].required_peer_count = 1;
    let mut twice = good.clone();
    twice.collections.push(twice.collections[0].clone());

    assert!(lifecycle::check_definition(&good, &orgs).is_ok());
    let msg = lifecycle::check_definition(&counts, &orgs).expect_err("bad counts");
    assert!(msg.contains("maxPeerCount") && msg.contains(CEP), "{msg}");
    let msg = lifecycle::check_definition(&foreign, &orgs).expect_err("foreign org");
    assert!(msg.contains("policy") && msg.contains("org9"), "{msg}");
    // Without org9 in the channel it is foreign; with it, acceptable.
    assert!(lifecycle::check_definition(&foreign, &[orgs.clone(), vec!["org9".into()]].concat()).is_ok());

    let o = validate_commit(&l, vec![approve(1, foreign), approve(2, counts), approve(3, twice), approve(4, good)]);
    assert_eq!(
        o.codes,
        vec![
            ValidationCode::LifecycleInvalid,
            ValidationCode::LifecycleInvalid,
            ValidationCode::LifecycleInvalid,
            ValidationCode::Valid
        ]
    );
}
