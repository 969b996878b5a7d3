//! The ready file (`--ready-file`): the addresses the Coordinator's listeners are bound to, as
//! one small JSON document ([`BoundAddresses`]), written once the Coordinator serves. A caller
//! that starts it on port 0 (tests, local mode) learns its ports from this file, so no port is
//! picked, dropped and taken by another process in between.
//!
//! The Coordinator is the file's writer, through `chiaro-atomic-file`: a reader sees no file or
//! the whole document, never a part. A stale file of an earlier run is removed at start.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use chiaro_atomic_file::Mode;
use serde::{Deserialize, Serialize};

/// The addresses of the Coordinator's three listeners as bound (with port 0 in a flag, the port
/// the system chose): the content of its ready file, written by the binary, read by whoever
/// started it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BoundAddresses {
    /// The user API (server-attested TLS).
    pub user_api: SocketAddr,
    /// The mesh API (mutually attested TLS).
    pub mesh_api: SocketAddr,
    /// The plain-HTTP status port (`/healthz`, `/readyz`, `/metrics`).
    pub status: SocketAddr,
}

/// A ready file that could not be written, removed or read.
#[derive(Debug, thiserror::Error)]
pub enum ReadyFileError {
    /// A listener's bound address could not be read.
    #[error("reading the address a listener is bound to")]
    LocalAddress(#[source] io::Error),
    /// The ready file could not be written.
    #[error("writing the ready file {}", path.display())]
    Write {
        /// The ready file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// A stale ready file of an earlier run could not be removed.
    #[error("removing the stale ready file {}", path.display())]
    Remove {
        /// The ready file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The ready file could not be read.
    #[error("reading the ready file {}", path.display())]
    Read {
        /// The ready file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The ready file holds no bound addresses.
    #[error("the ready file {} holds no Coordinator's bound addresses", path.display())]
    Parse {
        /// The ready file.
        path: PathBuf,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
    /// The addresses could not be encoded.
    #[error("encoding the bound addresses")]
    Encode(#[source] serde_json::Error),
}

impl BoundAddresses {
    /// The addresses the three listeners are bound to.
    ///
    /// # Errors
    /// [`ReadyFileError::LocalAddress`]: the system did not tell a listener's address.
    pub fn of(
        user_api: &tokio::net::TcpListener,
        mesh_api: &tokio::net::TcpListener,
        status: &tokio::net::TcpListener,
    ) -> Result<Self, ReadyFileError> {
        let address = |listener: &tokio::net::TcpListener| {
            listener.local_addr().map_err(ReadyFileError::LocalAddress)
        };
        Ok(Self {
            user_api: address(user_api)?,
            mesh_api: address(mesh_api)?,
            status: address(status)?,
        })
    }

    /// Writes these addresses to the ready file `path`, atomically. The Coordinator is the
    /// file's only writer, so temporaries left by a crash of an earlier run are swept first.
    ///
    /// # Errors
    /// [`ReadyFileError::Write`]: the directory is missing or not writable, or `path` names a
    /// directory.
    pub fn write(&self, path: &Path) -> Result<(), ReadyFileError> {
        let mut content = serde_json::to_vec(self).map_err(ReadyFileError::Encode)?;
        content.push(b'\n');
        chiaro_atomic_file::remove_temporaries(path)
            .and_then(|()| chiaro_atomic_file::write(path, &content, Mode::PUBLIC))
            .map_err(|source| ReadyFileError::Write {
                path: path.to_owned(),
                source,
            })
    }

    /// The addresses in the ready file `path`; `None` while there is no such file (the
    /// Coordinator is not serving yet).
    ///
    /// # Errors
    /// [`ReadyFileError::Read`] or [`ReadyFileError::Parse`]: the file is there but unreadable,
    /// or not a [`BoundAddresses`] document.
    pub fn read(path: &Path) -> Result<Option<Self>, ReadyFileError> {
        let content = match std::fs::read(path) {
            Ok(content) => content,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(ReadyFileError::Read {
                    path: path.to_owned(),
                    source,
                });
            }
        };
        serde_json::from_slice(&content)
            .map(Some)
            .map_err(|source| ReadyFileError::Parse {
                path: path.to_owned(),
                source,
            })
    }
}

/// Removes the ready file `path` of an earlier run, if there is one, so nobody reads its
/// addresses before this run's.
///
/// # Errors
/// [`ReadyFileError::Remove`]: the file is there and cannot be removed.
pub fn remove_stale(path: &Path) -> Result<(), ReadyFileError> {
    match std::fs::remove_file(path) {
        Err(source) if source.kind() != io::ErrorKind::NotFound => Err(ReadyFileError::Remove {
            path: path.to_owned(),
            source,
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addresses() -> BoundAddresses {
        BoundAddresses {
            user_api: "127.0.0.1:1313".parse().unwrap(),
            mesh_api: "[::1]:7777".parse().unwrap(),
            status: "0.0.0.0:9102".parse().unwrap(),
        }
    }

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("chiaro-api-ready-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn the_written_addresses_read_back() {
        let dir = scratch("roundtrip");
        let path = dir.join("ready.json");
        assert!(BoundAddresses::read(&path).unwrap().is_none());
        addresses().write(&path).unwrap();
        assert_eq!(BoundAddresses::read(&path).unwrap(), Some(addresses()));
        remove_stale(&path).unwrap();
        assert!(BoundAddresses::read(&path).unwrap().is_none());
        remove_stale(&path).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_file_of_something_else_is_refused() {
        let dir = scratch("other");
        let path = dir.join("ready.json");
        std::fs::write(&path, "1234 ready\n").unwrap();
        let error = BoundAddresses::read(&path).unwrap_err();
        assert!(matches!(error, ReadyFileError::Parse { .. }), "{error}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_missing_directory_is_a_write_error_naming_the_file() {
        let dir = scratch("missing");
        let path = dir.join("absent/ready.json");
        let error = addresses().write(&path).unwrap_err();
        assert!(matches!(error, ReadyFileError::Write { .. }), "{error}");
        assert!(error.to_string().contains("absent/ready.json"), "{error}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
