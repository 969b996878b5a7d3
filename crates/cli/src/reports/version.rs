//! What `chiaro version` reports.

use serde::{Deserialize, Serialize};

/// This CLI's build, and the Coordinator's version when asked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionReport {
    /// The package version.
    pub version: String,
    /// The source commit it was built from (`unknown` without git).
    pub commit: String,
    /// The target triple it was built for.
    pub target: String,
    /// The attested Coordinator's version (`-c`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coordinator: Option<CoordinatorVersion>,
}

/// A Coordinator's version, asked over its attested user API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CoordinatorVersion {
    /// Where it was asked.
    pub address: String,
    /// What it answered.
    pub version: String,
}
