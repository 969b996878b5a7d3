//! The one error type of the mesh proxy's library.

/// What went wrong configuring or running the proxy.
#[derive(Debug, thiserror::Error)]
pub enum MeshError {
    /// A configuration entry is malformed (the probe table; the annotations' own errors are
    /// `chiaro_k8s::K8sError::MeshAnnotation`).
    #[error("{annotation}: entry {entry:?}: {reason}")]
    Config {
        /// Which annotation.
        annotation: String,
        /// The entry as written.
        entry: String,
        /// What is wrong.
        reason: String,
    },
    /// A credentials file is missing or malformed.
    #[error("credentials {path}: {reason}")]
    Credentials {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// A listener could not be opened.
    #[error("listening on {address}: {source}")]
    Listen {
        /// The address.
        address: String,
        /// The error.
        source: std::io::Error,
    },
    /// The ready file could not be written or its stale copy removed.
    #[error("ready file {path}: {source}")]
    ReadyFile {
        /// The file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
}
