//! Golden files: a test's output compared with a file checked in beside the test, which the
//! project generates itself. `CHIARO_BLESS=1` rewrites the files instead of comparing (review
//! the diff before committing); without it a mismatch, or a missing file, fails with a diff.

use std::path::Path;

/// The variable that rewrites golden files.
pub const BLESS_ENV: &str = "CHIARO_BLESS";

/// Compares `actual` with the golden file at `path` (or writes it, under [`BLESS_ENV`]=1).
///
/// # Panics
/// When the file is missing or differs (not blessing), naming the file, the first
/// differing lines and how to bless.
pub fn check(path: &Path, actual: &str) {
    let bless = std::env::var_os(BLESS_ENV).is_some_and(|value| value == "1");
    if let Some(message) = mismatch(path, actual, bless) {
        panic!("{message}");
    }
}

/// [`check`]'s work: what is wrong when the file is missing or differs (blessing, nothing).
fn mismatch(path: &Path, actual: &str, bless: bool) -> Option<String> {
    if bless {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).unwrap();
        }
        std::fs::write(path, actual).unwrap();
        return None;
    }
    let expected = match std::fs::read_to_string(path) {
        Ok(expected) => expected,
        Err(error) => {
            return Some(format!(
                "golden file {} cannot be read ({error}); generate it with {BLESS_ENV}=1",
                path.display()
            ));
        }
    };
    if expected == actual {
        return None;
    }
    Some(format!(
        "{} differs from the output (- golden, + actual); if the change is intended, rerun with {BLESS_ENV}=1 and review the diff\n{}",
        path.display(),
        diff(&expected, actual)
    ))
}

/// The differing lines, each with its line number (at most 40).
fn diff(expected: &str, actual: &str) -> String {
    let expected: Vec<&str> = expected.lines().collect();
    let actual: Vec<&str> = actual.lines().collect();
    let mut out = Vec::new();
    for index in 0..expected.len().max(actual.len()) {
        let (old, new) = (expected.get(index), actual.get(index));
        if old == new {
            continue;
        }
        if let Some(old) = old {
            out.push(format!("{:>5} - {old}", index + 1));
        }
        if let Some(new) = new {
            out.push(format!("{:>5} + {new}", index + 1));
        }
        if out.len() >= 40 {
            out.push("      …".to_owned());
            break;
        }
    }
    out.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_diff_names_the_lines_that_differ() {
        assert_eq!(
            diff("a\nb\nc", "a\nB\nc\nd"),
            "    2 - b\n    2 + B\n    4 + d"
        );
    }

    #[test]
    fn a_missing_or_different_file_fails_and_blessing_rewrites_it() {
        let path = std::env::temp_dir().join(format!("chiaro-golden-{}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let missing = mismatch(&path, "actual\n", false).unwrap();
        assert!(missing.contains("cannot be read"), "{missing}");
        std::fs::write(&path, "golden\n").unwrap();
        let error = mismatch(&path, "actual\n", false).unwrap();
        assert!(
            error.contains("1 - golden") && error.contains("1 + actual"),
            "{error}"
        );
        assert_eq!(mismatch(&path, "actual\n", true), None);
        assert_eq!(mismatch(&path, "actual\n", false), None);
        std::fs::remove_file(&path).unwrap();
    }
}
