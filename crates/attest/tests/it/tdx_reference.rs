//! The TDX reference values added for the kind of TD (attributes, service TD) and the age of
//! Intel's collateral, on real quotes.

use chiaro_attest::tdx::{self, TdAttributes, TdxCollateral, TdxReferenceValues, TdxRejection};
use chiaro_attest::{Digest48, Error, Rejection};
use chiaro_test_support::tdx_sets::TDX_SETS;
use chiaro_test_support::vectors;
use vectors::read;

use crate::tdx_vectors::verify;

/// trustee's `tdx_quote_5.dat`: a genuine v5 quote of a TD bound to a service TD, from the same
/// platform model (FMSPC 90C06F000000) as set B, whose collateral it is checked with.
const SERVICE_TD_QUOTE: &str = "tdx/trustee/tdx_quote_5.dat";

fn verify_with_set_b(
    dir: &std::path::Path,
    quote: &[u8],
    reference: &TdxReferenceValues,
) -> Result<chiaro_attest::Verified<chiaro_attest::Claims>, Error> {
    let set = &TDX_SETS[1];
    let collateral = TdxCollateral::from_json(&set.collateral_json(dir)).unwrap();
    tdx::verify(quote, &collateral, reference, set.at.parse().unwrap())
}

fn rejection(
    result: Result<chiaro_attest::Verified<chiaro_attest::Claims>, Error>,
) -> TdxRejection {
    match result {
        Err(Error::Rejected(Rejection::Tdx(rejection))) => rejection,
        other => panic!("expected a TDX rejection, got {other:?}"),
    }
}

#[test]
fn needs_vectors_allowed_td_attributes_trip_on_a_real_quote() {
    let dir = vectors::dir();
    let set = &TDX_SETS[0];
    let nothing = TdxReferenceValues {
        allowed_td_attributes: TdAttributes::NONE,
        ..Default::default()
    };
    assert_eq!(
        rejection(verify(set, &dir, &nothing, set.at)),
        TdxRejection::TdAttributesNotAllowed {
            td_attributes: TdAttributes::SEPT_VE_DISABLE,
            refused: TdAttributes::SEPT_VE_DISABLE,
        }
    );
    let exactly = TdxReferenceValues {
        allowed_td_attributes: TdAttributes::SEPT_VE_DISABLE,
        ..Default::default()
    };
    verify(set, &dir, &exactly, set.at).expect("the quote's own attributes are allowed");
}

#[test]
fn needs_vectors_a_real_debuggable_td_needs_allow_debug_and_its_other_attributes() {
    let dir = vectors::dir();
    let quote = read(&dir, "tdx/trustee/tdx_quote_4.dat");
    let collateral = TdxCollateral::from_json(&TDX_SETS[0].collateral_json(&dir)).unwrap();
    let now = TDX_SETS[0].at.parse().unwrap();
    let debug_only = TdxReferenceValues {
        allow_debug: true,
        allowed_td_attributes: TdAttributes::NONE,
        ..Default::default()
    };
    assert_eq!(
        rejection(tdx::verify(&quote, &collateral, &debug_only, now)),
        TdxRejection::TdAttributesNotAllowed {
            td_attributes: TdAttributes::DEBUG.union(TdAttributes::SEPT_VE_DISABLE),
            refused: TdAttributes::SEPT_VE_DISABLE,
        }
    );
}

#[test]
fn needs_vectors_attack_service_td_the_reference_does_not_pin_is_rejected() {
    let dir = vectors::dir();
    let quote = read(&dir, SERVICE_TD_QUOTE);
    let bound = tdx::Quote::parse(&quote)
        .unwrap()
        .body
        .mr_service_td
        .expect("a TD 1.5 body");
    assert_ne!(bound, Digest48::new([0; 48]), "a service TD is bound");
    assert_eq!(
        rejection(verify_with_set_b(
            &dir,
            &quote,
            &TdxReferenceValues::default()
        )),
        TdxRejection::ServiceTdNotAllowed { actual: bound }
    );
    let other = Digest48::new([0xCD; 48]);
    let pinned_other = TdxReferenceValues {
        mr_service_td: Some(other),
        ..Default::default()
    };
    assert_eq!(
        rejection(verify_with_set_b(&dir, &quote, &pinned_other)),
        TdxRejection::MrServiceTdMismatch {
            actual: bound,
            expected: other
        }
    );
    let pinned = TdxReferenceValues {
        mr_service_td: Some(bound),
        ..Default::default()
    };
    // The next check is the TCB match, which this platform fails under set B's collateral.
    // dcap-qvl checks the service TD only after that match, so no vector in the test data shows
    // it accepting the pinned service TD.
    let err = verify_with_set_b(&dir, &quote, &pinned).unwrap_err();
    assert_ne!(
        err.check(),
        "tdx.reference.mrservicetd",
        "with the service TD pinned, the next check decides: {err:?}"
    );
}

#[test]
fn needs_vectors_an_mr_service_td_pin_that_mismatches_a_real_quote_is_rejected() {
    let dir = vectors::dir();
    let set = &TDX_SETS[1];
    let zero = Digest48::new([0; 48]);
    let expected = Digest48::new([0xCD; 48]);
    let pin = TdxReferenceValues {
        mr_service_td: Some(expected),
        ..Default::default()
    };
    assert_eq!(
        rejection(verify(set, &dir, &pin, set.at)),
        TdxRejection::MrServiceTdMismatch {
            actual: zero,
            expected
        }
    );
    let matching = TdxReferenceValues {
        mr_service_td: Some(zero),
        ..Default::default()
    };
    assert_eq!(
        verify(set, &dir, &matching, set.at).unwrap_err().check(),
        "tdx.collateral_verification",
        "with the pin matching, set B reaches its README outcome (no matching TCB level)"
    );
}

#[test]
fn needs_vectors_an_mr_service_td_pin_refuses_a_td_1_0_quote() {
    let dir = vectors::dir();
    let set = &TDX_SETS[0];
    let pin = TdxReferenceValues {
        mr_service_td: Some(Digest48::new([0; 48])),
        ..Default::default()
    };
    assert_eq!(
        rejection(verify(set, &dir, &pin, set.at)),
        TdxRejection::MrServiceTdMissing
    );
}

#[test]
fn needs_vectors_attack_replayed_older_tcb_info_is_rejected() {
    // Set A's TCB info and QE identity are evaluation 17. A verifier that learnt of a TCB
    // recovery (evaluation 18) must refuse them although Intel signed them and they are still
    // inside their validity window: the host would otherwise keep presenting the collateral
    // under which its unpatched platform was still UpToDate.
    let dir = vectors::dir();
    let set = &TDX_SETS[0];
    let minimum = |number| TdxReferenceValues {
        minimum_tcb_evaluation_data_number: Some(number),
        ..Default::default()
    };
    let err = verify(set, &dir, &minimum(18), set.at).unwrap_err();
    assert_eq!(
        err,
        Error::Rejected(Rejection::Tdx(
            TdxRejection::TcbEvaluationDataNumberBelowMinimum {
                what: "TCB info",
                actual: 17,
                minimum: 18
            }
        ))
    );
    assert_eq!(err.kind(), "rejected");
    verify(set, &dir, &minimum(17), set.at).expect("collateral at the minimum verifies");
}
