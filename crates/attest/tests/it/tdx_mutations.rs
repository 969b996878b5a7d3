//! Every byte of a real TDX quote matters: flips and truncations give specific errors, never a
//! panic, and each reference-value check trips on a real quote.

use chiaro_attest::snp::pem_certificates;
use chiaro_attest::tdx::{self, TcbStatus, TdxCollateral, TdxReferenceValues, TdxRejection};
use chiaro_attest::{Digest48, Error, Malformed, Measurement, Rejection, ReportData};
use chiaro_test_support::tdx_sets::TDX_SETS;
use chiaro_test_support::vectors;
use vectors::read;

use crate::tdx_vectors::verify;

/// Offsets in set A's v4 quote (Intel quote format, appendix A).
const HEADER_END: usize = 48;
const BODY_END: usize = 48 + 584;
const SIGNATURE_DATA_START: usize = BODY_END + 4;

#[test]
fn needs_vectors_flipping_any_byte_of_a_real_quote_is_refused_with_a_specific_error() {
    let dir = vectors::dir();
    let set = &TDX_SETS[0];
    let quote = set.quote_bytes(&dir);
    let collateral = TdxCollateral::from_json(&set.collateral_json(&dir)).unwrap();
    let now = set.at.parse().unwrap();
    let reference = TdxReferenceValues::default();
    let signature_data_end = quote.len() - 70;
    let chain = tdx::Quote::parse(&quote).unwrap().pck_chain_pem;
    let chain_start = quote.windows(11).position(|w| w == b"-----BEGIN ").unwrap();
    let chain_end = chain_start + chain.len();
    let chain_der = pem_certificates(&chain).unwrap();
    for offset in 0..quote.len() {
        let mut mutated = quote.clone();
        mutated[offset] ^= 0x01;
        let Err(err) = tdx::verify(&mutated, &collateral, &reference, now) else {
            {
                // The PCK chain travels as PEM text, which nothing signs. A flip may verify only if
                // the leaf and intermediate decode as before (a whitespace byte for another, or a
                // broken copy of the root, which is pinned and never taken from the quote). The
                // chain field ends with its NUL terminator, where the signature data ends.
                let text = String::from_utf8_lossy(&mutated[chain_start..chain_end]).into_owned();
                assert!(
                    (chain_start..signature_data_end).contains(&offset),
                    "flip at {offset:#x} verified"
                );
                let decoded = pem_certificates(&text).unwrap_or_default();
                assert!(
                    decoded.len() >= 2 && decoded[..2] == chain_der[..2],
                    "flip at {offset:#x} changed the PCK leaf or CA and verified"
                );
                continue;
            }
        };
        let check = err.check();
        let allowed: &[&str] = match offset {
            0..2 => &["tdx.quote_version", "tdx.body_type"],
            2..4 => &["tdx.attestation_key_type"],
            4..8 => &["tdx.tee_type"],
            12..28 => &["tdx.qe_vendor"],
            0..HEADER_END | HEADER_END..BODY_END => &["tdx.quote_signature"],
            BODY_END..SIGNATURE_DATA_START => &["format.length", "format.field"],
            // The 70 bytes of padding: nothing signs them, so only zeros are accepted.
            _ if offset >= signature_data_end => &["tdx.quote_trailing_bytes"],
            _ => &[
                "tdx.quote_signature",
                "tdx.attestation_key_binding",
                "tdx.qe_report_signature",
                "tdx.pck_chain_format",
                "tdx.certification_data",
                "tdx.collateral_verification",
                "format.length",
                "format.field",
            ],
        };
        assert!(
            allowed.contains(&check),
            "flip at {offset:#x}: {check} ({err:?})"
        );
    }
}

#[test]
fn needs_vectors_truncating_a_real_quote_anywhere_is_a_truncation_error() {
    let dir = vectors::dir();
    let quote = read(&dir, TDX_SETS[0].quote);
    let end = quote.len() - 70;
    for len in 0..end {
        match tdx::Quote::parse(&quote[..len]) {
            Err(Error::Rejected(Rejection::Malformed(Malformed::Truncated { .. }))) => {}
            other => panic!("truncated to {len}: {other:?}"),
        }
    }
    assert!(
        tdx::Quote::parse(&quote[..end]).is_ok(),
        "the quote without its padding parses"
    );
}

#[test]
fn needs_vectors_attack_flipped_trailing_byte_is_rejected() {
    let dir = vectors::dir();
    let set = &TDX_SETS[0];
    let quote = set.quote_bytes(&dir);
    let padding = tdx::Quote::parse(&quote).unwrap().trailing_bytes;
    assert_eq!(
        padding, 70,
        "set A's quote carries 70 zero bytes of padding"
    );
    verify(set, &dir, &TdxReferenceValues::default(), set.at)
        .expect("the real quote with its zero padding verifies");
    for offset in [quote.len() - padding, quote.len() - 1] {
        let mut mutated = quote.clone();
        mutated[offset] ^= 0x01;
        let collateral = TdxCollateral::from_json(&set.collateral_json(&dir)).unwrap();
        let err = tdx::verify(
            &mutated,
            &collateral,
            &TdxReferenceValues::default(),
            set.at.parse().unwrap(),
        )
        .unwrap_err();
        assert_eq!(
            err,
            Error::Rejected(Rejection::Tdx(TdxRejection::TrailingBytesNotZero {
                offset
            })),
            "flip at {offset}"
        );
    }
}

#[test]
fn needs_vectors_attack_bytes_hidden_after_the_pck_chain_terminator_are_rejected() {
    let dir = vectors::dir();
    let quote = TDX_SETS[0].quote_bytes(&dir);
    // Set A's chain field ends "-----END CERTIFICATE-----\n\0", right before the padding.
    let field_end = quote.len() - 70;
    assert_eq!(&quote[field_end - 2..field_end], b"\n\0");
    let mut terminated_early = quote;
    terminated_early[field_end - 2] = 0;
    tdx::Quote::parse(&terminated_early).expect("zeros after the terminator are padding");
    let mut hidden = terminated_early;
    hidden[field_end - 1] = b'x';
    assert!(matches!(
        tdx::Quote::parse(&hidden),
        Err(Error::Rejected(Rejection::Malformed(Malformed::Invalid {
            what: "pck certificate chain",
            ..
        })))
    ));
}

#[test]
fn needs_vectors_v5_header_and_body_flips_break_the_quote_signature() {
    let dir = vectors::dir();
    let set = &TDX_SETS[1];
    let quote = set.quote_bytes(&dir);
    let collateral = TdxCollateral::from_json(&set.collateral_json(&dir)).unwrap();
    let now = set.at.parse().unwrap();
    for offset in (28..48).chain(54..54 + 648) {
        let mut mutated = quote.clone();
        mutated[offset] ^= 0x80;
        let err =
            tdx::verify(&mutated, &collateral, &TdxReferenceValues::default(), now).unwrap_err();
        assert_eq!(
            err,
            Error::Rejected(Rejection::Tdx(TdxRejection::QuoteSignatureInvalid)),
            "flip at {offset:#x}"
        );
    }
}

fn trips(reference: TdxReferenceValues) -> TdxRejection {
    let dir = vectors::dir();
    match verify(&TDX_SETS[0], &dir, &reference, TDX_SETS[0].at) {
        Err(Error::Rejected(Rejection::Tdx(rejection))) => rejection,
        other => panic!("expected a TDX rejection, got {other:?}"),
    }
}

#[test]
fn needs_vectors_each_tdx_reference_value_trips_on_a_real_quote() {
    let other48 = Measurement::new([0xAB; 48]);
    let digest = Digest48::new([0xCD; 48]);
    assert!(matches!(
        trips(TdxReferenceValues {
            mrtd: Some(vec![other48]),
            ..Default::default()
        }),
        TdxRejection::MrTdNotAllowed { allowed: 1, .. }
    ));
    assert!(matches!(
        trips(TdxReferenceValues {
            rtmrs: Some([None, None, Some(other48), None]),
            ..Default::default()
        }),
        TdxRejection::RtmrMismatch { index: 2, .. }
    ));
    assert!(matches!(
        trips(TdxReferenceValues {
            mr_config_id: Some(digest),
            ..Default::default()
        }),
        TdxRejection::MrConfigIdMismatch { .. }
    ));
    assert!(matches!(
        trips(TdxReferenceValues {
            mr_owner: Some(digest),
            ..Default::default()
        }),
        TdxRejection::MrOwnerMismatch { .. }
    ));
    assert!(matches!(
        trips(TdxReferenceValues {
            mr_owner_config: Some(digest),
            ..Default::default()
        }),
        TdxRejection::MrOwnerConfigMismatch { .. }
    ));
    // TEE_TCB_SVN of set A is 06 01 03 00…: one above byte 0 trips.
    let mut minimum = [0u8; 16];
    minimum[0] = 7;
    assert_eq!(
        trips(TdxReferenceValues {
            minimum_tee_tcb_svn: Some(minimum),
            ..Default::default()
        }),
        TdxRejection::TeeTcbSvnBelowMinimum {
            index: 0,
            actual: 6,
            minimum: 7
        }
    );
    assert!(matches!(
        trips(TdxReferenceValues {
            xfam: Some([0xFF; 8]),
            ..Default::default()
        }),
        TdxRejection::XfamMismatch { .. }
    ));
    assert!(matches!(
        trips(TdxReferenceValues {
            report_data: Some(ReportData::new([0; 64])),
            ..Default::default()
        }),
        TdxRejection::ReportDataMismatch { .. }
    ));
    assert_eq!(
        trips(TdxReferenceValues {
            allowed_tcb_statuses: vec![TcbStatus::OutOfDate],
            ..Default::default()
        }),
        TdxRejection::TcbStatusNotAllowed {
            status: TcbStatus::UpToDate,
            allowed: vec![TcbStatus::OutOfDate]
        }
    );
}

#[test]
fn needs_vectors_matching_tdx_reference_values_are_accepted() {
    let dir = vectors::dir();
    let quote = tdx::Quote::parse(&TDX_SETS[0].quote_bytes(&dir)).unwrap();
    let body = &quote.body;
    let reference = TdxReferenceValues {
        mrtd: Some(vec![body.mr_td]),
        rtmrs: Some(body.rtmrs.map(Some)),
        mr_config_id: Some(body.mr_config_id),
        mr_owner: Some(body.mr_owner),
        mr_owner_config: Some(body.mr_owner_config),
        minimum_tee_tcb_svn: Some(body.tee_tcb_svn),
        xfam: Some(body.xfam),
        report_data: Some(body.report_data),
        allowed_td_attributes: body.attributes(),
        minimum_tcb_evaluation_data_number: Some(17),
        ..Default::default()
    };
    verify(&TDX_SETS[0], &dir, &reference, TDX_SETS[0].at).unwrap();
}

#[test]
fn needs_vectors_a_debuggable_td_is_refused_unless_allowed() {
    let dir = vectors::dir();
    let quote = read(&dir, "tdx/trustee/tdx_quote_4.dat");
    let collateral = TdxCollateral::from_json(&TDX_SETS[0].collateral_json(&dir)).unwrap();
    let now = TDX_SETS[0].at.parse().unwrap();
    let err = tdx::verify(&quote, &collateral, &TdxReferenceValues::default(), now).unwrap_err();
    assert_eq!(
        err,
        Error::Rejected(Rejection::Tdx(TdxRejection::DebugEnabled {
            td_attributes: "0100001000000000".to_owned()
        }))
    );
    let allowed = TdxReferenceValues {
        allow_debug: true,
        ..Default::default()
    };
    let err = tdx::verify(&quote, &collateral, &allowed, now).unwrap_err();
    assert_ne!(
        err.check(),
        "tdx.reference.debug",
        "with debug allowed, the next check decides: {err:?}"
    );
}
