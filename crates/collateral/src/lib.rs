//! Collateral fetched over HTTPS on demand, cached on disk, retried with backoff: for SEV-SNP
//! from AMD's Key Distribution Service ([`Kds`]: the VCEK for a chip and TCB, the ASK/ASVK + ARK
//! chain, the CRL), for TDX from Intel PCS or a PCCS ([`Pcs`]: TCB info, QE identity, their
//! issuer chains, the PCK and root CA CRLs).
//!
//! # What this crate does not do
//! It trusts nothing it fetches: every certificate is checked by `chiaro-attest` against the
//! pinned AMD roots, so KDS, a mirror, the cache directory and the network may all be hostile.
//!
//! # Security model
//! A wrong or forged response can only make verification fail (rejected or unavailable), never
//! pass. The cache is keyed by the SHA-256 of the URL; entries for documents that change (CRLs)
//! expire, certificates do not.

// Panic-free parsing: KDS and PCS responses (signed JSON bodies, URL-encoded issuer-chain
// headers, DER or hex CRLs) and cache files may all be hostile.
#![deny(
    clippy::indexing_slicing,
    clippy::panic_in_result_fn,
    clippy::arithmetic_side_effects
)]

mod cache;
mod fetch;
mod kds;
mod pcs;

pub use cache::Cache;
pub use fetch::{FetchError, Fetcher, Response};
pub use kds::{AMD_KDS, Kds, KdsError};
pub use pcs::{INTEL_PCS, INTEL_ROOT_CA_CRL, Pcs, PcsError};
