//! The crate's error: evidence *rejected* versus evidence that *could not be verified*.
//!
//! Callers must treat the two differently: a rejection is the peer's fault (or an attack) and
//! retrying will not help; an unavailability is ours (collateral missing or stale) and a retry
//! with fresh collateral may succeed. Neither ever means "verified".

use crate::UnixTime;
use crate::snp::SnpRejection;
use crate::tdx::TdxRejection;

/// Verification failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The evidence is bad.
    #[error("evidence rejected")]
    Rejected(#[source] Rejection),
    /// The evidence could not be checked: collateral is missing, expired or not yet valid.
    #[error("evidence could not be verified")]
    Unavailable(#[source] Unavailable),
}

impl Error {
    /// A stable name of the check that failed (`snp.report_signature`,
    /// `tdx.reference.mrtd`, `collateral.expired`, ...).
    pub fn check(&self) -> &'static str {
        match self {
            Self::Rejected(Rejection::Malformed(malformed)) => malformed.check(),
            Self::Rejected(Rejection::Snp(snp)) => snp.check(),
            Self::Rejected(Rejection::Tdx(tdx)) => tdx.check(),
            Self::Rejected(Rejection::PlatformNotAccepted { .. }) => "platform.not_accepted",
            Self::Unavailable(unavailable) => unavailable.check(),
        }
    }

    /// `"rejected"` or `"unavailable"`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Rejected(_) => "rejected",
            Self::Unavailable(_) => "unavailable",
        }
    }
}

/// Why evidence was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// The bytes do not have the structure of evidence.
    #[error(transparent)]
    Malformed(Malformed),
    /// An SNP-specific check failed.
    #[error(transparent)]
    Snp(SnpRejection),
    /// A TDX-specific check failed.
    #[error(transparent)]
    Tdx(TdxRejection),
    /// The verifier has no reference values for the evidence's platform, so accepts none.
    #[error("no reference values accept {platform} evidence")]
    PlatformNotAccepted {
        /// The platform of the evidence.
        platform: &'static str,
    },
}

/// Structural problems in evidence or collateral.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Malformed {
    /// Fewer bytes than the structure needs.
    #[error("{what} is truncated: needs {needed} bytes, got {got}")]
    Truncated {
        /// The structure.
        what: &'static str,
        /// Bytes needed.
        needed: usize,
        /// Bytes present.
        got: usize,
    },
    /// A fixed-size structure has the wrong size.
    #[error("{what} must be {expected} bytes, got {got}")]
    Length {
        /// The structure.
        what: &'static str,
        /// Bytes expected.
        expected: usize,
        /// Bytes present.
        got: usize,
    },
    /// A field holds a value the format does not allow.
    #[error("{what} is invalid: {detail}")]
    Invalid {
        /// The field.
        what: &'static str,
        /// What is wrong with it.
        detail: String,
    },
}

impl Malformed {
    fn check(&self) -> &'static str {
        match self {
            Self::Truncated { .. } | Self::Length { .. } => "format.length",
            Self::Invalid { .. } => "format.field",
        }
    }
}

/// Why evidence could not be verified.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unavailable {
    /// A piece of collateral needed for verification was not supplied.
    #[error("{what} is missing")]
    CollateralMissing {
        /// What is missing.
        what: String,
    },
    /// A certificate has expired.
    #[error("{what} expired at {not_after} (verification time {now})")]
    CertificateExpired {
        /// Which certificate.
        what: String,
        /// End of its validity.
        not_after: UnixTime,
        /// The verification time.
        now: UnixTime,
    },
    /// A certificate is not yet valid.
    #[error("{what} is valid only from {not_before} (verification time {now})")]
    CertificateNotYetValid {
        /// Which certificate.
        what: String,
        /// Start of its validity.
        not_before: UnixTime,
        /// The verification time.
        now: UnixTime,
    },
    /// Collateral (CRL, TCB info, QE identity) is past its next update.
    #[error("{what} expired at {next_update} (verification time {now})")]
    CollateralExpired {
        /// Which collateral.
        what: String,
        /// Its next-update time.
        next_update: UnixTime,
        /// The verification time.
        now: UnixTime,
    },
    /// Collateral is issued after the verification time.
    #[error("{what} is issued at {issued}, after the verification time {now}")]
    CollateralNotYetValid {
        /// Which collateral.
        what: String,
        /// Its issue time.
        issued: UnixTime,
        /// The verification time.
        now: UnixTime,
    },
}

impl Unavailable {
    fn check(&self) -> &'static str {
        match self {
            Self::CollateralMissing { .. } => "collateral.missing",
            Self::CertificateExpired { .. } | Self::CertificateNotYetValid { .. } => {
                "collateral.certificate_validity"
            }
            Self::CollateralExpired { .. } | Self::CollateralNotYetValid { .. } => {
                "collateral.freshness"
            }
        }
    }
}

impl From<Malformed> for Error {
    fn from(malformed: Malformed) -> Self {
        Self::Rejected(Rejection::Malformed(malformed))
    }
}

impl From<SnpRejection> for Error {
    fn from(rejection: SnpRejection) -> Self {
        Self::Rejected(Rejection::Snp(rejection))
    }
}

impl From<TdxRejection> for Error {
    fn from(rejection: TdxRejection) -> Self {
        Self::Rejected(Rejection::Tdx(rejection))
    }
}

impl From<Unavailable> for Error {
    fn from(unavailable: Unavailable) -> Self {
        Self::Unavailable(unavailable)
    }
}
