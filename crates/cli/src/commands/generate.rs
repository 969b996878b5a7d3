//! `chiaro generate`: reads the user's YAML, resolves images, rewrites the workloads and the
//! manifest (the pure work is `chiaro_policy::generate_deployment`; this is the I/O around it).

mod inputs;
pub(crate) mod manifest;
mod resolve;
mod vcpus;

use std::path::Path;

use anyhow::Context;
use chiaro_k8s::Namespace;
use chiaro_manifest::ManifestDraft;
use chiaro_policy::{
    DeploymentOptions, GenerateOptions, GeneratedDeployment, MIN_BASE_MEMORY_MIB, SourceFile,
    VmSize, WorkloadReport, generate_deployment, images_to_resolve, memory_mib,
};

use crate::cli::GenerateArgs;
use crate::exit::Outcome;
use crate::output::Printer;
use crate::reports::GenerateSummary;
pub(crate) use inputs::read_inputs;
pub(crate) use resolve::{UnresolvedImages, resolve};
pub(crate) use vcpus::check_sizes as check_vm_sizes;

/// The name `-` stands for.
const STDIN: &str = "-";

pub(crate) fn run(args: &GenerateArgs, printer: Printer) -> anyhow::Result<Outcome> {
    let files = read_inputs(&args.paths, Some(&args.manifest))?;
    let options = options(args)?;
    let draft = manifest::with_reference(&args.manifest, args.reference.as_deref())?;
    let images = images_to_resolve(&files, &options)?;
    let pins = resolve(&args.registry, &images, printer)?;
    let existing = manifest::existing(draft.as_ref());
    let generated = generate_deployment(&files, &pins, &existing, &options)?;
    let manifest = manifest::updated(draft, &generated.policies);
    vcpus::check(manifest.reference_values(), &generated.workloads)?;
    let written = write_outputs(args, &files, &generated, &manifest, printer)?;
    let summary = GenerateSummary {
        warnings: warnings(args, &generated, &manifest),
        workloads: generated.workloads,
        written,
    };
    let to_stdout = files.iter().any(|file| file.name == STDIN);
    let json = serde_json::to_value(&summary)?;
    if to_stdout {
        printer.note(&json, &summary_text(&summary, to_stdout));
    } else {
        printer.result(&json, &summary_text(&summary, to_stdout));
    }
    Ok(Outcome::Verified)
}

fn options(args: &GenerateArgs) -> anyhow::Result<DeploymentOptions> {
    Ok(DeploymentOptions {
        all_workloads: args.all,
        runtime_class: args.runtime_class.clone(),
        initializer_image: args.initializer_image.clone(),
        mesh_image: args.mesh_image.clone(),
        volume_image: args.volume_image.clone(),
        coordinator: args.coordinator_address.clone(),
        namespace: namespace(args.namespace.as_deref())?,
        policy: GenerateOptions {
            pin_secret_values: !args.no_pin_secrets,
            unpinned_volumes: args.unpinned_volume.iter().cloned().collect(),
            vm_base: vm_base(args)?,
            ..GenerateOptions::default()
        },
    })
}

/// The VM base the flags give: at least one vCPU, and whole MiB no fewer than Kata accepts.
fn vm_base(args: &GenerateArgs) -> anyhow::Result<VmSize> {
    anyhow::ensure!(
        args.vm_base_vcpus >= 1,
        "--vm-base-vcpus: a VM needs at least one vCPU"
    );
    let memory_mib = memory_mib(&args.vm_base_memory).with_context(|| {
        format!(
            "--vm-base-memory {:?}: not a whole number of MiB (as 2048Mi or 2Gi)",
            args.vm_base_memory
        )
    })?;
    anyhow::ensure!(
        memory_mib >= MIN_BASE_MEMORY_MIB,
        "--vm-base-memory {:?}: Kata refuses a default_memory below {MIN_BASE_MEMORY_MIB} MiB",
        args.vm_base_memory
    );
    Ok(VmSize {
        vcpus: args.vm_base_vcpus,
        memory_mib,
    })
}

/// The namespace `-n` names, `default` without it.
pub(crate) fn namespace(given: Option<&str>) -> anyhow::Result<Namespace> {
    Ok(given
        .map(|name| Namespace::parse(name).context("-n/--namespace"))
        .transpose()?
        .unwrap_or_default())
}

/// Writes the changed files (standard input's to standard output) and the manifest when it
/// changed; the names written.
fn write_outputs(
    args: &GenerateArgs,
    files: &[SourceFile],
    generated: &GeneratedDeployment,
    manifest: &ManifestDraft,
    printer: Printer,
) -> anyhow::Result<Vec<String>> {
    let mut written = Vec::new();
    for (before, after) in files.iter().zip(&generated.files) {
        if after.name == STDIN {
            printer.yaml(&after.text);
        } else if after.text != before.text {
            write_atomically(Path::new(&after.name), after.text.as_bytes())?;
            written.push(after.name.clone());
        }
    }
    let manifest_text = manifest.to_json_pretty();
    let old_manifest = std::fs::read_to_string(&args.manifest).ok();
    if old_manifest.as_deref() != Some(manifest_text.as_str()) {
        write_atomically(&args.manifest, manifest_text.as_bytes())?;
        written.push(args.manifest.display().to_string());
    }
    Ok(written)
}

/// Generation's warnings, and the manifest's: not complete yet, secret values pinned.
fn warnings(
    args: &GenerateArgs,
    generated: &GeneratedDeployment,
    manifest: &ManifestDraft,
) -> Vec<String> {
    let mut warnings = generated.warnings.clone();
    if let Err(error) = manifest.validate() {
        warnings.push(format!(
            "{} is not complete yet ({error}); `chiaro set` refuses it until it is",
            args.manifest.display()
        ));
    }
    if generated
        .workloads
        .iter()
        .any(|w| !w.pinned_secrets.is_empty())
    {
        warnings.push(
            "values from Secrets (and the sizes of Secret volume files) are pinned in policies: anyone who can read these pods' annotations can read them (--no-pin-secrets leaves them out; confidential values belong in workload secrets)".to_owned(),
        );
    }
    warnings
}

/// The summary for people: each workload, what was written, the warnings.
fn summary_text(summary: &GenerateSummary, to_stdout: bool) -> String {
    let mut text = String::new();
    for workload in &summary.workloads {
        text.push_str(&workload_text(workload));
    }
    if !summary.written.is_empty() {
        text.push_str(&format!("wrote {}\n", summary.written.join(", ")));
    } else if !to_stdout {
        text.push_str("nothing changed\n");
    }
    for warning in &summary.warnings {
        text.push_str(&format!("warning: {warning}\n"));
    }
    text
}

fn workload_text(workload: &WorkloadReport) -> String {
    let mut text = format!(
        "{} {} {}/{}",
        workload.at, workload.kind, workload.namespace, workload.name
    );
    match (&workload.skipped, &workload.policy_hash) {
        (Some(reason), _) => text.push_str(&format!(": skipped, {reason}\n")),
        (None, Some(hash)) => {
            text.push_str(&format!(": policy {hash}\n"));
            text.push_str(&format!("  sans: {}\n", workload.sans.join(", ")));
            if let Some(size) = workload.vm_size {
                text.push_str(&format!(
                    "  vm: {} vCPUs, {} MiB\n",
                    size.vcpus, size.memory_mib
                ));
            }
            for (container, image) in &workload.images {
                text.push_str(&format!("  {container}: {image}\n"));
            }
            for secret in &workload.pinned_secrets {
                text.push_str(&format!("  secret value pinned: {secret}\n"));
            }
        }
        (None, None) => text.push('\n'),
    }
    text
}

/// Writes `path` through a temporary file renamed into place, so a reader never sees half.
pub(crate) fn write_atomically(path: &Path, content: &[u8]) -> anyhow::Result<()> {
    chiaro_atomic_file::write(path, content, chiaro_atomic_file::Mode::PUBLIC)
        .with_context(|| format!("writing {}", path.display()))
}
