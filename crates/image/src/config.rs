//! The OCI image configuration (`application/vnd.oci.image.config.v1+json`), as Chiaro writes
//! it: the fields in the order of the image spec, labels sorted, nothing optional left empty.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::Digest;

/// The configuration's media type.
pub const MEDIA_TYPE: &str = "application/vnd.oci.image.config.v1+json";

/// An image configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImageConfig {
    /// When the image was made: the build's fixed time, RFC 3339.
    pub created: String,
    /// Always `amd64`: SEV-SNP and TDX hosts are x86-64.
    pub architecture: &'static str,
    /// Always `linux`.
    pub os: &'static str,
    /// How a container of it runs.
    pub config: RunConfig,
    /// Its layers, by the digests of their uncompressed tars.
    pub rootfs: RootFs,
}

/// The execution parameters of an image configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RunConfig {
    /// `uid:gid`, numeric (the images have no `/etc/passwd`).
    pub user: String,
    /// `NAME=value` entries; left out when empty.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<String>,
    /// The program and its first arguments.
    pub entrypoint: Vec<String>,
    /// The `org.opencontainers.image.*` annotations, sorted by name.
    pub labels: BTreeMap<String, String>,
}

/// The layers of an image configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RootFs {
    /// Always `layers`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The digest of each layer's uncompressed tar, bottom first.
    pub diff_ids: Vec<Digest>,
}
