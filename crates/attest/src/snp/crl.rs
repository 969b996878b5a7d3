//! AMD's certificate revocation list: signed by the ARK, listing revoked ASKs and ASVKs
//! (`https://kdsintf.amd.com/vcek/v1/{product}/crl`, DER).

use der::Decode;
use sha2::Sha384;
use x509_cert::crl::CertificateList;

use crate::UnixTime;
use crate::error::Unavailable;
use crate::snp::certs::{AmdCertificate, signed_part};
use crate::snp::error::{CertRole, SnpRejection};
use crate::snp::roots::ProductRoot;
use crate::validity::Window;

/// A decoded CRL.
#[derive(Debug, Clone)]
pub(crate) struct AmdCrl {
    tbs_der: Vec<u8>,
    list: CertificateList,
}

impl AmdCrl {
    pub(crate) fn from_der(der: &[u8]) -> Result<Self, SnpRejection> {
        let malformed = |detail: String| SnpRejection::CrlMalformed { detail };
        let list: CertificateList =
            CertificateList::from_der(der).map_err(|e| malformed(e.to_string()))?;
        let tbs_der = signed_part(der).map_err(|e| malformed(e.to_string()))?;
        Ok(Self { tbs_der, list })
    }

    /// Checks the CRL's signature by the ARK, then that `cert` is not on it.
    pub(crate) fn check(
        &self,
        root: &ProductRoot,
        cert: &AmdCertificate,
        role: CertRole,
    ) -> Result<(), SnpRejection> {
        let invalid = SnpRejection::CrlSignatureInvalid {
            product: root.product,
        };
        let signature = self
            .list
            .signature
            .as_bytes()
            .ok_or_else(|| invalid.clone())?;
        root.ark_key
            .pss_verify::<Sha384>(&self.tbs_der, signature)
            .map_err(|_| invalid)?;
        let revoked = self
            .list
            .tbs_cert_list
            .revoked_certificates
            .iter()
            .flatten();
        for entry in revoked {
            if entry.serial_number.as_bytes() == cert.serial_bytes() {
                return Err(SnpRejection::Revoked {
                    role,
                    serial: cert.serial_hex(),
                });
            }
        }
        Ok(())
    }

    /// Checks `this_update <= now <= next_update`.
    pub(crate) fn check_freshness(&self, now: UnixTime) -> Result<(), Unavailable> {
        Window::of_crl(&self.list.tbs_cert_list).check_collateral("AMD CRL", now)
    }
}
