//! The interface a client uses to reach a network, as Fabric's Gateway service.

use crate::error::NodeError;
use teechain_types::chaincode::ChaincodeResponse;
use teechain_types::tx::{ProposalResponse, SignedProposal};
use teechain_types::{Transaction, TxId, ValidationCode};

/// Where a submitted transaction ended up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SubmitOutcome {
    /// Its id.
    pub tx_id: TxId,
    /// The block it was committed in.
    pub block: u64,
    /// Its validation code.
    pub code: ValidationCode,
}

/// A network as a client sees it.
pub trait Gateway: Send + Sync {
    /// Executes a proposal as a query on one node and returns the chaincode's response.
    fn evaluate(
        &self,
        proposal: &SignedProposal,
        transient: &[(String, Vec<u8>)],
    ) -> Result<ChaincodeResponse, NodeError>;

    /// Collects endorsements from nodes of the organisations the chaincode's endorsement
    /// policy names.
    fn endorse(
        &self,
        proposal: &SignedProposal,
        transient: &[(String, Vec<u8>)],
    ) -> Result<Vec<ProposalResponse>, NodeError>;

    /// Orders a transaction and waits until it is committed.
    fn submit(&self, tx: Transaction) -> Result<SubmitOutcome, NodeError>;

    /// A chaincode's encryption key (latest epoch) and the registration of the enclave
    /// that made it; `None` before the key is distributed. Unverified: the client checks
    /// it.
    fn chaincode_key(&self, chaincode: &str) -> Result<Option<crate::rpc::ChaincodeKey>, NodeError> {
        self.latest_key(&teechain_types::keys::KeyScope::Chaincode { namespace: chaincode.to_string() })
    }

    /// A key's latest epoch (a chaincode's key, a collection's data key) and the
    /// registration of the enclave that made it; `None` before it is distributed.
    fn latest_key(&self, scope: &teechain_types::keys::KeyScope)
        -> Result<Option<crate::rpc::ChaincodeKey>, NodeError>;

    /// Orders several transactions (in one block where possible) and waits for all.
    fn submit_all(&self, txs: Vec<Transaction>) -> Result<Vec<SubmitOutcome>, NodeError> {
        txs.into_iter().map(|tx| self.submit(tx)).collect()
    }
}
