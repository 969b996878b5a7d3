//! The shell's reading side: the static binaries from the build's directory, the locked
//! `.deb` files checked against the lock and extracted with `dpkg-deb -x`, then exactly the
//! files the images take from them. File modes and times of the inputs are not read: only
//! their bytes (and symbolic links' targets) reach the images.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::component::CA_DIRECTORY;
use crate::{Component, DebianFile, DebianLock, Inputs, ReleaseError};

/// Where the inputs are.
#[derive(Debug, Clone)]
pub struct Sources {
    /// The static binaries (`target/x86_64-unknown-linux-musl/image`).
    pub binaries: PathBuf,
    /// The downloaded `.deb` files, named as `apt-get download` names them.
    pub debs: PathBuf,
    /// A scratch directory for the extracted packages (emptied first, removed after).
    pub scratch: PathBuf,
}

/// Reads every image's inputs.
///
/// # Errors
/// [`ReleaseError`]: a binary or package missing, a package whose hash is not the lock's, an
/// extraction that failed, or a file the images need that the packages lack.
pub fn read(sources: &Sources, lock: &DebianLock) -> Result<Inputs, ReleaseError> {
    let mut inputs = Inputs::default();
    for component in Component::ALL {
        for binary in component.binaries() {
            let path = sources.binaries.join(binary);
            let content = std::fs::read(&path).map_err(|source| match source.kind() {
                std::io::ErrorKind::NotFound => ReleaseError::BinaryMissing { path: path.clone() },
                _ => ReleaseError::Io {
                    path: path.clone(),
                    source,
                },
            })?;
            inputs.binaries.insert((*binary).to_owned(), content);
        }
    }
    let root = &sources.scratch;
    let _ = std::fs::remove_dir_all(root);
    std::fs::create_dir_all(root).map_err(|source| ReleaseError::Io {
        path: root.clone(),
        source,
    })?;
    let result = extract_and_read(sources, lock, root, &mut inputs);
    let _ = std::fs::remove_dir_all(root);
    result.map(|()| inputs)
}

fn extract_and_read(
    sources: &Sources,
    lock: &DebianLock,
    root: &Path,
    inputs: &mut Inputs,
) -> Result<(), ReleaseError> {
    for package in &lock.packages {
        let deb = sources.debs.join(package.file_name());
        let bytes = std::fs::read(&deb).map_err(|source| match source.kind() {
            std::io::ErrorKind::NotFound => ReleaseError::DebMissing {
                package: package.name.clone(),
                version: package.version.clone(),
                path: deb.clone(),
            },
            _ => ReleaseError::Io {
                path: deb.clone(),
                source,
            },
        })?;
        package.check(&bytes)?;
        let status = Command::new("dpkg-deb")
            .arg("-x")
            .arg(&deb)
            .arg(root)
            .status()
            .map_err(|error| ReleaseError::Extract {
                deb: deb.clone(),
                reason: error.to_string(),
            })?;
        if !status.success() {
            return Err(ReleaseError::Extract {
                deb,
                reason: status.to_string(),
            });
        }
    }
    for component in Component::ALL {
        for (path, _) in component.debian_paths() {
            inputs
                .debian
                .insert((*path).to_owned(), debian_file(root, path)?);
        }
    }
    let directory = root.join(CA_DIRECTORY);
    let listing = std::fs::read_dir(&directory).map_err(|source| ReleaseError::Io {
        path: directory.clone(),
        source,
    })?;
    let mut certificates = BTreeMap::new();
    for entry in listing {
        let entry = entry.map_err(|source| ReleaseError::Io {
            path: directory.clone(),
            source,
        })?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".crt") {
            let path = entry.path();
            let pem = std::fs::read(&path).map_err(|source| ReleaseError::Io { path, source })?;
            certificates.insert(name, pem);
        }
    }
    inputs.ca_certificates = certificates;
    Ok(())
}

/// The file or link at `path` under the extracted `root`.
fn debian_file(root: &Path, path: &str) -> Result<DebianFile, ReleaseError> {
    let full = root.join(path);
    let metadata = std::fs::symlink_metadata(&full).map_err(|_| ReleaseError::NotInPackages {
        path: path.to_owned(),
    })?;
    let io = |source| ReleaseError::Io {
        path: full.clone(),
        source,
    };
    if metadata.file_type().is_symlink() {
        let target = std::fs::read_link(&full).map_err(io)?;
        Ok(DebianFile::Symlink(target.to_string_lossy().into_owned()))
    } else {
        Ok(DebianFile::File(std::fs::read(&full).map_err(io)?))
    }
}
