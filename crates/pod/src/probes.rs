//! The workload probes of a meshed pod that generate moves to the mesh proxy's status port
//! (the kubelet cannot pass the mesh's mutual TLS): the table travels in the proxy's
//! environment ([`crate::env::MESH_PROBES`]) as a JSON object from status-port path
//! (`/app-health/CONTAINER/KIND`) to the original probe, its port resolved to a number:
//!
//! ```json
//! {"/app-health/web/readyz": {"httpGet": {"port": 8080, "path": "/healthz",
//!   "httpHeaders": [{"name": "X-Probe", "value": "k"}]}, "timeoutSeconds": 1},
//!  "/app-health/web/startupz": {"tcpSocket": {"port": 8080}, "timeoutSeconds": 2}}
//! ```
//!
//! Generate builds each entry with [`AppProbe::http`] or [`AppProbe::tcp`] and the proxy
//! parses the table with [`ProbeTable::parse`]: both check the same rules, so generate refuses
//! a probe the proxy would refuse at start. Only the paths in the table exist on the status
//! port, and a request cannot choose the port, path or headers.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{PodError, ProbeFault};

/// The status-port path prefix of moved probes.
pub const APP_HEALTH_PREFIX: &str = "/app-health/";

/// One probe of the workload, checked: its path and headers go into a request as they are.
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

impl AppProbe {
    /// An HTTP probe; `timeout_seconds` as the kubelet reads it (at least one second).
    ///
    /// # Errors
    /// [`ProbeFault`]: port 0, or a path or header that would break the request.
    pub fn http(
        port: u16,
        path: String,
        headers: Vec<(String, String)>,
        timeout_seconds: u64,
    ) -> Result<Self, ProbeFault> {
        nonzero(port)?;
        if !request_path(&path, "/") {
            return Err(ProbeFault::RequestPath { path });
        }
        if let Some((name, _)) = headers
            .iter()
            .find(|(name, value)| !plain_header(name, value))
        {
            return Err(ProbeFault::Header { name: name.clone() });
        }
        Ok(Self::Http {
            port,
            path,
            headers,
            timeout: seconds(timeout_seconds),
        })
    }

    /// A TCP probe; `timeout_seconds` as the kubelet reads it (at least one second).
    ///
    /// # Errors
    /// [`ProbeFault::PortZero`].
    pub fn tcp(port: u16, timeout_seconds: u64) -> Result<Self, ProbeFault> {
        nonzero(port)?;
        Ok(Self::Tcp {
            port,
            timeout: seconds(timeout_seconds),
        })
    }

    /// The probe's action as pod-spec JSON: its key (`httpGet` or `tcpSocket`) and value.
    pub fn action(&self) -> (&'static str, Value) {
        let entry = Entry::from(self);
        match (entry.http_get, entry.tcp_socket) {
            (Some(get), _) => ("httpGet", serde_json::to_value(get).unwrap_or(Value::Null)),
            (None, socket) => (
                "tcpSocket",
                serde_json::to_value(socket).unwrap_or(Value::Null),
            ),
        }
    }
}

/// The moved probes by status-port path.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProbeTable(BTreeMap<String, AppProbe>);

impl ProbeTable {
    /// Parses the table (empty text: no probes).
    ///
    /// # Errors
    /// [`PodError::ProbeJson`] for text that is not the JSON above; [`PodError::Probe`] naming
    /// the entry whose path is outside [`APP_HEALTH_PREFIX`] or whose probe the proxy would
    /// not run.
    pub fn parse(text: &str) -> Result<Self, PodError> {
        if text.trim().is_empty() {
            return Ok(Self::default());
        }
        let entries: BTreeMap<String, Entry> =
            serde_json::from_str(text).map_err(|source| PodError::ProbeJson { source })?;
        let mut table = Self::default();
        for (path, entry) in entries {
            let probe = entry.probe();
            let probe = probe.and_then(|probe| table.insert(path.clone(), probe));
            probe.map_err(|fault| PodError::Probe { entry: path, fault })?;
        }
        Ok(table)
    }

    /// Adds `probe` at the status path `path`.
    ///
    /// # Errors
    /// [`ProbeFault::StatusPath`] for a path outside [`APP_HEALTH_PREFIX`] or one that would
    /// break the request line.
    pub fn insert(&mut self, path: String, probe: AppProbe) -> Result<(), ProbeFault> {
        if !request_path(&path, APP_HEALTH_PREFIX) {
            return Err(ProbeFault::StatusPath);
        }
        self.0.insert(path, probe);
        Ok(())
    }

    /// The table as the proxy's environment holds it.
    pub fn to_json(&self) -> String {
        let entries: BTreeMap<&str, Entry> = self
            .0
            .iter()
            .map(|(path, probe)| (path.as_str(), Entry::from(probe)))
            .collect();
        // A map with string keys of plain structs always serialises.
        serde_json::to_string(&entries).unwrap_or_default()
    }

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

/// One entry as JSON.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Entry {
    #[serde(skip_serializing_if = "Option::is_none")]
    http_get: Option<HttpGet>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tcp_socket: Option<TcpSocket>,
    timeout_seconds: Option<u64>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct HttpGet {
    port: u16,
    path: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    http_headers: Vec<Header>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Header {
    name: String,
    value: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TcpSocket {
    port: u16,
}

impl Entry {
    fn probe(self) -> Result<AppProbe, ProbeFault> {
        let timeout = self.timeout_seconds.unwrap_or(1);
        match (self.http_get, self.tcp_socket) {
            (Some(get), None) => {
                let headers = get
                    .http_headers
                    .into_iter()
                    .map(|header| (header.name, header.value))
                    .collect();
                AppProbe::http(get.port, get.path, headers, timeout)
            }
            (None, Some(socket)) => AppProbe::tcp(socket.port, timeout),
            _ => Err(ProbeFault::Action),
        }
    }
}

impl From<&AppProbe> for Entry {
    fn from(probe: &AppProbe) -> Self {
        match probe {
            AppProbe::Http {
                port,
                path,
                headers,
                timeout,
            } => Self {
                http_get: Some(HttpGet {
                    port: *port,
                    path: path.clone(),
                    http_headers: headers
                        .iter()
                        .map(|(name, value)| Header {
                            name: name.clone(),
                            value: value.clone(),
                        })
                        .collect(),
                }),
                tcp_socket: None,
                timeout_seconds: Some(timeout.as_secs()),
            },
            AppProbe::Tcp { port, timeout } => Self {
                http_get: None,
                tcp_socket: Some(TcpSocket { port: *port }),
                timeout_seconds: Some(timeout.as_secs()),
            },
        }
    }
}

fn nonzero(port: u16) -> Result<(), ProbeFault> {
    if port == 0 {
        Err(ProbeFault::PortZero)
    } else {
        Ok(())
    }
}

fn seconds(timeout_seconds: u64) -> Duration {
    Duration::from_secs(timeout_seconds.max(1))
}

/// Text that goes into a request line or header as is: printable ASCII, no line breaks.
fn request_safe(text: &str) -> bool {
    text.bytes().all(|b| (0x20..0x7f).contains(&b))
}

/// A request-line path starting with `prefix`: request-safe and without spaces.
fn request_path(text: &str, prefix: &str) -> bool {
    text.starts_with(prefix) && request_safe(text) && !text.contains(' ')
}

/// A header the proxy sends as is: a token name, a request-safe value.
fn plain_header(name: &str, value: &str) -> bool {
    !name.is_empty()
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && request_safe(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_generate_writes_is_read_and_bad_entries_are_named() {
        let probes = ProbeTable::parse(
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
        assert!(ProbeTable::parse("").unwrap().is_empty());
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
            let error = crate::with_causes(&ProbeTable::parse(text).unwrap_err());
            assert!(
                error.contains("CHIARO_MESH_PROBES") && error.contains(named),
                "{error}"
            );
        }
    }

    #[test]
    fn a_written_table_reads_back() {
        let mut table = ProbeTable::default();
        let http = AppProbe::http(
            8080,
            "/healthz".to_owned(),
            vec![("X-Probe".to_owned(), "k".to_owned())],
            0,
        )
        .unwrap();
        table
            .insert("/app-health/web/readyz".to_owned(), http)
            .unwrap();
        table
            .insert(
                "/app-health/web/livez".to_owned(),
                AppProbe::tcp(8080, 3).unwrap(),
            )
            .unwrap();
        let json = table.to_json();
        assert_eq!(
            serde_json::from_str::<Value>(&json).unwrap(),
            serde_json::json!({
                "/app-health/web/livez": {"tcpSocket": {"port": 8080}, "timeoutSeconds": 3},
                "/app-health/web/readyz": {"httpGet": {"port": 8080, "path": "/healthz",
                    "httpHeaders": [{"name": "X-Probe", "value": "k"}]}, "timeoutSeconds": 1},
            })
        );
        assert_eq!(ProbeTable::parse(&json).unwrap(), table);
        assert_eq!(
            table.insert("/ready".to_owned(), AppProbe::tcp(1, 1).unwrap()),
            Err(ProbeFault::StatusPath)
        );
    }
}
