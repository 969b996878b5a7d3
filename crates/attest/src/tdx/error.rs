//! Why a TDX quote was rejected.

use crate::fields::{Digest48, Measurement, ReportData};
use crate::tdx::{TcbStatus, TdAttributes};

/// The TDX evidence is bad: forged, from an unpatched platform, or outside the reference values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TdxRejection {
    /// Quote versions other than 4 and 5.
    #[error("tdx quote version {version} is not supported (4 and 5 are)")]
    UnsupportedVersion {
        /// The version in the header.
        version: u16,
    },
    /// The quote is not from a TD (e.g. an SGX enclave quote).
    #[error("quote tee_type {tee_type:#x} is not TDX (0x81)")]
    NotTdx {
        /// The TEE type in the header.
        tee_type: u32,
    },
    /// The attestation key type is not ECDSA P-256.
    #[error("attestation key type {key_type} is not ECDSA P-256 (2)")]
    UnsupportedAttestationKey {
        /// The key type in the header.
        key_type: u16,
    },
    /// A v5 body of a type or size this verifier does not accept.
    #[error("quote body type {body_type} with size {body_size} is not a TD 1.0 or TD 1.5 report")]
    UnsupportedBody {
        /// The body type.
        body_type: u16,
        /// The declared body size.
        body_size: u32,
    },
    /// Certification data other than a QE report (6) wrapping a PCK chain (5).
    #[error("certification data type {cert_type} is not supported")]
    UnsupportedCertificationData {
        /// The certification data type.
        cert_type: u16,
    },
    /// Bytes after the signature data that are not zero padding: nothing signs them, so they
    /// could carry anything.
    #[error("quote byte {offset} after the signature data is not zero padding")]
    TrailingBytesNotZero {
        /// Offset of the first nonzero byte in the quote.
        offset: usize,
    },
    /// The QE vendor is not Intel.
    #[error("QE vendor id {vendor} is not Intel's")]
    UnknownQeVendor {
        /// The vendor id (hex).
        vendor: String,
    },
    /// The attestation key's signature over header and body does not verify.
    #[error("quote signature does not verify with the attestation key")]
    QuoteSignatureInvalid,
    /// The QE report does not carry the hash of the attestation key and QE auth data.
    #[error("attestation key is not bound to the quoting enclave's report")]
    AttestationKeyNotBound,
    /// The PCK certificate chain could not be decoded.
    #[error("PCK certificate chain is malformed: {detail}")]
    PckChainMalformed {
        /// What is wrong.
        detail: String,
    },
    /// The PCK's signature over the QE report does not verify.
    #[error("QE report signature does not verify with the PCK certificate")]
    QeReportSignatureInvalid,
    /// The collateral could not be decoded.
    #[error("{what} is malformed: {detail}")]
    CollateralMalformed {
        /// Which collateral.
        what: &'static str,
        /// What is wrong.
        detail: String,
    },
    /// The PCK chain, CRLs, TCB info, QE identity or TCB-level match failed in `dcap-qvl`.
    #[error("quote failed verification against Intel's collateral: {detail}")]
    CollateralRejected {
        /// `dcap-qvl`'s explanation (for people; never inspected by code).
        detail: String,
    },
    /// The platform's TCB status is not allowed.
    #[error("TCB status {status} is not allowed (allowed: {allowed:?})")]
    TcbStatusNotAllowed {
        /// The status from TCB info.
        status: TcbStatus,
        /// Allowed statuses.
        allowed: Vec<TcbStatus>,
    },
    /// The TCB level carries an advisory that is not allowed.
    #[error("TCB advisory {advisory_id} is not allowed")]
    AdvisoryNotAllowed {
        /// The advisory id, e.g. `INTEL-SA-00615`.
        advisory_id: String,
    },
    /// The TD is debuggable.
    #[error("TD attributes {td_attributes} have DEBUG set; not allowed by the reference values")]
    DebugEnabled {
        /// The TD attributes (hex).
        td_attributes: String,
    },
    /// TD attributes other than DEBUG that the reference values do not allow.
    #[error("TD attributes {td_attributes} include {refused}, not allowed by the reference values")]
    TdAttributesNotAllowed {
        /// The TD attributes in the quote.
        td_attributes: TdAttributes,
        /// The bits that are not allowed.
        refused: TdAttributes,
    },
    /// The reference values pin MRSERVICETD, but the quote's TD 1.0 body has none.
    #[error("the reference values pin MRSERVICETD, but the quote has a TD 1.0 body without it")]
    MrServiceTdMissing,
    /// MRSERVICETD differs from the pinned value.
    #[error("MRSERVICETD {actual} differs from the expected {expected}")]
    MrServiceTdMismatch {
        /// Value in the quote.
        actual: Digest48,
        /// Expected value.
        expected: Digest48,
    },
    /// A service TD is bound to the TD, and the reference values pin none.
    #[error("MRSERVICETD {actual} shows a bound service TD; the reference values pin none")]
    ServiceTdNotAllowed {
        /// Value in the quote.
        actual: Digest48,
    },
    /// Intel's TCB info or QE identity is older than the reference values accept.
    #[error("{what} has TCB evaluation data number {actual}, below the minimum {minimum}")]
    TcbEvaluationDataNumberBelowMinimum {
        /// `TCB info` or `QE identity`.
        what: &'static str,
        /// The collateral's `tcbEvaluationDataNumber`.
        actual: u32,
        /// The minimum.
        minimum: u32,
    },
    /// MRTD is not allowed.
    #[error("MRTD {actual} is not among the {allowed} allowed")]
    MrTdNotAllowed {
        /// MRTD in the quote.
        actual: Measurement,
        /// How many are allowed.
        allowed: usize,
    },
    /// An RTMR differs from the expected value.
    #[error("RTMR{index} {actual} differs from the expected {expected}")]
    RtmrMismatch {
        /// Which RTMR.
        index: usize,
        /// RTMR in the quote.
        actual: Measurement,
        /// Expected value.
        expected: Measurement,
    },
    /// MRCONFIGID differs from the expected value.
    #[error("MRCONFIGID {actual} differs from the expected {expected}")]
    MrConfigIdMismatch {
        /// Value in the quote.
        actual: Digest48,
        /// Expected value.
        expected: Digest48,
    },
    /// MROWNER differs from the expected value.
    #[error("MROWNER {actual} differs from the expected {expected}")]
    MrOwnerMismatch {
        /// Value in the quote.
        actual: Digest48,
        /// Expected value.
        expected: Digest48,
    },
    /// MROWNERCONFIG differs from the expected value.
    #[error("MROWNERCONFIG {actual} differs from the expected {expected}")]
    MrOwnerConfigMismatch {
        /// Value in the quote.
        actual: Digest48,
        /// Expected value.
        expected: Digest48,
    },
    /// A byte of TEE_TCB_SVN is below the minimum.
    #[error("TEE_TCB_SVN[{index}] is {actual}, below the minimum {minimum}")]
    TeeTcbSvnBelowMinimum {
        /// Byte index.
        index: usize,
        /// Value in the quote.
        actual: u8,
        /// Minimum.
        minimum: u8,
    },
    /// XFAM differs from the expected value.
    #[error("XFAM {actual:#018x} differs from the expected {expected:#018x}")]
    XfamMismatch {
        /// Value in the quote.
        actual: u64,
        /// Expected value.
        expected: u64,
    },
    /// REPORTDATA differs from the expected value.
    #[error("report data {actual} differs from the expected {expected}")]
    ReportDataMismatch {
        /// Value in the quote.
        actual: ReportData,
        /// Expected value.
        expected: ReportData,
    },
}

impl TdxRejection {
    /// A stable name of the check that failed, for machine-readable output.
    pub fn check(&self) -> &'static str {
        match self {
            Self::UnsupportedVersion { .. } => "tdx.quote_version",
            Self::NotTdx { .. } => "tdx.tee_type",
            Self::UnsupportedAttestationKey { .. } => "tdx.attestation_key_type",
            Self::UnsupportedBody { .. } => "tdx.body_type",
            Self::UnsupportedCertificationData { .. } => "tdx.certification_data",
            Self::TrailingBytesNotZero { .. } => "tdx.quote_trailing_bytes",
            Self::UnknownQeVendor { .. } => "tdx.qe_vendor",
            Self::QuoteSignatureInvalid => "tdx.quote_signature",
            Self::AttestationKeyNotBound => "tdx.attestation_key_binding",
            Self::PckChainMalformed { .. } => "tdx.pck_chain_format",
            Self::QeReportSignatureInvalid => "tdx.qe_report_signature",
            Self::CollateralMalformed { .. } => "tdx.collateral_format",
            Self::CollateralRejected { .. } => "tdx.collateral_verification",
            Self::TcbStatusNotAllowed { .. } => "tdx.tcb_status",
            Self::AdvisoryNotAllowed { .. } => "tdx.tcb_advisory",
            Self::DebugEnabled { .. } => "tdx.reference.debug",
            Self::TdAttributesNotAllowed { .. } => "tdx.reference.td_attributes",
            Self::MrServiceTdMissing
            | Self::MrServiceTdMismatch { .. }
            | Self::ServiceTdNotAllowed { .. } => "tdx.reference.mrservicetd",
            Self::TcbEvaluationDataNumberBelowMinimum { .. } => {
                "tdx.reference.minimum_tcb_evaluation_data_number"
            }
            Self::MrTdNotAllowed { .. } => "tdx.reference.mrtd",
            Self::RtmrMismatch { .. } => "tdx.reference.rtmr",
            Self::MrConfigIdMismatch { .. } => "tdx.reference.mrconfigid",
            Self::MrOwnerMismatch { .. } => "tdx.reference.mrowner",
            Self::MrOwnerConfigMismatch { .. } => "tdx.reference.mrownerconfig",
            Self::TeeTcbSvnBelowMinimum { .. } => "tdx.reference.minimum_tee_tcb_svn",
            Self::XfamMismatch { .. } => "tdx.reference.xfam",
            Self::ReportDataMismatch { .. } => "tdx.reference.report_data",
        }
    }
}
