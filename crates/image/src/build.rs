//! One image from its file system and how it runs: the layer, the configuration and the
//! manifest, each with its digest.

use std::collections::BTreeMap;

use crate::config::{self, ImageConfig, RootFs, RunConfig};
use crate::manifest::{self, Descriptor, Manifest};
use crate::{Digest, Entry, ImageError, gzip, tar, time};

/// What an image is made of. Everything its digest depends on is here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageSpec {
    /// The file system (one layer).
    pub entries: Vec<Entry>,
    /// Who it runs as.
    pub user: User,
    /// The program and its first arguments.
    pub entrypoint: Vec<String>,
    /// `NAME=value` entries (only what the program needs).
    pub env: Vec<String>,
    /// The configuration's labels.
    pub labels: BTreeMap<String, String>,
    /// The time every file, and the configuration's `created`, is stamped with (the source
    /// commit's time: `SOURCE_DATE_EPOCH`).
    pub epoch: u64,
}

/// A numeric user and group (the images have no `/etc/passwd`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct User {
    /// The user id.
    pub uid: u32,
    /// The group id.
    pub gid: u32,
}

impl User {
    /// Root: what a program needs that creates configfs-tsm reports or installs firewall rules.
    pub const ROOT: Self = Self { uid: 0, gid: 0 };
    /// Nobody (65534): a program that needs no privilege.
    pub const NOBODY: Self = Self {
        uid: 65534,
        gid: 65534,
    };
}

/// An image as the bytes of its three blobs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltImage {
    /// The layer, gzip-compressed.
    pub layer: Vec<u8>,
    /// The digest of the uncompressed layer (the configuration's `diff_id`).
    pub diff_id: Digest,
    /// The image configuration (JSON).
    pub config: Vec<u8>,
    /// The image manifest (JSON): what [`BuiltImage::digest`] names.
    pub manifest: Vec<u8>,
}

impl ImageSpec {
    /// The image.
    ///
    /// # Errors
    /// [`ImageError`] for entries a tar cannot hold.
    pub fn build(&self) -> Result<BuiltImage, ImageError> {
        let tar = tar::layer(&self.entries, self.epoch)?;
        let diff_id = Digest::of(&tar);
        let layer = gzip::compress(&tar)?;
        let config = ImageConfig {
            created: time::rfc3339(self.epoch),
            architecture: "amd64",
            os: "linux",
            config: RunConfig {
                user: format!("{}:{}", self.user.uid, self.user.gid),
                env: self.env.clone(),
                entrypoint: self.entrypoint.clone(),
                labels: self.labels.clone(),
            },
            rootfs: RootFs {
                kind: "layers",
                diff_ids: vec![diff_id],
            },
        };
        let config = json("image configuration", &config)?;
        let manifest = Manifest {
            schema_version: 2,
            media_type: manifest::MEDIA_TYPE,
            config: Descriptor::of(config::MEDIA_TYPE, &config),
            layers: vec![Descriptor::of(manifest::LAYER_MEDIA_TYPE, &layer)],
        };
        let manifest = json("image manifest", &manifest)?;
        Ok(BuiltImage {
            layer,
            diff_id,
            config,
            manifest,
        })
    }
}

impl BuiltImage {
    /// The image's digest: its manifest's.
    pub fn digest(&self) -> Digest {
        Digest::of(&self.manifest)
    }

    /// What a pull transfers: the compressed layer, the configuration and the manifest.
    pub fn compressed_size(&self) -> usize {
        self.layer.len() + self.config.len() + self.manifest.len()
    }

    /// The manifest's descriptor (for an index).
    pub fn descriptor(&self) -> Descriptor {
        Descriptor::of(manifest::MEDIA_TYPE, &self.manifest)
    }

    /// The blobs by digest: layer, configuration, manifest.
    pub fn blobs(&self) -> [(Digest, &[u8]); 3] {
        [
            (Digest::of(&self.layer), &self.layer),
            (Digest::of(&self.config), &self.config),
            (self.digest(), &self.manifest),
        ]
    }
}

/// Compact JSON, fields in the order the types declare them.
pub(crate) fn json<T: serde::Serialize>(
    what: &'static str,
    value: &T,
) -> Result<Vec<u8>, ImageError> {
    serde_json::to_vec(value).map_err(|source| ImageError::Json { what, source })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> ImageSpec {
        ImageSpec {
            entries: vec![Entry::file("usr/local/bin/x", b"\x7fELF".to_vec(), true)],
            user: User::ROOT,
            entrypoint: vec!["/usr/local/bin/x".to_owned()],
            env: vec![],
            labels: BTreeMap::from([("org.opencontainers.image.title".to_owned(), "x".to_owned())]),
            epoch: 1_796_163_777,
        }
    }

    #[test]
    fn the_same_spec_gives_the_same_bytes_and_the_documents_point_at_each_other() {
        let image = spec().build().unwrap();
        assert_eq!(image, spec().build().unwrap());
        let config = String::from_utf8(image.config.clone()).unwrap();
        assert_eq!(
            config,
            format!(
                "{{\"created\":\"2026-12-01T22:22:57Z\",\"architecture\":\"amd64\",\"os\":\"linux\",\
                 \"config\":{{\"User\":\"0:0\",\"Entrypoint\":[\"/usr/local/bin/x\"],\
                 \"Labels\":{{\"org.opencontainers.image.title\":\"x\"}}}},\
                 \"rootfs\":{{\"type\":\"layers\",\"diff_ids\":[\"{}\"]}}}}",
                image.diff_id
            )
        );
        let manifest = String::from_utf8(image.manifest.clone()).unwrap();
        assert!(manifest.starts_with(
            "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"config\":"
        ));
        assert!(manifest.contains(&Digest::of(&image.config).to_string()));
        assert!(manifest.contains(&Digest::of(&image.layer).to_string()));
        let mut later = spec();
        later.epoch += 1;
        assert_ne!(later.build().unwrap().digest(), image.digest());
    }
}
