//! Locating `../shared/testdata`: `CHIARO_TESTDATA`, else `../shared/testdata` beside the
//! workspace. Tests that read it are named `needs_vectors_…` (see [`crate::prerequisite`]).

use std::path::{Path, PathBuf};

use crate::prerequisite::Prerequisite;

/// The test-data directory.
///
/// # Panics
/// When it is missing (the test fails, it never passes without its vectors), or the running
/// test's name lacks `needs_vectors`.
pub fn dir() -> PathBuf {
    Prerequisite::Vectors.require();
    crate::prerequisite::testdata_dir()
}

/// Reads a file below the test-data directory.
///
/// # Panics
/// When the file is missing: the vector set is incomplete.
pub fn read(dir: &Path, relative: &str) -> Vec<u8> {
    let path = dir.join(relative);
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading test vector {}: {e}", path.display()))
}

/// Reads a text file below the test-data directory.
///
/// # Panics
/// When the file is missing or not UTF-8.
pub fn read_text(dir: &Path, relative: &str) -> String {
    String::from_utf8(read(dir, relative))
        .unwrap_or_else(|e| panic!("{relative} is not UTF-8: {e}"))
}
