//! Two pods as real network namespaces joined by a veth pair, each with its `chiaro-mesh`
//! process in transparent mode: client → egress proxy → ingress proxy → server, and everything
//! that must not get through: a client without a mesh certificate, with a certificate from
//! another CA, with a SAN not allowed, plaintext addressed straight to the server's port, and
//! any connection before the proxy is up (fail closed). A raw-socket capture on the veth shows
//! that no plaintext payload crosses it. The kubelet's view: the status port answers from
//! outside the pod, including the workload's probes the proxy runs on loopback.
//!
//! Needs root, `ip` (iproute2), `iptables` and `python3` (the small servers and clients run in
//! the namespaces through `ip netns exec`). Skips with a message when not root; fails under
//! `CI` when a tool is missing.

#![expect(clippy::unwrap_used, reason = "test")]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Ca, scratch};

const HELPER: &str = r#"
import socket, ssl, sys, time, threading
mode = sys.argv[1]
if mode == "echo":
    # echo PORT...: answers "echo:" + what it read, per connection
    def serve(port):
        # dual stack: IPv4 and IPv6 on one socket, as many servers listen
        s = socket.socket(socket.AF_INET6); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        s.bind(("::", port)); s.listen(16)
        while True:
            c, _ = s.accept()
            data = b""
            while True:
                chunk = c.recv(65536)
                if not chunk: break
                data += chunk
            c.sendall(b"echo:" + data); c.close()
    for p in sys.argv[2:]:
        threading.Thread(target=serve, args=(int(p),), daemon=True).start()
    while True: time.sleep(60)
elif mode == "send":
    # send HOST PORT MESSAGE [CA CERT KEY|CA -]: prints the answer (empty when refused)
    host, port, message = sys.argv[2], int(sys.argv[3]), sys.argv[4].encode()
    try:
        s = socket.create_connection((host.strip("[]"), port), timeout=5)
        if len(sys.argv) > 5:
            ctx = ssl.create_default_context(cafile=sys.argv[5]); ctx.check_hostname = False
            if sys.argv[6] != "-": ctx.load_cert_chain(sys.argv[6], sys.argv[7])
            s = ctx.wrap_socket(s, server_hostname="api")
        s.sendall(message)
        if len(sys.argv) <= 5: s.shutdown(socket.SHUT_WR)
        data = b""
        s.settimeout(5)
        while True:
            chunk = s.recv(65536)
            if not chunk: break
            data += chunk
        sys.stdout.write(data.decode(errors="replace"))
    except Exception as e:
        sys.stderr.write(repr(e))
elif mode == "capture":
    # capture IFACE SECONDS OUT: every frame on IFACE, raw, appended to OUT
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.ntohs(3))
    s.bind((sys.argv[2], 0)); s.settimeout(0.2)
    end = time.time() + float(sys.argv[3])
    with open(sys.argv[4], "wb") as out:
        print("capturing", flush=True)
        while time.time() < end:
            try: out.write(s.recv(65536)); out.flush()
            except socket.timeout: pass
"#;

fn tool_missing(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_err()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn ip(args: &[&str]) {
    let status = Command::new("ip").args(args).status().unwrap();
    assert!(status.success(), "ip {}", args.join(" "));
}

/// Two namespaces and their processes; removed on drop.
struct Pods {
    client: String,
    server: String,
    children: Vec<Child>,
}

impl Drop for Pods {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        for name in [&self.client, &self.server] {
            let _ = Command::new("ip").args(["netns", "del", name]).status();
        }
    }
}

impl Pods {
    fn spawn(&mut self, netns: &str, program: &Path, args: &[&str]) {
        self.spawn_logged(netns, program, args, None);
    }

    /// As [`Self::spawn`], with standard error into `log`.
    fn spawn_logged(&mut self, netns: &str, program: &Path, args: &[&str], log: Option<&Path>) {
        let stderr = log.map_or_else(Stdio::null, |path| {
            Stdio::from(std::fs::File::create(path).unwrap())
        });
        let child = Command::new("ip")
            .args(["netns", "exec", netns])
            .arg(program)
            .args(args)
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap();
        self.children.push(child);
    }
}

/// Runs `program` in `netns`; its stdout.
fn run_in(netns: &str, program: &Path, args: &[&str]) -> String {
    let output = Command::new("ip")
        .args(["netns", "exec", netns])
        .arg(program)
        .args(args)
        .output()
        .unwrap();
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn wait_until(what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !ready() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn pods_talk_only_through_their_proxies() {
    if !is_root() {
        eprintln!(
            "SKIPPED: not root; the network-namespace mesh test needs root (ip netns, iptables)"
        );
        return;
    }
    for tool in ["ip", "iptables", "python3"] {
        if tool_missing(tool) {
            let message = format!("{tool} not installed; not run: the network-namespace mesh test");
            assert!(std::env::var_os("CI").is_none(), "{message}");
            eprintln!("SKIPPED: {message}");
            return;
        }
    }
    let id = std::process::id() % 200 + 20;
    let (client_ns, server_ns) = (format!("chm-c-{id}"), format!("chm-s-{id}"));
    let (client_if, server_if) = (format!("chmc{id}"), format!("chms{id}"));
    let (client_ip, server_ip) = (format!("10.231.{id}.1"), format!("10.231.{id}.2"));
    let mut pods = Pods {
        client: client_ns.clone(),
        server: server_ns.clone(),
        children: Vec::new(),
    };
    for ns in [&client_ns, &server_ns] {
        let _ = Command::new("ip").args(["netns", "del", ns]).status();
        ip(&["netns", "add", ns]);
        ip(&["-n", ns, "link", "set", "lo", "up"]);
    }
    ip(&[
        "link", "add", &client_if, "type", "veth", "peer", "name", &server_if,
    ]);
    ip(&["link", "set", &client_if, "netns", &client_ns]);
    ip(&["link", "set", &server_if, "netns", &server_ns]);
    ip(&[
        "-n",
        &client_ns,
        "addr",
        "add",
        &format!("{client_ip}/24"),
        "dev",
        &client_if,
    ]);
    ip(&[
        "-n",
        &server_ns,
        "addr",
        "add",
        &format!("{server_ip}/24"),
        "dev",
        &server_if,
    ]);
    // Dual stack: IPv6 too (unique local addresses, no duplicate detection to wait for).
    let (client_ip6, server_ip6) = (format!("fd00:231:{id}::1"), format!("fd00:231:{id}::2"));
    for (ns, address, link) in [
        (&client_ns, &client_ip6, &client_if),
        (&server_ns, &server_ip6, &server_if),
    ] {
        ip(&[
            "-n",
            ns,
            "addr",
            "add",
            &format!("{address}/64"),
            "dev",
            link,
            "nodad",
        ]);
    }
    ip(&["-n", &client_ns, "link", "set", &client_if, "up"]);
    ip(&["-n", &server_ns, "link", "set", &server_if, "up"]);

    let dir = scratch("netns");
    std::fs::create_dir_all(&dir).unwrap();
    let helper = dir.join("helper.py");
    std::fs::write(&helper, HELPER).unwrap();
    let python = PathBuf::from("python3");
    let mesh = PathBuf::from(env!("CARGO_BIN_EXE_chiaro-mesh"));
    let ca = Ca::new();
    let (server_creds, client_creds, stranger) =
        (dir.join("server"), dir.join("client"), dir.join("stranger"));
    ca.credentials(&server_creds, &["api", "api.shop"]);
    ca.credentials(&client_creds, &["web.shop"]);
    Ca::new().credentials(&stranger, &["web.shop"]);
    let path = |p: &Path| p.display().to_string();

    // The server pod: its workload, then (fail closed) its proxy's rules with no proxy yet.
    pods.spawn(
        &server_ns,
        &python,
        &[&path(&helper), "echo", "8080", "9090"],
    );
    let send_to = |host: &str, ns: &str, port: &str, message: &str, tls: &[String]| {
        let mut args = vec![
            path(&helper),
            "send".to_owned(),
            host.to_owned(),
            port.to_owned(),
            message.to_owned(),
        ];
        args.extend(tls.iter().cloned());
        run_in(
            ns,
            &python,
            &args.iter().map(String::as_str).collect::<Vec<_>>(),
        )
    };
    let send = |ns: &str, port: &str, message: &str, tls: &[String]| {
        send_to(&server_ip, ns, port, message, tls)
    };
    let send6 = |message: &str| send_to(&server_ip6, &client_ns, "8080", message, &[]);
    wait_until("the server workload", || {
        send(&client_ns, "8080", "plain", &[]) == "echo:plain"
    });
    assert_eq!(
        send6("plain over IPv6"),
        "echo:plain over IPv6",
        "the workload answers IPv6 too (dual stack)"
    );
    let missing = dir.join("no-credentials-yet");
    let output = Command::new("ip")
        .args(["netns", "exec", &server_ns])
        .arg(&mesh)
        .args([
            "--transparent",
            "--credentials",
            &path(&missing),
            "--status",
            "0.0.0.0:15021",
        ])
        .output()
        .unwrap();
    assert!(
        !output.status.success(),
        "the proxy cannot start without credentials"
    );
    assert_eq!(
        send(&client_ns, "8080", "before the proxy", &[]),
        "",
        "fail closed: the rules are in place before the proxy, and nothing bypasses them"
    );
    assert_eq!(
        send6("before the proxy, over IPv6"),
        "",
        "fail closed over IPv6 as well"
    );

    // Now the server's proxy, with an allow-list on port 9090.
    let server_log = dir.join("server-proxy.log");
    pods.spawn_logged(
        &server_ns,
        &mesh,
        &[
            "--transparent",
            "--credentials",
            &path(&server_creds),
            "--ingress",
            "api#8080##admin#9090#true#admin.shop",
            "--probes",
            r#"{"/app-health/api/readyz": {"tcpSocket": {"port": 8080}},
                "/app-health/api/livez": {"tcpSocket": {"port": 7070}}}"#,
        ],
        Some(&server_log),
    );
    // What the kubelet sees: plain HTTP to the status port, from outside the pod.
    let kubelet_probe_at = |host: &str, path: &str| {
        run_in(
            &client_ns,
            &python,
            &[
                "-c",
                &format!(
                    "import urllib.request, urllib.error\n\
                     try: print(urllib.request.urlopen('http://{host}:15021{path}', timeout=3).status)\n\
                     except urllib.error.HTTPError as e: print(e.code)"
                ),
            ],
        )
        .trim()
        .to_owned()
    };
    let kubelet_probe = |path: &str| kubelet_probe_at(&server_ip, path);
    wait_until("the server proxy's readiness", || {
        kubelet_probe("/ready") == "200"
    });
    assert_eq!(
        kubelet_probe_at(&format!("[{server_ip6}]"), "/app-health/api/readyz"),
        "200",
        "the status port answers the pod's IPv6 address too"
    );
    assert_eq!(
        kubelet_probe("/app-health/api/readyz"),
        "200",
        "the workload's probe, run by its proxy: port 8080 listens inside the pod"
    );
    assert_eq!(
        kubelet_probe("/app-health/api/livez"),
        "503",
        "port 7070 does not: the probe fails"
    );
    assert_eq!(
        kubelet_probe("/app-health/other/readyz"),
        "404",
        "only registered probes"
    );

    // The client pod's proxy: egress listeners to the server's ports.
    let egress = format!(
        "api#127.0.0.1:18080#{server_ip}:8080#api##admin#127.0.0.1:19090#{server_ip}:9090#api"
    );
    pods.spawn(
        &client_ns,
        &mesh,
        &[
            "--credentials",
            &path(&client_creds),
            "--egress",
            &egress,
            "--status",
            "127.0.0.1:15021",
        ],
    );
    let through_egress = |port: &str, message: &str| {
        run_in(
            &client_ns,
            &python,
            &[&path(&helper), "send", "127.0.0.1", port, message],
        )
    };
    wait_until("the client proxy", || {
        through_egress("18080", "ping") == "echo:ping"
    });

    // A capture on the server's veth while a marked request crosses.
    let capture = dir.join("veth.pcap");
    let mut capturing = Command::new("ip")
        .args(["netns", "exec", &server_ns, "python3"])
        .args([&path(&helper), "capture", &server_if, "3", &path(&capture)])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(700));
    let marker = "PLAINTEXT-MARKER-7f3a";
    assert_eq!(through_egress("18080", marker), format!("echo:{marker}"));
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

    // What must not get through.
    let ca_file = server_creds.join("tls/mesh-ca.pem");
    let no_cert = vec![path(&ca_file), "-".to_owned()];
    assert_eq!(
        send(&client_ns, "8080", "no certificate", &no_cert),
        "",
        "no client certificate"
    );
    let other_ca = vec![
        path(&ca_file),
        path(&stranger.join("tls/cert.pem")),
        path(&stranger.join("tls/key.pem")),
    ];
    assert_eq!(
        send(&client_ns, "8080", "stranger", &other_ca),
        "",
        "another CA"
    );
    assert_eq!(
        through_egress("19090", "not admin"),
        "",
        "a SAN not on the allow-list"
    );
    let around = send(&client_ns, "8080", "around the proxy", &[]);
    assert!(
        !around.contains("echo:"),
        "plaintext straight to the server's port is redirected to the proxy and refused: {around:?}"
    );
    let around6 = send6("around the proxy over IPv6");
    assert!(
        !around6.contains("echo:"),
        "IPv6 is redirected too, not a way around the proxy: {around6:?}"
    );
    let member = vec![
        path(&ca_file),
        path(&client_creds.join("tls/cert.pem")),
        path(&client_creds.join("tls/key.pem")),
    ];
    assert_eq!(
        send(
            &client_ns,
            "15006",
            "a mesh member at the proxy port",
            &member
        ),
        "",
        "nothing answers at the proxy's own port, even a mesh member"
    );
    wait_until("the refusal in the proxy's log", || {
        std::fs::read_to_string(&server_log)
            .unwrap_or_default()
            .contains("port 15006 is the proxy's own")
    });
    let at_proxy = send(&client_ns, "15006", "at the proxy port", &[]);
    assert!(
        !at_proxy.contains("echo:"),
        "plaintext to the proxy's port is refused: {at_proxy:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
