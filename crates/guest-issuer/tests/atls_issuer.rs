//! Real SNP evidence gets its VCEK and chain from KDS before it goes out over attested TLS.
//! The TEE is stood in for by a fixed real report (no SNP guest here) and KDS by a loopback
//! HTTPS server (`chiaro_test_support::fake_kds`).

#![expect(clippy::unwrap_used, reason = "test helpers fail loudly")]

use std::sync::Arc;
use std::time::Duration;

use chiaro_atls::{EvidenceBundle, Issuer};
use chiaro_attest::snp::{self, Product, SnpCollateral, SnpReferenceValues, SnpTrustAnchors};
use chiaro_attest::{ReportData, UnixTime};
use chiaro_attest_guest::{Evidence, EvidenceIssuer, IssueError};
use chiaro_collateral::{Fetcher, Kds};
use chiaro_guest_issuer::{AtlsIssueError, AtlsIssuer};
use chiaro_test_support::fake_kds::{fake_kds, milan_and_turin_routes};
use chiaro_test_support::snp_cases::SNP_CASES;
use chiaro_test_support::vectors;

/// Returns one recorded Milan report (version 2: no CPUID) whatever the report data.
struct RecordedTee(Vec<u8>);

impl EvidenceIssuer for RecordedTee {
    fn evidence(&self, _report_data: &ReportData) -> Result<Evidence, IssueError> {
        Ok(Evidence::Snp {
            report: self.0.clone(),
            certificate_table: None,
        })
    }
}

/// Returns one recorded TDX quote whatever the report data.
struct RecordedTd(Vec<u8>);

impl EvidenceIssuer for RecordedTd {
    fn evidence(&self, _report_data: &ReportData) -> Result<Evidence, IssueError> {
        Ok(Evidence::Tdx {
            quote: self.0.clone(),
        })
    }
}

fn now() -> UnixTime {
    "2026-11-26T00:00:00Z".parse().unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn needs_vectors_snp_evidence_carries_the_vcek_from_kds() {
    let dir = vectors::dir();
    let report = SNP_CASES[0].report_bytes(&dir);
    let fake = fake_kds(milan_and_turin_routes(&dir), 0).await;
    let kds = Kds::new(
        format!("https://localhost:{}", fake.address.port()),
        Fetcher::with_root_certificate(&fake.ca)
            .unwrap()
            .with_retries(2, Duration::from_millis(5)),
        None,
    );
    let issuer = Arc::new(AtlsIssuer::new(RecordedTee(report.clone())).with_kds(
        kds,
        Some(Product::Milan),
        Arc::new(now),
    ));
    let bundle = tokio::task::spawn_blocking(move || issuer.issue(&ReportData::new([0; 64])))
        .await
        .unwrap()
        .unwrap();
    let EvidenceBundle::Snp {
        report: sent,
        certificates,
    } = bundle
    else {
        panic!("not SNP")
    };
    assert_eq!(sent, report);
    let collateral = SnpCollateral::from_certificates(certificates).unwrap();
    snp::verify(
        &sent,
        &collateral,
        &SnpTrustAnchors::amd().unwrap(),
        &SnpReferenceValues::default(),
        now(),
    )
    .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn needs_vectors_without_a_product_or_kds_snp_evidence_is_refused_with_a_reason() {
    let dir = vectors::dir();
    let report = SNP_CASES[0].report_bytes(&dir);
    let fake = fake_kds(milan_and_turin_routes(&dir), 0).await;
    let kds = Kds::new(
        format!("https://localhost:{}", fake.address.port()),
        Fetcher::with_root_certificate(&fake.ca).unwrap(),
        None,
    );
    let no_product =
        Arc::new(AtlsIssuer::new(RecordedTee(report.clone())).with_kds(kds, None, Arc::new(now)));
    let error = tokio::task::spawn_blocking(move || no_product.issue(&ReportData::new([0; 64])))
        .await
        .unwrap()
        .unwrap_err();
    assert!(
        matches!(cause(&error), Some(AtlsIssueError::NoProduct)),
        "{error:?}"
    );
    let no_kds = AtlsIssuer::new(RecordedTee(report));
    let error = no_kds.issue(&ReportData::new([0; 64])).unwrap_err();
    assert!(
        matches!(cause(&error), Some(AtlsIssueError::NoKds)),
        "{error:?}"
    );
}

/// The guest issuer's own error behind the attested-TLS port's.
fn cause(error: &chiaro_atls::IssueError) -> Option<&AtlsIssueError> {
    match error {
        chiaro_atls::IssueError::Source(source) => source.downcast_ref(),
        chiaro_atls::IssueError::Busy { .. } => None,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn needs_vectors_tdx_evidence_carries_intel_collateral_from_pcs() {
    let dir = vectors::dir();
    let set = &chiaro_test_support::tdx_sets::TDX_SETS[0];
    let expected =
        chiaro_attest::tdx::TdxCollateral::from_json(&set.collateral_json(&dir)).unwrap();
    let encode = |text: &str| -> String {
        text.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect()
    };
    let routes = vec![
        chiaro_test_support::fake_kds::Route {
            path: "/tdx/certification/v4/tcb?fmspc=b0c06f000000".to_owned(),
            headers: vec![(
                "TCB-Info-Issuer-Chain".to_owned(),
                encode(&expected.tcb_info_issuer_chain),
            )],
            body: format!(
                "{{\"tcbInfo\":{},\"signature\":\"{}\"}}",
                expected.tcb_info,
                hex::encode(&expected.tcb_info_signature)
            )
            .into_bytes(),
        },
        chiaro_test_support::fake_kds::Route {
            path: "/tdx/certification/v4/qe/identity".to_owned(),
            headers: vec![(
                "SGX-Enclave-Identity-Issuer-Chain".to_owned(),
                encode(&expected.qe_identity_issuer_chain),
            )],
            body: format!(
                "{{\"enclaveIdentity\":{},\"signature\":\"{}\"}}",
                expected.qe_identity,
                hex::encode(&expected.qe_identity_signature)
            )
            .into_bytes(),
        },
        chiaro_test_support::fake_kds::Route {
            path: "/sgx/certification/v4/pckcrl?ca=platform&encoding=der".to_owned(),
            headers: vec![(
                "SGX-PCK-CRL-Issuer-Chain".to_owned(),
                encode(&expected.pck_crl_issuer_chain),
            )],
            body: expected.pck_crl.clone(),
        },
        chiaro_test_support::fake_kds::Route {
            path: "/root.crl".to_owned(),
            headers: Vec::new(),
            body: expected.root_ca_crl.clone(),
        },
    ];
    let fake = chiaro_test_support::fake_kds::fake_https(routes, 0).await;
    let base = format!("https://localhost:{}", fake.address.port());
    let pcs = chiaro_collateral::Pcs::new(
        base.clone(),
        format!("{base}/root.crl"),
        Fetcher::with_root_certificate(&fake.ca).unwrap(),
        None,
    );
    let at: UnixTime = set.at.parse().unwrap();
    let quote = set.quote_bytes(&dir);
    let issuer =
        Arc::new(AtlsIssuer::new(RecordedTd(quote.clone())).with_pcs(pcs, Arc::new(move || at)));
    let bundle = tokio::task::spawn_blocking(move || issuer.issue(&ReportData::new([0; 64])))
        .await
        .unwrap()
        .unwrap();
    let EvidenceBundle::Tdx {
        quote: sent,
        collateral,
    } = bundle
    else {
        panic!("not TDX")
    };
    let collateral = chiaro_attest::tdx::TdxCollateral::from_json(&collateral).unwrap();
    chiaro_attest::tdx::verify(
        &sent,
        &collateral,
        &chiaro_attest::tdx::TdxReferenceValues::default(),
        at,
    )
    .unwrap();
}
