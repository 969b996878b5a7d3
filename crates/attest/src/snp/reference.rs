//! SNP reference values: what a verified report must also satisfy.
//!
//! Every field has a fail-closed default: debug off, migration agent off, VMPL 0; a list that is
//! absent is not checked, a list that is present but empty allows nothing. The launch
//! measurement is allowed by either of two lists, `measurements` (exact digests) and
//! `vcpu_scaled_measurements` (a guest's digests for a range of vCPU counts): when one or both
//! are present, the measurement must be in one of those present.

use serde::{Deserialize, Serialize};

use crate::fields::{ChipId, Digest48, HostData, Measurement, ReportData};
use crate::snp::error::SnpRejection;
use crate::snp::report::{FirmwareVersion, Report};
use crate::snp::scaled::VcpuScaledMeasurement;
use crate::snp::tcb::{Product, TcbComponent, TcbVersion};

/// Reference values for SNP evidence. The JSON schema is documented in the README.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnpReferenceValues {
    /// Allowed launch measurements.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measurements: Option<Vec<Measurement>>,
    /// Allowed launch measurements, each a guest for a range of vCPU counts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vcpu_scaled_measurements: Option<Vec<VcpuScaledMeasurement>>,
    /// Minimum SPL per component of `reported_tcb`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimum_tcb: Option<MinimumTcb>,
    /// Accept a guest policy that allows debugging. Never set this in production.
    #[serde(default)]
    pub allow_debug: bool,
    /// Accept a guest policy that allows SMT (the usual host configuration).
    #[serde(default = "allow_smt_default")]
    pub allow_smt: bool,
    /// Accept a guest policy that allows a migration agent.
    #[serde(default)]
    pub allow_migration_agent: bool,
    /// Minimum firmware ABI version (`major.minor` of the current firmware).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimum_abi: Option<AbiVersion>,
    /// VMPLs a report may come from.
    #[serde(default = "allowed_vmpls_default")]
    pub allowed_vmpls: Vec<u32>,
    /// Expected `HOST_DATA`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_data: Option<HostData>,
    /// Expected `REPORT_DATA`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report_data: Option<ReportData>,
    /// Allowed ID-key digests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_key_digests: Option<Vec<Digest48>>,
    /// Allowed author-key digests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author_key_digests: Option<Vec<Digest48>>,
    /// Allowed chips.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chip_ids: Option<Vec<ChipId>>,
    /// Allowed processor generations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub products: Option<Vec<Product>>,
    /// Allowed cloud providers for VLEK-signed reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vlek_csp_ids: Option<Vec<String>>,
}

fn allow_smt_default() -> bool {
    true
}

fn allowed_vmpls_default() -> Vec<u32> {
    vec![0]
}

impl Default for SnpReferenceValues {
    fn default() -> Self {
        Self {
            measurements: None,
            vcpu_scaled_measurements: None,
            minimum_tcb: None,
            allow_debug: false,
            allow_smt: allow_smt_default(),
            allow_migration_agent: false,
            minimum_abi: None,
            allowed_vmpls: allowed_vmpls_default(),
            host_data: None,
            report_data: None,
            id_key_digests: None,
            author_key_digests: None,
            chip_ids: None,
            products: None,
            vlek_csp_ids: None,
        }
    }
}

/// Minimum SPL per TCB component; `fmc` applies to Turin only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MinimumTcb {
    /// Bootloader.
    pub bootloader: u8,
    /// TEE.
    pub tee: u8,
    /// SNP firmware.
    pub snp: u8,
    /// Microcode.
    pub microcode: u8,
    /// FMC (Turin).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fmc: Option<u8>,
}

/// A firmware ABI version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AbiVersion {
    /// Major.
    pub major: u8,
    /// Minor.
    pub minor: u8,
}

impl SnpReferenceValues {
    /// Checks a report whose signature and chain are already verified.
    ///
    /// # Errors
    /// The first failing reference check, in the order of the fields above.
    pub(crate) fn check(
        &self,
        report: &Report,
        product: Product,
        reported_tcb: &TcbVersion,
        csp_id: Option<&str>,
    ) -> Result<(), SnpRejection> {
        self.check_measurement(&report.measurement)?;
        if let Some(minimum) = &self.minimum_tcb {
            check_minimum_tcb(minimum, reported_tcb)?;
        }
        let policy = report.policy;
        if policy.debug_allowed() && !self.allow_debug {
            return Err(SnpRejection::DebugAllowed {
                policy: policy.raw(),
            });
        }
        if policy.smt_allowed() && !self.allow_smt {
            return Err(SnpRejection::SmtNotAllowed {
                policy: policy.raw(),
            });
        }
        if policy.migrate_ma_allowed() && !self.allow_migration_agent {
            return Err(SnpRejection::MigrationAgentNotAllowed {
                policy: policy.raw(),
            });
        }
        if let Some(minimum) = self.minimum_abi {
            let actual = report.current_version;
            if (actual.major, actual.minor) < (minimum.major, minimum.minor) {
                return Err(SnpRejection::AbiBelowMinimum {
                    actual,
                    minimum: FirmwareVersion {
                        major: minimum.major,
                        minor: minimum.minor,
                        build: 0,
                    },
                });
            }
        }
        if !self.allowed_vmpls.contains(&report.vmpl) {
            return Err(SnpRejection::VmplNotAllowed {
                actual: report.vmpl,
                allowed: self.allowed_vmpls.clone(),
            });
        }
        if let Some(expected) = self.host_data
            && report.host_data != expected
        {
            return Err(SnpRejection::HostDataMismatch {
                actual: report.host_data,
                expected,
            });
        }
        if let Some(expected) = self.report_data
            && report.report_data != expected
        {
            return Err(SnpRejection::ReportDataMismatch {
                actual: report.report_data,
                expected,
            });
        }
        if let Some(allowed) = &self.id_key_digests
            && !allowed.contains(&report.id_key_digest)
        {
            return Err(SnpRejection::IdKeyDigestNotAllowed {
                actual: report.id_key_digest,
            });
        }
        if let Some(allowed) = &self.author_key_digests
            && !allowed.contains(&report.author_key_digest)
        {
            return Err(SnpRejection::AuthorKeyDigestNotAllowed {
                actual: report.author_key_digest,
            });
        }
        if let Some(allowed) = &self.chip_ids
            && !allowed.contains(&report.chip_id)
        {
            return Err(SnpRejection::ChipIdNotAllowed {
                actual: report.chip_id,
            });
        }
        if let Some(allowed) = &self.products
            && !allowed.contains(&product)
        {
            return Err(SnpRejection::ProductNotAllowed {
                actual: product,
                allowed: allowed.clone(),
            });
        }
        if let (Some(allowed), Some(csp)) = (&self.vlek_csp_ids, csp_id)
            && !allowed.iter().any(|id| id == csp)
        {
            return Err(SnpRejection::CspNotAllowed {
                actual: csp.to_owned(),
                allowed: allowed.clone(),
            });
        }
        Ok(())
    }
}

impl SnpReferenceValues {
    /// Whether these values pin the launch measurement: `measurements` or
    /// `vcpu_scaled_measurements` present and not empty.
    pub fn pins_the_measurement(&self) -> bool {
        let some = |list: Option<usize>| list.is_some_and(|len| len > 0);
        some(self.measurements.as_ref().map(Vec::len))
            || some(self.vcpu_scaled_measurements.as_ref().map(Vec::len))
    }

    /// Whether the launch measurement is allowed (see the module's documentation).
    fn check_measurement(&self, actual: &Measurement) -> Result<(), SnpRejection> {
        let exact = self.measurements.as_deref();
        let scaled = self.vcpu_scaled_measurements.as_deref();
        if exact.is_none() && scaled.is_none() {
            return Ok(());
        }
        let exact = exact.unwrap_or_default();
        let scaled = scaled.unwrap_or_default();
        if exact.contains(actual)
            || scaled
                .iter()
                .any(|family| family.vcpus_of(actual).is_some())
        {
            return Ok(());
        }
        Err(SnpRejection::MeasurementNotAllowed {
            actual: *actual,
            allowed: exact.len() + scaled.len(),
        })
    }
}

fn check_minimum_tcb(minimum: &MinimumTcb, actual: &TcbVersion) -> Result<(), SnpRejection> {
    let pairs = [
        (
            TcbComponent::Bootloader,
            actual.bootloader,
            Some(minimum.bootloader),
        ),
        (TcbComponent::Tee, actual.tee, Some(minimum.tee)),
        (TcbComponent::Snp, actual.snp, Some(minimum.snp)),
        (
            TcbComponent::Microcode,
            actual.microcode,
            Some(minimum.microcode),
        ),
        (
            TcbComponent::Fmc,
            actual.fmc.unwrap_or(0),
            minimum.fmc.filter(|_| actual.fmc.is_some()),
        ),
    ];
    for (component, actual, minimum) in pairs {
        if let Some(minimum) = minimum
            && actual < minimum
        {
            return Err(SnpRejection::TcbBelowMinimum {
                component,
                actual,
                minimum,
            });
        }
    }
    Ok(())
}
