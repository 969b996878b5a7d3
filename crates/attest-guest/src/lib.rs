//! Evidence from inside a confidential guest.
//!
//! - [`ConfigfsTsm`]: the Linux configfs-tsm report interface (`/sys/kernel/config/tsm/report`,
//!   Linux 6.7+), which serves both SEV-SNP (`sev_guest`) and TDX (`tdx_guest`) with plain file
//!   I/O, so no `unsafe` ioctls are needed.
//! - [`InsecureSimulatedIssuer`]: SNP-format evidence from the simulated TEE, for local mode and
//!   tests, requested by name only.
//!
//! # What this crate does not do
//! It verifies nothing (that is `chiaro-attest`); it fetches no collateral and speaks no TLS:
//! `chiaro-guest-issuer` joins this crate's evidence with `chiaro-collateral`'s collateral for
//! attested TLS, so this one stays plain file I/O (`chiaro-attest` and `thiserror` only). It has no
//! `/dev/sev-guest` fallback: the ioctl interface needs `unsafe`, which the workspace forbids;
//! kernels without configfs-tsm (before 6.7) are not supported.
//!
//! # Security model
//! The evidence is produced by the TEE firmware; this crate only moves bytes. The report data it
//! is asked to embed is the caller's binding (e.g. to a TLS session); nothing here trusts what it
//! reads back. A concurrent writer to the same configfs entry is detected through `generation`
//! and reported as an error rather than returning someone else's report.

// Panic-free parsing: what it reads back from configfs-tsm (generation, provider, the report or
// quote) is not trusted here.
#![deny(
    clippy::indexing_slicing,
    clippy::panic_in_result_fn,
    clippy::arithmetic_side_effects
)]

mod configfs_tsm;
mod issuer;

pub use configfs_tsm::{ConfigfsTsm, DEFAULT_TSM_ROOT, Provider};
pub use issuer::{Evidence, EvidenceIssuer, InsecureSimulatedIssuer, IssueError};
