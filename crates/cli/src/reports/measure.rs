//! `chiaro measure snp` and `chiaro measure explain`.

use chiaro_attest::Measurement;
use chiaro_attest::snp::VcpuScaledMeasurement;
use chiaro_manifest::DraftReferenceValues;
use serde::{Deserialize, Serialize};

/// The inputs a launch digest was computed from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuestSummary {
    /// The firmware file.
    pub firmware: String,
    /// Its SHA-256, to compare with the node's.
    pub firmware_sha256: String,
    /// The kernel file, for measured direct boot.
    pub kernel: Option<String>,
    /// Its SHA-256 (what the launch measures).
    pub kernel_sha256: Option<String>,
    /// The initrd file.
    pub initrd: Option<String>,
    /// Its SHA-256 (of nothing without an initrd).
    pub initrd_sha256: Option<String>,
    /// The kernel command line (of the smallest vCPU count).
    pub cmdline: Option<String>,
    /// Where it comes from.
    pub cmdline_from: String,
    /// The vCPU model.
    pub vcpu_model: String,
    /// The SEV features, hex.
    pub guest_features: String,
    /// The VMM.
    pub vmm: String,
}

/// What `measure snp` computed; `--output json` prints [`Self::reference_values`] alone, in
/// the manifest's format.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeasuredGuest {
    /// The inputs.
    pub guest: GuestSummary,
    /// The measurements, each for a range of vCPU counts.
    pub measurements: Vec<VcpuScaledMeasurement>,
    /// A `reference_values` object with one SNP set pinning the measurement.
    pub reference_values: DraftReferenceValues,
    /// What the user should know.
    pub notes: Vec<String>,
}

impl MeasuredGuest {
    /// The text form.
    pub fn to_text(&self) -> String {
        let mut text = String::from("SEV-SNP launch measurement\n");
        text.push_str(&guest_lines(&self.guest));
        for measurement in &self.measurements {
            let vcpus = measurement.vcpus;
            if vcpus.min() == vcpus.max() {
                text.push_str(&format!(
                    "  {:>3} vCPUs:        {}\n",
                    vcpus.min(),
                    measurement.for_vcpus(vcpus.min())
                ));
                continue;
            }
            text.push_str(&format!(
                "  vcpus {vcpus}: 1-vCPU digest {}\n",
                measurement.one_vcpu
            ));
            text.push_str(&format!("              AP VMSA {}\n", measurement.ap_vmsa));
            for count in [vcpus.min(), vcpus.max()] {
                text.push_str(&format!(
                    "  {count:>3} vCPUs:        {}\n",
                    measurement.for_vcpus(count)
                ));
            }
        }
        for note in &self.notes {
            text.push_str(&format!("note: {note}\n"));
        }
        text.push_str(
            "note: `--output json` prints these as reference values; add `minimum_tcb` to the set",
        );
        text
    }
}

/// One launch of the inputs that has the report's measurement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Launch {
    /// The vCPU count.
    pub vcpus: u32,
    /// The vCPU models with that CPUID signature.
    pub vcpu_models: Vec<String>,
    /// The SEV features, hex.
    pub guest_features: String,
    /// The VMM.
    pub vmm: String,
    /// Which of these differ from the inputs given.
    pub differs_in: Vec<String>,
    /// Where this launch is a weaker guest than the inputs given.
    pub downgrades: Vec<String>,
}

/// What `measure explain` found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeasurementExplained {
    /// The report's measurement.
    pub measurement: Measurement,
    /// The inputs given.
    pub guest: GuestSummary,
    /// Every launch that matched.
    pub matches: Vec<Launch>,
    /// How many launches were tried.
    pub tried: usize,
    /// The largest vCPU count tried.
    pub max_vcpus: u32,
    /// The guest features tried, hex.
    pub guest_features_tried: Vec<String>,
    /// VMMs whose layout could not be measured, with why.
    pub unmeasurable: Vec<String>,
    /// The conclusion.
    pub verdict: String,
    /// What the user should know.
    pub notes: Vec<String>,
}

impl MeasurementExplained {
    /// The text form.
    pub fn to_text(&self) -> String {
        let mut text = format!("measurement {}\n", self.measurement);
        text.push_str(&guest_lines(&self.guest));
        text.push_str(&format!("{}\n", self.verdict));
        for launch in &self.matches {
            text.push_str(&format!(
                "  matches: {} vCPUs, {} ({}), guest features {}, VMM {}{}\n",
                launch.vcpus,
                launch.vcpu_models.first().map_or("", String::as_str),
                launch.vcpu_models.join(", "),
                launch.guest_features,
                launch.vmm,
                if launch.differs_in.is_empty() {
                    String::new()
                } else {
                    format!(": differs in {}", launch.differs_in.join(", "))
                },
            ));
        }
        for launch in &self.matches {
            for downgrade in &launch.downgrades {
                text.push_str(&format!("  weaker: {downgrade}\n"));
            }
        }
        for why in &self.unmeasurable {
            text.push_str(&format!("note: not tried: {why}\n"));
        }
        for note in &self.notes {
            text.push_str(&format!("note: {note}\n"));
        }
        text
    }
}

fn guest_lines(guest: &GuestSummary) -> String {
    let mut text = format!(
        "  firmware:         {} (sha256 {})\n",
        guest.firmware, guest.firmware_sha256
    );
    if let Some(kernel) = &guest.kernel {
        text.push_str(&format!(
            "  kernel:           {kernel} (sha256 {})\n",
            guest.kernel_sha256.as_deref().unwrap_or_default()
        ));
        text.push_str(&format!(
            "  initrd:           {} (sha256 {})\n",
            guest.initrd.as_deref().unwrap_or("(none)"),
            guest.initrd_sha256.as_deref().unwrap_or_default()
        ));
        text.push_str(&format!(
            "  cmdline:          {}\n",
            guest.cmdline.as_deref().unwrap_or_default()
        ));
        text.push_str(&format!("  cmdline from:     {}\n", guest.cmdline_from));
    }
    text.push_str(&format!("  vcpu model:       {}\n", guest.vcpu_model));
    text.push_str(&format!("  guest features:   {}\n", guest.guest_features));
    text.push_str(&format!("  vmm:              {}\n", guest.vmm));
    text
}
