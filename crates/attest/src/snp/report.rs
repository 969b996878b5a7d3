//! The SEV-SNP `ATTESTATION_REPORT` (AMD SEV-SNP ABI specification #56860, Table 23), report
//! versions 2 (Milan/Genoa firmware before 1.55), 3 (adds CPUID family/model/stepping) and 5
//! (adds the launch and current mitigation vectors).

use serde::Serialize;

use crate::error::Malformed;
use crate::fields::{ChipId, Digest48, HostData, Measurement, ReportData};
use crate::snp::error::SnpRejection;
use crate::snp::tcb::{Product, RawTcb};

/// Bytes in an SNP attestation report.
pub const REPORT_LEN: usize = 0x4A0;
/// Bytes `[0, SIGNED_LEN)` are covered by the report signature.
pub const SIGNED_LEN: usize = 0x2A0;

// Offsets from Table 23 of the ABI specification.
pub(crate) const VERSION: usize = 0x000;
pub(crate) const GUEST_SVN: usize = 0x004;
pub(crate) const POLICY: usize = 0x008;
pub(crate) const FAMILY_ID: usize = 0x010;
pub(crate) const IMAGE_ID: usize = 0x020;
pub(crate) const VMPL: usize = 0x030;
pub(crate) const SIGNATURE_ALGO: usize = 0x034;
pub(crate) const CURRENT_TCB: usize = 0x038;
pub(crate) const PLATFORM_INFO: usize = 0x040;
pub(crate) const KEY_INFO: usize = 0x048;
pub(crate) const REPORT_DATA: usize = 0x050;
pub(crate) const MEASUREMENT: usize = 0x090;
pub(crate) const HOST_DATA: usize = 0x0C0;
pub(crate) const ID_KEY_DIGEST: usize = 0x0E0;
pub(crate) const AUTHOR_KEY_DIGEST: usize = 0x110;
pub(crate) const REPORT_ID: usize = 0x140;
pub(crate) const REPORT_ID_MA: usize = 0x160;
pub(crate) const REPORTED_TCB: usize = 0x180;
pub(crate) const CPUID_FAM_ID: usize = 0x188;
pub(crate) const CPUID_MOD_ID: usize = 0x189;
pub(crate) const CPUID_STEP: usize = 0x18A;
pub(crate) const CHIP_ID: usize = 0x1A0;
pub(crate) const COMMITTED_TCB: usize = 0x1E0;
pub(crate) const CURRENT_BUILD: usize = 0x1E8;
pub(crate) const CURRENT_MINOR: usize = 0x1E9;
pub(crate) const CURRENT_MAJOR: usize = 0x1EA;
pub(crate) const COMMITTED_BUILD: usize = 0x1EC;
pub(crate) const COMMITTED_MINOR: usize = 0x1ED;
pub(crate) const COMMITTED_MAJOR: usize = 0x1EE;
pub(crate) const LAUNCH_TCB: usize = 0x1F0;
pub(crate) const LAUNCH_MIT_VECTOR: usize = 0x1F8;
pub(crate) const CURRENT_MIT_VECTOR: usize = 0x200;
pub(crate) const SIGNATURE: usize = 0x2A0;
/// R and S are each 72 bytes, little-endian; P-384 scalars use only the low 48.
pub(crate) const SIGNATURE_COMPONENT_LEN: usize = 72;
pub(crate) const SCALAR_LEN: usize = 48;

/// `SIGNATURE_ALGO` value for ECDSA P-384 with SHA-384 (Table 139).
pub(crate) const ECDSA_P384_SHA384: u32 = 1;

/// A parsed SNP attestation report. Parsing checks structure only; trust comes from
/// [`crate::snp::verify`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// The raw report bytes, kept so the signature is checked over exactly what arrived.
    #[serde(skip)]
    raw: Box<[u8; REPORT_LEN]>,
    /// Report format version (2, 3 or 5).
    pub version: u32,
    /// Guest SVN from the ID block.
    pub guest_svn: u32,
    /// The guest policy the VM was launched with.
    pub policy: GuestPolicy,
    /// Family id from the ID block.
    #[serde(with = "hex::serde")]
    pub family_id: [u8; 16],
    /// Image id from the ID block.
    #[serde(with = "hex::serde")]
    pub image_id: [u8; 16],
    /// VMPL the report was requested at.
    pub vmpl: u32,
    /// Signature algorithm (1 = ECDSA P-384 with SHA-384).
    pub signature_algo: u32,
    /// The platform's current TCB.
    pub current_tcb: RawTcb,
    /// Platform information bits.
    pub platform_info: PlatformInfo,
    /// Which key signed, and whether the author key and chip id are masked.
    pub key_info: KeyInfo,
    /// Data the guest supplied with its request.
    pub report_data: ReportData,
    /// The launch measurement.
    pub measurement: Measurement,
    /// Data the host supplied at launch.
    pub host_data: HostData,
    /// SHA-384 of the ID-block signing key.
    pub id_key_digest: Digest48,
    /// SHA-384 of the author key that certified the ID key.
    pub author_key_digest: Digest48,
    /// The report id of this guest.
    #[serde(with = "hex::serde")]
    pub report_id: [u8; 32],
    /// The report id of the migration agent.
    #[serde(with = "hex::serde")]
    pub report_id_ma: [u8; 32],
    /// The TCB the signing key was derived for.
    pub reported_tcb: RawTcb,
    /// CPUID family, model and stepping (report version 3 and later).
    pub cpuid: Option<Cpuid>,
    /// The chip id (zero when masked).
    pub chip_id: ChipId,
    /// The committed TCB.
    pub committed_tcb: RawTcb,
    /// Current firmware version.
    pub current_version: FirmwareVersion,
    /// Committed firmware version.
    pub committed_version: FirmwareVersion,
    /// The TCB at launch.
    pub launch_tcb: RawTcb,
    /// Mitigation vectors (report version 5 and later).
    pub mitigation_vectors: Option<MitigationVectors>,
}

/// CPUID identification of the processor (report version 3 and later).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Cpuid {
    /// Combined family (base + extended).
    pub family: u8,
    /// Combined model.
    pub model: u8,
    /// Stepping.
    pub stepping: u8,
}

impl Cpuid {
    /// The processor generation these CPUID values name, if known.
    pub fn product(&self) -> Option<Product> {
        match (self.family, self.model) {
            (0x19, 0x00..=0x0F) => Some(Product::Milan),
            (0x19, 0x10..=0x1F | 0xA0..=0xAF) => Some(Product::Genoa),
            (0x1A, 0x00..=0x11) => Some(Product::Turin),
            _ => None,
        }
    }
}

/// A firmware version as build, minor and major.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct FirmwareVersion {
    /// Major version.
    pub major: u8,
    /// Minor version.
    pub minor: u8,
    /// Build number.
    pub build: u8,
}

/// Launch and current mitigation vectors (report version 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct MitigationVectors {
    /// Mitigations in force at launch.
    pub launch: u64,
    /// Mitigations in force now.
    pub current: u64,
}

/// The guest policy (ABI specification Table 9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(into = "GuestPolicyView")]
pub struct GuestPolicy(u64);

impl GuestPolicy {
    /// Wraps the raw 64-bit policy.
    pub const fn from_raw(raw: u64) -> Self {
        Self(raw)
    }
    /// The raw policy.
    pub const fn raw(self) -> u64 {
        self.0
    }
    /// Minimum ABI minor version the guest requires.
    pub const fn abi_minor(self) -> u8 {
        (self.0 & 0xFF) as u8
    }
    /// Minimum ABI major version the guest requires.
    pub const fn abi_major(self) -> u8 {
        ((self.0 >> 8) & 0xFF) as u8
    }
    /// Bit 16: SMT may be enabled on the host.
    pub const fn smt_allowed(self) -> bool {
        self.0 & (1 << 16) != 0
    }
    /// Bit 18: a migration agent may be associated with the guest.
    pub const fn migrate_ma_allowed(self) -> bool {
        self.0 & (1 << 18) != 0
    }
    /// Bit 19: the host may debug the guest (decrypt its memory).
    pub const fn debug_allowed(self) -> bool {
        self.0 & (1 << 19) != 0
    }
    /// Bit 20: the guest may only run on a single socket.
    pub const fn single_socket(self) -> bool {
        self.0 & (1 << 20) != 0
    }
}

#[derive(Serialize)]
struct GuestPolicyView {
    raw: String,
    abi_major: u8,
    abi_minor: u8,
    smt_allowed: bool,
    migrate_ma_allowed: bool,
    debug_allowed: bool,
    single_socket: bool,
}

impl From<GuestPolicy> for GuestPolicyView {
    fn from(policy: GuestPolicy) -> Self {
        Self {
            raw: format!("{:#x}", policy.0),
            abi_major: policy.abi_major(),
            abi_minor: policy.abi_minor(),
            smt_allowed: policy.smt_allowed(),
            migrate_ma_allowed: policy.migrate_ma_allowed(),
            debug_allowed: policy.debug_allowed(),
            single_socket: policy.single_socket(),
        }
    }
}

/// Platform information bits (ABI specification Table 24).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(into = "PlatformInfoView")]
pub struct PlatformInfo(u64);

impl PlatformInfo {
    /// Bit 0: SMT is enabled on the host.
    pub const fn smt_enabled(self) -> bool {
        self.0 & 1 != 0
    }
    /// Bit 1: transparent SME is enabled.
    pub const fn tsme_enabled(self) -> bool {
        self.0 & (1 << 1) != 0
    }
    /// The raw value.
    pub const fn raw(self) -> u64 {
        self.0
    }
}

#[derive(Serialize)]
struct PlatformInfoView {
    raw: String,
    smt_enabled: bool,
    tsme_enabled: bool,
}

impl From<PlatformInfo> for PlatformInfoView {
    fn from(info: PlatformInfo) -> Self {
        Self {
            raw: format!("{:#x}", info.0),
            smt_enabled: info.smt_enabled(),
            tsme_enabled: info.tsme_enabled(),
        }
    }
}

/// Which key signed the report (`KEY_INFO.SIGNING_KEY`, bits 4:2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SigningKey {
    /// The chip-unique Versioned Chip Endorsement Key.
    Vcek,
    /// A cloud provider's Versioned Loaded Endorsement Key.
    Vlek,
    /// The report is unsigned.
    None,
    /// A reserved value.
    Reserved(u8),
}

/// `KEY_INFO` (offset 0x48).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct KeyInfo {
    /// Bit 0: the ID key was certified by an author key.
    pub author_key_en: bool,
    /// Bit 1: `CHIP_ID` is masked to zero.
    pub mask_chip_key: bool,
    /// Bits 4:2: the signing key.
    pub signing_key: SigningKey,
}

impl KeyInfo {
    fn from_raw(raw: u32) -> Self {
        let signing_key = match (raw >> 2) & 0b111 {
            0 => SigningKey::Vcek,
            1 => SigningKey::Vlek,
            7 => SigningKey::None,
            other => SigningKey::Reserved(u8::try_from(other).unwrap_or(u8::MAX)),
        };
        Self {
            author_key_en: raw & 1 != 0,
            mask_chip_key: raw & 2 != 0,
            signing_key,
        }
    }
}

impl Report {
    /// Parses exactly one report of [`REPORT_LEN`] bytes.
    ///
    /// # Errors
    /// [`Malformed::Length`] for any other length, and the errors of [`Report::parse_prefix`].
    pub fn parse(bytes: &[u8]) -> Result<Self, crate::Error> {
        if bytes.len() != REPORT_LEN {
            return Err(Malformed::Length {
                what: "snp report",
                expected: REPORT_LEN,
                got: bytes.len(),
            }
            .into());
        }
        Self::parse_prefix(bytes).map(|(report, _)| report)
    }

    /// Parses the report at the start of `bytes` and returns the bytes after it (some sources
    /// append a request header, e.g. Azure's IGVM runtime-data header).
    ///
    /// # Errors
    /// [`Malformed::Truncated`] when fewer than [`REPORT_LEN`] bytes are given;
    /// [`SnpRejection::UnsupportedVersion`] for versions other than 2, 3 and 5;
    /// [`SnpRejection::UnsupportedSignatureAlgorithm`] unless the algorithm is ECDSA P-384;
    /// [`SnpRejection::SignatureEncoding`] when unused signature bytes are not zero.
    pub fn parse_prefix(bytes: &[u8]) -> Result<(Self, &[u8]), crate::Error> {
        let (raw, rest) = bytes
            .split_first_chunk::<REPORT_LEN>()
            .ok_or(Malformed::Truncated {
                what: "snp report",
                needed: REPORT_LEN,
                got: bytes.len(),
            })?;
        let field = Fields(raw);
        let version = field.u32(VERSION);
        if !matches!(version, 2 | 3 | 5) {
            return Err(SnpRejection::UnsupportedVersion { version }.into());
        }
        let signature_algo = field.u32(SIGNATURE_ALGO);
        if signature_algo != ECDSA_P384_SHA384 {
            return Err(SnpRejection::UnsupportedSignatureAlgorithm {
                algorithm: signature_algo,
            }
            .into());
        }
        check_signature_padding(raw)?;
        let cpuid = (version >= 3).then(|| Cpuid {
            family: field.u8(CPUID_FAM_ID),
            model: field.u8(CPUID_MOD_ID),
            stepping: field.u8(CPUID_STEP),
        });
        let mitigation_vectors = (version >= 5).then(|| MitigationVectors {
            launch: field.u64(LAUNCH_MIT_VECTOR),
            current: field.u64(CURRENT_MIT_VECTOR),
        });
        let report = Self {
            raw: Box::new(*raw),
            version,
            guest_svn: field.u32(GUEST_SVN),
            policy: GuestPolicy(field.u64(POLICY)),
            family_id: field.array(FAMILY_ID),
            image_id: field.array(IMAGE_ID),
            vmpl: field.u32(VMPL),
            signature_algo,
            current_tcb: RawTcb::from_raw(field.u64(CURRENT_TCB)),
            platform_info: PlatformInfo(field.u64(PLATFORM_INFO)),
            key_info: KeyInfo::from_raw(field.u32(KEY_INFO)),
            report_data: ReportData::new(field.array(REPORT_DATA)),
            measurement: Measurement::new(field.array(MEASUREMENT)),
            host_data: HostData::new(field.array(HOST_DATA)),
            id_key_digest: Digest48::new(field.array(ID_KEY_DIGEST)),
            author_key_digest: Digest48::new(field.array(AUTHOR_KEY_DIGEST)),
            report_id: field.array(REPORT_ID),
            report_id_ma: field.array(REPORT_ID_MA),
            reported_tcb: RawTcb::from_raw(field.u64(REPORTED_TCB)),
            cpuid,
            chip_id: ChipId::new(field.array(CHIP_ID)),
            committed_tcb: RawTcb::from_raw(field.u64(COMMITTED_TCB)),
            current_version: FirmwareVersion {
                major: field.u8(CURRENT_MAJOR),
                minor: field.u8(CURRENT_MINOR),
                build: field.u8(CURRENT_BUILD),
            },
            committed_version: FirmwareVersion {
                major: field.u8(COMMITTED_MAJOR),
                minor: field.u8(COMMITTED_MINOR),
                build: field.u8(COMMITTED_BUILD),
            },
            launch_tcb: RawTcb::from_raw(field.u64(LAUNCH_TCB)),
            mitigation_vectors,
        };
        Ok((report, rest))
    }

    /// The raw report bytes.
    pub fn as_bytes(&self) -> &[u8; REPORT_LEN] {
        &self.raw
    }

    /// The bytes the signature covers, `[0, 0x2A0)`.
    pub fn signed_bytes(&self) -> &[u8] {
        let (signed, _) = self.raw.split_at(SIGNED_LEN);
        signed
    }

    /// The signature as big-endian `r ‖ s` (96 bytes), the form ECDSA libraries take.
    pub fn signature_be(&self) -> [u8; 2 * SCALAR_LEN] {
        let field = Fields(&self.raw);
        let r: [u8; SIGNATURE_COMPONENT_LEN] = field.array(SIGNATURE);
        let s: [u8; SIGNATURE_COMPONENT_LEN] = field.array(SIGNATURE + SIGNATURE_COMPONENT_LEN);
        let mut out = [0u8; 2 * SCALAR_LEN];
        let (out_r, out_s) = out.split_at_mut(SCALAR_LEN);
        for (dst, src) in out_r.iter_mut().zip(r.iter().take(SCALAR_LEN).rev()) {
            *dst = *src;
        }
        for (dst, src) in out_s.iter_mut().zip(s.iter().take(SCALAR_LEN).rev()) {
            *dst = *src;
        }
        out
    }

    /// The processor generation named by the report's CPUID fields (version 3 and later).
    pub fn product(&self) -> Option<Product> {
        self.cpuid.and_then(|cpuid| cpuid.product())
    }
}

/// Bytes of the signature block that carry no information must be zero: the high 24 bytes of R
/// and S, and the reserved tail. Otherwise they would be malleable, unsigned input.
fn check_signature_padding(raw: &[u8; REPORT_LEN]) -> Result<(), SnpRejection> {
    let signature = raw.get(SIGNATURE..).unwrap_or_default();
    let nonzero = signature.iter().enumerate().find(|(index, byte)| {
        let in_r_padding = (SCALAR_LEN..SIGNATURE_COMPONENT_LEN).contains(index);
        let in_s_padding =
            (SIGNATURE_COMPONENT_LEN + SCALAR_LEN..2 * SIGNATURE_COMPONENT_LEN).contains(index);
        let in_reserved = *index >= 2 * SIGNATURE_COMPONENT_LEN;
        (in_r_padding || in_s_padding || in_reserved) && **byte != 0
    });
    match nonzero {
        Some((index, _)) => Err(SnpRejection::SignatureEncoding {
            offset: SIGNATURE + index,
        }),
        None => Ok(()),
    }
}

/// Little-endian field access into a report whose length is already checked.
struct Fields<'a>(&'a [u8; REPORT_LEN]);

impl Fields<'_> {
    fn array<const N: usize>(&self, offset: usize) -> [u8; N] {
        // INVARIANT: every offset above is a constant inside REPORT_LEN; the fallback is unreachable.
        self.0
            .get(offset..)
            .and_then(|tail| tail.first_chunk::<N>())
            .copied()
            .unwrap_or([0; N])
    }
    fn u8(&self, offset: usize) -> u8 {
        let [byte] = self.array::<1>(offset);
        byte
    }
    fn u32(&self, offset: usize) -> u32 {
        u32::from_le_bytes(self.array(offset))
    }
    fn u64(&self, offset: usize) -> u64 {
        u64::from_le_bytes(self.array(offset))
    }
}
