//! `chiaro local run` on the shipped example and `chiaro local tamper` for each change, as
//! processes (the Coordinator and initializer binaries must be built; scripts/test builds them).

use serde_json::Value;

use super::{chiaro, path_str};

fn example() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/emojivoto")
}

/// `chiaro local run` of the example with `--network NETWORK`: the work directory and the
/// steps' text, after the checks common to both networks.
fn run_example(network: &str) -> (std::path::PathBuf, String) {
    let work = std::env::temp_dir().join(format!("chiaro-local-{network}-{}", std::process::id()));
    let (code, stdout, stderr) = chiaro(&[
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
    (work, text)
}

fn is_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

#[test]
fn the_example_runs_in_network_namespaces_with_transparent_proxies() {
    if !is_root() {
        eprintln!("SKIPPED: not root; local mode's network namespaces need root");
        return;
    }
    let (work, text) = run_example("namespaces");
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
    let left = String::from_utf8_lossy(&namespaces.stdout).into_owned();
    assert!(
        !left.contains("chiaro-local-"),
        "the run removed its namespaces: {left}"
    );
    std::fs::remove_dir_all(work).unwrap();
}

#[test]
fn the_example_runs_locally_and_every_tampering_is_refused() {
    let example = example();
    let (work, text) = run_example("loopback");
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
