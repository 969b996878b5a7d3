//! Intel's collateral for a TDX quote from Intel PCS or a PCCS (same API, v4): TCB info and QE
//! identity with their issuer chains (sent as URL-encoded PEM response headers), the PCK CRL and
//! the root CA CRL — assembled as the [`TdxCollateral`] `chiaro-attest` verifies, and cached until
//! the earliest `nextUpdate`.

use chiaro_attest::UnixTime;
use chiaro_attest::snp::pem_certificates;
use chiaro_attest::tdx::{Quote, TdxCollateral};
use der::Decode;

use crate::cache::Cache;
use crate::fetch::{FetchError, Fetcher, Response};

/// Intel's Provisioning Certification Service.
pub const INTEL_PCS: &str = "https://api.trustedservices.intel.com";
/// Where Intel publishes the SGX Root CA's CRL (the root certificate's distribution point).
pub const INTEL_ROOT_CA_CRL: &str =
    "https://certificates.trustedservices.intel.com/IntelSGXRootCA.der";

/// Intel's SGX extension in PCK certificates, and its FMSPC member.
const SGX_EXTENSION: &str = "1.2.840.113741.1.13.1";
const FMSPC: &str = "1.2.840.113741.1.13.1.4";

/// TDX collateral could not be obtained.
#[derive(Debug, thiserror::Error)]
pub enum PcsError {
    /// The quote or its PCK certificate does not carry what the request needs.
    #[error("quote")]
    Quote(#[source] chiaro_attest::Error),
    /// The quote's PCK chain is not PEM certificates.
    #[error("the quote's PCK chain")]
    PckChain(#[source] chiaro_attest::Malformed),
    /// The quote's PCK certificate, or its SGX extension, is not valid DER.
    #[error("the quote's PCK certificate{}", if *in_extension { " (SGX extension)" } else { "" })]
    PckDer {
        /// Whether the fault is inside the SGX extension.
        in_extension: bool,
        /// The decoding error.
        #[source]
        source: der::Error,
    },
    /// The quote's PCK certificate lacks what the request needs.
    #[error("the quote's PCK certificate: {problem}")]
    Pck {
        /// What is missing or wrong.
        problem: &'static str,
    },
    /// Fetching failed.
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// PCS answered with something that is not the document asked for.
    #[error("PCS response for {url} is malformed: {detail}")]
    Malformed {
        /// The URL.
        url: String,
        /// What is wrong.
        detail: String,
    },
}

/// A PCS/PCCS client with an optional on-disk cache.
#[derive(Debug, Clone)]
pub struct Pcs {
    base: String,
    root_crl: String,
    fetcher: Fetcher,
    cache: Option<Cache>,
}

impl Pcs {
    /// A client for the PCS or PCCS at `base` (normally [`INTEL_PCS`]), fetching the root CA CRL
    /// from `root_crl` (normally [`INTEL_ROOT_CA_CRL`]).
    pub fn new(
        base: impl Into<String>,
        root_crl: impl Into<String>,
        fetcher: Fetcher,
        cache: Option<Cache>,
    ) -> Self {
        Self {
            base: base.into().trim_end_matches('/').to_owned(),
            root_crl: root_crl.into(),
            fetcher,
            cache,
        }
    }

    /// The collateral for `quote`, from the cache while it is fresh at `now`.
    ///
    /// # Errors
    /// [`PcsError`] when the quote has no usable PCK certificate or a document cannot be fetched.
    pub async fn collateral(&self, quote: &[u8], now: UnixTime) -> Result<TdxCollateral, PcsError> {
        let parsed = Quote::parse(quote).map_err(PcsError::Quote)?;
        let (fmspc, ca) = pck_identity(&parsed.pck_chain_pem)?;
        let key = format!(
            "{}/chiaro-tdx-collateral?fmspc={}&ca={ca}",
            self.base,
            hex::encode(fmspc)
        );
        if let Some(cache) = &self.cache
            && let Some(hit) = cache.get(&key, now).await
            && let Ok(collateral) = serde_json::from_slice::<TdxCollateral>(&hit)
        {
            return Ok(collateral);
        }
        let tcb_url = format!(
            "{}/tdx/certification/v4/tcb?fmspc={}",
            self.base,
            hex::encode(fmspc)
        );
        let tcb = self.fetcher.get_with_headers(&tcb_url).await?;
        let (tcb_info, tcb_info_signature) = signed_body(&tcb_url, &tcb.body, "tcbInfo")?;
        let qe_url = format!("{}/tdx/certification/v4/qe/identity", self.base);
        let qe = self.fetcher.get_with_headers(&qe_url).await?;
        let (qe_identity, qe_identity_signature) =
            signed_body(&qe_url, &qe.body, "enclaveIdentity")?;
        let crl_url = format!(
            "{}/sgx/certification/v4/pckcrl?ca={ca}&encoding=der",
            self.base
        );
        let pck_crl = self.fetcher.get_with_headers(&crl_url).await?;
        let root_ca_crl = der_or_hex(self.fetcher.get(&self.root_crl).await?);
        let collateral = TdxCollateral {
            pck_crl_issuer_chain: issuer_chain(&crl_url, &pck_crl, "SGX-PCK-CRL-Issuer-Chain")?,
            root_ca_crl,
            pck_crl: der_or_hex(pck_crl.body),
            tcb_info_issuer_chain: issuer_chain(&tcb_url, &tcb, "TCB-Info-Issuer-Chain")?,
            tcb_info,
            tcb_info_signature,
            qe_identity_issuer_chain: issuer_chain(
                &qe_url,
                &qe,
                "SGX-Enclave-Identity-Issuer-Chain",
            )?,
            qe_identity,
            qe_identity_signature,
        };
        if let Some(cache) = &self.cache {
            let expires = next_update(&collateral.tcb_info)
                .into_iter()
                .chain(next_update(&collateral.qe_identity))
                .min();
            if let Ok(bytes) = serde_json::to_vec(&collateral) {
                // A cache that cannot be written costs a refetch later, nothing else.
                let _ = cache.put(&key, &bytes, expires.or(Some(now))).await;
            }
        }
        Ok(collateral)
    }
}

/// The FMSPC and the PCK CA (`platform` or `processor`) of the quote's PCK certificate.
fn pck_identity(chain_pem: &str) -> Result<([u8; 6], &'static str), PcsError> {
    let problem = |problem: &'static str| PcsError::Pck { problem };
    let der = |in_extension: bool| {
        move |source| PcsError::PckDer {
            in_extension,
            source,
        }
    };
    let ders = pem_certificates(chain_pem).map_err(PcsError::PckChain)?;
    let leaf = x509_cert::Certificate::from_der(
        ders.first().ok_or_else(|| problem("no PCK certificate"))?,
    )
    .map_err(der(false))?;
    let issuer = leaf.tbs_certificate().issuer().to_string();
    let ca = if issuer.contains("Processor") {
        "processor"
    } else {
        "platform"
    };
    let extension = leaf
        .tbs_certificate()
        .extensions()
        .into_iter()
        .flatten()
        .find(|extension| extension.extn_id.to_string() == SGX_EXTENSION)
        .ok_or_else(|| problem("the PCK certificate has no SGX extension"))?;
    let members: Vec<der::asn1::Any> =
        Vec::from_der(extension.extn_value.as_bytes()).map_err(der(true))?;
    for member in members {
        let mut reader = der::SliceReader::new(member.value()).map_err(der(true))?;
        let oid: der::asn1::ObjectIdentifier =
            der::asn1::ObjectIdentifier::decode(&mut reader).map_err(der(true))?;
        if oid.to_string() == FMSPC {
            let value = der::asn1::OctetString::decode(&mut reader).map_err(der(true))?;
            return <[u8; 6]>::try_from(value.as_bytes())
                .map(|fmspc| (fmspc, ca))
                .map_err(|_| problem("FMSPC is not 6 bytes"));
        }
    }
    Err(problem("the SGX extension has no FMSPC"))
}

/// Splits a PCS body `{"<key>":{...},"signature":"<hex>"}` into the signed object's exact text
/// and the signature bytes.
fn signed_body(url: &str, body: &[u8], key: &str) -> Result<(String, Vec<u8>), PcsError> {
    let malformed = |detail: &str| PcsError::Malformed {
        url: url.to_owned(),
        detail: detail.to_owned(),
    };
    let text = std::str::from_utf8(body).map_err(|_| malformed("not UTF-8"))?;
    let marker = format!("\"{key}\":");
    let start = text
        .find(&marker)
        .and_then(|i| i.checked_add(marker.len()))
        .ok_or_else(|| malformed("no signed object"))?;
    let end = text
        .rfind(",\"signature\"")
        .ok_or_else(|| malformed("no signature"))?;
    let object = text
        .get(start..end)
        .ok_or_else(|| malformed("no signed object"))?
        .to_owned();
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| malformed(&e.to_string()))?;
    let signature = value
        .get("signature")
        .and_then(serde_json::Value::as_str)
        .ok_or_else(|| malformed("no signature"))?;
    Ok((
        object,
        hex::decode(signature).map_err(|_| malformed("signature is not hex"))?,
    ))
}

/// The PEM issuer chain of a response header (URL-encoded, as PCS sends it).
fn issuer_chain(url: &str, response: &Response, header: &str) -> Result<String, PcsError> {
    let value = response.header(header).ok_or_else(|| PcsError::Malformed {
        url: url.to_owned(),
        detail: format!("no {header} header"),
    })?;
    percent_decode(value).ok_or_else(|| PcsError::Malformed {
        url: url.to_owned(),
        detail: format!("{header} is not URL-encoded UTF-8"),
    })
}

fn percent_decode(text: &str) -> Option<String> {
    let mut rest = text.as_bytes();
    let mut out = Vec::with_capacity(rest.len());
    loop {
        rest = match rest {
            [] => break,
            [b'%', high, low, tail @ ..] => {
                let pair = [*high, *low];
                let hex = std::str::from_utf8(&pair).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                tail
            }
            [b'%', ..] => return None,
            [byte, tail @ ..] => {
                out.push(*byte);
                tail
            }
        };
    }
    String::from_utf8(out).ok()
}

/// PCCS serves CRLs hex-encoded, PCS as DER; accept both.
fn der_or_hex(body: Vec<u8>) -> Vec<u8> {
    let text = std::str::from_utf8(&body)
        .map(str::trim)
        .unwrap_or_default();
    if !text.is_empty()
        && text.len().is_multiple_of(2)
        && text.bytes().all(|b| b.is_ascii_hexdigit())
        && let Ok(decoded) = hex::decode(text)
    {
        return decoded;
    }
    body
}

fn next_update(signed_json: &str) -> Option<UnixTime> {
    let value: serde_json::Value = serde_json::from_str(signed_json).ok()?;
    value.get("nextUpdate")?.as_str()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_encoded_headers_decode() {
        assert_eq!(
            percent_decode("-----BEGIN%20CERTIFICATE-----%0AMII").as_deref(),
            Some("-----BEGIN CERTIFICATE-----\nMII")
        );
        assert_eq!(percent_decode("%zz"), None);
        assert_eq!(percent_decode("%4"), None);
    }

    #[test]
    fn crls_are_accepted_as_der_or_hex() {
        assert_eq!(der_or_hex(b"3082".to_vec()), vec![0x30, 0x82]);
        assert_eq!(der_or_hex(vec![0x30, 0x82]), vec![0x30, 0x82]);
    }
}
