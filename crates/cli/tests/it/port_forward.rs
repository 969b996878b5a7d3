//! `chiaro port-forward` against a `chiaro local run --keep-running` deployment (loopback
//! network, INSECURE simulated TEE), through a real `chiaro-forwarder` process and the real
//! mesh proxies. In local mode the kubectl leg is a direct TCP path: the CLI connects to the
//! forwarder (or to this test's relay in front of it) on loopback, where a cluster would have
//! `kubectl port-forward` to the forwarder pod. The attacks are the forwarder's (the host's):
//! this test's relay records, tampers, redirects or answers in its place.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chiaro::reports::{ContainerOutcome, ForwardedConnection, PortForwardReport, RunReport};
use chiaro_names::reserved::WORKLOAD_OWNER;

/// How long any one step may take before the test fails instead of hanging.
const DEADLINE: Duration = Duration::from_secs(60);

/// Three workloads in namespace `pf`: `web` and `api` admit the owner's certificate on 8080,
/// `plain` admits any mesh certificate there (and so not the owner's).
fn app(dir: &Path) -> PathBuf {
    let deployment = |name: &str, ingress: &str| {
        format!(
            "apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}, namespace: pf}}
spec:
  replicas: 1
  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
      labels: {{app: {name}}}
      annotations:
        chiaro.dev/mesh-ingress: \"{ingress}\"
    spec:
      runtimeClassName: chiaro-cc
      containers:
      - name: {name}
        image: docker.io/library/nginx:1.27
        ports:
        - {{name: http, containerPort: 8080}}
"
        )
    };
    let owner_only = format!("http#8080#true#{WORKLOAD_OWNER}");
    let text = [
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: pf}\n".to_owned(),
        deployment("web", &owner_only),
        deployment("api", &owner_only),
        deployment("plain", "http#8080"),
    ]
    .join("---\n");
    let app = dir.join("app");
    std::fs::create_dir_all(&app).unwrap();
    std::fs::write(app.join("app.yaml"), text).unwrap();
    app
}

/// A binary of the workspace beside `chiaro` (scripts/test builds them all).
fn sibling(name: &str) -> Option<PathBuf> {
    let path = Path::new(env!("CARGO_BIN_EXE_chiaro")).with_file_name(name);
    path.is_file().then_some(path)
}

/// A child killed (SIGTERM first, so `local run` cleans up) and waited for when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let (done, wait) = channel();
        let id = self.0.id();
        std::thread::spawn(move || {
            let _ = wait.recv_timeout(DEADLINE);
            let _ = Command::new("kill")
                .args(["-KILL", &id.to_string()])
                .status();
        });
        let _ = self.0.wait();
        let _ = done.send(());
    }
}

/// Each line a child writes to `stream`, as it comes.
fn lines(stream: impl std::io::Read + Send + 'static) -> Receiver<String> {
    let (send, receive) = channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            if send.send(line).is_err() {
                break;
            }
        }
    });
    receive
}

/// The first line from `lines` that `pick` takes, within the deadline.
fn first<T>(lines: &Receiver<String>, what: &str, pick: impl Fn(&str) -> Option<T>) -> T {
    let deadline = std::time::Instant::now() + DEADLINE;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) => match pick(&line) {
                Some(found) => return found,
                None => seen.push(line),
            },
            Err(_) => panic!("no {what} within {DEADLINE:?}; seen: {seen:#?}"),
        }
    }
}

/// A running local deployment of [`app`], a forwarder in front of it, and where its pods'
/// mesh ingresses are.
struct Deployment {
    work: PathBuf,
    report: RunReport,
    forwarder: SocketAddr,
    _forwarder: Running,
    _run: Running,
}

impl Deployment {
    /// Fails when the forwarder is not built beside `chiaro` (as the Coordinator, the
    /// initializer and the mesh proxy must be for local mode).
    fn start(name: &str) -> Self {
        Self::start_on(name, "loopback")
    }

    /// [`Deployment::start`] with `--network NETWORK`.
    fn start_on(name: &str, network: &str) -> Self {
        let forwarder_binary = sibling("chiaro-forwarder").unwrap_or_else(|| {
            panic!("chiaro-forwarder is not built beside chiaro: `cargo build --workspace --bins` (scripts/test does)")
        });
        let dir = std::env::temp_dir().join(format!("chiaro-pf-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let app = app(&dir);
        let work = dir.join("work");
        let mut run = Command::new(env!("CARGO_BIN_EXE_chiaro"))
            .args(["--output", "json", "local", "run"])
            .arg(&app)
            .arg("--work-dir")
            .arg(&work)
            .args(["--network", network, "--keep-running"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = lines(run.stdout.take().unwrap());
        let run = Running(run);
        let report: RunReport = first(&stdout, "run report", |line| {
            serde_json::from_str(line).ok()
        });
        assert_eq!(report.refused_or_failed, 0, "{report:#?}");
        let mut forwarder = Command::new(forwarder_binary)
            .args(["--listen", "127.0.0.1:0"])
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = lines(forwarder.stderr.take().unwrap());
        let forwarder_running = Running(forwarder);
        let forwarder = first(&stderr, "forwarder address", |line| {
            line.strip_prefix("chiaro-forwarder: listening on ")?
                .parse()
                .ok()
        });
        // Keep draining the forwarder's reports.
        std::thread::spawn(move || for _ in stderr {});
        Self {
            work,
            report,
            forwarder,
            _forwarder: forwarder_running,
            _run: run,
        }
    }

    /// The pod of `workload` and where the mesh reaches its port 8080.
    fn pod(&self, workload: &str) -> (String, SocketAddr) {
        let pod = self
            .report
            .pods
            .iter()
            .find(|pod| pod.workload == workload)
            .unwrap_or_else(|| panic!("no pod of {workload}: {:#?}", self.report));
        let ingress = pod
            .containers
            .iter()
            .find_map(|run| match &run.outcome {
                ContainerOutcome::StandIn { servers } => servers
                    .iter()
                    .find(|server| server.declared == 8080)
                    .and_then(|server| server.ingress),
                _ => None,
            })
            .unwrap_or_else(|| panic!("{workload} has no meshed 8080: {pod:#?}"));
        (pod.pod.clone(), ingress)
    }

    /// `chiaro port-forward pod/POD 0:8080` of `workload`'s pod through `forwarder`, asking it
    /// to connect to `to`, with `owner_key`.
    fn port_forward(
        &self,
        workload: &str,
        forwarder: SocketAddr,
        to: SocketAddr,
        owner_key: &Path,
    ) -> Forward {
        let extra = [
            "--forwarder".to_owned(),
            forwarder.to_string(),
            "--to".to_owned(),
            to.to_string(),
        ];
        self.port_forward_with(workload, owner_key, &extra)
    }

    /// `chiaro port-forward pod/POD 0:8080` of `workload`'s pod with `extra` arguments.
    fn port_forward_with(&self, workload: &str, owner_key: &Path, extra: &[String]) -> Forward {
        let (pod, _) = self.pod(workload);
        let mut child = Command::new(env!("CARGO_BIN_EXE_chiaro"))
            .args(["--output", "json", "port-forward"])
            .arg(format!("pod/{pod}"))
            .args(["0:8080", "-n", "pf", "-c"])
            .arg(self.report.coordinator.to_string())
            .arg("--coordinator-reference")
            .arg(self.work.join("coordinator-reference.json"))
            .arg("--deployment")
            .arg(self.work.join("deployment.json"))
            .arg("--workload-owner-key")
            .arg(owner_key)
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = lines(child.stdout.take().unwrap());
        let events = lines(child.stderr.take().unwrap());
        Forward {
            stdout,
            events,
            child: Running(child),
        }
    }

    fn owner_key(&self) -> PathBuf {
        self.work.join("workload-owner.pem")
    }
}

/// A running `chiaro port-forward`.
struct Forward {
    stdout: Receiver<String>,
    events: Receiver<String>,
    child: Running,
}

impl Forward {
    fn report(&self) -> PortForwardReport {
        first(&self.stdout, "port-forward report", |line| {
            serde_json::from_str(line).ok()
        })
    }

    /// The next connection event on stderr.
    fn event(&self) -> ForwardedConnection {
        first(&self.events, "connection event", |line| {
            serde_json::from_str(line).ok()
        })
    }
}

/// `GET /` at `address`: the whole answer, or what went wrong.
fn get(address: SocketAddr) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(address)?;
    stream.set_read_timeout(Some(DEADLINE))?;
    stream.write_all(b"GET / HTTP/1.1\r\nHost: web\r\nConnection: close\r\n\r\n")?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer)?;
    Ok(String::from_utf8_lossy(&answer).into_owned())
}

/// What this test's relay does with a connection from the CLI.
#[derive(Clone)]
enum Relay {
    /// Passes everything on to the forwarder, recording both directions.
    Record(Arc<Mutex<Vec<u8>>>),
    /// Passes the request line on, then flips the last byte of every encrypted record
    /// (content type 23) from the server.
    TamperServerRecords,
    /// Drops the CLI's request line and asks the forwarder for `to` instead.
    Redirect(SocketAddr),
    /// Terminates TLS itself with a self-signed certificate for the expected name.
    FakeServer(Arc<rustls::ServerConfig>),
}

/// Starts a relay on loopback in front of `forwarder`; its address.
fn relay(forwarder: SocketAddr, mode: Relay) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for client in listener.incoming().map_while(Result::ok) {
            let mode = mode.clone();
            std::thread::spawn(move || relay_one(client, forwarder, &mode));
        }
    });
    address
}

fn relay_one(client: TcpStream, forwarder: SocketAddr, mode: &Relay) {
    // Byte by byte, as the forwarder reads it: the TLS session follows the line at once.
    let mut request = Vec::new();
    let mut byte = [0u8; 1];
    while request.last() != Some(&b'\n') {
        (&client).read_exact(&mut byte).unwrap();
        request.push(byte[0]);
    }
    let request = String::from_utf8(request).unwrap();
    if let Relay::FakeServer(config) = mode {
        let connection = rustls::ServerConnection::new(Arc::clone(config)).unwrap();
        let mut tls = rustls::StreamOwned::new(connection, client);
        let _ = tls.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 6\r\n\r\nforged");
        return;
    }
    let mut upstream = TcpStream::connect(forwarder).unwrap();
    match mode {
        Relay::Redirect(to) => {
            let line = chiaro_forwarder::ForwardRequest::new(&to.ip().to_string(), to.port())
                .unwrap()
                .to_line();
            upstream.write_all(line.as_bytes()).unwrap();
        }
        _ => upstream.write_all(request.as_bytes()).unwrap(),
    }
    let record = match mode {
        Relay::Record(recorded) => {
            recorded
                .lock()
                .unwrap()
                .extend_from_slice(request.as_bytes());
            Some(Arc::clone(recorded))
        }
        _ => None,
    };
    let tamper = matches!(mode, Relay::TamperServerRecords);
    let up = {
        let (mut from, mut to) = (client.try_clone().unwrap(), upstream.try_clone().unwrap());
        let record = record.clone();
        std::thread::spawn(move || copy(&mut from, &mut to, record.as_deref(), false))
    };
    let (mut from, mut to) = (upstream, client);
    copy(&mut from, &mut to, record.as_deref(), tamper);
    let _ = up.join();
}

/// Copies `from` to `to` until either ends, recording what passes; with `tamper`, record by
/// TLS record, flipping the last byte of each encrypted one.
fn copy(from: &mut TcpStream, to: &mut TcpStream, record: Option<&Mutex<Vec<u8>>>, tamper: bool) {
    loop {
        let chunk = if tamper {
            let mut header = [0u8; 5];
            if from.read_exact(&mut header).is_err() {
                break;
            }
            let length = usize::from(u16::from_be_bytes([header[3], header[4]]));
            let mut body = vec![0u8; length];
            if from.read_exact(&mut body).is_err() {
                break;
            }
            if header[0] == 23
                && let Some(last) = body.last_mut()
            {
                *last ^= 0x01;
            }
            [header.as_slice(), &body].concat()
        } else {
            let mut buffer = [0u8; 16 * 1024];
            match from.read(&mut buffer) {
                Ok(0) | Err(_) => break,
                Ok(n) => buffer[..n].to_vec(),
            }
        };
        if let Some(record) = record {
            record.lock().unwrap().extend_from_slice(&chunk);
        }
        if to.write_all(&chunk).is_err() {
            break;
        }
    }
    let _ = to.shutdown(std::net::Shutdown::Write);
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

fn stand_in_body(workload: &str) -> String {
    format!("chiaro local stand-in for container {workload} of {workload} (declared port 8080)")
}

/// An HTTP request through `chiaro port-forward` reaches the pod's workload, through the
/// forwarder and the pod's mesh proxy, and the connection is reported.
#[test]
fn port_forward_reaches_the_pod() {
    let deployment = Deployment::start("reaches");
    let (_, ingress) = deployment.pod("web");
    let forward = deployment.port_forward(
        "web",
        deployment.forwarder,
        ingress,
        &deployment.owner_key(),
    );
    let report = forward.report();
    assert_eq!(report.server_name, "web.pf.svc.cluster.local");
    assert_eq!(report.deployment, deployment.report.installed.deployment);
    let answer = get(report.listening).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains(&stand_in_body("web")), "{answer}");
    assert!(
        matches!(forward.event(), ForwardedConnection::Closed { connection: 1, bytes_down, .. } if bytes_down > 0)
    );
}

/// What the forwarder's leg carries, recorded by a relay between the CLI and the forwarder:
/// the request line (routing) and then TLS records only; neither the request nor the answer
/// appears in the clear.
#[test]
fn port_forward_leg_carries_no_plaintext() {
    let deployment = Deployment::start("capture");
    let (_, ingress) = deployment.pod("web");
    let recorded = Arc::new(Mutex::new(Vec::new()));
    let leg = relay(deployment.forwarder, Relay::Record(Arc::clone(&recorded)));
    let forward = deployment.port_forward("web", leg, ingress, &deployment.owner_key());
    let answer = get(forward.report().listening).unwrap();
    assert!(answer.contains(&stand_in_body("web")), "{answer}");
    assert!(matches!(
        forward.event(),
        ForwardedConnection::Closed { .. }
    ));
    drop(forward);
    let recorded = recorded.lock().unwrap();
    let line = format!("CHIARO-FORWARD/1 {ingress}\n");
    assert!(
        recorded.starts_with(line.as_bytes()),
        "the routing line first"
    );
    let after = &recorded[line.len()..];
    assert_eq!(after.first(), Some(&22), "a TLS handshake record follows");
    assert!(
        contains(after, &[23, 3, 3]),
        "application data in TLS records"
    );
    for plaintext in [
        "GET / HTTP/1.1".as_bytes(),
        b"Host: web",
        b"HTTP/1.1 200",
        b"chiaro local stand-in",
    ] {
        assert!(
            !contains(&recorded, plaintext),
            "{:?} in the clear on the forwarder's leg",
            String::from_utf8_lossy(plaintext)
        );
    }
}

/// A forwarder that flips bits in what the server sends: TLS record integrity fails, the CLI
/// refuses the connection, and nothing reaches the local client.
#[test]
fn attack_forwarder_tampers_stream_refused() {
    let deployment = Deployment::start("tamper");
    let (_, ingress) = deployment.pod("web");
    let leg = relay(deployment.forwarder, Relay::TamperServerRecords);
    let forward = deployment.port_forward("web", leg, ingress, &deployment.owner_key());
    let answer = get(forward.report().listening);
    assert!(
        answer.as_deref().map_or(true, str::is_empty),
        "nothing reaches the client: {answer:?}"
    );
    match forward.event() {
        ForwardedConnection::Refused { error, .. } => {
            assert!(error.contains("integrity"), "{error}");
        }
        other => panic!("not refused: {other:?}"),
    }
}

/// A forwarder that connects to another workload's pod (one whose ingress admits the owner as
/// well): its certificate is the mesh CA's, but not for the target's identity; refused.
#[test]
fn attack_forwarder_redirects_to_other_workload_refused() {
    let deployment = Deployment::start("redirect");
    let (_, web) = deployment.pod("web");
    let (_, api) = deployment.pod("api");
    let leg = relay(deployment.forwarder, Relay::Redirect(api));
    let forward = deployment.port_forward("web", leg, web, &deployment.owner_key());
    let answer = get(forward.report().listening);
    assert!(
        answer.as_deref().map_or(true, |a| !a.contains("stand-in")),
        "nothing of api reaches the client: {answer:?}"
    );
    match forward.event() {
        ForwardedConnection::Refused { error, .. } => {
            assert!(error.contains("not for the target's identity"), "{error}");
            assert!(error.contains("api.pf.svc.cluster.local"), "{error}");
        }
        other => panic!("not refused: {other:?}"),
    }
}

/// A forwarder that answers itself, with a certificate for the expected name that the
/// deployment's mesh CA did not issue: refused, its forged answer never reaches the client.
#[test]
fn attack_forwarder_fake_server_refused() {
    let deployment = Deployment::start("fake");
    let (_, ingress) = deployment.pod("web");
    let key = rcgen::KeyPair::generate().unwrap();
    let certificate = rcgen::CertificateParams::new(vec!["web.pf.svc.cluster.local".to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![certificate.der().clone()],
        rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
    )
    .unwrap();
    let leg = relay(deployment.forwarder, Relay::FakeServer(Arc::new(config)));
    let forward = deployment.port_forward("web", leg, ingress, &deployment.owner_key());
    let answer = get(forward.report().listening);
    assert!(
        answer.as_deref().map_or(true, |a| !a.contains("forged")),
        "the forged answer reaches the client: {answer:?}"
    );
    match forward.event() {
        ForwardedConnection::Refused { error, .. } => {
            assert!(
                error.contains("not issued by the deployment's mesh CA"),
                "{error}"
            );
        }
        other => panic!("not refused: {other:?}"),
    }
}

/// A pod whose ingress does not name the owner identity (any mesh certificate on 8080) refuses
/// the owner's certificate: an owner certificate opens only the ports that list it.
#[test]
fn attack_owner_certificate_at_a_pod_that_does_not_name_it_is_refused() {
    let deployment = Deployment::start("plain");
    let (_, ingress) = deployment.pod("plain");
    let forward = deployment.port_forward(
        "plain",
        deployment.forwarder,
        ingress,
        &deployment.owner_key(),
    );
    let answer = get(forward.report().listening);
    assert!(
        answer.as_deref().map_or(true, |a| !a.contains("stand-in")),
        "plain answered the owner: {answer:?}"
    );
    match forward.event() {
        ForwardedConnection::Refused { error, .. } => {
            assert!(error.contains(WORKLOAD_OWNER), "{error}");
        }
        other => panic!("not refused: {other:?}"),
    }
}

/// A workload-owner key the manifest does not list gets no owner certificate: `port-forward`
/// refuses to start (exit 3) and never listens.
#[test]
fn attack_owner_key_the_manifest_does_not_list_is_refused() {
    let deployment = Deployment::start("stranger");
    let (_, ingress) = deployment.pod("web");
    let stranger = deployment.work.join("stranger.pem");
    let (code, _, stderr) = super::chiaro(&[
        "keygen",
        "workload-owner",
        "--out",
        super::path_str(&stranger),
    ]);
    assert_eq!(code, 0, "{stderr}");
    let mut forward = deployment.port_forward("web", deployment.forwarder, ingress, &stranger);
    let status = forward.child.0.wait().unwrap();
    assert_eq!(status.code(), Some(3), "refused");
    // The child exited: its pipes end, and the readers with them.
    let said: Vec<String> = forward.stdout.iter().chain(forward.events.iter()).collect();
    assert!(
        said.iter()
            .any(|line| line.contains("does not list this workload-owner key")),
        "{said:#?}"
    );
    assert!(
        !said.iter().any(|line| line.contains("listening")),
        "{said:#?}"
    );
}

/// The cluster leg, with a stand-in for kubectl (there is no cluster here: an INSECURE shell
/// script that answers as kubectl does and records how it was called). The CLI runs
/// `kubectl port-forward` to install's forwarder Deployment and reads where it listens, asks
/// `kubectl get pod` for the pod's IP, and reaches the pod there: as root, local mode's pods
/// have their own network namespaces and IPs, and the mesh proxy takes port 8080 transparently,
/// as in a cluster.
#[test]
fn needs_root_port_forward_through_kubectl_reaches_the_pod_at_its_ip() {
    chiaro_test_support::prerequisite::Prerequisite::Root.require();
    let deployment = Deployment::start_on("kubectl", "namespaces");
    let (pod, _) = deployment.pod("web");
    let pod_ip = deployment
        .report
        .pods
        .iter()
        .find(|run| run.workload == "web")
        .and_then(|run| {
            run.containers
                .iter()
                .find_map(|container| match &container.outcome {
                    ContainerOutcome::StandIn { servers } => {
                        servers.first().map(|s| s.address.ip())
                    }
                    _ => None,
                })
        })
        .unwrap();
    assert!(
        !pod_ip.is_loopback(),
        "the pod has its own address: {pod_ip}"
    );
    let dir = deployment.work.join("kubectl");
    std::fs::create_dir_all(&dir).unwrap();
    let calls = dir.join("calls");
    let kubectl = dir.join("kubectl");
    std::fs::write(
        &kubectl,
        format!(
            "#!/bin/sh\n\
             # INSECURE test stand-in for kubectl (no cluster here).\n\
             echo \"$*\" >> {calls}\n\
             case \"$1\" in\n\
             port-forward) echo \"Forwarding from 127.0.0.1:{port} -> 15100\"; exec sleep 600 ;;\n\
             get) printf %s {pod_ip} ;;\n\
             *) exit 1 ;;\n\
             esac\n",
            calls = calls.display(),
            port = deployment.forwarder.port(),
        ),
    )
    .unwrap();
    std::fs::set_permissions(
        &kubectl,
        <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o755),
    )
    .unwrap();
    let extra = ["--kubectl".to_owned(), kubectl.display().to_string()];
    let forward = deployment.port_forward_with("web", &deployment.owner_key(), &extra);
    let report = forward.report();
    assert_eq!(report.routing, format!("{pod_ip}:8080"));
    let answer = get(report.listening).unwrap();
    assert!(answer.contains(&stand_in_body("web")), "{answer}");
    let calls = std::fs::read_to_string(&calls).unwrap();
    assert_eq!(
        calls.lines().collect::<Vec<_>>(),
        [
            format!("get pod {pod} -n pf -o jsonpath={{.status.podIP}}"),
            "port-forward -n chiaro deployment/chiaro-forwarder :15100 --address 127.0.0.1"
                .to_owned(),
        ]
    );
}

/// Without a deployment record, port-forward refuses before it connects (exit 3): an owner key
/// may have signed several deployments (staging, an old one the host still runs), and the host
/// chooses which Coordinator answers, so only a deployment this machine pinned is reached.
#[test]
fn attack_port_forward_without_a_deployment_record_is_refused() {
    let dir = std::env::temp_dir().join(format!("chiaro-pf-norecord-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let key = dir.join("owner.pem");
    let (code, _, stderr) =
        super::chiaro(&["keygen", "workload-owner", "--out", super::path_str(&key)]);
    assert_eq!(code, 0, "{stderr}");
    let reference = dir.join("reference.json");
    std::fs::write(&reference, "{}").unwrap();
    let (code, stdout, stderr) = super::chiaro(&[
        "port-forward",
        "pod/web",
        "8080",
        "-c",
        "127.0.0.1:9",
        "--coordinator-reference",
        super::path_str(&reference),
        "--deployment",
        super::path_str(&dir.join("none.json")),
        "--workload-owner-key",
        super::path_str(&key),
        "--forwarder",
        "127.0.0.1:9",
        "--to",
        "127.0.0.1:9",
    ]);
    assert_eq!(code, 3, "{stdout}{stderr}");
    assert!(stderr.contains("no --deployment record"), "{stderr}");
    let _ = std::fs::remove_dir_all(dir);
}
