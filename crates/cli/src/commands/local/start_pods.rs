//! Stage 6: every pod, as the Kata agent starts it: each container creation the host sends
//! is checked against the pod's policy; allowed ones run (the real initializer, volume owner
//! and mesh proxy; a stand-in server for each application container).

use std::path::PathBuf;

use anyhow::anyhow;
use chiaro_k8s::{INITIALIZER_NAME, MESH_NAME, VOLUME_OWNER_NAME};
use chiaro_policy::{Evaluator, SourceFile};
use chiaro_simulated_host::{
    DATA_DIR, SANDBOX, create_container_request, creation_order, volume_copy_requests,
};

use super::addresses::{AddressPlan, PodAddresses};
use super::pods::LocalPod;
use super::processes::{Place, Running, run_initializer, start_mesh};
use super::stand_in::StandIn;
use super::story::Story;
use super::tee::TEE_FILE;
use super::volumes::start_volume_owner;
use super::{Network, Work};
use crate::reports::{ContainerOutcome, ContainerRun, PodRun, StandInServer};

/// The pods as started, and what keeps them running.
pub(super) struct Started {
    pub(super) runs: Vec<PodRun>,
    pub(super) addresses: AddressPlan,
    pub(super) servers: Vec<StandIn>,
    pub(super) proxies: Vec<Running>,
    pub(super) volume_owners: Vec<Running>,
}

/// Starts every pod in its place (its namespace, or loopback).
pub(super) fn start(
    work: &Work,
    pods: &[LocalPod],
    files: &[SourceFile],
    network: &mut Network,
    story: &mut Story,
) -> anyhow::Result<Started> {
    story.step("6. Every pod, as the Kata agent starts it: each container creation is checked against the pod's policy");
    describe_network(network, pods.len(), story)?;
    let addresses = AddressPlan::plan(pods, files, network.pods.as_ref())?;
    let mut started = Starter {
        work,
        servers: Vec::new(),
        proxies: Vec::new(),
        volume_owners: Vec::new(),
    };
    let mut runs = Vec::new();
    for (index, pod) in pods.iter().enumerate() {
        let place = Place::of(network.pods.as_ref(), index);
        runs.push(started.pod(pod, &addresses.pods[index], place, story)?);
    }
    Ok(Started {
        runs,
        addresses,
        servers: started.servers,
        proxies: started.proxies,
        volume_owners: started.volume_owners,
    })
}

/// Gives the pods their namespaces (when there is a pod network) and says where they run.
fn describe_network(network: &mut Network, pods: usize, story: &mut Story) -> anyhow::Result<()> {
    match network.pods.as_mut() {
        Some(pod_network) => {
            pod_network.add_pods(pods)?;
            story.line(&format!(
                "each pod in its own network namespace on a bridge (this machine is {}); mesh proxies transparent, as in a cluster",
                pod_network.host_address()
            ));
        }
        None => story.line(&format!(
            "pods share this machine's loopback ({}); the mesh proxies listen on ports of their own, so loopback can go around them (as root, pods get network namespaces)",
            network.unavailable.as_deref().unwrap_or("--network loopback")
        )),
    }
    Ok(())
}

/// Starts pods, keeping what runs.
struct Starter<'a> {
    work: &'a Work,
    servers: Vec<StandIn>,
    proxies: Vec<Running>,
    volume_owners: Vec<Running>,
}

impl Starter<'_> {
    /// One pod: its containers in creation order, until one is refused or fails.
    fn pod(
        &mut self,
        pod: &LocalPod,
        addresses: &PodAddresses,
        place: Place<'_>,
        story: &mut Story,
    ) -> anyhow::Result<PodRun> {
        let simulated = pod.simulated();
        story.line(&format!(
            "pod {}/{} (policy {}…)",
            simulated.namespace,
            simulated.name,
            &pod.policy_hash.to_string()[..16]
        ));
        let mut run = PodRun {
            workload: pod.name.clone(),
            pod: simulated.name.clone(),
            namespace: simulated.namespace.clone(),
            policy_hash: pod.policy_hash,
            containers: Vec::new(),
        };
        let mut evaluator = Evaluator::new(&pod.policy)?;
        for container in creation_order(&pod.data) {
            // The runtime copies the container's ConfigMap and Secret volumes in first; a
            // refused copy leaves the volume incomplete, which its creation then refuses.
            if container != SANDBOX {
                for copy in volume_copy_requests(&pod.data, &simulated, &container, 0, DATA_DIR)? {
                    evaluator.evaluate("CopyFileRequest", &copy)?;
                }
            }
            let request = create_container_request(&pod.data, &simulated, &container)?;
            let decision = evaluator.evaluate("CreateContainerRequest", &request)?;
            let outcome = if decision.allowed {
                self.container(pod, &container, addresses, place)?
            } else {
                ContainerOutcome::Refused {
                    denials: decision.denials,
                }
            };
            story.line(&format!("  {container:<20} {}", describe(&outcome)));
            let started = outcome.started();
            run.containers.push(ContainerRun { container, outcome });
            if !started {
                break;
            }
        }
        Ok(run)
    }

    /// An allowed container, run: the sandbox, the initializer, the mesh proxy, or a stand-in.
    fn container(
        &mut self,
        pod: &LocalPod,
        container: &str,
        addresses: &PodAddresses,
        place: Place<'_>,
    ) -> anyhow::Result<ContainerOutcome> {
        let out = self.pod_dir(pod).join("chiaro");
        Ok(if container == SANDBOX {
            ContainerOutcome::Sandbox
        } else if container == INITIALIZER_NAME {
            let program = self.work.binary("chiaro-initializer")?;
            match run_initializer(&program, pod, &out, &self.work.path(TEE_FILE), place) {
                Ok(wrote) => ContainerOutcome::Initializer { wrote },
                Err(error) => failed("the initializer", &error),
            }
        } else if container == VOLUME_OWNER_NAME {
            let program = self.work.binary("chiaro-volume")?;
            match start_volume_owner(&program, pod, &out, self.work.dir(), place) {
                Ok(owner) => {
                    self.volume_owners.push(owner.process);
                    ContainerOutcome::VolumeOwner {
                        volumes: owner.volumes,
                        stand_in: owner.stand_in,
                    }
                }
                Err(error) => failed("the volume owner", &error),
            }
        } else if container == MESH_NAME {
            let program = self.work.binary("chiaro-mesh")?;
            match start_mesh(&program, pod, addresses, &out, self.work.dir(), place) {
                Ok((proxy, summary)) => {
                    self.proxies.push(proxy);
                    ContainerOutcome::Mesh {
                        transparent: matches!(place, Place::Namespace(..)),
                        summary,
                    }
                }
                Err(error) => failed("the mesh proxy", &error),
            }
        } else {
            self.stand_ins(pod, container, addresses, place)?
        })
    }

    /// A stand-in server on each port `container` declares.
    fn stand_ins(
        &mut self,
        pod: &LocalPod,
        container: &str,
        addresses: &PodAddresses,
        place: Place<'_>,
    ) -> anyhow::Result<ContainerOutcome> {
        let mut servers = Vec::new();
        for port in pod.declared_ports(container) {
            let mut server = match place {
                Place::Loopback => {
                    let listener = addresses
                        .held
                        .lock()
                        .ok()
                        .and_then(|mut held| held.remove(&port))
                        .ok_or_else(|| anyhow!("no listener planned for port {port}"))?;
                    StandIn::start(container, &pod.name, port, listener)?
                }
                Place::Namespace(..) => StandIn::start_in(
                    place,
                    container,
                    &pod.name,
                    port,
                    addresses.stand_ins[&port],
                )?,
            };
            server.meshed = addresses.ingress.contains_key(&port);
            servers.push(StandInServer {
                declared: port,
                address: server.address,
                ingress: addresses.ingress.get(&port).copied(),
            });
            self.servers.push(server);
        }
        Ok(ContainerOutcome::StandIn { servers })
    }

    fn pod_dir(&self, pod: &LocalPod) -> PathBuf {
        self.work.path("pods").join(pod.simulated().name)
    }
}

fn failed(process: &str, error: &anyhow::Error) -> ContainerOutcome {
    ContainerOutcome::Failed {
        process: process.to_owned(),
        error: chiaro_pod::with_causes(error.as_ref()),
    }
}

/// The story's words for an outcome.
fn describe(outcome: &ContainerOutcome) -> String {
    match outcome {
        ContainerOutcome::Refused { denials } => format!("REFUSED: {}", denials.join("; ")),
        ContainerOutcome::Sandbox => "allowed".to_owned(),
        ContainerOutcome::Initializer { wrote } => format!(
            "allowed; ran the real initializer: attested to the Coordinator, wrote {}",
            wrote.join(", ")
        ),
        ContainerOutcome::Mesh { summary, .. } => {
            format!("allowed; ran the real mesh proxy: {summary}")
        }
        ContainerOutcome::VolumeOwner { volumes, stand_in } => format!(
            "allowed; ran the real volume owner: opened {} ({stand_in})",
            volumes.join(", ")
        ),
        ContainerOutcome::StandIn { servers } => {
            format!("allowed; image cannot run here: {}", stand_in_text(servers))
        }
        ContainerOutcome::Failed { process, error } => {
            format!("allowed; {process} FAILED: {error}")
        }
    }
}

fn stand_in_text(servers: &[StandInServer]) -> String {
    if servers.is_empty() {
        return "no declared ports".to_owned();
    }
    let mapped: Vec<String> = servers
        .iter()
        .map(|server| {
            let reach = match server.ingress {
                Some(ingress) if ingress == server.address => {
                    " (behind the pod's mesh proxy)".to_owned()
                }
                Some(ingress) => format!(" (reached through the mesh at {ingress})"),
                None => String::new(),
            };
            format!("{} -> {}{reach}", server.declared, server.address)
        })
        .collect();
    format!("stand-in server on {}", mapped.join(", "))
}
