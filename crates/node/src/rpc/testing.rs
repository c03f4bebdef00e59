//! A scripted [`NodeApi`] for tests of code that talks to nodes over RPC (feature
//! `test-utils`). It runs no chaincode and checks no signature: it echoes, records and
//! fails on command. Never use it where a real node is meant.

use super::{ChaincodeEventRecord, EventStream, NodeApi, NodeStatus, Transient};
use crate::error::NodeError;
use crate::gateway::SubmitOutcome;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use teechain_types::chaincode::{ChaincodeResponse, Invocation};
use teechain_types::codec::encode;
use teechain_types::keys::KeyScope;
use teechain_types::tx::{
    ChaincodeRef, EndorsedInvocation, Endorsement, ProposalResponse, ProposalResponsePayload, SignedProposal, TxBody,
    TxHeader, TxPayload,
};
use teechain_types::{sha256, Block, Hash32, Identity, ReadWriteSet, Transaction, TxId, ValidationCode};
use tokio::sync::Notify;

type FailWith = Arc<dyn Fn() -> NodeError + Send + Sync>;

#[derive(Default)]
struct State {
    outcomes: HashMap<TxId, SubmitOutcome>,
    next_block: u64,
    fail: Option<FailWith>,
    fail_submit: Option<FailWith>,
    blocks: Vec<Block>,
    events: Vec<(String, ChaincodeEventRecord)>,
    calls: Vec<String>,
}

/// A fake node: answers every [`NodeApi`] call from canned data.
///
/// - `evaluate` answers `ok("<node name>:<function>")`; `endorse_here` and `endorse`
///   answer one unsigned [`ProposalResponse`] whose response is the same.
/// - `submit` commits the transaction as valid in the next block number and remembers
///   it for `commit_status`, which waits for it.
/// - `raft` answers the kind (4 bytes, big-endian) followed by the body.
/// - `blocks`, `events` serve what [`FakeNode::with_blocks`] and
///   [`FakeNode::with_events`] gave it.
/// - [`FakeNode::fail_with`] makes every call fail; [`FakeNode::fail_submit_with`] only
///   submits.
pub struct FakeNode {
    status: NodeStatus,
    state: Mutex<State>,
    committed: Notify,
}

impl FakeNode {
    /// A healthy fake leader called `name` of organisation `org`.
    pub fn new(name: &str, org: &str) -> FakeNode {
        FakeNode {
            status: NodeStatus {
                name: name.to_string(),
                org: org.to_string(),
                role: "leader".into(),
                term: 1,
                leader: None,
                height: 0,
                last_hash: Hash32::ZERO,
                healthy: true,
                platform: "virtual (INSECURE)".into(),
                enclave: None,
                enclave_registered: false,
            },
            state: Mutex::new(State::default()),
            committed: Notify::new(),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Serves `blocks` (numbered from 0) to `blocks` calls.
    pub fn with_blocks(self, blocks: Vec<Block>) -> FakeNode {
        self.state().blocks = blocks;
        self
    }

    /// Serves `events` (chaincode, event) to `events` calls.
    pub fn with_events(self, events: Vec<(String, ChaincodeEventRecord)>) -> FakeNode {
        self.state().events = events;
        self
    }

    /// Makes every later call fail with the error `make` returns.
    pub fn fail_with(&self, make: impl Fn() -> NodeError + Send + Sync + 'static) {
        self.state().fail = Some(Arc::new(make));
    }

    /// Makes every later submit fail with the error `make` returns.
    pub fn fail_submit_with(&self, make: impl Fn() -> NodeError + Send + Sync + 'static) {
        self.state().fail_submit = Some(Arc::new(make));
    }

    /// Undoes [`FakeNode::fail_with`] and [`FakeNode::fail_submit_with`].
    pub fn succeed(&self) {
        let mut s = self.state();
        s.fail = None;
        s.fail_submit = None;
    }

    /// The calls received so far, by method name.
    pub fn calls(&self) -> Vec<String> {
        self.state().calls.clone()
    }

    fn enter(&self, method: &str) -> Result<(), NodeError> {
        let mut s = self.state();
        s.calls.push(method.to_string());
        match &s.fail {
            Some(make) => Err(make()),
            None => Ok(()),
        }
    }

    fn answer(&self, proposal: &SignedProposal) -> ChaincodeResponse {
        let p = &proposal.proposal;
        ChaincodeResponse::ok(format!("{}:{}", self.status.name, p.invocation.function).into_bytes())
    }

    fn endorsement(&self, proposal: &SignedProposal) -> ProposalResponse {
        let response = self.answer(proposal);
        let payload = ProposalResponsePayload {
            proposal_hash: proposal.proposal.hash(),
            chaincode: ChaincodeRef { name: proposal.proposal.chaincode.clone(), sequence: 1, code_hash: Hash32::ZERO },
            rwset: ReadWriteSet {
                namespace: proposal.proposal.chaincode.clone(),
                reads: Vec::new(),
                range_reads: Vec::new(),
                writes: Vec::new(),
                private: Vec::new(),
                key_epochs: Vec::new(),
                history_reads: Vec::new(),
            },
            response_hash: sha256(&encode(&response)),
            events: Vec::new(),
        };
        ProposalResponse {
            payload,
            response,
            endorsement: Endorsement {
                org: self.status.org.clone(),
                enclave: Hash32::ZERO,
                signature: teechain_types::hash::Signature([0; 64]),
            },
        }
    }
}

#[tonic::async_trait]
impl NodeApi for FakeNode {
    async fn evaluate(&self, proposal: SignedProposal, _transient: Transient) -> Result<ChaincodeResponse, NodeError> {
        self.enter("evaluate")?;
        Ok(self.answer(&proposal))
    }

    async fn endorse_here(
        &self,
        proposal: SignedProposal,
        _transient: Transient,
        _min_height: u64,
    ) -> Result<ProposalResponse, NodeError> {
        self.enter("endorse_here")?;
        Ok(self.endorsement(&proposal))
    }

    async fn endorse(
        &self,
        proposal: SignedProposal,
        _transient: Transient,
    ) -> Result<Vec<ProposalResponse>, NodeError> {
        self.enter("endorse")?;
        Ok(vec![self.endorsement(&proposal)])
    }

    async fn submit(&self, tx: Transaction) -> Result<SubmitOutcome, NodeError> {
        self.enter("submit")?;
        let outcome = {
            let mut s = self.state();
            if let Some(make) = &s.fail_submit {
                return Err(make());
            }
            let tx_id = tx.tx_id();
            let code =
                if s.outcomes.contains_key(&tx_id) { ValidationCode::DuplicateTxId } else { ValidationCode::Valid };
            let outcome = SubmitOutcome { tx_id, block: s.next_block, code };
            s.next_block += 1;
            s.outcomes.entry(tx_id).or_insert(outcome);
            outcome
        };
        self.committed.notify_waiters();
        Ok(outcome)
    }

    async fn commit_status(&self, tx_id: TxId, timeout: Duration) -> Result<Option<SubmitOutcome>, NodeError> {
        self.enter("commit_status")?;
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.committed.notified();
            if let Some(o) = self.state().outcomes.get(&tx_id) {
                return Ok(Some(*o));
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return Ok(None);
            }
        }
    }

    async fn raft(&self, kind: u32, body: Vec<u8>) -> Result<Vec<u8>, NodeError> {
        self.enter("raft")?;
        let mut out = kind.to_be_bytes().to_vec();
        out.extend_from_slice(&body);
        Ok(out)
    }

    async fn blocks(&self, from: u64, max: u32) -> Result<Vec<Block>, NodeError> {
        self.enter("blocks")?;
        let s = self.state();
        let start = usize::try_from(from).unwrap_or(usize::MAX).min(s.blocks.len());
        Ok(s.blocks[start..].iter().take(max as usize).cloned().collect())
    }

    async fn latest_key(&self, _scope: KeyScope) -> Result<Option<super::ChaincodeKey>, NodeError> {
        self.enter("chaincode key")?;
        Ok(None)
    }

    async fn status(&self) -> Result<NodeStatus, NodeError> {
        self.enter("status")?;
        let s = self.state();
        let mut status = self.status.clone();
        status.height = s.blocks.len() as u64;
        status.last_hash = s.blocks.last().map(Block::hash).unwrap_or(Hash32::ZERO);
        Ok(status)
    }

    fn events(&self, chaincode: String, start_block: u64) -> EventStream {
        let items: Vec<Result<ChaincodeEventRecord, NodeError>> = match self.enter("events") {
            Err(e) => vec![Err(e)],
            Ok(()) => self
                .state()
                .events
                .iter()
                .filter(|(cc, e)| *cc == chaincode && e.block >= start_block)
                .map(|(_, e)| Ok(e.clone()))
                .collect(),
        };
        Box::pin(tokio_stream::iter(items))
    }
}

/// An unsigned invocation transaction whose single argument is `padding` bytes long;
/// `seed` makes its id unique. Only for moving bytes around in tests.
pub fn transaction(seed: u64, padding: usize) -> Transaction {
    let header = TxHeader {
        channel: "teechain".into(),
        creator: Identity { org: "org1".into(), cert_der: Vec::new() },
        nonce: seed.to_be_bytes().to_vec(),
        timestamp_ms: 0,
    };
    let invocation = Invocation { function: "put".into(), args: vec![vec![0xab; padding]] };
    let response = ProposalResponsePayload {
        proposal_hash: Hash32::ZERO,
        chaincode: ChaincodeRef { name: "fake".into(), sequence: 1, code_hash: Hash32::ZERO },
        rwset: ReadWriteSet {
            namespace: "fake".into(),
            reads: Vec::new(),
            range_reads: Vec::new(),
            writes: Vec::new(),
            private: Vec::new(),
            key_epochs: Vec::new(),
            history_reads: Vec::new(),
        },
        response_hash: Hash32::ZERO,
        events: Vec::new(),
    };
    let body = TxBody::Invoke(EndorsedInvocation {
        chaincode: "fake".into(),
        invocation,
        sealed: None,
        transient_digest: Hash32::ZERO,
        response,
        endorsements: Vec::new(),
    });
    Transaction { payload: TxPayload { header, body }, signature: teechain_types::hash::Signature([0; 64]) }
}

/// A hash-chained run of `count` blocks from number 0, each holding one
/// [`transaction`] of `padding` bytes.
pub fn chain(count: u64, padding: usize) -> Vec<Block> {
    let mut blocks: Vec<Block> = Vec::new();
    for n in 0..count {
        let previous = blocks.last().map(Block::hash).unwrap_or(Hash32::ZERO);
        blocks.push(Block::new(n, previous, n, vec![transaction(n, padding)]));
    }
    blocks
}
