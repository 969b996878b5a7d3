//! Two pods as real network namespaces joined by a veth pair, each with its `chiaro-mesh`
//! process (transparent on the server side): client → egress proxy → ingress proxy → server,
//! and everything that must not get through: a client without a mesh certificate, with a
//! certificate from another CA, with a SAN not allowed, plaintext addressed straight to the
//! server's port, and any connection before the proxy is up (fail closed). A raw-socket capture
//! on the veth shows that no plaintext payload crosses it. The kubelet's view: the status port
//! answers from outside the pod, including the workload's probes the proxy runs.
//!
//! - [`forwarding`]: where ingress forwards to — the pod address, never loopback, never an
//!   egress listener, never another host.
//! - [`gate`]: the workload behind `chiaro-start` while the host never starts the proxy.
//! - [`floods`]: floods on the proxy's ports, descriptor exhaustion, and the ready file.
//!
//! Needs root, `ip` (iproute2), `iptables`, `python3` (the small servers and clients run in
//! the namespaces through `ip netns exec`) and, for the floods, `prlimit` (util-linux): every
//! test is named `needs_root_…` and fails without them; `scripts/test` leaves them out then,
//! unless `CI` is set (`chiaro_test_support::prerequisite`).

#![expect(clippy::unwrap_used, reason = "test")]
#![expect(clippy::expect_used, reason = "test")]

#[path = "../common/mod.rs"]
mod common;
mod floods;
mod forwarding;
mod gate;
mod harness;

use std::io::{BufRead as _, BufReader};
use std::process::Stdio;

use common::Ca;
use harness::{Net, log_of, wait_for_log, wait_until};

#[test]
fn needs_root_pods_talk_only_through_their_proxies() {
    let net = Net::up();
    let stranger = net.dir.join("stranger");
    Ca::new().credentials(&stranger, &["web.shop"]);
    let path = |p: &std::path::Path| p.display().to_string();
    let (client, server) = (net.client.clone(), net.server.clone());
    let (server_ip, server_ip6) = (net.server_ip.clone(), format!("[{}]", net.server_ip6));

    // The server pod: its workload, then (fail closed) its proxy's rules with no proxy yet.
    net.start_helper(&server, &["echo", "8080", "9090"]);
    let send = |port: u16, message: &str, tls: &[String]| {
        net.send(&client, &server_ip, port, message, tls)
    };
    let send6 = |message: &str| net.send(&client, &server_ip6, 8080, message, &[]);
    assert_eq!(send(8080, "plain", &[]), "echo:plain");
    assert_eq!(
        send6("plain over IPv6"),
        "echo:plain over IPv6",
        "the workload answers IPv6 too (dual stack)"
    );
    let missing = net.dir.join("no-credentials-yet");
    let output = Net::command(&server, Net::mesh())
        .args(["--transparent", "--credentials", &path(&missing)])
        .args(["--status", "0.0.0.0:15021"])
        .output()
        .unwrap();
    assert!(
        !output.status.success(),
        "the proxy cannot start without credentials"
    );
    assert_eq!(
        send(8080, "before the proxy", &[]),
        "",
        "fail closed: the rules are in place before the proxy, and nothing bypasses them"
    );
    assert_eq!(
        send6("before the proxy, over IPv6"),
        "",
        "fail closed over IPv6 as well"
    );

    // Now the server's proxy, with an allow-list on port 9090.
    let (_, server_log) = net.server_proxy(
        &[
            "--ingress",
            "api#8080##admin#9090#true#admin.shop",
            "--probes",
            r#"{"/app-health/api/readyz": {"tcpSocket": {"port": 8080}},
                "/app-health/api/livez": {"tcpSocket": {"port": 7070}}}"#,
        ],
        &[],
    );
    net.wait_ready();
    let kubelet = |path: &str| net.kubelet(&server_ip, path);
    assert_eq!(
        net.kubelet(&server_ip6, "/app-health/api/readyz"),
        "200",
        "the status port answers the pod's IPv6 address too, and probes the workload there"
    );
    assert_eq!(
        kubelet("/app-health/api/readyz"),
        "200",
        "the workload's probe, run by its proxy: port 8080 listens at the pod address"
    );
    assert_eq!(
        kubelet("/app-health/api/livez"),
        "503",
        "port 7070 does not: the probe fails"
    );
    assert_eq!(
        kubelet("/app-health/other/readyz"),
        "404",
        "only registered probes"
    );

    // The client pod's proxy: egress listeners to the server's ports.
    let egress = format!(
        "api#127.0.0.1:18080#{server_ip}:8080#api##admin#127.0.0.1:19090#{server_ip}:9090#api"
    );
    net.client_proxy(&egress);
    let through_egress =
        |port: u16, message: &str| net.send(&client, "127.0.0.1", port, message, &[]);
    wait_until("the client proxy", || {
        through_egress(18080, "ping") == "echo:ping"
    });

    // A capture on the server's veth while a marked request crosses.
    let capture = net.dir.join("veth.pcap");
    let mut capturing = Net::command(&server, "python3")
        .args(["-c", CAPTURE, &net.server_if, "3", &path(&capture)])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // The helper says so once its socket is bound: from then on it sees every packet.
    let mut started = String::new();
    BufReader::new(capturing.stdout.take().unwrap())
        .read_line(&mut started)
        .unwrap();
    assert_eq!(started.trim(), "capturing");
    let marker = "PLAINTEXT-MARKER-7f3a";
    assert_eq!(through_egress(18080, marker), format!("echo:{marker}"));
    capturing.wait().unwrap();
    let captured = std::fs::read(&capture).unwrap();
    assert!(
        captured.len() > 500,
        "the capture saw the TLS traffic ({} bytes)",
        captured.len()
    );
    assert!(
        !captured
            .windows(marker.len())
            .any(|w| w == marker.as_bytes()),
        "no plaintext payload crosses the veth"
    );

    // A mesh member reaches the workload at the pod address, over either family.
    let member = net.member();
    assert_eq!(send(8080, "member", &member), "echo:member");
    assert_eq!(
        net.send(&client, &server_ip6, 8080, "member over IPv6", &member),
        "echo:member over IPv6",
        "an IPv6 connection is forwarded to the pod's IPv6 address"
    );

    // What must not get through.
    let ca_file = net.server_creds.join("tls/mesh-ca.pem");
    let no_cert = vec![path(&ca_file), "-".to_owned()];
    assert_eq!(
        send(8080, "no certificate", &no_cert),
        "",
        "no client certificate"
    );
    let other_ca = vec![
        path(&ca_file),
        path(&stranger.join("tls/cert.pem")),
        path(&stranger.join("tls/key.pem")),
    ];
    assert_eq!(send(8080, "stranger", &other_ca), "", "another CA");
    assert_eq!(
        through_egress(19090, "not admin"),
        "",
        "a SAN not on the allow-list"
    );
    let around = send(8080, "around the proxy", &[]);
    assert!(
        !around.contains("echo:"),
        "plaintext straight to the server's port is redirected to the proxy and refused: {around:?}"
    );
    let around6 = send6("around the proxy over IPv6");
    assert!(
        !around6.contains("echo:"),
        "IPv6 is redirected too, not a way around the proxy: {around6:?}"
    );
    assert_eq!(
        send(15006, "a mesh member at the proxy port", &member),
        "",
        "nothing answers at the proxy's own port, even a mesh member"
    );
    wait_for_log(&server_log, "port 15006 is the proxy's own");
    let at_proxy = send(15006, "at the proxy port", &[]);
    assert!(
        !at_proxy.contains("echo:"),
        "plaintext to the proxy's port is refused: {at_proxy:?}"
    );
    assert!(
        !log_of(&server_log).contains("accept failed"),
        "{}",
        log_of(&server_log)
    );
}

/// `python3 -c CAPTURE IFACE SECONDS OUT`: every frame on IFACE, raw, appended to OUT.
const CAPTURE: &str = r#"
import socket, sys, time
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.ntohs(3))
s.bind((sys.argv[1], 0)); s.settimeout(0.2)
end = time.time() + float(sys.argv[2])
with open(sys.argv[3], "wb") as out:
    print("capturing", flush=True)
    while time.time() < end:
        try: out.write(s.recv(65536)); out.flush()
        except socket.timeout: pass
"#;
