//! Every byte of a real SNP report matters: flips and truncations give specific errors, never a
//! panic and never a verification.

use chiaro_attest::snp::{self, CertRole, SnpTrustAnchors};
use chiaro_attest::{Error, Malformed, Rejection};
use chiaro_test_support::snp_cases::{Expected, REPORT_LEN, SNP_CASES};
use chiaro_test_support::vectors;

use crate::{snp_collateral, snp_reference};

/// The checks a flip at `offset` may trip (ABI specification Table 23 regions).
fn allowed_checks(offset: usize) -> &'static [&'static str] {
    match offset {
        0x000..0x004 => &["snp.report_version", "snp.report_signature"],
        0x034..0x038 => &["snp.signature_algorithm"],
        0x048..0x04C => &[
            "snp.signing_key",
            "snp.vek_kind",
            "snp.report_signature",
            "collateral.missing",
        ],
        0x180..0x188 => &["snp.vek_tcb", "snp.report_signature"],
        0x188..0x18B => &["snp.product_match", "snp.report_signature"],
        0x1A0..0x1E0 => &["snp.vek_chip_id", "snp.report_signature"],
        // R and S: the low 48 bytes of each 72-byte little-endian field carry the scalar.
        0x2A0..0x2D0 | 0x2E8..0x318 => &["snp.report_signature"],
        0x2A0..REPORT_LEN => &["snp.signature_encoding"],
        _ => &["snp.report_signature"],
    }
}

#[test]
fn needs_vectors_flipping_any_byte_of_any_real_report_is_refused() {
    let dir = vectors::dir();
    let anchors = SnpTrustAnchors::amd().unwrap();
    for case in SNP_CASES
        .iter()
        .filter(|case| case.expected == Expected::Valid)
    {
        let report = case.report_bytes(&dir);
        let collateral = snp_collateral(case, &dir);
        let reference = snp_reference(case);
        let now = case.at.parse().unwrap();
        let parsed = snp::Report::parse(&report).unwrap();
        let role = if parsed.key_info.signing_key == snp::SigningKey::Vlek {
            CertRole::Vlek
        } else {
            CertRole::Vcek
        };
        let chain =
            snp::VerifiedVek::verify(&collateral, &anchors, role, parsed.product()).unwrap();
        for offset in 0..REPORT_LEN {
            let mut mutated = report.clone();
            mutated[offset] ^= 0x01;
            // Flips that can change which chain applies (version, key info, CPUID) go through the
            // whole verifier; the others reuse the verified chain, which they cannot affect.
            let full_path = matches!(offset, 0x000..0x004 | 0x048..0x04C | 0x188..0x18B);
            let result = if full_path {
                snp::verify(&mutated, &collateral, &anchors, &reference, now)
            } else {
                snp::Report::parse(&mutated)
                    .and_then(|report| chain.verify_report(&report, &reference, now))
            };
            let err = result
                .err()
                .unwrap_or_else(|| panic!("row {}: flip at {offset:#x} verified", case.row));
            assert!(
                allowed_checks(offset).contains(&err.check()),
                "row {}: flip at {offset:#x} gave {} ({err:?})",
                case.row,
                err.check()
            );
        }
    }
}

#[test]
fn needs_vectors_flipping_reported_tcb_or_chip_id_names_the_vcek_mismatch() {
    let dir = vectors::dir();
    let case = SNP_CASES[0];
    let report = case.report_bytes(&dir);
    let anchors = SnpTrustAnchors::amd().unwrap();
    // Milan layout: bootloader at byte 0 of REPORTED_TCB, microcode at byte 7.
    for (offset, check) in [
        (0x180, "snp.vek_tcb"),
        (0x187, "snp.vek_tcb"),
        (0x1A0, "snp.vek_chip_id"),
        (0x1DF, "snp.vek_chip_id"),
    ] {
        let mut mutated = report.clone();
        mutated[offset] ^= 0x01;
        let err = snp::verify(
            &mutated,
            &snp_collateral(&case, &dir),
            &anchors,
            &snp_reference(&case),
            case.at.parse().unwrap(),
        )
        .unwrap_err();
        assert_eq!(err.check(), check, "flip at {offset:#x}: {err:?}");
    }
}

#[test]
fn needs_vectors_truncating_any_real_report_anywhere_is_a_truncation_error() {
    let dir = vectors::dir();
    for case in &SNP_CASES {
        let report = case.report_bytes(&dir);
        for len in 0..REPORT_LEN {
            let result = snp::Report::parse(&report[..len]);
            assert_eq!(
                result.unwrap_err(),
                Error::Rejected(Rejection::Malformed(Malformed::Length {
                    what: "snp report",
                    expected: REPORT_LEN,
                    got: len
                })),
                "row {} truncated to {len}",
                case.row
            );
            let prefix = snp::Report::parse_prefix(&report[..len]).unwrap_err();
            assert_eq!(
                prefix,
                Error::Rejected(Rejection::Malformed(Malformed::Truncated {
                    what: "snp report",
                    needed: REPORT_LEN,
                    got: len
                }))
            );
        }
    }
}

#[test]
fn needs_vectors_a_report_with_appended_bytes_is_refused_by_the_strict_parser() {
    let dir = vectors::dir();
    let mut report = SNP_CASES[0].report_bytes(&dir);
    report.push(0);
    assert_eq!(
        snp::Report::parse(&report).unwrap_err(),
        Error::Rejected(Rejection::Malformed(Malformed::Length {
            what: "snp report",
            expected: REPORT_LEN,
            got: REPORT_LEN + 1
        }))
    );
    let (_, rest) = snp::Report::parse_prefix(&report).unwrap();
    assert_eq!(rest, &[0]);
}

#[test]
fn needs_vectors_every_real_report_has_zero_signature_padding() {
    let dir = vectors::dir();
    for case in &SNP_CASES {
        snp::Report::parse(&case.report_bytes(&dir))
            .unwrap_or_else(|e| panic!("row {}: {e:?}", case.row));
    }
}
