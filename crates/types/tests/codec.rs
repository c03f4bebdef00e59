//! Property tests of the canonical encoding: round trips of generated transactions and
//! blocks, and decoding of arbitrary or mutated bytes never panics and never accepts a
//! second spelling of a value.

use proptest::prelude::*;
use teechain_types::chaincode::{ChaincodeDefinition, ChaincodeEvent, Invocation};
use teechain_types::codec::{decode, encode, Limits};
use teechain_types::collection::{CollectionConfig, CollectionPrivateWrites, PrivateWrite, TxPrivateData};
use teechain_types::enclave::{EnclaveKeys, EnclaveRegistration};
use teechain_types::hash::Signature;
use teechain_types::keys::KeyScope;
use teechain_types::tx::{
    ChaincodeRef, EndorsedInvocation, Endorsement, LifecycleOp, ProposalResponsePayload, SignedProposal, TxBody,
    TxHeader, TxPayload,
};
use teechain_types::{
    Block, CollectionHashedRwSet, Hash32, HashedRead, HashedWrite, HistoryRead, Identity, KeyEpochRead, KvRead,
    KvWrite, RangeRead, ReadWriteSet, Transaction, Version,
};

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..max)
}

fn hash() -> impl Strategy<Value = Hash32> {
    any::<[u8; 32]>().prop_map(Hash32)
}

fn identity() -> impl Strategy<Value = Identity> {
    ("[a-z0-9]{1,8}", bytes(64)).prop_map(|(org, cert_der)| Identity { org, cert_der })
}

fn sig() -> impl Strategy<Value = Signature> {
    (any::<[u8; 32]>(), any::<[u8; 32]>()).prop_map(|(a, b)| {
        let mut s = [0u8; 64];
        s[..32].copy_from_slice(&a);
        s[32..].copy_from_slice(&b);
        Signature(s)
    })
}

fn version() -> impl Strategy<Value = Version> {
    (any::<u64>(), any::<u32>()).prop_map(|(block, tx)| Version { block, tx })
}

fn rwset() -> impl Strategy<Value = ReadWriteSet> {
    (
        (
            "[a-z]{1,8}",
            prop::collection::vec(
                (bytes(16), prop::option::of(version()), prop::option::of(hash()))
                    .prop_map(|(key, version, value_hash)| KvRead { key, version, value_hash }),
                0..4,
            ),
            prop::collection::vec(
                (bytes(8), bytes(8), hash()).prop_map(|(start, end, results_digest)| RangeRead {
                    start,
                    end,
                    results_digest,
                }),
                0..2,
            ),
            prop::collection::vec(
                (bytes(16), prop::option::of(bytes(32))).prop_map(|(key, value)| KvWrite { key, value }),
                0..4,
            ),
            prop::collection::vec(
                (
                    "[a-z_]{1,8}",
                    prop::collection::vec(
                        (hash(), prop::option::of(version()), prop::option::of(hash()))
                            .prop_map(|(key_hash, version, value_hash)| HashedRead { key_hash, version, value_hash }),
                        0..3,
                    ),
                    prop::collection::vec(
                        (hash(), prop::option::of(hash()), any::<bool>()).prop_map(|(key_hash, value_hash, purge)| {
                            HashedWrite { key_hash, value_hash, sealed_hash: None, purge }
                        }),
                        0..3,
                    ),
                )
                    .prop_map(|(collection, reads, writes)| CollectionHashedRwSet {
                        collection,
                        reads,
                        writes,
                    }),
                0..2,
            ),
        ),
        prop::collection::vec(
            ("[a-z]{1,8}", any::<u32>(), any::<[u8; 32]>()).prop_map(|(namespace, epoch, public_key)| KeyEpochRead {
                scope: KeyScope::Chaincode { namespace },
                epoch,
                public_key,
            }),
            0..2,
        ),
        prop::collection::vec((bytes(16), hash()).prop_map(|(key, digest)| HistoryRead { key, digest }), 0..2),
    )
        .prop_map(|((namespace, reads, range_reads, writes, private), key_epochs, history_reads)| ReadWriteSet {
            namespace,
            reads,
            range_reads,
            writes,
            private,
            key_epochs,
            history_reads,
        })
}

fn header() -> impl Strategy<Value = TxHeader> {
    ("[a-z]{1,8}", identity(), bytes(24), any::<u64>()).prop_map(|(channel, creator, nonce, timestamp_ms)| TxHeader {
        channel,
        creator,
        nonce,
        timestamp_ms,
    })
}

fn invocation() -> impl Strategy<Value = Invocation> {
    ("[a-z]{0,8}", prop::collection::vec(bytes(16), 0..4)).prop_map(|(function, args)| Invocation { function, args })
}

fn body() -> impl Strategy<Value = TxBody> {
    let collection = ("[a-z]{1,8}", ".{0,20}", any::<u32>(), any::<u32>(), any::<u64>(), any::<(bool, bool)>())
        .prop_map(
            |(
                name,
                member_policy,
                required_peer_count,
                max_peer_count,
                block_to_live,
                (member_only_read, member_only_write),
            )| {
                CollectionConfig {
                    endorsement_policy: (block_to_live % 2 == 0).then(|| member_policy.clone()),
                    name,
                    member_policy,
                    required_peer_count,
                    max_peer_count,
                    block_to_live,
                    member_only_read,
                    member_only_write,
                }
            },
        );
    let def = ("[a-z]{1,8}", "[0-9.]{0,4}", any::<u64>(), hash(), ".{0,30}", prop::collection::vec(collection, 0..2))
        .prop_map(|(name, version, sequence, code_hash, endorsement_policy, collections)| ChaincodeDefinition {
            name,
            version,
            sequence,
            code_hash,
            endorsement_policy,
            collections,
        });
    let invoke = (
        "[a-z]{1,8}",
        invocation(),
        hash(),
        hash(),
        ("[a-z]{1,8}", any::<u64>(), hash()).prop_map(|(name, sequence, code_hash)| ChaincodeRef {
            name,
            sequence,
            code_hash,
        }),
        rwset(),
        hash(),
        prop::collection::vec(
            ("[a-z]{1,8}", bytes(16)).prop_map(|(name, payload)| ChaincodeEvent { name, payload }),
            0..2,
        ),
        prop::collection::vec(
            ("[a-z]{1,8}", hash(), sig()).prop_map(|(org, enclave, signature)| Endorsement { org, enclave, signature }),
            0..3,
        ),
    )
        .prop_map(
            |(
                chaincode,
                invocation,
                transient_digest,
                proposal_hash,
                cc,
                rwset,
                response_hash,
                events,
                endorsements,
            )| {
                TxBody::Invoke(EndorsedInvocation {
                    chaincode,
                    invocation,
                    sealed: None,
                    transient_digest,
                    response: ProposalResponsePayload { proposal_hash, chaincode: cc, rwset, response_hash, events },
                    endorsements,
                })
            },
        );
    prop_oneof![
        invoke,
        (def, any::<bool>()).prop_map(|(d, approve)| TxBody::Lifecycle(if approve {
            LifecycleOp::Approve(d)
        } else {
            LifecycleOp::Commit(d)
        })),
        ("[a-z]{1,8}", any::<[u8; 32]>(), any::<[u8; 32]>(), bytes(64)).prop_map(
            |(org, signing_key, hpke_key, evidence)| TxBody::RegisterEnclave(EnclaveRegistration {
                org,
                keys: EnclaveKeys { signing_key, hpke_key },
                evidence
            })
        ),
    ]
}

fn transaction() -> impl Strategy<Value = Transaction> {
    (header(), body(), sig())
        .prop_map(|(header, body, signature)| Transaction { payload: TxPayload { header, body }, signature })
}

fn private_data() -> impl Strategy<Value = TxPrivateData> {
    let write = (bytes(16), prop::option::of(bytes(32)), hash(), any::<bool>())
        .prop_map(|(key, value, blind, purge)| PrivateWrite { key, value, blind, purge });
    let coll = ("[a-z]{1,8}", "[a-z_]{1,12}", prop::collection::vec(write, 0..4))
        .prop_map(|(namespace, collection, writes)| CollectionPrivateWrites { namespace, collection, writes });
    (hash(), prop::collection::vec(coll, 0..3)).prop_map(|(tx_id, collections)| TxPrivateData { tx_id, collections })
}

proptest! {
    #[test]
    fn private_data_round_trips_and_mutations_never_panic(
        data in private_data(),
        pos in any::<prop::sample::Index>(),
        byte in any::<u8>(),
    ) {
        let bytes = encode(&data);
        let back: TxPrivateData = decode(&bytes, Limits::TRANSACTION).expect("decodes");
        prop_assert_eq!(&back, &data);
        let mut mutated = bytes.clone();
        let i = pos.index(mutated.len());
        mutated[i] = byte;
        if let Ok(v) = decode::<TxPrivateData>(&mutated, Limits::TRANSACTION) {
            prop_assert_eq!(encode(&v), mutated);
        }
    }

    #[test]
    fn transactions_round_trip(tx in transaction()) {
        let bytes = encode(&tx);
        let back: Transaction = decode(&bytes, Limits::TRANSACTION).expect("decodes");
        prop_assert_eq!(&back, &tx);
        prop_assert_eq!(back.tx_id(), tx.tx_id());
    }

    #[test]
    fn blocks_round_trip(txs in prop::collection::vec(transaction(), 0..4), n in any::<u64>(), prev in hash(), ts in any::<u64>()) {
        let block = Block::new(n, prev, ts, txs);
        let back: Block = decode(&encode(&block), Limits::BLOCK).expect("decodes");
        prop_assert_eq!(back.hash(), block.hash());
        prop_assert_eq!(back, block);
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_accepted_bytes_are_canonical(data in bytes(512)) {
        if let Ok(tx) = decode::<Transaction>(&data, Limits::TRANSACTION) {
            prop_assert_eq!(encode(&tx), data.clone());
        }
        if let Ok(b) = decode::<Block>(&data, Limits::BLOCK) {
            prop_assert_eq!(encode(&b), data.clone());
        }
        let _ = decode::<SignedProposal>(&data, Limits::TRANSACTION);
    }

    #[test]
    fn mutated_transactions_never_panic(tx in transaction(), pos in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let mut data = encode(&tx);
        let i = pos.index(data.len());
        data[i] = byte;
        if let Ok(back) = decode::<Transaction>(&data, Limits::TRANSACTION) {
            prop_assert_eq!(encode(&back), data.clone());
        }
        data.truncate(i);
        // A strict prefix of a canonical encoding is never a complete value.
        prop_assert!(decode::<Transaction>(&data, Limits::TRANSACTION).is_err());
    }
}
