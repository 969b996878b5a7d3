//! `chiaro version` and `chiaro completion`.

use std::path::PathBuf;

use anyhow::Context as _;
use chiaro_api::v1::GetManifestsRequest;
use clap::CommandFactory as _;

use crate::cli::{Cli, CompletionArgs, CoordinatorArgs, VersionArgs};
use crate::commands::coordinator_client::{Target, outcome_of, runtime};
use crate::exit::Outcome;
use crate::output::Printer;
use crate::reports::{CoordinatorVersion, VersionReport};

/// This build: version, commit, target.
fn this_build() -> VersionReport {
    VersionReport {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        commit: env!("CHIARO_COMMIT").to_owned(),
        target: env!("CHIARO_TARGET").to_owned(),
        coordinator: None,
    }
}

pub(crate) fn version(args: &VersionArgs, printer: Printer) -> anyhow::Result<Outcome> {
    let mut report = this_build();
    let mut notes = Vec::new();
    if let (Some(address), Some(reference)) = (&args.coordinator, &args.coordinator_reference) {
        let target = Target::from_args(&CoordinatorArgs {
            coordinator: address.clone(),
            coordinator_reference: reference.clone(),
            deployment: PathBuf::new(),
            at: None,
        })?;
        notes = target.warnings();
        let asked = runtime()?.block_on(async {
            let mut client = target.connect().await?;
            let answer = client
                .get_manifests(GetManifestsRequest {})
                .await
                .context("asking the Coordinator")?
                .into_inner();
            Ok::<_, anyhow::Error>(answer.version)
        });
        match asked {
            Ok(version) => {
                report.coordinator = Some(CoordinatorVersion {
                    address: address.clone(),
                    version,
                });
            }
            Err(error) => {
                for note in &notes {
                    printer.line(&format!("note: {note}"));
                }
                printer.input_error(&error);
                return Ok(outcome_of(&error));
            }
        }
    }
    let mut text: Vec<String> = notes.iter().map(|note| format!("note: {note}")).collect();
    text.push(format!(
        "chiaro {} (commit {}, {})",
        report.version, report.commit, report.target
    ));
    if let Some(coordinator) = &report.coordinator {
        text.push(format!(
            "Coordinator at {}: {} (attested)",
            coordinator.address, coordinator.version
        ));
    }
    printer.result(&serde_json::to_value(&report)?, &text.join("\n"));
    Ok(Outcome::Verified)
}

/// Writes the completion script for the shell to stdout.
pub(crate) fn completion(args: &CompletionArgs) -> Outcome {
    let mut command = Cli::command();
    clap_complete::generate(args.shell, &mut command, "chiaro", &mut std::io::stdout());
    Outcome::Verified
}
