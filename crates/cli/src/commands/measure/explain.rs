//! The search `measure explain` runs: every VMM, every vCPU signature the known models have,
//! a set of guest features and every vCPU count up to a maximum, against one measurement.
//!
//! Each (command line, VMM, signature, features) costs two VMSA hashes and then one SHA-384
//! per vCPU count (the digest for N + 1 vCPUs extends the one for N), so the whole search is
//! at most a few million hashes.

use chiaro_attest::snp::VcpuRange;
use chiaro_measure::snp::page_info::{Sha384Digest, extend_with_ap_vmsas};
use chiaro_measure::snp::{CpuSignature, FirmwareMeasurement, GuestFeatures, VcpuModel, Vmm};

use crate::commands::measure::guest::{Guest, Stage};

/// `SEV_FEATURES` bits a VMM may plausibly set besides `SNPActive` (bit 0): restricted and
/// alternate injection (3, 4), `DebugSwap` (5), `PreventHostIBS` (6), `BTBIsolation` (7) and
/// `SecureTSC` (9). Every combination of them is tried.
const OPTIONAL_FEATURE_BITS: [u32; 6] = [3, 4, 5, 6, 7, 9];

/// The candidates, with the firmware measured once per VMM.
#[derive(Debug)]
pub(crate) struct Search {
    stages: Vec<Stage>,
    firmwares: Vec<(Vmm, VcpuRange, FirmwareMeasurement)>,
    /// VMMs whose layout of this firmware could not be measured, with why.
    pub(crate) unmeasurable: Vec<(Vmm, String)>,
    signatures: Vec<(CpuSignature, Vec<VcpuModel>)>,
    features: Vec<GuestFeatures>,
    /// The largest vCPU count tried.
    pub(crate) max_vcpus: u32,
}

/// A launch of the given files whose digest is the measurement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Found {
    /// The VMM.
    pub(crate) vmm: Vmm,
    /// The vCPU models with the matching signature.
    pub(crate) vcpu_models: Vec<VcpuModel>,
    /// The SEV features.
    pub(crate) guest_features: GuestFeatures,
    /// The vCPU count.
    pub(crate) vcpus: u32,
}

impl Search {
    /// The candidates for `guest`'s files, its own vCPU model and features among them.
    ///
    /// # Errors
    /// When no VMM's layout of the firmware can be measured (the firmware is not an SNP
    /// OVMF, or lacks the kernel-hashes section a kernel needs).
    pub(crate) fn new(guest: &Guest, max_vcpus: u32) -> anyhow::Result<Self> {
        let stages = guest.stages(VcpuRange::new(1, max_vcpus)?)?;
        let mut firmwares = Vec::new();
        let mut unmeasurable = Vec::new();
        let mut first_error = None;
        for vmm in Vmm::ALL {
            for stage in &stages {
                match guest.firmware_measurement(vmm, stage.cmdline.as_deref()) {
                    Ok(measured) => firmwares.push((vmm, stage.vcpus, measured)),
                    Err(error) => {
                        unmeasurable.push((vmm, format!("{error:#}")));
                        first_error.get_or_insert(error);
                        break;
                    }
                }
            }
        }
        if firmwares.is_empty()
            && let Some(error) = first_error
        {
            return Err(error);
        }
        Ok(Self {
            stages,
            firmwares,
            unmeasurable,
            signatures: signatures(guest.vcpu_model),
            features: features(guest.guest_features),
            max_vcpus,
        })
    }

    /// How many launches were tried.
    pub(crate) fn tried(&self) -> usize {
        let counts: usize = self
            .firmwares
            .iter()
            .map(|(_, vcpus, _)| {
                usize::try_from(vcpus.max() - vcpus.min() + 1).unwrap_or(usize::MAX)
            })
            .sum();
        counts
            .saturating_mul(self.signatures.len())
            .saturating_mul(self.features.len())
    }

    /// The command line of the smallest vCPU count tried.
    pub(crate) fn first_cmdline(&self) -> Option<&str> {
        self.stages
            .first()
            .and_then(|stage| stage.cmdline.as_deref())
    }

    /// The guest features tried.
    pub(crate) fn features_tried(&self) -> &[GuestFeatures] {
        &self.features
    }

    /// Every candidate launch whose digest is `measurement`.
    pub(crate) fn run(&self, measurement: &Sha384Digest) -> Vec<Found> {
        let mut found = Vec::new();
        for (vmm, counts, firmware) in &self.firmwares {
            for (signature, models) in &self.signatures {
                for features in &self.features {
                    let scaled = firmware.with_vcpus(*signature, *features);
                    let mut digest =
                        extend_with_ap_vmsas(&scaled.one_vcpu, &scaled.ap_vmsa, counts.min() - 1);
                    for vcpus in counts.min()..=counts.max() {
                        if digest == *measurement {
                            found.push(Found {
                                vmm: *vmm,
                                vcpu_models: models.clone(),
                                guest_features: *features,
                                vcpus,
                            });
                        }
                        digest = extend_with_ap_vmsas(&digest, &scaled.ap_vmsa, 1);
                    }
                }
            }
        }
        found
    }
}

/// The distinct signatures of the known models (the given model's first), each with the
/// models that have it.
fn signatures(given: VcpuModel) -> Vec<(CpuSignature, Vec<VcpuModel>)> {
    let mut groups: Vec<(CpuSignature, Vec<VcpuModel>)> = Vec::new();
    let order =
        std::iter::once(given).chain(VcpuModel::ALL.iter().copied().filter(|m| *m != given));
    for model in order {
        let signature = model.signature();
        match groups.iter_mut().find(|(known, _)| *known == signature) {
            Some((_, models)) => models.push(model),
            None => groups.push((signature, vec![model])),
        }
    }
    groups
}

/// The given features first, then `SNPActive` with every combination of the optional bits.
fn features(given: GuestFeatures) -> Vec<GuestFeatures> {
    let mut all = vec![given];
    for combination in 0u32..(1 << OPTIONAL_FEATURE_BITS.len()) {
        let bits = OPTIONAL_FEATURE_BITS
            .iter()
            .enumerate()
            .filter(|(index, _)| combination & (1 << index) != 0)
            .fold(1u64, |bits, (_, bit)| bits | (1 << bit));
        let features = GuestFeatures(bits);
        if !all.contains(&features) {
            all.push(features);
        }
    }
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_given_model_comes_first_and_each_signature_once() {
        let groups = signatures(VcpuModel::EpycMilan);
        assert_eq!(groups[0].1[0], VcpuModel::EpycMilan);
        let mut seen: Vec<CpuSignature> = groups.iter().map(|(signature, _)| *signature).collect();
        seen.dedup();
        assert_eq!(seen.len(), groups.len());
        let models: usize = groups.iter().map(|(_, models)| models.len()).sum();
        assert_eq!(models, VcpuModel::ALL.len());
    }

    #[test]
    fn the_features_are_the_given_then_snp_active_with_each_combination() {
        let all = features(GuestFeatures(0x21));
        assert_eq!(all[0], GuestFeatures(0x21));
        assert_eq!(all.len(), 1 << OPTIONAL_FEATURE_BITS.len());
        assert!(all.iter().all(|features| features.0 & 1 == 1));
        assert!(all.contains(&GuestFeatures(0x1)));
    }
}
