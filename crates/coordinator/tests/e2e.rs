//! The trust core end to end, as real processes over loopback with the INSECURE simulated TEE:
//! `chiaro-coordinator`, `chiaro set`, `chiaro-initializer` per workload, `chiaro verify`, an
//! owner-signed update, `kill -9`, restart into recovery, and `chiaro recover`.
//!
//! The host's attacks are in `tests/attacks/` (the deployment's identity: `identity.rs`).
//!
//! The three binaries must be built first (`cargo build --workspace --bins`; scripts/test does).

#![expect(
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers fail loudly"
)]

mod harness;

use std::path::PathBuf;

use harness::{
    API, DB, Deployment, UNKNOWN, WEB, http_get, keys_named, ok, ok_process, owner_keys, read,
    start_on,
};

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
    // The start gate comes last, whole and executable: the workload can run from here on.
    let gate = std::fs::metadata(deployment.path("web/bin/chiaro-start")).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&gate.permissions()) & 0o777,
        0o755
    );
    assert_eq!(
        gate.len(),
        std::fs::metadata(harness::binary("chiaro-start"))
            .unwrap()
            .len()
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
    // A refused initializer installs no start gate: that pod's workload cannot start.
    for refused in ["unknown", "other"] {
        assert!(!deployment.path(&format!("{refused}/tls/cert.pem")).exists());
        assert!(
            !deployment
                .path(&format!("{refused}/bin/chiaro-start"))
                .exists()
        );
    }

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
    // The wrong-root initializer was refused by attested TLS (readiness probes count too). The
    // initializer closes as soon as it refuses the Coordinator; the Coordinator counts the
    // refusal when its side of the exchange ends, which may be after the initializer exited:
    // wait for that event (bounded), then check.
    let refused_tls = |metrics: &str| -> u64 {
        metrics
            .lines()
            .find_map(|line| {
                line.strip_prefix("chiaro_coordinator_attestation_refused_total{api=\"mesh\"} ")
            })
            .unwrap()
            .parse()
            .unwrap()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let mut metrics = metrics;
    while refused_tls(&metrics) == 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
        metrics = http_get(deployment.status, "/metrics").1;
    }
    assert!(refused_tls(&metrics) >= 1, "{metrics}");

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
    ok(&deployment.recover());
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
            match start_on(&state, &mut deployment) {
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
    let mut child = start_on(&state, &mut deployment).unwrap();
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

/// `chiaro set` of the manifest the Coordinator already has: reported unchanged, no step added
/// to the history or the record, the mesh CA kept. A manifest the Coordinator refuses (here:
/// one that changes the seed-share owners) exits 3, as the README says of a refusal.
#[test]
fn set_of_the_current_manifest_changes_nothing_and_a_refused_one_exits_3() {
    let mut deployment = Deployment::new();
    let (owner_digest, share_owner) = owner_keys(&deployment);
    let manifest = deployment.manifest("manifest.json", "web", &owner_digest, &share_owner);
    deployment.start_coordinator();
    let first = ok(&deployment.set(&manifest, "owner.pem"));
    assert_eq!(first["fields"]["unchanged"], false);
    let verified = || {
        ok(&deployment.chiaro(&[
            "verify",
            "--out",
            deployment.path("verify").to_str().unwrap(),
        ]))
    };
    let before = verified();
    let mesh_ca = || read(&deployment.path("verify/mesh-ca.pem"));
    let ca_before = mesh_ca();

    let again = ok(&deployment.set(&manifest, "owner.pem"));
    assert_eq!(again["fields"]["unchanged"], true, "{again}");
    assert_eq!(again["fields"]["transition"], first["fields"]["transition"]);
    let after = verified();
    assert_eq!(after["fields"]["manifests"], before["fields"]["manifests"]);
    assert_eq!(after["fields"]["manifests"], 1);
    assert_eq!(mesh_ca(), ca_before, "nothing rotated");

    // `chiaro version -c` asks the attested Coordinator.
    let version = deployment.chiaro(&[
        "version",
        "-c",
        &deployment.user_api.to_string(),
        "--coordinator-reference",
        deployment
            .path("coordinator-reference.json")
            .to_str()
            .unwrap(),
    ]);
    let version = harness::json(&version);
    assert_eq!(
        version["coordinator"]["version"],
        env!("CARGO_PKG_VERSION"),
        "{version}"
    );

    let (_, other_share_owner) = keys_named(&deployment, "owner-2.pem", "share-owner-2.pem");
    let changed = deployment.manifest("changed.json", "web", &owner_digest, &other_share_owner);
    let refused = deployment.set(&changed, "owner.pem");
    assert_eq!(
        refused.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&refused.stdout)
    );
    std::fs::remove_dir_all(&deployment.dir).unwrap();
}

/// `chiaro.toml` gives the flags their defaults: with the Coordinator, its reference and the
/// record in the file, `verify` needs no flag; a flag on the command line overrides the file
/// (a wrong address in the file, the right one on the command line, works; the other way round
/// fails); a misspelt key is refused naming the file, line and column (exit 64).
#[test]
fn a_config_file_gives_the_flags_defaults_and_flags_override_it() {
    let mut deployment = Deployment::new();
    let (owner_digest, share_owner) = owner_keys(&deployment);
    let manifest = deployment.manifest("manifest.json", "web", &owner_digest, &share_owner);
    deployment.start_coordinator();
    ok(&deployment.set(&manifest, "owner.pem"));
    let config = |address: &str| {
        format!(
            "coordinator = \"{address}\"\ncoordinator_reference = \"coordinator-reference.json\"\n\
             deployment = \"record.json\"\nworkload_owner_key = \"owner.pem\"\n"
        )
    };
    let file = deployment.path("chiaro.toml");
    let run = |args: &[&str]| {
        std::process::Command::new(harness::binary("chiaro"))
            .args(["-o", "json", "--config", file.to_str().unwrap()])
            .args(args)
            .output()
            .unwrap()
    };
    let out = deployment.path("verify-config");
    let verify = ["verify", "--out", out.to_str().unwrap()];
    std::fs::write(&file, config(&deployment.user_api.to_string())).unwrap();
    let verified = ok(&run(&verify));
    assert_eq!(verified["fields"]["manifests"], 1, "{verified}");

    // Nothing listens on port 9 of loopback.
    std::fs::write(&file, config("127.0.0.1:9")).unwrap();
    let refused = run(&verify);
    assert_eq!(refused.status.code(), Some(1), "the file's address is used");
    let overridden = run(&[&verify[..], &["-c", &deployment.user_api.to_string()]].concat());
    ok(&overridden);

    std::fs::write(&file, config(&deployment.user_api.to_string())).unwrap();
    let wrong = run(&[&verify[..], &["-c", "127.0.0.1:9"]].concat());
    assert_eq!(wrong.status.code(), Some(1), "the flag wins over the file");

    std::fs::write(&file, "coordinator = \"x:1\"\ncoordinater = \"typo\"\n").unwrap();
    let typo = run(&verify);
    assert_eq!(typo.status.code(), Some(64));
    let said = String::from_utf8_lossy(&typo.stderr);
    assert!(
        said.contains(&format!("{}:2:1:", file.display())) && said.contains("coordinater"),
        "{said}"
    );
    std::fs::remove_dir_all(&deployment.dir).unwrap();
}
