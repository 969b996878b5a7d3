//! The Chiaro initializer: the init container of every workload pod.
//!
//! It creates the pod's mesh key, attests to the Coordinator over mutually attested TLS (its
//! evidence binds the session whose client key is the mesh key, and it checks the
//! Coordinator's evidence as the CLI does), asks for a mesh certificate, and writes under its
//! output directory (`chiaro_pod::CredentialsDir`, `/chiaro` in a pod): `tls/mesh-ca.pem`,
//! `tls/coordinator-root-ca.pem`, `tls/cert.pem`, `tls/key.pem` (mode 0600) and
//! `secrets/workload-secret-seed` (hex, mode 0600), then, last, `bin/chiaro-start` (0755). While
//! the Coordinator is not ready it retries with backoff; a refusal ends it with a non-zero exit.
//! Its environment (`CHIARO_COORDINATOR`, `CHIARO_DEPLOYMENT_ANCHOR`) is `chiaro_pod::env`.
//!
//! # What this crate does not do
//! It does not decide which workload it is: the TEE's evidence (its policy hash) does.

// Panic-free parsing: the Coordinator's answer (certificates, mesh CA, seed) and the
// deployment anchor from the pod's environment, which the host writes.
#![deny(
    clippy::indexing_slicing,
    clippy::panic_in_result_fn,
    clippy::arithmetic_side_effects
)]

pub mod app;
pub mod files;
