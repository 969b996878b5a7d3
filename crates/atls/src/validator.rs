//! The two ports of the exchange: producing this side's evidence, and judging the peer's.

use chiaro_attest::snp::{SnpCollateral, SnpReferenceValues, SnpTrustAnchors};
use chiaro_attest::tdx::{TdxCollateral, TdxReferenceValues};
use chiaro_attest::{Claims, Error, ReportData, UnixTime, Verified};

use crate::error::IssueError;
use crate::evidence::EvidenceBundle;

/// Produces this side's evidence with the given report data.
pub trait Issuer: Send + Sync {
    /// Fresh evidence carrying `report_data`.
    ///
    /// # Errors
    /// [`IssueError`]: too many requests at once, or the evidence source failed.
    fn issue(&self, report_data: &ReportData) -> Result<EvidenceBundle, IssueError>;
}

/// Decides whether the peer's evidence is acceptable. The exchange itself checks that the
/// verified report data binds this session and the peer's certificate key; a validator checks
/// everything else.
pub trait Validator: Send + Sync {
    /// Verifies `evidence` at `now`.
    ///
    /// # Errors
    /// [`ValidationError`]: the evidence's fault (rejected), the collateral's (unavailable), or
    /// this side's (nothing to judge against yet, or unusable reference values).
    fn validate(
        &self,
        evidence: &EvidenceBundle,
        now: UnixTime,
    ) -> Result<Judgement, ValidationError>;
}

/// Why a validator accepted no evidence, and whose fault that is.
#[derive(Debug, thiserror::Error)]
pub enum ValidationError {
    /// The evidence did not verify: rejected (the peer's fault, or an attack) or unavailable
    /// (collateral missing or stale; retrying may help).
    #[error("peer evidence refused")]
    Evidence(#[from] Error),
    /// This side has nothing to judge evidence against yet (a Coordinator without a manifest):
    /// not the peer's fault, and retrying later may succeed.
    #[error("nothing to judge the evidence against yet: {reason}")]
    NotReady {
        /// What is missing.
        reason: String,
    },
    /// This side's own reference values cannot be used (a root listed in its own manifest that
    /// does not load): this side's fault, not a rejection of the peer. This crate does not know
    /// where the values come from, so the cause is the validator's own typed error.
    #[error("this side's reference values are unusable")]
    Unusable(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// What a validator judged evidence against, opaque to this crate: whoever reads it from the
/// [`AttestedStream`](crate::AttestedStream) knows what it means. The Coordinator uses the hash
/// of its latest manifest transition, so that a request on the connection is served only under
/// the manifest the peer's evidence was judged under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Basis([u8; 32]);

impl Basis {
    /// A basis from its 32 bytes.
    pub const fn new(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The 32 bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

/// A validator's acceptance of evidence: the verified claims and, when the validator judges
/// against something that changes (a manifest), what it judged against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Judgement {
    claims: Verified<Claims>,
    basis: Option<Basis>,
}

impl Judgement {
    /// Evidence accepted with these claims, against nothing that changes.
    pub fn new(claims: Verified<Claims>) -> Self {
        Self {
            claims,
            basis: None,
        }
    }

    /// The same judgement, made against `basis`.
    #[must_use]
    pub fn with_basis(self, basis: Basis) -> Self {
        Self {
            basis: Some(basis),
            ..self
        }
    }

    /// The verified claims.
    pub fn claims(&self) -> &Verified<Claims> {
        &self.claims
    }

    /// What the evidence was judged against, if the validator said.
    pub fn basis(&self) -> Option<Basis> {
        self.basis
    }
}

/// Accepts evidence that satisfies any one reference set of its platform.
#[derive(Debug)]
pub struct ReferenceValidator {
    amd: SnpTrustAnchors,
    snp: Vec<SnpReferenceValues>,
    tdx: Vec<TdxReferenceValues>,
    insecure_simulated: Vec<(SnpTrustAnchors, SnpReferenceValues)>,
}

impl ReferenceValidator {
    /// A validator for real SNP and TDX evidence.
    pub fn new(
        amd: SnpTrustAnchors,
        snp: Vec<SnpReferenceValues>,
        tdx: Vec<TdxReferenceValues>,
    ) -> Self {
        Self {
            amd,
            snp,
            tdx,
            insecure_simulated: Vec::new(),
        }
    }

    /// **Insecure**: also accept evidence from a simulated root with these values.
    #[must_use]
    pub fn with_insecure_simulated(
        mut self,
        root: SnpTrustAnchors,
        values: SnpReferenceValues,
    ) -> Self {
        self.insecure_simulated.push((root, values));
        self
    }
}

impl Validator for ReferenceValidator {
    fn validate(
        &self,
        evidence: &EvidenceBundle,
        now: UnixTime,
    ) -> Result<Judgement, ValidationError> {
        self.judge(evidence, now).map_err(ValidationError::Evidence)
    }
}

impl ReferenceValidator {
    /// The first set of the evidence's platform that accepts it.
    fn judge(&self, evidence: &EvidenceBundle, now: UnixTime) -> Result<Judgement, Error> {
        let attempts: Vec<Result<Verified<Claims>, Error>> = match evidence {
            EvidenceBundle::Snp {
                report,
                certificates,
            } => {
                let collateral = SnpCollateral::from_certificates(certificates.clone())?;
                let real = self.snp.iter().map(|values| {
                    chiaro_attest::snp::verify(report, &collateral, &self.amd, values, now)
                });
                let simulated = self.insecure_simulated.iter().map(|(anchors, values)| {
                    chiaro_attest::snp::verify(report, &collateral, anchors, values, now)
                });
                real.chain(simulated).collect()
            }
            EvidenceBundle::Tdx { quote, collateral } => {
                let collateral = TdxCollateral::from_json(collateral)?;
                self.tdx
                    .iter()
                    .map(|values| chiaro_attest::tdx::verify(quote, &collateral, values, now))
                    .collect()
            }
        };
        let platform = match evidence {
            EvidenceBundle::Snp { .. } => "SNP",
            EvidenceBundle::Tdx { .. } => "TDX",
        };
        first_success(attempts, platform).map(Judgement::new)
    }
}

/// The first verified result, else the most informative failure: a rejection beats
/// unavailability (forged evidence must read as forged), and the last attempt breaks ties.
fn first_success(
    attempts: Vec<Result<Verified<Claims>, Error>>,
    platform: &'static str,
) -> Result<Verified<Claims>, Error> {
    let mut failure = None;
    for attempt in attempts {
        match attempt {
            Ok(claims) => return Ok(claims),
            Err(error) => {
                let keep_previous = matches!(
                    (&failure, &error),
                    (Some(Error::Rejected(_)), Error::Unavailable(_))
                );
                if !keep_previous {
                    failure = Some(error);
                }
            }
        }
    }
    Err(failure.unwrap_or(Error::Rejected(
        chiaro_attest::Rejection::PlatformNotAccepted { platform },
    )))
}
