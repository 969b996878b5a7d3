//! The on-disk cache: manifests, indexes and configurations stored under their own digest
//! (`blobs/sha256/<hex>`), so an entry can be checked on every read and never goes stale.
//! Tags are not cached: a tag is resolved against the registry each time.

use std::path::{Path, PathBuf};

use chiaro_atomic_file::Mode;

use crate::{Digest, RegistryError};

/// A content-addressed store in a directory.
#[derive(Debug, Clone)]
pub struct BlobCache {
    dir: PathBuf,
}

impl BlobCache {
    /// A cache in `dir` (created on first write).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The cache's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, digest: Digest) -> PathBuf {
        self.dir.join("blobs").join("sha256").join(digest.hex())
    }

    /// The content stored under `digest`, if present and intact. An entry that does not hash
    /// to its name (a torn write, a bit flip on disk) is removed and reported as missing.
    pub fn get(&self, digest: Digest) -> Option<Vec<u8>> {
        let path = self.path(digest);
        let content = std::fs::read(&path).ok()?;
        if digest.matches(&content) {
            Some(content)
        } else {
            let _ = std::fs::remove_file(&path);
            None
        }
    }

    /// Stores `content` under its digest, atomically (`chiaro-atomic-file`: a temporary file
    /// renamed into place). Concurrent writers of the same content each use a temporary file of
    /// their own, so none loses its file to another's rename.
    ///
    /// # Errors
    /// [`RegistryError::Cache`] if the directory or file cannot be written.
    pub fn put(&self, content: &[u8]) -> Result<Digest, RegistryError> {
        let digest = Digest::of(content);
        let path = self.path(digest);
        if path.exists() {
            return Ok(digest);
        }
        let io = |path: &Path, source| RegistryError::Cache {
            path: path.display().to_string(),
            source,
        };
        let parent = path.parent().unwrap_or(&self.dir);
        std::fs::create_dir_all(parent).map_err(|e| io(parent, e))?;
        chiaro_atomic_file::write(&path, content, Mode::PUBLIC).map_err(|e| io(&path, e))?;
        Ok(digest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "chiaro-registry-cache-{name}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn stores_by_digest_and_drops_corrupt_entries() {
        let dir = scratch("corrupt");
        let cache = BlobCache::new(&dir);
        let digest = cache.put(b"{\"a\":1}").unwrap();
        assert_eq!(cache.get(digest).unwrap(), b"{\"a\":1}");
        assert_eq!(cache.get(Digest::of(b"absent")), None);
        let file = dir.join("blobs/sha256").join(digest.hex());
        let mut bytes = std::fs::read(&file).unwrap();
        bytes[0] ^= 1;
        std::fs::write(&file, bytes).unwrap();
        assert_eq!(cache.get(digest), None);
        assert!(!file.exists(), "a corrupt entry is removed");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn concurrent_writers_of_the_same_content_all_succeed() {
        // Found in CI-like runs: images sharing a configuration are resolved concurrently,
        // and writers sharing one temporary file lost it to each other's rename.
        let dir = scratch("concurrent");
        let cache = BlobCache::new(&dir);
        let content = vec![7u8; 256 * 1024];
        std::thread::scope(|scope| {
            let writers: Vec<_> = (0..8)
                .map(|_| scope.spawn(|| cache.put(&content)))
                .collect();
            for writer in writers {
                assert_eq!(writer.join().unwrap().unwrap(), Digest::of(&content));
            }
        });
        assert_eq!(cache.get(Digest::of(&content)).unwrap(), content);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
