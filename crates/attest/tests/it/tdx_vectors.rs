//! The TDX quotes of `tdx/README.md` give the README's outcome at the README's time.

use chiaro_attest::tdx::{self, TcbStatus, TdxCollateral, TdxReferenceValues, TdxRejection};
use chiaro_attest::{Error, Platform, Rejection, TcbClaims, Unavailable};
use chiaro_test_support::tdx_sets::{TDX_SETS, TdxExpected, TdxSet};
use chiaro_test_support::vectors;
use vectors::read;

pub(crate) fn verify(
    set: &TdxSet,
    dir: &std::path::Path,
    reference: &TdxReferenceValues,
    at: &str,
) -> Result<chiaro_attest::Verified<chiaro_attest::Claims>, Error> {
    let collateral = TdxCollateral::from_json(&set.collateral_json(dir)).unwrap();
    tdx::verify(
        &set.quote_bytes(dir),
        &collateral,
        reference,
        at.parse().unwrap(),
    )
}

#[test]
fn needs_vectors_every_tdx_set_gives_its_readme_outcome() {
    let dir = vectors::dir();
    for set in &TDX_SETS {
        let result = verify(set, &dir, &TdxReferenceValues::default(), set.at);
        match set.expected {
            TdxExpected::UpToDate => {
                let claims = result.unwrap_or_else(|e| panic!("set {}: {e:?}", set.name));
                assert_eq!(claims.platform, Platform::Tdx);
                assert!(
                    matches!(
                        claims.tcb,
                        TcbClaims::Tdx {
                            status: TcbStatus::UpToDate,
                            ..
                        }
                    ),
                    "set {}",
                    set.name
                );
            }
            TdxExpected::NoMatchingTcbLevel => {
                let err = result.unwrap_err();
                match &err {
                    Error::Rejected(Rejection::Tdx(TdxRejection::CollateralRejected {
                        detail,
                    })) => {
                        assert!(
                            detail.to_lowercase().contains("tcb level"),
                            "set {}: {detail}",
                            set.name
                        );
                    }
                    other => panic!("set {}: {other:?}", set.name),
                }
            }
            TdxExpected::TrailingBytesNotZero => assert_eq!(
                result.unwrap_err().check(),
                "tdx.quote_trailing_bytes",
                "set {}",
                set.name
            ),
            TdxExpected::RootCrlMissing => assert_eq!(
                result.unwrap_err(),
                Error::Unavailable(Unavailable::CollateralMissing {
                    what: "Intel SGX Root CA CRL".to_owned()
                }),
                "set {}",
                set.name
            ),
        }
    }
}

#[test]
fn needs_vectors_set_a_claims_carry_mrtd_and_mrconfigid() {
    let dir = vectors::dir();
    let claims = verify(
        &TDX_SETS[0],
        &dir,
        &TdxReferenceValues::default(),
        TDX_SETS[0].at,
    )
    .unwrap();
    assert_eq!(
        claims.measurement.to_string(),
        "91eb2b44d141d4ece09f0c75c2c53d247a3c68edd7fafe8a3520c942a604a407de03ae6dc5f87f27428b2538873118b7"
    );
    assert!(matches!(
        claims.init_data,
        chiaro_attest::InitDataBinding::MrConfigId(_)
    ));
}

#[test]
fn needs_vectors_expired_collateral_is_unavailable_not_rejected() {
    let dir = vectors::dir();
    let err = verify(
        &TDX_SETS[0],
        &dir,
        &TdxReferenceValues::default(),
        "2026-11-26T00:00:00Z",
    )
    .unwrap_err();
    match err {
        Error::Unavailable(Unavailable::CollateralExpired {
            what, next_update, ..
        }) => {
            assert_eq!(what, "TCB info");
            assert_eq!(next_update.to_string(), "2025-07-19T10:16:03Z");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn needs_vectors_collateral_issued_after_the_verification_time_is_unavailable() {
    let dir = vectors::dir();
    let err = verify(
        &TDX_SETS[0],
        &dir,
        &TdxReferenceValues::default(),
        "2025-01-01T00:00:00Z",
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Unavailable(Unavailable::CollateralNotYetValid { .. })
        ),
        "{err:?}"
    );
}

#[test]
fn needs_vectors_sgx_quote_is_not_accepted_as_tdx() {
    let dir = vectors::dir();
    let collateral = TdxCollateral::from_json(&vectors::read_text(
        &dir,
        "tdx/dcap-qvl/sgx_quote_collateral.json",
    ))
    .unwrap();
    let err = tdx::verify(
        &read(&dir, "tdx/dcap-qvl/sgx_quote"),
        &collateral,
        &TdxReferenceValues::default(),
        "2025-07-01T00:00:00Z".parse().unwrap(),
    )
    .unwrap_err();
    assert_eq!(
        err,
        Error::Rejected(Rejection::Tdx(TdxRejection::UnsupportedVersion {
            version: 3
        }))
    );
}

#[test]
fn needs_vectors_every_tdx_quote_in_the_vectors_parses() {
    let dir = vectors::dir();
    let quotes = [
        ("tdx/dcap-qvl/tdx_quote", 4, 70),
        ("tdx/dcap-qvl/tdx_quote_outdated", 5, 0),
        ("tdx/go-tdx-guest/quote_v5_sample.dat", 5, 0),
        ("tdx/go-tdx-guest/ccel/cos-113-tdx-quote.dat", 4, 3065),
        ("tdx/go-tdx-qpl/quote", 4, 0),
        ("tdx/trustee/tdx_quote_4.dat", 4, 0),
        ("tdx/trustee/tdx_quote_5.dat", 5, 0),
        ("tdx/trustee/tdx_quote_6.dat", 4, 70),
        ("tdx/trustee/az-tdx-vtpm/td-quote.bin", 4, 70),
        ("tdx/project-oak/tdx_oc.derived-quote.bin", 4, 3065),
    ];
    for (file, version, trailing) in quotes {
        let quote =
            tdx::Quote::parse(&read(&dir, file)).unwrap_or_else(|e| panic!("{file}: {e:?}"));
        assert_eq!(
            (quote.header.version, quote.trailing_bytes),
            (version, trailing),
            "{file}"
        );
    }
}

/// go-tdx-guest's quote with the text it appended for its own tests cut off again.
fn set_e_without_appended_text(dir: &std::path::Path) -> Vec<u8> {
    let mut quote = TDX_SETS[3].quote_bytes(dir);
    let text = b"\nextra bytes(only for testing purpose)\n";
    assert!(
        quote.ends_with(text),
        "set E's quote ends with go-tdx-guest's text"
    );
    quote.truncate(quote.len() - text.len());
    quote
}

#[test]
fn needs_vectors_attack_text_appended_to_a_quote_is_rejected() {
    let dir = vectors::dir();
    let set = &TDX_SETS[3];
    let quote = set.quote_bytes(&dir);
    let genuine = set_e_without_appended_text(&dir);
    assert_eq!(
        tdx::Quote::parse(&quote).unwrap_err(),
        Error::Rejected(Rejection::Tdx(TdxRejection::TrailingBytesNotZero {
            offset: genuine.len()
        }))
    );
    // The quote itself is intact: without the text it reaches the README's outcome.
    let collateral = TdxCollateral::from_json(&set.collateral_json(&dir)).unwrap();
    let reference = TdxReferenceValues::default();
    let now = set.at.parse().unwrap();
    assert_eq!(
        tdx::verify(&quote, &collateral, &reference, now)
            .unwrap_err()
            .check(),
        "tdx.quote_trailing_bytes"
    );
    match tdx::verify(&genuine, &collateral, &reference, now) {
        Err(Error::Rejected(Rejection::Tdx(TdxRejection::CollateralRejected { detail }))) => {
            assert!(detail.to_lowercase().contains("tcb level"), "{detail}");
        }
        other => panic!("{other:?}"),
    }
}
