//! `chiaro local run` on the shipped example and `chiaro local tamper` for each change, as
//! processes (the Coordinator and initializer binaries must be built; scripts/test builds them).

use chiaro_test_support::prerequisite::Prerequisite;
use serde_json::Value;

use super::{chiaro, path_str};

fn example() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/emojivoto")
}

/// `chiaro local run` of the example with `--network NETWORK`: the work directory, the steps'
/// text and the pid of the `chiaro` process (which names its namespaces), after the checks
/// common to both networks.
fn run_example(network: &str) -> (std::path::PathBuf, String, u32) {
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
    let summary: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(summary["pods"], 4, "{summary}");
    assert_eq!(summary["refused_or_failed"], 0, "{summary}");
    let text = summary["steps"].to_string();
    assert!(text.contains("ran the real initializer"), "{text}");
    assert!(text.contains("ran the real mesh proxy"), "{text}");
    assert!(text.contains("stand-in server on 8080"), "{text}");
    assert_eq!(
        text.matches("crossed two proxies").count(),
        3,
        "web -> emoji, web -> voting, vote-bot -> web: {text}"
    );
    assert_eq!(
        text.matches("refused (no mesh certificate)").count(),
        3,
        "plaintext to each ingress: {text}"
    );
    assert!(text.contains("manifests=1"), "{text}");
    assert!(text.contains("verified: deployment="), "{text}");
    for file in ["manifest.json", "generated/emojivoto.yaml", "verify"] {
        assert!(work.join(file).exists(), "{file}");
    }
    assert!(
        work.join("pods/web-7d9f8c6b5d-q8x2z/chiaro/tls/cert.pem")
            .is_file(),
        "the initializer wrote the web pod's certificate"
    );
    (work, text, pid)
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

#[test]
fn needs_root_the_example_runs_in_network_namespaces_with_transparent_proxies() {
    Prerequisite::Root.require();
    let (work, text, pid) = run_example("namespaces");
    assert!(
        text.contains("each pod in its own network namespace"),
        "{text}"
    );
    assert_eq!(
        text.matches("transparent: the pod's firewall redirects every inbound connection")
            .count(),
        4,
        "{text}"
    );
    assert!(
        text.contains("its port, redirected to its proxy"),
        "plaintext addressed to the pod itself, not to a proxy port: {text}"
    );
    assert!(
        text.contains(
            "the kubelet's probe /app-health/web-svc/readyz (moved to the proxy's status port"
        ) && text.contains("HTTP/1.1 200 OK: GET / on port 8080: 200"),
        "the moved readiness probe passes through the proxy: {text}"
    );
    let namespaces = std::process::Command::new("ip")
        .args(["netns", "list"])
        .output()
        .unwrap();
    // Only this run's: another run on this machine may hold namespaces of its own meanwhile.
    let own = format!("chiaro-local-{pid}-");
    let left = String::from_utf8_lossy(&namespaces.stdout).into_owned();
    assert!(
        !left.lines().any(|line| line.starts_with(&own)),
        "the run removed its namespaces ({own}*): {left}"
    );
    std::fs::remove_dir_all(work).unwrap();
}

#[test]
fn the_example_runs_locally_and_every_tampering_is_refused() {
    let example = example();
    let (work, text, _) = run_example("loopback");
    assert!(
        text.contains("pods share this machine's loopback"),
        "{text}"
    );
    for (change, denial) in [
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
        assert!(stdout.contains("REFUSED"), "{change}: {stdout}");
        assert!(stdout.contains(denial), "{change}: {stdout}");
    }
    std::fs::remove_dir_all(work).unwrap();
}
