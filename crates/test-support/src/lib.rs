//! Test fixtures for Chiaro's tests. Never a dependency of production code.
//!
//! - [`cross`]: the CLI built for the other targets, the Windows one run under wine.
//! - [`fake_kds`]: a loopback HTTPS server standing in for AMD's KDS.
//! - [`oci_registry`]: a real `docker-registry` on loopback, with images the tests push.
//! - [`golden`]: golden files checked in beside the tests, rewritten with `CHIARO_BLESS=1`.
//! - [`genpolicy_cases`]: Kata's genpolicy cases and the image configurations they imply.
//! - [`prerequisite`]: what a test needs beyond the toolchain (vectors, `docker-registry`,
//!   root, schemas, the images' inputs), the marker in its name, and the check that fails it
//!   rather than skip it.
//! - [`vectors`]: the one helper that finds the third-party vectors in `../shared/testdata`.
//! - [`snp_cases`]: the real SEV-SNP reports with their certificates, times and expected outcome.
//! - [`vm`]: a qemu VM with Debian's kernel, an initramfs the test assembles, raw disks and
//!   the serial console as the channel back.
//! - [`tdx_sets`]: the real TDX quotes with their collateral, times and expected outcome.

#![expect(
    clippy::panic,
    clippy::expect_used,
    clippy::unwrap_used,
    reason = "test fixtures fail loudly on broken vectors"
)]

pub mod cross;
pub mod fake_kds;
pub mod genpolicy_cases;
pub mod golden;
pub mod oci_registry;
pub mod prerequisite;
pub mod snp_cases;
pub mod tdx_sets;
pub mod vectors;
pub mod vm;
