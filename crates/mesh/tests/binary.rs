//! The `chiaro-mesh` binary as a process: readiness on the status port, a request through its
//! ingress, and SIGTERM: no new connections, the open one drains, then the process exits.

#![expect(clippy::unwrap_used, clippy::panic, reason = "test")]

mod common;
#[path = "common/egress.rs"]
mod egress_helper;

use std::net::{SocketAddr, TcpListener as StdListener};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Ca, scratch};
use egress_helper::egress_to;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

fn free() -> SocketAddr {
    StdListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

async fn get(address: SocketAddr, path: &str) -> String {
    let Ok(mut stream) = TcpStream::connect(address).await else {
        return String::new();
    };
    let request = format!("GET {path} HTTP/1.1\r\nhost: x\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer).await;
    answer
}

/// An echo server on loopback; its address.
async fn echo_server() -> SocketAddr {
    let echo = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = echo.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (mut stream, _) = echo.accept().await.unwrap();
            tokio::spawn(async move {
                let mut buffer = [0u8; 1024];
                while let Ok(n) = stream.read(&mut buffer).await {
                    if n == 0 || stream.write_all(&buffer[..n]).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    address
}

/// `chiaro-mesh` with the credentials in `server`, one fixed ingress to `echo` and `extra`
/// arguments, once its status port says it is ready: the process, its status port and its
/// ingress.
async fn ready_proxy(
    server: &std::path::Path,
    echo: SocketAddr,
    extra: &[&str],
) -> (std::process::Child, SocketAddr, SocketAddr) {
    let (status, ingress) = (free(), free());
    let proxy = Command::new(env!("CARGO_BIN_EXE_chiaro-mesh"))
        .args(["--credentials", server.to_str().unwrap()])
        .args(["--status", &status.to_string()])
        .args(["--ingress", ""])
        .args([
            "--ingress-port",
            &format!("{ingress}={}@{echo}", echo.port()),
        ])
        .args(extra)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !get(status, "/ready").await.starts_with("HTTP/1.1 200") {
        assert!(Instant::now() < deadline, "never ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (proxy, status, ingress)
}

#[tokio::test(flavor = "multi_thread")]
async fn ready_serves_then_drains_on_sigterm() {
    let ca = Ca::new();
    let (server, client) = (scratch("bin-server"), scratch("bin-client"));
    ca.credentials(&server, &["api"]);
    ca.credentials(&client, &["web"]);

    let echo = echo_server().await;
    let (mut proxy, status, ingress) = ready_proxy(&server, echo, &["--drain-secs", "20"]).await;
    assert!(get(status, "/healthz").await.starts_with("HTTP/1.1 200"));

    let (local, _tls) = egress_to(&client, ingress, "api").await;
    let mut open = TcpStream::connect(local).await.unwrap();
    open.write_all(b"one").await.unwrap();
    let mut buffer = [0u8; 3];
    open.read_exact(&mut buffer).await.unwrap();
    assert_eq!(&buffer, b"one");

    let status_code = Command::new("kill")
        .args(["-TERM", &proxy.id().to_string()])
        .status()
        .unwrap();
    assert!(status_code.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(ingress).await.is_ok() {
        assert!(Instant::now() < deadline, "still accepting after SIGTERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    open.write_all(b"two").await.unwrap();
    open.read_exact(&mut buffer).await.unwrap();
    assert_eq!(&buffer, b"two", "the open connection drains");
    assert!(proxy.try_wait().unwrap().is_none(), "still draining");
    drop(open);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(exit) = proxy.try_wait().unwrap() {
            assert!(exit.success(), "{exit}");
            break;
        }
        assert!(Instant::now() < deadline, "did not exit after draining");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The samples of a Prometheus text exposition: `name{labels}` → value; every line that is
/// not a comment must be one sample.
fn samples(text: &str) -> std::collections::BTreeMap<String, f64> {
    text.lines()
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("{line}"));
            (
                series.to_owned(),
                value.parse().unwrap_or_else(|_| panic!("{line}")),
            )
        })
        .collect()
}

/// `/metrics` on the status port counts what the proxy did: one forwarded connection (its
/// bytes each way, its handshake), one refused (a plaintext client at a TLS port: a failed
/// handshake, counted by reason), as Prometheus text whose histogram is cumulative.
#[tokio::test(flavor = "multi_thread")]
async fn metrics_count_connections_bytes_refusals_and_handshakes() {
    let ca = Ca::new();
    let (server, client) = (scratch("metrics-server"), scratch("metrics-client"));
    ca.credentials(&server, &["api"]);
    ca.credentials(&client, &["web"]);
    let echo = echo_server().await;
    let (mut proxy, status, ingress) = ready_proxy(&server, echo, &[]).await;

    let (local, _tls) = egress_to(&client, ingress, "api").await;
    let mut open = TcpStream::connect(local).await.unwrap();
    open.write_all(b"seven!!").await.unwrap();
    let mut buffer = [0u8; 7];
    open.read_exact(&mut buffer).await.unwrap();
    drop(open);
    let mut plaintext = TcpStream::connect(ingress).await.unwrap();
    plaintext
        .write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let mut ignored = Vec::new();
    let _ = plaintext.read_to_end(&mut ignored).await;

    let series = |name: &str| format!("chiaro_mesh_{name}");
    let wanted = [
        (series("connections_accepted_total{side=\"ingress\"}"), 1.0),
        (
            series("refusals_total{side=\"ingress\",reason=\"handshake\"}"),
            1.0,
        ),
        (
            series("refusals_total{side=\"ingress\",reason=\"not_allowed\"}"),
            0.0,
        ),
        (
            series("bytes_total{side=\"ingress\",direction=\"to_workload\"}"),
            7.0,
        ),
        (
            series("bytes_total{side=\"ingress\",direction=\"from_workload\"}"),
            7.0,
        ),
        (series("tls_handshake_seconds_count{side=\"ingress\"}"), 2.0),
        (
            series("tls_handshake_seconds_bucket{side=\"ingress\",le=\"+Inf\"}"),
            2.0,
        ),
    ];
    // The counters move as the proxy's tasks finish: read until they say what happened.
    let deadline = Instant::now() + Duration::from_secs(20);
    let metrics = loop {
        let answer = get(status, "/metrics").await;
        let body = answer
            .split_once("\r\n\r\n")
            .map(|(_, body)| body)
            .unwrap_or("");
        let metrics = samples(body);
        if wanted
            .iter()
            .all(|(name, value)| metrics.get(name) == Some(value))
        {
            break metrics;
        }
        assert!(Instant::now() < deadline, "{wanted:#?}\n{body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let mut buckets: Vec<(f64, f64)> = metrics
        .iter()
        .filter_map(|(name, value)| {
            let bound = name
                .strip_prefix("chiaro_mesh_tls_handshake_seconds_bucket{side=\"ingress\",le=\"")?
                .strip_suffix("\"}")?;
            Some((bound.parse::<f64>().unwrap(), *value))
        })
        .collect();
    assert_eq!(buckets.len(), 11, "ten bounds and +Inf");
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    assert!(
        buckets.windows(2).all(|pair| pair[0].1 <= pair[1].1),
        "cumulative: {buckets:?}"
    );
    assert!(
        metrics
            .iter()
            .filter(|(name, _)| name.starts_with("chiaro_mesh_tls_handshake_seconds_bucket"))
            .count()
            == 22
    );
    let _ = proxy.kill();
    let _ = proxy.wait();
}
