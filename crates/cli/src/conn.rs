//! How a command reaches a network: the running node processes, through their gateways.
//! A stopped network is refused: every block any ledger holds is ordered by Raft, so no
//! command runs the nodes inside itself and writes their ledgers directly.

use anyhow::{bail, Context, Result};
use std::path::Path;
use teechain_client::remote::RemoteGateway;
use teechain_client::Client;
use teechain_node::config::NetworkConfig;
use teechain_node::rpc::{ClientTls, PeerClient};
use teechain_node::Gateway;
use teechain_types::chaincode::ChaincodeDefinition;
use teechain_types::tx::{LifecycleOp, TxBody};

/// A connection to a running network as one user of one organisation.
pub(crate) struct Connection {
    gateway: RemoteGateway,
    dir: std::path::PathBuf,
    config: NetworkConfig,
}

impl Connection {
    /// Connects as `user` (`client` or `admin`) of `org`.
    pub(crate) fn open(dir: &Path, org: &str, user: &str) -> Result<(Connection, Client)> {
        let config = NetworkConfig::load(dir)?;
        let signer = teechain_node::config::load_identity(&teechain_node::config::user_dir(dir, org, user), org)
            .with_context(|| format!("identity {user} of {org}"))?;
        let client = Client::new(signer, config.channel.channel.clone());
        if !crate::cmd::network::is_up(dir) {
            bail!(
                "the network in {} is not running: start it with `teechain network up --dir {}`",
                dir.display(),
                dir.display()
            );
        }
        teechain_node::rpc::tls::install_crypto_provider();
        let tls = ClientTls::for_user(dir, &config, org, user)?;
        // The user's own organisation's nodes first, as Fabric's gateway clients do.
        let mut addresses: Vec<String> =
            config.nodes.iter().filter(|n| n.org == org).map(|n| n.gateway_address.clone()).collect();
        addresses.extend(config.nodes.iter().filter(|n| n.org != org).map(|n| n.gateway_address.clone()));
        let gateway = RemoteGateway::connect(addresses, tls)?;
        Ok((Connection { gateway, dir: dir.to_path_buf(), config }, client))
    }

    /// The gateway to send requests through.
    pub(crate) fn gateway(&self) -> &dyn Gateway {
        &self.gateway
    }

    /// The network's directory and configuration.
    pub(crate) fn network(&self) -> (&Path, &NetworkConfig) {
        (&self.dir, &self.config)
    }

    /// Makes a chaincode package available on every node.
    pub(crate) fn install(&self, wasm: &[u8]) -> Result<teechain_types::Hash32> {
        // A running node loads packages from its data directory when it first needs them.
        let hash = teechain_types::sha256(wasm);
        for node in &self.config.nodes {
            let pkg = self.dir.join(&node.data_dir).join("chaincode");
            std::fs::create_dir_all(&pkg)?;
            let path = pkg.join(format!("{}.wasm", hash.to_hex()));
            if !path.exists() {
                std::fs::write(&path, wasm).with_context(|| format!("writing {}", path.display()))?;
            }
        }
        Ok(hash)
    }

    /// Committed chaincode definitions, by name.
    pub(crate) fn definitions(&self) -> Result<Vec<ChaincodeDefinition>> {
        // Replay the valid lifecycle commits of the first reachable node's chain, read over
        // the peer service with a node identity of this directory.
        let (config, dir) = (&self.config, &self.dir);
        let first = config.nodes.first().context("network has no nodes")?;
        let tls = &ClientTls::for_node(dir, config, first)?;
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let mut last_error = None;
        for node in &config.nodes {
            match rt.block_on(chain_of(&node.peer_address, tls)) {
                Ok(blocks) => return Ok(committed_definitions(&blocks)),
                Err(e) => last_error = Some(e),
            }
        }
        Err(last_error.map(anyhow::Error::from).unwrap_or_else(|| anyhow::anyhow!("no node reachable")))
    }
}

/// Every block of the node at `peer_address`, read over its peer service.
pub(crate) async fn chain_of(
    peer_address: &str,
    tls: &ClientTls,
) -> Result<Vec<teechain_types::Block>, teechain_node::NodeError> {
    let c = PeerClient::new(peer_address, tls)?;
    let mut all = Vec::new();
    loop {
        let batch = c.blocks(all.len() as u64, 256).await?;
        if batch.is_empty() {
            return Ok(all);
        }
        all.extend(batch);
    }
}

fn committed_definitions(blocks: &[teechain_types::Block]) -> Vec<ChaincodeDefinition> {
    let mut defs = std::collections::BTreeMap::new();
    for b in blocks {
        for (tx, code) in b.transactions.iter().zip(&b.validation) {
            if let (true, TxBody::Lifecycle(LifecycleOp::Commit(d))) = (code.is_valid(), &tx.payload.body) {
                defs.insert(d.name.clone(), d.clone());
            }
        }
    }
    defs.into_values().collect()
}
