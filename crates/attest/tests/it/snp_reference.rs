//! Each SNP reference-value check trips on a real report, and matching values pass.

use chiaro_attest::snp::{
    self, AbiVersion, MinimumTcb, Product, SnpReferenceValues, SnpRejection, SnpTrustAnchors,
    TcbComponent,
};
use chiaro_attest::{ChipId, Digest48, Error, HostData, Measurement, Rejection, ReportData};
use chiaro_test_support::snp_cases::SNP_CASES;
use chiaro_test_support::vectors;

use crate::{snp_collateral, snp_reference};

/// Row 1 (Milan v2, VCEK), row 3 (Milan, ID block), row 4 (Milan VLEK, VMPL 1), row 8 (Turin).
fn verify(row: u8, reference: &SnpReferenceValues) -> Result<(), Error> {
    let dir = vectors::dir();
    let case = SNP_CASES.iter().find(|case| case.row == row).unwrap();
    snp::verify(
        &case.report_bytes(&dir),
        &snp_collateral(case, &dir),
        &SnpTrustAnchors::amd().unwrap(),
        reference,
        case.at.parse().unwrap(),
    )
    .map(|_| ())
}

fn trips(row: u8, reference: SnpReferenceValues) -> SnpRejection {
    match verify(row, &reference) {
        Err(Error::Rejected(Rejection::Snp(rejection))) => rejection,
        other => panic!("row {row}: expected an SNP rejection, got {other:?}"),
    }
}

fn report(row: u8) -> snp::Report {
    let dir = vectors::dir();
    let case = SNP_CASES.iter().find(|case| case.row == row).unwrap();
    snp::Report::parse(&case.report_bytes(&dir)).unwrap()
}

fn base(row: u8) -> SnpReferenceValues {
    snp_reference(SNP_CASES.iter().find(|case| case.row == row).unwrap())
}

#[test]
fn needs_vectors_measurement_outside_the_allowed_set_is_refused() {
    let other = Measurement::new([0x11; 48]);
    let rejection = trips(
        1,
        SnpReferenceValues {
            measurements: Some(vec![other]),
            ..base(1)
        },
    );
    assert_eq!(
        rejection,
        SnpRejection::MeasurementNotAllowed {
            actual: report(1).measurement,
            allowed: 1
        }
    );
    verify(
        1,
        &SnpReferenceValues {
            measurements: Some(vec![other, report(1).measurement]),
            ..base(1)
        },
    )
    .unwrap();
}

#[test]
fn needs_vectors_each_tcb_component_one_below_the_minimum_is_refused() {
    // Row 1: bl 3 / tee 0 / snp 8 / ucode 115.
    let exact = MinimumTcb {
        bootloader: 3,
        tee: 0,
        snp: 8,
        microcode: 115,
        fmc: None,
    };
    verify(
        1,
        &SnpReferenceValues {
            minimum_tcb: Some(exact),
            ..base(1)
        },
    )
    .unwrap();
    for (component, minimum) in [
        (
            TcbComponent::Bootloader,
            MinimumTcb {
                bootloader: 4,
                ..exact
            },
        ),
        (TcbComponent::Tee, MinimumTcb { tee: 1, ..exact }),
        (TcbComponent::Snp, MinimumTcb { snp: 9, ..exact }),
        (
            TcbComponent::Microcode,
            MinimumTcb {
                microcode: 116,
                ..exact
            },
        ),
    ] {
        let rejection = trips(
            1,
            SnpReferenceValues {
                minimum_tcb: Some(minimum),
                ..base(1)
            },
        );
        assert!(
            matches!(rejection, SnpRejection::TcbBelowMinimum { component: c, .. } if c == component),
            "{rejection:?}"
        );
    }
}

#[test]
fn needs_vectors_turin_fmc_below_the_minimum_is_refused() {
    // Row 8: fmc 0 / bl 1 / tee 0 / snp 2 / ucode 71.
    let minimum = MinimumTcb {
        bootloader: 1,
        tee: 0,
        snp: 2,
        microcode: 71,
        fmc: Some(1),
    };
    assert_eq!(
        trips(
            8,
            SnpReferenceValues {
                minimum_tcb: Some(minimum),
                ..base(8)
            }
        ),
        SnpRejection::TcbBelowMinimum {
            component: TcbComponent::Fmc,
            actual: 0,
            minimum: 1
        }
    );
    verify(
        8,
        &SnpReferenceValues {
            minimum_tcb: Some(MinimumTcb {
                fmc: Some(0),
                ..minimum
            }),
            ..base(8)
        },
    )
    .unwrap();
}

#[test]
fn needs_vectors_a_debug_policy_is_refused_unless_explicitly_allowed() {
    assert_eq!(
        trips(2, SnpReferenceValues::default()),
        SnpRejection::DebugAllowed { policy: 0xB_0000 }
    );
    verify(
        2,
        &SnpReferenceValues {
            allow_debug: true,
            ..Default::default()
        },
    )
    .unwrap();
}

#[test]
fn needs_vectors_an_smt_policy_is_refused_when_smt_is_not_allowed() {
    assert_eq!(
        trips(
            1,
            SnpReferenceValues {
                allow_smt: false,
                ..base(1)
            }
        ),
        SnpRejection::SmtNotAllowed { policy: 0x3_0000 }
    );
}

#[test]
fn needs_vectors_firmware_below_the_minimum_abi_is_refused() {
    let current = report(1).current_version;
    let above = AbiVersion {
        major: current.major,
        minor: current.minor + 1,
    };
    assert!(matches!(
        trips(
            1,
            SnpReferenceValues {
                minimum_abi: Some(above),
                ..base(1)
            }
        ),
        SnpRejection::AbiBelowMinimum { .. }
    ));
    verify(
        1,
        &SnpReferenceValues {
            minimum_abi: Some(AbiVersion {
                major: current.major,
                minor: current.minor,
            }),
            ..base(1)
        },
    )
    .unwrap();
}

#[test]
fn needs_vectors_a_report_from_another_vmpl_is_refused() {
    assert_eq!(
        trips(4, SnpReferenceValues::default()),
        SnpRejection::VmplNotAllowed {
            actual: 1,
            allowed: vec![0]
        }
    );
}

#[test]
fn needs_vectors_host_data_and_report_data_must_match() {
    let actual = report(1);
    let host_data = HostData::new([0x22; 32]);
    assert_eq!(
        trips(
            1,
            SnpReferenceValues {
                host_data: Some(host_data),
                ..base(1)
            }
        ),
        SnpRejection::HostDataMismatch {
            actual: actual.host_data,
            expected: host_data
        }
    );
    let report_data = ReportData::new([0x33; 64]);
    assert_eq!(
        trips(
            1,
            SnpReferenceValues {
                report_data: Some(report_data),
                ..base(1)
            }
        ),
        SnpRejection::ReportDataMismatch {
            actual: actual.report_data,
            expected: report_data
        }
    );
    verify(
        1,
        &SnpReferenceValues {
            host_data: Some(actual.host_data),
            report_data: Some(actual.report_data),
            ..base(1)
        },
    )
    .unwrap();
}

#[test]
fn needs_vectors_id_and_author_key_digests_must_be_allowed() {
    let actual = report(3);
    let other = Digest48::new([0x44; 48]);
    assert_eq!(
        trips(
            3,
            SnpReferenceValues {
                id_key_digests: Some(vec![other]),
                ..base(3)
            }
        ),
        SnpRejection::IdKeyDigestNotAllowed {
            actual: actual.id_key_digest
        }
    );
    assert_eq!(
        trips(
            3,
            SnpReferenceValues {
                author_key_digests: Some(vec![other]),
                ..base(3)
            }
        ),
        SnpRejection::AuthorKeyDigestNotAllowed {
            actual: actual.author_key_digest
        }
    );
    verify(
        3,
        &SnpReferenceValues {
            id_key_digests: Some(vec![actual.id_key_digest]),
            author_key_digests: Some(vec![actual.author_key_digest]),
            ..base(3)
        },
    )
    .unwrap();
}

#[test]
fn needs_vectors_chips_and_products_must_be_on_their_allow_lists() {
    let actual = report(1);
    assert_eq!(
        trips(
            1,
            SnpReferenceValues {
                chip_ids: Some(vec![ChipId::new([0x55; 64])]),
                ..base(1)
            }
        ),
        SnpRejection::ChipIdNotAllowed {
            actual: actual.chip_id
        }
    );
    assert_eq!(
        trips(
            1,
            SnpReferenceValues {
                products: Some(vec![Product::Genoa, Product::Turin]),
                ..base(1)
            }
        ),
        SnpRejection::ProductNotAllowed {
            actual: Product::Milan,
            allowed: vec![Product::Genoa, Product::Turin]
        }
    );
    verify(
        1,
        &SnpReferenceValues {
            chip_ids: Some(vec![actual.chip_id]),
            products: Some(vec![Product::Milan]),
            ..base(1)
        },
    )
    .unwrap();
}

#[test]
fn needs_vectors_vlek_cloud_provider_must_be_allowed() {
    assert_eq!(
        trips(
            4,
            SnpReferenceValues {
                vlek_csp_ids: Some(vec!["other-cloud".to_owned()]),
                ..base(4)
            }
        ),
        SnpRejection::CspNotAllowed {
            actual: "CN=cc-us-east-2.amazonaws.com".to_owned(),
            allowed: vec!["other-cloud".to_owned()]
        }
    );
    verify(
        4,
        &SnpReferenceValues {
            vlek_csp_ids: Some(vec!["CN=cc-us-east-2.amazonaws.com".to_owned()]),
            ..base(4)
        },
    )
    .unwrap();
}

#[test]
fn reference_json_with_unknown_fields_is_refused() {
    let err = serde_json::from_str::<SnpReferenceValues>(r#"{"measurement": []}"#).unwrap_err();
    assert!(err.to_string().contains("measurement"), "{err}");
    let parsed: SnpReferenceValues = serde_json::from_str(r#"{"allowed_vmpls": [0, 1]}"#).unwrap();
    assert!(!parsed.allow_debug);
}
