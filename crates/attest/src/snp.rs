//! AMD SEV-SNP: the attestation report, AMD's certificate chain, and reference values.

mod certs;
mod collateral;
mod crl;
mod error;
mod reference;
pub(crate) mod report;
mod roots;
mod scaled;
mod tcb;
mod verify;

pub use certs::{AmdCertificate, VekExtensions, pem_certificates};
pub use collateral::SnpCollateral;
pub use error::{CertRole, SnpRejection};
pub use reference::{AbiVersion, MinimumTcb, SnpReferenceValues};
pub use report::{
    Cpuid, FirmwareVersion, GuestPolicy, KeyInfo, MitigationVectors, PlatformInfo, REPORT_LEN,
    Report, SIGNED_LEN, SigningKey,
};
pub use roots::{AnchorKind, PinMismatch, SnpTrustAnchors};
pub use scaled::{
    MAX_EXTENSIONS_PER_SET, MAX_VCPUS, VcpuRange, VcpuRangeError, VcpuScaledMeasurement,
    extension_work,
};
pub use tcb::{Product, RawTcb, TcbComponent, TcbVersion, UnknownProduct};
pub use verify::{VerifiedVek, verify, verify_report};
