//! Who signs: an organisation and a certificate its CA issued.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A serialized identity, as in Fabric's MSP: the organisation it claims and the DER
/// X.509 certificate. The claim is checked by validating the certificate against that
/// organisation's CA in the channel config.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Identity {
    /// Organisation (MSP) id, e.g. `org1`.
    pub org: String,
    /// DER certificate.
    pub cert_der: Vec<u8>,
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Identity({}, {} B cert)", self.org, self.cert_der.len())
    }
}

/// The role a certificate carries in its organisational unit, as Fabric's node OUs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Role {
    /// An organisation administrator (approves chaincode definitions).
    Admin,
    /// A client application or user.
    Client,
    /// A node (endorses and commits).
    Peer,
}

impl Role {
    /// The OU string used in certificates.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Client => "client",
            Role::Peer => "peer",
        }
    }

    /// Parses an OU string.
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "admin" => Some(Role::Admin),
            "client" => Some(Role::Client),
            "peer" => Some(Role::Peer),
            _ => None,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
