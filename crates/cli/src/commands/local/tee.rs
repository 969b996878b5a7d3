//! Stage 1: the INSECURE simulated TEE, and the reference values that accept it (the
//! workloads'; stage 3 pins them to the Coordinator's policy for the Coordinator).

use anyhow::Context;
use chiaro_attest::insecure_simulation::{InsecureSimulatedTee, SimulatedLaunch};
use chiaro_attest::snp::SnpReferenceValues;
use chiaro_manifest::{DraftReferenceValues, DraftSimulated};

use super::Work;
use super::story::Story;
use crate::input;

/// The simulated TEE's file in the work directory (the Coordinator and initializers read it).
pub(super) const TEE_FILE: &str = "insecure-simulated-tee.json";
/// The Coordinator's reference values (`set` and `verify` pin it with them).
pub(super) const COORDINATOR_REFERENCE_FILE: &str = "coordinator-reference.json";

/// Generates the simulated TEE, writes it and the workloads' reference values; those values
/// (for the manifest).
pub(super) fn create(work: &Work, story: &mut Story) -> anyhow::Result<DraftReferenceValues> {
    story.step("1. An INSECURE simulated TEE (ARK -> ASK -> VCEK generated on this machine)");
    let now = input::verification_time(None)?;
    let tee = InsecureSimulatedTee::generate(now).context("generating the simulated TEE")?;
    std::fs::write(work.path(TEE_FILE), tee.to_insecure_json()?)?;
    let ark = hex::encode(tee.ark_der());
    // The guest every pod and the Coordinator run in: the simulated launch's measurement, as in a
    // cluster the guest image's (a set that pinned no measurement would accept any guest).
    let guest = SimulatedLaunch::default().measurement;
    let workloads = accepting(
        &ark,
        SnpReferenceValues {
            measurements: Some(vec![guest]),
            ..SnpReferenceValues::default()
        },
    );
    std::fs::write(
        work.path("reference.json"),
        serde_json::to_string(&workloads)?,
    )?;
    story.line(&format!("wrote {}", work.path(TEE_FILE).display()));
    story.line("workloads are accepted under this root only because the manifest lists it (reference_values.insecure_simulated)");
    Ok(workloads)
}

/// Reference values accepting evidence under the simulated root `ark` (hex) with `values`.
fn accepting(ark: &str, values: SnpReferenceValues) -> DraftReferenceValues {
    DraftReferenceValues {
        insecure_simulated: vec![DraftSimulated {
            ark: ark.to_owned(),
            values,
        }],
        ..DraftReferenceValues::default()
    }
}
