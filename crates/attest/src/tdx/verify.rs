//! TDX verification: our own quote-level checks, `dcap-qvl` for Intel's collateral, then our
//! strict TCB policy and the reference values.

use der::Decode;
use ring::signature::{ECDSA_P256_SHA256_FIXED, UnparsedPublicKey};
use sha2::{Digest, Sha256};
use x509_cert::Certificate;

use crate::error::Error;
use crate::snp::pem_certificates;
use crate::tdx::collateral::TdxCollateral;
use crate::tdx::error::TdxRejection;
use crate::tdx::quote::Quote;
use crate::tdx::reference::TdxReferenceValues;
use crate::tdx::tcb_status::TcbStatus;
use crate::time::UnixTime;
use crate::verified::{Claims, InitDataBinding, Platform, TcbClaims, Verified};

/// Intel's QE vendor id.
const INTEL_QE_VENDOR_ID: [u8; 16] = [
    0x93, 0x9a, 0x72, 0x33, 0xf7, 0x9c, 0x4c, 0xa9, 0x94, 0x0a, 0x0d, 0xb3, 0x95, 0x7f, 0x06, 0x07,
];

/// Verifies a TDX quote with offline collateral at time `now`, against Intel's SGX Root CA.
///
/// # Security
/// Checks, in this order, stopping at the first failure:
/// 1. the quote parses (v4 or v5, TDX, ECDSA P-256, QE-report certification data), every
///    declared length is used exactly, and every byte after the signature data is zero;
/// 2. the QE vendor is Intel;
/// 3. the attestation key signed header and body;
/// 4. the QE report data is SHA-256(attestation key ‖ QE auth data) ‖ zeros;
/// 5. the PCK leaf signed the QE report;
/// 6. the kind of TD: not debuggable unless `allow_debug`, no TD attribute outside
///    `allowed_td_attributes`, and MRSERVICETD as pinned (all zero when not pinned);
/// 7. every piece of collateral is present and valid at `now` (unavailable otherwise);
/// 8. `dcap-qvl`: PCK chain to Intel's root with both CRLs, TCB info and QE identity signatures
///    and identities, TDX module identity, and the TCB-level match;
/// 9. Chiaro's TCB policy: the TCB info and QE identity are not older than
///    `minimum_tcb_evaluation_data_number`, the status is allowed (`UpToDate` by default) and
///    every advisory is allow-listed — `dcap-qvl` itself accepts anything but `Revoked`;
/// 10. the reference values (MRTD, RTMRs, MRCONFIGID, MROWNER, MROWNERCONFIG, TEE_TCB_SVN,
///     XFAM, REPORTDATA).
///
/// # Errors
/// [`Error::Rejected`] for bad evidence, [`Error::Unavailable`] for missing or stale collateral.
pub fn verify(
    quote: &[u8],
    collateral: &TdxCollateral,
    reference: &TdxReferenceValues,
    now: UnixTime,
) -> Result<Verified<Claims>, Error> {
    let parsed = Quote::parse(quote)?;
    if parsed.header.qe_vendor_id != INTEL_QE_VENDOR_ID {
        return Err(TdxRejection::UnknownQeVendor {
            vendor: hex::encode(parsed.header.qe_vendor_id),
        }
        .into());
    }
    let mut attestation_key = Vec::with_capacity(65);
    attestation_key.push(0x04);
    attestation_key.extend_from_slice(&parsed.attestation_key);
    UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &attestation_key)
        .verify(parsed.signed_bytes(), &parsed.signature)
        .map_err(|_| TdxRejection::QuoteSignatureInvalid)?;

    let mut binding = Sha256::new();
    binding.update(parsed.attestation_key);
    binding.update(&parsed.qe_auth_data);
    let (hashed, zeros) = parsed.qe_report.report_data.split_at(32);
    if hashed != binding.finalize().as_slice() || zeros.iter().any(|byte| *byte != 0) {
        return Err(TdxRejection::AttestationKeyNotBound.into());
    }

    let pck_key = pck_leaf_key(&parsed.pck_chain_pem)?;
    UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &pck_key)
        .verify(&parsed.qe_report.raw, &parsed.qe_report_signature)
        .map_err(|_| TdxRejection::QeReportSignatureInvalid)?;

    reference.check_td(&parsed.body)?;
    collateral.check_freshness(now)?;

    let verifier = dcap_qvl::verify::QuoteVerifier::new_prod()
        .allow_debug(reference.allow_debug)
        .allow_service_td(reference.allows_service_td());
    let report = verifier
        .verify(quote, &collateral.to_dcap(), now.as_secs())
        .map_err(|e| TdxRejection::CollateralRejected {
            detail: format!("{e:#}"),
        })?;
    let status: TcbStatus =
        report
            .status
            .parse()
            .map_err(|_| TdxRejection::CollateralRejected {
                detail: format!("unknown TCB status {:?}", report.status),
            })?;
    reference.check_evaluation_data_numbers(collateral)?;
    reference.check_tcb(status, &report.advisory_ids)?;
    reference.check_body(&parsed.body)?;

    let body = &parsed.body;
    Ok(Verified::new(Claims {
        platform: Platform::Tdx,
        measurement: body.mr_td,
        init_data: InitDataBinding::MrConfigId(body.mr_config_id),
        report_data: body.report_data,
        tcb: TcbClaims::Tdx {
            tee_tcb_svn: body.tee_tcb_svn,
            status,
        },
        chip_id: None,
    }))
}

/// The P-256 public key (uncompressed point) of the first certificate in the PCK chain.
fn pck_leaf_key(pem: &str) -> Result<Vec<u8>, TdxRejection> {
    let malformed = |detail: String| TdxRejection::PckChainMalformed { detail };
    let ders = pem_certificates(pem).map_err(|e| malformed(e.to_string()))?;
    let leaf = ders
        .first()
        .ok_or_else(|| malformed("no certificate".to_owned()))?;
    let cert = Certificate::from_der(leaf).map_err(|e| malformed(e.to_string()))?;
    let point = cert
        .tbs_certificate()
        .subject_public_key_info()
        .subject_public_key
        .raw_bytes();
    if point.len() != 65 || point.first() != Some(&0x04) {
        return Err(malformed(
            "PCK key is not an uncompressed P-256 point".to_owned(),
        ));
    }
    Ok(point.to_vec())
}
