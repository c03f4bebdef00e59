//! Private data in the contracts, end to end through the chaincode runtime: the payment
//! contract's private mode and the asset-transfer contract, run as WebAssembly by
//! `teechain_chaincode_runtime::Runtime` against an in-memory ledger that holds public
//! state, the on-ledger hashes of private data and (for member nodes) the private values.
//!
//! Every proposal is endorsed on a node of some organisation ([`View`]): the runtime
//! applies the access rules from what `StateView::collection` says about that node, so
//! the tests can run a call on a member node, on a non-member node, or on both.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use teechain_chaincode_runtime::{CompiledChaincode, Runtime, Simulation};
use teechain_types::chaincode::{Caller, HistoryEntry, Invocation, InvocationContext, STATUS_OK, STATUS_REFUSED};
use teechain_types::codec::encode;
use teechain_types::collection::{
    check_collections, implicit_collection_name, implicit_collection_org, private_key_hash, private_value_hash,
    CollectionAccess, CollectionConfig, HashedValue, PrivateValue, BLINDING_TRANSIENT_KEY,
};
use teechain_types::hash::{sha256, sha256_parts, Hash32};
use teechain_types::identity::Role;
use teechain_types::rwset::{Version, VersionedValue};
use teechain_types::state::{StateError, StateView};

/// The channel's organisations.
const ORGS: [&str; 3] = ["org1", "org2", "org3"];

fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(Runtime::default)
}

fn payment() -> &'static CompiledChaincode {
    static CODE: OnceLock<CompiledChaincode> = OnceLock::new();
    CODE.get_or_init(|| runtime().compile(teechain_contracts::PAYMENT).expect("payment compiles"))
}

fn asset_transfer() -> &'static CompiledChaincode {
    static CODE: OnceLock<CompiledChaincode> = OnceLock::new();
    CODE.get_or_init(|| runtime().compile(teechain_contracts::ASSET_TRANSFER).expect("asset-transfer compiles"))
}

/// `contracts/payment/collections.json`, read as the CLI reads Fabric's
/// `collections_config.json`.
fn payment_collections() -> Vec<CollectionConfig> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../contracts/payment/collections.json");
    let text = std::fs::read_to_string(path).expect("read collections.json");
    let json: serde_json::Value = serde_json::from_str(&text).expect("collections.json is JSON");
    let configs: Vec<CollectionConfig> = json
        .as_array()
        .expect("a list of collections")
        .iter()
        .map(|c| CollectionConfig {
            name: c["name"].as_str().expect("name").into(),
            member_policy: c["policy"].as_str().expect("policy").into(),
            required_peer_count: c["requiredPeerCount"].as_u64().expect("requiredPeerCount") as u32,
            max_peer_count: c["maxPeerCount"].as_u64().expect("maxPeerCount") as u32,
            block_to_live: c["blockToLive"].as_u64().expect("blockToLive"),
            member_only_read: c["memberOnlyRead"].as_bool().expect("memberOnlyRead"),
            member_only_write: c["memberOnlyWrite"].as_bool().expect("memberOnlyWrite"),
            endorsement_policy: c.get("endorsementPolicy").and_then(|p| p.as_str()).map(Into::into),
        })
        .collect();
    let orgs: Vec<String> = ORGS.iter().map(|o| o.to_string()).collect();
    check_collections(&configs, &orgs).expect("collections.json is a valid config");
    configs
}

// ---- an in-memory ledger --------------------------------------------------------------

/// Committed state of one chaincode: public values, the on-ledger hashes of private
/// data (every node), and the private values with their blinds (member nodes; one copy
/// here, which [`View`] shows only to nodes of member organisations).
struct Ledger {
    namespace: &'static str,
    code: &'static CompiledChaincode,
    collections: Vec<CollectionConfig>,
    public: BTreeMap<Vec<u8>, VersionedValue>,
    hashed: BTreeMap<(String, Hash32), HashedValue>,
    values: BTreeMap<(String, Vec<u8>), PrivateValue>,
    block: u64,
    /// Proposals made so far (tx ids and blinding secrets derive from it).
    proposals: u64,
}

/// A proposal: what every endorser of it gets.
struct Proposal {
    ctx: InvocationContext,
    inv: Invocation,
}

/// The ledger as a node of `org` sees it.
struct View<'a> {
    ledger: &'a Ledger,
    org: &'a str,
}

impl Ledger {
    fn new(namespace: &'static str, code: &'static CompiledChaincode, collections: Vec<CollectionConfig>) -> Self {
        Ledger {
            namespace,
            code,
            collections,
            public: BTreeMap::new(),
            hashed: BTreeMap::new(),
            values: BTreeMap::new(),
            block: 0,
            proposals: 0,
        }
    }

    fn config(&self, collection: &str) -> Option<CollectionConfig> {
        if let Some(c) = self.collections.iter().find(|c| c.name == collection) {
            return Some(c.clone());
        }
        implicit_collection_org(collection).filter(|o| ORGS.contains(o)).map(CollectionConfig::implicit)
    }

    /// A proposal by a client of `org`, with the blinding secret every client sends and
    /// the given transient inputs.
    fn propose(&mut self, org: &str, function: &str, args: &[&str], transient: &[(&str, &[u8])]) -> Proposal {
        self.proposals += 1;
        let n = self.proposals.to_be_bytes();
        let mut entries = vec![(BLINDING_TRANSIENT_KEY.to_string(), sha256_parts(&[b"secret", &n]).0.to_vec())];
        entries.extend(transient.iter().map(|(k, v)| (k.to_string(), v.to_vec())));
        Proposal {
            ctx: InvocationContext {
                channel: "ch".into(),
                tx_id: sha256(&n),
                caller: Caller { org: org.into(), role: Role::Client, name: format!("user@{org}") },
                timestamp_ms: 1_700_000_000_000 + self.proposals,
                transient: entries,
                sealing: None,
            },
            inv: Invocation { function: function.into(), args: args.iter().map(|a| a.as_bytes().to_vec()).collect() },
        }
    }

    /// Runs the proposal on a node of `node_org`.
    fn endorse(&self, node_org: &str, p: &Proposal) -> Simulation {
        let view = View { ledger: self, org: node_org };
        runtime()
            .execute(self.code, self.namespace, &view, &p.ctx, &p.inv)
            .unwrap_or_else(|e| panic!("{}: {e}", p.inv.function))
    }

    /// Commits a successful simulation as the only transaction of a new block, the way
    /// a member node does: hashed writes for everyone, values checked against them.
    fn commit(&mut self, sim: &Simulation) {
        assert_eq!(sim.response.status, STATUS_OK, "{}", sim.response.message);
        self.block += 1;
        let version = Version { block: self.block, tx: 0 };
        assert_eq!(sim.rwset.namespace, self.namespace);
        for w in &sim.rwset.writes {
            match &w.value {
                Some(v) => self.public.insert(w.key.clone(), VersionedValue { value: v.clone(), version }),
                None => self.public.remove(&w.key),
            };
        }
        for coll in &sim.rwset.private {
            for w in &coll.writes {
                let k = (coll.collection.clone(), w.key_hash);
                match w.value_hash {
                    Some(value_hash) => self.hashed.insert(k, HashedValue { value_hash, version }),
                    None => self.hashed.remove(&k),
                };
            }
        }
        for coll in &sim.private_writes {
            assert_eq!(coll.namespace, self.namespace);
            let hashed = sim
                .rwset
                .private
                .iter()
                .find(|h| h.collection == coll.collection)
                .expect("private writes have hashed writes");
            for w in &coll.writes {
                let key_hash = private_key_hash(self.namespace, &coll.collection, &w.key);
                let on_ledger = hashed.writes.iter().find(|h| h.key_hash == key_hash).expect("hashed write");
                let k = (coll.collection.clone(), w.key.clone());
                match &w.value {
                    Some(v) => {
                        assert_eq!(on_ledger.value_hash, Some(private_value_hash(&w.blind, v)), "value vs hash");
                        self.values.insert(k, PrivateValue { value: v.clone(), blind: w.blind, version });
                    }
                    None => {
                        assert_eq!(on_ledger.value_hash, None);
                        self.values.remove(&k);
                    }
                }
            }
        }
    }

    /// Proposes, endorses on the caller's own node and commits what succeeds; the
    /// refusal message otherwise.
    fn submit(
        &mut self,
        org: &str,
        function: &str,
        args: &[&str],
        transient: &[(&str, &[u8])],
    ) -> Result<Simulation, String> {
        let p = self.propose(org, function, args, transient);
        let sim = self.endorse(org, &p);
        if sim.response.status != STATUS_OK {
            assert_eq!(sim.response.status, STATUS_REFUSED, "{function}: {}", sim.response.message);
            assert!(sim.rwset.writes.is_empty() && sim.events.is_empty() && sim.private_writes.is_empty());
            assert!(sim.rwset.private.iter().all(|c| c.writes.is_empty()), "a refusal writes nothing");
            return Err(sim.response.message);
        }
        self.commit(&sim);
        Ok(sim)
    }

    fn ok(&mut self, org: &str, function: &str, args: &[&str]) -> Simulation {
        self.ok_with(org, function, args, &[])
    }

    fn ok_with(&mut self, org: &str, function: &str, args: &[&str], transient: &[(&str, &[u8])]) -> Simulation {
        self.submit(org, function, args, transient).unwrap_or_else(|m| panic!("{function}{args:?} by {org}: {m}"))
    }

    /// The payload of a query (not committed) on the caller's own node.
    fn query(&mut self, org: &str, function: &str, args: &[&str]) -> Result<String, String> {
        let p = self.propose(org, function, args, &[]);
        let sim = self.endorse(org, &p);
        if sim.response.status == STATUS_OK {
            Ok(String::from_utf8(sim.response.payload).expect("UTF-8 result"))
        } else {
            Err(sim.response.message)
        }
    }

    fn refusal(&mut self, org: &str, function: &str, args: &[&str], transient: &[(&str, &[u8])]) -> String {
        match self.submit(org, function, args, transient) {
            Ok(_) => panic!("{function}{args:?} by {org} should be refused"),
            Err(m) => m,
        }
    }

    /// The on-ledger hash of a private key, as any node holds it.
    fn hash_of(&self, collection: &str, key: &str) -> Option<Hash32> {
        let key_hash = private_key_hash(self.namespace, collection, key.as_bytes());
        self.hashed.get(&(collection.to_string(), key_hash)).map(|h| h.value_hash)
    }

    /// The private value of a key, as a member node holds it.
    fn value_of(&self, collection: &str, key: &str) -> Option<Vec<u8>> {
        self.values.get(&(collection.to_string(), key.as_bytes().to_vec())).map(|v| v.value.clone())
    }
}

impl StateView for View<'_> {
    fn get(&self, namespace: &str, key: &[u8]) -> Result<Option<VersionedValue>, StateError> {
        if namespace != self.ledger.namespace {
            return Ok(None);
        }
        Ok(self.ledger.public.get(key).cloned())
    }

    fn range(
        &self,
        namespace: &str,
        start: &[u8],
        end: &[u8],
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, VersionedValue)>, StateError> {
        if namespace != self.ledger.namespace {
            return Ok(Vec::new());
        }
        Ok(self
            .ledger
            .public
            .range(start.to_vec()..)
            .take_while(|(k, _)| end.is_empty() || k.as_slice() < end)
            .take(limit)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }

    fn history(&self, _: &str, _: &[u8], _: usize) -> Result<Vec<HistoryEntry>, StateError> {
        Ok(Vec::new())
    }

    fn collection(&self, namespace: &str, collection: &str) -> Result<Option<CollectionAccess>, StateError> {
        if namespace != self.ledger.namespace {
            return Ok(None);
        }
        Ok(self.ledger.config(collection).map(|config| {
            let members = config.members();
            let node_is_member = members.contains(self.org);
            CollectionAccess { config, members, node_is_member }
        }))
    }

    fn private_get(&self, namespace: &str, collection: &str, key: &[u8]) -> Result<Option<PrivateValue>, StateError> {
        self.check_member(namespace, collection)?;
        Ok(self.ledger.values.get(&(collection.to_string(), key.to_vec())).cloned())
    }

    fn private_range(
        &self,
        namespace: &str,
        collection: &str,
        start: &[u8],
        end: &[u8],
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, PrivateValue)>, StateError> {
        self.check_member(namespace, collection)?;
        Ok(self
            .ledger
            .values
            .range((collection.to_string(), start.to_vec())..)
            .take_while(|((c, k), _)| c == collection && (end.is_empty() || k.as_slice() < end))
            .take(limit)
            .map(|((_, k), v)| (k.clone(), v.clone()))
            .collect())
    }

    fn private_hash(
        &self,
        namespace: &str,
        collection: &str,
        key_hash: &Hash32,
    ) -> Result<Option<HashedValue>, StateError> {
        if namespace != self.ledger.namespace {
            return Ok(None);
        }
        Ok(self.ledger.hashed.get(&(collection.to_string(), *key_hash)).copied())
    }
}

impl View<'_> {
    /// A non-member node holds no values: the runtime must not ask it for any.
    fn check_member(&self, namespace: &str, collection: &str) -> Result<(), StateError> {
        let member =
            namespace == self.ledger.namespace && self.ledger.config(collection).is_some_and(|c| c.is_member(self.org));
        if member {
            Ok(())
        } else {
            Err(StateError(format!("test ledger: a node of {} holds no values of {collection}", self.org)))
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn unhex(s: &str) -> Vec<u8> {
    assert!(s.len().is_multiple_of(2), "odd hex length: {s}");
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex")).collect()
}

fn blind_of(hex: &str) -> Hash32 {
    Hash32(unhex(hex).try_into().expect("32-byte blind"))
}

// ---- payment, private mode ------------------------------------------------------------

mod payment_private {
    use super::*;

    const COLL: &str = "org1org2";

    /// A payment ledger whose collection `org1org2` holds 100 for org1 and for org2.
    fn ledger() -> Ledger {
        let mut l = Ledger::new("payment", payment(), payment_collections());
        l.ok("org1", "init_private", &[COLL, "org1", "org2"]);
        l
    }

    #[test]
    fn init_private_starts_the_named_orgs_at_100_once() {
        let mut l = ledger();
        for org in ["org1", "org2"] {
            assert_eq!(l.query(org, "balance_private", &[COLL, org]).unwrap(), "100");
            assert_eq!(l.value_of(COLL, &format!("balance/{org}")).unwrap(), b"100");
        }
        // Only hashes reached the shared ledger; public state is untouched.
        assert!(l.public.is_empty());
        let m = l.refusal("org2", "init_private", &[COLL, "org1", "org2"], &[]);
        assert_eq!(m, "payment is already initialised in collection org1org2");

        let mut fresh = Ledger::new("payment", payment(), payment_collections());
        let m = fresh.refusal("org3", "init_private", &[COLL, "org1", "org2"], &[]);
        assert_eq!(m, "caller of org3 may not initialise collection org1org2: only a named organisation may");
        assert_eq!(fresh.refusal("org1", "init_private", &[COLL], &[]), "init_private needs at least one organisation");
        assert_eq!(
            fresh.refusal("org1", "init_private", &[COLL, "org1", "org1"], &[]),
            "organisation org1 is named twice"
        );
        // The host's refusals come back with its message: an unknown collection, a
        // client of a non-member writing to a memberOnlyWrite collection.
        let m = fresh.refusal("org1", "init_private", &["nosuch", "org1"], &[]);
        assert!(m.contains("no collection 'nosuch'"), "{m}");
        let m = fresh.refusal("org3", "init_private", &[COLL, "org3"], &[]);
        assert!(m.contains("org3 is not a member") && m.contains("memberOnlyWrite"), "{m}");

        // init_private reads only the marker's hash and writes blindly, so a node of a
        // non-member org can endorse it.
        let p = fresh.propose("org1", "init_private", &[COLL, "org1", "org2"], &[]);
        let sim = fresh.endorse("org3", &p);
        assert_eq!(sim, fresh.endorse("org1", &p));
        fresh.commit(&sim);
        assert_eq!(fresh.query("org2", "balance_private", &[COLL, "org2"]).unwrap(), "100");
    }

    #[test]
    fn private_transfer_moves_balances_and_the_ledger_sees_no_amount() {
        let mut l = ledger();
        let sim = l.ok_with("org1", "transfer_private", &[COLL, "org1", "org2"], &[("amount", b"37")]);
        assert_eq!(l.query("org1", "balance_private", &[COLL, "org1"]).unwrap(), "63");
        assert_eq!(l.query("org2", "balance_private", &[COLL, "org2"]).unwrap(), "137");

        // The event and the result name the accounts, not the amount.
        let event = br#"{"collection":"org1org2","from":"org1","to":"org2"}"#;
        assert_eq!(sim.events.len(), 1);
        assert_eq!(sim.events[0].name, "transfer_private");
        assert_eq!(sim.events[0].payload, event);
        assert_eq!(sim.response.payload, event);

        // The shared ledger gets hashed reads and writes only: no public writes, and
        // neither the amount nor the new balances appear in the encoded rwset.
        assert!(sim.rwset.writes.is_empty());
        assert_eq!(sim.rwset.private.len(), 1);
        assert_eq!(sim.rwset.private[0].collection, COLL);
        assert_eq!(sim.rwset.private[0].writes.len(), 2);
        let bytes = encode(&sim.rwset);
        for text in ["37", "63", "137", "balance/"] {
            assert!(!contains(&bytes, text.as_bytes()), "the rwset carries {text:?}");
            assert!(!contains(&sim.events[0].payload, text.as_bytes()), "the event carries {text:?}");
        }
        // The values travel apart, to member nodes.
        assert_eq!(sim.private_writes.len(), 1);
        let mut values: Vec<_> = sim.private_writes[0].writes.iter().map(|w| w.value.clone().unwrap()).collect();
        values.sort();
        assert_eq!(values, vec![b"137".to_vec(), b"63".to_vec()]);
    }

    #[test]
    fn private_transfer_makes_the_checks_of_transfer() {
        let mut l = ledger();
        let cases: &[(&str, [&str; 3], &str)] = &[
            ("org1", ["org1", "org2", "101"], "insufficient funds: org1 has 100, transfer needs 101"),
            ("org2", ["org1", "org2", "5"], "caller of org2 may not spend from org1's account"),
            ("org1", ["org1", "org2", "0"], "amount must be a positive integer, got \"0\""),
            ("org1", ["org1", "org2", "-5"], "amount must be a positive integer, got \"-5\""),
            ("org1", ["org1", "org1", "5"], "self-transfer is not allowed"),
            ("org1", ["org1", "org9", "5"], "unknown account org9"),
        ];
        for (org, [from, to, amount], want) in cases {
            assert_eq!(l.refusal(org, "transfer_private", &[COLL, from, to], &[("amount", amount.as_bytes())]), *want);
        }
        let m = l.refusal("org1", "transfer_private", &[COLL, "org1", "org2"], &[]);
        assert!(m.contains("transient input 'amount'"), "{m}");
        // A client of a non-member org cannot read the collection: the host refuses, and
        // the refusal carries no balance.
        let m = l.refusal("org3", "transfer_private", &[COLL, "org3", "org1"], &[("amount", b"5")]);
        assert!(m.contains("org3 is not a member") && !m.contains("100"), "{m}");
        let m = l.query("org3", "balance_private", &[COLL, "org1"]).unwrap_err();
        assert!(m.contains("org3 is not a member") && !m.contains("100"), "{m}");
        // A member's client on a node that holds only hashes is refused too.
        let p = l.propose("org1", "balance_private", &[COLL, "org1"], &[]);
        let sim = l.endorse("org3", &p);
        assert_eq!(sim.response.status, STATUS_REFUSED);
        assert!(sim.response.message.contains("holds only hashes"), "{}", sim.response.message);
        // Nothing moved.
        assert_eq!(l.query("org1", "balance_private", &[COLL, "org1"]).unwrap(), "100");
        assert_eq!(l.query("org2", "balance_private", &[COLL, "org2"]).unwrap(), "100");
    }

    #[test]
    fn a_disclosed_opening_verifies_against_the_balance_hash() {
        let mut l = ledger();
        l.ok_with("org2", "transfer_private", &[COLL, "org2", "org1"], &[("amount", b"10")]);

        let json = l.query("org1", "disclose", &[COLL, "org1"]).unwrap();
        let opening: serde_json::Value = serde_json::from_str(&json).expect("disclose returns JSON");
        assert_eq!(opening["account"], "org1");
        assert_eq!(opening["value"], "110");
        let blind = blind_of(opening["blind"].as_str().expect("blind"));

        // org3 is no member: it reads the hash on its own node, and checks the opening.
        let hash_hex = l.query("org3", "balance_hash", &[COLL, "org1"]).unwrap();
        assert_eq!(hash_hex, l.hash_of(COLL, "balance/org1").unwrap().to_hex());
        assert_eq!(private_value_hash(&blind, b"110").to_hex(), hash_hex);
        // A lie about the value, or the value without its blind, does not verify.
        assert_ne!(private_value_hash(&blind, b"111").to_hex(), hash_hex);
        assert_ne!(private_value_hash(&Hash32([0; 32]), b"110").to_hex(), hash_hex);

        // Only members see openings; absent accounts have no hash.
        assert!(l.query("org3", "disclose", &[COLL, "org1"]).is_err());
        assert_eq!(l.query("org3", "balance_hash", &[COLL, "org3"]).unwrap_err(), "unknown account org3");
        assert_eq!(l.query("org1", "disclose", &[COLL, "org9"]).unwrap_err(), "unknown account org9");
    }
}

// ---- asset transfer -------------------------------------------------------------------

mod asset {
    use super::*;

    const ID: &str = "asset1";
    const PROPERTIES: &[u8] = br#"{"colour":"blue","size":5,"appraisal":"secret"}"#;

    fn org_coll(org: &str) -> String {
        implicit_collection_name(org)
    }

    /// The caller's opening of `kind` of asset1, as `(value, blind)`.
    fn opening(l: &mut Ledger, org: &str, kind: &str) -> (Vec<u8>, [u8; 32]) {
        let json = l.query(org, "disclose", &[ID, kind]).unwrap_or_else(|m| panic!("disclose {kind}: {m}"));
        let v: serde_json::Value = serde_json::from_str(&json).expect("disclose returns JSON");
        (unhex(v["value_hex"].as_str().unwrap()), blind_of(v["blind_hex"].as_str().unwrap()).0)
    }

    /// asset1, created by org1, offered at `sell` by org1 and bid `buy` for by org2.
    fn ledger(sell: &str, buy: &str) -> Ledger {
        let mut l = Ledger::new("asset-transfer", asset_transfer(), Vec::new());
        l.submit("org1", "create", &[ID, "a blue widget"], &[("asset_properties", PROPERTIES)]).unwrap();
        l.submit("org1", "agree_to_sell", &[ID], &[("asset_price", sell.as_bytes())]).unwrap();
        l.submit("org2", "agree_to_buy", &[ID], &[("asset_price", buy.as_bytes())]).unwrap();
        l
    }

    /// The six transient openings `transfer` needs, from the seller's and the buyer's
    /// `disclose`.
    struct Openings {
        properties: (Vec<u8>, [u8; 32]),
        sell: (Vec<u8>, [u8; 32]),
        buy: (Vec<u8>, [u8; 32]),
    }

    impl Openings {
        fn of(l: &mut Ledger) -> Openings {
            Openings {
                properties: opening(l, "org1", "properties"),
                sell: opening(l, "org1", "sell"),
                buy: opening(l, "org2", "buy"),
            }
        }

        fn transient(&self) -> Vec<(&'static str, &[u8])> {
            vec![
                ("asset_properties", &self.properties.0[..]),
                ("properties_blind", &self.properties.1[..]),
                ("sell_price", &self.sell.0[..]),
                ("sell_blind", &self.sell.1[..]),
                ("buy_price", &self.buy.0[..]),
                ("buy_blind", &self.buy.1[..]),
            ]
        }
    }

    #[test]
    fn create_agree_and_read() {
        let mut l = ledger("500", "0500");
        let record = r#"{"id":"asset1","owner":"org1","public_description":"a blue widget"}"#;
        assert_eq!(l.query("org3", "read_asset", &[ID]).unwrap(), record);
        assert_eq!(l.query("org1", "read_private", &[ID]).unwrap().as_bytes(), PROPERTIES);
        assert_eq!(l.value_of(&org_coll("org1"), ID).unwrap(), PROPERTIES);
        // Prices are stored canonically, each in its own org's collection.
        assert_eq!(l.value_of(&org_coll("org1"), "sell/asset1").unwrap(), b"500");
        assert_eq!(l.value_of(&org_coll("org2"), "buy/asset1").unwrap(), b"500");
        // Equal prices, different hashes: the blinds differ.
        assert_ne!(l.hash_of(&org_coll("org1"), "sell/asset1"), l.hash_of(&org_coll("org2"), "buy/asset1"));

        // org2's collection holds nothing of the asset; org2 cannot read org1's.
        assert_eq!(
            l.query("org2", "read_private", &[ID]).unwrap_err(),
            "org2's collection holds no properties of asset asset1"
        );
        assert_eq!(
            l.query("org2", "disclose", &[ID, "sell"]).unwrap_err(),
            "org2's collection holds no sell price of asset asset1"
        );

        let t = [("asset_properties", PROPERTIES)];
        assert_eq!(l.refusal("org2", "create", &[ID, "again"], &t), "asset asset1 already exists");
        let m = l.refusal("org1", "create", &["x", "no properties"], &[]);
        assert_eq!(m, "create needs the transient input asset_properties");
        assert_eq!(
            l.refusal("org1", "create", &["a/b", "d"], &t),
            "asset id \"a/b\" contains '/', which asset ids may not"
        );
        let p = [("asset_price", &b"10"[..])];
        assert_eq!(
            l.refusal("org2", "agree_to_sell", &[ID], &p),
            "caller of org2 may not sell asset asset1, which org1 owns"
        );
        assert_eq!(
            l.refusal("org1", "agree_to_buy", &[ID], &p),
            "caller of org1 may not buy asset asset1, which it owns"
        );
        assert_eq!(
            l.refusal("org2", "agree_to_buy", &[ID], &[("asset_price", b"ten")]),
            "asset_price must be decimal text, got \"ten\""
        );
        assert_eq!(l.refusal("org2", "agree_to_buy", &["nope"], &p), "unknown asset nope");
        assert_eq!(
            l.query("org1", "disclose", &[ID, "price"]).unwrap_err(),
            "disclose: kind must be properties, sell or buy, got \"price\""
        );
    }

    #[test]
    fn transfer_hands_the_properties_to_the_buyer() {
        let mut l = ledger("500", "500");
        let o = Openings::of(&mut l);
        assert_eq!(o.properties.0, PROPERTIES);
        let p = l.propose("org1", "transfer", &[ID, "org2"], &o.transient());

        // The seller's node and a node of org3 (in neither collection) endorse alike:
        // transfer reads only hashes and transient data, and writes blindly.
        let sim = l.endorse("org1", &p);
        assert_eq!(sim.response.status, STATUS_OK, "{}", sim.response.message);
        assert_eq!(l.endorse("org3", &p), sim);
        l.commit(&sim);

        let record = r#"{"id":"asset1","owner":"org2","public_description":"a blue widget"}"#;
        assert_eq!(String::from_utf8(sim.response.payload.clone()).unwrap(), record);
        assert_eq!(l.query("org1", "read_asset", &[ID]).unwrap(), record);
        assert_eq!(sim.events[0].name, "transfer");
        assert_eq!(sim.events[0].payload, br#"{"id":"asset1","from":"org1","to":"org2"}"#);
        assert!(!contains(&encode(&sim.rwset), b"500"), "the rwset carries the price");

        // The buyer's collection has the properties; the seller's entries and the
        // buyer's bid are gone, from the values and from the hashed state.
        assert_eq!(l.query("org2", "read_private", &[ID]).unwrap().as_bytes(), PROPERTIES);
        assert_eq!(l.value_of(&org_coll("org2"), ID).unwrap(), PROPERTIES);
        for (org, key) in [("org1", "asset1"), ("org1", "sell/asset1"), ("org2", "buy/asset1")] {
            assert_eq!(l.value_of(&org_coll(org), key), None, "{org} {key}");
            assert_eq!(l.hash_of(&org_coll(org), key), None, "{org} {key}");
        }
        assert_eq!(
            l.query("org1", "read_private", &[ID]).unwrap_err(),
            "org1's collection holds no properties of asset asset1"
        );
        // The new owner may sell on; the old one may not.
        let p = [("asset_price", &b"600"[..])];
        assert_eq!(
            l.refusal("org1", "agree_to_sell", &[ID], &p),
            "caller of org1 may not sell asset asset1, which org2 owns"
        );
        l.submit("org2", "agree_to_sell", &[ID], &p).unwrap();
    }

    #[test]
    fn transfer_refuses_a_price_mismatch() {
        let mut l = ledger("500", "400");
        let o = Openings::of(&mut l);
        assert_eq!(
            l.refusal("org1", "transfer", &[ID, "org2"], &o.transient()),
            "the sell price 500 and the buy price 400 of asset asset1 differ"
        );
        // Claiming the buyer agreed to 500 does not match the buyer's hash.
        let mut forged = Openings::of(&mut l);
        forged.buy.0 = b"500".to_vec();
        assert_eq!(
            l.refusal("org1", "transfer", &[ID, "org2"], &forged.transient()),
            "the opening of the buy price does not match the hash on the ledger"
        );
        assert!(l.query("org1", "read_asset", &[ID]).unwrap().contains("\"owner\":\"org1\""));
    }

    #[test]
    fn transfer_refuses_forged_openings() {
        let mut l = ledger("500", "500");
        let wrong = |o: &mut Openings, which: &str| match which {
            "properties" => o.properties.1[0] ^= 1,
            "sell" => o.sell.1[0] ^= 1,
            _ => o.buy.1[0] ^= 1,
        };
        for (which, what) in [("properties", "properties"), ("sell", "sell price"), ("buy", "buy price")] {
            let mut o = Openings::of(&mut l);
            wrong(&mut o, which);
            assert_eq!(
                l.refusal("org1", "transfer", &[ID, "org2"], &o.transient()),
                format!("the opening of the {what} does not match the hash on the ledger")
            );
        }
        // Different properties under the right blind do not match either.
        let mut o = Openings::of(&mut l);
        o.properties.0 = b"{\"colour\":\"gold\"}".to_vec();
        assert_eq!(
            l.refusal("org1", "transfer", &[ID, "org2"], &o.transient()),
            "the opening of the properties does not match the hash on the ledger"
        );
        // A blind of the wrong length, a missing input.
        let o = Openings::of(&mut l);
        let mut t = o.transient();
        t[3] = ("sell_blind", &b"short"[..]);
        assert_eq!(
            l.refusal("org1", "transfer", &[ID, "org2"], &t),
            "transient input sell_blind must be 32 bytes, got 5"
        );
        t.remove(3);
        assert_eq!(l.refusal("org1", "transfer", &[ID, "org2"], &t), "transfer needs the transient input sell_blind");
    }

    #[test]
    fn transfer_refuses_a_non_owner_and_a_buyer_without_a_bid() {
        let mut l = ledger("500", "500");
        let o = Openings::of(&mut l);
        assert_eq!(
            l.refusal("org2", "transfer", &[ID, "org2"], &o.transient()),
            "caller of org2 may not transfer asset asset1, which org1 owns"
        );
        assert_eq!(
            l.refusal("org3", "transfer", &[ID, "org3"], &o.transient()),
            "caller of org3 may not transfer asset asset1, which org1 owns"
        );
        assert_eq!(l.refusal("org1", "transfer", &[ID, "org1"], &o.transient()), "org1 already owns asset asset1");
        // org3 never bid: there is no hash to open.
        assert_eq!(
            l.refusal("org1", "transfer", &[ID, "org3"], &o.transient()),
            "org3 has not agreed to buy asset asset1"
        );
        assert_eq!(l.refusal("org1", "transfer", &["nope", "org2"], &o.transient()), "unknown asset nope");
        // Still org1's, with every entry in place.
        assert!(l.query("org1", "read_asset", &[ID]).unwrap().contains("\"owner\":\"org1\""));
        assert!(l.hash_of(&org_coll("org1"), "sell/asset1").is_some());
        assert!(l.hash_of(&org_coll("org2"), "buy/asset1").is_some());
    }
}
