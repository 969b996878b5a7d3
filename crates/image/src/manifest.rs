//! OCI image manifests, indexes and the descriptors they point with.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::Digest;

/// An image manifest's media type.
pub const MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
/// An image index's media type.
pub const INDEX_MEDIA_TYPE: &str = "application/vnd.oci.image.index.v1+json";
/// A gzip-compressed tar layer's media type.
pub const LAYER_MEDIA_TYPE: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

/// A pointer to a blob: its media type, digest and size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// What the blob is.
    pub media_type: &'static str,
    /// Its digest.
    pub digest: Digest,
    /// Its size in bytes.
    pub size: usize,
    /// Annotations (in an image layout's index: the tag, `org.opencontainers.image.ref.name`);
    /// left out when empty.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

impl Descriptor {
    /// The descriptor of `content`, without annotations.
    pub fn of(media_type: &'static str, content: &[u8]) -> Self {
        Self {
            media_type,
            digest: Digest::of(content),
            size: content.len(),
            annotations: BTreeMap::new(),
        }
    }
}

/// An image manifest: one configuration, its layers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    /// Always 2.
    pub schema_version: u32,
    /// Always [`MEDIA_TYPE`].
    pub media_type: &'static str,
    /// The image configuration.
    pub config: Descriptor,
    /// The layers, bottom first.
    pub layers: Vec<Descriptor>,
}

/// An image index: an image layout's `index.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Index {
    /// Always 2.
    pub schema_version: u32,
    /// Always [`INDEX_MEDIA_TYPE`].
    pub media_type: &'static str,
    /// The manifests.
    pub manifests: Vec<Descriptor>,
}
