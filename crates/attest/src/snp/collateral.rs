//! The certificates and CRL that come with an SNP report.

use crate::error::Malformed;
use crate::snp::certs::AmdCertificate;
use crate::snp::error::CertRole;

/// Certificates for one SNP report, as DER. The host, AMD KDS or a cache supplies them; none is
/// trusted until it chains to a pinned root.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SnpCollateral {
    /// The VCEK or VLEK.
    pub vek: Option<Vec<u8>>,
    /// ASKs or ASVKs offered with the evidence.
    pub intermediates: Vec<Vec<u8>>,
    /// Roots offered with the evidence; each must equal the pinned ARK.
    pub roots: Vec<Vec<u8>>,
    /// AMD's CRL for the product, DER.
    pub crl: Option<Vec<u8>>,
}

impl SnpCollateral {
    /// Sorts a bundle of certificates (a KDS `cert_chain`, a VCEK+ASK+ARK PEM) by role: a
    /// self-issued certificate is a root, `SEV-VCEK`/`SEV-VLEK` subjects are endorsement keys,
    /// anything else is an intermediate.
    ///
    /// # Errors
    /// [`Malformed::Invalid`] for a certificate that does not decode, or for two endorsement keys.
    pub fn from_certificates(ders: Vec<Vec<u8>>) -> Result<Self, Malformed> {
        let mut collateral = Self::default();
        for der in ders {
            let cert =
                AmdCertificate::from_der(&der, CertRole::Vcek).map_err(|e| Malformed::Invalid {
                    what: "certificate bundle",
                    detail: e.to_string(),
                })?;
            let name = cert.subject_common_name();
            if cert.is_self_issued() {
                collateral.roots.push(der);
            } else if name == "SEV-VCEK" || name == "SEV-VLEK" {
                if collateral.vek.is_some() {
                    return Err(Malformed::Invalid {
                        what: "certificate bundle",
                        detail: "holds more than one VCEK/VLEK".to_owned(),
                    });
                }
                collateral.vek = Some(der);
            } else {
                collateral.intermediates.push(der);
            }
        }
        Ok(collateral)
    }

    /// Adds the certificates of another bundle (e.g. a `--chain` next to a `--vcek`).
    ///
    /// # Errors
    /// As [`SnpCollateral::from_certificates`].
    pub fn merge(mut self, other: Self) -> Result<Self, Malformed> {
        match (&self.vek, other.vek) {
            (Some(_), Some(_)) => {
                return Err(Malformed::Invalid {
                    what: "certificate bundle",
                    detail: "holds more than one VCEK/VLEK".to_owned(),
                });
            }
            (None, vek) => self.vek = vek,
            (Some(_), None) => {}
        }
        self.intermediates.extend(other.intermediates);
        self.roots.extend(other.roots);
        if other.crl.is_some() {
            self.crl = other.crl;
        }
        Ok(self)
    }
}
