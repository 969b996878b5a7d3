//! The start gate against a host that never starts the mesh proxy: the workload runs behind the
//! real `chiaro-start` (as `generate` writes its command) and serves nothing until the real proxy
//! wrote its ready file; then plaintext is redirected to the proxy and refused, mutual TLS gets
//! through. The same workload without the gate is the attack the gate stops: it answers
//! plaintext.

use std::path::PathBuf;

use crate::harness::{Net, log_of, wait_for_log, wait_until};

/// `chiaro-start`, built beside the mesh proxy (`cargo build --workspace --bins`; scripts/test
/// does).
fn start_gate() -> PathBuf {
    let path = Net::mesh().with_file_name("chiaro-start");
    assert!(
        path.exists(),
        "{} is not built: run `cargo build --workspace --bins` first (scripts/test does)",
        path.display()
    );
    path
}

#[test]
fn needs_root_attack_workload_started_while_the_mesh_never_starts_serves_nothing_in_plaintext() {
    let net = Net::up();
    let (client, server, server_ip) = (
        net.client.clone(),
        net.server.clone(),
        net.server_ip.clone(),
    );
    let ready = net.dir.join("mesh-ready");

    // The attack without the gate: the host created the mesh container and never started it,
    // then started the workload. Its port answers plaintext.
    net.start_helper(&server, &["echo", "7070"]);
    assert_eq!(
        net.send(&client, &server_ip, 7070, "ungated", &[]),
        "echo:ungated",
        "an ungated workload serves plaintext while no proxy runs"
    );

    // With the gate: the workload's command is `chiaro-start --wait-file READY -- …`.
    let log = net.dir.join("gated-workload.log");
    let mut gated = Net::command(&server, start_gate());
    gated.arg("--wait-file").arg(&ready).arg("--").args([
        "python3",
        &net.helper_path(),
        "echo",
        "8080",
    ]);
    net.spawn(gated, Some(&log));
    wait_for_log(&log, "chiaro-start: waiting for");
    assert_eq!(
        net.send(&client, &server_ip, 8080, "early", &[]),
        "",
        "nothing listens before the proxy is ready"
    );
    assert!(!log_of(&log).contains("cannot run"), "{}", log_of(&log));

    // The proxy starts (late, as the host pleases) and writes the ready file after its rules.
    let ready_arg = ready.display().to_string();
    let (_, proxy_log) = net.server_proxy(&["--ready-file", &ready_arg], &[]);
    net.wait_ready();
    wait_until("the ready file", || ready.is_file());
    // The workload now runs; only mutual TLS reaches it.
    wait_until("the gated workload to answer through the mesh", || {
        net.send(&client, &server_ip, 8080, "mtls", &net.member()) == "echo:mtls"
    });
    let plain = net.send(&client, &server_ip, 8080, "plain", &[]);
    assert!(
        !plain.contains("echo:"),
        "plaintext to the gated workload is redirected to the proxy and refused (at most a TLS \
         alert comes back), got {plain:?}; proxy log: {}",
        log_of(&proxy_log)
    );
}

#[test]
fn the_gate_refuses_a_command_line_generate_does_not_write() {
    let output = std::process::Command::new(start_gate())
        .args(["--wait-file", "relative", "--", "true"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(64));
    let output = std::process::Command::new(start_gate())
        .args(["--", "/nonexistent/program"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(127));
    let output = std::process::Command::new(start_gate())
        .args(["--", "sh", "-c", "exit 7"])
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(7),
        "the command runs as itself (exec)"
    );
}
