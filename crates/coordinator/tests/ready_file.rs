//! The binary's ready file (`--ready-file`): started on port 0s, the Coordinator reports the
//! addresses it serves, and a ready file it cannot write ends it with a clear error.

#![expect(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers fail loudly"
)]

mod harness;

use std::net::TcpStream;
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use harness::{Deployment, http_get};

#[test]
fn the_reported_addresses_are_the_ones_served() {
    let mut deployment = Deployment::new();
    let (log, lines) = mpsc::channel();
    deployment.log = Some(log);
    deployment.start_coordinator();
    let (user_api, mesh_api, status) =
        (deployment.user_api, deployment.mesh_api, deployment.status);
    for address in [user_api, mesh_api, status] {
        assert!(address.ip().is_loopback(), "{address}");
        assert_ne!(address.port(), 0, "the bound port, not the flag's");
    }
    assert_eq!(http_get(status, "/healthz").0, "HTTP/1.1 200 OK");
    assert_eq!(
        http_get(status, "/readyz").1,
        "uninitialized\n",
        "the status port of this Coordinator"
    );
    TcpStream::connect(user_api).unwrap();
    TcpStream::connect(mesh_api).unwrap();
    // The Coordinator's own log names each listener at the address reported for it.
    wait_for_line(
        &lines,
        &format!("user_api={user_api} mesh_api={mesh_api} status={status}"),
    );
    deployment.kill_coordinator();
    std::fs::remove_dir_all(&deployment.dir).unwrap();
}

#[test]
fn a_ready_file_that_cannot_be_written_ends_the_coordinator_with_a_clear_error() {
    let deployment = Deployment::new();
    let missing_directory = deployment.path("missing/ready.json");
    for ready in [missing_directory, deployment.dir.clone()] {
        let output = deployment
            .coordinator_command(&deployment.path("state"), Stdio::piped())
            .arg("--ready-file")
            .arg(&ready)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{stderr}");
        assert!(
            stderr.contains(&format!("ready file {}", ready.display())),
            "unclear: {stderr}"
        );
    }
    std::fs::remove_dir_all(&deployment.dir).unwrap();
}

/// Waits for a line of the Coordinator's log that contains `text`.
fn wait_for_line(lines: &mpsc::Receiver<String>, text: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match lines.recv_timeout(left) {
            Ok(line) if line.contains(text) => return,
            Ok(_) => {}
            Err(error) => panic!("no log line with {text:?}: {error}"),
        }
    }
    panic!("no log line with {text:?}");
}
