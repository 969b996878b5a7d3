//! A whole deployment at once: the YAML files a user gives `chiaro generate`, rewritten so every
//! confidential workload carries Chiaro's initializer, pinned images and its policy (as
//! initdata), and the policy entries the manifest lists for them.
//!
//! Pure: files come in as text and go out as text; image configurations are resolved by the
//! caller between [`images_to_resolve`] and [`generate_deployment`]. The manifest is not read
//! or written here: the caller says what generate needs of it ([`ExistingManifest`]) and
//! writes the [`GeneratedEntry`]s into it (`chiaro_manifest::ManifestDraft` is its one writer).

mod coordinator;
mod mesh;
mod sans;
mod workload;

use std::collections::{BTreeMap, BTreeSet};

use chiaro_k8s::{
    ConfigSources, Document, DocumentId, INITIALIZER_NAME, ImageCommand, MESH_NAME, Namespace,
    Service, VOLUME_OWNER_NAME, Workload, container_images, read_documents, refuse_unrewritable,
    services, write_documents,
};
use chiaro_names::PolicyHash;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{GenerateOptions, ImageConfig, PolicyError, VmSize};
pub use coordinator::{GeneratedCoordinator, generate_coordinator};
use sans::SanClaims;
pub use sans::SanSource;

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
    /// The volume owner's image, injected into pods with encrypted volumes.
    pub volume_image: String,
    /// The Coordinator's mesh API as the initializer reaches it (`host:port`).
    pub coordinator: String,
    /// The namespace of the objects without `metadata.namespace` (`kubectl apply -n`): their
    /// SANs, workload secret IDs and the namespace their policies pin, and the Services that
    /// select them. Generate writes it into the workloads it rewrites and into the Services,
    /// ConfigMaps and Secrets it read, so applying them to another namespace fails.
    pub namespace: Namespace,
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
    /// The policy hash, when generated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy_hash: Option<PolicyHash>,
    /// SANs of its mesh certificate.
    pub sans: Vec<String>,
    /// Its workload secret ID.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workload_secret_id: Option<String>,
    /// `(container, image pinned)`, init containers first.
    pub images: Vec<(String, String)>,
    /// Secret values copied into the policy: `container: VARIABLE from Secret name/key`, and
    /// Secret files of volumes whose sizes it pins: `volume V: file PATH from Secret name/key
    /// (its size)`.
    pub pinned_secrets: Vec<String>,
    /// The size the runtime gives the pod's VM (the base plus the pod's limits), when
    /// generated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vm_size: Option<VmSize>,
}

/// What generate needs to know of the deployment's current manifest.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExistingManifest {
    /// What every pod pins about its deployment, or why it cannot.
    pub anchor: Anchor,
    /// The manifest's Coordinator entries: generate keeps them, and no workload may take one
    /// of their SANs.
    pub coordinator_entries: Vec<CoordinatorEntry>,
}

/// What each pod pins about its deployment (the Coordinator and the workload owners).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Anchor {
    /// The deployment anchor's JSON, for the initializer's environment
    /// ([`chiaro_pod::env::DEPLOYMENT_ANCHOR`]).
    Pinned(String),
    /// Nothing can be pinned, for this reason (told to the user).
    Missing(String),
}

impl Default for Anchor {
    fn default() -> Self {
        Self::Missing("there is no manifest yet".to_owned())
    }
}

/// A Coordinator entry of the manifest, as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoordinatorEntry {
    /// Its policy hash, as written.
    pub hash: String,
    /// Its SANs.
    pub sans: Vec<String>,
}

/// The manifest entry of one generated workload (role `workload`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedEntry {
    /// Its policy hash.
    pub hash: PolicyHash,
    /// Names in its mesh certificate.
    pub sans: Vec<String>,
    /// Its workload secret ID.
    pub workload_secret_id: String,
}

/// The result: rewritten files, the generated manifest entries, and a report.
#[derive(Debug, Clone)]
pub struct GeneratedDeployment {
    /// The files, rewritten (unchanged documents keep their text).
    pub files: Vec<SourceFile>,
    /// The policy entries for the manifest, in input order.
    pub policies: Vec<GeneratedEntry>,
    /// Per workload, in input order.
    pub workloads: Vec<WorkloadReport>,
    /// What the user should know.
    pub warnings: Vec<String>,
}

/// The documents of each file as written, and as generate reads them (in their namespace).
struct Parsed {
    written: Vec<Vec<Document>>,
    documents: Vec<Vec<Document>>,
    config: ConfigSources,
}

/// Reads the files; refuses a document of a kind generate cannot rewrite that would be
/// confidential.
fn parse(files: &[SourceFile], options: &DeploymentOptions) -> Result<Parsed, PolicyError> {
    let mut written = Vec::with_capacity(files.len());
    let mut documents = Vec::with_capacity(files.len());
    let mut config = ConfigSources::default();
    for file in files {
        let docs = read_documents(&file.name, &file.text).map_err(PolicyError::Input)?;
        let mut namespaced = Vec::with_capacity(docs.len());
        for document in &docs {
            refuse_unrewritable(document, &options.runtime_class, options.all_workloads)
                .map_err(PolicyError::Input)?;
            let document = options.namespace.default_for(document);
            config.add(&document).map_err(PolicyError::Input)?;
            namespaced.push(document);
        }
        written.push(docs);
        documents.push(namespaced);
    }
    Ok(Parsed {
        written,
        documents,
        config,
    })
}

/// Why a workload is left as it is.
#[derive(Debug, thiserror::Error)]
enum NotSelected {
    #[error("runtimeClassName is {class:?}, not {wanted:?} (pass --all to include it)")]
    OtherRuntimeClass { class: String, wanted: String },
    #[error("no runtimeClassName {wanted:?} (pass --all to include it)")]
    NoRuntimeClass { wanted: String },
}

fn selected(workload: &Workload, options: &DeploymentOptions) -> Result<(), NotSelected> {
    if options.all_workloads {
        return Ok(());
    }
    let wanted = options.runtime_class.clone();
    match workload.pod_spec.runtime_class_name.as_deref() {
        Some(class) if class == options.runtime_class => Ok(()),
        Some(class) => Err(NotSelected::OtherRuntimeClass {
            class: class.to_owned(),
            wanted,
        }),
        None => Err(NotSelected::NoRuntimeClass { wanted }),
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
    images_of(files, options).map_err(|error| at_field(error, files))
}

fn images_of(
    files: &[SourceFile],
    options: &DeploymentOptions,
) -> Result<Vec<String>, PolicyError> {
    let parsed = parse(files, options)?;
    let mut images = BTreeSet::new();
    for document in parsed.documents.iter().flatten() {
        let Some(workload) = Workload::from_document(document).map_err(PolicyError::Input)? else {
            continue;
        };
        if selected(&workload, options).is_err() {
            continue;
        }
        images.insert(options.initializer_image.clone());
        if mesh::wants_mesh(&workload) {
            images.insert(options.mesh_image.clone());
        }
        if !workload.encrypted_volumes.is_empty() {
            images.insert(options.volume_image.clone());
        }
        let spec = &workload.pod_spec;
        for container in spec.init_containers.iter().chain(&spec.containers) {
            let injected =
                [INITIALIZER_NAME, MESH_NAME, VOLUME_OWNER_NAME].contains(&container.name.as_str());
            if let Some(image) = container.image.as_ref().filter(|_| !injected) {
                images.insert(image.clone());
            }
        }
    }
    Ok(images.into_iter().collect())
}

/// Rewrites the deployment: for each selected workload, injection, pinned images, policy and
/// initdata annotation, and its manifest entry. `pins` maps each image of
/// [`images_to_resolve`] to its resolution; `manifest` is what the current `manifest.json`
/// says.
///
/// # Errors
/// [`PolicyError`] naming the file, document and field of the first problem.
pub fn generate_deployment(
    files: &[SourceFile],
    pins: &BTreeMap<String, ImagePin>,
    manifest: &ExistingManifest,
    options: &DeploymentOptions,
) -> Result<GeneratedDeployment, PolicyError> {
    generate_in_stages(files, pins, manifest, options).map_err(|error| at_field(error, files))
}

/// An input error pointed at the field it names, in the file it came from (both entry points
/// map their errors through it).
fn at_field(error: PolicyError, files: &[SourceFile]) -> PolicyError {
    match error {
        PolicyError::Input(error) => {
            let text = files
                .iter()
                .find(|file| error.file() == Some(file.name.as_str()))
                .map(|file| file.text.as_str());
            PolicyError::Input(match text {
                Some(text) => error.at_field(text),
                None => error,
            })
        }
        other => other,
    }
}

fn generate_in_stages(
    files: &[SourceFile],
    pins: &BTreeMap<String, ImagePin>,
    manifest: &ExistingManifest,
    options: &DeploymentOptions,
) -> Result<GeneratedDeployment, PolicyError> {
    let parsed = parse(files, options)?;
    let mut run = Run {
        pins,
        manifest,
        options,
        config: &parsed.config,
        services: services(parsed.documents.iter().flatten()),
        claims: SanClaims::of_coordinator_entries(&manifest.coordinator_entries),
        policies: Vec::new(),
        workloads: Vec::new(),
        warnings: Vec::new(),
    };
    let mut out_files = Vec::with_capacity(files.len());
    for ((file, written), documents) in files.iter().zip(&parsed.written).zip(&parsed.documents) {
        out_files.push(run.file(file, written, documents)?);
    }
    let warnings = deployment_warnings(&run.workloads, &manifest.anchor, options);
    run.warnings.extend(warnings);
    Ok(GeneratedDeployment {
        files: out_files,
        policies: run.policies,
        workloads: run.workloads,
        warnings: run.warnings,
    })
}

/// One generation over the deployment's files: its inputs and what it has made so far.
struct Run<'a> {
    pins: &'a BTreeMap<String, ImagePin>,
    manifest: &'a ExistingManifest,
    options: &'a DeploymentOptions,
    config: &'a ConfigSources,
    services: Vec<Service>,
    claims: SanClaims,
    policies: Vec<GeneratedEntry>,
    workloads: Vec<WorkloadReport>,
    warnings: Vec<String>,
}

impl Run<'_> {
    /// One file: each selected workload rewritten in its namespace, the Services, ConfigMaps
    /// and Secrets given theirs, the rest kept as `written`; the text written back.
    fn file(
        &mut self,
        file: &SourceFile,
        written: &[Document],
        documents: &[Document],
    ) -> Result<SourceFile, PolicyError> {
        let mut values: Vec<Value> = written.iter().map(|d| d.value.clone()).collect();
        for (document, value) in documents.iter().zip(values.iter_mut()) {
            if let Some(workload) = Workload::from_document(document).map_err(PolicyError::Input)? {
                let report = self.workload(document, value, &workload)?;
                self.workloads.push(report);
            } else if matches!(document.kind(), Some("Service" | "ConfigMap" | "Secret")) {
                value.clone_from(&document.value);
            }
        }
        Ok(SourceFile {
            name: file.name.clone(),
            text: write_documents(&file.name, &file.text, written, &values)
                .map_err(PolicyError::Input)?,
        })
    }
}

/// What the user should know about the deployment as a whole: pods that cannot pin their
/// deployment, or nothing made confidential.
fn deployment_warnings(
    workloads: &[WorkloadReport],
    anchor: &Anchor,
    options: &DeploymentOptions,
) -> Vec<String> {
    let mut warnings = Vec::new();
    if let Anchor::Missing(reason) = anchor
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
    warnings
}

/// The pinned form of `image` (for `container`); an image the caller did not resolve is
/// refused.
fn pinned(
    pins: &BTreeMap<String, ImagePin>,
    image: &str,
    container: &str,
) -> Result<String, PolicyError> {
    pins.get(image)
        .map(|pin| pin.pinned.clone())
        .ok_or_else(|| PolicyError::MissingImage {
            container: container.to_owned(),
            image: image.to_owned(),
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
