//! Evidence for attested TLS: an [`EvidenceIssuer`] as a [`chiaro_atls::Issuer`], with the
//! collateral a verifier needs attached.

use chiaro_atls::{Clock, EvidenceBundle};
use chiaro_attest::ReportData;
use chiaro_attest::snp::{Product, Report};
use chiaro_collateral::Kds;

use crate::issuer::{Evidence, EvidenceIssuer};

/// Sends this guest's evidence in attested TLS handshakes. Real SNP evidence gets its VCEK and
/// chain from AMD KDS (cached), when a [`Kds`] client is configured.
#[derive(Debug)]
pub struct AtlsIssuer<I> {
    issuer: I,
    kds: Option<KdsSource>,
}

struct KdsSource {
    kds: Kds,
    product: Option<Product>,
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

impl<I> AtlsIssuer<I> {
    /// Evidence from `issuer`, without a collateral source.
    pub fn new(issuer: I) -> Self {
        Self { issuer, kds: None }
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
            // Intel PCS/PCCS collateral fetching does not exist yet.
            Evidence::Tdx { .. } => Err(
                "TDX evidence needs Intel collateral; PCS/PCCS fetching is not implemented yet"
                    .to_owned(),
            ),
        }
    }
}

/// The production issuer: configfs-tsm evidence, with VCEKs from AMD's KDS (system TLS roots),
/// cached in `cache`.
///
/// # Errors
/// When no system root certificates can be loaded to reach KDS.
pub fn guest_issuer(
    cache: std::path::PathBuf,
    clock: Clock,
) -> Result<AtlsIssuer<crate::ConfigfsTsm>, String> {
    let fetcher = chiaro_collateral::Fetcher::with_system_roots().map_err(|e| e.to_string())?;
    let kds = Kds::new(
        chiaro_collateral::AMD_KDS,
        fetcher,
        Some(chiaro_collateral::Cache::new(cache)),
    );
    Ok(
        AtlsIssuer::new(crate::ConfigfsTsm::new(crate::DEFAULT_TSM_ROOT))
            .with_kds(kds, None, clock),
    )
}
