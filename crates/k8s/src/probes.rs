//! The kubelet's network probes of a meshed pod. In transparent mode every inbound connection is
//! redirected into the mesh proxy, which demands a mesh certificate the kubelet does not have,
//! so an `httpGet` or `tcpSocket` probe of the workload would always fail. As Istio does, the
//! probe is moved to the proxy's status port (never redirected): the kubelet asks
//! `GET :15021/app-health/CONTAINER/KIND`, and the proxy runs the original probe against the
//! workload on loopback. The originals travel in the proxy's environment
//! ([`PROBES_ENV`], a JSON object from path to probe), which the pod's policy pins like every
//! other environment variable.
//!
//! Not moved (and reported): gRPC probes, HTTPS probes and probes with a `host` (the proxy
//! speaks plain HTTP/1.1 to loopback only).

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::injection::{INITIALIZER_NAME, MESH_NAME, MESH_STATUS_PORT};
use crate::{DocumentId, K8sError};

/// The mesh proxy's environment variable holding the moved probes.
pub const PROBES_ENV: &str = "CHIARO_MESH_PROBES";

/// The status-port path prefix of moved probes.
pub const APP_HEALTH_PREFIX: &str = "/app-health/";

const KINDS: [(&str, &str); 3] = [
    ("livenessProbe", "livez"),
    ("readinessProbe", "readyz"),
    ("startupProbe", "startupz"),
];

/// The moved probes: status-port path → the original probe action (ports as numbers) and its
/// timeout.
pub(crate) type ProbeTable = BTreeMap<String, Value>;

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
        .find(|e| e.get("name").and_then(Value::as_str) == Some(PROBES_ENV))
        .and_then(|e| e.get("value").and_then(Value::as_str));
    let Some(value) = value else {
        return Ok(ProbeTable::new());
    };
    serde_json::from_str(value).map_err(|error| K8sError::Invalid {
        at: at.clone(),
        path: format!("spec.initContainers[{MESH_NAME}].env[{PROBES_ENV}]"),
        detail: format!("not the probe table Chiaro writes: {error}"),
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
fn port_number(container: &Value, port: &Value) -> Option<u64> {
    match port {
        Value::Number(number) => number.as_u64().filter(|p| (1..=65535).contains(p)),
        Value::String(name) => container
            .get("ports")
            .and_then(Value::as_array)?
            .iter()
            .find(|p| p.get("name").and_then(Value::as_str) == Some(name))
            .and_then(|p| p.get("containerPort"))
            .and_then(Value::as_u64),
        _ => None,
    }
}

/// Why a probe is not moved.
enum NotMoved {
    /// The proxy cannot run it; it stays, and the user is told.
    Unsupported(String),
    /// The probe itself is wrong.
    Invalid(String),
}

const BAD_PORT: &str = "its port is neither a port number nor the name of a container port";

/// The original probe as the proxy runs it (`None`: not a network probe).
fn original(container: &Value, probe: &Value) -> Result<Option<Value>, NotMoved> {
    let unsupported = |reason: &str| Err(NotMoved::Unsupported(reason.to_owned()));
    let timeout = probe
        .get("timeoutSeconds")
        .and_then(Value::as_u64)
        .unwrap_or(1);
    if let Some(get) = probe.get("httpGet") {
        if get.get("host").is_some_and(|h| h.as_str() != Some("")) {
            return unsupported("an httpGet probe with a host is not moved to the mesh proxy");
        }
        if get
            .get("scheme")
            .and_then(Value::as_str)
            .is_some_and(|s| !s.eq_ignore_ascii_case("HTTP"))
        {
            return unsupported("an HTTPS probe is not moved to the mesh proxy");
        }
        let port = get
            .get("port")
            .and_then(|port| port_number(container, port))
            .ok_or_else(|| NotMoved::Invalid(BAD_PORT.to_owned()))?;
        let mut moved = json!({"httpGet": {"port": port, "path": get.get("path").and_then(Value::as_str).unwrap_or("/")}, "timeoutSeconds": timeout});
        if let Some(headers) = get.get("httpHeaders").filter(|h| h.is_array()) {
            moved["httpGet"]["httpHeaders"] = headers.clone();
        }
        return Ok(Some(moved));
    }
    if let Some(socket) = probe.get("tcpSocket") {
        if socket.get("host").is_some_and(|h| h.as_str() != Some("")) {
            return unsupported("a tcpSocket probe with a host is not moved to the mesh proxy");
        }
        let port = socket
            .get("port")
            .and_then(|port| port_number(container, port))
            .ok_or_else(|| NotMoved::Invalid(BAD_PORT.to_owned()))?;
        return Ok(Some(
            json!({"tcpSocket": {"port": port}, "timeoutSeconds": timeout}),
        ));
    }
    if probe.get("grpc").is_some() {
        return unsupported("a gRPC probe is not moved to the mesh proxy");
    }
    Ok(None)
}

/// Moves the network probes of the pod's containers to the mesh proxy's status port and
/// returns the table for [`PROBES_ENV`] (empty: nothing moved). Probes moved by an earlier run
/// keep their entry from `previous`. The second value lists, one line each, the probes left
/// alone that will fail against the mesh proxy.
pub(crate) fn move_probes(
    spec: &mut Map<String, Value>,
    previous: &ProbeTable,
    at: &DocumentId,
) -> Result<(ProbeTable, Vec<String>), K8sError> {
    let mut table = ProbeTable::new();
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
                            "probes the mesh proxy at {moved_path}, but the proxy's {PROBES_ENV} does not hold the original probe; write the original probe back"
                        ),
                    })?;
                table.insert(path, entry.clone());
                continue;
            }
            match original(container, probe) {
                Ok(Some(entry)) => {
                    table.insert(path.clone(), entry);
                    if let Some(object) = container[kind].as_object_mut() {
                        object.remove("tcpSocket");
                        object.insert(
                            "httpGet".to_owned(),
                            json!({"path": path, "port": MESH_STATUS_PORT}),
                        );
                    }
                }
                Ok(None) => {}
                Err(NotMoved::Unsupported(reason)) => notes.push(format!(
                    "container {name:?}: {kind}: {reason}; it reaches the proxy, which wants a mesh certificate: use an exec probe, or opt that port out (`NAME#PORT#false`)"
                )),
                Err(NotMoved::Invalid(reason)) => {
                    return Err(K8sError::Invalid {
                        at: at.clone(),
                        path: format!("{name}.{kind}"),
                        detail: reason,
                    });
                }
            }
        }
    }
    Ok((table, notes))
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
            if let Some(object) = container[kind].as_object_mut() {
                object.remove("httpGet");
                for action in ["httpGet", "tcpSocket"] {
                    if let Some(value) = entry.get(action) {
                        object.insert(action.to_owned(), value.clone());
                    }
                }
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
            let (table, notes) = move_probes(&mut spec, &ProbeTable::new(), &at()).unwrap();
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
        let (table, notes) = move_probes(&mut quiet, &ProbeTable::new(), &at()).unwrap();
        assert!(table.is_empty() && notes.is_empty());
        assert_eq!(quiet["containers"][0]["livenessProbe"], exec);

        for port in [json!("metrics"), json!(0), json!(70000)] {
            let mut bad = spec(json!({"httpGet": {"port": port, "path": "/"}}));
            let error = move_probes(&mut bad, &ProbeTable::new(), &at()).unwrap_err();
            assert_eq!(
                error.to_string(),
                format!("app.yaml:0:web.livenessProbe: {BAD_PORT}")
            );
        }
    }
}
