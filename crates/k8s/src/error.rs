//! The one error type of this crate.

use crate::documents::DocumentId;
use crate::fields::SpecObject;

/// Why Kubernetes YAML could not be read.
#[derive(Debug, thiserror::Error)]
pub enum K8sError {
    /// The text is not YAML.
    #[error("{file}:{line}:{column}: not valid YAML: {detail}")]
    Yaml {
        /// The file name as given.
        file: String,
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
        /// The parser's message, with line and column.
        detail: String,
    },
    /// A `.json` file is not JSON.
    #[error("{file}:{line}:{column}: not valid JSON: {detail}")]
    Json {
        /// The file name as given.
        file: String,
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
        /// The parser's message, with line and column.
        detail: String,
    },
    /// A document cannot be written back.
    #[error("{file}: cannot write: {detail}")]
    Write {
        /// The file name as given.
        file: String,
        /// Why.
        detail: String,
    },
    /// A document is not a Kubernetes object (no `kind` or `apiVersion`, or not a mapping).
    #[error("{at}: not a Kubernetes object: {detail}")]
    NotAnObject {
        /// The document.
        at: DocumentId,
        /// What is missing.
        detail: String,
    },
    /// A field has a value of the wrong shape.
    #[error("{at}:{path}: {detail}")]
    Invalid {
        /// The document.
        at: DocumentId,
        /// The field path inside the document, e.g. `spec.template.spec.containers[0].env[1]`.
        path: String,
        /// What is wrong.
        detail: String,
    },
    /// A field Chiaro does not support in a confidential workload.
    #[error("{at}:{path}: not supported: {hint}")]
    Unsupported {
        /// The document.
        at: DocumentId,
        /// The field path inside the document.
        path: String,
        /// Why, and what to do instead.
        hint: String,
    },
    /// A valid Kubernetes field of a pod spec or container that Chiaro does not support yet.
    #[error("{at}:{path}: valid Kubernetes, but not supported by Chiaro yet: {why}")]
    NotYetSupported {
        /// The document.
        at: DocumentId,
        /// The field path inside the document.
        path: String,
        /// Why, and what to do instead.
        why: &'static str,
    },
    /// A field that is not one of Kubernetes' fields of the object.
    #[error(
        "{at}:{path}: not a field of {object}; misspelt? (Chiaro refuses fields it does not know: the policy it generates would not cover them)"
    )]
    UnknownField {
        /// The document.
        at: DocumentId,
        /// The field path inside the document.
        path: String,
        /// The object that has no such field.
        object: SpecObject,
    },
    /// A document that would run as a confidential pod (or, with `--all`, has a pod template)
    /// but is of a kind generate cannot rewrite.
    #[error(
        "{at}: kind {kind:?} has {path}: {what}, but generate rewrites only Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet, ReplicationController, Job and CronJob; check the kind's spelling, or generate the workloads this object creates"
    )]
    UnrewritableKind {
        /// The document.
        at: DocumentId,
        /// Its `kind`.
        kind: String,
        /// The field path of what makes it a pod (its `runtimeClassName`, its containers).
        path: String,
        /// What it has there.
        what: String,
    },
    /// A namespace name (`-n`) that Kubernetes would refuse.
    #[error(
        "{name:?} is not a namespace name (an RFC 1123 label: at most 63 lower-case letters, digits and '-', starting and ending with a letter or digit)"
    )]
    Namespace {
        /// The name as given.
        name: String,
    },
}
