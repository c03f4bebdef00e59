//! A malicious host against its own enclave (`../shared/reviews/`): a node's operator
//! answers its enclave's state reads with forged values (the [`ForgingHost`]), plants
//! keys, moves ciphertexts and shifts time. Each attack that once worked is now refused
//! by the enclave or made INVALID by every validator, with a named reason.

use crate::fixture::{admin, args, client, deploy, network, Net};
use std::time::{Duration, Instant};
use teechain_crypto::{derive_key, hpke_seal, DataKey, HpkePublicKey, HpkeSecretKey, SigningIdentity};
use teechain_enclave::forging::ForgingHost;
use teechain_enclave::host::ViewHost;
use teechain_enclave::protocol::FailureKind;
use teechain_enclave::EnclaveError;
use teechain_node::{Gateway, LocalNetwork};
use teechain_types::chaincode::Invocation;
use teechain_types::codec::{decode, encode, Limits};
use teechain_types::collection::{private_key_hash, CollectionConfig, HashedValue, PrivateValue};
use teechain_types::hash::Signature;
use teechain_types::keys::{key_state_key, wrap_info, KeyRecord, KeyScope, WrappedKey, KEYS_NAMESPACE};
use teechain_types::state::StateView;
use teechain_types::tx::{transient_digest, LifecycleOp, Proposal, SignedProposal, TxHeader};
use teechain_types::{ValidationCode, Version, VersionedValue};

const ALL_ORGS: &str = "OR('org1.member','org2.member','org3.member')";

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_millis() as u64
}

/// A signed auction proposal with a chosen time.
fn proposal(id: &SigningIdentity, channel: &str, timestamp_ms: u64, function: &str, a: &[&str]) -> SignedProposal {
    let nonce: [u8; 24] = rand::random();
    let proposal = Proposal {
        header: TxHeader {
            channel: channel.into(),
            creator: id.identity().clone(),
            nonce: nonce.to_vec(),
            timestamp_ms,
        },
        chaincode: "auction".into(),
        invocation: Invocation { function: function.into(), args: args(a) },
        sealed: None,
        transient_digest: transient_digest(&[]),
    };
    let signature = id.sign(&proposal.hash().0);
    SignedProposal { proposal, signature }
}

fn state_value(net: &LocalNetwork, key: &str) -> Option<VersionedValue> {
    net.peers()[0].ledger().snapshot().expect("snapshot").get("auction", key.as_bytes()).expect("read")
}

/// An auction network: org2 bid 7314159 then 9161803, org3 8271828, on auction "art"
/// ending at `end`. Returns org2's first sealed bid.
fn auction(n: &Net, end: u64) -> VersionedValue {
    deploy(&n.net, "auction", teechain_contracts::AUCTION, ALL_ORGS);
    let (org1, org2, org3) = (client(&n.net, "org1"), client(&n.net, "org2"), client(&n.net, "org3"));
    let policy = n.net.config().channel.attestation.policy().expect("policy");
    let key = org2.chaincode_key(&n.net, "auction", &policy).expect("chaincode key");
    org1.invoke(&n.net, "auction", "open", args(&["art", &end.to_string()]), &[]).expect("open");
    org2.invoke_confidential(&n.net, &key, "bid", args(&["art", "7314159"]), &[]).expect("first bid");
    let first = state_value(&n.net, "bid/art/org2").expect("org2's bid");
    org3.invoke_confidential(&n.net, &key, "bid", args(&["art", "8271828"]), &[]).expect("org3's bid");
    org2.invoke_confidential(&n.net, &key, "bid", args(&["art", "9161803"]), &[]).expect("second bid");
    first
}

/// Attack B, its value half: after the deadline, the auctioneer's host answers the bid
/// range with the right keys and versions but org2's older, lower sealed bid. The range
/// read now binds every value's hash: PHANTOM_READ_CONFLICT, and the honest end names
/// org2 at 9161803.
#[test]
fn attack_b_a_forged_range_value_is_invalid() {
    let n = network();
    let end = now_ms() + 3_000;
    let org2_first = auction(&n, end);
    let deadline = Instant::now() + Duration::from_secs(30);
    while now_ms() <= end {
        assert!(Instant::now() < deadline, "the clock did not pass the auction's end");
        std::thread::sleep(Duration::from_millis(50));
    }
    let org1 = client(&n.net, "org1");
    let peer1 = &n.net.peers()[0];
    let snap = peer1.ledger().snapshot().expect("snapshot");
    let honest = snap.range("auction", b"bid/art/", b"bid/art0", 100).expect("range");
    assert_eq!(honest.len(), 2);
    let forged: Vec<_> = honest
        .iter()
        .map(|(k, v)| match k.as_slice() {
            b"bid/art/org2" => (k.clone(), VersionedValue { value: org2_first.value.clone(), version: v.version }),
            _ => (k.clone(), v.clone()),
        })
        .collect();
    let host = ForgingHost::new(&snap).forge_range("auction", b"bid/art/", forged);
    let sp = org1.propose("auction", "end", args(&["art"]), &[]);
    let endorsed = peer1.enclave().endorse(&ViewHost(&host), sp.clone(), vec![]).expect("the enclave cannot tell");
    let winner = String::from_utf8(endorsed.response.response.payload.clone()).expect("utf8");
    assert!(winner.contains("org3"), "the forged range makes org3 win: {winner}");
    drop(snap);
    let tx = org1.assemble(&sp, &[endorsed.response]).expect("assemble");
    let outcome = n.net.submit(tx).expect("submit");
    assert_eq!(outcome.code, ValidationCode::PhantomReadConflict);
    assert!(state_value(&n.net, "result/art").is_none(), "no result was committed");

    let committed = org1.invoke(&n.net, "auction", "end", args(&["art"]), &[]).expect("honest end");
    let result = String::from_utf8(committed.response.payload).expect("utf8");
    assert!(result.contains("\"winner\":\"org2\"") && result.contains("9161803"), "{result}");
}

/// Attack B, its time half: the auctioneer's host endorses `end` ten minutes before the
/// deadline with a proposal that claims a time after it. The chaincode believes the
/// proposal's time, but validation holds it to the block's: PROPOSAL_TIME_OUT_OF_WINDOW.
#[test]
fn attack_b_an_early_end_is_outside_the_time_window() {
    let n = network();
    let end = now_ms() + 600_000;
    auction(&n, end);
    let org1 = client(&n.net, "org1");
    let id1 = n.net.user("org1", "client").expect("identity");
    let peer1 = &n.net.peers()[0];
    let sp = proposal(&id1, n.net.channel(), end + 1, "end", &["art"]);
    let snap = peer1.ledger().snapshot().expect("snapshot");
    let endorsed = peer1.enclave().endorse(&ViewHost(&snap), sp.clone(), vec![]).expect("endorse");
    drop(snap);
    let outcome = n.net.submit(org1.assemble(&sp, &[endorsed.response]).expect("assemble")).expect("submit");
    assert_eq!(outcome.code, ValidationCode::ProposalTimeOutOfWindow);
    assert!(state_value(&n.net, "result/art").is_none());
    // Within the window the same call is refused by the chaincode itself.
    let refused = org1.invoke(&n.net, "auction", "end", args(&["art"]), &[]).expect_err("too early");
    assert!(refused.to_string().contains("runs until"), "{refused}");
}

/// Attack C: org1's host plants key records for a chaincode-key epoch 1 whose secret it
/// knows: with no signature, with a genuine record's signature over another public key,
/// and as a genuine record of another epoch. The enclave refuses each
/// (FORGED_KEY_RECORD) and, answered honestly again, seals under the real epoch only.
#[test]
fn attack_c_a_planted_key_is_refused() {
    let n = network();
    auction(&n, now_ms() + 600_000);
    let org3 = client(&n.net, "org3");
    let peer1 = &n.net.peers()[0];
    let ch = n.net.channel().to_string();
    let scope = KeyScope::Chaincode { namespace: "auction".into() };
    let info = peer1.enclave().info().expect("info");
    let host_secret = HpkeSecretKey::generate();
    let wrap = {
        let ct = hpke_seal(
            &HpkePublicKey(info.keys.hpke_key),
            &wrap_info(&ch, &scope, 1),
            &info.id().0,
            &host_secret.to_bytes(),
        )
        .expect("wrap");
        WrappedKey { enclave: info.id(), enc: ct.enc, ciphertext: ct.ciphertext }
    };
    let snap = peer1.ledger().snapshot().expect("snapshot");
    let real: KeyRecord = decode(
        &snap.get(KEYS_NAMESPACE, &key_state_key(&scope, 0)).expect("read").expect("epoch 0").value,
        Limits::RECORD,
    )
    .expect("record");
    let unsigned = KeyRecord {
        scope: scope.clone(),
        epoch: 1,
        public_key: Some(host_secret.public_key().0),
        wraps: vec![wrap.clone()],
        made_by: info.id(),
        signature: Signature([0; 64]),
        first_wraps: 1,
        first_sealed_version: 0,
        made_at: Version { block: 0, tx: 0 },
    };
    let other_key =
        KeyRecord { epoch: 1, public_key: Some(host_secret.public_key().0), wraps: vec![wrap], ..real.clone() };
    let other_epoch = real.clone();
    let policy = n.net.config().channel.attestation.policy().expect("policy");
    let key = org3.chaincode_key(&n.net, "auction", &policy).expect("chaincode key");
    for (what, record) in [("unsigned", unsigned), ("re-keyed", other_key), ("another epoch's", other_epoch)] {
        let at = Version { block: 1, tx: 0 };
        let host = ForgingHost::new(&snap).forge_get(
            KEYS_NAMESPACE,
            &key_state_key(&scope, 1),
            Some(VersionedValue { value: encode(&record), version: at }),
        );
        let (sp, _) = org3.propose_confidential(&key, "bid", args(&["art", "4242"]), &[]).expect("propose");
        match peer1.enclave().endorse(&ViewHost(&host), sp, vec![]) {
            Err(EnclaveError::Failed { kind: FailureKind::ForgedKeyRecord, .. }) => {}
            other => panic!("the {what} record was not refused: {:?}", other.map(|_| ())),
        }
    }
    // Answered honestly, the enclave seals under epoch 0, which the host cannot open.
    let (sp, _) = org3.propose_confidential(&key, "bid", args(&["art", "5353"]), &[]).expect("propose");
    let e = peer1.enclave().endorse(&ViewHost(&snap), sp, vec![]).expect("endorse honestly");
    let w = e.response.payload.rwset.writes.iter().find(|w| w.key == b"bid/art/org3").expect("bid written");
    let sealed = w.value.as_ref().expect("a value");
    assert_eq!(sealed[..4], 0u32.to_be_bytes(), "sealed under the real epoch");
    // The planted key would open it with exactly this additional data, had the enclave
    // sealed under the planted epoch.
    let host_key =
        DataKey::from_bytes(derive_key(&host_secret.to_bytes(), b"teechain/state-sealing/v1", &[b"auction"]));
    let aad =
        encode(&(b"teechain/sealed-state/v2".as_slice(), ch.as_str(), "auction", b"bid/art/org3".as_slice(), 1u32));
    assert!(host_key.open(sealed[4..16].try_into().expect("nonce"), &aad, &sealed[16..]).is_err());
}

/// Attack A, its moving half: org3's host asks its own enclave to `end` a fabricated
/// auction whose only bid is org2's live sealed bid copied from `bid/art/org2`. Sealed
/// values are bound to their key: the copy does not open, and nothing of the bid leaks.
#[test]
fn a_sealed_value_moved_to_another_key_does_not_open() {
    let n = network();
    auction(&n, now_ms() + 600_000);
    let peer3 = &n.net.peers()[2];
    let snap = peer3.ledger().snapshot().expect("snapshot");
    let bid = snap.get("auction", b"bid/art/org2").expect("read").expect("org2's bid");
    let fake = VersionedValue { value: b"org3\n0".to_vec(), version: Version { block: 1, tx: 0 } };
    let host = ForgingHost::new(&snap).forge_get("auction", b"auction/fake", Some(fake)).forge_range(
        "auction",
        b"bid/fake/",
        vec![(b"bid/fake/org2".to_vec(), bid)],
    );
    let id3 = n.net.user("org3", "client").expect("identity");
    let err = peer3
        .enclave()
        .evaluate(&ViewHost(&host), proposal(&id3, n.net.channel(), now_ms(), "end", &["fake"]), vec![])
        .expect_err("the moved bid must not open");
    let message = err.to_string();
    assert!(message.contains("does not open"), "{message}");
    assert!(!message.contains("9161803") && !message.contains("7314159"), "{message}");
}

/// Attack D: a member's host hands its enclave org1's old private balance (100) under
/// the current version (after a transfer of 60), with the matching old hash. The private
/// read now binds the value hash: MVCC_READ_CONFLICT, and no money appears.
#[test]
fn attack_d_a_stale_private_read_is_invalid() {
    let n = network();
    n.net.install(teechain_contracts::PAYMENT).expect("install");
    let mut def =
        crate::fixture::definition("payment", teechain_contracts::PAYMENT, 1, "OR('org1.member','org2.member')");
    def.collections = vec![CollectionConfig { name: "org1org2".into(), ..teechain_enclave::testing::shared() }];
    for org in ["org1", "org2", "org3"] {
        let o = n.net.submit(admin(&n.net, org).lifecycle(LifecycleOp::Approve(def.clone()))).expect("approve");
        assert!(o.code.is_valid());
    }
    assert!(n.net.submit(admin(&n.net, "org1").lifecycle(LifecycleOp::Commit(def))).expect("commit").code.is_valid());
    let org1 = client(&n.net, "org1");
    org1.invoke(&n.net, "payment", "init_private", args(&["org1org2", "org1", "org2"]), &[]).expect("init");
    let peer1 = &n.net.peers()[0];
    let kh = private_key_hash("payment", "org1org2", b"balance/org1");
    let (old_value, old_hash) = {
        let snap = peer1.ledger().snapshot().expect("snapshot");
        let v = snap.private_get("payment", "org1org2", b"balance/org1").expect("read").expect("value");
        (v, snap.private_hash("payment", "org1org2", &kh).expect("read").expect("hash"))
    };
    let amount = |a: &str| vec![("amount".to_string(), a.as_bytes().to_vec())];
    org1.invoke(&n.net, "payment", "transfer_private", args(&["org1org2", "org1", "org2"]), &amount("60"))
        .expect("transfer 60");
    let balance = |who: &str| {
        let sp = client(&n.net, who).propose("payment", "balance_private", args(&["org1org2", who]), &[]);
        String::from_utf8(peer1.evaluate(&sp, &[]).expect("balance").payload).expect("utf8")
    };
    assert_eq!((balance("org1"), balance("org2")), ("40".to_string(), "160".to_string()));

    let snap = peer1.ledger().snapshot().expect("snapshot");
    let current = snap.private_hash("payment", "org1org2", &kh).expect("read").expect("hash");
    let stale = PrivateValue { value: old_value.value.clone(), blind: old_value.blind, version: current.version };
    let stale_hash = HashedValue { value_hash: old_hash.value_hash, version: current.version };
    let host = ForgingHost::new(&snap).forge_private(
        "payment",
        "org1org2",
        b"balance/org1",
        kh,
        Some(stale),
        Some(stale_hash),
    );
    let transient = teechain_client::with_blinding_secret(&amount("90"));
    let sp = org1.propose("payment", "transfer_private", args(&["org1org2", "org1", "org2"]), &transient);
    let e = peer1.enclave().endorse(&ViewHost(&host), sp.clone(), transient).expect("the enclave cannot tell");
    drop(snap);
    if let Some(p) = &e.private {
        for peer in &n.net.peers()[..2] {
            peer.accept_private(p.clone()).expect("accept");
        }
    }
    let outcome = n.net.submit(org1.assemble(&sp, &[e.response]).expect("assemble")).expect("submit");
    assert_eq!(outcome.code, ValidationCode::MvccReadConflict);
    assert_eq!((balance("org1"), balance("org2")), ("40".to_string(), "160".to_string()), "no money appeared");
}

/// After a rotation of the chaincode key, org1's host hides the new epoch from its
/// enclave, which then seals a bid under the old one. The read-write set names the epoch
/// it sealed under as the latest: KEY_EPOCH_CONFLICT. Answered honestly, the bid seals
/// under the new epoch and commits.
#[test]
fn a_hidden_key_epoch_is_invalid() {
    let n = network();
    auction(&n, now_ms() + 600_000);
    let org3 = client(&n.net, "org3");
    let policy = n.net.config().channel.attestation.policy().expect("policy");
    // The call itself is sealed to epoch 0 (a client may use any epoch it verified).
    let key = org3.chaincode_key(&n.net, "auction", &policy).expect("chaincode key");
    assert_eq!(key.epoch, 0);
    let admin2 = n.net.user("org2", "admin").expect("admin");
    let scope = KeyScope::Chaincode { namespace: "auction".into() };
    let rotation = teechain_node::registry::rotation_tx(&admin2, n.net.channel(), scope.clone());
    assert!(n.net.submit(rotation).expect("rotation").code.is_valid());
    let peer1 = &n.net.peers()[0];
    assert_eq!(org3.chaincode_key(&n.net, "auction", &policy).expect("key").epoch, 1, "the rotation made epoch 1");
    let bid = |amount: &str, hide: bool| {
        let snap = peer1.ledger().snapshot().expect("snapshot");
        let mut host = ForgingHost::new(&snap);
        if hide {
            host = host.forge_get(KEYS_NAMESPACE, &key_state_key(&scope, 1), None);
        }
        let (sp, _) = org3.propose_confidential(&key, "bid", args(&["art", amount]), &[]).expect("propose");
        let e = peer1.enclave().endorse(&ViewHost(&host), sp.clone(), vec![]).expect("endorse");
        let written = e.response.payload.rwset.writes.iter().find(|w| w.key == b"bid/art/org3").cloned();
        let epoch = u32::from_be_bytes(written.expect("bid").value.expect("value")[..4].try_into().expect("epoch"));
        drop(snap);
        let tx = org3.assemble(&sp, &[e.response]).expect("assemble");
        (epoch, n.net.submit(tx).expect("submit").code)
    };
    assert_eq!(bid("4242", true), (0, ValidationCode::KeyEpochConflict));
    assert_eq!(bid("4343", false), (1, ValidationCode::Valid));
}

/// A host answers a history query with the key's history less its latest change. The
/// query is in the read-write set and every validator runs it again: MVCC_READ_CONFLICT;
/// answered honestly, the same call commits.
#[test]
fn a_forged_history_is_invalid() {
    let n = crate::fixture::testbed_network("OR('org1.member')");
    let org1 = client(&n.net, "org1");
    for v in ["first", "second"] {
        org1.invoke(&n.net, "testbed", "put", args(&["k", v]), &[]).expect("put");
    }
    let peer1 = &n.net.peers()[0];
    let call = |forge: bool| {
        let snap = peer1.ledger().snapshot().expect("snapshot");
        let mut honest = snap.history("testbed", b"k", 100).expect("history");
        assert_eq!(honest.len(), 2);
        let mut host = ForgingHost::new(&snap);
        if forge {
            honest.pop();
            host = host.forge_history("testbed", b"k", honest);
        }
        let sp = org1.propose("testbed", "history", args(&["k"]), &[]);
        let e = peer1.enclave().endorse(&ViewHost(&host), sp.clone(), vec![]).expect("endorse");
        drop(snap);
        n.net.submit(org1.assemble(&sp, &[e.response]).expect("assemble")).expect("submit").code
    };
    assert_eq!(call(true), ValidationCode::MvccReadConflict);
    assert_eq!(call(false), ValidationCode::Valid);
}
