//! Why an SNP report was rejected.

use std::fmt;

use serde::Serialize;

use crate::fields::{ChipId, Digest48, Fingerprint, HostData, Measurement, ReportData};
use crate::snp::report::{FirmwareVersion, SigningKey};
use crate::snp::tcb::{Product, TcbComponent};

/// A certificate's place in the AMD chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CertRole {
    /// AMD Root Key, self-signed, pinned per product.
    Ark,
    /// AMD SEV Key: signs VCEKs.
    Ask,
    /// AMD SEV VLEK Key: signs VLEKs.
    Asvk,
    /// Versioned Chip Endorsement Key: signs reports, one per chip and TCB.
    Vcek,
    /// Versioned Loaded Endorsement Key: signs reports, one per cloud provider and TCB.
    Vlek,
}

impl fmt::Display for CertRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Ark => "ARK",
            Self::Ask => "ASK",
            Self::Asvk => "ASVK",
            Self::Vcek => "VCEK",
            Self::Vlek => "VLEK",
        })
    }
}

/// The SNP evidence is bad: forged, for another chip, or outside the reference values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SnpRejection {
    /// The report version is not 2, 3 or 5.
    #[error("snp report version {version} is not supported (2, 3 and 5 are)")]
    UnsupportedVersion {
        /// The version in the report.
        version: u32,
    },
    /// The report is not signed with ECDSA P-384/SHA-384.
    #[error("snp report signature algorithm {algorithm} is not ECDSA P-384 with SHA-384 (1)")]
    UnsupportedSignatureAlgorithm {
        /// The algorithm in the report.
        algorithm: u32,
    },
    /// Bytes of the signature block that must be zero are not.
    #[error("snp report signature block has a non-zero padding byte at offset {offset:#x}")]
    SignatureEncoding {
        /// Offset of the first non-zero byte.
        offset: usize,
    },
    /// `KEY_INFO` names no usable signing key.
    #[error("snp report is signed by {signing_key:?}, not by a VCEK or VLEK")]
    UnsupportedSigningKey {
        /// The signing key in the report.
        signing_key: SigningKey,
    },
    /// The report signature does not verify with the endorsement key.
    #[error("snp report signature does not verify with the {signer}")]
    SignatureInvalid {
        /// The certificate whose key was used.
        signer: CertRole,
    },
    /// A certificate could not be decoded.
    #[error("{role} certificate is malformed: {detail}")]
    CertificateMalformed {
        /// Which certificate.
        role: CertRole,
        /// What the decoder said.
        detail: String,
    },
    /// A certificate's signature does not verify with its issuer's key.
    #[error("{role} certificate is not signed by the {issuer}")]
    ChainBroken {
        /// The certificate whose signature failed.
        role: CertRole,
        /// The issuer whose key was used.
        issuer: CertRole,
    },
    /// A root certificate offered with the evidence is not the pinned AMD root.
    #[error("ARK with SHA-256 {fingerprint} is not the pinned {product} root")]
    UntrustedRoot {
        /// The product whose root was expected.
        product: Product,
        /// The offered root's fingerprint.
        fingerprint: Fingerprint,
    },
    /// The intermediate offered does not match the report's signing key (ASK for VCEK, ASVK for
    /// VLEK).
    #[error("expected an {expected} as intermediate, got a certificate for {subject:?}")]
    WrongIntermediate {
        /// The role needed.
        expected: CertRole,
        /// The subject of the certificate offered.
        subject: String,
    },
    /// Neither the report (version 2 has no CPUID) nor the endorsement key names a product.
    #[error("cannot tell the processor generation of this report; pass the product")]
    ProductUndetermined,
    /// The report's CPUID and the endorsement key disagree on the product.
    #[error("report is from a {report} processor but the endorsement key is for {certificate}")]
    ProductMismatch {
        /// Product from the report's CPUID.
        report: Product,
        /// Product from the certificate.
        certificate: Product,
    },
    /// A required AMD certificate extension is missing.
    #[error("{role} certificate lacks the {extension} extension")]
    ExtensionMissing {
        /// Which certificate.
        role: CertRole,
        /// The extension's name.
        extension: &'static str,
    },
    /// An AMD certificate extension could not be decoded.
    #[error("{role} certificate has a malformed {extension} extension")]
    ExtensionMalformed {
        /// Which certificate.
        role: CertRole,
        /// The extension's name.
        extension: &'static str,
    },
    /// The endorsement key was issued for another TCB than the report claims.
    #[error(
        "endorsement key {component} SPL is {certificate}, report's reported_tcb says {report}"
    )]
    VekTcbMismatch {
        /// The component that differs.
        component: TcbComponent,
        /// SPL in the certificate.
        certificate: u8,
        /// SPL in the report.
        report: u8,
    },
    /// The VCEK was issued for another chip.
    #[error("VCEK hwID {certificate} does not match the report's chip id {report}")]
    ChipIdMismatch {
        /// hwID in the certificate (hex).
        certificate: String,
        /// Chip id in the report.
        report: ChipId,
    },
    /// The report says one kind of key signed it, the certificate is another kind.
    #[error("report says it is signed by {report:?} but the certificate is a {certificate}")]
    SigningKeyMismatch {
        /// Signing key from `KEY_INFO`.
        report: SigningKey,
        /// What the certificate is.
        certificate: CertRole,
    },
    /// The CRL lists the certificate as revoked.
    #[error("{role} certificate with serial {serial} is revoked")]
    Revoked {
        /// Which certificate.
        role: CertRole,
        /// Its serial number (hex).
        serial: String,
    },
    /// The CRL could not be decoded.
    #[error("CRL is malformed: {detail}")]
    CrlMalformed {
        /// What the decoder said.
        detail: String,
    },
    /// The CRL is not signed by the ARK.
    #[error("CRL is not signed by the {product} ARK")]
    CrlSignatureInvalid {
        /// The product whose ARK was used.
        product: Product,
    },
    /// The measurement is not in the allowed set.
    #[error(
        "measurement {actual} is not among the {allowed} allowed (digests and vCPU-scaled guests)"
    )]
    MeasurementNotAllowed {
        /// Measurement in the report.
        actual: Measurement,
        /// How many are allowed.
        allowed: usize,
    },
    /// A TCB component is below the minimum.
    #[error("reported TCB {component} SPL {actual} is below the minimum {minimum}")]
    TcbBelowMinimum {
        /// The component.
        component: TcbComponent,
        /// Its SPL in `reported_tcb`.
        actual: u8,
        /// The minimum.
        minimum: u8,
    },
    /// The guest policy lets the host debug the guest.
    #[error(
        "guest policy {policy:#x} allows debugging (bit 19); not allowed by the reference values"
    )]
    DebugAllowed {
        /// The raw guest policy.
        policy: u64,
    },
    /// The guest policy allows SMT, which the reference values forbid.
    #[error("guest policy {policy:#x} allows SMT (bit 16); not allowed by the reference values")]
    SmtNotAllowed {
        /// The raw guest policy.
        policy: u64,
    },
    /// The guest policy allows a migration agent, which the reference values forbid.
    #[error(
        "guest policy {policy:#x} allows a migration agent (bit 18); not allowed by the reference values"
    )]
    MigrationAgentNotAllowed {
        /// The raw guest policy.
        policy: u64,
    },
    /// The firmware's ABI version is below the minimum.
    #[error("firmware ABI {}.{} is below the minimum {}.{}", actual.major, actual.minor, minimum.major, minimum.minor)]
    AbiBelowMinimum {
        /// Current firmware version.
        actual: FirmwareVersion,
        /// Minimum version (build ignored).
        minimum: FirmwareVersion,
    },
    /// The report was requested at a VMPL that is not allowed.
    #[error("report is from VMPL {actual}, allowed are {allowed:?}")]
    VmplNotAllowed {
        /// VMPL in the report.
        actual: u32,
        /// Allowed VMPLs.
        allowed: Vec<u32>,
    },
    /// `HOST_DATA` differs from the expected value.
    #[error("host data {actual} differs from the expected {expected}")]
    HostDataMismatch {
        /// Host data in the report.
        actual: HostData,
        /// Expected host data.
        expected: HostData,
    },
    /// `REPORT_DATA` differs from the expected value.
    #[error("report data {actual} differs from the expected {expected}")]
    ReportDataMismatch {
        /// Report data in the report.
        actual: ReportData,
        /// Expected report data.
        expected: ReportData,
    },
    /// The ID-key digest is not allowed.
    #[error("ID key digest {actual} is not allowed")]
    IdKeyDigestNotAllowed {
        /// Digest in the report.
        actual: Digest48,
    },
    /// The author-key digest is not allowed.
    #[error("author key digest {actual} is not allowed")]
    AuthorKeyDigestNotAllowed {
        /// Digest in the report.
        actual: Digest48,
    },
    /// The chip is not on the allow-list.
    #[error("chip id {actual} is not on the allow-list")]
    ChipIdNotAllowed {
        /// Chip id in the report.
        actual: ChipId,
    },
    /// The product is not allowed.
    #[error("product {actual} is not allowed (allowed: {allowed:?})")]
    ProductNotAllowed {
        /// The product.
        actual: Product,
        /// Allowed products.
        allowed: Vec<Product>,
    },
    /// The VLEK belongs to a cloud provider that is not allowed.
    #[error("VLEK of cloud provider {actual:?} is not allowed (allowed: {allowed:?})")]
    CspNotAllowed {
        /// CSP id in the VLEK.
        actual: String,
        /// Allowed CSP ids.
        allowed: Vec<String>,
    },
}

impl SnpRejection {
    /// A stable name of the check that failed, for machine-readable output.
    pub fn check(&self) -> &'static str {
        match self {
            Self::UnsupportedVersion { .. } => "snp.report_version",
            Self::UnsupportedSignatureAlgorithm { .. } => "snp.signature_algorithm",
            Self::SignatureEncoding { .. } => "snp.signature_encoding",
            Self::UnsupportedSigningKey { .. } => "snp.signing_key",
            Self::SignatureInvalid { .. } => "snp.report_signature",
            Self::CertificateMalformed { .. } => "snp.certificate_format",
            Self::ChainBroken { .. } => "snp.certificate_chain",
            Self::UntrustedRoot { .. } => "snp.root_pin",
            Self::WrongIntermediate { .. } => "snp.intermediate_role",
            Self::ProductUndetermined => "snp.product_detection",
            Self::ProductMismatch { .. } => "snp.product_match",
            Self::ExtensionMissing { .. } | Self::ExtensionMalformed { .. } => "snp.vek_extensions",
            Self::VekTcbMismatch { .. } => "snp.vek_tcb",
            Self::ChipIdMismatch { .. } => "snp.vek_chip_id",
            Self::SigningKeyMismatch { .. } => "snp.vek_kind",
            Self::Revoked { .. } => "snp.crl_revocation",
            Self::CrlMalformed { .. } => "snp.crl_format",
            Self::CrlSignatureInvalid { .. } => "snp.crl_signature",
            Self::MeasurementNotAllowed { .. } => "snp.reference.measurement",
            Self::TcbBelowMinimum { .. } => "snp.reference.minimum_tcb",
            Self::DebugAllowed { .. } => "snp.reference.debug",
            Self::SmtNotAllowed { .. } => "snp.reference.smt",
            Self::MigrationAgentNotAllowed { .. } => "snp.reference.migration_agent",
            Self::AbiBelowMinimum { .. } => "snp.reference.minimum_abi",
            Self::VmplNotAllowed { .. } => "snp.reference.vmpl",
            Self::HostDataMismatch { .. } => "snp.reference.host_data",
            Self::ReportDataMismatch { .. } => "snp.reference.report_data",
            Self::IdKeyDigestNotAllowed { .. } => "snp.reference.id_key_digest",
            Self::AuthorKeyDigestNotAllowed { .. } => "snp.reference.author_key_digest",
            Self::ChipIdNotAllowed { .. } => "snp.reference.chip_id",
            Self::ProductNotAllowed { .. } => "snp.reference.product",
            Self::CspNotAllowed { .. } => "snp.reference.vlek_csp",
        }
    }
}
