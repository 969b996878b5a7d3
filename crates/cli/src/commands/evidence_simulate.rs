//! `chiaro evidence simulate-insecure`: evidence from a freshly generated simulated TEE.

use std::path::Path;

use anyhow::Context;
use chiaro_attest::insecure_simulation::{InsecureSimulatedTee, SimulatedLaunch};
use chiaro_attest::snp::SnpReferenceValues;
use chiaro_attest::{HostData, Measurement, ReportData};
use chiaro_manifest::{InsecureSimulatedReference, ReferenceValueSets};
use serde_json::json;

use crate::cli::SimulateArgs;
use crate::commands::keygen::pem;
use crate::exit::Outcome;
use crate::input;
use crate::output::Printer;

pub(crate) fn run(args: &SimulateArgs, printer: Printer) -> anyhow::Result<Outcome> {
    let now = input::verification_time(None)?;
    let tee = InsecureSimulatedTee::generate(now).context("generating the simulated TEE")?;
    let launch = SimulatedLaunch {
        measurement: Measurement::new(random()?),
        host_data: HostData::new(random()?),
        ..SimulatedLaunch::default()
    };
    let report_data = ReportData::new(random()?);
    let report = tee
        .report(&launch, &report_data)
        .context("signing the simulated report")?;
    // The manifest's `reference_values`, which `evidence verify --reference`, `generate
    // --reference` and `manifest.json` all read.
    let reference = ReferenceValueSets {
        insecure_simulated: vec![InsecureSimulatedReference {
            ark: tee.ark_der().to_vec(),
            values: SnpReferenceValues {
                measurements: Some(vec![launch.measurement]),
                host_data: Some(launch.host_data),
                report_data: Some(report_data),
                ..SnpReferenceValues::default()
            },
        }],
        ..ReferenceValueSets::default()
    };
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    write(&args.out, "report.bin", &report)?;
    write(
        &args.out,
        "vcek-chain.pem",
        format!(
            "{}{}",
            pem("CERTIFICATE", tee.vcek_der()),
            pem("CERTIFICATE", tee.ask_der())
        )
        .as_bytes(),
    )?;
    write(
        &args.out,
        "insecure-simulated-ark.pem",
        pem("CERTIFICATE", tee.ark_der()).as_bytes(),
    )?;
    write(
        &args.out,
        "reference.json",
        reference.to_json_pretty().as_bytes(),
    )?;
    printer.show(
        "INSECURE simulated SEV-SNP evidence",
        &json!({
            "directory": args.out.display().to_string(),
            "measurement": launch.measurement,
            "host_data": launch.host_data,
            "report_data": report_data,
        }),
        &["the simulated root proves nothing about hardware; verify with --insecure-simulated-root".to_owned()],
    );
    Ok(Outcome::Verified)
}

fn random<const N: usize>() -> anyhow::Result<[u8; N]> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("reading randomness: {e}"))?;
    Ok(bytes)
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> anyhow::Result<()> {
    let path = dir.join(name);
    std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))
}
