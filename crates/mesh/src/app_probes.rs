//! The workload's own health probes, run by the proxy for the kubelet. `chiaro generate` moves
//! a meshed pod's `httpGet` and `tcpSocket` probes to the status port (the kubelet cannot pass
//! the mesh's mutual TLS) and hands the originals to the proxy in `CHIARO_MESH_PROBES`: a JSON
//! object from status-port path (`/app-health/CONTAINER/KIND`) to the original probe, its
//! port resolved to a number:
//!
//! ```json
//! {"/app-health/web/readyz": {"httpGet": {"port": 8080, "path": "/healthz",
//!   "httpHeaders": [{"name": "X-Probe", "value": "k"}]}, "timeoutSeconds": 1},
//!  "/app-health/web/startupz": {"tcpSocket": {"port": 8080}, "timeoutSeconds": 2}}
//! ```
//!
//! The proxy runs them as the kubelet would: against the pod address the kubelet's request
//! was sent to (the kubelet probes the pod's address, not loopback), an HTTP/1.1 `GET` that
//! passes with a status from 200 to 399, or a TCP connection that opens. So a probe passes only
//! if the workload listens where mesh connections are forwarded (`crate::ingress`), and a
//! service the workload bound to loopback only is probed no more than it is reached. Only the
//! paths in the table exist; a request cannot choose the port, path or headers, so the status
//! port does not become a way into the workload.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use serde::Deserialize;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use chiaro_k8s::probes::{APP_HEALTH_PREFIX as PREFIX, PROBES_ENV};

use crate::MeshError;

/// One probe of the workload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppProbe {
    /// `GET path` on the workload's port.
    Http {
        /// The workload's port.
        port: u16,
        /// The request path.
        path: String,
        /// Extra request headers.
        headers: Vec<(String, String)>,
        /// How long the whole probe may take.
        timeout: Duration,
    },
    /// A TCP connection to the workload's port.
    Tcp {
        /// The workload's port.
        port: u16,
        /// How long connecting may take.
        timeout: Duration,
    },
}

/// The probes by status-port path.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppProbes(BTreeMap<String, AppProbe>);

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Entry {
    http_get: Option<HttpGet>,
    tcp_socket: Option<TcpSocket>,
    timeout_seconds: Option<u64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct HttpGet {
    port: u16,
    path: String,
    #[serde(default)]
    http_headers: Vec<Header>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Header {
    name: String,
    value: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TcpSocket {
    port: u16,
}

fn bad(entry: &str, reason: impl Into<String>) -> MeshError {
    MeshError::Config {
        annotation: PROBES_ENV.to_owned(),
        entry: entry.to_owned(),
        reason: reason.into(),
    }
}

/// Text that goes into a request line or header as is: printable ASCII, no line breaks.
fn request_safe(text: &str) -> bool {
    text.bytes().all(|b| (0x20..0x7f).contains(&b))
}

/// A request-line path starting with `prefix`: request-safe and without spaces.
fn request_path(text: &str, prefix: &str) -> bool {
    text.starts_with(prefix) && request_safe(text) && !text.contains(' ')
}

/// Parses `CHIARO_MESH_PROBES` (empty: no probes).
///
/// # Errors
/// [`MeshError::Config`] naming the entry: not the JSON above, a path outside
/// `/app-health/`, a port 0, or a path or header that would break the request.
pub fn parse_probes(text: &str) -> Result<AppProbes, MeshError> {
    if text.trim().is_empty() {
        return Ok(AppProbes::default());
    }
    let entries: BTreeMap<String, Entry> =
        serde_json::from_str(text).map_err(|error| bad(text, error.to_string()))?;
    let mut probes = BTreeMap::new();
    for (path, entry) in entries {
        if !request_path(&path, PREFIX) {
            return Err(bad(&path, format!("a status path starts with {PREFIX}")));
        }
        let timeout = Duration::from_secs(entry.timeout_seconds.unwrap_or(1).max(1));
        let probe = match (entry.http_get, entry.tcp_socket) {
            (Some(get), None) => {
                if !request_path(&get.path, "/") {
                    return Err(bad(
                        &path,
                        format!("httpGet path {:?} is not a request path", get.path),
                    ));
                }
                let headers = get
                    .http_headers
                    .into_iter()
                    .map(|header| {
                        let name_ok = !header.name.is_empty()
                            && header
                                .name
                                .bytes()
                                .all(|b| b.is_ascii_alphanumeric() || b == b'-');
                        if name_ok && request_safe(&header.value) {
                            Ok((header.name, header.value))
                        } else {
                            Err(bad(
                                &path,
                                format!("header {:?} is not a plain HTTP header", header.name),
                            ))
                        }
                    })
                    .collect::<Result<_, _>>()?;
                AppProbe::Http {
                    port: get.port,
                    path: get.path,
                    headers,
                    timeout,
                }
            }
            (None, Some(socket)) => AppProbe::Tcp {
                port: socket.port,
                timeout,
            },
            _ => return Err(bad(&path, "exactly one of httpGet and tcpSocket")),
        };
        let port = match &probe {
            AppProbe::Http { port, .. } | AppProbe::Tcp { port, .. } => *port,
        };
        if port == 0 {
            return Err(bad(&path, "port 0"));
        }
        probes.insert(path, probe);
    }
    Ok(AppProbes(probes))
}

impl AppProbes {
    /// The probe served at `path`.
    pub fn get(&self, path: &str) -> Option<&AppProbe> {
        self.0.get(path)
    }

    /// How many there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl AppProbe {
    /// Runs the probe against the workload at `host` (the pod address the kubelet asked at):
    /// `Ok` with what passed, or `Err` with why it failed.
    pub async fn run(&self, host: IpAddr) -> Result<String, String> {
        match self {
            Self::Tcp { port, timeout } => {
                let address = SocketAddr::new(host, *port);
                match tokio::time::timeout(*timeout, TcpStream::connect(address)).await {
                    Ok(Ok(_)) => Ok(format!("port {port} accepts connections")),
                    Ok(Err(error)) => Err(format!("port {port}: {error}")),
                    Err(_) => Err(format!("port {port}: no connection within {timeout:?}")),
                }
            }
            Self::Http {
                port,
                path,
                headers,
                timeout,
            } => match tokio::time::timeout(
                *timeout,
                http_get(SocketAddr::new(host, *port), path, headers),
            )
            .await
            {
                Ok(Ok(status)) if (200..400).contains(&status) => {
                    Ok(format!("GET {path} on port {port}: {status}"))
                }
                Ok(Ok(status)) => Err(format!("GET {path} on port {port}: {status}")),
                Ok(Err(error)) => Err(format!("GET {path} on port {port}: {error}")),
                Err(_) => Err(format!(
                    "GET {path} on port {port}: no answer within {timeout:?}"
                )),
            },
        }
    }
}

/// The status code of `GET path` on the workload at `address`.
async fn http_get(
    address: SocketAddr,
    path: &str,
    headers: &[(String, String)],
) -> std::io::Result<u16> {
    let mut stream = TcpStream::connect(address).await?;
    let has = |name: &str| headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name));
    let mut request = format!("GET {path} HTTP/1.1\r\n");
    if !has("host") {
        request.push_str(&format!("Host: {address}\r\n"));
    }
    if !has("user-agent") {
        request.push_str("User-Agent: kube-probe/1.33\r\n");
    }
    if !has("accept") {
        request.push_str("Accept: */*\r\n");
    }
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("Connection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    // The status line is all that is needed: "HTTP/1.1 200 OK".
    let mut head = Vec::with_capacity(64);
    let mut chunk = [0u8; 256];
    while !head.contains(&b'\n') && head.len() < 4096 {
        let read = stream.read(&mut chunk).await?;
        if read == 0 {
            break;
        }
        head.extend_from_slice(&chunk[..read]);
    }
    let line = String::from_utf8_lossy(&head);
    let mut words = line.split_whitespace();
    match (
        words.next(),
        words.next().and_then(|code| code.parse().ok()),
    ) {
        (Some(version), Some(code)) if version.starts_with("HTTP/1.") => Ok(code),
        _ => Err(std::io::Error::other("the answer is not HTTP/1.x")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;
    use tokio::net::TcpListener;

    /// Where the test workloads listen.
    const LOCAL: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

    #[test]
    fn the_table_generate_writes_is_read_and_bad_entries_are_named() {
        let probes = parse_probes(
            r#"{"/app-health/web/readyz": {"httpGet": {"port": 8080, "path": "/healthz",
                "httpHeaders": [{"name": "X-Probe", "value": "k"}]}, "timeoutSeconds": 1},
               "/app-health/web/startupz": {"tcpSocket": {"port": 8080}, "timeoutSeconds": 2}}"#,
        )
        .unwrap();
        assert_eq!(probes.len(), 2);
        assert_eq!(
            probes.get("/app-health/web/startupz"),
            Some(&AppProbe::Tcp {
                port: 8080,
                timeout: Duration::from_secs(2)
            })
        );
        assert!(parse_probes("").unwrap().is_empty());
        for (text, named) in [
            (r#"{"/ready": {"tcpSocket": {"port": 1}}}"#, "/ready"),
            (
                r#"{"/app-health/a/livez": {"tcpSocket": {"port": 0}}}"#,
                "port 0",
            ),
            (r#"{"/app-health/a/livez": {}}"#, "exactly one"),
            (
                r#"{"/app-health/a/livez": {"httpGet": {"port": 1, "path": "/x HTTP/1.0\r\nEvil: 1"}}}"#,
                "not a request path",
            ),
            (
                r#"{"/app-health/a/livez": {"httpGet": {"port": 1, "path": "/", "httpHeaders": [{"name": "X", "value": "a\r\nB: c"}]}}}"#,
                "not a plain HTTP header",
            ),
            (r#"{"/app-health/a/livez": {"exec": {}}}"#, "unknown field"),
            (r#"{"/app-health/a/livez": "#, "EOF"),
        ] {
            let error = parse_probes(text).unwrap_err().to_string();
            assert!(
                error.contains("CHIARO_MESH_PROBES") && error.contains(named),
                "{error}"
            );
        }
    }

    /// A workload that answers every request with `status` and records the request.
    async fn workload(status: u16) -> (u16, tokio::task::JoinHandle<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let task = tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut request = vec![0u8; 4096];
            let read = stream.read(&mut request).await.unwrap();
            stream
                .write_all(format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\n\r\n").as_bytes())
                .await
                .unwrap();
            String::from_utf8_lossy(&request[..read]).into_owned()
        });
        (port, task)
    }

    #[tokio::test]
    async fn http_probes_pass_on_2xx_and_3xx_and_fail_otherwise() {
        for (status, passes) in [(200, true), (302, true), (404, false), (503, false)] {
            let (port, request) = workload(status).await;
            let probe = AppProbe::Http {
                port,
                path: "/healthz".to_owned(),
                headers: vec![("X-Probe".to_owned(), "k".to_owned())],
                timeout: Duration::from_secs(5),
            };
            let outcome = probe.run(LOCAL).await;
            assert_eq!(outcome.is_ok(), passes, "{status}: {outcome:?}");
            let request = request.await.unwrap();
            assert!(
                request.starts_with("GET /healthz HTTP/1.1\r\n")
                    && request.contains("\r\nX-Probe: k\r\n")
                    && request.contains("User-Agent: kube-probe/"),
                "{request}"
            );
        }
    }

    #[tokio::test]
    async fn probes_of_a_workload_that_is_not_there_fail() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let tcp = AppProbe::Tcp {
            port,
            timeout: Duration::from_secs(5),
        };
        assert!(tcp.run(LOCAL).await.is_ok(), "listening");
        drop(listener);
        assert!(tcp.run(LOCAL).await.is_err(), "closed");
        let http = AppProbe::Http {
            port,
            path: "/".to_owned(),
            headers: Vec::new(),
            timeout: Duration::from_secs(5),
        };
        assert!(http.run(LOCAL).await.is_err());
    }

    #[tokio::test]
    async fn a_probe_reaches_the_address_it_is_given_not_loopback() {
        // The workload listens on 127.0.0.1 only; the kubelet asked at another address.
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let tcp = AppProbe::Tcp {
            port,
            timeout: Duration::from_secs(5),
        };
        assert!(tcp.run(LOCAL).await.is_ok());
        let elsewhere = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
        assert!(tcp.run(elsewhere).await.is_err(), "not listening there");
        let (port, request) = workload(200).await;
        let http = AppProbe::Http {
            port,
            path: "/".to_owned(),
            headers: Vec::new(),
            timeout: Duration::from_secs(5),
        };
        assert!(http.run(LOCAL).await.is_ok());
        let request = request.await.unwrap();
        assert!(
            request.contains(&format!("\r\nHost: 127.0.0.1:{port}\r\n")),
            "{request}"
        );
    }

    #[tokio::test]
    async fn an_answer_that_is_not_http_fails_the_probe() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let _ = stream.write_all(b"SSH-2.0-OpenSSH\r\n").await;
        });
        let http = AppProbe::Http {
            port,
            path: "/".to_owned(),
            headers: Vec::new(),
            timeout: Duration::from_secs(5),
        };
        let error = http.run(LOCAL).await.unwrap_err();
        assert!(error.contains("not HTTP"), "{error}");
    }
}
