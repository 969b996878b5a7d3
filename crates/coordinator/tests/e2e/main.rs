//! The trust core end to end, as real processes over loopback with the INSECURE simulated TEE:
//! `chiaro-coordinator`, `chiaro set`, `chiaro-initializer` per workload, `chiaro verify`, an
//! owner-signed update, `kill -9`, restart into recovery, and `chiaro recover`.
//!
//! The host's attacks on the deployment's identity are in [`attacks`].
//!
//! The three binaries must be built first (`cargo build --workspace --bins`; scripts/test does).

#![expect(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers fail loudly"
)]

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use chiaro_attest::insecure_simulation::InsecureSimulatedTee;

mod attacks;

const COORDINATOR_POLICY: &str = "c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0";
const WEB: &str = "1111111111111111111111111111111111111111111111111111111111111111";
const API: &str = "2222222222222222222222222222222222222222222222222222222222222222";
const DB: &str = "3333333333333333333333333333333333333333333333333333333333333333";
const UNKNOWN: &str = "4444444444444444444444444444444444444444444444444444444444444444";

fn binary(name: &str) -> PathBuf {
    let coordinator = PathBuf::from(env!("CARGO_BIN_EXE_chiaro-coordinator"));
    let path = coordinator.with_file_name(name);
    assert!(
        path.exists(),
        "{} is not built: run `cargo build --workspace --bins` first (scripts/test does)",
        path.display()
    );
    path
}

fn free_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

struct Deployment {
    dir: PathBuf,
    user_api: SocketAddr,
    mesh_api: SocketAddr,
    status: SocketAddr,
    coordinator: Option<Child>,
}

impl Deployment {
    fn new() -> Self {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("chiaro-e2e-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let now = "2026-01-01T00:00:00Z".parse().unwrap();
        let tee = InsecureSimulatedTee::generate(now).unwrap();
        std::fs::write(dir.join("tee.json"), tee.to_insecure_json().unwrap()).unwrap();
        let other = InsecureSimulatedTee::generate(now).unwrap();
        std::fs::write(
            dir.join("other-tee.json"),
            other.to_insecure_json().unwrap(),
        )
        .unwrap();
        let ark = hex::encode(tee.ark_der());
        std::fs::write(
            dir.join("coordinator-reference.json"),
            serde_json::json!({ "insecure_simulated": [{ "ark": ark, "values": { "host_data": COORDINATOR_POLICY } }] }).to_string(),
        )
        .unwrap();
        Self {
            dir,
            user_api: free_port(),
            mesh_api: free_port(),
            status: free_port(),
            coordinator: None,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The Coordinator on this deployment's ports and simulated TEE, with its state in `state`.
    fn coordinator_command(&self, state: &Path, stderr: Stdio) -> Command {
        self.coordinator_command_as(state, stderr, COORDINATOR_POLICY)
    }

    /// The same with the launch binding `host_data`: the genuine image under another policy.
    fn coordinator_command_as(&self, state: &Path, stderr: Stdio, host_data: &str) -> Command {
        let mut command = Command::new(binary("chiaro-coordinator"));
        command
            .args(["--state-dir", state.to_str().unwrap()])
            .args([
                "--user-api",
                &self.user_api.to_string(),
                "--mesh-api",
                &self.mesh_api.to_string(),
            ])
            .args(["--status", &self.status.to_string()])
            .args([
                "--insecure-simulated-tee",
                self.path("tee.json").to_str().unwrap(),
            ])
            .args(["--insecure-simulated-host-data", host_data])
            .stdout(Stdio::null())
            .stderr(stderr);
        command
    }

    /// Starts the Coordinator; when it exits before listening (another test process took one
    /// of the free ports in between), again on new ports.
    fn start_coordinator(&mut self) {
        for _ in 0..5 {
            let child = self
                .coordinator_command(&self.path("state"), Stdio::inherit())
                .spawn()
                .unwrap();
            // Kept in `self` at once, so it is waited for whatever happens (Drop).
            self.coordinator = Some(child);
            let deadline = Instant::now() + Duration::from_secs(30);
            let mut exited = false;
            while TcpStream::connect(self.user_api).is_err()
                || TcpStream::connect(self.mesh_api).is_err()
                || TcpStream::connect(self.status).is_err()
            {
                let child = self.coordinator.as_mut().unwrap();
                if child.try_wait().unwrap().is_some() {
                    exited = true;
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "the Coordinator did not start listening"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
            if !exited {
                return;
            }
            self.coordinator = None;
            self.user_api = free_port();
            self.mesh_api = free_port();
            self.status = free_port();
        }
        panic!("the Coordinator exited before listening, five times");
    }

    fn kill_coordinator(&mut self) {
        let mut child = self.coordinator.take().unwrap();
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
    }

    /// The CLI; `set`, `verify` and `recover` talk to this deployment's Coordinator with the
    /// owner's deployment record.
    fn chiaro(&self, args: &[&str]) -> Output {
        self.chiaro_with_record(args, "record.json")
    }

    fn chiaro_with_record(&self, args: &[&str], record: &str) -> Output {
        let mut command = Command::new(binary("chiaro"));
        command.args(["--output", "json"]).args(args);
        if ["set", "verify", "recover"].contains(&args[0]) {
            command.args([
                "-c",
                &self.user_api.to_string(),
                "--coordinator-reference",
                self.path("coordinator-reference.json").to_str().unwrap(),
                "--deployment",
                self.path(record).to_str().unwrap(),
            ]);
        }
        command.output().unwrap()
    }

    /// `chiaro set -m manifest` signed with the key in `owner_key`.
    fn set(&self, manifest: &Path, owner_key: &str) -> Output {
        self.chiaro(&[
            "set",
            "-m",
            manifest.to_str().unwrap(),
            "--workload-owner-key",
            self.path(owner_key).to_str().unwrap(),
            "--seed-shares-dir",
            self.path("shares").to_str().unwrap(),
        ])
    }

    /// What the pods pin: the Coordinator (its reference, pinned to its policy hash) and the
    /// workload owner `owner_digest`.
    fn write_anchor(&self, owner_digest: &str) {
        let reference: serde_json::Value =
            serde_json::from_str(&read(&self.path("coordinator-reference.json"))).unwrap();
        std::fs::write(
            self.path("anchor.json"),
            serde_json::json!({ "coordinator": reference, "owner_key_digests": [owner_digest] })
                .to_string(),
        )
        .unwrap();
    }

    fn initializer(&self, policy: &str, tee: &str, out: &str, patience: &str) -> Output {
        Command::new(binary("chiaro-initializer"))
            .args(["--coordinator", &self.mesh_api.to_string()])
            .args([
                "--deployment-anchor",
                self.path("anchor.json").to_str().unwrap(),
            ])
            .args([
                "--out",
                self.path(out).to_str().unwrap(),
                "--patience-secs",
                patience,
            ])
            .args(["--insecure-simulated-tee", self.path(tee).to_str().unwrap()])
            .args(["--insecure-simulated-host-data", policy])
            .output()
            .unwrap()
    }

    fn manifest(
        &self,
        name: &str,
        web_san: &str,
        owner_digest: &str,
        share_owner: &str,
    ) -> PathBuf {
        let ark = hex::encode(
            InsecureSimulatedTee::from_insecure_json(
                &std::fs::read_to_string(self.path("tee.json")).unwrap(),
            )
            .unwrap()
            .ark_der(),
        );
        let manifest = serde_json::json!({
            "version": 1,
            "policies": {
                WEB: { "sans": [web_san], "workload_secret_id": "shared" },
                API: { "sans": ["api"], "workload_secret_id": "shared" },
                DB: { "sans": ["db"], "workload_secret_id": "db" },
            },
            "reference_values": { "insecure_simulated": [{ "ark": ark, "values": {} }] },
            "workload_owner_key_digests": [owner_digest],
            "seed_share_owner_keys": [share_owner],
        });
        let path = self.path(name);
        std::fs::write(&path, serde_json::to_string_pretty(&manifest).unwrap()).unwrap();
        path
    }
}

impl Drop for Deployment {
    fn drop(&mut self) {
        if let Some(mut child) = self.coordinator.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `GET path` on the status port: (status line, body).
fn http_get(address: SocketAddr, path: &str) -> (String, String) {
    use std::io::{Read, Write};
    let mut stream = TcpStream::connect(address).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nhost: chiaro\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    (head.lines().next().unwrap().to_owned(), body.to_owned())
}

fn json(output: &Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

fn ok(output: &Output) -> serde_json::Value {
    assert!(
        output.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    json(output)
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `chiaro keygen` for a workload owner and a seed-share owner (into the deployment directory);
/// returns what the manifest lists of them: the owner's key digest and the share owner's key.
/// The pods' anchor pins the owner.
fn owner_keys(deployment: &Deployment) -> (String, String) {
    let keys = keys_named(deployment, "owner.pem", "share-owner.pem");
    deployment.write_anchor(&keys.0);
    keys
}

/// Like [`owner_keys`], into the files named, without touching the anchor.
fn keys_named(deployment: &Deployment, owner: &str, share_owner: &str) -> (String, String) {
    let field = |kind: &str, file: &str, name: &str| {
        let output = ok(&deployment.chiaro(&[
            "keygen",
            kind,
            "--out",
            deployment.path(file).to_str().unwrap(),
        ]));
        output["fields"][name].as_str().unwrap().to_owned()
    };
    (
        field(
            "workload-owner",
            owner,
            "manifest_workload_owner_key_digest",
        ),
        field(
            "seed-share-owner",
            share_owner,
            "manifest_seed_share_owner_key",
        ),
    )
}

#[test]
fn set_initialize_verify_update_kill_recover() {
    let mut deployment = Deployment::new();
    let (owner_digest, share_owner) = owner_keys(&deployment);
    let manifest = deployment.manifest("manifest.json", "web", &owner_digest, &share_owner);

    deployment.start_coordinator();
    assert_eq!(
        http_get(deployment.status, "/readyz"),
        (
            "HTTP/1.1 503 Service Unavailable".to_owned(),
            "uninitialized\n".to_owned()
        )
    );
    assert_eq!(http_get(deployment.status, "/healthz").0, "HTTP/1.1 200 OK");
    let shares_dir = deployment.path("shares");
    let set = ok(&deployment.set(&manifest, "owner.pem"));
    let share_file = PathBuf::from(set["fields"]["seed_shares"][0].as_str().unwrap());
    assert!(
        share_file.starts_with(&shares_dir) && share_file.exists(),
        "{set}"
    );

    // Each workload gets credentials; same secret id, same secret.
    for (policy, out) in [(WEB, "web"), (API, "api"), (DB, "db")] {
        ok_process(&deployment.initializer(policy, "tee.json", out, "20"));
    }
    let dir = deployment.dir.clone();
    let secret = |out: &str| read(&dir.join(out).join("secrets/workload-secret-seed"));
    assert_eq!(secret("web"), secret("api"));
    assert_ne!(secret("web"), secret("db"));
    assert_eq!(secret("web").len(), 64);
    let key_mode = std::fs::metadata(deployment.path("web/tls/key.pem")).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&key_mode.permissions()) & 0o777,
        0o600
    );
    let web_cert = read(&deployment.path("web/tls/cert.pem"));
    let mesh_ca_before = read(&deployment.path("web/tls/mesh-ca.pem"));
    let root_before = read(&deployment.path("web/tls/coordinator-root-ca.pem"));
    assert!(web_cert.contains("BEGIN CERTIFICATE"));

    // An unknown policy and evidence from a root the manifest does not list are refused.
    assert!(
        !deployment
            .initializer(UNKNOWN, "tee.json", "unknown", "5")
            .status
            .success()
    );
    assert!(
        !deployment
            .initializer(WEB, "other-tee.json", "other", "5")
            .status
            .success()
    );
    assert!(
        !deployment.path("unknown/tls/cert.pem").exists()
            && !deployment.path("other/tls/cert.pem").exists()
    );

    assert_eq!(http_get(deployment.status, "/readyz").0, "HTTP/1.1 200 OK");
    let metrics = http_get(deployment.status, "/metrics").1;
    for expected in [
        "chiaro_coordinator_operations_total{operation=\"new_mesh_cert\",outcome=\"ok\"} 3",
        "chiaro_coordinator_operations_total{operation=\"new_mesh_cert\",outcome=\"refused\"} 1",
        "chiaro_coordinator_state{state=\"ready\"} 1",
    ] {
        assert!(
            metrics.contains(expected),
            "{expected} missing from\n{metrics}"
        );
    }
    // The wrong-root initializer was refused by attested TLS (readiness probes count too).
    let refused_tls: u64 = metrics
        .lines()
        .find_map(|line| {
            line.strip_prefix("chiaro_coordinator_attestation_refused_total{api=\"mesh\"} ")
        })
        .unwrap()
        .parse()
        .unwrap();
    assert!(refused_tls >= 1, "{metrics}");

    // verify: the latest manifest equals ours; the CAs are written.
    let verify = ok(&deployment.chiaro(&[
        "verify",
        "-m",
        manifest.to_str().unwrap(),
        "--out",
        deployment.path("verify").to_str().unwrap(),
    ]));
    assert_eq!(verify["fields"]["manifests"], 1);
    assert_eq!(read(&deployment.path("verify/mesh-ca.pem")), mesh_ca_before);

    // An update without the owner key is refused; with it, the mesh CA rotates, the root stays.
    let update = deployment.manifest("manifest-2.json", "www", &owner_digest, &share_owner);
    assert_eq!(
        deployment
            .chiaro(&[
                "set",
                "-m",
                update.to_str().unwrap(),
                "--seed-shares-dir",
                shares_dir.to_str().unwrap()
            ])
            .status
            .code(),
        Some(64)
    );
    ok(&deployment.set(&update, "owner.pem"));
    ok(&deployment.chiaro(&[
        "verify",
        "-m",
        update.to_str().unwrap(),
        "--out",
        deployment.path("verify-2").to_str().unwrap(),
    ]));
    assert_ne!(
        read(&deployment.path("verify-2/mesh-ca.pem")),
        mesh_ca_before
    );
    assert_eq!(
        read(&deployment.path("verify-2/coordinator-root-ca.pem")),
        root_before
    );
    let stale = deployment.chiaro(&[
        "verify",
        "-m",
        manifest.to_str().unwrap(),
        "--out",
        deployment.path("verify-stale").to_str().unwrap(),
    ]);
    assert_eq!(
        stale.status.code(),
        Some(3),
        "the old manifest is not the latest"
    );

    // kill -9, restart: recovery, no credentials until a seed share owner recovers it.
    deployment.kill_coordinator();
    deployment.start_coordinator();
    assert_eq!(http_get(deployment.status, "/readyz").1, "recovery\n");
    assert!(
        !deployment
            .initializer(WEB, "tee.json", "web-recovery", "2")
            .status
            .success()
    );
    let refused = deployment.chiaro(&[
        "verify",
        "--out",
        deployment.path("verify-recovery").to_str().unwrap(),
    ]);
    assert_eq!(
        refused.status.code(),
        Some(1),
        "a Coordinator in recovery serves no history"
    );
    ok(&deployment.chiaro(&[
        "recover",
        "--seed-share-owner-key",
        deployment.path("share-owner.pem").to_str().unwrap(),
        "--seed-shares-dir",
        shares_dir.to_str().unwrap(),
    ]));
    ok(&deployment.chiaro(&[
        "verify",
        "-m",
        update.to_str().unwrap(),
        "--out",
        deployment.path("verify-3").to_str().unwrap(),
    ]));
    assert_eq!(
        read(&deployment.path("verify-3/coordinator-root-ca.pem")),
        root_before,
        "same root CA"
    );
    assert_eq!(
        std::fs::read_dir(deployment.path("verify-3/manifests"))
            .unwrap()
            .count(),
        2,
        "same history"
    );
    assert_eq!(http_get(deployment.status, "/readyz").0, "HTTP/1.1 200 OK");
    ok_process(&deployment.initializer(WEB, "tee.json", "web-after", "20"));
    assert_eq!(secret("web-after"), secret("web"), "same workload secrets");
    std::fs::remove_dir_all(&deployment.dir).unwrap();
}

fn ok_process(output: &Output) {
    assert!(
        output.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Starts the Coordinator on `state`; `Err(stderr)` when it exits (refuses to start), `Ok(child)`
/// once it listens.
fn start_on(state: &Path, deployment: &Deployment) -> Result<Child, String> {
    start_command(
        deployment.coordinator_command(state, Stdio::piped()),
        deployment,
    )
}

/// Starts `command` (a Coordinator with piped stderr); as [`start_on`].
fn start_command(mut command: Command, deployment: &Deployment) -> Result<Child, String> {
    let mut child = command.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut stderr = String::new();
            std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
            assert!(!status.success());
            return Err(stderr);
        }
        if TcpStream::connect(deployment.user_api).is_ok() {
            return Ok(child);
        }
        assert!(
            Instant::now() < deadline,
            "the Coordinator neither started nor exited"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_corrupted_or_truncated_state_file_never_serves() {
    let mut deployment = Deployment::new();
    let (owner_digest, share_owner) = owner_keys(&deployment);
    let manifest = deployment.manifest("manifest.json", "web", &owner_digest, &share_owner);
    deployment.start_coordinator();
    let set = ok(&deployment.set(&manifest, "owner.pem"));
    let share_file = set["fields"]["seed_shares"][0].as_str().unwrap().to_owned();
    deployment.kill_coordinator();

    let state = deployment.path("state");
    let mut files: Vec<PathBuf> = Vec::new();
    let mut pending = vec![state.clone()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                files.push(path);
            }
        }
    }
    assert!(files.len() >= 5, "{files:?}");
    for file in files {
        let original = std::fs::read(&file).unwrap();
        let mut flipped = original.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 0x01;
        for corrupted in [original[..original.len() / 2].to_vec(), flipped] {
            std::fs::write(&file, &corrupted).unwrap();
            match start_on(&state, &deployment) {
                Err(stderr) => assert!(
                    stderr.contains("state file"),
                    "{}: unclear refusal: {stderr}",
                    file.display()
                ),
                Ok(mut child) => {
                    // Only a forged signature on `latest` loads; the seed then exposes it, and
                    // the Coordinator stays in recovery, serving nothing.
                    let recovered = deployment.chiaro(&[
                        "recover",
                        "--seed-share-owner-key",
                        deployment.path("share-owner.pem").to_str().unwrap(),
                        "--seed-share",
                        &share_file,
                    ]);
                    let history = deployment.chiaro(&[
                        "verify",
                        "--out",
                        deployment.path("verify-corrupt").to_str().unwrap(),
                    ]);
                    child.kill().unwrap();
                    child.wait().unwrap();
                    assert!(
                        file.ends_with("latest"),
                        "{} corrupted, yet the Coordinator started",
                        file.display()
                    );
                    assert!(
                        !recovered.status.success(),
                        "recovery accepted a forged history"
                    );
                    assert!(
                        !history.status.success(),
                        "a Coordinator on forged state served its history"
                    );
                }
            }
        }
        std::fs::write(&file, &original).unwrap();
    }
    let mut child = start_on(&state, &deployment).unwrap();
    ok(&deployment.chiaro(&[
        "recover",
        "--seed-share-owner-key",
        deployment.path("share-owner.pem").to_str().unwrap(),
        "--seed-share",
        &share_file,
    ]));
    child.kill().unwrap();
    child.wait().unwrap();
    std::fs::remove_dir_all(&deployment.dir).unwrap();
}
