//! Where each pod's pieces listen in local mode, and cluster DNS's stand-in: `service:port` to
//! the address of the pod that serves it.

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};

use anyhow::anyhow;
use chiaro_k8s::{MESH_NAME, dns_names, read_documents};
use chiaro_pod::env::MESH_EGRESS as MESH_EGRESS_ENV;
use chiaro_pod::{EgressRule, parse_egress};
use chiaro_policy::SourceFile;

use super::pod_network::PodNetwork;
use super::pods::LocalPod;
use super::processes::free_port;

/// Where each pod's pieces listen in local mode: the stand-ins, the mesh ingress listeners, and
/// the egress entries with their remotes resolved (Kubernetes Service names mean nothing on
/// this machine, so local mode maps `service:port` to the serving pod's ingress listener).
pub(super) struct AddressPlan {
    pub(super) pods: Vec<PodAddresses>,
}

#[derive(Default)]
pub(super) struct PodAddresses {
    pub(super) stand_ins: BTreeMap<u16, SocketAddr>,
    /// The stand-ins' listeners, bound when planned (so no other process takes the port) and
    /// handed to the stand-in when its container starts.
    pub(super) held: std::sync::Mutex<BTreeMap<u16, TcpListener>>,
    pub(super) ingress: BTreeMap<u16, SocketAddr>,
    /// The egress entries with where each remote resolved to.
    pub(super) egress: Vec<(EgressRule, SocketAddr)>,
}

impl AddressPlan {
    /// With `namespaces`, every pod listens on its declared ports at its own address (the
    /// mesh proxy intercepting them); without, each listener gets a loopback port of its own.
    pub(super) fn plan(
        pods: &[LocalPod],
        files: &[SourceFile],
        namespaces: Option<&PodNetwork>,
    ) -> anyhow::Result<Self> {
        let mut addresses = Vec::new();
        for (index, pod) in pods.iter().enumerate() {
            let meshed = pod.container(MESH_NAME).is_some();
            let mut pod_addresses = PodAddresses::default();
            for port in pod.ports() {
                if let Some(network) = namespaces {
                    let address = SocketAddr::from((network.pod_address(index), port));
                    pod_addresses.stand_ins.insert(port, address);
                    if meshed {
                        pod_addresses.ingress.insert(port, address);
                    }
                    continue;
                }
                let listener = TcpListener::bind("127.0.0.1:0")?;
                pod_addresses.stand_ins.insert(port, listener.local_addr()?);
                if let Ok(mut held) = pod_addresses.held.lock() {
                    held.insert(port, listener);
                }
                if meshed {
                    pod_addresses.ingress.insert(port, free_port()?);
                }
            }
            addresses.push(pod_addresses);
        }
        // service:port (every DNS form) -> the serving pod's ingress (or stand-in) address
        let mut services: BTreeMap<String, SocketAddr> = BTreeMap::new();
        for file in files {
            let documents = read_documents(&file.name, &file.text)?;
            for service in chiaro_k8s::services(&documents) {
                let Some(index) = pods
                    .iter()
                    .position(|pod| service.selects(&pod.namespace, &pod.labels))
                else {
                    continue;
                };
                for (port, target) in &service.ports {
                    let served = addresses[index]
                        .ingress
                        .get(target)
                        .or_else(|| addresses[index].stand_ins.get(target))
                        .copied();
                    let Some(served) = served else { continue };
                    for name in dns_names(&service.name, &service.namespace) {
                        services.insert(format!("{name}:{port}"), served);
                    }
                }
            }
        }
        for (pod, pod_addresses) in pods.iter().zip(addresses.iter_mut()) {
            let Some(text) = pod.env(MESH_NAME, MESH_EGRESS_ENV) else {
                continue;
            };
            for rule in parse_egress(&text)? {
                let resolved = services.get(&rule.remote).copied().ok_or_else(|| {
                    anyhow!(
                        "{}: egress {} to {}: no Service of this deployment serves it",
                        pod.name,
                        rule.name,
                        rule.remote
                    )
                })?;
                pod_addresses.egress.push((rule, resolved));
            }
        }
        Ok(Self { pods: addresses })
    }
}
