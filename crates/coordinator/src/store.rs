//! The storage port ([`Store`]) and its embedded default backend, the state directory
//! ([`DirStore`]): small files written atomically (write to a temporary file, fsync,
//! rename over the target, fsync the directory), so a crash at any point leaves either the old
//! or the new content of each file, never a torn one.
//!
//! The disk under the state directory belongs to the host, which can plant anything at any name
//! (`docs/coordinator-state.md`, "Writes"). So nothing beneath the root is resolved by path:
//! every name is one segment, opened relative to its directory's handle with `O_NOFOLLOW`, and
//! its type is checked before it is read or replaced. A symlink, FIFO, socket, device, or a
//! file where a directory belongs (or the reverse) is a [`StoreError::Foreign`] naming it;
//! nothing is followed, read through, written through, or replaced. Temporaries are created
//! exclusively under unpredictable names, so no planted name is ever opened for writing.

use std::fmt;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustix::fs::{AtFlags, FileType, Mode, OFlags, Stat};
use rustix::io::Errno;

/// The largest state file read or written: 16 MiB. State files are small (a manifest is tens
/// of KiB, and gRPC's default 4 MiB message limit bounds it); the cap keeps a planted huge file from
/// exhausting the Coordinator's memory, and `put` refuses what `get` would refuse to read.
pub const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// Every temporary's name starts with this; keys cannot (no segment starts with `.`).
const TEMPORARY_PREFIX: &str = ".tmp-";

/// A directory beneath the root: never a symlink (`NOFOLLOW`), never anything but a directory
/// (`DIRECTORY`, checked before a FIFO could be opened), never blocking (`NONBLOCK`).
const DIRECTORY_FLAGS: OFlags = OFlags::RDONLY
    .union(OFlags::DIRECTORY)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::NONBLOCK)
    .union(OFlags::CLOEXEC);

/// A state file to read: never a symlink, and a FIFO swapped in after the type check opens
/// without waiting for a writer (`NONBLOCK`) and is then refused by `fstat`.
const READ_FLAGS: OFlags = OFlags::RDONLY
    .union(OFlags::NOFOLLOW)
    .union(OFlags::NONBLOCK)
    .union(OFlags::NOCTTY)
    .union(OFlags::CLOEXEC);

/// A temporary: created here and now (`CREATE | EXCL` fails on any existing name, a symlink
/// included), so the write goes into a new inode of our own and never through a planted one.
const TEMPORARY_FLAGS: OFlags = OFlags::WRONLY
    .union(OFlags::CREATE)
    .union(OFlags::EXCL)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC);

/// What was found at a name in the state tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// A regular file: what every key names.
    RegularFile,
    /// A directory: what every key's parent segments name.
    Directory,
    /// A symbolic link.
    Symlink,
    /// A named pipe.
    Fifo,
    /// A Unix socket.
    Socket,
    /// A character device.
    CharacterDevice,
    /// A block device.
    BlockDevice,
    /// Any other type.
    Unknown,
}

impl FileKind {
    fn of(stat: &Stat) -> Self {
        match FileType::from_raw_mode(stat.st_mode) {
            FileType::RegularFile => Self::RegularFile,
            FileType::Directory => Self::Directory,
            FileType::Symlink => Self::Symlink,
            FileType::Fifo => Self::Fifo,
            FileType::Socket => Self::Socket,
            FileType::CharacterDevice => Self::CharacterDevice,
            FileType::BlockDevice => Self::BlockDevice,
            FileType::Unknown => Self::Unknown,
        }
    }
}

impl fmt::Display for FileKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::RegularFile => "regular file",
            Self::Directory => "directory",
            Self::Symlink => "symlink",
            Self::Fifo => "FIFO",
            Self::Socket => "socket",
            Self::CharacterDevice => "character device",
            Self::BlockDevice => "block device",
            Self::Unknown => "file of unknown type",
        })
    }
}

/// Reading or writing the state directory failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The key is not a relative path of `[a-z0-9.-]` segments that do not start with `.`.
    #[error("state file {key:?}: not a valid state key")]
    InvalidKey {
        /// The key.
        key: String,
    },
    /// Something other than the expected type is at a name in the state tree: planted by
    /// whoever controls the disk. It was not followed, read, written through or replaced.
    #[error("state file {path}: a {found} where a {expected} belongs")]
    Foreign {
        /// The name, under the state root.
        path: PathBuf,
        /// What is there.
        found: FileKind,
        /// What belongs there.
        expected: FileKind,
    },
    /// The file is larger than [`MAX_FILE_BYTES`].
    #[error("state file {path}: larger than {limit} bytes")]
    TooLarge {
        /// The name, under the state root.
        path: PathBuf,
        /// [`MAX_FILE_BYTES`].
        limit: u64,
    },
    /// A system call failed.
    #[error("state file {path}")]
    Io {
        /// The name, under the state root.
        path: PathBuf,
        /// The failure.
        #[source]
        source: io::Error,
    },
}

/// The storage port: where the Coordinator keeps its public state (the keys of
/// [`crate::history`]). [`DirStore`] is the embedded default and, so far, the only backend; a
/// second one implements this trait and is chosen in [`crate::app`].
///
/// # Contract
/// - Keys are relative paths of `[a-z0-9.-]` segments separated by `/`, none starting with
///   `.`; a backend refuses any other key ([`StoreError::InvalidKey`]).
/// - `put` is atomic and durable per key before it returns: after a crash a key holds its old
///   or its new value, never a torn one, and puts become durable in the order they were made
///   (the history writes `latest` last and relies on it).
/// - Nothing a backend returns is trusted: the history re-hashes and verifies everything it
///   reads, so a backend on the host's disk or network may be hostile. What a backend must
///   guarantee itself is that a hostile medium cannot make it read or write outside its own
///   namespace, hang, or exhaust memory (the directory store's rules: `docs/coordinator-state.md`).
/// - Both calls block (file I/O, fsync): callers on an async runtime run them off it.
pub trait Store: Send + Sync {
    /// The value at `key`, or `None` when there is none.
    ///
    /// # Errors
    /// [`StoreError`] for an invalid key, a foreign object at the key, or a failed read.
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// Replaces the value at `key` atomically and durably.
    ///
    /// # Errors
    /// [`StoreError`] for an invalid key, a value too large, or a failed write.
    fn put(&self, key: &str, value: &[u8]) -> Result<(), StoreError>;
}

impl Store for DirStore {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Self::get(self, key)
    }

    fn put(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        Self::put(self, key, value)
    }
}

/// A directory of named blobs. Keys are relative paths of `[a-z0-9.-]` segments separated by
/// `/` (e.g. `manifests/<hash>.json`); anything else is refused so no key escapes the directory.
/// Everything beneath the root is resolved under the root's handle, opened once by
/// [`DirStore::open`], one segment at a time, never following a symlink.
#[derive(Debug, Clone)]
pub struct DirStore {
    root: PathBuf,
    handle: Arc<OwnedFd>,
}

impl DirStore {
    /// A store rooted at `root`, created when missing. The operator gives `root` inside the
    /// CVM, so it is opened as given (a symlink in it is followed); nothing beneath it is.
    ///
    /// # Errors
    /// [`StoreError`] if the directory cannot be created or opened.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self, StoreError> {
        let root = root.into();
        fs::create_dir_all(&root).map_err(|source| StoreError::Io {
            path: root.clone(),
            source,
        })?;
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let handle =
            rustix::fs::open(&root, flags, Mode::empty()).map_err(|e| io_error(&root, e))?;
        Ok(Self {
            root,
            handle: Arc::new(handle),
        })
    }

    /// The directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The blob at `key`, or `None` when there is none.
    ///
    /// # Errors
    /// [`StoreError`] for an invalid key, anything but a regular file at `key` (or anything but
    /// a directory at one of its parents), a file over [`MAX_FILE_BYTES`], or a failed read.
    pub fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let key = Key::parse(key)?;
        let path = self.root.join(key.0);
        let Some(directory) = self.directory(&key, false)? else {
            return Ok(None);
        };
        let directory = directory.as_fd();
        // Checked before opening, so a planted FIFO or device is not even opened.
        match kind_at(directory, key.name(), &path)? {
            None => return Ok(None),
            Some(FileKind::RegularFile) => {}
            Some(found) => return Err(foreign(path, found, FileKind::RegularFile)),
        }
        match rustix::fs::openat(directory, key.name(), READ_FLAGS, Mode::empty()) {
            Ok(file) => read_regular(file, &path).map(Some),
            Err(Errno::NOENT) => Ok(None),
            Err(error) => Err(open_error(
                directory,
                key.name(),
                &path,
                FileKind::RegularFile,
                error,
            )),
        }
    }

    /// Replaces the blob at `key` atomically and durably.
    ///
    /// # Errors
    /// [`StoreError`] for an invalid key, a value over [`MAX_FILE_BYTES`], anything but a
    /// regular file at `key` (or anything but a directory at one of its parents), or a failed
    /// write.
    pub fn put(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        let key = Key::parse(key)?;
        let path = self.root.join(key.0);
        if exceeds_limit(value.len()) {
            return Err(too_large(path));
        }
        let directory = self
            .directory(&key, true)?
            .ok_or_else(|| io_error(&path, Errno::NOENT))?;
        let directory = directory.as_fd();
        // Rename would replace a symlink or FIFO without following it; refusing it instead
        // reports the planted name. Safety does not rest on this check: one planted after it is
        // replaced by the rename, never written through.
        match kind_at(directory, key.name(), &path)? {
            None | Some(FileKind::RegularFile) => {}
            Some(found) => return Err(foreign(path, found, FileKind::RegularFile)),
        }
        replace(directory, key.name(), value).map_err(|source| StoreError::Io { path, source })
    }

    /// The handle of `key`'s directory, walked from the root one segment at a time; `None`
    /// when a segment is missing and `create` is false.
    fn directory(&self, key: &Key<'_>, create: bool) -> Result<Option<OwnedFd>, StoreError> {
        let mut current = rustix::io::dup(&*self.handle).map_err(|e| io_error(&self.root, e))?;
        let mut path = self.root.clone();
        for segment in key.directories() {
            path.push(segment);
            match subdirectory(current.as_fd(), segment, &path, create)? {
                Some(next) => current = next,
                None => return Ok(None),
            }
        }
        Ok(Some(current))
    }
}

/// A key that names a file beneath the root: one or more segments of `[a-z0-9.-]`, none
/// empty and none starting with `.` (so no `..`, and no key is ever a temporary's name).
#[derive(Debug, Clone, Copy)]
struct Key<'a>(&'a str);

impl<'a> Key<'a> {
    fn parse(key: &'a str) -> Result<Self, StoreError> {
        let valid = !key.is_empty()
            && key.split('/').all(|segment| {
                !segment.is_empty()
                    && !segment.starts_with('.')
                    && segment.bytes().all(|b| {
                        b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-'
                    })
            });
        if valid {
            Ok(Self(key))
        } else {
            Err(StoreError::InvalidKey {
                key: key.to_owned(),
            })
        }
    }

    /// The segments naming directories: all but the last.
    fn directories(self) -> impl Iterator<Item = &'a str> {
        self.0
            .rsplit_once('/')
            .into_iter()
            .flat_map(|(directories, _)| directories.split('/'))
    }

    /// The last segment: the file's name in its directory.
    fn name(self) -> &'a str {
        self.0.rsplit_once('/').map_or(self.0, |(_, name)| name)
    }
}

/// The directory `name` in `parent`, opened without following a symlink; created (and made
/// durable in `parent`) when missing and `create` is set.
fn subdirectory(
    parent: BorrowedFd<'_>,
    name: &str,
    path: &Path,
    create: bool,
) -> Result<Option<OwnedFd>, StoreError> {
    match rustix::fs::openat(parent, name, DIRECTORY_FLAGS, Mode::empty()) {
        Ok(directory) => return Ok(Some(directory)),
        Err(Errno::NOENT) if !create => return Ok(None),
        Err(Errno::NOENT) => {}
        Err(error) => return Err(open_error(parent, name, path, FileKind::Directory, error)),
    }
    // `mkdirat` never follows a symlink at `name`: it fails with `EEXIST`, and the open below
    // then refuses whatever is there.
    match rustix::fs::mkdirat(parent, name, Mode::from_raw_mode(0o777)) {
        Ok(()) | Err(Errno::EXIST) => {}
        Err(error) => return Err(io_error(path, error)),
    }
    rustix::fs::fsync(parent).map_err(|e| io_error(path, e))?;
    rustix::fs::openat(parent, name, DIRECTORY_FLAGS, Mode::empty())
        .map(Some)
        .map_err(|error| open_error(parent, name, path, FileKind::Directory, error))
}

/// What is at `name` in `directory`, without following a symlink; `None` when nothing is.
fn kind_at(
    directory: BorrowedFd<'_>,
    name: &str,
    path: &Path,
) -> Result<Option<FileKind>, StoreError> {
    match rustix::fs::statat(directory, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(stat) => Ok(Some(FileKind::of(&stat))),
        Err(Errno::NOENT) => Ok(None),
        Err(error) => Err(io_error(path, error)),
    }
}

/// The error for a failed open of `name`: [`StoreError::Foreign`] when something other than
/// `expected` is there now (`ELOOP` for a symlink, `ENOTDIR` for a file), else the failure.
fn open_error(
    directory: BorrowedFd<'_>,
    name: &str,
    path: &Path,
    expected: FileKind,
    error: Errno,
) -> StoreError {
    match kind_at(directory, name, path) {
        Ok(Some(found)) if found != expected => foreign(path.to_path_buf(), found, expected),
        _ => io_error(path, error),
    }
}

/// The content of an opened state file, refused unless it is a regular file within the limit.
fn read_regular(file: OwnedFd, path: &Path) -> Result<Vec<u8>, StoreError> {
    let stat = rustix::fs::fstat(&file).map_err(|e| io_error(path, e))?;
    let found = FileKind::of(&stat);
    if found != FileKind::RegularFile {
        return Err(foreign(path.to_path_buf(), found, FileKind::RegularFile));
    }
    if u64::try_from(stat.st_size).map_or(true, |size| size > MAX_FILE_BYTES) {
        return Err(too_large(path.to_path_buf()));
    }
    let mut bytes = Vec::new();
    // One byte over the limit tells a file that grew after `fstat`.
    File::from(file)
        .take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|source| StoreError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    if exceeds_limit(bytes.len()) {
        return Err(too_large(path.to_path_buf()));
    }
    Ok(bytes)
}

/// Writes `value` to a new temporary in `directory`, makes it durable, renames it over `name`
/// (rename replaces the name itself, never what a symlink there points to) and makes the
/// rename durable. A temporary left by a failure is removed; one left by a crash is harmless.
fn replace(directory: BorrowedFd<'_>, name: &str, value: &[u8]) -> io::Result<()> {
    let temporary = write_temporary(directory, value)?;
    if let Err(error) = rustix::fs::renameat(directory, &temporary, directory, name) {
        remove_temporary(directory, &temporary);
        return Err(error.into());
    }
    rustix::fs::fsync(directory)?;
    Ok(())
}

/// A new, durable file holding `value` in `directory`, under a fresh unpredictable name.
fn write_temporary(directory: BorrowedFd<'_>, value: &[u8]) -> io::Result<String> {
    let temporary = temporary_name()?;
    let file = rustix::fs::openat(
        directory,
        &temporary,
        TEMPORARY_FLAGS,
        Mode::from_raw_mode(0o666),
    )?;
    let mut file = File::from(file);
    if let Err(error) = file.write_all(value).and_then(|()| file.sync_all()) {
        remove_temporary(directory, &temporary);
        return Err(error);
    }
    Ok(temporary)
}

/// Best effort: the write already failed, and a leftover temporary is never read.
fn remove_temporary(directory: BorrowedFd<'_>, temporary: &str) {
    let _ignored = rustix::fs::unlinkat(directory, temporary, AtFlags::empty());
}

/// `.tmp-` and 128 random bits as hex: no one can plant anything at it in advance.
fn temporary_name() -> io::Result<String> {
    let mut random = [0_u8; 16];
    getrandom::fill(&mut random).map_err(io::Error::other)?;
    Ok(format!("{TEMPORARY_PREFIX}{}", hex::encode(random)))
}

fn exceeds_limit(length: usize) -> bool {
    u64::try_from(length).map_or(true, |length| length > MAX_FILE_BYTES)
}

fn foreign(path: PathBuf, found: FileKind, expected: FileKind) -> StoreError {
    StoreError::Foreign {
        path,
        found,
        expected,
    }
}

fn too_large(path: PathBuf) -> StoreError {
    StoreError::TooLarge {
        path,
        limit: MAX_FILE_BYTES,
    }
}

fn io_error(path: &Path, error: Errno) -> StoreError {
    StoreError::Io {
        path: path.to_path_buf(),
        source: error.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::Key;

    #[test]
    fn a_key_splits_into_directories_and_a_name() {
        let key = Key::parse("mesh-ca/ab.der").unwrap();
        assert_eq!(key.directories().collect::<Vec<_>>(), ["mesh-ca"]);
        assert_eq!(key.name(), "ab.der");
        let key = Key::parse("latest").unwrap();
        assert_eq!(key.directories().count(), 0);
        assert_eq!(key.name(), "latest");
        let key = Key::parse("a/b/c").unwrap();
        assert_eq!(key.directories().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(key.name(), "c");
    }

    #[test]
    fn no_key_is_a_temporary_name() {
        assert!(Key::parse(".tmp-00").is_err());
        assert!(Key::parse("manifests/.tmp-00").is_err());
    }
}
