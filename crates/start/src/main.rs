//! `chiaro-start`: wait for the pod's gate files, then exec the pinned command.
//!
//! Exit codes: 1 when a `--require-file` is missing or a `--verify-file` does not hold its pinned
//! content, 64 for a command line generate does not write, 127 when the command cannot be
//! found, 126 when it cannot be run. It waits without a deadline: a pod whose mesh proxy never
//! becomes ready must not run its workload, and the kubelet restarts the proxy meanwhile.

use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::{Command, ExitCode};
use std::time::Duration;

use chiaro_start::{Gate, VerifiedFile};

/// How often a missing gate file is looked for again.
const POLL: Duration = Duration::from_millis(50);

fn log(line: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr().lock(), "chiaro-start: {line}");
}

/// Returns once `file` exists; says once that it waits.
fn wait_for(file: &Path) {
    let mut said = false;
    while !file.is_file() {
        if !said {
            log(&format!("waiting for {}", file.display()));
            said = true;
        }
        std::thread::sleep(POLL);
    }
}

/// Whether `file` holds the pinned content.
fn verify(file: &VerifiedFile) -> Result<(), String> {
    use sha2::Digest as _;
    let content = std::fs::read(&file.path).map_err(|error| format!("cannot be read: {error}"))?;
    let found: String = sha2::Sha256::digest(&content)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    if found == file.sha256 {
        Ok(())
    } else {
        Err(format!(
            "its content (SHA-256 {found}) is not what the pod's policy pins ({}); the host changed it, or the ConfigMap or Secret changed after generate (a change needs a new policy)",
            file.sha256
        ))
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (gate, command) = match Gate::parse(&args) {
        Ok(parsed) => parsed,
        Err(error) => {
            log(&format!("usage: {error}"));
            return ExitCode::from(64);
        }
    };
    if let Some(missing) = gate.require_files.iter().find(|f| !Path::new(f).is_file()) {
        log(&format!("not running: {missing} does not exist yet"));
        return ExitCode::FAILURE;
    }
    for file in &gate.wait_files {
        wait_for(Path::new(file));
    }
    for file in &gate.verify_files {
        if let Err(why) = verify(file) {
            log(&format!("not running: {}: {why}", file.path));
            return ExitCode::FAILURE;
        }
    }
    let Some((program, rest)) = command.split_first() else {
        return ExitCode::from(64);
    };
    let error = Command::new(program).args(rest).exec();
    log(&format!("cannot run {program:?}: {error}"));
    ExitCode::from(if error.kind() == std::io::ErrorKind::NotFound {
        127
    } else {
        126
    })
}
