//! Every peer of a network directory in one process, ordered by one in-process orderer.
//!
//! This is the development network of the core step: real ledgers, enclaves and
//! validation on every peer, with blocks cut by a single orderer instead of Raft. Each
//! block is validated and committed by every peer, and the peers must agree on every
//! validation code, or the network stops with [`NodeError::Divergence`].

use crate::config::{self, NetworkConfig};
use crate::error::NodeError;
use crate::gateway::{Gateway, SubmitOutcome};
use crate::peer::{EnclaveBackend, EnclaveSettings, Peer, PeerSetup};
use crate::registry::registration_of;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};
use teechain_crypto::{Msp, SigningIdentity};
use teechain_enclave::Platform;
use teechain_types::chaincode::ChaincodeResponse;
use teechain_types::policy::EndorsementPolicy;
use teechain_types::tx::{ProposalResponse, SignedProposal};
use teechain_types::{Block, Hash32, Transaction};

/// Most transactions in one block of the local orderer.
pub const MAX_BLOCK_TRANSACTIONS: usize = 500;

/// An in-process network.
pub struct LocalNetwork {
    dir: PathBuf,
    config: NetworkConfig,
    peers: Vec<Peer>,
    // Serialises block production: one block at a time, in order, on every peer.
    orderer: Mutex<()>,
}

impl LocalNetwork {
    /// Opens every node of the network directory `dir`.
    pub fn open(dir: &Path) -> Result<LocalNetwork, NodeError> {
        let config = NetworkConfig::load(dir)?;
        let orgs = config.msp_orgs()?;
        let msp = Arc::new(Msp::new(&orgs)?);
        let mut peers = Vec::new();
        let attestation = config.channel.attestation.policy().map_err(|message| NodeError::Config {
            path: dir.join(config::NETWORK_FILE),
            message: format!("channel attestation policy: {message}"),
        })?;
        let enclave = EnclaveSettings {
            backend: EnclaveBackend::InProcess,
            platform: Platform::Virtual,
            virtual_platform_key: None,
        };
        for node in &config.nodes {
            peers.push(Peer::open(PeerSetup {
                name: &node.name,
                org: &node.org,
                data_dir: &dir.join(&node.data_dir),
                channel: &config.channel.channel,
                orgs: &orgs,
                msp: msp.clone(),
                attestation: attestation.clone(),
                proposal_window_ms: config.channel.proposal_time_window_ms,
                enclave: &enclave,
            })?);
        }
        let net = LocalNetwork { dir: dir.to_path_buf(), config, peers, orderer: Mutex::new(()) };
        net.check_agreement()?;
        net.register_enclaves()?;
        Ok(net)
    }

    /// Registers every peer's enclave that is not yet registered, each by an admin of
    /// its organisation: the development network's stand-in for `teechain enclave
    /// register`.
    fn register_enclaves(&self) -> Result<(), NodeError> {
        let mut txs = Vec::new();
        for p in &self.peers {
            if p.enclave_registered()? {
                continue;
            }
            let admin = self.user(p.org(), "admin")?;
            let registration = registration_of(&p.enclave_info()?)?;
            txs.push(crate::registry::registration_tx(&admin, self.channel(), registration));
        }
        if txs.is_empty() {
            return Ok(());
        }
        for outcome in self.order(txs)? {
            if !outcome.code.is_valid() {
                return Err(NodeError::Invalid(format!(
                    "enclave registration {} was refused: {}",
                    outcome.tx_id.short(),
                    outcome.code
                )));
            }
        }
        Ok(())
    }

    /// Refuses to run peers whose ledgers have forked.
    fn check_agreement(&self) -> Result<(), NodeError> {
        let Some(first) = self.peers.first() else {
            return Err(NodeError::Invalid("the network has no nodes".into()));
        };
        for p in &self.peers[1..] {
            let (a, b) = (first.ledger(), p.ledger());
            if a.height() != b.height() || a.last_hash() != b.last_hash() {
                return Err(NodeError::Divergence {
                    block: a.height().min(b.height()),
                    detail: format!(
                        "{} is at height {} ({}), {} at height {} ({})",
                        first.name(),
                        a.height(),
                        a.last_hash().short(),
                        p.name(),
                        b.height(),
                        b.last_hash().short()
                    ),
                });
            }
        }
        Ok(())
    }

    /// The network directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The network config.
    pub fn config(&self) -> &NetworkConfig {
        &self.config
    }

    /// The channel id.
    pub fn channel(&self) -> &str {
        &self.config.channel.channel
    }

    /// All peers.
    pub fn peers(&self) -> &[Peer] {
        &self.peers
    }

    /// The first peer of an organisation.
    pub fn peer_of(&self, org: &str) -> Result<&Peer, NodeError> {
        self.peers.iter().find(|p| p.org() == org).ok_or_else(|| NodeError::NoPeerOf(org.to_string()))
    }

    /// Loads a user identity (`admin` or `client`) of an organisation.
    pub fn user(&self, org: &str, user: &str) -> Result<SigningIdentity, NodeError> {
        config::load_identity(&config::user_dir(&self.dir, org, user), org)
    }

    /// Installs a chaincode package on every peer; returns its code hash.
    pub fn install(&self, wasm: &[u8]) -> Result<Hash32, NodeError> {
        let mut hash = None;
        for p in &self.peers {
            hash = Some(p.install(wasm)?);
        }
        hash.ok_or_else(|| NodeError::Invalid("the network has no nodes".into()))
    }

    /// Cuts the transactions into blocks and commits each on every peer.
    pub fn order(&self, txs: Vec<Transaction>) -> Result<Vec<SubmitOutcome>, NodeError> {
        let _turn = self.orderer.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = Vec::with_capacity(txs.len());
        let mut txs = txs.into_iter().peekable();
        while txs.peek().is_some() {
            let batch: Vec<Transaction> = txs.by_ref().take(MAX_BLOCK_TRANSACTIONS).collect();
            out.extend(self.commit_everywhere(batch)?);
        }
        self.distribute_keys()?;
        Ok(out)
    }

    /// Makes and grants the keys the committed state calls for (what each node's
    /// background key keeper does in a network of processes), each distribution in a
    /// block of its own.
    fn distribute_keys(&self) -> Result<(), NodeError> {
        for _ in 0..64 {
            let mut work = None;
            for p in &self.peers {
                if let Some(d) = p.key_work(false)? {
                    let node = &self
                        .config
                        .nodes
                        .iter()
                        .find(|n| n.name == p.name())
                        .ok_or_else(|| NodeError::Invalid(format!("{} is not in the network config", p.name())))?;
                    let identity = config::load_identity(
                        &config::peer_identity_dir(&self.dir, &node.org, &node.identity),
                        &node.org,
                    )?;
                    work = Some(crate::registry::key_distribution_tx(&identity, self.channel(), d));
                    break;
                }
            }
            let Some(tx) = work else { return Ok(()) };
            let outcome = self.commit_everywhere(vec![tx])?;
            if let Some(o) = outcome.iter().find(|o| !o.code.is_valid()) {
                return Err(NodeError::Invalid(format!(
                    "key distribution {} was refused: {}",
                    o.tx_id.short(),
                    o.code
                )));
            }
        }
        Err(NodeError::Invalid("key distribution did not settle after 64 rounds".into()))
    }

    fn commit_everywhere(&self, batch: Vec<Transaction>) -> Result<Vec<SubmitOutcome>, NodeError> {
        let leader = self.peers[0].ledger();
        let number = leader.height();
        let previous_ts = match number {
            0 => 0,
            n => leader.block(n - 1)?.map(|b| b.header.timestamp_ms).unwrap_or(0),
        };
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0);
        let block = Block::new(number, leader.last_hash(), now.max(previous_ts), batch);
        let ids: Vec<_> = block.transactions.iter().map(|t| t.tx_id()).collect();
        let mut codes = None;
        for p in &self.peers {
            let outcome = p.commit_block(block.clone())?;
            match &codes {
                None => codes = Some(outcome.codes),
                Some(c) if *c != outcome.codes => {
                    return Err(NodeError::Divergence {
                        block: number,
                        detail: format!("{} computed different validation codes", p.name()),
                    })
                }
                Some(_) => {}
            }
        }
        let codes = codes.unwrap_or_default();
        Ok(ids.into_iter().zip(codes).map(|(tx_id, code)| SubmitOutcome { tx_id, block: number, code }).collect())
    }
}

impl Gateway for LocalNetwork {
    fn evaluate(
        &self,
        proposal: &SignedProposal,
        transient: &[(String, Vec<u8>)],
    ) -> Result<ChaincodeResponse, NodeError> {
        // Prefer a node of the caller's own organisation, as Fabric's gateway does.
        let org = &proposal.proposal.header.creator.org;
        let peer = self.peer_of(org).unwrap_or(&self.peers[0]);
        peer.evaluate(proposal, transient)
    }

    fn endorse(
        &self,
        proposal: &SignedProposal,
        transient: &[(String, Vec<u8>)],
    ) -> Result<Vec<ProposalResponse>, NodeError> {
        let name = &proposal.proposal.chaincode;
        let def = self.peers[0].definition(name)?.ok_or_else(|| NodeError::ChaincodeNotCommitted {
            name: name.clone(),
            channel: self.channel().to_string(),
        })?;
        let policy = EndorsementPolicy::parse(&def.endorsement_policy)
            .map_err(|e| NodeError::Invalid(format!("endorsement policy of '{name}': {e}")))?;
        let mut orgs = policy.orgs();
        for c in &def.collections {
            if let Some(ep) = c.endorsement_policy.as_deref().and_then(|p| EndorsementPolicy::parse(p).ok()) {
                orgs.extend(ep.orgs());
            }
        }
        // One node per organisation the policies name: enough for any policy over
        // `member`/`peer` principals of distinct organisations.
        let mut out = Vec::with_capacity(orgs.len());
        for org in &orgs {
            let endorser = self.peer_of(org)?;
            let endorsed = endorser.endorse(proposal, transient)?;
            if let Some(data) = &endorsed.private {
                // In-process dissemination: straight into the member peers' stores.
                for p in self.peers.iter().filter(|p| p.name() != endorser.name()) {
                    if let Some(part) = p.part_for(data, p.org())? {
                        p.transient().put(part, p.ledger().height());
                    }
                }
            }
            out.push(endorsed.response);
        }
        Ok(out)
    }

    fn latest_key(
        &self,
        scope: &teechain_types::keys::KeyScope,
    ) -> Result<Option<crate::rpc::ChaincodeKey>, NodeError> {
        self.peers[0].latest_key(scope)
    }

    fn submit(&self, tx: Transaction) -> Result<SubmitOutcome, NodeError> {
        let mut out = self.order(vec![tx])?;
        out.pop().ok_or_else(|| NodeError::Invalid("orderer returned no outcome".into()))
    }

    fn submit_all(&self, txs: Vec<Transaction>) -> Result<Vec<SubmitOutcome>, NodeError> {
        self.order(txs)
    }
}
