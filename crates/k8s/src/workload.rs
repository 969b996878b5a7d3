//! The workload kinds whose pods Chiaro runs confidentially, and where their pod template is.

use std::collections::BTreeMap;

use serde_json::Value;

use serde_path_to_error::Segment;

use crate::documents::{Document, DocumentId};
use crate::encrypted_volumes::{EncryptedVolume, encrypted_volumes, refuse_foreign_devices};
use crate::error::K8sError;
use crate::fields::{self, SpecObject};
use crate::pod_spec::{PodSpec, Volume, VolumeSource};

/// A kind of object that creates pods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkloadKind {
    /// A bare pod.
    Pod,
    /// `apps/v1` Deployment.
    Deployment,
    /// `apps/v1` StatefulSet.
    StatefulSet,
    /// `apps/v1` DaemonSet.
    DaemonSet,
    /// `apps/v1` ReplicaSet.
    ReplicaSet,
    /// `v1` ReplicationController.
    ReplicationController,
    /// `batch/v1` Job.
    Job,
    /// `batch/v1` CronJob.
    CronJob,
}

impl WorkloadKind {
    /// The kind for a `kind` field, `None` for objects that are not workloads.
    pub fn from_kind(kind: &str) -> Option<Self> {
        Some(match kind {
            "Pod" => Self::Pod,
            "Deployment" => Self::Deployment,
            "StatefulSet" => Self::StatefulSet,
            "DaemonSet" => Self::DaemonSet,
            "ReplicaSet" => Self::ReplicaSet,
            "ReplicationController" => Self::ReplicationController,
            "Job" => Self::Job,
            "CronJob" => Self::CronJob,
            _ => return None,
        })
    }

    /// JSON pointer of the pod template (`""` for a Pod, which is its own template).
    pub fn template_pointer(self) -> &'static str {
        match self {
            Self::Pod => "",
            Self::CronJob => "/spec/jobTemplate/spec/template",
            _ => "/spec/template",
        }
    }

    /// The same as a dotted path for messages (`spec.template.`), empty for a Pod.
    pub(crate) fn template_path(self) -> &'static str {
        match self {
            Self::Pod => "",
            Self::CronJob => "spec.jobTemplate.spec.template.",
            _ => "spec.template.",
        }
    }
}

/// A workload read from a document: its names and its typed pod spec.
#[derive(Debug)]
pub struct Workload {
    /// The kind.
    pub kind: WorkloadKind,
    /// `metadata.name` of the workload (empty for a Pod with only `generateName`).
    pub name: String,
    /// `metadata.generateName` of a Pod.
    pub generate_name: Option<String>,
    /// `metadata.namespace`, if set.
    pub namespace: Option<String>,
    /// Labels of the pod template.
    pub pod_labels: BTreeMap<String, String>,
    /// Annotations of the pod template.
    pub pod_annotations: BTreeMap<String, String>,
    /// The pod spec.
    pub pod_spec: PodSpec,
    /// The persistent volumes the pod marks for encryption (every other one is refused).
    pub encrypted_volumes: Vec<EncryptedVolume>,
}

impl Workload {
    /// Reads the workload in `document`; `Ok(None)` when the document is not a workload.
    pub fn from_document(document: &Document) -> Result<Option<Self>, K8sError> {
        let Some(kind) = document.kind().and_then(WorkloadKind::from_kind) else {
            return Ok(None);
        };
        let invalid = |path: &str, detail: String| K8sError::Invalid {
            at: document.id.clone(),
            path: path.to_owned(),
            detail,
        };
        let metadata = document.value.get("metadata");
        let text = |value: Option<&Value>, path: &str| -> Result<Option<String>, K8sError> {
            match value {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(other) => Err(invalid(path, format!("expected a string, got {other}"))),
            }
        };
        let name = text(metadata.and_then(|m| m.get("name")), "metadata.name")?;
        let generate_name = text(
            metadata.and_then(|m| m.get("generateName")),
            "metadata.generateName",
        )?;
        let namespace = text(
            metadata.and_then(|m| m.get("namespace")),
            "metadata.namespace",
        )?;
        if name.is_none() && (kind != WorkloadKind::Pod || generate_name.is_none()) {
            return Err(K8sError::NotAnObject {
                at: document.id.clone(),
                detail: "a workload needs metadata.name".to_owned(),
            });
        }
        let template = document
            .value
            .pointer(kind.template_pointer())
            .ok_or_else(|| invalid(kind.template_path(), "no pod template".to_owned()))?;
        let prefix = kind.template_path();
        let string_map = |value: Option<&Value>, path: &str| {
            let mut map = BTreeMap::new();
            if let Some(Value::Object(entries)) = value {
                for (key, value) in entries {
                    let value = match value {
                        Value::String(s) => s.clone(),
                        other => {
                            return Err(invalid(
                                &format!("{path}.{key}"),
                                format!("expected a string, got {other}"),
                            ));
                        }
                    };
                    map.insert(key.clone(), value);
                }
            }
            Ok(map)
        };
        let pod_labels = string_map(
            template.pointer("/metadata/labels"),
            &format!("{prefix}metadata.labels"),
        )?;
        let pod_annotations = string_map(
            template.pointer("/metadata/annotations"),
            &format!("{prefix}metadata.annotations"),
        )?;
        let spec = template
            .get("spec")
            .ok_or_else(|| invalid(&format!("{prefix}spec"), "missing".to_owned()))?;
        let pod_spec: PodSpec = serde_path_to_error::deserialize(spec.clone())
            .map_err(|error| spec_error(&document.id, prefix, error))?;
        let encrypted_volumes = encrypted_volumes(document, kind, &pod_annotations, &pod_spec)?;
        refuse_foreign_devices(&document.id, kind, &pod_spec, &encrypted_volumes)?;
        Ok(Some(Self {
            kind,
            name: name.unwrap_or_default(),
            generate_name,
            namespace,
            pod_labels,
            pod_annotations,
            pod_spec,
            encrypted_volumes,
        }))
    }

    /// A regular expression matching the names of this workload's pods.
    pub fn pod_name_regex(&self) -> String {
        let name = regex_escape(&self.name);
        // Pod names are DNS subdomains; generated suffixes are lower-case alphanumerics.
        let suffix = "[a-z0-9]{5}";
        match self.kind {
            WorkloadKind::Pod => match (&self.generate_name, self.name.is_empty()) {
                (Some(prefix), true) => format!("^{}[a-z0-9]+$", regex_escape(prefix)),
                _ => format!("^{name}$"),
            },
            WorkloadKind::Deployment => format!("^{name}-[a-z0-9]{{1,10}}-{suffix}$"),
            // The controller's ordinals, as it writes them: no leading zeros (`db-00` is not a
            // name it gives, and would derive another replica's volume keys).
            WorkloadKind::StatefulSet => format!("^{name}-(0|[1-9][0-9]*)$"),
            WorkloadKind::Job => format!("^{name}-([0-9]+-)?{suffix}$"),
            WorkloadKind::CronJob => format!("^{name}-[0-9]+-([0-9]+-)?{suffix}$"),
            WorkloadKind::DaemonSet
            | WorkloadKind::ReplicaSet
            | WorkloadKind::ReplicationController => format!("^{name}-{suffix}$"),
        }
    }

    /// The supported source of `volume` (the `index`th volume of the pod).
    pub fn volume_source(
        &self,
        document: &Document,
        index: usize,
        volume: &Volume,
    ) -> Result<VolumeSource, K8sError> {
        let path = format!("{}spec.volumes[{index}]", self.kind.template_path());
        let unsupported = |hint: String| K8sError::Unsupported {
            at: document.id.clone(),
            path: path.clone(),
            hint,
        };
        let mut kinds = volume.source.iter();
        let (Some((kind, value)), None) = (kinds.next(), kinds.next()) else {
            return Err(K8sError::Invalid {
                at: document.id.clone(),
                path: path.clone(),
                detail: "a volume needs exactly one source".to_owned(),
            });
        };
        let name = || -> Result<String, K8sError> {
            value
                .get(if kind == "secret" {
                    "secretName"
                } else {
                    "name"
                })
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| K8sError::Invalid {
                    at: document.id.clone(),
                    path: format!("{path}.{kind}"),
                    detail: "missing the object name".to_owned(),
                })
        };
        match kind.as_str() {
            "emptyDir" => Ok(VolumeSource::EmptyDir {
                memory: value.get("medium").and_then(Value::as_str) == Some("Memory"),
            }),
            "configMap" => Ok(VolumeSource::ConfigMap { name: name()? }),
            "secret" => Ok(VolumeSource::Secret { name: name()? }),
            "downwardAPI" | "projected" => Ok(VolumeSource::Projected),
            "persistentVolumeClaim" | "ephemeral"
                if self
                    .encrypted_volumes
                    .iter()
                    .any(|encrypted| encrypted.name.as_str() == volume.name) =>
            {
                Ok(VolumeSource::EncryptedBlock)
            }
            "hostPath" => Err(unsupported(
                "hostPath volumes give the host a directory inside the pod; use an emptyDir \
                 or a persistent volume"
                    .to_owned(),
            )),
            other => Err(unsupported(format!(
                "volume kind {other:?}; supported: emptyDir, configMap, secret, downwardAPI, \
                 projected"
            ))),
        }
    }
}

/// The error for a pod spec the views cannot read: a field they do not read (valid Kubernetes
/// not supported yet, or no Kubernetes field: [`fields::unread_field`]), or a value of the wrong
/// shape.
fn spec_error(
    at: &DocumentId,
    prefix: &str,
    error: serde_path_to_error::Error<serde_json::Error>,
) -> K8sError {
    let path = format!("{prefix}spec.{}", error.path());
    let segments: Vec<&Segment> = error.path().iter().collect();
    let object = match segments.as_slice() {
        [Segment::Map { key: field }] => Some((SpecObject::PodSpec, field.clone())),
        [
            Segment::Map { key: list },
            Segment::Seq { .. },
            Segment::Map { key: field },
        ] if list == "containers" || list == "initContainers" => {
            Some((SpecObject::Container, field.clone()))
        }
        _ => None,
    };
    let detail = error.into_inner().to_string();
    if !detail.starts_with("unknown field") {
        return K8sError::Invalid {
            at: at.clone(),
            path,
            detail,
        };
    }
    match object {
        Some((object, field)) => fields::unread_field(at, &path, object, &field),
        None => K8sError::Unsupported {
            at: at.clone(),
            path,
            hint: format!(
                "{detail}; Chiaro refuses pod-spec fields it does not understand, because the \
                 policy it generates would not cover them"
            ),
        },
    }
}

/// Refuses a document of a kind generate does not rewrite that would run as a confidential
/// pod: one with `runtimeClassName: runtime_class` anywhere in it (a custom resource with a pod
/// template, a misspelt kind) or, with `all_workloads`, any pod template
/// (`spec.template.spec.containers`, `spec.jobTemplate.spec.template.spec.containers`).
/// Workloads, and documents with neither, pass.
///
/// # Errors
/// [`K8sError::UnrewritableKind`] naming the kind and the path.
pub fn refuse_unrewritable(
    document: &Document,
    runtime_class: &str,
    all_workloads: bool,
) -> Result<(), K8sError> {
    let kind = document.kind();
    if kind.and_then(WorkloadKind::from_kind).is_some() {
        return Ok(());
    }
    let refused = |path: String, what: String| K8sError::UnrewritableKind {
        at: document.id.clone(),
        kind: kind.unwrap_or_default().to_owned(),
        path,
        what,
    };
    if let Some(path) = runtime_class_path(&document.value, runtime_class, String::new()) {
        return Err(refused(path, format!("{runtime_class:?}")));
    }
    if all_workloads {
        for (pointer, path) in [
            (
                "/spec/template/spec/containers",
                "spec.template.spec.containers",
            ),
            (
                "/spec/jobTemplate/spec/template/spec/containers",
                "spec.jobTemplate.spec.template.spec.containers",
            ),
        ] {
            if document.value.pointer(pointer).is_some() {
                return Err(refused(
                    path.to_owned(),
                    "a pod template, and --all makes every pod confidential".to_owned(),
                ));
            }
        }
    }
    Ok(())
}

/// The dotted path of the first `runtimeClassName: runtime_class` in `value` (under `path`).
fn runtime_class_path(value: &Value, runtime_class: &str, path: String) -> Option<String> {
    let join = |key: &str| {
        if path.is_empty() {
            key.to_owned()
        } else {
            format!("{path}.{key}")
        }
    };
    match value {
        Value::Object(entries) => entries.iter().find_map(|(key, value)| {
            if key == "runtimeClassName" && value.as_str() == Some(runtime_class) {
                Some(join(key))
            } else {
                runtime_class_path(value, runtime_class, join(key))
            }
        }),
        Value::Array(items) => items.iter().enumerate().find_map(|(index, item)| {
            runtime_class_path(item, runtime_class, format!("{path}[{index}]"))
        }),
        _ => None,
    }
}

/// Escapes regular-expression metacharacters, so `text` matches only itself.
pub fn regex_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::documents::read_documents;

    fn workload(yaml: &str) -> Result<Option<Workload>, K8sError> {
        let docs = read_documents("w.yaml", yaml).unwrap();
        Workload::from_document(&docs[0])
    }

    #[test]
    fn deployment_template_is_read() {
        let w = workload(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  template:\n    metadata: {labels: {app: web}}\n    spec:\n      containers: [{name: c, image: nginx}]\n",
        )
        .unwrap()
        .unwrap();
        assert_eq!(w.kind, WorkloadKind::Deployment);
        assert_eq!(w.pod_labels["app"], "web");
        assert_eq!(w.pod_spec.containers[0].name, "c");
        assert_eq!(w.pod_name_regex(), "^web-[a-z0-9]{1,10}-[a-z0-9]{5}$");
    }

    #[test]
    fn unknown_field_is_refused_with_its_path() {
        let error = workload(
            "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: c\n    image: x\n    frobnicate: true\n",
        )
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "w.yaml:1:1:spec.containers[0].frobnicate: not a field of Container; misspelt? (Chiaro refuses fields it does not know: the policy it generates would not cover them)"
        );
        let error = workload(
            "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  hostNetwrok: true\n  containers: [{name: c, image: x}]\n",
        )
        .unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("w.yaml:1:1:spec.hostNetwrok: not a field of PodSpec; misspelt?"),
            "{error}"
        );
    }

    #[test]
    fn a_valid_kubernetes_field_not_supported_yet_says_so_and_why() {
        let error = workload(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  template:\n    spec:\n      hostUsers: false\n      containers: [{name: c, image: x}]\n",
        )
        .unwrap_err();
        let text = error.to_string();
        assert!(
            text.starts_with(
                "w.yaml:1:1:spec.template.spec.hostUsers: valid Kubernetes, but not supported by Chiaro yet: user namespaces"
            ),
            "{text}"
        );
        let error = workload(
            "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - {name: c, image: x, volumeDevices: [{name: d, devicePath: /dev/xvda}]}\n",
        )
        .unwrap_err();
        assert!(
            error.to_string().starts_with(
                "w.yaml:1:1:spec.containers[0].volumeDevices[0]: not supported: raw block device \"d\": the host would see and change its data in plain; mark the volume for encryption"
            ),
            "{error}"
        );
    }

    #[test]
    fn scheduling_only_fields_are_accepted() {
        let w = workload(
            "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  schedulingGates: [{name: wait}]\n  readinessGates: [{conditionType: x}]\n  preemptionPolicy: Never\n  os: {name: linux}\n  containers: [{name: c, image: x}]\n",
        );
        assert!(w.unwrap().is_some());
    }

    #[test]
    fn unmarked_persistent_volumes_and_claim_templates_are_refused_with_their_path() {
        let error = workload(
            "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: db}\nspec:\n  serviceName: db\n  template:\n    spec:\n      containers: [{name: c, image: x}]\n  volumeClaimTemplates:\n  - metadata: {name: data}\n    spec: {accessModes: [ReadWriteOnce]}\n",
        )
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "w.yaml:1:1:spec.volumeClaimTemplates[0]: not supported: volume claim template \"data\": the host would see and change the data of a persistent volume in plain; mark it for encryption (annotation chiaro.dev/encrypted-volumes on the pod template, docs/volumes.md)"
        );
        let error = workload(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  template:\n    spec:\n      containers: [{name: c, image: x}]\n      volumes:\n      - {name: cache, emptyDir: {}}\n      - {name: data, persistentVolumeClaim: {claimName: data}}\n",
        )
        .unwrap_err();
        assert!(
            error.to_string().starts_with(
                "w.yaml:1:1:spec.template.spec.volumes[1].persistentVolumeClaim: not supported: volume \"data\": the host would see and change the data of a persistent volume in plain; mark it for encryption"
            ),
            "{error}"
        );
    }

    fn refused(yaml: &str, all: bool) -> Result<(), K8sError> {
        let docs = read_documents("w.yaml", yaml).unwrap();
        refuse_unrewritable(&docs[0], "chiaro-cc", all)
    }

    #[test]
    fn a_kind_generate_cannot_rewrite_with_the_runtime_class_is_refused_with_its_path() {
        let error = refused(
            "apiVersion: apps/v1\nkind: Deploymnet\nmetadata: {name: web}\nspec:\n  template:\n    spec:\n      runtimeClassName: chiaro-cc\n      containers: [{name: c, image: x}]\n",
            false,
        )
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "w.yaml:1:1: kind \"Deploymnet\" has spec.template.spec.runtimeClassName: \"chiaro-cc\", but generate rewrites only Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet, ReplicationController, Job and CronJob; check the kind's spelling, or generate the workloads this object creates"
        );
        let crd = "apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata: {name: web}\nspec:\n  template:\n    spec:\n      containers: [{name: c, image: x}]\n";
        assert!(
            refused(crd, false).is_ok(),
            "no runtime class: not selected"
        );
        let error = refused(crd, true).unwrap_err().to_string();
        assert!(
            error.contains(
                "kind \"Rollout\" has spec.template.spec.containers: a pod template, and --all"
            ),
            "{error}"
        );
        let nested = "apiVersion: x/v1\nkind: Thing\nmetadata: {name: t}\nspec:\n  pods:\n  - spec: {runtimeClassName: chiaro-cc}\n";
        assert!(
            refused(nested, false)
                .unwrap_err()
                .to_string()
                .contains("spec.pods[0].spec.runtimeClassName"),
        );
        for plain in [
            "apiVersion: v1\nkind: Service\nmetadata: {name: s}\n",
            "apiVersion: node.k8s.io/v1\nkind: RuntimeClass\nmetadata: {name: chiaro-cc}\nhandler: kata\n",
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  template:\n    spec:\n      runtimeClassName: chiaro-cc\n      containers: [{name: c, image: x}]\n",
        ] {
            assert!(refused(plain, true).is_ok(), "{plain}");
        }
    }

    #[test]
    fn other_kinds_pass_through() {
        assert!(
            workload("apiVersion: v1\nkind: Service\nmetadata: {name: s}\n")
                .unwrap()
                .is_none()
        );
    }
}
