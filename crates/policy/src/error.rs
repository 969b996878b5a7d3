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
    /// Policy text the Rego engine refuses.
    #[error("policy text: {0}")]
    Rego(String),
    /// An initdata annotation that cannot be decoded.
    #[error("initdata: {0}")]
    Initdata(String),
    /// A request that is not a JSON object, or names no known request kind.
    #[error("request: {0}")]
    Request(String),
    /// Policy state that cannot be updated as the rules ask.
    #[error("policy state: {0}")]
    State(String),
}
