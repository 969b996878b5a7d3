//! The one HTTP/1.1 client behind Chiaro's fetchers and its one pusher: the OCI registry client
//! (`chiaro-registry`: pulls, and pushes for `chiaro-release`) and the AMD KDS / Intel PCS
//! collateral fetchers (`chiaro-collateral`).
//! One TLS stack (rustls with the workspace's one crypto provider, ring: a second provider in
//! the process makes rustls panic), one retry and timeout policy ([`RetryPolicy`]), one typed
//! error ([`HttpError`]).
//!
//! What it does for every request: plain HTTP only to hosts listed as such, every attempt
//! bounded by the policy's timeout, response bodies bounded by the caller's limit. For reads
//! (GET, HEAD): redirects followed (at most [`Client::with_redirects`], `Authorization` dropped
//! when the host changes). For idempotent methods (GET, HEAD, PUT): connection failures,
//! timeouts, 5xx and 429 retried with doubling backoff. A POST is sent again only when the
//! connection failed, so before it was sent: the server may have acted on one that failed later
//! ([`Method`]).

// Panic-free parsing: responses (status, headers, redirects, bodies) come from registries,
// AMD KDS and Intel PCS over a network that may be hostile.
#![deny(
    clippy::indexing_slicing,
    clippy::panic_in_result_fn,
    clippy::arithmetic_side_effects
)]

mod client;
mod error;
mod method;
mod policy;
mod response;
mod roots;
mod url;

pub use client::{Client, system_roots};
pub use error::HttpError;
pub use method::Method;
pub use policy::RetryPolicy;
pub use response::Response;
pub use url::Url;
