//! Every pod's VM size against the manifest's reference values: a pod is never sized to a
//! vCPU count its own manifest refuses at attestation (`docs/reference-values.md`).

use anyhow::bail;
use chiaro_attest::snp::{SnpReferenceValues, VcpuRange};
use chiaro_manifest::DraftReferenceValues;
use chiaro_policy::WorkloadReport;

/// [`check_sizes`] for generated workloads.
///
/// # Errors
/// As [`check_sizes`].
pub(crate) fn check(
    reference: &DraftReferenceValues,
    workloads: &[WorkloadReport],
) -> anyhow::Result<()> {
    let sizes = workloads.iter().filter_map(|workload| {
        let size = workload.vm_size?;
        let name = format!("{} {}/{}", workload.kind, workload.namespace, workload.name);
        Some((name, size.vcpus))
    });
    check_sizes(reference, sizes)
}

/// Refuses a pod (named, with its VM's vCPU count) whose count no vCPU range of an SNP set
/// accepts. Sets that list exact `measurements` are not judged (those do not say which count
/// they are), nor are sets without vCPU-scaled measurements.
///
/// # Errors
/// Naming the pod, its vCPUs, the set and the counts it accepts.
pub(crate) fn check_sizes(
    reference: &DraftReferenceValues,
    pods: impl Iterator<Item = (String, u32)>,
) -> anyhow::Result<()> {
    let snp = reference
        .snp
        .iter()
        .enumerate()
        .map(|(index, set)| (format!("snp[{index}]"), set));
    let simulated = reference
        .insecure_simulated
        .iter()
        .enumerate()
        .map(|(index, set)| (format!("insecure_simulated[{index}].values"), &set.values));
    let judged: Vec<(String, Vec<VcpuRange>)> = snp
        .chain(simulated)
        .filter_map(|(field, set)| judged_ranges(set).map(|ranges| (field, ranges)))
        .collect();
    for (pod, vcpus) in pods {
        for (field, accepted) in &judged {
            if !accepted.iter().any(|range| range.contains(vcpus)) {
                let ranges: Vec<String> = accepted.iter().map(ToString::to_string).collect();
                bail!(
                    "{pod}: its VM gets {vcpus} vCPUs (the runtime's base plus its CPU limits), but \
                     reference_values.{field} accepts {} vCPUs: the pod would fail attestation. Measure that \
                     count too (`chiaro measure snp --vcpus`), or change its limits",
                    ranges.join(", ")
                );
            }
        }
    }
    Ok(())
}

/// The vCPU ranges a set accepts, when it says: only vCPU-scaled measurements.
fn judged_ranges(set: &SnpReferenceValues) -> Option<Vec<VcpuRange>> {
    if set
        .measurements
        .as_ref()
        .is_some_and(|exact| !exact.is_empty())
    {
        return None;
    }
    let scaled = set.vcpu_scaled_measurements.as_ref()?;
    Some(scaled.iter().map(|family| family.vcpus).collect())
}
