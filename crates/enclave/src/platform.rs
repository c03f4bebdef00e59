use serde::{Deserialize, Serialize};
use std::fmt;

/// The trusted-execution platform an enclave runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Platform {
    /// Software only, for development and CI: the host can read everything. INSECURE.
    Virtual,
}

impl Platform {
    /// Short name as used in configs.
    pub fn name(self) -> &'static str {
        match self {
            Platform::Virtual => "virtual",
        }
    }

    /// Whether the platform protects the enclave from the host.
    pub fn is_secure(self) -> bool {
        match self {
            Platform::Virtual => false,
        }
    }

    /// Parses a config name.
    pub fn parse(name: &str) -> Option<Platform> {
        match name {
            "virtual" => Some(Platform::Virtual),
            _ => None,
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Platform::Virtual => f.write_str("virtual (INSECURE: software only, no hardware isolation)"),
        }
    }
}
