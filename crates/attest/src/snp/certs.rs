//! AMD's certificates: decoding, RSA-PSS chain signatures, and the VCEK/VLEK extensions
//! (AMD "Versioned Chip Endorsement Key (VCEK) Certificate and KDS Interface Specification"
//! #57230, Table 8).

use der::asn1::{AnyRef, Ia5StringRef, OctetStringRef};
use der::{Decode, Encode, Reader, SliceReader};
use p384::ecdsa::VerifyingKey as EcdsaKey;
use rsa::pkcs8::DecodePublicKey;
use sha2::{Digest, Sha256, Sha384};
use x509_cert::Certificate;

use crate::UnixTime;
use crate::error::Unavailable;
use crate::fields::Fingerprint;
use crate::snp::error::{CertRole, SnpRejection};
use crate::validity::Window;

/// `id-RSASSA-PSS` (RFC 4055): the only signature algorithm AMD uses above the VCEK/VLEK.
const RSASSA_PSS: &str = "1.2.840.113549.1.1.10";

/// VCEK/VLEK extension OIDs (Table 8 of #57230).
mod oid {
    pub(super) const PRODUCT_NAME: &str = "1.3.6.1.4.1.3704.1.2";
    pub(super) const BL_SPL: &str = "1.3.6.1.4.1.3704.1.3.1";
    pub(super) const TEE_SPL: &str = "1.3.6.1.4.1.3704.1.3.2";
    pub(super) const SNP_SPL: &str = "1.3.6.1.4.1.3704.1.3.3";
    pub(super) const UCODE_SPL: &str = "1.3.6.1.4.1.3704.1.3.8";
    pub(super) const FMC_SPL: &str = "1.3.6.1.4.1.3704.1.3.9";
    pub(super) const HW_ID: &str = "1.3.6.1.4.1.3704.1.4";
    pub(super) const CSP_ID: &str = "1.3.6.1.4.1.3704.1.5";
}

/// A decoded AMD certificate with its original DER.
#[derive(Debug, Clone)]
pub struct AmdCertificate {
    der: Vec<u8>,
    /// The exact TBS bytes from `der`, which the issuer signed.
    tbs_der: Vec<u8>,
    cert: Certificate,
}

/// The VCEK/VLEK extensions that bind an endorsement key to a chip, a TCB and a product.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VekExtensions {
    /// `productName`, e.g. `Milan-B0`.
    pub product_name: Option<String>,
    /// Bootloader SPL.
    pub bootloader: Option<u8>,
    /// TEE SPL.
    pub tee: Option<u8>,
    /// SNP SPL.
    pub snp: Option<u8>,
    /// Microcode SPL.
    pub microcode: Option<u8>,
    /// FMC SPL (Turin).
    pub fmc: Option<u8>,
    /// The chip's hwID (VCEK only): 64 bytes, or 8 on Turin.
    pub hw_id: Option<Vec<u8>>,
    /// The cloud provider (VLEK only).
    pub csp_id: Option<String>,
}

impl AmdCertificate {
    /// Decodes a DER certificate. AMD's VCEKs have serial number 0, which RFC 5280 forbids; the
    /// RFC 5280 profile of `x509-cert` accepts it (the chain signature is what makes it trustworthy).
    ///
    /// # Errors
    /// [`SnpRejection::CertificateMalformed`] naming `role`.
    pub fn from_der(der: &[u8], role: CertRole) -> Result<Self, SnpRejection> {
        let malformed = |detail: String| SnpRejection::CertificateMalformed { role, detail };
        let cert = Certificate::from_der(der).map_err(|e| malformed(e.to_string()))?;
        let tbs_der = signed_part(der).map_err(|e| malformed(e.to_string()))?;
        Ok(Self {
            der: der.to_vec(),
            tbs_der,
            cert,
        })
    }

    /// The DER encoding.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// SHA-256 of the DER encoding.
    pub fn fingerprint(&self) -> Fingerprint {
        Fingerprint::new(Sha256::digest(&self.der).into())
    }

    /// The subject's common name, or the whole subject when it has none.
    pub fn subject_common_name(&self) -> String {
        let subject = self.cert.tbs_certificate().subject();
        subject
            .iter_rdn()
            .flat_map(|rdn| rdn.iter())
            .find(|atv| atv.oid.to_string() == "2.5.4.3")
            .and_then(|atv| {
                atv.value
                    .decode_as::<der::asn1::Utf8StringRef<'_>>()
                    .ok()
                    .map(|s| s.as_str().to_owned())
                    .or_else(|| {
                        atv.value
                            .decode_as::<der::asn1::PrintableStringRef<'_>>()
                            .ok()
                            .map(|s| s.as_str().to_owned())
                    })
                    .or_else(|| {
                        atv.value
                            .decode_as::<Ia5StringRef<'_>>()
                            .ok()
                            .map(|s| s.as_str().to_owned())
                    })
            })
            .unwrap_or_else(|| subject.to_string())
    }

    /// Whether subject and issuer are the same name (a root).
    pub fn is_self_issued(&self) -> bool {
        let tbs = self.cert.tbs_certificate();
        tbs.subject() == tbs.issuer()
    }

    /// The serial number as hex.
    pub fn serial_hex(&self) -> String {
        hex::encode(self.cert.tbs_certificate().serial_number().as_bytes())
    }

    /// The raw serial number bytes.
    pub fn serial_bytes(&self) -> &[u8] {
        self.cert.tbs_certificate().serial_number().as_bytes()
    }

    /// The RSA public key of an ARK, ASK or ASVK.
    ///
    /// # Errors
    /// [`SnpRejection::CertificateMalformed`] when the key is not RSA.
    pub fn rsa_key(&self, role: CertRole) -> Result<rsa::PublicKey, SnpRejection> {
        let spki = self
            .cert
            .tbs_certificate()
            .subject_public_key_info()
            .to_der()
            .map_err(|e| SnpRejection::CertificateMalformed {
                role,
                detail: e.to_string(),
            })?;
        rsa::PublicKey::from_public_key_der(&spki).map_err(|e| SnpRejection::CertificateMalformed {
            role,
            detail: format!("not an RSA key: {e}"),
        })
    }

    /// The ECDSA P-384 public key of a VCEK or VLEK.
    ///
    /// # Errors
    /// [`SnpRejection::CertificateMalformed`] when the key is not a P-384 point.
    pub fn ecdsa_key(&self, role: CertRole) -> Result<EcdsaKey, SnpRejection> {
        let point = self
            .cert
            .tbs_certificate()
            .subject_public_key_info()
            .subject_public_key
            .raw_bytes();
        EcdsaKey::from_sec1_bytes(point).map_err(|_| SnpRejection::CertificateMalformed {
            role,
            detail: "not a P-384 public key".to_owned(),
        })
    }

    /// Checks that `issuer_key` signed this certificate with RSASSA-PSS/SHA-384.
    ///
    /// # Errors
    /// [`SnpRejection::ChainBroken`] when the algorithm is not RSASSA-PSS or the signature does not
    /// verify.
    pub fn verify_signed_by(
        &self,
        issuer_key: &rsa::PublicKey,
        role: CertRole,
        issuer: CertRole,
    ) -> Result<(), SnpRejection> {
        let broken = SnpRejection::ChainBroken { role, issuer };
        if self.cert.signature_algorithm().oid.to_string() != RSASSA_PSS {
            return Err(broken);
        }
        let signature = self
            .cert
            .signature()
            .as_bytes()
            .ok_or_else(|| broken.clone())?;
        issuer_key
            .pss_verify::<Sha384>(&self.tbs_der, signature)
            .map_err(|_| broken)
    }

    /// Checks `not_before <= now <= not_after`.
    ///
    /// # Errors
    /// [`Unavailable::CertificateExpired`] or [`Unavailable::CertificateNotYetValid`].
    pub fn check_validity(&self, role: CertRole, now: UnixTime) -> Result<(), Unavailable> {
        Window::of_certificate(self.cert.tbs_certificate().validity()).check_certificate(
            || format!("{role} certificate {:?}", self.subject_common_name()),
            now,
        )
    }

    /// Decodes the VCEK/VLEK extensions.
    ///
    /// # Errors
    /// [`SnpRejection::ExtensionMalformed`] when a known extension does not decode.
    pub fn vek_extensions(&self, role: CertRole) -> Result<VekExtensions, SnpRejection> {
        let mut found = VekExtensions::default();
        let Some(extensions) = self.cert.tbs_certificate().extensions() else {
            return Ok(found);
        };
        for extension in extensions {
            let value = extension.extn_value.as_bytes();
            let oid = extension.extn_id.to_string();
            let malformed =
                |extension: &'static str| SnpRejection::ExtensionMalformed { role, extension };
            match oid.as_str() {
                oid::PRODUCT_NAME => {
                    let name =
                        Ia5StringRef::from_der(value).map_err(|_| malformed("productName"))?;
                    found.product_name = Some(name.as_str().to_owned());
                }
                oid::BL_SPL => {
                    found.bootloader = Some(u8::from_der(value).map_err(|_| malformed("blSPL"))?);
                }
                oid::TEE_SPL => {
                    found.tee = Some(u8::from_der(value).map_err(|_| malformed("teeSPL"))?);
                }
                oid::SNP_SPL => {
                    found.snp = Some(u8::from_der(value).map_err(|_| malformed("snpSPL"))?);
                }
                oid::UCODE_SPL => {
                    found.microcode = Some(u8::from_der(value).map_err(|_| malformed("ucodeSPL"))?);
                }
                oid::FMC_SPL => {
                    found.fmc = Some(u8::from_der(value).map_err(|_| malformed("fmcSPL"))?);
                }
                oid::HW_ID => found.hw_id = Some(hw_id(value).ok_or_else(|| malformed("hwID"))?),
                oid::CSP_ID => {
                    let csp = Ia5StringRef::from_der(value).map_err(|_| malformed("cspId"))?;
                    found.csp_id = Some(csp.as_str().to_owned());
                }
                _ => {}
            }
        }
        Ok(found)
    }
}

/// The hwID extension holds the raw 8 or 64 bytes in KDS-issued VCEKs; some tools wrap them in a
/// DER OCTET STRING. Accept both, nothing else.
fn hw_id(value: &[u8]) -> Option<Vec<u8>> {
    if let Ok(wrapped) = <&OctetStringRef>::from_der(value) {
        let inner = wrapped.as_bytes();
        if matches!(inner.len(), 8 | 64) {
            return Some(inner.to_vec());
        }
    }
    matches!(value.len(), 8 | 64).then(|| value.to_vec())
}

/// The exact DER of the first element of a signed structure (`tbsCertificate`, `tbsCertList`),
/// which is what the issuer signed.
pub(crate) fn signed_part(der: &[u8]) -> der::Result<Vec<u8>> {
    let mut reader = SliceReader::new(der)?;
    let tbs = reader.sequence(|seq: &mut SliceReader<'_>| -> der::Result<AnyRef<'_>> {
        let tbs: AnyRef<'_> = seq.decode()?;
        let _signature_algorithm: AnyRef<'_> = seq.decode()?;
        let _signature: AnyRef<'_> = seq.decode()?;
        Ok(tbs)
    })?;
    tbs.to_der()
}

/// Splits PEM text into the DER of each `CERTIFICATE` block, in order.
///
/// # Errors
/// [`crate::Malformed::Invalid`] when a block does not decode.
pub fn pem_certificates(text: &str) -> Result<Vec<Vec<u8>>, crate::Malformed> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("-----BEGIN CERTIFICATE-----") {
        let block = rest.get(start..).unwrap_or_default();
        let end_marker = "-----END CERTIFICATE-----";
        let end = block
            .find(end_marker)
            .ok_or_else(|| crate::Malformed::Invalid {
                what: "PEM certificate",
                detail: "missing END line".to_owned(),
            })?;
        let len = end.saturating_add(end_marker.len());
        let pem = block.get(..len).unwrap_or_default();
        let (label, der) =
            der::pem::decode_vec(pem.as_bytes()).map_err(|e| crate::Malformed::Invalid {
                what: "PEM certificate",
                detail: e.to_string(),
            })?;
        if label != "CERTIFICATE" {
            return Err(crate::Malformed::Invalid {
                what: "PEM certificate",
                detail: format!("label {label}"),
            });
        }
        out.push(der);
        rest = block.get(len..).unwrap_or_default();
    }
    Ok(out)
}
