//! The on-disk cache: one file per URL (named by the SHA-256 of the URL), written atomically
//! (`chiaro-atomic-file`: a temporary of its own per write, so concurrent writers of one URL
//! all succeed), with an optional expiry for documents that change.

use std::path::{Path, PathBuf};

use chiaro_atomic_file::Mode;
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

/// The blocking atomic write, off the async runtime's worker threads.
async fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let (path, bytes) = (path.to_owned(), bytes.to_owned());
    tokio::task::spawn_blocking(move || chiaro_atomic_file::write(&path, &bytes, Mode::PUBLIC))
        .await
        .map_err(std::io::Error::other)?
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "chiaro-collateral-cache-{name}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_writers_of_one_url_all_succeed() {
        // Verifiers of several peers fetch the same VCEK or CRL at once; writers sharing one
        // temporary file per process lost it to each other's rename (fixed for the registry
        // cache in d599009, here with the shared atomic writer).
        let dir = scratch("concurrent");
        let cache = Cache::new(&dir);
        let url = "https://kds.example/vcek/v1/Milan/00";
        let body = vec![7u8; 256 * 1024];
        let expires = Some(UnixTime::from_secs(2_000_000_000));
        let writers: Vec<_> = (0..8)
            .map(|_| {
                let (cache, body) = (cache.clone(), body.clone());
                tokio::spawn(async move {
                    for _ in 0..20 {
                        cache.put(url, &body, expires).await?;
                    }
                    std::io::Result::Ok(())
                })
            })
            .collect();
        for writer in writers {
            writer.await.unwrap().unwrap();
        }
        let now = UnixTime::from_secs(1_900_000_000);
        assert_eq!(cache.get(url, now).await.unwrap(), body);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
