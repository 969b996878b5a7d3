//! The generated workloads of a local deployment, as pods: each with its policy (read back
//! from its initdata annotation, as the agent gets it) and its pod spec.

use std::collections::BTreeMap;

use anyhow::anyhow;
use chiaro_k8s::{Container, PodSpec, Workload, WorkloadKind, read_documents};
use chiaro_manifest::PolicyHash;
use chiaro_policy::{AgentPolicy, INITDATA_ANNOTATION, Initdata, PolicyData, SourceFile};
use chiaro_simulated_host::SimulatedPod;

/// The pod name a controller of `kind` would give the first replica of `name`.
fn pod_name(kind: &str, name: &str) -> String {
    match WorkloadKind::from_kind(kind) {
        Some(WorkloadKind::Pod) => name.to_owned(),
        Some(WorkloadKind::Deployment) => format!("{name}-7d9f8c6b5d-q8x2z"),
        Some(WorkloadKind::StatefulSet) => format!("{name}-0"),
        Some(WorkloadKind::CronJob) => format!("{name}-29100000-q8x2z"),
        _ => format!("{name}-q8x2z"),
    }
}

/// A generated workload of the local deployment.
pub(super) struct LocalPod {
    pub(super) name: String,
    pub(super) namespace: String,
    pub(super) labels: BTreeMap<String, String>,
    pub(super) kind: String,
    pub(super) policy: AgentPolicy,
    pub(super) data: PolicyData,
    pub(super) policy_hash: PolicyHash,
    /// The pod spec as generate wrote it (typed: local mode reads it as the kubelet would).
    pub(super) spec: PodSpec,
}

impl LocalPod {
    pub(super) fn simulated(&self) -> SimulatedPod {
        SimulatedPod {
            name: pod_name(&self.kind, &self.name),
            namespace: self.namespace.clone(),
            netns: format!(
                "/var/run/netns/cni-{}",
                hex::encode(&self.policy_hash.as_bytes()[..4])
            ),
        }
    }

    /// Every port the pod's containers declare.
    pub(super) fn ports(&self) -> Vec<u16> {
        let mut ports: Vec<u16> = self
            .spec
            .container_ports()
            .into_iter()
            .map(|(_, port)| port)
            .collect();
        ports.sort_unstable();
        ports.dedup();
        ports
    }

    /// The value of `variable` in container `name`'s pod-spec environment.
    pub(super) fn env(&self, name: &str, variable: &str) -> Option<String> {
        self.container(name)?
            .env
            .iter()
            .find(|var| var.name == variable)?
            .value
            .clone()
    }

    /// The ports container `name` declares (none when there is no such container).
    pub(super) fn declared_ports(&self, name: &str) -> Vec<u16> {
        self.container(name)
            .map(|container| container.ports.iter().map(|p| p.container_port).collect())
            .unwrap_or_default()
    }

    pub(super) fn container(&self, name: &str) -> Option<&Container> {
        self.spec
            .init_containers
            .iter()
            .chain(&self.spec.containers)
            .find(|container| container.name == name)
    }
}

/// The confidential workloads of the generated files in the work directory.
pub(super) fn local_pods(generated: &[SourceFile]) -> anyhow::Result<Vec<LocalPod>> {
    let mut pods = Vec::new();
    for file in generated {
        for document in read_documents(&file.name, &file.text)? {
            let Some(workload) = Workload::from_document(&document)? else {
                continue;
            };
            let Some(annotation) = workload.pod_annotations.get(INITDATA_ANNOTATION) else {
                continue;
            };
            let initdata = Initdata::from_annotation(annotation)?;
            let policy = AgentPolicy::from_text(initdata.policy());
            let data = policy
                .data()
                .ok_or_else(|| anyhow!("{}: the policy has no readable data", document.id))?;
            pods.push(LocalPod {
                name: workload.name.clone(),
                labels: workload.pod_labels.clone(),
                namespace: workload
                    .namespace
                    .clone()
                    .unwrap_or_else(|| "default".to_owned()),
                kind: document.kind().unwrap_or_default().to_owned(),
                policy_hash: initdata.policy_hash(),
                policy,
                data,
                spec: workload.pod_spec,
            });
        }
    }
    Ok(pods)
}
