//! The on-disk cache: one file per URL (named by the SHA-256 of the URL), written atomically,
//! with an optional expiry for documents that change.

use std::path::{Path, PathBuf};

use chiaro_attest::UnixTime;
use sha2::{Digest, Sha256};

/// A cache directory.
#[derive(Debug, Clone)]
pub struct Cache {
    dir: PathBuf,
}

impl Cache {
    /// A cache in `dir` (created on first write).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The cached body of `url`, unless missing or expired at `now`.
    pub async fn get(&self, url: &str, now: UnixTime) -> Option<Vec<u8>> {
        let (body, expires) = self.paths(url);
        if let Ok(text) = tokio::fs::read_to_string(&expires).await {
            let expiry = UnixTime::from_secs(text.trim().parse().ok()?);
            if now >= expiry {
                return None;
            }
        }
        tokio::fs::read(&body).await.ok()
    }

    /// Stores `bytes` for `url`, expiring at `expires` (never when `None`).
    ///
    /// # Errors
    /// The I/O error of the write.
    pub async fn put(
        &self,
        url: &str,
        bytes: &[u8],
        expires: Option<UnixTime>,
    ) -> std::io::Result<()> {
        tokio::fs::create_dir_all(&self.dir).await?;
        let (body, expiry) = self.paths(url);
        match expires {
            Some(at) => write_atomically(&expiry, at.as_secs().to_string().as_bytes()).await?,
            None => {
                let _ = tokio::fs::remove_file(&expiry).await;
            }
        }
        write_atomically(&body, bytes).await
    }

    fn paths(&self, url: &str) -> (PathBuf, PathBuf) {
        let key = hex::encode(Sha256::digest(url.as_bytes()));
        (
            self.dir.join(format!("{key}.bin")),
            self.dir.join(format!("{key}.expires")),
        )
    }
}

async fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let temporary = path.with_extension(format!("tmp-{}", std::process::id()));
    tokio::fs::write(&temporary, bytes).await?;
    tokio::fs::rename(&temporary, path).await
}
