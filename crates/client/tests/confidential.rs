use crate::fixture::{args, client, payment_network, testbed_network, PAYMENT_POLICY};
use teechain_attestation::{AttestationPolicy, PlatformKey, VirtualPolicy};
use teechain_client::confidential::verify_chaincode_key;
use teechain_client::ClientError;
use teechain_node::{Gateway, NodeError};
use teechain_types::codec::encode;
use teechain_types::tx::TxBody;

fn channel_policy(n: &crate::fixture::Net) -> AttestationPolicy {
    n.net.config().channel.attestation.policy().expect("policy")
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn a_confidential_invocation_is_sealed_on_the_ledger_and_its_response_opens_for_the_client() {
    let n = testbed_network(PAYMENT_POLICY);
    let alice = client(&n.net, "org1");
    let key = alice.chaincode_key(&n.net, "testbed", &channel_policy(&n)).expect("verified key");
    assert_eq!((key.chaincode.as_str(), key.epoch, key.platform.name()), ("testbed", 0, "virtual"));

    // `caller` ignores its arguments: the marker travels only inside the sealed input.
    let marker = "CONFIDENTIAL-ARGUMENT-7f3a";
    let (committed, opened) =
        alice.invoke_confidential(&n.net, &key, "caller", args(&[marker]), &[]).expect("confidential invoke");
    assert_eq!(opened.payload, b"org1");
    assert!(!contains(&committed.response.payload, b"org1"), "the response travels sealed");

    // Transient data travels inside the sealed invocation: the chaincode reads it, the
    // gateway's proposal and the ledger do not hold it.
    let transient_marker = b"CONFIDENTIAL-TRANSIENT-91c4";
    let transient = vec![("secret".to_string(), transient_marker.to_vec())];
    let (proposal, response_key) =
        alice.propose_confidential(&key, "transient", args(&["secret"]), &transient).expect("propose");
    assert!(!contains(&encode(&proposal), transient_marker), "the proposal holds the transient value");
    let endorsed = n.net.endorse(&proposal, &[]).expect("endorse");
    assert_eq!(response_key.open(&endorsed[0].response).expect("opens").payload, transient_marker);
    let (committed_t, opened) =
        alice.invoke_confidential(&n.net, &key, "transient", args(&["secret"]), &transient).expect("invoke");
    assert_eq!(opened.payload, transient_marker);
    for peer in n.net.peers() {
        let block = peer.ledger().block(committed_t.block).expect("read").expect("block");
        assert!(!contains(&encode(&block), transient_marker), "{} holds the transient value", peer.name());
    }
    // A host that adds plaintext transient data to a sealed call is refused.
    let forged = vec![("secret".to_string(), b"host's".to_vec())];
    let err = n.net.endorse(&proposal, &forged).expect_err("plaintext transient with a sealed call");
    assert!(err.to_string().contains("transient"), "{err}");
    // Sealed calls and responses are padded to size buckets: a call and an answer carrying
    // a balance of 9 seal to the same sizes as ones carrying 10,000,000.
    let sealed_len = |value: &[u8]| {
        let t = vec![("v".to_string(), value.to_vec())];
        let (p, _) = alice.propose_confidential(&key, "transient", args(&["v"]), &t).expect("propose");
        let call = p.proposal.sealed.as_ref().expect("sealed").ciphertext.len();
        (call, n.net.evaluate(&p, &[]).expect("evaluate").payload.len())
    };
    assert_eq!(sealed_len(b"9"), sealed_len(b"10000000"));

    for peer in n.net.peers() {
        let block = peer.ledger().block(committed.block).expect("read").expect("block");
        let tx = block.transactions.iter().find(|t| t.tx_id() == committed.tx_id).expect("tx");
        let TxBody::Invoke(inv) = &tx.payload.body else { panic!("an invocation") };
        assert!(inv.invocation.function.is_empty() && inv.invocation.args.is_empty());
        assert!(inv.sealed.is_some());
        assert!(!contains(&encode(&block), marker.as_bytes()), "{} holds the argument in plaintext", peer.name());
    }

    // Queries are sealed too, and a refusal's reason reaches only the client.
    let got = alice.query_confidential(&n.net, &key, "caller", Vec::new()).expect("query");
    assert_eq!(got.payload, b"org1");
    let reason = "REFUSAL-REASON-ONLY-FOR-ALICE";
    match alice.invoke_confidential(&n.net, &key, "refuse", args(&[reason]), &[]) {
        Err(ClientError::Refused(r)) => assert!(r.contains(reason), "{r}"),
        other => panic!("expected a sealed refusal, got {other:?}"),
    }
    // The host sees an endorsement like a success's (no writes): the refusal and its
    // reason are inside the sealed response.
    let (proposal, response_key) = alice.propose_confidential(&key, "refuse", args(&[reason]), &[]).expect("propose");
    let host_view = n.net.endorse(&proposal, &[]).expect("a refusal is endorsed, sealed");
    assert!(host_view[0].response.is_ok() && host_view[0].payload.rwset.writes.is_empty());
    assert!(!contains(&encode(&host_view), reason.as_bytes()), "the gateway sees the reason");
    let opened = response_key.open(&host_view[0].response).expect("opens");
    assert!(!opened.is_ok() && opened.message.contains(reason), "{opened:?}");
    // So is a panic's message (a trap's would be too).
    let panic = "PANIC-MESSAGE-ONLY-FOR-ALICE";
    match alice.query_confidential(&n.net, &key, "panic", args(&[panic])) {
        Err(ClientError::Refused(r)) => assert!(r.contains(panic), "{r}"),
        other => panic!("expected a sealed failure, got {other:?}"),
    }
    let (proposal, _) = alice.propose_confidential(&key, "panic", args(&[panic]), &[]).expect("propose");
    let host_view = n.net.evaluate(&proposal, &[]).expect_err("fails").to_string();
    assert!(!host_view.contains(panic), "the gateway sees the panic: {host_view}");
}

#[test]
fn a_client_refuses_a_chaincode_key_it_cannot_verify() {
    let n = payment_network();
    let alice = client(&n.net, "org1");
    let found = n.net.chaincode_key("payment").expect("read").expect("payment has a key");
    let channel = n.net.channel().to_string();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    verify_chaincode_key(&channel, "payment", &found, &channel_policy(&n), now)
        .expect("the channel's policy trusts it");

    let untrusting = AttestationPolicy {
        virtual_platform: Some(VirtualPolicy {
            trusted_platform_keys: vec![PlatformKey::generate().public_key()],
            allowed_measurements: None,
        }),
        sgx: None,
    };
    let err = alice.chaincode_key(&n.net, "payment", &untrusting).expect_err("untrusted platform");
    assert!(matches!(&err, ClientError::UntrustedKey { .. }) && err.to_string().contains("evidence"), "{err}");
    let err = alice.chaincode_key(&n.net, "payment", &AttestationPolicy::default()).expect_err("no platform");
    assert!(matches!(err, ClientError::UntrustedKey { .. }), "{err}");

    // A host that swaps in a key of its own cannot produce the enclave's signature.
    let mut swapped = found.clone();
    swapped.0.public_key = Some(teechain_crypto::HpkeSecretKey::generate().public_key().0);
    let err = verify_chaincode_key(&channel, "payment", &swapped, &channel_policy(&n), now).expect_err("swapped");
    assert!(err.to_string().contains("signature"), "{err}");
    // Evidence of another enclave does not vouch for this one.
    let mut tampered = found.clone();
    tampered.1.registration.evidence[10] ^= 1;
    assert!(verify_chaincode_key(&channel, "payment", &tampered, &channel_policy(&n), now).is_err());
    assert!(verify_chaincode_key(&channel, "other", &found, &channel_policy(&n), now).is_err());
    assert!(verify_chaincode_key("other-channel", "payment", &found, &channel_policy(&n), now).is_err());
}

#[test]
fn an_invocation_sealed_to_another_key_does_not_open() {
    let n = payment_network();
    let alice = client(&n.net, "org1");
    let mut key = alice.chaincode_key(&n.net, "payment", &channel_policy(&n)).expect("key");
    key.public_key = teechain_crypto::HpkeSecretKey::generate().public_key();
    let (proposal, _) = alice.propose_confidential(&key, "transfer", args(&["org1", "org2", "1"]), &[]).expect("p");
    match n.net.endorse(&proposal, &[]) {
        Err(NodeError::Enclave(e)) => assert!(e.to_string().contains("does not open"), "{e}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn a_confidential_payment_moves_money_like_a_public_one() {
    let n = payment_network();
    let alice = client(&n.net, "org1");
    let key = alice.chaincode_key(&n.net, "payment", &channel_policy(&n)).expect("key");
    alice.invoke_confidential(&n.net, &key, "transfer", args(&["org1", "org2", "10"]), &[]).expect("transfer");
    assert_eq!((crate::fixture::balance(&n.net, "org1"), crate::fixture::balance(&n.net, "org2")), (90, 110));
    match alice.invoke_confidential(&n.net, &key, "transfer", args(&["org1", "org2", "1000"]), &[]) {
        Err(ClientError::Refused(reason)) => assert!(reason.contains("insufficient"), "{reason}"),
        other => panic!("an overdraft is refused, got {other:?}"),
    }
}

/// The sealed-bid auction: bids sealed in the invocation and in state; no block of any
/// node holds a bid in plaintext; the enclave names the winner after the end; each
/// bidder's receipt (the bid hash) matches the sealed value on the ledger, which
/// registered enclaves signed.
#[test]
fn a_sealed_bid_auction_names_the_winner_and_no_ledger_holds_a_bid() {
    use teechain_types::codec::decode;
    use teechain_types::enclave::{enclave_state_key, RegisteredEnclave, ENCLAVE_NAMESPACE};
    use teechain_types::state::StateView;
    let n = crate::fixture::network();
    crate::fixture::deploy(
        &n.net,
        "auction",
        teechain_contracts::AUCTION,
        "OR('org1.member','org2.member','org3.member')",
    );
    let (org1, org2, org3) = (client(&n.net, "org1"), client(&n.net, "org2"), client(&n.net, "org3"));
    let key = org2.chaincode_key(&n.net, "auction", &channel_policy(&n)).expect("key");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
    let end = now + 1_500;
    org1.invoke(&n.net, "auction", "open", args(&["art", &end.to_string()]), &[]).expect("open");

    let bids = [(&org2, "7314159"), (&org3, "8271828"), (&org2, "9161803")];
    let mut receipts = Vec::new();
    for (who, amount) in bids {
        let (committed, opened) =
            who.invoke_confidential(&n.net, &key, "bid", args(&["art", amount]), &[]).expect("bid");
        receipts.push((committed, String::from_utf8(opened.payload).expect("utf8")));
    }
    match org1.invoke_confidential(&n.net, &key, "bid", args(&["art", "5"]), &[]) {
        Err(ClientError::Refused(r)) => assert!(r.contains("auctioneer"), "{r}"),
        other => panic!("the auctioneer may not bid: {other:?}"),
    }
    assert!(org1.invoke(&n.net, "auction", "end", args(&["art"]), &[]).is_err(), "not before the end");

    // Wait for the end (proposal time decides), then the auctioneer ends it.
    while std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64 <= end {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let ended = org1.invoke(&n.net, "auction", "end", args(&["art"]), &[]).expect("end");
    let result = String::from_utf8(ended.response.payload).expect("utf8");
    assert!(result.contains("\"winner\":\"org2\"") && result.contains("\"price\":9161803"), "{result}");
    assert!(result.contains("\"bids\":2"), "{result}");

    // The winning price is published by `end`; no other bid is ever in a block.
    for peer in n.net.peers() {
        for b in 0..peer.ledger().height() {
            let block = encode(&peer.ledger().block(b).expect("read").expect("block"));
            let secret = if b < ended.block { &bids[..] } else { &bids[..2] };
            for (_, amount) in secret {
                let le = amount.parse::<u64>().unwrap().to_le_bytes();
                assert!(!contains(&block, amount.as_bytes()) && !contains(&block, &le), "{} block {b}", peer.name());
            }
        }
    }
    // A receipt: the bid hash the enclave reported is the hash of the sealed value the
    // transaction wrote, and a registered enclave signed that transaction.
    let (committed, receipt) = &receipts[2];
    let ledger = n.net.peers()[2].ledger();
    let block = ledger.block(committed.block).expect("read").expect("block");
    let tx = block.transactions.iter().find(|t| t.tx_id() == committed.tx_id).expect("tx");
    let TxBody::Invoke(inv) = &tx.payload.body else { panic!("an invocation") };
    let write = inv.response.rwset.writes.iter().find(|w| w.key == b"bid/art/org2").expect("the bid write");
    let sealed = write.value.as_ref().expect("a value");
    assert!(receipt.contains(&teechain_types::sha256(sealed).to_hex()), "{receipt}");
    let e = &inv.endorsements[0];
    let snap = ledger.snapshot().expect("snap");
    let reg = snap.get(ENCLAVE_NAMESPACE, &enclave_state_key(&e.enclave)).expect("read").expect("registered");
    let reg: RegisteredEnclave = decode(&reg.value, teechain_types::codec::Limits::RECORD).expect("record");
    let vk = teechain_crypto::VerifyingKey::from_bytes(&reg.registration.keys.signing_key).expect("key");
    teechain_crypto::verify(&vk, &inv.response.hash().0, &e.signature).expect("the enclave signed the bid");
}

/// Payment's confidential mode: sealed arguments and sealed balances. Transfers run in
/// the enclaves of org1 and org2 (the policy); no block of any node holds an amount or
/// a balance, and only an account's owner reads it.
#[test]
fn confidential_payments_leave_no_amount_or_balance_on_any_ledger() {
    let n = payment_network();
    let (org1, org2, org3) = (client(&n.net, "org1"), client(&n.net, "org2"), client(&n.net, "org3"));
    let key = org1.chaincode_key(&n.net, "payment", &channel_policy(&n)).expect("key");
    org1.invoke_confidential(&n.net, &key, "init_sealed", args(&["10000000", "org1", "org2", "org3"]), &[])
        .expect("init");
    let (paid, _) = org1
        .invoke_confidential(&n.net, &key, "transfer_sealed", args(&["org1", "org2", "7314159"]), &[])
        .expect("transfer");
    let read = |c: &teechain_client::Client, account: &str| {
        c.query_confidential(&n.net, &key, "balance_sealed", args(&[account])).map(|r| r.payload)
    };
    assert_eq!(read(&org1, "org1").expect("org1 reads its own"), b"2685841");
    assert_eq!(read(&org2, "org2").expect("org2 reads its own"), b"17314159");
    match read(&org3, "org1") {
        Err(ClientError::Refused(r)) => assert!(r.contains("may not read"), "{r}"),
        other => panic!("org3 must not read org1's balance: {other:?}"),
    }
    match org1.invoke_confidential(&n.net, &key, "transfer_sealed", args(&["org1", "org2", "9999999"]), &[]) {
        Err(ClientError::Refused(r)) => assert!(r.contains("insufficient"), "{r}"),
        other => panic!("an overdraft is refused: {other:?}"),
    }
    let TxBody::Invoke(inv) =
        &n.net.peers()[0].ledger().block(paid.block).unwrap().unwrap().transactions[0].payload.body
    else {
        panic!("an invocation")
    };
    let signers: Vec<&str> = inv.endorsements.iter().map(|e| e.org.as_str()).collect();
    assert_eq!(signers, ["org1", "org2"], "the transfer ran in org1's and org2's enclaves");
    for peer in n.net.peers() {
        for b in 0..peer.ledger().height() {
            let block = encode(&peer.ledger().block(b).expect("read").expect("block"));
            for secret in [7_314_159u64, 2_685_841, 17_314_159, 10_000_000] {
                assert!(!contains(&block, secret.to_string().as_bytes()), "{} block {b}: {secret}", peer.name());
                assert!(!contains(&block, &secret.to_le_bytes()), "{} block {b}: {secret} (LE)", peer.name());
            }
        }
    }
}

/// Two rotations of the payment chaincode's key: each makes a new epoch that new calls
/// and new sealed state use; balances sealed under epochs 0 and 1 still open under
/// epoch 2, and a client holding the epoch-0 key is still understood.
#[test]
fn history_decrypts_after_two_rotations() {
    use teechain_types::keys::KeyScope;
    use teechain_types::state::StateView;
    let n = payment_network();
    let org1 = client(&n.net, "org1");
    let policy = channel_policy(&n);
    let rotate = |by: &str| {
        let admin = n.net.user(by, "admin").expect("admin");
        let scope = KeyScope::Chaincode { namespace: "payment".into() };
        n.net.submit(teechain_node::registry::rotation_tx(&admin, n.net.channel(), scope)).expect("rotation").code
    };
    let sealed_epoch = |account: &str| {
        let snap = n.net.peers()[0].ledger().snapshot().expect("snap");
        let v = snap.get("payment", format!("sealed/{account}").as_bytes()).expect("read").expect("sealed balance");
        u32::from_be_bytes(v.value[..4].try_into().expect("epoch"))
    };
    let key0 = org1.chaincode_key(&n.net, "payment", &policy).expect("key");
    assert_eq!(key0.epoch, 0);
    org1.invoke_confidential(&n.net, &key0, "init_sealed", args(&["1000", "org1", "org2", "org3"]), &[]).expect("init");

    assert!(rotate("org2").is_valid());
    let key1 = org1.chaincode_key(&n.net, "payment", &policy).expect("key");
    assert_eq!(key1.epoch, 1);
    assert_ne!(key1.public_key, key0.public_key);
    org1.invoke_confidential(&n.net, &key1, "transfer_sealed", args(&["org1", "org2", "100"]), &[]).expect("pay");
    assert_eq!((sealed_epoch("org1"), sealed_epoch("org2"), sealed_epoch("org3")), (1, 1, 0));

    assert!(rotate("org3").is_valid());
    let key2 = org1.chaincode_key(&n.net, "payment", &policy).expect("key");
    assert_eq!(key2.epoch, 2);
    let read = |org: &str, key: &teechain_client::confidential::ChaincodeKey| {
        client(&n.net, org).query_confidential(&n.net, key, "balance_sealed", args(&[org])).expect("read").payload
    };
    assert_eq!(read("org1", &key2), b"900", "sealed under epoch 1");
    assert_eq!(read("org2", &key2), b"1100", "sealed under epoch 1");
    assert_eq!(read("org3", &key2), b"1000", "sealed under epoch 0");
    assert_eq!(read("org3", &key0), b"1000", "a call sealed to epoch 0 still opens");
    org1.invoke_confidential(&n.net, &key2, "transfer_sealed", args(&["org1", "org3", "1"]), &[]).expect("pay");
    assert_eq!((sealed_epoch("org1"), sealed_epoch("org3")), (2, 2));

    // Only an admin asks for a rotation.
    let alice = n.net.user("org1", "client").expect("client");
    let scope = KeyScope::Chaincode { namespace: "payment".into() };
    let code =
        n.net.submit(teechain_node::registry::rotation_tx(&alice, n.net.channel(), scope)).expect("ordered").code;
    assert_eq!(code, teechain_types::ValidationCode::InvalidKeyDistribution);
}

/// The host restores an older copy of an enclave's sealed key store: the ledger records
/// a newer version for that enclave (announced in its last key distribution), so the
/// enclave refuses to serve and the node does not start. The latest file works again.
#[test]
fn a_rolled_back_sealed_file_is_refused() {
    let crate::fixture::Net { net, _dir } = crate::fixture::network();
    crate::fixture::deploy(&net, "payment", teechain_contracts::PAYMENT, PAYMENT_POLICY);
    let maker = net.chaincode_key("payment").expect("read").expect("key").0.made_by;
    let peer = net.peers().iter().find(|p| p.enclave_id() == maker).expect("the maker's node");
    let file = _dir.path().join(&net.config().node(peer.name()).expect("node").data_dir).join("enclave");
    let file = file.join("keys.sealed");
    let old = std::fs::read(&file).expect("sealed key store");
    // The same enclave makes the next chaincode's key: its sealed version grows.
    crate::fixture::deploy(&net, "testbed", teechain_contracts::TESTBED, PAYMENT_POLICY);
    assert_eq!(net.chaincode_key("testbed").expect("read").expect("key").0.made_by, maker);
    let new = std::fs::read(&file).expect("sealed key store");
    assert_ne!(old, new);
    drop(net);

    std::fs::write(&file, &old).expect("roll back");
    match teechain_node::LocalNetwork::open(_dir.path()) {
        Err(e) => assert!(e.to_string().contains("rolled back"), "{e}"),
        Ok(_) => panic!("a rolled-back sealed file must be refused"),
    }
    std::fs::write(&file, &new).expect("restore");
    teechain_node::LocalNetwork::open(_dir.path()).expect("the latest file is accepted");
}
