//! The PCS/PCCS client against a loopback HTTPS server answering like Intel PCS (issuer chains
//! in URL-encoded headers) with the documents of the README's TDX set A: what it assembles is
//! exactly set A's collateral, and the quote verifies with it.

#![expect(clippy::unwrap_used, reason = "test helpers fail loudly")]

use std::sync::atomic::Ordering;
use std::time::Duration;

use chiaro_attest::tdx::{self, TdxCollateral, TdxReferenceValues};
use chiaro_collateral::{Cache, Fetcher, Pcs, PcsError};
use chiaro_test_support::fake_kds::{FakeKds, Route, fake_https};
use chiaro_test_support::tdx_sets::TDX_SETS;
use chiaro_test_support::vectors;

fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (byte as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// PCS responses carrying set A's collateral; `with_headers` false drops the issuer chains.
fn routes(collateral: &TdxCollateral, with_headers: bool) -> Vec<Route> {
    let header = |name: &str, chain: &str| {
        if with_headers {
            vec![(name.to_owned(), percent_encode(chain))]
        } else {
            Vec::new()
        }
    };
    vec![
        Route {
            path: "/tdx/certification/v4/tcb?fmspc=b0c06f000000".to_owned(),
            headers: header("TCB-Info-Issuer-Chain", &collateral.tcb_info_issuer_chain),
            body: format!(
                "{{\"tcbInfo\":{},\"signature\":\"{}\"}}",
                collateral.tcb_info,
                hex::encode(&collateral.tcb_info_signature)
            )
            .into_bytes(),
        },
        Route {
            path: "/tdx/certification/v4/qe/identity".to_owned(),
            headers: header(
                "SGX-Enclave-Identity-Issuer-Chain",
                &collateral.qe_identity_issuer_chain,
            ),
            body: format!(
                "{{\"enclaveIdentity\":{},\"signature\":\"{}\"}}",
                collateral.qe_identity,
                hex::encode(&collateral.qe_identity_signature)
            )
            .into_bytes(),
        },
        Route {
            path: "/sgx/certification/v4/pckcrl?ca=platform&encoding=der".to_owned(),
            headers: header("SGX-PCK-CRL-Issuer-Chain", &collateral.pck_crl_issuer_chain),
            body: collateral.pck_crl.clone(),
        },
        // PCCS serves the root CA CRL hex-encoded.
        Route {
            path: "/sgx/certification/v4/rootcacrl".to_owned(),
            headers: Vec::new(),
            body: hex::encode(&collateral.root_ca_crl).into_bytes(),
        },
    ]
}

fn pcs(fake: &FakeKds, cache: Option<Cache>) -> Pcs {
    let base = format!("https://localhost:{}", fake.address.port());
    let fetcher = Fetcher::with_root_certificate(&fake.ca)
        .unwrap()
        .with_retries(2, Duration::from_millis(5));
    Pcs::new(
        base.clone(),
        format!("{base}/sgx/certification/v4/rootcacrl"),
        fetcher,
        cache,
    )
}

#[tokio::test]
async fn needs_vectors_fetched_collateral_is_set_a_and_the_quote_verifies() {
    let dir = vectors::dir();
    let set = &TDX_SETS[0];
    let expected = TdxCollateral::from_json(&set.collateral_json(&dir)).unwrap();
    let fake = fake_https(routes(&expected, true), 0).await;
    let at = set.at.parse().unwrap();
    let quote = set.quote_bytes(&dir);
    let fetched = pcs(&fake, None).collateral(&quote, at).await.unwrap();
    assert_eq!(fetched, expected);
    let claims = tdx::verify(&quote, &fetched, &TdxReferenceValues::default(), at).unwrap();
    assert_eq!(claims.platform, chiaro_attest::Platform::Tdx);
}

#[tokio::test]
async fn needs_vectors_collateral_is_cached_until_its_next_update() {
    let dir = vectors::dir();
    let set = &TDX_SETS[0];
    let expected = TdxCollateral::from_json(&set.collateral_json(&dir)).unwrap();
    let fake = fake_https(routes(&expected, true), 0).await;
    let cache_dir = std::env::temp_dir().join(format!("chiaro-pcs-cache-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&cache_dir);
    let quote = set.quote_bytes(&dir);
    let at: chiaro_attest::UnixTime = set.at.parse().unwrap();
    pcs(&fake, Some(Cache::new(&cache_dir)))
        .collateral(&quote, at)
        .await
        .unwrap();
    assert_eq!(fake.requests.load(Ordering::SeqCst), 4);
    pcs(&fake, Some(Cache::new(&cache_dir)))
        .collateral(&quote, at)
        .await
        .unwrap();
    assert_eq!(
        fake.requests.load(Ordering::SeqCst),
        4,
        "served from the cache"
    );
    // After the TCB info's nextUpdate (2025-07-19T10:16:03Z) it is fetched again.
    let later = "2025-07-20T00:00:00Z".parse().unwrap();
    pcs(&fake, Some(Cache::new(&cache_dir)))
        .collateral(&quote, later)
        .await
        .unwrap();
    assert_eq!(fake.requests.load(Ordering::SeqCst), 8);
    std::fs::remove_dir_all(&cache_dir).unwrap();
}

#[tokio::test]
async fn needs_vectors_a_response_without_its_issuer_chain_is_malformed() {
    let dir = vectors::dir();
    let set = &TDX_SETS[0];
    let expected = TdxCollateral::from_json(&set.collateral_json(&dir)).unwrap();
    let fake = fake_https(routes(&expected, false), 0).await;
    let error = pcs(&fake, None)
        .collateral(&set.quote_bytes(&dir), set.at.parse().unwrap())
        .await
        .unwrap_err();
    assert!(
        matches!(error, PcsError::Malformed { ref detail, .. } if detail.contains("Issuer-Chain")),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_quote_that_does_not_parse_is_refused_before_fetching() {
    let fake = fake_https(Vec::new(), 0).await;
    let error = pcs(&fake, None)
        .collateral(b"not a quote", "2025-07-19T00:00:00Z".parse().unwrap())
        .await
        .unwrap_err();
    assert!(matches!(error, PcsError::Quote(_)), "{error:?}");
    assert_eq!(fake.requests.load(Ordering::SeqCst), 0);
}
