//! Test fixtures for Chiaro's tests. Never a dependency of production code.
//!
//! - [`vectors`]: the one helper that finds the third-party vectors in `../shared/testdata`.
//! - [`snp_cases`]: the real SEV-SNP reports with their certificates, times and expected outcome.
//! - [`tdx_sets`]: the real TDX quotes with their collateral, times and expected outcome.

#![expect(
    clippy::panic,
    clippy::expect_used,
    reason = "test fixtures fail loudly on broken vectors"
)]

pub mod snp_cases;
pub mod tdx_sets;
pub mod vectors;
