//! The one error type of this crate.

use chiaro_k8s::K8sError;

use crate::deployment::SanSource;

/// Why a policy could not be generated, read or evaluated.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The Kubernetes input is malformed or unsupported.
    #[error(transparent)]
    Input(K8sError),
    /// A pod-spec feature the policy cannot cover.
    #[error("workload {workload:?}: {field}: not supported: {hint}")]
    Unsupported {
        /// The workload.
        workload: String,
        /// The field.
        field: String,
        /// Why, and what to do instead.
        hint: String,
    },
    /// No configuration for an image was provided.
    #[error("container {container:?}: no configuration for image {image:?}")]
    MissingImage {
        /// The container.
        container: String,
        /// The image as written.
        image: String,
    },
    /// A ConfigMap or Secret (or one of its keys) the pod consumes was not among the inputs.
    #[error(
        "container {container:?}: {kind} {name:?}{} is not among the inputs; pass its YAML too",
        key.as_ref().map(|k| format!(" key {k:?}")).unwrap_or_default()
    )]
    MissingConfig {
        /// The container.
        container: String,
        /// `ConfigMap` or `Secret`.
        kind: &'static str,
        /// Object name.
        name: String,
        /// Key, if a single key was referenced.
        key: Option<String>,
    },
    /// A ConfigMap or Secret (or one of its keys) a volume projects was not among the inputs:
    /// its files could not be pinned.
    #[error(
        "{at}: volume {volume:?}: {kind} {name:?}{} is not among the inputs; pass its YAML too, \
         or --unpinned-volume {volume} to leave the volume's files unpinned",
        key.as_ref().map(|k| format!(" key {k:?}")).unwrap_or_default()
    )]
    MissingVolumeSource {
        /// Where the volume is: `file:document:path`.
        at: String,
        /// The volume.
        volume: String,
        /// `ConfigMap` or `Secret`.
        kind: &'static str,
        /// Object name.
        name: String,
        /// The key, if an item names one the object does not have.
        key: Option<String>,
    },
    /// Two workloads (or a workload and the Coordinator's entry) would get the same SAN: either
    /// could then answer for the other.
    #[error(
        "SAN {san:?} would name two workloads: {first}, from {first_source}, and {second}, from \
         {second_source}; either could then answer for the other in the mesh. Give each workload \
         names of its own: rename the Service or a workload, narrow the Service's selector to \
         one workload, or change chiaro.dev/sans"
    )]
    SharedSan {
        /// The SAN as the second holder would get it.
        san: String,
        /// The workload (or entry) that has it first: `Kind namespace/name (file:document)`.
        first: String,
        /// Where the first holder's SAN comes from.
        first_source: SanSource,
        /// The workload that would get it too.
        second: String,
        /// Where the second holder's SAN comes from.
        second_source: SanSource,
    },
    /// The Coordinator's deployment must hold exactly one workload (its StatefulSet).
    #[error(
        "the Coordinator's deployment must hold exactly one workload, found {}: {}",
        found.len(),
        found.join(", ")
    )]
    CoordinatorWorkloads {
        /// Where each workload found is (`file:document`).
        found: Vec<String>,
    },
    /// Policy data that does not serialise into the policy text.
    #[error("policy data: {0}")]
    PolicyData(serde_json::Error),
    /// Policy text the Rego engine refuses.
    #[error("policy text: {0}")]
    Rego(EngineError),
    /// An initdata annotation that cannot be decoded.
    #[error("initdata: {0}")]
    Initdata(InitdataError),
    /// A request that is not a JSON object, or names no known request kind.
    #[error("request: {0}")]
    Request(RequestError),
    /// Policy state that cannot be updated as the rules ask.
    #[error("policy state: {0}")]
    State(StateError),
}

/// What the Rego engine (regorus) reported. Its errors have no type of their own (they are
/// `anyhow` errors), so the engine's message is kept whole, in its chain's order.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct EngineError(Box<dyn std::error::Error + Send + Sync>);

impl EngineError {
    /// The engine's error.
    pub(crate) fn from_engine(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self(error.into())
    }
}

/// Why initdata does not decode.
#[derive(Debug, thiserror::Error)]
pub enum InitdataError {
    /// The TOML text does not parse as an initdata document.
    #[error("{0}")]
    Toml(toml::de::Error),
    /// The document cannot be written as TOML.
    #[error("{0}")]
    Writing(toml::ser::Error),
    /// A version other than 0.1.0.
    #[error("version {version:?} is not 0.1.0")]
    Version {
        /// The version given.
        version: String,
    },
    /// A digest algorithm other than SHA-256.
    #[error("algorithm {algorithm:?}: Chiaro's policy hashes are SHA-256")]
    Algorithm {
        /// The algorithm given.
        algorithm: String,
    },
    /// No `data."policy.rego"`.
    #[error("no data.\"policy.rego\"")]
    NoPolicy,
    /// The annotation is not base64.
    #[error("not base64: {0}")]
    Base64(base64::DecodeError),
    /// The annotation's bytes are not gzip-compressed text.
    #[error("not gzip-compressed text: {0}")]
    Gzip(std::io::Error),
}

/// Why a request cannot be evaluated.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// The kind is not an agent request name.
    #[error("{kind:?} is not an agent request name (like CreateContainerRequest)")]
    Kind {
        /// The kind given.
        kind: String,
    },
    /// The request is not a JSON object.
    #[error("the request is not a JSON object")]
    NotAnObject,
    /// The engine refuses the request as input.
    #[error("{0}")]
    Input(EngineError),
}

/// Why the policy state cannot be read or updated.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The engine refuses the state as data.
    #[error("{0}")]
    Engine(EngineError),
    /// A rule's response does not convert to JSON.
    #[error("{0}")]
    Response(serde_json::Error),
    /// A rule's ops are not JSON Patch.
    #[error("ops are not JSON Patch: {0}")]
    Ops(serde_json::Error),
    /// A rule's ops do not apply to the state.
    #[error("ops do not apply: {0}")]
    Apply(json_patch::PatchError),
}
