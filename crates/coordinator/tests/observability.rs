//! The Coordinator's log, audit events and readiness, from the real binary: `--log-format json`
//! lines read back and parsed into a typed line, the audit events of a manifest transition, an
//! issued and a refused mesh certificate, an attestation refused by attested TLS and a
//! recovery, with their fields, and no secret in any line; `/readyz` without a TEE; usage
//! errors exit 64.
//!
//! The binaries must be built first (`cargo build --workspace --bins`; scripts/test does).

#![expect(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers fail loudly"
)]

mod harness;

use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use chiaro_coordinator::audit::{TARGET, event};
use harness::{Deployment, UNKNOWN, WEB, http_get, ok, ok_process, owner_keys, read};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject as _;

/// How long an expected log line may take to appear.
const PATIENCE: Duration = Duration::from_secs(30);

/// One `--log-format json` line: every line has a timestamp, a level and a target; the audit
/// events' fields are at the top level (`docs/observability.md`).
#[derive(Debug, Clone, serde::Deserialize)]
struct Line {
    timestamp: String,
    level: String,
    target: String,
    message: String,
    event: Option<String>,
    workload: Option<String>,
    policy_hash: Option<String>,
    sans: Option<String>,
    serial: Option<String>,
    manifest_hash: Option<String>,
    transition_hash: Option<String>,
    owner_key_digest: Option<String>,
    index: Option<u64>,
    init_data: Option<String>,
    listener: Option<String>,
    reason: Option<String>,
}

/// The Coordinator's stderr, line by line, each parsed (a line that is not such JSON fails).
struct Log {
    lines: mpsc::Receiver<String>,
    seen: Vec<(String, Line)>,
}

impl Log {
    /// Reads lines until an audit event `name` for which `matches` holds arrives (bounded).
    fn wait_for(&mut self, name: &str, matches: impl Fn(&Line) -> bool) -> Line {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let raw = self.lines.recv_timeout(left).unwrap_or_else(|error| {
                panic!(
                    "no audit event {name} within {PATIENCE:?} ({error}); seen: {:#?}",
                    self.seen
                )
            });
            let line: Line = serde_json::from_str(&raw)
                .unwrap_or_else(|error| panic!("not a JSON log line ({error}): {raw}"));
            self.seen.push((raw, line.clone()));
            if line.target == TARGET && line.event.as_deref() == Some(name) && matches(&line) {
                return line;
            }
        }
    }
}

#[test]
fn the_audit_events_are_json_lines_with_their_fields_and_no_secret() {
    let mut deployment = Deployment::new();
    let (owner_digest, share_owner) = owner_keys(&deployment);
    let manifest = deployment.manifest("manifest.json", "web", &owner_digest, &share_owner);
    let (sender, lines) = mpsc::channel();
    deployment.log = Some(sender);
    deployment.coordinator_flags = vec!["--log-format".to_owned(), "json".to_owned()];
    deployment.start_coordinator();
    let mut log = Log {
        lines,
        seen: Vec::new(),
    };

    let set = ok(&deployment.set(&manifest, "owner.pem"));
    let transition = log.wait_for(event::MANIFEST_TRANSITION, |_| true);
    assert_eq!(transition.index, Some(1));
    assert_eq!(transition.level, "INFO");
    assert_eq!(
        transition.transition_hash.as_deref(),
        set["fields"]["transition"].as_str(),
        "{set}"
    );
    assert_eq!(
        transition.manifest_hash.as_deref(),
        set["fields"]["manifest"].as_str(),
        "{set}"
    );

    // A workload gets its certificate: its policy hash, names and serial are in the event.
    ok_process(&deployment.initializer(WEB, "tee.json", "web", "20"));
    let issued = log.wait_for(event::MESH_CERT_ISSUED, |_| true);
    let pem = std::fs::read(deployment.path("web/tls/cert.pem")).unwrap();
    let certificate = CertificateDer::from_pem_slice(&pem).unwrap();
    let serial = chiaro_coordinator::ca::serial(&certificate).unwrap();
    assert_eq!(issued.policy_hash.as_deref(), Some(WEB));
    assert_eq!(issued.sans.as_deref(), Some("web"));
    assert_eq!(issued.workload.as_deref(), Some("web"));
    assert_eq!(issued.serial, Some(hex::encode(&serial)));

    // A policy the manifest does not list: refused, with the policy the evidence carried.
    assert!(
        !deployment
            .initializer(UNKNOWN, "tee.json", "unknown", "5")
            .status
            .success()
    );
    let refused = log.wait_for(event::MESH_CERT_REFUSED, |_| true);
    assert_eq!(refused.init_data.as_deref(), Some(UNKNOWN));
    assert_eq!(refused.level, "WARN");
    assert!(refused.reason.is_some_and(|reason| !reason.is_empty()));

    // Evidence from a root the Coordinator's reference does not list: refused by attested TLS.
    assert!(
        !deployment
            .initializer(WEB, "other-tee.json", "other", "5")
            .status
            .success()
    );
    let refused = log.wait_for(event::ATTESTATION_REFUSED, |line| {
        line.listener.as_deref() == Some("mesh")
    });
    assert!(refused.reason.is_some_and(|reason| !reason.is_empty()));

    // kill -9, restart into recovery, recover: the recovery is audited with the owner's digest.
    deployment.kill_coordinator();
    deployment.start_coordinator();
    ok(&deployment.recover());
    let recovered = log.wait_for(event::RECOVERED, |_| true);
    assert_eq!(
        recovered.owner_key_digest.as_ref().map(String::len),
        Some(64)
    );

    // No line carries a secret: no private key, no workload secret, no seed share (hex).
    let secret = read(&deployment.path("web/secrets/workload-secret-seed"));
    let key = read(&deployment.path("web/tls/key.pem"));
    let key_body = key.lines().nth(1).unwrap();
    let owner_key = read(&deployment.path("owner.pem"));
    let owner_key_body = owner_key.lines().nth(1).unwrap();
    let shares: Vec<String> = std::fs::read_dir(deployment.path("shares"))
        .unwrap()
        .map(|entry| hex::encode(std::fs::read(entry.unwrap().path()).unwrap()))
        .collect();
    assert!(!log.seen.is_empty());
    for (raw, line) in &log.seen {
        assert!(
            !line.timestamp.is_empty() && !line.message.is_empty(),
            "{raw}"
        );
        for forbidden in ["PRIVATE KEY", secret.trim(), key_body, owner_key_body]
            .into_iter()
            .chain(shares.iter().map(|share| share.trim()))
        {
            assert!(!raw.contains(forbidden), "a secret in the log: {raw}");
        }
    }
    std::fs::remove_dir_all(&deployment.dir).unwrap();
}

#[test]
fn a_coordinator_that_cannot_produce_evidence_is_not_ready_and_says_why() {
    // Without the simulated TEE the Coordinator asks configfs-tsm, which this machine (no TEE)
    // does not have: the real "no TEE" case.
    let tsm = std::path::Path::new("/sys/kernel/config/tsm/report");
    assert!(
        !tsm.exists(),
        "this machine has configfs-tsm: the no-TEE case cannot be made here"
    );
    let mut deployment = Deployment::new();
    let mut command = Command::new(harness::binary("chiaro-coordinator"));
    command
        .args(["--state-dir", deployment.path("state").to_str().unwrap()])
        .args(["--user-api", "127.0.0.1:0"])
        .args(["--mesh-api", "127.0.0.1:0"])
        .args(["--status", "127.0.0.1:0"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = harness::start_command(command, &mut deployment)
        .unwrap_or_else(|stderr| panic!("the Coordinator did not start: {stderr}"));
    let (status, body) = http_get(deployment.status, "/readyz");
    let healthz = http_get(deployment.status, "/healthz").0;
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(status, "HTTP/1.1 503 Service Unavailable");
    assert!(
        body.starts_with("cannot produce evidence: ")
            && body.len() > "cannot produce evidence: \n".len(),
        "{body}"
    );
    assert_eq!(healthz, "HTTP/1.1 200 OK", "it serves, it is not ready");

    // The same Coordinator with evidence (the simulated TEE), once it has a manifest: ready.
    let (owner_digest, share_owner) = owner_keys(&deployment);
    let manifest = deployment.manifest("manifest.json", "web", &owner_digest, &share_owner);
    deployment.start_coordinator();
    ok(&deployment.set(&manifest, "owner.pem"));
    assert_eq!(
        http_get(deployment.status, "/readyz"),
        ("HTTP/1.1 200 OK".to_owned(), "ready\n".to_owned())
    );
    std::fs::remove_dir_all(&deployment.dir).unwrap();
}

#[test]
fn an_unknown_log_format_or_a_rust_log_that_does_not_parse_exits_64_naming_it() {
    let coordinator = harness::binary("chiaro-coordinator");
    let output = Command::new(&coordinator)
        .args(["--log-format", "yaml"])
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(64), "{stderr}");
    assert!(
        stderr.contains("--log-format") && stderr.contains("yaml"),
        "{stderr}"
    );

    let output = Command::new(&coordinator)
        .env("RUST_LOG", "chiaro=loud")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(64), "{stderr}");
    assert!(
        stderr.starts_with("chiaro-coordinator: RUST_LOG=\"chiaro=loud\" is not LEVEL"),
        "{stderr}"
    );
}
