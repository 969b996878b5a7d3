//! Every SNP vector of `sev-snp/README.md` gives the README's outcome at the README's time.

use chiaro_attest::snp::{self, CertRole, Product, SigningKey, SnpRejection, SnpTrustAnchors};
use chiaro_attest::{Error, Platform, Rejection, Unavailable, UnixTime};
use chiaro_test_support::snp_cases::{Expected, SNP_CASES};
use chiaro_test_support::vectors;

use crate::{snp_collateral, snp_reference, verify_case};

#[test]
fn needs_vectors_every_snp_vector_gives_its_readme_outcome() {
    let dir = vectors::dir();
    let anchors = SnpTrustAnchors::amd().unwrap();
    for case in SNP_CASES {
        let now: UnixTime = case.at.parse().unwrap();
        let result = snp::verify(
            &case.report_bytes(&dir),
            &snp_collateral(&case, &dir),
            &anchors,
            &snp_reference(&case),
            now,
        );
        match case.expected {
            Expected::Valid => {
                let claims =
                    result.unwrap_or_else(|e| panic!("row {} ({}): {e:?}", case.row, case.report));
                assert!(
                    matches!(claims.platform, Platform::Snp { .. }),
                    "row {}",
                    case.row
                );
            }
            Expected::SignatureInvalid => assert_eq!(
                result.unwrap_err(),
                Error::Rejected(Rejection::Snp(SnpRejection::SignatureInvalid {
                    signer: CertRole::Vlek
                })),
                "row {}",
                case.row
            ),
            Expected::OtherChip => {
                let err = result.unwrap_err();
                assert!(
                    matches!(
                        err,
                        Error::Rejected(Rejection::Snp(SnpRejection::ChipIdMismatch { .. }))
                    ),
                    "row {}: {err:?}",
                    case.row
                );
            }
        }
    }
}

#[test]
fn needs_vectors_turin_report_decodes_fmc_and_eight_byte_hw_id() {
    let dir = vectors::dir();
    let case = SNP_CASES[7];
    let claims = snp::verify(
        &case.report_bytes(&dir),
        &snp_collateral(&case, &dir),
        &SnpTrustAnchors::amd().unwrap(),
        &snp_reference(&case),
        case.at.parse().unwrap(),
    )
    .unwrap();
    assert_eq!(
        claims.platform,
        Platform::Snp {
            product: Product::Turin,
            signing_key: SigningKey::Vcek
        }
    );
    assert_eq!(
        claims.tcb,
        chiaro_attest::TcbClaims::Snp(snp::TcbVersion {
            fmc: Some(0),
            bootloader: 1,
            tee: 0,
            snp: 2,
            microcode: 71
        })
    );
    assert_eq!(
        &claims.chip_id.unwrap().as_bytes()[..8],
        &hex::decode("3b42092f69c656d3").unwrap()[..]
    );
}

#[test]
fn needs_vectors_vlek_report_is_unavailable_once_the_vlek_expired() {
    let dir = vectors::dir();
    let case = SNP_CASES[3];
    let now: UnixTime = "2026-11-26T00:00:00Z".parse().unwrap();
    let err = snp::verify(
        &case.report_bytes(&dir),
        &snp_collateral(&case, &dir),
        &SnpTrustAnchors::amd().unwrap(),
        &snp_reference(&case),
        now,
    )
    .unwrap_err();
    match err {
        Error::Unavailable(Unavailable::CertificateExpired { not_after, .. }) => {
            assert_eq!(not_after.to_string(), "2025-12-10T22:14:21Z");
        }
        other => panic!("expected an expired VLEK, got {other:?}"),
    }
}

#[test]
fn needs_vectors_missing_vcek_is_unavailable_not_rejected() {
    let dir = vectors::dir();
    let case = SNP_CASES[0];
    let err = verify_case(&case, &dir, &Default::default()).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Unavailable(Unavailable::CollateralMissing { .. })
        ),
        "{err:?}"
    );
}

#[test]
fn needs_vectors_vlek_report_with_an_ask_instead_of_an_asvk_is_refused() {
    let dir = vectors::dir();
    let case = SNP_CASES[3];
    let mut collateral = snp_collateral(&case, &dir);
    collateral.intermediates.retain(|der| {
        !snp::AmdCertificate::from_der(der, CertRole::Asvk)
            .unwrap()
            .subject_common_name()
            .starts_with("SEV-VLEK")
    });
    let err = verify_case(&case, &dir, &collateral).unwrap_err();
    assert_eq!(
        err,
        Error::Rejected(Rejection::Snp(SnpRejection::WrongIntermediate {
            expected: CertRole::Asvk,
            subject: "SEV-Milan".to_owned()
        }))
    );
}

#[test]
fn needs_vectors_vlek_report_without_any_asvk_is_unavailable() {
    let dir = vectors::dir();
    let case = SNP_CASES[3];
    let mut collateral = snp_collateral(&case, &dir);
    collateral.intermediates.clear();
    let err = verify_case(&case, &dir, &collateral).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Unavailable(Unavailable::CollateralMissing { .. })
        ),
        "{err:?}"
    );
}

#[test]
fn needs_vectors_vek_signed_by_another_generation_breaks_the_chain() {
    let dir = vectors::dir();
    let case = SNP_CASES[0];
    let mut collateral = snp_collateral(&case, &dir);
    let genoa = chiaro_test_support::snp_cases::der_or_pem(&vectors::read(
        &dir,
        "sev-snp/virtee-sev/builtin/genoa/ask.pem",
    ));
    collateral.intermediates = genoa;
    collateral.roots.clear();
    let err = verify_case(&case, &dir, &collateral).unwrap_err();
    assert_eq!(
        err,
        Error::Rejected(Rejection::Snp(SnpRejection::ChainBroken {
            role: CertRole::Ask,
            issuer: CertRole::Ark
        }))
    );
}

#[test]
fn needs_vectors_an_offered_root_other_than_the_pinned_one_is_refused() {
    let dir = vectors::dir();
    let case = SNP_CASES[0];
    let mut collateral = snp_collateral(&case, &dir);
    collateral.roots = chiaro_test_support::snp_cases::der_or_pem(&vectors::read(
        &dir,
        "sev-snp/virtee-sev/builtin/genoa/ark.pem",
    ));
    let err = verify_case(&case, &dir, &collateral).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Rejected(Rejection::Snp(SnpRejection::UntrustedRoot {
                product: Product::Milan,
                ..
            }))
        ),
        "{err:?}"
    );
}

#[test]
fn needs_vectors_synthetic_vceks_with_bad_signatures_break_the_chain() {
    let dir = vectors::dir();
    let case = SNP_CASES[2];
    for vek in [
        "sev-snp/trustee/snp/test-vcek-invalid-legacy.der",
        "sev-snp/trustee/snp/test-vcek-invalid-new.der",
    ] {
        let mut collateral = snp_collateral(&case, &dir);
        collateral.vek = Some(vectors::read(&dir, vek));
        let err = verify_case(&case, &dir, &collateral).unwrap_err();
        assert_eq!(
            err,
            Error::Rejected(Rejection::Snp(SnpRejection::ChainBroken {
                role: CertRole::Vcek,
                issuer: CertRole::Ask
            })),
            "{vek}"
        );
    }
}

#[test]
fn needs_vectors_synthetic_vcek_hw_id_decodes_in_both_encodings() {
    let dir = vectors::dir();
    let expected: Vec<u8> = (0..64).collect();
    for vek in [
        "sev-snp/trustee/snp/test-vcek-invalid-legacy.der",
        "sev-snp/trustee/snp/test-vcek-invalid-new.der",
    ] {
        let cert =
            snp::AmdCertificate::from_der(&vectors::read(&dir, vek), CertRole::Vcek).unwrap();
        assert_eq!(
            cert.vek_extensions(CertRole::Vcek).unwrap().hw_id.unwrap(),
            expected,
            "{vek}"
        );
    }
}
