//! Stage 7: traffic between the pods goes through their mesh proxies: every egress entry
//! crosses two proxies, plaintext to a TLS ingress is refused, the kubelet's moved probes
//! answer on the proxy's status port; the stand-ins nobody meshes are told, not judged.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use chiaro_k8s::MESH_NAME;
use chiaro_pod::env::MESH_INGRESS as MESH_INGRESS_ENV;
use chiaro_pod::env::MESH_PROBES as PROBES_ENV;
use chiaro_pod::layout::MESH_STATUS_PORT;
use chiaro_pod::parse_ingress;
use serde_json::Value;

use super::http;
use super::pod_network::PodNetwork;
use super::pods::LocalPod;
use super::processes::Place;
use super::start_pods::Started;
use super::story::Story;
use crate::reports::{HttpAnswer, TrafficCheck, TrafficKind};

/// Every check, in the order told.
pub(super) fn check(
    pods: &[LocalPod],
    started: &Started,
    network: Option<&PodNetwork>,
    story: &mut Story,
) -> anyhow::Result<Vec<TrafficCheck>> {
    story.step("7. Traffic between pods goes through their mesh proxies");
    let mut checks = egress(pods, started, network);
    checks.extend(plaintext(pods, started, network));
    if let Some(network) = network {
        checks.extend(probes(pods, network)?);
    }
    checks.extend(direct(started));
    for check in &checks {
        story.line(&describe(check));
    }
    Ok(checks)
}

/// `GET /` through every egress entry, from inside its pod: must cross both proxies.
fn egress(pods: &[LocalPod], started: &Started, network: Option<&PodNetwork>) -> Vec<TrafficCheck> {
    let mut checks = Vec::new();
    for (index, pod) in pods.iter().enumerate() {
        let place = Place::of(network, index);
        for (rule, through) in &started.addresses.pods[index].egress {
            let answer = http::get_from(place, rule.local).ok();
            checks.push(TrafficCheck {
                pod: pod.name.clone(),
                passed: answer.as_ref().is_some_and(HttpAnswer::is_ok),
                answer,
                kind: TrafficKind::Egress {
                    name: rule.name.clone(),
                    local: rule.local.to_string(),
                    remote: rule.remote.clone(),
                    through: *through,
                },
            });
        }
    }
    checks
}

/// Plaintext `GET /` to each pod's first TLS ingress: must be refused.
fn plaintext(
    pods: &[LocalPod],
    started: &Started,
    network: Option<&PodNetwork>,
) -> Vec<TrafficCheck> {
    let mut checks = Vec::new();
    for (index, pod) in pods.iter().enumerate() {
        let Some((port, ingress)) = started.addresses.pods[index].ingress.iter().next() else {
            continue;
        };
        let entry = pod
            .env(MESH_NAME, MESH_INGRESS_ENV)
            .and_then(|text| parse_ingress(&text).ok())
            .and_then(|rules| rules.into_iter().find(|r| r.port == *port));
        if entry.is_some_and(|rule| !rule.tls) {
            continue;
        }
        let answer = http::get(*ingress).ok();
        checks.push(TrafficCheck {
            pod: pod.name.clone(),
            passed: !answer.as_ref().is_some_and(HttpAnswer::is_ok),
            answer,
            kind: TrafficKind::Plaintext {
                address: *ingress,
                port: *port,
                redirected: network.is_some(),
            },
        });
    }
    checks
}

/// Each kubelet probe the proxy took over, on its status port: must answer 200.
fn probes(pods: &[LocalPod], network: &PodNetwork) -> anyhow::Result<Vec<TrafficCheck>> {
    let mut checks = Vec::new();
    for (index, pod) in pods.iter().enumerate() {
        let Some(table) = pod.env(MESH_NAME, PROBES_ENV) else {
            continue;
        };
        let table: BTreeMap<String, Value> = serde_json::from_str(&table)?;
        let status = SocketAddr::from((network.pod_address(index), MESH_STATUS_PORT));
        for path in table.keys() {
            let answer = http::get_path(status, path).ok();
            checks.push(TrafficCheck {
                pod: pod.name.clone(),
                passed: answer.as_ref().is_some_and(HttpAnswer::is_ok),
                answer,
                kind: TrafficKind::Probe {
                    path: path.clone(),
                    status,
                },
            });
        }
    }
    Ok(checks)
}

/// `GET /` to each stand-in nobody meshes (told; nothing to refuse).
fn direct(started: &Started) -> Vec<TrafficCheck> {
    started
        .servers
        .iter()
        .filter(|server| !server.meshed)
        .map(|server| TrafficCheck {
            pod: server.workload.clone(),
            answer: http::get(server.address).ok(),
            passed: true,
            kind: TrafficKind::Direct {
                container: server.container.clone(),
                address: server.address,
            },
        })
        .collect()
}

/// The story's line for a check.
fn describe(check: &TrafficCheck) -> String {
    let answer = check
        .answer
        .as_ref()
        .map_or_else(|| "no answer".to_owned(), HttpAnswer::to_string);
    match &check.kind {
        TrafficKind::Egress {
            name,
            local,
            remote,
            through,
        } => {
            let result = if check.passed {
                format!(
                    "crossed two proxies (mutual TLS to {through}): {}",
                    check
                        .answer
                        .as_ref()
                        .map(|a| a.body.lines().last().unwrap_or_default())
                        .unwrap_or_default()
                )
            } else {
                format!("no answer ({answer})")
            };
            format!(
                "{}: GET via egress {name} ({local}) -> {remote}: {result}",
                check.pod
            )
        }
        TrafficKind::Plaintext {
            address,
            port,
            redirected,
        } => {
            let what = if *redirected {
                "its port, redirected to its proxy"
            } else {
                "its proxy's ingress"
            };
            let result = if check.passed {
                "refused (no mesh certificate)"
            } else {
                "ANSWERED"
            };
            format!(
                "plaintext straight to {} ({address}, {what}, port {port}): {result}",
                check.pod
            )
        }
        TrafficKind::Probe { path, status } => format!(
            "{}: the kubelet's probe {path} (moved to the proxy's status port {status}): {answer}",
            check.pod
        ),
        TrafficKind::Direct { container, address } => format!("{container} {address}: {answer}"),
    }
}
