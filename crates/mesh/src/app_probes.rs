//! The workload's own health probes, run by the proxy for the kubelet. `chiaro generate` moves
//! a meshed pod's `httpGet` and `tcpSocket` probes to the status port (the kubelet cannot pass
//! the mesh's mutual TLS) and hands the originals to the proxy in its environment: the table
//! and its syntax are [`chiaro_pod::probes`], parsed by the same code that checked it at
//! generate.
//!
//! The proxy runs them as the kubelet would: against the pod address the kubelet's request
//! was sent to (the kubelet probes the pod's address, not loopback), an HTTP/1.1 `GET` that
//! passes with a status from 200 to 399, or a TCP connection that opens. So a probe passes only
//! if the workload listens where mesh connections are forwarded (`crate::ingress`), and a
//! service the workload bound to loopback only is probed no more than it is reached. Only the
//! paths in the table exist; a request cannot choose the port, path or headers, so the status
//! port does not become a way into the workload.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use chiaro_pod::AppProbe;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// A probe that passed, and what it saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Passed {
    /// The workload's port accepted a TCP connection.
    Connected {
        /// The workload's port.
        port: u16,
    },
    /// The workload answered `GET` with a status from 200 to 399.
    Answered {
        /// The request path.
        path: String,
        /// The workload's port.
        port: u16,
        /// The HTTP status.
        status: u16,
    },
}

impl std::fmt::Display for Passed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Connected { port } => write!(f, "port {port} accepts connections"),
            Self::Answered { path, port, status } => {
                write!(f, "GET {path} on port {port}: {status}")
            }
        }
    }
}

/// A probe that failed, and why.
#[derive(Debug, thiserror::Error)]
pub enum ProbeFailure {
    /// The workload's port did not accept the connection.
    #[error("port {port}")]
    Connect {
        /// The workload's port.
        port: u16,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The workload answered `GET` with a status outside 200 to 399.
    #[error("GET {path} on port {port}: {status}")]
    Status {
        /// The request path.
        path: String,
        /// The workload's port.
        port: u16,
        /// The HTTP status.
        status: u16,
    },
    /// The `GET` failed on the way (connecting, writing, reading, or an answer not HTTP/1.x).
    #[error("GET {path} on port {port}")]
    Request {
        /// The request path.
        path: String,
        /// The workload's port.
        port: u16,
        /// Why.
        #[source]
        source: RequestError,
    },
    /// No connection, or no answer, within the probe's timeout.
    #[error("{probe}: no answer within {timeout:?}")]
    Timeout {
        /// The probe (`port 80`, `GET /healthz on port 80`).
        probe: String,
        /// The probe's timeout.
        timeout: Duration,
    },
}

/// Why a probe's `GET` failed on the way.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// Connecting, writing or reading failed.
    #[error("talking to the workload")]
    Io(#[from] std::io::Error),
    /// The answer does not start with an HTTP/1.x status line.
    #[error("the answer is not HTTP/1.x")]
    NotHttp,
}

/// Runs `probe` against the workload at `host` (the pod address the kubelet asked at).
///
/// # Errors
/// [`ProbeFailure`]: what the kubelet's own probe would have failed on.
pub async fn run(probe: &AppProbe, host: IpAddr) -> Result<Passed, ProbeFailure> {
    match probe {
        AppProbe::Tcp { port, timeout } => {
            let port = *port;
            let connect = TcpStream::connect(SocketAddr::new(host, port));
            match tokio::time::timeout(*timeout, connect).await {
                Ok(Ok(_)) => Ok(Passed::Connected { port }),
                Ok(Err(source)) => Err(ProbeFailure::Connect { port, source }),
                Err(_) => Err(ProbeFailure::Timeout {
                    probe: format!("port {port}"),
                    timeout: *timeout,
                }),
            }
        }
        AppProbe::Http {
            port,
            path,
            headers,
            timeout,
        } => {
            let (port, path) = (*port, path.clone());
            let get = http_get(SocketAddr::new(host, port), &path, headers);
            match tokio::time::timeout(*timeout, get).await {
                Ok(Ok(status)) if (200..400).contains(&status) => {
                    Ok(Passed::Answered { path, port, status })
                }
                Ok(Ok(status)) => Err(ProbeFailure::Status { path, port, status }),
                Ok(Err(source)) => Err(ProbeFailure::Request { path, port, source }),
                Err(_) => Err(ProbeFailure::Timeout {
                    probe: format!("GET {path} on port {port}"),
                    timeout: *timeout,
                }),
            }
        }
    }
}

/// The status code of `GET path` on the workload at `address`.
async fn http_get(
    address: SocketAddr,
    path: &str,
    headers: &[(String, String)],
) -> Result<u16, RequestError> {
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
        head.extend_from_slice(chunk.get(..read).unwrap_or_default());
    }
    let line = String::from_utf8_lossy(&head);
    let mut words = line.split_whitespace();
    match (
        words.next(),
        words.next().and_then(|code| code.parse().ok()),
    ) {
        (Some(version), Some(code)) if version.starts_with("HTTP/1.") => Ok(code),
        _ => Err(RequestError::NotHttp),
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use tokio::net::TcpListener;

    use super::*;

    /// Where the test workloads listen.
    const LOCAL: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

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
            let outcome = run(&probe, LOCAL).await;
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
        assert!(run(&tcp, LOCAL).await.is_ok(), "listening");
        drop(listener);
        assert!(run(&tcp, LOCAL).await.is_err(), "closed");
        let http = AppProbe::Http {
            port,
            path: "/".to_owned(),
            headers: Vec::new(),
            timeout: Duration::from_secs(5),
        };
        assert!(run(&http, LOCAL).await.is_err());
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
        assert!(run(&tcp, LOCAL).await.is_ok());
        let elsewhere = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
        assert!(run(&tcp, elsewhere).await.is_err(), "not listening there");
        let (port, request) = workload(200).await;
        let http = AppProbe::Http {
            port,
            path: "/".to_owned(),
            headers: Vec::new(),
            timeout: Duration::from_secs(5),
        };
        assert!(run(&http, LOCAL).await.is_ok());
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
        let error = run(&http, LOCAL).await.unwrap_err();
        assert!(
            matches!(
                error,
                ProbeFailure::Request {
                    source: RequestError::NotHttp,
                    ..
                }
            ),
            "{error:?}"
        );
    }
}
