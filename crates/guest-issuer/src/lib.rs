//! A guest process's attested-TLS issuer: this guest's evidence (from `chiaro-attest-guest`)
//! with the collateral its verifier needs attached, and the evidence source the Coordinator and
//! the initializer select from their flags.
//!
//! - [`AtlsIssuer`]: evidence for attested TLS, with real SNP reports' VCEK and chain from AMD
//!   KDS and TDX quotes' collateral from Intel PCS ([`guest_issuer`] is the production wiring).
//! - [`EvidenceSource`]: configfs-tsm with that collateral, or the insecure simulated TEE.
//!
//! # What this crate does not do
//! It verifies nothing (`chiaro-attest` does, at the peer) and trusts nothing it fetches: the
//! sender of evidence fetches its collateral and sends it along, and the verifier checks it
//! against its pinned roots. It reads no clock: the binary passes a [`chiaro_atls::Clock`].

// Panic-free parsing: the TEE's report (parsed for the KDS request) and the collateral that KDS
// and PCS answer with.
#![deny(
    clippy::indexing_slicing,
    clippy::panic_in_result_fn,
    clippy::arithmetic_side_effects
)]

mod atls_issuer;
mod source;

pub use atls_issuer::{AtlsIssueError, AtlsIssuer, guest_issuer};
pub use source::{EvidenceSource, SetupError, flags};
