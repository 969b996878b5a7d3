//! The OCI image layout of one image (`oci-layout`, `index.json` naming it by tag,
//! `blobs/sha256/<hex>`), as files to write or as one deterministic tar.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::build::json;
use crate::manifest::{INDEX_MEDIA_TYPE, Index};
use crate::{BuiltImage, Entry, ImageError, tar};

/// The annotation an image layout's index names a manifest's tag with.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OciLayout {
    image_layout_version: &'static str,
}

/// The layout's files, by path relative to its directory, `image` tagged `tag`.
///
/// # Errors
/// [`ImageError::Json`], which these types do not produce.
pub fn files(image: &BuiltImage, tag: &str) -> Result<BTreeMap<String, Vec<u8>>, ImageError> {
    let mut descriptor = image.descriptor();
    descriptor
        .annotations
        .insert(REF_NAME.to_owned(), tag.to_owned());
    let index = Index {
        schema_version: 2,
        media_type: INDEX_MEDIA_TYPE,
        manifests: vec![descriptor],
    };
    let mut files = BTreeMap::from([
        (
            "oci-layout".to_owned(),
            json(
                "oci-layout",
                &OciLayout {
                    image_layout_version: "1.0.0",
                },
            )?,
        ),
        ("index.json".to_owned(), json("image index", &index)?),
    ]);
    for (digest, content) in image.blobs() {
        files.insert(format!("blobs/sha256/{}", digest.hex()), content.to_vec());
    }
    Ok(files)
}

/// The layout's files as one tar (what `scripts/release` ships), stamped with `epoch`.
///
/// # Errors
/// [`ImageError`] as [`files`] and [`tar::layer`].
pub fn tarball(image: &BuiltImage, tag: &str, epoch: u64) -> Result<Vec<u8>, ImageError> {
    let entries: Vec<Entry> = files(image, tag)?
        .into_iter()
        .map(|(path, content)| Entry::file(&path, content, false))
        .collect();
    tar::layer(&entries, epoch)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ImageSpec, User};

    #[test]
    fn the_index_names_the_manifest_by_tag_and_every_blob_is_there() {
        let image = ImageSpec {
            entries: vec![Entry::file("a", b"a".to_vec(), false)],
            user: User::ROOT,
            entrypoint: vec!["/a".to_owned()],
            env: vec![],
            labels: BTreeMap::new(),
            epoch: 0,
        }
        .build()
        .unwrap();
        let files = files(&image, "0.1.0").unwrap();
        let paths: Vec<&str> = files.keys().map(String::as_str).collect();
        assert_eq!(paths.len(), 5);
        assert_eq!(files["oci-layout"], br#"{"imageLayoutVersion":"1.0.0"}"#);
        let index = String::from_utf8(files["index.json"].clone()).unwrap();
        assert!(index.contains(&format!(
            "\"digest\":\"{}\",\"size\":{},\"annotations\":{{\"{REF_NAME}\":\"0.1.0\"}}",
            image.digest(),
            image.manifest.len()
        )));
        for (digest, content) in image.blobs() {
            assert_eq!(files[&format!("blobs/sha256/{}", digest.hex())], content);
        }
        assert_eq!(
            tarball(&image, "0.1.0", 0).unwrap(),
            tarball(&image, "0.1.0", 0).unwrap()
        );
    }
}
