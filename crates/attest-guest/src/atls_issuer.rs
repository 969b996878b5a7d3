//! Evidence for attested TLS: an [`EvidenceIssuer`] as a [`chiaro_atls::Issuer`].

use chiaro_atls::EvidenceBundle;
use chiaro_attest::ReportData;

use crate::issuer::{Evidence, EvidenceIssuer};

/// Sends this guest's evidence in attested TLS handshakes.
#[derive(Debug)]
pub struct AtlsIssuer<I>(pub I);

impl<I: EvidenceIssuer + Send + Sync> chiaro_atls::Issuer for AtlsIssuer<I> {
    fn issue(&self, report_data: &ReportData) -> Result<EvidenceBundle, String> {
        match self.0.evidence(report_data).map_err(|e| format!("{e}"))? {
            Evidence::InsecureSimulatedSnp { report, collateral } => {
                let mut certificates: Vec<Vec<u8>> = collateral.vek.into_iter().collect();
                certificates.extend(collateral.intermediates);
                Ok(EvidenceBundle::Snp { report, certificates })
            }
            // Real evidence needs collateral the guest does not have yet: the VCEK from AMD KDS
            // (or the host's certificate table) and Intel's collateral from PCS/PCCS. Fetching
            // it is `chiaro-collateral`'s job, which does not exist yet.
            Evidence::Snp { .. } => Err("SNP evidence needs its VCEK; collateral fetching (AMD KDS) is not implemented yet".to_owned()),
            Evidence::Tdx { .. } => Err("TDX evidence needs Intel collateral; collateral fetching (PCS/PCCS) is not implemented yet".to_owned()),
        }
    }
}
