//! `chiaro measure`: reference values from a pod VM's inputs, and the explanation of a real
//! report's measurement (`docs/reference-values.md`).

mod cmdline;
mod explain;
mod guest;
mod merge;

use anyhow::Context;
use chiaro_attest::snp::VcpuScaledMeasurement;
use chiaro_attest::{Digest48, Measurement};
use chiaro_manifest::{DraftReferenceValues, ManifestDraft, ReferenceValueSets};

use crate::cli::{MeasureExplainArgs, MeasureSnpArgs};
use crate::commands::generate::{manifest, write_atomically};
use crate::exit::Outcome;
use crate::output::Printer;
use crate::reports::{Launch, MeasuredGuest, MeasurementExplained};

/// `chiaro measure snp`: the reference values object (`--output json`), or a summary.
pub(crate) fn snp(args: &MeasureSnpArgs, printer: Printer) -> anyhow::Result<Outcome> {
    let guest = guest::Guest::read(&args.guest)?;
    let stages = guest.stages(args.vcpus)?;
    let measured = measure_stages(&guest, &stages, args)?;
    let mut notes = Vec::new();
    let reference_values = write_reference_values(args, &measured, &mut notes)?;
    let first_cmdline = stages.first().and_then(|stage| stage.cmdline.as_deref());
    let report = MeasuredGuest {
        guest: guest.summary(first_cmdline),
        measurements: measured,
        reference_values,
        notes,
    };
    let json = serde_json::to_value(&report.reference_values).context("encoding")?;
    printer.result(&json, &report.to_text());
    Ok(Outcome::Verified)
}

/// One vCPU-scaled measurement per stage, refused when checking them would cost a verifier more
/// than a manifest accepts.
fn measure_stages(
    guest: &guest::Guest,
    stages: &[guest::Stage],
    args: &MeasureSnpArgs,
) -> anyhow::Result<Vec<VcpuScaledMeasurement>> {
    let mut measured = Vec::new();
    for stage in stages {
        let firmware = guest.firmware_measurement(guest.vmm, stage.cmdline.as_deref())?;
        let scaled = firmware.with_vcpus(guest.vcpu_model, guest.guest_features);
        measured.push(VcpuScaledMeasurement {
            one_vcpu: Measurement::new(scaled.one_vcpu),
            ap_vmsa: Digest48::new(scaled.ap_vmsa),
            vcpus: stage.vcpus,
        });
    }
    let work = chiaro_attest::snp::extension_work(&measured);
    if work > chiaro_attest::snp::MAX_EXTENSIONS_PER_SET {
        anyhow::bail!(
            "--vcpus {}: {} entries that take {work} digest extensions to check, more than a manifest accepts ({}): \
             give the range your pods need",
            args.vcpus,
            measured.len(),
            chiaro_attest::snp::MAX_EXTENSIONS_PER_SET
        );
    }
    Ok(measured)
}

/// Merges the measurements into `--manifest` or `--reference` and returns the reference values
/// as they now are there, or a new set when neither is given.
fn write_reference_values(
    args: &MeasureSnpArgs,
    measured: &[VcpuScaledMeasurement],
    notes: &mut Vec<String>,
) -> anyhow::Result<DraftReferenceValues> {
    match (&args.manifest, &args.reference) {
        (Some(path), _) => {
            let draft = manifest::read(path)?.unwrap_or_else(ManifestDraft::skeleton);
            let mut values = draft.reference_values().clone();
            let changed = merge::measurements_into(
                &mut values.snp,
                measured,
                args.replace,
                args.minimum_tcb,
            )?;
            ReferenceValueSets::from_draft(&values)
                .and_then(|sets| sets.pin_the_guest(""))
                .with_context(|| format!("{} after merging", path.display()))?;
            let draft = draft.with_reference_values(values.clone());
            write_atomically(path, draft.to_json_pretty().as_bytes())?;
            notes.push(format!("{changed} in {}", path.display()));
            Ok(values)
        }
        (None, Some(path)) => {
            let (values, changed) =
                merge_into_reference_file(path, measured, args.replace, args.minimum_tcb)?;
            notes.push(format!("{changed} in {}", path.display()));
            Ok(values)
        }
        (None, None) => {
            if args.replace {
                anyhow::bail!("--replace needs --manifest FILE or --reference FILE");
            }
            Ok(DraftReferenceValues {
                snp: vec![merge::new_set(measured, args.minimum_tcb)?],
                ..DraftReferenceValues::default()
            })
        }
    }
}

/// Merges into a `reference_values` file (an empty object when it does not exist), and writes
/// it only when the result is valid reference values (every set pinned).
fn merge_into_reference_file(
    path: &std::path::Path,
    measured: &[VcpuScaledMeasurement],
    replace: bool,
    minimum_tcb: Option<chiaro_attest::snp::MinimumTcb>,
) -> anyhow::Result<(DraftReferenceValues, String)> {
    let mut values: DraftReferenceValues = match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text)
            .with_context(|| format!("reference values {}", path.display()))?,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            DraftReferenceValues::default()
        }
        Err(error) => return Err(error).with_context(|| format!("reading {}", path.display())),
    };
    let changed = merge::measurements_into(&mut values.snp, measured, replace, minimum_tcb)?;
    ReferenceValueSets::from_draft(&values)
        .and_then(|sets| sets.pin_the_guest(""))
        .with_context(|| format!("reference values {} after merging", path.display()))?;
    let text = serde_json::to_string_pretty(&values).context("encoding reference values")?;
    write_atomically(path, text.as_bytes())?;
    Ok((values, changed))
}

/// `chiaro measure explain`: which launch of these inputs the report's measurement is.
pub(crate) fn explain(args: &MeasureExplainArgs, printer: Printer) -> anyhow::Result<Outcome> {
    let guest = guest::Guest::read(&args.guest)?;
    let report_bytes = crate::input::evidence(&args.snp_report, "SNP report")?;
    let (report, _) = chiaro_attest::snp::Report::parse_prefix(&report_bytes)
        .with_context(|| format!("SNP report {}", args.snp_report.display()))?;
    let search = explain::Search::new(&guest, args.max_vcpus)?;
    let first_cmdline = search.first_cmdline().map(str::to_owned);
    let found = search.run(report.measurement.as_bytes());
    let explained = explanation(
        report.measurement,
        &guest,
        first_cmdline.as_deref(),
        &found,
        &search,
    );
    let json = serde_json::to_value(&explained).context("encoding")?;
    printer.result(&json, &explained.to_text());
    Ok(if explained.matches.is_empty() {
        Outcome::Rejected
    } else {
        Outcome::Verified
    })
}

/// The report of a search: each match with the inputs it differs in, and the verdict.
fn explanation(
    measurement: Measurement,
    guest: &guest::Guest,
    cmdline: Option<&str>,
    found: &[explain::Found],
    search: &explain::Search,
) -> MeasurementExplained {
    let matches: Vec<Launch> = found
        .iter()
        .map(|launch| {
            let mut differs_in = Vec::new();
            if launch.vmm != guest.vmm {
                differs_in.push(format!("VMM (given {})", guest.vmm));
            }
            if !launch.vcpu_models.contains(&guest.vcpu_model) {
                differs_in.push(format!("vCPU model (given {})", guest.vcpu_model));
            }
            if launch.guest_features != guest.guest_features {
                differs_in.push(format!(
                    "guest features (given {:#x})",
                    guest.guest_features.0
                ));
            }
            Launch {
                vcpus: launch.vcpus,
                vcpu_models: launch.vcpu_models.iter().map(ToString::to_string).collect(),
                guest_features: format!("{:#x}", launch.guest_features.0),
                vmm: launch.vmm.to_string(),
                differs_in,
                downgrades: downgrades(guest, launch),
            }
        })
        .collect();
    let verdict = match matches.iter().find(|launch| launch.differs_in.is_empty()) {
        None if matches.iter().any(|launch| !launch.downgrades.is_empty()) => {
            "the report is a launch of these files with weaker settings than given (below): do not measure them into the reference values unless you chose them".to_owned()
        }
        Some(exact) => format!(
            "the report is a launch of these inputs with {} vCPUs: a reference value that rejects it does not accept that count",
            exact.vcpus
        ),
        None if !matches.is_empty() => {
            "the report is a launch of these files, with another vCPU model, guest features or VMM (below)".to_owned()
        }
        None => format!(
            "no launch of these files matches (1 to {} vCPUs, every vCPU model, {} guest-feature values, every VMM): the firmware, kernel, initrd or kernel command line differ from the report's guest",
            search.max_vcpus,
            search.features_tried().len()
        ),
    };
    MeasurementExplained {
        measurement,
        guest: guest.summary(cmdline),
        matches,
        tried: search.tried(),
        max_vcpus: search.max_vcpus,
        guest_features_tried: search
            .features_tried()
            .iter()
            .map(|features| format!("{:#x}", features.0))
            .collect(),
        unmeasurable: search
            .unmeasurable
            .iter()
            .map(|(vmm, why)| format!("{vmm}: {why}"))
            .collect(),
        verdict,
        notes: vec![
            "the report was not verified: run `chiaro evidence verify snp` on it first; a report the host made can \
             show any measurement"
                .to_owned(),
        ],
    }
}

/// Guest features the given inputs had and the launch does not whose absence weakens the guest,
/// and a VMM other than the given one.
fn downgrades(guest: &guest::Guest, launch: &explain::Found) -> Vec<String> {
    let mut weaker = Vec::new();
    if launch.vmm != guest.vmm {
        weaker.push(format!(
            "VMM {} instead of {}: it adds and measures the initial pages differently (GCE leaves SNP_SEC_MEM \
             unmeasured); accept it only if your nodes run it",
            launch.vmm, guest.vmm
        ));
    }
    let dropped = guest.guest_features.0 & !launch.guest_features.0;
    for (bit, name) in PROTECTIVE_FEATURES {
        if dropped & (1 << bit) != 0 {
            weaker.push(format!("guest feature {name} (bit {bit}) off"));
        }
    }
    weaker
}

/// `SEV_FEATURES` bits that protect the guest when set (AMD APM vol. 2, "SEV_FEATURES").
const PROTECTIVE_FEATURES: [(u32, &str); 6] = [
    (3, "RestrictedInjection"),
    (6, "PreventHostIBS"),
    (7, "BTBIsolation"),
    (9, "SecureTSC"),
    (14, "VmsaRegProt"),
    (15, "SmtProtection"),
];
