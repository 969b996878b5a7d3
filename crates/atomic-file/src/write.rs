//! The atomic write itself.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

use crate::Mode;
use crate::temporary;

/// How many fresh names to try when one is already taken (by a crashed write's leftover, or a
/// name clash with another process): a clash is already improbable once.
const ATTEMPTS: usize = 8;

/// Writes `content` to `path` atomically, creating the file with `mode`: a reader sees the old
/// file or the whole new one, concurrent writers of `path` each succeed (the last rename wins),
/// and after a return of `Ok` the content and the rename are on disk. The directory must exist.
///
/// # Errors
/// The I/O error of the step that failed (`path` names no file, the directory is missing or
/// not writable, the disk is full); the temporary is then removed.
pub fn write(path: &Path, content: &[u8], mode: Mode) -> io::Result<()> {
    let (temporary, file) = create_temporary(path, mode)?;
    let written = fill(file, content)
        .and_then(|()| std::fs::rename(&temporary, path))
        .and_then(|()| sync_directory(temporary::directory_of(path)));
    if written.is_err() {
        let _ignored = std::fs::remove_file(&temporary);
    }
    written
}

/// A new temporary beside `path`, created exclusively under a name of its own.
fn create_temporary(path: &Path, mode: Mode) -> io::Result<(std::path::PathBuf, File)> {
    let mut last = None;
    for _ in 0..ATTEMPTS {
        let temporary = temporary::beside(path)?;
        match options(mode).open(&temporary) {
            Ok(file) => return Ok((temporary, file)),
            Err(error) if error.kind() == io::ErrorKind::AlreadyExists => last = Some(error),
            Err(error) => return Err(error),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::from(io::ErrorKind::AlreadyExists)))
}

fn options(mode: Mode) -> OpenOptions {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(mode.bits());
    }
    #[cfg(not(unix))]
    let _ = mode;
    options
}

/// Writes and flushes `content` to the disk, then closes the file.
fn fill(mut file: File, content: &[u8]) -> io::Result<()> {
    file.write_all(content)?;
    file.sync_all()
}

/// Makes a rename in `directory` durable (on Unix; elsewhere a directory cannot be opened).
fn sync_directory(directory: &Path) -> io::Result<()> {
    #[cfg(unix)]
    File::open(directory)?.sync_all()?;
    #[cfg(not(unix))]
    let _ = directory;
    Ok(())
}
