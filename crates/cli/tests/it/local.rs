//! `chiaro local run` on the shipped example and `chiaro local tamper` for each change, as
//! processes (the Coordinator and initializer binaries must be built; scripts/test builds them).

use chiaro::reports::{ContainerOutcome, PodNetworking, RunReport, TamperReport, TrafficKind};
use chiaro_test_support::prerequisite::Prerequisite;

use super::{chiaro, path_str};

fn example() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/emojivoto")
}

/// `chiaro local run` of the example with `--network NETWORK`: the work directory, the run's
/// report and the pid of the `chiaro` process (which names its namespaces), after the checks
/// common to both networks.
fn run_example(network: &str) -> (std::path::PathBuf, RunReport, u32) {
    let work = std::env::temp_dir().join(format!("chiaro-local-{network}-{}", std::process::id()));
    let (pid, code, stdout, stderr) = chiaro_with_pid(&[
        "--output",
        "json",
        "local",
        "run",
        path_str(&example()),
        "--work-dir",
        path_str(&work),
        "--network",
        network,
    ]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let report: RunReport = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report.pods.len(), 4, "{report:#?}");
    assert_eq!(report.refused_or_failed, 0, "{report:#?}");
    let outcomes = || {
        report
            .pods
            .iter()
            .flat_map(|pod| &pod.containers)
            .map(|run| &run.outcome)
    };
    assert!(
        outcomes().any(|o| matches!(o, ContainerOutcome::Initializer { .. })),
        "ran the real initializer: {report:#?}"
    );
    assert!(
        outcomes().any(|o| matches!(o, ContainerOutcome::Mesh { .. })),
        "ran the real mesh proxy: {report:#?}"
    );
    assert!(
        outcomes().any(|o| matches!(o, ContainerOutcome::StandIn { servers } if servers.iter().any(|s| s.declared == 8080))),
        "a stand-in server on 8080: {report:#?}"
    );
    let passed = |kind: fn(&TrafficKind) -> bool| {
        report
            .traffic
            .iter()
            .filter(|check| kind(&check.kind) && check.passed)
            .count()
    };
    assert_eq!(
        passed(|kind| matches!(kind, TrafficKind::Egress { .. })),
        3,
        "crossed two proxies: web -> emoji, web -> voting, vote-bot -> web: {report:#?}"
    );
    assert_eq!(
        passed(|kind| matches!(kind, TrafficKind::Plaintext { .. })),
        3,
        "plaintext to each ingress refused (no mesh certificate): {report:#?}"
    );
    assert_eq!(report.verified.manifests, 1, "{report:#?}");
    assert_eq!(report.verified.deployment, report.installed.deployment);
    for file in ["manifest.json", "generated/emojivoto.yaml", "verify"] {
        assert!(work.join(file).exists(), "{file}");
    }
    assert!(
        work.join("pods/web-7d9f8c6b5d-q8x2z/chiaro/tls/cert.pem")
            .is_file(),
        "the initializer wrote the web pod's certificate"
    );
    (work, report, pid)
}

/// As [`chiaro`], with the pid the process had.
fn chiaro_with_pid(args: &[&str]) -> (u32, i32, String, String) {
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_chiaro"))
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let output = child.wait_with_output().unwrap();
    (
        pid,
        output.status.code().unwrap(),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

/// The network namespaces of the `chiaro` process `pid` (`chiaro-local-PID-*`): only that run's,
/// as another run on this machine may hold namespaces of its own meanwhile.
fn namespaces_of(pid: u32) -> Vec<String> {
    let list = std::process::Command::new("ip")
        .args(["netns", "list"])
        .output()
        .unwrap();
    let own = format!("chiaro-local-{pid}-");
    String::from_utf8_lossy(&list.stdout)
        .lines()
        .filter(|line| line.starts_with(&own))
        .map(str::to_owned)
        .collect()
}

#[test]
fn needs_root_the_example_runs_in_network_namespaces_with_transparent_proxies() {
    Prerequisite::Root.require();
    let (work, report, pid) = run_example("namespaces");
    assert_eq!(
        report.network,
        PodNetworking::Namespaces,
        "each pod in its own network namespace"
    );
    assert_eq!(
        report
            .pods
            .iter()
            .flat_map(|pod| &pod.containers)
            .filter(|run| matches!(
                run.outcome,
                ContainerOutcome::Mesh {
                    transparent: true,
                    ..
                }
            ))
            .count(),
        4,
        "transparent: the pod's firewall redirects every inbound connection: {report:#?}"
    );
    assert!(
        report.traffic.iter().any(|check| matches!(
            check.kind,
            TrafficKind::Plaintext {
                redirected: true,
                ..
            }
        )),
        "plaintext addressed to the pod itself, its port redirected to its proxy, not to a proxy port: {report:#?}"
    );
    assert!(
        report.traffic.iter().any(|check| matches!(
            &check.kind,
            TrafficKind::Probe { path, .. } if path == "/app-health/web-svc/readyz"
        ) && check
            .answer
            .as_ref()
            .is_some_and(|answer| answer.is_ok() && answer.body == "GET / on port 8080: 200")),
        "the moved readiness probe passes through the proxy: {report:#?}"
    );
    assert_eq!(
        namespaces_of(pid),
        Vec::<String>::new(),
        "the run removed its namespaces"
    );
    std::fs::remove_dir_all(work).unwrap();
}

#[test]
fn the_example_runs_locally_and_every_tampering_is_refused() {
    let example = example();
    let (work, report, _) = run_example("loopback");
    assert_eq!(
        report.network,
        PodNetworking::Loopback,
        "pods share this machine's loopback"
    );
    for (change, denial_text) in [
        ("env", "env: OCI.Process.Env"),
        ("image", "storages: "),
        ("extra-container", "is not a container of this pod"),
        (
            "skip-initializer",
            "must not start before \"chiaro-initializer\"",
        ),
        ("skip-mesh", "must not start before \"chiaro-mesh\""),
        (
            "never-start-mesh",
            "must not start before \"chiaro-mesh\" was started",
        ),
        ("shared-mounts", "mounts: shared_mounts"),
        ("removed-mount", "mounts: OCI.Mounts[/chiaro]: missing"),
        ("foreign-seccomp", "linux: OCI.Linux.Seccomp"),
    ] {
        let (code, stdout, stderr) = chiaro(&[
            "--output",
            "json",
            "local",
            "tamper",
            path_str(&example),
            "--work-dir",
            path_str(&work),
            "--workload",
            "web",
            "--change",
            change,
        ]);
        assert_eq!(code, 3, "{change}: {stdout}{stderr}");
        let report: TamperReport = serde_json::from_str(&stdout).unwrap();
        let refused = report
            .decisions
            .iter()
            .find(|decision| !decision.allowed)
            .unwrap_or_else(|| panic!("{change}: REFUSED: {report:#?}"));
        assert_eq!(
            report.refused.as_ref(),
            Some(&refused.container),
            "{change}"
        );
        assert!(
            refused
                .denials
                .iter()
                .any(|denial| denial.contains(denial_text)),
            "{change}: {report:#?}"
        );
    }
    std::fs::remove_dir_all(work).unwrap();
}

/// `chiaro local run` of the encrypted-volume example: the volume owner is the real
/// `chiaro-volume`, allowed by the pod's policy, on the INSECURE file stand-in (a real LUKS2
/// header on a file in the work directory, data in plain), and the run says so.
#[test]
fn needs_cryptsetup_the_encrypted_volume_example_runs_its_volume_owner_on_a_file_stand_in() {
    Prerequisite::Cryptsetup.require();
    let example =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/encrypted-volume");
    let work = std::env::temp_dir().join(format!("chiaro-local-volume-{}", std::process::id()));
    let (code, stdout, stderr) = chiaro(&[
        "--output",
        "json",
        "local",
        "run",
        path_str(&example),
        "--work-dir",
        path_str(&work),
        "--network",
        "loopback",
    ]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let report: RunReport = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report.refused_or_failed, 0, "{report:#?}");
    let owner = report
        .pods
        .iter()
        .flat_map(|pod| &pod.containers)
        .find_map(|run| match &run.outcome {
            ContainerOutcome::VolumeOwner { volumes, stand_in } => Some((volumes, stand_in)),
            _ => None,
        })
        .unwrap_or_else(|| panic!("the volume owner ran: {report:#?}"));
    assert_eq!(owner.0, &["data"]);
    assert!(owner.1.starts_with("INSECURE file stand-in"), "{}", owner.1);
    let disk = work.join("volumes/db-0/devices/data");
    let dump = std::process::Command::new("cryptsetup")
        .args(["luksDump", path_str(&disk)])
        .output()
        .unwrap();
    let dump = String::from_utf8_lossy(&dump.stdout);
    assert!(
        dump.contains("Version:       \t2") && dump.contains("chiaro:ready"),
        "a real LUKS2 header, set up: {dump}"
    );
    assert!(
        work.join("pods/db-0/chiaro/volumes/data.ready").is_file(),
        "the owner wrote the ready file the workload's gate waits for"
    );
    std::fs::remove_dir_all(work).unwrap();
}

/// `local run --keep-running` stopped by SIGTERM (as `kill`, systemd or a closing terminal stop
/// it) cleans up as Ctrl-C does: it exits 0, and no process of the run and no network namespace
/// of it is left. Without the signal caught, SIGTERM kills `chiaro` alone, and the Coordinator,
/// the proxies, the stand-ins and the namespaces stay.
#[test]
fn needs_root_keep_running_cleans_up_on_sigterm() {
    use std::io::BufRead as _;

    Prerequisite::Root.require();
    let work = std::env::temp_dir().join(format!("chiaro-local-sigterm-{}", std::process::id()));
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_chiaro"))
        .args(["--output", "json", "local", "run"])
        .arg(example())
        .arg("--work-dir")
        .arg(&work)
        .args(["--network", "namespaces", "--keep-running"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .unwrap();
    let pid = child.id();
    // The report is printed once everything runs, after the signals are caught.
    let mut report = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut report)
        .unwrap();
    let report: RunReport = serde_json::from_str(&report).unwrap();
    assert_eq!(report.refused_or_failed, 0, "{report:#?}");
    // Processes other than `chiaro` itself whose command line names the work directory (the
    // Coordinator's state, the pods' files).
    let own_processes = || {
        let needle = work.to_string_lossy().into_owned();
        std::fs::read_dir("/proc")
            .unwrap()
            .filter_map(Result::ok)
            .filter(|entry| {
                entry
                    .file_name()
                    .to_str()
                    .and_then(|name| name.parse::<u32>().ok())
                    .is_some_and(|other| other != pid)
            })
            .filter(|entry| {
                std::fs::read(entry.path().join("cmdline"))
                    .is_ok_and(|line| String::from_utf8_lossy(&line).contains(&needle))
            })
            .count()
    };
    assert!(!namespaces_of(pid).is_empty(), "the run has its namespaces");
    assert!(own_processes() > 0, "the run has its processes");
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    // Bounded: a run that ignores SIGTERM fails the test instead of hanging it.
    let (exited, exit) = std::sync::mpsc::channel();
    std::thread::spawn(move || exited.send(child.wait().unwrap()));
    let status = exit
        .recv_timeout(std::time::Duration::from_secs(120))
        .unwrap_or_else(|_| panic!("chiaro (pid {pid}) did not stop within 120 s of SIGTERM"));
    assert_eq!(status.code(), Some(0), "a clean stop: {status:?}");
    assert_eq!(
        namespaces_of(pid),
        Vec::<String>::new(),
        "the run removed its namespaces"
    );
    assert_eq!(own_processes(), 0, "the run stopped its processes");
    std::fs::remove_dir_all(work).unwrap();
}
