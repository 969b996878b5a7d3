//! TD attributes (`TDATTRIBUTES`, 64 bits, little-endian in the quote) as a bit set with Intel's
//! names (TDX Module ABI specification 348551, table "ATTRIBUTES definition"; Linux
//! `arch/x86/include/asm/shared/tdx.h` uses the same bits).
//!
//! In reference values a set is a JSON list of names, e.g. `["SEPT_VE_DISABLE", "PKS"]`; a bit
//! without a name is `"BIT_<n>"`. It serialises in bit order with names where they exist, so two
//! lists with the same bits have the same canonical JSON.

use std::fmt;

use serde::de::{self, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A set of TD attribute bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TdAttributes(u64);

/// Intel's names for the defined bits, in bit order.
const NAMES: [(u32, &str); 13] = [
    (0, "DEBUG"),
    (4, "HGS_PLUS_PROF"),
    (5, "PERF_PROF"),
    (6, "PMT_PROF"),
    (16, "ICSSD"),
    (17, "SERVTD_EXT"),
    (27, "LASS"),
    (28, "SEPT_VE_DISABLE"),
    (29, "MIGRATABLE"),
    (30, "PKS"),
    (31, "KL"),
    (62, "TPA"),
    (63, "PERFMON"),
];

impl TdAttributes {
    /// No bit.
    pub const NONE: Self = Self(0);
    /// Bit 0: the TD runs in debug mode; the host can read and write its memory and CPU state.
    pub const DEBUG: Self = Self(1);
    /// Bit 16: instruction-count based single-step defence.
    pub const ICSSD: Self = Self(1 << 16);
    /// Bit 17: the TD report carries a hash of the service-TD extension structure.
    pub const SERVTD_EXT: Self = Self(1 << 17);
    /// Bit 27: the TD may use linear address space separation.
    pub const LASS: Self = Self(1 << 27);
    /// Bit 28: EPT violations on pending pages are not converted to #VE.
    pub const SEPT_VE_DISABLE: Self = Self(1 << 28);
    /// Bit 29: the TD can be migrated by a migration TD.
    pub const MIGRATABLE: Self = Self(1 << 29);
    /// Bit 30: the TD may use supervisor protection keys.
    pub const PKS: Self = Self(1 << 30);
    /// Bit 31: the TD may use Key Locker.
    pub const KL: Self = Self(1 << 31);
    /// Bit 62: the TD is a TDX Connect provisioning agent.
    pub const TPA: Self = Self(1 << 62);
    /// Bit 63: the TD may use performance monitoring.
    pub const PERFMON: Self = Self(1 << 63);

    /// What reference values allow unless they say otherwise: the hardening bits and the CPU
    /// features a TD uses for itself. Refused: DEBUG (governed by `allow_debug`), the TD-under-
    /// debug profiling bits, MIGRATABLE, SERVTD_EXT, TPA and every bit without a name.
    pub const DEFAULT_ALLOWED: Self = Self(
        Self::ICSSD.0
            | Self::LASS.0
            | Self::SEPT_VE_DISABLE.0
            | Self::PKS.0
            | Self::KL.0
            | Self::PERFMON.0,
    );

    /// The set with exactly these bits.
    pub const fn from_bits(bits: u64) -> Self {
        Self(bits)
    }

    /// The attributes as the quote carries them (little-endian).
    pub const fn from_le_bytes(bytes: [u8; 8]) -> Self {
        Self(u64::from_le_bytes(bytes))
    }

    /// The bits.
    pub const fn bits(self) -> u64 {
        self.0
    }

    /// Whether every bit of `other` is in `self`.
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// The bits of `self` that are not in `other`.
    pub const fn without(self, other: Self) -> Self {
        Self(self.0 & !other.0)
    }

    /// The bits of either.
    pub const fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    /// Whether no bit is set.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The set bits, lowest first.
    fn bit_numbers(self) -> impl Iterator<Item = u32> {
        (0..u64::BITS).filter(move |bit| self.0 & (1 << bit) != 0)
    }
}

/// The name of one bit: Intel's, or `BIT_<n>`.
fn bit_name(bit: u32) -> String {
    NAMES
        .iter()
        .find(|(named, _)| *named == bit)
        .map_or_else(|| format!("BIT_{bit}"), |(_, name)| (*name).to_owned())
}

/// The bit a name stands for.
fn parse_bit(name: &str) -> Option<u32> {
    if let Some((bit, _)) = NAMES.iter().find(|(_, known)| *known == name) {
        return Some(*bit);
    }
    let number = name.strip_prefix("BIT_")?;
    // One spelling per number: decimal digits only, no sign, no leading zeros.
    let digits = !number.is_empty() && number.bytes().all(|byte| byte.is_ascii_digit());
    if !digits || (number.starts_with('0') && number != "0") {
        return None;
    }
    number.parse().ok().filter(|bit| *bit < u64::BITS)
}

impl fmt::Display for TdAttributes {
    /// The names of the set bits joined by `|`, or `none`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("none");
        }
        let names: Vec<String> = self.bit_numbers().map(bit_name).collect();
        f.write_str(&names.join("|"))
    }
}

impl Serialize for TdAttributes {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.bit_numbers().map(bit_name))
    }
}

impl<'de> Deserialize<'de> for TdAttributes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_seq(NameList)
    }
}

struct NameList;

impl<'de> Visitor<'de> for NameList {
    type Value = TdAttributes;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of TD attribute names such as \"SEPT_VE_DISABLE\" or \"BIT_<n>\"")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<TdAttributes, A::Error> {
        let mut bits = 0u64;
        while let Some(name) = seq.next_element::<String>()? {
            let bit = parse_bit(&name).ok_or_else(|| {
                de::Error::custom(format!(
                    "unknown TD attribute {name:?} (names: {}; other bits: BIT_<n>, n < 64)",
                    NAMES.map(|(_, name)| name).join(", ")
                ))
            })?;
            if bit == 0 {
                return Err(de::Error::custom(
                    "DEBUG is allowed with `allow_debug`, not in `allowed_td_attributes`",
                ));
            }
            let mask = 1u64 << bit;
            if bits & mask != 0 {
                return Err(de::Error::custom(format!(
                    "TD attribute {} is listed twice",
                    bit_name(bit)
                )));
            }
            bits |= mask;
        }
        Ok(TdAttributes(bits))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<TdAttributes, serde_json::Error> {
        serde_json::from_str(json)
    }

    #[test]
    fn names_match_intels_bit_numbers() {
        let expected = [
            (TdAttributes::DEBUG, 0),
            (TdAttributes::ICSSD, 16),
            (TdAttributes::SERVTD_EXT, 17),
            (TdAttributes::LASS, 27),
            (TdAttributes::SEPT_VE_DISABLE, 28),
            (TdAttributes::MIGRATABLE, 29),
            (TdAttributes::PKS, 30),
            (TdAttributes::KL, 31),
            (TdAttributes::TPA, 62),
            (TdAttributes::PERFMON, 63),
        ];
        for (attribute, bit) in expected {
            assert_eq!(attribute.bits(), 1 << bit, "{attribute}");
            assert_eq!(parse_bit(&attribute.to_string()), Some(bit));
        }
        // The genuine quotes' value: SEPT_VE_DISABLE, as the quote stores it.
        assert_eq!(
            TdAttributes::from_le_bytes([0, 0, 0, 0x10, 0, 0, 0, 0]),
            TdAttributes::SEPT_VE_DISABLE
        );
    }

    #[test]
    fn lists_parse_and_serialise_in_bit_order() {
        let attributes = parse(r#"["PERFMON", "BIT_40", "SEPT_VE_DISABLE", "BIT_28"]"#);
        assert!(attributes.is_err(), "BIT_28 is SEPT_VE_DISABLE twice");
        let attributes = parse(r#"["PERFMON", "BIT_40", "SEPT_VE_DISABLE"]"#).unwrap();
        assert_eq!(
            attributes,
            TdAttributes::PERFMON
                .union(TdAttributes::SEPT_VE_DISABLE)
                .union(TdAttributes::from_bits(1 << 40))
        );
        assert_eq!(
            serde_json::to_string(&attributes).unwrap(),
            r#"["SEPT_VE_DISABLE","BIT_40","PERFMON"]"#
        );
        assert_eq!(attributes.to_string(), "SEPT_VE_DISABLE|BIT_40|PERFMON");
        assert_eq!(parse("[]").unwrap(), TdAttributes::NONE);
    }

    #[test]
    fn debug_unknown_names_and_repeats_are_refused() {
        for (json, message) in [
            (r#"["DEBUG"]"#, "allow_debug"),
            (r#"["BIT_0"]"#, "allow_debug"),
            (r#"["MIGRATEABLE"]"#, "unknown TD attribute \"MIGRATEABLE\""),
            (r#"["BIT_64"]"#, "unknown TD attribute"),
            (r#"["BIT_07"]"#, "unknown TD attribute"),
            (r#"["BIT_+7"]"#, "unknown TD attribute"),
            (r#"["sept_ve_disable"]"#, "unknown TD attribute"),
            (r#"["PKS", "PKS"]"#, "PKS is listed twice"),
            (r#""PKS""#, "a list of TD attribute names"),
        ] {
            let err = parse(json).unwrap_err().to_string();
            assert!(err.contains(message), "{json}: {err}");
        }
    }

    #[test]
    fn the_default_refuses_migration_service_td_extension_and_unnamed_bits() {
        let allowed = TdAttributes::DEFAULT_ALLOWED;
        for refused in [
            TdAttributes::DEBUG,
            TdAttributes::MIGRATABLE,
            TdAttributes::SERVTD_EXT,
            TdAttributes::TPA,
            TdAttributes::from_bits(1 << 4),
            TdAttributes::from_bits(1 << 1),
            TdAttributes::from_bits(1 << 40),
        ] {
            assert!(!allowed.contains(refused), "{refused}");
        }
        assert!(allowed.contains(TdAttributes::SEPT_VE_DISABLE.union(TdAttributes::PKS)));
    }
}
