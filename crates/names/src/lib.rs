//! The names that policy generation (`chiaro-policy`) and the manifest (`chiaro-manifest`)
//! share, in a crate of their own so that generating policies does not link the manifest's
//! SNP/TDX crypto stack.
//!
//! - [`San`]: the subject alternative names a manifest may give a workload, and the identity
//!   two SANs are compared by.
//! - [`PolicyHash`]: the digest of a pod's initdata, which names its policy in the manifest.
//! - [`DEPLOYMENT_ANCHOR_ENV`]: the variable generate sets in the initializer to the
//!   deployment anchor (`chiaro_manifest::DeploymentAnchor`), which the initializer reads.
//!
//! Pure: no I/O; its only dependencies are `serde` and `hex`.

mod policy_hash;
mod san;

pub use policy_hash::PolicyHash;
pub use san::San;

/// The environment variable `chiaro generate` sets in the initializer (where the pod's policy
/// pins it) to a deployment anchor's JSON (`chiaro_manifest::DeploymentAnchor::to_json`).
pub const DEPLOYMENT_ANCHOR_ENV: &str = "CHIARO_DEPLOYMENT_ANCHOR";
