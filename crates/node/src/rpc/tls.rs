//! Mutual TLS material for a node's listeners and for every outgoing connection.
//!
//! Trust roots are the CA certificates of ALL the channel's organisations (from
//! `network.json`): a node of org2 or a client of org3 is admitted by org1's node, a
//! certificate from any other CA is refused during the handshake. Servers require a client
//! certificate (mutual TLS); clients check the server certificate against the same roots
//! and the host they dialled (peer certificates carry `localhost` and `127.0.0.1`).
//!
//! Every certificate here is Ed25519 (see `teechain_crypto::OrgCa`), so the rustls `ring`
//! provider is used; [`install_crypto_provider`] makes it the process default so that a
//! second provider compiled in by another crate cannot make rustls refuse to choose.

use crate::config::{self, NetworkConfig, NodeEntry};
use crate::error::NodeError;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use teechain_crypto::Msp;
use tonic::transport::{Certificate, ClientTlsConfig, Identity, ServerTlsConfig};

/// Longest a TLS handshake may take before the connection is dropped.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Makes rustls' `ring` provider the process default (once; later calls do nothing).
pub fn install_crypto_provider() {
    // Err means a default is already installed: by us earlier, or by the embedding program
    // on purpose. Either way there is one, which is all rustls needs.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A certificate chain and key in PEM, checked to parse.
#[derive(Clone)]
struct KeyPair {
    cert_pem: String,
    key_pem: String,
}

impl KeyPair {
    fn new(cert_pem: String, key_pem: String, what: &str) -> Result<KeyPair, NodeError> {
        let certs = parse_certs(&cert_pem, what)?;
        if certs.is_empty() {
            return Err(tls_config(what, "no certificate in the PEM"));
        }
        PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
            .map_err(|e| tls_config(what, &format!("private key does not parse: {e}")))?;
        Ok(KeyPair { cert_pem, key_pem })
    }

    fn load(dir: &Path) -> Result<KeyPair, NodeError> {
        let cert = dir.join("cert.pem");
        let key = dir.join("key.pem");
        let cert_pem = std::fs::read_to_string(&cert).map_err(NodeError::io(&cert))?;
        let key_pem = std::fs::read_to_string(&key).map_err(NodeError::io(&key))?;
        KeyPair::new(cert_pem, key_pem, &dir.display().to_string())
    }

    fn identity(&self) -> Identity {
        Identity::from_pem(&self.cert_pem, &self.key_pem)
    }
}

fn tls_config(what: &str, message: &str) -> NodeError {
    NodeError::Config { path: PathBuf::from(what), message: format!("TLS: {message}") }
}

fn parse_certs(pem: &str, what: &str) -> Result<Vec<CertificateDer<'static>>, NodeError> {
    CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| tls_config(what, &format!("certificate does not parse: {e}")))
}

/// Trust roots: the channel organisations' CA certificates, each checked to be usable as a
/// webpki trust anchor.
#[derive(Clone)]
struct Roots {
    /// Every root, PEM, concatenated (what tonic takes).
    bundle: String,
    /// The same as (organisation, DER), for the membership check of peer callers.
    orgs: Vec<(String, Vec<u8>)>,
}

impl Roots {
    fn new(orgs: &[(String, String)]) -> Result<Roots, NodeError> {
        if orgs.is_empty() {
            return Err(tls_config("trust roots", "no CA certificate to trust"));
        }
        let mut bundle = String::new();
        let mut ders = Vec::with_capacity(orgs.len());
        for (org, pem) in orgs {
            let what = format!("CA certificate of {org}");
            let certs = parse_certs(pem, &what)?;
            let [cert] = certs.as_slice() else {
                return Err(tls_config(&what, "expected exactly one certificate"));
            };
            let mut store = rustls::RootCertStore::empty();
            store.add(cert.clone()).map_err(|e| tls_config(&what, &format!("not usable as a trust anchor: {e}")))?;
            bundle.push_str(pem.trim_end());
            bundle.push('\n');
            ders.push((org.clone(), cert.to_vec()));
        }
        Ok(Roots { bundle, orgs: ders })
    }

    fn of_network(config: &NetworkConfig) -> Result<Roots, NodeError> {
        let orgs: Vec<(String, String)> =
            config.channel.orgs.iter().map(|o| (o.name.clone(), o.ca_cert_pem.clone())).collect();
        Roots::new(&orgs)
    }

    fn certificate(&self) -> Certificate {
        Certificate::from_pem(&self.bundle)
    }
}

/// What a node's listeners present and whom they admit.
#[derive(Clone)]
pub struct ServerTls {
    pair: KeyPair,
    roots: Roots,
    msp: Arc<Msp>,
}

impl fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let orgs: Vec<&str> = self.roots.orgs.iter().map(|(o, _)| o.as_str()).collect();
        f.debug_struct("ServerTls").field("trusted_orgs", &orgs).finish_non_exhaustive()
    }
}

impl ServerTls {
    /// A server presenting `cert_pem` (a peer certificate, chain allowed) with `key_pem`
    /// (PKCS#8), admitting clients whose certificates chain to one of `roots`
    /// (organisation, CA certificate PEM).
    pub fn new(cert_pem: &str, key_pem: &str, roots: &[(String, String)]) -> Result<ServerTls, NodeError> {
        install_crypto_provider();
        let pair = KeyPair::new(cert_pem.to_string(), key_pem.to_string(), "server certificate")?;
        let roots = Roots::new(roots)?;
        let msp = Arc::new(Msp::new(&roots.orgs)?);
        Ok(ServerTls { pair, roots, msp })
    }

    /// The TLS material of `node` in the network directory `dir`: its identity
    /// (`orgs/<org>/peers/<id>/{cert,key}.pem`) and every channel organisation's CA.
    pub fn for_node(dir: &Path, config: &NetworkConfig, node: &NodeEntry) -> Result<ServerTls, NodeError> {
        install_crypto_provider();
        let pair = KeyPair::load(&config::peer_identity_dir(dir, &node.org, &node.identity))?;
        let roots = Roots::of_network(config)?;
        let msp = Arc::new(Msp::new(&roots.orgs)?);
        Ok(ServerTls { pair, roots, msp })
    }

    /// The channel membership made of the trust roots: checks the role of peer callers.
    pub(crate) fn msp(&self) -> Arc<Msp> {
        self.msp.clone()
    }

    /// The tonic server configuration: our identity, client certificates required and
    /// verified against the roots, a bounded handshake.
    pub(crate) fn server_config(&self) -> ServerTlsConfig {
        ServerTlsConfig::new()
            .identity(self.pair.identity())
            .client_ca_root(self.roots.certificate())
            .client_auth_optional(false)
            .timeout(HANDSHAKE_TIMEOUT)
    }
}

/// What a client presents to nodes and how it checks them.
#[derive(Clone)]
pub struct ClientTls {
    pair: Option<KeyPair>,
    roots: Roots,
    server_name: Option<String>,
}

impl fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let orgs: Vec<&str> = self.roots.orgs.iter().map(|(o, _)| o.as_str()).collect();
        f.debug_struct("ClientTls")
            .field("has_identity", &self.pair.is_some())
            .field("trusted_orgs", &orgs)
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

impl ClientTls {
    /// A client presenting `cert_pem` with `key_pem` (PKCS#8) and trusting servers whose
    /// certificates chain to one of `roots` (organisation, CA certificate PEM).
    pub fn new(cert_pem: &str, key_pem: &str, roots: &[(String, String)]) -> Result<ClientTls, NodeError> {
        install_crypto_provider();
        let pair = KeyPair::new(cert_pem.to_string(), key_pem.to_string(), "client certificate")?;
        Ok(ClientTls { pair: Some(pair), roots: Roots::new(roots)?, server_name: None })
    }

    /// A client that presents no certificate. Every TEEChain listener refuses it; it exists
    /// to test exactly that.
    pub fn anonymous(roots: &[(String, String)]) -> Result<ClientTls, NodeError> {
        install_crypto_provider();
        Ok(ClientTls { pair: None, roots: Roots::new(roots)?, server_name: None })
    }

    /// A node's outgoing TLS: its own peer identity, every channel organisation's CA.
    pub fn for_node(dir: &Path, config: &NetworkConfig, node: &NodeEntry) -> Result<ClientTls, NodeError> {
        install_crypto_provider();
        let pair = KeyPair::load(&config::peer_identity_dir(dir, &node.org, &node.identity))?;
        Ok(ClientTls { pair: Some(pair), roots: Roots::of_network(config)?, server_name: None })
    }

    /// A user's TLS (`user` is `admin` or `client` of `org`): its identity, every channel
    /// organisation's CA.
    pub fn for_user(dir: &Path, config: &NetworkConfig, org: &str, user: &str) -> Result<ClientTls, NodeError> {
        install_crypto_provider();
        let pair = KeyPair::load(&config::user_dir(dir, org, user))?;
        Ok(ClientTls { pair: Some(pair), roots: Roots::of_network(config)?, server_name: None })
    }

    /// Checks servers against `name` instead of the host of the address dialled (e.g.
    /// `localhost` when dialling a node by an address its certificate does not name).
    pub fn with_server_name(mut self, name: impl Into<String>) -> ClientTls {
        self.server_name = Some(name.into());
        self
    }

    /// The tonic client configuration (the server name defaults to the dialled host).
    pub(crate) fn client_config(&self) -> ClientTlsConfig {
        let mut config = ClientTlsConfig::new().ca_certificate(self.roots.certificate()).timeout(HANDSHAKE_TIMEOUT);
        if let Some(pair) = &self.pair {
            config = config.identity(pair.identity());
        }
        if let Some(name) = &self.server_name {
            config = config.domain_name(name.clone());
        }
        config
    }
}

/// The (organisation, CA certificate PEM) pairs of a network, as [`ServerTls::new`] and
/// [`ClientTls::new`] take them.
pub fn network_roots(config: &NetworkConfig) -> Vec<(String, String)> {
    config.channel.orgs.iter().map(|o| (o.name.clone(), o.ca_cert_pem.clone())).collect()
}
