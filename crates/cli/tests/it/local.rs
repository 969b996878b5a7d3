//! `chiaro local run` on the shipped example and `chiaro local tamper` for each change, as
//! processes (the Coordinator and initializer binaries must be built; scripts/test builds them).

use serde_json::Value;

use super::{chiaro, path_str};

#[test]
fn the_example_runs_locally_and_every_tampering_is_refused() {
    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/emojivoto");
    let work = std::env::temp_dir().join(format!("chiaro-local-{}", std::process::id()));
    let (code, stdout, stderr) = chiaro(&[
        "--output",
        "json",
        "local",
        "run",
        path_str(&example),
        "--work-dir",
        path_str(&work),
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
    assert!(text.contains("verified: manifests=1"), "{text}");
    for file in ["manifest.json", "generated/emojivoto.yaml", "verify"] {
        assert!(work.join(file).exists(), "{file}");
    }
    assert!(
        work.join("pods/web-7d9f8c6b5d-q8x2z/chiaro/tls/cert.pem")
            .is_file(),
        "the initializer wrote the web pod's certificate"
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
