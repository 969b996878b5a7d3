//! Typed, read-only views of the volumes whose files the kubelet projects from the API: ConfigMap,
//! Secret, downward-API and projected volumes. Like the pod-spec views, each refuses fields it
//! does not list: a field that changes which files a container reads must be understood by the
//! policy generator, which pins those files.

use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::Value;

use crate::documents::Document;
use crate::error::K8sError;
use crate::pod_spec::{FieldSelector, KeyToPath, Volume};
use crate::workload::Workload;

/// A volume whose files the kubelet writes from API objects and pod fields.
#[derive(Debug, PartialEq)]
pub enum FileVolume {
    /// `configMap`.
    ConfigMap(ObjectFiles),
    /// `secret`.
    Secret(ObjectFiles),
    /// `downwardAPI`.
    DownwardApi(DownwardApiFiles),
    /// `projected`.
    Projected(ProjectedFiles),
}

/// The files of one ConfigMap or Secret: all its keys, or the listed `items`.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ObjectFiles {
    /// The object's name.
    pub name: String,
    /// The keys projected and where; empty for every key under its own name.
    pub items: Vec<KeyToPath>,
    /// Whether the object (or a listed key) may be missing.
    pub optional: bool,
    /// The mode of files without their own (`defaultMode`, or the projected volume's).
    pub default_mode: Option<u32>,
}

/// `downwardAPI` files: pod fields and resources.
#[derive(Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DownwardApiFiles {
    /// The files.
    #[serde(default)]
    pub items: Vec<DownwardApiFile>,
    /// The mode of files without their own.
    pub default_mode: Option<u32>,
}

/// One downward-API file.
#[derive(Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DownwardApiFile {
    /// The file's path in the volume.
    pub path: String,
    /// A pod field.
    pub field_ref: Option<FieldSelector>,
    /// A resource limit or request of a container (its value is the node's when unset).
    pub resource_field_ref: Option<IgnoredAny>,
    /// The file's mode.
    pub mode: Option<u32>,
}

/// `projected`: several sources in one directory.
#[derive(Debug, Default, PartialEq)]
pub struct ProjectedFiles {
    /// The sources, in order.
    pub sources: Vec<ProjectedSource>,
    /// The mode of files without their own.
    pub default_mode: Option<u32>,
}

/// One source of a projected volume.
#[derive(Debug, PartialEq)]
pub enum ProjectedSource {
    /// A ConfigMap's keys.
    ConfigMap(ObjectFiles),
    /// A Secret's keys.
    Secret(ObjectFiles),
    /// Downward-API files.
    DownwardApi(Vec<DownwardApiFile>),
    /// A service-account token the API server signs when the kubelet asks (its content is never
    /// known in advance): the file's path.
    ServiceAccountToken(String),
}

impl Workload {
    /// The files the kubelet projects into `volume` (the `index`th volume of the pod), or `None`
    /// for a volume of another kind. The paths in errors are the document's.
    pub fn file_volume(
        &self,
        document: &Document,
        index: usize,
        volume: &Volume,
    ) -> Result<Option<FileVolume>, K8sError> {
        let template = self.kind.template_pointer().trim_start_matches('/');
        let prefix = if template.is_empty() {
            String::new()
        } else {
            format!("{}.", template.replace('/', "."))
        };
        let at = |kind: &str| format!("{prefix}spec.volumes[{index}].{kind}");
        let read = |kind: &str, value: &Value| -> Result<Option<FileVolume>, K8sError> {
            let path = at(kind);
            let invalid = |error: serde_json::Error| K8sError::Invalid {
                at: document.id.clone(),
                path: path.clone(),
                detail: error.to_string(),
            };
            Ok(Some(match kind {
                "configMap" => FileVolume::ConfigMap(
                    serde_json::from_value::<ConfigMapView>(value.clone())
                        .map_err(invalid)?
                        .into(),
                ),
                "secret" => FileVolume::Secret(
                    serde_json::from_value::<SecretView>(value.clone())
                        .map_err(invalid)?
                        .into(),
                ),
                "downwardAPI" => {
                    FileVolume::DownwardApi(serde_json::from_value(value.clone()).map_err(invalid)?)
                }
                "projected" => {
                    let view: ProjectedView =
                        serde_json::from_value(value.clone()).map_err(invalid)?;
                    FileVolume::Projected(view.files(document, &path)?)
                }
                _ => return Ok(None),
            }))
        };
        match volume.source.iter().next() {
            Some((kind, value)) => read(kind, value),
            None => Ok(None),
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ConfigMapView {
    name: String,
    #[serde(default)]
    items: Vec<KeyToPath>,
    optional: Option<bool>,
    default_mode: Option<u32>,
}

impl From<ConfigMapView> for ObjectFiles {
    fn from(view: ConfigMapView) -> Self {
        Self {
            name: view.name,
            items: view.items,
            optional: view.optional == Some(true),
            default_mode: view.default_mode,
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SecretView {
    secret_name: String,
    #[serde(default)]
    items: Vec<KeyToPath>,
    optional: Option<bool>,
    default_mode: Option<u32>,
}

impl From<SecretView> for ObjectFiles {
    fn from(view: SecretView) -> Self {
        Self {
            name: view.secret_name,
            items: view.items,
            optional: view.optional == Some(true),
            default_mode: view.default_mode,
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ProjectedView {
    #[serde(default)]
    sources: Vec<ProjectionView>,
    default_mode: Option<u32>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ProjectionView {
    config_map: Option<ObjectProjectionView>,
    secret: Option<ObjectProjectionView>,
    #[serde(rename = "downwardAPI")]
    downward_api: Option<DownwardApiProjectionView>,
    service_account_token: Option<TokenProjectionView>,
    cluster_trust_bundle: Option<IgnoredAny>,
    pod_certificate: Option<IgnoredAny>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ObjectProjectionView {
    name: String,
    #[serde(default)]
    items: Vec<KeyToPath>,
    optional: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct DownwardApiProjectionView {
    #[serde(default)]
    items: Vec<DownwardApiFile>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct TokenProjectionView {
    path: String,
    #[serde(rename = "audience")]
    _audience: Option<IgnoredAny>,
    #[serde(rename = "expirationSeconds")]
    _expiration_seconds: Option<IgnoredAny>,
}

impl ProjectedView {
    fn files(self, document: &Document, path: &str) -> Result<ProjectedFiles, K8sError> {
        let mut sources = Vec::new();
        for (index, source) in self.sources.into_iter().enumerate() {
            let object = |view: ObjectProjectionView| ObjectFiles {
                name: view.name,
                items: view.items,
                optional: view.optional == Some(true),
                default_mode: self.default_mode,
            };
            sources.push(match source {
                ProjectionView {
                    config_map: Some(view),
                    secret: None,
                    downward_api: None,
                    service_account_token: None,
                    cluster_trust_bundle: None,
                    pod_certificate: None,
                } => ProjectedSource::ConfigMap(object(view)),
                ProjectionView {
                    config_map: None,
                    secret: Some(view),
                    downward_api: None,
                    service_account_token: None,
                    cluster_trust_bundle: None,
                    pod_certificate: None,
                } => ProjectedSource::Secret(object(view)),
                ProjectionView {
                    config_map: None,
                    secret: None,
                    downward_api: Some(view),
                    service_account_token: None,
                    cluster_trust_bundle: None,
                    pod_certificate: None,
                } => ProjectedSource::DownwardApi(view.items),
                ProjectionView {
                    config_map: None,
                    secret: None,
                    downward_api: None,
                    service_account_token: Some(view),
                    cluster_trust_bundle: None,
                    pod_certificate: None,
                } => ProjectedSource::ServiceAccountToken(view.path),
                ProjectionView {
                    cluster_trust_bundle: None,
                    pod_certificate: None,
                    ..
                } => {
                    return Err(K8sError::Invalid {
                        at: document.id.clone(),
                        path: format!("{path}.sources[{index}]"),
                        detail: "a projected source names exactly one kind".to_owned(),
                    });
                }
                _ => {
                    return Err(K8sError::Unsupported {
                        at: document.id.clone(),
                        path: format!("{path}.sources[{index}]"),
                        hint: "clusterTrustBundle and podCertificate sources are not supported: \
                               the policy cannot pin what the kubelet writes for them"
                            .to_owned(),
                    });
                }
            });
        }
        Ok(ProjectedFiles {
            sources,
            default_mode: self.default_mode,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::documents::read_documents;

    fn volumes(yaml: &str) -> Result<Vec<Option<FileVolume>>, K8sError> {
        let docs = read_documents("pod.yaml", yaml).unwrap();
        let workload = Workload::from_document(&docs[0]).unwrap().unwrap();
        workload
            .pod_spec
            .volumes
            .iter()
            .enumerate()
            .map(|(index, volume)| workload.file_volume(&docs[0], index, volume))
            .collect()
    }

    const POD: &str = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers: [{name: c, image: i}]\n  volumes:\n";

    #[test]
    fn config_map_secret_and_projected_volumes_are_read() {
        let read = volumes(&format!(
            "{POD}  - {{name: a, configMap: {{name: cm, defaultMode: 0400, items: [{{key: k, path: x/k, mode: 0600}}]}}}}\n  - {{name: b, secret: {{secretName: s, optional: true}}}}\n  - {{name: c, projected: {{defaultMode: 0440, sources: [{{secret: {{name: s}}}}, {{serviceAccountToken: {{path: token, audience: api}}}}, {{downwardAPI: {{items: [{{path: name, fieldRef: {{fieldPath: metadata.name}}}}]}}}}]}}}}\n  - {{name: d, emptyDir: {{}}}}\n"
        ))
        .unwrap();
        assert_eq!(
            read[0],
            Some(FileVolume::ConfigMap(ObjectFiles {
                name: "cm".to_owned(),
                items: vec![KeyToPath {
                    key: "k".to_owned(),
                    path: "x/k".to_owned(),
                    mode: Some(0o600)
                }],
                optional: false,
                default_mode: Some(0o400),
            }))
        );
        assert_eq!(
            read[1],
            Some(FileVolume::Secret(ObjectFiles {
                name: "s".to_owned(),
                optional: true,
                ..ObjectFiles::default()
            }))
        );
        let Some(FileVolume::Projected(projected)) = &read[2] else {
            panic!("projected expected: {:?}", read[2]);
        };
        assert_eq!(projected.default_mode, Some(0o440));
        assert_eq!(
            projected.sources[1],
            ProjectedSource::ServiceAccountToken("token".to_owned())
        );
        assert_eq!(read[3], None);
    }

    #[test]
    fn an_unknown_field_of_a_config_map_volume_is_refused_with_its_path() {
        let error = volumes(&format!(
            "{POD}  - {{name: a, configMap: {{name: cm, mode: 1}}}}\n"
        ))
        .unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("pod.yaml:1:1:spec.volumes[0].configMap: "),
            "{error}"
        );
    }

    #[test]
    fn a_cluster_trust_bundle_source_is_not_supported() {
        let error = volumes(&format!(
            "{POD}  - {{name: a, projected: {{sources: [{{clusterTrustBundle: {{name: b, path: p}}}}]}}}}\n"
        ))
        .unwrap_err();
        assert!(
            error.to_string().contains("sources[0]: not supported"),
            "{error}"
        );
    }
}
