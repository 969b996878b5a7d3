//! The gate binary against files on this machine: it runs the command only when every
//! `--verify-file` holds its pinned content.

#![expect(clippy::unwrap_used, reason = "test")]

use std::process::Command;

use sha2::Digest as _;

fn sha256(bytes: &[u8]) -> String {
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// Runs the gate verifying `file` against the digest of `pinned`, then `true`.
fn gate(file: &std::path::Path, pinned: &[u8]) -> (Option<i32>, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_chiaro-start"))
        .arg("--verify-file")
        .arg(format!("{}={}", file.display(), sha256(pinned)))
        .args(["--", "true"])
        .output()
        .unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn attack_a_configmap_value_changed_to_another_of_the_same_length_keeps_the_command_from_running() {
    let dir = std::env::temp_dir().join(format!("chiaro-start-verify-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("app.conf");
    std::fs::write(&file, b"mode=production\n").unwrap();
    assert_eq!(
        gate(&file, b"mode=production\n").0,
        Some(0),
        "as pinned: runs"
    );

    // The host's copy: same size (the policy sees only sizes), other bytes.
    std::fs::write(&file, b"mode=debugging!\n").unwrap();
    let (code, stderr) = gate(&file, b"mode=production\n");
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("not running") && stderr.contains("is not what the pod's policy pins"),
        "{stderr}"
    );

    std::fs::remove_file(&file).unwrap();
    let (code, stderr) = gate(&file, b"mode=production\n");
    assert_eq!(code, Some(1), "a missing file: {stderr}");
    std::fs::remove_dir_all(dir).unwrap();
}
