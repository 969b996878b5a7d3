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
use std::time::{Duration, Instant};

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
    /// The Coordinator ended before it wrote its ready file.
    #[error("the Coordinator exited ({status}) before serving")]
    Exited {
        /// How it ended.
        status: std::process::ExitStatus,
    },
    /// The Coordinator neither wrote its ready file nor ended in time (it is killed).
    #[error("the Coordinator did not write {} in {patience:?}", path.display())]
    NotServing {
        /// The ready file.
        path: PathBuf,
        /// How long it was given.
        patience: Duration,
    },
    /// Whether the Coordinator process still runs could not be learnt.
    #[error("watching the Coordinator process")]
    Watch(#[source] io::Error),
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

/// Waits for the event of `child` (a Coordinator started with `--ready-file path`) serving:
/// its ready file written (the addresses it reports) or its exit, whichever comes first. One that
/// does neither within `patience` is killed.
///
/// # Errors
/// [`ReadyFileError::Exited`], [`ReadyFileError::NotServing`], [`ReadyFileError::Watch`], or the
/// file is there but not a [`BoundAddresses`] document.
pub fn wait_for(
    child: &mut std::process::Child,
    path: &Path,
    patience: Duration,
) -> Result<BoundAddresses, ReadyFileError> {
    // A patience too long to represent waits for the file or the exit only.
    let deadline = Instant::now().checked_add(patience);
    loop {
        if let Some(addresses) = BoundAddresses::read(path)? {
            return Ok(addresses);
        }
        if let Some(status) = child.try_wait().map_err(ReadyFileError::Watch)? {
            return Err(ReadyFileError::Exited { status });
        }
        if deadline.is_some_and(|deadline| Instant::now() > deadline) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(ReadyFileError::NotServing {
                path: path.to_owned(),
                patience,
            });
        }
        std::thread::sleep(Duration::from_millis(20));
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
    fn waiting_ends_on_the_file_on_the_exit_or_at_patience_killing_the_process() {
        let dir = scratch("wait");
        let path = dir.join("ready.json");
        let text = serde_json::to_string(&addresses()).unwrap();
        let mut writer = std::process::Command::new("sh")
            .args([
                "-c",
                // Written whole, as the Coordinator writes it (a reader never sees a part).
                &format!(
                    "echo '{text}' > {0}.part && mv {0}.part {0}; exec sleep 30",
                    path.display()
                ),
            ])
            .spawn()
            .unwrap();
        let got = wait_for(&mut writer, &path, Duration::from_secs(30)).unwrap();
        assert_eq!(got, addresses());
        writer.kill().unwrap();
        writer.wait().unwrap();

        let mut quitter = std::process::Command::new("false").spawn().unwrap();
        let error = wait_for(
            &mut quitter,
            &dir.join("never.json"),
            Duration::from_secs(30),
        );
        assert!(
            matches!(error, Err(ReadyFileError::Exited { status }) if !status.success()),
            "{error:?}"
        );

        let mut silent = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let error = wait_for(
            &mut silent,
            &dir.join("never.json"),
            Duration::from_millis(200),
        );
        assert!(
            matches!(error, Err(ReadyFileError::NotServing { .. })),
            "{error:?}"
        );
        assert!(silent.try_wait().unwrap().is_some(), "killed at patience");
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
