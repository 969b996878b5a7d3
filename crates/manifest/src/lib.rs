//! The Chiaro manifest: which workloads (by policy hash) get which identity, which TEE evidence
//! is acceptable, who may update the deployment and who can recover it.
//!
//! # What this crate does not do
//! No I/O, no secrets, no signing: it parses and validates manifests, computes their canonical
//! hash and the hash chain of transitions, and *verifies* the owner-signed history of a
//! deployment. Storing the history, signing it and verifying evidence belong to the
//! Coordinator, the CLI and `chiaro-attest`.
//!
//! # Entry points
//! [`Manifest::parse`] validates by parsing: a `Manifest` value is always valid, and every error
//! names the field it is about. [`ManifestDraft`] is the schema as written, complete or not:
//! the one writer of `manifest.json` (generate, local mode), which `Manifest::parse` reads
//! through. [`Manifest::hash`] is the SHA-256 of its canonical JSON.
//! [`Transition`] links a manifest hash to the previous transition. [`verify_history`] and
//! [`verify_endorsement`] check a deployment's owner-signed history ([`DeploymentId`],
//! [`OwnerSignature`]). [`CoordinatorReference`] and [`DeploymentAnchor`] are what a client and
//! a pod pin before trusting a Coordinator.
//!
//! # Security model
//! The manifest is the user's statement of trust; the Coordinator enforces it. Validation refuses
//! what would silently weaken it: duplicate policy hashes, empty or wildcard SANs, a SAN two
//! entries share (compared as certificate names are, [`San::identity`]: either holder could
//! answer for the other), unknown platforms or fields, RSA seed-share keys under 3072 bits. The insecure simulated TEE is
//! accepted only where its root is listed under `reference_values.insecure_simulated`.

// Panic-free parsing: manifests and transitions come from users (SetManifest) and from the
// Coordinator's untrusted store; their keys, hashes and SANs are parsed here.
#![deny(
    clippy::indexing_slicing,
    clippy::panic_in_result_fn,
    clippy::arithmetic_side_effects
)]

mod anchor;
mod draft;
mod error;
mod hashes;
mod manifest;
mod signed_history;
mod transition;

pub use anchor::{CoordinatorReference, DeploymentAnchor};
/// Re-exported from `chiaro-names` (shared with policy generation, which does not link this
/// crate): existing users keep their paths.
pub use chiaro_names::{PolicyHash, San};
pub use draft::{DraftReferenceValues, DraftSimulated, ManifestDraft};
pub use error::ManifestError;
pub use hashes::{DeploymentId, KeyDigest, ManifestHash, TransitionHash};
pub use manifest::{
    InsecureSimulatedReference, Manifest, PolicyEntry, ReferenceValueSets, Role, SeedShareOwnerKey,
};
pub use signed_history::{
    Endorsement, OwnerSignature, SEED_SALT, SET_MANIFEST_CONTEXT, SignedStep, VerifiedHistory,
    owner_client_cert_message, recovery_message, update_message, verify_endorsement,
    verify_history,
};
pub use transition::Transition;
