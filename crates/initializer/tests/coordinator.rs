//! The initializer binary against a real Coordinator process (INSECURE simulated TEEs over
//! loopback): what it retries and what ends it at once. Credentials issued end to end, and a
//! Coordinator refusing a pod, are in the Coordinator's tests (`crates/coordinator/tests/e2e.rs`),
//! which need the CLI to install a manifest.
//!
//! Needs the `chiaro-coordinator` and `chiaro-start` binaries beside this one
//! (`cargo build --workspace --bins`; scripts/test does): a missing one fails the test.

#![expect(clippy::unwrap_used, clippy::panic, reason = "test")]

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use chiaro_attest::UnixTime;
use chiaro_attest::insecure_simulation::InsecureSimulatedTee;
use chiaro_guest_issuer::flags;
use chiaro_pod::CredentialsDir;

/// The Coordinator's launch binding, as its reference values pin it.
/// The simulated guest's launch measurement (zeros unless told otherwise): every reference set
/// pins the guest.
const SIMULATED_GUEST: &str = "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000";
const COORDINATOR_POLICY: &str = "c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0";
/// Another policy: the genuine Coordinator image under initdata the host chose.
const HOST_POLICY: &str = "0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f";
/// The pod's own policy hash.
const POD_POLICY: &str = "1111111111111111111111111111111111111111111111111111111111111111";
/// A workload owner's key digest (never reached: these Coordinators hand out nothing).
const OWNER: &str = "abababababababababababababababababababababababababababababababab";

fn binary(name: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_BIN_EXE_chiaro-initializer")).with_file_name(name);
    assert!(
        path.is_file(),
        "{} is not built: run `cargo build --workspace --bins` first (scripts/test does)",
        path.display()
    );
    path
}

/// A loopback port nothing listens on now (for "no Coordinator there"; a Coordinator started
/// here takes port 0 and reports its ports in its ready file instead).
fn free_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// A scratch directory with a simulated TEE and the anchor a pod pins.
struct Pod {
    dir: PathBuf,
}

impl Pod {
    fn new(name: &str) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "chiaro-initializer-it-{name}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let tee = InsecureSimulatedTee::generate(UnixTime::from_secs(1_767_225_600)).unwrap();
        std::fs::write(dir.join("tee.json"), tee.to_insecure_json().unwrap()).unwrap();
        let ark = hex::encode(tee.ark_der());
        std::fs::write(
            dir.join("anchor.json"),
            format!(
                r#"{{"coordinator": {{"insecure_simulated": [{{"ark": "{ark}", "values": {{"host_data": "{COORDINATOR_POLICY}", "measurements": ["{SIMULATED_GUEST}"]}}}}]}}, "owner_key_digests": ["{OWNER}"]}}"#
            ),
        )
        .unwrap();
        Self { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    fn out(&self) -> CredentialsDir {
        CredentialsDir::new(self.path("out"))
    }

    /// The initializer against `coordinator`, retrying for `patience`; its output and how long
    /// it ran.
    fn initializer(&self, coordinator: SocketAddr, patience: u64) -> (Output, Duration) {
        let started = Instant::now();
        let output = Command::new(binary("chiaro-initializer"))
            .args(["--coordinator", &coordinator.to_string()])
            .arg("--deployment-anchor")
            .arg(self.path("anchor.json"))
            .arg("--out")
            .arg(self.out().root())
            .arg("--start-binary")
            .arg(binary("chiaro-start"))
            .args(["--patience-secs", &patience.to_string()])
            .arg(format!("--{}", flags::INSECURE_SIMULATED_TEE))
            .arg(self.path("tee.json"))
            .args([
                &format!("--{}", flags::INSECURE_SIMULATED_HOST_DATA),
                POD_POLICY,
            ])
            .output()
            .unwrap();
        (output, started.elapsed())
    }

    /// Nothing was written: no credentials, and no start gate for the workload.
    fn assert_nothing_written(&self) {
        let out = self.out();
        for file in [out.certificate(), out.key(), out.start_gate()] {
            assert!(!file.exists(), "{} exists", file.display());
        }
    }
}

impl Drop for Pod {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A Coordinator process (no manifest installed) with the pod's simulated TEE, launched under
/// `policy`; killed when dropped.
struct Coordinator {
    child: Child,
    mesh_api: SocketAddr,
}

impl Coordinator {
    /// Starts it on loopback port 0s and waits for its ready file (the ports it got), or fails
    /// at once with its log when it exits first.
    fn start(pod: &Pod, policy: &str) -> Self {
        let ready = pod.path("coordinator-ready.json");
        let log = pod.path("coordinator.log");
        let mut child = Command::new(binary("chiaro-coordinator"))
            .arg("--state-dir")
            .arg(pod.path("state"))
            .args(["--user-api", "127.0.0.1:0"])
            .args(["--mesh-api", "127.0.0.1:0"])
            .args(["--status", "127.0.0.1:0"])
            .arg("--ready-file")
            .arg(&ready)
            .arg(format!("--{}", flags::INSECURE_SIMULATED_TEE))
            .arg(pod.path("tee.json"))
            .args([
                &format!("--{}", flags::INSECURE_SIMULATED_HOST_DATA),
                policy,
            ])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        match chiaro_api::ready::wait_for(&mut child, &ready, Duration::from_secs(30)) {
            Ok(addresses) => Self {
                child,
                mesh_api: addresses.mesh_api,
            },
            Err(error) => {
                let log = std::fs::read_to_string(&log).unwrap_or_default();
                panic!("{error}:\n{log}");
            }
        }
    }
}

impl Drop for Coordinator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// No line repeats a cause (`…: refused: refused`): each is printed once.
fn assert_each_cause_once(output: &Output) {
    for line in stderr(output).lines() {
        let causes: Vec<&str> = line.split(": ").collect();
        assert!(
            causes.windows(2).all(|pair| pair[0] != pair[1]),
            "a cause printed twice: {line}"
        );
    }
}

fn retries(output: &Output) -> usize {
    stderr(output).matches("retrying in").count()
}

#[test]
fn a_coordinator_that_is_not_there_is_retried_until_patience_runs_out() {
    let pod = Pod::new("absent");
    let (output, took) = pod.initializer(free_port(), 2);
    assert!(!output.status.success());
    assert!(retries(&output) >= 2, "{}", stderr(&output));
    assert!(
        stderr(&output).contains("did not become ready in time"),
        "{}",
        stderr(&output)
    );
    assert!(took >= Duration::from_millis(1_400), "{took:?}");
    assert_each_cause_once(&output);
    pod.assert_nothing_written();
}

#[test]
fn a_coordinator_without_a_manifest_is_retried() {
    let pod = Pod::new("uninitialized");
    let coordinator = Coordinator::start(&pod, COORDINATOR_POLICY);
    let (output, _) = pod.initializer(coordinator.mesh_api, 2);
    assert!(!output.status.success());
    assert!(retries(&output) >= 1, "{}", stderr(&output));
    assert!(
        stderr(&output).contains("did not become ready in time"),
        "{}",
        stderr(&output)
    );
    assert_each_cause_once(&output);
    pod.assert_nothing_written();
}

#[test]
fn attack_a_coordinator_under_another_policy_is_refused_at_once() {
    let pod = Pod::new("host-policy");
    let coordinator = Coordinator::start(&pod, HOST_POLICY);
    let (output, took) = pod.initializer(coordinator.mesh_api, 120);
    assert!(!output.status.success());
    assert_eq!(retries(&output), 0, "final: {}", stderr(&output));
    assert!(
        !stderr(&output).contains("did not become ready in time"),
        "{}",
        stderr(&output)
    );
    assert!(took < Duration::from_secs(60), "{took:?}");
    assert_each_cause_once(&output);
    pod.assert_nothing_written();
}

#[test]
fn a_missing_start_gate_is_refused_before_anything_runs() {
    let pod = Pod::new("no-gate");
    let output = Command::new(binary("chiaro-initializer"))
        .args(["--coordinator", &free_port().to_string()])
        .arg("--deployment-anchor")
        .arg(pod.path("anchor.json"))
        .arg("--out")
        .arg(pod.out().root())
        .arg("--start-binary")
        .arg(Path::new("/nonexistent/chiaro-start"))
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("/nonexistent/chiaro-start is missing"),
        "{}",
        stderr(&output)
    );
    assert_eq!(retries(&output), 0);
    assert!(!pod.out().root().exists());
}
