//! The state directory: small files written atomically (write to a temporary file, fsync,
//! rename over the target, fsync the directory), so a crash at any point leaves either the old
//! or the new content of each file, never a torn one.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Reading or writing the state directory failed.
#[derive(Debug, thiserror::Error)]
#[error("state file {path}")]
pub struct StoreError {
    path: PathBuf,
    #[source]
    source: std::io::Error,
}

/// A directory of named blobs. Keys are relative paths of `[a-z0-9.-]` segments separated by
/// `/` (e.g. `manifests/<hash>.json`); anything else is refused so no key escapes the directory.
#[derive(Debug, Clone)]
pub struct DirStore {
    root: PathBuf,
}

impl DirStore {
    /// A store rooted at `root`, created when missing.
    ///
    /// # Errors
    /// [`StoreError`] if the directory cannot be created.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self, StoreError> {
        let root = root.into();
        fs::create_dir_all(&root).map_err(|source| StoreError {
            path: root.clone(),
            source,
        })?;
        Ok(Self { root })
    }

    /// The directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The blob at `key`, or `None` when there is none.
    ///
    /// # Errors
    /// [`StoreError`] for an invalid key or an unreadable file.
    pub fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let path = self.path(key)?;
        match fs::read(&path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(StoreError { path, source }),
        }
    }

    /// Replaces the blob at `key` atomically and durably.
    ///
    /// # Errors
    /// [`StoreError`] for an invalid key or a failed write.
    pub fn put(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        let path = self.path(key)?;
        let directory = path
            .parent()
            .map_or_else(|| self.root.clone(), Path::to_path_buf);
        let wrap = |source| StoreError {
            path: path.clone(),
            source,
        };
        fs::create_dir_all(&directory).map_err(wrap)?;
        let temporary = directory.join(format!(
            ".tmp-{}-{}",
            std::process::id(),
            key.replace('/', "_")
        ));
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&temporary)
            .map_err(wrap)?;
        file.write_all(value).map_err(wrap)?;
        file.sync_all().map_err(wrap)?;
        drop(file);
        fs::rename(&temporary, &path).map_err(wrap)?;
        File::open(&directory)
            .and_then(|dir| dir.sync_all())
            .map_err(wrap)
    }

    fn path(&self, key: &str) -> Result<PathBuf, StoreError> {
        let valid = !key.is_empty()
            && key.split('/').all(|segment| {
                !segment.is_empty()
                    && !segment.starts_with('.')
                    && segment.bytes().all(|b| {
                        b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-'
                    })
            });
        if !valid {
            return Err(StoreError {
                path: PathBuf::from(key),
                source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "invalid state key"),
            });
        }
        Ok(self.root.join(key))
    }
}
