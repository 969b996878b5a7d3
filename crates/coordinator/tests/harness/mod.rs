//! The harness of the process tests: a deployment directory with simulated TEEs, the
//! Coordinator as a real process on loopback ports of the system's choice (port 0, read back
//! from its ready file: no port is picked, freed and raced for), and the CLI and initializer
//! binaries run against it. Shared by `e2e.rs` and `attacks/` (each uses part of it).
//!
//! The three binaries must be built first (`cargo build --workspace --bins`; scripts/test does).

#![allow(
    dead_code,
    reason = "each test crate uses part of the harness (so `expect` would fail in one of them)"
)]

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use chiaro_api::ready::{BoundAddresses, ReadyFileError};
use chiaro_attest::insecure_simulation::InsecureSimulatedTee;
use chiaro_guest_issuer::flags;

pub(crate) const COORDINATOR_POLICY: &str =
    "c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0";
/// The simulated guest's launch measurement (the simulated TEE reports zeros unless told
/// otherwise): every reference set pins the guest.
pub(crate) const SIMULATED_GUEST: &str = "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000";
pub(crate) const WEB: &str = "1111111111111111111111111111111111111111111111111111111111111111";
pub(crate) const API: &str = "2222222222222222222222222222222222222222222222222222222222222222";
pub(crate) const DB: &str = "3333333333333333333333333333333333333333333333333333333333333333";
pub(crate) const UNKNOWN: &str = "4444444444444444444444444444444444444444444444444444444444444444";

pub(crate) fn binary(name: &str) -> PathBuf {
    let coordinator = PathBuf::from(env!("CARGO_BIN_EXE_chiaro-coordinator"));
    let path = coordinator.with_file_name(name);
    assert!(
        path.exists(),
        "{} is not built: run `cargo build --workspace --bins` first (scripts/test does)",
        path.display()
    );
    path
}

/// What the Coordinator's three listeners bind: loopback, the port the system chooses.
const ANY_LOOPBACK_PORT: &str = "127.0.0.1:0";

/// How long a started Coordinator may take to write its ready file (a guard against hanging).
const START_PATIENCE: Duration = Duration::from_secs(30);

pub(crate) struct Deployment {
    pub(crate) dir: PathBuf,
    /// The addresses of the Coordinator last started (its ready file's), port 0 before one is.
    pub(crate) user_api: SocketAddr,
    pub(crate) mesh_api: SocketAddr,
    pub(crate) status: SocketAddr,
    pub(crate) coordinator: Option<Child>,
    /// Flags the Coordinator gets after the deployment's own.
    pub(crate) coordinator_flags: Vec<String>,
    /// `RLIMIT_NOFILE` for the Coordinator (soft and hard), set by `sh -c 'ulimit -n'`.
    pub(crate) descriptor_limit: Option<u32>,
    /// When set, the Coordinator's stderr lines go here (and on to the test's stderr).
    pub(crate) log: Option<mpsc::Sender<String>>,
    /// Which build of the CLI runs `chiaro` commands.
    pub(crate) cli: Cli,
}

/// A build of the CLI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cli {
    /// This workspace's, for this machine.
    Linux,
    /// `scripts/cross`'s `chiaro.exe`, under wine (`chiaro_test_support::cross`).
    WindowsUnderWine,
}

impl Deployment {
    pub(crate) fn new() -> Self {
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
            serde_json::json!({ "insecure_simulated": [{ "ark": ark, "values": { "host_data": COORDINATOR_POLICY, "measurements": [SIMULATED_GUEST] } }] }).to_string(),
        )
        .unwrap();
        let unstarted: SocketAddr = ANY_LOOPBACK_PORT.parse().unwrap();
        Self {
            dir,
            user_api: unstarted,
            mesh_api: unstarted,
            status: unstarted,
            coordinator: None,
            coordinator_flags: Vec::new(),
            descriptor_limit: None,
            log: None,
            cli: Cli::Linux,
        }
    }

    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// The Coordinator on loopback port 0s with this deployment's simulated TEE, with its state
    /// in `state` (started by [`start_command`], which gives it a ready file).
    pub(crate) fn coordinator_command(&self, state: &Path, stderr: Stdio) -> Command {
        self.coordinator_command_as(state, stderr, COORDINATOR_POLICY)
    }

    /// The same with the launch binding `host_data`: the genuine image under another policy.
    pub(crate) fn coordinator_command_as(
        &self,
        state: &Path,
        stderr: Stdio,
        host_data: &str,
    ) -> Command {
        let mut command = match self.descriptor_limit {
            None => Command::new(binary("chiaro-coordinator")),
            Some(limit) => {
                let mut shell = Command::new("sh");
                shell
                    .args(["-c", "ulimit -n \"$0\" && exec \"$@\"", &limit.to_string()])
                    .arg(binary("chiaro-coordinator"));
                shell
            }
        };
        command
            .args(["--state-dir", state.to_str().unwrap()])
            .args(["--user-api", ANY_LOOPBACK_PORT])
            .args(["--mesh-api", ANY_LOOPBACK_PORT])
            .args(["--status", ANY_LOOPBACK_PORT])
            .args([
                &format!("--{}", flags::INSECURE_SIMULATED_TEE),
                self.path("tee.json").to_str().unwrap(),
            ])
            .args([
                &format!("--{}", flags::INSECURE_SIMULATED_HOST_DATA),
                host_data,
            ])
            .args(&self.coordinator_flags)
            .stdout(Stdio::null())
            .stderr(stderr);
        command
    }

    /// Starts the Coordinator on new ports (those its ready file reports); panics when it
    /// exits before serving (its stderr is above, or in [`Self::log`]).
    pub(crate) fn start_coordinator(&mut self) {
        let stderr = if self.log.is_some() {
            Stdio::piped()
        } else {
            Stdio::inherit()
        };
        let command = self.coordinator_command(&self.path("state"), stderr);
        let (mut child, ready) = self.spawn_with_ready_file(command);
        if let (Some(log), Some(stderr)) = (&self.log, child.stderr.take()) {
            forward_lines(stderr, log.clone());
        }
        // Kept in `self` at once, so it is waited for whatever happens (Drop).
        let child = self.coordinator.insert(child);
        match wait_ready(child, &ready) {
            Ok(addresses) => self.serving_on(addresses),
            Err(status) => {
                panic!("the Coordinator exited ({status}) before serving (its stderr is above)")
            }
        }
    }

    /// Spawns `command` (a Coordinator) with a ready file of its own, none there yet.
    fn spawn_with_ready_file(&self, mut command: Command) -> (Child, PathBuf) {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let ready = self.path(&format!("coordinator-ready-{n}.json"));
        match std::fs::remove_file(&ready) {
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => panic!("{error}"),
            _ => {}
        }
        let child = command.arg("--ready-file").arg(&ready).spawn().unwrap();
        (child, ready)
    }

    /// From now on, the CLI and the initializers talk to the Coordinator on `addresses`.
    fn serving_on(&mut self, addresses: BoundAddresses) {
        self.user_api = addresses.user_api;
        self.mesh_api = addresses.mesh_api;
        self.status = addresses.status;
    }

    pub(crate) fn kill_coordinator(&mut self) {
        let mut child = self.coordinator.take().unwrap();
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
    }

    /// The CLI; `set`, `verify` and `recover` talk to this deployment's Coordinator with the
    /// owner's deployment record.
    pub(crate) fn chiaro(&self, args: &[&str]) -> Output {
        self.chiaro_with_record(args, "record.json")
    }

    /// The CLI with the deployment record `record` (another machine's, or the host's).
    pub(crate) fn chiaro_with_record(&self, args: &[&str], record: &str) -> Output {
        let mut command = match self.cli {
            Cli::Linux => Command::new(binary("chiaro")),
            Cli::WindowsUnderWine => chiaro_test_support::cross::windows_chiaro(),
        };
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

    /// `chiaro set -m manifest` signed with the key in `owner_key`, as the owner.
    pub(crate) fn set(&self, manifest: &Path, owner_key: &str) -> Output {
        self.set_as(manifest, owner_key, "shares", "record.json")
    }

    /// `chiaro set` by whoever keeps its seed shares in `shares` and its record in `record`.
    pub(crate) fn set_as(
        &self,
        manifest: &Path,
        owner_key: &str,
        shares: &str,
        record: &str,
    ) -> Output {
        self.chiaro_with_record(
            &[
                "set",
                "-m",
                manifest.to_str().unwrap(),
                "--workload-owner-key",
                self.path(owner_key).to_str().unwrap(),
                "--seed-shares-dir",
                self.path(shares).to_str().unwrap(),
            ],
            record,
        )
    }

    /// `chiaro recover` by the owner of `share_key`, its shares in `shares`, its record in
    /// `record`, with `extra` flags.
    pub(crate) fn recover_as(
        &self,
        share_key: &str,
        shares: &str,
        record: &str,
        extra: &[&str],
    ) -> Output {
        let (key, shares) = (self.path(share_key), self.path(shares));
        let mut args = vec![
            "recover",
            "--seed-share-owner-key",
            key.to_str().unwrap(),
            "--seed-shares-dir",
            shares.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        self.chiaro_with_record(&args, record)
    }

    /// `chiaro recover` by the deployment's seed-share owner.
    pub(crate) fn recover(&self) -> Output {
        self.recover_as("share-owner.pem", "shares", "record.json", &[])
    }

    /// What the pods pin: the Coordinator (its reference, pinned to its policy hash) and the
    /// workload owner `owner_digest`.
    pub(crate) fn write_anchor(&self, owner_digest: &str) {
        let reference: serde_json::Value =
            serde_json::from_str(&read(&self.path("coordinator-reference.json"))).unwrap();
        std::fs::write(
            self.path("anchor.json"),
            serde_json::json!({ "coordinator": reference, "owner_key_digests": [owner_digest] })
                .to_string(),
        )
        .unwrap();
    }

    pub(crate) fn initializer(&self, policy: &str, tee: &str, out: &str, patience: &str) -> Output {
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
            .args([
                &format!("--{}", flags::INSECURE_SIMULATED_TEE),
                self.path(tee).to_str().unwrap(),
            ])
            .args([
                &format!("--{}", flags::INSECURE_SIMULATED_HOST_DATA),
                policy,
            ])
            .output()
            .unwrap()
    }

    pub(crate) fn manifest(
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
            "reference_values": { "insecure_simulated": [{ "ark": ark, "values": { "measurements": [SIMULATED_GUEST] } }] },
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

/// Sends each line of `stderr` to `log` and on to the test's stderr, until it ends.
fn forward_lines(stderr: std::process::ChildStderr, log: mpsc::Sender<String>) {
    std::thread::spawn(move || {
        use std::io::{BufRead, Write};
        for line in std::io::BufReader::new(stderr).lines() {
            let Ok(line) = line else { return };
            let _ = writeln!(std::io::stderr(), "{line}");
            let _ = log.send(line);
        }
    });
}

/// The value of the series `series` (name and labels, as rendered) in a Prometheus text.
pub(crate) fn metric(text: &str, series: &str) -> Option<u64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// `GET path` on the status port: (status line, body).
pub(crate) fn http_get(address: SocketAddr, path: &str) -> (String, String) {
    use std::io::{Read, Write};
    let mut stream = TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nhost: chiaro\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    (head.lines().next().unwrap().to_owned(), body.to_owned())
}

pub(crate) fn json(output: &Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

pub(crate) fn ok(output: &Output) -> serde_json::Value {
    assert!(
        output.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    json(output)
}

pub(crate) fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `chiaro keygen` for a workload owner and a seed-share owner (into the deployment directory);
/// returns what the manifest lists of them: the owner's key digest and the share owner's key.
pub(crate) fn owner_keys(deployment: &Deployment) -> (String, String) {
    let keys = keys_named(deployment, "owner.pem", "share-owner.pem");
    deployment.write_anchor(&keys.0);
    keys
}

/// Like [`owner_keys`], into the files named, without touching the anchor.
pub(crate) fn keys_named(
    deployment: &Deployment,
    owner: &str,
    share_owner: &str,
) -> (String, String) {
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

pub(crate) fn ok_process(output: &Output) {
    assert!(
        output.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Starts the Coordinator on `state`; `Err(stderr)` when it exits (refuses to start),
/// `Ok(child)` once it serves, on the addresses `deployment` then holds.
pub(crate) fn start_on(state: &Path, deployment: &mut Deployment) -> Result<Child, String> {
    let command = deployment.coordinator_command(state, Stdio::piped());
    start_command(command, deployment)
}

/// Starts `command` (a Coordinator with piped stderr); as [`start_on`].
pub(crate) fn start_command(
    command: Command,
    deployment: &mut Deployment,
) -> Result<Child, String> {
    let (mut child, ready) = deployment.spawn_with_ready_file(command);
    match wait_ready(&mut child, &ready) {
        Ok(addresses) => {
            deployment.serving_on(addresses);
            Ok(child)
        }
        Err(status) => {
            let mut stderr = String::new();
            std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
            assert!(!status.success(), "exited with success: {stderr}");
            Err(stderr)
        }
    }
}

/// Waits for the event of `child` (a Coordinator) serving: its ready file `ready` written
/// (`Ok`: the addresses it reports) or its exit (`Err`: its status), whichever comes first.
pub(crate) fn wait_ready(child: &mut Child, ready: &Path) -> Result<BoundAddresses, ExitStatus> {
    match chiaro_api::ready::wait_for(child, ready, START_PATIENCE) {
        Ok(addresses) => Ok(addresses),
        Err(ReadyFileError::Exited { status }) => Err(status),
        Err(other) => panic!("{other}"),
    }
}
