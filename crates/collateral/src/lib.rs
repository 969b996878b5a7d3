//! Collateral for SEV-SNP evidence from AMD's Key Distribution Service: the VCEK for a chip and
//! TCB, the ASK/ASVK + ARK chain, and the CRL — fetched over HTTPS on demand, cached on disk,
//! retried with backoff.
//!
//! # What this crate does not do
//! It trusts nothing it fetches: every certificate is checked by `chiaro-attest` against the
//! pinned AMD roots, so KDS, a mirror, the cache directory and the network may all be hostile.
//! It does not fetch Intel PCS/PCCS collateral yet.
//!
//! # Security model
//! A wrong or forged response can only make verification fail (rejected or unavailable), never
//! pass. The cache is keyed by the SHA-256 of the URL; entries for documents that change (CRLs)
//! expire, certificates do not.

mod cache;
mod fetch;
mod kds;

pub use cache::Cache;
pub use fetch::{FetchError, Fetcher};
pub use kds::{AMD_KDS, Kds, KdsError};
