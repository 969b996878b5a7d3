//! Verification of confidential-computing evidence: AMD SEV-SNP attestation reports and Intel
//! TDX quotes, against the vendors' roots and the user's reference values.
//!
//! # What this crate does not do
//! It does no I/O: it never fetches collateral (AMD KDS, Intel PCS), never reads files and never
//! reads the clock. Callers pass the evidence, the collateral and the verification time `now`.
//! It does not obtain evidence inside a guest (that is `chiaro-attest-guest`).
//!
//! # Entry points
//! - [`snp::verify`] with [`snp::SnpTrustAnchors::amd`], [`snp::SnpCollateral`] and
//!   [`snp::SnpReferenceValues`];
//! - [`tdx::verify`] with [`tdx::TdxCollateral`] and [`tdx::TdxReferenceValues`];
//! - [`insecure_simulation::InsecureSimulatedTee`] for local mode and tests.
//!
//! Both verifiers return a [`Verified<Claims>`], which nothing outside this crate can construct,
//! or an [`Error`] that says whether the evidence was *rejected* or could not be checked
//! (*unavailable*), and which check failed.
//!
//! ```
//! use chiaro_attest::insecure_simulation::{InsecureSimulatedTee, SimulatedLaunch};
//! use chiaro_attest::{Platform, ReportData, UnixTime, snp};
//!
//! let now: UnixTime = "2026-11-26T00:00:00Z".parse()?;
//! let tee = InsecureSimulatedTee::generate(now)?;
//! let report = tee.report(&SimulatedLaunch::default(), &ReportData::new([7; 64]))?;
//! let claims = snp::verify(&report, &tee.collateral(), &tee.trust_anchors()?, &Default::default(), now)?;
//! assert_eq!(claims.platform, Platform::InsecureSimulated);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Security model
//! - **Trusted**: AMD's ARKs and ASKs for Milan, Genoa and Turin, embedded and pinned by SHA-256;
//!   Intel's SGX Root CA (through `dcap-qvl`); the reference values; `now`.
//! - **Untrusted**: every byte of evidence and collateral: reports, quotes, VCEKs, VLEKs, ASVKs,
//!   offered roots, CRLs, TCB info, QE identities. Parsers are bounds-checked and never panic.
//! - **Checks**: see the `# Security` sections of [`snp::verify`] and [`tdx::verify`] for the
//!   exact order. Rejections take precedence over unavailability.
//! - **A `Verified<Claims>` proves**: genuine AMD SEV-SNP or Intel TDX hardware at an accepted
//!   TCB, running a guest whose measurement, launch configuration (`HOST_DATA` / `MRCONFIGID`)
//!   and report data are those in the claims and satisfy the reference values. Claims with
//!   [`Platform::InsecureSimulated`] prove only that whoever holds the simulated keys signed them.
//! - **Fail closed**: debug guests, migration agents, migratable TDs, TD attributes without a
//!   known harmless meaning, bound service TDs, VMPLs other than 0 and TDX TCB statuses other
//!   than `UpToDate` are refused unless the reference values explicitly allow them.

#![deny(clippy::indexing_slicing, clippy::panic_in_result_fn)]

mod error;
mod fields;
pub mod insecure_simulation;
pub mod snp;
pub mod tdx;
mod time;
mod validity;
mod verified;

pub use error::{Error, Malformed, Rejection, Unavailable};
pub use fields::{
    ChipId, Digest48, FieldParseError, Fingerprint, HostData, Measurement, ReportData,
};
pub use time::{TimeParseError, UnixTime};
pub use verified::{Claims, InitDataBinding, Platform, TcbClaims, Verified};
