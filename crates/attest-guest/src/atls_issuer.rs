//! Evidence for attested TLS: an [`EvidenceIssuer`] as a [`chiaro_atls::Issuer`], with the
//! collateral a verifier needs attached.

use chiaro_atls::{Clock, EvidenceBundle};
use chiaro_attest::ReportData;
use chiaro_attest::snp::{Product, Report};
use chiaro_collateral::{Kds, Pcs};

use crate::issuer::{Evidence, EvidenceIssuer};

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
    fn issue(&self, report_data: &ReportData) -> Result<EvidenceBundle, String> {
        match self
            .issuer
            .evidence(report_data)
            .map_err(|e| format!("{e}"))?
        {
            Evidence::InsecureSimulatedSnp { report, collateral } => {
                let mut certificates: Vec<Vec<u8>> = collateral.vek.into_iter().collect();
                certificates.extend(collateral.intermediates);
                Ok(EvidenceBundle::Snp {
                    report,
                    certificates,
                })
            }
            Evidence::Snp { report, .. } => {
                let source = self
                    .kds
                    .as_ref()
                    .ok_or("SNP evidence needs its VCEK, and no AMD KDS client is configured")?;
                let parsed = Report::parse(&report)
                    .map_err(|e| format!("the TEE returned a malformed report: {e}"))?;
                let product = parsed.product().or(source.product).ok_or(
                    "the report names no processor generation (version 2): configure the product",
                )?;
                // Issuers run on a blocking thread of the runtime (see `chiaro_atls`), where
                // blocking on the fetch is allowed.
                let handle = tokio::runtime::Handle::try_current().map_err(|e| e.to_string())?;
                let collateral = handle
                    .block_on(source.kds.collateral(product, &parsed, (source.clock)()))
                    .map_err(|e| format!("fetching the VCEK from AMD KDS: {e}"))?;
                let mut certificates: Vec<Vec<u8>> = collateral.vek.into_iter().collect();
                certificates.extend(collateral.intermediates);
                Ok(EvidenceBundle::Snp {
                    report,
                    certificates,
                })
            }
            Evidence::Tdx { quote } => {
                let source = self.pcs.as_ref().ok_or(
                    "TDX evidence needs Intel collateral, and no PCS/PCCS client is configured",
                )?;
                let handle = tokio::runtime::Handle::try_current().map_err(|e| e.to_string())?;
                let collateral = handle
                    .block_on(source.pcs.collateral(&quote, (source.clock)()))
                    .map_err(|e| format!("fetching Intel collateral: {e}"))?;
                let collateral = serde_json::to_string(&collateral).map_err(|e| e.to_string())?;
                Ok(EvidenceBundle::Tdx { quote, collateral })
            }
        }
    }
}

/// The production issuer: configfs-tsm evidence, with VCEKs from AMD's KDS and TDX collateral
/// from Intel PCS (system TLS roots), cached in `cache`.
///
/// # Errors
/// When no system root certificates can be loaded to reach KDS and PCS.
pub fn guest_issuer(
    cache: std::path::PathBuf,
    clock: Clock,
) -> Result<AtlsIssuer<crate::ConfigfsTsm>, String> {
    let fetcher = chiaro_collateral::Fetcher::with_system_roots().map_err(|e| e.to_string())?;
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
    Ok(
        AtlsIssuer::new(crate::ConfigfsTsm::new(crate::DEFAULT_TSM_ROOT))
            .with_kds(kds, None, clock.clone())
            .with_pcs(pcs, clock),
    )
}
