//! SNP verification: report → VCEK/VLEK → ASK/ASVK → pinned ARK, then reference values.

use p384::ecdsa::Signature;
use p384::ecdsa::signature::Verifier;

use crate::error::{Error, Unavailable};
use crate::snp::certs::AmdCertificate;
use crate::snp::collateral::SnpCollateral;
use crate::snp::crl::AmdCrl;
use crate::snp::error::{CertRole, SnpRejection};
use crate::snp::reference::SnpReferenceValues;
use crate::snp::report::{Report, SigningKey};
use crate::snp::roots::{AnchorKind, ProductRoot, SnpTrustAnchors};
use crate::snp::tcb::{Product, TcbComponent, TcbVersion};
use crate::time::UnixTime;
use crate::verified::{Claims, InitDataBinding, Platform, TcbClaims, Verified};

/// Verifies an SNP report at time `now`.
///
/// # Security
/// Checks, in this order, stopping at the first failure:
/// 1. the report parses (length, version 2/3/5, ECDSA P-384, zero signature padding);
/// 2. `KEY_INFO` names a VCEK or VLEK, and a matching endorsement key is supplied;
/// 3. the product (from the report's CPUID and the key's `productName`, which must agree) has a
///    trusted root; any root offered with the evidence must be that pinned root;
/// 4. the intermediate (ASK for a VCEK, ASVK for a VLEK; the built-in ASK when none is offered)
///    is signed by the root (RSASSA-PSS/SHA-384), and is not revoked when a CRL is given (the
///    CRL itself signed by the root);
/// 5. the endorsement key is signed by the intermediate, is the kind the report names, carries
///    TCB extensions equal to `REPORTED_TCB` (FMC included on Turin), and, for a VCEK, a hwID
///    equal to `CHIP_ID` (its first 8 bytes on Turin);
/// 6. the report signature verifies with the endorsement key over bytes `[0, 0x2A0)` as received;
/// 7. the reference values hold;
/// 8. every certificate is inside its validity window and the CRL is fresh at `now`.
///
/// Rejections (1–7) take precedence over unavailability (8): forged evidence is reported as
/// forged even when its certificates have also expired.
///
/// # Errors
/// [`Error::Rejected`] with an [`SnpRejection`] or [`crate::Malformed`] for bad evidence;
/// [`Error::Unavailable`] when the endorsement key or ASVK is missing, or a certificate or the
/// CRL is outside its validity at `now`.
pub fn verify(
    report: &[u8],
    collateral: &SnpCollateral,
    anchors: &SnpTrustAnchors,
    reference: &SnpReferenceValues,
    now: UnixTime,
) -> Result<Verified<Claims>, Error> {
    let report = Report::parse(report)?;
    verify_report(&report, collateral, anchors, reference, now)
}

/// As [`verify`], for a report that is already parsed.
///
/// # Errors
/// As [`verify`].
pub fn verify_report(
    report: &Report,
    collateral: &SnpCollateral,
    anchors: &SnpTrustAnchors,
    reference: &SnpReferenceValues,
    now: UnixTime,
) -> Result<Verified<Claims>, Error> {
    let vek_role = match report.key_info.signing_key {
        SigningKey::Vcek => CertRole::Vcek,
        SigningKey::Vlek => CertRole::Vlek,
        signing_key @ (SigningKey::None | SigningKey::Reserved(_)) => {
            return Err(SnpRejection::UnsupportedSigningKey { signing_key }.into());
        }
    };
    let vek_der = collateral
        .vek
        .as_deref()
        .ok_or_else(|| Unavailable::CollateralMissing {
            what: format!(
                "{vek_role} certificate for this report (fetch it from AMD KDS or the host)"
            ),
        })?;
    let vek = AmdCertificate::from_der(vek_der, vek_role)?;
    let extensions = vek.vek_extensions(vek_role)?;

    let product = determine_product(report, extensions.product_name.as_deref(), anchors)?;
    let root = anchors
        .root(product)
        .ok_or(SnpRejection::ProductUndetermined)?;
    for offered in &collateral.roots {
        let offered = AmdCertificate::from_der(offered, CertRole::Ark)?;
        if offered.fingerprint() != root.ark.fingerprint() {
            return Err(SnpRejection::UntrustedRoot {
                product,
                fingerprint: offered.fingerprint(),
            }
            .into());
        }
    }

    let intermediate_role = match vek_role {
        CertRole::Vlek => CertRole::Asvk,
        _ => CertRole::Ask,
    };
    let intermediate = select_intermediate(collateral, root, intermediate_role)?;
    intermediate.verify_signed_by(&root.ark_key, intermediate_role, CertRole::Ark)?;
    let crl = collateral
        .crl
        .as_deref()
        .map(AmdCrl::from_der)
        .transpose()?;
    if let Some(crl) = &crl {
        crl.check(root, &intermediate, intermediate_role)?;
    }

    let intermediate_key = intermediate.rsa_key(intermediate_role)?;
    vek.verify_signed_by(&intermediate_key, vek_role, intermediate_role)?;
    let vek_kind = match (&extensions.hw_id, &extensions.csp_id) {
        (_, Some(_)) => CertRole::Vlek,
        (Some(_), None) => CertRole::Vcek,
        (None, None) => {
            return Err(SnpRejection::ExtensionMissing {
                role: vek_role,
                extension: "hwID",
            }
            .into());
        }
    };
    if vek_kind != vek_role {
        return Err(SnpRejection::SigningKeyMismatch {
            report: report.key_info.signing_key,
            certificate: vek_kind,
        }
        .into());
    }
    let reported_tcb = report.reported_tcb.decode(product);
    check_vek_tcb(&extensions, &reported_tcb, vek_role)?;
    if let Some(hw_id) = &extensions.hw_id {
        let chip_id = report.chip_id.as_bytes();
        let compared = chip_id.get(..hw_id.len()).unwrap_or_default();
        if compared != hw_id.as_slice() {
            return Err(SnpRejection::ChipIdMismatch {
                certificate: hex::encode(hw_id),
                report: report.chip_id,
            }
            .into());
        }
    }

    let key = vek.ecdsa_key(vek_role)?;
    let signature = Signature::from_slice(&report.signature_be())
        .map_err(|_| SnpRejection::SignatureInvalid { signer: vek_role })?;
    key.verify(report.signed_bytes(), &signature)
        .map_err(|_| SnpRejection::SignatureInvalid { signer: vek_role })?;

    reference.check(report, product, &reported_tcb, extensions.csp_id.as_deref())?;

    intermediate.check_validity(intermediate_role, now)?;
    vek.check_validity(vek_role, now)?;
    if let Some(crl) = &crl {
        crl.check_freshness(now)?;
    }

    let platform = match anchors.kind() {
        AnchorKind::Amd => Platform::Snp {
            product,
            signing_key: report.key_info.signing_key,
        },
        AnchorKind::InsecureSimulated => Platform::InsecureSimulated,
    };
    Ok(Verified::new(Claims {
        platform,
        measurement: report.measurement,
        init_data: InitDataBinding::HostData(report.host_data),
        report_data: report.report_data,
        tcb: TcbClaims::Snp(reported_tcb),
        chip_id: (!report.chip_id.is_masked()).then_some(report.chip_id),
    }))
}

/// The product from the report's CPUID (version 3+) and the key's `productName`; when both are
/// present they must agree. Simulated anchors know one product only.
fn determine_product(
    report: &Report,
    product_name: Option<&str>,
    anchors: &SnpTrustAnchors,
) -> Result<Product, SnpRejection> {
    let from_certificate = product_name.and_then(Product::from_product_name);
    let from_report = report.product();
    match (from_report, from_certificate) {
        (Some(report), Some(certificate)) if report != certificate => {
            Err(SnpRejection::ProductMismatch {
                report,
                certificate,
            })
        }
        (Some(product), _) | (None, Some(product)) => Ok(product),
        (None, None) => anchors
            .single_product()
            .ok_or(SnpRejection::ProductUndetermined),
    }
}

/// The ASK or ASVK to use: one offered with the evidence with the right role, else the built-in
/// ASK for a VCEK chain.
fn select_intermediate(
    collateral: &SnpCollateral,
    root: &ProductRoot,
    role: CertRole,
) -> Result<AmdCertificate, Error> {
    let mut wrong_subject = None;
    for der in &collateral.intermediates {
        let cert = AmdCertificate::from_der(der, role)?;
        let name = cert.subject_common_name();
        let is_asvk = name.starts_with("SEV-VLEK-");
        if is_asvk == (role == CertRole::Asvk) {
            return Ok(cert);
        }
        wrong_subject = Some(name);
    }
    if let Some(subject) = wrong_subject {
        return Err(SnpRejection::WrongIntermediate {
            expected: role,
            subject,
        }
        .into());
    }
    match (&root.ask, role) {
        (Some(ask), CertRole::Ask) => Ok(ask.clone()),
        _ => Err(Unavailable::CollateralMissing {
            what: format!(
                "{role} certificate for {} (AMD KDS cert_chain)",
                root.product
            ),
        }
        .into()),
    }
}

fn check_vek_tcb(
    extensions: &crate::snp::certs::VekExtensions,
    reported: &TcbVersion,
    role: CertRole,
) -> Result<(), SnpRejection> {
    let expected = [
        (
            TcbComponent::Bootloader,
            extensions.bootloader,
            Some(reported.bootloader),
            "blSPL",
        ),
        (
            TcbComponent::Tee,
            extensions.tee,
            Some(reported.tee),
            "teeSPL",
        ),
        (
            TcbComponent::Snp,
            extensions.snp,
            Some(reported.snp),
            "snpSPL",
        ),
        (
            TcbComponent::Microcode,
            extensions.microcode,
            Some(reported.microcode),
            "ucodeSPL",
        ),
        (TcbComponent::Fmc, extensions.fmc, reported.fmc, "fmcSPL"),
    ];
    for (component, certificate, report, extension) in expected {
        match (certificate, report) {
            (Some(certificate), Some(report)) if certificate != report => {
                return Err(SnpRejection::VekTcbMismatch {
                    component,
                    certificate,
                    report,
                });
            }
            (None, Some(_)) => return Err(SnpRejection::ExtensionMissing { role, extension }),
            _ => {}
        }
    }
    Ok(())
}
