//! The names that policy generation (`chiaro-policy`) and the manifest (`chiaro-manifest`)
//! share, in a crate of their own so that generating policies does not link the manifest's
//! SNP/TDX crypto stack, and that the mesh proxy shares with both (the reserved identities).
//!
//! - [`San`]: the subject alternative names a manifest may give a workload, and the identity
//!   two SANs are compared by.
//! - [`PolicyHash`]: the digest of a pod's initdata, which names its policy in the manifest.
//! - [`reserved`]: the identities no workload may have (a workload owner's client certificate).
//!
//! - [`hash32!`]: the 32-byte hash newtype both crates define their hashes with.
//!
//! Pure: no I/O; its only dependencies are `serde` and `hex`.

// Panic-free parsing: SANs and 64-digit hex hashes come from manifests a user sends to the
// Coordinator (SetManifest) and from peers' certificate requests.
#![deny(
    clippy::indexing_slicing,
    clippy::panic_in_result_fn,
    clippy::arithmetic_side_effects
)]

mod hash32;
mod policy_hash;
pub mod reserved;
mod san;

pub use policy_hash::PolicyHash;
pub use san::San;

/// What [`hash32!`] expands to needs, reachable from the crates that call it.
#[doc(hidden)]
pub mod __private {
    pub use hex;
    pub use serde;
}
