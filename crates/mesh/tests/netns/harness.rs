//! Two pods as network namespaces on a veth pair (IPv4 and IPv6), the mesh credentials, the
//! helper script that plays workloads, clients and floods inside them, and the processes,
//! removed on drop.

use std::cell::{Cell, RefCell};
use std::ffi::OsStr;
use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use chiaro_test_support::prerequisite::Prerequisite;

use crate::common::{Ca, scratch};

/// A guard against hanging, not a timing assertion: every wait is for an event.
pub(crate) const PATIENCE: Duration = Duration::from_secs(60);

const HELPER: &str = r#"
import socket, ssl, sys, time, threading
mode = sys.argv[1]

def address(spec):
    # "PORT" (every address, both families) or "PORT@HOST"
    port, _, host = spec.partition("@")
    if not host: return socket.AF_INET6, "::", int(port)
    return (socket.AF_INET6 if ":" in host else socket.AF_INET), host, int(port)

if mode == "echo":
    # echo SPEC...: answers "echo:" + the first chunk it reads, per connection
    def serve(spec):
        family, host, port = address(spec)
        s = socket.socket(family); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if host == "::": s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        s.bind((host, port)); s.listen(16)
        while True:
            c, _ = s.accept()
            c.settimeout(10)
            try:
                c.sendall(b"echo:" + c.recv(65536))
            except Exception:
                pass
            c.close()
    for spec in sys.argv[2:]:
        threading.Thread(target=serve, args=(spec,), daemon=True).start()
    print("listening", flush=True)
    while True: time.sleep(60)
elif mode == "tls-echo":
    # tls-echo PORT CA CERT KEY: demands mutual TLS; answers "as:" + the peer's DNS names + ":"
    # + the first chunk it reads
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(sys.argv[4], sys.argv[5]); ctx.load_verify_locations(sys.argv[3])
    ctx.verify_mode = ssl.CERT_REQUIRED
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", int(sys.argv[2]))); s.listen(16)
    print("listening", flush=True)
    while True:
        c, _ = s.accept()
        c.settimeout(10)
        try:
            t = ctx.wrap_socket(c, server_side=True)
            names = ",".join(v for k, v in t.getpeercert().get("subjectAltName", ()) if k == "DNS")
            t.sendall(b"as:" + names.encode() + b":" + t.recv(65536))
            # A graceful end: the client's close_notify, then ours (closing with the client's
            # close_notify unread would reset the connection, and the answer with it).
            while t.recv(65536): pass
            t.unwrap(); c.close()
        except Exception:
            c.close()
elif mode == "send":
    # send HOST PORT MESSAGE [CA CERT KEY|CA -]: prints what was answered before the end, an
    # error or 5 s of silence (empty when refused)
    host, port, message = sys.argv[2], int(sys.argv[3]), sys.argv[4].encode()
    data = b""
    try:
        s = socket.create_connection((host.strip("[]"), port), timeout=5)
        if len(sys.argv) > 5:
            ctx = ssl.create_default_context(cafile=sys.argv[5]); ctx.check_hostname = False
            if sys.argv[6] != "-": ctx.load_cert_chain(sys.argv[6], sys.argv[7])
            s = ctx.wrap_socket(s, server_hostname="api")
        s.sendall(message)
        if len(sys.argv) <= 5: s.shutdown(socket.SHUT_WR)
        s.settimeout(5)
        while True:
            chunk = s.recv(65536)
            if not chunk: break
            data += chunk
    except Exception as e:
        sys.stderr.write(repr(e))
    sys.stdout.write(data.decode(errors="replace"))
elif mode == "flood":
    # flood HOST PORT COUNT SOURCE...: COUNT connections that send nothing, from the SOURCE
    # addresses in turn; prints "flooded N" once they are made (N: how many the kernel
    # completed before the first that did not complete within 5 s: the listener no longer
    # takes connections), "all closed" once the other end closed every one; holds them until
    # stdin ends.
    import resource, select
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    host, port, count, sources = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5:]
    held = {}
    for i in range(count):
        s = socket.socket(); s.bind((sources[i % len(sources)], 0)); s.settimeout(5)
        try:
            s.connect((host, port)); held[s.fileno()] = s
        except Exception:
            s.close(); break
    print("flooded", len(held), flush=True)
    poll = select.poll()
    for fd in held: poll.register(fd, select.POLLIN | select.POLLHUP | select.POLLERR)
    open_ = set(held)
    while open_:
        for fd, _ in poll.poll(1000):
            try: ended = held[fd].recv(1) == b""
            except Exception: ended = True
            if ended and fd in open_:
                open_.discard(fd); poll.unregister(fd)
    print("all closed", flush=True)
    sys.stdin.read()
"#;

/// Runs `command`; whether it succeeded.
fn succeeds(command: &mut Command) -> bool {
    command
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

pub(crate) fn ip(args: &[&str]) {
    assert!(
        succeeds(Command::new("ip").args(args)),
        "ip {}",
        args.join(" ")
    );
}

/// Polls `ready` until it holds; fails after [`PATIENCE`].
pub(crate) fn wait_until(what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !ready() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Everything the proxy wrote to `log` so far.
pub(crate) fn log_of(log: &Path) -> String {
    std::fs::read_to_string(log).unwrap_or_default()
}

/// Waits until `log` contains `needle`.
pub(crate) fn wait_for_log(log: &Path, needle: &str) {
    wait_until(&format!("{needle:?} in {}", log.display()), || {
        log_of(log).contains(needle)
    });
}

/// CPU time (user and system) process `pid` has used.
pub(crate) fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // The fields after the command name (which may contain spaces) in parentheses: utime and
    // stime are the 12th and 13th, in clock ticks (100 per second on Linux).
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after.split(' ').collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    Duration::from_millis(ticks * 10)
}

/// A helper process whose standard output is read line by line and whose standard input
/// holds it: it ends when this is dropped.
pub(crate) struct Held {
    child: Child,
    _stdin: ChildStdin,
    lines: mpsc::Receiver<String>,
}

impl Held {
    /// The next line, `what` the test waits for, waiting at most [`PATIENCE`].
    pub(crate) fn line(&self, what: &str) -> String {
        self.lines
            .recv_timeout(PATIENCE)
            .map_err(|error| format!("no line from the helper ({what}): {error}"))
            .unwrap()
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The two pods. `client` and `server` are the namespaces' names.
pub(crate) struct Net {
    pub(crate) client: String,
    pub(crate) server: String,
    pub(crate) client_if: String,
    pub(crate) server_if: String,
    /// `10.231.ID`: the pods are `.1` (client) and `.2` (server).
    pub(crate) prefix: String,
    pub(crate) client_ip: String,
    pub(crate) server_ip: String,
    pub(crate) client_ip6: String,
    pub(crate) server_ip6: String,
    pub(crate) dir: PathBuf,
    helper: PathBuf,
    pub(crate) ca: Ca,
    pub(crate) server_creds: PathBuf,
    pub(crate) client_creds: PathBuf,
    children: RefCell<Vec<Child>>,
    helpers: RefCell<Vec<Held>>,
    routed_via_server: Cell<bool>,
}

impl Drop for Net {
    fn drop(&mut self) {
        for child in self.children.get_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
        self.helpers.get_mut().clear();
        for name in [&self.client, &self.server] {
            let _ = Command::new("ip").args(["netns", "del", name]).status();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Net {
    /// The two pods.
    ///
    /// # Panics
    /// When this is not root or a tool is missing (the tests are named `needs_root_…`:
    /// `scripts/test` leaves them out then, unless `CI` is set).
    pub(crate) fn up() -> Self {
        Prerequisite::Root.require();
        // An id no other test holds: the one whose server namespace this run could create.
        let start = std::process::id() % 200;
        let id = (0..200)
            .map(|offset| (start + offset) % 200 + 20)
            .find(|id| succeeds(Command::new("ip").args(["netns", "add", &format!("chm-s-{id}")])))
            .expect("a free namespace id");
        let prefix = format!("10.231.{id}");
        let net = Self {
            client: format!("chm-c-{id}"),
            server: format!("chm-s-{id}"),
            client_if: format!("chmc{id}"),
            server_if: format!("chms{id}"),
            client_ip: format!("{prefix}.1"),
            server_ip: format!("{prefix}.2"),
            prefix,
            client_ip6: format!("fd00:231:{id}::1"),
            server_ip6: format!("fd00:231:{id}::2"),
            dir: scratch("netns"),
            helper: PathBuf::new(),
            ca: Ca::new(),
            server_creds: PathBuf::new(),
            client_creds: PathBuf::new(),
            children: RefCell::default(),
            helpers: RefCell::default(),
            routed_via_server: Cell::new(false),
        };
        net.wired()
    }

    fn wired(mut self) -> Self {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.client])
            .status();
        ip(&["netns", "add", &self.client]);
        for ns in [&self.client, &self.server] {
            ip(&["-n", ns, "link", "set", "lo", "up"]);
        }
        let _ = Command::new("ip")
            .args(["link", "del", &self.client_if])
            .status();
        ip(&[
            "link",
            "add",
            &self.client_if,
            "type",
            "veth",
            "peer",
            "name",
            &self.server_if,
        ]);
        ip(&["link", "set", &self.client_if, "netns", &self.client]);
        ip(&["link", "set", &self.server_if, "netns", &self.server]);
        // Dual stack: IPv6 too (unique local addresses, no duplicate detection to wait for).
        for (ns, link, v4, v6) in [
            (
                &self.client,
                &self.client_if,
                &self.client_ip,
                &self.client_ip6,
            ),
            (
                &self.server,
                &self.server_if,
                &self.server_ip,
                &self.server_ip6,
            ),
        ] {
            ip(&["-n", ns, "addr", "add", &format!("{v4}/24"), "dev", link]);
            ip(&[
                "-n",
                ns,
                "addr",
                "add",
                &format!("{v6}/64"),
                "dev",
                link,
                "nodad",
            ]);
            ip(&["-n", ns, "link", "set", link, "up"]);
        }
        std::fs::create_dir_all(&self.dir).unwrap();
        self.helper = self.dir.join("helper.py");
        std::fs::write(&self.helper, HELPER).unwrap();
        self.server_creds = self.dir.join("server");
        self.client_creds = self.dir.join("client");
        self.ca
            .credentials(&self.server_creds, &["api", "api.shop"]);
        self.ca.credentials(&self.client_creds, &["web.shop"]);
        self
    }

    /// `program` in namespace `ns`.
    pub(crate) fn command(ns: &str, program: impl AsRef<OsStr>) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", ns]).arg(program);
        command
    }

    /// Starts `command` (its standard error into `log`, if any), kept until drop; its pid.
    pub(crate) fn spawn(&self, mut command: Command, log: Option<&Path>) -> u32 {
        let stderr = log.map_or_else(Stdio::null, |path| {
            Stdio::from(std::fs::File::create(path).unwrap())
        });
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap();
        let pid = child.id();
        self.children.borrow_mut().push(child);
        pid
    }

    /// The helper in `ns` with `args`, held: its output lines, and it ends on drop.
    pub(crate) fn hold(&self, ns: &str, args: &[&str]) -> Held {
        let mut child = Self::command(ns, "python3")
            .arg(&self.helper)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (send, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if send.send(line).is_err() {
                    return;
                }
            }
        });
        Held {
            child,
            _stdin: stdin,
            lines,
        }
    }

    /// Starts the helper in `ns` with `args` until drop, once it printed its first line.
    pub(crate) fn start_helper(&self, ns: &str, args: &[&str]) {
        let held = self.hold(ns, args);
        assert_eq!(held.line("listening"), "listening", "helper {args:?}");
        self.helpers.borrow_mut().push(held);
    }

    /// The helper's `send` in `ns`: its answer (empty when refused).
    pub(crate) fn send(
        &self,
        ns: &str,
        host: &str,
        port: u16,
        message: &str,
        tls: &[String],
    ) -> String {
        let output = Self::command(ns, "python3")
            .arg(&self.helper)
            .args(["send", host, &port.to_string(), message])
            .args(tls)
            .output()
            .unwrap();
        if output.stdout.is_empty() {
            // Why it was refused, for whoever reads a failed test.
            let why = String::from_utf8_lossy(&output.stderr);
            std::io::Write::write_all(
                &mut std::io::stderr(),
                format!("send {host}:{port} {message:?}: no answer ({why})\n").as_bytes(),
            )
            .unwrap();
        }
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// The helper script's path (to run it under another program).
    pub(crate) fn helper_path(&self) -> String {
        self.helper.display().to_string()
    }

    /// The TLS arguments of `send` for a mesh member (the client pod's credentials).
    pub(crate) fn member(&self) -> Vec<String> {
        let path = |p: PathBuf| p.display().to_string();
        vec![
            path(self.server_creds.join("tls/mesh-ca.pem")),
            path(self.client_creds.join("tls/cert.pem")),
            path(self.client_creds.join("tls/key.pem")),
        ]
    }

    /// The `chiaro-mesh` binary under test.
    pub(crate) fn mesh() -> PathBuf {
        PathBuf::from(env!("CARGO_BIN_EXE_chiaro-mesh"))
    }

    /// The server pod's proxy, transparent, with `args` (`--ingress` and the like), run
    /// through `wrapper` (such as `prlimit --nofile=...`) if given; its pid and log.
    pub(crate) fn server_proxy(&self, args: &[&str], wrapper: &[&str]) -> (u32, PathBuf) {
        let log = self
            .dir
            .join(format!("server-proxy-{}.log", self.children.borrow().len()));
        let mut command = match wrapper.split_first() {
            Some((program, rest)) => {
                let mut command = Self::command(&self.server, program);
                command.args(rest).arg(Self::mesh());
                command
            }
            None => Self::command(&self.server, Self::mesh()),
        };
        command
            .args(["--transparent", "--credentials"])
            .arg(&self.server_creds)
            .args(args);
        let pid = self.spawn(command, Some(&log));
        (pid, log)
    }

    /// The client pod's proxy with `egress` entries (not transparent); its pid and log.
    pub(crate) fn client_proxy(&self, egress: &str) -> (u32, PathBuf) {
        let log = self.dir.join("client-proxy.log");
        let mut command = Self::command(&self.client, Self::mesh());
        command.arg("--credentials").arg(&self.client_creds).args([
            "--egress",
            egress,
            "--status",
            "127.0.0.1:15021",
        ]);
        let pid = self.spawn(command, Some(&log));
        (pid, log)
    }

    /// What the kubelet sees: plain HTTP to the server's status port from outside the pod
    /// (the status code, empty when there was no answer).
    pub(crate) fn kubelet(&self, host: &str, path: &str) -> String {
        let output = Self::command(&self.client, "python3")
            .args([
                "-c",
                &format!(
                    "import urllib.request, urllib.error\n\
                     try: print(urllib.request.urlopen('http://{host}:15021{path}', timeout=3).status)\n\
                     except urllib.error.HTTPError as e: print(e.code)"
                ),
            ])
            .stderr(Stdio::null())
            .output()
            .unwrap();
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    }

    /// Waits until the server's proxy answers `/ready` with 200.
    pub(crate) fn wait_ready(&self) {
        let server = self.server_ip.clone();
        wait_until("the server proxy's readiness", || {
            self.kubelet(&server, "/ready") == "200"
        });
    }

    /// From now on the client pod sends TCP for `to:port` to the server pod's interface, as a
    /// neighbour (or the host, which is the network) can: a packet addressed to the server's
    /// loopback or to a third address arrives at the server. The client accepts the answers
    /// (from a loopback or its own address) on that interface.
    pub(crate) fn route_via_server(&self, to: &str, port: u16) {
        let client = self.client.clone();
        let run = |args: &[&str]| ip(&[&["-n", &client], args].concat());
        if !self.routed_via_server.replace(true) {
            // The rules below must come before the local table's (priority 0).
            run(&["rule", "add", "pref", "100", "lookup", "local"]);
            run(&["rule", "del", "pref", "0"]);
            for interface in ["all", self.client_if.as_str()] {
                for setting in ["route_localnet=1", "accept_local=1", "rp_filter=0"] {
                    let key = format!("net.ipv4.conf.{interface}.{setting}");
                    assert!(succeeds(
                        Self::command(&client, "sysctl").args(["-qw", &key])
                    ));
                }
            }
        }
        let port = port.to_string();
        // Only what the client sends (`iif lo`): what arrives for `to` is still delivered here.
        run(&[
            "rule", "add", "pref", "10", "iif", "lo", "to", to, "ipproto", "tcp", "dport", &port,
            "lookup", "100",
        ]);
        let route = [
            "route",
            "replace",
            &format!("{to}/32"),
            "via",
            &self.server_ip,
            "dev",
            &self.client_if,
            "src",
            &self.client_ip,
            "table",
            "100",
        ];
        run(&route);
    }
}
