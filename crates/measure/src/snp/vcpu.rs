//! What the VMSAs say about the vCPUs: the CPUID signature QEMU puts in `RDX` at reset, from a
//! vCPU model or given outright, and the guest's SEV features.

use std::fmt;
use std::str::FromStr;

use crate::Error;

/// The CPUID `Fn0000_0001_EAX` signature (family, model, stepping) of the guest's vCPUs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CpuSignature(pub u32);

impl CpuSignature {
    /// The signature of this family, model and stepping, encoded as AMD's CPUID specification
    /// (#25481) says: a family above 0xF is 0xF plus an extended family (only its low 8 bits
    /// kept); model and stepping keep their low 8 and 4 bits.
    pub const fn from_family_model_stepping(family: u32, model: u32, stepping: u32) -> Self {
        let (family_low, family_high) = if family > 0xf {
            (0xf, (family - 0xf) & 0xff)
        } else {
            (family, 0)
        };
        let model_low = model & 0xf;
        let model_high = (model >> 4) & 0xf;
        Self(
            (family_high << 20)
                | (model_high << 16)
                | (family_low << 8)
                | (model_low << 4)
                | (stepping & 0xf),
        )
    }
}

/// A number as sev-snp-measure reads `--vcpu-sig` and `--guest-features`: decimal, or hex,
/// octal or binary with a `0x`, `0o` or `0b` prefix.
fn parse_number(text: &str) -> Option<u64> {
    let trimmed = text.trim();
    let lower = trimmed.to_ascii_lowercase();
    let (digits, radix) = [("0x", 16), ("0o", 8), ("0b", 2)]
        .into_iter()
        .find_map(|(prefix, radix)| lower.strip_prefix(prefix).map(|digits| (digits, radix)))
        .unwrap_or((&lower, 10));
    if digits.is_empty() || digits.starts_with('+') {
        return None;
    }
    u64::from_str_radix(digits, radix).ok()
}

impl FromStr for CpuSignature {
    type Err = Error;

    /// A raw signature: decimal, or `0x`, `0o`, `0b` prefixed.
    fn from_str(text: &str) -> Result<Self, Error> {
        parse_number(text)
            .and_then(|value| u32::try_from(value).ok())
            .map(Self)
            .ok_or_else(|| Error::InvalidNumber {
                what: "vCPU signature",
                text: text.to_owned(),
            })
    }
}

impl fmt::Display for CpuSignature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}", self.0)
    }
}

impl From<VcpuModel> for CpuSignature {
    fn from(model: VcpuModel) -> Self {
        model.signature()
    }
}

/// The guest's `SEV_FEATURES` (VMSA offset 0x3B0): bit 0 `SNPActive`, bit 5 `DebugSwap`, …
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GuestFeatures(pub u64);

impl GuestFeatures {
    /// `SNPActive` alone, sev-snp-measure's default.
    pub const SNP_ACTIVE: Self = Self(0x1);
}

impl FromStr for GuestFeatures {
    type Err = Error;

    /// As `--guest-features`: decimal, or `0x`, `0o`, `0b` prefixed.
    fn from_str(text: &str) -> Result<Self, Error> {
        parse_number(text)
            .map(Self)
            .ok_or_else(|| Error::InvalidNumber {
                what: "guest features",
                text: text.to_owned(),
            })
    }
}

impl fmt::Display for GuestFeatures {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}", self.0)
    }
}

impl Default for GuestFeatures {
    fn default() -> Self {
        Self::SNP_ACTIVE
    }
}

macro_rules! vcpu_models {
    ($($variant:ident = $name:literal => ($family:literal, $model:literal, $stepping:literal),)*) => {
        /// A QEMU vCPU model, spelled as QEMU and sev-snp-measure spell it (the ones
        /// sev-snp-measure 0.0.13 knows).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum VcpuModel {
            $(
                #[doc = concat!("`", $name, "`: family ", stringify!($family), ", model ",
                    stringify!($model), ", stepping ", stringify!($stepping), ".")]
                $variant,
            )*
        }

        impl VcpuModel {
            /// Every model, in sev-snp-measure's order.
            pub const ALL: &'static [Self] = &[$(Self::$variant,)*];

            /// Its name.
            pub const fn name(self) -> &'static str {
                match self {
                    $(Self::$variant => $name,)*
                }
            }

            /// Its CPUID signature.
            pub const fn signature(self) -> CpuSignature {
                match self {
                    $(Self::$variant =>
                        CpuSignature::from_family_model_stepping($family, $model, $stepping),)*
                }
            }
        }
    };
}

vcpu_models! {
    Epyc = "EPYC" => (23, 1, 2),
    EpycV1 = "EPYC-v1" => (23, 1, 2),
    EpycV2 = "EPYC-v2" => (23, 1, 2),
    EpycIbpb = "EPYC-IBPB" => (23, 1, 2),
    EpycV3 = "EPYC-v3" => (23, 1, 2),
    EpycV4 = "EPYC-v4" => (23, 1, 2),
    EpycRome = "EPYC-Rome" => (23, 49, 0),
    EpycRomeV1 = "EPYC-Rome-v1" => (23, 49, 0),
    EpycRomeV2 = "EPYC-Rome-v2" => (23, 49, 0),
    EpycRomeV3 = "EPYC-Rome-v3" => (23, 49, 0),
    EpycMilan = "EPYC-Milan" => (25, 1, 1),
    EpycMilanV1 = "EPYC-Milan-v1" => (25, 1, 1),
    EpycMilanV2 = "EPYC-Milan-v2" => (25, 1, 1),
    EpycGenoa = "EPYC-Genoa" => (25, 17, 0),
    EpycGenoaV1 = "EPYC-Genoa-v1" => (25, 17, 0),
    EpycTurin = "EPYC-Turin" => (26, 0, 0),
}

impl fmt::Display for VcpuModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for VcpuModel {
    type Err = Error;

    /// The model of this exact name (QEMU's names are case-sensitive).
    fn from_str(name: &str) -> Result<Self, Error> {
        Self::ALL
            .iter()
            .copied()
            .find(|model| model.name() == name)
            .ok_or_else(|| Error::UnknownVcpuModel {
                name: name.to_owned(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::{CpuSignature, GuestFeatures, VcpuModel};

    #[test]
    fn numbers_read_as_sev_snp_measure_reads_them() {
        for (text, value) in [
            ("0x21", 0x21),
            ("33", 33),
            ("0X21", 0x21),
            ("0o41", 33),
            ("0b1", 1),
        ] {
            assert_eq!(
                text.parse::<GuestFeatures>(),
                Ok(GuestFeatures(value)),
                "{text}"
            );
        }
        for text in [
            "",
            "0x",
            "x21",
            "-1",
            "0x+1",
            "1.5",
            "0x1_0000_0000_0000_0000",
        ] {
            assert!(text.parse::<GuestFeatures>().is_err(), "{text}");
        }
        assert_eq!(
            "0x800f12".parse::<CpuSignature>(),
            Ok(CpuSignature(0x0080_0f12))
        );
        assert!("0x100000000".parse::<CpuSignature>().is_err());
        assert_eq!(GuestFeatures(0x21).to_string(), "0x21");
    }

    #[test]
    fn signatures_are_amds_encoding() {
        assert_eq!(VcpuModel::EpycV4.signature(), CpuSignature(0x0080_0f12));
        assert_eq!(VcpuModel::EpycRome.signature(), CpuSignature(0x0083_0f10));
        assert_eq!(VcpuModel::EpycMilan.signature(), CpuSignature(0x00a0_0f11));
        assert_eq!(VcpuModel::EpycGenoa.signature(), CpuSignature(0x00a1_0f10));
        assert_eq!(VcpuModel::EpycTurin.signature(), CpuSignature(0x00b0_0f00));
        assert_eq!(
            CpuSignature::from_family_model_stepping(6, 0x8f, 8),
            CpuSignature(0x0008_06f8)
        );
    }

    #[test]
    fn names_round_trip() {
        for &model in VcpuModel::ALL {
            assert_eq!(model.to_string().parse::<VcpuModel>(), Ok(model));
        }
        assert_eq!(VcpuModel::ALL.len(), 16);
        assert!("epyc-v4".parse::<VcpuModel>().is_err());
    }
}
