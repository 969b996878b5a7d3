//! One workload of a deployment, in stages: selected or skipped, Chiaro's containers
//! injected, images pinned, its policy generated into the initdata annotation, its manifest
//! entry (SANs, workload secret ID) claimed.

use std::collections::BTreeMap;

use chiaro_k8s::{
    ClaimSource, ConfigSources, Document, DocumentId, INITIALIZER_NAME, Injection,
    VOLUME_OWNER_NAME, VerifiedFile, VolumeOwner, Workload, WorkloadKind, inject, namespace_of,
    pin_images, set_pod_annotation,
};
use chiaro_pod::InitializerEnv;
use serde_json::Value;

use super::sans::default_sans;
use super::{
    Anchor, GeneratedEntry, Run, WORKLOAD_SECRET_ANNOTATION, WorkloadReport, image_commands,
    image_configs, located, mesh, pinned, selected,
};
use crate::copy_files::copy_volumes;
use crate::{
    AgentPolicy, GenerateOptions, GeneratedPolicy, INITDATA_ANNOTATION, ImagePin, Initdata,
    PolicyError, generate,
};

/// A workload's policy as generated, with the initdata that carries it.
pub(super) struct Policy {
    pub(super) generated: GeneratedPolicy,
    pub(super) initdata: Initdata,
}

impl Run<'_> {
    /// Rewrites `value` (the workload's document as written) for Chiaro from `document` (as
    /// read, in its namespace), unless the workload is not selected; records its manifest entry.
    /// Its report either way.
    pub(super) fn workload(
        &mut self,
        document: &Document,
        value: &mut Value,
        workload: &Workload,
    ) -> Result<WorkloadReport, PolicyError> {
        let mut report = new_report(document, workload);
        if let Err(reason) = selected(workload, self.options) {
            report.skipped = Some(reason.to_string());
            return Ok(report);
        }
        value.clone_from(&document.value);
        self.inject(document, value, workload)?;
        pin_images(value, workload.kind, |image| {
            self.pins.get(image).map(|pin| pin.pinned.clone())
        });
        let (rewritten, policy) = self.policy(document, value)?;
        let base = self.options.policy.vm_base.memory_mib;
        self.warnings
            .extend(policy.generated.without_memory_limit.iter().map(|container| {
                format!(
                    "workload {:?}: container {container:?} has no memory limit: the VM is sized \
                     from limits, so its memory comes out of the VM's base ({base} MiB, shared \
                     with the guest's own); give it resources.limits.memory",
                    workload.name
                )
            }));
        let entry = self.entry(document, workload, &report, &policy)?;
        fill_report(&mut report, &rewritten, &policy, &entry);
        self.policies.push(entry);
        Ok(report)
    }

    /// Injects the initializer (with the Coordinator and the deployment anchor in its
    /// environment) and, when asked for, the mesh proxy; their notes become warnings.
    fn inject(
        &mut self,
        document: &Document,
        value: &mut Value,
        workload: &Workload,
    ) -> Result<(), PolicyError> {
        let sidecar = mesh::sidecar(workload, self.pins, self.options)?;
        let mut notes: Vec<String> = Vec::new();
        if let Some(sidecar) = &sidecar {
            notes.extend(mesh::check_mesh_annotations(
                sidecar,
                workload,
                &document.id,
            )?);
        }
        let initializer_image =
            pinned(self.pins, &self.options.initializer_image, INITIALIZER_NAME)?;
        let volume_owner = match workload.encrypted_volumes.is_empty() {
            true => None,
            false => Some(pinned(
                self.pins,
                &self.options.volume_image,
                VOLUME_OWNER_NAME,
            )?),
        };
        let volume_owner = volume_owner.map(|image| VolumeOwner {
            image,
            volumes: workload
                .encrypted_volumes
                .iter()
                .map(|volume| volume.name.clone())
                .collect(),
            per_replica: workload
                .encrypted_volumes
                .iter()
                .any(|volume| volume.source == ClaimSource::Template),
        });
        notes.extend(shared_claim_notes(document, workload));
        let verified_files = verified_files(document, workload, self.config, &self.options.policy)?;
        let injection = Injection {
            verified_files,
            initializer_image,
            initializer_env: self.initializer_env(),
            mesh: sidecar,
            volume_owner,
            runtime_class: self.options.runtime_class.clone(),
            images: image_commands(self.pins),
        };
        notes.extend(
            inject(value, workload.kind, &injection, &document.id).map_err(PolicyError::Input)?,
        );
        self.warnings.extend(
            notes
                .into_iter()
                .map(|note| format!("workload {:?}: {note}", workload.name)),
        );
        Ok(())
    }

    /// The initializer's environment: the Coordinator, and the deployment anchor when the
    /// manifest gives one.
    fn initializer_env(&self) -> InitializerEnv {
        InitializerEnv {
            coordinator: self.options.coordinator.clone(),
            deployment_anchor: match &self.manifest.anchor {
                Anchor::Pinned(anchor) => Some(anchor.clone()),
                Anchor::Missing(_) => None,
            },
        }
    }

    /// Generates the policy of the rewritten workload and sets its initdata annotation.
    fn policy(
        &self,
        document: &Document,
        value: &mut Value,
    ) -> Result<(Workload, Policy), PolicyError> {
        policy_into_annotation(
            document,
            value,
            self.pins,
            self.config,
            &self.options.policy,
        )
    }

    /// The workload's manifest entry; refused when another workload has the same policy or
    /// one of its SANs.
    fn entry(
        &mut self,
        document: &Document,
        workload: &Workload,
        report: &WorkloadReport,
        policy: &Policy,
    ) -> Result<GeneratedEntry, PolicyError> {
        let hash = policy.initdata.policy_hash();
        let sans = default_sans(workload, document, &report.namespace, &self.services)?;
        if let Some(previous) = self.policies.iter().find(|entry| entry.hash == hash) {
            return Err(PolicyError::Unsupported {
                workload: workload.name.clone(),
                field: document.id.to_string(),
                hint: format!(
                    "its policy is identical to another workload's ({}); give the two different names or namespaces",
                    previous.workload_secret_id
                ),
            });
        }
        self.claims.claim(
            &format!(
                "{} {}/{} ({})",
                report.kind, report.namespace, workload.name, document.id
            ),
            &sans,
        )?;
        Ok(GeneratedEntry {
            hash,
            sans: sans.into_iter().map(|sourced| sourced.san).collect(),
            workload_secret_id: secret_id(document, workload, report),
        })
    }
}

/// Generates the policy of `value` (`document` as rewritten so far: images pinned) and sets
/// its initdata annotation; the workload as rewritten and its policy. Every generated pod's
/// policy, the Coordinator's too, comes from here.
pub(super) fn policy_into_annotation(
    document: &Document,
    value: &mut Value,
    pins: &BTreeMap<String, ImagePin>,
    config: &ConfigSources,
    options: &GenerateOptions,
) -> Result<(Workload, Policy), PolicyError> {
    let rewritten = Document {
        id: document.id.clone(),
        value: value.clone(),
    };
    let workload = Workload::from_document(&rewritten)
        .map_err(PolicyError::Input)?
        .ok_or_else(|| no_longer_a_workload(&document.id))?;
    let images = image_configs(&rewritten, &workload, pins);
    let generated = generate(&rewritten, &workload, &images, config, options)
        .map_err(|error| located(&document.id, error))?;
    // A pod generate wrote before (it carries the initdata) gets the base of this run; a base
    // the user wrote is not silently replaced.
    let generated_before = workload.pod_annotations.contains_key(INITDATA_ANNOTATION);
    for (key, base) in options.vm_base.base_annotations() {
        if let Some(written) = workload.pod_annotations.get(key)
            && *written != base
            && !generated_before
        {
            return Err(located(
                &document.id,
                PolicyError::Unsupported {
                    workload: workload.name.clone(),
                    field: format!("annotation {key}"),
                    hint: format!(
                        "generate sets it to the VM base ({base}), which the policy pins; give \
                         the base with --vm-base-vcpus and --vm-base-memory instead"
                    ),
                },
            ));
        }
        set_pod_annotation(value, workload.kind, key, &base, &document.id)
            .map_err(PolicyError::Input)?;
    }
    let policy = AgentPolicy::new(&generated.data)?;
    let initdata = Initdata::for_policy(policy.text())?;
    set_pod_annotation(
        value,
        workload.kind,
        INITDATA_ANNOTATION,
        &initdata.to_annotation(),
        &document.id,
    )
    .map_err(PolicyError::Input)?;
    Ok((
        workload,
        Policy {
            generated,
            initdata,
        },
    ))
}

/// The ConfigMap and Secret files whose content each container's start gate checks: every
/// file of each content-pinned volume ([`crate::copy_files`]) at its path under the mount.
fn verified_files(
    document: &Document,
    workload: &Workload,
    config: &ConfigSources,
    options: &GenerateOptions,
) -> Result<BTreeMap<String, Vec<VerifiedFile>>, PolicyError> {
    let (volumes, _) = copy_volumes(document, workload, config, options)
        .map_err(|error| located(&document.id, error))?;
    let spec = &workload.pod_spec;
    let mut files = BTreeMap::new();
    for container in spec.init_containers.iter().chain(&spec.containers) {
        let mut verified = Vec::new();
        for mount in &container.volume_mounts {
            let Some(volume) = volumes
                .volumes
                .get(&mount.name)
                .filter(|volume| volume.content_pinned)
            else {
                continue;
            };
            for (path, file) in &volume.files {
                if let Some(sha256) = &file.sha256 {
                    verified.push(VerifiedFile {
                        path: format!("{}/{path}", mount.mount_path.trim_end_matches('/')),
                        sha256: sha256.clone(),
                    });
                }
            }
        }
        if !verified.is_empty() {
            files.insert(container.name.clone(), verified);
        }
    }
    Ok(files)
}

/// A note for each encrypted volume from one claim that more than one pod of the workload
/// would open at once: two VMs mounting one ext4 file system corrupt it.
fn shared_claim_notes(document: &Document, workload: &Workload) -> Vec<String> {
    let replicas = document
        .value
        .pointer("/spec/replicas")
        .and_then(Value::as_u64)
        .unwrap_or(1);
    let many = match workload.kind {
        WorkloadKind::Pod => false,
        WorkloadKind::DaemonSet | WorkloadKind::CronJob => true,
        WorkloadKind::Job => {
            document
                .value
                .pointer("/spec/parallelism")
                .and_then(Value::as_u64)
                .unwrap_or(1)
                > 1
        }
        _ => replicas > 1,
    };
    workload
        .encrypted_volumes
        .iter()
        .filter_map(|volume| match &volume.source {
            ClaimSource::Claim { claim_name } if many => Some(format!(
                "encrypted volume {:?} (claim {claim_name:?}) can be opened by more than one of its pods at once, which corrupts its file system; give it one replica, or a StatefulSet volumeClaimTemplates entry, and the claim accessModes [ReadWriteOncePod]",
                volume.name.as_str()
            )),
            _ => None,
        })
        .collect()
}

/// The report of a workload before anything is decided.
fn new_report(document: &Document, workload: &Workload) -> WorkloadReport {
    WorkloadReport {
        at: document.id.to_string(),
        kind: document.kind().unwrap_or_default().to_owned(),
        name: workload.name.clone(),
        namespace: namespace_of(&document.value),
        skipped: None,
        policy_hash: None,
        sans: Vec::new(),
        workload_secret_id: None,
        images: Vec::new(),
        pinned_secrets: Vec::new(),
        vm_size: None,
    }
}

/// The annotation's workload secret ID, or `apiVersion/kind/namespace/name`.
fn secret_id(document: &Document, workload: &Workload, report: &WorkloadReport) -> String {
    workload
        .pod_annotations
        .get(WORKLOAD_SECRET_ANNOTATION)
        .cloned()
        .unwrap_or_else(|| {
            let api_version = document
                .value
                .get("apiVersion")
                .and_then(Value::as_str)
                .unwrap_or("v1");
            format!(
                "{api_version}/{}/{}/{}",
                report.kind, report.namespace, workload.name
            )
        })
}

/// What was made of a generated workload: its images, pinned secrets and entry.
fn fill_report(
    report: &mut WorkloadReport,
    rewritten: &Workload,
    policy: &Policy,
    entry: &GeneratedEntry,
) {
    let spec = &rewritten.pod_spec;
    report.images = spec
        .init_containers
        .iter()
        .chain(&spec.containers)
        .map(|c| (c.name.clone(), c.image.clone().unwrap_or_default()))
        .collect();
    report.pinned_secrets = policy
        .generated
        .pinned_secrets
        .iter()
        .map(|s| {
            format!(
                "{}: {} from Secret {}/{}",
                s.container, s.variable, s.secret, s.key
            )
        })
        .chain(policy.generated.pinned_secret_files.iter().map(|f| {
            format!(
                "volume {}: file {} from Secret {}/{} (its size)",
                f.volume, f.path, f.secret, f.key
            )
        }))
        .collect();
    report.vm_size = Some(policy.generated.vm_size);
    report.policy_hash = Some(entry.hash);
    report.sans.clone_from(&entry.sans);
    report.workload_secret_id = Some(entry.workload_secret_id.clone());
}

fn no_longer_a_workload(at: &DocumentId) -> PolicyError {
    PolicyError::Input(chiaro_k8s::K8sError::Invalid {
        at: at.clone(),
        path: String::new(),
        detail: "no longer a workload after injection".to_owned(),
    })
}
