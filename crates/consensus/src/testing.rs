//! In-memory fakes of the two boundary traits, for tests (feature `test-utils`).
//!
//! [`MemApplier`] is a ledger that keeps blocks in memory and judges every transaction
//! valid except repeated ids; [`MemNetwork`] connects orderers of one process and can cut
//! a node off. Neither persists anything nor checks signatures: never use them outside
//! tests.

use crate::boundary::{
    AppliedMarker, ApplyError, BlockApplier, BlockProposal, NodeId, RaftRpcKind, RaftTransport, TransportError,
};
use crate::Orderer;
use async_trait::async_trait;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};
use teechain_types::chaincode::ChaincodeDefinition;
use teechain_types::codec::{decode, encode, Limits};
use teechain_types::hash::Signature;
use teechain_types::tx::{LifecycleOp, TxBody, TxHeader, TxPayload};
use teechain_types::{Block, Hash32, Identity, Transaction, TxId, ValidationCode};

/// A distinct, well-formed (but unsigned) transaction for tests: `n` picks its id.
pub fn dummy_transaction(n: u64) -> Transaction {
    let header = TxHeader {
        channel: "test".into(),
        creator: Identity { org: "org1".into(), cert_der: vec![7; 32] },
        nonce: n.to_be_bytes().to_vec(),
        timestamp_ms: 0,
    };
    let def = ChaincodeDefinition {
        name: "x".into(),
        version: "1".into(),
        sequence: 1,
        code_hash: Hash32::ZERO,
        endorsement_policy: String::new(),
        collections: Vec::new(),
    };
    Transaction {
        payload: TxPayload { header, body: TxBody::Lifecycle(LifecycleOp::Approve(def)) },
        signature: Signature([0; 64]),
    }
}

#[derive(Default)]
struct MemLedger {
    blocks: Vec<Block>,
    seen: HashSet<TxId>,
    marker: Option<AppliedMarker>,
    apply_calls: u64,
    snapshots_installed: u64,
}

impl MemLedger {
    fn last_hash(&self) -> Hash32 {
        self.blocks.last().map(|b| b.hash()).unwrap_or(Hash32::ZERO)
    }

    fn push(&mut self, proposal: BlockProposal) -> Vec<ValidationCode> {
        let mut block =
            Block::new(self.blocks.len() as u64, self.last_hash(), proposal.timestamp_ms, proposal.transactions);
        let codes: Vec<ValidationCode> = block
            .transactions
            .iter()
            .map(|t| if self.seen.insert(t.tx_id()) { ValidationCode::Valid } else { ValidationCode::DuplicateTxId })
            .collect();
        block.validation = codes.clone();
        self.blocks.push(block);
        codes
    }
}

/// A ledger in memory: builds blocks with its own height and last hash, judges every
/// transaction `Valid` except a repeated id (`DuplicateTxId`).
#[derive(Default)]
pub struct MemApplier {
    ledger: Mutex<MemLedger>,
}

impl MemApplier {
    /// An empty ledger.
    pub fn new() -> Arc<MemApplier> {
        Arc::new(MemApplier::default())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, MemLedger> {
        self.ledger.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Number of blocks.
    pub fn height(&self) -> u64 {
        self.lock().blocks.len() as u64
    }

    /// Every block hash, in order.
    pub fn block_hashes(&self) -> Vec<Hash32> {
        self.lock().blocks.iter().map(|b| b.hash()).collect()
    }

    /// Every block, in order.
    pub fn blocks(&self) -> Vec<Block> {
        self.lock().blocks.clone()
    }

    /// Number of `apply` calls so far (blocks applied one by one, not by snapshot).
    pub fn apply_calls(&self) -> u64 {
        self.lock().apply_calls
    }

    /// Number of snapshots installed.
    pub fn snapshots_installed(&self) -> u64 {
        self.lock().snapshots_installed
    }

    /// The last stored marker.
    pub fn marker(&self) -> Option<AppliedMarker> {
        self.lock().marker.clone()
    }

    /// Ids of every transaction judged `Valid`.
    pub fn valid_tx_ids(&self) -> BTreeSet<TxId> {
        let l = self.lock();
        l.blocks
            .iter()
            .flat_map(|b| b.transactions.iter().zip(&b.validation))
            .filter(|(_, c)| c.is_valid())
            .map(|(t, _)| t.tx_id())
            .collect()
    }
}

impl BlockApplier for MemApplier {
    fn apply(&self, proposal: BlockProposal, applied: AppliedMarker) -> Result<Vec<ValidationCode>, ApplyError> {
        let mut l = self.lock();
        let codes = l.push(proposal);
        l.marker = Some(applied);
        l.apply_calls += 1;
        Ok(codes)
    }

    fn apply_marker(&self, applied: AppliedMarker) -> Result<(), ApplyError> {
        self.lock().marker = Some(applied);
        Ok(())
    }

    fn applied_state(&self) -> Result<Option<AppliedMarker>, ApplyError> {
        Ok(self.lock().marker.clone())
    }

    fn snapshot(&self) -> Result<Vec<u8>, ApplyError> {
        Ok(encode(&self.lock().blocks))
    }

    fn install_snapshot(&self, data: &[u8], applied: AppliedMarker) -> Result<(), ApplyError> {
        let blocks: Vec<Block> = decode(data, Limits { max_bytes: usize::MAX >> 1 })
            .map_err(|e| ApplyError::Inconsistent { reason: format!("undecodable snapshot: {e}") })?;
        let mut l = self.lock();
        // Keep what we have if it is a prefix of the snapshot; replay the rest.
        for (mine, theirs) in l.blocks.iter().zip(&blocks) {
            if mine.hash() != theirs.hash() {
                return Err(ApplyError::Inconsistent {
                    reason: format!("block {} differs from the snapshot's", mine.header.number),
                });
            }
        }
        if blocks.len() < l.blocks.len() {
            return Err(ApplyError::Inconsistent { reason: "the snapshot is behind the ledger".into() });
        }
        let have = l.blocks.len();
        for b in blocks.into_iter().skip(have) {
            let codes = l.push(BlockProposal { timestamp_ms: b.header.timestamp_ms, transactions: b.transactions });
            if Some(codes) != Some(b.validation) {
                return Err(ApplyError::Inconsistent { reason: "replayed validation codes differ".into() });
            }
        }
        l.marker = Some(applied);
        l.snapshots_installed += 1;
        Ok(())
    }
}

/// Orderers of one process wired together: a call goes straight to the target's
/// [`Orderer::handle_rpc`]. A node marked down neither sends nor receives.
#[derive(Default)]
pub struct MemNetwork {
    nodes: RwLock<HashMap<NodeId, Orderer>>,
    down: RwLock<HashSet<NodeId>>,
}

impl MemNetwork {
    /// An empty network.
    pub fn new() -> Arc<MemNetwork> {
        Arc::new(MemNetwork::default())
    }

    /// The transport node `id` sends through.
    pub fn transport(self: &Arc<Self>, id: NodeId) -> Arc<dyn RaftTransport> {
        Arc::new(MemTransport { from: id, net: self.clone() })
    }

    /// Makes `orderer` reachable as its id (replacing an earlier one).
    pub fn register(&self, orderer: Orderer) {
        self.nodes.write().unwrap_or_else(|p| p.into_inner()).insert(orderer.id(), orderer);
    }

    /// Cuts node `id` off (`down = true`) or reconnects it.
    pub fn set_down(&self, id: NodeId, down: bool) {
        let mut d = self.down.write().unwrap_or_else(|p| p.into_inner());
        if down {
            d.insert(id);
        } else {
            d.remove(&id);
        }
    }

    fn is_down(&self, id: NodeId) -> bool {
        self.down.read().unwrap_or_else(|p| p.into_inner()).contains(&id)
    }
}

struct MemTransport {
    from: NodeId,
    net: Arc<MemNetwork>,
}

#[async_trait]
impl RaftTransport for MemTransport {
    async fn call(
        &self,
        target: NodeId,
        address: &str,
        kind: RaftRpcKind,
        body: Vec<u8>,
    ) -> Result<Vec<u8>, TransportError> {
        let unreachable = |reason: &str| TransportError::Unreachable {
            target,
            address: address.to_string(),
            reason: reason.to_string(),
        };
        if self.net.is_down(self.from) || self.net.is_down(target) {
            return Err(unreachable("node is down"));
        }
        let orderer = self.net.nodes.read().unwrap_or_else(|p| p.into_inner()).get(&target).cloned();
        let orderer = orderer.ok_or_else(|| unreachable("no such node"))?;
        let answer = orderer
            .handle_rpc(kind, &body)
            .await
            .map_err(|e| TransportError::Failed { target, reason: e.to_string() })?;
        // A node cut off while serving loses the answer too.
        if self.net.is_down(self.from) || self.net.is_down(target) {
            return Err(unreachable("node went down"));
        }
        Ok(answer)
    }
}
