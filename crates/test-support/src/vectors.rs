//! Locating `../shared/testdata`.
//!
//! The directory comes from `CHIARO_TESTDATA`, else `../shared/testdata` beside the workspace.
//! When it is missing, tests fail if `CI` is set and otherwise skip with a message that says what
//! was not run.

use std::path::{Path, PathBuf};

/// The variable that overrides where the vectors live.
pub const TESTDATA_ENV: &str = "CHIARO_TESTDATA";

/// The test-data directory, or `None` (after printing why) when it is absent outside CI.
///
/// # Panics
/// When the directory is absent and `CI` is set: CI must never skip the vector tests.
pub fn testdata(what: &str) -> Option<PathBuf> {
    let dir = std::env::var_os(TESTDATA_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata"));
    if dir.join("README.md").is_file() {
        return Some(dir);
    }
    let message = format!(
        "test data not found at {} (set {TESTDATA_ENV}); not run: {what}",
        dir.display()
    );
    if std::env::var_os("CI").is_some() {
        panic!("{message}");
    }
    #[expect(clippy::print_stderr, reason = "a skipped test must say so")]
    {
        eprintln!("SKIPPED: {message}");
    }
    None
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

/// Returns the test-data directory or skips the calling test (see [`testdata`]).
#[macro_export]
macro_rules! testdata_or_skip {
    ($what:expr) => {
        match $crate::vectors::testdata($what) {
            Some(dir) => dir,
            None => return,
        }
    };
}
