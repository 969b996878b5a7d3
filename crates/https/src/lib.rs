//! The one HTTP/1.1 GET client behind Chiaro's fetchers: the OCI registry client
//! (`chiaro-registry`) and the AMD KDS / Intel PCS collateral fetchers (`chiaro-collateral`).
//! One TLS stack (rustls with the workspace's one crypto provider, ring: a second provider in
//! the process makes rustls panic), one retry and timeout policy ([`RetryPolicy`]), one typed
//! error ([`HttpError`]).
//!
//! What it does for every GET: plain HTTP only to hosts listed as such, redirects followed (at
//! most [`Client::with_redirects`], `Authorization` dropped when the host changes), every
//! attempt bounded by the policy's timeout, connection failures, timeouts, 5xx and 429 retried
//! with doubling backoff, bodies bounded by the caller's limit.

// Panic-free parsing: responses (status, headers, redirects, bodies) come from registries,
// AMD KDS and Intel PCS over a network that may be hostile.
#![deny(
    clippy::indexing_slicing,
    clippy::panic_in_result_fn,
    clippy::arithmetic_side_effects
)]

mod client;
mod error;
mod policy;
mod response;
mod url;

pub use client::{Client, system_roots};
pub use error::HttpError;
pub use policy::RetryPolicy;
pub use response::Response;
pub use url::Url;
