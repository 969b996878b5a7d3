//! The Chiaro Coordinator: it holds the deployment's secret seed, derives every secret from it,
//! keeps the manifest history, and issues mesh certificates to attested workloads.
//!
//! - The core: the [`seed`] and what it derives, the certificate authorities in [`ca`], the
//!   persisted [`history`] behind the storage port [`store::Store`] (the state directory,
//!   [`store::DirStore`], is the embedded default backend), and the state machine in [`state`].
//! - The shell: the gRPC [`service`]s (each operation run off the async runtime), the
//!   [`audit`] log of every transition, recovery, refused attestation and issued certificate,
//!   the status port ([`http`], [`metrics`]; ready only while [`evidence_check`] can produce
//!   evidence), and [`app::run`], which serves listeners its caller bound
//!   (the binary binds its flags' addresses; tests bind port 0) and, when asked, reports
//!   their bound addresses in a ready file (`chiaro_api::ready`, which its launchers read).
//!
//! # What this crate does not do
//! It does not bind its own listeners, read the clock outside [`app::system_clock`], or trust
//! its store: everything read back is re-hashed and verified.
//!
//! # Security model
//! Every secret is derived from one 32-byte seed (HKDF-SHA256, one label per use), so the
//! persisted state can be public and a restarted Coordinator that gets the seed back (from a
//! seed-share owner) has all its keys again. The seed leaves the Coordinator only encrypted
//! (RSA-OAEP-SHA256) to the manifest's seed-share owner keys. Secret types redact `Debug` and
//! zeroize on drop.

// Panic-free parsing: requests come from attested but untrusted users and workloads (manifests,
// recovery, certificate requests), status-port requests from anyone, and the persisted state
// from an untrusted store.
#![deny(
    clippy::indexing_slicing,
    clippy::panic_in_result_fn,
    clippy::arithmetic_side_effects
)]

pub mod app;
pub mod audit;
pub mod ca;
pub mod evidence_check;
pub mod history;
pub mod http;
pub mod metrics;
pub mod seed;
pub mod service;
pub mod state;
pub mod store;
