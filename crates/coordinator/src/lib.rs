//! The Chiaro Coordinator: it holds the deployment's secret seed, derives every secret from it,
//! keeps the manifest history, and issues mesh certificates to attested workloads.
//!
//! This crate holds, so far, the Coordinator's core: the [`seed`] and what it derives, the
//! certificate authorities in [`ca`], and the persisted [`history`] in a [`store`] directory.
//! The gRPC services and the binary come with the rest of the trust-core issue.
//!
//! # What this crate does not do (yet)
//! No network: nothing here serves anything.
//!
//! # Security model
//! Every secret is derived from one 32-byte seed (HKDF-SHA256, one label per use), so the
//! persisted state can be public and a restarted Coordinator that gets the seed back (from a
//! seed-share owner) has all its keys again. The seed leaves the Coordinator only encrypted
//! (RSA-OAEP-SHA256) to the manifest's seed-share owner keys. Secret types redact `Debug` and
//! zeroize on drop.

pub mod app;
pub mod ca;
pub mod history;
pub mod http;
pub mod metrics;
pub mod seed;
pub mod service;
pub mod state;
pub mod store;
