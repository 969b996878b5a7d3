//! The Chiaro Coordinator: it holds the deployment's secret seed, derives every secret from it,
//! keeps the manifest history, and issues mesh certificates to attested workloads.
//!
//! Its core: the [`seed`] and what it derives, the certificate authorities in [`ca`], the
//! persisted [`history`] in a [`store`] directory, and the [`state`] machine (manifest
//! transitions, recovery, certificate issuance). Its shell: the gRPC [`service`]s over attested
//! TLS, the plain-HTTP status and [`metrics`] endpoints ([`http`]), and [`app`], which the
//! `chiaro-coordinator` binary runs.
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
