//! The KDS client against a real HTTPS server on loopback that serves AMD's files from
//! `../shared/testdata` at KDS paths, with a test CA this test generates. AMD's real KDS is not
//! reachable from here; what is not covered is its rate limiting and exact response headers.

#![expect(clippy::unwrap_used, reason = "test helpers fail loudly")]

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::Duration;

use chiaro_attest::UnixTime;
use chiaro_attest::snp::{self, Product, SnpReferenceValues, SnpTrustAnchors};
use chiaro_collateral::{Cache, FetchError, Fetcher, Kds, KdsError};
use chiaro_test_support::fake_kds::{FakeKds, fake_kds, milan_and_turin_routes};
use chiaro_test_support::snp_cases::SNP_CASES;
use chiaro_test_support::vectors;

fn kds(fake: &FakeKds, cache: Option<Cache>) -> Kds {
    let fetcher = Fetcher::with_root_certificate(&fake.ca)
        .unwrap()
        .with_retries(3, Duration::from_millis(10));
    Kds::new(
        format!("https://localhost:{}", fake.address.port()),
        fetcher,
        cache,
    )
}

fn now() -> UnixTime {
    "2026-11-26T00:00:00Z".parse().unwrap()
}

fn scratch(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("chiaro-kds-{name}-{}", std::process::id()))
}

#[tokio::test]
async fn needs_vectors_fetched_collateral_verifies_milan_and_turin_reports() {
    let dir = vectors::dir();
    let fake = fake_kds(milan_and_turin_routes(&dir), 0).await;
    let client = kds(&fake, None);
    for (row, product) in [(1, Product::Milan), (8, Product::Turin)] {
        let case = SNP_CASES.iter().find(|case| case.row == row).unwrap();
        let report = snp::Report::parse(&case.report_bytes(&dir)).unwrap();
        let collateral = client.collateral(product, &report, now()).await.unwrap();
        snp::verify_report(
            &report,
            &collateral,
            &SnpTrustAnchors::amd().unwrap(),
            &SnpReferenceValues::default(),
            now(),
        )
        .unwrap_or_else(|e| panic!("row {row}: {e:?}"));
    }
}

#[tokio::test]
async fn needs_vectors_the_cache_serves_repeats_from_disk_across_clients() {
    let dir = vectors::dir();
    let fake = fake_kds(milan_and_turin_routes(&dir), 0).await;
    let cache_dir = scratch("cache");
    let _ = std::fs::remove_dir_all(&cache_dir);
    let case = SNP_CASES[0];
    let report = snp::Report::parse(&case.report_bytes(&dir)).unwrap();
    kds(&fake, Some(Cache::new(&cache_dir)))
        .collateral(Product::Milan, &report, now())
        .await
        .unwrap();
    assert_eq!(fake.requests.load(Ordering::SeqCst), 2);
    kds(&fake, Some(Cache::new(&cache_dir)))
        .collateral(Product::Milan, &report, now())
        .await
        .unwrap();
    assert_eq!(
        fake.requests.load(Ordering::SeqCst),
        2,
        "the second client used the on-disk cache"
    );
    std::fs::remove_dir_all(&cache_dir).unwrap();
}

#[tokio::test]
async fn expired_cache_entries_are_fetched_again() {
    let crl_route = ("/vcek/v1/Milan/crl".to_owned(), b"crl bytes".to_vec());
    let fake = fake_kds(vec![crl_route], 0).await;
    let cache_dir = scratch("expiry");
    let _ = std::fs::remove_dir_all(&cache_dir);
    let client = kds(&fake, Some(Cache::new(&cache_dir)));
    client.crl(Product::Milan, false, now()).await.unwrap();
    client
        .crl(
            Product::Milan,
            false,
            UnixTime::from_secs(now().as_secs() + 3600),
        )
        .await
        .unwrap();
    assert_eq!(
        fake.requests.load(Ordering::SeqCst),
        1,
        "fresh within 12 hours"
    );
    client
        .crl(
            Product::Milan,
            false,
            UnixTime::from_secs(now().as_secs() + 13 * 3600),
        )
        .await
        .unwrap();
    assert_eq!(
        fake.requests.load(Ordering::SeqCst),
        2,
        "refetched after 12 hours"
    );
    std::fs::remove_dir_all(&cache_dir).unwrap();
}

#[tokio::test]
async fn needs_vectors_transient_failures_are_retried_with_backoff() {
    let dir = vectors::dir();
    let fake = fake_kds(milan_and_turin_routes(&dir), 2).await;
    let chain = kds(&fake, None)
        .cert_chain(Product::Milan, false, now())
        .await
        .unwrap();
    assert_eq!(chain.len(), 2);
    assert_eq!(fake.requests.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn needs_vectors_a_server_that_keeps_failing_is_given_up_on() {
    let dir = vectors::dir();
    let fake = fake_kds(milan_and_turin_routes(&dir), 100).await;
    let error = kds(&fake, None)
        .cert_chain(Product::Milan, false, now())
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            KdsError::Fetch(FetchError::Status { status: 503, .. })
        ),
        "{error:?}"
    );
    assert_eq!(fake.requests.load(Ordering::SeqCst), 3, "three attempts");
}

#[tokio::test]
async fn needs_vectors_a_missing_document_is_not_retried() {
    let dir = vectors::dir();
    let fake = fake_kds(milan_and_turin_routes(&dir), 0).await;
    let error = kds(&fake, None)
        .cert_chain(Product::Genoa, false, now())
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            KdsError::Fetch(FetchError::Status { status: 404, .. })
        ),
        "{error:?}"
    );
    assert_eq!(fake.requests.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn needs_vectors_a_server_outside_the_trusted_roots_is_refused() {
    let dir = vectors::dir();
    let fake = fake_kds(milan_and_turin_routes(&dir), 0).await;
    let other = fake_kds(Vec::new(), 0).await;
    let fetcher = Fetcher::with_root_certificate(&other.ca)
        .unwrap()
        .with_retries(1, Duration::from_millis(1));
    let client = Kds::new(
        format!("https://localhost:{}", fake.address.port()),
        fetcher,
        None,
    );
    let error = client
        .cert_chain(Product::Milan, false, now())
        .await
        .unwrap_err();
    assert!(
        matches!(error, KdsError::Fetch(FetchError::Transport { .. })),
        "{error:?}"
    );
}

#[tokio::test]
async fn needs_vectors_a_masked_chip_id_has_no_vcek_url() {
    let dir = vectors::dir();
    let case = SNP_CASES.iter().find(|case| case.row == 4).unwrap();
    let report = snp::Report::parse(&case.report_bytes(&dir)).unwrap();
    let fake = fake_kds(Vec::new(), 0).await;
    assert!(matches!(
        kds(&fake, None).vcek_url(Product::Milan, &report),
        Err(KdsError::MaskedChipId)
    ));
}
