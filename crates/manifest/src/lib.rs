//! The Chiaro manifest: which workloads (by policy hash) get which identity, which TEE evidence
//! is acceptable, who may update the deployment and who can recover it.
//!
//! # What this crate does not do
//! No I/O and no cryptography beyond hashing: it parses and validates manifests, computes their
//! canonical hash and the hash chain of manifest transitions. Signing the history, storing it and
//! verifying evidence belong to the Coordinator and `chiaro-attest`.
//!
//! # Entry points
//! [`Manifest::parse`] validates by parsing: a `Manifest` value is always valid, and every error
//! names the field it is about. [`Manifest::hash`] is the SHA-256 of its canonical JSON.
//! [`Transition`] links a manifest hash to the previous transition.
//!
//! # Security model
//! The manifest is the user's statement of trust; the Coordinator enforces it. Validation refuses
//! what would silently weaken it: duplicate policy hashes, empty or wildcard SANs, unknown
//! platforms or fields, RSA seed-share keys under 3072 bits. The insecure simulated TEE is
//! accepted only where its root is listed under `reference_values.insecure_simulated`.

mod error;
mod hashes;
mod manifest;
mod san;
mod transition;

pub use error::ManifestError;
pub use hashes::{KeyDigest, ManifestHash, PolicyHash, TransitionHash};
pub use manifest::{
    InsecureSimulatedReference, Manifest, PolicyEntry, ReferenceValueSets, Role, SeedShareOwnerKey,
};
pub use san::San;
pub use transition::{SET_MANIFEST_CONTEXT, Transition, update_message};
