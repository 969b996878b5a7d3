//! Launch measurements for a range of vCPU counts.
//!
//! An SNP guest's launch digest ends with one VMSA page per vCPU: the boot vCPU's, then one
//! identical VMSA per application processor. So the digest for N vCPUs is the 1-vCPU digest
//! extended N − 1 times with the AP VMSA's page ([`chiaro_measure::snp::page_info`]), and a
//! reference value that names the 1-vCPU digest, the AP VMSA's digest and a range of counts
//! accepts exactly the genuine launches of that guest with a count in the range, and no other:
//! the chain is SHA-384, so a host cannot reach an accepted digest by any other sequence of
//! pages. `chiaro measure snp` computes both values (`docs/reference-values.md`).

use std::fmt;

use chiaro_measure::snp::page_info::extend_with_ap_vmsas;
use serde::{Deserialize, Serialize};

use crate::fields::{Digest48, Measurement};

/// The largest vCPU count a range may name: bounds the work of one check (one SHA-384 per
/// count), and is above what QEMU gives an SEV-SNP guest.
pub const MAX_VCPUS: u32 = 512;

/// The most digest extensions checking one set's `vcpu_scaled_measurements` may take (the sum
/// of their `vcpus.max`): a host can make genuine reports at will, so what one check costs is
/// bounded where reference values are accepted. Kata's per-count entries for 1 to 127 vCPUs
/// come to 8128.
pub const MAX_EXTENSIONS_PER_SET: u64 = 8192;

/// The digest extensions checking `families` may take: the sum of their largest counts.
pub fn extension_work(families: &[VcpuScaledMeasurement]) -> u64 {
    families
        .iter()
        .map(|family| u64::from(family.vcpus.max))
        .sum()
}

/// The launch measurements of one guest for every vCPU count in [`Self::vcpus`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VcpuScaledMeasurement {
    /// The launch digest with one vCPU.
    pub one_vcpu: Measurement,
    /// SHA-384 of the application processors' VMSA page.
    pub ap_vmsa: Digest48,
    /// The vCPU counts accepted.
    pub vcpus: VcpuRange,
}

impl VcpuScaledMeasurement {
    /// The vCPU count in the range whose launch digest is `measurement`, if any.
    pub fn vcpus_of(&self, measurement: &Measurement) -> Option<u32> {
        let ap_vmsa = self.ap_vmsa.as_bytes();
        let mut digest =
            extend_with_ap_vmsas(self.one_vcpu.as_bytes(), ap_vmsa, self.vcpus.min - 1);
        for count in self.vcpus.min..=self.vcpus.max {
            if digest == *measurement.as_bytes() {
                return Some(count);
            }
            digest = extend_with_ap_vmsas(&digest, ap_vmsa, 1);
        }
        None
    }

    /// The launch digest with `vcpus` vCPUs (any count, in the range or not).
    pub fn for_vcpus(&self, vcpus: u32) -> Measurement {
        Measurement::new(extend_with_ap_vmsas(
            self.one_vcpu.as_bytes(),
            self.ap_vmsa.as_bytes(),
            vcpus.saturating_sub(1),
        ))
    }
}

/// An inclusive range of vCPU counts, `1 ≤ min ≤ max ≤` [`MAX_VCPUS`]; only
/// [`VcpuRange::new`] and deserialization make one, and both check that.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawVcpuRange")]
pub struct VcpuRange {
    min: u32,
    max: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVcpuRange {
    min: u32,
    max: u32,
}

impl TryFrom<RawVcpuRange> for VcpuRange {
    type Error = VcpuRangeError;

    fn try_from(raw: RawVcpuRange) -> Result<Self, VcpuRangeError> {
        Self::new(raw.min, raw.max)
    }
}

/// Why two counts do not make a [`VcpuRange`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("vcpus {min}..={max}: a range needs 1 ≤ min ≤ max ≤ {MAX_VCPUS}")]
pub struct VcpuRangeError {
    /// The lower count given.
    pub min: u32,
    /// The upper count given.
    pub max: u32,
}

impl VcpuRange {
    /// The counts `min..=max`.
    ///
    /// # Errors
    /// [`VcpuRangeError`] unless `1 ≤ min ≤ max ≤ MAX_VCPUS`.
    pub const fn new(min: u32, max: u32) -> Result<Self, VcpuRangeError> {
        if min >= 1 && min <= max && max <= MAX_VCPUS {
            Ok(Self { min, max })
        } else {
            Err(VcpuRangeError { min, max })
        }
    }

    /// The smallest count.
    pub const fn min(&self) -> u32 {
        self.min
    }

    /// The largest count.
    pub const fn max(&self) -> u32 {
        self.max
    }

    /// Whether `vcpus` is in the range.
    pub const fn contains(&self, vcpus: u32) -> bool {
        self.min <= vcpus && vcpus <= self.max
    }
}

impl fmt::Display for VcpuRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.min == self.max {
            write!(f, "{}", self.min)
        } else {
            write!(f, "{}–{}", self.min, self.max)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn family(min: u32, max: u32) -> VcpuScaledMeasurement {
        VcpuScaledMeasurement {
            one_vcpu: Measurement::new([1; 48]),
            ap_vmsa: Digest48::new([2; 48]),
            vcpus: VcpuRange::new(min, max).unwrap(),
        }
    }

    #[test]
    fn each_count_in_the_range_is_found_and_none_outside() {
        let accepted = family(2, 5);
        let all = family(1, 8);
        for count in 1..=8 {
            let digest = all.for_vcpus(count);
            assert_eq!(all.vcpus_of(&digest), Some(count));
            let expected = (2..=5).contains(&count).then_some(count);
            assert_eq!(accepted.vcpus_of(&digest), expected, "{count} vCPUs");
        }
    }

    #[test]
    fn another_ap_vmsa_or_base_matches_nothing() {
        let accepted = family(1, 8);
        let other_vmsa = VcpuScaledMeasurement {
            ap_vmsa: Digest48::new([3; 48]),
            ..accepted
        };
        let other_base = VcpuScaledMeasurement {
            one_vcpu: Measurement::new([4; 48]),
            ..accepted
        };
        for count in 1..=8 {
            let differs = count > 1;
            assert_eq!(
                accepted.vcpus_of(&other_vmsa.for_vcpus(count)).is_some(),
                !differs
            );
            assert_eq!(accepted.vcpus_of(&other_base.for_vcpus(count)), None);
        }
    }

    #[test]
    fn ranges_outside_one_to_the_maximum_are_refused() {
        for (min, max) in [(0, 1), (3, 2), (1, MAX_VCPUS + 1)] {
            assert_eq!(VcpuRange::new(min, max), Err(VcpuRangeError { min, max }));
            let text = format!(r#"{{"min":{min},"max":{max}}}"#);
            assert!(serde_json::from_str::<VcpuRange>(&text).is_err(), "{text}");
        }
        assert!(VcpuRange::new(1, MAX_VCPUS).is_ok());
    }
}
