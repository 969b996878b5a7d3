//! Integration tests of `chiaro-attest` on real vectors and the simulated TEE.

#![expect(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers fail loudly on broken vectors"
)]

mod simulated;
mod snp_mutations;
mod snp_reference;
mod snp_vectors;
mod tdx_mutations;
mod tdx_reference;
mod tdx_vectors;

use chiaro_attest::snp::{SnpCollateral, SnpReferenceValues};
use chiaro_test_support::snp_cases::SnpCase;
use std::path::Path;

/// The collateral of an SNP case, sorted by role.
fn snp_collateral(case: &SnpCase, dir: &Path) -> SnpCollateral {
    SnpCollateral::from_certificates(case.certificates(dir)).unwrap()
}

/// Verifies an SNP case at its time, under AMD's roots, with its own reference values.
fn verify_case(
    case: &SnpCase,
    dir: &Path,
    collateral: &SnpCollateral,
) -> Result<chiaro_attest::Verified<chiaro_attest::Claims>, chiaro_attest::Error> {
    let anchors = chiaro_attest::snp::SnpTrustAnchors::amd().unwrap();
    chiaro_attest::snp::verify(
        &case.report_bytes(dir),
        collateral,
        &anchors,
        &snp_reference(case),
        case.at.parse().unwrap(),
    )
}

/// Reference values that accept what the case's report legitimately has (VMPL, debug).
fn snp_reference(case: &SnpCase) -> SnpReferenceValues {
    SnpReferenceValues {
        allow_debug: case.debug,
        allowed_vmpls: vec![case.vmpl],
        ..Default::default()
    }
}
