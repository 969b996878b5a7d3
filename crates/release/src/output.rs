//! The shell's writing side: each image's OCI image layout (a directory, and for releases a
//! tar of it), and the push.

use std::path::{Path, PathBuf};

use chiaro_image::{BuiltImage, layout, manifest};
use chiaro_registry::{Digest, RegistryClient};

use crate::{Component, ReleaseError};

/// Writes `image`'s layout, tagged `tag`, to `out/<name>/` (replacing what was there);
/// returns the directory.
///
/// # Errors
/// [`ReleaseError::Io`] when a file cannot be written.
pub fn write_layout(
    out: &Path,
    component: Component,
    image: &BuiltImage,
    tag: &str,
) -> Result<PathBuf, ReleaseError> {
    let directory = out.join(component.name());
    let _ = std::fs::remove_dir_all(&directory);
    for (path, content) in layout::files(image, tag)? {
        let file = directory.join(path);
        if let Some(parent) = file.parent() {
            std::fs::create_dir_all(parent).map_err(|source| ReleaseError::Io {
                path: parent.to_owned(),
                source,
            })?;
        }
        std::fs::write(&file, content).map_err(|source| ReleaseError::Io { path: file, source })?;
    }
    Ok(directory)
}

/// Writes `image`'s layout as one tar, `out/<name>-<tag>.oci.tar`; returns the file.
///
/// # Errors
/// [`ReleaseError::Io`] when it cannot be written.
pub fn write_tarball(
    out: &Path,
    component: Component,
    image: &BuiltImage,
    tag: &str,
    epoch: u64,
) -> Result<PathBuf, ReleaseError> {
    let file = out.join(format!("{}-{tag}.oci.tar", component.name()));
    std::fs::write(&file, layout::tarball(image, tag, epoch)?).map_err(|source| {
        ReleaseError::Io {
            path: file.clone(),
            source,
        }
    })?;
    Ok(file)
}

/// Pushes `image` to `registry/<name>:tag` with `client`; returns the digest the registry
/// took it under (its manifest's).
///
/// # Errors
/// [`ReleaseError::Push`] naming the target.
pub async fn push(
    client: &RegistryClient,
    registry: &str,
    component: Component,
    image: &BuiltImage,
    tag: &str,
) -> Result<Digest, ReleaseError> {
    let target = format!("{registry}/{}:{tag}", component.name());
    client
        .push_image(
            &target,
            &[&image.layer, &image.config],
            manifest::MEDIA_TYPE,
            &image.manifest,
        )
        .await
        .map_err(|source| ReleaseError::Push { target, source })
}
