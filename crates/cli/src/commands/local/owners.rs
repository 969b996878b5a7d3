//! What the deployment's owners do, with the CLI's own functions in process: stage 2, their
//! keys (`keygen`); stage 5, installing the manifest (`set`); stage 8, verifying the
//! deployment (`verify`). Each attests the Coordinator over the network, as the commands do.

use std::net::SocketAddr;

use serde::Serialize;
use serde_json::Value;

use super::Work;
use super::story::Story;
use super::tee::COORDINATOR_REFERENCE_FILE;
use crate::cli::{CoordinatorArgs, SetArgs, VerifyDeploymentArgs};
use crate::commands::deployment::{install as set, verified};
use crate::commands::keygen::{new_seed_share_owner, new_workload_owner};
use crate::reports::{SeedShareOwnerKey, SetReport, VerifyReport, WorkloadOwnerKey};

/// The manifest local mode writes and installs.
pub(super) const MANIFEST_FILE: &str = "manifest.json";
const WORKLOAD_OWNER_KEY_FILE: &str = "workload-owner.pem";

/// The owners' keys.
pub(super) struct Owners {
    /// The workload owner (may update the manifest).
    pub(super) workload: WorkloadOwnerKey,
    /// The seed-share owner (can recover the Coordinator).
    pub(super) seed_share: SeedShareOwnerKey,
}

/// Stage 2: a workload owner's and a seed-share owner's keys.
pub(super) fn create(work: &Work, story: &mut Story) -> anyhow::Result<Owners> {
    story.step("2. Owner keys: a workload owner (may update the manifest) and a seed-share owner");
    let workload = new_workload_owner(&work.path(WORKLOAD_OWNER_KEY_FILE))?;
    let seed_share = new_seed_share_owner(&work.path("seed-share-owner.pem"))?;
    story.line(&format!(
        "workload owner key digest {}",
        workload.manifest_workload_owner_key_digest
    ));
    Ok(Owners {
        workload,
        seed_share,
    })
}

/// Stage 5: `set` attests the Coordinator and installs the manifest.
pub(super) fn install(
    work: &Work,
    user_api: SocketAddr,
    story: &mut Story,
) -> anyhow::Result<SetReport> {
    story.step("5. chiaro set: attest the Coordinator, install the manifest");
    let seed_shares_dir = work.path("seed-shares");
    std::fs::create_dir_all(&seed_shares_dir)?;
    let args = SetArgs {
        coordinator: coordinator_args(work, user_api),
        manifest: work.path(MANIFEST_FILE),
        workload_owner_key: Some(work.path(WORKLOAD_OWNER_KEY_FILE)),
        seed_shares_dir,
    };
    let (_, installed) = set(&args)?;
    let installed = installed.map_err(|error| error.context("chiaro set failed"))?;
    story.line(&format!("installed: {}", compact(&installed)));
    Ok(installed)
}

/// Stage 8: `verify` attests the Coordinator and checks the deployment against the manifest.
pub(super) fn verify(
    work: &Work,
    user_api: SocketAddr,
    story: &mut Story,
) -> anyhow::Result<VerifyReport> {
    story.step("8. chiaro verify: anyone can attest the Coordinator and check the deployment");
    let args = VerifyDeploymentArgs {
        coordinator: coordinator_args(work, user_api),
        manifest: Some(work.path(MANIFEST_FILE)),
        out: work.path("verify"),
    };
    let (_, report) = verified(&args)?;
    let report = report.map_err(|error| error.context("chiaro verify failed"))?;
    story.line(&format!("verified: {}", compact(&report)));
    Ok(report)
}

fn coordinator_args(work: &Work, user_api: SocketAddr) -> CoordinatorArgs {
    CoordinatorArgs {
        coordinator: user_api.to_string(),
        coordinator_reference: work.path(COORDINATOR_REFERENCE_FILE),
        deployment: work.path("deployment.json"),
        at: None,
    }
}

/// `key=value, …` of a report's fields, for the story.
fn compact(report: &impl Serialize) -> String {
    match serde_json::to_value(report) {
        Ok(Value::Object(map)) => map
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => format!("{k}={s}"),
                other => format!("{k}={other}"),
            })
            .collect::<Vec<_>>()
            .join(", "),
        Ok(other) => other.to_string(),
        Err(error) => error.to_string(),
    }
}
