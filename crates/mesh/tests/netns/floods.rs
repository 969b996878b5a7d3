//! Floods on the proxy's ports and an exhausted descriptor table: mesh traffic still goes
//! through, and no accept loop spins. And the ready file the workload's entrypoint waits for:
//! it appears only once the redirect rules are in.

use std::process::Command;
use std::time::Instant;

use crate::harness::{Net, cpu_time, log_of, wait_for_log, wait_until};

/// The server pod (workload on 8080, its proxy run through `wrapper`) and the client pod's
/// proxy with an egress listener on 18080 to it, working; the two proxies' pids and logs.
fn two_pods(net: &Net, wrapper: &[&str]) -> ((u32, std::path::PathBuf), (u32, std::path::PathBuf)) {
    let server = net.server.clone();
    net.start_helper(&server, &["echo", "8080"]);
    let server_proxy = net.server_proxy(&["--ingress", ""], wrapper);
    net.wait_ready();
    let client_proxy = net.client_proxy(&format!("api#127.0.0.1:18080#{}:8080#api", net.server_ip));
    wait_until("the client proxy", || {
        mesh_request(net, "ping") == "echo:ping"
    });
    (server_proxy, client_proxy)
}

/// A request from the client's workload through both proxies (mutual TLS between them).
fn mesh_request(net: &Net, message: &str) -> String {
    net.send(&net.client, "127.0.0.1", 18080, message, &[])
}

#[test]
fn needs_root_attack_status_port_flood_past_the_descriptor_limit_leaves_mesh_traffic_working() {
    let net = Net::up();
    // 128 descriptors for the server's proxy, and 500 idle connections to its status port from
    // 40 addresses: a proxy that holds every one runs out of descriptors.
    let ((_, log), _) = two_pods(&net, &["prlimit", "--nofile=128:128"]);
    wait_for_log(&log, "the status port holds at most 8 connections");
    let sources: Vec<String> = (100..140)
        .map(|last| format!("{}.{last}", net.prefix))
        .collect();
    for source in &sources {
        super::harness::ip(&[
            "-n",
            &net.client,
            "addr",
            "add",
            &format!("{source}/32"),
            "dev",
            &net.client_if,
        ]);
    }
    let mut args = vec!["flood", net.server_ip.as_str(), "15021", "500"];
    args.extend(sources.iter().map(String::as_str));
    let flood = net.hold(&net.client, &args);
    let flooded = flood.line("the flood in place");

    assert_eq!(
        mesh_request(&net, "during the flood"),
        "echo:during the flood",
        "a mutual-TLS request goes through while the flood holds its connections"
    );
    assert_eq!(
        net.kubelet(&net.server_ip, "/ready"),
        "200",
        "the kubelet (an address holding none) gets its answer: it takes a flood connection's place"
    );
    assert_eq!(
        flooded, "flooded 500",
        "every flood connection was completed: the proxy kept accepting"
    );
    // Every flood connection is closed by the proxy: over the cap at once, the admitted ones at
    // the request-head deadline, or evicted for a newcomer.
    assert_eq!(flood.line("every flood connection closed"), "all closed");
    // Not spinning: a loop spins only on failed accepts. On a loaded machine the descriptors of
    // evicted connections may not be closed yet when the next accept comes, so a few accepts can
    // fail: each must be followed by a pause, and they must stay a few (CPU time against wall
    // time would be a timed assertion on a shared machine).
    let text = log_of(&log);
    let failed: Vec<&str> = text
        .lines()
        .filter(|line| line.contains("accept failed"))
        .collect();
    assert!(
        failed.iter().all(|line| line.contains("; pausing ")) && failed.len() <= 64,
        "a failed accept without a pause, or many of them (a spinning loop):\n{text}"
    );
    assert!(
        text.contains("refused: ended to make room for another source"),
        "flood connections made room for newcomers:\n{text}"
    );
}

/// The pauses a side's accept loop logged in a row, since the last shortest one.
fn pauses_in_a_row(log: &str, side: &str) -> Vec<String> {
    let prefix = format!("chiaro-mesh: {side}: accept failed: ");
    let mut pauses = Vec::new();
    for line in log.lines().filter(|line| line.starts_with(&prefix)) {
        let pause = line.rsplit("; ").next().unwrap_or_default().to_owned();
        // A descriptor freed meanwhile lets one accept through, which resets the backoff:
        // count the failures since.
        if pause == "pausing 10ms" {
            pauses.clear();
        }
        pauses.push(pause);
    }
    pauses
}

#[test]
fn needs_root_attack_descriptor_exhaustion_backs_off_on_every_accept_loop() {
    let net = Net::up();
    let ((server_pid, server_log), (client_pid, client_log)) = two_pods(&net, &[]);
    // Every descriptor in use, as a flood would leave them: a soft limit of 3 (standard input,
    // output and error) leaves the open ones open and makes every new one fail with EMFILE.
    let limit = |pid: u32, soft: &str| {
        let status = Command::new("prlimit")
            .args(["--pid", &pid.to_string(), &format!("--nofile={soft}:")])
            .status()
            .unwrap();
        assert!(status.success());
    };
    limit(server_pid, "3");
    limit(client_pid, "3");
    let (cpu_before, started) = (cpu_time(server_pid) + cpu_time(client_pid), Instant::now());
    // One pending connection on each loop: the server's status port and ingress, the
    // client's egress listener.
    let client_ip = net.client_ip.clone();
    let server_ip = net.server_ip.clone();
    let pending: Vec<_> = [
        (&server_ip, "15021", &client_ip),
        (&server_ip, "8080", &client_ip),
        (&"127.0.0.1".to_owned(), "18080", &"127.0.0.1".to_owned()),
    ]
    .into_iter()
    .map(|(host, port, source)| {
        let flood = net.hold(&net.client, &["flood", host, port, "1", source]);
        assert_eq!(flood.line("a pending connection"), "flooded 1");
        flood
    })
    .collect();
    let longest = "pausing 1s";
    let backed_off = |log: &std::path::Path, side: &str| {
        let pauses = pauses_in_a_row(&log_of(log), side);
        pauses
            .last()
            .is_some_and(|pause| pause == longest)
            .then_some(pauses)
    };
    let mut sequences = Vec::new();
    for (log, side) in [
        (&server_log, "status"),
        (&server_log, "ingress"),
        (&client_log, "egress"),
    ] {
        wait_until(&format!("the {side} loop's longest pause"), || {
            backed_off(log, side).is_some()
        });
        sequences.push(backed_off(log, side).unwrap());
    }
    let (cpu, wall) = (
        cpu_time(server_pid) + cpu_time(client_pid) - cpu_before,
        started.elapsed(),
    );
    // Pauses of 10, 20, ..., 640 ms, then 1 s: the eighth failure in a row. A loop retrying
    // at once fails thousands of times meanwhile, and spends its core doing so.
    for pauses in &sequences {
        assert_eq!(
            pauses,
            &[
                "pausing 10ms",
                "pausing 20ms",
                "pausing 40ms",
                "pausing 80ms",
                "pausing 160ms",
                "pausing 320ms",
                "pausing 640ms",
                "pausing 1s"
            ]
        );
    }
    let server_text = log_of(&server_log);
    assert!(server_text.contains("Too many open files"), "{server_text}");
    assert!(
        cpu < wall / 5,
        "the proxies used {cpu:?} of CPU over {wall:?} out of descriptors"
    );
    // Descriptors back: the pending connections are taken, and mesh traffic flows again.
    limit(server_pid, "1024");
    limit(client_pid, "1024");
    wait_until("mesh traffic after the exhaustion", || {
        mesh_request(&net, "after") == "echo:after"
    });
    drop(pending);
}

#[test]
fn needs_root_attack_ready_file_never_precedes_the_redirect_rules() {
    let net = Net::up();
    let server = net.server.clone();
    net.start_helper(&server, &["echo", "8080"]);
    // An `iptables-restore` that waits for the test before installing the rules, so the test
    // can look at the pod while the proxy is between start and rules.
    let bin = net.dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let (entered, release) = (net.dir.join("entered"), net.dir.join("release"));
    assert!(
        Command::new("mkfifo")
            .arg(&release)
            .status()
            .unwrap()
            .success()
    );
    let real = Command::new("sh")
        .args(["-c", "command -v iptables-restore"])
        .output()
        .unwrap();
    let real = String::from_utf8_lossy(&real.stdout).trim().to_owned();
    let wrapper = bin.join("iptables-restore");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\n: > '{}'\nread go < '{}'\nexec '{real}' \"$@\"\n",
            entered.display(),
            release.display()
        ),
    )
    .unwrap();
    assert!(
        Command::new("chmod")
            .arg("+x")
            .arg(&wrapper)
            .status()
            .unwrap()
            .success()
    );

    // A file from an earlier run of the proxy (the memory volume outlives a container).
    let ready = net.dir.join("mesh-ready");
    std::fs::write(&ready, "stale").unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let log = net.dir.join("ready-proxy.log");
    let mut command = Net::command(&server, Net::mesh());
    command
        .env("PATH", path)
        .args(["--transparent", "--credentials"])
        .arg(&net.server_creds)
        .arg("--ready-file")
        .arg(&ready);
    let pid = net.spawn(command, Some(&log));
    wait_until("the proxy installing its rules", || entered.exists());
    assert!(
        !ready.exists(),
        "no ready file before the rules are installed (the stale one removed, no new one yet)"
    );
    let rules = || {
        Net::command(&server, "iptables")
            .args([
                "-t",
                "nat",
                "-C",
                "PREROUTING",
                "-p",
                "tcp",
                "-j",
                "CHIARO_INBOUND",
            ])
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap()
            .success()
    };
    assert!(!rules(), "no rules yet");

    std::fs::write(&release, "go\n").unwrap();
    wait_until("the ready file", || ready.exists());
    assert!(
        rules(),
        "the ready file appears only with the rules in place"
    );
    assert_eq!(
        std::fs::read_to_string(&ready).unwrap(),
        format!("{pid} ready\n")
    );
    assert_eq!(net.kubelet(&net.server_ip, "/ready"), "200");
    assert_eq!(
        net.send(&net.client, &net.server_ip, 8080, "member", &net.member()),
        "echo:member",
        "the listeners are up"
    );
    wait_for_log(&log, "ready file");

    // A proxy that cannot get its credentials never writes it (its rules were installed).
    let never = net.dir.join("never-ready");
    let output = Net::command(&server, Net::mesh())
        .args([
            "--transparent",
            "--status",
            "0.0.0.0:15022",
            "--ingress-listen",
            "0.0.0.0:15007",
        ])
        .arg("--credentials")
        .arg(net.dir.join("missing"))
        .arg("--ready-file")
        .arg(&never)
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(!never.exists(), "no ready file from a proxy that failed");
}
