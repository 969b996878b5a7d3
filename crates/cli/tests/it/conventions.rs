//! The conventions people bring from kubectl, helm and linkerd: `-o json|yaml|text` on every
//! command that prints a result (the same document either way), `chiaro version` with the
//! commit, and shell completions that load.

use chiaro::reports::VersionReport;

use super::{chiaro, path_str};

/// `chiaro version` names the commit it was built from and its target.
#[test]
fn version_prints_the_version_commit_and_target() {
    let (code, stdout, stderr) = chiaro(&["-o", "json", "version"]);
    assert_eq!(code, 0, "{stderr}");
    let report: VersionReport = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report.version, env!("CARGO_PKG_VERSION"));
    assert!(report.target.contains("linux"), "{report:?}");
    assert!(report.coordinator.is_none());
    let head = std::process::Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(head.status.success(), "the tests run in the git checkout");
    assert_eq!(
        report.commit,
        String::from_utf8(head.stdout).unwrap().trim()
    );
    let (code, text, _) = chiaro(&["version"]);
    assert_eq!(code, 0);
    assert!(
        text.contains(&report.commit) && text.contains(&report.target),
        "{text}"
    );
}

/// `-o yaml` prints the document `-o json` prints, as YAML (read back with the YAML reader
/// generate uses); `-o` is the short form of `--output` everywhere.
#[test]
fn json_and_yaml_outputs_are_the_same_document() {
    let yaml_document = |text: &str| {
        let documents = chiaro_k8s::read_documents("out", text).unwrap();
        assert_eq!(documents.len(), 1, "{text}");
        documents[0].value.clone()
    };
    let (code, json_text, _) = chiaro(&["-o", "json", "version"]);
    assert_eq!(code, 0);
    let (code, yaml_text, _) = chiaro(&["-o", "yaml", "version"]);
    assert_eq!(code, 0);
    assert_eq!(
        yaml_document(&yaml_text),
        serde_json::from_str::<serde_json::Value>(&json_text).unwrap(),
        "{yaml_text}"
    );
    // A key each time: the same document shape, with a PEM block in YAML intact.
    let dir = std::env::temp_dir().join(format!("chiaro-conventions-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let keygen = |format: &str, name: &str| {
        let (code, text, stderr) = chiaro(&[
            "-o",
            format,
            "keygen",
            "workload-owner",
            "--out",
            path_str(&dir.join(name)),
        ]);
        assert_eq!(code, 0, "{stderr}");
        text
    };
    let json: serde_json::Value = serde_json::from_str(&keygen("json", "a.pem")).unwrap();
    let yaml = yaml_document(&keygen("yaml", "b.pem"));
    let shape = |value: &serde_json::Value| {
        (
            value["kind"].clone(),
            value["fields"]
                .as_object()
                .unwrap()
                .keys()
                .cloned()
                .collect::<Vec<_>>(),
        )
    };
    assert_eq!(shape(&yaml), shape(&json));
    let private = yaml["fields"]["private_key"].as_str().unwrap();
    assert!(std::path::Path::new(private).is_file(), "{private}");
    let _ = std::fs::remove_dir_all(dir);
}

/// The bash completion script loads into bash and registers `chiaro`; the others are produced.
#[test]
fn completions_load_in_bash() {
    let (code, script, stderr) = chiaro(&["completion", "bash"]);
    assert_eq!(code, 0, "{stderr}");
    let dir = std::env::temp_dir().join(format!("chiaro-completion-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("chiaro.bash");
    std::fs::write(&file, script).unwrap();
    let loaded = std::process::Command::new("bash")
        .args(["--noprofile", "--norc", "-c"])
        .arg(format!(". {} && complete -p chiaro", file.display()))
        .output()
        .unwrap();
    assert!(
        loaded.status.success(),
        "{}",
        String::from_utf8_lossy(&loaded.stderr)
    );
    assert!(
        String::from_utf8_lossy(&loaded.stdout).contains("chiaro"),
        "registered: {}",
        String::from_utf8_lossy(&loaded.stdout)
    );
    // The words bash completes after `chiaro ` include the commands.
    let words = std::process::Command::new("bash")
        .args(["--noprofile", "--norc", "-c"])
        .arg(format!(
            ". {} && COMP_WORDS=(chiaro p) COMP_CWORD=1 COMP_LINE='chiaro p' COMP_POINT=8 && \
             _chiaro chiaro p chiaro && printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            file.display()
        ))
        .output()
        .unwrap();
    let words = String::from_utf8_lossy(&words.stdout);
    assert!(
        words.lines().any(|w| w == "port-forward") && words.lines().any(|w| w == "policy"),
        "{words}"
    );
    for shell in ["zsh", "fish", "powershell"] {
        let (code, script, _) = chiaro(&["completion", shell]);
        assert_eq!(code, 0, "{shell}");
        assert!(script.contains("port-forward"), "{shell}");
    }
    let _ = std::fs::remove_dir_all(dir);
}
