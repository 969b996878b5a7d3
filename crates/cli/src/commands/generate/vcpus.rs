//! Every pod's VM size against the manifest's reference values: a pod is never sized to a
//! vCPU count its own manifest refuses at attestation (`docs/reference-values.md`).

use anyhow::bail;
use chiaro_attest::snp::SnpReferenceValues;
use chiaro_manifest::DraftReferenceValues;
use chiaro_policy::WorkloadReport;

/// Refuses a workload whose VM's vCPU count no vCPU range of an SNP set accepts. Sets that list
/// exact `measurements` are not judged (those do not say which count they are), nor are sets
/// without vCPU-scaled measurements.
///
/// # Errors
/// Naming the workload, its vCPUs, the set and the counts it accepts.
pub(crate) fn check(
    reference: &DraftReferenceValues,
    workloads: &[WorkloadReport],
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
    for (field, set) in snp.chain(simulated) {
        let Some(accepted) = judged_ranges(set) else {
            continue;
        };
        for workload in workloads {
            let Some(size) = workload.vm_size else {
                continue;
            };
            if !accepted.iter().any(|range| range.contains(size.vcpus)) {
                let ranges: Vec<String> = accepted.iter().map(ToString::to_string).collect();
                bail!(
                    "{} {}/{}: its VM gets {} vCPUs (the runtime's base plus its CPU limits), but reference_values.{field} \
                     accepts {} vCPUs: the pod would fail attestation. Measure that count too (`chiaro measure snp \
                     --vcpus`), or change its limits",
                    workload.kind,
                    workload.namespace,
                    workload.name,
                    size.vcpus,
                    ranges.join(", ")
                );
            }
        }
    }
    Ok(())
}

/// The vCPU ranges a set accepts, when it says: only vCPU-scaled measurements.
fn judged_ranges(set: &SnpReferenceValues) -> Option<Vec<chiaro_attest::snp::VcpuRange>> {
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
