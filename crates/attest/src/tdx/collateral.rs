//! Intel's collateral for a TDX quote, in the JSON shape `dcap-qvl` and PCCS clients use: PEM
//! issuer chains, hex DER CRLs, the signed TCB info and QE identity as raw JSON text, and their
//! signatures as hex `r ‖ s`.

use der::Decode;
use serde::{Deserialize, Serialize};
use x509_cert::Certificate;
use x509_cert::certificate::Rfc5280;
use x509_cert::crl::CertificateList;

use crate::UnixTime;
use crate::error::{Error, Unavailable};
use crate::snp::pem_certificates;
use crate::tdx::error::TdxRejection;
use crate::validity::Window;

/// Offline collateral for one quote. Every field is untrusted until `dcap-qvl` has checked it
/// against Intel's root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TdxCollateral {
    /// Issuer chain of the PCK CRL (PEM).
    pub pck_crl_issuer_chain: String,
    /// Intel SGX Root CA CRL (hex DER); empty when not available.
    #[serde(default, with = "hex::serde")]
    pub root_ca_crl: Vec<u8>,
    /// PCK CRL (hex DER).
    #[serde(with = "hex::serde")]
    pub pck_crl: Vec<u8>,
    /// Issuer chain of the TCB info (PEM).
    pub tcb_info_issuer_chain: String,
    /// The signed `tcbInfo` object, byte for byte as Intel signed it.
    pub tcb_info: String,
    /// Signature over `tcb_info` (hex `r ‖ s`).
    #[serde(with = "hex::serde")]
    pub tcb_info_signature: Vec<u8>,
    /// Issuer chain of the QE identity (PEM).
    pub qe_identity_issuer_chain: String,
    /// The signed `enclaveIdentity` object, byte for byte as Intel signed it.
    pub qe_identity: String,
    /// Signature over `qe_identity` (hex `r ‖ s`).
    #[serde(with = "hex::serde")]
    pub qe_identity_signature: Vec<u8>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct IssueWindow {
    issue_date: String,
    next_update: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Evaluation {
    tcb_evaluation_data_number: u32,
}

impl TdxCollateral {
    /// Parses the collateral JSON.
    ///
    /// # Errors
    /// [`TdxRejection::CollateralMalformed`] naming what did not decode.
    pub fn from_json(text: &str) -> Result<Self, TdxRejection> {
        serde_json::from_str(text).map_err(|e| TdxRejection::CollateralMalformed {
            what: "collateral JSON",
            detail: e.to_string(),
        })
    }

    /// Checks that every piece of collateral is present and valid at `now`: TCB info and QE
    /// identity between issue date and next update, both CRLs between this and next update, and
    /// every issuer-chain certificate inside its validity.
    ///
    /// # Errors
    /// [`Unavailable`] for missing, expired or not-yet-valid collateral;
    /// [`TdxRejection::CollateralMalformed`] when a date or structure does not decode.
    pub fn check_freshness(&self, now: UnixTime) -> Result<(), Error> {
        if self.root_ca_crl.is_empty() {
            return Err(Unavailable::CollateralMissing {
                what: "Intel SGX Root CA CRL".to_owned(),
            }
            .into());
        }
        if self.pck_crl.is_empty() {
            return Err(Unavailable::CollateralMissing {
                what: "PCK CRL".to_owned(),
            }
            .into());
        }
        check_window("TCB info", &self.tcb_info, now)?;
        check_window("QE identity", &self.qe_identity, now)?;
        check_crl("Intel SGX Root CA CRL", &self.root_ca_crl, now)?;
        check_crl("PCK CRL", &self.pck_crl, now)?;
        for (what, chain) in [
            ("TCB info issuer chain", &self.tcb_info_issuer_chain),
            ("QE identity issuer chain", &self.qe_identity_issuer_chain),
            ("PCK CRL issuer chain", &self.pck_crl_issuer_chain),
        ] {
            check_chain_validity(what, chain, now)?;
        }
        Ok(())
    }

    /// The `tcbEvaluationDataNumber` of the TCB info and of the QE identity: Intel raises it with
    /// every TCB recovery, so a lower number is collateral from before one.
    ///
    /// # Errors
    /// [`TdxRejection::CollateralMalformed`] when either lacks the number.
    pub(crate) fn evaluation_data_numbers(&self) -> Result<[(&'static str, u32); 2], TdxRejection> {
        let number = |what: &'static str, json: &str| {
            serde_json::from_str::<Evaluation>(json)
                .map(|evaluation| (what, evaluation.tcb_evaluation_data_number))
                .map_err(|e| TdxRejection::CollateralMalformed {
                    what,
                    detail: e.to_string(),
                })
        };
        Ok([
            number("TCB info", &self.tcb_info)?,
            number("QE identity", &self.qe_identity)?,
        ])
    }

    pub(crate) fn to_dcap(&self) -> dcap_qvl::QuoteCollateralV3 {
        dcap_qvl::QuoteCollateralV3 {
            pck_crl_issuer_chain: self.pck_crl_issuer_chain.clone(),
            root_ca_crl: self.root_ca_crl.clone(),
            pck_crl: self.pck_crl.clone(),
            tcb_info_issuer_chain: self.tcb_info_issuer_chain.clone(),
            tcb_info: self.tcb_info.clone(),
            tcb_info_signature: self.tcb_info_signature.clone(),
            qe_identity_issuer_chain: self.qe_identity_issuer_chain.clone(),
            qe_identity: self.qe_identity.clone(),
            qe_identity_signature: self.qe_identity_signature.clone(),
            pck_certificate_chain: None,
        }
    }
}

fn check_window(what: &'static str, json: &str, now: UnixTime) -> Result<(), Error> {
    let malformed = |detail: String| TdxRejection::CollateralMalformed { what, detail };
    let window: IssueWindow = serde_json::from_str(json).map_err(|e| malformed(e.to_string()))?;
    let parse = |text: &str| {
        text.parse::<UnixTime>()
            .map_err(|e| malformed(e.to_string()))
    };
    let window = Window {
        from: parse(&window.issue_date)?,
        until: Some(parse(&window.next_update)?),
    };
    Ok(window.check_collateral(what, now)?)
}

fn check_crl(what: &'static str, der: &[u8], now: UnixTime) -> Result<(), Error> {
    let crl = CertificateList::<Rfc5280>::from_der(der).map_err(|e| {
        TdxRejection::CollateralMalformed {
            what,
            detail: e.to_string(),
        }
    })?;
    Ok(Window::of_crl(&crl.tbs_cert_list).check_collateral(what, now)?)
}

/// Checks the validity window of every certificate in a PEM chain.
pub(crate) fn check_chain_validity(
    what: &'static str,
    pem: &str,
    now: UnixTime,
) -> Result<(), Error> {
    let ders = pem_certificates(pem).map_err(|e| TdxRejection::CollateralMalformed {
        what,
        detail: e.to_string(),
    })?;
    if ders.is_empty() {
        return Err(Unavailable::CollateralMissing {
            what: what.to_owned(),
        }
        .into());
    }
    for der in ders {
        let cert = Certificate::from_der(&der).map_err(|e| TdxRejection::CollateralMalformed {
            what,
            detail: e.to_string(),
        })?;
        let tbs = cert.tbs_certificate();
        Window::of_certificate(tbs.validity())
            .check_certificate(|| format!("{what}: {}", tbs.subject()), now)?;
    }
    Ok(())
}
