//! What `chiaro keygen` reports.

use chiaro_manifest::KeyDigest;
use serde::{Deserialize, Serialize};

/// What `chiaro keygen workload-owner` reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkloadOwnerKey {
    /// The private key file.
    pub private_key: String,
    /// The digest the manifest lists in `workload_owner_key_digests`.
    pub manifest_workload_owner_key_digest: KeyDigest,
}

/// What `chiaro keygen seed-share-owner` reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeedShareOwnerKey {
    /// The private key file.
    pub private_key: String,
    /// The public key (SubjectPublicKeyInfo DER) the manifest lists in
    /// `seed_share_owner_keys`.
    #[serde(rename = "manifest_seed_share_owner_key", with = "hex")]
    pub public_key: Vec<u8>,
}
