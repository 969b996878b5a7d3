//! Evidence for attested TLS: an [`EvidenceIssuer`] as a [`chiaro_atls::Issuer`], with the
//! collateral a verifier needs attached.

use chiaro_atls::{Clock, EvidenceBundle};
use chiaro_attest::ReportData;
use chiaro_attest::snp::{Product, Report, SnpCollateral};
use chiaro_attest_guest::{ConfigfsTsm, DEFAULT_TSM_ROOT, Evidence, EvidenceIssuer, IssueError};
use chiaro_collateral::{Kds, KdsError, Pcs, PcsError};

use crate::source::SetupError;

/// Sends this guest's evidence in attested TLS handshakes. Real SNP evidence gets its VCEK and
/// chain from AMD KDS, real TDX evidence its collateral from Intel PCS/PCCS (both cached), when
/// those clients are configured.
#[derive(Debug)]
pub struct AtlsIssuer<I> {
    issuer: I,
    kds: Option<KdsSource>,
    pcs: Option<PcsSource>,
}

struct KdsSource {
    kds: Kds,
    product: Option<Product>,
    clock: Clock,
}

struct PcsSource {
    pcs: Pcs,
    clock: Clock,
}

impl std::fmt::Debug for KdsSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KdsSource")
            .field("kds", &self.kds)
            .field("product", &self.product)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for PcsSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PcsSource")
            .field("pcs", &self.pcs)
            .finish_non_exhaustive()
    }
}

impl<I> AtlsIssuer<I> {
    /// Evidence from `issuer`, without a collateral source.
    pub fn new(issuer: I) -> Self {
        Self {
            issuer,
            kds: None,
            pcs: None,
        }
    }

    /// Attaches VCEKs from `kds`; `product` names the generation for version-2 reports, which
    /// carry no CPUID.
    #[must_use]
    pub fn with_kds(mut self, kds: Kds, product: Option<Product>, clock: Clock) -> Self {
        self.kds = Some(KdsSource {
            kds,
            product,
            clock,
        });
        self
    }

    /// Attaches Intel collateral for TDX quotes from `pcs`.
    #[must_use]
    pub fn with_pcs(mut self, pcs: Pcs, clock: Clock) -> Self {
        self.pcs = Some(PcsSource { pcs, clock });
        self
    }
}

impl<I: EvidenceIssuer + Send + Sync> chiaro_atls::Issuer for AtlsIssuer<I> {
    fn issue(&self, report_data: &ReportData) -> Result<EvidenceBundle, chiaro_atls::IssueError> {
        self.bundle(report_data)
            .map_err(chiaro_atls::IssueError::failed)
    }
}

impl<I: EvidenceIssuer> AtlsIssuer<I> {
    /// The TEE's evidence with the collateral its verifier needs.
    fn bundle(&self, report_data: &ReportData) -> Result<EvidenceBundle, AtlsIssueError> {
        match self.issuer.evidence(report_data)? {
            Evidence::InsecureSimulatedSnp { report, collateral } => {
                Ok(snp_bundle(report, collateral))
            }
            Evidence::Snp { report, .. } => {
                let source = self.kds.as_ref().ok_or(AtlsIssueError::NoKds)?;
                let parsed = Report::parse(&report).map_err(AtlsIssueError::MalformedReport)?;
                let product = parsed
                    .product()
                    .or(source.product)
                    .ok_or(AtlsIssueError::NoProduct)?;
                // Issuers run on a blocking thread of the runtime (see `chiaro_atls`), where
                // blocking on the fetch is allowed.
                let collateral = runtime()?
                    .block_on(source.kds.collateral(product, &parsed, (source.clock)()))
                    .map_err(AtlsIssueError::Kds)?;
                Ok(snp_bundle(report, collateral))
            }
            Evidence::Tdx { quote } => {
                let source = self.pcs.as_ref().ok_or(AtlsIssueError::NoPcs)?;
                let collateral = runtime()?
                    .block_on(source.pcs.collateral(&quote, (source.clock)()))
                    .map_err(AtlsIssueError::Pcs)?;
                let collateral =
                    serde_json::to_string(&collateral).map_err(AtlsIssueError::Encoding)?;
                Ok(EvidenceBundle::Tdx { quote, collateral })
            }
        }
    }
}

/// Why this guest's evidence for attested TLS could not be produced.
#[derive(Debug, thiserror::Error)]
pub enum AtlsIssueError {
    /// The TEE produced no evidence.
    #[error("the TEE produced no evidence")]
    Tee(#[from] IssueError),
    /// Real SNP evidence, and no KDS client to fetch its VCEK from.
    #[error("SNP evidence needs its VCEK, and no AMD KDS client is configured")]
    NoKds,
    /// The TEE returned a report that does not parse.
    #[error("the TEE returned a malformed report")]
    MalformedReport(#[source] chiaro_attest::Error),
    /// A version-2 report, which names no processor generation, and none configured.
    #[error("the report names no processor generation (version 2): configure the product")]
    NoProduct,
    /// Fetching collateral needs the Tokio runtime the exchange runs on, and there is none.
    #[error("fetching collateral needs a Tokio runtime")]
    NoRuntime(#[source] tokio::runtime::TryCurrentError),
    /// AMD KDS did not give the VCEK and chain.
    #[error("fetching the VCEK from AMD KDS")]
    Kds(#[source] KdsError),
    /// Real TDX evidence, and no PCS/PCCS client to fetch its collateral from.
    #[error("TDX evidence needs Intel collateral, and no PCS/PCCS client is configured")]
    NoPcs,
    /// Intel PCS/PCCS did not give the collateral.
    #[error("fetching Intel collateral")]
    Pcs(#[source] PcsError),
    /// The fetched Intel collateral did not encode.
    #[error("encoding Intel collateral")]
    Encoding(#[source] serde_json::Error),
}

fn runtime() -> Result<tokio::runtime::Handle, AtlsIssueError> {
    tokio::runtime::Handle::try_current().map_err(AtlsIssueError::NoRuntime)
}

fn snp_bundle(report: Vec<u8>, collateral: SnpCollateral) -> EvidenceBundle {
    let mut certificates: Vec<Vec<u8>> = collateral.vek.into_iter().collect();
    certificates.extend(collateral.intermediates);
    EvidenceBundle::Snp {
        report,
        certificates,
    }
}

/// The production issuer: configfs-tsm evidence, with VCEKs from AMD's KDS and TDX collateral
/// from Intel PCS (system TLS roots), cached in `cache`.
///
/// # Errors
/// [`SetupError::Fetcher`] when no system root certificates can be loaded to reach KDS and PCS.
pub fn guest_issuer(
    cache: std::path::PathBuf,
    clock: Clock,
) -> Result<AtlsIssuer<ConfigfsTsm>, SetupError> {
    let fetcher = chiaro_collateral::Fetcher::with_system_roots().map_err(SetupError::Fetcher)?;
    let cache = chiaro_collateral::Cache::new(cache);
    let kds = Kds::new(
        chiaro_collateral::AMD_KDS,
        fetcher.clone(),
        Some(cache.clone()),
    );
    let pcs = Pcs::new(
        chiaro_collateral::INTEL_PCS,
        chiaro_collateral::INTEL_ROOT_CA_CRL,
        fetcher,
        Some(cache),
    );
    Ok(AtlsIssuer::new(ConfigfsTsm::new(DEFAULT_TSM_ROOT))
        .with_kds(kds, None, clock.clone())
        .with_pcs(pcs, clock))
}
