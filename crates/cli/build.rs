//! Stamps the binary with what `chiaro version` prints: the source commit (`git rev-parse
//! HEAD`, or `CHIARO_COMMIT` when building from a tree without git; `unknown` otherwise) and
//! the target triple.

use std::process::Command;

fn main() {
    let target = std::env::var("TARGET").unwrap_or_else(|_| "unknown".to_owned());
    println!("cargo:rustc-env=CHIARO_TARGET={target}");
    println!("cargo:rerun-if-env-changed=CHIARO_COMMIT");
    let commit = std::env::var("CHIARO_COMMIT").ok().or_else(git_commit);
    println!(
        "cargo:rustc-env=CHIARO_COMMIT={}",
        commit.as_deref().unwrap_or("unknown")
    );
}

/// HEAD's commit, and the files that change when HEAD moves (to build again then).
fn git_commit() -> Option<String> {
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|output| output.status.success())
            .and_then(|output| String::from_utf8(output.stdout).ok())
            .map(|text| text.trim().to_owned())
    };
    let commit = git(&["rev-parse", "HEAD"])?;
    for path in [
        git(&["rev-parse", "--git-path", "HEAD"]),
        git(&["rev-parse", "--symbolic-full-name", "HEAD"])
            .and_then(|reference| git(&["rev-parse", "--git-path", &reference])),
        git(&["rev-parse", "--git-path", "packed-refs"]),
    ]
    .into_iter()
    .flatten()
    {
        println!("cargo:rerun-if-changed={path}");
    }
    Some(commit)
}
