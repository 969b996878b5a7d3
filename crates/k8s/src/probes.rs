//! The kubelet's network probes of a meshed pod. In transparent mode every inbound connection is
//! redirected into the mesh proxy, which demands a mesh certificate the kubelet does not have,
//! so an `httpGet` or `tcpSocket` probe of the workload would always fail. As Istio does, the
//! probe is moved to the proxy's status port (never redirected): the kubelet asks
//! `GET :15021/app-health/CONTAINER/KIND`, and the proxy runs the original probe against the
//! workload on loopback. The originals travel in the proxy's environment
//! ([`chiaro_pod::ProbeTable`], checked here by the rules the proxy parses it with), which the
//! pod's policy pins like every other environment variable.
//!
//! Not moved (and reported): gRPC probes, HTTPS probes and probes with a `host` (the proxy
//! speaks plain HTTP/1.1 to loopback only).

use chiaro_pod::env::MESH_PROBES;
use chiaro_pod::layout::MESH_STATUS_PORT;
use chiaro_pod::probes::APP_HEALTH_PREFIX;
use chiaro_pod::{AppProbe, ProbeFault, ProbeTable};
use serde_json::{Map, Value, json};

use crate::injection::{INITIALIZER_NAME, MESH_NAME};
use crate::{DocumentId, K8sError};

const KINDS: [(&str, &str); 3] = [
    ("livenessProbe", "livez"),
    ("readinessProbe", "readyz"),
    ("startupProbe", "startupz"),
];

/// The table the previous generation left in the mesh container's environment, if any.
pub(crate) fn previous_table(
    init_containers: &[Value],
    at: &DocumentId,
) -> Result<ProbeTable, K8sError> {
    let value = init_containers
        .iter()
        .filter(|c| c.get("name").and_then(Value::as_str) == Some(MESH_NAME))
        .filter_map(|c| c.get("env").and_then(Value::as_array))
        .flatten()
        .find(|e| e.get("name").and_then(Value::as_str) == Some(MESH_PROBES))
        .and_then(|e| e.get("value").and_then(Value::as_str));
    let Some(value) = value else {
        return Ok(ProbeTable::default());
    };
    ProbeTable::parse(value).map_err(|error| K8sError::Invalid {
        at: at.clone(),
        path: format!("spec.initContainers[{MESH_NAME}].env[{MESH_PROBES}]"),
        detail: format!(
            "not the probe table Chiaro writes: {}",
            chiaro_pod::with_causes(&error)
        ),
    })
}

fn is_moved(probe: &Value) -> Option<&str> {
    let get = probe.get("httpGet")?;
    let path = get.get("path").and_then(Value::as_str)?;
    (get.get("port").and_then(Value::as_u64) == Some(u64::from(MESH_STATUS_PORT))
        && path.starts_with(APP_HEALTH_PREFIX))
    .then_some(path)
}

fn app_containers(spec: &mut Map<String, Value>) -> impl Iterator<Item = (String, &mut Value)> {
    spec.iter_mut()
        .filter(|(list, _)| *list == "initContainers" || *list == "containers")
        .filter_map(|(_, list)| list.as_array_mut())
        .flatten()
        .filter_map(|container| {
            let name = container.get("name").and_then(Value::as_str)?.to_owned();
            (name != INITIALIZER_NAME && name != MESH_NAME).then_some((name, container))
        })
}

/// Resolves a probe's port (a number, or the name of one of the container's ports).
fn port_number(container: &Value, port: &Value) -> Option<u16> {
    let number = match port {
        Value::Number(number) => number.as_u64(),
        Value::String(name) => container
            .get("ports")
            .and_then(Value::as_array)?
            .iter()
            .find(|p| p.get("name").and_then(Value::as_str) == Some(name))
            .and_then(|p| p.get("containerPort"))
            .and_then(Value::as_u64),
        _ => None,
    };
    number
        .and_then(|number| u16::try_from(number).ok())
        .filter(|port| *port != 0)
}

/// Why a probe is not moved.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
enum NotMoved {
    /// The probe names a host: the proxy probes the address the kubelet asked at only.
    #[error("{} probe with a host is not moved to the mesh proxy", article(action))]
    WithHost {
        /// `httpGet` or `tcpSocket`.
        action: &'static str,
    },
    /// An HTTPS probe: the proxy speaks plain HTTP/1.1 to the workload.
    #[error("an HTTPS probe is not moved to the mesh proxy")]
    Https,
    /// A gRPC probe.
    #[error("a gRPC probe is not moved to the mesh proxy")]
    Grpc,
    /// The probe's port is neither a port number nor one of the container's port names.
    #[error("{BAD_PORT}")]
    BadPort {
        /// `httpGet` or `tcpSocket`.
        action: &'static str,
    },
    /// A probe the proxy would refuse to run (its path or a header would break the request).
    #[error("{action}: {fault}")]
    Refused {
        /// `httpGet` or `tcpSocket`.
        action: &'static str,
        /// What the proxy would refuse.
        fault: ProbeFault,
    },
}

impl NotMoved {
    /// The proxy cannot run it, but the probe itself is fine: it stays, and the user is told.
    fn stays(&self) -> bool {
        matches!(self, Self::WithHost { .. } | Self::Https | Self::Grpc)
    }
}

fn article(action: &str) -> &'static str {
    if action == "httpGet" {
        "an httpGet"
    } else {
        "a tcpSocket"
    }
}

const BAD_PORT: &str = "its port is neither a port number nor the name of a container port";

/// Whether a probe action names a host other than the pod's own address.
fn has_host(action: &Value) -> bool {
    action.get("host").is_some_and(|h| h.as_str() != Some(""))
}

/// The original probe as the proxy runs it (`None`: not a network probe).
fn original(container: &Value, probe: &Value) -> Result<Option<AppProbe>, NotMoved> {
    let timeout = probe
        .get("timeoutSeconds")
        .and_then(Value::as_u64)
        .unwrap_or(1);
    let port = |action: &'static str, get: &Value| {
        get.get("port")
            .and_then(|port| port_number(container, port))
            .ok_or(NotMoved::BadPort { action })
    };
    let refused = |action| move |fault| NotMoved::Refused { action, fault };
    if let Some(get) = probe.get("httpGet") {
        const ACTION: &str = "httpGet";
        if has_host(get) {
            return Err(NotMoved::WithHost { action: ACTION });
        }
        if get
            .get("scheme")
            .and_then(Value::as_str)
            .is_some_and(|s| !s.eq_ignore_ascii_case("HTTP"))
        {
            return Err(NotMoved::Https);
        }
        let port = port(ACTION, get)?;
        let path = get.get("path").and_then(Value::as_str).unwrap_or("/");
        let headers = get
            .get("httpHeaders")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|header| {
                let text = |key: &str| {
                    header
                        .get(key)
                        .and_then(Value::as_str)
                        .unwrap_or_default()
                        .to_owned()
                };
                (text("name"), text("value"))
            })
            .collect();
        return AppProbe::http(port, path.to_owned(), headers, timeout)
            .map(Some)
            .map_err(refused(ACTION));
    }
    if let Some(socket) = probe.get("tcpSocket") {
        const ACTION: &str = "tcpSocket";
        if has_host(socket) {
            return Err(NotMoved::WithHost { action: ACTION });
        }
        return AppProbe::tcp(port(ACTION, socket)?, timeout)
            .map(Some)
            .map_err(refused(ACTION));
    }
    if probe.get("grpc").is_some() {
        return Err(NotMoved::Grpc);
    }
    Ok(None)
}

/// Moves the network probes of the pod's containers to the mesh proxy's status port and
/// returns the table for the proxy (empty: nothing moved). Probes moved by an earlier run
/// keep their entry from `previous`. The second value lists, one line each, the probes left
/// alone that will fail against the mesh proxy.
pub(crate) fn move_probes(
    spec: &mut Map<String, Value>,
    previous: &ProbeTable,
    at: &DocumentId,
) -> Result<(ProbeTable, Vec<String>), K8sError> {
    let mut table = ProbeTable::default();
    let mut notes = Vec::new();
    for (name, container) in app_containers(spec) {
        for (kind, short) in KINDS {
            let Some(probe) = container.get(kind).cloned() else {
                continue;
            };
            let probe = &probe;
            let path = format!("{APP_HEALTH_PREFIX}{name}/{short}");
            if let Some(moved_path) = is_moved(probe) {
                let entry = previous
                    .get(moved_path)
                    .filter(|_| moved_path == path)
                    .ok_or_else(|| K8sError::Invalid {
                        at: at.clone(),
                        path: format!("{name}.{kind}.httpGet"),
                        detail: format!(
                            "probes the mesh proxy at {moved_path}, but the proxy's {MESH_PROBES} does not hold the original probe; write the original probe back"
                        ),
                    })?;
                insert(&mut table, path, entry.clone(), at, &name, kind)?;
                continue;
            }
            match original(container, probe) {
                Ok(Some(entry)) => {
                    insert(&mut table, path.clone(), entry, at, &name, kind)?;
                    if let Some(object) = container[kind].as_object_mut() {
                        object.remove("tcpSocket");
                        object.insert(
                            "httpGet".to_owned(),
                            json!({"path": path, "port": MESH_STATUS_PORT}),
                        );
                    }
                }
                Ok(None) => {}
                Err(reason) if reason.stays() => notes.push(format!(
                    "container {name:?}: {kind}: {reason}; it reaches the proxy, which wants a mesh certificate: use an exec probe, or opt that port out (`NAME#PORT#false`)"
                )),
                Err(reason) => {
                    return Err(K8sError::Invalid {
                        at: at.clone(),
                        path: format!("{name}.{kind}"),
                        detail: reason.to_string(),
                    });
                }
            }
        }
    }
    Ok((table, notes))
}

/// Adds a moved probe at its status path (which holds the container's name).
fn insert(
    table: &mut ProbeTable,
    path: String,
    probe: AppProbe,
    at: &DocumentId,
    name: &str,
    kind: &str,
) -> Result<(), K8sError> {
    table
        .insert(path, probe)
        .map_err(|fault| K8sError::Invalid {
            at: at.clone(),
            path: format!("{name}.{kind}"),
            detail: format!("the container's name does not fit a status path: {fault}"),
        })
}

/// Puts back the probes an earlier run moved (the pod no longer has the mesh proxy).
pub(crate) fn restore_probes(spec: &mut Map<String, Value>, previous: &ProbeTable) {
    for (_, container) in app_containers(spec) {
        for (kind, _) in KINDS {
            let Some(entry) = container
                .get(kind)
                .and_then(is_moved)
                .and_then(|path| previous.get(path))
            else {
                continue;
            };
            let (action, value) = entry.action();
            if let Some(object) = container[kind].as_object_mut() {
                object.remove("httpGet");
                object.insert(action.to_owned(), value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at() -> DocumentId {
        DocumentId {
            file: "app.yaml".to_owned(),
            index: 0,
            line: 1,
            column: 1,
            item: None,
        }
    }

    fn spec(probe: Value) -> Map<String, Value> {
        let spec = json!({"containers": [{"name": "web", "image": "w",
            "ports": [{"name": "http", "containerPort": 8080}], "livenessProbe": probe}]});
        match spec {
            Value::Object(map) => map,
            _ => unreachable!(),
        }
    }

    #[test]
    fn probes_the_proxy_cannot_run_stay_and_are_reported() {
        for (probe, reason) in [
            (
                json!({"httpGet": {"port": 8443, "scheme": "HTTPS"}}),
                "HTTPS",
            ),
            (
                json!({"httpGet": {"port": 8080, "host": "10.0.0.1"}}),
                "with a host",
            ),
            (
                json!({"tcpSocket": {"port": 8080, "host": "db"}}),
                "with a host",
            ),
            (json!({"grpc": {"port": 9090}}), "gRPC"),
        ] {
            let mut spec = spec(probe.clone());
            let (table, notes) = move_probes(&mut spec, &ProbeTable::default(), &at()).unwrap();
            assert!(table.is_empty(), "{probe}");
            assert_eq!(spec["containers"][0]["livenessProbe"], probe, "unchanged");
            assert!(
                notes.len() == 1 && notes[0].contains("livenessProbe") && notes[0].contains(reason),
                "{notes:?}"
            );
        }
    }

    #[test]
    fn exec_probes_stay_without_a_note_and_an_unknown_port_name_is_an_error() {
        let exec = json!({"exec": {"command": ["/bin/true"]}});
        let mut quiet = spec(exec.clone());
        let (table, notes) = move_probes(&mut quiet, &ProbeTable::default(), &at()).unwrap();
        assert!(table.is_empty() && notes.is_empty());
        assert_eq!(quiet["containers"][0]["livenessProbe"], exec);

        for port in [json!("metrics"), json!(0), json!(70000)] {
            let mut bad = spec(json!({"httpGet": {"port": port, "path": "/"}}));
            let error = move_probes(&mut bad, &ProbeTable::default(), &at()).unwrap_err();
            assert_eq!(
                error.to_string(),
                format!("app.yaml:1:1:web.livenessProbe: {BAD_PORT}")
            );
        }
    }

    #[test]
    fn a_probe_the_proxy_would_refuse_is_an_error_at_generate() {
        let mut bad = spec(
            json!({"httpGet": {"port": 8080, "path": "/", "httpHeaders": [{"name": "X", "value": "a\r\nB: c"}]}}),
        );
        let error = move_probes(&mut bad, &ProbeTable::default(), &at()).unwrap_err();
        assert_eq!(
            error.to_string(),
            "app.yaml:1:1:web.livenessProbe: httpGet: header \"X\" is not a plain HTTP header"
        );
        let mut spaced = spec(json!({"httpGet": {"port": 8080, "path": "/a b"}}));
        assert!(move_probes(&mut spaced, &ProbeTable::default(), &at()).is_err());
    }

    #[test]
    fn a_moved_table_reads_back_as_the_proxy_parses_it() {
        let mut moved = spec(json!({"httpGet": {"port": "http", "path": "/healthz"}}));
        let (table, _) = move_probes(&mut moved, &ProbeTable::default(), &at()).unwrap();
        assert_eq!(ProbeTable::parse(&table.to_json()).unwrap(), table);
        assert_eq!(
            table.get("/app-health/web/livez"),
            Some(&AppProbe::http(8080, "/healthz".to_owned(), Vec::new(), 1).unwrap())
        );
    }
}
