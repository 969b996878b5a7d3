//! Evidence from inside a confidential guest.
//!
//! - [`ConfigfsTsm`]: the Linux configfs-tsm report interface (`/sys/kernel/config/tsm/report`,
//!   Linux 6.7+), which serves both SEV-SNP (`sev_guest`) and TDX (`tdx_guest`) with plain file
//!   I/O, so no `unsafe` ioctls are needed.
//! - [`InsecureSimulatedIssuer`]: SNP-format evidence from the simulated TEE, for local mode and
//!   tests, requested by name only.
//!
//! - [`AtlsIssuer`]: evidence for attested TLS, with real SNP reports' VCEK and chain from AMD
//!   KDS and TDX quotes' collateral from Intel PCS ([`guest_issuer`] is the production wiring).
//!
//! # What this crate does not do
//! It verifies nothing (that is `chiaro-attest`); collateral fetching is `chiaro-collateral`. It has no
//! `/dev/sev-guest` fallback: the ioctl interface needs `unsafe`, which the workspace forbids;
//! kernels without configfs-tsm (before 6.7) are not supported.
//!
//! # Security model
//! The evidence is produced by the TEE firmware; this crate only moves bytes. The report data it
//! is asked to embed is the caller's binding (e.g. to a TLS session); nothing here trusts what it
//! reads back. A concurrent writer to the same configfs entry is detected through `generation`
//! and reported as an error rather than returning someone else's report.

mod atls_issuer;
mod configfs_tsm;
mod issuer;
mod source;

pub use atls_issuer::{AtlsIssueError, AtlsIssuer, SetupError, guest_issuer};
pub use configfs_tsm::{ConfigfsTsm, DEFAULT_TSM_ROOT, Provider};
pub use issuer::{Evidence, EvidenceIssuer, InsecureSimulatedIssuer, IssueError};
pub use source::EvidenceSource;
