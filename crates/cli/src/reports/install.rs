//! `chiaro install`'s report.

use chiaro_manifest::PolicyHash;
use serde::{Deserialize, Serialize};

/// What `chiaro install` reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstallSummary {
    /// Chiaro's namespace.
    pub namespace: String,
    /// The Coordinator's policy hash (its manifest entry, its reference values' pin).
    pub coordinator_policy_hash: PolicyHash,
    /// The Coordinator's image, pinned.
    pub coordinator_image: String,
    /// Its names (reserved: no workload may take them).
    pub coordinator_sans: Vec<String>,
    /// The Coordinator's mesh API as pods reach it (`generate --coordinator-address`).
    pub coordinator_address: String,
    /// The files written.
    pub written: Vec<String>,
    /// What the user should know.
    pub warnings: Vec<String>,
}
