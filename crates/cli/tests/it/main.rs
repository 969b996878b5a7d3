//! The `chiaro` binary, run as a process, on the real vectors.

#![expect(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers fail loudly"
)]

mod conventions;
mod cross;
mod deploy_guide;
mod evidence_show;
mod evidence_verify;
mod generate;
mod generate_inputs;
mod generate_real_apps;
mod install;
mod json_outputs;
mod local;
mod measure;
mod policy;
mod port_forward;

use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs `chiaro` with `args`; returns the exit code and stdout.
fn chiaro(args: &[&str]) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_chiaro"))
        .args(args)
        .output()
        .unwrap();
    (
        output.status.code().unwrap(),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

/// A scratch file for this test process.
fn scratch_file(name: &str, contents: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("chiaro-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path
}

fn path_str(path: &Path) -> &str {
    path.to_str().unwrap()
}
