//! The network directory: what `teechain network init` writes and every node reads.
//!
//! ```text
//! DIR/network.json                       channel config (orgs, CA certs, lifecycle policy) and nodes
//! DIR/orgs/<org>/ca/{cert,key}.pem       the organisation's CA
//! DIR/orgs/<org>/users/admin/{cert,key}.pem   approves chaincode definitions
//! DIR/orgs/<org>/users/client/{cert,key}.pem  invokes and queries
//! DIR/orgs/<org>/peers/peer0/{cert,key}.pem   the node's identity
//! DIR/nodes/peer0.<org>/                 the node's data: ledger.redb, chaincode/
//! ```
//! Key files are created with mode 0600 and never overwritten.

use crate::error::NodeError;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use teechain_attestation::{
    AttestationPolicy, PlatformKey, PlatformPublicKey, SgxMeasurement, SgxPolicy, VirtualPolicy,
};
use teechain_crypto::{OrgCa, SigningIdentity};
use teechain_types::{Hash32, Role};

/// File name of the network config inside the network directory.
pub const NETWORK_FILE: &str = "network.json";

/// One organisation of the channel.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgEntry {
    /// Organisation (MSP) id.
    pub name: String,
    /// Its CA certificate, PEM.
    pub ca_cert_pem: String,
}

/// The channel: its organisations and how chaincode definitions are agreed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelConfig {
    /// Channel id.
    pub channel: String,
    /// Member organisations.
    pub orgs: Vec<OrgEntry>,
    /// Lifecycle policy: `MAJORITY admin` (a majority of organisations' admins approve).
    pub lifecycle_policy: String,
    /// Which enclaves may be registered to endorse.
    pub attestation: ChannelAttestation,
    /// How far (ms) a proposal's time, the time its chaincode sees, may lie from the
    /// channel's time (the organisations' median time beacon) when it commits.
    #[serde(default = "default_proposal_window_ms")]
    pub proposal_time_window_ms: u64,
    /// How often (ms) each node vouches for the time with a beacon on the ledger (the
    /// channel's time is the organisations' median); 0: never, and the channel's time is
    /// its leader's block time. Keep it well under the window.
    #[serde(default = "default_time_beacon_interval_ms")]
    pub time_beacon_interval_ms: u64,
}

fn default_time_beacon_interval_ms() -> u64 {
    10_000
}

fn default_proposal_window_ms() -> u64 {
    teechain_ledger::DEFAULT_PROPOSAL_WINDOW_MS
}

/// A channel's attestation policy as `network.json` spells it (keys and measurements
/// in hex). A platform that is absent is refused.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelAttestation {
    /// The virtual platform (INSECURE: development only).
    #[serde(default, rename = "virtual", skip_serializing_if = "Option::is_none")]
    pub virtual_platform: Option<VirtualAttestation>,
    /// Intel SGX.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sgx: Option<SgxAttestation>,
}

/// Virtual platform rules.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VirtualAttestation {
    /// Platform public keys (hex) whose evidence is believed: one per machine that runs
    /// nodes (`teechain platform key` prints a machine's).
    pub trusted_platform_keys: Vec<String>,
}

/// SGX rules.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SgxAttestation {
    /// Admitted enclave builds (MRENCLAVE, hex).
    pub mrenclaves: Vec<String>,
    /// Admit debug enclaves (never in production).
    #[serde(default)]
    pub allow_debug: bool,
    /// TCB statuses accepted besides UpToDate, e.g. `SWHardeningNeeded`.
    #[serde(default)]
    pub accept_tcb: Vec<teechain_attestation::TcbStatus>,
}

impl ChannelAttestation {
    /// The policy validation and clients apply.
    pub fn policy(&self) -> Result<AttestationPolicy, String> {
        let virtual_platform = match &self.virtual_platform {
            None => None,
            Some(v) => Some(VirtualPolicy {
                trusted_platform_keys: v
                    .trusted_platform_keys
                    .iter()
                    .map(|k| {
                        PlatformPublicKey::from_hex(k).ok_or_else(|| format!("platform key '{k}' is not 64 hex digits"))
                    })
                    .collect::<Result<_, _>>()?,
                allowed_measurements: None,
            }),
        };
        let sgx = match &self.sgx {
            None => None,
            Some(s) => Some(SgxPolicy {
                allowed: s
                    .mrenclaves
                    .iter()
                    .map(|m| {
                        Hash32::from_hex(m)
                            .map(SgxMeasurement::MrEnclave)
                            .ok_or_else(|| format!("MRENCLAVE '{m}' is not 64 hex digits"))
                    })
                    .collect::<Result<_, _>>()?,
                allow_debug: s.allow_debug,
                accept_tcb: s.accept_tcb.clone(),
            }),
        };
        Ok(AttestationPolicy { virtual_platform, sgx })
    }

    /// The platforms admitted, for display (`virtual` marked INSECURE).
    pub fn platforms(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.virtual_platform.is_some() {
            out.push("virtual (INSECURE)");
        }
        if self.sgx.is_some() {
            out.push("sgx");
        }
        out
    }
}

/// Where this machine's virtual platform key lives: `$TEECHAIN_PLATFORM_KEY`, or
/// `~/.teechain/platform.key`. Outside every node's data directory, so copying a node's
/// data does not copy the power to attest.
pub fn default_platform_key_path() -> Result<PathBuf, NodeError> {
    if let Some(p) = std::env::var_os("TEECHAIN_PLATFORM_KEY") {
        return Ok(PathBuf::from(p));
    }
    match std::env::var_os("HOME") {
        Some(home) => Ok(PathBuf::from(home).join(".teechain").join("platform.key")),
        None => {
            Err(NodeError::Invalid("cannot find the virtual platform key: set HOME or TEECHAIN_PLATFORM_KEY".into()))
        }
    }
}

/// One node of the network.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeEntry {
    /// Node name, e.g. `peer0.org1`.
    pub name: String,
    /// Its organisation.
    pub org: String,
    /// Its identity's name under `orgs/<org>/peers/`.
    pub identity: String,
    /// Its data directory, relative to the network directory.
    pub data_dir: String,
    /// Raft node id: unique in the network, never reused.
    pub node_id: u64,
    /// `host:port` of its client-facing gateway service.
    pub gateway_address: String,
    /// `host:port` of its node-to-node service (Raft, endorsement, catch-up).
    pub peer_address: String,
    /// Set once the node has been removed from the network; its id is never reused.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub removed: bool,
}

/// What `teechain node start --config FILE` reads: where the network config is and which
/// of its nodes to run. Written by `network init` as `nodes/<name>/node.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeFile {
    /// The network directory, relative to this file's directory (or absolute).
    pub network_dir: String,
    /// The node's name in the network config.
    pub name: String,
    /// Blocks after which private data received for a transaction that never commits
    /// is dropped from the (in-memory) transient store.
    #[serde(default = "default_transient_retention")]
    pub transient_retention_blocks: u64,
    /// Where the node's enclave runs.
    #[serde(default)]
    pub enclave: EnclaveMode,
    /// The `teechain-enclave` executable for [`EnclaveMode::Process`] (default: next to
    /// the running `teechain` binary).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enclave_exe: Option<PathBuf>,
    /// What the enclave process listens on: `unix` (default) or `tcp` (loopback, a port
    /// the system chooses; needed under Gramine).
    #[serde(default, skip_serializing_if = "is_default")]
    pub enclave_transport: teechain_enclave::Transport,
    /// A program (and its arguments) to run the enclave executable under, e.g.
    /// `["gramine-sgx"]` with `enclave_exe` the manifest's name (`teechain-enclave`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub enclave_launcher: Vec<String>,
    /// The platform the enclave runs on.
    #[serde(default = "default_platform", with = "platform_name")]
    pub platform: teechain_attestation::Platform,
    /// The virtual platform key file (default: [`default_platform_key_path`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub virtual_platform_key: Option<PathBuf>,
}

fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

fn default_platform() -> teechain_attestation::Platform {
    teechain_attestation::Platform::Virtual
}

/// `"virtual"` / `"sgx"` in JSON.
mod platform_name {
    use serde::{Deserialize, Deserializer, Serializer};
    use teechain_attestation::Platform;

    pub(super) fn serialize<S: Serializer>(p: &Platform, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(p.name())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Platform, D::Error> {
        let name = String::deserialize(d)?;
        Platform::parse(&name)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown platform '{name}' (virtual or sgx)")))
    }
}

impl NodeFile {
    /// The start config of node `name` in a network directory two levels up.
    pub fn new(name: String, enclave: EnclaveMode) -> NodeFile {
        NodeFile {
            network_dir: "../..".into(),
            name,
            transient_retention_blocks: default_transient_retention(),
            enclave,
            enclave_exe: None,
            enclave_transport: Default::default(),
            enclave_launcher: Vec::new(),
            platform: default_platform(),
            virtual_platform_key: None,
        }
    }
}

fn default_transient_retention() -> u64 {
    crate::transient::DEFAULT_RETENTION_BLOCKS
}

/// File name of a node's start config inside its data directory.
pub const NODE_FILE: &str = "node.json";

/// Where and how `network init` lays out the nodes.
#[derive(Clone, Debug)]
pub struct InitOptions {
    /// Channel id.
    pub channel: String,
    /// Host the nodes listen on and are reached at.
    pub host: String,
    /// Ports: node `i` (from 0) gets gateway `base_port + 10 i + 1` and peer `base_port + 10 i + 2`.
    pub base_port: u16,
    /// Where the nodes' enclaves run.
    pub enclave: EnclaveMode,
    /// Virtual platform keys (hex) the channel trusts besides this machine's.
    pub trusted_platform_keys: Vec<String>,
}

impl Default for InitOptions {
    fn default() -> Self {
        InitOptions {
            channel: "teechain".into(),
            host: "127.0.0.1".into(),
            base_port: 7050,
            enclave: EnclaveMode::InProcess,
            trusted_platform_keys: Vec::new(),
        }
    }
}

/// Where a node's enclave runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EnclaveMode {
    /// In the node's own process.
    #[default]
    InProcess,
    /// As its own process (`teechain-enclave`) behind a Unix socket: the process a
    /// Gramine manifest runs inside SGX.
    Process,
}

/// The whole network config (`DIR/network.json`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkConfig {
    /// The channel.
    pub channel: ChannelConfig,
    /// The nodes.
    pub nodes: Vec<NodeEntry>,
}

impl NetworkConfig {
    /// Reads `DIR/network.json`.
    pub fn load(dir: &Path) -> Result<NetworkConfig, NodeError> {
        let path = dir.join(NETWORK_FILE);
        let text = std::fs::read_to_string(&path).map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                NodeError::Config {
                    path: path.clone(),
                    message: "no network here: run `teechain network init --dir DIR` first".into(),
                }
            } else {
                NodeError::Io { path: path.clone(), source }
            }
        })?;
        serde_json::from_str(&text).map_err(|e| NodeError::Config { path, message: e.to_string() })
    }

    /// The organisations and their CA certificates (DER), as the MSP takes them.
    pub fn msp_orgs(&self) -> Result<Vec<(String, Vec<u8>)>, NodeError> {
        self.channel
            .orgs
            .iter()
            .map(|o| Ok((o.name.clone(), teechain_crypto::parse_cert_pem(&o.ca_cert_pem)?)))
            .collect()
    }

    /// Writes `DIR/network.json`.
    pub fn save(&self, dir: &Path) -> Result<(), NodeError> {
        let path = dir.join(NETWORK_FILE);
        let text = serde_json::to_string_pretty(self).map_err(|e| NodeError::Invalid(e.to_string()))?;
        std::fs::write(&path, text).map_err(NodeError::io(&path))
    }

    /// The nodes that have not been removed.
    pub fn active_nodes(&self) -> impl Iterator<Item = &NodeEntry> {
        self.nodes.iter().filter(|n| !n.removed)
    }

    /// The node called `name`.
    pub fn node(&self, name: &str) -> Option<&NodeEntry> {
        self.nodes.iter().find(|n| n.name == name)
    }

    /// Names of the organisations.
    pub fn org_names(&self) -> Vec<String> {
        self.channel.orgs.iter().map(|o| o.name.clone()).collect()
    }
}

/// Directory of a user's identity (`admin` or `client`).
pub fn user_dir(dir: &Path, org: &str, user: &str) -> PathBuf {
    dir.join("orgs").join(org).join("users").join(user)
}

/// Directory of a node's identity.
pub fn peer_identity_dir(dir: &Path, org: &str, identity: &str) -> PathBuf {
    dir.join("orgs").join(org).join("peers").join(identity)
}

/// Loads the identity stored in `id_dir` (`cert.pem`, `key.pem`).
pub fn load_identity(id_dir: &Path, org: &str) -> Result<SigningIdentity, NodeError> {
    Ok(SigningIdentity::load(&id_dir.join("cert.pem"), &id_dir.join("key.pem"), org)?)
}

/// Checks an organisation name: lower-case letters, digits and '-', 1 to 32 long.
pub fn check_org_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 32
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(format!("organisation name '{name}' must be 1-32 characters of a-z, 0-9 and '-'"))
    }
}

/// Adds a node of `org` to an existing network directory: a new node identity issued by
/// the organisation's CA, the next unused node id (ids are never reused), the next free
/// ports after the highest in use, and its data directory. The running network learns
/// of it when it joins (`teechain node join`).
pub fn add_node(dir: &Path, org: &str) -> Result<NodeEntry, NodeError> {
    let mut config = NetworkConfig::load(dir)?;
    if !config.channel.orgs.iter().any(|o| o.name == org) {
        return Err(NodeError::Invalid(format!("organisation '{org}' is not in the channel")));
    }
    let ca_dir = dir.join("orgs").join(org).join("ca");
    let read = |f: &str| std::fs::read_to_string(ca_dir.join(f)).map_err(NodeError::io(ca_dir.join(f)));
    let ca = OrgCa::load(&read("cert.pem")?, &read("key.pem")?, org)?;
    let index = (0..).find(|i| !peer_identity_dir(dir, org, &format!("peer{i}")).exists()).unwrap_or(0);
    let identity = format!("peer{index}");
    let name = format!("{identity}.{org}");
    let node_id = config.nodes.iter().map(|n| n.node_id).max().unwrap_or(0) + 1;
    let last = config
        .nodes
        .iter()
        .filter_map(|n| n.peer_address.rsplit_once(':'))
        .max_by_key(|(_, p)| p.parse::<u32>().unwrap_or(0));
    let (host, port) = match last {
        Some((h, p)) => (h.to_string(), p.parse::<u16>().map_err(|e| NodeError::Invalid(format!("peer port: {e}")))?),
        None => ("127.0.0.1".to_string(), 7050),
    };
    // The next pair after the highest peer port, in the `base + 10 i + {1,2}` pattern.
    let gateway_port = port.checked_add(9).ok_or_else(|| NodeError::Invalid("no ports left".into()))?;
    let hosts = if host == "127.0.0.1" || host == "localhost" { Vec::new() } else { vec![host.clone()] };
    let id = ca.issue(&name, Role::Peer, &hosts)?;
    write_pair(&peer_identity_dir(dir, org, &identity), &id.cert_pem, &id.key_pem)?;
    let data_dir = format!("nodes/{name}");
    std::fs::create_dir_all(dir.join(&data_dir)).map_err(NodeError::io(dir.join(&data_dir)))?;
    let node_file = NodeFile::new(name.clone(), EnclaveMode::default());
    let node_file_path = dir.join(&data_dir).join(NODE_FILE);
    let text = serde_json::to_string_pretty(&node_file).map_err(|e| NodeError::Invalid(e.to_string()))?;
    std::fs::write(&node_file_path, text).map_err(NodeError::io(&node_file_path))?;
    let entry = NodeEntry {
        name,
        org: org.to_string(),
        identity,
        data_dir,
        node_id,
        gateway_address: format!("{host}:{gateway_port}"),
        peer_address: format!("{host}:{}", gateway_port + 1),
        removed: false,
    };
    config.nodes.push(entry.clone());
    config.save(dir)?;
    Ok(entry)
}

/// Creates a network directory: per organisation a CA, an admin, a client and one node
/// identity; the channel config; one data directory per node. Refuses to touch a
/// directory that already holds a network.
pub fn init_network(dir: &Path, channel: &str, orgs: &[String]) -> Result<NetworkConfig, NodeError> {
    init_network_with(dir, orgs, &InitOptions { channel: channel.to_string(), ..InitOptions::default() })
}

/// [`init_network`] with explicit host and ports.
pub fn init_network_with(dir: &Path, orgs: &[String], options: &InitOptions) -> Result<NetworkConfig, NodeError> {
    let channel = options.channel.as_str();
    if orgs.is_empty() {
        return Err(NodeError::Invalid("name at least one organisation".into()));
    }
    for (i, o) in orgs.iter().enumerate() {
        check_org_name(o).map_err(NodeError::Invalid)?;
        if orgs[..i].contains(o) {
            return Err(NodeError::Invalid(format!("organisation '{o}' is named twice")));
        }
    }
    if dir.join(NETWORK_FILE).exists() || dir.join("orgs").exists() {
        return Err(NodeError::AlreadyInitialised(dir.to_path_buf()));
    }
    // The development channel trusts this machine's virtual platform (INSECURE) and the
    // other machines' keys it is given.
    let key_path = default_platform_key_path()?;
    let local = PlatformKey::load_or_create(&key_path).map_err(|e| NodeError::Invalid(e.to_string()))?;
    let mut trusted = vec![local.public_key().to_hex()];
    for k in &options.trusted_platform_keys {
        if PlatformPublicKey::from_hex(k).is_none() {
            return Err(NodeError::Invalid(format!("platform key '{k}' is not 64 hex digits")));
        }
        if !trusted.contains(k) {
            trusted.push(k.clone());
        }
    }
    let mut config = NetworkConfig {
        channel: ChannelConfig {
            channel: channel.to_string(),
            orgs: Vec::new(),
            lifecycle_policy: "MAJORITY admin".into(),
            attestation: ChannelAttestation {
                virtual_platform: Some(VirtualAttestation { trusted_platform_keys: trusted }),
                sgx: None,
            },
            proposal_time_window_ms: default_proposal_window_ms(),
            time_beacon_interval_ms: default_time_beacon_interval_ms(),
        },
        nodes: Vec::new(),
    };
    for org in orgs {
        let ca = OrgCa::generate(org)?;
        let ca_dir = dir.join("orgs").join(org).join("ca");
        write_pair(&ca_dir, &ca.cert_pem(), &ca.key_pem())?;
        for (user, role) in [("admin", Role::Admin), ("client", Role::Client)] {
            let id = ca.issue(&format!("{user}@{org}"), role, &[])?;
            write_pair(&user_dir(dir, org, user), &id.cert_pem, &id.key_pem)?;
        }
        let node_name = format!("peer0.{org}");
        let hosts: Vec<String> = if options.host == "127.0.0.1" || options.host == "localhost" {
            Vec::new()
        } else {
            vec![options.host.clone()]
        };
        let id = ca.issue(&node_name, Role::Peer, &hosts)?;
        write_pair(&peer_identity_dir(dir, org, "peer0"), &id.cert_pem, &id.key_pem)?;
        let data_dir = format!("nodes/{node_name}");
        std::fs::create_dir_all(dir.join(&data_dir)).map_err(NodeError::io(dir.join(&data_dir)))?;
        config.channel.orgs.push(OrgEntry { name: org.clone(), ca_cert_pem: ca.cert_pem() });
        let i = config.nodes.len() as u16;
        let port = |offset: u16| -> Result<u16, NodeError> {
            options.base_port.checked_add(10 * i + offset).ok_or_else(|| {
                NodeError::Invalid(format!("base port {} leaves no room for {} nodes", options.base_port, orgs.len()))
            })
        };
        let node_file = NodeFile::new(node_name.clone(), options.enclave);
        let node_file_path = dir.join(&data_dir).join(NODE_FILE);
        let text = serde_json::to_string_pretty(&node_file).map_err(|e| NodeError::Invalid(e.to_string()))?;
        std::fs::write(&node_file_path, text).map_err(NodeError::io(&node_file_path))?;
        config.nodes.push(NodeEntry {
            name: node_name,
            org: org.clone(),
            identity: "peer0".into(),
            data_dir,
            node_id: u64::from(i) + 1,
            gateway_address: format!("{}:{}", options.host, port(1)?),
            peer_address: format!("{}:{}", options.host, port(2)?),
            removed: false,
        });
    }
    let path = dir.join(NETWORK_FILE);
    let text = serde_json::to_string_pretty(&config).map_err(|e| NodeError::Invalid(e.to_string()))?;
    std::fs::write(&path, text).map_err(NodeError::io(&path))?;
    Ok(config)
}

fn write_pair(dir: &Path, cert_pem: &str, key_pem: &str) -> Result<(), NodeError> {
    std::fs::create_dir_all(dir).map_err(NodeError::io(dir))?;
    let cert = dir.join("cert.pem");
    std::fs::write(&cert, cert_pem).map_err(NodeError::io(&cert))?;
    teechain_crypto::write_secret(&dir.join("key.pem"), key_pem)?;
    Ok(())
}
