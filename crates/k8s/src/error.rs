//! The one error type of this crate.

use crate::documents::DocumentId;

/// Why Kubernetes YAML could not be read.
#[derive(Debug, thiserror::Error)]
pub enum K8sError {
    /// The text is not YAML.
    #[error("{file}: not valid YAML: {detail}")]
    Yaml {
        /// The file name as given.
        file: String,
        /// The parser's message, with line and column.
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
}
