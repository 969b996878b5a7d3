//! The temporaries beside a target: `.NAME.<random>.tmp` for `DIR/NAME`.

use std::ffi::OsString;
use std::hash::{BuildHasher, RandomState};
use std::io;
use std::path::{Path, PathBuf};

/// A fresh temporary name beside `target`. The random part comes from the standard library's
/// per-process random hash keys, mixed with a per-process counter, so two writes in one
/// process never draw the same name and two processes (even with the same pid, in two
/// containers) almost never do; creation is exclusive, so a clash is retried, never shared.
pub(crate) fn beside(target: &Path) -> io::Result<PathBuf> {
    let name = file_name(target)?;
    let mut temporary = OsString::from(".");
    temporary.push(name);
    temporary.push(format!(".{:016x}.tmp", random()));
    Ok(target.with_file_name(temporary))
}

/// Removes the temporaries of `target` left in its directory by crashed or failed writes
/// (`.NAME.*tmp`). Only for a target with a single writer: a temporary of a write under way
/// elsewhere would be removed with them, and that write would fail.
///
/// # Errors
/// The directory cannot be listed, or a temporary cannot be removed.
pub fn remove_temporaries(target: &Path) -> io::Result<()> {
    let name = file_name(target)?.to_string_lossy().into_owned();
    let prefix = format!(".{name}.");
    let directory = directory_of(target);
    for entry in std::fs::read_dir(directory)? {
        let entry = entry?;
        let entry_name = entry.file_name();
        let is_temporary = entry_name
            .to_str()
            .and_then(|entry_name| entry_name.strip_prefix(&prefix))
            .is_some_and(|rest| rest.ends_with("tmp"));
        if is_temporary {
            match std::fs::remove_file(entry.path()) {
                Err(error) if error.kind() != io::ErrorKind::NotFound => return Err(error),
                _ => {}
            }
        }
    }
    Ok(())
}

/// The directory that holds `target` (`.` for a bare file name).
pub(crate) fn directory_of(target: &Path) -> &Path {
    match target.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

fn file_name(target: &Path) -> io::Result<&std::ffi::OsStr> {
    target.file_name().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{}: not a file name", target.display()),
        )
    })
}

fn random() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static WRITES: AtomicU64 = AtomicU64::new(0);
    RandomState::new().hash_one((std::process::id(), WRITES.fetch_add(1, Ordering::Relaxed)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_differ_per_write_and_sit_beside_the_target() {
        let first = beside(Path::new("/a/b/config.json")).unwrap();
        let second = beside(Path::new("/a/b/config.json")).unwrap();
        assert_ne!(first, second);
        assert_eq!(first.parent(), Some(Path::new("/a/b")));
        let name = first.file_name().unwrap().to_str().unwrap();
        assert!(
            name.starts_with(".config.json.") && name.ends_with(".tmp"),
            "{name}"
        );
    }

    #[test]
    fn a_path_without_a_file_name_is_refused() {
        let error = beside(Path::new("/")).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
    }

    #[test]
    fn a_bare_name_lives_in_the_current_directory() {
        assert_eq!(directory_of(Path::new("x")), Path::new("."));
        assert_eq!(directory_of(Path::new("d/x")), Path::new("d"));
    }
}
