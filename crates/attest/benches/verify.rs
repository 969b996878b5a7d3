//! Verification time per piece of evidence (`cargo bench -p chiaro-attest`).
//!
//! Prints the median and spread of repeated runs for: an SNP report with the VCEK chain verified
//! each time and with the chain already verified ([`VerifiedVek`]), the simulated TEE, and a
//! TDX quote with its collateral. Needs `../shared/testdata` (or `CHIARO_TESTDATA`).

use std::hint::black_box;
use std::time::{Duration, Instant};

use chiaro_attest::ReportData;
use chiaro_attest::insecure_simulation::{InsecureSimulatedTee, SimulatedLaunch};
use chiaro_attest::snp::{
    self, CertRole, SnpCollateral, SnpReferenceValues, SnpTrustAnchors, VerifiedVek,
};
use chiaro_attest::tdx::{self, TdxCollateral, TdxReferenceValues};
use chiaro_test_support::snp_cases::SNP_CASES;
use chiaro_test_support::tdx_sets::TDX_SETS;

fn measure(name: &str, iterations: u32, mut run: impl FnMut()) {
    run();
    let mut samples: Vec<Duration> = (0..iterations)
        .map(|_| {
            let start = Instant::now();
            run();
            start.elapsed()
        })
        .collect();
    samples.sort();
    let median = samples[samples.len() / 2];
    let p10 = samples[samples.len() / 10];
    let p90 = samples[samples.len() * 9 / 10];
    #[expect(clippy::print_stdout, reason = "a benchmark prints its numbers")]
    {
        println!(
            "{name:<58} median {median:>10.1?}  p10 {p10:>10.1?}  p90 {p90:>10.1?}  (n={iterations})"
        );
    }
}

#[expect(clippy::unwrap_used, reason = "a benchmark stops on broken inputs")]
fn main() {
    let dir = chiaro_test_support::vectors::dir();
    let anchors = SnpTrustAnchors::amd().unwrap();
    measure(
        "SNP: parse the pinned AMD roots (once per process)",
        20,
        || {
            black_box(SnpTrustAnchors::amd().unwrap());
        },
    );

    let case = SNP_CASES[0];
    let report = case.report_bytes(&dir);
    let collateral = SnpCollateral::from_certificates(case.certificates(&dir)).unwrap();
    let reference = SnpReferenceValues::default();
    let now = case.at.parse().unwrap();
    measure(
        "SNP Milan report, VCEK chain verified each time",
        200,
        || {
            black_box(snp::verify(&report, &collateral, &anchors, &reference, now).unwrap());
        },
    );
    let parsed = snp::Report::parse(&report).unwrap();
    let vek = VerifiedVek::verify(&collateral, &anchors, CertRole::Vcek, parsed.product()).unwrap();
    measure("SNP Milan report, VCEK chain already verified", 500, || {
        let parsed = snp::Report::parse(&report).unwrap();
        black_box(vek.verify_report(&parsed, &reference, now).unwrap());
    });

    let tee = InsecureSimulatedTee::generate(now).unwrap();
    let simulated_anchors = tee.trust_anchors().unwrap();
    let simulated_collateral = tee.collateral();
    let simulated = tee
        .report(&SimulatedLaunch::default(), &ReportData::new([0; 64]))
        .unwrap();
    measure("simulated TEE: sign one report", 200, || {
        black_box(
            tee.report(&SimulatedLaunch::default(), &ReportData::new([1; 64]))
                .unwrap(),
        );
    });
    measure(
        "simulated TEE report, chain verified each time",
        200,
        || {
            black_box(
                snp::verify(
                    &simulated,
                    &simulated_collateral,
                    &simulated_anchors,
                    &reference,
                    now,
                )
                .unwrap(),
            );
        },
    );

    let set = &TDX_SETS[0];
    let quote = set.quote_bytes(&dir);
    let tdx_collateral = TdxCollateral::from_json(&set.collateral_json(&dir)).unwrap();
    let tdx_now = set.at.parse().unwrap();
    let tdx_reference = TdxReferenceValues::default();
    measure(
        "TDX v4 quote with collateral (PCK chain, CRLs, TCB info)",
        200,
        || {
            black_box(tdx::verify(&quote, &tdx_collateral, &tdx_reference, tdx_now).unwrap());
        },
    );
    let collateral_json = set.collateral_json(&dir);
    measure(
        "TDX v4 quote, collateral JSON parsed each time",
        200,
        || {
            let collateral = TdxCollateral::from_json(&collateral_json).unwrap();
            black_box(tdx::verify(&quote, &collateral, &tdx_reference, tdx_now).unwrap());
        },
    );
}
