//! A whole deployment at once: the YAML files a user gives `chiaro generate`, rewritten so every
//! confidential workload carries Chiaro's initializer, pinned images and its policy (as
//! initdata), and the `manifest.json` that lists those policies.
//!
//! Pure: files come in as text and go out as text; image configurations are resolved by the
//! caller between [`images_to_resolve`] and [`generate_deployment`].

use std::collections::{BTreeMap, BTreeSet};

use chiaro_k8s::{
    ConfigSources, Document, DocumentId, INITIALIZER_NAME, ImageCommand, Injection, MESH_NAME,
    MeshSidecar, Service, Workload, container_images, container_ports, dns_names, inject,
    namespace_of, pin_images, read_documents, services, set_pod_annotation, write_documents,
};
use chiaro_pod::annotations::{MESH_EGRESS_ANNOTATION, MESH_INGRESS_ANNOTATION};
use chiaro_pod::layout::{MESH_INGRESS_PORT, MESH_STATUS_PORT};
use chiaro_pod::{InitializerEnv, parse_egress, parse_ingress};
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::{
    AgentPolicy, GenerateOptions, INITDATA_ANNOTATION, ImageConfig, Initdata, PolicyError, generate,
};

/// Annotation: extra SANs for the workload's mesh certificate, comma-separated.
pub const SANS_ANNOTATION: &str = "chiaro.dev/sans";
/// Annotation: the workload secret ID (workloads with the same ID share a secret).
pub const WORKLOAD_SECRET_ANNOTATION: &str = "chiaro.dev/workload-secret-id";

/// One input file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    /// Its name as the user gave it (`-` for standard input).
    pub name: String,
    /// Its text.
    pub text: String,
}

/// What `generate` injects and how it decides.
#[derive(Debug, Clone)]
pub struct DeploymentOptions {
    /// Make every workload confidential, not only those whose `runtimeClassName` is
    /// [`DeploymentOptions::runtime_class`].
    pub all_workloads: bool,
    /// Chiaro's runtime class.
    pub runtime_class: String,
    /// The initializer's image (resolved and pinned like every other image).
    pub initializer_image: String,
    /// The mesh proxy's image, injected into pods with a mesh annotation.
    pub mesh_image: String,
    /// The Coordinator's mesh API as the initializer reaches it (`host:port`).
    pub coordinator: String,
    /// Policy choices.
    pub policy: GenerateOptions,
}

/// An image as resolved by the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImagePin {
    /// The reference pinned by digest, written back into the pod spec.
    pub pinned: String,
    /// Its configuration.
    pub config: ImageConfig,
}

/// What happened to one workload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WorkloadReport {
    /// `file:document`.
    pub at: String,
    /// Kind.
    pub kind: String,
    /// `metadata.name` (or `generateName`).
    pub name: String,
    /// Namespace (`default` when the YAML has none).
    pub namespace: String,
    /// Why it was left alone, if it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
    /// The policy hash (hex), when generated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy_hash: Option<String>,
    /// SANs of its mesh certificate.
    pub sans: Vec<String>,
    /// Its workload secret ID.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workload_secret_id: Option<String>,
    /// `(container, image pinned)`, init containers first.
    pub images: Vec<(String, String)>,
    /// Secret values copied into the policy: `container: VARIABLE from Secret name/key`.
    pub pinned_secrets: Vec<String>,
}

/// The result: rewritten files, the manifest, and a report.
#[derive(Debug, Clone)]
pub struct GeneratedDeployment {
    /// The files, rewritten (unchanged documents keep their text).
    pub files: Vec<SourceFile>,
    /// The manifest JSON: generated `policies`, every other field kept from the old one.
    pub manifest: Value,
    /// Per workload, in input order.
    pub workloads: Vec<WorkloadReport>,
    /// What the user should know.
    pub warnings: Vec<String>,
}

struct Parsed {
    documents: Vec<Vec<Document>>,
    config: ConfigSources,
}

fn parse(files: &[SourceFile]) -> Result<Parsed, PolicyError> {
    let mut documents = Vec::with_capacity(files.len());
    let mut config = ConfigSources::default();
    for file in files {
        let docs = read_documents(&file.name, &file.text).map_err(PolicyError::Input)?;
        for document in &docs {
            config.add(document).map_err(PolicyError::Input)?;
        }
        documents.push(docs);
    }
    Ok(Parsed { documents, config })
}

fn selected(workload: &Workload, options: &DeploymentOptions) -> Result<(), String> {
    if options.all_workloads {
        return Ok(());
    }
    match workload.pod_spec.runtime_class_name.as_deref() {
        Some(class) if class == options.runtime_class => Ok(()),
        Some(class) => Err(format!(
            "runtimeClassName is {class:?}, not {:?} (pass --all to include it)",
            options.runtime_class
        )),
        None => Err(format!(
            "no runtimeClassName {:?} (pass --all to include it)",
            options.runtime_class
        )),
    }
}

/// Every image the deployment needs resolved: the images of the workloads that will be
/// generated, and the initializer's (sorted, each once).
///
/// # Errors
/// [`PolicyError::Input`] for YAML that cannot be read.
pub fn images_to_resolve(
    files: &[SourceFile],
    options: &DeploymentOptions,
) -> Result<Vec<String>, PolicyError> {
    let parsed = parse(files)?;
    let mut images = BTreeSet::new();
    for document in parsed.documents.iter().flatten() {
        let Some(workload) = Workload::from_document(document).map_err(PolicyError::Input)? else {
            continue;
        };
        if selected(&workload, options).is_err() {
            continue;
        }
        images.insert(options.initializer_image.clone());
        if wants_mesh(&workload) {
            images.insert(options.mesh_image.clone());
        }
        let spec = &workload.pod_spec;
        for container in spec.init_containers.iter().chain(&spec.containers) {
            let injected = container.name == INITIALIZER_NAME || container.name == MESH_NAME;
            if let Some(image) = container.image.as_ref().filter(|_| !injected) {
                images.insert(image.clone());
            }
        }
    }
    Ok(images.into_iter().collect())
}

/// Whether the pod asks for the mesh proxy (either mesh annotation, even empty).
fn wants_mesh(workload: &Workload) -> bool {
    workload
        .pod_annotations
        .contains_key(MESH_INGRESS_ANNOTATION)
        || workload
            .pod_annotations
            .contains_key(MESH_EGRESS_ANNOTATION)
}

/// Parses the pod's mesh annotations as the sidecar will (an error names the document and
/// annotation) and returns what will go wrong at run time: an egress entry whose local port is
/// one the pod's containers declare (both bind it; whichever starts second fails).
fn check_mesh_annotations(
    mesh: &MeshSidecar,
    value: &Value,
    workload: &Workload,
    at: &DocumentId,
) -> Result<Vec<String>, PolicyError> {
    let invalid = |annotation: &str, error: chiaro_pod::PodError| {
        PolicyError::Input(chiaro_k8s::K8sError::Invalid {
            at: at.clone(),
            path: format!("spec.template.metadata.annotations[{annotation}]"),
            detail: error.to_string(),
        })
    };
    let ingress = parse_ingress(&mesh.ingress).map_err(|e| invalid(MESH_INGRESS_ANNOTATION, e))?;
    let egress = parse_egress(&mesh.egress).map_err(|e| invalid(MESH_EGRESS_ANNOTATION, e))?;
    let declared = container_ports(value, workload.kind);
    // The proxy's own ports: a workload listening there would take the redirected connections
    // (15006) or be reached around the redirect (15021) once the proxy is gone.
    let reserved = [MESH_INGRESS_PORT, MESH_STATUS_PORT];
    let taken = declared
        .iter()
        .map(|(container, port)| (format!("container {container:?} declares port"), *port))
        .chain(ingress.iter().map(|rule| {
            (
                format!("ingress entry {:?} governs port", rule.name),
                rule.port,
            )
        }))
        .find(|(_, port)| reserved.contains(port));
    if let Some((what, port)) = taken {
        return Err(PolicyError::Input(chiaro_k8s::K8sError::Invalid {
            at: at.clone(),
            path: "spec.template.spec".to_owned(),
            detail: format!(
                "{what} {port}, which is the mesh proxy's own ({MESH_INGRESS_PORT} receives the pod's redirected connections, {MESH_STATUS_PORT} is its status port); the workload must not listen there"
            ),
        }));
    }
    Ok(egress
        .iter()
        .filter_map(|rule| {
            let (container, port) = declared
                .iter()
                .find(|(_, port)| *port == rule.local.port())?;
            Some(format!(
                "egress entry {:?} listens on {}, and container {container:?} declares port {port}: both bind that port in the pod, and whichever starts second fails; give the egress entry another local port",
                rule.name, rule.local
            ))
        })
        .collect())
}

/// Where a SAN of a generated manifest entry comes from: what to change when two entries
/// would share it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SanSource {
    /// The workload's own name.
    WorkloadName,
    /// A Service (by name) that selects the workload's pods.
    Service(String),
    /// A StatefulSet's governing Service (by name): its per-pod names.
    GoverningService(String),
    /// The pod annotation [`SANS_ANNOTATION`].
    Annotation,
    /// The `sans` of a Coordinator entry the manifest already has (kept by generate).
    CoordinatorEntry,
}

impl std::fmt::Display for SanSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::WorkloadName => f.write_str("its own name"),
            Self::Service(name) => write!(f, "Service {name:?}, which selects its pods"),
            Self::GoverningService(name) => write!(f, "its governing Service {name:?}"),
            Self::Annotation => write!(f, "its annotation {SANS_ANNOTATION}"),
            Self::CoordinatorEntry => f.write_str("its sans in manifest.json"),
        }
    }
}

/// One SAN of a workload and where it comes from.
struct SourcedSan {
    san: String,
    source: SanSource,
}

/// The SANs of a workload: its own name and every Service selecting its pods, each as
/// `name`, `name.ns`, `name.ns.svc` and `name.ns.svc.cluster.local`; a StatefulSet's pods
/// also by their per-pod names under its governing Service; then the annotation's extras,
/// each of which must be a valid SAN (no wildcard: it would name other workloads too).
fn default_sans(
    workload: &Workload,
    document: &Document,
    namespace: &str,
    services: &[Service],
) -> Result<Vec<SourcedSan>, PolicyError> {
    let mut names = vec![(
        workload.name.trim_end_matches('-').to_owned(),
        SanSource::WorkloadName,
    )];
    for service in services {
        if service.selects(namespace, &workload.pod_labels) {
            names.push((
                service.name.clone(),
                SanSource::Service(service.name.clone()),
            ));
        }
    }
    let mut sans: Vec<SourcedSan> = Vec::new();
    let mut add = |san: String, source: &SanSource| {
        if !sans
            .iter()
            .any(|known| identity_key(&known.san) == identity_key(&san))
        {
            sans.push(SourcedSan {
                san,
                source: source.clone(),
            });
        }
    };
    for (name, source) in &names {
        for san in dns_names(name, namespace) {
            add(san, source);
        }
    }
    if let Some(governing) = document
        .value
        .pointer("/spec/serviceName")
        .and_then(Value::as_str)
        .filter(|_| document.kind() == Some("StatefulSet"))
    {
        add(
            format!("*.{governing}.{namespace}.svc.cluster.local"),
            &SanSource::GoverningService(governing.to_owned()),
        );
    }
    if let Some(extra) = workload.pod_annotations.get(SANS_ANNOTATION) {
        for san in extra.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            if chiaro_manifest::San::parse(san).is_none() {
                return Err(PolicyError::Input(chiaro_k8s::K8sError::Invalid {
                    at: document.id.clone(),
                    path: format!("spec.template.metadata.annotations[{SANS_ANNOTATION}]"),
                    detail: format!(
                        "{san:?} is not a DNS name, IP address or URI (no wildcards: a wildcard would name other workloads too)"
                    ),
                }));
            }
            add(san.to_owned(), &SanSource::Annotation);
        }
    }
    Ok(sans)
}

/// Who holds a SAN so far, for [`SanClaims::claim`].
struct SanHolder {
    holder: String,
    source: SanSource,
}

/// Every SAN the generated manifest gives out, by the identity it names
/// ([`chiaro_manifest::San::identity`], so that `Web.` and `web` are one), with its holder.
#[derive(Default)]
struct SanClaims(BTreeMap<String, SanHolder>);

impl SanClaims {
    /// The claims of the Coordinator entries `manifest` has (generate keeps them).
    fn of_coordinator_entries(manifest: Option<&Value>) -> Self {
        let mut claims = Self::default();
        let entries = manifest
            .and_then(|m| m.get("policies"))
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .filter(|(_, entry)| entry.get("role").and_then(Value::as_str) == Some("coordinator"));
        for (hash, entry) in entries {
            let sans = entry
                .get("sans")
                .and_then(Value::as_array)
                .into_iter()
                .flatten();
            for san in sans.filter_map(Value::as_str) {
                claims.0.entry(identity_key(san)).or_insert(SanHolder {
                    holder: format!("the Coordinator's entry {hash}"),
                    source: SanSource::CoordinatorEntry,
                });
            }
        }
        claims
    }

    /// Records `sans` as `holder`'s; refuses a SAN another holder has.
    fn claim(&mut self, holder: &str, sans: &[SourcedSan]) -> Result<(), PolicyError> {
        for sourced in sans {
            if let Some(first) = self.0.get(&identity_key(&sourced.san)) {
                return Err(PolicyError::SharedSan {
                    san: sourced.san.clone(),
                    first: first.holder.clone(),
                    first_source: first.source.clone(),
                    second: holder.to_owned(),
                    second_source: sourced.source.clone(),
                });
            }
        }
        for sourced in sans {
            self.0.insert(
                identity_key(&sourced.san),
                SanHolder {
                    holder: holder.to_owned(),
                    source: sourced.source.clone(),
                },
            );
        }
        Ok(())
    }
}

/// The identity a SAN names, as text (an address, a name or a URI never look alike); a SAN
/// that is none of the three (a StatefulSet's wildcard) is compared as written, case-folded.
fn identity_key(san: &str) -> String {
    use chiaro_manifest::San;
    match San::parse(san).map(|parsed| parsed.identity()) {
        Some(San::Ip(ip)) => ip.to_string(),
        Some(San::Dns(name) | San::Uri(name)) => name,
        None => san.to_ascii_lowercase(),
    }
}

/// Rewrites the deployment: for each selected workload, injection, pinned images, policy and
/// initdata annotation; then the manifest. `pins` maps each image of
/// [`images_to_resolve`] to its resolution; `manifest` is the current `manifest.json`, if any.
///
/// # Errors
/// [`PolicyError`] naming the file, document and field of the first problem.
pub fn generate_deployment(
    files: &[SourceFile],
    pins: &BTreeMap<String, ImagePin>,
    manifest: Option<&Value>,
    options: &DeploymentOptions,
) -> Result<GeneratedDeployment, PolicyError> {
    let parsed = parse(files)?;
    let services = services(parsed.documents.iter().flatten());
    let mut warnings = Vec::new();
    // What each pod pins about its deployment: the Coordinator (its policy hash from the
    // manifest's `coordinator` entry, the manifest's reference values) and the workload owners.
    let anchor = manifest.map(|m| {
        chiaro_manifest::Manifest::parse(&m.to_string())
            .and_then(|m| chiaro_manifest::DeploymentAnchor::of_manifest(&m))
    });
    let mut policies = Map::new();
    let mut claims = SanClaims::of_coordinator_entries(manifest);
    let mut workloads = Vec::new();
    let mut out_files = Vec::with_capacity(files.len());

    for (file, documents) in files.iter().zip(&parsed.documents) {
        let mut values: Vec<Value> = documents.iter().map(|d| d.value.clone()).collect();
        for (document, value) in documents.iter().zip(values.iter_mut()) {
            let Some(workload) = Workload::from_document(document).map_err(PolicyError::Input)?
            else {
                continue;
            };
            let namespace = namespace_of(&document.value);
            let mut report = WorkloadReport {
                at: document.id.to_string(),
                kind: document.kind().unwrap_or_default().to_owned(),
                name: workload.name.clone(),
                namespace: namespace.clone(),
                skipped: None,
                policy_hash: None,
                sans: Vec::new(),
                workload_secret_id: None,
                images: Vec::new(),
                pinned_secrets: Vec::new(),
            };
            if let Err(reason) = selected(&workload, options) {
                report.skipped = Some(reason);
                workloads.push(report);
                continue;
            }

            let env = InitializerEnv {
                coordinator: options.coordinator.clone(),
                deployment_anchor: match &anchor {
                    Some(Ok(anchor)) => Some(anchor.to_json()),
                    _ => None,
                },
            };
            let initializer_image = pins
                .get(&options.initializer_image)
                .map(|pin| pin.pinned.clone())
                .ok_or_else(|| PolicyError::MissingImage {
                    container: INITIALIZER_NAME.to_owned(),
                    image: options.initializer_image.clone(),
                })?;
            let mesh = if wants_mesh(&workload) {
                let image = pins
                    .get(&options.mesh_image)
                    .map(|pin| pin.pinned.clone())
                    .ok_or_else(|| PolicyError::MissingImage {
                        container: MESH_NAME.to_owned(),
                        image: options.mesh_image.clone(),
                    })?;
                let annotation = |key| {
                    workload
                        .pod_annotations
                        .get(key)
                        .cloned()
                        .unwrap_or_default()
                };
                Some(MeshSidecar {
                    image,
                    ingress: annotation(MESH_INGRESS_ANNOTATION),
                    egress: annotation(MESH_EGRESS_ANNOTATION),
                })
            } else {
                None
            };
            if let Some(mesh) = &mesh {
                warnings.extend(
                    check_mesh_annotations(mesh, value, &workload, &document.id)?
                        .into_iter()
                        .map(|note| format!("workload {:?}: {note}", workload.name)),
                );
            }
            let injection = Injection {
                initializer_image,
                initializer_env: env,
                mesh,
                runtime_class: options.runtime_class.clone(),
                images: image_commands(pins),
            };
            let probe_notes = inject(value, workload.kind, &injection, &document.id)
                .map_err(PolicyError::Input)?;
            warnings.extend(
                probe_notes
                    .into_iter()
                    .map(|note| format!("workload {:?}: {note}", workload.name)),
            );
            pin_images(value, workload.kind, |image| {
                pins.get(image).map(|pin| pin.pinned.clone())
            });

            let rewritten = Document {
                id: document.id.clone(),
                value: value.clone(),
            };
            let rewritten_workload = Workload::from_document(&rewritten)
                .map_err(PolicyError::Input)?
                .ok_or_else(|| {
                    PolicyError::Input(chiaro_k8s::K8sError::Invalid {
                        at: document.id.clone(),
                        path: String::new(),
                        detail: "no longer a workload after injection".to_owned(),
                    })
                })?;
            let images = image_configs(&rewritten, &rewritten_workload, pins);
            let generated = generate(
                &rewritten,
                &rewritten_workload,
                &images,
                &parsed.config,
                &options.policy,
            )
            .map_err(|error| located(&document.id, error))?;
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

            let hash = initdata.policy_hash().to_string();
            let sans = default_sans(&workload, document, &namespace, &services)?;
            let secret_id = workload
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
                        "{api_version}/{}/{namespace}/{}",
                        report.kind, workload.name
                    )
                });
            if let Some(previous) = policies.get(&hash) {
                return Err(PolicyError::Unsupported {
                    workload: workload.name,
                    field: document.id.to_string(),
                    hint: format!(
                        "its policy is identical to another workload's ({previous}); give the two different names or namespaces"
                    ),
                });
            }
            claims.claim(
                &format!(
                    "{} {namespace}/{} ({})",
                    report.kind, workload.name, document.id
                ),
                &sans,
            )?;
            let sans: Vec<String> = sans.into_iter().map(|sourced| sourced.san).collect();
            policies.insert(
                hash.clone(),
                json!({"sans": sans, "role": "workload", "workload_secret_id": secret_id}),
            );
            let spec = &rewritten_workload.pod_spec;
            report.images = spec
                .init_containers
                .iter()
                .chain(&spec.containers)
                .map(|c| (c.name.clone(), c.image.clone().unwrap_or_default()))
                .collect();
            report.pinned_secrets = generated
                .pinned_secrets
                .iter()
                .map(|s| {
                    format!(
                        "{}: {} from Secret {}/{}",
                        s.container, s.variable, s.secret, s.key
                    )
                })
                .collect();
            report.policy_hash = Some(hash);
            report.sans = sans;
            report.workload_secret_id = Some(secret_id);
            workloads.push(report);
        }
        out_files.push(SourceFile {
            name: file.name.clone(),
            text: write_documents(&file.name, &file.text, documents, &values)
                .map_err(PolicyError::Input)?,
        });
    }

    let missing = match &anchor {
        None => Some("there is no manifest yet".to_owned()),
        Some(Err(reason)) => Some(reason.to_string()),
        Some(Ok(_)) => None,
    };
    if let Some(reason) = missing
        && workloads.iter().any(|w| w.skipped.is_none())
    {
        warnings.push(format!(
            "manifest.json does not say which deployment the pods belong to ({reason}): the initializers cannot pin the Coordinator and its owners and will refuse to start; complete manifest.json (reference values, the Coordinator's policy with \"role\": \"coordinator\", workload_owner_key_digests) and run generate again"
        ));
    }
    if workloads.iter().all(|w| w.skipped.is_some()) {
        warnings.push(format!(
            "no workload has runtimeClassName {:?}; nothing was made confidential (pass --all to include every workload)",
            options.runtime_class
        ));
    }
    Ok(GeneratedDeployment {
        files: out_files,
        manifest: updated_manifest(manifest, policies),
        workloads,
        warnings,
    })
}

/// Each resolved image's own command, keyed both as the user wrote the image and as pinned (a
/// workload generated before names the pinned form).
fn image_commands(pins: &BTreeMap<String, ImagePin>) -> BTreeMap<String, ImageCommand> {
    pins.iter()
        .flat_map(|(written, pin)| {
            let command = ImageCommand {
                entrypoint: pin.config.entrypoint.clone(),
                cmd: pin.config.cmd.clone(),
            };
            [
                (written.clone(), command.clone()),
                (pin.pinned.clone(), command),
            ]
        })
        .collect()
}

/// The configurations of a rewritten workload's images, keyed as written (pinned).
fn image_configs(
    document: &Document,
    workload: &Workload,
    pins: &BTreeMap<String, ImagePin>,
) -> BTreeMap<String, ImageConfig> {
    let by_pinned: BTreeMap<&str, &ImageConfig> = pins
        .values()
        .map(|pin| (pin.pinned.as_str(), &pin.config))
        .collect();
    container_images(&document.value, workload.kind)
        .into_iter()
        .filter_map(|image| {
            let config = by_pinned.get(image.as_str())?;
            Some((image, (*config).clone()))
        })
        .collect()
}

fn located(at: &DocumentId, error: PolicyError) -> PolicyError {
    match error {
        PolicyError::Unsupported {
            workload,
            field,
            hint,
        } => PolicyError::Unsupported {
            workload,
            field: format!("{at}: {field}"),
            hint,
        },
        other => other,
    }
}

/// The manifest with `policies` replaced by the generated ones (Coordinator entries kept) and
/// every other field kept; a new skeleton when there was none.
fn updated_manifest(existing: Option<&Value>, generated: Map<String, Value>) -> Value {
    let mut manifest = match existing.and_then(Value::as_object) {
        Some(object) => object.clone(),
        None => {
            let mut skeleton = Map::new();
            skeleton.insert("version".to_owned(), json!(1));
            skeleton.insert("policies".to_owned(), json!({}));
            skeleton.insert(
                "reference_values".to_owned(),
                json!({"snp": [], "tdx": [], "insecure_simulated": []}),
            );
            skeleton.insert("workload_owner_key_digests".to_owned(), json!([]));
            skeleton.insert("seed_share_owner_keys".to_owned(), json!([]));
            skeleton
        }
    };
    let mut policies: Map<String, Value> = manifest
        .get("policies")
        .and_then(Value::as_object)
        .map(|old| {
            old.iter()
                .filter(|(_, entry)| {
                    entry.get("role").and_then(Value::as_str) == Some("coordinator")
                })
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default();
    let mut generated: Vec<(String, Value)> = generated.into_iter().collect();
    generated.sort_by(|a, b| a.0.cmp(&b.0));
    policies.extend(generated);
    manifest.insert("policies".to_owned(), Value::Object(policies));
    Value::Object(manifest)
}
