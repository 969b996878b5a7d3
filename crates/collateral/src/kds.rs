//! AMD's Key Distribution Service (AMD "VCEK Certificate and KDS Interface Specification"
//! #57230, chapter 4): URLs, caching and parsing.

use std::time::Duration;

use chiaro_attest::UnixTime;
use chiaro_attest::snp::{Product, Report, SnpCollateral, pem_certificates};

use crate::cache::Cache;
use crate::fetch::{FetchError, Fetcher};

/// AMD's public KDS.
pub const AMD_KDS: &str = "https://kdsintf.amd.com";
/// CRLs are re-fetched after this long (AMD publishes them daily).
const CRL_LIFETIME: Duration = Duration::from_secs(12 * 3600);

/// Collateral could not be obtained.
#[derive(Debug, thiserror::Error)]
pub enum KdsError {
    /// The report's chip id is masked (VLEK-signed or `MASK_CHIP_ID`): KDS has no VCEK for it.
    #[error("the report's chip id is masked; KDS serves no VCEK for it (VLEKs come from the host)")]
    MaskedChipId,
    /// Fetching failed.
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// KDS answered with something that is not the document asked for.
    #[error("KDS response for {url} is malformed: {detail}")]
    Malformed {
        /// The URL.
        url: String,
        /// What is wrong.
        detail: String,
    },
}

/// A KDS client with an optional on-disk cache.
#[derive(Debug, Clone)]
pub struct Kds {
    base: String,
    fetcher: Fetcher,
    cache: Option<Cache>,
}

impl Kds {
    /// A client for the KDS at `base` (normally [`AMD_KDS`]).
    pub fn new(base: impl Into<String>, fetcher: Fetcher, cache: Option<Cache>) -> Self {
        Self {
            base: base.into().trim_end_matches('/').to_owned(),
            fetcher,
            cache,
        }
    }

    /// The URL of the VCEK for `report`'s chip and reported TCB, for `product`.
    ///
    /// # Errors
    /// [`KdsError::MaskedChipId`] when the chip id is zero.
    pub fn vcek_url(&self, product: Product, report: &Report) -> Result<String, KdsError> {
        if report.chip_id.is_masked() {
            return Err(KdsError::MaskedChipId);
        }
        let tcb = report.reported_tcb.decode(product);
        let chip = report.chip_id.as_bytes();
        // Turin VCEKs are per 8-byte hwID (the rest of CHIP_ID is zero).
        let hw_id = if product.has_fmc() {
            chip.get(..8).unwrap_or_default()
        } else {
            chip.as_slice()
        };
        let mut url = format!(
            "{}/vcek/v1/{}/{}?blSPL={}&teeSPL={}&snpSPL={}&ucodeSPL={}",
            self.base,
            product.name(),
            hex::encode(hw_id),
            tcb.bootloader,
            tcb.tee,
            tcb.snp,
            tcb.microcode
        );
        if let Some(fmc) = tcb.fmc {
            url.push_str(&format!("&fmcSPL={fmc}"));
        }
        Ok(url)
    }

    /// The VCEK (DER) for `report`.
    ///
    /// # Errors
    /// [`KdsError`] when it cannot be fetched.
    pub async fn vcek(
        &self,
        product: Product,
        report: &Report,
        now: UnixTime,
    ) -> Result<Vec<u8>, KdsError> {
        let url = self.vcek_url(product, report)?;
        self.cached(&url, now, None).await
    }

    /// The ASK (or ASVK, for VLEKs) and ARK (DER), as KDS's `cert_chain` serves them.
    ///
    /// # Errors
    /// [`KdsError`] when it cannot be fetched or is not a PEM chain.
    pub async fn cert_chain(
        &self,
        product: Product,
        vlek: bool,
        now: UnixTime,
    ) -> Result<Vec<Vec<u8>>, KdsError> {
        let kind = if vlek { "vlek" } else { "vcek" };
        let url = format!("{}/{kind}/v1/{}/cert_chain", self.base, product.name());
        let bytes = self.cached(&url, now, None).await?;
        let malformed = |detail: String| KdsError::Malformed {
            url: url.clone(),
            detail,
        };
        let text = std::str::from_utf8(&bytes).map_err(|_| malformed("not PEM text".to_owned()))?;
        let chain = pem_certificates(text).map_err(|e| malformed(e.to_string()))?;
        if chain.is_empty() {
            return Err(malformed("no certificate".to_owned()));
        }
        Ok(chain)
    }

    /// AMD's CRL for `product` (DER), re-fetched every 12 hours.
    ///
    /// # Errors
    /// [`KdsError`] when it cannot be fetched.
    pub async fn crl(
        &self,
        product: Product,
        vlek: bool,
        now: UnixTime,
    ) -> Result<Vec<u8>, KdsError> {
        let kind = if vlek { "vlek" } else { "vcek" };
        let url = format!("{}/{kind}/v1/{}/crl", self.base, product.name());
        let expires = UnixTime::from_secs(now.as_secs().saturating_add(CRL_LIFETIME.as_secs()));
        self.cached(&url, now, Some(expires)).await
    }

    /// The VCEK and its chain for `report`: what `chiaro_attest::snp::verify` needs.
    ///
    /// # Errors
    /// [`KdsError`] when either cannot be fetched.
    pub async fn collateral(
        &self,
        product: Product,
        report: &Report,
        now: UnixTime,
    ) -> Result<SnpCollateral, KdsError> {
        let vek = self.vcek(product, report, now).await?;
        let mut collateral = SnpCollateral::from_certificates(
            self.cert_chain(product, false, now).await?,
        )
        .map_err(|e| KdsError::Malformed {
            url: format!("{}/vcek/v1/{}/cert_chain", self.base, product.name()),
            detail: e.to_string(),
        })?;
        collateral.vek = Some(vek);
        Ok(collateral)
    }

    async fn cached(
        &self,
        url: &str,
        now: UnixTime,
        expires: Option<UnixTime>,
    ) -> Result<Vec<u8>, KdsError> {
        if let Some(cache) = &self.cache
            && let Some(hit) = cache.get(url, now).await
        {
            return Ok(hit);
        }
        let bytes = self.fetcher.get(url).await?;
        if let Some(cache) = &self.cache {
            // A cache that cannot be written costs a refetch later, nothing else.
            let _ = cache.put(url, &bytes, expires).await;
        }
        Ok(bytes)
    }
}
