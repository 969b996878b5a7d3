//! SNP verification: report → VCEK/VLEK → ASK/ASVK → pinned ARK, then reference values.

use p384::ecdsa::signature::Verifier;
use p384::ecdsa::{Signature, VerifyingKey as EcdsaKey};

use crate::error::{Error, Unavailable};
use crate::snp::certs::{AmdCertificate, VekExtensions};
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
/// 3. [`VerifiedVek::verify`]: the product (the key's `productName`, else the report's CPUID)
///    has a trusted root, and any root offered with the evidence is that pinned root; the
///    intermediate (ASK for a VCEK, ASVK for a VLEK; the built-in ASK when none is offered) is
///    signed by the root (RSASSA-PSS/SHA-384) and not revoked by a CRL, if one is given, that
///    the root signed; the endorsement key is signed by the intermediate and is the kind asked;
/// 4. [`VerifiedVek::verify_report`]: the report names this kind of key and the same product;
///    the key's TCB extensions equal `REPORTED_TCB` (FMC included on Turin) and, for a VCEK, its
///    hwID equals `CHIP_ID` (the first 8 bytes on Turin); the report signature verifies over
///    bytes `[0, 0x2A0)` exactly as received; the reference values hold; and finally every
///    certificate is inside its validity and the CRL is fresh at `now`.
///
/// Rejections take precedence over unavailability: forged evidence is reported as forged even
/// when its certificates have also expired.
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
    let role = vek_role(report.key_info.signing_key)?;
    let vek = VerifiedVek::verify(collateral, anchors, role, report.product())?;
    vek.verify_report(report, reference, now)
}

/// An endorsement key (VCEK or VLEK) whose chain to a trusted root is verified: reusable for
/// every report of the same chip and TCB, so a verifier that sees many reports checks the RSA
/// chain once.
#[derive(Debug, Clone)]
pub struct VerifiedVek {
    product: Product,
    role: CertRole,
    anchor_kind: AnchorKind,
    key: EcdsaKey,
    extensions: VekExtensions,
    vek: AmdCertificate,
    intermediate: AmdCertificate,
    intermediate_role: CertRole,
    crl: Option<AmdCrl>,
}

impl VerifiedVek {
    /// Verifies the chain of the `role` key in `collateral` to the anchors. `product_hint` (the
    /// report's CPUID) picks the root when the key does not name its product.
    ///
    /// # Errors
    /// As [`verify`], for the chain checks; validity is checked per report.
    pub fn verify(
        collateral: &SnpCollateral,
        anchors: &SnpTrustAnchors,
        role: CertRole,
        product_hint: Option<Product>,
    ) -> Result<Self, Error> {
        let vek_der = collateral
            .vek
            .as_deref()
            .ok_or_else(|| Unavailable::CollateralMissing {
                what: format!(
                    "{role} certificate for this report (fetch it from AMD KDS or the host)"
                ),
            })?;
        let vek = AmdCertificate::from_der(vek_der, role)?;
        let extensions = vek.vek_extensions(role)?;
        let product = extensions
            .product_name
            .as_deref()
            .and_then(Product::from_product_name)
            .or(product_hint)
            .or_else(|| anchors.single_product())
            .ok_or(SnpRejection::ProductUndetermined)?;
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
        let intermediate_role = match role {
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
        vek.verify_signed_by(&intermediate_key, role, intermediate_role)?;
        let kind = match (&extensions.hw_id, &extensions.csp_id) {
            (_, Some(_)) => CertRole::Vlek,
            (Some(_), None) => CertRole::Vcek,
            (None, None) => {
                return Err(SnpRejection::ExtensionMissing {
                    role,
                    extension: "hwID",
                }
                .into());
            }
        };
        if kind != role {
            let report = if role == CertRole::Vlek {
                SigningKey::Vlek
            } else {
                SigningKey::Vcek
            };
            return Err(SnpRejection::SigningKeyMismatch {
                report,
                certificate: kind,
            }
            .into());
        }
        let key = vek.ecdsa_key(role)?;
        Ok(Self {
            product,
            role,
            anchor_kind: anchors.kind(),
            key,
            extensions,
            vek,
            intermediate,
            intermediate_role,
            crl,
        })
    }

    /// The processor generation of the chain.
    pub fn product(&self) -> Product {
        self.product
    }

    /// Verifies one report signed by this key; see [`verify`] for the checks.
    ///
    /// # Errors
    /// As [`verify`].
    pub fn verify_report(
        &self,
        report: &Report,
        reference: &SnpReferenceValues,
        now: UnixTime,
    ) -> Result<Verified<Claims>, Error> {
        let report_role = vek_role(report.key_info.signing_key)?;
        if report_role != self.role {
            return Err(SnpRejection::SigningKeyMismatch {
                report: report.key_info.signing_key,
                certificate: self.role,
            }
            .into());
        }
        if let Some(from_report) = report.product()
            && from_report != self.product
        {
            return Err(SnpRejection::ProductMismatch {
                report: from_report,
                certificate: self.product,
            }
            .into());
        }
        let reported_tcb = report.reported_tcb.decode(self.product);
        check_vek_tcb(&self.extensions, &reported_tcb, self.role)?;
        if let Some(hw_id) = &self.extensions.hw_id {
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
        let invalid = SnpRejection::SignatureInvalid { signer: self.role };
        let signature =
            Signature::from_slice(&report.signature_be()).map_err(|_| invalid.clone())?;
        self.key
            .verify(report.signed_bytes(), &signature)
            .map_err(|_| invalid)?;

        reference.check(
            report,
            self.product,
            &reported_tcb,
            self.extensions.csp_id.as_deref(),
        )?;

        self.intermediate
            .check_validity(self.intermediate_role, now)?;
        self.vek.check_validity(self.role, now)?;
        if let Some(crl) = &self.crl {
            crl.check_freshness(now)?;
        }

        let platform = match self.anchor_kind {
            AnchorKind::Amd => Platform::Snp {
                product: self.product,
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
}

fn vek_role(signing_key: SigningKey) -> Result<CertRole, SnpRejection> {
    match signing_key {
        SigningKey::Vcek => Ok(CertRole::Vcek),
        SigningKey::Vlek => Ok(CertRole::Vlek),
        SigningKey::None | SigningKey::Reserved(_) => {
            Err(SnpRejection::UnsupportedSigningKey { signing_key })
        }
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
    extensions: &VekExtensions,
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
