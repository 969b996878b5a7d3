//! What `chiaro set` and `chiaro verify` report.

use chiaro_manifest::{DeploymentId, KeyDigest, ManifestHash, TransitionHash};
use serde::{Deserialize, Serialize};

/// What `chiaro set` reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetReport {
    /// The deployment the manifest was installed into.
    pub deployment: DeploymentId,
    /// The new transition (hex, as the Coordinator returned it).
    pub transition: String,
    /// The installed manifest's hash.
    pub manifest: ManifestHash,
    /// The seed-share files written (the first manifest only).
    pub seed_shares: Vec<String>,
    /// This machine's record of the deployment.
    pub record: String,
    /// The manifest was the latest one already: no transition was added, nothing rotated.
    pub unchanged: bool,
}

/// What `chiaro verify` reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyReport {
    /// The deployment verified.
    pub deployment: DeploymentId,
    /// How many manifests its history has.
    pub manifests: usize,
    /// The latest manifest's hash.
    pub latest_manifest: ManifestHash,
    /// The latest transition.
    pub latest_transition: TransitionHash,
    /// Every step.
    pub history: Vec<HistoryStep>,
    /// Where the history and the CAs were written.
    pub out: String,
}

/// One step of a verified history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryStep {
    /// Its index.
    pub step: usize,
    /// Its transition.
    pub transition: TransitionHash,
    /// Its manifest's hash.
    pub manifest: ManifestHash,
    /// The owner who signed it.
    pub signed_by: KeyDigest,
    /// How many policies its manifest lists.
    pub policies: usize,
}
